//! What spfhir writes, spfhir accepts: every domain fixture translated to FHIR (message and
//! transaction Bundles) validates with no errors against R4 core, UK Core and our profiles,
//! outcome QuestionnaireResponses against our Questionnaires included.

use spfhir_conformance::package::{self, LoadOptions};
use spfhir_domain::{CarePlan, OutcomeResponse, Referral};
use spfhir_element::issue::Severity;
use spfhir_translate::{BundleKind, ToFhir, WriteOptions};
use spfhir_validate::{Options, Validator};

#[test]
fn translations_validate_without_errors() {
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            ..Default::default()
        })
        .unwrap(),
    );
    let validator = Validator::new(reg.clone(), Options::default());
    let dir = spfhir_testkit::domain_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in spfhir_testkit::json_files(&dir) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        for bundle in [BundleKind::Message, BundleKind::Transaction] {
            let opts = WriteOptions {
                bundle,
                timestamp: Some("2026-11-02T09:31:00Z".into()),
            };
            let fhir = if name.starts_with("referral") {
                Referral::to_fhir(&serde_json::from_str::<Referral>(&text).unwrap(), &opts)
            } else if name.starts_with("careplan") {
                CarePlan::to_fhir(&serde_json::from_str::<CarePlan>(&text).unwrap(), &opts)
            } else {
                OutcomeResponse::to_fhir(
                    &serde_json::from_str::<OutcomeResponse>(&text).unwrap(),
                    &opts,
                )
            }
            .unwrap_or_else(|e| panic!("{name} does not translate: {e:?}"))
            .fhir;
            checked += 1;
            for i in validator.validate(&fhir) {
                if i.severity <= Severity::Error {
                    failures.push(format!(
                        "{name} ({bundle:?}): {} {:?}",
                        i.message, i.expression
                    ));
                }
            }
        }
    }
    assert_eq!(checked, 16, "every fixture in both Bundle kinds");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
