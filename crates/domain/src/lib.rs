//! The social prescribing domain model: the pivot between native formats and FHIR.
//!
//! [`Referral`], [`CarePlan`] and [`OutcomeResponse`] are plain typed Rust values with serde
//! (camelCase JSON) and a JSON Schema (`spfhir schema referral|careplan|outcome`). They carry
//! what the PRSB Social Prescribing Information Standard carries as far as this project has it
//! (see ARCHITECTURE.md), and nothing FHIR-specific: no references, no resource ids.
//!
//! Invariants: domain types never depend on `json`, `translate` or any FHIR structure;
//! constructing one from JSON validates formats (NHS number shape, dates, ranges) with
//! serde errors that name the field path.

pub mod canonical;

mod careplan;
mod common;
mod outcome;
mod referral;

pub mod instrument;

pub use careplan::{Activity, ActivityStatus, CarePlan, CarePlanStatus, Goal, GoalStatus};
pub use common::{
    Address, Concept, ContactPoint, ContactSystem, ContactUse, FhirDate, FhirDateTime, Gender,
    HumanName, Identifier, Language, NhsNumber, Organisation, Period, Person, Practitioner,
    Service,
};
pub use instrument::Instrument;
pub use outcome::{
    Answer, OutcomeResponse, OutcomeStatus, ScoreError, Scores, Timepoint, score_answers,
};
pub use referral::{
    Consent, ConsentPurpose, Priority, Referral, ReferralStatus, Referrer, RequestStatus,
    RiskCategory, RiskFlag,
};

/// The three kinds of record spfhir translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Referral,
    Careplan,
    Outcome,
}

/// The JSON Schema of a record kind, as pretty JSON.
pub fn schema_json(kind: RecordKind) -> String {
    let schema = match kind {
        RecordKind::Referral => schemars::schema_for!(Referral),
        RecordKind::Careplan => schemars::schema_for!(CarePlan),
        RecordKind::Outcome => schemars::schema_for!(OutcomeResponse),
    };
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
