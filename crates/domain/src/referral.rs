//! A referral to a social prescribing service.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Concept, FhirDateTime, Identifier, Organisation, Person, Practitioner, Service};

/// A referral's status.
pub type ReferralStatus = RequestStatus;

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Referral {
    /// The referral's id in the sending system.
    pub identifier: Identifier,
    pub status: ReferralStatus,
    /// When the referral was made.
    pub date: FhirDateTime,
    #[serde(default)]
    pub priority: Priority,
    pub person: Person,
    pub referrer: Referrer,
    /// Needs and concerns: loneliness, debt, housing, low mood…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Concept>,
    /// Anything else the referrer wants the link worker to know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consent: Vec<Consent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<RiskFlag>,
    /// The service referred to (the SP link-worker service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

/// FHIR `request-status`: where a referral or care plan is.
#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    Draft,
    Active,
    OnHold,
    Revoked,
    Completed,
    EnteredInError,
    Unknown,
}

#[derive(Hash, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    #[default]
    Routine,
    Urgent,
    Asap,
    Stat,
}

/// Who referred: a practitioner (optional) at an organisation.
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Referrer {
    /// The referring practitioner. Their `organisation` is `organisation` below; leave it out
    /// (a different one is an error: a referral comes from one organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<Practitioner>,
    pub organisation: Organisation,
    /// The referrer's own DoS service id, where status updates are sent back
    /// (BaRS `MessageHeader.source.endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dos_id: Option<String>,
}

/// Consent to share information: with whom, for what.
#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consent {
    /// `true` when the person agreed, `false` when they declined.
    pub given: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<FhirDateTime>,
    /// What the information may be used for.
    pub purpose: ConsentPurpose,
    /// Organisations the information may be shared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<Organisation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentPurpose {
    /// Sharing to provide care and support (BaRS consent category DRC).
    DirectCare,
    /// Sharing with VCSE services the link worker connects the person to.
    SocialPrescribing,
    /// Sharing pseudonymised outcome scores with the ICB.
    OutcomeReporting,
    Research,
}

/// A risk or safeguarding flag the receiving service must know about.
#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskFlag {
    pub category: RiskCategory,
    /// What the risk is, in plain words.
    pub description: String,
}

/// BaRS flag categories (`https://fhir.nhs.uk/CodeSystem/flag-categories-bars`) that apply.
#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskCategory {
    /// SG: safeguarding concern.
    Safeguarding,
    /// SS: risk to staff visiting (scene safety).
    StaffSafety,
    /// IR: infection risk.
    InfectionRisk,
    /// API: other information the service needs.
    Other,
}
