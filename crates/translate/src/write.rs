//! Domain → FHIR building blocks shared by the three translations: resources for people,
//! organisations and services, data types, and Bundle packaging.
//!
//! Ids are deterministic (UUID v5 of a natural key such as the NHS number or ODS code), so
//! translating the same record twice gives the same Bundle: retries stay idempotent and the
//! same organisation named twice becomes one entry.

use std::sync::LazyLock;

use sha1::{Digest, Sha1};
use std::hash::Hasher;
use uuid::Uuid;

use crate::canonical::{self as c, codesystem, profile};
use crate::domain::{
    Address, Concept, ContactPoint, ContactSystem, ContactUse, Gender, HumanName, Identifier,
    Organisation, Period, Person, Practitioner, RiskCategory, Service,
};
use crate::json::{Builder, Out};

/// How records are packaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// `Bundle.timestamp`: as given, else the current time (in the arena).
    pub fn timestamp<'a>(&'a self, b: Builder<'a>) -> &'a str {
        match &self.timestamp {
            Some(t) => t,
            None => b.fmt(format_args!(
                "{}",
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            )),
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
/// the `sha1` crate, which uses the CPU's SHA instructions where present. Built on the stack.
struct Urn([u8; 45]);

impl Urn {
    fn of(parts: &[&str]) -> Urn {
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
        let mut urn = [0u8; 45];
        urn[..9].copy_from_slice(b"urn:uuid:");
        id.hyphenated().encode_lower(&mut urn[9..]);
        Urn(urn)
    }

    fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The `urn:uuid:` of a natural key (see [`Urn`]), in the arena.
pub fn url<'a>(b: Builder<'a>, parts: &[&str]) -> &'a str {
    b.str(Urn::of(parts).as_str())
}

pub fn reference<'a>(b: Builder<'a>, full_url: &'a str) -> Out<'a> {
    b.obj().with("reference", full_url).done()
}

/// A logical reference by business identifier.
pub fn identifier_reference<'a>(b: Builder<'a>, kind: &'static str, id: &'a Identifier) -> Out<'a> {
    b.obj()
        .with("type", kind)
        .with("identifier", identifier(b, &id.system, &id.value))
        .done()
}

pub fn identifier<'a>(b: Builder<'a>, system: &'a str, value: &'a str) -> Out<'a> {
    b.obj().with("system", system).with("value", value).done()
}

pub fn coding<'a>(
    b: Builder<'a>,
    system: &'a str,
    code: &'a str,
    display: Option<&'a str>,
) -> Out<'a> {
    b.obj()
        .with("system", system)
        .with("code", code)
        .with_opt("display", display)
        .done()
}

pub fn codeable<'a>(
    b: Builder<'a>,
    system: &'a str,
    code: &'a str,
    display: Option<&'a str>,
) -> Out<'a> {
    b.obj()
        .with("coding", b.one(coding(b, system, code, display)))
        .done()
}

/// A domain concept as a CodeableConcept (SNOMED CT when no system is named).
pub fn concept<'a>(b: Builder<'a>, cn: &'a Concept) -> Out<'a> {
    let coding = cn.code.as_deref().map(|code| {
        let system = cn.system.as_deref().unwrap_or(c::SNOMED);
        b.one(coding(b, system, code, cn.display.as_deref()))
    });
    let display_only = match (&cn.code, &cn.display) {
        (None, Some(d)) => Some(b.one(b.obj().with("display", d.as_str()))),
        _ => None,
    };
    b.obj()
        .with_opt("coding", coding.or(display_only))
        .with_opt("text", cn.text.as_deref())
        .done()
}

pub fn period<'a>(b: Builder<'a>, p: &'a Period) -> Out<'a> {
    b.obj()
        .with_opt("start", p.start.as_ref().map(|d| d.as_str()))
        .with_opt("end", p.end.as_ref().map(|d| d.as_str()))
        .done()
}

pub fn human_name<'a>(b: Builder<'a>, n: &'a HumanName) -> Out<'a> {
    b.obj()
        .with("use", "official")
        .with_opt("family", n.family.as_deref())
        .with_list("given", b.list(&n.given))
        .with_list("prefix", b.list(&n.prefix))
        .done()
}

fn address<'a>(b: Builder<'a>, a: &'a Address) -> Out<'a> {
    b.obj()
        .with("use", "home")
        .with_list("line", b.list(&a.lines))
        .with_opt("city", a.city.as_deref())
        .with_opt("district", a.district.as_deref())
        .with_opt("postalCode", a.postcode.as_deref())
        .done()
}

fn contact_point<'a>(b: Builder<'a>, t: &'a ContactPoint) -> Out<'a> {
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
    b.obj()
        .with("system", system)
        .with("value", t.value.as_str())
        .with_opt("use", use_)
        .done()
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

/// One Bundle entry being collected: fullUrl, resource, conditional-create query.
type Entry<'a> = (&'a str, Out<'a>, Option<&'a str>);

/// Collects a Bundle's entries, once each by fullUrl, in one arena.
pub struct Package<'a> {
    pub b: Builder<'a>,
    entries: Vec<Entry<'a>>,
    /// Whether entries carry conditional-create queries (transaction Bundles only).
    conditional: bool,
}

/// `fallback` key parts after `kind`, for resources without a natural identifier.
fn fallback_url<'a>(b: Builder<'a>, kind: &str, fallback: &[&str]) -> &'a str {
    let mut parts = Vec::with_capacity(fallback.len() + 1);
    parts.push(kind);
    parts.extend_from_slice(fallback);
    url(b, &parts)
}

impl<'a> Package<'a> {
    pub fn new(kind: BundleKind, b: Builder<'a>) -> Package<'a> {
        Package {
            b,
            entries: Vec::with_capacity(16),
            conditional: kind == BundleKind::Transaction,
        }
    }

    /// The conditional-create query `identifier=system|value`, when this package needs one.
    fn if_none_exist(&self, system: &str, value: Option<&str>) -> Option<&'a str> {
        let value = value.filter(|_| self.conditional)?;
        Some(self.b.fmt(format_args!("identifier={system}|{value}")))
    }

    /// Add a resource under `full_url`; `if_none_exist` is the conditional-create query used
    /// in transaction Bundles (e.g. `identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919`).
    /// A second resource with the same fullUrl is the same thing and is not added again.
    pub fn add(
        &mut self,
        full_url: &'a str,
        resource: impl Into<Out<'a>>,
        if_none_exist: Option<&'a str>,
    ) -> &'a str {
        if !self.entries.iter().any(|(u, _, _)| *u == full_url) {
            self.entries
                .push((full_url, resource.into(), if_none_exist));
        }
        full_url
    }

    /// Put `resource` under `full_url`, replacing what an earlier [`Package::add`] reserved
    /// (so a record can take the first slot before the resources it references exist).
    pub fn set(&mut self, full_url: &'a str, resource: impl Into<Out<'a>>) {
        let resource = resource.into();
        match self.entries.iter_mut().find(|(u, _, _)| *u == full_url) {
            Some(e) => {
                e.1 = resource;
                e.2 = None;
            }
            None => self.entries.push((full_url, resource, None)),
        }
    }

    /// The Patient for `person`; keyed by NHS number, else by the record it came with.
    pub fn patient(&mut self, person: &'a Person, record_key: &str) -> &'a str {
        let b = self.b;
        let url = match &person.nhs_number {
            Some(n) => url(b, &["Patient", c::NHS_NUMBER, n.as_str()]),
            None => url(b, &["Patient", record_key]),
        };
        let ext = person.interpreter_required.map(|flag| {
            b.one(
                b.obj()
                    .with("url", c::EXT_INTERPRETER_REQUIRED)
                    .with("valueBoolean", flag),
            )
        });
        let communication = person.preferred_language.as_ref().map(|l| {
            b.one(
                b.obj()
                    .with(
                        "language",
                        codeable(b, c::BCP47, &l.code, l.display.as_deref()),
                    )
                    .with("preferred", true),
            )
        });
        let resource = b
            .obj()
            .with("resourceType", "Patient")
            .with(
                "meta",
                b.obj().with("profile", b.one(profile::UKCORE_PATIENT)),
            )
            .with_opt("extension", ext)
            .with_opt(
                "identifier",
                person
                    .nhs_number
                    .as_ref()
                    .map(|n| b.one(identifier(b, c::NHS_NUMBER, n.as_str()))),
            )
            .with_opt(
                "name",
                person.name.as_ref().map(|n| b.one(human_name(b, n))),
            )
            .with_list(
                "telecom",
                b.list(person.telecom.iter().map(|t| contact_point(b, t))),
            )
            .with_opt("gender", person.gender.map(gender_code))
            .with_opt("birthDate", person.birth_date.as_ref().map(|d| d.as_str()))
            .with_opt(
                "address",
                person.address.as_ref().map(|a| b.one(address(b, a))),
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
    pub fn flags(
        &mut self,
        risks: impl Iterator<Item = (RiskCategory, &'a str)>,
        person: &'a Person,
        patient: &'a str,
        record_key: &str,
    ) -> Vec<&'a str> {
        let b = self.b;
        let flags = risks.map(|(cat, text)| (risk_code(cat), text)).chain(
            person
                .accessibility_needs
                .iter()
                .map(|n| (REASONABLE_ADJUSTMENT, n.as_str())),
        );
        let mut urls = Vec::new();
        for (i, ((code, display), text)) in flags.enumerate() {
            let flag = b
                .obj()
                .with("resourceType", "Flag")
                .with("status", "active")
                .with(
                    "category",
                    b.one(codeable(b, c::BARS_FLAG_CATEGORY, code, Some(display))),
                )
                .with("code", b.obj().with("text", text))
                .with("subject", reference(b, patient));
            let mut n = itoa::Buffer::new();
            let url = url(b, &["Flag", record_key, n.format(i)]);
            urls.push(self.add(url, flag, None));
        }
        urls
    }

    /// The Organization for `org`; keyed by ODS code, else by name, else by `fallback`.
    pub fn organisation(&mut self, org: &'a Organisation, fallback: &[&str]) -> &'a str {
        self.organisation_with_service_id(org, None, fallback)
    }

    /// The Organization for `org`, also carrying the DoS service id it answers messages on
    /// (a referrer's `MessageHeader.source`), so transaction Bundles keep it too.
    pub fn organisation_with_service_id(
        &mut self,
        org: &'a Organisation,
        dos_id: Option<&'a str>,
        fallback: &[&str],
    ) -> &'a str {
        let b = self.b;
        let url = match (&org.ods_code, &org.name) {
            (Some(ods), _) => url(b, &["Organization", c::ODS_ORGANISATION, ods]),
            (None, Some(name)) => url(b, &["Organization", "name", name]),
            _ => fallback_url(b, "Organization", fallback),
        };
        let resource = b
            .obj()
            .with("resourceType", "Organization")
            .with_list(
                "identifier",
                b.list(
                    org.ods_code
                        .iter()
                        .map(|o| identifier(b, c::ODS_ORGANISATION, o))
                        .chain(dos_id.map(|d| identifier(b, c::DOS_SERVICE, d))),
                ),
            )
            .with_opt("name", org.name.as_deref());
        let cond = self.if_none_exist(c::ODS_ORGANISATION, org.ods_code.as_deref());
        self.add(url, resource, cond)
    }

    /// Practitioner + PractitionerRole (+ Organization: `p`'s own, else `default_org`);
    /// returns the PractitionerRole's fullUrl.
    pub fn practitioner_role(
        &mut self,
        p: &'a Practitioner,
        default_org: Option<&'a Organisation>,
        record_key: &str,
    ) -> &'a str {
        let b = self.b;
        let prac_key: &[&str] = match &p.sds_user_id {
            Some(id) => &["Practitioner", c::SDS_USER, id],
            None => &["Practitioner", record_key],
        };
        let practitioner = b
            .obj()
            .with("resourceType", "Practitioner")
            .with_opt(
                "identifier",
                p.sds_user_id
                    .as_ref()
                    .map(|v| b.one(identifier(b, c::SDS_USER, v))),
            )
            .with_opt("name", p.name.as_ref().map(|n| b.one(human_name(b, n))));
        let cond = self.if_none_exist(c::SDS_USER, p.sds_user_id.as_deref());
        let prac_url = self.add(url(b, prac_key), practitioner, cond);
        let org_url = p
            .organisation
            .as_ref()
            .or(default_org)
            .map(|o| self.organisation(o, &[record_key, "practitioner-org"]));
        let role_url = match &p.sds_role_profile_id {
            Some(id) => url(b, &["PractitionerRole", c::SDS_ROLE_PROFILE, id]),
            None => {
                let mut parts = vec!["PractitionerRole"];
                parts.extend_from_slice(prac_key);
                parts.push(org_url.unwrap_or(""));
                url(b, &parts)
            }
        };
        let role = b
            .obj()
            .with("resourceType", "PractitionerRole")
            .with_opt(
                "identifier",
                p.sds_role_profile_id
                    .as_ref()
                    .map(|v| b.one(identifier(b, c::SDS_ROLE_PROFILE, v))),
            )
            .with("practitioner", reference(b, prac_url))
            .with_opt("organization", org_url.map(|u| reference(b, u)))
            .with_opt("code", p.role.as_ref().map(|r| b.one(concept(b, r))));
        let cond = self.if_none_exist(c::SDS_ROLE_PROFILE, p.sds_role_profile_id.as_deref());
        self.add(role_url, role, cond)
    }

    /// The HealthcareService (+ Organization) for `s`.
    pub fn service(&mut self, s: &'a Service, record_key: &str) -> &'a str {
        let b = self.b;
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
        let ids = s
            .dos_id
            .iter()
            .map(|d| identifier(b, c::DOS_SERVICE, d))
            .chain(s.oruk_id.iter().map(|o| identifier(b, c::ORUK_SERVICE, o)));
        let cond = self
            .if_none_exist(c::DOS_SERVICE, s.dos_id.as_deref())
            .or_else(|| self.if_none_exist(c::ORUK_SERVICE, s.oruk_id.as_deref()));
        let resource = b
            .obj()
            .with("resourceType", "HealthcareService")
            .with_list("identifier", b.list(ids))
            .with_opt("providedBy", org_url.map(|u| reference(b, u)))
            .with_opt("name", s.name.as_deref());
        self.add(url(b, key), resource, cond)
    }

    /// Package as `opts.bundle` says: a message Bundle headed by `header` (built only for
    /// one), or a transaction Bundle in which the record at `main_url` is a conditional update
    /// by its identifier `key` (`system|value`).
    pub fn into_bundle(
        self,
        opts: &'a WriteOptions,
        key: &str,
        content: u64,
        main_url: &str,
        header: impl FnOnce(&mut Self) -> Out<'a>,
    ) -> Out<'a> {
        let mut pkg = self;
        let timestamp = opts.timestamp(pkg.b);
        match opts.bundle {
            BundleKind::Message => {
                let header = header(&mut pkg);
                pkg.into_message(key, content, header, timestamp)
            }
            BundleKind::Transaction => {
                let query = pkg.b.fmt(format_args!("identifier={key}"));
                pkg.into_transaction(main_url, query, timestamp)
            }
        }
    }

    /// A message Bundle: `header` (a MessageHeader) goes first. The Bundle's and the
    /// MessageHeader's ids come from the record's key and its content (`content`, a digest of
    /// the whole record: see [`record_digest`]), never from the clock: the same record sent
    /// again is the same message, and a changed record a new one.
    fn into_message(
        self,
        bundle_key: &str,
        content: u64,
        header: Out<'a>,
        timestamp: &'a str,
    ) -> Out<'a> {
        let b = self.b;
        let mut hex = [0u8; 16];
        for (i, h) in hex.iter_mut().enumerate() {
            *h = b"0123456789abcdef"[((content >> (60 - 4 * i)) & 0xf) as usize];
        }
        let content = std::str::from_utf8(&hex).unwrap_or_default();
        let header_url = url(b, &["MessageHeader", bundle_key, content]);
        let bundle_id = Urn::of(&["Bundle", bundle_key, content]);
        let entries = b.list(
            std::iter::once(entry(b, header_url, header, None))
                .chain(self.entries.iter().map(|&(u, r, _)| entry(b, u, r, None))),
        );
        b.obj()
            .with("resourceType", "Bundle")
            .with("id", b.str(uuid_of(bundle_id.as_str())))
            .with(
                "meta",
                b.obj().with(
                    "profile",
                    b.list([c::BARS_BUNDLE_PROFILE, profile::MESSAGE_BUNDLE]),
                ),
            )
            .with("type", "message")
            .with("timestamp", timestamp)
            .with("entry", Out::Array(entries))
            .done()
    }

    /// A transaction Bundle. The record (`main_url`, found by its identifier `main_query`) is
    /// a conditional update; everything else a conditional create.
    fn into_transaction(self, main_url: &str, main_query: &str, timestamp: &'a str) -> Out<'a> {
        let b = self.b;
        let entries = b.list(self.entries.iter().map(|&(u, r, cond)| {
            let kind = r
                .get("resourceType")
                .and_then(Out::as_str)
                .unwrap_or_default();
            let request = if u == main_url {
                b.obj()
                    .with("method", "PUT")
                    .with("url", b.fmt(format_args!("{kind}?{main_query}")))
            } else {
                b.obj()
                    .with("method", "POST")
                    .with("url", kind)
                    .with_opt("ifNoneExist", cond)
            };
            entry(b, u, r, Some(request.done()))
        }));
        b.obj()
            .with("resourceType", "Bundle")
            .with("type", "transaction")
            .with("timestamp", timestamp)
            .with("entry", Out::Array(entries))
            .done()
    }
}

/// A digest of a whole domain record (a 64-bit FxHash of its fields): what tells versions of
/// one record, under one key, apart in message ids. Hashing the record rather than the
/// FHIR built from it costs a fraction (the FHIR is a function of the record).
pub fn record_digest<T: std::hash::Hash>(record: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    record.hash(&mut h);
    h.finish()
}

fn entry<'a>(b: Builder<'a>, url: &'a str, resource: Out<'a>, request: Option<Out<'a>>) -> Out<'a> {
    b.obj()
        .with("fullUrl", url)
        .with("resource", resource)
        .with_opt("request", request)
        .done()
}

fn uuid_of(urn: &str) -> &str {
    urn.trim_start_matches("urn:uuid:")
}

/// A MessageHeader for one of spfhir's own events (care plan / outcome notifications).
pub fn sp_message_header<'a>(
    b: Builder<'a>,
    event: &'a str,
    source_endpoint: &'a str,
    focus: &'a str,
) -> Out<'a> {
    b.obj()
        .with("resourceType", "MessageHeader")
        .with(
            "eventCoding",
            coding(b, codesystem::MESSAGE_EVENTS, event, None),
        )
        .with("source", b.obj().with("endpoint", source_endpoint))
        .with("focus", b.one(reference(b, focus)))
        .done()
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
            assert_eq!(Urn::of(parts).as_str(), expected);
        }
    }
}
