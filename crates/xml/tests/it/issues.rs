//! What only the XML form can get wrong: each problem once, with its id, its FHIRPath and
//! a position; and input that must fail cleanly rather than panic or hang.

use proptest::prelude::*;
use spfhir_element::issue::Issue;

use crate::model;

fn issues(xml: &str) -> Vec<Issue> {
    spfhir_xml::parse(xml, model()).unwrap().issues
}

fn one(xml: &str) -> Issue {
    let mut found = issues(xml);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

const NS: &str = r#"xmlns="http://hl7.org/fhir""#;

#[test]
fn elements_out_of_order_are_reported_where_they_are() {
    let xml = format!(r#"<Patient {NS}><gender value="male"/><active value="true"/></Patient>"#);
    let i = one(&xml);
    assert_eq!(i.id, "XML_ORDER");
    assert_eq!(i.expression.as_deref(), Some("Patient.active"));
    assert_eq!(i.pos.unwrap().0 as usize, xml.find("<active").unwrap());
    assert!(i.message.contains("before <gender>"), "{}", i.message);
}

#[test]
fn a_repeat_after_another_element_is_out_of_order() {
    let xml = format!(
        r#"<Patient {NS}><name><family value="A"/></name><gender value="male"/><name><family value="B"/></name></Patient>"#
    );
    let i = one(&xml);
    assert_eq!(i.id, "XML_ORDER");
    assert_eq!(i.expression.as_deref(), Some("Patient.name[1]"));
}

#[test]
fn unknown_attributes_and_text_are_reported() {
    let a = one(&format!(
        r#"<Patient {NS}><active value="true" colour="red"/></Patient>"#
    ));
    assert_eq!(a.id, "XML_ATTRIBUTE");
    assert!(a.message.contains("'colour'") && !a.message.contains("red"));
    let t = one(&format!(
        r#"<Patient {NS}><name>Sam Smith</name></Patient>"#
    ));
    assert_eq!(t.id, "XML_TEXT");
    assert!(!t.message.contains("Sam"), "no patient data: {}", t.message);
    // `id` on an element other than a resource is an attribute; on a resource it is not.
    assert_eq!(
        one(&format!(r#"<Patient {NS} id="x"/>"#)).id,
        "XML_ATTRIBUTE"
    );
    assert!(
        issues(&format!(
            r#"<Patient {NS}><name id="n1"><family value="S"/></name></Patient>"#
        ))
        .is_empty()
    );
}

#[test]
fn namespaces_empty_primitives_and_wrappers() {
    assert_eq!(
        one(r#"<Patient><active value="true"/></Patient>"#).id,
        "XML_NAMESPACE"
    );
    let e = one(&format!(r#"<Patient {NS}><active/></Patient>"#));
    assert_eq!(
        (e.id, e.expression.as_deref()),
        ("XML_EMPTY", Some("Patient.active"))
    );
    let w = one(&format!(
        r#"<Patient {NS}><contained><Basic><code><text value="a"/></code></Basic><Basic><code><text value="b"/></code></Basic></contained></Patient>"#
    ));
    assert_eq!(
        (w.id, w.expression.as_deref()),
        ("XML_WRAPPER", Some("Patient.contained[0]"))
    );
}

#[test]
fn primitives_keep_ids_extensions_and_json_types() {
    let xml = format!(
        r#"<Patient {NS}><active value="true"/><name><given value="A"/><given id="g2"><extension url="http://example.org/x"><valueBoolean value="false"/></extension></given></name><multipleBirthInteger value="2"/></Patient>"#
    );
    let parsed = spfhir_xml::parse(&xml, model()).unwrap();
    assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
    assert_eq!(
        parsed.resource.to_compact(),
        r#"{"resourceType":"Patient","active":true,"name":[{"given":["A",null],"_given":[null,{"id":"g2","extension":[{"url":"http://example.org/x","valueBoolean":false}]}]}],"multipleBirthInteger":2}"#
    );
}

#[test]
fn not_xml_and_dtds_fail_with_a_position() {
    let e = spfhir_xml::parse(
        "<Patient xmlns=\"http://hl7.org/fhir\">\n  <active value=\"true\">\n</Patient>",
        model(),
    )
    .unwrap_err();
    assert_eq!(e.line_col.line, 3, "{e}");
    let dtd = r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><Patient xmlns="http://hl7.org/fhir"/>"#;
    assert!(spfhir_xml::parse(dtd, model()).is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 5_000;
    let xml = format!(
        "<Patient {NS}>{}{}</Patient>",
        "<extension url=\"http://example.org/x\">".repeat(depth),
        "</extension>".repeat(depth)
    );
    let e = spfhir_xml::parse(&xml, model()).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any text, and any cut or splice of a real resource, reads or fails without a panic.
    #[test]
    fn hostile_text_never_panics(s in "\\PC{0,200}", cut in 0usize..400, junk in "[<>/=\"a-z &;]{0,8}") {
        let _ = spfhir_xml::parse(&s, model());
        let base = format!(
            r#"<Bundle {NS}><type value="collection"/><entry><resource><Patient><name><given value="A"/></name></Patient></resource></entry></Bundle>"#
        );
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.len()).unwrap_or(0);
        let spliced = format!("{}{junk}{}", &base[..at], &base[at..]);
        let _ = spfhir_xml::parse(&spliced, model());
    }
}

#[test]
fn booleans_and_numbers_are_checked_in_xml_terms_without_quoting_them() {
    let xml = format!(
        r#"<Patient {NS}><active value="yes"/><multipleBirthInteger value="02"/></Patient>"#
    );
    let found = issues(&xml);
    let ids: Vec<_> = found
        .iter()
        .map(|i| (i.id, i.expression.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            ("TYPE_PRIMITIVE", Some("Patient.active")),
            ("TYPE_PRIMITIVE", Some("Patient.multipleBirthInteger"))
        ]
    );
    assert!(found[0].message.contains("valid boolean") && !found[0].message.contains("yes"));
    assert!(!found[0].message.contains("JSON"));
    // Text in a primitive is one problem, not also an empty primitive.
    let t = issues(&format!(
        r#"<Patient {NS}><gender>female</gender></Patient>"#
    ));
    assert_eq!(t.iter().map(|i| i.id).collect::<Vec<_>>(), ["XML_TEXT"]);
}
