//! Domain → FHIR building blocks shared by the three translations: resources for people,
//! organisations and services, data types, and Bundle packaging.
//!
//! Ids are deterministic (UUID v5 of a natural key such as the NHS number or ODS code), so
//! translating the same record twice gives the same Bundle: retries stay idempotent and the
//! same organisation named twice becomes one entry.

use std::sync::LazyLock;

use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::canonical::{self as c, codesystem, profile};
use crate::domain::{
    Address, Concept, ContactPoint, ContactSystem, ContactUse, Gender, HumanName, Identifier,
    Organisation, Period, Person, Practitioner, RiskCategory, Service,
};
use crate::json::Json;

/// How records are packaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BundleKind {
    /// A BaRS-shaped message Bundle (MessageHeader first), for `$process-message`.
    #[default]
    Message,
    /// A transaction Bundle with conditional creates, for a FHIR server.
    Transaction,
}

/// Options for domain → FHIR.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub bundle: BundleKind,
    /// `Bundle.timestamp`; the current time when `None`.
    pub timestamp: Option<String>,
}

impl WriteOptions {
    pub fn timestamp(&self) -> std::borrow::Cow<'_, str> {
        match &self.timestamp {
            Some(t) => t.as_str().into(),
            None => humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .into(),
        }
    }
}

/// SHA-1 state after hashing spfhir's UUID v5 namespace (itself the v5 UUID of
/// [`c::BASE`] in the URL namespace), so each id costs only the hashing of its key.
static NAMESPACE: LazyLock<Sha1> = LazyLock::new(|| {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, c::BASE.as_bytes());
    Sha1::new_with_prefix(ns.as_bytes())
});

/// `urn:uuid:` of a natural key: the RFC 9562 version 5 UUID, in spfhir's namespace, of the
/// key's parts joined by `|` (hashed part by part, so no joined string is built). Hashed with
/// the `sha1` crate, which uses the CPU's SHA instructions where present.
pub fn full_url(parts: &[&str]) -> String {
    let mut hash = NAMESPACE.clone();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update(b"|");
        }
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_sha1_bytes(bytes).into_uuid();
    let mut out = String::with_capacity(45);
    out.push_str("urn:uuid:");
    out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    out
}

pub fn reference(full_url: &str) -> Json {
    Json::obj().with("reference", full_url)
}

/// A logical reference by business identifier.
pub fn identifier_reference(kind: &str, id: &Identifier) -> Json {
    Json::obj()
        .with("type", kind)
        .with("identifier", identifier(&id.system, &id.value))
}

pub fn identifier(system: &str, value: &str) -> Json {
    Json::obj().with("system", system).with("value", value)
}

pub fn coding(system: &str, code: &str, display: Option<&str>) -> Json {
    Json::obj()
        .with("system", system)
        .with("code", code)
        .with_opt("display", display)
}

pub fn codeable(system: &str, code: &str, display: Option<&str>) -> Json {
    Json::obj().with("coding", Json::arr().item(coding(system, code, display)))
}

/// A domain concept as a CodeableConcept (SNOMED CT when no system is named).
pub fn concept(cn: &Concept) -> Json {
    let coding = cn.code.as_deref().map(|code| {
        let system = cn.system.as_deref().unwrap_or(c::SNOMED);
        Json::arr().item(coding(system, code, cn.display.as_deref()))
    });
    let display_only = match (&cn.code, &cn.display) {
        (None, Some(d)) => Some(Json::arr().item(Json::obj().with("display", d.as_str()))),
        _ => None,
    };
    Json::obj()
        .with_opt("coding", coding.or(display_only))
        .with_opt("text", cn.text.as_deref())
}

pub fn period(p: &Period) -> Json {
    Json::obj()
        .with_opt("start", p.start.as_ref().map(|d| d.as_str()))
        .with_opt("end", p.end.as_ref().map(|d| d.as_str()))
}

fn strings(items: &[String]) -> Vec<Json> {
    items.iter().map(Json::from).collect()
}

pub fn human_name(n: &HumanName) -> Json {
    Json::obj()
        .with("use", "official")
        .with_opt("family", n.family.as_deref())
        .with_list("given", strings(&n.given))
        .with_list("prefix", strings(&n.prefix))
}

fn address(a: &Address) -> Json {
    Json::obj()
        .with("use", "home")
        .with_list("line", strings(&a.lines))
        .with_opt("city", a.city.as_deref())
        .with_opt("district", a.district.as_deref())
        .with_opt("postalCode", a.postcode.as_deref())
}

fn contact_point(t: &ContactPoint) -> Json {
    let system = match t.system {
        ContactSystem::Phone => "phone",
        ContactSystem::Email => "email",
        ContactSystem::Sms => "sms",
        ContactSystem::Other => "other",
    };
    let use_ = t.use_.map(|u| match u {
        ContactUse::Home => "home",
        ContactUse::Work => "work",
        ContactUse::Mobile => "mobile",
        ContactUse::Temp => "temp",
    });
    Json::obj()
        .with("system", system)
        .with("value", t.value.as_str())
        .with_opt("use", use_)
}

/// BaRS flag category code and display of a risk.
pub fn risk_code(r: RiskCategory) -> (&'static str, &'static str) {
    match r {
        RiskCategory::Safeguarding => ("SG", "Safeguarding Concern"),
        RiskCategory::StaffSafety => ("SS", "Scene Safety"),
        RiskCategory::InfectionRisk => ("IR", "Infection Risk"),
        RiskCategory::Other => ("API", "Additional Patient Information"),
    }
}

/// The BaRS flag category of an accessibility need.
pub const REASONABLE_ADJUSTMENT: (&str, &str) = ("RA", "Reasonable Adjustment");

pub fn gender_code(g: Gender) -> &'static str {
    match g {
        Gender::Male => "male",
        Gender::Female => "female",
        Gender::Other => "other",
        Gender::Unknown => "unknown",
    }
}

/// Collects a Bundle's entries, once each by fullUrl.
pub struct Package {
    entries: Vec<(String, Json, Option<String>)>,
    /// Whether entries carry conditional-create queries (transaction Bundles only).
    conditional: bool,
}

/// `fallback` key parts after `kind`, for resources without a natural identifier.
fn fallback_url(kind: &str, fallback: &[&str]) -> String {
    let mut parts = Vec::with_capacity(fallback.len() + 1);
    parts.push(kind);
    parts.extend_from_slice(fallback);
    full_url(&parts)
}

impl Package {
    pub fn new(kind: BundleKind) -> Package {
        Package {
            entries: Vec::with_capacity(16),
            conditional: kind == BundleKind::Transaction,
        }
    }

    /// The conditional-create query `identifier=system|value`, when this package needs one.
    fn if_none_exist(&self, system: &str, value: Option<&str>) -> Option<String> {
        let value = value.filter(|_| self.conditional)?;
        Some(format!("identifier={system}|{value}"))
    }

    /// Add a resource under `full_url`; `if_none_exist` is the conditional-create query used
    /// in transaction Bundles (e.g. `identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919`).
    /// A second resource with the same fullUrl is the same thing and is not added again.
    pub fn add(
        &mut self,
        full_url: String,
        resource: Json,
        if_none_exist: Option<String>,
    ) -> String {
        if !self.entries.iter().any(|(u, _, _)| *u == full_url) {
            self.entries
                .push((full_url.clone(), resource, if_none_exist));
        }
        full_url
    }

    /// Put `resource` under `full_url`, replacing what an earlier [`Package::add`] reserved
    /// (so a record can take the first slot before the resources it references exist).
    pub fn set(&mut self, full_url: &str, resource: Json, if_none_exist: Option<String>) {
        match self.entries.iter_mut().find(|(u, _, _)| u == full_url) {
            Some(e) => {
                e.1 = resource;
                e.2 = if_none_exist;
            }
            None => self
                .entries
                .push((full_url.to_string(), resource, if_none_exist)),
        }
    }

    /// The Patient for `person`; keyed by NHS number, else by the record it came with.
    pub fn patient(&mut self, person: &Person, record_key: &str) -> String {
        let url = match &person.nhs_number {
            Some(n) => full_url(&["Patient", c::NHS_NUMBER, n.as_str()]),
            None => full_url(&["Patient", record_key]),
        };
        let mut ext = Vec::new();
        if let Some(flag) = person.interpreter_required {
            ext.push(
                Json::obj()
                    .with("url", c::EXT_INTERPRETER_REQUIRED)
                    .with("valueBoolean", flag),
            );
        }
        let communication = person.preferred_language.as_ref().map(|l| {
            Json::arr().item(
                Json::obj()
                    .with(
                        "language",
                        codeable(c::BCP47, &l.code, l.display.as_deref()),
                    )
                    .with("preferred", true),
            )
        });
        let resource = Json::obj()
            .with("resourceType", "Patient")
            .with(
                "meta",
                Json::obj().with("profile", Json::arr().item(profile::UKCORE_PATIENT)),
            )
            .with_list("extension", ext)
            .with_opt(
                "identifier",
                person
                    .nhs_number
                    .as_ref()
                    .map(|n| Json::arr().item(identifier(c::NHS_NUMBER, n.as_str()))),
            )
            .with_opt(
                "name",
                person
                    .name
                    .as_ref()
                    .map(|n| Json::arr().item(human_name(n))),
            )
            .with_list(
                "telecom",
                person.telecom.iter().map(contact_point).collect(),
            )
            .with_opt("gender", person.gender.map(gender_code))
            .with_opt("birthDate", person.birth_date.as_ref().map(|d| d.as_str()))
            .with_opt(
                "address",
                person
                    .address
                    .as_ref()
                    .map(|a| Json::arr().item(address(a))),
            )
            .with_opt("communication", communication);
        let cond = self.if_none_exist(
            c::NHS_NUMBER,
            person.nhs_number.as_ref().map(|n| n.as_str()),
        );
        self.add(url, resource, cond)
    }

    /// BaRS Flags on `patient`: one per risk (`risks`) and one "Reasonable Adjustment" Flag per
    /// accessibility need of `person`, numbered in that order. Returns their fullUrls.
    pub fn flags<'r>(
        &mut self,
        risks: impl Iterator<Item = (RiskCategory, &'r str)>,
        person: &Person,
        patient: &str,
        record_key: &str,
    ) -> Vec<String> {
        let flags = risks.map(|(cat, text)| (risk_code(cat), text)).chain(
            person
                .accessibility_needs
                .iter()
                .map(|n| (REASONABLE_ADJUSTMENT, n.as_str())),
        );
        let mut urls = Vec::new();
        for (i, ((code, display), text)) in flags.enumerate() {
            let flag = Json::obj()
                .with("resourceType", "Flag")
                .with("status", "active")
                .with(
                    "category",
                    Json::arr().item(codeable(c::BARS_FLAG_CATEGORY, code, Some(display))),
                )
                .with("code", Json::obj().with("text", text))
                .with("subject", reference(patient));
            let mut n = itoa::Buffer::new();
            urls.push(self.add(full_url(&["Flag", record_key, n.format(i)]), flag, None));
        }
        urls
    }

    /// The Organization for `org`; keyed by ODS code, else by name, else by `fallback`.
    pub fn organisation(&mut self, org: &Organisation, fallback: &[&str]) -> String {
        self.organisation_with_service_id(org, None, fallback)
    }

    /// The Organization for `org`, also carrying the DoS service id it answers messages on
    /// (a referrer's `MessageHeader.source`), so transaction Bundles keep it too.
    pub fn organisation_with_service_id(
        &mut self,
        org: &Organisation,
        dos_id: Option<&str>,
        fallback: &[&str],
    ) -> String {
        let url = match (&org.ods_code, &org.name) {
            (Some(ods), _) => full_url(&["Organization", c::ODS_ORGANISATION, ods]),
            (None, Some(name)) => full_url(&["Organization", "name", name]),
            _ => fallback_url("Organization", fallback),
        };
        let resource = Json::obj()
            .with("resourceType", "Organization")
            .with_list(
                "identifier",
                org.ods_code
                    .iter()
                    .map(|o| identifier(c::ODS_ORGANISATION, o))
                    .chain(dos_id.map(|d| identifier(c::DOS_SERVICE, d)))
                    .collect(),
            )
            .with_opt("name", org.name.as_deref());
        let cond = self.if_none_exist(c::ODS_ORGANISATION, org.ods_code.as_deref());
        self.add(url, resource, cond)
    }

    /// Practitioner + PractitionerRole (+ Organization: `p`'s own, else `default_org`);
    /// returns the PractitionerRole's fullUrl.
    pub fn practitioner_role(
        &mut self,
        p: &Practitioner,
        default_org: Option<&Organisation>,
        record_key: &str,
    ) -> String {
        let prac_key: &[&str] = match &p.sds_user_id {
            Some(id) => &["Practitioner", c::SDS_USER, id],
            None => &["Practitioner", record_key],
        };
        let practitioner = Json::obj()
            .with("resourceType", "Practitioner")
            .with_opt(
                "identifier",
                p.sds_user_id
                    .as_ref()
                    .map(|v| Json::arr().item(identifier(c::SDS_USER, v))),
            )
            .with_opt(
                "name",
                p.name.as_ref().map(|n| Json::arr().item(human_name(n))),
            );
        let cond = self.if_none_exist(c::SDS_USER, p.sds_user_id.as_deref());
        let prac_url = self.add(full_url(prac_key), practitioner, cond);
        let org_url = p
            .organisation
            .as_ref()
            .or(default_org)
            .map(|o| self.organisation(o, &[record_key, "practitioner-org"]));
        let role_url = match &p.sds_role_profile_id {
            Some(id) => full_url(&["PractitionerRole", c::SDS_ROLE_PROFILE, id]),
            None => {
                let mut parts = vec!["PractitionerRole"];
                parts.extend_from_slice(prac_key);
                parts.push(org_url.as_deref().unwrap_or(""));
                full_url(&parts)
            }
        };
        let role = Json::obj()
            .with("resourceType", "PractitionerRole")
            .with_opt(
                "identifier",
                p.sds_role_profile_id
                    .as_ref()
                    .map(|v| Json::arr().item(identifier(c::SDS_ROLE_PROFILE, v))),
            )
            .with("practitioner", reference(&prac_url))
            .with_opt("organization", org_url.as_deref().map(reference))
            .with_opt(
                "code",
                p.role.as_ref().map(|r| Json::arr().item(concept(r))),
            );
        let cond = self.if_none_exist(c::SDS_ROLE_PROFILE, p.sds_role_profile_id.as_deref());
        self.add(role_url, role, cond)
    }

    /// The HealthcareService (+ Organization) for `s`.
    pub fn service(&mut self, s: &Service, record_key: &str) -> String {
        let key: &[&str] = match (&s.dos_id, &s.oruk_id, &s.name) {
            (Some(d), _, _) => &["HealthcareService", c::DOS_SERVICE, d],
            (None, Some(o), _) => &["HealthcareService", c::ORUK_SERVICE, o],
            (None, None, Some(n)) => &["HealthcareService", "name", n],
            _ => &["HealthcareService", record_key],
        };
        let org_url = s.organisation.as_ref().map(|o| {
            let mut fallback = key.to_vec();
            fallback.push("provider");
            self.organisation(o, &fallback)
        });
        let mut ids = Vec::new();
        if let Some(d) = &s.dos_id {
            ids.push(identifier(c::DOS_SERVICE, d));
        }
        if let Some(o) = &s.oruk_id {
            ids.push(identifier(c::ORUK_SERVICE, o));
        }
        let cond = self
            .if_none_exist(c::DOS_SERVICE, s.dos_id.as_deref())
            .or_else(|| self.if_none_exist(c::ORUK_SERVICE, s.oruk_id.as_deref()));
        let resource = Json::obj()
            .with("resourceType", "HealthcareService")
            .with_list("identifier", ids)
            .with_opt("providedBy", org_url.as_deref().map(reference))
            .with_opt("name", s.name.as_deref());
        self.add(full_url(key), resource, cond)
    }

    /// Package as a message Bundle: `header` (a MessageHeader) goes first.
    pub fn into_message(self, bundle_key: &str, header: Json, timestamp: &str) -> Json {
        let header_url = full_url(&["MessageHeader", bundle_key, timestamp]);
        let mut entries = vec![entry(&header_url, header, None)];
        entries.extend(self.entries.into_iter().map(|(u, r, _)| entry(&u, r, None)));
        Json::obj()
            .with("resourceType", "Bundle")
            .with("id", uuid_of(&full_url(&["Bundle", bundle_key, timestamp])))
            .with(
                "meta",
                Json::obj().with(
                    "profile",
                    Json::arr()
                        .item(c::BARS_BUNDLE_PROFILE)
                        .item(profile::MESSAGE_BUNDLE),
                ),
            )
            .with("type", "message")
            .with("timestamp", timestamp)
            .with("entry", Json::from(entries))
    }

    /// Package as a transaction Bundle. The record (`main_url`, found by its identifier
    /// `main_query`) is a conditional update; everything else a conditional create.
    pub fn into_transaction(self, main_url: &str, main_query: &str, timestamp: &str) -> Json {
        let entries = self
            .entries
            .into_iter()
            .map(|(u, r, cond)| {
                let kind = r
                    .get("resourceType")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string();
                let request = if u == main_url {
                    Json::obj()
                        .with("method", "PUT")
                        .with("url", format!("{kind}?{main_query}"))
                } else {
                    Json::obj()
                        .with("method", "POST")
                        .with("url", kind.as_str())
                        .with_opt("ifNoneExist", cond)
                };
                entry(&u, r, Some(request))
            })
            .collect::<Vec<_>>();
        Json::obj()
            .with("resourceType", "Bundle")
            .with("type", "transaction")
            .with("timestamp", timestamp)
            .with("entry", Json::from(entries))
    }
}

fn entry(url: &str, resource: Json, request: Option<Json>) -> Json {
    Json::obj()
        .with("fullUrl", url)
        .with("resource", resource)
        .with_opt("request", request)
}

fn uuid_of(urn: &str) -> String {
    urn.trim_start_matches("urn:uuid:").to_string()
}

/// A MessageHeader for one of spfhir's own events (care plan / outcome notifications).
pub fn sp_message_header(event: &str, source_endpoint: &str, focus: &str) -> Json {
    Json::obj()
        .with("resourceType", "MessageHeader")
        .with(
            "eventCoding",
            coding(codesystem::MESSAGE_EVENTS, event, None),
        )
        .with("source", Json::obj().with("endpoint", source_endpoint))
        .with("focus", Json::arr().item(reference(focus)))
}

/// `system|value` of an identifier, as used in search queries and keys.
pub fn token(id: &Identifier) -> String {
    format!("{}|{}", id.system, id.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url_is_the_standard_v5_uuid_of_the_key() {
        let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, c::BASE.as_bytes());
        for parts in [
            &[""][..],
            &["Patient", "x"],
            &["long key ", &"x".repeat(200), "", "y"],
        ] {
            let key = parts.join("|");
            let expected = format!("urn:uuid:{}", Uuid::new_v5(&ns, key.as_bytes()));
            assert_eq!(full_url(parts), expected);
        }
    }
}
