//! The invariant fast path (`fhirpath::fast`) against the general FHIRPath evaluator: every
//! UK Core and BaRS example, every corpus case and every translation fixture validates to
//! exactly the same issues either way.

mod common;

use std::path::Path;

use spfhir::json;
use spfhir::package::{self, LoadOptions};
use spfhir::validate::{Options, Validator};

#[test]
fn fast_and_general_invariants_agree() {
    let shared = common::shared_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reg = package::load(&LoadOptions {
        package_path: vec![shared.join("fhir")],
        load: vec![root.join("conformance/validate/load")],
        ..Default::default()
    })
    .unwrap();
    let fast = Validator::new(&reg, Options::default());
    let general = Validator::new(
        &reg,
        Options {
            general_invariants_only: true,
            ..Default::default()
        },
    );
    let mut files = common::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(common::json_files(&shared.join("fhir/bars")));
    files.extend(common::json_files(&root.join("conformance/validate/cases")));
    let (mut compared, mut invariant_issues) = (0, 0);
    for f in &files {
        let Ok(res) = json::parse(&std::fs::read_to_string(f).unwrap()) else {
            continue;
        };
        if res.get("resourceType").is_none() {
            continue;
        }
        let a = fast.validate(&res);
        let b = general.validate(&res);
        assert_eq!(a, b, "{}", f.display());
        compared += 1;
        invariant_issues += a.iter().filter(|i| i.id == "INVARIANT").count();
    }
    assert!(compared > 300, "only {compared} files compared");
    // The comparison covers failing invariants too, not only passing ones.
    assert!(
        invariant_issues > 20,
        "only {invariant_issues} invariant issues"
    );
}

/// The walk's skips (a datatype already walked under the same object, a profile's elements
/// that repeat the base definition) change nothing: every UK Core and BaRS example and
/// every corpus case validates to exactly the issues of a full walk through every profile.
#[test]
fn skipped_repeats_change_no_result() {
    let shared = common::shared_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reg = package::load(&LoadOptions {
        package_path: vec![shared.join("fhir")],
        load: vec![root.join("conformance/validate/load")],
        ..Default::default()
    })
    .unwrap();
    let skipping = Validator::new(&reg, Options::default());
    let full = Validator::new(
        &reg,
        Options {
            no_skips: true,
            ..Default::default()
        },
    );
    let mut files = common::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(common::json_files(&shared.join("fhir/bars")));
    files.extend(common::json_files(&root.join("conformance/validate/cases")));
    let (mut compared, mut profiled, mut errors) = (0, 0, 0);
    for f in &files {
        let Ok(res) = json::parse(&std::fs::read_to_string(f).unwrap()) else {
            continue;
        };
        if res.get("resourceType").is_none() {
            continue;
        }
        let a = skipping.validate(&res);
        assert_eq!(a, full.validate(&res), "{}", f.display());
        compared += 1;
        profiled += usize::from(res.get("meta").and_then(|m| m.get("profile")).is_some());
        errors += usize::from(spfhir::validate::has_errors(&a));
    }
    assert!(compared > 300, "only {compared} files compared");
    // Profiled resources (where the skips happen) and failing ones are both covered.
    assert!(profiled > 100, "only {profiled} profiled resources");
    assert!(errors > 50, "only {errors} files with errors");
}
