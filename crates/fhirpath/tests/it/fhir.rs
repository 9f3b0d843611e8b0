//! FHIR additions to FHIRPath beyond the official suite: `resolve()` between Bundle entries and
//! to contained resources, `%rootResource`, and the compiled-expression cache.

use spfhir_element::{Json, parse};
use spfhir_fhirpath::eval::BaseServices;
use spfhir_fhirpath::{Cache, Env, Model, result_json};
use spfhir_translate::{self as translate, BundleKind, WriteOptions};

fn model() -> Model {
    Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core")).unwrap()
}

fn eval(cache: &Cache, x: &str, focus: &Json, env: &Env) -> String {
    result_json(&cache.get(x).unwrap().evaluate(focus, env).unwrap()).to_compact()
}

#[test]
fn resolve_follows_references_between_entries_and_to_contained() {
    let model = model();
    let services = BaseServices {
        model: &model,
        terminology: None,
    };
    let cache = Cache::default();
    let (_, kind, text) = spfhir_testkit::domain_fixtures()
        .into_iter()
        .find(|(n, _, _)| n == "referral.json")
        .unwrap();
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let bundle = translate::domain_json_to_fhir(kind, &text, &opts)
        .unwrap()
        .fhir;
    let mut env = Env::new(&model);
    env.resource = Some(&bundle);
    env.services = Some(&services);
    // From the message header to its focus, then to the patient and on to the NHS number.
    assert_eq!(
        eval(
            &cache,
            "entry.resource.ofType(MessageHeader).focus.resolve().subject.resolve().identifier.value",
            &bundle,
            &env
        ),
        r#"["9434765919"]"#
    );
    assert_eq!(
        eval(
            &cache,
            "entry.resource.ofType(ServiceRequest).requester.resolve().is(PractitionerRole)",
            &bundle,
            &env
        ),
        "[true]"
    );
    // A reference to nothing in the Bundle resolves to nothing.
    let dangling = parse(r#"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient","generalPractitioner":[{"reference":"urn:uuid:missing"}]}}]}"#).unwrap();
    let mut env2 = Env::new(&model);
    env2.resource = Some(&dangling);
    assert_eq!(
        eval(
            &cache,
            "entry.resource.generalPractitioner.resolve()",
            &dangling,
            &env2
        ),
        "[]"
    );

    // Contained: `#id` resolves within %resource.
    let patient = parse(r##"{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o1","name":"Leeds SP"}],"managingOrganization":{"reference":"#o1"}}"##).unwrap();
    let mut env3 = Env::new(&model);
    env3.resource = Some(&patient);
    assert_eq!(
        eval(
            &cache,
            "managingOrganization.resolve().name",
            &patient,
            &env3
        ),
        r#"["Leeds SP"]"#
    );
    assert_eq!(
        eval(&cache, "%rootResource.contained.id", &patient, &env3),
        r#"["o1"]"#
    );
}

#[test]
fn cache_compiles_each_text_once() {
    let cache = Cache::default();
    let a = cache.get("name.given").unwrap();
    let b = cache.get("name.given").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert!(!std::sync::Arc::ptr_eq(
        &a,
        &cache.get("name.family").unwrap()
    ));
    assert_eq!(cache.get("name.(").unwrap_err().offset, 5);
}

#[test]
fn html_checks_applies_the_narrative_rules() {
    let model = model();
    let cache = Cache::default();
    let env = Env::new(&model);
    let patient = |div: &str| {
        let text = serde_json::json!({"resourceType": "Patient", "text": {"status": "generated", "div": div}});
        parse(&text.to_string()).unwrap()
    };
    let ns = r#"xmlns="http://www.w3.org/1999/xhtml""#;
    for (div, want) in [
        (format!("<div {ns}><p>Referred</p></div>"), "[true]"),
        (
            format!("<div {ns}><script>x</script>Referred</div>"),
            "[false]",
        ),
        (
            format!(r#"<div {ns}><p onclick="x">Referred</p></div>"#),
            "[false]",
        ),
        ("<div>Referred</div>".to_owned(), "[false]"),
        (format!("<div {ns}> </div>"), "[false]"),
    ] {
        let p = patient(&div);
        assert_eq!(
            eval(&cache, "text.div.htmlChecks()", &p, &env),
            want,
            "{div}"
        );
    }
    let none = parse(r#"{"resourceType":"Patient"}"#).unwrap();
    assert_eq!(eval(&cache, "text.div.htmlChecks()", &none, &env), "[]");
}

/// R4's own invariants apply `as` to lists and navigate `descendants()` by names only some
/// of its types have (`dom-3`). Strict by default, as the suite requires; `lenient_as` and
/// a lambda over mixed types read them as the HL7 validator does.
#[test]
fn r4_definitions_read_as_and_mixed_lambdas_as_the_hl7_validator_does() {
    let model = model();
    let cache = Cache::default();
    let patient = parse(
        r##"{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o1"}],
            "managingOrganization":{"reference":"#o1"},"name":[{"family":"A"},{"family":"B"}]}"##,
    )
    .unwrap();
    let mut env = Env::new(&model);
    env.resource = Some(&patient);
    let run = |x: &str, env: &Env| {
        cache
            .get(x)
            .unwrap()
            .evaluate(&patient, env)
            .map(|r| result_json(&r).to_compact())
    };
    // Strict: `as` on two names is an error (the suite's testFHIRPathAsFunction21).
    assert!(run("Patient.name.as(HumanName).family", &env).is_err());
    assert!(run("Patient.name as HumanName", &env).is_err());
    env.lenient_as = true;
    assert_eq!(
        run("Patient.name.as(HumanName).family", &env).unwrap(),
        r#"["A","B"]"#
    );
    assert_eq!(
        run("(Patient.name as HumanName).count()", &env).unwrap(),
        "[2]"
    );
    // Over descendants() of several types, `reference` is empty where a type lacks it...
    assert_eq!(
        run(
            "Patient.descendants().where(reference = '#o1').count()",
            &env
        )
        .unwrap(),
        "[1]"
    );
    // ...but over one type that lacks it, still an error.
    assert!(run("Patient.name.where(reference = '#o1')", &env).is_err());
    // dom-3 itself, as R4 writes it: the contained Organization is referred to.
    let dom3 = "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()";
    assert_eq!(run(dom3, &env).unwrap(), "[true]");
}

/// Quantities compare and convert through UCUM itself, not a table of common units.
#[test]
fn quantities_compare_and_convert_through_ucum() {
    let model = model();
    let cache = Cache::default();
    let empty = parse(r#"{"resourceType":"Basic"}"#).unwrap();
    let env = Env::new(&model);
    let run = |x: &str| eval(&cache, x, &empty, &env);
    for (expr, want) in [
        ("1 'kg' = 1000 'g'", "[true]"),
        ("1 '[in_i]' = 2.54 'cm'", "[true]"),
        ("1 'N' = 1 'kg.m/s2'", "[true]"),
        ("1 'mmol/L' > 0.5 'umol/mL'", "[true]"),
        ("1 week = 1 'wk'", "[true]"),
        ("1 'wk' = 7 'd'", "[true]"),
        ("2.0 'cm' * 2.0 'm' = 0.040 'm2'", "[true]"),
        ("(10 'mg' / 2 'mL') = 5 'g/L'", "[true]"),
        ("1 'kg' ~ 1000.4 'g'", "[true]"),
        // Different dimensions, and calendar years against days: not comparable.
        ("1 'kg' = 1 'm'", "[]"),
        ("1 year = 365 'd'", "[]"),
        ("1 'Cel' = 1 'Cel'", "[true]"),
        ("(1 '[lb_av]').toQuantity('g') > 453 'g'", "[true]"),
    ] {
        assert_eq!(run(expr), want, "{expr}");
    }
}

#[test]
fn string_functions_on_a_primitive_with_extensions_but_no_value_are_empty() {
    let model = model();
    let cache = Cache::default();
    let patient = parse(
        r#"{"resourceType":"Patient","_gender":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},"name":[{"family":"Ng"}]}"#,
    )
    .unwrap();
    let mut env = Env::new(&model);
    env.resource = Some(&patient);
    for x in [
        "gender.matches('^[a-z]+$')",
        "gender.startsWith('m')",
        "gender.length()",
        "gender.upper()",
    ] {
        assert_eq!(eval(&cache, x, &patient, &env), "[]", "{x}");
    }
    // A value still answers, and a complex type is still no string.
    assert_eq!(
        eval(&cache, "name.family.matches('^N')", &patient, &env),
        "[true]"
    );
    assert!(
        cache
            .get("name.matches('x')")
            .unwrap()
            .evaluate(&patient, &env)
            .is_err()
    );
}
