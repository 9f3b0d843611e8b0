//! Pairing: one baseline and one follow-up per person, episode and measure.
//!
//! The rules (README, "Outcome reporting", says the same):
//! 1. The person is the response's subject (identifier value, else reference); the episode
//!    is the referral it is `basedOn` (reference, or `system|value`). A response that names
//!    no referral belongs to the person's CarePlan (`CarePlan.ndjson`) whose period holds
//!    its date (that CarePlan's referral, if its `supportingInfo` names one); responses outside every
//!    CarePlan's period form one episode per person.
//! 2. A response's timepoint is its timepoint extension. Untagged responses are ordered by
//!    authored day: the first is the baseline and the last the follow-up, where no tagged
//!    response gives them.
//! 3. Several responses at one timepoint: the earliest baseline and the latest follow-up
//!    are used; the others are counted as `duplicateTimepoint` and not used.
//! 4. A follow-up dated before its baseline makes no pair; it is counted as
//!    `followUpBeforeBaseline`.
//! 5. An episode with only a baseline, or only a follow-up, counts towards completeness
//!    (`baseline`, `followUp`) but not towards change.

use std::collections::{BTreeMap, HashMap, HashSet};

use spfhir_domain::Timepoint;

use crate::context::{Context, Dimension};
use crate::measure::Measure;
use crate::read::{self, Rejected, Response};
use crate::report::{Cell, Options, Report, Stratum};

/// One response's score for one measure, in an episode: 16 bytes, since an episode's
/// points are most of the aggregator's memory.
#[derive(Clone, Copy, Debug)]
struct Point {
    measure: Measure,
    timepoint: Timepoint,
    /// Days since 1970-01-01.
    day: i32,
    value: f64,
}

/// An episode's points, kept in measure order (input order within a measure).
type Points = Vec<Point>;

/// One key per episode: `{person length}:{person}{episode}`, one allocation, unambiguous
/// whatever the keys hold.
fn episode_key(person: &str, episode: &str) -> Box<str> {
    format!("{}:{person}{episode}", person.len()).into_boxed_str()
}

/// The person and episode of an [`episode_key`].
fn split_key(key: &str) -> (&str, &str) {
    let (len, rest) = key.split_once(':').unwrap_or(("0", key));
    rest.split_at(len.parse::<usize>().unwrap_or(0).min(rest.len()))
}

/// An episode's points grouped by measure.
fn by_measure(points: &[Point]) -> impl Iterator<Item = (Measure, &[Point])> {
    points
        .chunk_by(|a, b| a.measure == b.measure)
        .map(|run| (run[0].measure, run))
}

/// What pairing made of one episode's points for one measure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Paired {
    /// (day, value).
    pub baseline: Option<(i64, f64)>,
    pub follow_up: Option<(i64, f64)>,
    /// Responses not used because another at the same timepoint was.
    pub duplicates: u64,
    /// The follow-up is dated before the baseline (no pair is made).
    pub before_baseline: bool,
}

impl Paired {
    /// The pair, if there is one.
    pub fn pair(&self) -> Option<(f64, f64)> {
        match (self.baseline, self.follow_up, self.before_baseline) {
            (Some((_, b)), Some((_, f)), false) => Some((b, f)),
            _ => None,
        }
    }
}

/// A pair's outcome, by its measure's direction and meaningful-change threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Improved,
    NoChange,
    Worse,
}

impl Outcome {
    /// The outcome of a change (follow-up minus baseline) in measure `m`.
    pub fn of(m: Measure, change: f64, o: &Options) -> Outcome {
        let better = if m.higher_is_better() {
            change
        } else {
            -change
        };
        let t = o.threshold(m);
        if better >= t {
            Outcome::Improved
        } else if better <= -t {
            Outcome::Worse
        } else {
            Outcome::NoChange
        }
    }

    /// As the tables name it.
    pub fn id(self) -> &'static str {
        match self {
            Outcome::Improved => "improved",
            Outcome::NoChange => "noChange",
            Outcome::Worse => "worse",
        }
    }
}

/// One baseline/follow-up pair, for the row-level table ([`Aggregator::for_each_pair`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PairRow<'a> {
    /// The NHS number where `Patient.ndjson` gives one, else the response's subject key.
    /// Front ends pseudonymise it before it leaves them.
    pub person: &'a str,
    /// The episode key (the referral's reference or `system|value`; empty when none).
    pub episode: &'a str,
    pub measure: Measure,
    /// (day since 1970-01-01, score).
    pub baseline: (i64, f64),
    pub follow_up: (i64, f64),
    pub outcome: Outcome,
    /// The value of each of [`PairRow::DIMENSIONS`] (`unknown` where the input does not
    /// say).
    pub strata: Stratum,
}

impl PairRow<'_> {
    /// The dimensions a row carries: all but quarter and month, which its dates give.
    pub const DIMENSIONS: [Dimension; 9] = [
        Dimension::Icb,
        Dimension::SubIcb,
        Dimension::Pcn,
        Dimension::Practice,
        Dimension::AgeBand,
        Dimension::Sex,
        Dimension::Ethnicity,
        Dimension::ImdDecile,
        Dimension::Reason,
    ];
}

fn pair_points(points: &[Point]) -> Paired {
    let by_day = |a: &&Point, b: &&Point| a.day.cmp(&b.day);
    let tagged =
        |t: Timepoint| -> Vec<&Point> { points.iter().filter(|p| p.timepoint == t).collect() };
    let (b, f) = (tagged(Timepoint::Baseline), tagged(Timepoint::FollowUp));
    let mut untagged = tagged(Timepoint::Other);
    untagged.sort_by(by_day);
    let mut used = 0u64;
    let baseline = match b.iter().copied().min_by(by_day) {
        Some(p) => Some(*p),
        None => untagged.first().map(|p| **p),
    };
    let base_from_untagged = b.is_empty() && !untagged.is_empty();
    let follow_up = match f.iter().copied().max_by(by_day) {
        Some(p) => Some(*p),
        None if untagged.len() >= 2 || (!base_from_untagged && !untagged.is_empty()) => {
            untagged.last().map(|p| **p)
        }
        None => None,
    };
    used += u64::from(baseline.is_some()) + u64::from(follow_up.is_some());
    let duplicates = points.len() as u64 - used;
    let before_baseline = matches!((baseline, follow_up), (Some(b), Some(f)) if f.day < b.day);
    Paired {
        baseline: baseline.map(|p| (i64::from(p.day), p.value)),
        follow_up: follow_up.map(|p| (i64::from(p.day), p.value)),
        duplicates,
        before_baseline,
    }
}

/// Streams responses in and the report out; memory grows with the number of episodes.
pub struct Aggregator {
    options: Options,
    context: Context,
    /// [`episode_key`] → points.
    episodes: HashMap<Box<str>, Points>,
    rejected: BTreeMap<Rejected, u64>,
    read: u64,
    /// The first and last day of the responses used.
    period: Option<(i64, i64)>,
}

impl Aggregator {
    pub fn new(options: Options) -> Aggregator {
        Aggregator::with_context(options, Context::new())
    }

    /// With the people, referrals and organisations strata and referral counts come from.
    pub fn with_context(options: Options, context: Context) -> Aggregator {
        Aggregator {
            options,
            context,
            episodes: HashMap::new(),
            rejected: BTreeMap::new(),
            read: 0,
            period: None,
        }
    }

    /// One NDJSON line: used, or counted as rejected (and the reason returned).
    pub fn add_line(&mut self, line: &str) -> Result<(), Rejected> {
        self.add_read(read::line(line))
    }

    /// A line already read by [`read::line`] (front ends read lines on several threads,
    /// then add them here in input order, so results do not depend on the thread count).
    pub fn add_read(&mut self, result: Result<Response, Rejected>) -> Result<(), Rejected> {
        match result {
            Ok(r) => {
                self.add(r);
                Ok(())
            }
            Err(why) => {
                self.reject(why);
                Err(why)
            }
        }
    }

    /// Count a response that could not be used.
    pub fn reject(&mut self, why: Rejected) {
        self.read += 1;
        *self.rejected.entry(why).or_default() += 1;
    }

    /// One usable response.
    pub fn add(&mut self, r: Response) {
        self.read += 1;
        self.period = Some(match self.period {
            None => (r.day, r.day),
            Some((lo, hi)) => (lo.min(r.day), hi.max(r.day)),
        });
        let episode = r
            .episode
            .or_else(|| self.context.care_plan_episode(&r.person, r.day))
            .unwrap_or_default();
        let points = self
            .episodes
            .entry(episode_key(&r.person, &episode))
            .or_default();
        let day = read::day32(r.day);
        for (measure, value) in r.scores {
            let at = points.partition_point(|p| p.measure <= measure);
            points.insert(
                at,
                Point {
                    measure,
                    timepoint: r.timepoint,
                    day,
                    value,
                },
            );
        }
    }

    /// The stratum of an episode: each dimension's value for its person and referral,
    /// dated by the referral (`authoredOn`) when it is known, else by its first response.
    fn stratum(
        &self,
        dimensions: &[Dimension],
        person: &str,
        episode: &str,
        first_day: Option<i64>,
    ) -> Stratum {
        let referral = self.context.referral(episode);
        let person = self.person(person, episode);
        let day = referral.and_then(|r| r.day).or(first_day);
        self.stratum_of(dimensions, person, referral, day)
    }

    /// The person of an episode: by the response's subject, else the referral's.
    fn person(&self, person: &str, episode: &str) -> Option<&crate::context::Person> {
        self.context.person(person).or_else(|| {
            self.context
                .referral(episode)
                .and_then(|r| r.person.as_deref())
                .and_then(|k| self.context.person(k))
        })
    }

    /// Each dimension's value for this person and referral, dated `day`.
    fn stratum_of(
        &self,
        dimensions: &[Dimension],
        person: Option<&crate::context::Person>,
        referral: Option<&crate::context::Referral>,
        day: Option<i64>,
    ) -> Stratum {
        dimensions
            .iter()
            .map(|d| (*d, self.context.value(*d, person, referral, day)))
            .collect()
    }

    /// Every pair (a baseline and a follow-up not dated before it), ordered by person and
    /// episode key, then measure, so the same input gives the same rows.
    pub fn for_each_pair(&self, mut f: impl FnMut(&PairRow<'_>)) {
        let mut keys: Vec<(&str, &str, &Points)> = self
            .episodes
            .iter()
            .map(|(k, points)| {
                let (person, episode) = split_key(k);
                (person, episode, points)
            })
            .collect();
        keys.sort_unstable_by_key(|(person, episode, _)| (*person, *episode));
        for (person, episode, points) in keys {
            let first = points.iter().map(|p| i64::from(p.day)).min();
            let mut strata = None;
            for (m, points) in by_measure(points) {
                let paired = pair_points(points);
                let (Some(baseline), Some(follow_up), false) =
                    (paired.baseline, paired.follow_up, paired.before_baseline)
                else {
                    continue;
                };
                let strata = strata.get_or_insert_with(|| {
                    self.stratum(&PairRow::DIMENSIONS, person, episode, first)
                });
                let nhs = self
                    .person(person, episode)
                    .and_then(|p| p.nhs_number.as_deref());
                f(&PairRow {
                    person: nhs.unwrap_or(person),
                    episode,
                    measure: m,
                    baseline,
                    follow_up,
                    outcome: Outcome::of(m, follow_up.1 - baseline.1, &self.options),
                    strata: strata.clone(),
                });
            }
        }
    }

    /// Pair every episode and aggregate.
    pub fn finish(self) -> Report {
        let mut all: BTreeMap<Measure, Cell> = BTreeMap::new();
        let mut strata: BTreeMap<Stratum, BTreeMap<Measure, Cell>> = BTreeMap::new();
        let mut referrals: BTreeMap<Stratum, u64> = BTreeMap::new();
        let mut seen: HashSet<u32> = HashSet::new();
        let stratified = !self.options.by.is_empty();
        let episodes = self.episodes.len() as u64;
        for (key, points) in &self.episodes {
            let (person, episode) = split_key(key);
            if let Some(i) = self.context.referral_index(episode) {
                seen.insert(i);
            }
            let stratum = stratified.then(|| {
                let first = points.iter().map(|p| i64::from(p.day)).min();
                self.stratum(&self.options.by, person, episode, first)
            });
            if let Some(s) = &stratum {
                *referrals.entry(s.clone()).or_default() += 1;
            }
            for (m, points) in by_measure(points) {
                let paired = pair_points(points);
                all.entry(m).or_default().add(m, &paired, &self.options);
                if let Some(s) = &stratum {
                    strata
                        .entry(s.clone())
                        .or_default()
                        .entry(m)
                        .or_default()
                        .add(m, &paired, &self.options);
                }
            }
        }
        // Referrals no response named still count: they are where completeness starts.
        let mut unanswered = 0u64;
        for (i, r) in self.context.referrals() {
            if seen.contains(&i) {
                continue;
            }
            unanswered += 1;
            if stratified {
                let person = r.person.as_deref().and_then(|k| self.context.person(k));
                *referrals
                    .entry(self.stratum_of(&self.options.by, person, Some(r), r.day))
                    .or_default() += 1;
            }
        }
        Report {
            responses: self.read,
            rejected: self
                .rejected
                .into_iter()
                .map(|(k, v)| (k.id(), v))
                .collect(),
            referrals: episodes + unanswered,
            with_response: episodes,
            instruments: all,
            strata,
            strata_referrals: referrals,
            rule: self.options.rule,
            period: self.period,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: Timepoint, day: i32, value: f64) -> Point {
        Point {
            measure: Measure::Wemwbs,
            timepoint: t,
            day,
            value,
        }
    }

    use Timepoint::{Baseline as B, FollowUp as F, Other as O};

    #[test]
    fn episode_keys_split_back_whatever_they_hold() {
        for (person, episode) in [
            ("Patient/1", "ServiceRequest/2"),
            ("", ""),
            ("9:x", "1:y"),
            ("a", ""),
        ] {
            assert_eq!(split_key(&episode_key(person, episode)), (person, episode));
        }
        assert_ne!(episode_key("ab", "c"), episode_key("a", "bc"));
        assert_eq!(size_of::<Point>(), 16);
    }

    #[test]
    fn each_rule() {
        // Tagged: one of each.
        let r = pair_points(&[p(B, 1, 20.0), p(F, 90, 25.0)]);
        assert_eq!(r.pair(), Some((20.0, 25.0)));
        // Untagged: first and last by date, whatever the order given.
        let r = pair_points(&[p(O, 50, 3.0), p(O, 10, 1.0), p(O, 30, 2.0)]);
        assert_eq!(r.pair(), Some((1.0, 3.0)));
        assert_eq!(r.duplicates, 1);
        // One untagged alone: a baseline only.
        let r = pair_points(&[p(O, 10, 1.0)]);
        assert_eq!((r.baseline, r.follow_up), (Some((10, 1.0)), None));
        // A tagged baseline and an untagged response: the untagged is the follow-up.
        let r = pair_points(&[p(B, 10, 1.0), p(O, 40, 2.0)]);
        assert_eq!(r.pair(), Some((1.0, 2.0)));
        // Several at a timepoint: earliest baseline, latest follow-up.
        let r = pair_points(&[p(B, 5, 10.0), p(B, 1, 11.0), p(F, 60, 12.0), p(F, 90, 13.0)]);
        assert_eq!(r.pair(), Some((11.0, 13.0)));
        assert_eq!(r.duplicates, 2);
        // A follow-up before its baseline: no pair.
        let r = pair_points(&[p(B, 50, 10.0), p(F, 20, 12.0)]);
        assert!(r.before_baseline);
        assert_eq!(r.pair(), None);
        // Only a follow-up.
        let r = pair_points(&[p(F, 20, 12.0)]);
        assert_eq!((r.baseline, r.follow_up.is_some()), (None, true));
    }
}
