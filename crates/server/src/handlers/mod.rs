//! Thin handlers: each parses its request, calls the [`Service`](crate::Service) and renders
//! the result. Rendering (resources, Bundles, OperationOutcomes) lives here once.

pub mod meta;
pub mod ops;
pub mod page;
pub mod rest;
pub mod token;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use spfhir_element::issue::Issue;
use spfhir_element::{Json, msg};
use spfhir_store::Record;

use crate::AppState;
use crate::dates;
use crate::error::{ApiError, fhir_response, outcome_for};

/// A request body that must be FHIR JSON: the content type is checked (415), the size
/// limit is an OperationOutcome (413), and the text is parsed (400 with line and column).
pub struct FhirBody {
    pub text: String,
    pub json: Json,
}

/// The request's media type (`application/fhir+json` of `application/fhir+json; fhirVersion=4.0`),
/// lower case.
fn media_type(req: &Request) -> String {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A request body's bytes, within the size limit (else 413 with an OperationOutcome).
async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.config.limits.body_bytes;
    Bytes::from_request(req, state).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            msg::SERVER_TOO_LARGE,
            format!("the body is larger than this server takes ({limit} bytes)"),
        )
    })
}

/// A JSON request body's bytes: the content type is checked (415) and the size limit is an
/// OperationOutcome (413).
async fn json_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    if !matches!(
        media_type(&req).as_str(),
        "application/fhir+json" | "application/json" | "application/json+fhir"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            msg::SERVER_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/fhir+json, or application/json)",
        ));
    }
    body_bytes(req, state).await
}

impl FromRequest<AppState> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<FhirBody, ApiError> {
        let bytes = json_bytes(req, state).await?;
        let (text, json) = crate::resource::parse_body(&bytes)?;
        Ok(FhirBody { text, json })
    }
}

/// `$validate`'s body: FHIR JSON, or FHIR XML (validated as the CLI validates it; the
/// answer is JSON either way). The size limit is an OperationOutcome (413).
pub struct ValidateBody {
    pub text: String,
    /// The JSON already parsed (the 400 for bad JSON is given here); `None` for XML.
    pub json: Option<Json>,
}

impl FromRequest<AppState> for ValidateBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<ValidateBody, ApiError> {
        let xml = matches!(
            media_type(&req).as_str(),
            "application/fhir+xml" | "application/xml" | "application/xml+fhir" | "text/xml"
        );
        if !xml {
            let FhirBody { text, json } = FhirBody::from_request(req, state).await?;
            return Ok(ValidateBody {
                text,
                json: Some(json),
            });
        }
        let bytes = body_bytes(req, state).await?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
        Ok(ValidateBody { text, json: None })
    }
}

/// A JSON body that need not be a FHIR resource (a domain record for `$translate`).
pub struct JsonText(pub String);

impl FromRequest<AppState> for JsonText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<JsonText, ApiError> {
        let bytes = json_bytes(req, state).await?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                msg::JSON_SYNTAX,
                format!("the body is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
            )
        })?;
        Ok(JsonText(text.to_owned()))
    }
}

/// The base URL of this server, for `fullUrl`s, `Location` and links.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(b) = &state.config.base_url {
        return b.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `a=b&c=d` from the URL, decoded.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(crate::service::url_pairs).unwrap_or_default()
}

fn etag(r: &Record) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{}\"", r.version))
        .unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// A stored resource as the response: its text, `ETag` and (for writes) `Location`.
pub fn resource_response(status: StatusCode, r: &Record, base: Option<&str>) -> Response {
    let mut resp = fhir_response(status, r.body.clone());
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag(r));
    if let Some(base) = base
        && let Ok(v) =
            HeaderValue::from_str(&format!("{base}/{}/{}/_history/{}", r.ty, r.id, r.version))
    {
        h.insert(header::LOCATION, v);
    }
    resp
}

/// An OperationOutcome response (a success that carries warnings, or `$validate`).
pub fn outcome_response(status: StatusCode, issues: &[Issue]) -> Response {
    let mut body = String::new();
    spfhir_element::write_compact(&outcome_for(status, issues), &mut body);
    fhir_response(status, body)
}

/// One entry of a Bundle being rendered.
pub struct Entry<'a> {
    pub record: Option<&'a Record>,
    pub search_mode: Option<&'static str>,
    /// For transaction, batch and history responses: the entry's status.
    pub response: Option<Json>,
}

/// A Bundle's text, entries' resources spliced in as stored.
pub fn bundle_text(
    kind: &str,
    base: &str,
    total: Option<u64>,
    links: &[(&str, String)],
    entries: &[Entry],
) -> String {
    let mut b = Json::obj()
        .with("resourceType", "Bundle")
        .with("id", crate::resource::new_id().as_str())
        .with(
            "meta",
            Json::obj().with("lastUpdated", dates::instant(dates::now_micros()).as_str()),
        )
        .with("type", kind);
    if let Some(t) = total {
        b = b.with("total", t as i64);
    }
    let mut link_list = Vec::new();
    for (rel, url) in links {
        link_list.push(Json::obj().with("relation", *rel).with("url", url.as_str()));
    }
    b = b.with_list("link", link_list);
    let mut list = Vec::new();
    for e in entries {
        let mut j = Json::obj();
        if let Some(r) = e.record {
            j = j.with("fullUrl", format!("{base}/{}/{}", r.ty, r.id).as_str());
            if !r.deleted
                && let Ok(res) = spfhir_element::parse(&r.body)
            {
                j = j.with("resource", res);
            }
        }
        if let Some(mode) = e.search_mode {
            j = j.with("search", Json::obj().with("mode", mode));
        }
        if let Some(resp) = &e.response {
            j = j.with("response", resp.clone());
        }
        list.push(j);
    }
    b = b.with_list("entry", list);
    let mut out = String::new();
    spfhir_element::write_compact(&b, &mut out);
    out
}

/// `entry.response` for a transaction, batch or history entry.
pub fn entry_response(
    status: StatusCode,
    r: Option<&Record>,
    base: &str,
    issues: &[Issue],
) -> Json {
    let mut j = Json::obj().with(
        "status",
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end(),
    );
    if let Some(r) = r {
        j = j
            .with(
                "location",
                format!("{base}/{}/{}/_history/{}", r.ty, r.id, r.version).as_str(),
            )
            .with("etag", format!("W/\"{}\"", r.version).as_str())
            .with("lastModified", dates::instant(r.last_updated).as_str());
    }
    if !issues.is_empty() {
        j = j.with("outcome", outcome_for(status, issues));
    }
    j
}
