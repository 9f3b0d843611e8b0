//! Translation throughput: domain → FHIR Bundle → JSON text, and FHIR → domain, per record.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

// The allocator the spfhir binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use spfhir::domain::{CarePlan, OutcomeResponse, Referral};
use spfhir::translate::{BundleKind, WriteOptions, careplan, outcome, referral};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/domain/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let r: Referral = serde_json::from_str(&fixture("referral.json")).unwrap();
    let cp: CarePlan = serde_json::from_str(&fixture("careplan.json")).unwrap();
    let o: OutcomeResponse = serde_json::from_str(&fixture("outcome-wemwbs.json")).unwrap();

    let mut g = c.benchmark_group("to_fhir_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("referral", |b| {
        b.iter(|| {
            referral::to_fhir(black_box(&r), &opts)
                .unwrap()
                .fhir
                .to_compact()
        })
    });
    g.bench_function("referral-tree-only", |b| {
        b.iter(|| referral::to_fhir(black_box(&r), &opts).unwrap().fhir)
    });
    let tree = referral::to_fhir(&r, &opts).unwrap().fhir;
    g.bench_function("referral-text-only", |b| {
        b.iter(|| black_box(&tree).to_compact())
    });
    g.bench_function("careplan", |b| {
        b.iter(|| {
            careplan::to_fhir(black_box(&cp), &opts)
                .unwrap()
                .fhir
                .to_compact()
        })
    });
    g.bench_function("outcome", |b| {
        b.iter(|| {
            outcome::to_fhir(black_box(&o), &opts)
                .unwrap()
                .fhir
                .to_compact()
        })
    });
    g.finish();

    let r_fhir = referral::to_fhir(&r, &opts).unwrap().fhir.to_compact();
    let mut g = c.benchmark_group("from_fhir_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("referral", |b| {
        b.iter(|| referral::to_domain(&spfhir::json::parse(black_box(&r_fhir)).unwrap()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
