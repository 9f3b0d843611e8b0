//! `memberOf()` against R4 core's ValueSets, offline: a definite answer where the ValueSet
//! can be enumerated from what is loaded, "cannot tell" (empty) where it cannot.

use spfhir_conformance::terminology::Terminology;
use spfhir_element::parse;
use spfhir_fhirpath::eval::BaseServices;
use spfhir_fhirpath::{Compiled, Env, Model, result_json};

#[test]
fn member_of_answers_only_what_it_can_know() {
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    // R4 core alone (not THO), so that some ValueSets cannot be enumerated.
    let registry = crate::r4_core_registry();
    let model = Model::load_r4_core(&r4).unwrap();
    let terminology = Terminology::new(registry.clone());
    assert!(
        registry
            .entries()
            .filter(|e| e.resource_type == "ValueSet")
            .count()
            > 1000
    );
    let patient = parse(
        &std::fs::read_to_string(
            spfhir_testkit::shared_dir().join("fhirpath-tests/patient-example.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let services = BaseServices {
        model: &model,
        terminology: Some(&terminology),
    };
    let mut env = Env::new(&model);
    env.resource = Some(&patient);
    env.services = Some(&services);
    let eval = |x: &str| {
        result_json(&Compiled::new(x).unwrap().evaluate(&patient, &env).unwrap()).to_compact()
    };
    let gender = "http://hl7.org/fhir/ValueSet/administrative-gender";
    // A complete CodeSystem included whole: a definite yes and a definite no.
    assert_eq!(eval(&format!("gender.memberOf('{gender}')")), "[true]");
    assert_eq!(eval(&format!("'xx'.memberOf('{gender}')")), "[false]");
    // A Coding of another system (v2-0131) is not in it.
    assert_eq!(
        eval(&format!(
            "contact.relationship.coding.first().memberOf('{gender}')"
        )),
        "[false]"
    );
    // Its own ValueSet draws on v2-0131, a complete CodeSystem in the R4 core package itself
    // (the package registry reads it; R4 core's valuesets.json alone did not have it).
    let relationship = "http://hl7.org/fhir/ValueSet/patient-contactrelationship";
    assert_eq!(
        eval(&format!("contact.relationship.memberOf('{relationship}')")),
        "[true]"
    );
    assert_eq!(eval(&format!("'ZZ'.memberOf('{relationship}')")), "[false]");
    // SNOMED CT by filter: cannot tell offline.
    let findings = "http://hl7.org/fhir/ValueSet/clinical-findings";
    assert_eq!(eval(&format!("'22298006'.memberOf('{findings}')")), "[]");
    // A ValueSet that is not loaded at all: cannot tell.
    assert_eq!(
        eval("gender.memberOf('http://example.org/ValueSet/nope')"),
        "[]"
    );
}
