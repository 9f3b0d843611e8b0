//! Exit codes, compiler-style locations, NDJSON streams (order kept across batches and
//! threads, bad lines reported by number, the rest still processed).

use crate::{packages, spfhir, text};

#[test]
fn validate_text_points_at_line_and_column_and_exits_1() {
    let input = b"{\n  \"resourceType\": \"Patient\",\n  \"gender\": \"femal\"\n}\n";
    let out = spfhir(&["validate", "--package-path", &packages(), "-"], input);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("<stdin>:3:13: error[BINDING_REQUIRED]"),
        "{stdout}"
    );
}

#[test]
fn validate_missing_package_path_is_a_usage_error() {
    let out = spfhir(
        &["validate", "--package-path", "/nonexistent/packages", "-"],
        b"{}",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("error:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn validate_ndjson_keeps_order_across_batches_and_threads() {
    // More lines than one batch (4,096), every 1,000th invalid, a blank line and a line
    // that is not UTF-8: each result keeps its line's index, nothing is skipped.
    let mut input = Vec::new();
    let n = 5_000;
    for i in 0..n {
        if i == 17 {
            input.extend_from_slice(b"\xff\xfe not text\n");
        } else if i == 18 {
            input.extend_from_slice(b"   \n");
        } else if i % 1000 == 999 {
            input.extend_from_slice(
                format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\",\"gender\":\"x\"}}\n")
                    .as_bytes(),
            );
        } else {
            input.extend_from_slice(
                format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\"}}\n").as_bytes(),
            );
        }
    }
    let out = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--ndjson",
            "--format",
            "ndjson",
            "--jobs",
            "2",
            "-",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n - 1, "one result per non-blank line");
    let indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (0..n as u64).filter(|&i| i != 18).collect();
    assert_eq!(indexes, expected);
    for l in &lines {
        let i = l["index"].as_u64().unwrap();
        let invalid = i == 17 || i % 1000 == 999;
        assert_eq!(l["valid"], serde_json::json!(!invalid), "line {i}: {l}");
    }
    let bad = &lines[17]["issues"][0];
    assert_eq!(bad["id"], "JSON_SYNTAX", "{bad}");
    assert_eq!(bad["line_col"]["line"], 18, "{bad}");
}

#[test]
fn translate_ndjson_reports_bad_lines_and_translates_the_rest() {
    let good = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/domain/referral.json"),
    )
    .unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let input = format!("{good}\n{{\"identifier\": 1}}\n{good}\n");
    let out = spfhir(
        &[
            "translate",
            "--kind",
            "referral",
            "--to",
            "fhir",
            "--ndjson",
            "--timestamp",
            "2026-11-02T09:31:00Z",
            "-",
        ],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let bundles: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(bundles.len(), 2);
    assert!(bundles.iter().all(|b| b["resourceType"] == "Bundle"));
    assert!(text(&out.stderr).contains(":2:"), "{}", text(&out.stderr));
}

#[test]
fn bad_usage_exits_2() {
    let out = spfhir(&["translate", "--kind", "nonsense"], b"");
    assert_eq!(out.status.code(), Some(2));
}
