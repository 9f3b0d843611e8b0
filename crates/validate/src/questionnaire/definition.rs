//! A Questionnaire's own rules beyond its invariants: every `enableWhen.question` names an
//! item of the Questionnaire, and not the item itself or one inside it (R4: "the linkId for
//! the question whose answer … governs whether this item is enabled"). A condition on
//! nothing can never be evaluated, so the item it guards would be disabled for ever, or
//! enabled by accident, depending on the form filler; one on an item's own parts can only
//! be answered once the item is enabled. A condition on an item that comes later is a
//! warning.

use rustc_hash::FxHashMap as HashMap;
use spfhir_element::msg;

use super::Walk;
use crate::issue::Issue;
use crate::json::Json;

fn items(j: &Json) -> &[Json] {
    j.get("item").and_then(Json::as_array).unwrap_or(&[])
}

/// Every linkId in the Questionnaire, at any depth, with where its item is: the index at
/// each level from the top (`[2, 0]` is the first item inside the third). The first item
/// of a linkId wins (que-2 reports repeats).
fn link_ids<'a>(list: &'a [Json], at: &mut Vec<usize>, out: &mut HashMap<&'a str, Vec<usize>>) {
    for (i, item) in list.iter().enumerate() {
        at.push(i);
        if let Some(id) = item.get_str("linkId") {
            out.entry(id).or_insert_with(|| at.clone());
        }
        link_ids(items(item), at, out);
        at.pop();
    }
}

pub(crate) fn check(w: &mut Walk<'_>, q: &Json, path: &str) {
    let top = items(q);
    // Most Questionnaires have no conditions: their linkIds are not even gathered.
    if !any_enable_when(top) {
        return;
    }
    let mut known = HashMap::default();
    link_ids(top, &mut Vec::new(), &mut known);
    walk(w, top, &format!("{path}.item"), &mut Vec::new(), &known);
}

fn any_enable_when(list: &[Json]) -> bool {
    list.iter()
        .any(|i| i.get("enableWhen").is_some() || any_enable_when(items(i)))
}

fn walk(
    w: &mut Walk<'_>,
    list: &[Json],
    at: &str,
    place: &mut Vec<usize>,
    known: &HashMap<&str, Vec<usize>>,
) {
    for (i, item) in list.iter().enumerate() {
        place.push(i);
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
            let why = match known.get(question) {
                _ if Some(question) == own => {
                    "names the item itself: an item cannot be enabled by its own answer"
                }
                None => "names no item of this Questionnaire",
                Some(t) if t.len() > place.len() && t.starts_with(place) => {
                    "names an item inside this one, which is enabled or disabled with it"
                }
                Some(t) => {
                    // An ancestor's answer, or an item before this one, is known by the
                    // time this item is reached; one after it is not (a warning, as the
                    // reference validator has it: the form still works, only oddly).
                    if !place.starts_with(t) && t.as_slice() > place.as_slice() {
                        w.push(
                            Issue::warning(
                                msg::QUESTIONNAIRE_ENABLE_WHEN_AFTER,
                                format!("{here}.enableWhen[{k}].question '{question}' names an item that comes after this one, so the answer that enables it is asked for later"),
                            )
                            .at(format!("{here}.enableWhen[{k}].question"))
                            .at_node(target),
                        );
                    }
                    continue;
                }
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
        walk(w, items(item), &format!("{here}.item"), place, known);
        place.pop();
    }
}
