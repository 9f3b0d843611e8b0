//! Operations and whole-system interactions: `$validate`, `$process-message`, and `POST /`
//! with a transaction or batch Bundle.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{
    Entry, FhirBody, JsonText, ValidateBody, base_url, bundle_text, entry_response,
    outcome_response, pairs,
};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, fhir_response};
use crate::service::{MessageHeaders, TranslateRequest, Translation, ValidateRequest};

/// `$validate`'s answer: 200 with the issues (an information issue when there are none).
async fn validate(
    state: AppState,
    ty: Option<String>,
    query: Option<String>,
    body: ValidateBody,
) -> Result<Response, ApiError> {
    let pairs = pairs(query.as_deref());
    let req = ValidateRequest {
        ty,
        profiles: pairs
            .iter()
            .filter(|(k, _)| k == "profile")
            .map(|(_, v)| v.clone())
            .collect(),
        mode: pairs
            .iter()
            .find(|(k, _)| k == "mode")
            .map(|(_, v)| v.clone()),
    };
    let issues = state.validate_request(body.text, body.json, req).await?;
    Ok(outcome_response(StatusCode::OK, &issues))
}

pub async fn validate_system(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: ValidateBody,
) -> Result<Response, ApiError> {
    validate(state, None, q, body).await
}

pub async fn validate_type(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    RawQuery(q): RawQuery,
    body: ValidateBody,
) -> Result<Response, ApiError> {
    validate(state, Some(ty), q, body).await
}

pub async fn validate_instance(
    State(state): State<AppState>,
    Path((ty, _id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: ValidateBody,
) -> Result<Response, ApiError> {
    validate(state, Some(ty), q, body).await
}

pub async fn process_message(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: FhirBody,
) -> Result<Response, ApiError> {
    caller.require("ServiceRequest", crate::auth::Interaction::Create)?;
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let h = MessageHeaders {
        request_id: header("x-request-id"),
        target: header("nhsd-target-identifier"),
    };
    let r = state
        .process_message(body.text, body.json, h, caller.tenant())
        .await?;
    Ok(fhir_response(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
        r.body,
    ))
}

pub async fn bundle(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: FhirBody,
) -> Result<Response, ApiError> {
    if body.json.get_str("resourceType") != Some("Bundle") {
        return Err(ApiError::bad_request(
            "POST / takes a transaction or batch Bundle",
        ));
    }
    let (kind, results) = state.bundle(&caller, body.json).await?;
    let base = base_url(&state, &headers);
    let entries: Vec<Entry> = results
        .iter()
        .map(|r| Entry {
            record: None,
            search_mode: None,
            response: Some(entry_response(
                r.status,
                r.record.as_ref(),
                &base,
                &r.issues,
            )),
        })
        .collect();
    Ok(fhir_response(
        StatusCode::OK,
        bundle_text(&kind, &base, None, &[], &entries),
    ))
}

/// `$translate?kind=referral&to=fhir` (a domain record in, a FHIR Bundle out) or
/// `to=domain` (FHIR in; `{"record": …, "issues": […]}` out). Needs no token: it stores
/// nothing.
pub async fn translate(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    JsonText(text): JsonText,
) -> Result<Response, ApiError> {
    let pairs = pairs(q.as_deref());
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let req = TranslateRequest {
        kind: get("kind").ok_or_else(|| {
            ApiError::bad_request("$translate needs kind (referral, careplan or outcome)")
        })?,
        to: get("to")
            .ok_or_else(|| ApiError::bad_request("$translate needs to (fhir or domain)"))?,
        bundle: get("bundle"),
    };
    Ok(match state.translate(&text, &req)? {
        Translation::Fhir { text, issues } => {
            let mut r = fhir_response(StatusCode::OK, text);
            // Warnings (an NHS number failing its check digit…) are never dropped: their ids
            // ride in a header (the Bundle is the body).
            if !issues.is_empty() {
                let ids: Vec<&str> = issues.iter().map(|i| i.id).collect();
                if let Ok(v) = axum::http::HeaderValue::from_str(&ids.join(",")) {
                    r.headers_mut().insert("x-spfhir-issues", v);
                }
            }
            r
        }
        Translation::Domain { record, issues } => {
            let body = serde_json::json!({"record": record, "issues": issues});
            let mut r = (StatusCode::OK, body.to_string()).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            r
        }
    })
}
