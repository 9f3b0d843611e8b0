//! FHIR → domain building blocks: a reading context that resolves references inside a Bundle
//! or `contained`, and records which nodes a translation consumed.
//!
//! Invariant: nothing is dropped silently. Every node of every resource a translation touched
//! is either consumed or reported by [`Reader::finish`] as a `TRANSLATE_NOT_MAPPED` warning
//! with its FHIRPath; every Bundle entry it never touched is reported as
//! `TRANSLATE_ENTRY_NOT_USED`.

use spfhir_element::msg;
use std::collections::HashSet;

use crate::canonical as c;
use crate::domain::{
    Address, Concept, ContactPoint, ContactSystem, ContactUse, FhirDate, FhirDateTime, Gender,
    HumanName, Identifier, Language, NhsNumber, Organisation, Period, Person, Practitioner,
    RiskCategory, RiskFlag, Service,
};
use crate::issue::Issue;
use crate::json::{Json, Kind, reference};

struct Entry<'a> {
    full_url: Option<&'a str>,
    /// A contained resource (resolved only by `#id`).
    contained: bool,
    resource: &'a Json,
    path: String,
}

pub struct Reader<'a> {
    root: &'a Json,
    entries: Vec<Entry<'a>>,
    consumed: HashSet<*const Json>,
    /// Indexes of `entries` whose resource a translation visited.
    visited: Vec<usize>,
    pub issues: Vec<Issue>,
}

pub fn resource_type(node: &Json) -> &str {
    node.get("resourceType")
        .and_then(Json::as_str)
        .unwrap_or("")
}

impl<'a> Reader<'a> {
    /// Index `root`: a Bundle's entries, or a single resource, plus contained resources.
    pub fn new(root: &'a Json) -> Reader<'a> {
        let mut r = Reader {
            root,
            entries: Vec::new(),
            consumed: HashSet::new(),
            visited: Vec::new(),
            issues: Vec::new(),
        };
        let root_type = resource_type(root);
        if root_type == "Bundle" {
            // The envelope: what says nothing about the record. Its identifier, links,
            // signature and tags are reported if nothing maps them; a security label
            // refuses the record (see `visit`).
            for key in ["resourceType", "id", "type", "timestamp", "total"] {
                r.consume(root.get(key));
            }
            r.consume_meta(root, "Bundle");
            for (i, e) in root
                .get("entry")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                r.consume(Some(e));
                if let Some(res) = e.get("resource") {
                    let path = format!("Bundle.entry[{i}].resource");
                    r.index_contained(res, &path);
                    r.entries.push(Entry {
                        full_url: e.get("fullUrl").and_then(Json::as_str),
                        contained: false,
                        resource: res,
                        path,
                    });
                }
            }
        } else {
            r.entries.push(Entry {
                full_url: None,
                contained: false,
                resource: root,
                path: root_type.to_string(),
            });
            r.index_contained(root, root_type);
        }
        r
    }

    fn index_contained(&mut self, res: &'a Json, path: &str) {
        for (i, c) in res
            .get("contained")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            self.entries.push(Entry {
                full_url: None,
                contained: true,
                resource: c,
                path: format!("{path}.contained[{i}]"),
            });
        }
    }

    pub fn is_bundle(&self) -> bool {
        resource_type(self.root) == "Bundle"
    }

    pub fn root(&self) -> &'a Json {
        self.root
    }

    /// Mark a node (and so its whole subtree) as consumed.
    pub fn consume(&mut self, node: Option<&Json>) {
        if let Some(n) = node {
            self.consumed.insert(n as *const Json);
        }
    }

    /// Every resource of `kind` in the input.
    pub fn all_of(&self, kind: &str) -> Vec<(usize, &'a Json)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| resource_type(e.resource) == kind)
            .map(|(i, e)| (i, e.resource))
            .collect()
    }

    /// The fullUrl under which `res` was given in the Bundle.
    pub fn full_url_of(&self, res: &Json) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|e| std::ptr::eq(e.resource, res))
            .and_then(|e| e.full_url)
    }

    /// The resource at `index`, without visiting it.
    pub fn root_entry(&self, index: usize) -> &'a Json {
        self.entries[index].resource
    }

    /// Start reading the resource at `index`: its envelope (resourceType, id, meta, generated
    /// narrative) is consumed, and it is reported on at the end.
    pub fn visit(&mut self, index: usize) -> (&'a Json, String) {
        let res = self.entries[index].resource;
        if !self.visited.contains(&index) {
            self.visited.push(index);
            for key in ["resourceType", "id"] {
                self.consume(res.get(key));
            }
            let path = self.entries[index].path.clone();
            self.consume_meta(res, &path);
            if res
                .get("text")
                .and_then(|t| t.get("status"))
                .and_then(Json::as_str)
                == Some("generated")
            {
                self.consume(res.get("text"));
            }
        }
        (res, self.entries[index].path.clone())
    }

    /// Consume the parts of `res.meta` that describe the copy, not the record (versionId,
    /// lastUpdated, source, profile). Tags are left to be reported if unmapped; a security
    /// label is an error: the record carries none, and dropping one (a restricted record)
    /// would be a data-protection incident, so the record is refused instead.
    fn consume_meta(&mut self, res: &'a Json, path: &str) {
        let Some(meta) = res.get("meta") else { return };
        for key in ["id", "versionId", "lastUpdated", "source", "profile"] {
            self.consume(meta.get(key));
            self.consume(meta.get(&format!("_{key}")));
        }
        if let Some(security) = meta.get("security") {
            self.consume(Some(security));
            self.issues.push(
                Issue::error(
                    msg::TRANSLATE_SECURITY_LABEL,
                    format!("{path}.meta.security labels the resource (e.g. as restricted), and the social prescribing record has no place to keep that: it is not translated, so the label is not lost"),
                )
                .at(format!("{path}.meta.security"))
                .at_node(security),
            );
        }
    }

    /// Resolve a Reference node to an indexed resource, by the rules of
    /// [`reference::resolve`]: fullUrls (`urn:uuid:`, absolute), `Type/id` (also as the tail
    /// of an absolute URL, and versioned) and `#id` for a resource's contained resources.
    pub fn resolve(&self, reference: &Json) -> Option<usize> {
        let r = reference.get("reference").and_then(Json::as_str)?;
        let bundle = (resource_type(self.root) == "Bundle").then_some(self.root);
        let target = if r.starts_with('#') {
            // The holder is not known here: each resource of the message in turn.
            self.entries.iter().filter(|e| !e.contained).find_map(|e| {
                let scope = reference::Scope {
                    container: Some(e.resource),
                    ..Default::default()
                };
                reference::resolve(r, &scope).filter(|t| !std::ptr::eq(*t, e.resource))
            })?
        } else {
            let scope = reference::Scope {
                container: None,
                bundle: bundle.or(Some(self.root)),
                entry_url: None,
                index: None,
            };
            reference::resolve(r, &scope)?
        };
        self.entries
            .iter()
            .position(|e| std::ptr::eq(e.resource, target))
    }

    /// Follow a Reference member: consume it and visit its target. Unresolvable references
    /// (outside the message) are reported and give `None`.
    pub fn follow(
        &mut self,
        reference: Option<&'a Json>,
        path: &str,
        what: &str,
    ) -> Option<(&'a Json, String)> {
        let reference = reference?;
        match self.resolve(reference) {
            Some(i) => {
                self.consume(Some(reference));
                Some(self.visit(i))
            }
            None if reference.get("reference").is_some() => {
                self.issues.push(
                    Issue::warning(msg::TRANSLATE_REFERENCE_UNRESOLVED,
                        format!("{what} is referenced but not included in the message, so its details cannot be read"),
                    )
                    .at(format!("{path}.reference"))
                    .at_node(reference),
                );
                None
            }
            None => None,
        }
    }

    // ---- primitive readers: each consumes what it returns ----

    pub fn str(&mut self, node: &'a Json, key: &str) -> Option<&'a str> {
        let v = node.get(key)?;
        let s = v.as_str()?;
        self.consume(Some(v));
        Some(s)
    }

    pub fn string(&mut self, node: &'a Json, key: &str) -> Option<String> {
        self.str(node, key).map(str::to_string)
    }

    pub fn bool(&mut self, node: &'a Json, key: &str) -> Option<bool> {
        let v = node.get(key)?;
        let b = v.as_bool()?;
        self.consume(Some(v));
        Some(b)
    }

    /// Array member `key` (or an empty slice), without consuming it.
    pub fn list(&self, node: &'a Json, key: &str) -> &'a [Json] {
        node.get(key).and_then(Json::as_array).unwrap_or(&[])
    }

    /// Strings of an array member; consumes each string read.
    pub fn strings(&mut self, node: &'a Json, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.list(node, key) {
            if let Some(s) = v.as_str() {
                self.consume(Some(v));
                out.push(s.to_string());
            }
        }
        self.consume_if_done(node.get(key));
        out
    }

    /// Consume a container whose children were all consumed (keeps reports at the top).
    pub fn consume_if_done(&mut self, node: Option<&'a Json>) {
        if let Some(n) = node
            && self.covered(n)
        {
            self.consume(Some(n));
        }
    }

    /// A string value parsed into a validated domain type; a bad value is an error issue.
    pub fn parsed<T: TryFrom<String, Error = String>>(
        &mut self,
        node: &'a Json,
        key: &str,
        path: &str,
    ) -> Option<T> {
        let v = node.get(key)?;
        let s = v.as_str()?;
        match T::try_from(s.to_string()) {
            Ok(t) => {
                self.consume(Some(v));
                Some(t)
            }
            Err(e) => {
                self.issues.push(
                    Issue::error(msg::TRANSLATE_BAD_VALUE, e)
                        .at(format!("{path}.{key}"))
                        .at_node(v),
                );
                None
            }
        }
    }

    pub fn date(&mut self, node: &'a Json, key: &str, path: &str) -> Option<FhirDate> {
        self.parsed(node, key, path)
    }

    pub fn date_time(&mut self, node: &'a Json, key: &str, path: &str) -> Option<FhirDateTime> {
        self.parsed(node, key, path)
    }

    /// A code member mapped through `f`; unknown codes are reported.
    pub fn code<T>(
        &mut self,
        node: &'a Json,
        key: &str,
        path: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = node.get(key)?;
        let s = v.as_str()?;
        match f(s) {
            Some(t) => {
                self.consume(Some(v));
                Some(t)
            }
            None => {
                self.issues.push(
                    Issue::error(
                        msg::TRANSLATE_UNKNOWN_CODE,
                        format!("'{s}' is not a valid code for {key}"),
                    )
                    .at(format!("{path}.{key}"))
                    .at_node(v),
                );
                None
            }
        }
    }

    // ---- data types ----

    pub fn concept(&mut self, cc: &'a Json) -> Concept {
        let mut out = Concept {
            text: self.string(cc, "text"),
            ..Concept::default()
        };
        if let Some(coding) = self.list(cc, "coding").first() {
            out.system = self.string(coding, "system");
            out.code = self.string(coding, "code");
            out.display = self.string(coding, "display");
            if out.system.as_deref() == Some(c::SNOMED) && out.code.is_some() {
                // SNOMED is the default system: leave it implicit in the domain.
                out.system = None;
            }
            self.consume_if_done(Some(coding));
        }
        self.consume_if_done(cc.get("coding"));
        out
    }

    pub fn period(&mut self, p: &'a Json, path: &str) -> Period {
        Period {
            start: self.date_time(p, "start", path),
            end: self.date_time(p, "end", path),
        }
    }

    pub fn identifier(&mut self, id: &'a Json) -> Option<Identifier> {
        let system = id.get("system").and_then(Json::as_str)?;
        let value = id.get("value").and_then(Json::as_str)?;
        self.consume(id.get("system"));
        self.consume(id.get("value"));
        Some(Identifier {
            system: system.into(),
            value: value.into(),
        })
    }

    /// The value of the first identifier with `system`; consumes that identifier.
    pub fn identifier_value(&mut self, res: &'a Json, system: &str) -> Option<String> {
        for id in self.list(res, "identifier") {
            if id.get("system").and_then(Json::as_str) == Some(system)
                && let Some(v) = id.get("value").and_then(Json::as_str)
            {
                self.consume(Some(id));
                self.consume_if_done(res.get("identifier"));
                return Some(v.to_string());
            }
        }
        None
    }

    pub fn human_name(&mut self, names: &'a [Json]) -> Option<HumanName> {
        let n = names
            .iter()
            .find(|n| n.get("use").and_then(Json::as_str) == Some("official"))
            .or(names.first())?;
        self.consume(n.get("use"));
        let name = HumanName {
            prefix: self.strings(n, "prefix"),
            given: self.strings(n, "given"),
            family: self.string(n, "family"),
        };
        // `text` is derived from the parts when they are present.
        if name.family.is_some() || !name.given.is_empty() {
            self.consume(n.get("text"));
        }
        Some(name)
    }

    /// Read a BaRS Flag: a "Reasonable Adjustment" into `needs`, a risk into `risks` when
    /// given. Anything else is left unconsumed, so it is reported as not mapped.
    pub fn flag(
        &mut self,
        res: &'a Json,
        risks: Option<&mut Vec<RiskFlag>>,
        needs: &mut Vec<String>,
    ) {
        let Some(code) = flag_category(res) else {
            return;
        };
        let text = res.get("code").and_then(|cc| {
            cc.get("text").and_then(Json::as_str).or_else(|| {
                cc.get("coding")
                    .and_then(Json::as_array)
                    .and_then(|c| c.first())
                    .and_then(|c| c.get("display"))
                    .and_then(Json::as_str)
            })
        });
        let Some(text) = text else { return };
        let category = match code {
            "SG" => Some(RiskCategory::Safeguarding),
            "SS" => Some(RiskCategory::StaffSafety),
            "IR" => Some(RiskCategory::InfectionRisk),
            "API" => Some(RiskCategory::Other),
            _ => None,
        };
        match (code, category, risks) {
            ("RA", _, _) => needs.push(text.to_string()),
            (_, Some(category), Some(risks)) => risks.push(RiskFlag {
                category,
                description: text.to_string(),
            }),
            _ => return,
        }
        self.consume(res.get("category"));
        if res.get("code").and_then(|c| c.get("text")).is_some() {
            self.consume(res.get("code").and_then(|c| c.get("text")));
            self.consume_if_done(res.get("code"));
        }
        self.consume(res.get("status"));
        self.consume(res.get("subject"));
    }

    /// Read every "Reasonable Adjustment" Flag in the input into `needs` (for records other
    /// than a referral, which carry no risk flags).
    pub fn accessibility_flags(&mut self, needs: &mut Vec<String>) {
        for (i, res) in self.all_of("Flag") {
            // Only visit the Flags read here: the others stay whole, reported as one entry.
            if flag_category(res) == Some("RA") {
                let (res, _) = self.visit(i);
                self.flag(res, None, needs);
            }
        }
    }

    pub fn person(&mut self, patient: &'a Json, path: &str) -> Person {
        let mut person = Person::default();
        for (i, id) in self.list(patient, "identifier").iter().enumerate() {
            if id.get("system").and_then(Json::as_str) == Some(c::NHS_NUMBER) {
                person.nhs_number =
                    self.parsed::<NhsNumber>(id, "value", &format!("{path}.identifier[{i}]"));
                self.consume(id.get("system"));
                if let Some(n) = &person.nhs_number
                    && !n.checksum_ok()
                {
                    self.issues.push(
                        Issue::warning(
                            msg::TRANSLATE_NHS_NUMBER_CHECKSUM,
                            "the NHS number fails its Modulus 11 check digit",
                        )
                        .at(format!("{path}.identifier[{i}].value")),
                    );
                }
                break;
            }
        }
        self.consume_if_done(patient.get("identifier"));
        person.name = self.human_name(self.list(patient, "name"));
        self.consume_if_done(patient.get("name"));
        person.gender = self.code(patient, "gender", path, |g| match g {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            "other" => Some(Gender::Other),
            "unknown" => Some(Gender::Unknown),
            _ => None,
        });
        person.birth_date = self.date(patient, "birthDate", path);
        if let Some(a) = self.list(patient, "address").first() {
            self.consume(a.get("use"));
            self.consume(a.get("type"));
            let addr = Address {
                lines: self.strings(a, "line"),
                city: self.string(a, "city"),
                district: self.string(a, "district"),
                postcode: self.string(a, "postalCode"),
            };
            if !addr.lines.is_empty() || addr.postcode.is_some() {
                self.consume(a.get("text"));
            }
            person.address = Some(addr);
        }
        self.consume_if_done(patient.get("address"));
        for t in self.list(patient, "telecom") {
            if let Some(cp) = self.contact_point(t) {
                person.telecom.push(cp);
            }
        }
        self.consume_if_done(patient.get("telecom"));
        for comm in self.list(patient, "communication") {
            if (comm.get("preferred").and_then(Json::as_bool) == Some(true)
                || person.preferred_language.is_none())
                && let Some(coding) = comm
                    .get("language")
                    .and_then(|l| l.get("coding"))
                    .and_then(Json::as_array)
                    .and_then(|c| c.first())
                && let Some(code) = self.string(coding, "code")
            {
                self.consume(coding.get("system"));
                person.preferred_language = Some(Language {
                    code,
                    display: self.string(coding, "display"),
                });
                self.consume_if_done(comm.get("language").and_then(|l| l.get("coding")));
                self.consume_if_done(comm.get("language"));
                self.consume(comm.get("preferred"));
                self.consume_if_done(Some(comm));
            }
        }
        self.consume_if_done(patient.get("communication"));
        for e in self.list(patient, "extension") {
            if e.get("url").and_then(Json::as_str) == Some(c::EXT_INTERPRETER_REQUIRED)
                && let Some(b) = self.bool(e, "valueBoolean")
            {
                person.interpreter_required = Some(b);
                self.consume(Some(e));
            }
        }
        self.consume_if_done(patient.get("extension"));
        person
    }

    fn contact_point(&mut self, t: &'a Json) -> Option<ContactPoint> {
        let system = match t.get("system").and_then(Json::as_str)? {
            "phone" => ContactSystem::Phone,
            "email" => ContactSystem::Email,
            "sms" => ContactSystem::Sms,
            "other" => ContactSystem::Other,
            _ => return None,
        };
        let value = t.get("value").and_then(Json::as_str)?;
        let use_ = match t.get("use").and_then(Json::as_str) {
            Some("home") => Some(ContactUse::Home),
            Some("work") => Some(ContactUse::Work),
            Some("mobile") => Some(ContactUse::Mobile),
            Some("temp") => Some(ContactUse::Temp),
            _ => None,
        };
        self.consume(t.get("system"));
        self.consume(t.get("value"));
        if use_.is_some() {
            self.consume(t.get("use"));
        }
        self.consume_if_done(Some(t));
        Some(ContactPoint {
            system,
            value: value.into(),
            use_,
        })
    }

    /// The DoS service id on the referrer's Organization (itself, or a PractitionerRole's).
    pub fn referrer_dos_id(&mut self, res: &'a Json) -> Option<String> {
        let org = match resource_type(res) {
            "Organization" => Some(res),
            "PractitionerRole" => res
                .get("organization")
                .and_then(|r| self.resolve(r))
                .map(|i| self.root_entry(i)),
            _ => None,
        }?;
        self.identifier_value(org, c::DOS_SERVICE)
    }

    pub fn organisation(&mut self, org: &'a Json) -> Organisation {
        Organisation {
            ods_code: self.identifier_value(org, c::ODS_ORGANISATION),
            name: self.string(org, "name"),
        }
    }

    /// A Practitioner, PractitionerRole or Organization reference target as a domain
    /// practitioner (organisation-only references give a practitioner with only `organisation`).
    pub fn practitioner(&mut self, res: &'a Json, path: &str) -> Practitioner {
        let mut p = Practitioner::default();
        match resource_type(res) {
            "PractitionerRole" => {
                p.sds_role_profile_id = self.identifier_value(res, c::SDS_ROLE_PROFILE);
                if let Some(code) = self.list(res, "code").first() {
                    p.role = Some(self.concept(code));
                    self.consume_if_done(Some(code));
                    self.consume_if_done(res.get("code"));
                }
                if let Some((prac, ppath)) = self.follow(
                    res.get("practitioner"),
                    &format!("{path}.practitioner"),
                    "the practitioner",
                ) {
                    self.practitioner_details(prac, &mut p, &ppath);
                }
                if let Some((org, _)) = self.follow(
                    res.get("organization"),
                    &format!("{path}.organization"),
                    "the organisation",
                ) {
                    p.organisation = Some(self.organisation(org));
                }
            }
            "Practitioner" => self.practitioner_details(res, &mut p, path),
            "Organization" => p.organisation = Some(self.organisation(res)),
            _ => {}
        }
        p
    }

    fn practitioner_details(&mut self, prac: &'a Json, p: &mut Practitioner, _path: &str) {
        p.sds_user_id = self.identifier_value(prac, c::SDS_USER);
        p.name = self.human_name(self.list(prac, "name"));
        self.consume_if_done(prac.get("name"));
    }

    pub fn service(&mut self, hs: &'a Json, path: &str) -> Service {
        let mut s = Service {
            dos_id: self.identifier_value(hs, c::DOS_SERVICE),
            oruk_id: self.identifier_value(hs, c::ORUK_SERVICE),
            name: self.string(hs, "name"),
            organisation: None,
        };
        if let Some((org, _)) = self.follow(
            hs.get("providedBy"),
            &format!("{path}.providedBy"),
            "the service's provider",
        ) {
            s.organisation = Some(self.organisation(org));
        }
        s
    }

    // ---- reporting ----

    fn covered(&self, n: &Json) -> bool {
        if self.consumed.contains(&(n as *const Json)) {
            return true;
        }
        match &n.kind {
            Kind::Object(o) => {
                !o.members.is_empty() && o.members.iter().all(|m| self.covered(&m.value))
            }
            Kind::Array(a) => !a.is_empty() && a.iter().all(|v| self.covered(v)),
            _ => false,
        }
    }

    fn report(&self, n: &Json, path: &str, out: &mut Vec<Issue>) {
        if self.covered(n) {
            return;
        }
        let partly = match &n.kind {
            Kind::Object(o) => o.members.iter().any(|m| self.covered(&m.value)),
            Kind::Array(a) => a.iter().any(|v| self.covered(v)) || a.len() > 1,
            _ => false,
        };
        if !partly {
            out.push(
                Issue::warning(msg::TRANSLATE_NOT_MAPPED,
                    format!("{path} has no place in the social prescribing record and was not translated"),
                )
                .at(path)
                .at_node(n),
            );
            return;
        }
        match &n.kind {
            Kind::Object(o) => {
                for m in &o.members {
                    let key = m.key.strip_prefix('_').unwrap_or(&m.key);
                    self.report(&m.value, &format!("{path}.{key}"), out);
                }
            }
            Kind::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.report(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    /// All issues: those raised while reading, then what was not mapped in visited resources,
    /// then the entries never visited.
    pub fn finish(mut self) -> Vec<Issue> {
        let mut out = std::mem::take(&mut self.issues);
        let mut visited = self.visited.clone();
        visited.sort();
        for &i in &visited {
            let e = &self.entries[i];
            // Contained resources are reported under their own path.
            if let Some(obj) = e.resource.as_object() {
                for m in &obj.members {
                    if m.key == "contained" {
                        continue;
                    }
                    let key = m.key.strip_prefix('_').unwrap_or(&m.key);
                    self.report(&m.value, &format!("{}.{key}", e.path), &mut out);
                }
            }
        }
        for (i, e) in self.entries.iter().enumerate() {
            if !visited.contains(&i) {
                out.push(
                    Issue::warning(
                        msg::TRANSLATE_ENTRY_NOT_USED,
                        format!(
                            "{} ({}) is not part of the record and was not translated",
                            e.path,
                            resource_type(e.resource)
                        ),
                    )
                    .at(e.path.clone())
                    .at_node(e.resource),
                );
            }
        }
        if self.is_bundle()
            && let Some(obj) = self.root.as_object()
        {
            for m in &obj.members {
                if m.key != "entry" {
                    let key = m.key.strip_prefix('_').unwrap_or(&m.key);
                    self.report(&m.value, &format!("Bundle.{key}"), &mut out);
                }
            }
        }
        if self.is_bundle() {
            for (i, entry) in self
                .root
                .get("entry")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                if let Some(obj) = entry.as_object() {
                    for m in &obj.members {
                        if !matches!(m.key.as_str(), "resource" | "fullUrl" | "request") {
                            self.report(
                                &m.value,
                                &format!("Bundle.entry[{i}].{}", m.key),
                                &mut out,
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// The BaRS flag category code of a Flag resource.
fn flag_category(res: &Json) -> Option<&str> {
    res.get("category")?
        .as_array()?
        .iter()
        .filter_map(|cat| cat.get("coding")?.as_array())
        .flatten()
        .find(|cd| cd.get("system").and_then(Json::as_str) == Some(c::BARS_FLAG_CATEGORY))?
        .get("code")?
        .as_str()
}
