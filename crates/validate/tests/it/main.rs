//! spfhir-validate's integration tests: the negative corpus, every UK Core and BaRS
//! example, the fast paths against their slow twins, and every translation.

mod corpus;
mod engine;
mod examples;
mod fast_invariants;
mod fuzz;
mod no_patient_data;
mod translations;

use std::sync::{Arc, OnceLock};

use spfhir_conformance::package::{self, LoadOptions, Registry};

/// The packages in `../shared/fhir` with (or without) the corpus's own definitions in
/// `conformance/validate/load` (Questionnaires and profiles written to exercise the rules),
/// loaded as `--load` would, once per test binary.
pub fn registry(with_corpus_definitions: bool) -> Arc<Registry> {
    static WITH: OnceLock<Arc<Registry>> = OnceLock::new();
    static WITHOUT: OnceLock<Arc<Registry>> = OnceLock::new();
    let cell = if with_corpus_definitions {
        &WITH
    } else {
        &WITHOUT
    };
    cell.get_or_init(|| {
        let load = if with_corpus_definitions {
            vec![spfhir_testkit::workspace_root().join("conformance/validate/load")]
        } else {
            Vec::new()
        };
        let options = LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            load,
            ..Default::default()
        };
        Arc::new(package::load(&options).expect("packages load"))
    })
    .clone()
}
