//! spfhir's conformance layer: where definitions come from and what they say.
//!
//! - [`package`]: FHIR NPM packages (`.tgz`, folders, loose conformance resources) on a
//!   package path, and the [`package::Registry`] that resolves canonicals to resources,
//!   parsing each only when first asked for; spfhir's own `profiles/` are built in.
//! - [`snapshot`]: snapshot generation for differential-only profiles (UK Core, BaRS, ours).
//! - [`terminology`]: offline ValueSet expansion and code membership with a three-way answer.
//! - [`services`]: the registry as the FHIRPath engine's type source, and the terminology as
//!   its `memberOf`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use spfhir_conformance::package::{self, LoadOptions};
//! use spfhir_conformance::terminology::{Membership, Terminology};
//!
//! let registry = Arc::new(package::load(&LoadOptions {
//!     package_path: vec!["../shared/fhir".into()],
//!     ..Default::default()
//! })?);
//! let terminology = Terminology::new(registry.clone());
//! let gender = "http://hl7.org/fhir/ValueSet/administrative-gender";
//! let system = Some("http://hl7.org/fhir/administrative-gender");
//! assert_eq!(terminology.member(gender, system, "female"), Membership::Member);
//! # Ok::<(), package::PackageError>(())
//! ```
//!
//! Invariants: nothing here uses the network or reads the environment; the caller (a
//! front end) says where packages and caches are.

pub mod package;
pub mod services;
pub mod snapshot;
pub mod terminology;

use spfhir_element as json;
