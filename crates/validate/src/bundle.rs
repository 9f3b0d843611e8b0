//! Bundle rules beyond the element definitions: fullUrl form, uniqueness and agreement with
//! the resource's id, ids on searchset entries, each link relation once, a message
//! Bundle's MessageHeader first, and `request` on transaction and batch entries.

use super::walk::Walk;
use crate::issue::Issue;
use crate::json::Json;
use spfhir_element::msg;

pub(super) fn check(w: &mut Walk<'_>, bundle: &Json, path: &str) {
    let kind = bundle
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let entries = bundle.get("entry").and_then(Json::as_array).unwrap_or(&[]);
    let mut seen: std::collections::HashSet<&str> = Default::default();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{path}.entry[{i}]");
        if let Some(url) = e.get("fullUrl").and_then(Json::as_str) {
            let node = e.get("fullUrl").unwrap_or(e);
            let absolute =
                url.starts_with("urn:uuid:") || url.starts_with("urn:oid:") || url.contains("://");
            if !absolute {
                w.push(
                    Issue::error(
                        msg::BUNDLE_FULLURL_FORM,
                        format!("{at}.fullUrl must be an absolute URL or a urn:uuid/urn:oid"),
                    )
                    .at(format!("{at}.fullUrl"))
                    .at_node(node),
                );
            }
            // Versions of one resource (history Bundles) may share a fullUrl.
            if !seen.insert(url) && kind != "history" {
                w.push(Issue::error(msg::BUNDLE_FULLURL_DUPLICATE, format!("{at}.fullUrl is the same as an earlier entry's: each entry needs its own")).at(format!("{at}.fullUrl")).at_node(node));
            }
            if let Some(res) = e.get("resource")
                && url.contains("://")
                && let (Some(rt), Some(id)) = (
                    res.get("resourceType").and_then(Json::as_str),
                    res.get("id").and_then(Json::as_str),
                )
                && !url.ends_with(&format!("{rt}/{id}"))
            {
                w.push(
                    Issue::error(
                        msg::BUNDLE_FULLURL_MISMATCH,
                        format!(
                            "{at}.fullUrl does not end with its resource's type and id ({rt}/ and then {at}.resource.id)"
                        ),
                    )
                    .at(format!("{at}.fullUrl"))
                    .at_node(node),
                );
            }
        }
        // A search result is a resource the server holds: it has an id (an OperationOutcome
        // about the search, mode `outcome`, need not).
        if kind == "searchset"
            && let Some(res) = e.get("resource")
            && res.get("id").is_none()
            && res.get("resourceType").and_then(Json::as_str) != Some("OperationOutcome")
            && e.get("search")
                .and_then(|s| s.get("mode"))
                .and_then(Json::as_str)
                != Some("outcome")
        {
            w.push(
                Issue::error(
                    msg::BUNDLE_ENTRY_ID,
                    format!("{at}.resource has no id: the resources of a searchset Bundle are ones the server holds, so each has its id"),
                )
                .at(format!("{at}.resource"))
                .at_node(res),
            );
        }
        if matches!(kind, "transaction" | "batch") && e.get("request").is_none() {
            w.push(
                Issue::error(
                    msg::BUNDLE_ENTRY_REQUEST,
                    format!("{at}.request is required in a {kind} Bundle"),
                )
                .at(at.clone())
                .at_node(e),
            );
        }
    }
    // Each link relation names one URL (one `self`, one `next`, …).
    let links = bundle.get("link").and_then(Json::as_array).unwrap_or(&[]);
    let mut relations: std::collections::HashSet<&str> = Default::default();
    for (i, l) in links.iter().enumerate() {
        if let Some(rel) = l.get("relation").and_then(Json::as_str)
            && !relations.insert(rel)
        {
            w.push(
                Issue::error(
                    msg::BUNDLE_LINK_DUPLICATE,
                    format!("{path}.link[{i}]: another link already has relation '{rel}'; each relation may appear once"),
                )
                .at(format!("{path}.link[{i}].relation"))
                .at_node(l.get("relation").unwrap_or(l)),
            );
        }
    }
    if kind == "message" {
        let first = entries.first().and_then(|e| e.get("resource"));
        let rt = first
            .and_then(|r| r.get("resourceType"))
            .and_then(Json::as_str);
        if rt != Some("MessageHeader") {
            let node = first.unwrap_or(bundle);
            w.push(
                Issue::error(
                    msg::BUNDLE_MESSAGE_HEADER,
                    "the first entry of a message Bundle must be its MessageHeader".to_string(),
                )
                .at(format!("{path}.entry[0]"))
                .at_node(node),
            );
        }
    }
}
