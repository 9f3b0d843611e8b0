//! Fixed and pattern values, and bindings: codes against their ValueSets, offline.

use super::*;
use crate::issue::{Issue, Severity};
use crate::json::Json;
use crate::profile::{Node, Profile, Strength};
use crate::terminology::{Display, Expansion, Membership};
use spfhir_element::msg::{self};
use std::cmp::Ordering;
use std::sync::Arc;

impl<'a> Walk<'a> {
    pub(super) fn fixed_pattern(&mut self, p: &Arc<Profile>, n: &Node, v: &Json, at: &str) {
        if let Some(f) = &n.fixed
            && f != v
        {
            self.error_in(
                p,
                msg::VALUE_FIXED,
                at,
                v,
                format!("{at} must be exactly {}", f.to_compact()),
            );
        }
        if let Some(pat) = &n.pattern
            && !pattern_matches(pat, v)
        {
            self.error_in(
                p,
                msg::VALUE_PATTERN,
                at,
                v,
                format!("{at} must match the pattern {}", pat.to_compact()),
            );
        }
    }

    /// `minValue[x]`/`maxValue[x]` of the element: numbers compared as decimals; dates,
    /// dateTimes, instants and times as text when both have the same precision and time
    /// zone form (otherwise the order may not be known, and nothing is said); quantities
    /// by value when both have the same unit code and system.
    pub(super) fn min_max(&mut self, p: &Arc<Profile>, n: &Node, code: &str, v: &Json, at: &str) {
        for (limit, low) in [(&n.min_value, true), (&n.max_value, false)] {
            let Some((_, limit)) = limit else { continue };
            let Some(order) = value_order(code, v, limit) else {
                if incomparable_units(v, limit) {
                    let which = if low { "minimum" } else { "maximum" };
                    self.error_in(
                        p,
                        msg::VALUE_LIMIT_UNITS,
                        at,
                        v,
                        format!(
                            "{at} cannot be compared with its {which} {}: their UCUM units are not of one kind",
                            crate::quantity_text(limit)
                        ),
                    );
                }
                continue;
            };
            let (bad, word, m) = match low {
                true => (order == Ordering::Less, "below its minimum", msg::VALUE_MIN),
                false => (
                    order == Ordering::Greater,
                    "above its maximum",
                    msg::VALUE_MAX,
                ),
            };
            if bad {
                let shown = match code {
                    "Quantity" => crate::quantity_text(limit),
                    _ => limit
                        .as_str()
                        .map_or_else(|| limit.to_compact(), str::to_string),
                };
                self.error_in(p, m, at, v, format!("{at} is {word} {shown}"));
            }
        }
    }

    /// A Coding's `system` names a CodeSystem by its absolute URI: not a relative name
    /// (`loinc`), and not the URL of a ValueSet (a common slip: the binding's URL copied in).
    pub(super) fn coding_system(&mut self, at: &str, v: &Json) {
        let Some(system) = v.get_str("system") else {
            return;
        };
        if !system.contains(':') {
            self.error(
                msg::CODING_SYSTEM_RELATIVE,
                &format!("{at}.system"),
                v.get("system").unwrap_or(v),
                format!(
                    "{at}.system must be an absolute URI naming a code system, not a local name"
                ),
            );
        } else if self
            .v
            .registry()
            .entry(system)
            .is_some_and(|e| e.resource_type == "ValueSet")
        {
            self.error(
                msg::CODING_SYSTEM_VALUESET,
                &format!("{at}.system"),
                v.get("system").unwrap_or(v),
                format!("{at}.system is the URL of a ValueSet ({system}); a Coding names the CodeSystem that defines its code"),
            );
        }
        // Against the CodeSystem itself, when it is loaded whole (and the Coding names no
        // other version of it): the code must be one of its codes, and a display one of
        // the code's (its display or a designation; case and spacing aside).
        let Some(code) = v.get_str("code") else {
            return;
        };
        if self.other_version(system, v.get_str("version")) {
            return;
        }
        let terminology = &self.v.terminology;
        match terminology.code_exists(system, code) {
            Some(false) => self.error(
                msg::CODING_CODE_UNKNOWN,
                &format!("{at}.code"),
                v.get("code").unwrap_or(v),
                format!("code '{code}' is not defined in the code system {system}"),
            ),
            Some(true) => {
                if let Some(display) = v.get_str("display")
                    && let Display::Wrong(expected) = terminology.display(system, code, display)
                {
                    self.error(
                        msg::CODING_DISPLAY,
                        &format!("{at}.display"),
                        v.get("display").unwrap_or(v),
                        format!("{at}.display is not a display of {system}#{code}, which is '{expected}'"),
                    );
                }
            }
            None => {}
        }
    }

    /// Does `version` name a version of `system` other than the one loaded (or is the
    /// loaded one unversioned)? Then its codes cannot be judged by what is loaded.
    fn other_version(&self, system: &str, version: Option<&str>) -> bool {
        version.is_some_and(|ver| {
            self.v
                .registry()
                .resolve(system)
                .and_then(|cs| cs.get_str("version").map(|loaded| loaded != ver))
                .unwrap_or(true)
        })
    }

    /// Each `compose.include` and `exclude` of a ValueSet (looked at from the resource, so
    /// no other walk pays for it).
    pub(super) fn value_set_compose(&mut self, vs: &Json, path: &str) {
        let Some(compose) = vs.get("compose") else {
            return;
        };
        for part in ["include", "exclude"] {
            for (i, inc) in compose
                .get(part)
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                self.value_set_include(&format!("{path}.compose.{part}[{i}]"), inc);
            }
        }
    }

    /// A ValueSet's `compose.include` (or `exclude`) lists codes its system defines, when
    /// that CodeSystem is loaded whole (and the include names no other version of it): a
    /// code it does not define makes the ValueSet wrong for everyone who uses it. Displays
    /// are not compared: a ValueSet may give its own (R4: "the text to display … in this
    /// value set").
    fn value_set_include(&mut self, at: &str, v: &Json) {
        let Some(system) = v.get_str("system") else {
            return;
        };
        let concepts = v.get("concept").and_then(Json::as_array).unwrap_or(&[]);
        if concepts.is_empty() || self.other_version(system, v.get_str("version")) {
            return;
        }
        for (i, c) in concepts.iter().enumerate() {
            if let Some(code) = c.get_str("code")
                && self.v.terminology.code_exists(system, code) == Some(false)
            {
                self.error(
                    msg::VALUESET_CODE_UNKNOWN,
                    &format!("{at}.concept[{i}].code"),
                    c.get("code").unwrap_or(c),
                    format!("code '{code}' is not defined in the code system {system}, so the value set cannot list it"),
                );
            }
        }
    }

    pub(super) fn codeable(&mut self, p: &Arc<Profile>, n: &Node, at: &str, v: &Json) {
        let Some(b) = &n.binding else { return };
        let Some(vs) = &b.value_set else { return };
        let codings = v.get("coding").and_then(Json::as_array).unwrap_or(&[]);
        if codings.is_empty() {
            if b.strength == Strength::Required {
                self.error_in(
                    p,
                    msg::BINDING_NO_CODE,
                    at,
                    v,
                    format!("{at} has no coding, but its binding to {vs} is required"),
                );
            }
            return;
        }
        let mut unknown = None;
        for cd in codings {
            let Some(code) = cd.get_str("code") else {
                continue;
            };
            // A code without its system has no defined meaning (R4 Coding.system), so it is
            // in no value set, whatever codes of the same spelling the value set holds.
            let Some(system) = cd.get_str("system") else {
                continue;
            };
            match self.v.terminology.member(vs, Some(system), code) {
                Membership::Member => return,
                Membership::Unknown(why) => unknown = Some(why),
                Membership::NotMember => {}
            }
        }
        match (unknown, b.strength) {
            (Some(why), Strength::Required | Strength::Extensible) => self.unchecked(at, v, vs, &why),
            (None, Strength::Required) => self.error_in(p, msg::BINDING_REQUIRED, at, v, format!("none of the codings of {at} is in the value set {vs}, whose binding is required")),
            (None, Strength::Extensible) => self.warn_in(p, msg::BINDING_EXTENSIBLE, at, v, format!("none of the codings of {at} is in the value set {vs} (extensible binding): use one of its codes when one fits")),
            _ => {}
        }
        // Beyond the value set, one coding must still be in the maximum value set, if any.
        if let Some(max) = b.max_value_set.as_deref()
            && b.strength != Strength::Required
        {
            let mut coded = codings
                .iter()
                .filter_map(|cd| Some((cd.get_str("system"), cd.get_str("code")?)))
                .peekable();
            // A coding without a system is in no value set, as above.
            if coded.peek().is_some()
                && coded.all(|(system, code)| {
                    system.is_none_or(|s| {
                        self.v.terminology.member(max, Some(s), code) == Membership::NotMember
                    })
                })
            {
                self.error_in(p, msg::BINDING_MAX_VALUESET, at, v, format!("none of the codings of {at} is in the value set {max}, the most its binding allows"));
            }
        }
    }

    /// A coded primitive given only extensions (`_gender` with a data-absent-reason, say)
    /// where the binding is required: the binding asks for a code from its ValueSet, and
    /// there is none (as the reference validator has it).
    pub(super) fn no_code(&mut self, p: &Arc<Profile>, n: &Node, at: &str, ext: &Json) {
        if let Some(b) = &n.binding
            && b.strength == Strength::Required
            && let Some(vs) = &b.value_set
        {
            self.error_in(
                p,
                msg::BINDING_NO_CODE,
                at,
                ext,
                format!("{at} has extensions but no value, and its binding to {vs} is required"),
            );
        }
    }

    pub(super) fn binding(
        &mut self,
        p: &Arc<Profile>,
        n: &Node,
        at: &str,
        v: &Json,
        system: Option<&str>,
        code: Option<&str>,
    ) {
        let Some(b) = &n.binding else { return };
        let Some(code) = code else { return };
        // R4 lets a CapabilityStatement name FHIR's own formats by these words beside media
        // types ("'xml', 'json' and 'ttl' are allowed"), despite the required binding.
        if n.base_path == "CapabilityStatement.format" && matches!(code, "xml" | "json" | "ttl") {
            return;
        }
        let Some(vs) = b
            .value_set
            .as_ref()
            .filter(|_| matches!(b.strength, Strength::Required | Strength::Extensible))
        else {
            self.max_binding(p, n, at, v, system, code);
            return;
        };
        match self.v.terminology.member(vs, system, code) {
            Membership::Member => return,
            Membership::Unknown(why) => self.unchecked(at, v, vs, &why),
            Membership::NotMember if b.strength == Strength::Required => self.error_in(
                p,
                msg::BINDING_REQUIRED,
                at,
                v,
                format!(
                    "code '{code}' at {at} is not in the value set {vs}, whose binding is required"
                ),
            ),
            Membership::NotMember => self.warn_in(
                p,
                msg::BINDING_EXTENSIBLE,
                at,
                v,
                format!("code '{code}' at {at} is not in the value set {vs} (extensible binding)"),
            ),
        }
        if b.strength != Strength::Required {
            self.max_binding(p, n, at, v, system, code);
        }
    }

    /// A code of a preferred or extensible binding, not in its value set, is still in the
    /// binding's maximum value set, when it has one (R4's `elementdefinition-maxValueSet`:
    /// `Resource.language` may be any BCP-47 tag, and only one). What cannot be told offline
    /// is let through: the binding's own check has said so where it matters.
    fn max_binding(
        &mut self,
        p: &Arc<Profile>,
        n: &Node,
        at: &str,
        v: &Json,
        system: Option<&str>,
        code: &str,
    ) {
        let Some(max) = n.binding.as_ref().and_then(|b| b.max_value_set.as_deref()) else {
            return;
        };
        if self.v.terminology.member(max, system, code) == Membership::NotMember {
            self.error_in(
                p,
                msg::BINDING_MAX_VALUESET,
                at,
                v,
                format!("code '{code}' at {at} is not in the value set {max}, the most its binding allows"),
            );
        }
    }

    pub(crate) fn unchecked(&mut self, at: &str, v: &Json, vs: &str, exp: &Expansion) {
        if self.v.options.unchecked_codes == crate::UncheckedCodes::Ignore {
            return;
        }
        let msg = format!(
            "the code at {at} was not checked against {vs}: {}",
            exp.why_unknown()
        );
        let issue = match self.v.options.unchecked_codes {
            crate::UncheckedCodes::Warning => Issue::warning(msg::TERMINOLOGY_NOT_CHECKED, msg),
            crate::UncheckedCodes::Information => {
                Issue::new(Severity::Information, msg::TERMINOLOGY_NOT_CHECKED, msg)
            }
            crate::UncheckedCodes::Ignore => return,
        };
        self.push(issue.at(at).at_node(v));
    }

    /// A quantity in UCUM's system has a unit code UCUM defines (parsed and every symbol
    /// looked up by `octofhir-ucum`: `kg/m2` yes, `kgg` or `mg/` no).
    pub(super) fn ucum_code(&mut self, v: &Json, at: &str) {
        if v.get_str("system") != Some(crate::UCUM) {
            return;
        }
        let Some(code) = v.get_str("code") else {
            return;
        };
        let why = match octofhir_ucum::parse_expression(code) {
            Ok(x) => octofhir_ucum::evaluate(&x).err().map(|e| ucum_reason(&e)),
            Err(e) => Some(ucum_reason(&e)),
        };
        if let Some(why) = why {
            let node = v.get("code").unwrap_or(v);
            self.error(
                msg::QUANTITY_UCUM,
                &format!("{at}.code"),
                node,
                format!("{at}.code '{code}' is not a UCUM unit: {why}"),
            );
        }
    }
}

/// UCUM's reason in one plain clause.
fn ucum_reason(e: &octofhir_ucum::UcumError) -> String {
    use octofhir_ucum::ErrorKind;
    match &e.kind {
        ErrorKind::UnitNotFound { unit, .. } => format!("'{unit}' is not a UCUM symbol"),
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or("it does not parse")
            .to_string(),
    }
}

/// Two quantities in UCUM, each with a value and a code, whose units do not convert into
/// each other (`cm` against a limit in `kg`; both UCUM units): the limit cannot be applied, which the
/// reference validator reports as an error rather than let the value pass unchecked.
fn incomparable_units(v: &Json, limit: &Json) -> bool {
    fn formal(q: &Json) -> Option<&str> {
        (q.get_str("system") == Some(crate::UCUM) && q.get("value").is_some())
            .then(|| q.get_str("code"))
            .flatten()
    }
    let (Some(a), Some(b)) = (formal(v), formal(limit)) else {
        return false;
    };
    use spfhir_fhirpath::value::{compare_quantities, unit_factor};
    // A code that is not UCUM at all is QUANTITY_UCUM's to report.
    a != b
        && unit_factor(a).is_some()
        && unit_factor(b).is_some()
        && compare_quantities((&Default::default(), a), (&Default::default(), b)).is_none()
}

/// How `v` (of FHIR type `code`) orders against `limit`, when that can be told.
fn value_order(code: &str, v: &Json, limit: &Json) -> Option<Ordering> {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let number = |j: &Json| j.as_number_text().and_then(|t| Decimal::from_str(t).ok());
    match code {
        "integer" | "decimal" | "positiveInt" | "unsignedInt" | "integer64" => {
            Some(number(v)?.cmp(&number(limit)?))
        }
        "date" | "dateTime" | "instant" | "time" => {
            let (a, b) = (v.as_str()?, limit.as_str()?);
            // Same length: same precision and, for times of day, the same zone form.
            let zone = |s: &str| {
                s.get(19..).map(|z| {
                    z.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit())
                        .to_string()
                })
            };
            (a.len() == b.len() && zone(a) == zone(b)).then(|| a.cmp(b))
        }
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" => {
            let (a, b) = (number(v.get("value")?)?, number(limit.get("value")?)?);
            let (ua, ub) = (v.get_str("code")?, limit.get_str("code")?);
            let system = v.get_str("system");
            if system != limit.get_str("system") {
                return None;
            }
            if ua == ub {
                return Some(a.cmp(&b));
            }
            // UCUM units of one dimension compare after conversion (`1 kg` against `500 g`).
            (system == Some(crate::UCUM)).then_some(())?;
            spfhir_fhirpath::value::compare_quantities((&a, ua), (&b, ub))
        }
        _ => None,
    }
}
