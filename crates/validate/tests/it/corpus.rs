//! The negative corpus in `conformance/validate/cases/`: each file is an input whose name
//! says the message id it must produce (`ID--what.json`; `VALID--…` must have no errors).
//! The full OperationOutcome of each is an insta snapshot in `conformance/validate/expected/`,
//! next to the inputs, so a change in any message shows in review. `conformance/validate/load/`
//! holds resources the cases need beyond the packages (loaded as `--load` does).

use spfhir_element::issue::{Severity, operation_outcome};
use spfhir_validate::{Options, Validator};

#[test]
fn every_case_gives_its_message_and_snapshot() {
    let dir = spfhir_testkit::workspace_root().join("conformance/validate");
    let validator = Validator::new(crate::registry(true), Options::default());
    let mut cases: Vec<_> = std::fs::read_dir(dir.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "xml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 35, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let (want, _) = name.split_once("--").expect("cases are named ID--what");
        let text = std::fs::read_to_string(case).unwrap();
        let issues = validator.validate_text(&text);
        let errors: Vec<&str> = issues
            .iter()
            .filter(|i| i.severity <= Severity::Error)
            .map(|i| i.id)
            .collect();
        if want == "VALID" {
            if !errors.is_empty() {
                failures.push(format!("{name}: expected no errors, got {errors:?}"));
            }
        } else if !issues.iter().any(|i| i.id == want) {
            let got: Vec<&str> = issues.iter().map(|i| i.id).collect();
            failures.push(format!("{name}: expected {want}, got {got:?}"));
        }
        insta::with_settings!({
            snapshot_path => dir.join("expected"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.clone(), operation_outcome(&issues).to_pretty());
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
