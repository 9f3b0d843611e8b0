//! Errors, rendered in one place: every failure is an OperationOutcome with its HTTP status,
//! its message id, and (for BaRS receivers) the NHS `http-error-codes` coding. Never an HTML
//! page or a bare string.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spfhir_element::issue::{Issue, operation_outcome};
use spfhir_element::msg::{self, Msg};
use spfhir_element::{Json, write_compact};

use crate::FHIR_JSON;

/// NHS England's code system for HTTP errors, which BaRS receivers must use.
pub const HTTP_ERROR_CODES: &str = "https://fhir.nhs.uk/Codesystem/http-error-codes";

/// A failed request: a status and the issues that say why.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
    /// `Retry-After` seconds (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, m: Msg, text: impl Into<String>) -> ApiError {
        ApiError {
            status,
            issues: vec![Issue::error(m, text)],
            retry_after: None,
        }
    }

    /// Issues that make a request fail with `status` (validation errors: 422).
    pub fn issues(status: StatusCode, issues: Vec<Issue>) -> ApiError {
        ApiError {
            status,
            issues,
            retry_after: None,
        }
    }

    pub fn bad_request(text: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, msg::SERVER_BAD_REQUEST, text)
    }

    pub fn not_found(text: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, msg::SERVER_NOT_FOUND, text)
    }

    pub fn internal(text: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            msg::SERVER_INTERNAL,
            text,
        )
    }
}

impl From<spfhir_store::Error> for ApiError {
    fn from(e: spfhir_store::Error) -> ApiError {
        match e {
            spfhir_store::Error::Conflict { ty, id, .. } => ApiError::new(
                StatusCode::CONFLICT,
                msg::SERVER_CONFLICT,
                format!("{ty}/{id} was changed by another request; read it again and retry"),
            ),
            spfhir_store::Error::Backend(detail) => {
                // The driver's words go to the log, not to the caller.
                tracing::error!(error = %detail, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    msg::SERVER_STORE_UNAVAILABLE,
                    "the store could not complete the request; try again",
                )
            }
        }
    }
}

/// The BaRS error code for a status (`REC_…`: spfhir is the receiver).
pub fn bars_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "REC_BAD_REQUEST",
        401 => "REC_UNAUTHORIZED",
        403 => "REC_FORBIDDEN",
        404 | 410 => "REC_NOT_FOUND",
        405 => "REC_METHOD_NOT_ALLOWED",
        406 => "REC_NOT_ACCEPTABLE",
        408 => "REC_TIMEOUT",
        409 | 412 => "REC_CONFLICT",
        413 => "REC_BAD_REQUEST",
        415 => "REC_BAD_REQUEST",
        422 => "REC_UNPROCESSABLE_ENTITY",
        429 => "REC_TOO_MANY_REQUESTS",
        501 => "REC_NOT_IMPLEMENTED",
        503 => "REC_UNAVAILABLE",
        _ => "REC_SERVER_ERROR",
    }
}

/// An OperationOutcome for `issues`, the error ones coded with `status`'s BaRS code.
pub fn outcome_for(status: StatusCode, issues: &[Issue]) -> Json {
    let mut oo = operation_outcome(issues);
    if status.is_client_error() || status.is_server_error() {
        let code = bars_code(status);
        if let Some(list) = oo
            .as_object_mut()
            .and_then(|o| o.get_mut("issue"))
            .and_then(|l| match &mut l.kind {
                spfhir_element::Kind::Array(items) => Some(items),
                _ => None,
            })
        {
            for (item, issue) in list.iter_mut().zip(issues) {
                if issue.severity > spfhir_element::issue::Severity::Error {
                    continue;
                }
                let coding = Json::obj()
                    .with("system", HTTP_ERROR_CODES)
                    .with("code", code);
                if let Some(details) = item.as_object_mut().and_then(|o| o.get_mut("details")) {
                    details.push_member("coding", Json::arr().item(coding));
                }
            }
        }
    }
    oo
}

/// A FHIR JSON response.
pub fn fhir_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = String::new();
        write_compact(&outcome_for(self.status, &self.issues), &mut body);
        let mut r = fhir_response(self.status, body);
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
