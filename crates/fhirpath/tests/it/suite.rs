//! The official FHIRPath R4 test suite (`../shared/fhirpath-tests/tests-fhir-r4.xml`), run
//! against the JSON twins of its inputs. Prints pass/fail per group and every failure; fails
//! when the pass count drops below the floor kept in `crates/fhirpath/tests/pass-floor.txt`
//! (which only goes up: raise it when more tests pass). Skipped tests are listed with their
//! reason.
//!
//! Where the suite expects an error and names its kind (`invalid="syntax"`, `"semantic"`,
//! `"execution"`), the error must be of that kind: a syntax error where an execution error
//! is expected is a failure.
//!
//! `cargo test -p spfhir-fhirpath --test it suite -- --nocapture` shows the report.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rust_decimal::Decimal;
use spfhir_element::{Json, parse};
use spfhir_fhirpath::{Compiled, Env, Model, TemporalKind, Value, eval};

struct Case {
    group: String,
    name: String,
    input: Option<String>,
    expression: String,
    /// `Some` when the suite expects an error: the kind it names (`syntax`, `semantic`,
    /// `execution`), or `""` where it names none (`invalid="true"`).
    invalid: Option<String>,
    predicate: bool,
    outputs: Vec<(String, String)>,
}

fn cases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).expect("the suite is well-formed XML");
    let mut out = Vec::new();
    for group in doc.descendants().filter(|n| n.has_tag_name("group")) {
        let gname = group.attribute("name").unwrap_or("?").to_string();
        for test in group.children().filter(|n| n.has_tag_name("test")) {
            let Some(expr) = test.children().find(|n| n.has_tag_name("expression")) else {
                continue;
            };
            out.push(Case {
                group: gname.clone(),
                name: test.attribute("name").unwrap_or("?").to_string(),
                input: test.attribute("inputfile").map(str::to_string),
                expression: expr.text().unwrap_or("").to_string(),
                invalid: expr.attribute("invalid").map(|k| {
                    if k == "true" {
                        String::new()
                    } else {
                        k.to_string()
                    }
                }),
                predicate: test.attribute("predicate") == Some("true"),
                outputs: test
                    .children()
                    .filter(|n| n.has_tag_name("output"))
                    .map(|o| {
                        (
                            o.attribute("type").unwrap_or("").to_string(),
                            o.text().unwrap_or("").to_string(),
                        )
                    })
                    .collect(),
            });
        }
    }
    out
}

/// `(type, text)` of a result item, as the suite writes outputs.
fn typed_text(v: &Value, model: &Model) -> (String, String) {
    match v {
        Value::Node(n) if model.is_primitive(n.ty) => {
            let j = n.json.map(|j| match j.as_str() {
                Some(s) => s.to_string(),
                None => j.to_compact(),
            });
            (n.ty.to_string(), j.unwrap_or_default())
        }
        Value::Node(n) => (
            n.ty.to_string(),
            n.json.map(Json::to_compact).unwrap_or_default(),
        ),
        Value::Bool(b) => ("boolean".into(), b.to_string()),
        Value::Int(i) => ("integer".into(), i.to_string()),
        Value::Dec(d) => ("decimal".into(), d.to_string()),
        Value::Str(s) => ("string".into(), s.to_string()),
        Value::Temporal(t) => {
            let ty = match t.kind {
                TemporalKind::Date => "date",
                TemporalKind::DateTime => "dateTime",
                TemporalKind::Time => "time",
            };
            (ty.into(), t.text())
        }
        Value::Quantity(..) => (
            "Quantity".into(),
            eval::to_string(v).unwrap_or_default().to_string(),
        ),
        Value::Type(ns, n) => ("TypeInfo".into(), format!("{ns}.{n}")),
    }
}

fn output_matches(got: &(String, String), want: &(String, String)) -> bool {
    let (gt, gv) = got;
    let (wt, wv) = want;
    let wv = wv.trim_start_matches('@').trim_start_matches('T');
    // Some outputs carry no type (the boundary tests): compare the text alone.
    if !wt.is_empty() && gt != wt {
        return false;
    }
    match wt.as_str() {
        "decimal" | "" if gt == "decimal" => {
            wv.parse::<Decimal>().ok() == gv.parse::<Decimal>().ok()
        }
        _ => gv == wv,
    }
}

enum Outcome {
    Pass,
    Fail(String),
}

/// An expected error met: passes when the suite names no kind, or the kind `got`.
fn error_outcome(case: &Case, got: &str, e: &dyn std::fmt::Display) -> Outcome {
    match case.invalid.as_deref() {
        Some("") => Outcome::Pass,
        Some(want) if want == got => Outcome::Pass,
        Some(want) => Outcome::Fail(format!("expected a {want} error, got a {got} error: {e}")),
        None => Outcome::Fail(format!("{got} error: {e}")),
    }
}

fn run(case: &Case, inputs: &HashMap<String, Json>, model: &Model) -> Outcome {
    let input = case.input.as_ref().map(|f| &inputs[f]);
    let compiled = match Compiled::new(&case.expression) {
        Ok(c) => c,
        Err(e) => return error_outcome(case, "syntax", &e),
    };
    let mut env = Env::new(model);
    env.resource = input;
    let services = eval::BaseServices {
        model,
        terminology: None,
    };
    env.services = Some(&services);
    let result = match input {
        Some(j) => compiled.evaluate(j, &env),
        None => compiled.evaluate_on(vec![], &env),
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => return error_outcome(case, e.kind.as_str(), &e),
    };
    if case.invalid.is_some() && case.outputs.is_empty() {
        return Outcome::Fail(format!("expected an error, got {} item(s)", result.len()));
    }
    let got: Vec<(String, String)> = if case.predicate {
        vec![("boolean".into(), (!result.is_empty()).to_string())]
    } else {
        result.iter().map(|v| typed_text(v, model)).collect()
    };
    if got.len() == case.outputs.len()
        && got
            .iter()
            .zip(&case.outputs)
            .all(|(g, w)| output_matches(g, w))
    {
        Outcome::Pass
    } else {
        Outcome::Fail(format!("got {got:?}, want {:?}", case.outputs))
    }
}

#[test]
fn official_r4_suite() {
    let shared = spfhir_testkit::shared_dir();
    let dir = shared.join("fhirpath-tests");
    let xml = std::fs::read_to_string(dir.join("tests-fhir-r4.xml")).unwrap();
    let model = Model::load_r4_core(&shared.join("fhir/r4-core")).unwrap();
    let cases = cases(&xml);
    let mut inputs = HashMap::new();
    let mut skipped = Vec::new();
    for c in &cases {
        if let Some(f) = &c.input
            && !inputs.contains_key(f)
        {
            let json_name = Path::new(f).with_extension("json");
            match std::fs::read_to_string(dir.join(&json_name)) {
                Ok(text) => {
                    inputs.insert(f.clone(), parse(&text).unwrap());
                }
                Err(_) => skipped.push((c.name.clone(), format!("no JSON twin of {f}"))),
            }
        }
    }
    let mut by_group: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    for c in &cases {
        if c.input.as_ref().is_some_and(|f| !inputs.contains_key(f)) {
            continue;
        }
        let g = by_group.entry(&c.group).or_default();
        g.1 += 1;
        match run(c, &inputs, &model) {
            Outcome::Pass => {
                g.0 += 1;
                passed += 1;
            }
            Outcome::Fail(why) => failures.push(format!(
                "{} / {}: `{}` — {why}",
                c.group,
                c.name,
                c.expression.trim()
            )),
        }
    }
    let total = cases.len();
    println!(
        "FHIRPath R4 suite: {passed}/{total} passed ({:.1}%)",
        100.0 * passed as f64 / total as f64
    );
    for (g, (p, n)) in &by_group {
        if p != n {
            println!("  {g}: {p}/{n}");
        }
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    for (name, why) in &skipped {
        println!("SKIP {name}: {why}");
    }
    let floor_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pass-floor.txt");
    let floor: usize = std::fs::read_to_string(&floor_file)
        .expect("tests/fhirpath/pass-floor.txt")
        .trim()
        .parse()
        .expect("the floor is a number of tests");
    assert!(
        passed >= floor,
        "{passed} of {total} FHIRPath tests pass, below the floor of {floor} in {}",
        floor_file.display()
    );
}
