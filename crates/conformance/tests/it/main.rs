//! spfhir-conformance's integration tests: packages, snapshots, terminology, our profiles,
//! and the registry and terminology as FHIRPath's services.

mod fhirpath_model;
mod fhirpath_terminology;
mod packages;
mod profiles;
mod snapshots_r4;
mod terminology;

/// A registry of R4 core alone (the `.tgz`, without HL7 terminology or spfhir's profiles).
pub fn r4_core_registry() -> std::sync::Arc<spfhir_conformance::package::Registry> {
    use spfhir_conformance::package;
    package::load(&package::LoadOptions {
        package_path: vec![
            spfhir_testkit::shared_dir().join("fhir/r4-core/hl7.fhir.r4.core-4.0.1.tgz"),
        ],
        without_own_profiles: true,
        ..Default::default()
    })
    .map(std::sync::Arc::new)
    .expect("R4 core loads")
}
