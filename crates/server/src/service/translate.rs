//! `$translate`: a domain record (referral, care plan, outcome) to FHIR, or FHIR back to the
//! domain record, with the translators of `spfhir-translate`.

use axum::http::StatusCode;
use spfhir_domain::RecordKind;
use spfhir_element::issue::Issue;
use spfhir_translate::{BundleKind, WriteOptions};

use super::Service;
use crate::error::ApiError;

/// What `$translate` was asked.
pub struct TranslateRequest {
    pub kind: String,
    /// `fhir` or `domain`.
    pub to: String,
    /// `message` (the default) or `transaction`, for `to=fhir`.
    pub bundle: Option<String>,
}

/// A translation: FHIR JSON text, or a domain record, with warnings.
pub enum Translation {
    Fhir {
        text: String,
        issues: Vec<Issue>,
    },
    Domain {
        record: serde_json::Value,
        issues: Vec<Issue>,
    },
}

impl Service {
    pub fn translate(&self, text: &str, req: &TranslateRequest) -> Result<Translation, ApiError> {
        let kind = match req.kind.as_str() {
            "referral" => RecordKind::Referral,
            "careplan" => RecordKind::Careplan,
            "outcome" => RecordKind::Outcome,
            _ => {
                return Err(ApiError::bad_request(
                    "kind must be referral, careplan or outcome",
                ));
            }
        };
        let rejected =
            |issues: Vec<Issue>| ApiError::issues(StatusCode::UNPROCESSABLE_ENTITY, issues);
        match req.to.as_str() {
            "fhir" => {
                let bundle = match req.bundle.as_deref().unwrap_or("message") {
                    "message" => BundleKind::Message,
                    "transaction" => BundleKind::Transaction,
                    _ => {
                        return Err(ApiError::bad_request(
                            "bundle must be message or transaction",
                        ));
                    }
                };
                let opts = WriteOptions {
                    bundle,
                    timestamp: None,
                };
                let out = spfhir_translate::domain_json_to_fhir_text(kind, text, &opts, false)
                    .map_err(rejected)?;
                Ok(Translation::Fhir {
                    text: out.text,
                    issues: out.issues,
                })
            }
            "domain" => {
                let json = crate::resource::parse_json(text)?;
                let (record, issues) =
                    spfhir_translate::fhir_to_domain_json(kind, &json).map_err(rejected)?;
                Ok(Translation::Domain { record, issues })
            }
            _ => Err(ApiError::bad_request("to must be fhir or domain")),
        }
    }
}
