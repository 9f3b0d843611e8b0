use spfhir_element::{self as json, Json, Kind};

use crate::{canonical, canonical_loose, model};

/// The FHIRPath suite ships each input in both forms: reading the XML gives the JSON twin.
#[test]
fn fhirpath_suite_inputs_read_as_their_json_twins() {
    let dir = spfhir_testkit::shared_dir().join("fhirpath-tests");
    let xmls = spfhir_testkit::files_with_extension(&dir, "xml");
    let mut checked = 0;
    for xml_path in xmls {
        let json_path = xml_path.with_extension("json");
        if !json_path.exists() {
            continue; // the suite's own test list
        }
        let xml = std::fs::read_to_string(&xml_path).unwrap();
        let parsed = spfhir_xml::parse(&xml, model()).unwrap();
        // The suite's Observation has its extension after `status` (edited by hand): the
        // one XML-form problem in these files, and a real one.
        let problems: Vec<_> = parsed
            .issues
            .iter()
            .map(|i| (i.id, i.expression.clone()))
            .collect();
        let expected = if xml_path.ends_with("observation-example.xml") {
            vec![("XML_ORDER", Some("Observation.extension[0]".to_string()))]
        } else {
            vec![]
        };
        assert_eq!(problems, expected, "{}", xml_path.display());
        let twin = json::parse(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        assert_eq!(
            canonical(&parsed.resource),
            canonical(&twin),
            "{}",
            xml_path.display()
        );
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} twins");
}

/// JSON → XML → JSON gives every UK Core and BaRS example back, and the XML has no
/// XML-form problems.
#[test]
fn every_example_survives_xml_and_back() {
    let shared = spfhir_testkit::shared_dir();
    let mut files = spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(spfhir_testkit::json_files(
        &shared.join("fhir/bars/examples"),
    ));
    files.extend(spfhir_testkit::json_files(&shared.join(
        "fhir/bars/simplifier-package-uk.nhsdigital.bars.r4-1.35.0/examples",
    )));
    let mut checked = 0;
    let mut differ = Vec::new();
    for f in &files {
        let Ok(original) = json::parse(&std::fs::read_to_string(f).unwrap()) else {
            continue;
        };
        if original.get("resourceType").is_none() {
            continue;
        }
        let xml = spfhir_xml::write(&original, model());
        let parsed = spfhir_xml::parse(&xml, model())
            .unwrap_or_else(|e| panic!("{}: {e}\n{xml}", f.display()));
        assert!(
            parsed.issues.is_empty(),
            "{}: {:?}\n{xml}",
            f.display(),
            parsed.issues
        );
        if canonical(&parsed.resource) != canonical(&original) {
            // XML cannot say "a list of one" or "one, not a list": only where the example
            // itself gives an array for a single element, or one value for a list (which
            // the validator reports on the JSON), may the two differ, and only so.
            assert_eq!(
                canonical_loose(&parsed.resource),
                canonical_loose(&original),
                "{}",
                f.display()
            );
            let ty = original.get("resourceType").and_then(Json::as_str).unwrap();
            assert!(
                shape_defect(&original, ty),
                "{}: differs, yet every array is where the definitions allow one",
                f.display()
            );
            differ.push(f.strip_prefix(&shared).unwrap().display().to_string());
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} examples");
    // Today: BaRS Endpoint, HealthcareService, DocumentReference, CapabilityStatement and
    // search-result bodies with such defects.
    assert!(differ.len() < checked / 10, "{}", differ.join("\n"));
}

/// Does `j` (of type `ty`) hold an array where its definition allows one value, or one
/// value where it defines a list, at any depth? Members the model does not know count too
/// (XML cannot say whether they were arrays).
fn shape_defect(j: &Json, ty: &str) -> bool {
    let Kind::Object(o) = &j.kind else {
        return false;
    };
    o.members.iter().any(|m| {
        let name = m.key.trim_start_matches('_');
        if name == "resourceType" {
            return false;
        }
        let found = spfhir_xml::element_of(model(), ty, name).map(|(_, many, t)| (many, t));
        let Some((many, child_ty)) = found else {
            return true;
        };
        let items: Vec<&Json> = match &m.value.kind {
            Kind::Array(a) => {
                if !many {
                    return true;
                }
                a.iter().collect()
            }
            _ => {
                if many {
                    return true;
                }
                vec![&m.value]
            }
        };
        let child_ty = child_ty.map(|t| t.to_string()).unwrap_or_default();
        items.into_iter().any(|v| {
            let inner = if child_ty == "Resource" {
                v.get("resourceType")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string()
            } else if m.key.starts_with('_') {
                "Element".to_string()
            } else {
                child_ty.clone()
            };
            shape_defect(v, &inner)
        })
    })
}
