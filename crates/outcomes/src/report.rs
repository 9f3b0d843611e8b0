//! The outcome tables: exact figures per measure (and per stratum), published through the
//! suppression rule as JSON (the shape other tools rely on) or CSV.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::context::Dimension;
use crate::measure::Measure;
use crate::pair::{Outcome, Paired};
use crate::stats::{self, Summary};
use crate::suppress::{self, Rule};

/// The extension on a MeasureReport's `measureScore` giving its 95% confidence interval.
pub const EXT_CONFIDENCE_INTERVAL: &str =
    "https://spfhir.org/fhir/StructureDefinition/sp-confidence-interval";

/// How to aggregate and publish.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub rule: Rule,
    /// Meaningful-change thresholds by measure (others: [`Measure::default_threshold`]).
    pub thresholds: BTreeMap<Measure, f64>,
    /// Stratify by these, together (`pcn` and `quarter`: a stratum per PCN and quarter).
    pub by: Vec<Dimension>,
}

/// A stratum: each dimension's value.
pub type Stratum = Vec<(Dimension, String)>;

/// A stratum as text: `pcn=U12345;quarter=2026Q3`.
pub fn stratum_text(s: &Stratum) -> String {
    s.iter()
        .map(|(d, v)| format!("{}={v}", d.id()))
        .collect::<Vec<_>>()
        .join(";")
}

impl Options {
    pub fn threshold(&self, m: Measure) -> f64 {
        self.thresholds
            .get(&m)
            .copied()
            .unwrap_or_else(|| m.default_threshold())
    }
}

/// One measure's exact figures over a set of episodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Episodes with any response for the measure.
    pub episodes: u64,
    pub baselines: Vec<f64>,
    pub follow_ups: Vec<f64>,
    /// Follow-up minus baseline, per pair.
    pub changes: Vec<f64>,
    pub improved: u64,
    pub no_change: u64,
    pub worse: u64,
    pub duplicates: u64,
    pub before_baseline: u64,
}

impl Cell {
    pub(crate) fn add(&mut self, m: Measure, p: &Paired, o: &Options) {
        self.episodes += 1;
        self.duplicates += p.duplicates;
        self.before_baseline += u64::from(p.before_baseline);
        if let Some((_, b)) = p.baseline {
            self.baselines.push(b);
        }
        if let Some((_, f)) = p.follow_up {
            self.follow_ups.push(f);
        }
        if let Some((b, f)) = p.pair() {
            let change = f - b;
            self.changes.push(change);
            match Outcome::of(m, change, o) {
                Outcome::Improved => self.improved += 1,
                Outcome::NoChange => self.no_change += 1,
                Outcome::Worse => self.worse += 1,
            }
        }
    }

    pub fn pairs(&self) -> u64 {
        self.changes.len() as u64
    }

    pub fn change(&self) -> Option<Summary> {
        stats::summary(&self.changes)
    }
}

/// Everything aggregated, exact; published by [`Report::to_json`] and [`Report::to_csv`].
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// QuestionnaireResponses read (used or not).
    pub responses: u64,
    /// Responses not used, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Referrals (episodes): those responses name, and those only `ServiceRequest.ndjson`
    /// holds; `with_response` of them have at least one usable response.
    pub referrals: u64,
    pub with_response: u64,
    pub instruments: BTreeMap<Measure, Cell>,
    /// By the dimensions asked for.
    pub strata: BTreeMap<Stratum, BTreeMap<Measure, Cell>>,
    /// Referrals per stratum (with a response or not).
    pub strata_referrals: BTreeMap<Stratum, u64>,
    pub rule: Rule,
    /// The first and last day (since 1970-01-01) of the responses used.
    pub period: Option<(i64, i64)>,
}

/// Which counts of a cell are hidden (primary and secondary suppression).
struct Hidden {
    /// The whole cell: every count, mean and interval.
    cell: bool,
    pairs: bool,
    outcome: [bool; 3],
}

/// A cell's counts that add up, across sibling cells, to the published total.
fn counts(c: &Cell) -> [u64; 4] {
    [
        c.episodes,
        c.baselines.len() as u64,
        c.follow_ups.len() as u64,
        c.pairs(),
    ]
}

fn hidden(rule: &Rule, c: &Cell, cell_hidden: bool) -> Hidden {
    let pairs = rule.hides(c.pairs()) || cell_hidden;
    // improved + noChange + worse = pairs: one hidden alone could be recovered.
    let s = suppress::secondary(rule, &[c.improved, c.no_change, c.worse]);
    let outcome = if pairs { [true; 3] } else { [s[0], s[1], s[2]] };
    Hidden {
        cell: cell_hidden,
        pairs,
        outcome,
    }
}

/// To two places; a value that rounds to zero is 0.0, never -0.0.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

fn row(m: Measure, c: &Cell, rule: &Rule, cell_hidden: bool) -> Value {
    let h = hidden(rule, c, cell_hidden);
    let count = |n: u64, hide: bool| -> Value {
        match (hide || h.cell, rule.publish(n)) {
            (false, Some(v)) => json!(v),
            _ => Value::Null,
        }
    };
    let mean = |v: &[f64]| -> Value {
        if h.cell || rule.hides(v.len() as u64) {
            return Value::Null;
        }
        stats::summary(v).map_or(Value::Null, |s| json!(round(s.mean)))
    };
    let change = (!h.pairs).then(|| c.change()).flatten();
    json!({
        "instrument": m.id(),
        "referrals": count(c.episodes, false),
        "baseline": count(c.baselines.len() as u64, false),
        "followUp": count(c.follow_ups.len() as u64, false),
        "pairs": count(c.pairs(), h.pairs),
        "meanBaseline": mean(&c.baselines),
        "meanFollowUp": mean(&c.follow_ups),
        "meanChange": change.map_or(Value::Null, |s| json!(round(s.mean))),
        "ci95": change.and_then(|s| s.ci95).map_or(Value::Null, |(lo, hi)| json!([round(lo), round(hi)])),
        "improved": count(c.improved, h.outcome[0]),
        "noChange": count(c.no_change, h.outcome[1]),
        "worse": count(c.worse, h.outcome[2]),
        "higherIsBetter": m.higher_is_better(),
    })
}

/// Which rows of `table` to hide: those the rule hides (any count 1–7), and then, column by
/// column, the smallest other non-zero row while a column has exactly one hidden non-zero
/// cell, since the rows add up to a published total and one hidden cell alone could be
/// recovered by subtraction.
pub(crate) fn complementary(rule: &Rule, table: &[Vec<u64>]) -> Vec<bool> {
    let mut hide: Vec<bool> = table
        .iter()
        .map(|c| c.iter().any(|&n| rule.hides(n)))
        .collect();
    let columns = table.first().map_or(0, Vec::len);
    loop {
        let mut changed = false;
        for col in 0..columns {
            let column: Vec<u64> = table.iter().map(|c| c[col]).collect();
            let hidden_nonzero = (0..column.len())
                .filter(|&i| hide[i] && column[i] > 0)
                .count();
            if hidden_nonzero == 1
                && let Some(i) = (0..column.len())
                    .filter(|&i| !hide[i] && column[i] > 0)
                    .min_by_key(|&i| column[i])
            {
                hide[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hide;
        }
    }
}

impl Report {
    /// Strata cells hidden whole. Per measure the strata are siblings whose counts add up
    /// to the published total, so a cell hidden by the rule (any of its counts 1–7) could be
    /// recovered by subtraction if it were the only one: see [`complementary`].
    fn strata_hidden(&self) -> BTreeMap<(Stratum, Measure), bool> {
        let mut out = BTreeMap::new();
        for m in Measure::ALL {
            let keys: Vec<&Stratum> = self
                .strata
                .iter()
                .filter(|(_, cells)| cells.contains_key(&m))
                .map(|(k, _)| k)
                .collect();
            let table: Vec<Vec<u64>> = keys
                .iter()
                .map(|k| counts(&self.strata[*k][&m]).to_vec())
                .collect();
            for (k, h) in keys.iter().zip(complementary(&self.rule, &table)) {
                out.insert(((*k).clone(), m), h);
            }
        }
        out
    }

    /// The JSON tables:
    /// `{"instruments": [...], "strata": [{"by": {"quarter": …}, "instruments": [...]}],
    /// "rejected": {reason: n}, "responses": n, "suppression": {...}}`.
    pub fn to_json(&self) -> Value {
        let instruments: Vec<Value> = self
            .instruments
            .iter()
            .map(|(m, c)| row(*m, c, &self.rule, false))
            .collect();
        let hidden = self.strata_hidden();
        let keys: Vec<&Stratum> = self.strata_referrals.keys().collect();
        let table: Vec<Vec<u64>> = keys
            .iter()
            .map(|k| vec![self.strata_referrals[*k]])
            .collect();
        let referrals_hidden: BTreeMap<&Stratum, bool> = keys
            .iter()
            .copied()
            .zip(complementary(&self.rule, &table))
            .collect();
        let publish = |n: u64, hide: bool| match (hide, self.rule.publish(n)) {
            (false, Some(v)) => json!(v),
            _ => Value::Null,
        };
        let strata: Vec<Value> = self
            .strata_referrals
            .iter()
            .map(|(k, n)| {
                let rows: Vec<Value> = self
                    .strata
                    .get(k)
                    .into_iter()
                    .flatten()
                    .map(|(m, c)| row(*m, c, &self.rule, hidden[&(k.clone(), *m)]))
                    .collect();
                let by: serde_json::Map<String, Value> = k
                    .iter()
                    .map(|(d, v)| (d.id().to_owned(), json!(v)))
                    .collect();
                json!({"by": by, "referrals": publish(*n, referrals_hidden[k]), "instruments": rows})
            })
            .collect();
        json!({
            "referrals": publish(self.referrals, false),
            "referralsWithResponse": publish(self.with_response, false),
            "instruments": instruments,
            "strata": strata,
            "rejected": self.rejected,
            "responses": self.responses,
            "suppression": {"suppressUpTo": self.rule.suppress_up_to, "roundTo": self.rule.round_to},
        })
    }

    /// The same figures as CSV: one row per measure (stratum `all`) and per stratum.
    pub fn to_csv(&self) -> String {
        const COLUMNS: [&str; 13] = [
            "referrals",
            "baseline",
            "followUp",
            "pairs",
            "meanBaseline",
            "meanFollowUp",
            "meanChange",
            "ci95Low",
            "ci95High",
            "improved",
            "noChange",
            "worse",
            "higherIsBetter",
        ];
        let mut out = format!("stratum,instrument,{}\n", COLUMNS.join(","));
        let json = self.to_json();
        let mut put = |stratum: &str, row: &Value| {
            let cell = |v: &Value| match v {
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let ci = |i: usize| cell(row["ci95"].get(i).unwrap_or(&Value::Null));
            let fields: Vec<String> = COLUMNS
                .iter()
                .map(|c| match *c {
                    "ci95Low" => ci(0),
                    "ci95High" => ci(1),
                    c => cell(&row[c]),
                })
                .collect();
            out.push_str(&format!(
                "{stratum},{},{}\n",
                row["instrument"].as_str().unwrap_or_default(),
                fields.join(",")
            ));
        };
        for r in json["instruments"].as_array().into_iter().flatten() {
            put("all", r);
        }
        for (s, key) in json["strata"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(self.strata_referrals.keys())
        {
            let text = stratum_text(key);
            for r in s["instruments"].as_array().into_iter().flatten() {
                put(&text, r);
            }
        }
        out
    }

    /// A FHIR MeasureReport (summary) against spfhir's Measure `sp-outcome-change`: a group
    /// per measure with its referrals (initial population), pairs (measure population) and
    /// mean paired change (score, with its 95% interval in [`EXT_CONFIDENCE_INTERVAL`]), stratified by quarter when asked. The same suppression
    /// applies: a hidden count is left out, and so is the score of a hidden cell. `date` is
    /// when the report was made (a FHIR dateTime).
    pub fn to_measure_report(&self, date: &str) -> Value {
        let json = self.to_json();
        let population = |code: &str, count: &Value| {
            let mut p = json!({"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": code}]}});
            if let Some(n) = count.as_u64() {
                p["count"] = json!(n);
            }
            p
        };
        let populations = |row: &Value| {
            json!([
                population("initial-population", &row["referrals"]),
                population("measure-population", &row["pairs"])
            ])
        };
        // The mean change, with its 95% interval in spfhir's extension.
        let score = |row: &Value| {
            let mean = row["meanChange"].as_f64()?;
            let mut q = json!({"value": mean});
            if let Some([lo, hi]) = row["ci95"].as_array().map(Vec::as_slice)
                && let (Some(lo), Some(hi)) = (lo.as_f64(), hi.as_f64())
            {
                q["extension"] = json!([{"url": EXT_CONFIDENCE_INTERVAL,
                    "valueRange": {"low": {"value": lo}, "high": {"value": hi}}}]);
            }
            Some(q)
        };
        let mut groups = Vec::new();
        for row in json["instruments"].as_array().into_iter().flatten() {
            let id = row["instrument"].as_str().unwrap_or_default();
            let mut g = json!({
                "code": {"coding": [{"system": "https://spfhir.org/fhir/CodeSystem/sp-outcome-measure", "code": id}]},
                "population": populations(row),
            });
            if let Some(s) = score(row) {
                g["measureScore"] = s;
            }
            let strata: Vec<Value> = json["strata"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|st| {
                    let r = st["instruments"]
                        .as_array()?
                        .iter()
                        .find(|r| r["instrument"] == id)?;
                    let by = st["by"].as_object()?;
                    let mut s = if by.len() == 1 {
                        json!({"value": {"text": by.values().next()}, "population": populations(r)})
                    } else {
                        let components: Vec<Value> = by
                            .iter()
                            .map(|(d, v)| json!({"code": {"text": d}, "value": {"text": v}}))
                            .collect();
                        json!({"component": components, "population": populations(r)})
                    };
                    if let Some(sc) = score(r) {
                        s["measureScore"] = sc;
                    }
                    Some(s)
                })
                .collect();
            if !strata.is_empty() {
                let codes: Vec<Value> = self
                    .strata_referrals
                    .keys()
                    .next()
                    .into_iter()
                    .flatten()
                    .map(|(d, _)| json!({"text": d.id()}))
                    .collect();
                g["stratifier"] = json!([{"code": codes, "stratum": strata}]);
            }
            groups.push(g);
        }
        let day = date.get(..10).unwrap_or(date);
        let (start, end) = self.period.map_or((None, None), |(a, b)| {
            (Some(crate::read::date_of(a)), Some(crate::read::date_of(b)))
        });
        let (start, end) = (
            start.unwrap_or_else(|| day.to_owned()),
            end.unwrap_or_else(|| day.to_owned()),
        );
        let div = format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Social prescribing outcomes from {start} to {end}: paired change from baseline to follow-up for {} measures. Counts follow NHS England's small-number rule.</p></div>",
            groups.len()
        );
        json!({
            "resourceType": "MeasureReport",
            "text": {"status": "generated", "div": div},
            "status": "complete",
            "type": "summary",
            "measure": "https://spfhir.org/fhir/Measure/sp-outcome-change|0.1.0",
            "date": date,
            "period": {"start": start, "end": end},
            "group": groups,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tiny_negative_rounds_to_plain_zero() {
        let r = super::round(-0.000_000_1);
        assert_eq!(r, 0.0);
        assert!(r.is_sign_positive(), "-0.0 would print as -0.0");
        assert_eq!(super::round(-1.234), -1.23);
    }
}
