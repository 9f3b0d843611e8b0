//! spfhir-translate's integration tests: snapshots both ways, property round trips, and the
//! optional fhir-sdk bridge.

#[cfg(feature = "fhir-sdk")]
mod bridge;
mod properties;
mod translate;
