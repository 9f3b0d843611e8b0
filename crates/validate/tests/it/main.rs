//! spfhir-validate's integration tests: the negative corpus, every UK Core and BaRS
//! example, the fast paths against their slow twins, and every translation.

mod corpus;
mod engine;
mod examples;
mod fast_invariants;
mod fuzz;
mod no_patient_data;
mod translations;
