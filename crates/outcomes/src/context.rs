//! What responses do not say about themselves, for strata and referral counts: the person
//! (`Patient.ndjson`: sex, birth date, ethnic category, IMD decile, registered practice),
//! the referral (`ServiceRequest.ndjson`: reason, referring practice, date) and the
//! organisation tree (an ODS-shaped CSV: practice → PCN → sub-ICB → ICB).
//!
//! Every value is optional: a stratum the input does not carry is `unknown`, never an
//! error. Only what a stratum needs is kept (a birth date, not a name).

use std::collections::HashMap;

use spfhir_element::Json;

use crate::read;

/// UK Core's ethnic category extension on Patient.
pub const EXT_ETHNIC_CATEGORY: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory";
/// spfhir's extension for the IMD decile (1–10) of the person's address, on Patient.
pub const EXT_IMD_DECILE: &str = "https://spfhir.org/fhir/StructureDefinition/imd-decile";
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";

/// A dimension the tables can be stratified by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Icb,
    SubIcb,
    Pcn,
    Practice,
    Quarter,
    Month,
    AgeBand,
    Sex,
    Ethnicity,
    ImdDecile,
    Reason,
}

impl Dimension {
    pub const ALL: [Dimension; 11] = [
        Dimension::Icb,
        Dimension::SubIcb,
        Dimension::Pcn,
        Dimension::Practice,
        Dimension::Quarter,
        Dimension::Month,
        Dimension::AgeBand,
        Dimension::Sex,
        Dimension::Ethnicity,
        Dimension::ImdDecile,
        Dimension::Reason,
    ];

    /// Its name in the tables (`"by": {"pcn": …}`) and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Dimension::Icb => "icb",
            Dimension::SubIcb => "subIcb",
            Dimension::Pcn => "pcn",
            Dimension::Practice => "practice",
            Dimension::Quarter => "quarter",
            Dimension::Month => "month",
            Dimension::AgeBand => "ageBand",
            Dimension::Sex => "sex",
            Dimension::Ethnicity => "ethnicity",
            Dimension::ImdDecile => "imdDecile",
            Dimension::Reason => "reason",
        }
    }

    /// The dimension named `s` (its id, case and `-`/`_` ignored: `sub-icb`, `imd`).
    pub fn parse(s: &str) -> Option<Dimension> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        if norm == "imd" {
            return Some(Dimension::ImdDecile);
        }
        if norm == "age" {
            return Some(Dimension::AgeBand);
        }
        Dimension::ALL
            .into_iter()
            .find(|d| d.id().to_lowercase() == norm)
    }

    /// Whether the organisation lookup is needed for it.
    pub fn needs_orgs(self) -> bool {
        matches!(self, Dimension::Icb | Dimension::SubIcb | Dimension::Pcn)
    }
}

/// A person, as far as strata need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Person {
    pub sex: Option<String>,
    pub birth_day: Option<i64>,
    pub ethnicity: Option<String>,
    pub imd_decile: Option<u8>,
    pub practice: Option<String>,
    /// The NHS number, for the pseudonymised pair table (never printed).
    pub nhs_number: Option<String>,
}

/// A CarePlan, as far as episodes need: whose it is, when it runs, and the referral it
/// follows, if it names one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CarePlan {
    /// `CarePlan/id`.
    pub key: String,
    /// Its subject, as a person key (`Patient/id` or an identifier value).
    pub person: String,
    /// The first and last day of `period` (either may be open).
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Its referral (`supportingInfo`, else `basedOn`): a key (`ServiceRequest/id` or `system|value`).
    pub referral: Option<String>,
}

/// A referral, as far as strata and counts need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Referral {
    pub reason: Option<String>,
    pub practice: Option<String>,
    /// Its subject, as a person key (`Patient/id` or an identifier value).
    pub person: Option<String>,
    pub day: Option<i64>,
}

/// Where a practice sits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Org {
    pub pcn: String,
    pub sub_icb: String,
    pub icb: String,
}

/// The lookups, filled from the files the front end reads.
#[derive(Debug, Default)]
pub struct Context {
    people: Vec<Person>,
    /// Person key (`Patient/id`, and the NHS number) → index into `people`.
    person_keys: HashMap<String, u32>,
    referrals: Vec<Referral>,
    /// Referral key (`ServiceRequest/id`, and `system|value` of each identifier) → index.
    referral_keys: HashMap<String, u32>,
    orgs: HashMap<String, Org>,
    /// Person key → that person's CarePlans.
    care_plans: HashMap<String, Vec<CarePlan>>,
}

/// Why a line of a lookup file was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Not JSON, or not the resource type the file holds.
    NotA(&'static str),
    /// A CSV line without the columns needed.
    Columns(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotA(t) => write!(f, "not a {t} resource"),
            LookupError::Columns(why) => f.write_str(why),
        }
    }
}

fn first_coding_code(concept: Option<&Json>) -> Option<String> {
    let c = concept?;
    c.get("coding")
        .and_then(Json::as_array)
        .and_then(|a| a.iter().find_map(|c| c.get_str("code")))
        .or_else(|| c.get_str("text"))
        .map(str::to_owned)
}

fn extension<'a>(r: &'a Json, url: &str) -> Option<&'a Json> {
    r.get("extension")
        .and_then(Json::as_array)?
        .iter()
        .find(|e| e.get_str("url") == Some(url))
}

/// A Reference to a person as a person key: its identifier's value (the NHS number), else
/// the reference itself, as [`read::response`] keys a response's subject.
fn person_key(r: &Json) -> Option<String> {
    r.get("identifier")
        .and_then(|i| i.get_str("value"))
        .or_else(|| r.get_str("reference"))
        .map(str::to_owned)
}

/// An ODS code from a Reference (its identifier), if it names one.
fn ods_of(reference: Option<&Json>) -> Option<String> {
    let id = reference?.get("identifier")?;
    (id.get_str("system") == Some(ODS))
        .then(|| id.get_str("value").map(str::to_owned))
        .flatten()
}

/// One line of a lookup file, read: what [`Context::add`] stores, with the keys it is
/// found by. Reading is pure, so front ends read lines on several threads.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// A person, with `Patient/id` and the NHS number as keys.
    Patient(Person, Vec<String>),
    /// A referral, with `ServiceRequest/id` and `system|value` of each identifier.
    Referral(Referral, Vec<String>),
    CarePlan(CarePlan),
}

impl Lookup {
    /// A `Patient.ndjson` line.
    pub fn patient(line: &str) -> Result<Lookup, LookupError> {
        let p = spfhir_element::parse(line).map_err(|_| LookupError::NotA("Patient"))?;
        if p.get_str("resourceType") != Some("Patient") {
            return Err(LookupError::NotA("Patient"));
        }
        let identifiers = p.get("identifier").and_then(Json::as_array).unwrap_or(&[]);
        let nhs_numbers = identifiers
            .iter()
            .filter(|i| i.get_str("system") == Some(NHS_NUMBER))
            .filter_map(|i| i.get_str("value"));
        let person = Person {
            sex: p.get_str("gender").map(str::to_owned),
            birth_day: p.get_str("birthDate").and_then(read::day_of),
            ethnicity: extension(&p, EXT_ETHNIC_CATEGORY)
                .and_then(|e| first_coding_code(e.get("valueCodeableConcept"))),
            imd_decile: extension(&p, EXT_IMD_DECILE)
                .and_then(|e| e.get("valueInteger"))
                .and_then(Json::as_i64)
                .and_then(|n| u8::try_from(n).ok())
                .filter(|n| (1..=10).contains(n)),
            practice: p
                .get("generalPractitioner")
                .and_then(Json::as_array)
                .and_then(|a| a.iter().find_map(|r| ods_of(Some(r)))),
            nhs_number: nhs_numbers.clone().next().map(str::to_owned),
        };
        let keys = p
            .get_str("id")
            .map(|id| format!("Patient/{id}"))
            .into_iter()
            .chain(nhs_numbers.map(str::to_owned))
            .collect();
        Ok(Lookup::Patient(person, keys))
    }

    /// A `ServiceRequest.ndjson` line.
    pub fn service_request(line: &str) -> Result<Lookup, LookupError> {
        let s = spfhir_element::parse(line).map_err(|_| LookupError::NotA("ServiceRequest"))?;
        if s.get_str("resourceType") != Some("ServiceRequest") {
            return Err(LookupError::NotA("ServiceRequest"));
        }
        let referral = Referral {
            reason: s
                .get("reasonCode")
                .and_then(Json::as_array)
                .and_then(|a| a.iter().find_map(|c| first_coding_code(Some(c)))),
            practice: ods_of(s.get("requester")),
            person: s.get("subject").and_then(person_key),
            day: s.get_str("authoredOn").and_then(read::day_of),
        };
        let identifiers = s.get("identifier").and_then(Json::as_array).unwrap_or(&[]);
        let keys = s
            .get_str("id")
            .map(|id| format!("ServiceRequest/{id}"))
            .into_iter()
            .chain(identifiers.iter().filter_map(|id| {
                let v = id.get_str("value")?;
                Some(format!("{}|{v}", id.get_str("system").unwrap_or_default()))
            }))
            .collect();
        Ok(Lookup::Referral(referral, keys))
    }

    /// A `CarePlan.ndjson` line (it must have an id and a subject).
    pub fn care_plan(line: &str) -> Result<Lookup, LookupError> {
        let c = spfhir_element::parse(line).map_err(|_| LookupError::NotA("CarePlan"))?;
        if c.get_str("resourceType") != Some("CarePlan") {
            return Err(LookupError::NotA("CarePlan"));
        }
        let (Some(id), Some(person)) = (c.get_str("id"), c.get("subject").and_then(person_key))
        else {
            return Err(LookupError::NotA("CarePlan"));
        };
        let period = c.get("period");
        let day = |k: &str| period.and_then(|p| p.get_str(k)).and_then(read::day_of);
        Ok(Lookup::CarePlan(CarePlan {
            key: format!("CarePlan/{id}"),
            person,
            start: day("start"),
            end: day("end"),
            // spfhir writes the referral in supportingInfo (R4's CarePlan.basedOn may only
            // name a CarePlan); older data has it in basedOn.
            referral: ["supportingInfo", "basedOn"].iter().find_map(|m| {
                c.get(m)
                    .and_then(Json::as_array)?
                    .iter()
                    .filter(|b| {
                        b.get_str("type").is_none_or(|t| t == "ServiceRequest")
                            && b.get_str("reference").is_none_or(|r| {
                                r.contains("ServiceRequest/") || r.starts_with("urn:")
                            })
                    })
                    .find_map(read::reference_key)
            }),
        }))
    }
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Whether any Patient, ServiceRequest or organisation was added.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
            && self.referrals.is_empty()
            && self.orgs.is_empty()
            && self.care_plans.is_empty()
    }

    /// How many referrals were added.
    pub fn referral_count(&self) -> usize {
        self.referrals.len()
    }

    /// How many practices the organisation lookup holds.
    pub fn org_count(&self) -> usize {
        self.orgs.len()
    }

    /// One line of `Patient.ndjson`.
    pub fn add_patient(&mut self, line: &str) -> Result<(), LookupError> {
        self.add(Lookup::patient(line)?);
        Ok(())
    }

    /// One line of `ServiceRequest.ndjson`.
    pub fn add_service_request(&mut self, line: &str) -> Result<(), LookupError> {
        self.add(Lookup::service_request(line)?);
        Ok(())
    }

    /// One line of `CarePlan.ndjson`: the episode of a response that names no referral is
    /// the CarePlan of its person whose period holds the response's date.
    pub fn add_care_plan(&mut self, line: &str) -> Result<(), LookupError> {
        self.add(Lookup::care_plan(line)?);
        Ok(())
    }

    /// A line read by [`Lookup`]'s readers (front ends read lines on several threads, then
    /// add them in input order).
    pub fn add(&mut self, lookup: Lookup) {
        match lookup {
            Lookup::Patient(person, keys) => {
                let n = self.people.len() as u32;
                self.people.push(person);
                for k in keys {
                    self.person_keys.insert(k, n);
                }
            }
            Lookup::Referral(referral, keys) => {
                let n = self.referrals.len() as u32;
                self.referrals.push(referral);
                for k in keys {
                    self.referral_keys.insert(k, n);
                }
            }
            Lookup::CarePlan(plan) => {
                let key = self.canonical_person(&plan.person);
                self.care_plans.entry(key).or_default().push(plan);
            }
        }
    }

    /// The episode of a response by `person` on `day` that names no referral: the referral
    /// of the CarePlan whose period holds the day (the latest-starting one, when several
    /// do), else that CarePlan itself. `None` when no CarePlan holds it.
    pub fn care_plan_episode(&self, person: &str, day: i64) -> Option<String> {
        let plans = self.care_plans.get(&self.canonical_person(person))?;
        let plan = plans
            .iter()
            .filter(|p| p.start.is_none_or(|s| s <= day) && p.end.is_none_or(|e| day <= e))
            .max_by_key(|p| (p.start, p.key.as_str()))?;
        Some(plan.referral.clone().unwrap_or_else(|| plan.key.clone()))
    }

    /// One key per person: `Patient/id` and the NHS number of one Patient both give its
    /// index (`#3`); a person `Patient.ndjson` does not hold keeps the key given.
    fn canonical_person(&self, key: &str) -> String {
        match self.person_keys.get(key) {
            Some(i) => format!("#{i}"),
            None => key.to_owned(),
        }
    }

    /// An organisation lookup CSV, the shape of NHS ODS's practice-to-PCN files: a header
    /// naming the columns, then a row per practice. Columns are found by name (case and
    /// spacing ignored): `practice_code` (or `Partner Organisation Code`), `pcn_code`,
    /// `sub_icb_code` and `icb_code`. Rows already added stay; returns how many were read.
    pub fn add_orgs_csv(&mut self, text: &str) -> Result<usize, LookupError> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| LookupError::Columns("the file is empty".into()))?;
        let norm = |s: &str| -> String {
            s.trim()
                .trim_matches('"')
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .flat_map(|c| c.to_lowercase())
                .collect()
        };
        let names: Vec<String> = split_csv(header).iter().map(|s| norm(s)).collect();
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
        let practice = find(&["practicecode", "partnerorganisationcode", "practice"]);
        let pcn = find(&["pcncode", "pcn"]);
        let sub_icb = find(&["subicbcode", "subicblocationcode", "subicb"]);
        let icb = find(&["icbcode", "icb"]);
        let (Some(practice), Some(pcn)) = (practice, pcn) else {
            return Err(LookupError::Columns(
                "the header must name at least practice_code and pcn_code (and may name sub_icb_code, icb_code)".into(),
            ));
        };
        let mut n = 0;
        for (i, line) in lines.enumerate() {
            let cols = split_csv(line);
            let get = |c: Option<usize>| {
                c.and_then(|c| cols.get(c))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            let code = get(Some(practice));
            if code.is_empty() {
                return Err(LookupError::Columns(format!(
                    "row {} has no practice code",
                    i + 2
                )));
            }
            self.orgs.insert(
                code,
                Org {
                    pcn: get(Some(pcn)),
                    sub_icb: get(sub_icb),
                    icb: get(icb),
                },
            );
            n += 1;
        }
        Ok(n)
    }

    /// The referral an episode key names, if it was added.
    pub fn referral(&self, key: &str) -> Option<&Referral> {
        self.referral_keys
            .get(key)
            .map(|&i| &self.referrals[i as usize])
    }

    /// Every referral, with the keys it is known by (for episodes no response named).
    pub(crate) fn referrals(&self) -> impl Iterator<Item = (u32, &Referral)> {
        self.referrals
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u32, r))
    }

    /// The referral index an episode key names.
    pub(crate) fn referral_index(&self, key: &str) -> Option<u32> {
        self.referral_keys.get(key).copied()
    }

    /// The person a person key names, if they were added.
    pub fn person(&self, key: &str) -> Option<&Person> {
        self.person_keys.get(key).map(|&i| &self.people[i as usize])
    }

    /// The value of `d` for an episode: its person, its referral (if known) and the day its
    /// stratum is dated by. `unknown` when the input does not say.
    pub fn value(
        &self,
        d: Dimension,
        person: Option<&Person>,
        referral: Option<&Referral>,
        day: Option<i64>,
    ) -> String {
        let practice = referral
            .and_then(|r| r.practice.as_deref())
            .or_else(|| person.and_then(|p| p.practice.as_deref()));
        let org = practice.and_then(|p| self.orgs.get(p));
        let known = |v: Option<&str>| -> String {
            v.filter(|s| !s.is_empty()).unwrap_or("unknown").to_owned()
        };
        match d {
            Dimension::Practice => known(practice),
            Dimension::Pcn => known(org.map(|o| o.pcn.as_str())),
            Dimension::SubIcb => known(org.map(|o| o.sub_icb.as_str())),
            Dimension::Icb => known(org.map(|o| o.icb.as_str())),
            Dimension::Quarter => day.map_or_else(|| "unknown".into(), read::quarter),
            Dimension::Month => day.map_or_else(
                || "unknown".into(),
                |d| read::date_of(d).get(..7).unwrap_or_default().to_owned(),
            ),
            Dimension::AgeBand => match (person.and_then(|p| p.birth_day), day) {
                (Some(born), Some(at)) => age_band(born, at).to_owned(),
                _ => "unknown".into(),
            },
            Dimension::Sex => known(person.and_then(|p| p.sex.as_deref())),
            Dimension::Ethnicity => known(person.and_then(|p| p.ethnicity.as_deref())),
            Dimension::ImdDecile => person
                .and_then(|p| p.imd_decile)
                .map_or_else(|| "unknown".into(), |n| n.to_string()),
            Dimension::Reason => known(referral.and_then(|r| r.reason.as_deref())),
        }
    }
}

/// Age bands as NHS England publishes social prescribing activity by.
pub fn age_band(born: i64, at: i64) -> &'static str {
    let (by, bm, bd) = spfhir_element::temporal::civil_from_days(born);
    let (ay, am, ad) = spfhir_element::temporal::civil_from_days(at);
    let mut age = ay - by;
    if (am, ad) < (bm, bd) {
        age -= 1;
    }
    match age {
        i64::MIN..=-1 => "unknown",
        0..=17 => "0-17",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        65..=74 => "65-74",
        75..=84 => "75-84",
        _ => "85+",
    }
}

/// One CSV line's fields (RFC 4180 quoting: `"a,b"` and `""` inside quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_turn_on_the_birthday() {
        let d = |s: &str| read::day_of(s).unwrap();
        assert_eq!(age_band(d("1950-06-15"), d("2025-06-14")), "65-74");
        assert_eq!(age_band(d("1950-06-15"), d("2025-06-15")), "75-84");
        assert_eq!(age_band(d("2010-01-01"), d("2025-01-01")), "0-17");
        assert_eq!(age_band(d("2030-01-01"), d("2025-01-01")), "unknown");
    }

    #[test]
    fn csv_quoting_and_ods_headers() {
        assert_eq!(split_csv(r#"a,"b,c","d""e""#), ["a", "b,c", "d\"e"]);
        let mut c = Context::new();
        let n = c
            .add_orgs_csv("Partner Organisation Code,PCN Code,Sub ICB Code,ICB Code\r\nA81001,U12345,00K,QHM\r\n")
            .unwrap();
        assert_eq!(n, 1);
        let org = &c.orgs["A81001"];
        assert_eq!(
            (org.pcn.as_str(), org.sub_icb.as_str(), org.icb.as_str()),
            ("U12345", "00K", "QHM")
        );
        assert!(c.add_orgs_csv("code,name\nA,B\n").is_err());
    }

    #[test]
    fn dimensions_parse_by_their_ids() {
        for d in Dimension::ALL {
            assert_eq!(Dimension::parse(d.id()), Some(d));
        }
        assert_eq!(Dimension::parse("sub-icb"), Some(Dimension::SubIcb));
        assert_eq!(Dimension::parse("imd"), Some(Dimension::ImdDecile));
        assert_eq!(Dimension::parse("postcode"), None);
    }
}
