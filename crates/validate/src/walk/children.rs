//! Traversal: each JSON member matched to its element definition (by name, choice
//! suffix or `_name` sibling), then shape, cardinality and primitive checks, down the tree.

use super::*;
use crate::json::{Json, Kind};
use crate::primitive;
use crate::profile::{NodeRef, Profile};
use smallvec::{SmallVec, smallvec};
use spfhir_element::msg::{self};
use std::sync::Arc;

impl<'a> Walk<'a> {
    /// Check the members of object `obj` against the children of `p.nodes[node]`. `path` is
    /// the object's path, one buffer shared by the whole walk: each element appends its
    /// segment and truncates it again, so it holds the same text on return.
    pub(super) fn children(
        &mut self,
        p: &Arc<Profile>,
        node: usize,
        obj: &'a Json,
        path: &mut String,
        resource_type: Option<&str>,
    ) {
        if self.over_time() {
            return;
        }
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
        let mut groups: SmallVec<[Group<'a, '_>; 16]> = SmallVec::new();
        let mut wrong_type: SmallVec<[usize; 2]> = SmallVec::new();
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
                // A choice named with a type it does not allow: said directly, and the
                // choice counts as given (one error, not "unknown" and "missing").
                if let Some(c) = p.choice_of_other_type(node, name) {
                    let n = &p.nodes[c];
                    let allowed: Vec<String> = n
                        .types
                        .iter()
                        .map(|t| format!("{}{}", n.name, upper_first(&t.code)))
                        .collect();
                    self.error_in(
                        p,
                        msg::STRUCTURE_CHOICE_TYPE,
                        &format!("{path}.{key}"),
                        &m.value,
                        format!(
                            "{path}.{}[x] must be {}, not {key}",
                            n.name,
                            allowed.join(" or ")
                        ),
                    );
                    wrong_type.push(c);
                    continue;
                }
                let what = resource_type.map_or_else(|| p.nodes[node].path.clone(), str::to_string);
                self.error(
                    msg::STRUCTURE_UNKNOWN_ELEMENT,
                    &format!("{path}.{key}"),
                    &m.value,
                    format!("unknown element '{key}' in {what}"),
                );
                continue;
            };
            match groups.iter_mut().find(|g| g.child == c && g.key == name) {
                Some(g) if (if is_ext { g.ext } else { g.value }).is_some() => {
                    // The first is the one FHIRPath and the translators read, so it is the
                    // one checked; the repeat is an error.
                    self.error(
                        msg::STRUCTURE_DUPLICATE_KEY,
                        &format!("{path}.{key}"),
                        &m.value,
                        format!("{path}.{key} appears more than once in the object; a JSON object's keys must be unique (the first is the one read)"),
                    );
                }
                Some(g) if is_ext => g.ext = Some(&m.value),
                Some(g) => g.value = Some(&m.value),
                None => {
                    if let Some(other) = groups.iter().find(|g| g.child == c) {
                        let msg = format!(
                            "only one of the choices of {}[x] may be given, found '{}' and '{name}'",
                            p.nodes[c].name, other.key
                        );
                        self.error(
                            msg::STRUCTURE_CHOICE_REPEATED,
                            &format!("{path}.{key}"),
                            &m.value,
                            msg,
                        );
                        continue;
                    }
                    let (value, ext) = if is_ext {
                        (None, Some(&m.value))
                    } else {
                        (Some(&m.value), None)
                    };
                    groups.push(Group {
                        child: c,
                        key: name,
                        ty,
                        value,
                        ext,
                    });
                }
            }
        }
        for &c in &p.nodes[node].required {
            let n = &p.nodes[c];
            if groups.iter().any(|g| g.child == c) || wrong_type.contains(&c) {
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
        for g in &groups {
            if rewalk && p.nodes[g.child].same_as_base {
                continue; // the base pass checked this element and all below it
            }
            self.element(p, g.child, g.key, g.ty, g.value, g.ext, path);
        }
        self.holder = saved_holder;
    }

    /// One member (with its `_` sibling) of an object at `path` (appended to while the
    /// member is walked, restored on return).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn element(
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
    pub(super) fn member(
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
    pub(super) fn value(
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
        let Some(v) = it.value else {
            // Extensions only: no code for a required binding to hold.
            if let (Some(code), Some(ext)) = (code, it.ext)
                && primitive::is_primitive(code)
            {
                self.no_code(p, n, at, ext);
            }
            return;
        };
        match code {
            Some(code) if primitive::is_primitive(code) => {
                if let Err(why) = primitive::check(code, v) {
                    self.error(msg::TYPE_PRIMITIVE, at, v, format!("{at} {why}"));
                    return;
                }
                if let Some(text) = primitive::text_of(code, v) {
                    self.text(code, text, at, v);
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
                // ElementDefinition ids are names of elements, not of this instance's parts: a
                // StructureDefinition's snapshot and differential repeat them by design (R4
                // elementdefinition.html: the same id is the same element).
                if n.base_path == "Element.id"
                    && self.silent == 0
                    && n.path != "ElementDefinition.id"
                {
                    self.element_id(v, at);
                }
                if code == "xhtml"
                    && let Some(text) = v.as_str()
                {
                    self.narrative(text, at, v);
                }
                self.min_max(p, n, code, v, at);
                self.fixed_pattern(p, n, v, at);
                if matches!(code, "code" | "string" | "uri") {
                    self.binding(p, n, at, v, None, v.as_str());
                }
                match code {
                    "uri" => {
                        self.canonical_url(&n.base_path, at, v);
                        self.system_uri(&n.base_path, at, v);
                    }
                    "canonical" => self.canonical_target(p, n, at, v),
                    _ => {}
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
                let Some(NodeRef {
                    profile: tp,
                    node: tn,
                }) = self.structure(p, c, code)
                else {
                    return; // no single type to take children from (an unresolved choice)
                };
                self.depth += 1;
                if self.depth < MAX_DEPTH {
                    self.children(&tp, tn, v, at, None);
                } else {
                    self.too_deep(at, v);
                }
                self.depth -= 1;
                // The datatype's own invariants (per-1 on Period, qty-3 on Quantity, …) sit on
                // the root of its definition, not on the elements that use it.
                if tn == 0 && !Arc::ptr_eq(&tp, p) {
                    let ty_name = code.unwrap_or(tp.type_name.as_str());
                    self.node_constraints(&tp.nodes[0], v, None, at, ty_name);
                }
                self.fixed_pattern(p, n, v, at);
                if let Some(c @ ("Quantity" | "Age" | "Duration" | "Distance" | "Count")) = code {
                    self.ucum_code(v, at);
                    self.min_max(p, n, c, v, at);
                }
                match code {
                    Some("Coding") => {
                        self.coding_system(at, v);
                        // Without a system a code means nothing, so it is in no value set:
                        // checked as a code no value set has (`""` is no system's name).
                        let system = v.get_str("system").unwrap_or("");
                        self.binding(p, n, at, v, Some(system), v.get_str("code"))
                    }
                    Some("CodeableConcept") => self.codeable(p, n, at, v),
                    Some("Quantity") if n.binding.is_some() && v.get_str("code").is_some() => {
                        self.binding(p, n, at, v, v.get_str("system"), v.get_str("code"));
                    }
                    Some("Reference") => self.reference(p, n, v, at),
                    Some("Identifier") => self.identifier(at, v),
                    Some("Attachment")
                        if n.base_path != "QuestionnaireResponse.item.answer.value[x]" =>
                    {
                        self.attachment(at, v)
                    }
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

    /// The rules for text (`string`, `markdown`): only whitespace, whitespace at either end
    /// (strings), and bidirectional controls left open.
    fn text(&mut self, code: &str, text: &str, at: &str, v: &'a Json) {
        if primitive::only_whitespace(text) {
            self.warn(
                msg::VALUE_WHITESPACE,
                at,
                v,
                format!("{at} is only whitespace: a string should carry text, or be left out"),
            );
        } else if code == "string" && primitive::padded(text) {
            self.warn(
                msg::VALUE_WHITESPACE_ENDS,
                at,
                v,
                format!("{at} starts or ends with whitespace, which is usually a slip: send the text without it"),
            );
        }
        if let Some(control) = primitive::bidi_unterminated(text) {
            self.error(
                msg::VALUE_BIDI_UNTERMINATED,
                at,
                v,
                format!("{at} opens a right-to-left or left-to-right control ({control}) that it does not close, which changes how the text after it is shown: close it (PDF or PDI) or remove it"),
            );
        }
    }
}

/// `string` → `String`, as a choice's type appears in its JSON name.
fn upper_first(t: &str) -> String {
    let mut c = t.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}
