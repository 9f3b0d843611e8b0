//! Two ways to the same result, compared on every UK Core and BaRS example and every corpus
//! case: the invariant fast path (`fhirpath::fast`) against the general FHIRPath evaluator,
//! and the walk's skips against a full walk through every profile.

use spfhir_element::issue::Issue;
use spfhir_element::{self as json, Json};
use spfhir_validate::{Options, Validator};

/// Validate every example and corpus case with default options and with `other`, assert the
/// issues are the same, and hand each resource with its issues to `seen`. Returns how many
/// resources were compared.
fn compare_with(other: Options, mut seen: impl FnMut(&Json, &[Issue])) -> usize {
    let shared = spfhir_testkit::shared_dir();
    let root = spfhir_testkit::workspace_root();
    let reg = crate::registry(true);
    let default = Validator::new(reg.clone(), Options::default());
    let other = Validator::new(reg.clone(), other);
    let mut files = spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(spfhir_testkit::json_files(&shared.join("fhir/bars")));
    files.extend(spfhir_testkit::json_files(
        &root.join("conformance/validate/cases"),
    ));
    let mut compared = 0;
    for f in &files {
        let Ok(res) = json::parse(&std::fs::read_to_string(f).unwrap()) else {
            continue;
        };
        if res.get("resourceType").is_none() {
            continue;
        }
        let a = default.validate(&res);
        assert_eq!(a, other.validate(&res), "{}", f.display());
        compared += 1;
        seen(&res, &a);
    }
    compared
}

#[test]
fn fast_and_general_invariants_agree() {
    let mut invariant_issues = 0;
    let compared = compare_with(
        Options {
            general_invariants_only: true,
            ..Default::default()
        },
        |_, issues| invariant_issues += issues.iter().filter(|i| i.id == "INVARIANT").count(),
    );
    assert!(compared > 300, "only {compared} files compared");
    // The comparison covers failing invariants too, not only passing ones.
    assert!(
        invariant_issues > 20,
        "only {invariant_issues} invariant issues"
    );
}

/// The walk's skips (a datatype already walked under the same object, a profile's elements
/// that repeat the base definition) change nothing.
#[test]
fn skipped_repeats_change_no_result() {
    let (mut profiled, mut errors) = (0, 0);
    let compared = compare_with(
        Options {
            no_skips: true,
            ..Default::default()
        },
        |res, issues| {
            profiled += usize::from(res.get("meta").and_then(|m| m.get("profile")).is_some());
            errors += usize::from(spfhir_validate::has_errors(issues));
        },
    );
    assert!(compared > 300, "only {compared} files compared");
    // Profiled resources (where the skips happen) and failing ones are both covered.
    assert!(profiled > 100, "only {profiled} profiled resources");
    assert!(errors > 50, "only {errors} files with errors");
}
