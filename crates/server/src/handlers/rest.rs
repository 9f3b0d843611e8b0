//! The REST interactions on `/{type}` and `/{type}/{id}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{
    Entry, FhirBody, base_url, bundle_text, entry_response, outcome_response, pairs,
    resource_response,
};
use crate::AppState;
use crate::auth::{Caller, Interaction};
use crate::error::ApiError;
use crate::service::{Saved, etag_version};

/// A write's response: the stored resource, or with `Prefer: return=OperationOutcome` the
/// validation issues (warn mode keeps them with the write), with `Location` and `ETag`.
fn saved_response(s: &Saved, base: &str, headers: &HeaderMap) -> Response {
    let status = s.status();
    let mut r = resource_response(status, &s.record, Some(base));
    if prefers(headers, "return=OperationOutcome") {
        let mut o = outcome_response(status, &s.issues);
        for k in [header::ETAG, header::LOCATION] {
            if let Some(v) = r.headers_mut().remove(&k) {
                o.headers_mut().insert(k, v);
            }
        }
        r = o;
    }
    r
}

fn prefers(headers: &HeaderMap, what: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(what))
}

fn prefer_lenient(headers: &HeaderMap) -> bool {
    prefers(headers, "handling=lenient")
}

pub async fn create(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: FhirBody,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Create)?;
    let if_none_exist = headers
        .get("if-none-exist")
        .and_then(|v| v.to_str().ok())
        .map(|q| pairs(Some(q.trim_start_matches('?'))));
    let saved = state
        .create(&ty, body.text, body.json, if_none_exist, caller.tenant())
        .await?;
    Ok(saved_response(
        &saved,
        &base_url(&state, &headers),
        &headers,
    ))
}

pub async fn read(
    State(state): State<AppState>,
    Path((ty, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Read)?;
    Ok(resource_response(
        StatusCode::OK,
        &state.read(&ty, &id, caller.tenant()).await?,
        None,
    ))
}

pub async fn vread(
    State(state): State<AppState>,
    Path((ty, id, vid)): Path<(String, String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Read)?;
    Ok(resource_response(
        StatusCode::OK,
        &state.vread(&ty, &id, &vid, caller.tenant()).await?,
        None,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Path((ty, id)): Path<(String, String)>,
    caller: Caller,
    headers: HeaderMap,
    body: FhirBody,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Update)?;
    let if_match = match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) => Some(
            etag_version(v)
                .ok_or_else(|| ApiError::bad_request("If-Match must be an ETag such as W/\"3\""))?,
        ),
        None => None,
    };
    let saved = state
        .update(&ty, &id, body.text, body.json, if_match, caller.tenant())
        .await?;
    Ok(saved_response(
        &saved,
        &base_url(&state, &headers),
        &headers,
    ))
}

pub async fn conditional_update(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    RawQuery(query): RawQuery,
    caller: Caller,
    headers: HeaderMap,
    body: FhirBody,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Update)?;
    let pairs = pairs(query.as_deref());
    if pairs.is_empty() {
        return Err(ApiError::bad_request(
            "PUT /{type} needs search parameters (a conditional update) or an id",
        ));
    }
    let saved = state
        .conditional_update(&ty, &pairs, body.text, body.json, caller.tenant())
        .await?;
    Ok(saved_response(
        &saved,
        &base_url(&state, &headers),
        &headers,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((ty, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Delete)?;
    state.delete(&ty, &id, caller.tenant()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn history(
    state: &AppState,
    caller: &Caller,
    ty: &str,
    id: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let count = pairs(query)
        .iter()
        .find(|(k, _)| k == "_count")
        .map(|(_, v)| {
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=crate::search::MAX_COUNT).contains(n))
        })
        .unwrap_or(Some(100))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "_count must be a whole number from 1 to {}",
                crate::search::MAX_COUNT
            ))
        })?;
    let records = state.history(ty, id, count, caller.tenant()).await?;
    let base = base_url(state, headers);
    let entries: Vec<Entry> = records
        .iter()
        .map(|r| Entry {
            record: Some(r),
            search_mode: None,
            response: Some(entry_response(
                if r.deleted {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::OK
                },
                Some(r),
                &base,
                &[],
            )),
        })
        .collect();
    Ok(crate::error::fhir_response(
        StatusCode::OK,
        bundle_text("history", &base, Some(records.len() as u64), &[], &entries),
    ))
}

pub async fn instance_history(
    State(state): State<AppState>,
    Path((ty, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Read)?;
    history(&state, &caller, &ty, Some(&id), query.as_deref(), &headers).await
}

pub async fn type_history(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    RawQuery(query): RawQuery,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Read)?;
    history(&state, &caller, &ty, None, query.as_deref(), &headers).await
}

pub async fn search(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    RawQuery(query): RawQuery,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.allow(&caller, &ty, Interaction::Search)?;
    let pairs = pairs(query.as_deref());
    let result = state
        .search(&ty, &pairs, prefer_lenient(&headers), caller.tenant())
        .await?;
    let base = base_url(&state, &headers);
    let kept: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "_cursor")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let self_url = format!(
        "{base}/{ty}{}{}",
        if kept.is_empty() { "" } else { "?" },
        kept.join("&")
    );
    let mut links = vec![("self", self_url.clone())];
    if let Some(next) = &result.page.next {
        let sep = if kept.is_empty() { "?" } else { "&" };
        links.push((
            "next",
            format!(
                "{self_url}{sep}_cursor={}.{}",
                next.last_updated,
                encode(&next.id)
            ),
        ));
    }
    let mut entries: Vec<Entry> = result
        .page
        .records
        .iter()
        .map(|r| Entry {
            record: Some(r),
            search_mode: Some("match"),
            response: None,
        })
        .collect();
    entries.extend(result.included.iter().map(|r| Entry {
        record: Some(r),
        search_mode: Some("include"),
        response: None,
    }));
    let total = result.page.total;
    Ok(crate::error::fhir_response(
        StatusCode::OK,
        bundle_text("searchset", &base, total, &links, &entries),
    ))
}

/// Percent-encode a query component.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/|".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
