//! ICB outcome reporting, pure: QuestionnaireResponses in, paired outcome tables out. No
//! I/O: front ends read the files (or the store) and write the results.
//!
//! The pipeline, one concern a module:
//! - [`context`]: the people, referrals and organisations strata and referral counts come
//!   from (`Patient.ndjson`, `ServiceRequest.ndjson`, an ODS-shaped CSV), all optional.
//! - [`read`]: one QuestionnaireResponse (a parsed NDJSON line) to a [`read::Response`]:
//!   who, which episode, which timepoint, when, and each measure's score. An incomplete or
//!   unusable response is a [`read::Rejected`] with its reason, counted, never fatal.
//! - [`measure`]: the measures (ONS4's four items separately, WEMWBS, SWEMWBS metric,
//!   UCLA-3, PAM), each with its direction and meaningful-change threshold.
//! - [`pair`]: baseline and follow-up per person, episode and measure, by documented rules.
//! - [`stats`]: means and the paired mean change with a t-distribution 95% interval.
//! - [`suppress`]: NHS England's small-number rule, with secondary suppression.
//! - [`report`]: the tables, as the JSON shape the issue fixes and as CSV.
//! - `parquet` (feature `parquet`, on by default): the row-level pair table, with the
//!   person and episode replaced by a keyed HMAC.
//! - [`html`]: a self-contained report page with SVG charts.
//!
//! ```
//! use spfhir_outcomes::{Aggregator, Options};
//! let mut agg = Aggregator::new(Options::default());
//! let qr = r#"{"resourceType":"QuestionnaireResponse","questionnaire":"https://spfhir.org/fhir/Questionnaire/sp-ucla3","status":"completed","authored":"2026-01-05","subject":{"reference":"Patient/p1"},"item":[{"linkId":"companionship","answer":[{"valueCoding":{"code":"3"}}]},{"linkId":"left-out","answer":[{"valueCoding":{"code":"3"}}]},{"linkId":"isolated","answer":[{"valueCoding":{"code":"2"}}]}]}"#;
//! agg.add_line(qr).unwrap();
//! let report = agg.finish();
//! assert_eq!(report.rejected.len(), 0);
//! ```
#![forbid(unsafe_code)]

pub mod context;
pub mod html;
pub mod measure;
pub mod pair;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod read;
pub mod report;
pub mod stats;
pub mod suppress;
pub mod synth;

pub use context::{Context, Dimension};
pub use pair::Aggregator;
pub use report::{Options, Report};
