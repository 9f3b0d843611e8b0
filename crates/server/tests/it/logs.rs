//! No patient data in the logs: the whole suite runs again in a child process with every
//! server's log captured at TRACE, and every patient value the suite's fixtures sent
//! (NHS numbers, names, birth dates, addresses, telecoms) is looked for in it.
//!
//! The parent test ([`the_whole_suites_logs_carry_no_patient_values`]) runs this binary with
//! `SPFHIR_IT_LOGS=DIR` and itself skipped; in that child, [`capture`] installs a
//! subscriber writing to `DIR/log.txt` and [`sent`] appends each patient value to
//! `DIR/values.txt`. Outside such a child both do nothing.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

const DIR: &str = "SPFHIR_IT_LOGS";

fn dir() -> Option<PathBuf> {
    std::env::var_os(DIR).map(PathBuf::from)
}

/// In the child run: send every log line of every server, at TRACE, to `DIR/log.txt`.
pub fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    let Some(dir) = dir() else { return };
    ONCE.get_or_init(|| {
        let file = std::fs::File::create(dir.join("log.txt")).unwrap();
        let file = Mutex::new(file);
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(file)
            .init();
    });
}

/// In the child run: note patient values a fixture sends, for the parent to look for.
pub fn sent(values: &[&str]) {
    static FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();
    let Some(dir) = dir() else { return };
    let file = FILE.get_or_init(|| {
        Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("values.txt"))
                .unwrap(),
        )
    });
    let mut f = file.lock().unwrap();
    for v in values {
        writeln!(f, "{v}").unwrap();
    }
}

/// Every identifying value of every Patient in `bundle`: identifiers, names, birth date,
/// telecoms, address lines and postcodes.
pub fn sent_patients_of(bundle: &Value) {
    let mut values = Vec::new();
    for entry in bundle["entry"].as_array().into_iter().flatten() {
        let p = &entry["resource"];
        if p["resourceType"] != "Patient" {
            continue;
        }
        let strings = |v: &Value, out: &mut Vec<String>| collect_strings(v, out);
        for key in ["identifier", "name", "telecom", "address"] {
            for item in p[key].as_array().into_iter().flatten() {
                for field in ["value", "family", "given", "line", "postalCode"] {
                    strings(&item[field], &mut values);
                }
            }
        }
        strings(&p["birthDate"], &mut values);
    }
    sent(&values.iter().map(String::as_str).collect::<Vec<_>>());
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[test]
fn the_whole_suites_logs_carry_no_patient_values() {
    if dir().is_some() {
        return; // the child run itself
    }
    let dir = std::env::temp_dir().join(format!("spfhir-it-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--skip",
            "the_whole_suites_logs_carry_no_patient_values",
            "--test-threads",
            "2",
        ])
        .env(DIR, &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the suite failed in the child run:\n{stdout}"
    );
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    let mut values: Vec<String> = std::fs::read_to_string(dir.join("values.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    values.sort();
    values.dedup();
    let _ = std::fs::remove_dir_all(&dir);
    // The capture worked: every request was logged, with its request id.
    let requests = log.lines().filter(|l| l.contains("request_id")).count();
    assert!(requests > 200, "only {requests} request lines were logged");
    assert!(
        values.iter().any(|v| v == "9434765919") && values.len() > 5,
        "{values:?}"
    );
    for v in &values {
        if let Some(line) = log.lines().find(|l| l.contains(v.as_str())) {
            panic!("a patient value appears in the logs: {line}");
        }
    }
}
