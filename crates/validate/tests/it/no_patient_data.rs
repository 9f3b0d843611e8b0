//! No message carries patient data. Every value of every domain fixture, and of the FHIR each
//! translates to, is replaced in turn by a distinctive value (a string, a number, a boolean
//! in a string's place, a string in an array's place…), the result goes through domain →
//! FHIR, FHIR → domain and validation, and no issue, in any output form (compiler-style
//! text, OperationOutcome, NDJSON), may contain the value. The exception is the one the
//! invariant allows: codes (`BINDING_*`, `TRANSLATE_UNKNOWN_CODE` and the like may quote the
//! code they reject).

use std::sync::OnceLock;

use spfhir_element::issue::{Issue, operation_outcome};
use spfhir_element::{self as json, Json, Kind};
use spfhir_translate::{self as translate, BundleKind, WriteOptions};
use spfhir_validate::{Options, Validator};

/// Messages allowed to quote the value they are about, because it is a code.
const QUOTES_CODES: &[&str] = &[
    "BINDING_REQUIRED",
    "BINDING_EXTENSIBLE",
    "BINDING_MAX_VALUESET",
    "CODING_CODE_UNKNOWN",
    "VALUESET_CODE_UNKNOWN",
    "QUANTITY_UCUM",
    "TERMINOLOGY_NOT_CHECKED",
    "TRANSLATE_UNKNOWN_CODE",
    "QR_ANSWER_OPTION",
    "QR_ANSWER_VALUESET",
    "VALUE_FIXED",
    "VALUE_PATTERN",
    "SLICE_CLOSED",
    "STRUCTURE_UNKNOWN_RESOURCE_TYPE",
    // Nests the first error of the target's walk, as SLICE_CLOSED nests a slice's: it
    // quotes a value only when that error is one of the above.
    "REFERENCE_TARGET_PROFILE",
];

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(crate::registry(true), Options::default()))
}

/// Every form an issue reaches a user or a log in.
fn forms(issues: &[Issue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = issues
        .iter()
        .map(|i| (i.id.to_string(), i.render("input.json")))
        .collect();
    for i in issues {
        out.push((i.id.to_string(), serde_json::to_string(i).unwrap()));
        out.push((
            i.id.to_string(),
            operation_outcome(std::slice::from_ref(i)).to_compact(),
        ));
    }
    out
}

/// Members whose values are codes or canonical URLs of conformance resources, not patient
/// data, which messages may name: the resource type (every FHIRPath starts with it), a
/// Questionnaire's linkIds (and the linkIds its `enableWhen` names), profile, Questionnaire, extension and code system URLs.
const NOT_PATIENT_DATA: &[&str] = &[
    "resourceType",
    "linkId",
    // A Questionnaire's `enableWhen.question`: a linkId.
    "question",
    "profile",
    "questionnaire",
    "url",
    "system",
];

/// The paths of every leaf (scalar) and container in `j`, as index/key steps, but for the
/// members in [`NOT_PATIENT_DATA`].
fn places(j: &Json, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match &j.kind {
        Kind::Object(o) => {
            for (k, m) in o.members.iter().enumerate() {
                if NOT_PATIENT_DATA.contains(&m.key.as_str()) {
                    continue;
                }
                at.push(Step::Member(k));
                places(&m.value, at, out);
                at.pop();
            }
        }
        Kind::Array(items) => {
            for (k, v) in items.iter().enumerate() {
                at.push(Step::Item(k));
                places(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy)]
enum Step {
    Member(usize),
    Item(usize),
}

fn at_mut<'j>(j: &'j mut Json, path: &[Step]) -> &'j mut Json {
    let mut cur = j;
    for s in path {
        cur = match (s, &mut cur.kind) {
            (Step::Member(k), Kind::Object(o)) => &mut o.members[*k].value,
            (Step::Item(k), Kind::Array(items)) => &mut items[*k],
            _ => unreachable!("paths come from the same tree"),
        };
    }
    cur
}

/// Distinctive replacements: none is a code any system defines.
fn replacements(n: usize) -> Vec<(Json, String)> {
    let s = format!("Qzx{n}Vq");
    let num = format!("98765{n}.4321");
    vec![
        (Json::from(s.as_str()), s.clone()),
        (Json::number_text(num.clone()), num),
        (
            Json::from(format!("19{:02}-02-30", n % 100).as_str()),
            format!("19{:02}-02-30", n % 100),
        ),
        (
            Json::arr().item(format!("Wyk{n}Pj").as_str()),
            format!("Wyk{n}Pj"),
        ),
    ]
}

fn check(issues: &[Issue], needle: &str, what: &str, leaks: &mut Vec<String>) {
    for (id, text) in forms(issues) {
        if text.contains(needle) && !QUOTES_CODES.contains(&id.as_str()) {
            leaks.push(format!("{what}: {text}"));
        }
    }
}

/// Call `each(changed tree, distinctive value)` for every place of `tree` and every
/// replacement there; returns how many variants were tried.
fn each_variant(tree: &Json, mut each: impl FnMut(&Json, &str)) -> usize {
    let mut at = Vec::new();
    let mut paths = Vec::new();
    places(tree, &mut at, &mut paths);
    let mut tried = 0;
    for (n, path) in paths.iter().enumerate().skip(1) {
        for (value, needle) in replacements(n) {
            let mut changed = tree.clone();
            *at_mut(&mut changed, path) = value;
            each(&changed, &needle);
            tried += 1;
        }
    }
    tried
}

#[test]
fn no_message_quotes_a_patient_value() {
    let v = validator();
    let mut leaks = Vec::new();
    let mut tried = 0usize;
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    for (name, kind, text) in spfhir_testkit::domain_fixtures() {
        // Domain → FHIR with each domain value replaced.
        let domain = json::parse(&text).unwrap();
        tried += each_variant(&domain, |changed, needle| {
            let issues = match translate::domain_json_to_fhir(kind, &changed.to_compact(), &opts) {
                Ok(t) => t.issues,
                Err(issues) => issues,
            };
            check(&issues, needle, &format!("{name} → FHIR"), &mut leaks);
        });
        // FHIR → domain and validation, with each value of the FHIR replaced.
        let fhir = translate::domain_json_to_fhir(kind, &text, &opts)
            .unwrap()
            .fhir;
        tried += each_variant(&fhir, |changed, needle| {
            let issues = match translate::fhir_to_domain_json(kind, changed) {
                Ok((_, issues)) => issues,
                Err(issues) => issues,
            };
            check(
                &issues,
                needle,
                &format!("{name} FHIR → domain"),
                &mut leaks,
            );
            let issues = v.validate_text(&changed.to_compact());
            check(&issues, needle, &format!("{name} validate"), &mut leaks);
        });
    }
    // Every case of the validator's corpus (QuestionnaireResponses, slices, extensions…).
    let cases = spfhir_testkit::workspace_root().join("conformance/validate/cases");
    for path in spfhir_testkit::json_files(&cases) {
        let Ok(case) = json::parse(&std::fs::read_to_string(&path).unwrap()) else {
            continue; // the JSON_SYNTAX case
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        tried += each_variant(&case, |changed, needle| {
            let issues = v.validate_text(&changed.to_compact());
            check(&issues, needle, &format!("{name} validate"), &mut leaks);
        });
    }
    assert!(tried > 10_000, "only {tried} variants");
    leaks.sort();
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "{} leaks, e.g.:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
