//! `GET /`: the validator web page (plain HTML, CSS and a little JS, served from the binary,
//! no CDN), with the loaded profiles to choose from.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

const PAGE: &str = include_str!("../web/index.html");

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn index(State(state): State<AppState>) -> Response {
    let v = state.engine.validator();
    let mut profiles: Vec<String> = v
        .registry()
        .entries()
        .filter(|e| e.resource_type == "StructureDefinition")
        .filter(|e| {
            e.sd_type.as_deref().is_some_and(|t| {
                t.starts_with(|c: char| c.is_ascii_uppercase()) && t != "Extension"
            })
        })
        .filter_map(|e| e.url.clone())
        .filter(|u| !u.starts_with("http://hl7.org/fhir/StructureDefinition/"))
        .collect();
    profiles.sort();
    profiles.dedup();
    let options: String = profiles
        .iter()
        .map(|u| format!("<option value=\"{0}\">{0}</option>", escape(u)))
        .collect();
    let mut r = (StatusCode::OK, PAGE.replace("__PROFILES__", &options)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"),
    );
    r
}
