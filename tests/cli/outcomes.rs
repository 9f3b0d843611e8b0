//! `spfhir outcomes` over a Bulk Data folder: plain and gzip'd NDJSON, a malformed line
//! named by file:line, suppressed and `--unsuppressed` tables.

use std::io::Write;

use crate::{TempDir, command, run};

const Q: &str = "https://spfhir.org/fhir/Questionnaire/sp-ucla3";
const T: &str = "https://spfhir.org/fhir/StructureDefinition/sp-outcome-timepoint";

fn line(person: usize, timepoint: &str, date: &str, answers: [i64; 3]) -> String {
    let items: Vec<String> = ["companionship", "left-out", "isolated"]
        .iter()
        .zip(answers)
        .map(|(l, a)| {
            format!(r#"{{"linkId":"{l}","answer":[{{"valueCoding":{{"code":"{a}"}}}}]}}"#)
        })
        .collect();
    format!(
        r#"{{"resourceType":"QuestionnaireResponse","questionnaire":"{Q}","status":"completed","authored":"{date}","subject":{{"reference":"Patient/{person}"}},"extension":[{{"url":"{T}","valueCoding":{{"code":"{timepoint}"}}}}],"item":[{}]}}"#,
        items.join(",")
    )
}

#[test]
fn tables_from_a_bulk_export_folder() {
    let home = TempDir::new("outcomes-home");
    let dir = TempDir::new("outcomes-in");
    // 12 people in the plain file, 10 in the gzip'd one: UCLA-3 from 8 to 5 (a fall: better).
    let mut plain = String::new();
    for p in 0..12 {
        plain += &line(p, "baseline", "2026-01-05", [3, 3, 2]);
        plain.push('\n');
        plain += &line(p, "follow-up", "2026-04-05", [2, 2, 1]);
        plain.push('\n');
    }
    plain += "{ not json\n";
    std::fs::write(dir.0.join("QuestionnaireResponse.ndjson"), plain).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for p in 100..110 {
        writeln!(gz, "{}", line(p, "baseline", "2026-02-05", [3, 3, 3])).unwrap();
        writeln!(gz, "{}", line(p, "follow-up", "2026-05-05", [3, 3, 3])).unwrap();
    }
    std::fs::write(
        dir.0.join("QuestionnaireResponse.2.ndjson.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.0.join("Patient.ndjson"), "ignored\n").unwrap();

    let mut cmd = command(&home.0);
    cmd.args(["outcomes", "--input"]).arg(&dir.0);
    let out = run(cmd, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("QuestionnaireResponse.ndjson:25:1: not a JSON resource"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Patient.ndjson:1:1: not a JSON Patient; skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("22 referrals (22 with a response), 44 responses used, 1 not used, 1 Patient, ServiceRequest or CarePlan lines skipped; 22 baseline/follow-up pairs"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ucla = &json["instruments"][0];
    assert_eq!(ucla["instrument"], "ucla3");
    // Published: 22 pairs → 20; 12 improved → 10; 10 no change → 10; 0 worse.
    assert_eq!(
        (
            &ucla["pairs"],
            &ucla["improved"],
            &ucla["noChange"],
            &ucla["worse"]
        ),
        (
            &serde_json::json!(20),
            &serde_json::json!(10),
            &serde_json::json!(10),
            &serde_json::json!(0)
        )
    );
    // Mean change: (12 × −3 + 10 × 0) / 22.
    assert_eq!(ucla["meanChange"], serde_json::json!(-1.64));
    assert_eq!(json["rejected"]["malformed"], 1);

    // Exact figures on request, with a warning; by quarter, as CSV.
    let mut cmd = command(&home.0);
    cmd.args([
        "outcomes",
        "--unsuppressed",
        "--by",
        "quarter",
        "--format",
        "csv",
        "--input",
    ])
    .arg(&dir.0);
    let out = run(cmd, b"");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: --unsuppressed"));
    assert!(csv.contains("\nall,ucla3,22,22,22,22,"), "{csv}");
    assert!(csv.contains("\nquarter=2026Q1,ucla3,22,22,22,22,"), "{csv}");

    // A missing input is a usage error.
    let mut cmd = command(&home.0);
    cmd.args(["outcomes", "--input", "/no/such/folder"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn synthetic_exports_are_deterministic_and_report() {
    let home = TempDir::new("synth-home");
    let a = TempDir::new("synth-a");
    let b = TempDir::new("synth-b");
    for dir in [&a, &b] {
        let mut cmd = command(&home.0);
        cmd.args(["synth", "outcomes", "--people", "300", "--seed", "42", "-o"])
            .arg(&dir.0);
        let out = run(cmd, b"");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for f in [
        "Patient.ndjson",
        "ServiceRequest.ndjson",
        "QuestionnaireResponse.ndjson",
    ] {
        let (x, y) = (
            std::fs::read(a.0.join(f)).unwrap(),
            std::fs::read(b.0.join(f)).unwrap(),
        );
        assert!(
            !x.is_empty() && x == y,
            "{f} differs between two runs with one seed"
        );
    }
    let mut cmd = command(&home.0);
    cmd.args(["outcomes", "--input"]).arg(&a.0);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["instruments"].as_array().unwrap().len() >= 4, "{json}");

    // Referrals come from ServiceRequest.ndjson: all 300, answered or not.
    assert_eq!(json["referrals"], 300, "{json}");
    assert!(json["referralsWithResponse"].as_u64().unwrap() < 300);

    // By PCN, which needs the organisation lookup synth wrote beside the export.
    let mut cmd = command(&home.0);
    cmd.args(["outcomes", "--by", "pcn", "--input"]).arg(&a.0);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--by pcn needs the organisation lookup")
    );
    let mut cmd = command(&home.0);
    cmd.args(["outcomes", "--by", "pcn", "--orgs"])
        .arg(a.0.join("orgs.csv"))
        .arg("--input")
        .arg(&a.0);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pcns: Vec<&str> = json["strata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["by"]["pcn"].as_str().unwrap())
        .collect();
    assert_eq!(pcns, ["U12345", "U23456", "U34567"], "{json}");

    // The MeasureReport (by PCN and quarter: two-component strata) validates against R4
    // and spfhir's Measure with no errors.
    let report = a.0.join("report.json");
    let mut cmd = command(&home.0);
    cmd.args([
        "outcomes",
        "--by",
        "pcn,quarter",
        "--format",
        "measurereport",
        "-o",
    ])
    .arg(&report)
    .arg("--orgs")
    .arg(a.0.join("orgs.csv"))
    .arg("--input")
    .arg(&a.0);
    assert_eq!(run(cmd, b"").status.code(), Some(0));
    let mr: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(mr["resourceType"], "MeasureReport");
    assert!(mr["group"].as_array().unwrap().len() >= 4, "{mr}");
    assert!(
        mr["group"][0]["stratifier"][0]["stratum"]
            .as_array()
            .is_some(),
        "{mr}"
    );
    validates_cleanly(&home.0, &report);
    // Each score carries its 95% interval, in spfhir's extension (which validated above).
    let score = &mr["group"][0]["measureScore"];
    assert_eq!(
        score["extension"][0]["url"],
        "https://spfhir.org/fhir/StructureDefinition/sp-confidence-interval"
    );
    let (lo, hi) = (
        score["extension"][0]["valueRange"]["low"]["value"]
            .as_f64()
            .unwrap(),
        score["extension"][0]["valueRange"]["high"]["value"]
            .as_f64()
            .unwrap(),
    );
    assert!(lo <= score["value"].as_f64().unwrap() && score["value"].as_f64().unwrap() <= hi);

    // A synthetic Patient (UK Core ethnic category, spfhir's IMD decile) validates too.
    let patient = a.0.join("patient.json");
    let first = std::fs::read_to_string(a.0.join("Patient.ndjson")).unwrap();
    std::fs::write(&patient, first.lines().next().unwrap()).unwrap();
    validates_cleanly(&home.0, &patient);
}

/// `spfhir validate FILE` finds no errors.
fn validates_cleanly(home: &std::path::Path, file: &std::path::Path) {
    let mut cmd = command(home);
    cmd.args([
        "validate",
        "--package-path",
        &crate::packages(),
        "--format",
        "text",
    ])
    .arg(file);
    let out = run(cmd, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("error"), "{text}");
}

#[test]
fn the_pair_table_needs_a_key_from_a_file_or_the_environment() {
    let home = TempDir::new("parquet-home");
    let dir = TempDir::new("parquet-in");
    let mut text = String::new();
    for p in 0..10 {
        text += &line(p, "baseline", "2026-01-05", [3, 3, 2]);
        text += "\n";
        text += &line(p, "follow-up", "2026-04-05", [2, 2, 1]);
        text += "\n";
    }
    std::fs::write(dir.0.join("QuestionnaireResponse.ndjson"), text).unwrap();
    let out_file = dir.0.join("pairs.parquet");
    let outcomes = |extra: &[&std::ffi::OsStr], env: Option<&str>| {
        let mut cmd = command(&home.0);
        cmd.env_remove("SPFHIR_PSEUDONYM_KEY");
        if let Some(k) = env {
            cmd.env("SPFHIR_PSEUDONYM_KEY", k);
        }
        cmd.args(["outcomes", "--format", "parquet", "--input"])
            .arg(&dir.0)
            .args(extra);
        run(cmd, b"")
    };
    let o = std::ffi::OsStr::new("-o");
    // No key: refused before anything is read, saying where a key may come from.
    let out = outcomes(&[o, out_file.as_os_str()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--key-file FILE") && stderr.contains("SPFHIR_PSEUDONYM_KEY"),
        "{stderr}"
    );
    // No -o: Parquet is not written to a terminal.
    let out = outcomes(&[], Some("a key from the environment, long enough"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o FILE"));
    // A short key file.
    let key = dir.0.join("key");
    std::fs::write(&key, "short\n").unwrap();
    let k = std::ffi::OsStr::new("--key-file");
    let out = outcomes(&[o, out_file.as_os_str(), k, key.as_os_str()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
    assert!(!out_file.exists());
    // From the environment, and from a file: the same key gives the same file.
    let out = outcomes(
        &[o, out_file.as_os_str()],
        Some("0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("10 pairs, pseudonymised"));
    let from_env = std::fs::read(&out_file).unwrap();
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let out = outcomes(&[o, out_file.as_os_str(), k, key.as_os_str()], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&out_file).unwrap(), from_env);
    assert!(from_env.starts_with(b"PAR1"));
}

/// `--store` reads a server's own store: the synthetic export written to a running `spfhir
/// serve` (a real process, its SQLite file) gives the same tables as the files themselves.
#[test]
fn a_servers_store_gives_the_same_tables_as_its_export() {
    let home = TempDir::new("outcomes-store-home");
    let work = TempDir::new("outcomes-store");
    let export = work.0.join("export");
    let out = run(
        {
            let mut c = command(&home.0);
            c.args(["synth", "outcomes", "--people", "120", "--seed", "5", "-o"])
                .arg(&export);
            c
        },
        b"",
    );
    assert!(out.status.success(), "{}", crate::text(&out.stderr));
    // Responses with items missing are invalid, and still kept (as a platform keeps them),
    // so the store holds all that the files do.
    std::fs::write(
        work.0.join("spfhir.toml"),
        "[validation]\non_write = \"reject\"\nper_type = { QuestionnaireResponse = \"warn\" }\n",
    )
    .unwrap();
    let server = crate::serve::Running::start(
        &home.0,
        &work.0,
        &["--config", "spfhir.toml", "--insecure-dev"],
    );
    let client = reqwest::blocking::Client::new();
    for ty in ["Patient", "ServiceRequest", "QuestionnaireResponse"] {
        let text = std::fs::read_to_string(export.join(format!("{ty}.ndjson"))).unwrap();
        let entries: Vec<serde_json::Value> = text
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                let request = match r.get("id").and_then(|i| i.as_str()) {
                    Some(id) => serde_json::json!({"method": "PUT", "url": format!("{ty}/{id}")}),
                    None => serde_json::json!({"method": "POST", "url": ty}),
                };
                serde_json::json!({"resource": r, "request": request})
            })
            .collect();
        let n = entries.len();
        let bundle =
            serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let r = client
            .post(&server.base)
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{ty}: {}",
            r.text().unwrap_or_default()
        );
        assert!(n > 100, "{ty}: {n}");
    }
    // Read while the server is still serving (WAL: readers do not block it).
    let tables = |source: &[&str]| {
        let mut c = command(&home.0);
        c.args([
            "outcomes",
            "--format",
            "json",
            "--unsuppressed",
            "--by",
            "quarter",
        ])
        .args(source);
        let out = run(c, b"");
        assert!(out.status.success(), "{}", crate::text(&out.stderr));
        (crate::text(&out.stdout), crate::text(&out.stderr))
    };
    let db = work.0.join("spfhir.db");
    let (from_store, said) = tables(&["--store", db.to_str().unwrap()]);
    let (from_files, _) = tables(&["--input", export.to_str().unwrap()]);
    assert_eq!(from_store, from_files);
    assert!(from_store.contains("\"pairs\""), "{from_store}");
    assert!(said.contains("baseline/follow-up pairs"), "{said}");
    server.stop();
    // A missing SQLite file is a clear error, and no empty store is made.
    let mut c = command(&home.0);
    c.args(["outcomes", "--store"])
        .arg(work.0.join("nothere.db"));
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::text(&out.stderr).contains("no such SQLite file"));
    assert!(!work.0.join("nothere.db").exists());
}
