//! spfhir-outcomes end to end on crafted NDJSON lines: scoring, pairing, aggregates,
//! suppression, and the published JSON and CSV.

use serde_json::{Value, json};
use spfhir_outcomes::suppress::Rule;
use spfhir_outcomes::{Aggregator, Options, read};

const BASE: &str = "https://spfhir.org/fhir/Questionnaire/sp-";
const TIMEPOINT: &str = "https://spfhir.org/fhir/StructureDefinition/sp-outcome-timepoint";

/// A QuestionnaireResponse line.
fn qr(
    person: &str,
    instrument: &str,
    timepoint: Option<&str>,
    date: &str,
    answers: &[(&str, i64)],
) -> String {
    let items: Vec<Value> = answers
        .iter()
        .map(|(l, v)| {
            let answer = if instrument == "ons4" {
                json!({"valueInteger": v})
            } else {
                json!({"valueCoding": {"code": v.to_string()}})
            };
            json!({"linkId": l, "answer": [answer]})
        })
        .collect();
    let mut r = json!({
        "resourceType": "QuestionnaireResponse",
        "questionnaire": format!("{BASE}{instrument}"),
        "status": "completed",
        "authored": date,
        "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": person}},
        "basedOn": [{"identifier": {"system": "https://example.org/referrals", "value": format!("ref-{person}")}}],
        "item": items,
    });
    if let Some(t) = timepoint {
        r["extension"] = json!([{"url": TIMEPOINT, "valueCoding": {"code": t}}]);
    }
    r.to_string()
}

/// WEMWBS answers summing to `total` (14–70).
fn wemwbs(total: i64) -> Vec<(String, i64)> {
    let mut left = total - 14;
    (1..=14)
        .map(|i| {
            let add = left.min(4);
            left -= add;
            (format!("wemwbs-{i}"), 1 + add)
        })
        .collect()
}

fn lines_for(
    pairs: &[(i64, i64)],
    first_person: usize,
    date_base: &str,
    date_follow: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (b, f)) in pairs.iter().enumerate() {
        let person = format!("p{}", first_person + i);
        for (tp, total, date) in [("baseline", b, date_base), ("follow-up", f, date_follow)] {
            let a = wemwbs(*total);
            let a: Vec<(&str, i64)> = a.iter().map(|(l, v)| (l.as_str(), *v)).collect();
            out.push(qr(&person, "wemwbs", Some(tp), date, &a));
        }
    }
    out
}

fn run(lines: &[String], options: Options) -> spfhir_outcomes::Report {
    let mut agg = Aggregator::new(options);
    for l in lines {
        let _ = agg.add_line(l);
    }
    agg.finish()
}

#[test]
fn every_swemwbs_raw_score_is_read_as_its_metric_score() {
    for raw in 7..=35i64 {
        let mut left = raw - 7;
        let answers: Vec<(String, i64)> = (1..=7)
            .map(|i| {
                let add = left.min(4);
                left -= add;
                (format!("swemwbs-{i}"), 1 + add)
            })
            .collect();
        let a: Vec<(&str, i64)> = answers.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        let line = qr("p1", "swemwbs", None, "2026-01-01", &a);
        let r = read::response(&spfhir_element::parse(&line).unwrap()).unwrap();
        let want = spfhir_domain::instrument::swemwbs_metric(raw)
            .unwrap()
            .to_string()
            .parse::<f64>()
            .unwrap();
        assert_eq!(
            r.scores,
            vec![(spfhir_outcomes::measure::Measure::Swemwbs, want)],
            "raw {raw}"
        );
    }
}

#[test]
fn unusable_lines_are_counted_by_reason() {
    let mut lines = vec![
        "not json".to_owned(),
        json!({"resourceType": "Patient"}).to_string(),
        qr("p1", "unknown", None, "2026-01-01", &[]),
        qr(
            "p1",
            "ucla3",
            None,
            "2026-01-01",
            &[("companionship", 1), ("left-out", 2)],
        ),
        qr(
            "p1",
            "ucla3",
            None,
            "2026-01",
            &[("companionship", 1), ("left-out", 2), ("isolated", 3)],
        ),
        qr(
            "p1",
            "ucla3",
            None,
            "2026-01-01",
            &[("companionship", 9), ("left-out", 2), ("isolated", 3)],
        ),
    ];
    let mut not_done: Value =
        serde_json::from_str(&qr("p1", "ucla3", None, "2026-01-01", &[])).unwrap();
    not_done["status"] = json!("in-progress");
    lines.push(not_done.to_string());
    let report = run(&lines, Options::default());
    assert_eq!(report.responses, 7);
    assert_eq!(
        report.to_json()["rejected"],
        json!({"malformed": 1, "notAQuestionnaireResponse": 1, "unknownInstrument": 1, "incomplete": 1, "noDate": 1, "invalidAnswer": 1, "notCompleted": 1})
    );
}

#[test]
fn paired_change_matches_an_independent_computation() {
    // 40 people: baseline 30 + i % 17, follow-up baseline + (i % 7) − 2.
    let pairs: Vec<(i64, i64)> = (0..40)
        .map(|i| (30 + i % 17, 30 + i % 17 + i % 7 - 2))
        .collect();
    let lines = lines_for(&pairs, 0, "2026-01-10", "2026-04-10");
    // Without the library: pair by person from the raw JSON and average the differences.
    let mut by_person: std::collections::BTreeMap<String, (Option<i64>, Option<i64>)> =
        Default::default();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let person = v["subject"]["identifier"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let total: i64 = v["item"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["answer"][0]["valueCoding"]["code"]
                    .as_str()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap()
            })
            .sum();
        let e = by_person.entry(person).or_default();
        match v["extension"][0]["valueCoding"]["code"].as_str().unwrap() {
            "baseline" => e.0 = Some(total),
            _ => e.1 = Some(total),
        }
    }
    let diffs: Vec<f64> = by_person
        .values()
        .map(|(b, f)| (f.unwrap() - b.unwrap()) as f64)
        .collect();
    let expected = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let report = run(&lines, Options::default());
    let cell = &report.instruments[&spfhir_outcomes::measure::Measure::Wemwbs];
    assert_eq!(cell.pairs(), 40);
    assert!((cell.change().unwrap().mean - expected).abs() < 1e-12);
}

#[test]
fn published_tables_are_suppressed_and_rounded() {
    // Quarter 2026Q1: 5 pairs; 2026Q2: 20; 2026Q3: 35. With only Q1 hidden, the total would
    // give it back, so Q2 (the next smallest) is hidden too.
    let mut lines = Vec::new();
    let mut next = 0;
    for (n, date) in [(5, "2026-02-01"), (20, "2026-05-01"), (35, "2026-08-01")] {
        let pairs: Vec<(i64, i64)> = (0..n).map(|i| (35 + i % 5, 38 + i % 9)).collect();
        lines.extend(lines_for(&pairs, next, date, "2026-11-01"));
        next += n as usize;
    }
    let options = Options {
        by: vec![spfhir_outcomes::Dimension::Quarter],
        ..Options::default()
    };
    let report = run(&lines, options.clone());
    let json = report.to_json();
    insta::assert_snapshot!(
        "suppressed_json",
        serde_json::to_string_pretty(&json).unwrap()
    );
    insta::assert_snapshot!("suppressed_csv", report.to_csv());
    let mr = report.to_measure_report("2026-11-30T12:00:00Z");
    insta::assert_snapshot!("measure_report", serde_json::to_string_pretty(&mr).unwrap());
    // Hidden strata carry no counts and no score.
    let strata = &mr["group"][0]["stratifier"][0]["stratum"];
    assert!(strata[0]["population"][1].get("count").is_none());
    assert!(strata[0].get("measureScore").is_none());
    assert_eq!(strata[2]["population"][1]["count"], json!(35));
    let strata = json["strata"].as_array().unwrap();
    let pairs: Vec<&Value> = strata
        .iter()
        .map(|s| &s["instruments"][0]["pairs"])
        .collect();
    assert_eq!(pairs, [&Value::Null, &Value::Null, &json!(35)]);
    assert_eq!(
        strata[1]["instruments"][0]["meanChange"],
        Value::Null,
        "no mean for a hidden cell"
    );
    assert_eq!(json["instruments"][0]["pairs"], json!(60));
    // Unsuppressed: the exact figures.
    let exact = run(
        &lines,
        Options {
            rule: Rule::NONE,
            ..options
        },
    );
    let strata = exact.to_json()["strata"].clone();
    assert_eq!(strata[0]["instruments"][0]["pairs"], json!(5));
    assert_eq!(strata[1]["instruments"][0]["pairs"], json!(20));
}

/// Strata come from the people, referrals and organisations given beside the responses:
/// the referral's practice wins over the registered one, referrals no response names still
/// count, and a value the input lacks is `unknown`.
#[test]
fn strata_from_patients_referrals_and_the_organisation_lookup() {
    use spfhir_outcomes::{Context, Dimension};
    let pairs: Vec<(i64, i64)> = (0..30).map(|i| (40 + i % 3, 44 + i % 5)).collect();
    let lines = lines_for(&pairs, 0, "2026-01-20", "2026-04-20");
    let mut ctx = Context::new();
    ctx.add_orgs_csv("practice_code,pcn_code,sub_icb_code,icb_code\nA81001,U1,00K,QHM\nA81002,U1,00K,QHM\nA81003,U2,15N,QHM\n")
        .unwrap();
    let ods = |code: &str| json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": code}});
    for i in 0..30 {
        let patient = json!({"resourceType": "Patient",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": format!("p{i}")}],
            "gender": if i % 2 == 0 { "female" } else { "male" }, "birthDate": "1950-06-15",
            "generalPractitioner": [ods(if i < 20 { "A81001" } else { "A81003" })]});
        ctx.add_patient(&patient.to_string()).unwrap();
        let mut referral = json!({"resourceType": "ServiceRequest",
            "identifier": [{"system": "https://example.org/referrals", "value": format!("ref-p{i}")}],
            "subject": {"identifier": {"value": format!("p{i}")}}, "authoredOn": "2026-01-10"});
        if i < 10 {
            referral["requester"] = ods("A81002");
        }
        ctx.add_service_request(&referral.to_string()).unwrap();
    }
    // Five referrals from A81003 that never got a response.
    for j in 0..5 {
        let referral = json!({"resourceType": "ServiceRequest", "id": format!("x{j}"),
            "requester": ods("A81003"), "authoredOn": "2026-02-01"});
        ctx.add_service_request(&referral.to_string()).unwrap();
    }
    assert!(ctx.add_patient("{\"resourceType\":\"Goal\"}").is_err());
    let mut agg = Aggregator::with_context(
        Options {
            rule: Rule::NONE,
            by: vec![Dimension::Pcn, Dimension::AgeBand],
            ..Options::default()
        },
        ctx,
    );
    for l in &lines {
        agg.add_line(l).unwrap();
    }
    let report = agg.finish();
    assert_eq!((report.referrals, report.with_response), (35, 30));
    let json = report.to_json();
    let strata = json["strata"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value)> = strata
        .iter()
        .map(|s| {
            (
                s["by"].clone(),
                s["referrals"].clone(),
                s["instruments"][0]["pairs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // Persons 0–9 were referred by A81002, 10–19 are registered at A81001: both U1.
            (
                json!({"pcn": "U1", "ageBand": "75-84"}),
                json!(20),
                json!(20)
            ),
            (
                json!({"pcn": "U2", "ageBand": "75-84"}),
                json!(10),
                json!(10)
            ),
            // The unanswered referrals name no patient, so their age is unknown.
            (
                json!({"pcn": "U2", "ageBand": "unknown"}),
                json!(5),
                Value::Null
            ),
        ]
    );
    assert!(
        report
            .to_csv()
            .contains("pcn=U1;ageBand=75-84,wemwbs,20,20,20,20,")
    );
}

/// A UCLA-3 response about `Patient/{patient}` on `date`, naming no referral.
fn ucla(patient: &str, date: &str, total: i64) -> String {
    let first = (total - 2).min(3);
    let second = (total - first - 1).min(3);
    let a = [first, second];
    let third = total - first - second;
    json!({"resourceType": "QuestionnaireResponse", "questionnaire": format!("{BASE}ucla3"),
        "status": "completed", "authored": date, "subject": {"reference": format!("Patient/{patient}")},
        "item": [
            {"linkId": "companionship", "answer": [{"valueCoding": {"code": a[0].to_string()}}]},
            {"linkId": "left-out", "answer": [{"valueCoding": {"code": a[1].to_string()}}]},
            {"linkId": "isolated", "answer": [{"valueCoding": {"code": third.to_string()}}]}]})
    .to_string()
}

#[test]
fn a_response_naming_no_referral_belongs_to_the_care_plan_period_holding_it() {
    use spfhir_outcomes::Context;
    let mut ctx = Context::new();
    ctx.add_patient(r#"{"resourceType":"Patient","id":"a","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}"#).unwrap();
    ctx.add_service_request(r#"{"resourceType":"ServiceRequest","id":"r2","subject":{"reference":"Patient/a"},"authoredOn":"2026-05-20"}"#).unwrap();
    // Two plans for one person (the CarePlan names them by NHS number, the responses by
    // reference: one person), the second following referral r2; an open-ended third for
    // someone else. The referral is the first ServiceRequest of supportingInfo, where spfhir
    // writes it.
    ctx.add_care_plan(r#"{"resourceType":"CarePlan","id":"c1","subject":{"identifier":{"value":"9434765919"}},"period":{"start":"2026-01-01","end":"2026-03-31"}}"#).unwrap();
    ctx.add_care_plan(r#"{"resourceType":"CarePlan","id":"c2","subject":{"reference":"Patient/a"},"supportingInfo":[{"reference":"Observation/o1"},{"reference":"ServiceRequest/r2"}],"period":{"start":"2026-06-01","end":"2026-09-30"}}"#).unwrap();
    ctx.add_care_plan(r#"{"resourceType":"CarePlan","id":"c3","subject":{"reference":"Patient/b"},"period":{"start":"2026-01-01"}}"#).unwrap();
    assert!(
        ctx.add_care_plan(r#"{"resourceType":"CarePlan","subject":{"reference":"Patient/b"}}"#)
            .is_err()
    );
    assert_eq!(
        ctx.care_plan_episode("Patient/a", 20_460).as_deref(),
        Some("CarePlan/c1")
    ); // 2026-01-08
    let mut agg = Aggregator::with_context(
        Options {
            rule: Rule::NONE,
            ..Options::default()
        },
        ctx,
    );
    for l in [
        ucla("a", "2026-01-10", 8),
        ucla("a", "2026-03-01", 6),
        ucla("a", "2026-06-05", 9),
        ucla("a", "2026-09-01", 5),
        // Outside both plans: an episode of its own (the person's), a baseline only.
        ucla("a", "2026-04-20", 7),
        ucla("b", "2026-02-01", 7),
        ucla("b", "2027-02-01", 4),
    ] {
        agg.add_line(&l).unwrap();
    }
    let mut rows = Vec::new();
    agg.for_each_pair(|r| {
        rows.push((
            r.person.to_owned(),
            r.episode.to_owned(),
            r.baseline.1,
            r.follow_up.1,
        ))
    });
    assert_eq!(
        rows,
        [
            ("9434765919".into(), "CarePlan/c1".into(), 8.0, 6.0),
            ("9434765919".into(), "ServiceRequest/r2".into(), 9.0, 5.0),
            ("Patient/b".into(), "CarePlan/c3".into(), 7.0, 4.0),
        ]
    );
    let report = agg.finish();
    // Episodes: c1, r2 (the referral the plan follows), a's own, c3: four, all answered.
    assert_eq!((report.referrals, report.with_response), (4, 4));
    let cell = &report.instruments[&spfhir_outcomes::measure::Measure::Ucla3];
    assert_eq!((cell.pairs(), cell.baselines.len()), (3, 4));
}

#[cfg(feature = "parquet")]
#[test]
fn the_pair_table_is_parquet_with_keyed_pseudonyms() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use spfhir_outcomes::Context;
    use spfhir_outcomes::parquet::{Pseudonymiser, write_pairs};

    // RFC 4231, test case 1: HMAC-SHA256 with twenty 0x0b bytes over "Hi There".
    let key = Pseudonymiser::new(&[0x0b; 20]).unwrap();
    assert_eq!(
        key.pseudonym("Hi There"),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    let short = Pseudonymiser::new(b"  too short\n").unwrap_err();
    assert!(short.contains("at least 16"), "{short}");

    let mut ctx = Context::new();
    ctx.add_orgs_csv("practice_code,pcn_code,sub_icb_code,icb_code\nA81001,U1,00K,QHM\n")
        .unwrap();
    for (id, nhs) in [("a", "9434765919"), ("b", "9434765870")] {
        ctx.add_patient(&json!({"resourceType": "Patient", "id": id, "gender": "female", "birthDate": "1960-01-01",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
            "generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}}]}).to_string()).unwrap();
    }
    let mut agg = Aggregator::with_context(Options::default(), ctx);
    for l in [
        ucla("a", "2026-01-10", 8),
        ucla("a", "2026-03-01", 6),
        ucla("b", "2026-02-01", 5),
        ucla("b", "2026-05-01", 7),
        ucla("c", "2026-02-01", 5),
    ] {
        agg.add_line(&l).unwrap();
    }
    let key = Pseudonymiser::new(b"an ICB's secret key, 32 bytes ok").unwrap();
    let path = std::env::temp_dir().join(format!("spfhir-pairs-{}.parquet", std::process::id()));
    let rows = write_pairs(&agg, &key, std::fs::File::create(&path).unwrap()).unwrap();
    assert_eq!(rows, 2);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    for nhs in ["9434765919", "9434765870", "Patient/a"] {
        assert!(
            !bytes.windows(nhs.len()).any(|w| w == nhs.as_bytes()),
            "{nhs} in the file"
        );
    }
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let got: Vec<Value> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            use parquet::record::Field;
            let row = r.unwrap();
            let fields = row.get_column_iter().map(|(name, f)| {
                let v = match f {
                    Field::Str(s) => json!(s),
                    Field::Double(x) => json!(x),
                    Field::Bool(b) => json!(b),
                    Field::Int(n) | Field::Date(n) => json!(n),
                    Field::Null => Value::Null,
                    other => panic!("{name}: {other:?}"),
                };
                (name.clone(), v)
            });
            Value::Object(fields.collect())
        })
        .collect();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got.len(), 2);
    let a = &got[0];
    assert_eq!(a["person"], json!(key.pseudonym("9434765919")));
    assert_eq!(a["episode"], json!(""));
    assert_eq!(a["measure"], "ucla3");
    assert_eq!(
        (
            a["baseline"].clone(),
            a["follow_up"].clone(),
            a["change"].clone()
        ),
        (json!(8.0), json!(6.0), json!(-2.0))
    );
    assert_eq!(a["outcome"], "improved");
    assert_eq!(a["higher_is_better"], false);
    assert_eq!(
        (
            a["pcn"].clone(),
            a["icb"].clone(),
            a["sex"].clone(),
            a["age_band"].clone()
        ),
        (json!("U1"), json!("QHM"), json!("female"), json!("65-74"))
    );
    // Not known: null, not "unknown".
    assert_eq!(
        (
            a["imd_decile"].clone(),
            a["reason"].clone(),
            a["ethnicity"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(got[1]["outcome"], "worse");
    assert_eq!(got[1]["person"], json!(key.pseudonym("9434765870")));
}

#[test]
fn the_html_report_shows_only_published_figures() {
    use spfhir_outcomes::{Context, Dimension};
    // 40 pairs in PCN U1, 3 in U<2> (a name that must be escaped).
    let mut lines = Vec::new();
    let mut ctx = Context::new();
    ctx.add_orgs_csv("practice_code,pcn_code\nA1,U1\nA2,U<2>\n")
        .unwrap();
    for i in 0..43 {
        let practice = if i < 40 { "A1" } else { "A2" };
        ctx.add_patient(&json!({"resourceType": "Patient", "id": format!("p{i}"),
            "generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": practice}}]}).to_string()).unwrap();
        // Baselines: 37 of 9, 3 of 3 (a bin of 3, suppressed), 3 more of 9 in U<2>.
        lines.push(ucla(
            &format!("p{i}"),
            "2026-01-10",
            if (10..13).contains(&i) { 3 } else { 9 },
        ));
        lines.push(ucla(&format!("p{i}"), "2026-04-10", 5));
    }
    let mut agg = Aggregator::with_context(
        Options {
            by: vec![Dimension::Pcn],
            ..Options::default()
        },
        ctx,
    );
    for l in &lines {
        agg.add_line(l).unwrap();
    }
    let html = agg.finish().to_html("2026-12-01T10:00:00Z");
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    assert!(
        html.contains("U&lt;2&gt;") && !html.contains("U<2>"),
        "the PCN code is escaped"
    );
    // The funnel: 45 referrals (43 rounded), each with a response.
    assert!(html.contains(">45</text>"), "{html}");
    // Baselines: the bin of 3 is suppressed, and so is the bin of 40 beside it (else 45 − 40
    // would give it back); the follow-ups' one bin of 43 is shown, rounded to 45.
    assert!(html.contains("2 small bins suppressed"), "{html}");
    assert!(html.contains("<title>45</title>"));
    assert!(!html.contains("<title>40</title>") && !html.contains("<title>3</title>"));
    // Change by PCN: U1's mean is drawn; U<2> has 3 pairs, so it is suppressed, and so is
    // U1 with it (complementary), leaving no means at all.
    assert!(html.contains("<h2>Change by pcn</h2>"));
    assert_eq!(html.matches(">suppressed</text>").count(), 2, "{html}");
    assert!(!html.contains("<circle"));
}
