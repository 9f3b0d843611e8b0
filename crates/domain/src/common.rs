//! Building blocks shared by the three records: people, organisations, codes, dates.

use spfhir_element::temporal;
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Declares a validated string newtype with serde (`try_from`/`into` String) and a schema.
macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident, $check:expr, $pattern:expr, $desc:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&s).map(|()| $name(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = String;
            fn try_from(s: &str) -> Result<Self, String> {
                $name::try_from(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "pattern": $pattern, "description": $desc})
            }
        }
    };
}

string_newtype!(
    /// A 10-digit NHS number. The shape is enforced here; the Modulus 11 check digit is
    /// reported by the translators as a warning (test data often fails it).
    NhsNumber,
    |s| {
        if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err("an NHS number is exactly 10 digits, with no spaces".into())
        }
    },
    "^[0-9]{10}$",
    "NHS number: 10 digits, no spaces"
);

impl NhsNumber {
    /// Whether the Modulus 11 check digit is right.
    pub fn checksum_ok(&self) -> bool {
        let d: Vec<u32> = self.0.bytes().map(|b| (b - b'0') as u32).collect();
        let sum: u32 = d[..9]
            .iter()
            .enumerate()
            .map(|(i, v)| v * (10 - i as u32))
            .sum();
        let check = 11 - sum % 11;
        match check {
            11 => d[9] == 0,
            10 => false,
            c => d[9] == c,
        }
    }
}

string_newtype!(
    /// A FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a day the calendar has.
    FhirDate,
    |s| match temporal::date(s) {
        Ok(()) => Ok(()),
        Err(_) if temporal::date_time(s).is_ok() => {
            Err("not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD): a date has no time".to_string())
        }
        Err(why) => Err(format!("not a FHIR date: {why}")),
    },
    r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$",
    "FHIR date: YYYY, YYYY-MM or YYYY-MM-DD"
);

string_newtype!(
    /// A FHIR `dateTime`: a date, or a full date and time with a time zone
    /// (`2024-08-20T11:30:00+00:00`, fractional seconds allowed).
    FhirDateTime,
    |s| temporal::date_time(s).map_err(|why| format!("not a FHIR dateTime: {why}")),
    r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$",
    "FHIR dateTime: a date, or date and time with time zone"
);

/// A business identifier: a namespace URI and a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// Namespace URI, e.g. `https://fhir.nhs.uk/Id/nhs-number` or the sending system's own.
    pub system: String,
    pub value: String,
}

/// A concept: a code where one is known (SNOMED CT by default), free text otherwise.
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Concept {
    /// Code system URI; defaults to SNOMED CT when `code` is given without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Free text, as the person or professional put it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

pub const SNOMED: &str = "http://snomed.info/sct";

impl Concept {
    pub fn text(t: impl Into<String>) -> Concept {
        Concept {
            text: Some(t.into()),
            ..Concept::default()
        }
    }

    pub fn snomed(code: &str, display: &str) -> Concept {
        Concept {
            system: Some(SNOMED.into()),
            code: Some(code.into()),
            display: Some(display.into()),
            text: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.code.is_none() && self.text.is_none() && self.display.is_none()
    }
}

#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HumanName {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Gender {
    Male,
    Female,
    Other,
    Unknown,
}

#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContactSystem {
    Phone,
    Email,
    Sms,
    Other,
}

#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContactUse {
    Home,
    Work,
    Mobile,
    Temp,
}

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPoint {
    pub system: ContactSystem,
    pub value: String,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<ContactUse>,
}

/// A language, as a BCP 47 tag (`en`, `pl`, `pa-IN`, `bfi` for British Sign Language).
#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Language {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// The person referred.
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<HumanName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<FhirDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter_required: Option<bool>,
    /// Accessibility needs and reasonable adjustments, in plain words
    /// ("wheelchair user", "large print letters").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accessibility_needs: Vec<String>,
}

/// An organisation, identified by its ODS code where it has one.
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Organisation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ods_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A professional: GP, link worker, nurse…
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Practitioner {
    /// SDS user id (`https://fhir.nhs.uk/Id/sds-user-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds_user_id: Option<String>,
    /// SDS role profile id (`https://fhir.nhs.uk/Id/sds-role-profile-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds_role_profile_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<HumanName>,
    /// Job role, e.g. SNOMED 62247001 "General practitioner" or SDS R9815.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Concept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Organisation>,
}

/// A service a person is referred or connected to: the SP link-worker service, or a VCSE
/// activity provider. Identified by NHS DoS id and/or Open Referral UK service id.
#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dos_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oruk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Organisation>,
}

#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Period {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<FhirDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<FhirDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_number_check_digit() {
        assert!(NhsNumber::try_from("9434765919").unwrap().checksum_ok());
        assert!(!NhsNumber::try_from("9434765918").unwrap().checksum_ok());
        assert!(NhsNumber::try_from("943 476 5919").is_err());
        // A weighted sum divisible by 11 makes the check value 11, written as 0.
        assert!(NhsNumber::try_from("9074833780").unwrap().checksum_ok());
        assert!(!NhsNumber::try_from("9074833781").unwrap().checksum_ok());
        // A check value of 10 has no digit: no NHS number starts 123456789, whatever its last.
        for last in 0..10 {
            let n = format!("123456789{last}");
            assert!(
                !NhsNumber::try_from(n.as_str()).unwrap().checksum_ok(),
                "{n}"
            );
        }
    }

    #[test]
    fn a_concept_from_text_has_only_its_text() {
        let c = Concept::text("Lonely");
        assert_eq!(c.text.as_deref(), Some("Lonely"));
        assert_eq!(
            c,
            Concept {
                text: Some("Lonely".into()),
                ..Concept::default()
            }
        );
    }

    #[test]
    fn dates_and_date_times() {
        for ok in [
            "2024",
            "2024-02",
            "2024-02-29",
            "2024-02-29T23:59:60Z",
            "2024-08-20T11:30:00.8185338+00:00",
        ] {
            assert!(FhirDateTime::try_from(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2024-13",
            "24-01-01",
            "2024-01-01T10:00",
            "2024-01-01T10:00:00",
            "2024-01-01T25:00:00Z",
            "2024-01-01T10:00:00+15:00",
        ] {
            assert!(FhirDateTime::try_from(bad).is_err(), "{bad}");
        }
        assert!(FhirDate::try_from("2024-01-01T10:00:00Z").is_err());
    }
}
