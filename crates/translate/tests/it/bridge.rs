//! The fhir-sdk bridge (cargo feature `fhir-sdk`): what converts to fhir-sdk's R4B types, and
//! what a trip through them loses, measured over our own output and every UK Core example.
//! Run with `cargo test --features fhir-sdk --test fhir_sdk_bridge`.
#![cfg(feature = "fhir-sdk")]

use std::collections::BTreeMap;

use spfhir_element::parse;
use spfhir_translate::bridge;
use spfhir_translate::{self as translate, BundleKind, WriteOptions};

/// Every Bundle spfhir writes converts to fhir-sdk and back with nothing lost but the
/// spelling of UTC (fhir-sdk writes `+00:00` as `Z`: the same instant).
#[test]
fn our_bundles_convert_losslessly() {
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let mut n = 0;
    for (name, kind, text) in spfhir_testkit::domain_fixtures() {
        let fhir = translate::domain_json_to_fhir(kind, &text, &opts)
            .unwrap()
            .fhir;
        let converted = bridge::to_sdk(&fhir).unwrap_or_else(|e| panic!("{name}: {e}"));
        for l in &converted.lost {
            assert_eq!(Some(l.was.replace("+00:00", "Z")), l.now, "{name}: {l:?}");
        }
        // And the typed value reads back as the same record, through the domain model too.
        let back = bridge::from_sdk(&converted.resource).unwrap();
        let reparsed = parse(&back.to_compact()).unwrap();
        let via_sdk = translate::fhir_to_domain_json(kind, &reparsed).unwrap().0;
        let direct = translate::fhir_to_domain_json(kind, &fhir).unwrap().0;
        assert_eq!(
            via_sdk.to_string(),
            direct.to_string().replace("+00:00", "Z"),
            "{name}"
        );
        n += 1;
    }
    assert!(n >= 8);
}

/// A decimal's exact text is one of the things R4B's f64 loses; the bridge says so.
#[test]
fn decimal_precision_loss_is_reported() {
    let obs = parse(
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},
            "valueQuantity":{"value":1.50,"unit":"kg"}}"#,
    )
    .unwrap();
    let c = bridge::to_sdk(&obs).unwrap();
    assert_eq!(
        c.lost,
        [bridge::Lost {
            path: "Observation.valueQuantity.value".into(),
            was: "1.50".into(),
            now: Some("1.5".into()),
        }]
    );
}

/// Every UK Core example: does it convert, and which paths does R4B lose? The tally by
/// resource type and lost element is snapshotted; README quotes it.
#[test]
fn uk_core_examples_through_r4b() {
    let shared = spfhir_testkit::shared_dir();
    let mut ok = 0;
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    let mut lossy_files = 0;
    let mut lost: BTreeMap<String, (usize, String, Option<String>)> = BTreeMap::new();
    for path in spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples")) {
        let Ok(tree) = parse(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        let rt = tree
            .get("resourceType")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        match bridge::to_sdk(&tree) {
            Ok(c) => {
                ok += 1;
                if !c.lost.is_empty() {
                    lossy_files += 1;
                }
                for l in c.lost {
                    // Index-free path, so the tally groups by element; one example of each.
                    let p: String = l
                        .path
                        .split('[')
                        .map(|s| s.split_once(']').map_or(s, |(_, rest)| rest))
                        .collect();
                    let e = lost.entry(p).or_insert((0, l.was, l.now));
                    e.0 += 1;
                }
            }
            Err(e) => {
                let reason = e.to_string();
                let reason = reason.split(" at line").next().unwrap_or(&reason);
                *failed.entry(format!("{rt}: {reason}")).or_default() += 1;
            }
        }
    }
    let mut report = format!(
        "converted: {ok}, of which lossy: {lossy_files}\nfailed: {}\n",
        failed.values().sum::<usize>()
    );
    for (k, v) in &failed {
        report.push_str(&format!("  {v} × {k}\n"));
    }
    report.push_str("lost elements:\n");
    for (k, (n, was, now)) in &lost {
        let now = now.as_deref().unwrap_or("(dropped)");
        report.push_str(&format!("  {n} × {k}  e.g. {was} → {now}\n"));
    }
    assert!(ok > 0);
    insta::assert_snapshot!(report);
}
