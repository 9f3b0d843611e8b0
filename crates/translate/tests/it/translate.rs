//! Translation tests, data-driven: each domain fixture in tests/data/domain is translated to
//! FHIR (snapshotted), read back (must equal the input, with no warnings), and packaged both
//! as a message and a transaction Bundle. Every ServiceRequest, CarePlan and
//! QuestionnaireResponse example in ../shared is read, and what happened is snapshotted.

use spfhir_domain::{CarePlan, OutcomeResponse, RecordKind, Referral};
use spfhir_element::{Json, parse};
use spfhir_translate::{
    self as translate, BundleKind, ToFhir, WriteOptions, careplan, outcome, referral,
};

const TIMESTAMP: &str = "2026-11-02T09:31:00Z";

fn opts(bundle: BundleKind) -> WriteOptions {
    WriteOptions {
        bundle,
        timestamp: Some(TIMESTAMP.into()),
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(spfhir_testkit::domain_dir().join(name)).unwrap()
}

fn kind_of(name: &str) -> RecordKind {
    match name.split(['-', '.']).next().unwrap() {
        "referral" => RecordKind::Referral,
        "careplan" => RecordKind::Careplan,
        _ => RecordKind::Outcome,
    }
}

fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(spfhir_testkit::domain_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 8);
    names
}

#[test]
fn domain_to_fhir_snapshots() {
    for name in fixtures() {
        for bundle in [BundleKind::Message, BundleKind::Transaction] {
            let t = translate::domain_json_to_fhir(kind_of(&name), &fixture(&name), &opts(bundle))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let suffix = if bundle == BundleKind::Message {
                "message"
            } else {
                "transaction"
            };
            insta::assert_snapshot!(
                format!("{}-{suffix}", name.trim_end_matches(".json")),
                t.fhir.to_pretty()
            );
            assert!(t.issues.is_empty(), "{name}: {:?}", t.issues);
            // The text path (arena tree written directly) gives the same bytes, both layouts.
            for pretty in [true, false] {
                let text = translate::domain_json_to_fhir_text(
                    kind_of(&name),
                    &fixture(&name),
                    &opts(bundle),
                    pretty,
                )
                .unwrap();
                let owned = if pretty {
                    t.fhir.to_pretty()
                } else {
                    t.fhir.to_compact()
                };
                assert_eq!(text.text, owned, "{name} {bundle:?} pretty={pretty}");
                assert!(text.issues.is_empty());
            }
        }
    }
}

/// domain → FHIR → domain gives the input back, with no warnings, for both Bundle kinds.
#[test]
fn domain_fhir_domain_round_trip() {
    for name in fixtures() {
        let kind = kind_of(&name);
        let input = typed_round_trip(kind, &fixture(&name));
        for bundle in [BundleKind::Message, BundleKind::Transaction] {
            let t = translate::domain_json_to_fhir(kind, &fixture(&name), &opts(bundle)).unwrap();
            // Through text, as a receiver would get it.
            let fhir = parse(&t.fhir.to_compact()).unwrap();
            let (mut back, issues) = translate::fhir_to_domain_json(kind, &fhir)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(issues.is_empty(), "{name} {bundle:?}: {issues:#?}");
            if kind == RecordKind::Outcome {
                back.as_object_mut().unwrap().remove("scores");
            }
            assert_eq!(back, input, "{name} {bundle:?}");
        }
    }
}

#[test]
fn outcome_scores_are_computed_into_the_response() {
    let t = translate::domain_json_to_fhir(
        RecordKind::Outcome,
        &fixture("outcome-swemwbs.json"),
        &opts(BundleKind::Message),
    )
    .unwrap();
    let (back, _) = translate::fhir_to_domain_json(RecordKind::Outcome, &t.fhir).unwrap();
    // 2+3+3+2+4+3+2 = 19 → metric 17.98
    assert_eq!(
        back["scores"],
        serde_json::json!({"total": 19, "metric": 17.98})
    );
}

#[test]
fn translation_is_deterministic() {
    let a = translate::domain_json_to_fhir(
        RecordKind::Referral,
        &fixture("referral.json"),
        &opts(BundleKind::Message),
    )
    .unwrap();
    let b = translate::domain_json_to_fhir(
        RecordKind::Referral,
        &fixture("referral.json"),
        &opts(BundleKind::Message),
    )
    .unwrap();
    assert_eq!(a.fhir.to_compact(), b.fhir.to_compact());
}

/// The fixture as the typed model sees it (defaults filled in), as JSON.
fn typed_round_trip(kind: RecordKind, text: &str) -> serde_json::Value {
    match kind {
        RecordKind::Referral => {
            serde_json::to_value(serde_json::from_str::<Referral>(text).unwrap())
        }
        RecordKind::Careplan => {
            serde_json::to_value(serde_json::from_str::<CarePlan>(text).unwrap())
        }
        RecordKind::Outcome => {
            serde_json::to_value(serde_json::from_str::<OutcomeResponse>(text).unwrap())
        }
    }
    .unwrap()
}

fn issues_text(issues: &[spfhir_element::issue::Issue]) -> String {
    issues
        .iter()
        .map(|i| i.render("input"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bad_domain_input_names_the_field() {
    let cases = [
        (
            "bad nhs number",
            fixture("referral.json").replace("9434765919", "943476591"),
        ),
        (
            "bad date",
            fixture("referral.json").replace("1948-03-14", "1948-02-30"),
        ),
        (
            "unknown field",
            fixture("referral.json").replace("\"notes\"", "\"notez\""),
        ),
        (
            "bad status",
            fixture("referral.json").replace("\"status\": \"active\"", "\"status\": \"open\""),
        ),
        (
            "no destination",
            fixture("referral.json")
                .replace("\"dosId\": \"2000099001\",", "")
                .replace("\"orukId\": \"leeds-sp-linkworkers\",", ""),
        ),
        ("syntax", "{\"identifier\": ".to_string()),
    ];
    let mut out = String::new();
    for (what, text) in cases {
        let issues =
            translate::domain_json_to_fhir(RecordKind::Referral, &text, &opts(BundleKind::Message))
                .unwrap_err();
        out.push_str(&format!("## {what}\n{}\n", issues_text(&issues)));
    }
    let bad_score = fixture("outcome-ucla3.json").replace("\"value\": 3", "\"value\": 4");
    let issues =
        translate::domain_json_to_fhir(RecordKind::Outcome, &bad_score, &opts(BundleKind::Message))
            .unwrap_err();
    out.push_str(&format!(
        "## out of range answer\n{}\n",
        issues_text(&issues)
    ));
    let mut bad_goal = fixture("careplan.json");
    let at = bad_goal.rfind("\"g2\"").unwrap(); // the last mention: an activity's goal
    bad_goal.replace_range(at..at + 4, "\"g9\"");
    let issues =
        translate::domain_json_to_fhir(RecordKind::Careplan, &bad_goal, &opts(BundleKind::Message))
            .unwrap_err();
    out.push_str(&format!("## unknown goal\n{}\n", issues_text(&issues)));
    insta::assert_snapshot!(out);
}

#[test]
fn bad_fhir_input_is_reported_with_fhirpath() {
    let t = translate::domain_json_to_fhir(
        RecordKind::Referral,
        &fixture("referral.json"),
        &opts(BundleKind::Message),
    )
    .unwrap();
    let text = t.fhir.to_pretty();
    let cases = [
        (
            "bad status code",
            text.replacen("\"status\": \"active\"", "\"status\": \"open\"", 1),
        ),
        (
            "extra element",
            text.replacen(
                "\"intent\": \"plan\",",
                "\"intent\": \"plan\",\n\"doNotPerform\": true,",
                1,
            ),
        ),
        (
            "bad birth date",
            text.replacen("1948-03-14", "14/03/1948", 1),
        ),
        (
            "wrong resource",
            "{\"resourceType\": \"Observation\", \"status\": \"final\"}".to_string(),
        ),
    ];
    let mut out = String::new();
    for (what, text) in cases {
        let tree = parse(&text).unwrap();
        let issues = match translate::fhir_to_domain_json(RecordKind::Referral, &tree) {
            Ok((_, issues)) | Err(issues) => issues,
        };
        let index = spfhir_element::LineIndex::new(&text);
        let issues: Vec<_> = issues
            .into_iter()
            .map(|mut i| {
                i.locate(&index, &text);
                i
            })
            .collect();
        out.push_str(&format!("## {what}\n{}\n", issues_text(&issues)));
    }
    insta::assert_snapshot!(out);
}

/// Every ServiceRequest, CarePlan and QuestionnaireResponse example in ../shared (and every
/// Bundle holding one) is read. Each either translates (with warnings for what did not map)
/// or fails with a clear error; the outcome of each is snapshotted.
#[test]
fn reads_every_shared_example() {
    let shared = spfhir_testkit::shared_dir();
    let mut report = String::new();
    let mut translated = 0;
    let mut files = spfhir_testkit::json_files(&shared.join("fhir/uk-core/examples"));
    files.extend(spfhir_testkit::json_files(&shared.join("fhir/bars")));
    for path in files {
        let rel = path
            .strip_prefix(&shared)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Ok(tree) = parse(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        let types = resource_types(&tree);
        for (kind, rt) in [
            (RecordKind::Referral, "ServiceRequest"),
            (RecordKind::Careplan, "CarePlan"),
            (RecordKind::Outcome, "QuestionnaireResponse"),
        ] {
            if !types.iter().any(|t| t == rt) {
                continue;
            }
            let line = match translate::fhir_to_domain_json(kind, &tree) {
                Ok((_, issues)) => {
                    translated += 1;
                    let mut ids: Vec<&str> = issues.iter().map(|i| i.id).collect();
                    ids.dedup();
                    format!("ok, {} warnings ({})", issues.len(), ids.join(", "))
                }
                Err(issues) => format!(
                    "error: {}",
                    issues
                        .iter()
                        .map(|i| format!("[{}] {}", i.id, i.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            report.push_str(&format!("{rel} as {rt}: {line}\n"));
        }
    }
    assert!(translated >= 20, "only {translated} examples translated");
    insta::assert_snapshot!(report);
}

fn resource_types(tree: &Json) -> Vec<String> {
    let mut out = vec![
        tree.get("resourceType")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
    ];
    for e in tree.get("entry").and_then(Json::as_array).unwrap_or(&[]) {
        if let Some(rt) = e
            .get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Json::as_str)
        {
            out.push(rt.to_string());
        }
    }
    out
}

/// The typed API gives the same as the JSON API.
#[test]
fn typed_api_matches() {
    let r: Referral = serde_json::from_str(&fixture("referral.json")).unwrap();
    let t = Referral::to_fhir(&r, &opts(BundleKind::Message)).unwrap();
    assert_eq!(referral::to_domain(&t.fhir).unwrap().0, r);
    let c: CarePlan = serde_json::from_str(&fixture("careplan.json")).unwrap();
    assert_eq!(
        careplan::to_domain(
            &CarePlan::to_fhir(&c, &opts(BundleKind::Transaction))
                .unwrap()
                .fhir
        )
        .unwrap()
        .0,
        c
    );
    let mut o: OutcomeResponse = serde_json::from_str(&fixture("outcome-wemwbs.json")).unwrap();
    let fhir = OutcomeResponse::to_fhir(&o, &opts(BundleKind::Message))
        .unwrap()
        .fhir;
    o.normalise().unwrap();
    assert_eq!(o.scores.total, Some(41));
    assert_eq!(outcome::to_domain(&fhir).unwrap().0, o);
}

/// Retries are idempotent: the same record gives the same message (Bundle id, MessageHeader
/// id and every fullUrl) whenever it is sent; only the timestamp differs. A changed record
/// is a new message.
#[test]
fn the_same_record_is_the_same_message_whenever_it_is_sent() {
    for (name, kind, text) in spfhir_testkit::domain_fixtures() {
        let at = |timestamp: &str, text: &str| {
            let opts = WriteOptions {
                bundle: BundleKind::Message,
                timestamp: Some(timestamp.to_string()),
            };
            translate::domain_json_to_fhir(kind, text, &opts)
                .unwrap()
                .fhir
        };
        let ids = |b: &Json| -> Vec<String> {
            let mut out = vec![b.get_str("id").unwrap().to_string()];
            for e in b.get("entry").and_then(Json::as_array).unwrap() {
                out.push(e.get_str("fullUrl").unwrap().to_string());
            }
            out
        };
        let first = at("2026-11-02T09:31:00Z", &text);
        let retry = at("2026-11-02T09:31:07Z", &text);
        assert_eq!(ids(&first), ids(&retry), "{name}");
        assert_ne!(first.get_str("timestamp"), retry.get_str("timestamp"));
        let without_timestamps = |mut b: Json| {
            if let Some(o) = b.as_object_mut() {
                o.members.retain(|m| m.key != "timestamp");
            }
            b.to_compact()
        };
        assert_eq!(
            without_timestamps(first.clone()),
            without_timestamps(retry),
            "{name}: only the timestamp changes"
        );
        // Change one thing in the record: a new message, with new Bundle and header ids.
        let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = record.as_object_mut().unwrap();
        let (field, value) = match kind {
            RecordKind::Referral => (
                "notes",
                serde_json::json!("called the surgery; prefers mornings"),
            ),
            RecordKind::Careplan => (
                "whatMatters",
                serde_json::json!("getting back to the allotment"),
            ),
            RecordKind::Outcome => ("date", serde_json::json!("2026-10-01")),
        };
        obj.insert(field.to_string(), value);
        let changed = at("2026-11-02T09:31:00Z", &record.to_string());
        let (a, b) = (ids(&first), ids(&changed));
        assert_ne!(a[0], b[0], "{name}: Bundle.id");
        assert_ne!(a[1], b[1], "{name}: MessageHeader fullUrl");
    }
}

/// The example referral as a message Bundle, at a fixed time.
fn referral_message() -> Json {
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let text = std::fs::read_to_string(spfhir_testkit::domain_dir().join("referral.json")).unwrap();
    translate::domain_json_to_fhir(RecordKind::Referral, &text, &opts)
        .unwrap()
        .fhir
}

/// A key given twice could be read either way (the validator reads the first, other tools
/// the last): the translators refuse the record and say where.
#[test]
fn a_key_given_twice_refuses_the_record() {
    let bundle = referral_message().to_pretty();
    let twice = bundle.replacen(
        "\"status\": \"active\"",
        "\"status\": \"revoked\", \"status\": \"active\"",
        1,
    );
    assert_ne!(twice, bundle);
    let errors =
        translate::fhir_to_domain_json(RecordKind::Referral, &parse(&twice).unwrap()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].id, "TRANSLATE_DUPLICATE_KEY");
    assert!(
        errors[0]
            .expression
            .as_deref()
            .unwrap()
            .ends_with(".status"),
        "{errors:?}"
    );
}

/// Nothing is dropped silently at the Bundle level either, and a security label is never
/// dropped: the record is refused instead.
#[test]
fn bundle_level_elements_are_reported_and_security_labels_refuse_the_record() {
    let bundle = referral_message();
    let mut v: serde_json::Value = serde_json::from_str(&bundle.to_compact()).unwrap();
    v["identifier"] = serde_json::json!({"system": "https://example.org/msg", "value": "m-1"});
    v["meta"] =
        serde_json::json!({"lastUpdated": "2026-11-02T09:31:00Z", "tag": [{"code": "urgent"}]});
    v["entry"][1]["search"] = serde_json::json!({"mode": "match"});
    let read = |v: &serde_json::Value| {
        translate::fhir_to_domain_json(RecordKind::Referral, &parse(&v.to_string()).unwrap())
    };
    let (_, warnings) = read(&v).expect("translates, with warnings");
    let places: Vec<&str> = warnings
        .iter()
        .filter(|i| i.id == "TRANSLATE_NOT_MAPPED")
        .filter_map(|i| i.expression.as_deref())
        .collect();
    for place in [
        "Bundle.identifier",
        "Bundle.meta.tag",
        "Bundle.entry[1].search",
    ] {
        assert!(places.contains(&place), "{place} not reported: {places:?}");
    }
    assert!(!places.contains(&"Bundle.meta.lastUpdated"), "{places:?}");

    let sr = v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["resource"]["resourceType"] == "ServiceRequest")
        .unwrap();
    v["entry"][sr]["resource"]["meta"]["security"] = serde_json::json!([{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]);
    let errors = read(&v).unwrap_err();
    assert!(
        errors.iter().any(|i| i.id == "TRANSLATE_SECURITY_LABEL"),
        "{errors:?}"
    );
}

/// The message reason is kept by keeping the status it follows from; a reason the status
/// does not imply (a "delete" for an active referral) is reported, not dropped.
#[test]
fn a_message_reason_the_status_does_not_imply_is_reported() {
    let mut v: serde_json::Value = serde_json::from_str(&referral_message().to_compact()).unwrap();
    let read = |v: &serde_json::Value| {
        translate::fhir_to_domain_json(RecordKind::Referral, &parse(&v.to_string()).unwrap())
            .unwrap()
            .1
    };
    let not_mapped = |issues: Vec<spfhir_element::issue::Issue>| -> Vec<String> {
        issues
            .into_iter()
            .filter(|i| i.id == "TRANSLATE_NOT_MAPPED")
            .filter_map(|i| i.expression)
            .collect()
    };
    assert!(!not_mapped(read(&v)).iter().any(|p| p.ends_with(".reason")));
    v["entry"][0]["resource"]["reason"]["coding"][0]["code"] = "delete".into();
    let places = not_mapped(read(&v));
    assert!(
        places.contains(&"Bundle.entry[0].resource.reason".to_string()),
        "{places:?}"
    );
}

#[test]
fn a_total_that_is_not_a_whole_number_is_reported_never_dropped() {
    let t = translate::domain_json_to_fhir(
        RecordKind::Outcome,
        &fixture("outcome-swemwbs.json"),
        &opts(BundleKind::Message),
    )
    .unwrap();
    let fhir: serde_json::Value = serde_json::from_str(&t.fhir.to_compact()).unwrap();
    for given in [
        "8.5",
        "1e20",
        "100000000000000000000",
        "123456789012345678901234567890123456789",
    ] {
        // Put the given total in place of the written one, as raw JSON number text.
        let mut v = fhir.clone();
        let entry = v["entry"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["resource"]["resourceType"] == "QuestionnaireResponse")
            .unwrap();
        let total = entry["resource"]["item"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|i| i["linkId"] == "total")
            .unwrap();
        total["answer"] = serde_json::json!([{"valueDecimal": "GIVEN"}]);
        let text = v.to_string().replace("\"GIVEN\"", given);
        let (back, issues) =
            translate::fhir_to_domain_json(RecordKind::Outcome, &parse(&text).unwrap()).unwrap();
        assert_eq!(back["scores"]["total"], 19, "{given}");
        assert!(
            issues.iter().any(|i| matches!(
                i.id,
                "OUTCOME_SCORE_MISMATCH" | "TRANSLATE_NOT_MAPPED"
            ) && i
                .expression
                .as_deref()
                .is_some_and(|e| e.contains(".item"))),
            "{given}: {issues:?}"
        );
    }
}
