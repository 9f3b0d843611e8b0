//! spfhir-xml's tests: the FHIRPath suite's XML inputs against their JSON twins, JSON → XML
//! → JSON over every UK Core and BaRS example, the XML-only problems, and hostile input.

use std::sync::OnceLock;

use spfhir_element::{Json, Kind};
use spfhir_fhirpath::model::Model;

mod issues;
mod round_trip;

pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core")).unwrap()
    })
}

/// The tree as compact JSON with every object's members sorted by name (JSON's member
/// order is free; XML's follows the definitions), and narratives with whitespace collapsed
/// (the twins' converter re-serialised them).
pub fn canonical(j: &Json) -> String {
    canon(j, false)
}

/// [`canonical`], with every one-item array taken as its item: what remains when the
/// difference between one value and a list of one is set aside.
pub fn canonical_loose(j: &Json) -> String {
    canon(j, true)
}

fn canon(j: &Json, loose: bool) -> String {
    match &j.kind {
        Kind::Array(a) if loose && a.len() == 1 => canon(&a[0], loose),
        Kind::Object(o) => {
            let mut m: Vec<(String, String)> = o
                .members
                .iter()
                .map(|m| {
                    let v = if m.key == "div" {
                        format!("{:?}", collapse(m.value.as_str().unwrap_or_default()))
                    } else {
                        canon(&m.value, loose)
                    };
                    (m.key.to_string(), v)
                })
                .collect();
            m.sort();
            let inner: Vec<String> = m.into_iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        Kind::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| canon(x, loose))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => j.to_compact(),
    }
}

/// A narrative as its elements, attributes and text, whitespace collapsed: how it is
/// escaped or spaced is not what the two forms must agree on.
fn collapse(s: &str) -> String {
    let Ok(doc) = roxmltree::Document::parse(s) else {
        return s.split_whitespace().collect::<Vec<_>>().join(" ");
    };
    let mut out = String::new();
    for n in doc.descendants() {
        if n.is_element() {
            out.push_str(&format!("<{}", n.tag_name().name()));
            for a in n.attributes() {
                out.push_str(&format!(" {}={:?}", a.name(), a.value()));
            }
            out.push('>');
        } else if let Some(t) = n.text() {
            out.push_str(&t.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}
