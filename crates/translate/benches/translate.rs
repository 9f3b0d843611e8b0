//! Translation throughput: domain → FHIR Bundle → JSON text, and FHIR → domain, per record.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

// The allocator the spfhir binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use spfhir_domain::{CarePlan, OutcomeResponse, Referral};
use spfhir_element::{Arena, Builder};
use spfhir_translate::{BundleKind, ToFhir, WriteOptions, referral};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(spfhir_testkit::domain_dir().join(name)).unwrap()
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
    // The fast path (CLI, server): built in the thread's arena, written straight to text.
    g.bench_function("referral", |b| {
        b.iter(|| black_box(&r).to_fhir_text(&opts, false).unwrap().text)
    });
    let mut arena = Arena::new();
    g.bench_function("referral-tree-only", |b| {
        b.iter(|| {
            arena.reset();
            black_box(&r)
                .build(&opts, Builder::new(&arena))
                .unwrap()
                .fhir
                .is_empty_container()
        })
    });
    let arena = Arena::new();
    let tree = r.build(&opts, Builder::new(&arena)).unwrap().fhir;
    g.bench_function("referral-text-only", |b| {
        b.iter(|| black_box(&tree).to_compact())
    });
    // The owned tree, for callers that walk the result.
    g.bench_function("referral-owned-tree", |b| {
        b.iter(|| black_box(&r).to_fhir(&opts).unwrap().fhir)
    });
    g.bench_function("careplan", |b| {
        b.iter(|| black_box(&cp).to_fhir_text(&opts, false).unwrap().text)
    });
    g.bench_function("outcome", |b| {
        b.iter(|| black_box(&o).to_fhir_text(&opts, false).unwrap().text)
    });
    g.finish();

    let r_fhir = Referral::to_fhir(&r, &opts).unwrap().fhir.to_compact();
    let mut g = c.benchmark_group("from_fhir_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("referral", |b| {
        b.iter(|| referral::to_domain(&spfhir_element::parse(black_box(&r_fhir)).unwrap()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
