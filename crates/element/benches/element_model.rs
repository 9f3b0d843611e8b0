//! Element-model parse and serialise throughput against serde_json::Value on the same input.
//! Inputs are read from ../shared at run time (set SPFHIR_SHARED to move it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

// The allocator the spfhir binary uses (src/main.rs), for both sides of each comparison.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let inputs = [
        (
            "bars-referral-message",
            "fhir/bars/simplifier-package-uk.nhsdigital.bars.r4-1.35.0/examples/REFREQ07 - Referral Service Request New Full - GP to OC.json",
        ),
        ("r4-profiles-types", "fhir/r4-core/profiles-types.json"),
    ];
    for (name, rel) in inputs {
        let text = std::fs::read_to_string(spfhir_testkit::shared_dir().join(rel))
            .expect("reference data in ../shared");
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("spfhir", |b| {
            b.iter(|| spfhir_element::parse(black_box(&text)).unwrap())
        });
        g.bench_function("serde_json::Value", |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&text)).unwrap())
        });
        g.finish();

        let ours = spfhir_element::parse(&text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut g = c.benchmark_group(format!("serialise/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("spfhir", |b| b.iter(|| black_box(&ours).to_compact()));
        g.bench_function("serde_json::Value", |b| {
            b.iter(|| serde_json::to_string(black_box(&theirs)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
