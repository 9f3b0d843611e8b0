//! An outcome questionnaire response: one instrument, at one timepoint, with its scores.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::instrument::{Instrument, ItemKind, swemwbs_metric};
use super::{FhirDateTime, Identifier, Person};

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeResponse {
    pub identifier: Identifier,
    pub instrument: Instrument,
    pub timepoint: Timepoint,
    pub status: OutcomeStatus,
    /// When the answers were given.
    pub date: FhirDateTime,
    pub person: Person,
    /// The referral this measurement belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Identifier>,
    /// Item answers by linkId, in the Questionnaire's order.
    pub answers: Vec<Answer>,
    /// Computed from `answers` by [`OutcomeResponse::score`]; on input it may be left out,
    /// and if given it must agree with the answers.
    #[serde(default, skip_serializing_if = "Scores::is_empty")]
    pub scores: Scores,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Timepoint {
    Baseline,
    FollowUp,
    Other,
}

impl Timepoint {
    pub fn code(self) -> &'static str {
        match self {
            Timepoint::Baseline => "baseline",
            Timepoint::FollowUp => "follow-up",
            Timepoint::Other => "other",
        }
    }
}

/// FHIR `questionnaire-answers-status`.
#[derive(Hash, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    InProgress,
    Completed,
    Amended,
    EnteredInError,
    Stopped,
}

#[derive(Hash, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Answer {
    pub link_id: String,
    /// The answer as a number: the scale point for Likert items, the score for PAM.
    #[serde(with = "decimal_number")]
    #[schemars(with = "f64")]
    pub value: Decimal,
}

impl Answer {
    pub fn new(link_id: &str, value: i64) -> Answer {
        Answer {
            link_id: link_id.into(),
            value: Decimal::from(value),
        }
    }
}

#[derive(Hash, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scores {
    /// Sum of item answers (WEMWBS 14–70, SWEMWBS raw 7–35, UCLA-3 3–9); absent when an
    /// item is unanswered or the instrument has no total (ONS4, PAM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// SWEMWBS metric score from the raw total via the conversion table.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "decimal_number_opt"
    )]
    #[schemars(with = "Option<f64>")]
    pub metric: Option<Decimal>,
}

impl Scores {
    pub fn is_empty(&self) -> bool {
        self.total.is_none() && self.metric.is_none()
    }
}

/// Why answers could not be scored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("answers[{index}]: linkId '{link_id}' is not an item of {instrument}")]
    UnknownItem {
        index: usize,
        link_id: String,
        instrument: &'static str,
    },
    #[error("answers[{index}]: item '{link_id}' is answered more than once")]
    Duplicate { index: usize, link_id: String },
    #[error("answers[{index}]: item '{link_id}' must be {what} from {min} to {max}")]
    OutOfRange {
        index: usize,
        link_id: String,
        what: &'static str,
        min: i64,
        max: i64,
    },
    #[error("scores.{field} is {given} but the answers give {computed}")]
    Disagrees {
        field: &'static str,
        given: String,
        computed: String,
    },
}

impl OutcomeResponse {
    /// Check every answer against the instrument and compute the scores.
    pub fn score(&self) -> Result<Scores, ScoreError> {
        score_answers(self.instrument, &self.answers)
    }
}

/// Check `answers` against `instrument` and compute its scores: what
/// [`OutcomeResponse::score`] does, for callers that have only the answers (outcome
/// aggregation reads them straight from QuestionnaireResponses).
pub fn score_answers(instrument: Instrument, answers: &[Answer]) -> Result<Scores, ScoreError> {
    let mut seen = Vec::with_capacity(answers.len());
    let mut sum = 0i64;
    for (index, a) in answers.iter().enumerate() {
        let spec = instrument
            .item(&a.link_id)
            .ok_or_else(|| ScoreError::UnknownItem {
                index,
                link_id: a.link_id.clone(),
                instrument: instrument.title(),
            })?;
        if seen.contains(&spec.link_id) {
            return Err(ScoreError::Duplicate {
                index,
                link_id: a.link_id.clone(),
            });
        }
        seen.push(spec.link_id);
        let integral = !matches!(spec.kind, ItemKind::Decimal);
        let in_range = a.value >= Decimal::from(spec.min) && a.value <= Decimal::from(spec.max);
        if !in_range || (integral && !a.value.fract().is_zero()) {
            return Err(ScoreError::OutOfRange {
                index,
                link_id: a.link_id.clone(),
                what: if integral {
                    "a whole number"
                } else {
                    "a number"
                },
                min: spec.min,
                max: spec.max,
            });
        }
        if integral {
            sum += a.value.to_i64().unwrap_or(0);
        }
    }
    let complete = seen.len() == instrument.items().len();
    let total = (instrument.has_total() && complete).then_some(sum);
    let metric = match instrument {
        Instrument::Swemwbs => total.and_then(swemwbs_metric),
        _ => None,
    };
    Ok(Scores { total, metric })
}

impl OutcomeResponse {
    /// Items of the instrument that have no answer.
    pub fn missing_items(&self) -> Vec<&'static str> {
        self.instrument
            .items()
            .iter()
            .filter(|s| !self.answers.iter().any(|a| a.link_id == s.link_id))
            .map(|s| s.link_id)
            .collect()
    }

    /// Score, check any scores supplied on input agree, and store the computed ones.
    pub fn normalise(&mut self) -> Result<(), ScoreError> {
        self.scores = self.checked_scores()?;
        Ok(())
    }

    /// The computed scores, after checking that any supplied on input agree.
    pub fn checked_scores(&self) -> Result<Scores, ScoreError> {
        let computed = self.score()?;
        if let Some(given) = self.scores.total
            && computed.total != Some(given)
        {
            return Err(ScoreError::Disagrees {
                field: "total",
                given: given.to_string(),
                computed: computed.total.map_or("no total".into(), |t| t.to_string()),
            });
        }
        if let Some(given) = self.scores.metric
            && computed.metric != Some(given)
        {
            return Err(ScoreError::Disagrees {
                field: "metric",
                given: given.to_string(),
                computed: computed
                    .metric
                    .map_or("no metric".into(), |t| t.to_string()),
            });
        }
        Ok(computed)
    }
}

/// Serde for exact decimals written as JSON numbers. Values go through f64 on the way, which
/// is exact for the ≤ 15 significant digits scores and answers have; more is rejected.
mod decimal_number {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        match d.to_i64() {
            Some(i) if d.fract().is_zero() => s.serialize_i64(i),
            _ => s.serialize_f64(d.to_f64().unwrap_or(f64::NAN)),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        I(i64),
        F(f64),
        S(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = match Num::deserialize(d)? {
            Num::I(i) => return Ok(Decimal::from(i)),
            Num::F(f) if f.is_finite() => format!("{f}"),
            Num::F(_) => return Err(de::Error::custom("not a finite number")),
            Num::S(s) => s,
        };
        let dec =
            Decimal::from_str(&text).map_err(|_| de::Error::custom("not a decimal number"))?;
        if dec.mantissa().unsigned_abs() >= 1_000_000_000_000_000 {
            return Err(de::Error::custom("more than 15 significant digits"));
        }
        Ok(dec)
    }
}

mod decimal_number_opt {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::decimal_number::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    #[derive(Hash, Deserialize)]
    struct Wrap(#[serde(with = "super::decimal_number")] Decimal);

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(instrument: Instrument, answers: &[(&str, i64)]) -> OutcomeResponse {
        OutcomeResponse {
            identifier: Identifier {
                system: "urn:test".into(),
                value: "1".into(),
            },
            instrument,
            timepoint: Timepoint::Baseline,
            status: OutcomeStatus::Completed,
            date: FhirDateTime::try_from("2024-01-01").unwrap(),
            person: Person::default(),
            referral: None,
            answers: answers.iter().map(|(l, v)| Answer::new(l, *v)).collect(),
            scores: Scores::default(),
        }
    }

    #[test]
    fn scores_each_instrument() {
        let w: Vec<(String, i64)> = (1..=14).map(|i| (format!("wemwbs-{i}"), 3)).collect();
        let w: Vec<(&str, i64)> = w.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        assert_eq!(
            response(Instrument::Wemwbs, &w).score().unwrap().total,
            Some(42)
        );

        let s: Vec<(String, i64)> = (1..=7)
            .map(|i| (format!("swemwbs-{i}"), if i == 1 { 5 } else { 3 }))
            .collect();
        let s: Vec<(&str, i64)> = s.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        let sc = response(Instrument::Swemwbs, &s).score().unwrap();
        assert_eq!(
            (sc.total, sc.metric.map(|m| m.to_string())),
            (Some(23), Some("20.73".into()))
        );

        let u = response(
            Instrument::Ucla3,
            &[("companionship", 3), ("left-out", 2), ("isolated", 3)],
        );
        assert_eq!(u.score().unwrap().total, Some(8));

        let o = response(
            Instrument::Ons4,
            &[
                ("life-satisfaction", 7),
                ("worthwhile", 8),
                ("happiness", 6),
                ("anxiety", 2),
            ],
        );
        assert!(
            o.score().unwrap().is_empty(),
            "ONS4 items are reported separately"
        );
    }

    #[test]
    fn partial_answers_have_no_total() {
        let u = response(Instrument::Ucla3, &[("companionship", 3)]);
        assert_eq!(u.score().unwrap().total, None);
        assert_eq!(u.missing_items(), ["left-out", "isolated"]);
    }

    #[test]
    fn bad_answers_are_errors() {
        let e = response(Instrument::Ucla3, &[("companionship", 4)])
            .score()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "answers[0]: item 'companionship' must be a whole number from 1 to 3"
        );
        let e = response(Instrument::Ons4, &[("mood", 4)])
            .score()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "answers[0]: linkId 'mood' is not an item of ONS personal wellbeing (ONS4)"
        );
        let e = response(Instrument::Ons4, &[("anxiety", 4), ("anxiety", 5)])
            .score()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "answers[1]: item 'anxiety' is answered more than once"
        );
        let mut r = response(
            Instrument::Ucla3,
            &[("companionship", 1), ("left-out", 1), ("isolated", 1)],
        );
        r.scores.total = Some(4);
        assert_eq!(
            r.normalise().unwrap_err().to_string(),
            "scores.total is 4 but the answers give 3"
        );
    }

    #[test]
    fn decimal_answers_serialise_as_numbers() {
        let mut r = response(Instrument::Pam, &[("level", 3)]);
        r.answers.push(Answer {
            link_id: "score".into(),
            value: "55.6".parse().unwrap(),
        });
        let json = serde_json::to_string(&r.answers).unwrap();
        assert_eq!(
            json,
            r#"[{"linkId":"level","value":3},{"linkId":"score","value":55.6}]"#
        );
        let back: Vec<Answer> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r.answers);
    }
}
