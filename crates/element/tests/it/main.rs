//! spfhir-element's integration tests (one binary, as ripgrep has it).

mod catalogue;
mod roundtrip;
mod temporal;
