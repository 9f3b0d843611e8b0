//! The measures reported: one per instrument score, and one per ONS4 item (ONS reports the
//! four separately). Each has the direction that is better and the smallest change that
//! counts as meaningful (configurable; the defaults and their sources are in README).

use spfhir_domain::Instrument;

/// One reported measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    Ons4LifeSatisfaction,
    Ons4Worthwhile,
    Ons4Happiness,
    Ons4Anxiety,
    Wemwbs,
    /// The metric score (converted from the raw 7–35 total).
    Swemwbs,
    Ucla3,
    /// The activation score 0–100.
    Pam,
}

impl Measure {
    pub const ALL: [Measure; 8] = [
        Measure::Ons4LifeSatisfaction,
        Measure::Ons4Worthwhile,
        Measure::Ons4Happiness,
        Measure::Ons4Anxiety,
        Measure::Wemwbs,
        Measure::Swemwbs,
        Measure::Ucla3,
        Measure::Pam,
    ];

    /// The name in tables (`ons4-anxiety`, `wemwbs`).
    pub fn id(self) -> &'static str {
        match self {
            Measure::Ons4LifeSatisfaction => "ons4-life-satisfaction",
            Measure::Ons4Worthwhile => "ons4-worthwhile",
            Measure::Ons4Happiness => "ons4-happiness",
            Measure::Ons4Anxiety => "ons4-anxiety",
            Measure::Wemwbs => "wemwbs",
            Measure::Swemwbs => "swemwbs",
            Measure::Ucla3 => "ucla3",
            Measure::Pam => "pam",
        }
    }

    pub fn instrument(self) -> Instrument {
        match self {
            Measure::Ons4LifeSatisfaction
            | Measure::Ons4Worthwhile
            | Measure::Ons4Happiness
            | Measure::Ons4Anxiety => Instrument::Ons4,
            Measure::Wemwbs => Instrument::Wemwbs,
            Measure::Swemwbs => Instrument::Swemwbs,
            Measure::Ucla3 => Instrument::Ucla3,
            Measure::Pam => Instrument::Pam,
        }
    }

    /// The ONS4 item a measure is, by linkId.
    pub fn ons4_item(self) -> Option<&'static str> {
        match self {
            Measure::Ons4LifeSatisfaction => Some("life-satisfaction"),
            Measure::Ons4Worthwhile => Some("worthwhile"),
            Measure::Ons4Happiness => Some("happiness"),
            Measure::Ons4Anxiety => Some("anxiety"),
            _ => None,
        }
    }

    /// Is a rise an improvement? (UCLA-3 loneliness and ONS4 anxiety: a fall is.)
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Measure::Ucla3 | Measure::Ons4Anxiety)
    }

    /// The default smallest change, in the measure's own units, counted as a change.
    pub fn default_threshold(self) -> f64 {
        match self {
            // Warwick Medical School: a change of 3 or more WEMWBS points is meaningful.
            Measure::Wemwbs => 3.0,
            // Warwick Medical School: 1 to 3 SWEMWBS metric points; the lower bound is used.
            Measure::Swemwbs => 1.0,
            // ONS4 items (0–10) and UCLA-3 (3–9): one point on the scale.
            Measure::Ons4LifeSatisfaction
            | Measure::Ons4Worthwhile
            | Measure::Ons4Happiness
            | Measure::Ons4Anxiety
            | Measure::Ucla3 => 1.0,
            // PAM: Insignia Health treats about 3 points as a meaningful change.
            Measure::Pam => 3.0,
        }
    }

    pub fn from_id(id: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.id() == id)
    }
}
