//! Command-line spellings of the libraries' option enums. The libraries know nothing of
//! clap; each enum here mirrors one of theirs and converts into it.

use clap::ValueEnum;

use spfhir_domain::RecordKind;
use spfhir_translate::BundleKind;
use spfhir_validate::UncheckedCodes;

/// The kind of domain record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A social prescribing referral.
    Referral,
    /// A personalised care and support plan.
    Careplan,
    /// An outcome questionnaire response (ONS4, WEMWBS, SWEMWBS, UCLA-3, PAM).
    Outcome,
}

impl From<Kind> for RecordKind {
    fn from(k: Kind) -> RecordKind {
        match k {
            Kind::Referral => RecordKind::Referral,
            Kind::Careplan => RecordKind::Careplan,
            Kind::Outcome => RecordKind::Outcome,
        }
    }
}

/// How records are packaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bundle {
    /// A BaRS-shaped message Bundle (MessageHeader first), for `$process-message`.
    Message,
    /// A transaction Bundle with conditional creates, for a FHIR server.
    Transaction,
}

impl From<Bundle> for BundleKind {
    fn from(b: Bundle) -> BundleKind {
        match b {
            Bundle::Message => BundleKind::Message,
            Bundle::Transaction => BundleKind::Transaction,
        }
    }
}

/// How codes from systems that cannot be checked offline (SNOMED CT, LOINC, …) are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Unchecked {
    /// A warning: "not checked: system not available offline".
    Warning,
    /// An information issue.
    Information,
    /// Nothing.
    Ignore,
}

impl From<Unchecked> for UncheckedCodes {
    fn from(u: Unchecked) -> UncheckedCodes {
        match u {
            Unchecked::Warning => UncheckedCodes::Warning,
            Unchecked::Information => UncheckedCodes::Information,
            Unchecked::Ignore => UncheckedCodes::Ignore,
        }
    }
}
