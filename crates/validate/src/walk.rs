//! The walk over one instance: each JSON member is matched to its element definition, then
//! checked for shape, cardinality, type, fixed and pattern values, bindings, slices,
//! references and invariants. Children come from the profile when it constrains them, else
//! from the element's type (its base definition, or the type profile it names).

use spfhir_element::msg::{self, Msg};
use std::sync::Arc;

use rustc_hash::FxHashSet;
use smallvec::{SmallVec, smallvec};

use super::Validator;
use super::primitive;
use super::profile::{Discriminator, Node, Profile, Rules, Strength};
use crate::fhirpath::eval::root_node;
use crate::fhirpath::{Env, Value};
use crate::issue::{Issue, Severity};
use crate::json::{Json, Kind};
use crate::snapshot::{SnapshotError, type_url};
use crate::terminology::{Expansion, Membership};

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
}

/// The members of an object that one child definition takes: (child, key, the type a
/// choice name selects, the value, its `_` sibling).
type Group<'a, 'p> = (
    usize,
    &'a str,
    Option<&'p str>,
    Option<&'a Json>,
    Option<&'a Json>,
);

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
        }
    }

    pub fn finish(mut self) -> Vec<Issue> {
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

    fn error(&mut self, m: Msg, at: &str, node: &Json, text: String) {
        self.push(Issue::error(m, text).at(at).at_node(node));
    }

    fn warn(&mut self, m: Msg, at: &str, node: &Json, text: String) {
        self.push(Issue::warning(m, text).at(at).at_node(node));
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
        if self.depth > MAX_DEPTH {
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
        let saved_rewalk = self.rewalk.take();
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
        if path == rt || self.depth == 1 {
            profiles.extend(extra.iter().map(|p| (p.clone(), true)));
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
            _ => {}
        }
        self.depth -= 1;
        self.resources.pop();
        self.env.resource = saved;
        self.rewalk = saved_rewalk;
    }

    /// Where the children of `p.nodes[node]` (of type `code`) are defined.
    fn structure(
        &mut self,
        p: &Arc<Profile>,
        node: usize,
        code: Option<&str>,
    ) -> Option<(Arc<Profile>, usize)> {
        let n = &p.nodes[node];
        if !n.children.is_empty() {
            return Some((p.clone(), node));
        }
        if let Some(t) = n.content_ref {
            return Some((p.clone(), t));
        }
        let t = match code {
            Some(c) => n.types.iter().find(|t| t.code == c),
            None => n.types.first(),
        }?;
        if let Some(tp) = t.structure.get().and_then(std::sync::Weak::upgrade) {
            return Some((tp, 0));
        }
        let url = t
            .profiles
            .first()
            .cloned()
            .unwrap_or_else(|| type_url(&t.code));
        match self.v.profile(&url) {
            Ok(tp) => {
                let _ = t.structure.set(Arc::downgrade(&tp));
                Some((tp, 0))
            }
            Err(_) if !t.profiles.is_empty() => {
                // The type's profile is not loaded: fall back to the base type.
                self.v.base(&t.code).ok().map(|b| (b, 0))
            }
            Err(_) => None,
        }
    }

    /// Check the members of object `obj` against the children of `p.nodes[node]`. `path` is
    /// the object's path, one buffer shared by the whole walk: each element appends its
    /// segment and truncates it again, so it holds the same text on return.
    fn children(
        &mut self,
        p: &Arc<Profile>,
        node: usize,
        obj: &'a Json,
        path: &mut String,
        resource_type: Option<&str>,
    ) {
        if self.silent == 0
            && !self.v.options.no_skips
            && !self.memo.walked.insert((
                obj as *const Json as usize,
                Arc::as_ptr(p) as usize,
                node,
            ))
        {
            return;
        }
        let Some(o) = obj.as_object() else {
            self.error(
                msg::STRUCTURE_NOT_OBJECT,
                path,
                obj,
                format!("{path} must be a JSON object, not {}", obj.type_name()),
            );
            return;
        };
        if o.is_empty() {
            self.error(
                msg::STRUCTURE_EMPTY_OBJECT,
                path,
                obj,
                format!(
                    "{path} is an empty object: an element must have a value or children (ele-1)"
                ),
            );
            return;
        }
        // (child, key, type of a choice, value member, `_` member)
        let mut groups: SmallVec<[Group<'a, '_>; 16]> = SmallVec::new();
        for m in &o.members {
            let key = m.key.as_str();
            if key == "resourceType" && resource_type.is_some() {
                continue;
            }
            let (name, is_ext) = match key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (key, false),
            };
            let Some((c, ty)) = p.child_for(node, name) else {
                let what = resource_type.map_or_else(|| p.nodes[node].path.clone(), str::to_string);
                self.error(
                    msg::STRUCTURE_UNKNOWN_ELEMENT,
                    &format!("{path}.{key}"),
                    &m.value,
                    format!("unknown element '{key}' in {what}"),
                );
                continue;
            };
            match groups.iter_mut().find(|g| g.0 == c && g.1 == name) {
                Some(g) if is_ext => g.4 = Some(&m.value),
                Some(g) => g.3 = Some(&m.value),
                None => {
                    if let Some(other) = groups.iter().find(|g| g.0 == c) {
                        let msg = format!(
                            "only one of the choices of {}[x] may be given, found '{}' and '{name}'",
                            p.nodes[c].name, other.1
                        );
                        self.error(
                            msg::STRUCTURE_CHOICE_REPEATED,
                            &format!("{path}.{key}"),
                            &m.value,
                            msg,
                        );
                        continue;
                    }
                    let (v, e) = if is_ext {
                        (None, Some(&m.value))
                    } else {
                        (Some(&m.value), None)
                    };
                    groups.push((c, name, ty, v, e));
                }
            }
        }
        for &c in &p.nodes[node].required {
            let n = &p.nodes[c];
            if groups.iter().any(|g| g.0 == c) {
                continue;
            }
            if n.min > 0 {
                let name = if n.choice {
                    format!("{}[x]", n.name)
                } else {
                    n.name.clone()
                };
                self.error_in(
                    p,
                    msg::CARDINALITY_MIN,
                    &format!("{path}.{name}"),
                    obj,
                    format!("{path}.{name} is required (min {}) but missing", n.min),
                );
            }
            for &sl in &n.slices {
                let s = &p.nodes[sl];
                if s.min > 0 {
                    let name = s.slice_name.as_deref().unwrap_or("?");
                    self.error_in(
                        p,
                        msg::SLICE_MIN,
                        &format!("{path}.{}", n.name),
                        obj,
                        format!(
                            "slice '{name}' of {path}.{} needs at least {} but there are none",
                            n.name, s.min
                        ),
                    );
                }
            }
        }
        let rewalk = self.rewalk == Some(Arc::as_ptr(p) as usize) && !self.v.options.no_skips;
        let saved_holder = self.holder.replace(obj);
        for (c, key, ty, value, ext) in &groups {
            if rewalk && p.nodes[*c].same_as_base {
                continue; // the base pass checked this element and all below it
            }
            self.element(p, *c, key, *ty, *value, *ext, path);
        }
        self.holder = saved_holder;
    }

    /// One member (with its `_` sibling) of an object at `path` (appended to while the
    /// member is walked, restored on return).
    #[allow(clippy::too_many_arguments)]
    fn element(
        &mut self,
        p: &Arc<Profile>,
        c: usize,
        key: &str,
        ty: Option<&str>,
        value: Option<&'a Json>,
        ext: Option<&'a Json>,
        path: &mut String,
    ) {
        let parent = path.len();
        path.push('.');
        path.push_str(key);
        self.member(p, c, ty, value, ext, path, parent);
        path.truncate(parent);
    }

    /// [`Walk::element`] once `here` (`path.key`) is built; `parent` is the length of the
    /// holder's path in it.
    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        p: &Arc<Profile>,
        c: usize,
        ty: Option<&str>,
        value: Option<&'a Json>,
        ext: Option<&'a Json>,
        here: &mut String,
        parent: usize,
    ) {
        let n = &p.nodes[c];
        let anchor = value.or(ext).expect("a group has a value or an extension");
        let is_array = matches!(value.map(|v| &v.kind), Some(Kind::Array(_)))
            || (value.is_none() && matches!(ext.map(|v| &v.kind), Some(Kind::Array(_))));
        if is_array != n.base_many {
            if n.base_many {
                self.error(
                    msg::STRUCTURE_NOT_ARRAY,
                    here,
                    anchor,
                    format!("{here} repeats, so it must be a JSON array"),
                );
            } else {
                self.error(
                    msg::STRUCTURE_ARRAY,
                    here,
                    anchor,
                    format!("{here} does not repeat, so it must not be a JSON array"),
                );
            }
        }
        let items: SmallVec<[Item<'a>; 4]> = if is_array {
            let vs = value.and_then(Json::as_array).unwrap_or(&[]);
            let es = ext.and_then(Json::as_array).unwrap_or(&[]);
            if value.is_some() && ext.is_some() && vs.len() != es.len() {
                let (path, key) = (&here[..parent], &here[parent + 1..]);
                self.error(
                    msg::STRUCTURE_EXT_ALIGN,
                    &format!("{path}._{key}"),
                    ext.unwrap_or(anchor),
                    format!("{path}._{key} must have one entry (or null) for each entry of {here}"),
                );
            }
            let len = vs.len().max(es.len());
            if len == 0 {
                self.error(
                    msg::STRUCTURE_EMPTY_ARRAY,
                    here,
                    anchor,
                    format!("{here} is an empty array: leave the element out instead"),
                );
            }
            (0..len)
                .map(|i| Item {
                    value: vs.get(i).filter(|v| !v.is_null()),
                    ext: es.get(i).filter(|v| !v.is_null()),
                    path_index: Some(i),
                })
                .collect()
        } else {
            smallvec![Item {
                value,
                ext,
                path_index: None,
            }]
        };
        for (i, it) in items.iter().enumerate() {
            if it.value.is_none() && it.ext.is_none() {
                let node = value
                    .and_then(Json::as_array)
                    .and_then(|a| a.get(i))
                    .unwrap_or(anchor);
                self.error(
                    msg::STRUCTURE_NULL,
                    &format!("{here}[{i}]"),
                    node,
                    format!("{here}[{i}] is null with no extension to explain it"),
                );
            }
        }
        let count = items.len();
        if (count as u32) < n.min {
            self.error_in(
                p,
                msg::CARDINALITY_MIN,
                here,
                anchor,
                format!("{here} needs at least {} but has {count}", n.min),
            );
        }
        if !n.max.allows(count) {
            self.error_in(
                p,
                msg::CARDINALITY_MAX,
                here,
                anchor,
                format!("{here} allows at most {} but has {count}", n.max.text()),
            );
        }
        // The slice each item matched, when the element is sliced.
        let slices = (!n.slices.is_empty()).then(|| self.slice(p, c, &items, here, ty, anchor));
        // An item's path is `here[i]` (appended to `here` and truncated again); a single
        // value's path is `here`.
        let len = here.len();
        for (i, it) in items.iter().enumerate() {
            let slice = slices.as_ref().and_then(|s| s.get(i).copied().flatten());
            if let Some(i) = it.path_index {
                here.push('[');
                here.push_str(itoa::Buffer::new().format(i));
                here.push(']');
            }
            self.value(p, c, ty, *it, here);
            if let Some(sl) = slice {
                self.value(p, sl, ty, *it, here);
            }
            here.truncate(len);
        }
    }

    /// Check one value against element `p.nodes[c]`.
    fn value(
        &mut self,
        p: &Arc<Profile>,
        c: usize,
        ty: Option<&str>,
        it: Item<'a>,
        at: &mut String,
    ) {
        let n = &p.nodes[c];
        let code: Option<&str> =
            ty.or_else(|| (n.types.len() == 1).then(|| n.types[0].code.as_str()));
        if let Some(ext) = it.ext {
            // A primitive's `_name`: an Element with id and extensions only.
            if let Ok(el) = self.v.base("Element") {
                let holder = (n.path.clone(), code.unwrap_or_default().to_string());
                let saved = self.primitive_holder.replace(holder);
                self.children(&el, 0, ext, at, None);
                self.primitive_holder = saved;
            }
        }
        let Some(v) = it.value else { return };
        match code {
            Some(code) if primitive::is_primitive(code) => {
                if let Err(why) = primitive::check(code, v) {
                    self.error(msg::TYPE_PRIMITIVE, at, v, format!("{at} {why}"));
                    return;
                }
                if let (Some(max), Some(text)) = (n.max_length, v.as_str())
                    && text.chars().count() > max
                {
                    self.error_in(
                        p,
                        msg::VALUE_MAX_LENGTH,
                        at,
                        v,
                        format!("{at} is longer than its maximum length {max}"),
                    );
                }
                self.fixed_pattern(p, n, v, at);
                if matches!(code, "code" | "string" | "uri") {
                    self.binding(p, n, at, v, None, v.as_str());
                }
                self.node_constraints(n, v, it.ext, at, code);
            }
            Some(code) if self.is_resource_type(n, code) => {
                self.resource(v, Some(at), &[]);
            }
            code => {
                if !matches!(v.kind, Kind::Object(_)) {
                    self.error(
                        msg::STRUCTURE_NOT_OBJECT,
                        at,
                        v,
                        format!(
                            "{at} must be a JSON object ({}), not {}",
                            code.unwrap_or("element"),
                            v.type_name()
                        ),
                    );
                    return;
                }
                let Some((tp, tn)) = self.structure(p, c, code) else {
                    return; // no single type to take children from (an unresolved choice)
                };
                self.depth += 1;
                if self.depth < MAX_DEPTH {
                    self.children(&tp, tn, v, at, None);
                }
                self.depth -= 1;
                self.fixed_pattern(p, n, v, at);
                match code {
                    Some("Coding") => {
                        self.binding(p, n, at, v, v.get_str("system"), v.get_str("code"))
                    }
                    Some("CodeableConcept") => self.codeable(p, n, at, v),
                    Some("Quantity") if n.binding.is_some() && v.get_str("code").is_some() => {
                        self.binding(p, n, at, v, v.get_str("system"), v.get_str("code"));
                    }
                    Some("Reference") => self.reference(p, n, v, at),
                    Some("Extension") => {
                        self.extension_context(p, c, v, at);
                        self.extension(p, c, v, at);
                    }
                    _ => {}
                }
                let ty_name = match code {
                    Some("BackboneElement" | "Element") | None => tp.nodes[tn].base_path.as_str(),
                    Some(c) => c,
                };
                self.node_constraints(n, v, None, at, ty_name);
            }
        }
    }

    /// A generic `extension` entry (not matched to a slice): check it against its definition.
    fn extension(&mut self, p: &Arc<Profile>, c: usize, v: &'a Json, at: &mut String) {
        let n = &p.nodes[c];
        if n.slice_name.is_some() || n.types.iter().any(|t| !t.profiles.is_empty()) {
            return; // checked as the slice / type profile already
        }
        let Some(url) = v.get_str("url") else { return };
        if !url.contains(':') {
            return; // a complex extension's inner url, defined by its parent
        }
        match self.v.profile(url) {
            Ok(def) => {
                if def.type_name != "Extension" {
                    self.error(
                        msg::EXTENSION_NOT_EXTENSION,
                        at,
                        v,
                        format!("{url} is not an extension definition"),
                    );
                    return;
                }
                self.children(&def, 0, v, at, None);
            }
            Err(_) => {
                if n.name == "modifierExtension" {
                    self.error(msg::EXTENSION_UNKNOWN_MODIFIER, at, v, format!("modifier extension {url} is not loaded, so its meaning cannot be known: it must be understood to process this resource"));
                } else {
                    self.warn(
                        msg::EXTENSION_UNKNOWN,
                        at,
                        v,
                        format!("extension {url} is not loaded, so it was not checked"),
                    );
                }
            }
        }
    }

    /// Is the extension's holder among the results of FHIRPath context `expr`, evaluated on
    /// the resource? An expression that does not parse or evaluate allows nothing.
    fn in_fhirpath_context(&self, expr: &str) -> bool {
        let (Some(holder), Some(res)) = (self.holder, self.env.resource) else {
            return false;
        };
        let Ok(compiled) = self.v.fhirpath.get(expr) else {
            return false;
        };
        let Ok(found) = compiled.evaluate_on(vec![root_node(res, &self.v.model)], &self.env) else {
            return false;
        };
        found.iter().any(|f| match f {
            Value::Node(n) => {
                n.json.is_some_and(|j| std::ptr::eq(j, holder))
                    || n.ext.is_some_and(|e| std::ptr::eq(e, holder))
            }
            _ => false,
        })
    }

    /// The extension definition's `contextInvariant`s, each evaluated on the holder with
    /// `%extension` the extension `v`: each must be true.
    fn context_invariants(&mut self, def: &Profile, p: &Profile, c: usize, v: &'a Json, at: &str) {
        if def.context_invariants.is_empty() {
            return;
        }
        let Some(holder) = self.holder else { return };
        let node = &p.nodes[c];
        let on_primitive = p.type_name == "Element" && node.parent.is_none_or(|i| i == 0);
        let ty = match (&self.primitive_holder, node.parent) {
            (Some((_, ty)), _) if on_primitive => ty.as_str(),
            (_, Some(i)) if i > 0 => {
                let n = &p.nodes[i];
                match n.types.first().map(|t| t.code.as_str()) {
                    Some("BackboneElement" | "Element") | None => n.base_path.as_str(),
                    Some(t) => t,
                }
            }
            _ => p.type_name.as_str(),
        };
        let model = &self.v.model;
        let focus = match root_node(holder, model) {
            Value::Node(mut n) => {
                n.ty = model.type_name_ref(ty).unwrap_or("");
                if on_primitive {
                    // The holder is a primitive's `_name`: its value is not at hand here.
                    n.ext = n.json.take();
                }
                Value::Node(n)
            }
            other => other,
        };
        let extension = match root_node(v, model) {
            Value::Node(mut n) => {
                n.ty = model.type_name_ref("Extension").unwrap_or("");
                Value::Node(n)
            }
            other => other,
        };
        let url = v.get_str("url").unwrap_or("?");
        self.env.vars.insert("extension".into(), vec![extension]);
        for (text, compiled) in &def.context_invariants {
            let result = match compiled {
                Ok(c) => c
                    .evaluate_on(vec![focus.clone()], &self.env)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("it is not valid FHIRPath ({e})")),
            };
            match result {
                Ok(r) if matches!(r.as_slice(), [Value::Bool(false)]) => self.error(msg::EXTENSION_CONTEXT_INVARIANT,
                    at,
                    v,
                    format!(
                        "extension {url} is used where its definition's context invariant does not hold: {text}"
                    ),
                ),
                Ok(_) => {}
                Err(e) => self.warn(msg::EXTENSION_CONTEXT_INVARIANT_ERROR,
                    at,
                    v,
                    format!("the context invariant of extension {url} could not be checked ({text}): {e}"),
                ),
            }
        }
        self.env.vars.remove("extension");
    }

    /// Does type `code` of element `n` name a resource (remembered in its type reference)?
    fn is_resource_type(&self, n: &Node, code: &str) -> bool {
        let look_up = || code == "Resource" || self.v.model.is_resource(code);
        match n.types.iter().find(|t| t.code == code) {
            Some(t) => *t.is_resource.get_or_init(look_up),
            None => look_up(),
        }
    }

    /// Is the extension `v` (element `c` of `p`) used where its definition allows it? Element
    /// contexts are matched against the holding element's path (in its resource and in its
    /// type's definition) and its types; extension contexts against the holding extension's
    /// definition; FHIRPath contexts by evaluating them on the resource (the holder must be
    /// among the results). Where the extension may be used, its context invariants are then
    /// checked on the holder.
    fn extension_context(&mut self, p: &Arc<Profile>, c: usize, v: &'a Json, at: &str) {
        use crate::snapshot::ContextKind;
        if p.nodes[c].slice_name.is_some() || at.starts_with("$slice") {
            // Checked through the sliced element itself; a trial match against a slice has
            // no instance path to place the holder with, and needs no context check.
            return;
        }
        let Some(url) = v.get_str("url").filter(|u| u.contains(':')) else {
            return;
        };
        let Ok(def) = self.v.profile(url) else { return };
        let anywhere = |x: &crate::snapshot::ExtensionContext| {
            x.kind == ContextKind::Element && matches!(x.expression.as_str(), "Element" | "Base")
        };
        if def.contexts.is_empty() || def.contexts.iter().any(anywhere) {
            self.context_invariants(&def, p, c, v, at);
            return;
        }
        // The holder as its definition names it: the parent of the extension element.
        let node = &p.nodes[c];
        let def_path = node.path.rsplit_once('.').map_or("", |(h, _)| h);
        let parent = node.parent;
        let mut paths: Vec<&str> = vec![def_path];
        let mut types: Vec<&str> = match parent {
            Some(0) | None => vec![p.type_name.as_str()],
            Some(i) => p.nodes[i].types.iter().map(|t| t.code.as_str()).collect(),
        };
        let primitive = p.type_name == "Element" && parent.is_none_or(|i| i == 0);
        if primitive && let Some((path, ty)) = &self.primitive_holder {
            paths.push(path);
            types = vec![ty];
        }
        // The holder in its resource: `Bundle.entry[2].resource.name[0]` → `Patient.name`.
        let holder_at = at.rsplit_once('.').map_or("", |(h, _)| h);
        let mut in_resource = String::new();
        if let Some((prefix, rt)) = self.resources.last()
            && let Some(rest) = holder_at.strip_prefix(prefix.as_str())
        {
            in_resource.push_str(rt);
            let mut depth = 0;
            for ch in rest.chars() {
                match ch {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ if depth == 0 => in_resource.push(ch),
                    _ => {}
                }
            }
            paths.push(&in_resource);
            if rest.is_empty() {
                types.push(rt);
                types.push("Resource");
                if !matches!(*rt, "Bundle" | "Binary" | "Parameters") {
                    types.push("DomainResource");
                }
            }
        }
        let allowed = def.contexts.iter().any(|x| match x.kind {
            ContextKind::Element => {
                let e = x.expression.as_str();
                types.contains(&e)
                    || paths.iter().any(|p| {
                        *p == e
                            || e.strip_suffix("[x]").is_some_and(|stem| {
                                p.strip_prefix(stem).is_some_and(|rest| {
                                    rest.starts_with(|c: char| c.is_ascii_uppercase())
                                        && !rest.contains('.')
                                })
                            })
                    })
            }
            // Inside an extension: known only when its definition is being walked.
            ContextKind::Extension => {
                types.contains(&"Extension")
                    && (p.url == x.expression
                        || p.url == "http://hl7.org/fhir/StructureDefinition/Extension")
            }
            ContextKind::Fhirpath => self.in_fhirpath_context(&x.expression),
        });
        if !allowed {
            let contexts: Vec<&str> = def.contexts.iter().map(|x| x.expression.as_str()).collect();
            types.dedup();
            let here = if in_resource.is_empty() {
                def_path
            } else {
                in_resource.as_str()
            };
            self.error(msg::EXTENSION_CONTEXT,
                at,
                v,
                format!(
                    "extension {url} is not allowed on {here} (type {}): its definition allows it only on {}",
                    types.join(" / "),
                    contexts.join(", ")
                ),
            );
        } else {
            self.context_invariants(&def, p, c, v, at);
        }
    }

    fn fixed_pattern(&mut self, p: &Arc<Profile>, n: &Node, v: &Json, at: &str) {
        if let Some(f) = &n.fixed
            && f != v
        {
            self.error_in(
                p,
                msg::VALUE_FIXED,
                at,
                v,
                format!("{at} must be exactly {}", f.to_compact()),
            );
        }
        if let Some(pat) = &n.pattern
            && !pattern_matches(pat, v)
        {
            self.error_in(
                p,
                msg::VALUE_PATTERN,
                at,
                v,
                format!("{at} must match the pattern {}", pat.to_compact()),
            );
        }
    }

    fn codeable(&mut self, p: &Arc<Profile>, n: &Node, at: &str, v: &Json) {
        let Some(b) = &n.binding else { return };
        let Some(vs) = &b.value_set else { return };
        let codings = v.get("coding").and_then(Json::as_array).unwrap_or(&[]);
        if codings.is_empty() {
            if b.strength == Strength::Required {
                self.error_in(
                    p,
                    msg::BINDING_NO_CODE,
                    at,
                    v,
                    format!("{at} has no coding, but its binding to {vs} is required"),
                );
            }
            return;
        }
        let mut unknown = None;
        for cd in codings {
            let Some(code) = cd.get_str("code") else {
                continue;
            };
            match self.v.terminology.member(vs, cd.get_str("system"), code) {
                Membership::Member => return,
                Membership::Unknown(why) => unknown = Some(why),
                Membership::NotMember => {}
            }
        }
        match (unknown, b.strength) {
            (Some(why), Strength::Required | Strength::Extensible) => self.unchecked(at, v, vs, &why),
            (None, Strength::Required) => self.error_in(p, msg::BINDING_REQUIRED, at, v, format!("none of the codings of {at} is in the value set {vs}, whose binding is required")),
            (None, Strength::Extensible) => self.warn_in(p, msg::BINDING_EXTENSIBLE, at, v, format!("none of the codings of {at} is in the value set {vs} (extensible binding): use one of its codes when one fits")),
            _ => {}
        }
    }

    fn binding(
        &mut self,
        p: &Arc<Profile>,
        n: &Node,
        at: &str,
        v: &Json,
        system: Option<&str>,
        code: Option<&str>,
    ) {
        let Some(b) = &n.binding else { return };
        let (Some(vs), Some(code)) = (&b.value_set, code) else {
            return;
        };
        if !matches!(b.strength, Strength::Required | Strength::Extensible) {
            return;
        }
        match self.v.terminology.member(vs, system, code) {
            Membership::Member => {}
            Membership::Unknown(why) => self.unchecked(at, v, vs, &why),
            Membership::NotMember if b.strength == Strength::Required => self.error_in(
                p,
                msg::BINDING_REQUIRED,
                at,
                v,
                format!(
                    "code '{code}' at {at} is not in the value set {vs}, whose binding is required"
                ),
            ),
            Membership::NotMember => self.warn_in(
                p,
                msg::BINDING_EXTENSIBLE,
                at,
                v,
                format!("code '{code}' at {at} is not in the value set {vs} (extensible binding)"),
            ),
        }
    }

    pub(super) fn unchecked(&mut self, at: &str, v: &Json, vs: &str, exp: &Expansion) {
        if self.v.options.unchecked_codes == super::UncheckedCodes::Ignore {
            return;
        }
        let msg = format!(
            "the code at {at} was not checked against {vs}: {}",
            exp.why_unknown()
        );
        let issue = match self.v.options.unchecked_codes {
            super::UncheckedCodes::Warning => Issue::warning(msg::TERMINOLOGY_NOT_CHECKED, msg),
            super::UncheckedCodes::Information => {
                Issue::new(Severity::Information, msg::TERMINOLOGY_NOT_CHECKED, msg)
            }
            super::UncheckedCodes::Ignore => return,
        };
        self.push(issue.at(at).at_node(v));
    }

    fn reference(&mut self, p: &Arc<Profile>, n: &Node, v: &Json, at: &str) {
        let Some(r) = v.get_str("reference") else {
            return;
        };
        let target_type: Option<&str> = if let Some(id) = r.strip_prefix('#') {
            let found = self
                .env
                .resource
                .and_then(|res| res.get("contained"))
                .and_then(Json::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|x| x.get_str("id") == Some(id) || id.is_empty())
                });
            match found {
                Some(x) => x.get_str("resourceType"),
                None if id.is_empty() => None,
                None => {
                    self.error(msg::REFERENCE_UNRESOLVED, at, v, format!("{at}.reference points at contained resource '#{id}', which is not there"));
                    return;
                }
            }
        } else if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            let Some(bundle) = self.env.bundle else {
                return; // outside a Bundle a URN cannot be resolved, and need not be
            };
            match bundle_entry(bundle, r) {
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
            match (ty, id) {
                (Some(t), Some(id)) if !id.is_empty() && self.v.model.is_resource(t) => Some(t),
                _ => {
                    self.error(msg::REFERENCE_FORMAT, at, v, format!("{at}.reference is not a valid reference: expected Type/id, an absolute URL ending in Type/id, #id or a urn:uuid/urn:oid"));
                    return;
                }
            }
        };
        let Some(t) = target_type else { return };
        let registry = &*self.v.registry;
        let allowed = || {
            n.types
                .iter()
                .filter(|ty| ty.code == "Reference")
                .flat_map(|ty| {
                    ty.target_types.get_or_init(|| {
                        ty.target_profiles
                            .iter()
                            .map(|tp| {
                                registry
                                    .entry(tp)
                                    .and_then(|e| e.sd_type.clone())
                                    .unwrap_or_else(|| {
                                        tp.rsplit('/').next().unwrap_or_default().to_string()
                                    })
                            })
                            .collect::<Vec<String>>()
                    })
                })
                .map(String::as_str)
        };
        if allowed().next().is_some() && !allowed().any(|a| a == t || a == "Resource") {
            let allowed: Vec<&str> = allowed().collect();
            self.error_in(
                p,
                msg::REFERENCE_TARGET_TYPE,
                at,
                v,
                format!(
                    "{at} refers to a {t}, but only {} may be referred to here",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// Evaluate the element's invariants (ele-1 is checked structurally, not here).
    fn node_constraints(
        &mut self,
        n: &Node,
        v: &'a Json,
        ext: Option<&'a Json>,
        at: &str,
        type_name: &str,
    ) {
        if n.constraints
            .iter()
            .all(|c| c.key == "ele-1" || c.expr.is_none())
        {
            return;
        }
        // The FHIRPath focus, made only if an invariant needs the general evaluator.
        let mut focus: Option<Value<'a>> = None;
        for c in &n.constraints {
            if c.key == "ele-1" {
                continue;
            }
            let Some(expr) = &c.expr else { continue };
            // The same invariant on the same value, met again through another profile
            // (profiles repeat their base's constraints), is evaluated once.
            if self.silent == 0
                && !self
                    .memo
                    .evaluated
                    .insert((v as *const Json as usize, Arc::as_ptr(expr) as usize))
            {
                continue;
            }
            let fast = match (&expr.fast, ext) {
                (Some(f), None)
                    if v.as_object().is_some() && !self.v.options.general_invariants_only =>
                {
                    f.eval(v)
                }
                _ => None,
            };
            let result = match fast {
                Some(Some(false)) => Ok(false),
                Some(_) => Ok(true),
                None => {
                    let focus = focus.get_or_insert_with(|| match root_node(v, &self.v.model) {
                        Value::Node(mut node) => {
                            node.ty = self.v.model.type_name_ref(type_name).unwrap_or("");
                            node.ext = ext;
                            Value::Node(node)
                        }
                        other => other,
                    });
                    expr.evaluate_on(vec![focus.clone()], &self.env)
                        .map(|r| matches!(r.as_slice(), [Value::Bool(true)] | []))
                }
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    let msg = format!("constraint {} failed: {}", c.key, c.human);
                    let issue = if c.severity == Severity::Warning {
                        Issue::warning(msg::INVARIANT, msg)
                    } else {
                        Issue::error(msg::INVARIANT, msg)
                    };
                    self.push(issue.at(at).at_node(v));
                }
                Err(e) => {
                    let msg = format!("constraint {} could not be evaluated: {e}", c.key);
                    self.push(Issue::warning(msg::INVARIANT_ERROR, msg).at(at).at_node(v));
                }
            }
        }
    }

    /// Assign each item to the slice it matches; report slice counts, closed and openAtEnd
    /// slicing and order.
    fn slice(
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

    /// Why `v` does not belong to slice `sl` of element `c` (`None`: it does). By the
    /// discriminators where they can be evaluated, otherwise by validating it against the
    /// slice without reporting. The reason is spelled out only when `explain` is set (for
    /// messages); otherwise a mismatch is `Some("")`.
    fn slice_mismatch(
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
                        (Some(expected), Some(actual)) => {
                            let hit = actual.iter().any(|a| match &expected {
                                Expected::Fixed(f) => f == *a,
                                Expected::Pattern(pt) => pattern_matches(pt, a),
                                Expected::Str(u) => a.as_str() == Some(u.as_str()),
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
                            } else if n.max == super::profile::Max::N(0) {
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

    /// The `profile` discriminator: do the values at `dpath` conform to a profile the slice
    /// gives the element there (its type profiles, or for `resolve()` its target profiles)?
    /// `None` when the slice names no profile there or the values cannot be found.
    fn profile_discriminator(
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
    fn conforms(&mut self, v: &'a Json, url: &str, label: &str) -> Result<(), String> {
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
            }
            if rt.is_some() {
                w.resources.pop();
            }
            w.depth -= 1;
        });
        first.map_or(Ok(()), Err)
    }

    /// Run `check` without reporting; the message of the first error it found, if any.
    fn first_error_of(&mut self, check: impl FnOnce(&mut Self)) -> Option<String> {
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
    fn values_at(&self, v: &'a Json, dpath: &str) -> Option<Vec<&'a Json>> {
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

    /// The resource a reference points at, when it is in the instance: a contained resource
    /// (`#id`) or a Bundle entry (by fullUrl, or by `Type/id`).
    fn resolve(&self, r: &str) -> Option<&'a Json> {
        if let Some(id) = r.strip_prefix('#') {
            return self
                .env
                .resource?
                .get("contained")?
                .as_array()?
                .iter()
                .find(|x| x.get_str("id") == Some(id));
        }
        let bundle = self.env.bundle?;
        bundle_entry(bundle, r).or_else(|| {
            let (ty, id) = r.trim_end_matches('/').rsplit_once('/')?;
            let ty = ty.rsplit('/').next()?;
            bundle
                .get("entry")?
                .as_array()?
                .iter()
                .filter_map(|e| e.get("resource"))
                .find(|x| x.get_str("resourceType") == Some(ty) && x.get_str("id") == Some(id))
        })
    }
}

enum Expected {
    Fixed(Json),
    Pattern(Json),
    Str(String),
}

impl Expected {
    fn text(&self) -> String {
        match self {
            Expected::Fixed(j) | Expected::Pattern(j) => j.to_compact(),
            Expected::Str(s) => format!("{s:?}"),
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
        let n = &tp.nodes[child_by_path(&tp, 0, rest)?];
        return n
            .fixed
            .clone()
            .map(Expected::Fixed)
            .or_else(|| n.pattern.clone().map(Expected::Pattern));
    }
    let (tp, t) = match child_by_path(p, sl, dpath) {
        Some(t) => (p.clone(), t),
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
            (tp, t)
        }
    };
    let n = &tp.nodes[t];
    n.fixed
        .clone()
        .map(Expected::Fixed)
        .or_else(|| n.pattern.clone().map(Expected::Pattern))
}

/// The node at a simple dotted path below `from` (`$this` is `from`).
fn child_by_path(p: &Profile, from: usize, dpath: &str) -> Option<usize> {
    let mut at = from;
    for seg in dpath.split('.') {
        if seg == "$this" {
            continue;
        }
        at = *p.nodes[at]
            .children
            .iter()
            .find(|&&c| p.nodes[c].name == seg.trim_end_matches("[x]"))?;
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

/// The resource of the Bundle entry whose fullUrl is `url`.
pub fn bundle_entry<'j>(bundle: &'j Json, url: &str) -> Option<&'j Json> {
    bundle
        .get("entry")
        .and_then(Json::as_array)?
        .iter()
        .find(|e| e.get_str("fullUrl") == Some(url))
        .and_then(|e| e.get("resource"))
}

/// `path[i]`.
fn indexed_path(path: &str, i: usize) -> String {
    let mut buf = itoa::Buffer::new();
    let n = buf.format(i);
    let mut s = String::with_capacity(path.len() + n.len() + 2);
    s.push_str(path);
    s.push('[');
    s.push_str(n);
    s.push(']');
    s
}
