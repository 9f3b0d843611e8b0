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
fn validate_reads_xml_and_points_at_its_lines() {
    // The same bad code as above, in XML, plus an element out of order: both at the XML's
    // own line:col, and the JSON rule's message is the JSON one's.
    let input = b"<Patient xmlns=\"http://hl7.org/fhir\">\n  <gender value=\"femal\"/>\n  <active value=\"true\"/>\n</Patient>\n";
    let out = spfhir(&["validate", "--package-path", &packages(), "-"], input);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("<stdin>:2:18: error[BINDING_REQUIRED]"),
        "{stdout}"
    );
    assert!(stdout.contains("<stdin>:3:3: error[XML_ORDER]"), "{stdout}");
    let broken =
        b"<Patient xmlns=\"http://hl7.org/fhir\">\n  <active value=\"true\">\n</Patient>\n";
    let out = spfhir(&["validate", "--package-path", &packages(), "-"], broken);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("<stdin>:3:1: error[XML_SYNTAX]"),
        "{}",
        text(&out.stdout)
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

#[test]
fn validate_takes_folders_and_json_names_each_file_in_one_document() {
    let dir = crate::TempDir::new("folder");
    std::fs::create_dir_all(dir.0.join("nested")).unwrap();
    std::fs::write(
        dir.0.join("a.json"),
        r#"{"resourceType":"Patient","gender":"femal"}"#,
    )
    .unwrap();
    std::fs::write(dir.0.join("nested/b.json"), r#"{"resourceType":"Patient"}"#).unwrap();
    std::fs::write(
        dir.0.join("nested/c.ndjson"),
        "{\"resourceType\":\"Patient\"}\n{\"resourceType\":\"Patient\",\"active\":\"yes\"}\n",
    )
    .unwrap();
    std::fs::write(dir.0.join("notes.txt"), "not a resource").unwrap();
    let folder = dir.0.display().to_string();
    let out = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--format",
            "json",
            &folder,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let map = doc.as_object().unwrap();
    let keys: Vec<String> = map.keys().map(|k| k.replacen(&folder, "", 1)).collect();
    assert_eq!(
        keys,
        [
            "/a.json",
            "/nested/b.json",
            "/nested/c.ndjson:1",
            "/nested/c.ndjson:2"
        ]
    );
    for (name, oo) in map {
        assert_eq!(oo["resourceType"], "OperationOutcome", "{name}");
    }
    let ids = |k: &str| -> Vec<String> {
        map[&format!("{folder}{k}")]["issue"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["extension"].as_array().unwrap().clone())
            .filter(|e| {
                e["url"]
                    .as_str()
                    .unwrap()
                    .ends_with("operationoutcome-message-id")
            })
            .map(|e| e["valueString"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids("/a.json").contains(&"BINDING_REQUIRED".to_string()));
    assert!(ids("/nested/c.ndjson:2").contains(&"TYPE_PRIMITIVE".to_string()));

    // One file alone is still one OperationOutcome.
    let a = format!("{folder}/a.json");
    let out = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--format",
            "json",
            &a,
        ],
        b"",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["resourceType"], "OperationOutcome");

    let missing = format!("{folder}/missing.json");
    let out = spfhir(&["validate", "--package-path", &packages(), &missing], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no such file or folder"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn quiet_and_suppress_filter_what_is_reported_and_counted() {
    // dom-6 (no narrative) is a warning; the gender code an error.
    let input = br#"{"resourceType":"Patient","gender":"femal"}"#;
    let all = spfhir(&["validate", "--package-path", &packages(), "-"], input);
    assert!(
        text(&all.stdout).contains("warning[INVARIANT]"),
        "{}",
        text(&all.stdout)
    );
    let quiet = spfhir(
        &["validate", "--package-path", &packages(), "--quiet", "-"],
        input,
    );
    assert!(
        !text(&quiet.stdout).contains("warning["),
        "{}",
        text(&quiet.stdout)
    );
    assert!(text(&quiet.stdout).contains("error[BINDING_REQUIRED]"));
    assert!(
        text(&quiet.stderr).contains("1 error, 0 warnings"),
        "{}",
        text(&quiet.stderr)
    );
    let suppressed = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--suppress",
            "BINDING_REQUIRED,INVARIANT",
            "-",
        ],
        input,
    );
    assert_eq!(
        suppressed.status.code(),
        Some(0),
        "{}",
        text(&suppressed.stdout)
    );
    assert!(!text(&suppressed.stdout).contains("BINDING_REQUIRED"));
    let unknown = spfhir(&["validate", "--suppress", "NO_SUCH_ID", "-"], input);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no such message id"));
}

#[test]
fn help_lists_exit_codes_and_advertises_only_what_exists() {
    let out = spfhir(&["--help"], b"");
    let help = text(&out.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("serve"), "{help}");
    // What is not built is not advertised.
    assert!(help.contains("outcomes"), "{help}");
    for absent in ["deliver", "map "] {
        assert!(!help.contains(absent), "{absent}: {help}");
    }
    let out = spfhir(&["validate", "--help"], b"");
    assert!(text(&out.stdout).contains("Exit codes:"));
}

/// A file that is not UTF-8 is that file's JSON_SYNTAX issue, at its first bad byte; the
/// files after it are still validated, and the JSON output stays one document. A byte order
/// mark is accepted the same way by every command.
#[test]
fn a_file_that_is_not_text_is_its_own_problem() {
    let dir = crate::TempDir::new("utf8");
    std::fs::write(
        dir.0.join("a.json"),
        b"{\"resourceType\":\"Patient\",\n \"gender\":\"f\xffmale\"}",
    )
    .unwrap();
    std::fs::write(
        dir.0.join("b.json"),
        r#"{"resourceType":"Patient","gender":"robot"}"#,
    )
    .unwrap();
    let a = dir.0.join("a.json").display().to_string();
    let b = dir.0.join("b.json").display().to_string();
    let out = spfhir(&["validate", "--package-path", &packages(), &a, &b], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        stdout.contains("a.json:2:13: error[JSON_SYNTAX]: the input is not valid UTF-8 (byte 40)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("b.json:1:36: error[BINDING_REQUIRED]"),
        "{stdout}"
    );
    let out = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--format",
            "json",
            &a,
            &b,
        ],
        b"",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc.as_object().unwrap().len(), 2);

    // A BOM: validate and translate both take it.
    let referral = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/domain/referral.json"),
    )
    .unwrap();
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), &referral].concat();
    let out = spfhir(
        &["translate", "--kind", "referral", "--to", "fhir", "-"],
        &with_bom,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = spfhir(
        &["validate", "--package-path", &packages(), "-"],
        b"\xEF\xBB\xBF{\"resourceType\":\"Patient\"}",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn a_resource_past_the_time_limit_is_its_own_error_and_the_run_goes_on() {
    let dir = crate::TempDir::new("time-limit");
    let entries: Vec<String> = (0..3_000)
        .map(|i| format!(r#"{{"fullUrl":"urn:uuid:00000000-0000-4000-8000-{i:012}","resource":{{"resourceType":"Patient","gender":"unknown"}}}}"#))
        .collect();
    let big = format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[{}]}}"#,
        entries.join(",")
    );
    std::fs::write(dir.0.join("a-big.json"), big).unwrap();
    std::fs::write(
        dir.0.join("b-small.json"),
        r#"{"resourceType":"Patient","gender":"robot"}"#,
    )
    .unwrap();
    let folder = dir.0.display().to_string();
    let out = spfhir(
        &[
            "validate",
            "--package-path",
            &packages(),
            "--max-time-per-resource",
            "1ns",
            &folder,
        ],
        b"",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        stdout.contains("a-big.json:1:1: error[VALIDATION_TIME_LIMIT]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("b-small.json:1:36: error[BINDING_REQUIRED]"),
        "{stdout}"
    );
    // The default limit lets the Bundle finish: it is valid.
    let big = dir.0.join("a-big.json").display().to_string();
    let out = spfhir(&["validate", "--package-path", &packages(), &big], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A limit that is not a duration is a usage error.
    let out = spfhir(&["validate", "--max-time-per-resource", "soon", &big], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// An extension without a loaded definition: an error by default, a warning with
/// `--unknown-extensions warning`, information under `--allow-extension-domain`.
#[test]
fn unknown_extensions_are_errors_unless_allowed() {
    let input = br#"{"resourceType":"Patient","extension":[{"url":"https://fhir.supplier.example.co.uk/StructureDefinition/shoe-size","valueInteger":9}]}"#;
    let base = [
        "validate",
        "--package-path",
        &packages(),
        "--format",
        "text",
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args.push("-");
        spfhir(&args, input)
    };
    let out = with(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("error[EXTENSION_UNKNOWN]"),
        "{}",
        text(&out.stdout)
    );
    let out = with(&["--unknown-extensions", "warning"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("warning[EXTENSION_UNKNOWN]"),
        "{}",
        text(&out.stdout)
    );
    let out = with(&[
        "--allow-extension-domain",
        "https://fhir.supplier.example.co.uk/",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("information[EXTENSION_UNKNOWN]"),
        "{}",
        text(&out.stdout)
    );
}
