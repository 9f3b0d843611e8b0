//! The server-ready engine: reloading packages while validations are in flight, and caches
//! that stay bounded whatever the instances name.

use std::sync::Arc;

use spfhir_conformance::package::{self, LoadOptions, Registry};
use spfhir_validate::{CacheSizes, Engine, Options, Validator};

use crate::registry;

fn case(name: &str) -> String {
    let path = spfhir_testkit::workspace_root()
        .join("conformance/validate/cases")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn ids(v: &Validator, text: &str) -> Vec<&'static str> {
    v.validate_text(text).iter().map(|i| i.id).collect()
}

#[test]
fn a_reload_is_atomic_and_work_in_flight_keeps_its_packages() {
    let qr = case("QR_ITEM_DISABLED--qr-rules-enable-when-answered.json");
    let engine = Engine::new(Validator::new(registry(false), Options::default()));
    let in_flight = engine.validator();
    assert!(ids(&in_flight, &qr).contains(&"QR_QUESTIONNAIRE_UNKNOWN"));

    let old = engine.reload(Validator::new(registry(true), Options::default()));
    assert!(Arc::ptr_eq(&old, &in_flight));
    // New work sees the new packages (the Questionnaire is now loaded)…
    let now = ids(&engine.validator(), &qr);
    assert!(now.contains(&"QR_ITEM_DISABLED"), "{now:?}");
    assert!(!now.contains(&"QR_QUESTIONNAIRE_UNKNOWN"), "{now:?}");
    // …and the validation that started before the reload still runs on the old set.
    assert!(ids(&in_flight, &qr).contains(&"QR_QUESTIONNAIRE_UNKNOWN"));
    drop(old);
    assert_eq!(
        Arc::strong_count(&in_flight),
        1,
        "the engine no longer holds the old set"
    );
}

#[test]
fn instances_cannot_fill_the_caches_with_urls_of_their_choosing() {
    let v = Validator::new(registry(false), Options::default());
    let profiles: Vec<String> = (0..10_000)
        .map(|i| format!("\"https://example.org/StructureDefinition/p{i}\""))
        .collect();
    let codings: Vec<String> = (0..2_000)
        .map(|i| format!(r#"{{"system":"https://example.org/cs/{i}","code":"x"}}"#))
        .collect();
    let text = format!(
        r#"{{"resourceType":"Observation","meta":{{"profile":[{}]}},"status":"final","code":{{"coding":[{}]}}}}"#,
        profiles.join(","),
        codings.join(",")
    );
    let issues = v.validate_text(&text);
    let unknown = issues.iter().filter(|i| i.id == "PROFILE_UNKNOWN").count();
    assert_eq!(unknown, 10_000, "each unknown profile is still reported");
    let held = v.cached();
    assert!(held.profiles < 200, "{held:?}");
    assert!(held.snapshots < 200, "{held:?}");
    assert!(held.code_systems < 50, "{held:?}");
    assert!(held.value_sets < 200, "{held:?}");
}

#[test]
fn tiny_caches_give_the_same_results() {
    let reg = registry(true);
    let roomy = Validator::new(reg.clone(), Options::default());
    let tiny = Validator::new(
        reg,
        Options {
            cache: CacheSizes {
                profiles: 3,
                snapshots: 3,
                value_sets: 2,
                code_systems: 2,
                expressions: 4,
                regexes: 1,
            },
            ..Default::default()
        },
    );
    let dir = spfhir_testkit::workspace_root().join("conformance/validate/cases");
    let cases = spfhir_testkit::json_files(&dir);
    assert!(cases.len() > 50);
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let (a, b) = (roomy.validate_text(&text), tiny.validate_text(&text));
        assert_eq!(a, b, "{}", path.display());
    }
    let held = tiny.cached();
    assert!(held.profiles <= 3 && held.snapshots <= 3, "{held:?}");
}

#[test]
fn the_engine_can_live_in_a_servers_shared_state() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Validator>();
    shareable::<Engine>();
    shareable::<Arc<Registry>>();
}

/// spfhir's own profiles are built in, so they are always known: with R4 core alone, a
/// profile of ours is reported as needing UK Core, never as unknown.
#[test]
fn built_in_profiles_are_known_with_r4_core_alone() {
    let reg = package::load(&LoadOptions {
        package_path: vec![
            spfhir_testkit::shared_dir().join("fhir/r4-core/hl7.fhir.r4.core-4.0.1.tgz"),
        ],
        ..Default::default()
    })
    .unwrap();
    let v = Validator::new(Arc::new(reg), Options::default());
    let text = r#"{"resourceType":"ServiceRequest","meta":{"profile":["https://spfhir.org/fhir/StructureDefinition/sp-referral"]},"status":"active","intent":"plan","subject":{"reference":"Patient/1"}}"#;
    let issues = v.validate_text(text);
    let about: Vec<String> = issues
        .iter()
        .filter(|i| i.id.starts_with("PROFILE_"))
        .map(|i| format!("{}: {}", i.id, i.message))
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(about[0].starts_with("PROFILE_NEEDS_UNKNOWN: profile https://spfhir.org/fhir/StructureDefinition/sp-referral builds on https://fhir.hl7.org.uk/StructureDefinition/UKCore-ServiceRequest"), "{about:#?}");
}

/// A Bundle of `n` Patients, each with a few elements to walk.
fn big_bundle(n: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"fullUrl":"urn:uuid:00000000-0000-4000-8000-{i:012}","resource":{{"resourceType":"Patient","name":[{{"family":"F","given":["G"]}}],"gender":"unknown","birthDate":"1950-01-01"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[{}]}}"#,
        entries.join(",")
    )
}

#[test]
fn a_resource_past_its_time_limit_is_stopped_and_said_to_be_unchecked() {
    let text = big_bundle(5_000);
    let limited = |limit| {
        Validator::new(
            registry(false),
            Options {
                max_time_per_resource: limit,
                ..Options::default()
            },
        )
    };
    // A zero limit: the walk stops at its first look at the clock and says so, once.
    let issues = limited(Some(std::time::Duration::ZERO)).validate_text(&text);
    let stopped: Vec<_> = issues
        .iter()
        .filter(|i| i.id == "VALIDATION_TIME_LIMIT")
        .collect();
    assert_eq!(stopped.len(), 1, "{issues:?}");
    assert_eq!(stopped[0].expression.as_deref(), Some("Bundle"));
    assert!(spfhir_validate::has_errors(&issues));
    // No limit, and the default one: the whole Bundle is checked, and it is valid.
    for v in [
        limited(None),
        Validator::new(registry(false), Options::default()),
    ] {
        let issues = v.validate_text(&text);
        assert!(!spfhir_validate::has_errors(&issues), "{issues:?}");
    }
    // The limit is per resource: the next one starts with its whole allowance.
    let v = limited(Some(std::time::Duration::from_secs(60)));
    assert!(
        v.validate_text(&big_bundle(10))
            .iter()
            .all(|i| i.id != "VALIDATION_TIME_LIMIT")
    );
}

#[test]
fn isolated_validation_gives_the_same_issues_on_its_own_thread() {
    let v = Validator::new(registry(true), Options::default());
    for name in [
        "INVARIANT--period-end-before-start.json",
        "XHTML_ACTIVE_CONTENT--script.json",
        "QR_ITEM_DISABLED--qr-rules-enable-when-answered.json",
    ] {
        let text = case(name);
        assert_eq!(
            format!("{:?}", v.validate_text(&text)),
            format!("{:?}", v.validate_text_isolated(&text)),
            "{name}"
        );
    }
}

/// Profiles given for the run (`--profile`, `$validate?profile=`) apply to the resource
/// validated, not to the resources inside it: a Bundle checked against a Patient profile
/// is the wrong type, and the Patients it carries are not held to that profile.
#[test]
fn profiles_given_for_the_run_apply_to_the_top_resource_only() {
    let with_gender =
        "https://spfhir.org/fhir/test/StructureDefinition/test-patient-with-gender".to_string();
    let v = Validator::new(registry(true), Options::default());
    let patient = r#"{"resourceType": "Patient", "id": "p1", "active": true}"#;
    let bundle = format!(
        r#"{{"resourceType": "Bundle", "type": "collection",
            "entry": [{{"fullUrl": "https://example.org/fhir/Patient/p1", "resource": {patient}}}]}}"#
    );
    let on = |text: &str| -> Vec<&'static str> {
        v.validate_against(
            &spfhir_element::parse(text).unwrap(),
            std::slice::from_ref(&with_gender),
        )
        .iter()
        .filter(|i| i.is_error())
        .map(|i| i.id)
        .collect()
    };
    assert_eq!(
        on(patient),
        ["CARDINALITY_MIN"],
        "the Patient itself lacks gender"
    );
    assert_eq!(
        on(&bundle),
        ["PROFILE_WRONG_TYPE"],
        "only the Bundle is held to it"
    );
}
