//! Narratives: an `xhtml` value against R4's narrative rules (txt-1, txt-2), one issue per
//! broken rule, from the `spfhir-xhtml` crate; and its internal links (`<a href="#id">`),
//! which must name an element of the resource (or of the Bundle it travels in).

use super::*;
use crate::json::Kind as JsonKind;
use spfhir_element::msg::{self, Msg};
use spfhir_xhtml::Kind;

impl<'a> Walk<'a> {
    pub(super) fn narrative(&mut self, text: &str, at: &str, v: &'a Json) {
        let (problems, links) = spfhir_xhtml::check_with_links(text);
        for p in problems {
            let m: Msg = match p.kind {
                Kind::Syntax => msg::XHTML_SYNTAX,
                Kind::Namespace => msg::XHTML_NAMESPACE,
                Kind::Element => msg::XHTML_ELEMENT,
                Kind::Attribute => msg::XHTML_ATTRIBUTE,
                Kind::ActiveContent => msg::XHTML_ACTIVE_CONTENT,
                Kind::Empty => msg::XHTML_EMPTY,
                Kind::Link => msg::XHTML_LINK,
                Kind::Structure => msg::XHTML_STRUCTURE,
            };
            self.error(
                m,
                at,
                v,
                format!("{at}: {}{}", p.message, place(p.line_col)),
            );
        }
        for link in links {
            let answered = |r: Option<&Json>| r.is_some_and(|r| has_id(r, &link.fragment));
            if !answered(self.env.root_resource) && !answered(self.env.bundle) {
                self.error(
                    msg::XHTML_LINK,
                    at,
                    v,
                    format!(
                        "{at}: a link to #… names no element of the resource (no id, and no <a name> in the narrative){}",
                        place(link.line_col)
                    ),
                );
            }
        }
    }
}

fn place(line_col: Option<(u32, u32)>) -> String {
    line_col
        .map(|(l, c)| format!(" (narrative line {l}, column {c})"))
        .unwrap_or_default()
}

/// Does any object in `v` (resources, contained ones and elements alike) have this `id`?
fn has_id(v: &Json, id: &str) -> bool {
    match &v.kind {
        JsonKind::Object(o) => o
            .iter()
            .any(|(k, x)| (k == "id" && x.as_str() == Some(id)) || has_id(x, id)),
        JsonKind::Array(a) => a.iter().any(|x| has_id(x, id)),
        _ => false,
    }
}
