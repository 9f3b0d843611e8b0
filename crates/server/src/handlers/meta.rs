//! `/metadata`, `/healthz`, `/readyz`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::base_url;
use crate::AppState;
use crate::error::{ApiError, fhir_response};

pub async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    fhir_response(
        StatusCode::OK,
        state.capability_statement(&base_url(&state, &headers)),
    )
}

/// The process is up.
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// The store answers: ready for requests.
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.store.ping().await?;
    Ok((StatusCode::OK, "ready").into_response())
}

/// The OpenAPI description of every route.
pub async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut r = (
        StatusCode::OK,
        state.openapi(&base_url(&state, &headers)).to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Prometheus metrics (text format).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = (StatusCode::OK, state.metrics.render()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
