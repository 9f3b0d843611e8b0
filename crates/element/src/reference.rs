//! Resolving a FHIR `Reference.reference` inside the payload it travels in: the one place
//! spfhir does it (FHIRPath's `resolve()`, the validator and the translators all call
//! [`resolve`]). Following FHIR R4's rules for references in Bundles (3.3.1.4 of the
//! Bundle page):
//!
//! - `#id` is a resource contained in the resource that holds the reference (`#` alone is
//!   that resource itself);
//! - an absolute reference (`urn:uuid:…`, `urn:oid:…`, `http…`) is the entry whose
//!   `fullUrl` is that URL;
//! - a relative reference (`Patient/123`) is resolved against the base of the holding
//!   entry's `fullUrl` when that is a RESTful URL, else matched by resource type and id;
//! - a versioned reference (`…/_history/2`) matches without its version, and only an entry
//!   whose `meta.versionId` is that version, when the entry states one;
//! - an `http` reference that no fullUrl matches falls back to its `Type/id` tail, as
//!   servers that rebase URLs need.
//!
//! The Bundle searched is the one the caller names: the nearest enclosing the resource, so a
//! Bundle inside a Bundle's entry resolves within itself.

use crate::Json;

/// Where a reference is resolved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'j, 'i> {
    /// The resource holding the reference (for `#id`).
    pub container: Option<&'j Json>,
    /// The nearest Bundle it travels in.
    pub bundle: Option<&'j Json>,
    /// The `fullUrl` of the Bundle entry the holding resource is in.
    pub entry_url: Option<&'j str>,
    /// An index of `bundle` ([`BundleIndex::new`]): with it each lookup is a hash probe,
    /// without it a scan of the entries (fine for one lookup, quadratic for a Bundle's
    /// every reference).
    pub index: Option<&'i BundleIndex<'j>>,
}

/// A Bundle's entries by fullUrl and by resource type and id, built once per Bundle.
#[derive(Debug, Default)]
pub struct BundleIndex<'j> {
    by_full_url: std::collections::HashMap<&'j str, Vec<&'j Json>>,
    by_type_id: std::collections::HashMap<(&'j str, &'j str), Vec<&'j Json>>,
}

impl<'j> BundleIndex<'j> {
    pub fn new(bundle: &'j Json) -> BundleIndex<'j> {
        let mut index = BundleIndex::default();
        for e in bundle.get("entry").and_then(Json::as_array).unwrap_or(&[]) {
            let Some(res) = e.get("resource") else {
                continue;
            };
            if let Some(full) = e.get_str("fullUrl") {
                index.by_full_url.entry(full).or_default().push(res);
            }
            if let (Some(ty), Some(id)) = (res.get_str("resourceType"), res.get_str("id")) {
                index.by_type_id.entry((ty, id)).or_default().push(res);
            }
        }
        index
    }
}

/// The resource `reference` points at, if it is in `scope`.
pub fn resolve<'j>(reference: &str, scope: &Scope<'j, '_>) -> Option<&'j Json> {
    if let Some(id) = reference.strip_prefix('#') {
        let container = scope.container?;
        if id.is_empty() {
            return Some(container);
        }
        return container
            .get("contained")?
            .as_array()?
            .iter()
            .find(|c| c.get_str("id") == Some(id));
    }
    let bundle = scope.bundle?;
    let entries = bundle.get("entry")?.as_array()?;
    let (url, version) = match reference.split_once("/_history/") {
        Some((u, v)) => (u, Some(v)),
        None => (reference, None),
    };
    let version_ok = |res: &Json| {
        version.is_none_or(|v| {
            res.get("meta")
                .and_then(|m| m.get_str("versionId"))
                .is_none_or(|have| have == v)
        })
    };
    let by_full_url = |full: &str| match scope.index {
        Some(ix) => ix
            .by_full_url
            .get(full)?
            .iter()
            .copied()
            .find(|res| version_ok(res)),
        None => entries.iter().find_map(|e| {
            let res = e.get("resource")?;
            (e.get_str("fullUrl") == Some(full) && version_ok(res)).then_some(res)
        }),
    };
    let absolute = url.starts_with("urn:") || url.contains("://");
    if absolute {
        if let Some(res) = by_full_url(url) {
            return Some(res);
        }
        if url.starts_with("urn:") {
            return None;
        }
    } else if let Some(base) = scope.entry_url.and_then(restful_base) {
        let mut full = String::with_capacity(base.len() + 1 + url.len());
        full.push_str(base);
        full.push('/');
        full.push_str(url);
        if let Some(res) = by_full_url(&full) {
            return Some(res);
        }
    }
    let (ty, id) = type_and_id(url)?;
    if let Some(ix) = scope.index {
        return ix
            .by_type_id
            .get(&(ty, id))?
            .iter()
            .copied()
            .find(|res| version_ok(res));
    }
    entries.iter().find_map(|e| {
        let res = e.get("resource")?;
        (res.get_str("resourceType") == Some(ty)
            && res.get_str("id") == Some(id)
            && version_ok(res))
        .then_some(res)
    })
}

/// `Type/id` at the end of a reference (`Patient/1`, `https://x/fhir/Patient/1`).
pub fn type_and_id(url: &str) -> Option<(&str, &str)> {
    let (rest, id) = url.trim_end_matches('/').rsplit_once('/')?;
    let ty = rest.rsplit('/').next()?;
    (!ty.is_empty() && !id.is_empty() && ty.starts_with(|c: char| c.is_ascii_uppercase()))
        .then_some((ty, id))
}

/// The service base of a RESTful fullUrl (`https://x/fhir` of `https://x/fhir/Patient/1`).
fn restful_base(full: &str) -> Option<&str> {
    if !full.contains("://") {
        return None;
    }
    let (rest, _id) = full.rsplit_once('/')?;
    let (base, ty) = rest.rsplit_once('/')?;
    ty.starts_with(|c: char| c.is_ascii_uppercase())
        .then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Json {
        crate::parse(
            r##"{"resourceType":"Bundle","entry":[
              {"fullUrl":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0","resource":{"resourceType":"Patient","id":"a"}},
              {"fullUrl":"https://srv.example/fhir/Patient/b","resource":{"resourceType":"Patient","id":"b","meta":{"versionId":"2"}}},
              {"fullUrl":"https://srv.example/fhir/ServiceRequest/s","resource":{"resourceType":"ServiceRequest","id":"s",
                 "contained":[{"resourceType":"Organization","id":"o"}]}},
              {"fullUrl":"https://other.example/fhir/Patient/b","resource":{"resourceType":"Patient","id":"b2"}},
              {"resource":{"resourceType":"Practitioner","id":"p"}}
            ]}"##,
        )
        .unwrap()
    }

    fn id(r: Option<&Json>) -> Option<&str> {
        r.and_then(|r| r.get_str("id"))
    }

    #[test]
    fn every_kind_of_reference() {
        let b = bundle();
        let sr = &b.get("entry").unwrap().as_array().unwrap()[2];
        // Every answer the same with the index and without it (its slow twin).
        let index = BundleIndex::new(&b);
        for index in [None, Some(&index)] {
            let scope = Scope {
                container: sr.get("resource"),
                bundle: Some(&b),
                entry_url: sr.get_str("fullUrl"),
                index,
            };
            let r = |s: &str| id(resolve(s, &scope));
            assert_eq!(
                r("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"),
                Some("a")
            );
            assert_eq!(r("urn:uuid:00000000-0000-0000-0000-000000000000"), None);
            assert_eq!(r("#o"), Some("o"));
            assert_eq!(r("#"), Some("s"));
            assert_eq!(r("#nope"), None);
            // Relative: against the holding entry's base first (not the other server's Patient/b).
            assert_eq!(r("Patient/b"), Some("b"));
            assert_eq!(r("https://other.example/fhir/Patient/b"), Some("b2"));
            // Versioned: the version must agree with meta.versionId when there is one.
            assert_eq!(r("Patient/b/_history/2"), Some("b"));
            assert_eq!(r("Patient/b/_history/1"), None);
            assert_eq!(
                r("https://srv.example/fhir/Patient/b/_history/2"),
                Some("b")
            );
            // No fullUrl: by type and id; an http URL no fullUrl matches: by its tail.
            assert_eq!(r("Practitioner/p"), Some("p"));
            assert_eq!(r("https://elsewhere.example/Practitioner/p"), Some("p"));
            assert_eq!(r("Patient/zzz"), None);
            // Outside a Bundle, only contained resources resolve.
            let alone = Scope {
                container: sr.get("resource"),
                ..Default::default()
            };
            assert_eq!(id(resolve("#o", &alone)), Some("o"));
            assert_eq!(resolve("Patient/b", &alone), None);
        }
    }

    #[test]
    fn a_nested_bundle_resolves_within_itself() {
        let outer = crate::parse(
            r#"{"resourceType":"Bundle","entry":[
              {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"outer"}},
              {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Bundle","entry":[
                 {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"inner"}}]}}]}"#,
        )
        .unwrap();
        let inner = outer.get("entry").unwrap().as_array().unwrap()[1]
            .get("resource")
            .unwrap();
        let scope = Scope {
            bundle: Some(inner),
            ..Default::default()
        };
        assert_eq!(id(resolve("urn:uuid:1", &scope)), Some("inner"));
    }
}
