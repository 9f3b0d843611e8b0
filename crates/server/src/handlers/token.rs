//! `POST /token` (SMART Backend Services) and `/.well-known/smart-configuration`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spfhir_element::msg;

use super::base_url;
use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::token::OAuthError;

/// Exchange a signed client assertion for an access token.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Auth::Smart { tokens, .. } = &state.auth else {
        return Err(no_token_endpoint());
    };
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = std::str::from_utf8(&body)
        .ok()
        .filter(|_| form_type)
        .map(crate::service::url_pairs);
    let now = crate::dates::now_micros() / 1_000_000;
    let token_url = format!("{}/token", base_url(&state, &headers));
    let result = match form {
        Some(form) => {
            tokens
                .issue(state.store.as_ref(), &form, &token_url, now)
                .await
        }
        None => Err(OAuthError {
            status: 400,
            error: "invalid_request",
            description: "the body must be a form (application/x-www-form-urlencoded)".into(),
        }),
    };
    let mut response = match result {
        Ok(granted) => (StatusCode::OK, Json(granted)).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = serde_json::json!({"error": e.error, "error_description": e.description});
            (status, Json(body)).into_response()
        }
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// SMART's discovery document: where the token endpoint is and what it accepts.
pub async fn smart_configuration(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Auth::Smart { .. } = &state.auth else {
        return Err(no_token_endpoint());
    };
    let base = base_url(&state, &headers);
    let doc = serde_json::json!({
        "token_endpoint": format!("{base}/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS512"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.cruds"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    });
    Ok((StatusCode::OK, Json(doc)).into_response())
}

fn no_token_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        msg::SERVER_NOT_FOUND,
        "this server has no token endpoint: register clients in spfhir.toml ([[auth.clients]]) to enable it",
    )
}
