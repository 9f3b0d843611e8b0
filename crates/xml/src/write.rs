//! The element tree → FHIR XML ([`write`]): the inverse of [`crate::parse`] for any resource
//! the model knows, so JSON → XML → JSON gives the same resource back.
//!
//! Members are written in the definition's element order (JSON's order is free, XML's is
//! not); members the model does not know follow in their JSON order, as elements, so
//! nothing is dropped.

use spfhir_element::{Json, Kind, Member};
use spfhir_fhirpath::model::Model;

use crate::FHIR_NS;

/// Write `resource` (an object with `resourceType`) as an indented FHIR XML document.
pub fn write(resource: &Json, model: &Model) -> String {
    let mut w = Writer {
        model,
        out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
    };
    w.resource(resource, 0, true);
    w.out
}

struct Writer<'m> {
    model: &'m Model,
    out: String,
}

/// One XML element to write: its name, the values (several when the member is an array)
/// and, for a primitive, the `_name` objects beside them.
struct Item<'j> {
    name: &'j str,
    order: u32,
    ty: Option<String>,
    values: Vec<Option<&'j Json>>,
    extras: Vec<Option<&'j Json>>,
}

impl Writer<'_> {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn resource(&mut self, res: &Json, depth: usize, root: bool) {
        let Kind::Object(o) = &res.kind else {
            return;
        };
        let ty = res
            .get("resourceType")
            .and_then(Json::as_str)
            .unwrap_or("Resource");
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(ty);
        if root {
            self.out.push_str(" xmlns=\"");
            self.out.push_str(FHIR_NS);
            self.out.push('"');
        }
        let items = self.items(&o.members, Some(ty), true);
        self.close_open(ty, depth, items);
    }

    /// End an open tag: `/>` when there is nothing inside, else the children and the end tag.
    fn close_open(&mut self, name: &str, depth: usize, items: Vec<Item<'_>>) {
        if items.is_empty() {
            self.out.push_str("/>\n");
            return;
        }
        self.out.push_str(">\n");
        for item in items {
            self.item(&item, depth + 1);
        }
        self.indent(depth);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `members` of an object of type `ty`, paired (`name` with `_name`) and in XML order.
    /// `resource`: `id` is an element, not an attribute.
    fn items<'j>(&self, members: &'j [Member], ty: Option<&str>, resource: bool) -> Vec<Item<'j>> {
        let mut items: Vec<Item<'j>> = Vec::new();
        for m in members {
            let (name, extra) = match m.key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (m.key.as_str(), false),
            };
            let attribute = if resource {
                name == "resourceType"
            } else {
                name == "id" || (ty == Some("Extension") && name == "url")
            };
            if attribute && !extra {
                continue; // attributes, written with the open tag
            }
            let as_list = |v: &'j Json| -> Vec<Option<&'j Json>> {
                match &v.kind {
                    Kind::Array(a) => a
                        .iter()
                        .map(|x| (!matches!(x.kind, Kind::Null)).then_some(x))
                        .collect(),
                    _ => vec![Some(v)],
                }
            };
            let i = match items.iter().position(|it| it.name == name) {
                Some(i) => i,
                None => {
                    let (order, ty) = self.slot(ty, name);
                    items.push(Item {
                        name,
                        order,
                        ty,
                        values: Vec::new(),
                        extras: Vec::new(),
                    });
                    items.len() - 1
                }
            };
            if extra {
                items[i].extras = as_list(&m.value);
            } else {
                items[i].values = as_list(&m.value);
            }
        }
        // Stable: unknown members (order u32::MAX) keep their JSON order, at the end.
        items.sort_by_key(|it| it.order);
        items
    }

    fn slot(&self, parent: Option<&str>, name: &str) -> (u32, Option<String>) {
        match parent.and_then(|p| crate::element_of(self.model, p, name)) {
            Some((order, _, ty)) => (order, ty.map(|t| t.to_string())),
            None => (u32::MAX, None),
        }
    }

    fn item(&mut self, item: &Item<'_>, depth: usize) {
        let n = item.values.len().max(item.extras.len());
        for k in 0..n {
            let value = item.values.get(k).copied().flatten();
            let extra = item.extras.get(k).copied().flatten();
            match (item.ty.as_deref(), value) {
                (Some("xhtml"), Some(v)) => {
                    self.indent(depth);
                    self.out.push_str(v.as_str().unwrap_or_default());
                    self.out.push('\n');
                }
                (Some("Resource"), Some(v)) => {
                    self.indent(depth);
                    self.out.push('<');
                    self.out.push_str(item.name);
                    self.out.push_str(">\n");
                    self.resource(v, depth + 1, false);
                    self.indent(depth);
                    self.out.push_str("</");
                    self.out.push_str(item.name);
                    self.out.push_str(">\n");
                }
                (
                    _,
                    Some(Json {
                        kind: Kind::Object(o),
                        ..
                    }),
                ) => {
                    self.indent(depth);
                    self.out.push('<');
                    self.out.push_str(item.name);
                    for key in ["id", "url"] {
                        if key == "url" && item.ty.as_deref() != Some("Extension") {
                            continue;
                        }
                        if let Some(s) = o.get(key).and_then(scalar) {
                            attribute(&mut self.out, key, &s);
                        }
                    }
                    let items = self.items(&o.members, item.ty.as_deref(), false);
                    self.close_open(item.name, depth, items);
                }
                (_, value) => self.primitive(item.name, value, extra, depth),
            }
        }
    }

    /// `<name id=".." value="..">` with the `_name` object's extensions inside.
    fn primitive(&mut self, name: &str, value: Option<&Json>, extra: Option<&Json>, depth: usize) {
        self.indent(depth);
        self.out.push('<');
        self.out.push_str(name);
        if let Some(id) = extra.and_then(|e| e.get("id")).and_then(scalar) {
            attribute(&mut self.out, "id", &id);
        }
        if let Some(v) = value.and_then(scalar) {
            attribute(&mut self.out, "value", &v);
        }
        let items = match extra.map(|e| &e.kind) {
            Some(Kind::Object(o)) => self.items(&o.members, Some("Element"), false),
            _ => Vec::new(),
        };
        self.close_open(name, depth, items);
    }
}

/// A JSON scalar's text as an XML attribute value would carry it.
fn scalar(v: &Json) -> Option<String> {
    match &v.kind {
        Kind::String(s) | Kind::Number(s) => Some(s.to_string()),
        Kind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// ` key="value"`, escaped so that the value reads back exactly (tabs and line breaks as
/// character references, which XML's attribute normalisation leaves alone).
fn attribute(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out.push('"');
}
