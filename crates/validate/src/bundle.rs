//! Bundle rules beyond the element definitions: fullUrl presence, form, uniqueness and agreement with
//! the resource's id, ids on searchset entries and their search modes against the type
//! searched, each link relation once, a message Bundle's MessageHeader first, `request`
//! on transaction and batch entries, and the resources a document's Composition or a
//! message's focus refers to carried in the Bundle.

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
    // fullUrl and the resource's meta.versionId: versions of one resource may share a
    // fullUrl (a document's versioned references resolve through versionId).
    let mut seen: std::collections::HashSet<(&str, Option<&str>)> = Default::default();
    let searched = if kind == "searchset" {
        searched_type(w, bundle)
    } else {
        None
    };
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
            let version = e
                .get("resource")
                .and_then(|r| r.get("meta"))
                .and_then(|m| m.get_str("versionId"));
            if !seen.insert((url, version)) && kind != "history" {
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
        // R4 Bundle.entry.fullUrl: "SHALL have a value except that fullUrl can be empty on a
        // POST" and "results from operations might involve resources that are not
        // identified": so not in transactions and batches (nor their responses), nor for an
        // unidentified resource or an outcome in a search's results.
        if e.get("fullUrl").is_none()
            && let Some(res) = e.get("resource")
            && !matches!(
                kind,
                "transaction" | "batch" | "transaction-response" | "batch-response"
            )
            && !(kind == "searchset" && (res.get("id").is_none() || outcome(e, res)))
        {
            w.push(
                Issue::error(
                    msg::BUNDLE_ENTRY_FULLURL_MISSING,
                    format!("{at} has a resource but no fullUrl: outside transactions and batches, an entry's fullUrl is its resource's identity, and R4 requires it"),
                )
                .at(at.clone())
                .at_node(e),
            );
        }
        // A search result is a resource the server holds: it has an id (an OperationOutcome
        // about the search, mode `outcome`, need not).
        if kind == "searchset"
            && let Some(res) = e.get("resource")
            && res.get("id").is_none()
            && !outcome(e, res)
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
        if let (Some(ty), Some(res)) = (searched, e.get("resource")) {
            search_mode(w, e, res, ty, &at);
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
    if kind == "document" || kind == "message" {
        carried(w, bundle, entries, path, kind);
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

/// A document carries what its Composition refers to (R4's Composition: "any other resources
/// referenced from Composition must be included as subsequent entries in the Bundle"), and
/// a message its focus: each literal reference there (contained `#id`s aside) must resolve
/// to an entry.
fn carried(w: &mut Walk<'_>, bundle: &Json, entries: &[Json], path: &str, kind: &str) {
    let Some(first) = entries.first() else { return };
    let Some(res) = first.get("resource") else {
        return;
    };
    let mut refs: Vec<(String, &Json)> = Vec::new();
    let at = format!("{path}.entry[0].resource");
    match (kind, res.get_str("resourceType")) {
        ("document", Some("Composition")) => {
            for name in ["subject", "encounter", "author", "custodian"] {
                references_at(res, name, &at, &mut refs);
            }
            for (i, a) in items(res, "attester").enumerate() {
                references_at(a, "party", &format!("{at}.attester[{i}]"), &mut refs);
            }
            for (i, e) in items(res, "event").enumerate() {
                references_at(e, "detail", &format!("{at}.event[{i}]"), &mut refs);
            }
            sections(res, &at, &mut refs);
        }
        ("message", Some("MessageHeader")) => references_at(res, "focus", &at, &mut refs),
        _ => return,
    }
    let scope = crate::json::reference::Scope {
        container: Some(res),
        bundle: Some(bundle),
        entry_url: first.get_str("fullUrl"),
        index: None,
    };
    let holder = if kind == "document" {
        "a document's Composition"
    } else {
        "a message's MessageHeader.focus"
    };
    for (at, node) in refs {
        let Some(r) = node.as_str() else { continue };
        if r.starts_with('#') || crate::json::reference::resolve(r, &scope).is_some() {
            continue;
        }
        w.push(
            Issue::error(
                msg::BUNDLE_REFERENCE_MISSING,
                format!("{at} refers to a resource that is not in the Bundle: {holder} refers only to resources the Bundle carries"),
            )
            .at(at)
            .at_node(node),
        );
    }
}

/// The items of a member that may be one object or an array of them.
fn items<'j>(v: &'j Json, name: &str) -> impl Iterator<Item = &'j Json> {
    let m = v.get(name);
    let list = m.and_then(Json::as_array);
    let one = if list.is_none() { m } else { None };
    list.unwrap_or(&[]).iter().chain(one)
}

/// The `reference` strings of `v.name` (one Reference or an array), with their paths.
fn references_at<'j>(v: &'j Json, name: &str, at: &str, out: &mut Vec<(String, &'j Json)>) {
    let many = v.get(name).and_then(Json::as_array).is_some();
    for (i, r) in items(v, name).enumerate() {
        if let Some(node) = r.get("reference") {
            let here = if many {
                format!("{at}.{name}[{i}].reference")
            } else {
                format!("{at}.{name}.reference")
            };
            out.push((here, node));
        }
    }
}

/// Composition sections, nested ones included: their authors, focus and entries.
fn sections<'j>(v: &'j Json, at: &str, out: &mut Vec<(String, &'j Json)>) {
    for (i, s) in items(v, "section").enumerate() {
        let here = format!("{at}.section[{i}]");
        for name in ["author", "focus", "entry"] {
            references_at(s, name, &here, out);
        }
        sections(s, &here, out);
    }
}

/// The resource type a searchset's `self` link searched (`…/Patient?name=x` → Patient), when
/// it names one type: none for a search across types (`_type`, or a system search).
fn searched_type<'j>(w: &Walk<'_>, bundle: &'j Json) -> Option<&'j str> {
    let links = bundle.get("link").and_then(Json::as_array)?;
    let url = links
        .iter()
        .find(|l| l.get_str("relation") == Some("self"))?
        .get_str("url")?;
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if query.split('&').any(|p| p.starts_with("_type=")) {
        return None;
    }
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    w.knows_resource(last).then_some(last)
}

/// A searchset entry's mode against the type searched: a `match` is of that type, an
/// `outcome` is an OperationOutcome; an entry of another type without a mode is probably
/// an `include` that does not say so.
fn search_mode(w: &mut Walk<'_>, e: &Json, res: &Json, searched: &str, at: &str) {
    let Some(rt) = res.get_str("resourceType") else {
        return;
    };
    let mode_node = e.get("search").and_then(|s| s.get("mode"));
    let mode = mode_node.and_then(Json::as_str);
    let node = mode_node.unwrap_or(res);
    let issue = match mode {
        Some("match") if rt != searched => Issue::error(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} is a {rt} with search mode 'match', but the search was for {searched} (a resource of another type is an 'include')"
            ),
        ),
        Some("outcome") if rt != "OperationOutcome" => Issue::error(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} has search mode 'outcome', which is for an OperationOutcome about the search, not a {rt}"
            ),
        ),
        None if rt != searched && rt != "OperationOutcome" => Issue::warning(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} is a {rt}, but the search was for {searched}: give it search.mode 'include' if it was included"
            ),
        ),
        _ => return,
    };
    w.push(issue.at(format!("{at}.search.mode")).at_node(node));
}

/// Is entry `e` (holding `res`) an OperationOutcome about a search (search mode `outcome`)?
fn outcome(e: &Json, res: &Json) -> bool {
    res.get("resourceType").and_then(Json::as_str) == Some("OperationOutcome")
        || e.get("search")
            .and_then(|s| s.get("mode"))
            .and_then(Json::as_str)
            == Some("outcome")
}
