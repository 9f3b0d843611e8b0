//! spfhir: a FHIR R4 interoperability adapter for social prescribing in England.
//!
//! Layers, bottom up (see ARCHITECTURE.md):
//! - [`json`]: the lossless, positioned JSON tree every payload is parsed into;
//! - [`issue`]: the one diagnostic type every layer reports with;
//! - [`domain`]: the typed social prescribing model (referral, care plan, outcome response);
//! - [`translate`]: domain ⇄ FHIR R4 (ServiceRequest/BaRS Bundle, CarePlan, QuestionnaireResponse);
//! - [`cli`]: the `spfhir` command line, a thin front end over the above;
//! - `bridge` (cargo feature `fhir-sdk`): conversion to and from fhir-sdk's typed R4B model.

#[cfg(feature = "fhir-sdk")]
pub mod bridge;
pub mod canonical;
pub mod cli;
pub mod domain;
pub mod fhirpath;
pub mod issue;
pub mod json;
pub mod package;
pub mod snapshot;
pub mod terminology;
pub mod translate;
pub mod validate;
