//! References: format, target type, and resolution in the Bundle and `contained`.

use super::*;
use crate::json::{Json, reference};
use crate::profile::{Node, Profile};
use spfhir_element::msg::{self};
use std::sync::Arc;

impl<'a> Walk<'a> {
    pub(super) fn reference(&mut self, p: &Arc<Profile>, n: &Node, v: &Json, at: &str) {
        // `type`, when it names a resource type: what the reference (or identifier) is to.
        let declared = v.get_str("type").filter(|t| self.v.model.is_resource(t));
        let Some(r) = v.get_str("reference") else {
            if let Some(t) = declared {
                self.target_allowed(p, n, v, at, t);
            }
            return;
        };
        // The resource it points at, when that is in the instance (contained, or an entry of
        // the Bundle).
        let mut resolved: Option<&'a Json> = None;
        let target_type: Option<&str> = if let Some(id) = r.strip_prefix('#') {
            resolved = self.resolve(r);
            match resolved {
                Some(x) => x.get_str("resourceType"),
                None if id.is_empty() || self.env.resource.is_none() => None,
                None => {
                    self.error(
                        msg::REFERENCE_UNRESOLVED,
                        at,
                        v,
                        format!("{at}.reference points at a contained resource that is not there"),
                    );
                    return;
                }
            }
        } else if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            if self.env.bundle.is_none() {
                self.aggregation(p, n, v, at, r, false);
                return; // outside a Bundle a URN cannot be resolved, and need not be
            }
            resolved = self.resolve(r);
            match resolved {
                Some(x) => x.get_str("resourceType"),
                None => {
                    self.error(
                        msg::REFERENCE_UNRESOLVED,
                        at,
                        v,
                        format!(
                            "{at}.reference is a {} that no entry of the Bundle has as its fullUrl",
                            &r[..8]
                        ),
                    );
                    return;
                }
            }
        } else if let Some((t, query)) = memchr::memchr(b'?', r.as_bytes())
            .map(|i| (&r[..i], &r[i + 1..]))
            .filter(|(t, _)| self.v.model.is_resource(t))
        {
            // A conditional reference, `Type?search` (R4 http.html, "Conditional
            // references"): a transaction's server replaces it with the one match; anywhere
            // else nothing resolves it. Its type is still known.
            let search = !query.is_empty()
                && query.split('&').all(|pair| {
                    pair.split_once('=')
                        .is_some_and(|(name, _)| !name.is_empty())
                });
            if !search {
                self.error(msg::REFERENCE_FORMAT, at, v, format!("{at}.reference is a conditional reference whose query is not a search: expected {t}?name=value&…"));
                return;
            }
            let in_transaction = self
                .env
                .bundle
                .is_some_and(|b| b.get_str("type") == Some("transaction"));
            if !in_transaction {
                self.warn(msg::REFERENCE_FORMAT, at, v, format!("{at}.reference is a conditional reference ({t}?…), which only a transaction resolves; here it points at nothing"));
            }
            Some(t)
        } else {
            // Type/id, Type/id/_history/vid, or an absolute URL ending in either (which may
            // point outside a Bundle): the type is the segment before the id.
            // Segments are split with memchr: `str::rsplit` sets up a searcher per call, and
            // this runs for every reference.
            let mut rest = Some(r.trim_end_matches('/'));
            let mut next_seg = || {
                let r = rest?;
                match memchr::memrchr(b'/', r.as_bytes()) {
                    Some(i) => {
                        rest = Some(&r[..i]);
                        Some(&r[i + 1..])
                    }
                    None => {
                        rest = None;
                        Some(r)
                    }
                }
            };
            let (s0, s1, s2, s3) = (next_seg(), next_seg(), next_seg(), next_seg());
            let (ty, id) = match (s1, s2, s3) {
                (Some("_history"), Some(id), Some(ty)) => (Some(ty), Some(id)),
                _ => (s1, s0),
            };
            match (ty.filter(|t| self.v.model.is_resource(t)), id) {
                (Some(t), Some(id)) if !crate::primitive::is_id(id) => {
                    self.error(msg::REFERENCE_FORMAT, at, v, format!("{at}.reference is not a valid reference: the id after {t}/ must be 1 to 64 letters, digits, '-' or '.'"));
                    return;
                }
                (Some(t), Some(_)) => {
                    // Only the aggregation and target-profile rules need the target of a
                    // Type/id: most elements have neither, and skip the Bundle lookup.
                    if self.env.bundle.is_some() && needs_target(n) {
                        resolved = self.resolve(r);
                    }
                    Some(t)
                }
                // No type to be read from it (a bare id, a URL of another shape): it may
                // still resolve where it is used, so a warning, as the reference validator
                // has it, and no target type check.
                _ => {
                    self.warn(msg::REFERENCE_FORMAT, at, v, format!("{at}.reference does not say what type it refers to, so its target was not checked: expected Type/id, an absolute URL ending in Type/id, #id or a urn:uuid/urn:oid"));
                    return;
                }
            }
        };
        self.aggregation(p, n, v, at, r, resolved.is_some());
        let Some(t) = target_type else { return };
        if let Some(d) = declared.filter(|d| *d != t) {
            // Reference.type: "If both Reference.type and Reference.reference are populated
            // and Reference.reference is a FHIR URL, both SHALL be consistent."
            let node = v.get("type").unwrap_or(v);
            self.error(
                msg::REFERENCE_TYPE_MISMATCH,
                &format!("{at}.type"),
                node,
                format!("{at}.type is {d}, but its reference is to {t}: the two must agree"),
            );
        }
        self.target_allowed(p, n, v, at, t);
        if let Some(target) = resolved {
            self.target_profiles(p, n, v, at, t, target);
        }
    }

    /// `aggregation` (R4 ElementDefinition.type): where the referenced resource must be:
    /// `contained` ("a local reference to a contained resource"), `bundled` ("found in the
    /// same bundle"), or `referenced` ("resolved externally to the resource"). A reference
    /// found in neither place counts as referenced.
    fn aggregation(
        &mut self,
        p: &Arc<Profile>,
        n: &Node,
        v: &Json,
        at: &str,
        r: &str,
        found: bool,
    ) {
        let Some(ty) = n.types.iter().find(|ty| ty.code == "Reference") else {
            return;
        };
        if ty.aggregation.is_empty() {
            return;
        }
        let contained = r.starts_with('#');
        let has = |mode: &str| ty.aggregation.iter().any(|a| a == mode);
        let ok = match (contained, found) {
            (true, _) => has("contained"),
            (false, true) => has("bundled") || has("referenced"),
            (false, false) => has("referenced"),
        };
        if !ok {
            let place = match (contained, found) {
                (true, _) => "a contained resource",
                (false, true) => "another entry of the Bundle",
                (false, false) => "a resource outside this one",
            };
            self.error_in(
                p,
                msg::REFERENCE_AGGREGATION,
                at,
                v,
                format!(
                    "{at} refers to {place}, but the profile allows only {} references here",
                    ty.aggregation.join(" or ")
                ),
            );
        }
    }

    /// A reference that resolves in the instance points at a resource that conforms to one
    /// of the element's target profiles of its type, when those are not just the base
    /// resource definitions (whose rules the target's own walk applies). A target that
    /// claims one of them in `meta.profile` is walked against it anyway, its errors reported
    /// where they are, so it is not walked again here. Each (target, profile) pair is tried
    /// once per walk; one under way counts as conforming, so cycles of references end.
    fn target_profiles(
        &mut self,
        p: &Arc<Profile>,
        n: &Node,
        v: &Json,
        at: &str,
        t: &str,
        target: &'a Json,
    ) {
        // Most elements name only base definitions: no lookups, no allocation.
        if !has_profiled_targets(n) {
            return;
        }
        let registry = &*self.v.registry;
        let candidates: Vec<&str> = n
            .types
            .iter()
            .filter(|ty| ty.code == "Reference")
            .flat_map(|ty| ty.target_profiles.iter().map(String::as_str))
            .filter(|tp| {
                registry
                    .entry(tp)
                    .is_some_and(|e| e.sd_type.as_deref() == Some(t))
            })
            .collect();
        if candidates.iter().all(|tp| is_base(tp)) {
            return;
        }
        let claimed = target
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        if claimed
            .iter()
            .filter_map(Json::as_str)
            .any(|c| candidates.iter().any(|tp| canonical_eq(c, tp)))
        {
            return;
        }
        let mut first = None;
        for tp in &candidates {
            let key = (target as *const Json as usize, tp.to_string());
            let verdict = match self.target_checks.get(&key) {
                Some(&ok) => Ok(ok),
                None => {
                    self.target_checks.insert(key.clone(), true);
                    let r = self.conforms(target, tp, &format!("{at}.resolve()"));
                    self.target_checks.insert(key, r.is_ok());
                    r.map(|()| true)
                }
            };
            match verdict {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        let why = first.map(|e| format!(": {e}")).unwrap_or_default();
        self.error_in(
            p,
            msg::REFERENCE_TARGET_PROFILE,
            at,
            v,
            format!(
                "{at} refers to a {t} that conforms to none of its target profiles ({}){why}",
                candidates.join(", ")
            ),
        );
    }

    /// The resource types the target profiles of element `n`'s `code` type (`Reference`
    /// or `canonical`) stand for; `?` for a target profile that is not loaded, unless its
    /// URL ends in a resource type's name.
    pub(super) fn target_types<'n>(
        &self,
        n: &'n Node,
        code: &'n str,
    ) -> impl Iterator<Item = &'n str> + use<'n, 'a, '_> {
        n.types
            .iter()
            .filter(move |ty| ty.code == code)
            .flat_map(|ty| {
                ty.target_types.get_or_init(|| {
                    ty.target_profiles
                        .iter()
                        .map(|tp| {
                            self.v
                                .registry
                                .entry(tp)
                                .and_then(|e| e.sd_type.clone())
                                .unwrap_or_else(|| {
                                    let last = tp.rsplit('/').next().unwrap_or_default();
                                    match self.v.model.is_resource(last) {
                                        true => last.to_string(),
                                        false => "?".to_string(),
                                    }
                                })
                        })
                        .collect::<Vec<String>>()
                })
            })
            .map(String::as_str)
    }

    /// May element `n` refer to a resource of type `t`? Its Reference types' target profiles
    /// say (an error if not; a warning when a target profile is not loaded).
    fn target_allowed(&mut self, p: &Arc<Profile>, n: &Node, v: &Json, at: &str, t: &str) {
        let registry = &*self.v.registry;
        let allowed = || self.target_types(n, "Reference");
        if allowed().next().is_some() && !allowed().any(|a| a == t || a == "Resource") {
            if allowed().any(|a| a == "?") {
                let unknown: Vec<&str> = n
                    .types
                    .iter()
                    .filter(|ty| ty.code == "Reference")
                    .flat_map(|ty| ty.target_profiles.iter().map(String::as_str))
                    .filter(|tp| registry.entry(tp).is_none())
                    .collect();
                self.push(
                    Issue::warning(
                        msg::REFERENCE_TARGET_PROFILE_UNKNOWN,
                        format!(
                            "{at} refers to {t}; the target profiles {} are not loaded, so whether {t} may be referred to here was not checked",
                            unknown.join(", ")
                        ),
                    )
                    .at(at)
                    .at_node(v)
                    .in_profile(p.provenance()),
                );
                return;
            }
            let allowed: Vec<&str> = allowed().collect();
            self.error_in(
                p,
                msg::REFERENCE_TARGET_TYPE,
                at,
                v,
                format!(
                    "{at} refers to {t}, but only {} may be referred to here",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// The resource a reference points at, when it is in the instance: a contained resource
    /// or a Bundle entry, by [`reference::resolve`]'s rules.
    pub(super) fn resolve(&self, r: &str) -> Option<&'a Json> {
        let scope = reference::Scope {
            // Inside a contained resource, `#id` names a sibling and `#` the container:
            // both resolve in the resource that holds them (`%rootResource`).
            container: self.env.root_resource.or(self.env.resource),
            bundle: self.env.bundle,
            entry_url: None,
            index: self.bundle_index.as_ref(),
        };
        reference::resolve(r, &scope)
    }
    /// A container's contained resources need distinct ids: `#id` names exactly one.
    pub(super) fn contained_ids(&mut self, res: &'a Json, path: &str) {
        let Some(list) = res.get("contained").and_then(Json::as_array) else {
            return;
        };
        let mut seen: rustc_hash::FxHashMap<&str, usize> = Default::default();
        for (i, c) in list.iter().enumerate() {
            let Some(idv) = c.as_object().and_then(|o| o.member("id")).map(|m| &m.value) else {
                continue;
            };
            let Some(id) = idv.as_str() else { continue };
            match seen.get(id) {
                Some(&first) => {
                    let at = format!("{path}.contained[{i}].id");
                    self.error(
                        msg::CONTAINED_ID_DUPLICATE,
                        &at,
                        idv,
                        format!("{path}.contained[{i}] has the same id as {path}.contained[{first}]; each contained resource needs its own, so that '#' and its id names one"),
                    );
                }
                None => {
                    seen.insert(id, i);
                }
            }
        }
    }
}

/// Two canonicals name the same resource: equal, or equal but for a `|version` on one.
/// A target profile that is one of R4's base resource definitions, whose rules the
/// target's own walk applies.
fn is_base(tp: &str) -> bool {
    tp.strip_prefix("http://hl7.org/fhir/StructureDefinition/")
        .is_some_and(|rest| !rest.contains('/'))
}

/// Element `n`'s Reference type names a target profile beyond the base definitions.
fn has_profiled_targets(n: &Node) -> bool {
    n.types
        .iter()
        .filter(|ty| ty.code == "Reference")
        .any(|ty| ty.target_profiles.iter().any(|tp| !is_base(tp)))
}

/// A rule about element `n` needs to know where a reference's target is: its `aggregation`
/// or its profiled targets.
fn needs_target(n: &Node) -> bool {
    has_profiled_targets(n)
        || n.types
            .iter()
            .any(|ty| ty.code == "Reference" && !ty.aggregation.is_empty())
}

fn canonical_eq(a: &str, b: &str) -> bool {
    fn bare(s: &str) -> &str {
        s.split('|').next().unwrap_or(s)
    }
    a == b || bare(a) == bare(b)
}
