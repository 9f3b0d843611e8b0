//! `$process-message`: a BaRS message Bundle is validated (an invalid one gets 422 and
//! nothing is stored), its destination checked against this instance's identities, its
//! entries stored at once, and a response message Bundle returned. A repeated
//! `X-Request-ID` or `Bundle.identifier` gets the first response again and changes nothing.

use std::collections::HashMap;

use axum::http::StatusCode;
use spfhir_element::issue::Severity;
use spfhir_element::{Json, msg};
use spfhir_store::{Remembered, Write};

use super::Service;
use super::tenancy::{Tenant, claim, may_change};
use crate::dates;
use crate::error::ApiError;
use crate::resource::{self, is_id};

/// The headers `$process-message` reads.
#[derive(Default)]
pub struct MessageHeaders {
    pub request_id: Option<String>,
    /// `NHSD-Target-Identifier`: base64 of `{"value":…,"system":…}`, or the value itself.
    pub target: Option<String>,
}

fn target_value(header: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("value").and_then(|x| x.as_str()).map(str::to_owned))
        .unwrap_or_else(|| header.trim().to_owned())
}

impl Service {
    /// The message's first entry is its MessageHeader, and it is addressed to this
    /// instance (when identities are configured): `MessageHeader.destination.endpoint` or
    /// `NHSD-Target-Identifier` names one of them.
    fn for_us(&self, json: &Json, headers: &MessageHeaders) -> Result<(), ApiError> {
        let header = json
            .get("entry")
            .and_then(Json::as_array)
            .and_then(|e| e.first())
            .and_then(|e| e.get("resource"))
            .filter(|r| r.get_str("resourceType") == Some("MessageHeader"))
            .ok_or_else(|| {
                ApiError::bad_request("a message Bundle's first entry must be its MessageHeader")
            })?;
        if !self.config.identities.is_empty() {
            let mut named: Vec<String> = header
                .get("destination")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(|d| d.get_str("endpoint").map(str::to_owned))
                .collect();
            if let Some(t) = &headers.target {
                named.push(target_value(t));
            }
            let ours = |n: &String| {
                self.config
                    .identities
                    .iter()
                    .any(|i| n == i || n.split(':').next() == Some(i.as_str()))
            };
            if !named.iter().any(ours) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    msg::SERVER_NOT_FOR_US,
                    "the message's destination (MessageHeader.destination.endpoint, NHSD-Target-Identifier) is not this receiver",
                ));
            }
        }
        Ok(())
    }

    /// Process a message Bundle; the response's status and body.
    pub async fn process_message(
        &self,
        text: String,
        json: Json,
        headers: MessageHeaders,
        tenant: Tenant<'_>,
    ) -> Result<Remembered, ApiError> {
        if json.get_str("resourceType") != Some("Bundle") || json.get_str("type") != Some("message")
        {
            return Err(ApiError::bad_request(
                "$process-message takes a Bundle of type message",
            ));
        }
        // Idempotency: by request id, and by the message's own identifier; an organisation's
        // keys are its own, so one never gets another's response.
        let mut keys = Vec::new();
        let of = tenant.map(|t| format!("{t}:")).unwrap_or_default();
        if let Some(r) = &headers.request_id {
            keys.push(format!("{of}request:{r}"));
        }
        if let Some(id) = json.get("identifier") {
            keys.push(format!(
                "{of}message:{}|{}",
                id.get_str("system").unwrap_or_default(),
                id.get_str("value").unwrap_or_default()
            ));
        }
        for k in &keys {
            if let Some(first) = self.store.recall(k).await? {
                return Ok(first);
            }
        }
        self.for_us(&json, &headers)?;
        // Validated as parsed (the text is not parsed again), the tree handed back.
        let (issues, json) = self.validate_tree(text, json).await?;
        if issues.iter().any(|i| i.severity <= Severity::Error) {
            return Err(ApiError::issues(StatusCode::UNPROCESSABLE_ENTITY, issues));
        }
        let entries = json.get("entry").and_then(Json::as_array).unwrap_or(&[]);
        let header = entries
            .first()
            .and_then(|e| e.get("resource"))
            .ok_or_else(|| {
                ApiError::bad_request("a message Bundle's first entry must be its MessageHeader")
            })?;
        // Store every entry of a served type: ids kept (or given), urn:uuid references
        // rewritten to Type/id, all in one commit.
        let now = dates::now_micros();
        let mut map = HashMap::new();
        let mut items = Vec::new();
        for e in entries {
            let Some(r) = e.get("resource") else { continue };
            let ty = r.get_str("resourceType").unwrap_or_default().to_owned();
            if !crate::is_stored(&ty) {
                continue;
            }
            // A resource with its own id may exist already; one given a new id does not.
            let given = r.get_str("id").filter(|i| is_id(i));
            let id = given.map_or_else(resource::new_id, str::to_owned);
            if let Some(full) = e.get_str("fullUrl") {
                map.insert(full.to_owned(), format!("{ty}/{id}"));
            }
            items.push((ty, id, given.is_some(), r.clone()));
        }
        let mut writes = Vec::new();
        for (ty, id, given, mut r) in items {
            let mut unresolved = Vec::new();
            super::bundle::rewrite_references(&mut r, &map, &mut unresolved);
            let current = match given {
                true => self.store.read(&ty, &id).await?,
                false => None,
            };
            may_change(tenant, current.as_ref())?;
            claim(tenant, &mut r);
            let version = current.as_ref().map_or(1, |c| c.version + 1);
            let body = resource::stamp(&mut r, &id, version, now);
            let index = self.index(&ty, &r);
            writes.push(
                Write::put(&ty, &id, &body, index)
                    .expecting(current.filter(|c| !c.deleted).map_or(0, |c| c.version)),
            );
        }

        // The request's MessageHeader, by its id, else by its fullUrl's UUID.
        let request_id = header
            .get_str("id")
            .or_else(|| {
                entries[0]
                    .get_str("fullUrl")
                    .map(|f| f.trim_start_matches("urn:uuid:"))
            })
            .unwrap_or_default()
            .to_owned();
        let response = Remembered {
            status: 200,
            body: response_bundle(header, &request_id, now),
        };
        // The entries, and the response remembered under each key, in one transaction.
        let remember = keys.iter().map(|k| (k.clone(), response.clone())).collect();
        self.store.commit_remembering(writes, now, remember).await?;
        Ok(response)
    }
}

/// The response message: a MessageHeader answering the request's, `ok`.
fn response_bundle(request: &Json, request_id: &str, now: i64) -> String {
    let when = dates::instant(now);
    let mut header = Json::obj()
        .with("resourceType", "MessageHeader")
        .with("id", resource::new_id().as_str());
    if let Some(ev) = request.get("eventCoding") {
        header = header.with("eventCoding", ev.clone());
    }
    if let Some(src) = request.get("source").and_then(|s| s.get_str("endpoint")) {
        header = header.with(
            "destination",
            Json::arr().item(Json::obj().with("endpoint", src)),
        );
    }
    let endpoint = request
        .get("destination")
        .and_then(Json::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get_str("endpoint"))
        .unwrap_or("spfhir");
    header = header
        .with(
            "source",
            Json::obj()
                .with("software", "spfhir")
                .with("endpoint", endpoint),
        )
        .with(
            "response",
            Json::obj()
                .with("identifier", request_id)
                .with("code", "ok"),
        );
    let id = resource::new_id();
    let bundle = Json::obj()
        .with("resourceType", "Bundle")
        .with("id", id.as_str())
        .with("meta", Json::obj().with("lastUpdated", when.as_str()))
        .with("type", "message")
        .with("timestamp", when.as_str())
        .with(
            "entry",
            Json::arr().item(
                Json::obj()
                    .with(
                        "fullUrl",
                        format!("urn:uuid:{}", header.get_str("id").unwrap_or_default()).as_str(),
                    )
                    .with("resource", header),
            ),
        );
    let mut out = String::new();
    spfhir_element::write_compact(&bundle, &mut out);
    out
}
