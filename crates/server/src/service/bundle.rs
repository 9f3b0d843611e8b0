//! `POST /` with a transaction Bundle (atomic: `urn:uuid` references resolved, all writes
//! committed together or none) or a batch Bundle (each entry on its own).

use std::collections::HashMap;

use axum::http::StatusCode;
use spfhir_element::issue::Issue;
use spfhir_element::{Json, Kind, msg};
use spfhir_store::{Record, Write};

use super::Service;
use super::tenancy::{claim, may_change};
use crate::auth::{Caller, Interaction};
use crate::dates;
use crate::error::ApiError;
use crate::resource::{self, is_id};

/// The outcome of one entry, for the response Bundle.
#[derive(Debug)]
pub struct EntryResult {
    pub status: StatusCode,
    pub record: Option<Record>,
    /// Why the entry failed (batch) or what it warns of.
    pub issues: Vec<Issue>,
}

impl From<super::Saved> for EntryResult {
    fn from(s: super::Saved) -> EntryResult {
        EntryResult {
            status: s.status(),
            record: Some(s.record),
            issues: s.issues,
        }
    }
}

/// One entry's request, read from the Bundle.
struct Request {
    method: String,
    ty: String,
    id: Option<String>,
    query: Option<Vec<(String, String)>>,
    if_none_exist: Option<Vec<(String, String)>>,
    if_match: Option<i64>,
    full_url: Option<String>,
    resource: Option<Json>,
}

/// `a=b&c=d` as decoded pairs.
pub fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issues about a resource, re-pointed at where it sits in a Bundle.
fn in_entry(i: usize, mut e: ApiError) -> ApiError {
    for issue in &mut e.issues {
        let rest = issue
            .expression
            .as_deref()
            .and_then(|x| x.split_once('.'))
            .map(|(_, r)| format!(".{r}"));
        issue.expression = Some(format!(
            "Bundle.entry[{i}].resource{}",
            rest.unwrap_or_default()
        ));
        issue.line_col = None;
    }
    e
}

/// A weak ETag `W/"3"` (or a bare version) as a version number.
pub fn etag_version(s: &str) -> Option<i64> {
    s.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

fn read_request(i: usize, entry: &Json) -> Result<Request, ApiError> {
    let at = format!("Bundle.entry[{i}].request");
    let bad = |what: &str| {
        ApiError::issues(
            StatusCode::BAD_REQUEST,
            vec![Issue::error(msg::SERVER_BAD_REQUEST, format!("{at}: {what}")).at(at.clone())],
        )
    };
    let req = entry
        .get("request")
        .ok_or_else(|| bad("each entry needs a request (method and url)"))?;
    let method = req
        .get_str("method")
        .ok_or_else(|| bad("no method"))?
        .to_owned();
    let url = req.get_str("url").ok_or_else(|| bad("no url"))?;
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(url_pairs(q))),
        None => (url, None),
    };
    let mut segments = path.trim_matches('/').split('/');
    let ty = segments.next().unwrap_or_default().to_owned();
    let id = segments.next().map(str::to_owned);
    if segments.next().is_some() || ty.is_empty() {
        return Err(bad("the url must be Type, Type/id or Type?query"));
    }
    Ok(Request {
        method,
        ty,
        id,
        query,
        if_none_exist: req.get_str("ifNoneExist").map(url_pairs),
        if_match: req.get_str("ifMatch").and_then(etag_version),
        full_url: entry.get_str("fullUrl").map(str::to_owned),
        resource: entry.get("resource").cloned(),
    })
}

/// Replace each `reference` that names a key of `map` with its value; collect `urn:uuid:`
/// references that name nothing.
pub(super) fn rewrite_references(
    json: &mut Json,
    map: &HashMap<String, String>,
    unresolved: &mut Vec<String>,
) {
    match &mut json.kind {
        Kind::Object(o) => {
            for m in &mut o.members {
                if m.key == "reference"
                    && let Kind::String(s) = &m.value.kind
                {
                    if let Some(to) = map.get(s.as_str()) {
                        m.value = Json::from(to.as_str());
                    } else if s.starts_with("urn:uuid:") {
                        unresolved.push(s.to_string());
                    }
                    continue;
                }
                rewrite_references(&mut m.value, map, unresolved);
            }
        }
        Kind::Array(items) => {
            for x in items {
                rewrite_references(x, map, unresolved);
            }
        }
        _ => {}
    }
}

impl Service {
    /// A transaction or batch Bundle, by its `type`.
    pub async fn bundle(
        &self,
        caller: &Caller,
        json: Json,
    ) -> Result<(String, Vec<EntryResult>), ApiError> {
        let kind = json.get_str("type").unwrap_or_default().to_owned();
        let entries = json.get("entry").and_then(Json::as_array).unwrap_or(&[]);
        let requests = entries
            .iter()
            .enumerate()
            .map(|(i, e)| read_request(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        match kind.as_str() {
            "transaction" => Ok((
                "transaction-response".into(),
                self.transaction(caller, requests).await?,
            )),
            "batch" => Ok(("batch-response".into(), self.batch(caller, requests).await)),
            other => Err(ApiError::bad_request(format!(
                "POST / takes a transaction or batch Bundle, not a {}",
                if other.is_empty() {
                    "Bundle without a type"
                } else {
                    other
                }
            ))),
        }
    }

    async fn transaction(
        &self,
        caller: &Caller,
        mut requests: Vec<Request>,
    ) -> Result<Vec<EntryResult>, ApiError> {
        let tenant = caller.tenant();
        // First: every entry's target, so references between entries can be resolved.
        let mut map: HashMap<String, String> = HashMap::new();
        let mut existing: Vec<Option<Record>> = Vec::new();
        for r in &mut requests {
            // The audit log may be read here, never written.
            if r.method == "GET" {
                self.served(&r.ty)?;
            } else {
                self.stored(&r.ty)?;
            }
            let mut found = None;
            match r.method.as_str() {
                "POST" => {
                    if let Some(pairs) = &r.if_none_exist {
                        found = self.conditional_match(&r.ty, pairs, tenant).await?;
                    }
                    r.id = Some(
                        found
                            .as_ref()
                            .map_or_else(resource::new_id, |f| f.id.clone()),
                    );
                }
                "PUT" if r.id.is_none() => {
                    let pairs = r.query.clone().unwrap_or_default();
                    r.id = Some(match self.conditional_match(&r.ty, &pairs, tenant).await? {
                        Some(m) => m.id,
                        None => r
                            .resource
                            .as_ref()
                            .and_then(|j| j.get_str("id"))
                            .filter(|i| is_id(i))
                            .map_or_else(resource::new_id, str::to_owned),
                    });
                }
                "PUT" | "DELETE" | "GET" => {}
                m => {
                    return Err(ApiError::bad_request(format!(
                        "a transaction entry's method must be POST, PUT, DELETE or GET, not {m}"
                    )));
                }
            }
            if let (Some(full), Some(id)) = (&r.full_url, &r.id) {
                map.insert(full.clone(), format!("{}/{id}", r.ty));
            }
            existing.push(found);
        }
        // Then: the writes, references rewritten, validated, all committed at once.
        let now = dates::now_micros();
        let mut writes = Vec::new();
        let mut results = Vec::new();
        for (i, r) in requests.iter_mut().enumerate() {
            let interaction = match r.method.as_str() {
                "POST" => Interaction::Create,
                "PUT" => Interaction::Update,
                "DELETE" => Interaction::Delete,
                _ => Interaction::Read,
            };
            caller.require(&r.ty, interaction)?;
            let id = r.id.clone().ok_or_else(|| {
                ApiError::bad_request(format!("Bundle.entry[{i}].request.url names no id"))
            })?;
            if let Some(found) = existing[i].take() {
                results.push(EntryResult {
                    status: StatusCode::OK,
                    record: Some(found),
                    issues: Vec::new(),
                });
                continue;
            }
            match r.method.as_str() {
                "GET" => {
                    results.push(EntryResult {
                        status: StatusCode::OK,
                        record: Some(self.read(&r.ty, &id, tenant).await?),
                        issues: Vec::new(),
                    });
                }
                "DELETE" => {
                    if tenant.is_some() {
                        may_change(tenant, self.store.read(&r.ty, &id).await?.as_ref())?;
                    }
                    writes.push((results.len(), Write::delete(&r.ty, &id)));
                    results.push(EntryResult {
                        status: StatusCode::NO_CONTENT,
                        record: None,
                        issues: Vec::new(),
                    });
                }
                _ => {
                    let mut json = r.resource.take().ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Bundle.entry[{i}] has no resource to {}",
                            r.method
                        ))
                    })?;
                    if json.get_str("resourceType") != Some(r.ty.as_str()) {
                        return Err(ApiError::bad_request(format!(
                            "Bundle.entry[{i}].resource is not a {}",
                            r.ty
                        )));
                    }
                    let mut unresolved = Vec::new();
                    rewrite_references(&mut json, &map, &mut unresolved);
                    if !unresolved.is_empty() {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            msg::SERVER_REFERENCE_UNRESOLVED,
                            format!(
                                "Bundle.entry[{i}].resource refers to a urn:uuid that no entry's fullUrl is"
                            ),
                        ));
                    }
                    resource::set_id(&mut json, &id);
                    let mut text = String::new();
                    spfhir_element::write_compact(&json, &mut text);
                    let (issues, checked) = self
                        .check_write(&r.ty, text, json)
                        .await
                        .map_err(|e| in_entry(i, e))?;
                    json = checked;
                    let current = if r.method == "PUT" {
                        self.store.read(&r.ty, &id).await?
                    } else {
                        None
                    };
                    may_change(tenant, current.as_ref())?;
                    let current_version =
                        current.as_ref().filter(|c| !c.deleted).map(|c| c.version);
                    if let Some(m) = r.if_match
                        && Some(m) != current_version
                    {
                        return Err(ApiError::new(
                            StatusCode::PRECONDITION_FAILED,
                            msg::SERVER_PRECONDITION,
                            format!(
                                "Bundle.entry[{i}]: ifMatch names version {m}, which is not current"
                            ),
                        ));
                    }
                    let version = current.as_ref().map_or(1, |c| c.version + 1);
                    claim(tenant, &mut json);
                    let body = resource::stamp(&mut json, &id, version, now);
                    let index = self.index(&r.ty, &json);
                    writes.push((
                        results.len(),
                        Write::put(&r.ty, &id, &body, index)
                            .expecting(current_version.unwrap_or(0)),
                    ));
                    results.push(EntryResult {
                        status: if current_version.is_some() {
                            StatusCode::OK
                        } else {
                            StatusCode::CREATED
                        },
                        record: None,
                        issues,
                    });
                }
            }
        }
        let (slots, writes): (Vec<usize>, Vec<Write>) = writes.into_iter().unzip();
        let records = self.store.commit(writes, now).await?;
        for (slot, record) in slots.into_iter().zip(records) {
            if !record.deleted {
                results[slot].record = Some(record);
            }
        }
        Ok(results)
    }

    async fn batch(&self, caller: &Caller, requests: Vec<Request>) -> Vec<EntryResult> {
        let mut results = Vec::new();
        for r in requests {
            let result = self.batch_entry(caller, r).await;
            results.push(result.unwrap_or_else(|e| EntryResult {
                status: e.status,
                record: None,
                issues: e.issues,
            }));
        }
        results
    }

    async fn batch_entry(&self, caller: &Caller, r: Request) -> Result<EntryResult, ApiError> {
        let tenant = caller.tenant();
        let text = |j: &Json| {
            let mut t = String::new();
            spfhir_element::write_compact(j, &mut t);
            t
        };
        match (r.method.as_str(), r.id, r.resource) {
            ("GET", Some(id), _) => {
                caller.require(&r.ty, Interaction::Read)?;
                Ok(EntryResult {
                    status: StatusCode::OK,
                    record: Some(self.read(&r.ty, &id, tenant).await?),
                    issues: Vec::new(),
                })
            }
            ("POST", _, Some(json)) => {
                caller.require(&r.ty, Interaction::Create)?;
                let s = self
                    .create(&r.ty, text(&json), json, r.if_none_exist, tenant)
                    .await?;
                Ok(s.into())
            }
            ("PUT", Some(id), Some(json)) => {
                caller.require(&r.ty, Interaction::Update)?;
                let s = self
                    .update(&r.ty, &id, text(&json), json, r.if_match, tenant)
                    .await?;
                Ok(s.into())
            }
            ("DELETE", Some(id), _) => {
                caller.require(&r.ty, Interaction::Delete)?;
                self.delete(&r.ty, &id, tenant).await?;
                Ok(EntryResult {
                    status: StatusCode::NO_CONTENT,
                    record: None,
                    issues: Vec::new(),
                })
            }
            (m, _, _) => Err(ApiError::bad_request(format!(
                "a batch entry {m} needs a url of Type/id and, to write, a resource"
            ))),
        }
    }
}
