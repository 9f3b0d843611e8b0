//! FHIR R4 XML, in and out, over spfhir's element tree.
//!
//! [`parse`] reads a FHIR XML resource into the same positioned [`Json`] tree the JSON parser
//! builds, so the validator, FHIRPath and the translators see one form whichever the sender
//! used, and issues point at the XML's own lines and columns. The XML alone does not say
//! which elements repeat or which primitives are numbers; the FHIR type model does
//! ([`Model`], built from the loaded StructureDefinitions, never hard-coded). [`write`] is
//! the inverse, in the definitions' element order.
//!
//! ```no_run
//! use spfhir_fhirpath::model::Model;
//!
//! let model = Model::load_r4_core("../shared/fhir/r4-core".as_ref())?;
//! let xml = r#"<Patient xmlns="http://hl7.org/fhir">
//!   <name><given value="Sam"/><given value="Alex"/></name>
//!   <active value="true"/>
//! </Patient>"#;
//! let parsed = spfhir_xml::parse(xml, &model)?;
//! assert!(parsed.issues.is_empty());
//! assert_eq!(
//!     parsed.resource.to_compact(),
//!     r#"{"resourceType":"Patient","name":[{"given":["Sam","Alex"]}],"active":true}"#
//! );
//! // Back to XML, in the definition's order (`active` before `name`).
//! let again = spfhir_xml::write(&parsed.resource, &model);
//! assert!(again.find("<active").unwrap() < again.find("<name").unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invariants: reading never panics and never recurses deeper than
//! [`spfhir_element::MAX_DEPTH`]; a DTD is refused (FHIR forbids one, and it is how XML
//! entity attacks start); messages name elements and attributes, never their values.
#![forbid(unsafe_code)]

use compact_str::CompactString;
use spfhir_fhirpath::model::Model;

mod read;
mod write;

pub use read::{Parsed, parse};
pub use spfhir_element::Json;
pub use write::write;

/// The namespace of every FHIR element.
pub const FHIR_NS: &str = "http://hl7.org/fhir";
/// The namespace of `Narrative.div`.
pub const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Does the text look like XML rather than JSON? Its first character after any byte-order
/// mark and whitespace is `<`.
pub fn looks_like_xml(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
}

/// What the model says element `name` of type `parent` is: its place in the type's order,
/// whether it repeats, and its type (a choice's concrete type: `valueString` is `value[x]`
/// as a `string`).
pub fn element_of(
    model: &Model,
    parent: &str,
    name: &str,
) -> Option<(u32, bool, Option<CompactString>)> {
    if let Some(e) = model.element(parent, name)
        && !e.choice
    {
        return Some((e.order, e.many, e.types.first().cloned()));
    }
    name.char_indices()
        .skip(1)
        .filter(|(_, c)| c.is_ascii_uppercase())
        .find_map(|(i, _)| {
            let (base, suffix) = name.split_at(i);
            let e = model.element(parent, base).filter(|e| e.choice)?;
            let t = e
                .types
                .iter()
                .find(|t| Model::choice_suffix_matches(t, suffix))?;
            Some((e.order, e.many, Some(t.clone())))
        })
}
