//! Synthetic Bulk Data for demos, tests and benchmarks: patients (with NHS numbers whose
//! check digit is right, in the 999 range NHS England reserves for test data), referrals
//! from several practices in several PCNs, and outcome QuestionnaireResponses at baseline
//! and follow-up, some unpaired, some with an item missing. Deterministic for a seed: the
//! generator is SplitMix64, written out here so the output never changes with a crate's
//! version.
//!
//! Pure: it yields lines; the caller writes them.

use serde_json::{Value, json};

use spfhir_domain::Instrument;
use spfhir_domain::canonical::profile::EXT_TIMEPOINT;

/// Which Bulk Data file a line belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    Patient,
    ServiceRequest,
    QuestionnaireResponse,
}

impl File {
    pub const ALL: [File; 3] = [
        File::Patient,
        File::ServiceRequest,
        File::QuestionnaireResponse,
    ];

    /// The file's name in an export folder.
    pub fn name(self) -> &'static str {
        match self {
            File::Patient => "Patient.ndjson",
            File::ServiceRequest => "ServiceRequest.ndjson",
            File::QuestionnaireResponse => "QuestionnaireResponse.ndjson",
        }
    }
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Practices (ODS codes) and their PCNs.
pub const PRACTICES: [(&str, &str); 6] = [
    ("A81001", "U12345"),
    ("A81002", "U12345"),
    ("A81003", "U23456"),
    ("A81004", "U23456"),
    ("A81005", "U34567"),
    ("A81006", "U34567"),
];

/// The organisation lookup for [`PRACTICES`], in the shape `spfhir outcomes --orgs` reads
/// (NHS ODS's practice-to-PCN columns; the PCNs in two sub-ICB locations of one ICB).
pub fn orgs_csv() -> String {
    let mut out = String::from("practice_code,pcn_code,sub_icb_code,icb_code\n");
    for (practice, pcn) in PRACTICES {
        let sub_icb = if pcn == "U34567" { "15N" } else { "00K" };
        out.push_str(&format!("{practice},{pcn},{sub_icb},QHM\n"));
    }
    out
}

/// Ethnic categories (NHS Data Dictionary codes) and referral reasons (as text: the
/// non-medical needs social prescribing meets) drawn.
const ETHNICITIES: [&str; 8] = ["A", "A", "A", "B", "C", "H", "J", "M"];
const REASONS: [&str; 4] = ["Loneliness", "Debt", "Housing", "Low mood"];

/// A valid test NHS number (999 prefix) for person `n`.
pub fn nhs_number(n: u64) -> String {
    let mut k = n;
    loop {
        let body = format!("999{:06}", k % 1_000_000);
        let sum: u32 = body
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (10 - i as u32))
            .sum();
        match 11 - sum % 11 {
            10 => k += 1_000_003, // no valid check digit: try another body
            11 => return format!("{body}0"),
            c => return format!("{body}{c}"),
        }
    }
}

/// Every line for `people` people, in file order within each person; `emit` gets each.
pub fn generate(people: u64, seed: u64, mut emit: impl FnMut(File, String)) {
    let mut rng = Rng(seed);
    let instruments = [
        Instrument::Wemwbs,
        Instrument::Swemwbs,
        Instrument::Ons4,
        Instrument::Ucla3,
    ];
    for n in 0..people {
        let nhs = nhs_number(n);
        let (practice, _pcn) = PRACTICES[(rng.next() % PRACTICES.len() as u64) as usize];
        let pid = format!("pat-{n}");
        let born = rng.range(1940, 2005);
        let sex = if rng.chance(55) { "female" } else { "male" };
        let ethnicity = ETHNICITIES[(rng.next() % ETHNICITIES.len() as u64) as usize];
        let imd = rng.range(1, 10);
        emit(
            File::Patient,
            json!({"resourceType": "Patient", "id": pid,
                "extension": [
                    {"url": crate::context::EXT_ETHNIC_CATEGORY, "valueCodeableConcept": {"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory", "code": ethnicity}]}},
                    {"url": crate::context::EXT_IMD_DECILE, "valueInteger": imd}],
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
                "gender": sex, "birthDate": format!("{born}-{:02}-{:02}", rng.range(1, 12), rng.range(1, 28)),
                "generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": practice}}]})
            .to_string(),
        );
        let month = rng.range(1, 12);
        let day = rng.range(1, 28);
        let referred = format!("2025-{month:02}-{day:02}");
        let srid = format!("ref-{n}");
        let reason = REASONS[(rng.next() % REASONS.len() as u64) as usize];
        emit(
            File::ServiceRequest,
            json!({"resourceType": "ServiceRequest", "id": srid, "status": "active", "intent": "order",
                "reasonCode": [{"text": reason}],
                "subject": {"reference": format!("Patient/{pid}")}, "authoredOn": referred,
                "requester": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": practice}}})
            .to_string(),
        );
        let instrument = instruments[(rng.next() % instruments.len() as u64) as usize];
        // 85% have a baseline; of those, 70% a follow-up three to six months later.
        if !rng.chance(85) {
            continue;
        }
        let improvement = rng.range(-2, 6);
        let base_day = format!("2025-{month:02}-{:02}", (day + 3).min(28));
        let follow_month = month + rng.range(3, 6);
        let (fy, fm) = (2025 + (follow_month - 1) / 12, (follow_month - 1) % 12 + 1);
        let follow_day = format!("{fy}-{fm:02}-{day:02}");
        let follows = rng.chance(70);
        for (timepoint, date, shift) in [
            ("baseline", base_day, 0),
            ("follow-up", follow_day, improvement),
        ] {
            if timepoint == "follow-up" && !follows {
                break;
            }
            let items = answers(&mut rng, instrument, shift);
            emit(
                File::QuestionnaireResponse,
                json!({"resourceType": "QuestionnaireResponse",
                    "questionnaire": instrument.questionnaire_url(), "status": "completed", "authored": date,
                    "subject": {"reference": format!("Patient/{pid}")},
                    "basedOn": [{"reference": format!("ServiceRequest/{srid}")}],
                    "extension": [{"url": EXT_TIMEPOINT, "valueCoding": {"code": timepoint}}],
                    "item": items})
                .to_string(),
            );
        }
    }
}

/// Answers for `instrument`, shifted by `shift` scale points (kept in range); 3% leave an
/// item out.
fn answers(rng: &mut Rng, instrument: Instrument, shift: i64) -> Vec<Value> {
    let mut items = Vec::new();
    for spec in instrument.items() {
        if rng.chance(3) {
            continue;
        }
        let mid = (spec.min + spec.max) / 2;
        // Loneliness falls when things improve.
        let shift = if instrument == Instrument::Ucla3 {
            -shift.signum()
        } else {
            shift.signum()
        };
        let v = (rng.range(spec.min, spec.max).min(mid + 1) + shift).clamp(spec.min, spec.max);
        let answer = match spec.kind {
            spfhir_domain::instrument::ItemKind::Choice(_) => {
                json!({"valueCoding": {"code": v.to_string()}})
            }
            spfhir_domain::instrument::ItemKind::Integer => json!({"valueInteger": v}),
            spfhir_domain::instrument::ItemKind::Decimal => json!({"valueDecimal": v}),
        };
        items.push(json!({"linkId": spec.link_id, "answer": [answer]}));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers_pass_the_check_digit() {
        for n in 0..2_000 {
            let s = nhs_number(n);
            let nhs = spfhir_domain::NhsNumber::try_from(s.as_str()).unwrap();
            assert!(nhs.checksum_ok(), "{s}");
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let run = |seed| {
            let mut out = Vec::new();
            generate(50, seed, |f, l| out.push((f, l)));
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let lines = run(7);
        assert!(lines.iter().any(|(f, _)| *f == File::QuestionnaireResponse));
    }
}
