//! Slicing: matching items to slices by discriminator (or by trial validation), slice
//! cardinality, closed and openAtEnd rules, `ordered`, and the reason no slice matched.

use super::*;
use crate::json::{Json, Kind};
use crate::profile::{Discriminator, NodeRef, Profile, Rules};
use crate::terminology::Membership;
use spfhir_element::msg::{self};
use std::sync::Arc;

impl<'a> Walk<'a> {
    /// Assign each item to the slice it matches; report slice counts, closed and openAtEnd
    /// slicing and order.
    pub(super) fn slice(
        &mut self,
        p: &Arc<Profile>,
        c: usize,
        items: &[Item<'a>],
        here: &str,
        ty: Option<&str>,
        anchor: &Json,
    ) -> Vec<Option<usize>> {
        let n = &p.nodes[c];
        let (rules, ordered) = n
            .slicing
            .as_ref()
            .map_or((Rules::Open, false), |s| (s.rules, s.ordered));
        let slice_name = |k: usize| p.nodes[n.slices[k]].slice_name.as_deref().unwrap_or("?");
        let mut out = Vec::with_capacity(items.len());
        let mut counts = vec![0usize; n.slices.len()];
        // The last slice matched (for `ordered`) and the first item that matched none (for
        // `openAtEnd`).
        let mut last: Option<usize> = None;
        let mut unmatched: Option<usize> = None;
        let exclusive = self.slices_exclusive(p, c);
        for (i, it) in items.iter().enumerate() {
            let Some(v) = it.value else {
                out.push(None);
                continue;
            };
            let hit = (0..n.slices.len()).find(|&k| {
                self.slice_mismatch(p, c, n.slices[k], v, ty, false)
                    .is_none()
            });
            match hit {
                Some(k) => {
                    counts[k] += 1;
                    // As the reference validator does: one error for each further slice
                    // the item matches; it stays counted in the first.
                    let further = if exclusive {
                        0..0
                    } else {
                        k + 1..n.slices.len()
                    };
                    for j in further {
                        if self
                            .slice_mismatch(p, c, n.slices[j], v, ty, false)
                            .is_none()
                        {
                            let at = indexed_path(here, i);
                            let msg = format!(
                                "{at} matches more than one slice of {here}: '{}' and '{}'; the slicing's discriminators must tell its slices apart, so it is counted in '{}' only",
                                slice_name(k),
                                slice_name(j),
                                slice_name(k)
                            );
                            self.error_in(p, msg::SLICE_MULTIPLE, &at, v, msg);
                        }
                    }
                    if ordered && let Some(prev) = last.filter(|&prev| prev > k) {
                        let at = indexed_path(here, i);
                        let msg = format!(
                            "{at} matches slice '{}', but comes after an item of slice '{}': the slices of {here} are ordered",
                            slice_name(k),
                            slice_name(prev)
                        );
                        self.error_in(p, msg::SLICE_ORDER, &at, v, msg);
                    }
                    last = Some(last.map_or(k, |prev| prev.max(k)));
                    if rules == Rules::OpenAtEnd
                        && let Some(u) = unmatched
                    {
                        let at = indexed_path(here, i);
                        let msg = format!(
                            "{at} matches slice '{}', but comes after {}, which matches no slice: the slicing of {here} is openAtEnd, so items outside the slices must come last",
                            slice_name(k),
                            indexed_path(here, u)
                        );
                        self.error_in(p, msg::SLICE_OPEN_AT_END, &at, v, msg);
                    }
                }
                None if rules == Rules::Closed => {
                    let at = indexed_path(here, i);
                    let why: Vec<String> = (0..n.slices.len())
                        .map(|k| {
                            let reason = self
                                .slice_mismatch(p, c, n.slices[k], v, ty, true)
                                .unwrap_or_default();
                            format!("'{}': {reason}", slice_name(k))
                        })
                        .collect();
                    self.error_in(p, msg::SLICE_CLOSED, &at, v, format!("{at} matches none of the slices of {here}, and the slicing is closed ({})", why.join("; ")));
                }
                None => {
                    unmatched.get_or_insert(i);
                }
            }
            out.push(hit.map(|k| n.slices[k]));
        }
        for (k, &sl) in n.slices.iter().enumerate() {
            let s = &p.nodes[sl];
            let name = s.slice_name.as_deref().unwrap_or("?");
            if (counts[k] as u32) < s.min {
                self.error_in(
                    p,
                    msg::SLICE_MIN,
                    here,
                    anchor,
                    format!(
                        "slice '{name}' of {here} needs at least {} but {} matched",
                        s.min, counts[k]
                    ),
                );
            }
            if !s.max.allows(counts[k]) {
                self.error_in(
                    p,
                    msg::SLICE_MAX,
                    here,
                    anchor,
                    format!(
                        "slice '{name}' of {here} allows at most {} but {} matched",
                        s.max.text(),
                        counts[k]
                    ),
                );
            }
        }
        out
    }

    /// Can no item match two slices of element `c`? So when its slicing has one value (or
    /// pattern) discriminator and each slice requires its own primitive value there
    /// (extensions by url, codes): then the search for a second match is skipped. Worked
    /// out once per profile element.
    fn slices_exclusive(&mut self, p: &Arc<Profile>, c: usize) -> bool {
        let n = &p.nodes[c];
        if let Some(&x) = n.slices_exclusive.get() {
            return x;
        }
        let discs = n.slicing.as_ref().map(|s| s.discriminators.as_slice());
        let x = match discs {
            Some([(Discriminator::Value | Discriminator::Pattern, dpath)])
                if n.slices.iter().all(|&sl| single_valued(p, sl, dpath)) =>
            {
                let mut seen: Vec<String> = Vec::with_capacity(n.slices.len());
                n.slices.iter().all(|&sl| {
                    let key = match expected_at(self, p, sl, dpath) {
                        Some(Expected::Str(s)) => s,
                        Some(Expected::Fixed(j) | Expected::Pattern(j))
                            if !matches!(j.kind, Kind::Object(_) | Kind::Array(_)) =>
                        {
                            j.to_compact()
                        }
                        _ => return false,
                    };
                    let fresh = !seen.contains(&key);
                    seen.push(key);
                    fresh
                })
            }
            _ => false,
        };
        *n.slices_exclusive.get_or_init(|| x)
    }

    /// Why `v` does not belong to slice `sl` of element `c` (`None`: it does). By the
    /// discriminators where they can be evaluated, otherwise by validating it against the
    /// slice without reporting. The reason is spelled out only when `explain` is set (for
    /// messages); otherwise a mismatch is `Some("")`.
    pub(super) fn slice_mismatch(
        &mut self,
        p: &Arc<Profile>,
        c: usize,
        sl: usize,
        v: &'a Json,
        ty: Option<&str>,
        explain: bool,
    ) -> Option<String> {
        let discs = p.nodes[c]
            .slicing
            .as_ref()
            .map(|s| s.discriminators.clone())
            .unwrap_or_default();
        let no = |why: &dyn Fn() -> String| Some(if explain { why() } else { String::new() });
        let mut decided = !discs.is_empty();
        for (kind, dpath) in &discs {
            let actual = self.values_at(v, dpath);
            let result: Option<Option<String>> = match kind {
                Discriminator::Value | Discriminator::Pattern => {
                    match (expected_at(self, p, sl, dpath), actual) {
                        (Some(Expected::Binding(vs)), Some(actual)) => {
                            match self.in_value_set(&vs, &actual) {
                                Some(true) => Some(None),
                                Some(false) => Some(no(&|| {
                                    format!(
                                        "{dpath} has no code in {vs}, the slice's required binding"
                                    )
                                })),
                                None => None,
                            }
                        }
                        (Some(expected), Some(actual)) => {
                            let hit = actual.iter().any(|a| match &expected {
                                Expected::Fixed(f) => f == *a,
                                Expected::Pattern(pt) => pattern_matches(pt, a),
                                Expected::Str(u) => a.as_str() == Some(u.as_str()),
                                Expected::Binding(_) => false,
                            });
                            Some(if hit {
                                None
                            } else {
                                no(&|| {
                                    let found = actual
                                        .first()
                                        .map_or("absent".to_string(), |a| a.to_compact());
                                    format!(
                                        "{dpath} is {found}, the slice needs {}",
                                        expected.text()
                                    )
                                })
                            })
                        }
                        _ => None,
                    }
                }
                Discriminator::Exists => {
                    let target = child_by_path(p, sl, dpath);
                    match (target, actual) {
                        (Some(t), Some(actual)) => {
                            let n = &p.nodes[t];
                            if n.min >= 1 {
                                Some(if actual.is_empty() {
                                    no(&|| format!("the slice needs {dpath}, which is absent"))
                                } else {
                                    None
                                })
                            } else if n.max == crate::profile::Max::N(0) {
                                Some(if actual.is_empty() {
                                    None
                                } else {
                                    no(&|| {
                                        format!("the slice needs {dpath} absent, but it is present")
                                    })
                                })
                            } else {
                                None
                            }
                        }
                        _ => None,
                    }
                }
                Discriminator::Type if dpath == "$this" => {
                    let found = ty.or_else(|| v.get_str("resourceType"));
                    found.map(|a| {
                        let types = &p.nodes[sl].types;
                        if types.iter().any(|t| t.code == a) {
                            None
                        } else {
                            no(&|| {
                                let want: Vec<&str> =
                                    types.iter().map(|t| t.code.as_str()).collect();
                                format!("its type is {a}, the slice takes {}", want.join(", "))
                            })
                        }
                    })
                }
                Discriminator::Profile => self.profile_discriminator(p, sl, dpath, actual, explain),
                _ => None,
            };
            match result {
                Some(Some(why)) => return Some(why),
                Some(None) => {}
                None => decided = false,
            }
        }
        if decided {
            return None;
        }
        // Full check against the slice, silently.
        let item = Item {
            value: Some(v),
            ext: None,
            path_index: None,
        };
        let first_error =
            self.first_error_of(|w| w.value(p, sl, ty, item, &mut String::from("$slice")));
        first_error.map(|m| {
            if explain {
                format!("it does not conform to the slice: {m}")
            } else {
                String::new()
            }
        })
    }

    /// Is some code of `values` (codes, Codings or CodeableConcepts) in ValueSet `vs`?
    /// `None` when that cannot be told offline and none is known to be.
    fn in_value_set(&self, vs: &str, values: &[&Json]) -> Option<bool> {
        let mut unknown = false;
        let mut check =
            |system: Option<&str>, code: &str| match self.v.terminology.member(vs, system, code) {
                Membership::Member => true,
                Membership::NotMember => false,
                Membership::Unknown(_) => {
                    unknown = true;
                    false
                }
            };
        for v in values {
            let hit = if let Some(code) = v.as_str() {
                check(None, code)
            } else if let Some(codings) = v.get("coding").and_then(Json::as_array) {
                codings.iter().any(|c| {
                    c.get_str("code")
                        .is_some_and(|code| check(c.get_str("system"), code))
                })
            } else {
                v.get_str("code")
                    .is_some_and(|code| check(v.get_str("system"), code))
            };
            if hit {
                return Some(true);
            }
        }
        (!unknown).then_some(false)
    }

    /// The `profile` discriminator: do the values at `dpath` conform to a profile the slice
    /// gives the element there (its type profiles, or for `resolve()` its target profiles)?
    /// `None` when the slice names no profile there or the values cannot be found.
    pub(super) fn profile_discriminator(
        &mut self,
        p: &Arc<Profile>,
        sl: usize,
        dpath: &str,
        actual: Option<Vec<&'a Json>>,
        explain: bool,
    ) -> Option<Option<String>> {
        let actual = actual?;
        let (elem_path, resolved) = match dpath.strip_suffix("resolve()") {
            Some(rest) => (rest.trim_end_matches('.'), true),
            None => (dpath, false),
        };
        let t = if elem_path.is_empty() || elem_path == "$this" {
            sl
        } else {
            child_by_path(p, sl, elem_path)?
        };
        let profiles: Vec<String> = p.nodes[t]
            .types
            .iter()
            .flat_map(|ty| {
                if resolved {
                    ty.target_profiles.iter()
                } else {
                    ty.profiles.iter()
                }
            })
            .cloned()
            .collect();
        if profiles.is_empty() {
            return None;
        }
        let mut why = None;
        for val in &actual {
            for url in &profiles {
                match self.conforms(val, url, elem_path) {
                    Ok(()) => return Some(None),
                    Err(e) => {
                        why.get_or_insert(e);
                    }
                }
            }
        }
        Some(Some(if explain {
            let first = why.unwrap_or_else(|| format!("{dpath} is absent"));
            format!(
                "{dpath} does not conform to {}: {first}",
                profiles.join(" or ")
            )
        } else {
            String::new()
        }))
    }

    /// Does `v` (called `label` in messages) conform to profile `url`? Validated silently;
    /// the error is the first problem found (a profile that cannot be loaded, a resource of
    /// another type, or the first error of the validation).
    pub(super) fn conforms(&mut self, v: &'a Json, url: &str, label: &str) -> Result<(), String> {
        let prof = self
            .v
            .profile(url)
            .map_err(|e| format!("the profile cannot be used: {e}"))?;
        let rt = v.get_str("resourceType");
        if let Some(rt) = rt.filter(|rt| *rt != prof.type_name) {
            return Err(format!(
                "its resourceType is {rt}, the profile is for {}",
                prof.type_name
            ));
        }
        let first = self.first_error_of(|w| {
            w.depth += 1;
            if let Some(rt) = rt {
                w.resources.push((label.to_string(), rt));
            }
            if w.depth < MAX_DEPTH {
                w.children(&prof, 0, v, &mut label.to_string(), rt);
                w.node_constraints(&prof.nodes[0], v, None, label, &prof.type_name);
            } else {
                w.too_deep(label, v);
            }
            if rt.is_some() {
                w.resources.pop();
            }
            w.depth -= 1;
        });
        first.map_or(Ok(()), Err)
    }

    /// Run `check` without reporting; the message of the first error it found, if any.
    pub(super) fn first_error_of(&mut self, check: impl FnOnce(&mut Self)) -> Option<String> {
        let saved = std::mem::take(&mut self.issues);
        let saved_rewalk = self.rewalk.take();
        self.silent += 1;
        check(self);
        self.silent -= 1;
        self.rewalk = saved_rewalk;
        let first = self
            .issues
            .iter()
            .find(|i| i.is_error())
            .map(|i| i.text().into_owned());
        self.issues = saved;
        first
    }

    /// The values at a dotted discriminator path in `v`; `resolve()` follows a reference to
    /// the resource in the Bundle or among the contained resources. `None` for paths with
    /// other functions.
    pub(super) fn values_at(&self, v: &'a Json, dpath: &str) -> Option<Vec<&'a Json>> {
        let mut cur = vec![v];
        for seg in dpath.split('.') {
            if seg == "$this" {
                continue;
            }
            if seg == "resolve()" {
                cur = cur
                    .into_iter()
                    .filter_map(|r| r.get_str("reference").and_then(|r| self.resolve(r)))
                    .collect();
                continue;
            }
            if seg.contains('(') {
                return None;
            }
            let mut next = Vec::new();
            for c in cur {
                match c.get(seg) {
                    Some(Json {
                        kind: Kind::Array(a),
                        ..
                    }) => next.extend(a.iter()),
                    Some(x) => next.push(x),
                    None => {}
                }
            }
            cur = next;
        }
        Some(cur)
    }
}

enum Expected {
    Fixed(Json),
    Pattern(Json),
    Str(String),
    /// No fixed value or pattern, but a required binding: a value discriminator then
    /// matches the codes of that ValueSet.
    Binding(String),
}

impl Expected {
    fn text(&self) -> String {
        match self {
            Expected::Fixed(j) | Expected::Pattern(j) => j.to_compact(),
            Expected::Str(s) => format!("{s:?}"),
            Expected::Binding(vs) => format!("a code from {vs}"),
        }
    }
}

/// The fixed or pattern value a slice requires at `dpath` (or, for `url` on an extension
/// slice, the extension's canonical).
fn expected_at(w: &mut Walk<'_>, p: &Arc<Profile>, sl: usize, dpath: &str) -> Option<Expected> {
    if dpath == "url" {
        let n = &p.nodes[sl];
        if let Some(t) = n.types.iter().find(|t| t.code == "Extension")
            && let Some(u) = t.profiles.first()
        {
            return Some(Expected::Str(u.clone()));
        }
    }
    if let Some(rest) = dpath.strip_prefix("resolve().") {
        // In the resource referred to: the slice's target profile says what it holds.
        let url = p.nodes[sl]
            .types
            .iter()
            .find_map(|t| t.target_profiles.first())?
            .clone();
        let tp = w.v.profile(&url).ok()?;
        return expected_of(&tp.nodes[child_by_path(&tp, 0, rest)?]);
    }
    let at = match child_by_path(p, sl, dpath) {
        Some(t) => NodeRef::new(p.clone(), t),
        None => {
            // The slice's type profile may hold the value (extension url in its definition).
            let n = &p.nodes[sl];
            let url = n.types.first()?.profiles.first()?.clone();
            let tp = w.v.profile(&url).ok()?;
            let t = if dpath == "$this" {
                0
            } else {
                child_by_path(&tp, 0, dpath)?
            };
            NodeRef::new(tp, t)
        }
    };
    expected_of(&at.profile.nodes[at.node])
}

/// What a node requires of a value discriminator: its fixed value, else its pattern, else
/// the ValueSet of its required binding.
fn expected_of(n: &crate::profile::Node) -> Option<Expected> {
    n.fixed
        .clone()
        .map(Expected::Fixed)
        .or_else(|| n.pattern.clone().map(Expected::Pattern))
        .or_else(|| {
            let b = n.binding.as_ref()?;
            (b.strength == crate::profile::Strength::Required)
                .then(|| b.value_set.clone().map(Expected::Binding))?
        })
}

/// Does a dotted path below slice `sl` reach at most one value (no repeating element on
/// the way, no `resolve()`)? Then distinct required values at it cannot both be met.
fn single_valued(p: &Profile, sl: usize, dpath: &str) -> bool {
    dpath == "url" || node_at(p, sl, dpath, |n| !n.base_many).is_some()
}

/// The node at a simple dotted path below `from` (`$this` is `from`).
pub(super) fn child_by_path(p: &Profile, from: usize, dpath: &str) -> Option<usize> {
    node_at(p, from, dpath, |_| true)
}

/// [`child_by_path`], where every node on the way must pass `ok`.
fn node_at(
    p: &Profile,
    from: usize,
    dpath: &str,
    ok: impl Fn(&crate::profile::Node) -> bool,
) -> Option<usize> {
    let mut at = from;
    for seg in dpath.split('.') {
        if seg == "$this" {
            continue;
        }
        let name = seg.strip_suffix("[x]").unwrap_or(seg);
        at = *p.nodes[at]
            .children
            .iter()
            .find(|&&c| p.nodes[c].name == name)
            .filter(|&&c| ok(&p.nodes[c]))?;
    }
    Some(at)
}

/// Does `v` contain everything in `pattern` (objects member by member, arrays item by item)?
pub fn pattern_matches(pattern: &Json, v: &Json) -> bool {
    match (&pattern.kind, &v.kind) {
        (Kind::Object(po), Kind::Object(_)) => po
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| pattern_matches(pv, vv))),
        (Kind::Array(pa), Kind::Array(va)) => pa
            .iter()
            .all(|pi| va.iter().any(|vi| pattern_matches(pi, vi))),
        _ => pattern == v,
    }
}

/// `path[i]`.
fn indexed_path(path: &str, i: usize) -> String {
    crate::sub_path(path, "", Some(i))
}
