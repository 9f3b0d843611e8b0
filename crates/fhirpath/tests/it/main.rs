//! spfhir-fhirpath's integration tests: the official suite, fuzzing, FHIR invariants.

mod fast;
mod fhir;
mod fuzz;
mod invariants;
mod suite;
