//! Fuzzing the FHIRPath engine with proptest: random token strings and random bytes must
//! give a result or an error, never a panic, in the parser and in the evaluator.
//! Bounded for CI (proptest's default 256 cases each); `PROPTEST_CASES=20000` searches longer.

use std::sync::OnceLock;

use proptest::prelude::*;
use spfhir_element::{Json, parse};
use spfhir_fhirpath::{Compiled, Env, Model, eval::BaseServices};

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core")).unwrap()
    })
}

fn patient() -> &'static Json {
    static PATIENT: OnceLock<Json> = OnceLock::new();
    PATIENT.get_or_init(|| {
        let path = spfhir_testkit::shared_dir().join("fhirpath-tests/patient-example.json");
        parse(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

const TOKENS: &[&str] = &[
    "Patient",
    "name",
    "given",
    "family",
    "birthDate",
    "telecom",
    "extension",
    "value",
    "id",
    "where(",
    "select(",
    "exists(",
    "all(",
    "first()",
    "last()",
    "count()",
    "empty()",
    "not()",
    "ofType(",
    "as(",
    "is(",
    "iif(",
    "repeat(",
    "aggregate(",
    "descendants()",
    "children()",
    "substring(",
    "toString()",
    "toInteger()",
    "toDecimal()",
    "toQuantity(",
    "matches(",
    "replaceMatches(",
    "lowBoundary(",
    "highBoundary(",
    "sort(",
    "trace(",
    "resolve()",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ".",
    ",",
    "+",
    "-",
    "*",
    "/",
    "div",
    "mod",
    "&",
    "|",
    "=",
    "!=",
    "~",
    "!~",
    "<",
    ">",
    "<=",
    ">=",
    "and",
    "or",
    "xor",
    "implies",
    "in",
    "contains",
    "$this",
    "$index",
    "$total",
    "%resource",
    "%context",
    "%ucum",
    "%vs-x",
    "0",
    "1",
    "-1",
    "2147483648",
    "9223372036854775807",
    "1.5",
    "0.0000001",
    "'a'",
    "'\\u00e9'",
    "''",
    "@2015",
    "@2015-02-04T14:34:28Z",
    "@T14:30",
    "5 'mg'",
    "3 days",
    "true",
    "false",
    "Quantity",
    "FHIR.string",
    "System.Integer",
    "`div`",
    "//x\n",
    "/*",
    "*/",
];

fn token_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 1..24).prop_map(|t| t.join(" "))
}

fn run(text: &str) {
    if let Ok(c) = Compiled::new(text) {
        let mut env = Env::new(model());
        env.resource = Some(patient());
        let services = BaseServices {
            model: model(),
            terminology: None,
        };
        env.services = Some(&services);
        let _ = c.evaluate(patient(), &env);
    }
}

proptest! {
    #[test]
    fn token_strings_never_panic(text in token_string()) {
        run(&text);
    }

    #[test]
    fn any_text_never_panics(text in "\\PC{0,64}") {
        run(&text);
    }

    #[test]
    fn joined_tokens_never_panic(parts in proptest::collection::vec(proptest::sample::select(TOKENS), 1..16)) {
        run(&parts.concat());
    }
}

/// Deep nesting is an error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Compiled::new(&text).is_err());
    let text = format!("{}1", "-".repeat(10_000));
    assert!(Compiled::new(&text).is_err());
}
