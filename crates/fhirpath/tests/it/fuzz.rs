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

/// Chains of operators and invocations deep enough to overflow a recursive parser or
/// evaluator are syntax errors at a bounded depth; just under the bound they evaluate on a
/// thread with the stack the crate documents ([`spfhir_fhirpath::STACK_SIZE`]).
#[test]
fn deep_chains_are_bounded_not_stack_overflows() {
    std::thread::Builder::new()
        .stack_size(spfhir_fhirpath::STACK_SIZE)
        .spawn(deep_chains)
        .unwrap()
        .join()
        .unwrap();
}

fn deep_chains() {
    use spfhir_fhirpath::parser::{MAX_TREE_DEPTH, parse};
    let model = model();
    let patient = parse_json(r#"{"resourceType":"Patient","active":true}"#);
    for chain in [
        |n: usize| vec!["1"; n].join("+"),
        |n: usize| format!("true{}", ".not()".repeat(n)),
        |n: usize| format!("Patient{}", ".name".repeat(n)),
        |n: usize| format!("{}1", "-".repeat(n)),
        |n: usize| vec!["true"; n].join(" and "),
    ] {
        let deep = chain(20_000);
        let e = parse(&deep).unwrap_err();
        assert!(
            e.message.contains("too deep") || e.message.contains("nested too deeply"),
            "{}",
            e.message
        );
        let ok = chain(MAX_TREE_DEPTH as usize - 2);
        if let Ok(c) = Compiled::new(&ok) {
            let env = Env::new(model);
            let _ = c.evaluate(&patient, &env);
        }
    }
}

fn parse_json(text: &str) -> Json {
    parse(text).unwrap()
}

/// How many items `expr` gives on a bare Patient (an error as its message).
fn result_len(expr: &str) -> Result<usize, String> {
    let patient = parse_json(r#"{"resourceType":"Patient"}"#);
    let env = Env::new(model());
    let c = Compiled::new(expr).map_err(|e| e.to_string())?;
    c.evaluate(&patient, &env)
        .map(|r| r.len())
        .map_err(|e| e.to_string())
}

/// Arithmetic out of range is empty: never a panic, a wrapped integer or a date outside
/// years 1–9999.
#[test]
fn arithmetic_out_of_range_is_empty() {
    for expr in [
        "79228162514264337593543950335 + 1",
        "79228162514264337593543950335 * 10",
        "-79228162514264337593543950335 - 1",
        "79228162514264337593543950335 / 0.0000001",
        "79228162514264337593543950335 'mg' * 10",
        "79228162514264337593543950335 'mg' + 79228162514264337593543950335 'mg'",
        "(-9223372036854775807-1).abs()",
        "-(-9223372036854775807-1)",
        "9223372036854775807 + 1",
        "9223372036854775807 * 2",
        "79228162514264337593543950335.ceiling()",
        "2.power(400)",
        "10.0.exp().exp()",
        "@2020-01-01T00:00:00.000Z + 9223372036854775807 'ms'",
        "@9999-12-31 + 1 day",
        "@0001-01-01 - 1 day",
        "@2020-01-01 + 99999999999 years",
        "@2020-01 + 9223372036854775807 months",
        "(79228162514264337593543950335 'kg').toQuantity('g')",
        "79228162514264337593543950335.highBoundary()",
        "(-79228162514264337593543950335).lowBoundary()",
    ] {
        assert_eq!(result_len(expr), Ok(0), "{expr}");
    }
    // Found by the grammar fuzzer: a boundary of a decimal with all 28 places panicked.
    for expr in [
        "1.5.exp().highBoundary()",
        "1.5.exp().lowBoundary()",
        "0.0000000000000000000000000001.highBoundary()",
    ] {
        assert_eq!(result_len(expr), Ok(1), "{expr}");
    }
    // Found by the grammar fuzzer: `repeat(type())` made a new type description each pass,
    // none equal to the last, and compared each with all before it for 10,000 passes.
    assert_eq!(result_len("repeat(type())"), Ok(2));
    // A runaway repeat of new values stops at its pass limit, in linear time.
    assert_eq!(result_len("0.repeat($this + 1).count()"), Ok(1));
    // Found by the 30-minute campaign: the same with quantities, which all shared one hash
    // bucket (1.6 s); now hashed by their value in the base unit.
    assert_eq!(result_len("(3 'wk').repeat($this + 1 'wk').count()"), Ok(1));
    // 1 'kg' = 1000 'g', 1 'wk' = 7 'd', 3 'zz' twice: four distinct.
    assert_eq!(
        result_len("(1 'kg' | 1000 'g' | 1 'g' | 1 'wk' | 7 'd' | 3 'zz' | 3 'zz')"),
        Ok(4)
    );
    // In range, still right.
    assert_eq!(result_len("@9999-12-30 + 1 day"), Ok(1));
}

#[test]
fn comparing_huge_quantities_across_units_does_not_panic() {
    for expr in [
        "79228162514264337593543950335 'kg' > 1 'g'",
        "79228162514264337593543950335 'kg' = 79228162514264337593543950335 'g'",
        "79228162514264337593543950335 'kg' ~ 1 'g'",
    ] {
        let _ = result_len(expr);
    }
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..4).prop_map(|i| i.to_string()),
        (0i64..4).prop_map(|i| format!("{i}.0")),
        (0i64..4).prop_map(|i| format!("{i}.50")),
        "[ab]{0,2}".prop_map(|s| format!("'{s}'")),
        any::<bool>().prop_map(|b| b.to_string()),
        (1u8..3).prop_map(|m| format!("@2020-0{m}")),
        (1u8..3).prop_map(|d| format!("@2020-01-0{d}")),
        (1u8..3).prop_map(|q| format!("{q} 'mg'")),
        (1u8..3).prop_map(|q| format!("{q}000 'ug'")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The hashed set operations agree with comparing every pair (their slow twin).
    #[test]
    fn set_functions_agree_with_pairwise_equality(items in proptest::collection::vec(literal(), 0..12), split in 0usize..12) {
        let patient = parse_json(r#"{"resourceType":"Patient"}"#);
        let env = Env::new(model());
        let all = if items.is_empty() { "{}".to_string() } else {
            items.iter().map(|i| format!("({i})")).collect::<Vec<_>>().join(".combine(") + &")".repeat(items.len() - 1)
        };
        let coll = Compiled::new(&all).unwrap().evaluate(&patient, &env).unwrap();
        // Pairwise: keep an item unless an equal one came before.
        let mut slow: Vec<spfhir_fhirpath::Value> = Vec::new();
        for v in &coll {
            if !slow.iter().any(|o| spfhir_fhirpath::eval::equal(o, v) == Some(true)) {
                slow.push(v.clone());
            }
        }
        let distinct = Compiled::new(&format!("({all}).distinct()")).unwrap().evaluate(&patient, &env).unwrap();
        prop_assert_eq!(distinct.len(), slow.len(), "{}", all);
        for (a, b) in distinct.iter().zip(&slow) {
            prop_assert_eq!(spfhir_fhirpath::eval::equal(a, b), Some(true));
        }
        let is_distinct = Compiled::new(&format!("({all}).isDistinct()")).unwrap().evaluate(&patient, &env).unwrap();
        prop_assert_eq!(format!("{:?}", is_distinct), format!("{:?}", vec![spfhir_fhirpath::Value::Bool(slow.len() == coll.len())]));
        // Split in two: union, intersect, exclude and subsetOf against their definitions.
        let k = split.min(items.len());
        let part = |xs: &[String]| if xs.is_empty() { "{}".to_string() } else { format!("({})", xs.join(" | ")) };
        let (l, r) = (part(&items[..k]), part(&items[k..]));
        let eval = |e: String| Compiled::new(&e).unwrap().evaluate(&patient, &env).unwrap();
        let (lv, rv) = (eval(l.clone()), eval(r.clone()));
        let has = |c: &Vec<spfhir_fhirpath::Value>, v: &spfhir_fhirpath::Value| c.iter().any(|o| spfhir_fhirpath::eval::equal(o, v) == Some(true));
        let excl = eval(format!("{l}.exclude({r})"));
        prop_assert_eq!(excl.len(), lv.iter().filter(|v| !has(&rv, v)).count());
        let inter = eval(format!("{l}.intersect({r})"));
        prop_assert!(inter.iter().all(|v| has(&lv, v) && has(&rv, v)));
        let subset = eval(format!("{l}.subsetOf({r})"));
        prop_assert_eq!(format!("{:?}", subset), format!("{:?}", vec![spfhir_fhirpath::Value::Bool(lv.iter().all(|v| has(&rv, v)))]));
    }
}

/// Expressions that would take gigabytes or run for minutes stop at their budget with an
/// error saying so; ordinary ones are untouched by it.
#[test]
fn runaway_expressions_stop_at_their_budget() {
    use spfhir_fhirpath::EvalErrorKind;
    let many_names: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"family":"F{i}"}}"#))
        .collect();
    let patient = parse_json(&format!(
        r#"{{"resourceType":"Patient","name":[{}]}}"#,
        many_names.join(",")
    ));
    let mut env = Env::new(model());
    env.resource = Some(&patient);
    let nine = format!("'aaaaaaaaaa'{}", ".replace('a', 'aaaaaaaaaa')".repeat(9));
    for expr in [
        nine.as_str(),
        "Patient.name.select(%resource.name)",
        "Patient.name.select(%resource.name.family.combine(%resource.name.family))",
    ] {
        let c = Compiled::new(expr).unwrap();
        let e = c.evaluate(&patient, &env).unwrap_err();
        assert_eq!(e.kind, EvalErrorKind::Budget, "{expr}: {e}");
        assert!(e.message.contains("budget"), "{e}");
    }
    let c = Compiled::new("Patient.name.family.count()").unwrap();
    assert_eq!(c.evaluate(&patient, &env).unwrap().len(), 1);
    // A tighter budget is the caller's to set.
    env.budget.steps = 10;
    let c = Compiled::new("Patient.name.where(family.startsWith('F1')).exists()").unwrap();
    assert_eq!(
        c.evaluate(&patient, &env).unwrap_err().kind,
        EvalErrorKind::Budget
    );
}
