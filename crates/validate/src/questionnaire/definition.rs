//! A Questionnaire's own rules beyond its invariants: every `enableWhen.question` names an
//! item of the Questionnaire, and not the item itself (R4: "the linkId for the question
//! whose answer … governs whether this item is enabled"). A condition on nothing can never
//! be evaluated, so the item it guards would be disabled for ever, or enabled by accident,
//! depending on the form filler.

use rustc_hash::FxHashSet as HashSet;
use spfhir_element::msg;

use super::Walk;
use crate::issue::Issue;
use crate::json::Json;

fn items(j: &Json) -> &[Json] {
    j.get("item").and_then(Json::as_array).unwrap_or(&[])
}

/// Every linkId in the Questionnaire, at any depth.
fn link_ids<'a>(list: &'a [Json], out: &mut HashSet<&'a str>) {
    for item in list {
        if let Some(id) = item.get_str("linkId") {
            out.insert(id);
        }
        link_ids(items(item), out);
    }
}

pub(crate) fn check(w: &mut Walk<'_>, q: &Json, path: &str) {
    let top = items(q);
    // Most Questionnaires have no conditions: their linkIds are not even gathered.
    if !any_enable_when(top) {
        return;
    }
    let mut known = HashSet::default();
    link_ids(top, &mut known);
    walk(w, top, &format!("{path}.item"), &known);
}

fn any_enable_when(list: &[Json]) -> bool {
    list.iter()
        .any(|i| i.get("enableWhen").is_some() || any_enable_when(items(i)))
}

fn walk(w: &mut Walk<'_>, list: &[Json], at: &str, known: &HashSet<&str>) {
    for (i, item) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let own = item.get_str("linkId");
        let conditions = item
            .get("enableWhen")
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        for (k, cond) in conditions.iter().enumerate() {
            let Some(target) = cond.get("question") else {
                continue; // required: the structural walk says so
            };
            let Some(question) = target.as_str() else {
                continue;
            };
            let why = if Some(question) == own {
                "names the item itself: an item cannot be enabled by its own answer"
            } else if !known.contains(question) {
                "names no item of this Questionnaire"
            } else {
                continue;
            };
            w.push(
                Issue::error(
                    msg::QUESTIONNAIRE_ENABLE_WHEN_TARGET,
                    format!("{here}.enableWhen[{k}].question '{question}' {why}"),
                )
                .at(format!("{here}.enableWhen[{k}].question"))
                .at_node(target),
            );
        }
        walk(w, items(item), &format!("{here}.item"), known);
    }
}
