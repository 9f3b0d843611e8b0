//! A QuestionnaireResponse against the Questionnaire its `questionnaire` canonical names
//! (resolved from the loaded packages and `--load`ed files).
//!
//! Checked: every response item's linkId exists at its level and items come in the
//! Questionnaire's order; items and answers repeat only where `repeats` allows; answer
//! types fit item types; answers are among `answerOption` or in `answerValueSet`; min/max
//! value, min/max length and the `regex` extension; groups and display items carry no
//! answers; nested items (under groups, and under answers of questions); `enableWhen` with
//! `enableBehavior` and the SDC `enableWhenExpression`. A disabled item must have no
//! answers; a disabled required item is not required. Required items are enforced once
//! the response says it is `completed` or `amended` (an `in-progress` response may be
//! partial: a warning until then). A response item's `text` is its question's; items under
//! a question go under its answers; `authored` falls within the Questionnaire's
//! `effectivePeriod`.
//!
//! Messages name the item by linkId and question text; answers are never quoted (they are
//! patient data), except codes.

use spfhir_element::msg;

pub(super) mod definition;
mod sdc;
use std::cmp::Ordering;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::walk::Walk;
use crate::fhirpath::Value;
use crate::fhirpath::eval::root_node;
use crate::issue::Issue;
use crate::json::Json;
use crate::terminology::Membership;

const EXT_MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
const EXT_MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
const EXT_MIN_LENGTH: &str = "http://hl7.org/fhir/StructureDefinition/minLength";
const EXT_REGEX: &str = "http://hl7.org/fhir/StructureDefinition/regex";
const EXT_ENABLE_WHEN_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";

/// Check `qr` (at `path`) against its Questionnaire.
pub(super) fn check<'a>(w: &mut Walk<'a>, qr: &'a Json, path: &str) {
    let Some(canonical) = qr.get("questionnaire") else {
        return;
    };
    let Some(url) = canonical.as_str() else {
        return; // wrong JSON kind: reported by the structural walk
    };
    // `#id` names a Questionnaire contained in the response itself, found as every `#id`
    // reference is.
    let contained = url.starts_with('#');
    let found = if contained {
        let scope = crate::json::reference::Scope {
            container: Some(qr),
            ..Default::default()
        };
        crate::json::reference::resolve(url, &scope).map(|c| Arc::new(c.clone()))
    } else {
        w.v.registry().resolve(url)
    };
    let questionnaire = match found {
        Some(q) if q.get_str("resourceType") == Some("Questionnaire") => q,
        Some(_) => {
            w.push(
                Issue::error(
                    msg::QR_QUESTIONNAIRE_WRONG_TYPE,
                    format!("{url} is not a Questionnaire"),
                )
                .at(format!("{path}.questionnaire"))
                .at_node(canonical),
            );
            return;
        }
        None => {
            let why = if contained {
                "is not among the response's contained resources"
            } else {
                "is not loaded"
            };
            w.push(
                Issue::warning(msg::QR_QUESTIONNAIRE_UNKNOWN,
                    format!(
                        "Questionnaire {url} {why}, so the answers were not checked against it (add it with --load or its package with --package-path)"
                    ),
                )
                .at(format!("{path}.questionnaire"))
                .at_node(canonical),
            );
            return;
        }
    };
    let complete = matches!(qr.get_str("status"), Some("completed" | "amended"));
    let mut c = Check {
        w,
        qr,
        questionnaire: questionnaire.clone(),
        contained,
        complete,
        scopes: Vec::new(),
    };
    let q: &Json = &questionnaire;
    c.authored_in_period(q, path);
    c.level(items(q), items(qr), qr, path, true);
}

fn items(v: &Json) -> &[Json] {
    v.get("item").and_then(Json::as_array).unwrap_or(&[])
}

fn answers(v: &Json) -> &[Json] {
    v.get("answer").and_then(Json::as_array).unwrap_or(&[])
}

/// The `value[x]` member of an answer (or `answer[x]` of an enableWhen): (type suffix, value).
fn value_x<'j>(v: &'j Json, prefix: &str) -> Option<(&'j str, &'j Json)> {
    v.as_object()?
        .iter()
        .find_map(|(k, val)| Some((k.strip_prefix(prefix)?, val)))
        .filter(|(suffix, _)| suffix.starts_with(|c: char| c.is_ascii_uppercase()))
}

fn extension<'j>(item: &'j Json, url: &str) -> Option<&'j Json> {
    item.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get_str("url") == Some(url))
}

/// `'linkId' ("question text")`, the text cut at 80 characters; the linkId alone when the
/// text may not be quoted.
fn label_of(q: &Json, quote_text: bool) -> String {
    let id = q.get_str("linkId").unwrap_or("?");
    match q.get_str("text").filter(|_| quote_text) {
        Some(t) if t.chars().count() > 80 => {
            format!("'{id}' (\"{}…\")", t.chars().take(79).collect::<String>())
        }
        Some(t) => format!("'{id}' (\"{t}\")"),
        None => format!("'{id}'"),
    }
}

/// Answer value types each item type takes (`choice` and `open-choice` also take the types
/// of their answer options).
fn answer_types(item_type: &str) -> &'static [&'static str] {
    match item_type {
        "boolean" => &["Boolean"],
        "decimal" => &["Decimal"],
        "integer" => &["Integer"],
        "date" => &["Date"],
        "dateTime" => &["DateTime"],
        "time" => &["Time"],
        "string" | "text" => &["String"],
        "url" => &["Uri"],
        "choice" => &["Coding"],
        "open-choice" => &["Coding", "String"],
        "attachment" => &["Attachment"],
        "reference" => &["Reference"],
        "quantity" => &["Quantity"],
        _ => &[],
    }
}

struct Check<'w, 'a> {
    w: &'w mut Walk<'a>,
    qr: &'a Json,
    questionnaire: Arc<Json>,
    /// The Questionnaire is contained in the response (`#id`), so its texts are not quoted.
    contained: bool,
    complete: bool,
    /// Response item lists from the top down to the level being checked, where enableWhen
    /// looks for the questions it depends on (nearest first).
    scopes: Vec<&'a [Json]>,
}

impl<'a> Check<'_, 'a> {
    fn push(&mut self, issue: Issue) {
        self.w.push(issue);
    }

    /// How messages name item `q`: with its question text, unless the Questionnaire is
    /// contained in the response, whose every word may be patient data.
    fn label(&self, q: &Json) -> String {
        label_of(q, !self.contained)
    }

    /// `authored` within the Questionnaire's `effectivePeriod` (R4: "the period during which
    /// the questionnaire content was or is planned to be in active use"). Where precision
    /// or time zones leave the order open, nothing is said.
    fn authored_in_period(&mut self, q: &Json, path: &str) {
        use spfhir_fhirpath::value::Temporal;
        let (Some(period), Some(node)) = (q.get("effectivePeriod"), self.qr.get("authored")) else {
            return;
        };
        let Some(authored) = node.as_str().and_then(Temporal::parse_date_time) else {
            return;
        };
        for (bound, wrong, word) in [
            ("start", Ordering::Less, "before the start"),
            ("end", Ordering::Greater, "after the end"),
        ] {
            let limit = period.get_str(bound).and_then(Temporal::parse_date_time);
            if limit.and_then(|l| authored.compare(&l)) == Some(wrong) {
                self.push(
                    Issue::warning(
                        msg::QR_AUTHORED_OUTSIDE_PERIOD,
                        format!(
                            "the response was authored {word} of its Questionnaire's effective period"
                        ),
                    )
                    .at(format!("{path}.authored"))
                    .at_node(node),
                );
            }
        }
    }

    /// One level: the Questionnaire's `q_items` against the response's `r_items`, found in
    /// `parent` (at `path`). `enabled` is false below a disabled item.
    fn level(
        &mut self,
        q_items: &[Json],
        r_items: &'a [Json],
        parent: &'a Json,
        path: &str,
        enabled: bool,
    ) {
        self.scopes.push(r_items);
        let mut last = 0;
        let mut seen = vec![0usize; q_items.len()];
        for (i, r) in r_items.iter().enumerate() {
            let at = crate::sub_path(path, ".item", Some(i));
            let Some(link) = r.get_str("linkId") else {
                continue; // linkId is 1..1: reported by the structural walk
            };
            let Some(qi) = q_items
                .iter()
                .position(|q| q.get_str("linkId") == Some(link))
            else {
                let msg = match find_anywhere(&self.questionnaire, link) {
                    Some(q) => format!(
                        "item '{link}' is not expected here: in the Questionnaire, item {} is not at this level",
                        self.label(q)
                    ),
                    None => format!(
                        "item '{link}' is not in the Questionnaire {}",
                        self.qr.get_str("questionnaire").unwrap_or("")
                    ),
                };
                self.push(Issue::error(msg::QR_ITEM_UNKNOWN, msg).at(&at).at_node(r));
                continue;
            };
            let q = &q_items[qi];
            if qi < last {
                self.push(
                    Issue::error(msg::QR_ITEM_ORDER,
                        format!(
                            "item {} is out of order: it must come before item {}, as in the Questionnaire",
                            self.label(q),
                            self.label(&q_items[last])
                        ),
                    )
                    .at(&at)
                    .at_node(r),
                );
            }
            last = last.max(qi);
            seen[qi] += 1;
            if seen[qi] == 2 && !q.get("repeats").and_then(Json::as_bool).unwrap_or(false) {
                let what = if q.get_str("type") == Some("group") {
                    "group does not repeat"
                } else {
                    "question does not repeat (several answers go in one item's answer list, and only when the item repeats)"
                };
                self.push(
                    Issue::error(
                        msg::QR_ITEM_REPEATS,
                        format!(
                            "item {} appears more than once, but the {what}",
                            self.label(q)
                        ),
                    )
                    .at(&at)
                    .at_node(r),
                );
            }
            let on = enabled && self.enabled(q, Some(r), parent, &at);
            self.item(q, r, &at, on);
        }
        // Required items with no response item (or no answers): an error once the response
        // is complete, a warning while it is in progress (it may be partial).
        if enabled {
            for (qi, q) in q_items.iter().enumerate() {
                let required = q.get("required").and_then(Json::as_bool).unwrap_or(false);
                if !required || q.get_str("type") == Some("display") {
                    continue;
                }
                let link = q.get_str("linkId");
                let answered = r_items
                    .iter()
                    .filter(|r| r.get_str("linkId") == link)
                    .any(|r| has_content(q, r));
                if answered || !self.enabled(q, None, parent, path) {
                    continue;
                }
                let what = match (seen[qi] > 0, q.get_str("type")) {
                    (false, _) => "is missing",
                    (true, Some("group")) => "has no items",
                    (true, _) => "has no answer",
                };
                let issue = if self.complete {
                    // `completed` or `amended`, so the status quoted is one of those two.
                    let status = self.qr.get_str("status").unwrap_or("completed");
                    Issue::error(
                        msg::QR_ITEM_REQUIRED,
                        format!(
                            "item {} is required and enabled, but {what} (the response's status is {status})",
                            self.label(q)
                        ),
                    )
                } else {
                    Issue::warning(
                        msg::QR_ITEM_UNANSWERED,
                        format!(
                            "item {} is required and enabled, but {what}; the response is not completed yet, but the item must be answered before it is",
                            self.label(q)
                        ),
                    )
                };
                self.push(issue.at(path).at_node(parent));
            }
        }
        if enabled {
            for q in q_items {
                self.occurs(q, r_items, parent, path);
            }
        }
        self.scopes.pop();
    }

    /// One response item `r` for Questionnaire item `q`.
    fn item(&mut self, q: &Json, r: &'a Json, at: &str, enabled: bool) {
        let ty = q.get_str("type").unwrap_or("");
        // The response may repeat the question's text, and then only as the Questionnaire
        // words it (R4: "the text of the question being answered"), as the reference
        // validator has it.
        if let Some(text) = r.get("text")
            && text.as_str().is_some_and(|t| Some(t) != q.get_str("text"))
        {
            self.push(
                Issue::error(
                    msg::QR_ITEM_TEXT,
                    format!(
                        "item {} gives a text that is not its Questionnaire item's text; give it as the Questionnaire words it, or leave it out",
                        self.label(q)
                    ),
                )
                .at(format!("{at}.text"))
                .at_node(text),
            );
        }
        let answers = answers(r);
        if !enabled && (!answers.is_empty() || has_content(q, r)) {
            self.push(
                Issue::error(msg::QR_ITEM_DISABLED,
                    format!(
                        "item {} has answers, but it is disabled by its enableWhen conditions, so it must not",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(r),
            );
            return; // what is below a disabled item is not checked again
        }
        if matches!(ty, "group" | "display") {
            if let Some(a) = r.get("answer") {
                self.push(
                    Issue::error(
                        msg::QR_ANSWER_NOT_ALLOWED,
                        format!(
                            "item {} is a {ty} item, which takes no answers",
                            self.label(q)
                        ),
                    )
                    .at(format!("{at}.answer"))
                    .at_node(a),
                );
            }
            if ty == "display" {
                if let Some(i) = r.get("item") {
                    self.push(
                        Issue::error(
                            msg::QR_ANSWER_NOT_ALLOWED,
                            format!(
                                "item {} is a display item, which has no nested items",
                                self.label(q)
                            ),
                        )
                        .at(format!("{at}.item"))
                        .at_node(i),
                    );
                }
                return;
            }
            self.level(items(q), items(r), r, at, enabled);
            return;
        }
        if answers.len() > 1 && !q.get("repeats").and_then(Json::as_bool).unwrap_or(false) {
            self.push(
                Issue::error(
                    msg::QR_ANSWER_REPEATS,
                    format!(
                        "item {} has {} answers, but it does not repeat: only one is allowed",
                        self.label(q),
                        answers.len()
                    ),
                )
                .at(format!("{at}.answer"))
                .at_node(r.get("answer").unwrap_or(r)),
            );
        }
        self.exclusive(q, r, at);
        for (j, a) in answers.iter().enumerate() {
            let at_a = crate::sub_path(at, ".answer", Some(j));
            self.answer(q, ty, a, &at_a);
            // Items nested under a question's answer.
            self.level(items(q), items(a), a, &at_a, enabled);
        }
        if let Some(nested) = r.get("item") {
            // Items under a question go under each of its answers (R4: "nesting must occur
            // within each answer"); only groups hold items directly. Still checked here.
            self.push(
                Issue::error(
                    msg::QR_ITEM_NESTING,
                    format!(
                        "item {} is a question, so the items nested under it go under its answers (answer.item), not in its own item list",
                        self.label(q)
                    ),
                )
                .at(format!("{at}.item"))
                .at_node(nested),
            );
            self.level(items(q), items(r), r, at, enabled);
        }
    }

    fn answer(&mut self, q: &Json, ty: &str, a: &'a Json, at: &str) {
        let Some((vt, v)) = value_x(a, "value") else {
            return; // no value[x]: the base profile's cardinality reports it
        };
        let at = [at, ".value", vt].concat();
        let options = q
            .get("answerOption")
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        let allowed = answer_types(ty);
        let option_type = options
            .iter()
            .filter_map(|o| value_x(o, "value"))
            .any(|(ot, _)| ot == vt);
        if !allowed.contains(&vt) && !option_type {
            // A type that takes no answers here is not one of R4's answerable item types
            // (its own required binding says so), so it is not quoted.
            let text = if allowed.is_empty() {
                format!(
                    "item {} has no type that takes answers, so it can have no value{vt}",
                    self.label(q)
                )
            } else {
                let want = allowed
                    .iter()
                    .map(|t| format!("value{t}"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                format!(
                    "item {} is of type {ty}, so its answer must be {want}, not value{vt}",
                    self.label(q)
                )
            };
            self.push(Issue::error(msg::QR_ANSWER_TYPE, text).at(&at).at_node(v));
            return;
        }
        let free_text = ty == "open-choice" && vt == "String";
        if !options.is_empty() && !free_text {
            let found = options
                .iter()
                .filter_map(|o| value_x(o, "value"))
                .any(|(ot, ov)| ot == vt && same_answer(vt, ov, v));
            if !found {
                let code = if vt == "Coding" {
                    v.get_str("code")
                        .map(|c| format!(" (code '{c}')"))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                let msg = format!(
                    "the answer{code} to item {} is not one of its {} answer options",
                    self.label(q),
                    options.len()
                );
                let issue = if ty == "open-choice" {
                    Issue::warning(msg::QR_ANSWER_OPTION, msg)
                } else {
                    Issue::error(msg::QR_ANSWER_OPTION, msg)
                };
                self.push(issue.at(&at).at_node(v));
            }
        }
        if let (Some(vs), "Coding") = (q.get_str("answerValueSet"), vt) {
            self.value_set(q, ty, vs, v, &at);
        }
        self.limits(q, vt, v, &at);
        self.sdc_answer(q, vt, v, &at);
    }

    fn value_set(&mut self, q: &Json, ty: &str, vs: &str, v: &'a Json, at: &str) {
        let Some(code) = v.get_str("code") else {
            return;
        };
        match self.w.v.terminology().member(vs, v.get_str("system"), code) {
            Membership::Member => {}
            Membership::Unknown(why) => self.w.unchecked(at, v, vs, &why),
            Membership::NotMember => {
                let msg = format!(
                    "the answer (code '{code}') to item {} is not in its answer value set {vs}",
                    self.label(q)
                );
                let issue = if ty == "open-choice" {
                    Issue::warning(msg::QR_ANSWER_VALUESET, msg)
                } else {
                    Issue::error(msg::QR_ANSWER_VALUESET, msg)
                };
                self.push(issue.at(at).at_node(v));
            }
        }
    }

    /// minValue/maxValue, maxLength/minLength and regex.
    fn limits(&mut self, q: &Json, vt: &str, v: &Json, at: &str) {
        for (url, want, word) in [
            (EXT_MIN_VALUE, Ordering::Less, "below the minimum"),
            (EXT_MAX_VALUE, Ordering::Greater, "above the maximum"),
        ] {
            let Some(limit) = extension(q, url).and_then(|e| value_x(e, "value")) else {
                continue;
            };
            let order = if (limit.0, vt) == ("Quantity", "Quantity") {
                match quantity_order(limit.1, v) {
                    Ok(order) => Some(order),
                    Err(why) => {
                        self.push(
                            Issue::error(
                                msg::QR_ANSWER_QUANTITY,
                                format!(
                                    "the answer to item {} cannot be checked against its {}: {why}",
                                    self.label(q),
                                    if want == Ordering::Less {
                                        "minimum"
                                    } else {
                                        "maximum"
                                    }
                                ),
                            )
                            .at(at)
                            .at_node(v),
                        );
                        continue;
                    }
                }
            } else {
                compare(limit.0, limit.1, vt, v)
            };
            if order == Some(want.reverse()) {
                let shown = match limit.0 {
                    "Quantity" => crate::quantity_text(limit.1),
                    _ => limit
                        .1
                        .as_str()
                        .map_or_else(|| limit.1.to_compact(), str::to_string),
                };
                self.push(
                    Issue::error(
                        msg::QR_ANSWER_RANGE,
                        format!("the answer to item {} is {word} {shown}", self.label(q)),
                    )
                    .at(at)
                    .at_node(v),
                );
            }
        }
        let Some(text) = v.as_str().filter(|_| matches!(vt, "String" | "Uri")) else {
            return;
        };
        let len = text.chars().count();
        let max = q.get("maxLength").and_then(Json::as_i64);
        let min = extension(q, EXT_MIN_LENGTH)
            .and_then(|e| e.get("valueInteger"))
            .and_then(Json::as_i64);
        for (limit, long) in [(max, true), (min, false)] {
            let Some(limit) = limit else { continue };
            if (long && len as i64 > limit) || (!long && (len as i64) < limit) {
                let word = if long { "at most" } else { "at least" };
                self.push(
                    Issue::error(msg::QR_ANSWER_LENGTH,
                        format!(
                            "the answer to item {} has {len} characters; it must have {word} {limit}",
                            self.label(q)
                        ),
                    )
                    .at(at)
                    .at_node(v),
                );
            }
        }
        // R4: a `string` item takes "a short (few words to short sentence)" answer; several
        // lines are what a `text` item is for (a warning, as the reference validator has it).
        if vt == "String" && q.get_str("type") == Some("string") && text.contains(['\r', '\n']) {
            self.push(
                Issue::warning(
                    msg::QR_ANSWER_LINE_BREAK,
                    format!(
                        "the answer to item {} has a line break, but the item is of type string (one line); several lines need an item of type text",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(v),
            );
        }
        if let Some(pattern) = extension(q, EXT_REGEX).and_then(|e| e.get_str("valueString")) {
            match self.w.v.regex(pattern) {
                Some(re) if !re.is_match(text) => self.push(
                    Issue::error(msg::QR_ANSWER_REGEX,
                        format!(
                            "the answer to item {} does not match the pattern {pattern}",
                            self.label(q)
                        ),
                    )
                    .at(at)
                    .at_node(v),
                ),
                Some(_) => {}
                None => self.push(
                    Issue::warning(msg::QR_REGEX_INVALID,
                        format!(
                            "item {} has a regex extension that is not a valid regular expression, so the answer was not checked against it",
                            self.label(q)
                        ),
                    )
                    .at(at)
                    .at_node(v),
                ),
            }
        }
    }

    /// Is Questionnaire item `q` enabled? `r` is its response item when there is one,
    /// `parent` the response element it sits (or would sit) in.
    fn enabled(&mut self, q: &Json, r: Option<&'a Json>, parent: &'a Json, at: &str) -> bool {
        if let Some(expr) = extension(q, EXT_ENABLE_WHEN_EXPRESSION)
            .and_then(|e| e.get("valueExpression"))
            .and_then(|e| e.get_str("expression"))
        {
            return self.enable_when_expression(q, expr, r.unwrap_or(parent), at);
        }
        let Some(conditions) = q.get("enableWhen").and_then(Json::as_array) else {
            return true;
        };
        let any = q.get_str("enableBehavior") == Some("any");
        let mut results = conditions.iter().map(|c| self.condition(c));
        if any {
            results.any(|b| b)
        } else {
            results.all(|b| b)
        }
    }

    fn enable_when_expression(&mut self, q: &Json, expr: &str, focus: &'a Json, at: &str) -> bool {
        let compiled = match self.w.v.fhirpath.get(expr) {
            Ok(c) => c,
            Err(e) => {
                return self.expression_failed(
                    q,
                    &format!("is not valid FHIRPath ({e})"),
                    focus,
                    at,
                );
            }
        };
        let node = root_node(focus, &self.w.v.model);
        match compiled.evaluate_on(vec![node], &self.w.env).as_deref() {
            Ok([Value::Bool(b)]) => *b,
            Ok([]) => false,
            Ok(_) => self.expression_failed(q, "did not give a single boolean", focus, at),
            Err(e)
                if self.w.over_budget(
                    e,
                    &format!("the enableWhenExpression of item {}", self.label(q)),
                    at,
                    focus,
                ) =>
            {
                true
            }
            Err(e) => {
                self.expression_failed(q, &format!("could not be evaluated ({e})"), focus, at)
            }
        }
    }

    /// Warn that an enableWhenExpression failed (`why`); the item counts as enabled.
    fn expression_failed(&mut self, q: &Json, why: &str, focus: &Json, at: &str) -> bool {
        let msg = format!(
            "the enableWhenExpression of item {} {why}; the item is treated as enabled",
            self.label(q)
        );
        self.push(
            Issue::warning(msg::QR_ENABLE_WHEN_EXPRESSION, msg)
                .at(at)
                .at_node(focus),
        );
        true
    }

    /// One enableWhen condition, against the answers of its question in the nearest scope
    /// that has that question.
    fn condition(&self, c: &Json) -> bool {
        let (Some(question), Some(op)) = (c.get_str("question"), c.get_str("operator")) else {
            return true; // malformed condition: que-* invariants report it on the Questionnaire
        };
        let Some((wt, want)) = value_x(c, "answer") else {
            return true;
        };
        let mut found: Vec<&Json> = Vec::new();
        for scope in self.scopes.iter().rev() {
            collect_answers(scope, question, &mut found);
            if !found.is_empty() {
                break;
            }
        }
        let values: Vec<(&str, &Json)> = found.iter().filter_map(|a| value_x(a, "value")).collect();
        if op == "exists" {
            let want_answers = want.as_bool().unwrap_or(true);
            let has_answers = !values.is_empty();
            return want_answers == has_answers;
        }
        if values.is_empty() {
            return false;
        }
        match op {
            "=" => values
                .iter()
                .any(|(t, v)| same_answer_types(wt, want, t, v)),
            "!=" => !values
                .iter()
                .any(|(t, v)| same_answer_types(wt, want, t, v)),
            ">" | "<" | ">=" | "<=" => values.iter().any(|(t, v)| match compare(t, v, wt, want) {
                Some(o) => match op {
                    ">" => o == Ordering::Greater,
                    "<" => o == Ordering::Less,
                    ">=" => o != Ordering::Less,
                    _ => o != Ordering::Greater,
                },
                None => false,
            }),
            _ => true,
        }
    }
}

/// Does a response item carry anything: answers, or (for groups) nested items?
fn has_content(q: &Json, r: &Json) -> bool {
    if q.get_str("type") == Some("group") {
        !items(r).is_empty()
    } else {
        !answers(r).is_empty()
    }
}

/// Answers of every response item with `link_id` in `scope` and below.
fn collect_answers<'j>(scope: &'j [Json], link_id: &str, out: &mut Vec<&'j Json>) {
    for r in scope {
        if r.get_str("linkId") == Some(link_id) {
            out.extend(answers(r));
        }
        collect_answers(items(r), link_id, out);
        for a in answers(r) {
            collect_answers(items(a), link_id, out);
        }
    }
}

/// The Questionnaire item `link_id` at any depth.
fn find_anywhere<'j>(q: &'j Json, link_id: &str) -> Option<&'j Json> {
    items(q).iter().find_map(|i| {
        if i.get_str("linkId") == Some(link_id) {
            Some(i)
        } else {
            find_anywhere(i, link_id)
        }
    })
}

/// Equal answers of one type: Codings by system and code (a missing system on the option
/// side matches any), the rest by value.
fn same_answer(ty: &str, option: &Json, v: &Json) -> bool {
    same_answer_types(ty, option, ty, v)
}

fn same_answer_types(ta: &str, a: &Json, tb: &str, b: &Json) -> bool {
    match (ta, tb) {
        ("Coding", "Coding") => {
            a.get_str("code") == b.get_str("code")
                && match (a.get_str("system"), b.get_str("system")) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                }
        }
        ("Reference", "Reference") => a.get_str("reference") == b.get_str("reference"),
        _ => compare(ta, a, tb, b) == Some(Ordering::Equal),
    }
}

/// A quantity limit against a quantity answer (or any two quantities, in that order), after
/// UCUM conversion: both need formal units (UCUM's system and a code), of one dimension.
fn quantity_order(limit: &Json, answer: &Json) -> Result<Ordering, String> {
    fn formal(q: &Json) -> Option<&str> {
        (q.get_str("system") == Some(crate::UCUM))
            .then(|| q.get_str("code"))
            .flatten()
    }
    let value = |q: &Json| {
        q.get("value")
            .and_then(Json::as_number_text)
            .and_then(|n| Decimal::from_str(n).ok())
    };
    let (Some(lu), Some(au)) = (formal(limit), formal(answer)) else {
        return Err("a quantity limit is compared in UCUM units, and the answer or the limit has no UCUM code".into());
    };
    let (Some(lv), Some(av)) = (value(limit), value(answer)) else {
        return Err("the answer or the limit has no value".into());
    };
    spfhir_fhirpath::value::compare_quantities((&lv, lu), (&av, au))
        .ok_or_else(|| format!("the answer's unit is not of the same kind as the limit's ('{lu}'), so they cannot be compared"))
}

/// Order two answer values: numbers numerically, quantities by value after UCUM conversion
/// (or in one unit, when not UCUM), dates, times and strings by text, booleans
/// false < true. `None` when they cannot be compared.
fn compare(ta: &str, a: &Json, tb: &str, b: &Json) -> Option<Ordering> {
    let number = |t: &str, v: &Json| -> Option<Decimal> {
        matches!(t, "Integer" | "Decimal")
            .then(|| v.as_number_text().and_then(|n| Decimal::from_str(n).ok()))
            .flatten()
    };
    if let (Some(x), Some(y)) = (number(ta, a), number(tb, b)) {
        return Some(x.cmp(&y));
    }
    match (ta, tb) {
        ("Quantity", "Quantity") => {
            // In UCUM units, after conversion (300 [lb_av] > 100 kg); otherwise only in
            // the same unit.
            if let Ok(order) = quantity_order(a, b) {
                return Some(order);
            }
            let unit = |q: &Json| q.get_str("code").or(q.get_str("unit")).map(str::to_string);
            if unit(a) != unit(b) {
                return None;
            }
            let x = number("Decimal", a.get("value")?)?;
            let y = number("Decimal", b.get("value")?)?;
            Some(x.cmp(&y))
        }
        ("Boolean", "Boolean") => Some(a.as_bool()?.cmp(&b.as_bool()?)),
        ("Date" | "DateTime", "Date" | "DateTime") | ("Time", "Time") => {
            let (x, y) = (a.as_str()?.as_bytes(), b.as_str()?.as_bytes());
            // Compare at the shared precision; a date against a dateTime compares the day.
            // (Bytes, not characters: a value that is not a date may hold any character,
            // and its own check reports it.)
            let n = x.len().min(y.len());
            Some(x[..n].cmp(&y[..n]))
        }
        ("String" | "Uri", "String" | "Uri") => Some(a.as_str()?.cmp(b.as_str()?)),
        _ => None,
    }
}
