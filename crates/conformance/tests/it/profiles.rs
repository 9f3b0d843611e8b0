//! profiles/ is a FHIR NPM package whose Questionnaires agree with the instrument tables in
//! src/domain/instrument.rs, and which defines every canonical the translators write.

use spfhir_domain::Instrument;
use spfhir_domain::canonical::{codesystem, profile};
use spfhir_domain::instrument::{ItemKind, METRIC_LINK_ID, TOTAL_LINK_ID};
use spfhir_element::{Json, parse};

fn load(name: &str) -> Json {
    let path = spfhir_testkit::workspace_root().join("profiles").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all() -> Vec<Json> {
    let dir = spfhir_testkit::workspace_root().join("profiles");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && name != "package.json" {
            out.push(load(&name));
        }
    }
    out
}

#[test]
fn package_manifest() {
    let pkg = load("package.json");
    assert_eq!(
        pkg.get("fhirVersions").unwrap().to_compact(),
        r#"["4.0.1"]"#
    );
    assert_eq!(
        pkg.get("version").and_then(Json::as_str),
        Some(spfhir_domain::canonical::PROFILES_VERSION)
    );
    assert!(
        pkg.get("dependencies")
            .unwrap()
            .get("hl7.fhir.r4.core")
            .is_some()
    );
}

#[test]
fn questionnaires_match_instruments() {
    for i in Instrument::ALL {
        let q = load(&format!("Questionnaire-sp-{}.json", i.code()));
        assert_eq!(
            q.get("url").and_then(Json::as_str),
            Some(i.questionnaire_url().as_str())
        );
        let items = q.get("item").and_then(Json::as_array).unwrap();
        let answered: Vec<&Json> = items
            .iter()
            .filter(|it| it.get("readOnly").is_none())
            .collect();
        assert_eq!(answered.len(), i.items().len(), "{i:?}");
        for (it, spec) in answered.iter().zip(i.items()) {
            assert_eq!(it.get("linkId").and_then(Json::as_str), Some(spec.link_id));
            assert_eq!(
                it.get("text").and_then(Json::as_str),
                spec.text,
                "{i:?} {}",
                spec.link_id
            );
            let ty = it.get("type").and_then(Json::as_str).unwrap();
            match spec.kind {
                ItemKind::Integer => assert_eq!(ty, "integer"),
                ItemKind::Decimal => assert_eq!(ty, "decimal"),
                ItemKind::Choice(scale) => {
                    assert_eq!(ty, "choice");
                    let opts = it.get("answerOption").and_then(Json::as_array).unwrap();
                    assert_eq!(opts.len(), scale.displays.len());
                    for (n, (o, d)) in opts.iter().zip(scale.displays).enumerate() {
                        let c = o.get("valueCoding").unwrap();
                        assert_eq!(c.get("system").and_then(Json::as_str), Some(scale.system));
                        assert_eq!(
                            c.get("code").and_then(Json::as_str),
                            Some((n + 1).to_string().as_str())
                        );
                        assert_eq!(c.get("display").and_then(Json::as_str), Some(*d));
                    }
                }
            }
        }
        let scores: Vec<&str> = items
            .iter()
            .filter(|it| it.get("readOnly").is_some())
            .filter_map(|it| it.get("linkId").and_then(Json::as_str))
            .collect();
        let want: &[&str] = match i {
            Instrument::Swemwbs => &[TOTAL_LINK_ID, METRIC_LINK_ID],
            _ if i.has_total() => &[TOTAL_LINK_ID],
            _ => &[],
        };
        assert_eq!(scores, want, "{i:?}");
    }
}

#[test]
fn every_canonical_written_is_defined() {
    let urls: Vec<String> = all()
        .iter()
        .filter_map(|r| r.get("url").and_then(Json::as_str).map(str::to_string))
        .collect();
    for url in [
        profile::REFERRAL,
        profile::CAREPLAN,
        profile::OUTCOME,
        profile::MESSAGE_BUNDLE,
        profile::EXT_REVIEW_DATE,
        profile::EXT_TIMEPOINT,
        codesystem::MESSAGE_EVENTS,
        codesystem::TIMEPOINT,
        codesystem::CONSENT_PURPOSE,
        codesystem::WEMWBS_RESPONSE,
        codesystem::UCLA3_RESPONSE,
    ] {
        assert!(
            urls.iter().any(|u| u == url),
            "{url} is written by the translators but not defined in profiles/"
        );
    }
}
