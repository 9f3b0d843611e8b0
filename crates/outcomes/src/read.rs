//! One QuestionnaireResponse to what aggregation needs: who, which episode, which
//! timepoint, which day, and each measure's score. Anything that cannot be used is a
//! [`Rejected`] reason, which the report counts; nothing about the person is kept beyond a
//! key to pair by.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use spfhir_domain::canonical::profile::EXT_TIMEPOINT;
use spfhir_domain::{Answer, Instrument, Timepoint, score_answers};
use spfhir_element::Json;
use spfhir_element::temporal::{civil_from_days, days_from_civil, days_in_month};

use crate::measure::Measure;

/// A usable response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Whom it is about: the subject's identifier value (e.g. the NHS number), else its
    /// reference.
    pub person: String,
    /// The referral it belongs to (`basedOn`: a reference, or `system|value`), if named.
    pub episode: Option<String>,
    /// As the response's timepoint extension says (else `Other`: decided by date order).
    pub timepoint: Timepoint,
    /// The day it was authored, as days since 1970-01-01.
    pub day: i64,
    pub scores: Vec<(Measure, f64)>,
}

/// Why a line was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejected {
    /// The line is not JSON.
    Malformed,
    /// A resource, but not a QuestionnaireResponse.
    NotAResponse,
    /// Its questionnaire is not one of the outcome instruments.
    UnknownInstrument,
    /// Its status is not completed or amended.
    NotCompleted,
    /// It names no subject.
    NoSubject,
    /// It has no (valid) authored date.
    NoDate,
    /// An item is missing, so the instrument cannot be scored.
    Incomplete,
    /// An answer is outside the instrument's range, or answered twice.
    InvalidAnswer,
}

impl Rejected {
    /// The reason's name in reports.
    pub fn id(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::NotAResponse => "notAQuestionnaireResponse",
            Rejected::UnknownInstrument => "unknownInstrument",
            Rejected::NotCompleted => "notCompleted",
            Rejected::NoSubject => "noSubject",
            Rejected::NoDate => "noDate",
            Rejected::Incomplete => "incomplete",
            Rejected::InvalidAnswer => "invalidAnswer",
        }
    }
}

/// A day number (since 1970-01-01) in 32 bits, clamped (days that far off are not dates
/// anyone answers on; they only must not wrap).
pub(crate) fn day32(day: i64) -> i32 {
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// A Reference as a key to match by: the reference itself, else its identifier as
/// `system|value` (as spfhir's own translation writes `basedOn`).
pub fn reference_key(r: &Json) -> Option<String> {
    r.get_str("reference").map(str::to_owned).or_else(|| {
        let id = r.get("identifier")?;
        Some(format!(
            "{}|{}",
            id.get_str("system").unwrap_or_default(),
            id.get_str("value")?
        ))
    })
}

/// Read one NDJSON line: parse it, then [`response`].
pub fn line(text: &str) -> Result<Response, Rejected> {
    let json = spfhir_element::parse(text).map_err(|_| Rejected::Malformed)?;
    response(&json)
}

/// Read one parsed resource.
pub fn response(qr: &Json) -> Result<Response, Rejected> {
    if qr.get_str("resourceType") != Some("QuestionnaireResponse") {
        return Err(Rejected::NotAResponse);
    }
    let instrument = qr
        .get_str("questionnaire")
        .and_then(Instrument::from_questionnaire)
        .ok_or(Rejected::UnknownInstrument)?;
    if !matches!(qr.get_str("status"), Some("completed" | "amended")) {
        return Err(Rejected::NotCompleted);
    }
    let subject = qr.get("subject").ok_or(Rejected::NoSubject)?;
    let person = subject
        .get("identifier")
        .and_then(|i| i.get_str("value"))
        .or_else(|| subject.get_str("reference"))
        .ok_or(Rejected::NoSubject)?
        .to_owned();
    let day = qr
        .get_str("authored")
        .and_then(day_of)
        .ok_or(Rejected::NoDate)?;
    let episode = qr
        .get("basedOn")
        .and_then(Json::as_array)
        .and_then(|b| b.first())
        .and_then(reference_key);
    let timepoint = qr
        .get("extension")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .find(|e| e.get_str("url") == Some(EXT_TIMEPOINT))
        .and_then(|e| e.get("valueCoding"))
        .and_then(|c| c.get_str("code"))
        .map_or(Timepoint::Other, |c| match c {
            "baseline" => Timepoint::Baseline,
            "follow-up" => Timepoint::FollowUp,
            _ => Timepoint::Other,
        });
    let mut answers = Vec::new();
    collect_answers(qr, instrument, &mut answers);
    let scored = score_answers(instrument, &answers).map_err(|_| Rejected::InvalidAnswer)?;
    let value = |link: &str| {
        answers
            .iter()
            .find(|a| a.link_id == link)
            .and_then(|a| a.value.to_f64())
    };
    let scores: Vec<(Measure, f64)> = match instrument {
        Instrument::Ons4 => Measure::ALL
            .into_iter()
            .filter_map(|m| Some((m, value(m.ons4_item()?)?)))
            .collect(),
        Instrument::Wemwbs => vec![(
            Measure::Wemwbs,
            scored.total.ok_or(Rejected::Incomplete)? as f64,
        )],
        Instrument::Swemwbs => vec![(
            Measure::Swemwbs,
            scored
                .metric
                .and_then(|m| m.to_f64())
                .ok_or(Rejected::Incomplete)?,
        )],
        Instrument::Ucla3 => vec![(
            Measure::Ucla3,
            scored.total.ok_or(Rejected::Incomplete)? as f64,
        )],
        Instrument::Pam => vec![(Measure::Pam, value("score").ok_or(Rejected::Incomplete)?)],
    };
    if scores.is_empty() {
        return Err(Rejected::Incomplete);
    }
    Ok(Response {
        person,
        episode,
        timepoint,
        day,
        scores,
    })
}

/// Every answered item of the instrument, at any depth (computed items such as `total`
/// are left out: scores are computed here, from the answers).
fn collect_answers(node: &Json, instrument: Instrument, out: &mut Vec<Answer>) {
    for item in node.get("item").and_then(Json::as_array).unwrap_or(&[]) {
        if let Some(link) = item.get_str("linkId")
            && instrument.item(link).is_some()
            && let Some(value) = item
                .get("answer")
                .and_then(Json::as_array)
                .and_then(|a| a.first())
                .and_then(answer_value)
        {
            out.push(Answer {
                link_id: link.to_owned(),
                value,
            });
        }
        collect_answers(item, instrument, out);
    }
}

/// An answer as a number: `valueInteger`, `valueDecimal`, or a coding whose code is one.
fn answer_value(a: &Json) -> Option<Decimal> {
    if let Some(n) = a.get("valueInteger").or_else(|| a.get("valueDecimal")) {
        return n.as_number_text().and_then(|t| t.parse().ok());
    }
    a.get("valueCoding")?.get_str("code")?.parse().ok()
}

/// Days since 1970-01-01 of a FHIR date or dateTime (its date part; a year or year-month
/// alone is not precise enough to order responses, so it is refused).
pub fn day_of(s: &str) -> Option<i64> {
    let d = s.get(..10)?;
    let b = d.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = d[..4].parse().ok()?;
    let m: i64 = d[5..7].parse().ok()?;
    let day: i64 = d[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || day < 1 || day > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, day))
}

/// The calendar quarter (`2026Q3`) of a day number.
pub fn quarter(day: i64) -> String {
    let (y, m, _) = civil_from_days(day);
    format!("{y}Q{}", (m - 1) / 3 + 1)
}

/// The FHIR date (`2026-03-01`) of a day number.
pub fn date_of(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_quarters() {
        assert_eq!(day_of("1970-01-01"), Some(0));
        assert_eq!(day_of("2026-03-01T10:00:00Z"), Some(20_513));
        assert_eq!(day_of("2024-02-29"), Some(19_782));
        assert_eq!(day_of("2023-02-29"), None);
        assert_eq!(day_of("2026-03"), None);
        assert_eq!(quarter(day_of("2026-09-30").unwrap()), "2026Q3");
        assert_eq!(quarter(day_of("2026-10-01").unwrap()), "2026Q4");
        assert_eq!(quarter(0), "1970Q1");
        for d in ["1970-01-01", "2024-02-29", "2026-12-31", "2000-03-01"] {
            assert_eq!(date_of(day_of(d).unwrap()), d);
        }
    }
}
