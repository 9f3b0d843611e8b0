//! A personalised care and support plan ("what matters to me").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Concept, FhirDate, FhirDateTime, Identifier, Period, Person, Practitioner, Service};

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarePlan {
    pub identifier: Identifier,
    pub status: CarePlanStatus,
    pub person: Person,
    /// The referral this plan answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Identifier>,
    /// What matters to the person, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what_matters: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<Goal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_date: Option<FhirDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_worker: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<FhirDateTime>,
}

/// A care plan's status: FHIR `request-status`, as for referrals.
pub type CarePlanStatus = super::RequestStatus;

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Goal {
    /// Local id, unique within the plan, so activities can name the goals they serve.
    pub id: String,
    pub description: Concept,
    pub status: GoalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<FhirDate>,
}

/// FHIR `goal-status` (lifecycle).
#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GoalStatus {
    Proposed,
    Planned,
    Accepted,
    Active,
    OnHold,
    Completed,
    Cancelled,
    EnteredInError,
    Rejected,
}

/// An agreed activity, usually at a VCSE service.
#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activity {
    pub description: Concept,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// Ids of the goals this activity serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// FHIR `care-plan-activity-status`.
#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActivityStatus {
    NotStarted,
    Scheduled,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
    Stopped,
    Unknown,
    EnteredInError,
}
