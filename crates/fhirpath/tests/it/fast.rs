//! The invariant fast path (`spfhir_fhirpath::fast`) against the general evaluator, shape by
//! shape: each expression below must compile to a fast form, decide at least one of the
//! inputs on its own, and, wherever it decides, give exactly what the evaluator gives. The
//! validator's `fast_invariants` test compares the two over real profiles and examples; this
//! one covers every shape and both sides of every operator, including empty operands
//! (`{} implies x` is true, `{} and false` is false), which examples rarely reach.

use spfhir_element::{Json, parse};
use spfhir_fhirpath::fast::Fast;
use spfhir_fhirpath::{Compiled, Env, Model, Value};

const EXPRESSIONS: &[&str] = &[
    "name.exists()",
    "name.empty()",
    "name.given.exists()",
    "telecom.system.empty()",
    "gender.hasValue()",
    "gender = 'male'",
    "name.family.startsWith('Sm')",
    "name.exists().not()",
    "gender.empty().not()",
    "name.given.exists() != name.family.exists()",
    "name.given.exists() = name.family.exists()",
    "active.exists() and gender.exists()",
    "active.exists() or gender.exists()",
    "active.exists() xor gender.exists()",
    "active.exists() implies gender.exists()",
    "(gender = 'male') and active.exists()",
    "(gender = 'male') or active.exists()",
    "(gender = 'male') implies active.exists()",
    "(gender = 'male') xor active.exists()",
    "active.exists() implies (gender = 'male')",
    "(gender = 'male').not()",
    "contact.where(gender = 'male').empty()",
    "name.exists() or contact.where(gender = 'male').exists()",
    "name.exists() and contact.where(gender = 'male').exists()",
    "name.exists() implies contact.where(gender = 'male').exists()",
    "(gender = 'male') implies contact.where(gender = 'male').exists()",
    "name.hasValue()",
    "name.given.hasValue()",
    "gender.extension.exists()",
    "name.given.first().empty()",
    "contact.name.where(family = 'Smith').empty()",
    "deceased.where($this = true).empty()",
];

const INPUTS: &[&str] = &[
    r#"{"resourceType":"Patient"}"#,
    r#"{"resourceType":"Patient","active":true}"#,
    r#"{"resourceType":"Patient","active":false,"gender":"male"}"#,
    r#"{"resourceType":"Patient","gender":"female"}"#,
    r#"{"resourceType":"Patient","gender":"male"}"#,
    r#"{"resourceType":"Patient","_gender":{"extension":[{"url":"http://example.org/x","valueString":"y"}]}}"#,
    r#"{"resourceType":"Patient","name":[{"family":"Smith"}]}"#,
    r#"{"resourceType":"Patient","name":[{"family":"Jones","given":["Ann"]}]}"#,
    r#"{"resourceType":"Patient","name":[{"given":["Ann"]}]}"#,
    r#"{"resourceType":"Patient","name":[{"family":"Smith"},{"family":"Jones"}]}"#,
    r#"{"resourceType":"Patient","telecom":[{"system":"phone","value":"1"}]}"#,
    r#"{"resourceType":"Patient","telecom":[{"value":"1"}]}"#,
    r#"{"resourceType":"Patient","contact":[{"gender":"male"}]}"#,
    r#"{"resourceType":"Patient","contact":[{"gender":"female"}],"name":[{"family":"Sm"}]}"#,
    r#"{"resourceType":"Patient","active":true,"gender":"male","name":[{"family":"Smyth","given":["B"]}]}"#,
    r#"{"resourceType":"Patient","name":[{"given":["Ann"],"_given":[{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}]}"#,
    r#"{"resourceType":"Patient","name":[{"given":["Ann",null],"_given":[null,{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}]}"#,
    r#"{"resourceType":"Patient","deceasedBoolean":true}"#,
    r#"{"resourceType":"Patient","contact":[{"name":{"family":"Smith"}}]}"#,
];

/// The evaluator's answer as a three-valued boolean, or its error (`x.startsWith('a')` on
/// two values), where the fast path must decline.
fn general(expr: &Compiled, input: &Json, model: &Model) -> Result<Option<bool>, String> {
    let mut env = Env::new(model);
    env.resource = Some(input);
    match expr
        .evaluate(input, &env)
        .map_err(|e| e.to_string())?
        .as_slice()
    {
        [] => Ok(None),
        [Value::Bool(b)] => Ok(Some(*b)),
        other => panic!("`{}` gave {} items, not a boolean", expr.text, other.len()),
    }
}

#[test]
fn every_fast_shape_gives_what_the_evaluator_gives() {
    let model = Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core")).unwrap();
    let inputs: Vec<Json> = INPUTS.iter().map(|t| parse(t).unwrap()).collect();
    let mut failures = Vec::new();
    let mut reach = String::new();
    for text in EXPRESSIONS {
        let compiled = Compiled::new(text).unwrap();
        let Some(fast) = Fast::compile(&compiled.expr) else {
            failures.push(format!("`{text}` has no fast form"));
            continue;
        };
        let mut decided = 0;
        reach.push_str(&format!("{text:<70} "));
        for (input, source) in inputs.iter().zip(INPUTS) {
            let want = general(&compiled, input, &model);
            let answer = fast.eval(input);
            reach.push(match answer {
                None => '.',
                Some(None) => 'e',
                Some(Some(true)) => 'T',
                Some(Some(false)) => 'F',
            });
            if let Some(got) = answer {
                decided += 1;
                if Ok(got) != want {
                    failures.push(format!(
                        "`{text}` on {source}: fast {got:?}, evaluator {want:?}"
                    ));
                }
            }
        }
        if decided == 0 {
            failures.push(format!(
                "`{text}`: the fast form decided none of the inputs"
            ));
        }
        reach.push('\n');
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Where the fast path decides (T, F, or e for empty) and where it leaves the input to the
    // evaluator (.), input by input: a change that narrows or widens its reach shows here.
    insta::assert_snapshot!(reach);
}

/// Shapes the fast path must decline: deciding them would need what it does not know.
#[test]
fn undecidable_shapes_have_no_fast_form() {
    for text in [
        "gender != 'male'",
        "name.count() > 1",
        "active.exists() xor contact.where(gender = 'male').exists()",
        "name.given.startsWith(family)",
        "name.exists(family = 'Jones')",
        "Patient.name.exists()",
        "Patient.contact.where(gender = 'male').empty()",
        "name.count().empty()",
    ] {
        let compiled = Compiled::new(text).unwrap();
        assert!(Fast::compile(&compiled.expr).is_none(), "`{text}` compiled");
    }
}
