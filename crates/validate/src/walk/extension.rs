//! Extensions: resolved by url, their values checked against their definition, and their
//! context (element, extension and FHIRPath contexts, context invariants) enforced.

use super::*;
use crate::fhirpath::Value;
use crate::fhirpath::eval::root_node;
use crate::json::Json;
use crate::profile::{Node, Profile};
use spfhir_element::msg::{self};
use std::sync::Arc;

impl<'a> Walk<'a> {
    /// A generic `extension` entry (not matched to a slice): check it against its definition.
    pub(super) fn extension(&mut self, p: &Arc<Profile>, c: usize, v: &'a Json, at: &mut String) {
        let n = &p.nodes[c];
        if n.slice_name.is_some() || n.types.iter().any(|t| !t.profiles.is_empty()) {
            return; // checked as the slice / type profile already
        }
        let Some(url) = v.get_str("url") else { return };
        if !url.contains(':') {
            // Inside a complex extension a sub-extension's url is a name its parent defines;
            // anywhere else it names a definition, so it must be absolute (R4 extensibility:
            // "SHALL be a URI for the StructureDefinition defining the extension").
            if p.type_name != "Extension" {
                self.error(
                    msg::EXTENSION_URL_NOT_ABSOLUTE,
                    at,
                    v,
                    format!("{at}.url '{url}' must be the absolute URL of the extension's definition; only the parts of a complex extension are named by a bare name"),
                );
            } else if !n.slices.is_empty() {
                // In a complex extension whose definition is loaded, its parts are the slices
                // of its `extension`, each fixing the part's url.
                let parts: Vec<&str> = n
                    .slices
                    .iter()
                    .filter_map(|&s| {
                        slicing::child_by_path(p, s, "url")
                            .and_then(|u| p.nodes[u].fixed.as_ref()?.as_str())
                            .or(p.nodes[s].slice_name.as_deref())
                    })
                    .collect();
                if parts.contains(&url) {
                    return;
                }
                self.error(
                    msg::EXTENSION_PART_UNKNOWN,
                    at,
                    v,
                    format!(
                        "{at}.url '{url}' is not a part of extension {} (its parts: {})",
                        p.url,
                        parts.join(", ")
                    ),
                );
            }
            return;
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
                // R4 (extensibility.html): a modifier extension goes in `modifierExtension`,
                // and only a modifier extension does.
                let is_modifier = def.nodes.first().is_some_and(|root| root.is_modifier);
                let in_modifier = n.name == "modifierExtension";
                if is_modifier != in_modifier {
                    let why = if is_modifier {
                        format!(
                            "{url} is a modifier extension: it must be in modifierExtension, where a receiver that does not know it has to reject the resource"
                        )
                    } else {
                        format!(
                            "{url} is not a modifier extension: it must be in extension, not modifierExtension"
                        )
                    };
                    self.error(msg::EXTENSION_MODIFIER_MISMATCH, at, v, why);
                }
                self.children(&def, 0, v, at, None);
            }
            Err(_) => {
                if n.name == "modifierExtension" {
                    self.error(msg::EXTENSION_UNKNOWN_MODIFIER, at, v, format!("modifier extension {url} is not loaded, so its meaning cannot be known: it must be understood to process this resource"));
                } else if self.v.options.extension_allowed(url) {
                    self.push(
                        Issue::new(
                            Severity::Information,
                            msg::EXTENSION_UNKNOWN,
                            format!("extension {url} is not loaded, so it was not checked (its namespace is allowed)"),
                        )
                        .at(at.as_str())
                        .at_node(v),
                    );
                } else if self.v.options.unknown_extensions == crate::UnknownExtensions::Warning {
                    self.warn(
                        msg::EXTENSION_UNKNOWN,
                        at,
                        v,
                        format!("extension {url} is not loaded, so it was not checked"),
                    );
                } else {
                    self.error(
                        msg::EXTENSION_UNKNOWN,
                        at,
                        v,
                        format!("extension {url} could not be found, so it is not allowed here (load its package, or allow its namespace)"),
                    );
                }
            }
        }
    }

    /// Is the extension's holder among the results of FHIRPath context `expr`, evaluated on
    /// the resource? An expression that does not parse or evaluate allows nothing.
    pub(super) fn in_fhirpath_context(&self, expr: &str) -> bool {
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
    pub(super) fn context_invariants(
        &mut self,
        def: &Profile,
        p: &Profile,
        c: usize,
        v: &'a Json,
        at: &str,
    ) {
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
    pub(super) fn is_resource_type(&self, n: &Node, code: &str) -> bool {
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
    pub(super) fn extension_context(&mut self, p: &Arc<Profile>, c: usize, v: &'a Json, at: &str) {
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
}
