//! Resources as the server receives and keeps them: request bodies parsed (with line and
//! column for errors), and the server's own elements (`id`, `meta.versionId`,
//! `meta.lastUpdated`) set without disturbing anything else: member order and the exact
//! text of every number are kept.

use axum::http::StatusCode;
use spfhir_element::msg;
use spfhir_element::{Json, Kind, Member, Pos};

use crate::dates;
use crate::error::ApiError;

/// Parse a request body as one JSON resource. Text that is not UTF-8 or not JSON is a 400
/// whose issue says where (line and column).
pub fn parse_body(bytes: &[u8]) -> Result<(String, Json), ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            msg::JSON_SYNTAX,
            format!("the body is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
        )
    })?;
    let json = parse_json(text)?;
    if json.get_str("resourceType").is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            msg::STRUCTURE_NO_RESOURCE_TYPE,
            "the body is JSON but not a FHIR resource: it has no resourceType",
        ));
    }
    Ok((text.to_owned(), json))
}

/// Parse JSON text; text that is not JSON is a 400 whose one issue says where (the
/// validator's own `JSON_SYNTAX` issue).
pub fn parse_json(text: &str) -> Result<Json, ApiError> {
    spfhir_element::parse(text).map_err(|e| {
        ApiError::issues(
            StatusCode::BAD_REQUEST,
            vec![spfhir_validate::syntax_issue(&e)],
        )
    })
}

/// Set member `key` of an object: replaced where it is, or inserted at `at` (or the end).
fn set(obj: &mut Json, key: &str, value: Json, at: usize) {
    if let Kind::Object(o) = &mut obj.kind {
        if let Some(m) = o.members.iter_mut().find(|m| m.key == key) {
            m.value = value;
        } else {
            let at = at.min(o.members.len());
            o.members.insert(
                at,
                Member {
                    key: key.into(),
                    key_pos: Pos::NONE,
                    value,
                },
            );
        }
    }
}

/// Give `resource` the tag `system|code` in `meta.tag`, in place of any other tag of that
/// system.
pub fn tag(resource: &mut Json, system: &str, code: &str) {
    let mut meta = resource
        .get("meta")
        .filter(|m| m.as_object().is_some())
        .cloned()
        .unwrap_or_else(Json::obj);
    let mut tags = Json::arr();
    for t in meta.get("tag").and_then(Json::as_array).unwrap_or(&[]) {
        if t.get_str("system") != Some(system) {
            tags = tags.item(t.clone());
        }
    }
    tags = tags.item(Json::obj().with("system", system).with("code", code));
    set(&mut meta, "tag", tags, usize::MAX);
    set(resource, "meta", meta, 2);
}

/// Give `resource` the id `id` (replacing any it has).
pub fn set_id(resource: &mut Json, id: &str) {
    set(resource, "id", Json::from(id), 1);
}

/// Give `resource` its id, version and time, and return its compact text.
pub fn stamp(resource: &mut Json, id: &str, version: i64, last_updated: i64) -> String {
    set(resource, "id", Json::from(id), 1);
    let mut meta = resource
        .get("meta")
        .filter(|m| m.as_object().is_some())
        .cloned()
        .unwrap_or_else(Json::obj);
    set(
        &mut meta,
        "versionId",
        Json::from(version.to_string().as_str()),
        0,
    );
    set(
        &mut meta,
        "lastUpdated",
        Json::from(dates::instant(last_updated).as_str()),
        1,
    );
    set(resource, "meta", meta, 2);
    let mut out = String::new();
    spfhir_element::write_compact(resource, &mut out);
    out
}

/// A new server-assigned id: a UUID version 7, whose leading bits are the time, so new
/// resources land at the end of the store's id-ordered indexes instead of on a random page
/// each (random v4 ids dirtied about 30 index pages per create; see ARCHITECTURE.md).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Is `id` a valid FHIR id (`[A-Za-z0-9\-\.]{1,64}`)?
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_keeps_order_and_numbers() {
        let (_, mut r) = parse_body(br#"{"resourceType":"Observation","valueQuantity":{"value":1.50},"meta":{"profile":["x"]}}"#).unwrap();
        let text = stamp(&mut r, "o1", 3, 0);
        assert_eq!(
            text,
            r#"{"resourceType":"Observation","id":"o1","valueQuantity":{"value":1.50},"meta":{"versionId":"3","lastUpdated":"1970-01-01T00:00:00.000+00:00","profile":["x"]}}"#
        );
    }

    #[test]
    fn bad_bodies_say_where() {
        let e = parse_body(b"{\n  \"resourceType\": }").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.issues[0].line_col.map(|l| l.line), Some(2));
        assert!(parse_body(b"[1]").is_err());
        assert!(parse_body(b"\xff").is_err());
    }
}
