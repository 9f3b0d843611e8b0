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

/// Ids the validator emits that no corpus case can produce, each with the test that does.
const PRODUCED_ELSEWHERE: &[(&str, &str)] = &[(
    "VALIDATION_TIME_LIMIT",
    "needs a time limit, which a corpus case cannot set: engine.rs `a_resource_past_its_time_limit_is_stopped_and_said_to_be_unchecked` and tests/cli/basics.rs",
)];

/// Every message id the validator, the JSON parser or the XML reader can emit (by
/// `conformance/messages.md`'s "where" column) is the expected id of at least one case, so
/// each has an input that produces it and a snapshot of its wording.
#[test]
fn every_validator_message_id_has_a_case() {
    let root = spfhir_testkit::workspace_root();
    let catalogue = std::fs::read_to_string(root.join("conformance/messages.md")).unwrap();
    let validator_ids: Vec<&str> = catalogue
        .lines()
        .filter_map(
            |l| match l.split('|').map(str::trim).collect::<Vec<_>>()[..] {
                ["", id, _, _, "validate" | "XML input" | "parse", ..] => Some(id),
                _ => None,
            },
        )
        .collect();
    assert!(
        validator_ids.len() > 90,
        "only {} ids read",
        validator_ids.len()
    );
    let cases: std::collections::BTreeSet<String> =
        std::fs::read_dir(root.join("conformance/validate/cases"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.split_once("--").map(|(id, _)| id.to_string())
            })
            .collect();
    let missing: Vec<&str> = validator_ids
        .iter()
        .copied()
        .filter(|id| !cases.contains(*id))
        .filter(|id| !PRODUCED_ELSEWHERE.iter().any(|(e, _)| e == id))
        .collect();
    assert!(
        missing.is_empty(),
        "message ids with no case in conformance/validate/cases: {missing:?}"
    );
    for (id, _) in PRODUCED_ELSEWHERE {
        assert!(
            validator_ids.contains(id),
            "{id} is listed but not in the catalogue"
        );
    }
}
