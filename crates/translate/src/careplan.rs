//! CarePlan ⇄ FHIR CarePlan + Goal; activities point at the HealthcareServices they use.

use crate::canonical::{self as c, profile};
use crate::domain::{
    Activity, ActivityStatus, CarePlan, Concept, Goal, GoalStatus, Person, Service,
};
use crate::issue::Issue;
use crate::json::{Builder, Json, Out};
use spfhir_element::msg;

use super::read::{Reader, resource_type};
use super::referral::{status_code, status_from};
use super::write::{
    Package, WriteOptions, concept, identifier, identifier_reference, period, record_digest,
    reference, sp_message_header, token, url,
};
use super::{Built, ToFhir, find_focus, read_sp_header, record_identifier};

/// Identifier system of goals: the value is `<care plan identifier value>/<goal id>`.
pub const GOAL_SYSTEM: &str = "https://spfhir.org/fhir/Id/careplan-goal";

code_table!(goal_status_code, goal_status_from, GoalStatus, [Proposed => "proposed", Planned => "planned",
    Accepted => "accepted", Active => "active", OnHold => "on-hold", Completed => "completed", Cancelled => "cancelled",
    EnteredInError => "entered-in-error", Rejected => "rejected"]);
code_table!(activity_status_code, activity_status_from, ActivityStatus, [NotStarted => "not-started",
    Scheduled => "scheduled", InProgress => "in-progress", OnHold => "on-hold", Completed => "completed",
    Cancelled => "cancelled", Stopped => "stopped", Unknown => "unknown", EnteredInError => "entered-in-error"]);

impl ToFhir for CarePlan {
    /// CarePlan → FHIR Bundle.
    fn build<'a>(
        &'a self,
        opts: &'a WriteOptions,
        b: Builder<'a>,
    ) -> Result<Built<'a>, Vec<Issue>> {
        let cp = self;
        let key = token(&cp.identifier);
        let mut errors = Vec::new();
        for (i, a) in cp.activities.iter().enumerate() {
            for (j, g) in a.goals.iter().enumerate() {
                if !cp.goals.iter().any(|goal| goal.id == *g) {
                    errors.push(
                        Issue::error(
                            msg::TRANSLATE_UNKNOWN_GOAL,
                            "the activity names a goal id that is not in goals",
                        )
                        .at(format!("activities[{i}].goals[{j}]")),
                    );
                }
            }
        }
        for (i, g) in cp.goals.iter().enumerate() {
            if cp.goals[..i].iter().any(|o| o.id == g.id) {
                errors.push(
                    Issue::error(
                        msg::TRANSLATE_DUPLICATE_GOAL,
                        format!("goal id '{}' is used twice", g.id),
                    )
                    .at(format!("goals[{i}].id")),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut pkg = Package::new(opts.bundle, b);
        let cp_url = url(b, &["CarePlan", &key]);
        pkg.add(cp_url, Out::Null, None);
        let patient = pkg.patient(&cp.person, &key);
        pkg.flags(std::iter::empty(), &cp.person, patient, &key);
        let author = cp
            .link_worker
            .as_ref()
            .map(|p| pkg.practitioner_role(p, None, &key));
        let goal_urls: Vec<&str> = cp
            .goals
            .iter()
            .map(|g| {
                let goal = b
                    .obj()
                    .with("resourceType", "Goal")
                    .with(
                        "identifier",
                        b.one(identifier(
                            b,
                            GOAL_SYSTEM,
                            b.fmt(format_args!("{}/{}", cp.identifier.value, g.id)),
                        )),
                    )
                    .with("lifecycleStatus", goal_status_code(g.status))
                    .with("description", concept(b, &g.description))
                    .with("subject", reference(b, patient))
                    .with_opt(
                        "target",
                        g.target_date
                            .as_ref()
                            .map(|d| b.one(b.obj().with("dueDate", d.as_str()))),
                    );
                pkg.add(url(b, &["Goal", &key, &g.id]), goal, None)
            })
            .collect();
        let mut activities = b.vec();
        for a in &cp.activities {
            let service = a.service.as_ref().map(|s| pkg.service(s, &key));
            let goals = a.goals.iter().filter_map(|g| {
                cp.goals
                    .iter()
                    .position(|goal| goal.id == *g)
                    .map(|i| reference(b, goal_urls[i]))
            });
            activities.push(
                b.obj()
                    .with(
                        "detail",
                        b.obj()
                            .with("code", concept(b, &a.description))
                            .with_list("goal", b.list(goals))
                            .with("status", activity_status_code(a.status))
                            .with_opt("scheduledPeriod", a.period.as_ref().map(|p| period(b, p)))
                            .with_opt("performer", service.map(|s| b.one(reference(b, s)))),
                    )
                    .done(),
            );
        }
        let review = cp.review_date.as_ref().map(|d| {
            b.one(
                b.obj()
                    .with("url", profile::EXT_REVIEW_DATE)
                    .with("valueDate", d.as_str()),
            )
        });
        let plan = b
            .obj()
            .with("resourceType", "CarePlan")
            .with("meta", b.obj().with("profile", b.one(profile::CAREPLAN)))
            .with_opt("extension", review)
            .with(
                "identifier",
                b.one(identifier(b, &cp.identifier.system, &cp.identifier.value)),
            )
            // The referral: R4's CarePlan.basedOn may only refer to a CarePlan, so the
            // ServiceRequest goes in supportingInfo (Reference(Any)).
            .with_opt(
                "supportingInfo",
                cp.referral
                    .as_ref()
                    .map(|r| b.one(identifier_reference(b, "ServiceRequest", r))),
            )
            .with("status", status_code(cp.status))
            .with("intent", "plan")
            .with_opt("description", cp.what_matters.as_deref())
            .with("subject", reference(b, patient))
            .with_opt("period", cp.period.as_ref().map(|p| period(b, p)))
            .with_opt("created", cp.created.as_ref().map(|d| d.as_str()))
            .with_opt("author", author.map(|u| reference(b, u)))
            .with_list("goal", b.list(goal_urls.iter().map(|u| reference(b, u))))
            .with_list("activity", activities.into_bump_slice());
        pkg.set(cp_url, plan);
        let fhir = pkg.into_bundle(opts, &key, record_digest(self), cp_url, |_| {
            let source = cp
                .link_worker
                .as_ref()
                .and_then(|p| p.organisation.as_ref())
                .and_then(|o| o.ods_code.as_ref())
                .map(|o| b.fmt(format_args!("{}|{o}", c::ODS_ORGANISATION)))
                .unwrap_or(&cp.identifier.system);
            sp_message_header(b, "careplan-notification", source, cp_url)
        });
        Ok(Built {
            fhir,
            issues: Vec::new(),
        })
    }
}

/// FHIR (a Bundle or a lone CarePlan) → CarePlan.
pub fn to_domain(root: &Json) -> Result<(CarePlan, Vec<Issue>), Vec<Issue>> {
    let mut rd = Reader::new(root);
    let index = find_focus(&mut rd, "CarePlan")?;
    let (plan, path) = rd.visit(index);
    let identifier = record_identifier(&mut rd, plan, &path);
    let status = rd.code(plan, "status", &path, status_from);
    rd.consume(plan.get("intent"));
    let what_matters = rd.string(plan, "description");
    let mut person = match rd.follow(
        plan.get("subject"),
        &format!("{path}.subject"),
        "the patient",
    ) {
        Some((patient, ppath)) => rd.person(patient, &ppath),
        None => Person::default(),
    };
    rd.accessibility_flags(&mut person.accessibility_needs);
    // The referral: the first ServiceRequest in supportingInfo, where spfhir writes it (or
    // in basedOn, where older senders put it although R4 allows only a CarePlan there).
    let mut referral = None;
    for member in ["supportingInfo", "basedOn"] {
        for b in rd.list(plan, member) {
            if referral.is_some() {
                break;
            }
            if b.get_str("type").is_some_and(|t| t != "ServiceRequest") {
                continue;
            }
            if let Some(id) = b.get("identifier").and_then(|id| rd.identifier(id)) {
                rd.consume(b.get("type"));
                rd.consume_if_done(b.get("identifier"));
                referral = Some(id);
            } else if let Some(i) = rd
                .resolve(b)
                .filter(|&i| resource_type(rd.root_entry(i)) == "ServiceRequest")
            {
                let (sr, srpath) = rd.visit(i);
                rd.consume(Some(b));
                referral = Some(record_identifier(&mut rd, sr, &srpath));
            }
            rd.consume_if_done(Some(b));
        }
        rd.consume_if_done(plan.get(member));
    }
    let plan_period = plan
        .get("period")
        .map(|p| rd.period(p, &format!("{path}.period")));
    let created = rd.date_time(plan, "created", &path);
    let link_worker = rd
        .follow(
            plan.get("author"),
            &format!("{path}.author"),
            "the link worker",
        )
        .map(|(res, apath)| rd.practitioner(res, &apath));
    let mut review_date = None;
    for e in rd.list(plan, "extension") {
        if e.get("url").and_then(Json::as_str) == Some(profile::EXT_REVIEW_DATE) {
            review_date = rd.date(e, "valueDate", &format!("{path}.extension"));
            rd.consume(e.get("url"));
            rd.consume_if_done(Some(e));
        }
    }
    rd.consume_if_done(plan.get("extension"));

    // Goals, in CarePlan.goal order; remember which resource each came from.
    let mut goals: Vec<Goal> = Vec::new();
    let mut goal_index: Vec<usize> = Vec::new();
    let prefix = format!("{}/", identifier.value);
    for (n, g) in rd.list(plan, "goal").iter().enumerate() {
        let Some(i) = rd.resolve(g) else { continue };
        let (goal, gpath) = rd.visit(i);
        if resource_type(goal) != "Goal" {
            continue;
        }
        rd.consume(Some(g));
        let id = rd
            .identifier_value(goal, GOAL_SYSTEM)
            .map(|v| v.strip_prefix(&prefix).map(str::to_string).unwrap_or(v))
            .unwrap_or_else(|| format!("goal-{}", n + 1));
        let status = rd
            .code(goal, "lifecycleStatus", &gpath, goal_status_from)
            .unwrap_or(GoalStatus::Active);
        let description = goal
            .get("description")
            .map(|d| rd.concept(d))
            .unwrap_or_default();
        rd.consume_if_done(goal.get("description"));
        rd.consume(goal.get("subject"));
        let target_date = rd.list(goal, "target").first().and_then(|t| {
            let d = rd.date(t, "dueDate", &format!("{gpath}.target[0]"));
            rd.consume_if_done(Some(t));
            d
        });
        rd.consume_if_done(goal.get("target"));
        goals.push(Goal {
            id,
            description,
            status,
            target_date,
        });
        goal_index.push(i);
    }
    rd.consume_if_done(plan.get("goal"));

    let mut activities = Vec::new();
    for (n, act) in rd.list(plan, "activity").iter().enumerate() {
        let apath = format!("{path}.activity[{n}]");
        let Some(detail) = act.get("detail") else {
            continue;
        };
        let dpath = format!("{apath}.detail");
        let mut description = detail
            .get("code")
            .map(|cc| rd.concept(cc))
            .unwrap_or_default();
        rd.consume_if_done(detail.get("code"));
        if let Some(text) = rd.string(detail, "description") {
            if description.is_empty() {
                description = Concept::text(text);
            } else if description.text.is_none() {
                description.text = Some(text);
            }
        }
        let status = rd
            .code(detail, "status", &dpath, activity_status_from)
            .unwrap_or(ActivityStatus::Unknown);
        let period = detail
            .get("scheduledPeriod")
            .map(|p| rd.period(p, &format!("{dpath}.scheduledPeriod")));
        rd.consume_if_done(detail.get("scheduledPeriod"));
        let service = rd.list(detail, "performer").first().and_then(|p| {
            rd.follow(
                Some(p),
                &format!("{dpath}.performer[0]"),
                "the activity's service",
            )
            .map(|(res, spath)| match resource_type(res) {
                "HealthcareService" => rd.service(res, &spath),
                _ => Service {
                    organisation: rd.practitioner(res, &spath).organisation,
                    ..Service::default()
                },
            })
        });
        rd.consume_if_done(detail.get("performer"));
        let mut goal_ids = Vec::new();
        for g in rd.list(detail, "goal") {
            if let Some(pos) = rd
                .resolve(g)
                .and_then(|i| goal_index.iter().position(|&gi| gi == i))
            {
                goal_ids.push(goals[pos].id.clone());
                rd.consume(Some(g));
            }
        }
        rd.consume_if_done(detail.get("goal"));
        rd.consume_if_done(Some(detail));
        rd.consume_if_done(Some(act));
        activities.push(Activity {
            description,
            status,
            service,
            goals: goal_ids,
            period,
        });
    }
    rd.consume_if_done(plan.get("activity"));

    read_sp_header(&mut rd);
    let mut errors: Vec<Issue> = rd.issues.iter().filter(|i| i.is_error()).cloned().collect();
    if plan.get("status").is_none() {
        errors.push(
            Issue::error(msg::TRANSLATE_MISSING, "CarePlan.status is missing")
                .at(format!("{path}.status")),
        );
    }
    let Some(status) = status.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let cp = CarePlan {
        identifier,
        status,
        person,
        referral,
        what_matters,
        goals,
        activities,
        review_date,
        link_worker,
        period: plan_period,
        created,
    };
    Ok((cp, rd.finish()))
}
