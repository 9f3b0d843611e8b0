//! Every UK Core and BaRS example in ../shared validated against its base definition and
//! declared profiles. The per-file result (error and warning counts, and the distinct ids of
//! errors) is recorded as an insta snapshot; README discusses the errors that are real
//! defects of the examples. UK Core's example QuestionnaireResponses are checked against its
//! example Questionnaires (BaRS references Questionnaires it does not ship: a warning each).

use std::fmt::Write;

use spfhir_conformance::package::{self, LoadOptions};
use spfhir_element as json;
use spfhir_element::issue::Severity;
use spfhir_validate::{Options, Validator};

#[test]
fn uk_core_and_bars_examples() {
    let (validator, files) = examples();
    let shared = spfhir_testkit::shared_dir();
    let mut report = String::new();
    let (mut clean, mut total) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&shared).unwrap().display().to_string();
        let Ok(res) = json::parse(&text) else {
            writeln!(report, "{rel}: not JSON").unwrap();
            continue;
        };
        if res.get("resourceType").is_none() {
            continue; // API bodies that are not FHIR resources
        }
        total += 1;
        let issues = validator.validate(&res);
        let errors: Vec<&str> = issues
            .iter()
            .filter(|i| i.severity <= Severity::Error)
            .map(|i| i.id)
            .collect();
        let warnings = issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
            .count();
        if errors.is_empty() {
            clean += 1;
        }
        let mut ids: Vec<&str> = errors.clone();
        ids.sort();
        ids.dedup();
        writeln!(
            report,
            "{rel}: {} errors {ids:?}, {warnings} warnings",
            errors.len()
        )
        .unwrap();
    }
    writeln!(report, "\n{clean} of {total} examples have no errors").unwrap();
    insta::assert_snapshot!(report);
}

/// The validator (with UK Core's example Questionnaires loaded) and every example file.
fn examples() -> (Validator, Vec<std::path::PathBuf>) {
    let shared = spfhir_testkit::shared_dir();
    // The example Questionnaires are loaded as `--load` would, so each example
    // QuestionnaireResponse is checked against its Questionnaire too.
    let questionnaires: Vec<_> = spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples"))
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("UKCore-Questionnaire-"))
        })
        .collect();
    assert_eq!(questionnaires.len(), 3, "UK Core's example Questionnaires");
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![shared.join("fhir")],
            load: questionnaires,
            ..Default::default()
        })
        .unwrap(),
    );
    let validator = Validator::new(reg.clone(), Options::default());
    let mut files = spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(spfhir_testkit::json_files(
        &shared.join("fhir/bars/examples"),
    ));
    files.extend(spfhir_testkit::json_files(&shared.join(
        "fhir/bars/simplifier-package-uk.nhsdigital.bars.r4-1.35.0/examples",
    )));
    assert!(files.len() > 200, "only {} examples", files.len());
    (validator, files)
}

/// Each example written as FHIR XML validates as its JSON does: the same issues (id,
/// severity, FHIRPath), with no XML-form problems. Examples whose JSON puts an array where
/// the definition has one value (or the reverse) are left out: XML cannot carry that, and
/// the JSON's own STRUCTURE error says so.
#[test]
fn xml_forms_of_the_examples_give_the_same_issues() {
    let (validator, files) = examples();
    let key = |i: &spfhir_element::issue::Issue| (i.id, i.severity, i.expression.clone());
    let (mut same, mut skipped) = (0, 0);
    let mut differ = Vec::new();
    for f in &files {
        let Ok(res) = json::parse(&std::fs::read_to_string(f).unwrap()) else {
            continue;
        };
        if res.get("resourceType").is_none() {
            continue;
        }
        let from_json = validator.validate(&res);
        if from_json.iter().any(|i| i.id.starts_with("STRUCTURE_")) {
            skipped += 1;
            continue;
        }
        let xml = spfhir_xml::write(&res, validator.model());
        let from_xml = validator.validate_text(&xml);
        let mut a: Vec<_> = from_json.iter().map(key).collect();
        let mut b: Vec<_> = from_xml.iter().map(key).collect();
        a.sort();
        b.sort();
        if a == b {
            same += 1;
        } else {
            differ.push(format!("{}:\n  json {a:?}\n  xml  {b:?}", f.display()));
        }
        // Every XML issue has a line and column in the XML text.
        assert!(
            from_xml
                .iter()
                .all(|i| i.pos.is_none() || i.line_col.is_some())
        );
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(
        same > 200 && skipped < same / 10,
        "{same} the same, {skipped} skipped"
    );
}
