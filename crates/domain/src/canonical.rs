//! Canonical URLs and code systems: every URL spfhir writes is named here, once.

/// Base of this project's canonical URLs (profiles, CodeSystems, Questionnaires).
pub const BASE: &str = "https://spfhir.org/fhir";

pub const SNOMED: &str = "http://snomed.info/sct";
pub const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_ORGANISATION: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SDS_USER: &str = "https://fhir.nhs.uk/Id/sds-user-id";
pub const SDS_ROLE_PROFILE: &str = "https://fhir.nhs.uk/Id/sds-role-profile-id";
pub const DOS_SERVICE: &str = "https://fhir.nhs.uk/Id/dos-service-id";
/// Open Referral UK service ids have no national namespace; this is ours.
pub const ORUK_SERVICE: &str = "https://spfhir.org/fhir/Id/oruk-service-id";
pub const BCP47: &str = "urn:ietf:bcp:47";

pub const BARS_MESSAGE_EVENTS: &str = "https://fhir.nhs.uk/CodeSystem/message-events-bars";
pub const BARS_MESSAGE_REASON: &str = "https://fhir.nhs.uk/CodeSystem/message-reason-bars";
pub const BARS_SR_CATEGORY: &str = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest";
pub const BARS_FLAG_CATEGORY: &str = "https://fhir.nhs.uk/CodeSystem/flag-categories-bars";
pub const BARS_CONSENT_CATEGORY: &str = "https://fhir.nhs.uk/CodeSystem/consent-categories-bars";
pub const BARS_BUNDLE_PROFILE: &str = "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage";
pub const BARS_MESSAGE_HEADER_PROFILE: &str =
    "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request";
pub const BARS_REFERRAL_DEFINITION: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral";

pub const EXT_INTERPRETER_REQUIRED: &str =
    "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired";
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";

/// SNOMED CT 871731000000106 |Referral to social prescribing service| (corroborated, see shared/codes).
pub const SP_REFERRAL_CODE: &str = "871731000000106";
pub const SP_REFERRAL_DISPLAY: &str = "Referral to social prescribing service";

/// A URL under [`BASE`]: `url("StructureDefinition", "sp-referral")`.
pub fn url(kind: &str, id: &str) -> String {
    format!("{BASE}/{kind}/{id}")
}

pub mod profile {
    pub const REFERRAL: &str = "https://spfhir.org/fhir/StructureDefinition/sp-referral";
    pub const CAREPLAN: &str = "https://spfhir.org/fhir/StructureDefinition/sp-careplan";
    pub const OUTCOME: &str = "https://spfhir.org/fhir/StructureDefinition/sp-outcome-response";
    pub const MESSAGE_BUNDLE: &str =
        "https://spfhir.org/fhir/StructureDefinition/sp-message-bundle";
    pub const EXT_REVIEW_DATE: &str = "https://spfhir.org/fhir/StructureDefinition/sp-review-date";
    pub const EXT_TIMEPOINT: &str =
        "https://spfhir.org/fhir/StructureDefinition/sp-outcome-timepoint";
    pub const UKCORE_PATIENT: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";
}

pub mod codesystem {
    pub const MESSAGE_EVENTS: &str = "https://spfhir.org/fhir/CodeSystem/sp-message-events";
    pub const TIMEPOINT: &str = "https://spfhir.org/fhir/CodeSystem/sp-outcome-timepoint";
    pub const CONSENT_PURPOSE: &str = "https://spfhir.org/fhir/CodeSystem/sp-consent-purpose";
    pub const WEMWBS_RESPONSE: &str = "https://spfhir.org/fhir/CodeSystem/sp-wemwbs-response";
    pub const UCLA3_RESPONSE: &str = "https://spfhir.org/fhir/CodeSystem/sp-ucla3-response";
}

/// Version of this project's conformance resources (profiles/package.json).
pub const PROFILES_VERSION: &str = "0.1.0";
