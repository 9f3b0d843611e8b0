//! `$validate`: a resource, bare or in a Parameters, against its definitions, the profiles
//! it claims and any `profile` asked for; issues carry line and column in the body.

use axum::http::StatusCode;
use spfhir_element::issue::Issue;
use spfhir_element::{Json, msg};

use super::Service;
use crate::error::ApiError;

/// What `$validate` was asked.
pub struct ValidateRequest {
    /// The type in the URL (`/{type}/$validate`), if any.
    pub ty: Option<String>,
    /// Profiles from the URL (`?profile=`).
    pub profiles: Vec<String>,
    /// `mode` from the URL.
    pub mode: Option<String>,
}

impl Service {
    /// Validate `text`, already parsed as `json` (else it is FHIR XML): its issues (an empty
    /// list is a pass).
    pub async fn validate_request(
        &self,
        text: String,
        json: Option<Json>,
        req: ValidateRequest,
    ) -> Result<Vec<Issue>, ApiError> {
        let v = self.engine.validator();
        // JSON comes parsed; XML is read to the same tree (its own problems, XML_*, first).
        let (json, xml_issues) = if let Some(json) = json {
            (json, Vec::new())
        } else {
            let parsed = spfhir_xml::parse(&text, v.model()).map_err(|e| {
                let mut i = Issue::error(msg::XML_SYNTAX, e.message.clone());
                i.line_col = Some(e.line_col);
                ApiError::issues(StatusCode::BAD_REQUEST, vec![i])
            })?;
            (parsed.resource, parsed.issues)
        };
        let mut profiles = req.profiles;
        let mut mode = req.mode;
        // A Parameters: `resource` is the input, `profile` and `mode` may come with it.
        let is_parameters = json.get_str("resourceType") == Some("Parameters");
        if is_parameters {
            for p in json
                .get("parameter")
                .and_then(Json::as_array)
                .unwrap_or(&[])
            {
                match p.get_str("name") {
                    Some("profile") => profiles.extend(
                        p.get_str("valueUri")
                            .or(p.get_str("valueCanonical"))
                            .map(str::to_owned),
                    ),
                    Some("mode") => mode = p.get_str("valueCode").map(str::to_owned).or(mode),
                    _ => {}
                }
            }
        }
        if let Some(m) = &mode
            && !matches!(m.as_str(), "create" | "update" | "delete" | "profile")
        {
            return Err(ApiError::bad_request(
                "mode must be create, update, delete or profile",
            ));
        }
        let ty = req.ty;
        tokio::task::spawn_blocking(move || -> Result<Vec<Issue>, ApiError> {
            let resource = if is_parameters {
                json.get("parameter")
                    .and_then(Json::as_array)
                    .unwrap_or(&[])
                    .iter()
                    .find(|p| p.get_str("name") == Some("resource"))
                    .and_then(|p| p.get("resource"))
                    .ok_or_else(|| {
                        ApiError::bad_request("the Parameters has no parameter named resource")
                    })?
            } else {
                &json
            };
            let rt = resource.get_str("resourceType").unwrap_or_default();
            if let Some(ty) = &ty
                && rt != ty
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    msg::SERVER_TYPE_MISMATCH,
                    format!("the resource is a {rt}, but the URL names {ty}"),
                ));
            }
            if mode.as_deref() == Some("delete") {
                return Ok(Vec::new());
            }
            let mut issues = xml_issues;
            issues.extend(v.validate_node_in(&text, resource, &profiles));
            for i in &mut issues {
                if i.line_col.is_none() {
                    i.locate(&spfhir_element::LineIndex::new(&text), &text);
                }
            }
            Ok(issues)
        })
        .await
        .map_err(|_| ApiError::internal("validation failed (a bug: please report it)"))?
    }
}
