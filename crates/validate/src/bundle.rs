//! Bundle rules beyond the element definitions: fullUrl presence, form, uniqueness and agreement with
//! the resource's id, resources and ids on searchset entries and their search modes against
//! the types searched, a searchset's `self` link, paging links only on search and history
//! results and each of them (and `self`) once, a message Bundle's MessageHeader first,
//! `request` on transaction and batch entries, the resources a document's Composition or a
//! message's focus refers to carried in the Bundle, and a document's every entry reachable
//! from its Composition ([`document`]).

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
        searched_types(w, bundle)
    } else {
        None
    };
    // A searchset whose entries mostly give their search mode: one without is a slip.
    let modes_mixed = kind == "searchset" && {
        let with_mode = entries
            .iter()
            .filter(|e| search_mode_of(e).is_some())
            .count();
        with_mode > 0 && with_mode < entries.len()
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
                && let Some(why) = full_url_disagrees(w, url, res)
            {
                w.push(
                    Issue::error(msg::BUNDLE_FULLURL_MISMATCH, format!("{at}.fullUrl {why}"))
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
        if kind == "searchset" {
            search_entry(w, e, &at, modes_mixed);
        }
        if let (Some(types), Some(res)) = (&searched, e.get("resource")) {
            search_mode(w, e, res, types, &at);
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
    links(w, bundle, kind, path);
    if kind == "document" || kind == "message" {
        carried(w, bundle, entries, path, kind);
    }
    if kind == "document" {
        document(w, bundle, entries, path);
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

/// The resource types a searchset's `self` link searched: the type in its path
/// (`…/Patient?name=x` → Patient), else those its `_type` lists; none for a search across
/// every type (a system search without `_type`).
fn searched_types<'j>(w: &Walk<'_>, bundle: &'j Json) -> Option<Vec<&'j str>> {
    let url = self_link(bundle)?.get_str("url")?;
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    if w.knows_resource(last) {
        return Some(vec![last]);
    }
    let listed = query.split('&').find_map(|p| p.strip_prefix("_type="))?;
    Some(listed.split(',').filter(|t| !t.is_empty()).collect())
}

/// A Bundle's first link with relation `self`.
fn self_link(bundle: &Json) -> Option<&Json> {
    bundle
        .get("link")
        .and_then(Json::as_array)?
        .iter()
        .find(|l| l.get_str("relation") == Some("self"))
}

/// An entry's `search.mode`.
fn search_mode_of(e: &Json) -> Option<&str> {
    e.get("search").and_then(|s| s.get_str("mode"))
}

/// A searchset entry: a search result carries its resource, and a `match` or `include` is
/// a resource the server holds, so it has an id. An entry that gives no mode may be an
/// outcome, so its missing id is only a warning; and where the other entries give their
/// mode, leaving it out is a warning too.
fn search_entry(w: &mut Walk<'_>, e: &Json, at: &str, modes_mixed: bool) {
    let mode = search_mode_of(e);
    if mode.is_none() && modes_mixed {
        w.push(
            Issue::warning(
                msg::BUNDLE_SEARCH_MODE,
                format!("{at} has no search.mode, while other entries give theirs: say whether it is a 'match', an 'include' or an 'outcome'"),
            )
            .at(at)
            .at_node(e),
        );
    }
    let Some(res) = e.get("resource") else {
        w.push(
            Issue::error(
                msg::BUNDLE_SEARCH_ENTRY_EMPTY,
                format!(
                    "{at} has no resource: each entry of a searchset Bundle is a search result"
                ),
            )
            .at(at)
            .at_node(e),
        );
        return;
    };
    if res.get("id").is_some() || outcome(e, res) {
        return;
    }
    let text = format!(
        "{at}.resource has no id: the resources of a searchset Bundle are ones the server holds, so each has its id"
    );
    let issue = if matches!(mode, Some("match" | "include")) {
        Issue::error(msg::BUNDLE_ENTRY_ID, text)
    } else {
        Issue::warning(msg::BUNDLE_ENTRY_ID, text)
    };
    w.push(issue.at(format!("{at}.resource")).at_node(res));
}

/// A searchset entry's mode against the types searched: a `match` is of one of them, an
/// `outcome` is an OperationOutcome; an entry of another type without a mode is probably
/// an `include` that does not say so.
fn search_mode(w: &mut Walk<'_>, e: &Json, res: &Json, searched: &[&str], at: &str) {
    let Some(rt) = res.get_str("resourceType") else {
        return;
    };
    let mode_node = e.get("search").and_then(|s| s.get("mode"));
    let mode = mode_node.and_then(Json::as_str);
    let node = mode_node.unwrap_or(res);
    let searched_for = searched.contains(&rt);
    let types = || searched.join(", ");
    let issue = match mode {
        Some("match") if !searched_for => Issue::error(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} is a {rt} with search mode 'match', but the search was for {} (a resource of another type is an 'include')",
                types()
            ),
        ),
        Some("outcome") if rt != "OperationOutcome" => Issue::error(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} has search mode 'outcome', which is for an OperationOutcome about the search, not a {rt}"
            ),
        ),
        None if !searched_for && rt != "OperationOutcome" => Issue::warning(
            msg::BUNDLE_SEARCH_MODE,
            format!(
                "{at} is a {rt}, but the search was for {}: give it search.mode 'include' if it was included",
                types()
            ),
        ),
        _ => return,
    };
    w.push(issue.at(format!("{at}.search.mode")).at_node(node));
}

/// The paging relations of R4's search and history results (http.html, "Paging").
const PAGING: [&str; 4] = ["first", "previous", "next", "last"];

/// Bundle links: paging links belong to search and history results (a document, message,
/// collection or transaction is not a page of anything), and `self` and each paging
/// relation name one URL. Other relations (`alternate`, …) may repeat, as IANA's link
/// relations do. A searchset without a `self` link does not say what was searched.
fn links(w: &mut Walk<'_>, bundle: &Json, kind: &str, path: &str) {
    let links = bundle.get("link").and_then(Json::as_array).unwrap_or(&[]);
    let paged = matches!(kind, "searchset" | "history");
    let mut relations: std::collections::HashSet<&str> = Default::default();
    for (i, l) in links.iter().enumerate() {
        let Some(rel) = l.get("relation").and_then(Json::as_str) else {
            continue;
        };
        let node = l.get("relation").unwrap_or(l);
        let at = || format!("{path}.link[{i}].relation");
        let paging = PAGING.contains(&rel);
        if paging && !paged && !kind.is_empty() {
            w.push(
                Issue::error(
                    msg::BUNDLE_LINK_PAGING,
                    format!("{path}.link[{i}] is a paging link ('{rel}'), but only searchset and history Bundles are pages of results"),
                )
                .at(at())
                .at_node(node),
            );
        }
        if (rel == "self" || (paging && paged)) && !relations.insert(rel) {
            w.push(
                Issue::error(
                    msg::BUNDLE_LINK_DUPLICATE,
                    format!("{path}.link[{i}]: another link already has relation '{rel}'; that relation names one URL"),
                )
                .at(at())
                .at_node(node),
            );
        }
    }
    if kind == "searchset" && self_link(bundle).is_none() {
        w.push(
            Issue::warning(
                msg::BUNDLE_SEARCH_NO_SELF,
                format!("{path} is a searchset without a 'self' link, so it does not say what search it answers"),
            )
            .at(path)
            .at_node(bundle),
        );
    }
}

/// Why an entry's fullUrl disagrees with its resource, if it does. R4: "The fullUrl SHALL
/// NOT disagree with the id in the resource - i.e. if the fullUrl is not a urn:uuid, the
/// URL shall be version-independent URL consistent with the Resource.id". Checked where the
/// fullUrl is a RESTful URL (`http(s)://…/Type/id`, Type a resource type): it must name the
/// resource's type and id. Other URLs (a `urn:`, a document's web address) are not read.
fn full_url_disagrees(w: &Walk<'_>, url: &str, res: &Json) -> Option<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    // A version-specific fullUrl is bdl-8's to report; its type and id still count here.
    let head = url.split_once("/_history/").map_or(url, |(h, _)| h);
    let (ty, id) = crate::json::reference::type_and_id(head)?;
    if !w.knows_resource(ty) {
        return None;
    }
    let rt = res.get_str("resourceType").unwrap_or_default();
    Some(match res.get_str("id") {
        None => format!("names a {ty} by id, but its resource has no id"),
        Some(rid) if ty != rt || id != rid => {
            format!(
                "does not end with its resource's type and id ({rt}/ and then the resource's id)"
            )
        }
        Some(_) => return None,
    })
}

/// Is entry `e` (holding `res`) an OperationOutcome about a search (search mode `outcome`)?
fn outcome(e: &Json, res: &Json) -> bool {
    res.get_str("resourceType") == Some("OperationOutcome") || search_mode_of(e) == Some("outcome")
}

/// A document: its first entry is its Composition, and every entry is reachable from it
/// through references (R4 documents.html: the document is the Composition "and any other
/// resources referenced from Composition"; the reference validator has an unreached entry
/// as an error). An entry reached only backwards, by referring to one that is reached (a
/// Flag about the document's patient), is let through with a warning, as the reference
/// validator has it for R4, except for a Provenance, which always points backwards.
/// References are followed as literal references and as any URL that names an entry; a
/// Bundle inside an entry is its own scope.
fn document(w: &mut Walk<'_>, bundle: &Json, entries: &[Json], path: &str) {
    let Some(first) = entries.first().and_then(|e| e.get("resource")) else {
        w.push(
            Issue::error(
                msg::BUNDLE_DOCUMENT_EMPTY,
                format!("{path} is a document without its Composition: a document Bundle's first entry is the Composition it is built on"),
            )
            .at(format!("{path}.entry"))
            .at_node(entries.first().unwrap_or(bundle)),
        );
        return;
    };
    if first.get_str("resourceType") != Some("Composition") {
        return; // bdl-11 says so
    }
    let own;
    let index = match w.bundle_index() {
        Some(ix) => ix,
        None => {
            own = crate::json::reference::BundleIndex::new(bundle);
            &own
        }
    };
    let slot: std::collections::HashMap<*const Json, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((e.get("resource")? as *const Json, i)))
        .collect();
    // Each entry's targets: the other entries it refers to.
    let targets: Vec<Vec<usize>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let Some(res) = e.get("resource") else {
                return Vec::new();
            };
            let scope = crate::json::reference::Scope {
                container: Some(res),
                bundle: Some(bundle),
                entry_url: e.get_str("fullUrl"),
                index: Some(index),
            };
            let mut out = Vec::new();
            links_in(res, true, &mut |s| {
                if let Some(t) = crate::json::reference::resolve(s, &scope)
                    .and_then(|t| slot.get(&(t as *const Json)))
                    && *t != i
                    && !out.contains(t)
                {
                    out.push(*t);
                }
            });
            out
        })
        .collect();
    let mut reached = vec![false; entries.len()];
    let mut stack = vec![0];
    // A stylesheet link (`Binary/css`) names an entry the document uses.
    let in_bundle = crate::json::reference::Scope {
        bundle: Some(bundle),
        index: Some(index),
        ..Default::default()
    };
    for l in bundle.get("link").and_then(Json::as_array).unwrap_or(&[]) {
        if l.get_str("relation") == Some("stylesheet")
            && let Some(t) = l
                .get_str("url")
                .and_then(|u| crate::json::reference::resolve(u, &in_bundle))
        {
            stack.extend(slot.get(&(t as *const Json)));
        }
    }
    let reach = |stack: &mut Vec<usize>, reached: &mut Vec<bool>| {
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reached[i], true) {
                stack.extend(targets[i].iter().copied().filter(|t| !reached[*t]));
            }
        }
    };
    reach(&mut stack, &mut reached);
    loop {
        let backwards: Vec<usize> = (0..entries.len())
            .filter(|&i| !reached[i] && targets[i].iter().any(|t| reached[*t]))
            .collect();
        if backwards.is_empty() {
            break;
        }
        for &i in &backwards {
            let res = entries[i].get("resource").unwrap_or(&entries[i]);
            if res.get_str("resourceType") != Some("Provenance") {
                w.push(
                    Issue::warning(
                        msg::BUNDLE_DOCUMENT_REVERSE,
                        format!("{path}.entry[{i}] is reached only backwards: it refers to the document's content, but nothing in the document refers to it"),
                    )
                    .at(format!("{path}.entry[{i}]"))
                    .at_node(&entries[i]),
                );
            }
        }
        stack.extend(backwards);
        reach(&mut stack, &mut reached);
    }
    for (i, e) in entries.iter().enumerate() {
        if !reached[i] && e.get("resource").is_some() {
            w.push(
                Issue::error(
                    msg::BUNDLE_DOCUMENT_ORPHAN,
                    format!("{path}.entry[{i}] is not part of the document: nothing reached from its Composition refers to it"),
                )
                .at(format!("{path}.entry[{i}]"))
                .at_node(e),
            );
        }
    }
}

/// Calls `f` with every string in `v` that may name another entry: each `reference`, and
/// each absolute URL (`urn:uuid:…`, `http…`). A Bundle below the top is not entered: its
/// references resolve among its own entries.
fn links_in(v: &Json, top: bool, f: &mut impl FnMut(&str)) {
    if let Some(o) = v.as_object() {
        if !top && o.get("resourceType").and_then(Json::as_str) == Some("Bundle") {
            return;
        }
        for (k, x) in o.iter() {
            match x.as_str() {
                Some(s) if k == "reference" || s.starts_with("urn:") || s.contains("://") => f(s),
                Some(_) => {}
                None => links_in(x, false, f),
            }
        }
    } else if let Some(a) = v.as_array() {
        for x in a {
            match x.as_str() {
                Some(s) if s.starts_with("urn:") || s.contains("://") => f(s),
                Some(_) => {}
                None => links_in(x, false, f),
            }
        }
    }
}
