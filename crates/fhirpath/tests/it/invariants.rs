//! Every R4 core invariant compiles, and every one that applies to spfhir's own output (each
//! resource's, and each element type's on every element of that type) evaluates without error
//! and holds: the translators write what R4 core's own rules accept. Error-severity rules
//! must hold; warning-severity ones (dom-6 "should have a narrative") are counted only.

use std::collections::HashMap;

use spfhir_element::{Json, parse};
use spfhir_fhirpath::eval::{BaseServices, definition_type, elements, root_node};
use spfhir_fhirpath::{Compiled, Env, Model, Value};
use spfhir_translate::{self as translate, BundleKind, WriteOptions};

/// `(type, key, expression)` of every invariant on a base definition's root element.
type Invariants = HashMap<String, Vec<(String, bool, Compiled)>>;

fn root_invariants(model_dir: &std::path::Path) -> (Invariants, usize) {
    let mut out: Invariants = HashMap::new();
    let mut all = 0;
    for file in ["profiles-types.json", "profiles-resources.json"] {
        let bundle = parse(&std::fs::read_to_string(model_dir.join(file)).unwrap()).unwrap();
        for e in bundle.get("entry").and_then(Json::as_array).unwrap() {
            let Some(sd) = e.get("resource") else {
                continue;
            };
            let Some(ty) = sd.get("type").and_then(Json::as_str) else {
                continue;
            };
            let els = sd
                .get("snapshot")
                .and_then(|s| s.get("element"))
                .and_then(Json::as_array)
                .unwrap_or(&[]);
            for (i, el) in els.iter().enumerate() {
                for c in el.get("constraint").and_then(Json::as_array).unwrap_or(&[]) {
                    let key = c.get("key").and_then(Json::as_str).unwrap_or("?");
                    let is_error = c.get("severity").and_then(Json::as_str) == Some("error");
                    let Some(x) = c.get("expression").and_then(Json::as_str) else {
                        continue;
                    };
                    all += 1;
                    let compiled =
                        Compiled::new(x).unwrap_or_else(|e| panic!("{ty} {key}: `{x}`: {e}"));
                    if i == 0 && sd.get("derivation").and_then(Json::as_str) != Some("constraint") {
                        out.entry(ty.to_string()).or_default().push((
                            key.to_string(),
                            is_error,
                            compiled,
                        ));
                    }
                }
            }
        }
    }
    (out, all)
}

#[test]
fn r4_core_invariants_compile_and_hold_on_our_output() {
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    let model = Model::load_r4_core(&r4).unwrap();
    let (inv, all) = root_invariants(&r4);
    assert!(all > 1000, "only {all} invariants found");

    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let mut evaluated = 0;
    let mut problems = Vec::new();
    let mut warnings = 0;
    for (name, kind, text) in spfhir_testkit::domain_fixtures() {
        let bundle = translate::domain_json_to_fhir(kind, &text, &opts)
            .unwrap()
            .fhir;
        let mut resources = vec![&bundle];
        resources.extend(
            bundle
                .get("entry")
                .and_then(Json::as_array)
                .unwrap()
                .iter()
                .filter_map(|e| e.get("resource")),
        );
        for res in resources {
            let mut env = Env::new(&model);
            env.resource = Some(res);
            env.bundle = Some(&bundle);
            let services = BaseServices {
                model: &model,
                terminology: None,
            };
            env.services = Some(&services);
            // The Bundle's own rules only: its entries are checked as resources of their own,
            // each its own %rootResource.
            let nodes = if std::ptr::eq(res, &bundle) {
                vec![root_node(res, &model)]
            } else {
                elements(res, &env)
            };
            for node in nodes {
                let Value::Node(n) = &node else { continue };
                let ty = definition_type(n);
                for key in ["Element", ty] {
                    if key == "Element" && ty == "Element" {
                        continue;
                    }
                    for (k, is_error, c) in inv.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                        evaluated += 1;
                        match c.evaluate_on(vec![node.clone()], &env) {
                            Ok(r) if matches!(r.as_slice(), [Value::Bool(true)] | []) => {}
                            Ok(_) if !is_error => warnings += 1,
                            Ok(r) => {
                                problems.push(format!("{name}: {ty} {k} `{}` gave {r:?}", c.text))
                            }
                            Err(e) => problems.push(format!("{name}: {ty} {k} `{}`: {e}", c.text)),
                        }
                    }
                }
            }
        }
    }
    assert!(evaluated > 1000, "only {evaluated} evaluations");
    println!("{evaluated} invariant evaluations, {warnings} warning-level rules not met");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
