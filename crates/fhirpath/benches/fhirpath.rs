//! FHIRPath throughput: compiling every invariant in R4 core, and evaluating all R4 core
//! invariants that apply to an SP referral message (each resource's own, plus each element
//! type's — ele-1, ext-1, … — on every element of that type), per resource.
//! Inputs are read from ../shared at run time (set SPFHIR_SHARED to move it).

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spfhir_domain::Referral;
use spfhir_element::{Json, parse};
use spfhir_fhirpath::eval::{BaseServices, definition_type, elements};
use spfhir_fhirpath::{Compiled, Env, Model, Value, parser};
use spfhir_translate::{BundleKind, ToFhir, WriteOptions};

// The allocator the spfhir binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Each base type's own invariants (those on its root element), compiled.
fn invariants(r4: &std::path::Path) -> HashMap<String, Vec<Compiled>> {
    let mut out: HashMap<String, Vec<Compiled>> = HashMap::new();
    for file in ["profiles-types.json", "profiles-resources.json"] {
        let bundle = parse(&std::fs::read_to_string(r4.join(file)).unwrap()).unwrap();
        for e in bundle.get("entry").and_then(Json::as_array).unwrap() {
            let Some(sd) = e.get("resource") else {
                continue;
            };
            let Some(ty) = sd.get("type").and_then(Json::as_str) else {
                continue;
            };
            if sd.get("derivation").and_then(Json::as_str) == Some("constraint") {
                continue;
            }
            let Some(root) = sd
                .get("snapshot")
                .and_then(|s| s.get("element"))
                .and_then(Json::as_array)
                .and_then(|els| els.first())
            else {
                continue;
            };
            for c in root
                .get("constraint")
                .and_then(Json::as_array)
                .unwrap_or(&[])
            {
                if let Some(x) = c.get("expression").and_then(Json::as_str)
                    && let Ok(compiled) = Compiled::new(x)
                {
                    out.entry(ty.to_string()).or_default().push(compiled);
                }
            }
        }
    }
    out
}

fn all_expressions(r4: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in ["profiles-types.json", "profiles-resources.json"] {
        let text = std::fs::read_to_string(r4.join(file)).unwrap();
        let bundle = parse(&text).unwrap();
        for e in bundle.get("entry").and_then(Json::as_array).unwrap() {
            let els = e
                .get("resource")
                .unwrap()
                .get("snapshot")
                .and_then(|s| s.get("element"))
                .and_then(Json::as_array)
                .unwrap_or(&[]);
            for el in els {
                for c in el.get("constraint").and_then(Json::as_array).unwrap_or(&[]) {
                    if let Some(x) = c.get("expression").and_then(Json::as_str) {
                        out.push(x.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Evaluate every applicable invariant on one resource; returns how many held.
fn check(resource: &Json, model: &Model, inv: &HashMap<String, Vec<Compiled>>) -> usize {
    let mut env = Env::new(model);
    env.resource = Some(resource);
    let services = BaseServices {
        model,
        terminology: None,
    };
    env.services = Some(&services);
    let mut held = 0;
    for node in elements(resource, &env) {
        let Value::Node(n) = &node else { continue };
        let ty = definition_type(n);
        // Element's own invariants (ele-1) apply to every element, then the type's.
        for key in ["Element", ty] {
            for c in inv.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                if let Ok(r) = c.evaluate_on(vec![node.clone()], &env)
                    && matches!(r.as_slice(), [Value::Bool(true)])
                {
                    held += 1;
                }
            }
        }
    }
    held
}

fn bench(c: &mut Criterion) {
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    let model = Model::load_r4_core(&r4).unwrap();
    let inv = invariants(&r4);

    let exprs = all_expressions(&r4);
    let mut g = c.benchmark_group("fhirpath_compile");
    g.throughput(Throughput::Elements(exprs.len() as u64));
    g.bench_function("all-r4-core-invariants", |b| {
        b.iter(|| {
            exprs
                .iter()
                .filter(|x| parser::parse(black_box(x)).is_ok())
                .count()
        })
    });
    g.finish();

    let text = std::fs::read_to_string(spfhir_testkit::domain_dir().join("referral.json")).unwrap();
    let r: Referral = serde_json::from_str(&text).unwrap();
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let bundle = Referral::to_fhir(&r, &opts).unwrap().fhir;
    let resources: Vec<&Json> = bundle
        .get("entry")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .filter_map(|e| e.get("resource"))
        .collect();
    let mut g = c.benchmark_group("fhirpath_invariants");
    g.throughput(Throughput::Elements(resources.len() as u64));
    g.bench_function("sp-referral-message-resources", |b| {
        b.iter(|| {
            resources
                .iter()
                .map(|res| check(black_box(res), &model, &inv))
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
