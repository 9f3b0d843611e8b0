//! Writes the validation benchmark's inputs: `referrals.ndjson` (SP referral ServiceRequests)
//! and `outcomes.ndjson` (outcome QuestionnaireResponses, the five instruments in turn), each
//! resource standalone with `Type/id` references, made by spfhir's own translators from the
//! fixtures in tests/data/domain with a different identifier, NHS number and date per record.
//!
//! `cargo run --release --example validate_corpus -- OUT_DIR [COUNT]` (COUNT defaults to 10000).

use std::io::Write;

use spfhir_domain::RecordKind;
use spfhir_translate::{self as translate, BundleKind, WriteOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: validate_corpus OUT_DIR [COUNT]");
        std::process::exit(2);
    };
    let count: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("COUNT is a number"));
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/domain");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{fixtures}/{name}")).unwrap())
            .unwrap()
    };
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };

    let referral = read("referral.json");
    write_records(
        &out.join("referrals.ndjson"),
        RecordKind::Referral,
        count,
        &opts,
        |i| {
            let mut r = referral.clone();
            r["identifier"]["value"] = format!("REF-2026-{i:06}").into();
            r["date"] = format!("2026-{:02}-{:02}T09:30:00+00:00", 1 + i % 12, 1 + i % 28).into();
            r
        },
    );
    let outcomes: Vec<serde_json::Value> = ["ons4", "wemwbs", "swemwbs", "ucla3", "pam"]
        .iter()
        .map(|i| read(&format!("outcome-{i}.json")))
        .collect();
    write_records(
        &out.join("outcomes.ndjson"),
        RecordKind::Outcome,
        count,
        &opts,
        |i| {
            let mut o = outcomes[i % outcomes.len()].clone();
            o["identifier"]["value"] = format!("OUT-{i:06}").into();
            o["date"] = format!("2026-{:02}-{:02}T14:20:00Z", 1 + i % 12, 1 + i % 28).into();
            o
        },
    );
    eprintln!(
        "wrote {count} referrals and {count} outcomes to {}",
        out.display()
    );
}

/// Write `count` records made by `record(i)` (each with its own NHS number), translated and
/// taken out of their message Bundles, one per line.
fn write_records(
    path: &std::path::Path,
    kind: RecordKind,
    count: usize,
    opts: &WriteOptions,
    record: impl Fn(usize) -> serde_json::Value,
) {
    let focus = match kind {
        RecordKind::Referral => "ServiceRequest",
        _ => "QuestionnaireResponse",
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create output"));
    for i in 0..count {
        let mut r = record(i);
        r["person"]["nhsNumber"] = nhs_number(i).into();
        let bundle = translate::domain_json_to_fhir(kind, &r.to_string(), opts)
            .expect("fixture translates")
            .fhir;
        let resource = translate::standalone(&bundle, focus).expect("the record's resource");
        writeln!(w, "{}", resource.to_compact()).expect("write output");
    }
    w.flush().expect("write output");
}

/// A valid (Modulus 11) NHS number from the 999 test range, different for each `i`.
fn nhs_number(i: usize) -> String {
    let mut n = 999_000_000 + i as u64 * 7;
    loop {
        let digits: Vec<u64> = n.to_string().bytes().map(|b| (b - b'0') as u64).collect();
        let sum: u64 = digits
            .iter()
            .enumerate()
            .map(|(k, d)| d * (10 - k as u64))
            .sum();
        let check = (11 - sum % 11) % 11;
        if check != 10 {
            return format!("{n}{check}");
        }
        n += 1;
    }
}
