//! OutcomeResponse ⇄ QuestionnaireResponse against spfhir's instrument Questionnaires.

use spfhir_element::msg;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::canonical::{self as c, codesystem, profile};
use crate::domain::instrument::{Instrument, ItemKind, METRIC_LINK_ID, TOTAL_LINK_ID};
use crate::domain::{Answer, OutcomeResponse, OutcomeStatus, Person, Scores, Timepoint};
use crate::issue::Issue;
use crate::json::{Builder, Json, Out};

use super::read::Reader;
use super::write::{
    Package, WriteOptions, coding, identifier, identifier_reference, record_digest, reference,
    sp_message_header, token, url,
};
use super::{Built, ToFhir, find_focus, read_sp_header, record_identifier};

code_table!(status_code, status_from, OutcomeStatus, [InProgress => "in-progress", Completed => "completed",
    Amended => "amended", EnteredInError => "entered-in-error", Stopped => "stopped"]);

fn timepoint_from(s: &str) -> Option<Timepoint> {
    [Timepoint::Baseline, Timepoint::FollowUp, Timepoint::Other]
        .into_iter()
        .find(|t| t.code() == s)
}

/// The Questionnaire canonical with version, as written in `QuestionnaireResponse.questionnaire`.
pub fn questionnaire_canonical(i: Instrument) -> String {
    format!("{}|{}", i.questionnaire_url(), c::PROFILES_VERSION)
}

fn answer_json<'a>(b: Builder<'a>, instrument: Instrument, a: &'a Answer) -> Out<'a> {
    let spec = instrument.item(&a.link_id);
    let value = match spec.map(|s| s.kind) {
        Some(ItemKind::Choice(scale)) => {
            let n = b.fmt(format_args!("{}", a.value));
            let display = n
                .parse::<usize>()
                .ok()
                .and_then(|i| scale.displays.get(i.wrapping_sub(1)))
                .copied();
            ("valueCoding", coding(b, scale.system, n, display))
        }
        Some(ItemKind::Decimal) => ("valueDecimal", b.decimal(a.value)),
        _ => ("valueInteger", b.decimal(a.value.normalize())),
    };
    b.obj()
        .with("linkId", a.link_id.as_str())
        .with_opt("text", spec.and_then(|s| s.text))
        .with("answer", b.one(b.obj().with(value.0, value.1)))
        .done()
}

impl ToFhir for OutcomeResponse {
    /// OutcomeResponse → FHIR Bundle. Scores are computed from the answers (any given must
    /// agree).
    fn build<'a>(
        &'a self,
        opts: &'a WriteOptions,
        b: Builder<'a>,
    ) -> Result<Built<'a>, Vec<Issue>> {
        let o = self;
        let scores = o
            .checked_scores()
            .map_err(|e| vec![Issue::error(msg::OUTCOME_INVALID, e.to_string()).at("answers")])?;
        let mut issues = Vec::new();
        if o.status == OutcomeStatus::Completed && o.instrument.has_total() {
            let missing = o.missing_items();
            if !missing.is_empty() {
                issues.push(
                Issue::warning(msg::OUTCOME_INCOMPLETE,
                    format!("the response is completed but items {} are unanswered, so it has no total score", missing.join(", ")),
                )
                .at("answers"),
            );
            }
        }
        let key = token(&o.identifier);
        let mut pkg = Package::new(opts.bundle, b);
        let qr_url = url(b, &["QuestionnaireResponse", &key]);
        pkg.add(qr_url, Out::Null, None);
        let patient = pkg.patient(&o.person, &key);
        pkg.flags(std::iter::empty(), &o.person, patient, &key);
        let mut items = b.vec();
        items.extend(o.answers.iter().map(|a| answer_json(b, o.instrument, a)));
        if let Some(total) = scores.total {
            items.push(
                b.obj()
                    .with("linkId", TOTAL_LINK_ID)
                    .with("text", "Total score")
                    .with("answer", b.one(b.obj().with("valueInteger", b.int(total))))
                    .done(),
            );
        }
        if let Some(metric) = scores.metric {
            items.push(
                b.obj()
                    .with("linkId", METRIC_LINK_ID)
                    .with("text", "Metric score")
                    .with(
                        "answer",
                        b.one(b.obj().with("valueDecimal", b.decimal(metric))),
                    )
                    .done(),
            );
        }
        let qr = b
            .obj()
            .with("resourceType", "QuestionnaireResponse")
            .with("meta", b.obj().with("profile", b.one(profile::OUTCOME)))
            .with(
                "extension",
                b.one(b.obj().with("url", profile::EXT_TIMEPOINT).with(
                    "valueCoding",
                    coding(b, codesystem::TIMEPOINT, o.timepoint.code(), None),
                )),
            )
            .with(
                "identifier",
                identifier(b, &o.identifier.system, &o.identifier.value),
            )
            .with_opt(
                "basedOn",
                o.referral
                    .as_ref()
                    .map(|r| b.one(identifier_reference(b, "ServiceRequest", r))),
            )
            .with(
                "questionnaire",
                b.str(&questionnaire_canonical(o.instrument)),
            )
            .with("status", status_code(o.status))
            .with("subject", reference(b, patient))
            .with("authored", o.date.as_str())
            .with_list("item", items.into_bump_slice());
        pkg.set(qr_url, qr);
        let fhir = pkg.into_bundle(opts, &key, record_digest(self), qr_url, |_| {
            sp_message_header(b, "outcome-notification", &o.identifier.system, qr_url)
        });
        Ok(Built { fhir, issues })
    }
}

/// FHIR (a Bundle or a lone QuestionnaireResponse) → OutcomeResponse.
pub fn to_domain(root: &Json) -> Result<(OutcomeResponse, Vec<Issue>), Vec<Issue>> {
    let mut rd = Reader::new(root);
    let index = find_focus(&mut rd, "QuestionnaireResponse")?;
    let (qr, path) = rd.visit(index);
    let canonical_ref = qr
        .get("questionnaire")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let Some(instrument) = Instrument::from_questionnaire(canonical_ref) else {
        if canonical_ref.is_empty() {
            return Err(vec![Issue::error(msg::TRANSLATE_NO_QUESTIONNAIRE,
                "the QuestionnaireResponse does not name its questionnaire, so the instrument cannot be known",
            )
            .at(format!("{path}.questionnaire"))]);
        }
        let known: Vec<String> = Instrument::ALL
            .iter()
            .map(|i| i.questionnaire_url())
            .collect();
        return Err(vec![Issue::error(msg::TRANSLATE_UNKNOWN_QUESTIONNAIRE,
            format!(
                "questionnaire '{canonical_ref}' is not one of the outcome instruments spfhir scores ({})",
                known.join(", ")
            ),
        )
        .at(format!("{path}.questionnaire"))
        .at_node(qr.get("questionnaire").unwrap_or(qr))]);
    };
    rd.consume(qr.get("questionnaire"));
    // `identifier` is a single Identifier on QuestionnaireResponse.
    let identifier = match qr.get("identifier").and_then(|id| rd.identifier(id)) {
        Some(id) => {
            rd.consume_if_done(qr.get("identifier"));
            id
        }
        None => record_identifier(&mut rd, qr, &path),
    };
    let status = rd.code(qr, "status", &path, status_from);
    let date = rd.date_time(qr, "authored", &path);
    let mut person = match rd.follow(qr.get("subject"), &format!("{path}.subject"), "the patient") {
        Some((patient, ppath)) => rd.person(patient, &ppath),
        None => Person::default(),
    };
    rd.accessibility_flags(&mut person.accessibility_needs);
    let referral = rd.list(qr, "basedOn").first().and_then(|b| {
        let id = b.get("identifier").and_then(|id| rd.identifier(id))?;
        rd.consume(b.get("type"));
        rd.consume_if_done(b.get("identifier"));
        rd.consume_if_done(Some(b));
        Some(id)
    });
    rd.consume_if_done(qr.get("basedOn"));
    let mut timepoint = None;
    for e in rd.list(qr, "extension") {
        if e.get("url").and_then(Json::as_str) == Some(profile::EXT_TIMEPOINT)
            && let Some(cd) = e.get("valueCoding")
        {
            timepoint = rd.code(cd, "code", &format!("{path}.extension"), timepoint_from);
            rd.consume(cd.get("system"));
            rd.consume(e.get("url"));
            rd.consume_if_done(Some(cd));
            rd.consume_if_done(Some(e));
        }
    }
    rd.consume_if_done(qr.get("extension"));
    let timepoint = timepoint.unwrap_or_else(|| {
        rd.issues.push(
            Issue::warning(
                msg::OUTCOME_NO_TIMEPOINT,
                "the response does not say whether it is a baseline or follow-up; taken as 'other'",
            )
            .at(format!("{path}.extension")),
        );
        Timepoint::Other
    });

    read_sp_header(&mut rd);
    let mut answers = Vec::new();
    let mut given = Scores::default();
    read_items(&mut rd, qr, &path, instrument, &mut answers, &mut given);

    let mut errors: Vec<Issue> = rd.issues.iter().filter(|i| i.is_error()).cloned().collect();
    for (key, present) in [("status", status.is_some()), ("authored", date.is_some())] {
        if !present && qr.get(key).is_none() {
            errors.push(
                Issue::error(
                    msg::TRANSLATE_MISSING,
                    format!("QuestionnaireResponse.{key} is missing"),
                )
                .at(format!("{path}.{key}")),
            );
        }
    }
    let (Some(status), Some(date)) = (status.filter(|_| errors.is_empty()), date) else {
        return Err(errors);
    };
    let mut out = OutcomeResponse {
        identifier,
        instrument,
        timepoint,
        status,
        date,
        person,
        referral,
        answers,
        scores: Scores::default(),
    };
    let scores = out.score().map_err(|e| {
        vec![Issue::error(msg::OUTCOME_INVALID, e.to_string()).at(format!("{path}.item"))]
    })?;
    for (field, given, computed) in [
        (
            "total",
            given.total.map(|t| t.to_string()),
            scores.total.map(|t| t.to_string()),
        ),
        (
            "metric",
            given.metric.map(|m| m.normalize().to_string()),
            scores.metric.map(|m| m.normalize().to_string()),
        ),
    ] {
        if let Some(g) = given
            && Some(&g) != computed.as_ref()
        {
            rd.issues.push(
                Issue::warning(msg::OUTCOME_SCORE_MISMATCH,
                    format!("the response's {field} score differs from the one its answers give; the computed score is used"),
                )
                .at(format!("{path}.item")),
            );
        }
    }
    out.scores = scores;
    Ok((out, rd.finish()))
}

fn read_items<'a>(
    rd: &mut Reader<'a>,
    node: &'a Json,
    path: &str,
    instrument: Instrument,
    answers: &mut Vec<Answer>,
    given: &mut Scores,
) {
    for (n, item) in rd.list(node, "item").iter().enumerate() {
        let link_id = item
            .get("linkId")
            .and_then(Json::as_str)
            .unwrap_or_default();
        if item.get("item").is_some() {
            // A group: read its children, consume the group's own linkId and text.
            let ipath = format!("{path}.item[{n}]");
            read_items(rd, item, &ipath, instrument, answers, given);
            rd.consume(item.get("linkId"));
            rd.consume(item.get("text"));
            rd.consume_if_done(item.get("item"));
            rd.consume_if_done(Some(item));
            continue;
        }
        let Some(ans) = item
            .get("answer")
            .and_then(Json::as_array)
            .and_then(|a| a.first())
        else {
            continue;
        };
        let value = if let Some(v) = ans.get("valueInteger").or_else(|| ans.get("valueDecimal")) {
            v.as_number_text().and_then(|t| {
                Decimal::from_str(t)
                    .ok()
                    .or_else(|| Decimal::from_scientific(t).ok())
            })
        } else if let Some(cd) = ans.get("valueCoding") {
            cd.get("code")
                .and_then(Json::as_str)
                .and_then(|t| Decimal::from_str(t).ok())
        } else {
            None
        };
        let Some(value) = value else { continue };
        match link_id {
            TOTAL_LINK_ID if instrument.item(link_id).is_none() => {
                given.total = value.to_string().parse().ok();
                if given.total.is_none() {
                    // Not a whole number in range (8.5, 1e20): never dropped silently.
                    rd.issues.push(
                        Issue::warning(
                            msg::OUTCOME_SCORE_MISMATCH,
                            "the response's total score is not a whole number in range; the score computed from its answers is used",
                        )
                        .at(format!("{path}.item[{n}]")),
                    );
                }
            }
            METRIC_LINK_ID if instrument.item(link_id).is_none() => given.metric = Some(value),
            _ if instrument.item(link_id).is_some() => answers.push(Answer {
                link_id: link_id.to_string(),
                value,
            }),
            _ => continue, // unknown item: reported as not mapped
        }
        rd.consume(Some(item));
    }
    rd.consume_if_done(node.get("item"));
}
