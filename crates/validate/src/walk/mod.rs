//! The walk over one instance: each JSON member is matched to its element definition, then
//! checked for shape, cardinality, type, fixed and pattern values, bindings, slices,
//! references and invariants. Children come from the profile when it constrains them, else
//! from the element's type (its base definition, or the type profile it names).

use spfhir_element::msg::{self, Msg};
use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::Validator;
use crate::fhirpath::Env;
use crate::issue::{Issue, Severity};
use crate::json::Json;
use crate::profile::{NodeRef, Profile};
use crate::snapshot::{SnapshotError, type_url};

mod binding;
mod children;
mod datatype;
mod extension;
mod invariant;
mod narrative;
mod reference;
mod slicing;

pub use slicing::pattern_matches;

/// Resources and complex datatypes nested deeper than this are not walked (the walk recurses
/// once per level); what lies below is reported as `VALIDATION_DEPTH_LIMIT`, never passed.
const MAX_DEPTH: usize = 64;

/// Work a walk has done, by address, so a second pass over the same values skips it. The
/// sets live for one resource; between resources a thread keeps them (empty) in [`MEMO`] so
/// their tables are not allocated and grown again for every line of an NDJSON file.
#[derive(Default)]
struct Memo {
    /// (value, compiled invariant) pairs already evaluated: profiles repeat their base's
    /// constraints.
    evaluated: FxHashSet<(usize, usize)>,
    /// (object, definition, node) triples whose children were walked: a profile's pass
    /// over a resource meets most datatypes (`CodeableConcept`, `Coding`, `Reference`…)
    /// against the same base definitions as the base pass did, and a repeat would only
    /// find the same issues again.
    walked: FxHashSet<(usize, usize, usize)>,
}

thread_local! {
    static MEMO: std::cell::Cell<Memo> = std::cell::Cell::new(Memo::default());
}

pub struct Walk<'a> {
    pub(super) v: &'a Validator,
    pub(super) env: Env<'a>,
    issues: Vec<Issue>,
    depth: usize,
    /// What has been done already, so it is not done again.
    memo: Memo,
    /// The object whose members are being walked: the holder of an extension being checked
    /// (for FHIRPath contexts and context invariants).
    holder: Option<&'a Json>,
    /// The profile (by address) whose pass over a resource is under way, after the base
    /// pass over the same resource: its elements marked [`Node::same_as_base`] are skipped.
    rewalk: Option<usize>,
    /// Above 0 while a check runs silently (slice matching, profile conformance): its
    /// findings are discarded, so nothing it evaluates may count as done for the real walk.
    silent: u32,
    /// The resources being walked, innermost last: (instance path, resourceType).
    resources: Vec<(String, &'a str)>,
    /// While a primitive's `_name` is walked: its element path and type, the holder of the
    /// extensions in it.
    primitive_holder: Option<(String, String)>,
    /// The index of the Bundle being walked (`env.bundle`), so each reference in it is a hash
    /// probe, not a scan of its entries.
    bundle_index: Option<crate::json::reference::BundleIndex<'a>>,
    /// When the walk must stop (`Options::max_time_per_resource`), checked every
    /// [`CLOCK_EVERY`] objects, and whether it has.
    /// (target resource by address, profile url) → whether the target conforms, for
    /// references whose target profiles are tried ([`Walk::target_profiles`]).
    target_checks: rustc_hash::FxHashMap<(usize, String), bool>,
    /// The element ids (`Element.id`) met in the resource being walked: id → (the element's
    /// value by address, its path). R4: "unique id for the element within a resource".
    element_ids: rustc_hash::FxHashMap<&'a str, (usize, String)>,
    deadline: Option<std::time::Instant>,
    ticks: u32,
    out_of_time: bool,
}

/// Objects walked between looks at the clock (a look costs a few tens of nanoseconds; an
/// object's walk, microseconds).
const CLOCK_EVERY: u32 = 64;

/// The members of an object that one child definition takes.
struct Group<'a, 'p> {
    /// The child definition (a node index in the profile).
    child: usize,
    /// The member name, without `_` (`valueQuantity`, `birthDate`).
    key: &'a str,
    /// The type a choice name selects (`Quantity` for `valueQuantity`).
    ty: Option<&'p str>,
    /// The member's value.
    value: Option<&'a Json>,
    /// Its `_name` sibling (a primitive's id and extensions).
    ext: Option<&'a Json>,
}

/// One value of an element: the JSON value and, for primitives, its `_name` sibling.
#[derive(Clone, Copy)]
struct Item<'a> {
    value: Option<&'a Json>,
    ext: Option<&'a Json>,
    path_index: Option<usize>,
}

impl<'a> Walk<'a> {
    pub fn new(v: &'a Validator, root: &'a Json) -> Walk<'a> {
        let mut env = Env::new(&v.model);
        env.lenient_as = true; // as the HL7 validator evaluates R4's invariants (dom-3)
        env.root_resource = Some(root);
        if root.get_str("resourceType") == Some("Bundle") {
            env.bundle = Some(root);
        }
        Walk {
            v,
            env,
            issues: Vec::new(),
            depth: 0,
            memo: MEMO.with(|m| m.take()),
            silent: 0,
            rewalk: None,
            holder: None,
            resources: Vec::new(),
            primitive_holder: None,
            bundle_index: None,
            target_checks: Default::default(),
            element_ids: Default::default(),
            deadline: v
                .options
                .max_time_per_resource
                .map(|d| std::time::Instant::now() + d),
            ticks: 0,
            out_of_time: false,
        }
    }

    /// Has the walk run past its time limit? Once it has, every check returns at once.
    pub(super) fn over_time(&mut self) -> bool {
        if self.out_of_time {
            return true;
        }
        let Some(deadline) = self.deadline else {
            return false;
        };
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(CLOCK_EVERY) && std::time::Instant::now() >= deadline {
            self.out_of_time = true;
        }
        self.out_of_time
    }

    pub fn finish(mut self, root: &Json) -> Vec<Issue> {
        if self.out_of_time {
            let limit = self.v.options.max_time_per_resource.unwrap_or_default();
            let rt = root.get_str("resourceType").unwrap_or("Resource");
            self.issues.push(
                Issue::error(
                    msg::VALIDATION_TIME_LIMIT,
                    format!(
                        "validation stopped after {} ms, the time limit per resource; the rest of it was not checked, so it is not known to be valid",
                        limit.as_millis()
                    ),
                )
                .at(rt)
                .at_node(root),
            );
        }
        // Hand the sets back, emptied, for the thread's next resource; a resource that grew
        // them past a few thousand entries does not keep that memory.
        if self.memo.walked.capacity() + self.memo.evaluated.capacity() <= 1 << 14 {
            self.memo.walked.clear();
            self.memo.evaluated.clear();
            MEMO.with(|m| m.set(std::mem::take(&mut self.memo)));
        }
        self.issues
    }

    pub(super) fn push(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// Is `name` a resource type of the loaded model?
    /// The index of the Bundle being walked (built once as the walk enters it).
    pub(crate) fn bundle_index(&self) -> Option<&crate::json::reference::BundleIndex<'a>> {
        self.bundle_index.as_ref()
    }

    pub(crate) fn knows_resource(&self, name: &str) -> bool {
        self.v.model.is_resource(name)
    }

    fn error(&mut self, m: Msg, at: &str, node: &Json, text: String) {
        self.push(Issue::error(m, text).at(at).at_node(node));
    }

    fn warn(&mut self, m: Msg, at: &str, node: &Json, text: String) {
        self.push(Issue::warning(m, text).at(at).at_node(node));
    }

    /// Report an evaluation that went past its budget (`FHIRPATH_BUDGET`, an error: the
    /// check could not be made, and the instance is what made it too costly); whether it had.
    pub(crate) fn over_budget(
        &mut self,
        e: &crate::fhirpath::EvalError,
        what: &str,
        at: &str,
        node: &Json,
    ) -> bool {
        if e.kind != crate::fhirpath::EvalErrorKind::Budget {
            return false;
        }
        self.error(
            msg::FHIRPATH_BUDGET,
            at,
            node,
            format!("{what} was not checked: {e}"),
        );
        true
    }

    /// An error from a rule of profile `p` (its provenance recorded when `p` constrains
    /// another definition).
    fn error_in(&mut self, p: &Profile, m: Msg, at: &str, node: &Json, text: String) {
        self.push(
            Issue::error(m, text)
                .in_profile(p.provenance())
                .at(at)
                .at_node(node),
        );
    }

    /// Is the resource being walked a contained one (`….contained[n]`)?
    fn in_contained(&self) -> bool {
        self.resources.last().is_some_and(|(path, _)| {
            path.rsplit('.')
                .next()
                .is_some_and(|last| last.starts_with("contained["))
        })
    }

    /// An element id (`v`, at `at`) must be unique in its resource; a value met again
    /// (through another profile's pass) is the same element, not a second one.
    fn element_id(&mut self, v: &'a Json, at: &str) {
        let Some(id) = v.as_str() else { return };
        let addr = v as *const Json as usize;
        match self.element_ids.get(id) {
            None => {
                self.element_ids.insert(id, (addr, at.to_owned()));
            }
            Some((first, _)) if *first == addr => {}
            Some((_, first_at)) => {
                let text = format!(
                    "{at} is the id of another element of this resource ({first_at}); an element id must be unique within its resource"
                );
                self.error(msg::ELEMENT_ID_DUPLICATE, at, v, text);
            }
        }
    }

    /// The walk stops at `at`, [`MAX_DEPTH`] levels down: an error, since what lies below
    /// is not known to be valid.
    fn too_deep(&mut self, at: &str, node: &Json) {
        self.error(
            msg::VALIDATION_DEPTH_LIMIT,
            at,
            node,
            format!("{at} is nested more than {MAX_DEPTH} resources and datatypes deep; spfhir does not check below that depth, so it is not known to be valid"),
        );
    }

    /// A warning from a rule of profile `p`.
    fn warn_in(&mut self, p: &Profile, m: Msg, at: &str, node: &Json, text: String) {
        self.push(
            Issue::warning(m, text)
                .in_profile(p.provenance())
                .at(at)
                .at_node(node),
        );
    }

    /// Validate a resource at `path` (`None` for the top) against its base definition, its
    /// `meta.profile`s and `extra` profiles.
    pub fn resource(&mut self, res: &'a Json, path: Option<&str>, extra: &[String]) {
        if self.depth >= MAX_DEPTH {
            self.too_deep(path.unwrap_or("$"), res);
            return;
        }
        let Some(obj) = res.as_object() else {
            let at = path.unwrap_or("$");
            self.error(
                msg::STRUCTURE_NOT_OBJECT,
                at,
                res,
                format!("a resource must be a JSON object, not {}", res.type_name()),
            );
            return;
        };
        let Some(rt) = res.get_str("resourceType") else {
            let at = path.unwrap_or("$");
            self.error(
                msg::STRUCTURE_NO_RESOURCE_TYPE,
                at,
                res,
                "the resource has no resourceType".into(),
            );
            return;
        };
        let mut path = path.map_or_else(|| rt.to_string(), str::to_string);
        let base = match self.v.base(rt) {
            Ok(b) if self.v.model.is_resource(rt) => b,
            _ => {
                let node = obj.member("resourceType").map_or(res, |m| &m.value);
                self.error(
                    msg::STRUCTURE_UNKNOWN_RESOURCE_TYPE,
                    &path,
                    node,
                    format!("resourceType '{rt}' is not a FHIR R4 resource type"),
                );
                return;
            }
        };
        let saved = self.env.resource.replace(res);
        // %rootResource is the resource itself, unless it is contained (then its container
        // stays); a Bundle is where references in its entries resolve.
        let contained = path
            .rsplit('.')
            .next()
            .is_some_and(|last| last.starts_with("contained["));
        if contained && obj.member("id").is_none() {
            self.error(
                msg::CONTAINED_ID,
                &path,
                res,
                format!("the contained {rt} has no id; a contained resource is referred to as '#' and its id, so it needs one"),
            );
        }
        self.contained_ids(res, &path);
        let saved_root = self.env.root_resource;
        if !contained {
            self.env.root_resource = Some(res);
        }
        let saved_bundle = self.env.bundle;
        let saved_index = if rt == "Bundle" {
            self.env.bundle = Some(res);
            self.bundle_index
                .replace(crate::json::reference::BundleIndex::new(res))
        } else {
            None
        };
        let saved_rewalk = self.rewalk.take();
        let saved_ids = std::mem::take(&mut self.element_ids);
        self.resources.push((path.clone(), rt));
        self.depth += 1;
        self.children(&base, 0, res, &mut path, Some(rt));
        self.node_constraints(&base.nodes[0], res, None, &path, rt);
        let mut profiles: Vec<(String, bool)> = res
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| p.as_str().map(|p| (p.to_string(), false)))
            .collect();
        // Run-wide profiles (`extra`) come only with the top resource: nested ones are
        // walked with none (`children.rs`), so they are not held to them.
        profiles.extend(extra.iter().map(|p| (p.clone(), true)));
        if rt == "Observation"
            && self.v.options.implied_profiles
            && let Some(code) = res.get("code")
        {
            for (loinc, url) in self.v.implied_profiles(code) {
                if profiles.iter().all(|(p, _)| p != url) {
                    self.push(
                        Issue::new(
                            Severity::Information,
                            msg::PROFILE_IMPLIED,
                            format!("validated also against {url}, which FHIR R4 requires of an Observation with LOINC code {loinc}"),
                        )
                        .at(&path)
                        .at_node(res),
                    );
                    profiles.push((url.clone(), false));
                }
            }
        }
        for (url, asked) in profiles {
            match self.v.profile(&url) {
                Ok(p) if p.type_name != rt => {
                    self.error(
                        msg::PROFILE_WRONG_TYPE,
                        &path,
                        res,
                        format!("profile {url} is for {}, not {rt}", p.type_name),
                    );
                }
                Ok(p) => {
                    self.rewalk = Some(Arc::as_ptr(&p) as usize);
                    self.children(&p, 0, res, &mut path, Some(rt));
                    self.rewalk = None;
                    self.node_constraints(&p.nodes[0], res, None, &path, rt);
                }
                Err(SnapshotError::NotFound(missing)) => {
                    let (m, text) = if missing == url {
                        (
                            msg::PROFILE_UNKNOWN,
                            format!(
                                "profile {url} is not loaded, so the resource was not checked against it (add its package with --package-path or --load)"
                            ),
                        )
                    } else {
                        (
                            msg::PROFILE_NEEDS_UNKNOWN,
                            format!(
                                "profile {url} builds on {missing}, which is not loaded, so the resource was not checked against it (install the package that defines it)"
                            ),
                        )
                    };
                    if asked {
                        self.error(m, &path, res, text);
                    } else {
                        self.warn(m, &path, res, text);
                    }
                }
                // `meta.profile` naming a loaded resource that is not a StructureDefinition:
                // said where it stands, as for any canonical of the wrong type.
                Err(_)
                    if !asked
                        && let Some(e) = self.v.registry().entry(&url)
                        && e.resource_type != "StructureDefinition" =>
                {
                    let i = meta_profiles(res).position(|p| p.as_str() == Some(url.as_str()));
                    let at = format!("{path}.meta.profile[{}]", i.unwrap_or(0));
                    let node = i.and_then(|i| meta_profiles(res).nth(i)).unwrap_or(res);
                    let t = &e.resource_type;
                    self.error(
                        msg::CANONICAL_TARGET_TYPE,
                        &at,
                        node,
                        format!("{at} names a {t}, but only StructureDefinition may be named here"),
                    );
                }
                Err(e) => self.error(
                    msg::PROFILE_INVALID,
                    &path,
                    res,
                    format!("profile {url} cannot be used: {e}"),
                ),
            }
        }
        match rt {
            "Bundle" => super::bundle::check(self, res, &path),
            "QuestionnaireResponse" => super::questionnaire::check(self, res, &path),
            "Questionnaire" => super::questionnaire::definition::check(self, res, &path),
            "ValueSet" => self.value_set_compose(res, &path),
            _ => {}
        }
        self.depth -= 1;
        self.resources.pop();
        self.element_ids = saved_ids;
        self.env.resource = saved;
        self.env.root_resource = saved_root;
        self.env.bundle = saved_bundle;
        if rt == "Bundle" {
            self.bundle_index = saved_index;
        }
        self.rewalk = saved_rewalk;
    }

    /// Where the children of `p.nodes[node]` (of type `code`) are defined.
    fn structure(&mut self, p: &Arc<Profile>, node: usize, code: Option<&str>) -> Option<NodeRef> {
        let n = &p.nodes[node];
        if !n.children.is_empty() {
            return Some(NodeRef::new(p.clone(), node));
        }
        if let Some(t) = n.content_ref {
            return Some(NodeRef::new(p.clone(), t));
        }
        let t = match code {
            Some(c) => n.types.iter().find(|t| t.code == c),
            None => n.types.first(),
        }?;
        if let Some(tp) = t.structure.get().and_then(std::sync::Weak::upgrade) {
            return Some(NodeRef::root(tp));
        }
        let url = t
            .profiles
            .first()
            .cloned()
            .unwrap_or_else(|| type_url(&t.code));
        match self.v.profile(&url) {
            Ok(tp) => {
                let _ = t.structure.set(Arc::downgrade(&tp));
                Some(NodeRef::root(tp))
            }
            Err(_) if !t.profiles.is_empty() => {
                // The type's profile is not loaded: fall back to the base type.
                self.v.base(&t.code).ok().map(NodeRef::root)
            }
            Err(_) => None,
        }
    }
}

/// The values of a resource's `meta.profile`.
fn meta_profiles(res: &Json) -> impl Iterator<Item = &Json> {
    res.get("meta")
        .and_then(|m| m.get("profile"))
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
}
