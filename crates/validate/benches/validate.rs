//! Validation throughput on the accept path, each input already parsed, validated against
//! R4 core + UK Core + BaRS + spfhir's profiles (loaded from ../shared/fhir): an SP referral
//! ServiceRequest and an outcome QuestionnaireResponse (WEMWBS) on their own (`Type/id`
//! references, as `bench/validate.sh` generates them), and the message Bundles they travel in
//! (the referral's has 12 resources).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use spfhir_conformance::package::{self, LoadOptions};
use spfhir_translate::{self as translate, BundleKind, WriteOptions};
use spfhir_validate::{Options, Validator, has_errors};

fn bench(c: &mut Criterion) {
    let reg = package::load(&LoadOptions {
        package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
        ..Default::default()
    })
    .unwrap();
    let validator = Validator::new(std::sync::Arc::new(reg), Options::default());
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(1));
    for (name, kind, file) in [
        (
            "referral-message",
            spfhir_domain::RecordKind::Referral,
            "referral.json",
        ),
        (
            "outcome-message",
            spfhir_domain::RecordKind::Outcome,
            "outcome-wemwbs.json",
        ),
    ] {
        let text = std::fs::read_to_string(spfhir_testkit::domain_dir().join(file)).unwrap();
        let bundle = translate::domain_json_to_fhir(kind, &text, &opts)
            .unwrap()
            .fhir;
        // Warm the caches (snapshots, expansions) and make sure this is the accept path.
        assert!(
            !has_errors(&validator.validate(&bundle)),
            "{name} must be valid"
        );
        g.bench_function(name, |b| b.iter(|| validator.validate(black_box(&bundle))));
        let focus = match kind {
            spfhir_domain::RecordKind::Referral => "ServiceRequest",
            _ => "QuestionnaireResponse",
        };
        let alone = translate::standalone(&bundle, focus).unwrap();
        assert!(
            !has_errors(&validator.validate(&alone)),
            "{focus} must be valid"
        );
        g.bench_function(focus, |b| b.iter(|| validator.validate(black_box(&alone))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
