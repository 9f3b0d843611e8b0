//! Package loading over ../shared/fhir: discovery, dependencies, canonical resolution, the
//! unpack/scan cache and its invalidation, and the error for a missing R4 core.

use std::path::PathBuf;

use spfhir_conformance::package::{self, LoadOptions, PackageError};

fn shared_fhir() -> PathBuf {
    spfhir_testkit::shared_dir().join("fhir")
}

fn load_shared() -> package::Registry {
    package::load(&LoadOptions {
        package_path: vec![shared_fhir()],
        ..Default::default()
    })
    .expect("../shared/fhir loads")
}

#[test]
fn finds_every_package_and_loose_folder_in_shared() {
    let reg = load_shared();
    let labels: Vec<String> = reg.packages().iter().map(|p| p.label()).collect();
    for want in [
        "spfhir.sp#0.1.0",
        "hl7.fhir.r4.core#4.0.1",
        "hl7.terminology.r4#7.0.1",
        "uk.nhsdigital.bars.r4#1.35.0",
    ] {
        assert!(labels.iter().any(|l| l == want), "{want} not in {labels:?}");
    }
    for folder in ["structuredefinitions", "valuesets", "codesystems"] {
        assert!(
            labels
                .iter()
                .any(|l| l.ends_with(&format!("uk-core/{folder}"))),
            "uk-core/{folder} not in {labels:?}"
        );
    }
    // Examples are not conformance resources and are never indexed.
    assert!(!labels.iter().any(|l| l.contains("examples")));
    let r4 = reg
        .packages()
        .iter()
        .find(|p| p.label() == "hl7.fhir.r4.core#4.0.1")
        .unwrap();
    assert!(
        r4.resources > 3000,
        "R4 core indexed {} resources",
        r4.resources
    );
}

#[test]
fn resolves_canonicals_with_and_without_version() {
    let reg = load_shared();
    let patient = reg
        .resolve("http://hl7.org/fhir/StructureDefinition/Patient")
        .unwrap();
    assert_eq!(
        patient.get("type").and_then(|t| t.as_str()),
        Some("Patient")
    );
    let versioned = reg
        .resolve("http://hl7.org/fhir/StructureDefinition/Patient|4.0.1")
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&patient, &versioned));
    assert!(
        reg.resolve("http://hl7.org/fhir/StructureDefinition/Patient|9.9.9")
            .is_none()
    );
    assert!(
        reg.resolve("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")
            .is_some()
    );
    assert!(
        reg.resolve("https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage")
            .is_some()
    );
    assert!(
        reg.resolve("https://spfhir.org/fhir/StructureDefinition/sp-referral")
            .is_some()
    );
    assert!(
        reg.resolve("http://terminology.hl7.org/CodeSystem/v3-RoleCode")
            .is_some()
    );
    let e = reg
        .entry("http://hl7.org/fhir/ValueSet/administrative-gender")
        .unwrap();
    assert_eq!(e.resource_type, "ValueSet");
}

/// R4 core carries 2019 copies of many terminology.hl7.org code systems, dated
/// (`2018-08-12`), where HL7's terminology package has the current ones, numbered
/// (`3.0.0`): the package's copy is the one found, whatever the version strings say, and
/// an explicit version still finds core's. v3-CalendarCycle has 3 codes in core, 27 in THO.
#[test]
fn terminology_package_copies_win_over_r4_core_copies() {
    let reg = load_shared();
    let url = "http://terminology.hl7.org/CodeSystem/v3-CalendarCycle";
    let cs = reg.resolve(url).unwrap();
    assert_eq!(cs.get("version").and_then(|v| v.as_str()), Some("3.0.0"));
    let count = |cs: &spfhir_element::Json| {
        cs.get("concept")
            .and_then(|c| c.as_array())
            .map_or(0, |c| c.len())
    };
    assert_eq!(count(&cs), 27);
    let core = reg.resolve(&format!("{url}|2018-08-12")).unwrap();
    assert_eq!(count(&core), 3);
    // A name only R4 core has is still found.
    assert!(
        reg.resolve("http://hl7.org/fhir/ValueSet/administrative-gender")
            .is_some()
    );
}

/// NamingSystem `uri` ids are gathered on the first lookup; a NamingSystem loaded after that
/// (`--load`, a server's upload) is known too, and one that is not loaded is not.
#[test]
fn naming_system_uris_include_those_loaded_after_the_first_lookup() {
    let mut reg = load_shared();
    assert!(reg.knows_uri("http://hl7.org/fhir/sid/us-ssn"));
    let uri = "http://hl7.org/fhir/sid/spfhir-test-only";
    assert!(!reg.knows_uri(uri));
    let ns = spfhir_element::parse(&format!(
        r#"{{"resourceType": "NamingSystem", "name": "T", "status": "active", "kind": "identifier",
            "date": "2026-12-01", "uniqueId": [{{"type": "uri", "value": "{uri}"}}]}}"#
    ))
    .unwrap();
    reg.add_resource(ns, "test");
    assert!(reg.knows_uri(uri));
}

#[test]
fn missing_dependencies_are_named_with_who_needs_them_and_where_we_looked() {
    let reg = load_shared();
    let note = reg
        .notes
        .iter()
        .find(|n| n.contains("uk.nhsdigital.r4#2.5.0"))
        .unwrap_or_else(|| panic!("no note for BaRS's dependency in {:?}", reg.notes));
    assert!(
        note.contains("needed by uk.nhsdigital.bars.r4#1.35.0"),
        "{note}"
    );
    assert!(
        note.contains(&shared_fhir().display().to_string()),
        "{note}"
    );
}

#[test]
fn missing_r4_core_is_an_error_naming_the_places_looked() {
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-package-path");
    std::fs::create_dir_all(&empty).unwrap();
    let err = package::load(&LoadOptions {
        package_path: vec![empty.clone()],
        ..Default::default()
    })
    .err()
    .expect("no R4 core there");
    assert!(matches!(err, PackageError::Missing { .. }));
    let text = err.to_string();
    assert!(text.contains("hl7.fhir.r4.core#4.0.1"), "{text}");
    assert!(text.contains(&empty.display().to_string()), "{text}");
}

#[test]
fn a_changed_package_is_reindexed() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("changing-package");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vs =
        |url: &str| format!(r#"{{"resourceType":"ValueSet","url":"{url}","status":"active"}}"#);
    std::fs::write(dir.join("vs.json"), vs("http://example.org/a")).unwrap();
    let load = || {
        package::load(&LoadOptions {
            package_path: vec![shared_fhir().join("r4-core"), dir.clone()],
            ..Default::default()
        })
        .unwrap()
    };
    assert!(load().resolve("http://example.org/a").is_some());
    // Same name, new content and size: the cached scan must not be reused.
    std::fs::write(dir.join("vs.json"), vs("http://example.org/bb")).unwrap();
    let reg = load();
    assert!(reg.resolve("http://example.org/a").is_none());
    assert!(reg.resolve("http://example.org/bb").is_some());
}

#[test]
fn loose_files_and_bundles_load_with_load() {
    let bundle = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("loose-bundle.json");
    std::fs::write(
        &bundle,
        r#"{"resourceType":"Bundle","type":"collection","entry":[
            {"resource":{"resourceType":"CodeSystem","url":"http://example.org/cs","version":"2","status":"active","content":"complete"}},
            {"resource":{"resourceType":"Questionnaire","url":"http://example.org/q","status":"active"}}]}"#,
    )
    .unwrap();
    let reg = package::load(&LoadOptions {
        package_path: vec![shared_fhir().join("r4-core")],
        load: vec![bundle],
        ..Default::default()
    })
    .unwrap();
    assert!(reg.resolve("http://example.org/cs|2").is_some());
    assert!(reg.resolve("http://example.org/q").is_some());
}
