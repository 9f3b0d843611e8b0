//! FHIR XML → the element tree ([`parse`]).
//!
//! The rules are R4's XML representation (<https://hl7.org/fhir/R4/xml.html>) read against
//! the JSON one, with the type model deciding what the XML alone cannot say:
//! - an element the definition lets repeat becomes a JSON array, whether it appears once or
//!   more; one that may not repeat but does becomes an array too, so the validator reports
//!   its cardinality;
//! - a primitive's `value` attribute becomes a JSON boolean, number or string by the
//!   primitive's type (a value that is not a valid number stays a string, so the validator
//!   reports it); its `id` attribute and `extension` children go under `_name`, with `null`s
//!   keeping repeating values and their extensions in step;
//! - `id` attributes of other elements, and `url` on `extension`, become members;
//! - an element of type `Resource` (`contained`, `Bundle.entry.resource`, …) holds one
//!   resource element, which becomes an object with its `resourceType`;
//! - `Narrative.div` stays XHTML: the element's own source text becomes the string.
//!
//! What only XML can get wrong is reported here, with the element's position and path:
//! elements out of the definition's order, elements or attributes FHIR does not have, text
//! between elements, a primitive with neither value nor extension, a resource wrapper that
//! does not hold exactly one resource.

use compact_str::CompactString;
use roxmltree::{Document, Node, NodeType, ParsingOptions};
use spfhir_element::issue::Issue;
use spfhir_element::{Json, Kind, LineCol, MAX_DEPTH, Member, Object, ParseError, Pos, msg};
use spfhir_fhirpath::model::Model;

use crate::{FHIR_NS, XHTML_NS};

/// Most XML nodes one document may hold (roxmltree's own bound on memory for hostile
/// input); a FHIR resource of a million nodes is already far past any real message.
const NODES_LIMIT: u32 = 20_000_000;

/// XML Schema's instance namespace: `xsi:schemaLocation` and the like are allowed anywhere.
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A resource read from XML, and what only its XML form got wrong.
#[derive(Debug)]
pub struct Parsed {
    pub resource: Json,
    /// Problems of the XML form (`XML_*` message ids), with positions and FHIRPaths.
    pub issues: Vec<Issue>,
}

/// Read one FHIR resource from XML `text`. Positions in the tree are byte offsets in `text`,
/// as the JSON parser's are, so issues locate the same way. Fails only when the text is not
/// well-formed XML (or has a DTD, which FHIR forbids); every other problem is an issue in
/// [`Parsed::issues`] and the rest of the resource is still read.
pub fn parse(text: &str, model: &Model) -> Result<Parsed, ParseError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| {
        let p = e.pos();
        ParseError {
            offset: offset_of(text, p.row, p.col),
            line_col: LineCol {
                line: p.row,
                col: p.col,
            },
            message: format!("not well-formed XML: {}", plain(&e)),
        }
    })?;
    let mut reader = Reader {
        text,
        model,
        issues: Vec::new(),
        path: Vec::new(),
    };
    let root = doc.root_element();
    let resource = reader.resource(root, 0)?;
    Ok(Parsed {
        resource,
        issues: reader.issues,
    })
}

/// roxmltree's message without its own ` at row:col` (the issue carries the position).
fn plain(e: &roxmltree::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at ") {
        Some(i) if s[i + 4..].contains(':') => s[..i].to_string(),
        _ => s,
    }
}

/// The byte offset of 1-based `row`:`col` (characters) in `text`.
fn offset_of(text: &str, row: u32, col: u32) -> usize {
    let line_start = if row <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(row as usize - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    text[line_start..]
        .char_indices()
        .nth(col.saturating_sub(1) as usize)
        .map_or(text.len(), |(i, _)| line_start + i)
}

struct Reader<'a, 'm> {
    text: &'a str,
    model: &'m Model,
    issues: Vec<Issue>,
    /// FHIRPath segments from the root resource to the element being read.
    path: Vec<String>,
}

/// What the model says an XML element is.
struct Slot {
    /// Its place in the parent type's order; `None` for an element the type does not have.
    order: Option<u32>,
    many: bool,
    /// Its type (a choice's concrete type), when known.
    ty: Option<CompactString>,
}

/// The values read for one member name, in document order.
struct Group {
    key: CompactString,
    key_pos: Pos,
    many: bool,
    primitive: bool,
    values: Vec<Option<Json>>,
    /// A primitive's `id` and extensions, one per value.
    extras: Vec<Option<Json>>,
}

impl<'a> Reader<'a, '_> {
    fn here(&self) -> String {
        self.path.join(".")
    }

    fn report(&mut self, msg: msg::Msg, at: usize, message: String) {
        let issue = Issue::error(msg, message).at(self.here());
        self.issues.push(Issue {
            pos: Some(Pos(at as u32)),
            ..issue
        });
    }

    /// `XML_ATTRIBUTE`: attribute `a` of `node` is not one FHIR has there.
    fn no_attribute(&mut self, node: Node<'_, '_>, a: roxmltree::Attribute<'_, '_>) {
        let message = format!(
            "FHIR has no attribute '{}' on <{}>",
            a.name(),
            node.tag_name().name()
        );
        self.report(msg::XML_ATTRIBUTE, a.range().start, message);
    }

    fn deep(&self, node: Node<'_, '_>, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            let at = node.range().start;
            let p = node.document().text_pos_at(at);
            Err(ParseError {
                offset: at,
                line_col: LineCol {
                    line: p.row,
                    col: p.col,
                },
                message: format!("the XML nests deeper than {MAX_DEPTH} levels"),
            })
        } else {
            Ok(())
        }
    }

    /// A resource element: `resourceType`, then its content.
    fn resource(&mut self, node: Node<'_, '_>, depth: usize) -> Result<Json, ParseError> {
        self.deep(node, depth)?;
        let name = node.tag_name().name();
        let pos = Pos(node.range().start as u32 + 1);
        self.path.push(name.to_string());
        if node.tag_name().namespace() != Some(FHIR_NS) {
            self.report(
                msg::XML_NAMESPACE,
                node.range().start,
                format!("the resource element <{name}> must be in the FHIR namespace (xmlns=\"{FHIR_NS}\")"),
            );
        }
        let ty = self
            .model
            .is_resource(name)
            .then(|| CompactString::from(name));
        let mut members = vec![Member {
            key: "resourceType".into(),
            key_pos: pos,
            value: Json {
                pos,
                kind: Kind::String(name.into()),
            },
        }];
        self.attributes(node, ty.as_deref(), false, &mut members);
        self.content(node, ty.as_deref(), depth, &mut members)?;
        self.path.pop();
        Ok(Json {
            pos: Pos(node.range().start as u32),
            kind: Kind::Object(Object { members }),
        })
    }

    /// The attributes of a non-primitive element: `id` (not on resources, whose id is an
    /// element), `url` on extensions; anything else is reported.
    fn attributes(
        &mut self,
        node: Node<'_, '_>,
        ty: Option<&str>,
        element: bool,
        members: &mut Vec<Member>,
    ) {
        for a in node.attributes() {
            let allowed = match (a.namespace(), a.name()) {
                (Some(XSI_NS), _) => continue,
                (None, "id") => element,
                (None, "url") => element && ty == Some("Extension"),
                _ => false,
            };
            if allowed {
                members.push(string_member(a));
            } else {
                self.no_attribute(node, a);
            }
        }
    }

    /// The child elements of `node`, of type `ty`, as members appended to `members`.
    fn content(
        &mut self,
        node: Node<'_, '_>,
        ty: Option<&str>,
        depth: usize,
        members: &mut Vec<Member>,
    ) -> Result<(), ParseError> {
        let mut groups: Vec<Group> = Vec::new();
        let mut last: Option<(u32, String)> = None;
        for child in node.children() {
            match child.node_type() {
                NodeType::Element => {}
                NodeType::Text => {
                    if !child.text().unwrap_or_default().trim().is_empty() {
                        let on = node.tag_name().name().to_string();
                        self.report(
                            msg::XML_TEXT,
                            child.range().start,
                            format!("<{on}> holds text; FHIR elements carry their values in 'value' attributes"),
                        );
                    }
                    continue;
                }
                _ => continue,
            }
            let name = child.tag_name().name();
            let slot = self.slot(ty, child);
            // A child in its parent's wrong namespace is the parent's mistake, reported once.
            let ns = child.tag_name().namespace();
            let in_ns = ns == Some(FHIR_NS)
                || (ns != Some(XHTML_NS) && ns == node.tag_name().namespace())
                || (slot.ty.as_deref() == Some("xhtml") && ns == Some(XHTML_NS));
            let index = groups
                .iter()
                .find(|g| g.key == name)
                .map_or(0, |g| g.values.len());
            self.path.push(if slot.many || index > 0 {
                format!("{name}[{index}]")
            } else {
                name.to_string()
            });
            if !in_ns {
                self.report(
                    msg::XML_NAMESPACE,
                    child.range().start,
                    format!("<{name}> is not in the FHIR namespace (xmlns=\"{FHIR_NS}\")"),
                );
                self.path.pop();
                continue;
            }
            if let (Some(order), Some((before, before_name))) = (slot.order, &last)
                && order < *before
            {
                let message = format!(
                    "<{name}> is out of order: it must come before <{before_name}> (FHIR's XML keeps each type's element order)"
                );
                self.report(msg::XML_ORDER, child.range().start, message);
            }
            if let Some(order) = slot.order
                && last.as_ref().is_none_or(|(b, _)| order >= *b)
            {
                last = Some((order, name.to_string()));
            }
            let (value, extra, primitive) = self.element(child, &slot, depth + 1)?;
            self.path.pop();
            if value.is_none() && extra.is_none() {
                continue;
            }
            let at = groups.iter().position(|g| g.key == name);
            let group = match at {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Group {
                        key: name.into(),
                        key_pos: Pos(child.range().start as u32 + 1),
                        many: slot.many,
                        primitive,
                        values: Vec::new(),
                        extras: Vec::new(),
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            group.values.push(value);
            group.extras.push(extra);
        }
        for g in groups {
            emit(g, members);
        }
        Ok(())
    }

    /// What the model says `child` is, as an element of `parent`.
    fn slot(&self, parent: Option<&str>, child: Node<'_, '_>) -> Slot {
        match parent.and_then(|p| crate::element_of(self.model, p, child.tag_name().name())) {
            Some((order, many, ty)) => Slot {
                order: Some(order),
                many,
                ty,
            },
            None => Slot {
                order: None,
                many: false,
                ty: None,
            },
        }
    }

    /// One element's value and, for a primitive, its `_name` object; and whether it is a
    /// primitive. `(None, None, _)`: nothing to keep (an empty primitive, reported).
    fn element(
        &mut self,
        node: Node<'_, '_>,
        slot: &Slot,
        depth: usize,
    ) -> Result<(Option<Json>, Option<Json>, bool), ParseError> {
        self.deep(node, depth)?;
        let start = node.range().start;
        let ty = slot.ty.as_deref();
        let primitive = match ty {
            Some("xhtml") => {
                let div = Json {
                    pos: Pos(start as u32),
                    kind: Kind::String(self.text[node.range()].into()),
                };
                return Ok((Some(div), None, true));
            }
            Some("Resource") => return Ok((self.wrapped(node, depth)?, None, false)),
            Some(t) => self.model.is_primitive(t),
            // Not in the model: a `value` attribute and no child elements reads as a
            // primitive, so the validator can name the unknown element either way.
            None => node.attribute("value").is_some() && !node.children().any(|c| c.is_element()),
        };
        if !primitive {
            let mut members = Vec::new();
            self.attributes(node, ty, true, &mut members);
            self.content(node, ty, depth, &mut members)?;
            return Ok((
                Some(Json {
                    pos: Pos(start as u32),
                    kind: Kind::Object(Object { members }),
                }),
                None,
                false,
            ));
        }
        let mut value = None;
        let mut invalid = false;
        let mut extra = Vec::new();
        for a in node.attributes() {
            match (a.namespace(), a.name()) {
                (None, "value") => {
                    let pos = Pos(a.range_value().start as u32);
                    let raw = &self.text[a.range_value()];
                    let text = if raw.contains(['\n', '\r', '\t']) {
                        std::borrow::Cow::Owned(unnormalised(raw))
                    } else {
                        std::borrow::Cow::Borrowed(a.value())
                    };
                    match typed(ty.unwrap_or("string"), &text) {
                        Ok(kind) => value = Some(Json { pos, kind }),
                        // Said here in XML's terms; the JSON rule ("must be a JSON boolean")
                        // would not fit. The value is not kept, so it is not reported twice.
                        Err(expected) => {
                            invalid = true;
                            let message = format!(
                                "{} is not a valid {}: {expected}",
                                self.here(),
                                ty.unwrap_or("string")
                            );
                            self.report(msg::TYPE_PRIMITIVE, pos.0 as usize, message);
                        }
                    }
                }
                (None, "id") => extra.push(string_member(a)),
                (Some(XSI_NS), _) => {}
                _ => self.no_attribute(node, a),
            }
        }
        self.content(node, ty, depth, &mut extra)?;
        if value.is_none() && extra.is_empty() && !invalid && !has_text(node) {
            let name = node.tag_name().name().to_string();
            self.report(
                msg::XML_EMPTY,
                start,
                format!("<{name}> has no value attribute and no extension: a FHIR element needs one or the other"),
            );
            return Ok((None, None, true));
        }
        let extra = (!extra.is_empty()).then(|| Json {
            pos: Pos(start as u32),
            kind: Kind::Object(Object { members: extra }),
        });
        Ok((value, extra, true))
    }

    /// An element of type `Resource`: it holds one resource element.
    fn wrapped(&mut self, node: Node<'_, '_>, depth: usize) -> Result<Option<Json>, ParseError> {
        let inner: Vec<Node<'_, '_>> = node.children().filter(|c| c.is_element()).collect();
        for a in node.attributes() {
            self.no_attribute(node, a);
        }
        if inner.len() != 1 {
            let name = node.tag_name().name().to_string();
            self.report(
                msg::XML_WRAPPER,
                node.range().start,
                format!(
                    "<{name}> must hold exactly one resource element (it holds {})",
                    inner.len()
                ),
            );
        }
        match inner.first() {
            Some(r) => Ok(Some(self.resource(*r, depth + 1)?)),
            None => Ok(None),
        }
    }
}

/// An attribute (`id`, `url`) as the JSON member it stands for, positioned at the attribute
/// and its value.
fn string_member(a: roxmltree::Attribute<'_, '_>) -> Member {
    Member {
        key: a.name().into(),
        key_pos: Pos(a.range().start as u32),
        value: Json {
            pos: Pos(a.range_value().start as u32),
            kind: Kind::String(a.value().into()),
        },
    }
}

/// An attribute's value with its references resolved but its line breaks and tabs kept as
/// written. XML's attribute normalisation would turn them into spaces; FHIR's own parsers
/// keep them (a `description` written over two lines reads as two lines), and so does the
/// JSON twin of every HL7 example.
fn unnormalised(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let name = &rest[1..end];
        let c = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            // roxmltree has already refused unknown references; keep the text as it is.
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A primitive value as JSON: booleans and numbers typed when their text is valid, so the
/// validator sees what a JSON sender would have written.
/// `Err`: what the value should have been, for a boolean or number that is not one (other
/// types' formats are the validator's, as for JSON).
fn typed(ty: &str, text: &str) -> Result<Kind, &'static str> {
    match ty {
        "boolean" => match text {
            "true" => Ok(Kind::Bool(true)),
            "false" => Ok(Kind::Bool(false)),
            _ => Err("expected true or false"),
        },
        "integer" | "positiveInt" | "unsignedInt" | "integer64" => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if is_json_number(text) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Kind::Number(text.into()))
            } else {
                Err("expected a whole number without leading zeros, such as 2 or -1")
            }
        }
        "decimal" if is_json_number(text) => Ok(Kind::Number(text.into())),
        "decimal" => Err("expected a decimal number, such as 1.50, without leading zeros or '+'"),
        _ => Ok(Kind::String(text.into())),
    }
}

/// Does the element hold non-whitespace text (already reported as `XML_TEXT`)?
fn has_text(node: Node<'_, '_>) -> bool {
    node.children()
        .any(|c| c.is_text() && !c.text().unwrap_or_default().trim().is_empty())
}

/// RFC 8259's number grammar (which is also FHIR's decimal grammar).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// One member name's values as JSON members: `name` (an array when the element repeats or
/// was repeated) and, for primitives with ids or extensions, `_name` beside it.
fn emit(g: Group, members: &mut Vec<Member>) {
    let array = g.many || g.values.len() > 1;
    let null = |pos| Json {
        pos,
        kind: Kind::Null,
    };
    let pack = |items: Vec<Option<Json>>, pos: Pos| -> Json {
        if array {
            Json {
                pos,
                kind: Kind::Array(items.into_iter().map(|v| v.unwrap_or(null(pos))).collect()),
            }
        } else {
            items.into_iter().next().flatten().unwrap_or(null(pos))
        }
    };
    let has_values = g.values.iter().any(Option::is_some);
    let has_extras = g.extras.iter().any(Option::is_some);
    if has_values || !g.primitive {
        members.push(Member {
            key: g.key.clone(),
            key_pos: g.key_pos,
            value: pack(g.values, g.key_pos),
        });
    }
    if g.primitive && has_extras {
        members.push(Member {
            key: format!("_{}", g.key).into(),
            key_pos: g.key_pos,
            value: pack(g.extras, g.key_pos),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_json_grammar() {
        for ok in [
            "0",
            "-1",
            "1.50",
            "1e5",
            "2.0E-3",
            "12345678901234567890.123",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "+1", "1.", ".5", "1e", "1.5.2", "NaN", " 1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn line_breaks_in_values_are_kept_and_references_resolved() {
        assert_eq!(unnormalised("a\n  b &amp; &#x41;&#66;&lt;"), "a\n  b & AB<");
    }

    #[test]
    fn offsets_count_characters() {
        let text = "ab\ncé<x";
        assert_eq!(offset_of(text, 2, 3), text.find('<').unwrap());
        assert_eq!(offset_of(text, 1, 1), 0);
        assert_eq!(offset_of(text, 9, 9), text.len());
    }
}
