//! The routes and the layers every request passes: request and correlation ids echoed,
//! content negotiation (406), a time limit (503), a cap on requests in flight, the body
//! limit, panics caught; unknown routes and methods answered with OperationOutcomes.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use spfhir_element::msg;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;

use crate::AppState;
use crate::error::ApiError;
use crate::handlers::{meta, ops, page, rest, token};

/// The server's routes over `state`.
pub fn router(state: AppState) -> Router {
    let limits = state.config.limits;
    Router::new()
        .route("/metadata", get(meta::metadata))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/openapi.json", get(meta::openapi))
        .route("/metrics", get(meta::metrics))
        .route("/token", post(token::token))
        .route(
            "/.well-known/smart-configuration",
            get(token::smart_configuration),
        )
        .route("/", get(page::index).post(ops::bundle))
        .route("/$validate", post(ops::validate_system))
        .route("/$process-message", post(ops::process_message))
        .route("/$translate", post(ops::translate))
        .route(
            "/{ty}",
            get(rest::search)
                .post(rest::create)
                .put(rest::conditional_update),
        )
        .route("/{ty}/_search", post(rest::search))
        .route("/{ty}/_history", get(rest::type_history))
        .route("/{ty}/$validate", post(ops::validate_type))
        .route(
            "/{ty}/{id}",
            get(rest::read).put(rest::update).delete(rest::delete),
        )
        .route("/{ty}/{id}/$validate", post(ops::validate_instance))
        .route("/{ty}/{id}/_history", get(rest::instance_history))
        .route("/{ty}/{id}/_history/{vid}", get(rest::vread))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            time_limit,
        ))
        .layer(ConcurrencyLimitLayer::new(limits.concurrency))
        .layer(middleware::from_fn_with_state(state.clone(), audit))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn(negotiate))
        .layer(middleware::from_fn_with_state(state.clone(), request_ids))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the server failed on this request (a bug: please report it)")
                .into_response()
        }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("there is nothing at this address (see /metadata for what is served)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        msg::SERVER_METHOD,
        "this address does not take that method (see /metadata)",
    )
}

/// The interaction, AuditEvent action and entity a request is, if it reads or writes
/// resources (not `/metadata`, `$validate`, `$translate`, the page or health checks).
fn audited(
    method: &axum::http::Method,
    path: &str,
) -> Option<(&'static str, &'static str, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    Some(match (m, segs.as_slice()) {
        ("POST", [""]) => ("transaction", "E", "Bundle".into()),
        ("POST", ["$process-message"]) => ("process-message", "E", "Bundle".into()),
        (_, [first, ..])
            if first.starts_with('$')
                || matches!(
                    *first,
                    "metadata" | "healthz" | "readyz" | "openapi.json" | "metrics" | ""
                ) =>
        {
            return None;
        }
        (_, [_, last]) | (_, [_, _, last]) if last.starts_with('$') => return None,
        ("GET", [ty]) => ("search-type", "R", (*ty).into()),
        ("POST", [ty, "_search"]) => ("search-type", "R", (*ty).into()),
        ("POST", [ty]) => ("create", "C", (*ty).into()),
        ("PUT", [ty]) => ("update", "U", (*ty).into()),
        ("GET", [ty, "_history"]) => ("history-type", "R", (*ty).into()),
        ("GET", [ty, id]) => ("read", "R", format!("{ty}/{id}")),
        ("PUT", [ty, id]) => ("update", "U", format!("{ty}/{id}")),
        ("DELETE", [ty, id]) => ("delete", "D", format!("{ty}/{id}")),
        ("GET", [ty, id, "_history"]) => ("history-instance", "R", format!("{ty}/{id}")),
        ("GET", [ty, id, "_history", _]) => ("vread", "R", format!("{ty}/{id}")),
        _ => return None,
    })
}

/// An AuditEvent for every request that reads or writes resources, whatever its outcome.
async fn audit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(auditor) = &state.auditor else {
        return next.run(req).await;
    };
    let what = audited(req.method(), req.uri().path());
    let who = crate::auth::claimed_client(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap_or_else(|| {
        if matches!(state.auth, crate::auth::Auth::Off) {
            "insecure-dev".into()
        } else {
            "anonymous".into()
        }
    });
    let certificate = req
        .extensions()
        .get::<Option<crate::tls::ClientCertificate>>()
        .and_then(|c| c.as_ref())
        .map(|c| c.subject.clone());
    let resp = next.run(req).await;
    if let Some((interaction, action, mut entity)) = what {
        // A create's entity is the resource it made.
        if let Some(loc) = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            && let Some(at) = loc.find(&format!("/{entity}/"))
        {
            let rest = &loc[at + 1..];
            entity = rest.split("/_history").next().unwrap_or(rest).to_owned();
        }
        auditor
            .record(crate::audit::Event {
                interaction,
                action,
                entity,
                who,
                certificate,
                status: resp.status().as_u16(),
                at: crate::dates::now_micros(),
            })
            .await;
    }
    resp
}

/// Each client (its bearer token, else its address) gets `Limits::rate_per_second`; past
/// it, 429 with `Retry-After`.
async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &state.limiter {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let certificate = req
            .extensions()
            .get::<Option<crate::tls::ClientCertificate>>()
            .and_then(|c| c.as_ref());
        match (req.headers().get(header::AUTHORIZATION), certificate) {
            (Some(token), _) => token.as_bytes().hash(&mut h),
            (None, Some(c)) => c.subject.hash(&mut h),
            (None, None) => req
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
                .hash(&mut h),
        }
        let key = h.finish();
        if let Err(not_until) = limiter.check_key(&key) {
            use governor::clock::Clock;
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                msg::SERVER_RATE_LIMIT,
                "this client has sent more requests than this server allows per second; retry after the time given",
            );
            e.retry_after = Some(wait.as_secs().max(1));
            return e.into_response();
        }
        // Forget clients that have been quiet, now and then, so the table stays small.
        if key.is_multiple_of(1024) {
            limiter.retain_recent();
        }
    }
    next.run(req).await
}

/// Past the time limit, the request is dropped and answered 503.
async fn time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                msg::SERVER_TIMEOUT,
                format!(
                    "the request took longer than this server allows ({} s)",
                    limit.as_secs()
                ),
            );
            e.retry_after = Some(1);
            e.into_response()
        }
    }
}

/// FHIR JSON only: an `Accept` or `_format` that excludes it is a 406.
async fn negotiate(req: Request, next: Next) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_ascii_lowercase();
    let json_ok = accept.split(',').any(|a| {
        let m = a.split(';').next().unwrap_or("").trim();
        matches!(
            m,
            "*/*"
                | "application/*"
                | "application/fhir+json"
                | "application/json"
                | "application/json+fhir"
                | "text/*"
                | "text/html"
                | "text/plain"
                | "application/openmetrics-text"
                | ""
        )
    });
    let format = req.uri().query().and_then(|q| {
        crate::service::url_pairs(q)
            .into_iter()
            .find(|(k, _)| k == "_format")
            .map(|(_, v)| v.to_ascii_lowercase())
    });
    let format_ok = format.as_deref().is_none_or(|f| {
        matches!(
            f,
            "json" | "application/json" | "application/fhir+json" | "application/json+fhir"
        )
    });
    if !json_ok || !format_ok {
        return ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            msg::SERVER_NOT_ACCEPTABLE,
            "this server answers in FHIR JSON only (application/fhir+json)",
        )
        .into_response();
    }
    next.run(req).await
}

/// `X-Request-ID` and `X-Correlation-ID` are echoed, and name the request in the log
/// (method, route and status only: never a body or an identifier from it).
async fn request_ids(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req.headers().get("x-request-id").cloned();
    let correlation_id = req.headers().get("x-correlation-id").cloned();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let shape = route_shape(&path);
    state.metrics.request(
        &shape,
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(
        request_id = %show(request_id.as_ref()),
        correlation_id = %show(correlation_id.as_ref()),
        %method,
        path = %shape,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    for (k, v) in [
        ("x-request-id", request_id),
        ("x-correlation-id", correlation_id),
    ] {
        if let Some(v) = v {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn show(v: Option<&HeaderValue>) -> String {
    v.and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
}

/// A path with its ids blanked (`/Patient/*`), so logs hold no identifiers.
fn route_shape(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            if i >= 2 && !s.starts_with(['$', '_']) && !s.is_empty() {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
