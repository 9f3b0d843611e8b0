//! Offline ValueSet expansion: hierarchy and property filters, nested ValueSets, excludes,
//! and "cannot tell" for systems that are not loaded.

use spfhir_conformance::package::{self, LoadOptions};
use spfhir_conformance::terminology::{Membership, Terminology};
use spfhir_element as json;

const RESOURCES: &str = r#"{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"CodeSystem","url":"http://example.org/cs","status":"active","content":"complete",
  "concept":[{"code":"need","concept":[
      {"code":"money","property":[{"code":"urgent","valueBoolean":true}],"concept":[{"code":"debt"},{"code":"rent"}]},
      {"code":"social","concept":[{"code":"lonely"}]}]},
    {"code":"other","property":[{"code":"status","valueCode":"retired"}]}]}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/money","status":"active",
  "compose":{"include":[{"system":"http://example.org/cs","filter":[{"property":"concept","op":"is-a","value":"money"}]}],
             "exclude":[{"system":"http://example.org/cs","concept":[{"code":"rent"}]}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/below-need","status":"active",
  "compose":{"include":[{"system":"http://example.org/cs","filter":[{"property":"concept","op":"descendent-of","value":"need"}]}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/retired","status":"active",
  "compose":{"include":[{"system":"http://example.org/cs","filter":[{"property":"status","op":"=","value":"retired"}]}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/nested","status":"active",
  "compose":{"include":[{"valueSet":["http://example.org/vs/money"]},
                        {"system":"http://snomed.info/sct","concept":[{"code":"73595000"}]}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/mixed","status":"active",
  "compose":{"include":[{"valueSet":["http://example.org/vs/money"]},{"valueSet":["http://example.org/vs/snomed-all"]}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/no-currencies","status":"active",
  "compose":{"include":[{"system":"http://example.org/cs","concept":[{"code":"debt"}]},
                        {"system":"urn:iso:std:iso:4217","concept":[{"code":"GBP"}]},
                        {"system":"urn:ietf:bcp:47"},{"system":"urn:ietf:bcp:47"},{"system":"urn:iso:std:iso:4217"}],
             "exclude":[{"system":"urn:iso:std:iso:4217"}]}}},
 {"resource":{"resourceType":"ValueSet","url":"http://example.org/vs/snomed-all","status":"active",
  "compose":{"include":[{"system":"http://snomed.info/sct","filter":[{"property":"concept","op":"is-a","value":"404684003"}]}]}}}
]}"#;

#[test]
fn expands_offline_and_says_when_it_cannot() {
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("terminology-test.json");
    std::fs::write(&file, RESOURCES).unwrap();
    assert!(json::parse(RESOURCES).is_ok());
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir/r4-core")],
            load: vec![file],
            ..Default::default()
        })
        .unwrap(),
    );
    let t = Terminology::new(reg.clone());
    let cs = Some("http://example.org/cs");
    let m = |vs: &str, code: &str| t.member(&format!("http://example.org/vs/{vs}"), cs, code);
    assert_eq!(m("money", "money"), Membership::Member);
    assert_eq!(m("money", "debt"), Membership::Member);
    assert_eq!(m("money", "rent"), Membership::NotMember, "excluded");
    assert_eq!(m("money", "lonely"), Membership::NotMember);
    assert_eq!(
        m("below-need", "need"),
        Membership::NotMember,
        "descendent-of excludes the root"
    );
    assert_eq!(m("below-need", "lonely"), Membership::Member);
    assert_eq!(m("retired", "other"), Membership::Member);
    assert_eq!(m("retired", "money"), Membership::NotMember);
    assert_eq!(m("nested", "debt"), Membership::Member);
    assert_eq!(
        t.member(
            "http://example.org/vs/nested",
            Some("http://snomed.info/sct"),
            "73595000"
        ),
        Membership::Member,
        "explicitly listed codes are known even from systems not loaded"
    );
    assert_eq!(
        m("nested", "lonely"),
        Membership::NotMember,
        "explicit SNOMED codes keep it enumerable"
    );
    // Excluding a whole grammar system (ISO 4217) removes its listed codes too, and only
    // those; a system included twice whole stays included.
    assert_eq!(m("no-currencies", "debt"), Membership::Member);
    let no_currencies = "http://example.org/vs/no-currencies";
    assert_eq!(
        t.member(no_currencies, Some("urn:iso:std:iso:4217"), "GBP"),
        Membership::NotMember
    );
    assert_eq!(
        t.member(no_currencies, Some("urn:ietf:bcp:47"), "en-GB"),
        Membership::Member
    );
    assert_eq!(m("mixed", "debt"), Membership::Member);
    assert!(
        matches!(m("mixed", "lonely"), Membership::Unknown(_)),
        "part of it is not enumerable"
    );
    match t.member(
        "http://example.org/vs/snomed-all",
        Some("http://snomed.info/sct"),
        "1",
    ) {
        Membership::Unknown(exp) => assert!(
            exp.why_unknown().contains("http://snomed.info/sct"),
            "{}",
            exp.why_unknown()
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.member("http://example.org/vs/missing", cs, "x"),
        Membership::Unknown(_)
    ));
    // R4 core's own: administrative-gender is enumerable.
    let g = "http://hl7.org/fhir/ValueSet/administrative-gender";
    assert_eq!(
        t.member(
            g,
            Some("http://hl7.org/fhir/administrative-gender"),
            "female"
        ),
        Membership::Member
    );
    assert_eq!(
        t.member(g, Some("http://hl7.org/fhir/administrative-gender"), "F"),
        Membership::NotMember
    );
}

/// UCUM is a grammar, not a list: a ValueSet of all of UCUM (R4's `ucum-units`) has every
/// valid unit as a member and nothing else, and UCUM codes exist when they parse.
#[test]
fn all_of_ucum_is_checked_not_enumerated() {
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            ..Default::default()
        })
        .unwrap(),
    );
    let t = Terminology::new(reg);
    let ucum = "http://unitsofmeasure.org";
    let vs = "http://hl7.org/fhir/ValueSet/ucum-units";
    for unit in ["mg/dL", "kg/m2", "[lb_av]", "10*3/uL", "mm[Hg]", "/min"] {
        assert_eq!(t.member(vs, Some(ucum), unit), Membership::Member, "{unit}");
        assert_eq!(t.code_exists(ucum, unit), Some(true), "{unit}");
    }
    for bad in ["kgg", "mg/", "mcg", "", "kg//m"] {
        assert_eq!(
            t.member(vs, Some(ucum), bad),
            Membership::NotMember,
            "{bad}"
        );
        assert_eq!(t.code_exists(ucum, bad), Some(false), "{bad}");
    }
    // Another system is not a member of a UCUM ValueSet.
    assert_eq!(
        t.member(vs, Some("http://example.org/units"), "kg"),
        Membership::NotMember
    );
}
