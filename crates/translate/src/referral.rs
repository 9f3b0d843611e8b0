//! Referral ⇄ ServiceRequest, packaged as a BaRS-shaped message Bundle or a transaction.

use crate::canonical::{self as c, codesystem, profile};
use crate::domain::{
    Consent, ConsentPurpose, Person, Priority, Referral, ReferralStatus, Referrer, Service,
};
use crate::issue::Issue;
use crate::json::{Builder, Json, Out};
use spfhir_element::msg;

use super::read::{Reader, resource_type};
use super::write::{
    BundleKind, Package, WriteOptions, codeable, coding, concept, identifier, record_digest,
    reference, token, url,
};
use super::{Built, ToFhir, find_focus, record_identifier};

code_table!(status_code, status_from, ReferralStatus, [Draft => "draft", Active => "active", OnHold => "on-hold",
    Revoked => "revoked", Completed => "completed", EnteredInError => "entered-in-error", Unknown => "unknown"]);

fn priority_code(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "routine",
        Priority::Urgent => "urgent",
        Priority::Asap => "asap",
        Priority::Stat => "stat",
    }
}

pub fn purpose_code(p: ConsentPurpose) -> &'static str {
    match p {
        ConsentPurpose::DirectCare => "direct-care",
        ConsentPurpose::SocialPrescribing => "social-prescribing",
        ConsentPurpose::OutcomeReporting => "outcome-reporting",
        ConsentPurpose::Research => "research",
    }
}

fn purpose_from(code: &str) -> Option<ConsentPurpose> {
    use ConsentPurpose::*;
    [DirectCare, SocialPrescribing, OutcomeReporting, Research]
        .into_iter()
        .find(|p| purpose_code(*p) == code)
}

/// The MessageHeader endpoint naming a DoS service (BaRS form `system|value`).
fn dos_endpoint(id: &str) -> String {
    format!("{}|{id}", c::DOS_SERVICE)
}

fn source_endpoint(r: &Referrer) -> Option<String> {
    r.dos_id.as_deref().map(dos_endpoint).or_else(|| {
        r.organisation
            .ods_code
            .as_ref()
            .map(|o| format!("{}|{o}", c::ODS_ORGANISATION))
    })
}

fn destination_endpoint(s: &Service) -> Option<String> {
    s.dos_id.as_deref().map(dos_endpoint).or_else(|| {
        s.oruk_id
            .as_ref()
            .map(|o| format!("{}|{o}", c::ORUK_SERVICE))
    })
}

impl ToFhir for Referral {
    /// Referral → FHIR Bundle.
    fn build<'a>(
        &'a self,
        opts: &'a WriteOptions,
        b: Builder<'a>,
    ) -> Result<Built<'a>, Vec<Issue>> {
        let r = self;
        let key = token(&r.identifier);
        let mut issues = Vec::new();
        if let Some(n) = &r.person.nhs_number
            && !n.checksum_ok()
        {
            issues.push(
                Issue::warning(
                    msg::TRANSLATE_NHS_NUMBER_CHECKSUM,
                    "the NHS number fails its Modulus 11 check digit",
                )
                .at("person.nhsNumber"),
            );
        }
        let (source, destination) = (
            source_endpoint(&r.referrer).map(|e| b.str(&e)),
            r.service
                .as_ref()
                .and_then(destination_endpoint)
                .map(|e| b.str(&e)),
        );
        let mut errors = Vec::new();
        if let Some(org) = r
            .referrer
            .practitioner
            .as_ref()
            .and_then(|p| p.organisation.as_ref())
            && *org != r.referrer.organisation
        {
            // The ServiceRequest has one requester: a PractitionerRole at one organisation.
            errors.push(Issue::error(msg::TRANSLATE_REFERRER_ORG_CONFLICT,
            "referrer.practitioner.organisation differs from referrer.organisation; a referral comes from one organisation: leave the practitioner's organisation out")
            .at("referrer.practitioner.organisation"));
        }
        if opts.bundle == BundleKind::Message {
            if source.is_none() {
                errors.push(Issue::error(msg::TRANSLATE_NO_SOURCE_ENDPOINT,
                "a message Bundle needs the sender's endpoint: give referrer.dosId or referrer.organisation.odsCode").at("referrer"));
            }
            if destination.is_none() {
                errors.push(Issue::error(msg::TRANSLATE_NO_DESTINATION,
                "a message Bundle needs the receiving service: give service.dosId or service.orukId").at("service"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut pkg = Package::new(opts.bundle, b);
        let sr_url = url(b, &["ServiceRequest", &key]);
        // The ServiceRequest goes first among the entries (right after the MessageHeader).
        pkg.add(sr_url, Out::Null, None);
        let patient = pkg.patient(&r.person, &key);
        let referrer_org = pkg.organisation_with_service_id(
            &r.referrer.organisation,
            r.referrer.dos_id.as_deref(),
            &[&key, "referrer-org"],
        );
        let requester = match &r.referrer.practitioner {
            Some(p) => pkg.practitioner_role(p, Some(&r.referrer.organisation), &key),
            None => referrer_org,
        };
        let service = r.service.as_ref().map(|s| pkg.service(s, &key));
        let mut supporting = b.vec();
        for (i, consent) in r.consent.iter().enumerate() {
            let res = consent_resource(consent, patient, &mut pkg, &key);
            let consent_url = url(b, &["Consent", &key, itoa::Buffer::new().format(i)]);
            supporting.push(reference(b, pkg.add(consent_url, res, None)));
        }
        let flags = r.risks.iter().map(|f| (f.category, f.description.as_str()));
        for flag in pkg.flags(flags, &r.person, patient, &key) {
            supporting.push(reference(b, flag));
        }

        let sr = b
            .obj()
            .with("resourceType", "ServiceRequest")
            .with("meta", b.obj().with("profile", b.one(profile::REFERRAL)))
            .with(
                "identifier",
                b.one(identifier(b, &r.identifier.system, &r.identifier.value)),
            )
            .with("status", status_code(r.status))
            .with("intent", "plan")
            .with(
                "category",
                b.one(codeable(
                    b,
                    c::BARS_SR_CATEGORY,
                    "referral",
                    Some("Transfer of Care"),
                )),
            )
            .with("priority", priority_code(r.priority))
            .with(
                "code",
                codeable(
                    b,
                    c::SNOMED,
                    c::SP_REFERRAL_CODE,
                    Some(c::SP_REFERRAL_DISPLAY),
                ),
            )
            .with("subject", reference(b, patient))
            .with("authoredOn", r.date.as_str())
            .with("requester", reference(b, requester))
            .with_opt("performer", service.map(|s| b.one(reference(b, s))))
            .with_list("reasonCode", b.list(r.needs.iter().map(|n| concept(b, n))))
            .with_list("supportingInfo", supporting.into_bump_slice())
            .with_opt(
                "note",
                r.notes.as_deref().map(|n| b.one(b.obj().with("text", n))),
            );
        pkg.set(sr_url, sr);
        let fhir = pkg.into_bundle(opts, &key, record_digest(self), sr_url, |pkg| {
            let reason = message_reason(r.status);
            let receiver = r
                .service
                .as_ref()
                .and_then(|s| s.organisation.as_ref())
                .map(|o| pkg.organisation(o, &[&key, "receiver"]));
            b.obj()
                .with("resourceType", "MessageHeader")
                .with(
                    "meta",
                    b.obj()
                        .with("profile", b.one(c::BARS_MESSAGE_HEADER_PROFILE)),
                )
                .with(
                    "eventCoding",
                    coding(b, c::BARS_MESSAGE_EVENTS, "servicerequest-request", None),
                )
                .with(
                    "destination",
                    b.one(
                        b.obj()
                            .with("endpoint", destination.unwrap_or_default())
                            .with_opt("receiver", receiver.map(|u| reference(b, u))),
                    ),
                )
                .with("sender", reference(b, referrer_org))
                .with(
                    "source",
                    b.obj().with("endpoint", source.unwrap_or_default()),
                )
                .with("reason", codeable(b, c::BARS_MESSAGE_REASON, reason, None))
                .with("focus", b.one(reference(b, sr_url)))
                .with("definition", c::BARS_REFERRAL_DEFINITION)
                .done()
        });
        Ok(Built { fhir, issues })
    }
}

fn consent_resource<'a>(
    consent: &'a Consent,
    patient: &'a str,
    pkg: &mut Package<'a>,
    key: &str,
) -> Out<'a> {
    let b = pkg.b;
    let purpose = codeable(
        b,
        codesystem::CONSENT_PURPOSE,
        purpose_code(consent.purpose),
        None,
    );
    let category = if consent.purpose == ConsentPurpose::DirectCare {
        b.list([
            purpose,
            codeable(b, c::BARS_CONSENT_CATEGORY, "DRC", Some("Direct Care")),
        ])
    } else {
        b.list([purpose])
    };
    let mut actors = b.vec();
    for o in &consent.shared_with {
        let url = pkg.organisation(o, &[key, "consent-actor"]);
        actors.push(
            b.obj()
                .with(
                    "role",
                    codeable(
                        b,
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        Some("information recipient"),
                    ),
                )
                .with("reference", reference(b, url))
                .done(),
        );
    }
    let opt = if consent.given { "OPTIN" } else { "OPTOUT" };
    b.obj()
        .with("resourceType", "Consent")
        .with("status", "active")
        .with(
            "scope",
            codeable(b, c::CONSENT_SCOPE, "patient-privacy", None),
        )
        .with("category", Out::Array(category))
        .with("patient", reference(b, patient))
        .with_opt("dateTime", consent.date.as_ref().map(|d| d.as_str()))
        .with(
            "policyRule",
            codeable(
                b,
                "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                opt,
                None,
            ),
        )
        .with(
            "provision",
            b.obj()
                .with("type", if consent.given { "permit" } else { "deny" })
                .with_list("actor", actors.into_bump_slice())
                .with(
                    "purpose",
                    b.one(coding(
                        b,
                        codesystem::CONSENT_PURPOSE,
                        purpose_code(consent.purpose),
                        None,
                    )),
                ),
        )
        .done()
}

/// FHIR (a Bundle or a lone ServiceRequest) → Referral.
pub fn to_domain(root: &Json) -> Result<(Referral, Vec<Issue>), Vec<Issue>> {
    let mut rd = Reader::new(root);
    let sr_index = find_focus(&mut rd, "ServiceRequest")?;
    let (sr, path) = rd.visit(sr_index);
    let identifier = record_identifier(&mut rd, sr, &path);
    let status = rd.code(sr, "status", &path, status_from);
    rd.consume(sr.get("intent"));
    for cat in rd.list(sr, "category") {
        for coding in rd.list(cat, "coding") {
            if coding.get("system").and_then(Json::as_str) == Some(c::BARS_SR_CATEGORY) {
                rd.consume(Some(coding));
            }
        }
        rd.consume_if_done(cat.get("coding"));
        rd.consume_if_done(Some(cat));
    }
    rd.consume_if_done(sr.get("category"));
    if let Some(code) = sr.get("code") {
        let is_sp = rd.list(code, "coding").iter().any(|cd| {
            cd.get("system").and_then(Json::as_str) == Some(c::SNOMED)
                && cd.get("code").and_then(Json::as_str) == Some(c::SP_REFERRAL_CODE)
        });
        if is_sp {
            rd.consume(Some(code));
        }
    }
    let priority = rd
        .code(sr, "priority", &path, |p| match p {
            "routine" => Some(Priority::Routine),
            "urgent" => Some(Priority::Urgent),
            "asap" => Some(Priority::Asap),
            "stat" => Some(Priority::Stat),
            _ => None,
        })
        .unwrap_or_default();
    let mut date = rd.date_time(sr, "authoredOn", &path);
    if date.is_none() && sr.get("authoredOn").is_none() {
        // BaRS messages often leave authoredOn out: fall back to when the message was sent.
        let sent = rd
            .root()
            .get("timestamp")
            .filter(|_| rd.is_bundle())
            .or_else(|| sr.get("meta").and_then(|m| m.get("lastUpdated")));
        if let Some(d) = sent
            .and_then(Json::as_str)
            .and_then(|t| crate::domain::FhirDateTime::try_from(t).ok())
        {
            rd.issues.push(
                Issue::warning(msg::TRANSLATE_DATE_FALLBACK, "ServiceRequest.authoredOn is missing; the message's timestamp is used as the referral date")
                    .at(format!("{path}.authoredOn")),
            );
            date = Some(d);
        }
    }

    let mut person = Person::default();
    if let Some((patient, ppath)) =
        rd.follow(sr.get("subject"), &format!("{path}.subject"), "the patient")
    {
        person = rd.person(patient, &ppath);
    }

    let mut referrer = Referrer::default();
    if let Some((res, rpath)) = rd.follow(
        sr.get("requester"),
        &format!("{path}.requester"),
        "the referrer",
    ) {
        let mut p = rd.practitioner(res, &rpath);
        referrer.organisation = p.organisation.take().unwrap_or_default();
        referrer.dos_id = rd.referrer_dos_id(res);
        if resource_type(res) != "Organization" {
            referrer.practitioner = Some(p);
        }
    }

    let needs = rd
        .list(sr, "reasonCode")
        .iter()
        .map(|cc| {
            let cn = rd.concept(cc);
            rd.consume_if_done(Some(cc));
            cn
        })
        .collect::<Vec<_>>();
    rd.consume_if_done(sr.get("reasonCode"));
    let notes = rd.list(sr, "note").first().and_then(|n| {
        let t = rd.string(n, "text");
        rd.consume_if_done(Some(n));
        t
    });
    rd.consume_if_done(sr.get("note"));

    let mut service = None;
    if let Some(perf) = rd.list(sr, "performer").first() {
        if let Some((res, spath)) =
            rd.follow(Some(perf), &format!("{path}.performer[0]"), "the service")
        {
            service = Some(match resource_type(res) {
                "HealthcareService" => rd.service(res, &spath),
                _ => Service {
                    organisation: Some(
                        rd.practitioner(res, &spath)
                            .organisation
                            .unwrap_or_default(),
                    ),
                    ..Service::default()
                },
            });
        }
        rd.consume_if_done(sr.get("performer"));
    }

    // Consents and Flags: those the ServiceRequest points at, and any others in the message.
    let mut consent = Vec::new();
    let mut risks = Vec::new();
    for info in rd.list(sr, "supportingInfo") {
        if let Some(i) = rd.resolve(info) {
            let kind = resource_type(rd.root_entry(i));
            if kind == "Consent" || kind == "Flag" {
                rd.consume(Some(info));
            }
        }
    }
    rd.consume_if_done(sr.get("supportingInfo"));
    for (i, _) in rd.all_of("Consent") {
        let (res, cpath) = rd.visit(i);
        if let Some(cn) = read_consent(&mut rd, res, &cpath) {
            consent.push(cn);
        }
    }
    for (i, _) in rd.all_of("Flag") {
        let (res, _) = rd.visit(i);
        rd.flag(res, Some(&mut risks), &mut person.accessibility_needs);
    }

    let mut referral_service = service;
    if let Some((mh_index, _)) = rd.all_of("MessageHeader").first().copied() {
        let (mh, mpath) = rd.visit(mh_index);
        read_referral_header(
            &mut rd,
            mh,
            &mpath,
            status,
            &mut referrer,
            &mut referral_service,
        );
    }

    let mut errors: Vec<Issue> = rd.issues.iter().filter(|i| i.is_error()).cloned().collect();
    if status.is_none() && sr.get("status").is_none() {
        errors.push(
            Issue::error(msg::TRANSLATE_MISSING, "ServiceRequest.status is missing")
                .at(format!("{path}.status")),
        );
    }
    if date.is_none() && errors.is_empty() {
        errors.push(
            Issue::error(
                msg::TRANSLATE_MISSING,
                "ServiceRequest.authoredOn is missing: the referral date is required",
            )
            .at(format!("{path}.authoredOn")),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(status), Some(date)) = (status, date) else {
        return Err(rd.finish());
    };
    let referral = Referral {
        identifier,
        status,
        date,
        priority,
        person,
        referrer,
        needs,
        notes,
        consent,
        risks,
        service: referral_service,
    };
    Ok((referral, rd.finish()))
}

fn read_consent<'a>(rd: &mut Reader<'a>, res: &'a Json, path: &str) -> Option<Consent> {
    rd.consume(res.get("status"));
    rd.consume(res.get("scope"));
    rd.consume(res.get("patient"));
    rd.consume(res.get("policyRule"));
    let mut purpose = None;
    for cat in rd.list(res, "category") {
        for cd in rd.list(cat, "coding") {
            let system = cd.get("system").and_then(Json::as_str);
            let code = cd.get("code").and_then(Json::as_str).unwrap_or_default();
            if system == Some(codesystem::CONSENT_PURPOSE) {
                purpose = purpose.or(purpose_from(code));
                rd.consume(Some(cd));
            } else if system == Some(c::BARS_CONSENT_CATEGORY) && code == "DRC" {
                purpose = purpose.or(Some(ConsentPurpose::DirectCare));
                rd.consume(Some(cd));
            }
        }
        rd.consume_if_done(cat.get("coding"));
        rd.consume_if_done(Some(cat));
    }
    rd.consume_if_done(res.get("category"));
    let date = rd.date_time(res, "dateTime", path);
    let mut given = true;
    let mut shared_with = Vec::new();
    if let Some(prov) = res.get("provision") {
        given = rd.str(prov, "type") != Some("deny");
        for (i, actor) in rd.list(prov, "actor").iter().enumerate() {
            rd.consume(actor.get("role"));
            if let Some((org, _)) = rd.follow(
                actor.get("reference"),
                &format!("{path}.provision.actor[{i}].reference"),
                "the consent's recipient",
            ) {
                shared_with.push(rd.organisation(org));
            }
            rd.consume_if_done(Some(actor));
        }
        rd.consume_if_done(prov.get("actor"));
        for cd in rd.list(prov, "purpose") {
            if cd.get("system").and_then(Json::as_str) == Some(codesystem::CONSENT_PURPOSE)
                && let Some(p) = cd.get("code").and_then(Json::as_str).and_then(purpose_from)
            {
                purpose = Some(p);
                rd.consume(Some(cd));
            }
        }
        rd.consume_if_done(prov.get("purpose"));
        rd.consume_if_done(Some(prov));
    } else if let Some(rule) = res
        .get("policyRule")
        .and_then(|p| p.get("coding"))
        .and_then(Json::as_array)
        .and_then(|c| c.first())
    {
        given = rule.get("code").and_then(Json::as_str) != Some("OPTOUT");
    }
    Some(Consent {
        given,
        date,
        purpose: purpose.unwrap_or(ConsentPurpose::DirectCare),
        shared_with,
    })
}

/// The BaRS message reason a referral's status is sent with.
fn message_reason(status: ReferralStatus) -> &'static str {
    match status {
        ReferralStatus::EnteredInError => "delete",
        ReferralStatus::Revoked | ReferralStatus::OnHold | ReferralStatus::Completed => "update",
        _ => "new",
    }
}

fn read_referral_header<'a>(
    rd: &mut Reader<'a>,
    mh: &'a Json,
    _path: &str,
    status: Option<ReferralStatus>,
    referrer: &mut Referrer,
    service: &mut Option<Service>,
) {
    for key in ["eventCoding", "focus", "definition", "sender"] {
        rd.consume(mh.get(key));
    }
    // The reason is the one the status implies, so it is kept by keeping the status; any
    // other reason says something the record cannot, and is reported as not mapped.
    let reason = mh
        .get("reason")
        .and_then(|r| r.get("coding"))
        .and_then(Json::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("code"))
        .and_then(Json::as_str);
    if status.is_some_and(|s| reason == Some(message_reason(s))) {
        rd.consume(mh.get("reason"));
    }
    if let Some(src) = mh.get("source") {
        let endpoint = src
            .get("endpoint")
            .and_then(Json::as_str)
            .unwrap_or_default();
        if let Some(dos) = endpoint
            .strip_prefix(c::DOS_SERVICE)
            .and_then(|e| e.strip_prefix('|'))
        {
            referrer.dos_id = Some(dos.to_string());
            rd.consume(src.get("endpoint"));
        } else if Some(endpoint) == source_endpoint(referrer).as_deref() {
            rd.consume(src.get("endpoint"));
        }
        rd.consume_if_done(Some(src));
    }
    for d in rd.list(mh, "destination") {
        let endpoint = d.get("endpoint").and_then(Json::as_str);
        if endpoint.is_some()
            && endpoint == service.as_ref().and_then(destination_endpoint).as_deref()
        {
            rd.consume(d.get("endpoint"));
        } else if let Some(dos) = endpoint
            .and_then(|e| e.strip_prefix(c::DOS_SERVICE))
            .and_then(|e| e.strip_prefix('|'))
        {
            let s = service.get_or_insert_with(Service::default);
            if s.dos_id.is_none() {
                s.dos_id = Some(dos.to_string());
                rd.consume(d.get("endpoint"));
            }
        }
        if let Some(receiver) = d.get("receiver") {
            let same = rd.resolve(receiver).map(|i| rd.root_entry(i)).map(|o| {
                let ods = o
                    .get("identifier")
                    .and_then(Json::as_array)
                    .and_then(|ids| ids.first())
                    .and_then(|i| i.get("value"))
                    .and_then(Json::as_str);
                service
                    .as_ref()
                    .and_then(|s| s.organisation.as_ref())
                    .and_then(|o| o.ods_code.as_deref())
                    == ods
            });
            if same == Some(true) {
                rd.consume(Some(receiver));
            }
        }
        rd.consume_if_done(Some(d));
    }
    rd.consume_if_done(mh.get("destination"));
}
