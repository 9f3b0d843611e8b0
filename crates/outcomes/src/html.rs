//! The report as one self-contained HTML page: inline CSS and hand-written SVG charts, no
//! script and nothing fetched, so it opens from an email or a shared drive.
//!
//! Charts:
//! - the completeness funnel: referrals, those with a usable response, then per measure the
//!   episodes with a baseline, a follow-up and a pair;
//! - baseline against follow-up distributions per measure (histograms);
//! - mean paired change with its 95% interval per stratum (a forest plot per measure), when
//!   the report is stratified.
//!
//! Every figure shown is a published one: counts go through the suppression rule (the
//! histogram bins too, with complementary suppression since they add up to a published
//! count), and means and intervals of hidden cells are not drawn.

use std::fmt::Write as _;

use serde_json::Value;

use crate::measure::Measure;
use crate::report::{Report, complementary, stratum_text};

const BASELINE: &str = "#4c78a8";
const FOLLOW_UP: &str = "#f58518";
const WIDTH: f64 = 720.0;

/// A published mean change and its interval, if shown.
type Change = (f64, Option<(f64, f64)>);

/// Text for HTML and SVG: `& < > " '` escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A measure's name for people.
fn label(m: Measure) -> &'static str {
    match m {
        Measure::Ons4LifeSatisfaction => "ONS4 life satisfaction (0–10)",
        Measure::Ons4Worthwhile => "ONS4 worthwhile (0–10)",
        Measure::Ons4Happiness => "ONS4 happiness (0–10)",
        Measure::Ons4Anxiety => "ONS4 anxiety (0–10, lower is better)",
        Measure::Wemwbs => "WEMWBS (14–70)",
        Measure::Swemwbs => "SWEMWBS metric score (7–35)",
        Measure::Ucla3 => "UCLA-3 loneliness (3–9, lower is better)",
        Measure::Pam => "PAM activation score (0–100)",
    }
}

/// Histogram bins of a measure: (lowest value, bin width, number of bins).
fn bins(m: Measure) -> (f64, f64, usize) {
    match m {
        Measure::Ons4LifeSatisfaction
        | Measure::Ons4Worthwhile
        | Measure::Ons4Happiness
        | Measure::Ons4Anxiety => (0.0, 1.0, 11),
        Measure::Wemwbs => (14.0, 4.0, 15),
        Measure::Swemwbs => (7.0, 2.0, 15),
        Measure::Ucla3 => (3.0, 1.0, 7),
        Measure::Pam => (0.0, 10.0, 11),
    }
}

/// A published count: its text, and its value when shown.
fn shown(v: &Value) -> (String, Option<f64>) {
    match v.as_u64() {
        Some(n) => (n.to_string(), Some(n as f64)),
        None => ("suppressed".to_owned(), None),
    }
}

impl Report {
    /// The report page. `date`: when it was made, as printed on it.
    pub fn to_html(&self, date: &str) -> String {
        let json = self.to_json();
        let mut page = String::new();
        let period = self.period.map_or_else(
            || "no responses".to_owned(),
            |(a, b)| format!("{} to {}", crate::read::date_of(a), crate::read::date_of(b)),
        );
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Social prescribing outcomes</title><style>{}</style></head><body>\
             <h1>Social prescribing outcomes</h1>\
             <p class=\"meta\">Responses from {} · made {} · {}</p>",
            CSS,
            esc(&period),
            esc(date),
            esc(&self.rule_text()),
        );
        page.push_str("<h2>Completeness</h2>");
        page.push_str(&self.funnel(&json));
        page.push_str("<h2>Baseline and follow-up</h2><p class=\"key\"><span class=\"sw\" style=\"background:#4c78a8\"></span>baseline <span class=\"sw\" style=\"background:#f58518\"></span>follow-up</p><div class=\"grid\">");
        for (m, cell) in &self.instruments {
            page.push_str(&self.histogram(*m, &cell.baselines, &cell.follow_ups));
        }
        page.push_str("</div>");
        if !self.strata_referrals.is_empty() {
            let by: Vec<&str> = self
                .strata_referrals
                .keys()
                .next()
                .into_iter()
                .flatten()
                .map(|(d, _)| d.id())
                .collect();
            let _ = write!(
                page,
                "<h2>Change by {}</h2><p>Mean paired change (follow-up minus baseline) with its 95% confidence interval; right of the line is a rise.</p>",
                esc(&by.join(" and "))
            );
            for m in self.instruments.keys() {
                page.push_str(&self.forest(*m, &json));
            }
        }
        page.push_str("<h2>Figures</h2>");
        page.push_str(&table(&json));
        page.push_str("</body></html>\n");
        page
    }

    fn rule_text(&self) -> String {
        if self.rule.suppress_up_to == 0 && self.rule.round_to <= 1 {
            "UNSUPPRESSED: exact figures for local checking, not for publication".to_owned()
        } else {
            format!(
                "counts of 1 to {} suppressed, others rounded to the nearest {}",
                self.rule.suppress_up_to, self.rule.round_to
            )
        }
    }

    /// Horizontal bars: referrals, with a response, then each measure's baseline,
    /// follow-up and pairs.
    fn funnel(&self, json: &Value) -> String {
        let mut rows: Vec<(String, Value, &str)> = vec![
            ("Referrals".into(), json["referrals"].clone(), "#54a24b"),
            (
                "With a usable response".into(),
                json["referralsWithResponse"].clone(),
                "#54a24b",
            ),
        ];
        for r in json["instruments"].as_array().into_iter().flatten() {
            let id = r["instrument"].as_str().unwrap_or_default();
            for (k, what, colour) in [
                ("baseline", "baseline", BASELINE),
                ("followUp", "follow-up", FOLLOW_UP),
                ("pairs", "pair", "#72b7b2"),
            ] {
                rows.push((format!("{id}: with a {what}"), r[k].clone(), colour));
            }
        }
        let max = rows
            .iter()
            .filter_map(|(_, v, _)| v.as_f64())
            .fold(1.0, f64::max);
        let (left, bar_w, h) = (260.0, WIDTH - 340.0, 20.0);
        let height = rows.len() as f64 * h + 10.0;
        let mut svg = format!(
            "<svg role=\"img\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\"><title>Completeness funnel</title>"
        );
        for (i, (name, value, colour)) in rows.iter().enumerate() {
            let y = i as f64 * h + 5.0;
            let (text, n) = shown(value);
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 8.0,
                y + 14.0,
                esc(name)
            );
            let w = n.map_or(0.0, |n| n / max * bar_w);
            if n.is_some() {
                let _ = write!(
                    svg,
                    "<rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"/>",
                    h - 4.0
                );
            }
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" class=\"n\">{text}</text>",
                left + w + 6.0,
                y + 14.0
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// Baseline and follow-up histograms of one measure, each bin published by the rule.
    fn histogram(&self, m: Measure, baselines: &[f64], follow_ups: &[f64]) -> String {
        let (lo, width, n) = bins(m);
        let count = |values: &[f64]| {
            let mut c = vec![0u64; n];
            for v in values {
                let i = ((v - lo) / width).floor().clamp(0.0, (n - 1) as f64) as usize;
                c[i] += 1;
            }
            // The bins add up to the published count: one hidden bin alone could be
            // recovered by subtraction, so complementary suppression applies.
            let table: Vec<Vec<u64>> = c.iter().map(|&x| vec![x]).collect();
            let hidden = complementary(&self.rule, &table);
            c.iter()
                .zip(hidden)
                .map(|(&x, h)| if h { None } else { self.rule.publish(x) })
                .collect::<Vec<Option<u64>>>()
        };
        let (b, f) = (count(baselines), count(follow_ups));
        let max = b
            .iter()
            .chain(&f)
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let (left, top, plot_w, plot_h) = (40.0, 24.0, 300.0, 140.0);
        let slot = plot_w / n as f64;
        let mut svg = format!(
            "<figure><svg role=\"img\" viewBox=\"0 0 360 200\" width=\"360\" height=\"200\"><title>{}: baseline and follow-up</title>",
            esc(label(m))
        );
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" class=\"axis\"/>",
            top + plot_h,
            left + plot_w
        );
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"n\">{}</text>",
            left - 4.0,
            top + 4.0,
            max as u64
        );
        let mut hidden = 0;
        for i in 0..n {
            let x = left + i as f64 * slot;
            for (series, colour, dx) in [(&b, BASELINE, 1.0), (&f, FOLLOW_UP, slot / 2.0)] {
                match series[i] {
                    Some(c) => {
                        let h = c as f64 / max * plot_h;
                        let _ = write!(
                            svg,
                            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{c}</title></rect>",
                            x + dx,
                            top + plot_h - h,
                            (slot / 2.0 - 1.0).max(1.0)
                        );
                    }
                    None => hidden += 1,
                }
            }
            if i % 2 == 0 || n <= 11 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" class=\"n\">{}</text>",
                    x + slot / 2.0,
                    top + plot_h + 14.0,
                    lo + i as f64 * width
                );
            }
        }
        svg.push_str("</svg>");
        let _ = write!(
            svg,
            "<figcaption>{}{}</figcaption></figure>",
            esc(label(m)),
            if hidden > 0 {
                format!(" · {hidden} small bins suppressed")
            } else {
                String::new()
            }
        );
        svg
    }

    /// Mean change and 95% interval per stratum for one measure.
    fn forest(&self, m: Measure, json: &Value) -> String {
        let rows: Vec<(String, Option<Change>)> = json["strata"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(self.strata_referrals.keys())
            .filter_map(|(s, key)| {
                let r = s["instruments"]
                    .as_array()?
                    .iter()
                    .find(|r| r["instrument"] == m.id())?;
                let mean = r["meanChange"].as_f64().map(|mean| {
                    let ci = r["ci95"]
                        .as_array()
                        .and_then(|c| Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?)));
                    (mean, ci)
                });
                Some((stratum_text(key), mean))
            })
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        let extent = rows
            .iter()
            .filter_map(|(_, v)| *v)
            .flat_map(|(mean, ci)| {
                let (lo, hi) = ci.unwrap_or((mean, mean));
                [mean.abs(), lo.abs(), hi.abs()]
            })
            .fold(1.0, f64::max);
        let (left, plot_w, h) = (300.0, WIDTH - 340.0, 20.0);
        let x = |v: f64| left + (v / extent + 1.0) / 2.0 * plot_w;
        let height = rows.len() as f64 * h + 30.0;
        let mut svg = format!(
            "<figure><figcaption>{0}</figcaption><svg role=\"img\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\"><title>{0}: change by stratum</title>",
            esc(label(m))
        );
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"{1}\" class=\"axis\"/>",
            x(0.0),
            height - 20.0
        );
        for (v, anchor) in [(-extent, "start"), (0.0, "middle"), (extent, "end")] {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\" class=\"n\">{:+.1}</text>",
                x(v),
                height - 6.0,
                v
            );
        }
        for (i, (name, value)) in rows.iter().enumerate() {
            let y = i as f64 * h + 12.0;
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 8.0,
                y + 4.0,
                esc(name)
            );
            match value {
                Some((mean, ci)) => {
                    if let Some((lo, hi)) = ci {
                        let _ = write!(
                            svg,
                            "<line x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" class=\"ci\"/>",
                            x(*lo),
                            x(*hi)
                        );
                    }
                    let _ = write!(
                        svg,
                        "<circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"{FOLLOW_UP}\"><title>{mean:+.2}</title></circle>",
                        x(*mean)
                    );
                }
                None => {
                    let _ = write!(
                        svg,
                        "<text x=\"{left}\" y=\"{}\" class=\"n\">suppressed</text>",
                        y + 4.0
                    );
                }
            }
        }
        svg.push_str("</svg></figure>");
        svg
    }
}

/// The published figures per measure, as a table.
fn table(json: &Value) -> String {
    const COLUMNS: [(&str, &str); 10] = [
        ("referrals", "Referrals"),
        ("baseline", "Baseline"),
        ("followUp", "Follow-up"),
        ("pairs", "Pairs"),
        ("meanBaseline", "Mean baseline"),
        ("meanFollowUp", "Mean follow-up"),
        ("meanChange", "Mean change"),
        ("improved", "Improved"),
        ("noChange", "No change"),
        ("worse", "Worse"),
    ];
    let mut t = String::from("<table><thead><tr><th>Measure</th>");
    for (_, name) in COLUMNS {
        let _ = write!(t, "<th>{name}</th>");
    }
    t.push_str("<th>95% CI</th></tr></thead><tbody>");
    for r in json["instruments"].as_array().into_iter().flatten() {
        let id = r["instrument"].as_str().unwrap_or_default();
        let name = Measure::from_id(id).map_or_else(|| id.to_owned(), |m| label(m).to_owned());
        let _ = write!(t, "<tr><th>{}</th>", esc(&name));
        for (k, _) in COLUMNS {
            let cell = match &r[k] {
                Value::Null => "–".to_owned(),
                v => v.to_string(),
            };
            let _ = write!(t, "<td>{}</td>", esc(&cell));
        }
        let ci = r["ci95"].as_array().map_or("–".to_owned(), |c| {
            format!(
                "{} to {}",
                c.first().unwrap_or(&Value::Null),
                c.get(1).unwrap_or(&Value::Null)
            )
        });
        let _ = write!(t, "<td>{}</td></tr>", esc(&ci));
    }
    t.push_str("</tbody></table><p class=\"meta\">– : suppressed or not enough pairs.</p>");
    t
}

const CSS: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em}\
.meta{color:#555}.key .sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px}\
svg text{font-size:12px;fill:#222}svg .n{fill:#555;font-size:11px}\
.axis{stroke:#888}.ci{stroke:#333;stroke-width:2}\
.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:13px;color:#333}\
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}\
tbody th{text-align:left;font-weight:normal}";
