//! Outcome instruments: their items, answer ranges and scoring, as data.
//!
//! WEMWBS and SWEMWBS item text is licensed: only linkIds, answer options and scoring are
//! here. PAM is proprietary: only its score (0–100) and level (1–4) are stored.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::canonical::{self, codesystem};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Instrument {
    /// ONS personal wellbeing: four items 0–10, reported separately.
    Ons4,
    /// Warwick-Edinburgh Mental Wellbeing Scale: 14 items 1–5, total 14–70.
    Wemwbs,
    /// Short WEMWBS: 7 items 1–5, raw 7–35, converted to a metric score.
    Swemwbs,
    /// UCLA 3-item loneliness scale: items 1–3, total 3–9 (higher is lonelier).
    Ucla3,
    /// Patient Activation Measure: score 0–100 and level 1–4 only.
    Pam,
}

/// How an item is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// An integer in `min..=max` (FHIR `integer` item).
    Integer,
    /// A decimal in `min..=max` (FHIR `decimal` item).
    Decimal,
    /// One option of a coded scale whose codes are the integers `min..=max` (FHIR `choice`).
    Choice(&'static Scale),
}

/// A coded answer scale: code system and the display of each code `min..=max`.
#[derive(Debug, PartialEq, Eq)]
pub struct Scale {
    pub system: &'static str,
    pub displays: &'static [&'static str],
}

#[derive(Debug, PartialEq, Eq)]
pub struct ItemSpec {
    pub link_id: &'static str,
    /// Item text where its licence allows shipping it (ONS4, UCLA-3: OGL).
    pub text: Option<&'static str>,
    pub kind: ItemKind,
    pub min: i64,
    pub max: i64,
}

pub static WEMWBS_SCALE: Scale = Scale {
    system: codesystem::WEMWBS_RESPONSE,
    displays: &[
        "None of the time",
        "Rarely",
        "Some of the time",
        "Often",
        "All of the time",
    ],
};

pub static UCLA3_SCALE: Scale = Scale {
    system: codesystem::UCLA3_RESPONSE,
    displays: &["Hardly ever or never", "Some of the time", "Often"],
};

const fn int(link_id: &'static str, text: &'static str, min: i64, max: i64) -> ItemSpec {
    ItemSpec {
        link_id,
        text: Some(text),
        kind: ItemKind::Integer,
        min,
        max,
    }
}

const fn likert(
    link_id: &'static str,
    text: Option<&'static str>,
    scale: &'static Scale,
) -> ItemSpec {
    ItemSpec {
        link_id,
        text,
        kind: ItemKind::Choice(scale),
        min: 1,
        max: scale.displays.len() as i64,
    }
}

static ONS4: [ItemSpec; 4] = [
    int(
        "life-satisfaction",
        "Overall, how satisfied are you with your life nowadays?",
        0,
        10,
    ),
    int(
        "worthwhile",
        "Overall, to what extent do you feel that the things you do in your life are worthwhile?",
        0,
        10,
    ),
    int(
        "happiness",
        "Overall, how happy did you feel yesterday?",
        0,
        10,
    ),
    int(
        "anxiety",
        "On a scale where nought is 'not at all anxious' and 10 is 'completely anxious', overall, how anxious did you feel yesterday?",
        0,
        10,
    ),
];

macro_rules! numbered {
    ($prefix:literal, $scale:expr, $($n:literal),+) => {
        [$(likert(concat!($prefix, "-", $n), None, $scale)),+]
    };
}

static WEMWBS: [ItemSpec; 14] = numbered!(
    "wemwbs",
    &WEMWBS_SCALE,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14
);
static SWEMWBS: [ItemSpec; 7] = numbered!("swemwbs", &WEMWBS_SCALE, 1, 2, 3, 4, 5, 6, 7);

static UCLA3: [ItemSpec; 3] = [
    likert(
        "companionship",
        Some("How often do you feel that you lack companionship?"),
        &UCLA3_SCALE,
    ),
    likert(
        "left-out",
        Some("How often do you feel left out?"),
        &UCLA3_SCALE,
    ),
    likert(
        "isolated",
        Some("How often do you feel isolated from others?"),
        &UCLA3_SCALE,
    ),
];

static PAM: [ItemSpec; 2] = [
    ItemSpec {
        link_id: "score",
        text: Some("PAM activation score"),
        kind: ItemKind::Decimal,
        min: 0,
        max: 100,
    },
    ItemSpec {
        link_id: "level",
        text: Some("PAM activation level"),
        kind: ItemKind::Integer,
        min: 1,
        max: 4,
    },
];

/// SWEMWBS raw total (7–35) → metric score, in hundredths (Stewart-Brown et al. 2009;
/// corroborated, see shared/codes/social-prescribing-reference.json).
const SWEMWBS_METRIC: [i64; 29] = [
    700, 951, 1125, 1240, 1333, 1408, 1475, 1532, 1584, 1636, 1688, 1743, 1798, 1859, 1925, 1998,
    2073, 2154, 2235, 2321, 2411, 2503, 2602, 2703, 2813, 2931, 3070, 3255, 3500,
];

/// linkIds of computed score items in QuestionnaireResponses.
pub const TOTAL_LINK_ID: &str = "total";
pub const METRIC_LINK_ID: &str = "metric";

impl Instrument {
    pub const ALL: [Instrument; 5] = [
        Instrument::Ons4,
        Instrument::Wemwbs,
        Instrument::Swemwbs,
        Instrument::Ucla3,
        Instrument::Pam,
    ];

    /// Short code, also the Questionnaire id suffix (`sp-ons4`).
    pub fn code(self) -> &'static str {
        match self {
            Instrument::Ons4 => "ons4",
            Instrument::Wemwbs => "wemwbs",
            Instrument::Swemwbs => "swemwbs",
            Instrument::Ucla3 => "ucla3",
            Instrument::Pam => "pam",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Instrument::Ons4 => "ONS personal wellbeing (ONS4)",
            Instrument::Wemwbs => "Warwick-Edinburgh Mental Wellbeing Scale (WEMWBS)",
            Instrument::Swemwbs => "Short Warwick-Edinburgh Mental Wellbeing Scale (SWEMWBS)",
            Instrument::Ucla3 => "UCLA 3-item loneliness scale",
            Instrument::Pam => "Patient Activation Measure (PAM): score and level only",
        }
    }

    /// The Questionnaire's canonical URL (without version).
    pub fn questionnaire_url(self) -> String {
        canonical::url("Questionnaire", &format!("sp-{}", self.code()))
    }

    /// Which instrument a Questionnaire canonical (`url` or `url|version`) names.
    pub fn from_questionnaire(canonical_ref: &str) -> Option<Instrument> {
        let url = canonical_ref.split('|').next().unwrap_or_default();
        Instrument::ALL
            .into_iter()
            .find(|i| i.questionnaire_url() == url)
    }

    pub fn items(self) -> &'static [ItemSpec] {
        match self {
            Instrument::Ons4 => &ONS4,
            Instrument::Wemwbs => &WEMWBS,
            Instrument::Swemwbs => &SWEMWBS,
            Instrument::Ucla3 => &UCLA3,
            Instrument::Pam => &PAM,
        }
    }

    pub fn item(self, link_id: &str) -> Option<&'static ItemSpec> {
        self.items().iter().find(|i| i.link_id == link_id)
    }

    /// Whether the answers sum to a total (all but ONS4 and PAM).
    pub fn has_total(self) -> bool {
        matches!(
            self,
            Instrument::Wemwbs | Instrument::Swemwbs | Instrument::Ucla3
        )
    }
}

/// SWEMWBS metric score for a raw total, or `None` outside 7–35.
pub fn swemwbs_metric(raw: i64) -> Option<Decimal> {
    let i = usize::try_from(raw.checked_sub(7)?).ok()?;
    SWEMWBS_METRIC.get(i).map(|&h| Decimal::new(h, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swemwbs_table_ends_and_is_monotonic() {
        assert_eq!(swemwbs_metric(7), Some(Decimal::new(700, 2)));
        assert_eq!(swemwbs_metric(26).unwrap().to_string(), "23.21");
        assert_eq!(swemwbs_metric(35).unwrap().to_string(), "35.00");
        assert_eq!(swemwbs_metric(6), None);
        assert_eq!(swemwbs_metric(36), None);
        assert!(SWEMWBS_METRIC.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn link_ids_are_unique_and_licensed_text_is_absent() {
        for i in Instrument::ALL {
            let mut ids: Vec<_> = i.items().iter().map(|s| s.link_id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), i.items().len(), "{i:?}");
            if matches!(i, Instrument::Wemwbs | Instrument::Swemwbs) {
                assert!(
                    i.items().iter().all(|s| s.text.is_none()),
                    "licensed item text shipped for {i:?}"
                );
            }
        }
        assert_eq!(
            Instrument::from_questionnaire(&format!(
                "{}|0.1.0",
                Instrument::Ucla3.questionnaire_url()
            )),
            Some(Instrument::Ucla3)
        );
    }
}
