//! Narratives: an `xhtml` value against R4's narrative rules (txt-1, txt-2), one issue per
//! broken rule, from the `spfhir-xhtml` crate.

use super::*;
use spfhir_element::msg::{self, Msg};
use spfhir_xhtml::Kind;

impl<'a> Walk<'a> {
    pub(super) fn narrative(&mut self, text: &str, at: &str, v: &'a Json) {
        for p in spfhir_xhtml::check(text) {
            let m: Msg = match p.kind {
                Kind::Syntax => msg::XHTML_SYNTAX,
                Kind::Namespace => msg::XHTML_NAMESPACE,
                Kind::Element => msg::XHTML_ELEMENT,
                Kind::Attribute => msg::XHTML_ATTRIBUTE,
                Kind::ActiveContent => msg::XHTML_ACTIVE_CONTENT,
                Kind::Empty => msg::XHTML_EMPTY,
            };
            let place = p
                .line_col
                .map(|(l, c)| format!(" (narrative line {l}, column {c})"))
                .unwrap_or_default();
            self.error(m, at, v, format!("{at}: {}{place}", p.message));
        }
    }
}
