//! Search parameters: the definitions R4 core (and any loaded package) gives, extraction of
//! index rows from a resource with the engine's FHIRPath, and the parsing of a search URL
//! into a store [`Query`]. Nothing here is written by hand per resource type: a parameter
//! is searchable because a loaded SearchParameter defines it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use spfhir_conformance::package::Registry;
use spfhir_element::Json;
use spfhir_fhirpath::{Cache, Compiled, Env, Model, Value};
use spfhir_store::{Clause, Cursor, IndexRow, Match, Order, Prefix, Query};

use crate::dates;
use crate::error::ApiError;

/// The kinds of search parameter spfhir indexes and searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Token,
    String,
    Reference,
    Date,
    Uri,
}

impl Kind {
    fn of(code: &str) -> Option<Kind> {
        Some(match code {
            "token" => Kind::Token,
            "string" => Kind::String,
            "reference" => Kind::Reference,
            "date" => Kind::Date,
            "uri" => Kind::Uri,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::String => "string",
            Kind::Reference => "reference",
            Kind::Date => "date",
            Kind::Uri => "uri",
        }
    }
}

/// One search parameter of one resource type.
pub struct Param {
    pub code: String,
    pub kind: Kind,
    pub url: String,
    pub expression: Arc<Compiled>,
    /// Resource types a reference parameter may point to.
    pub targets: Vec<String>,
}

/// The search parameters of the served types.
pub struct SearchParams {
    by_type: HashMap<String, BTreeMap<String, Arc<Param>>>,
}

impl SearchParams {
    /// The parameters the registry's SearchParameters define for `types`. Parameters of a
    /// kind spfhir does not index (number, quantity, composite, special) are left out, so
    /// `/metadata` never advertises what search cannot do.
    pub fn load(registry: &Registry, types: &[&str]) -> SearchParams {
        let cache = Cache::default();
        let mut by_type: HashMap<String, BTreeMap<String, Arc<Param>>> = HashMap::new();
        for sp in registry.all_of_type("SearchParameter") {
            let (Some(code), Some(kind), Some(expr)) = (
                sp.get_str("code"),
                sp.get_str("type").and_then(Kind::of),
                sp.get_str("expression"),
            ) else {
                continue;
            };
            let strs = |k: &str| -> Vec<String> {
                sp.get(k)
                    .and_then(Json::as_array)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            };
            let url = sp.get_str("url").unwrap_or_default().to_owned();
            let targets = strs("target");
            for base in strs("base") {
                if types.contains(&base.as_str()) || base == "Resource" || base == "DomainResource"
                {
                    let applies: Vec<&str> = if types.contains(&base.as_str()) {
                        vec![types[types.iter().position(|t| *t == base).unwrap()]]
                    } else {
                        types.to_vec()
                    };
                    for t in applies {
                        // Only the branches of `A.x | B.y` that are about this type: the
                        // others name another type and would fail on this one.
                        let Ok(expression) = cache.get(&branches_for(expr, t)) else {
                            continue;
                        };
                        by_type
                            .entry(t.to_owned())
                            .or_default()
                            .entry(code.to_owned())
                            .or_insert_with(|| {
                                Arc::new(Param {
                                    code: code.to_owned(),
                                    kind,
                                    url: url.clone(),
                                    expression,
                                    targets: targets.clone(),
                                })
                            });
                    }
                }
            }
        }
        SearchParams { by_type }
    }

    /// The parameters of `ty`, by code.
    pub fn of(&self, ty: &str) -> impl Iterator<Item = &Arc<Param>> {
        self.by_type.get(ty).into_iter().flat_map(|m| m.values())
    }

    pub fn get(&self, ty: &str, code: &str) -> Option<&Arc<Param>> {
        self.by_type.get(ty).and_then(|m| m.get(code))
    }

    /// Index rows for `resource` (of type `ty`): every parameter's values. A parameter
    /// whose expression fails on this resource contributes nothing.
    pub fn extract(&self, ty: &str, resource: &Json, model: &Model) -> Vec<IndexRow> {
        let mut rows = Vec::new();
        let mut env = Env::new(model);
        env.lenient_as = true; // R4's expressions apply `as` to lists
        env.resource = Some(resource);
        env.root_resource = Some(resource);
        for p in self.of(ty) {
            // `_id` and `_lastUpdated` are the store's own columns.
            if p.code == "_id" || p.code == "_lastUpdated" {
                continue;
            }
            let Ok(values) = p.expression.evaluate(resource, &env) else {
                continue;
            };
            for v in &values {
                index_value(p, v, &mut rows);
            }
        }
        rows.sort_unstable();
        rows.dedup();
        rows
    }
}

/// The `|`-separated branches of a SearchParameter expression that apply to `ty`: those
/// that start with `ty` itself, or with no type name at all.
fn branches_for(expr: &str, ty: &str) -> String {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let bytes = expr.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b'|' if !quoted && depth == 0 => {
                parts.push(expr[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(expr[start..].trim());
    let keep: Vec<&str> = parts
        .into_iter()
        .filter(|p| {
            let head: String = p
                .trim_start_matches('(')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            !head.starts_with(|c: char| c.is_ascii_uppercase())
                || head == ty
                || head == "Resource"
                || head == "DomainResource"
        })
        .collect();
    if keep.is_empty() {
        return "{}".to_owned();
    }
    resolve_by_reference(&keep.join(" | "))
}

/// `resolve() is T` (as in `Goal.subject.where(resolve() is Patient)`) decided from the
/// reference's text, so a reference to a resource this server does not hold (yet) is
/// indexed by the type it names.
fn resolve_by_reference(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("resolve() is ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "resolve() is ".len()..];
        let ty: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        out.push_str(&format!(
            "(reference.startsWith('{ty}/') or reference.contains('/{ty}/'))"
        ));
        rest = &after[ty.len()..];
    }
    out.push_str(rest);
    out
}

/// Search strings are matched without case.
pub fn normalise(s: &str) -> String {
    s.to_lowercase()
}

fn index_value(p: &Param, v: &Value, rows: &mut Vec<IndexRow>) {
    let code = p.code.as_str();
    let (json, ty) = match v {
        Value::Node(n) => match n.json {
            Some(j) => (j, n.ty),
            None => return,
        },
        Value::Str(s) => {
            match p.kind {
                Kind::String => rows.push(IndexRow::string(code, &normalise(s))),
                Kind::Token => rows.push(IndexRow::token(code, None, s)),
                Kind::Uri => rows.push(IndexRow::uri(code, s)),
                _ => {}
            }
            return;
        }
        Value::Bool(b) => {
            if p.kind == Kind::Token {
                rows.push(IndexRow::token(
                    code,
                    None,
                    if *b { "true" } else { "false" },
                ));
            }
            return;
        }
        _ => return,
    };
    let s = |k: &str| json.get_str(k);
    match p.kind {
        Kind::Token => match ty {
            "Coding" => push_token(rows, code, s("system"), s("code")),
            "CodeableConcept" => {
                for c in json.get("coding").and_then(Json::as_array).unwrap_or(&[]) {
                    push_token(rows, code, c.get_str("system"), c.get_str("code"));
                }
            }
            "Identifier" => push_token(rows, code, s("system"), s("value")),
            "ContactPoint" => push_token(rows, code, None, s("value")),
            _ => match &json.kind {
                spfhir_element::Kind::String(v) => rows.push(IndexRow::token(code, None, v)),
                spfhir_element::Kind::Bool(b) => rows.push(IndexRow::token(
                    code,
                    None,
                    if *b { "true" } else { "false" },
                )),
                _ => {}
            },
        },
        Kind::String => {
            let mut texts: Vec<&str> = Vec::new();
            match ty {
                "HumanName" => {
                    texts.extend(s("family"));
                    texts.extend(s("text"));
                    for k in ["given", "prefix", "suffix"] {
                        texts.extend(
                            json.get(k)
                                .and_then(Json::as_array)
                                .unwrap_or(&[])
                                .iter()
                                .filter_map(Json::as_str),
                        );
                    }
                }
                "Address" => {
                    for k in ["text", "city", "district", "state", "postalCode", "country"] {
                        texts.extend(s(k));
                    }
                    texts.extend(
                        json.get("line")
                            .and_then(Json::as_array)
                            .unwrap_or(&[])
                            .iter()
                            .filter_map(Json::as_str),
                    );
                }
                _ => texts.extend(json.as_str()),
            }
            for t in texts {
                rows.push(IndexRow::string(code, &normalise(t)));
            }
        }
        Kind::Reference => {
            if let Some(r) = s("reference") {
                rows.push(IndexRow::reference(code, &local_reference(r)));
            }
            if let Some(id) = json.get("identifier") {
                push_token(
                    rows,
                    &format!("{code}:identifier"),
                    id.get_str("system"),
                    id.get_str("value"),
                );
            }
            if let Some(c) = json.as_str() {
                // A canonical used as a reference (e.g. `questionnaire`).
                rows.push(IndexRow::reference(code, c));
            }
        }
        Kind::Date => {
            let range = match ty {
                "Period" => {
                    let low = s("start").and_then(dates::range).map_or(i64::MIN, |r| r.0);
                    let high = s("end").and_then(dates::range).map_or(i64::MAX, |r| r.1);
                    (s("start").is_some() || s("end").is_some()).then_some((low, high))
                }
                _ => json.as_str().and_then(dates::range),
            };
            if let Some((low, high)) = range {
                rows.push(IndexRow::date(code, low, high));
            }
        }
        Kind::Uri => {
            if let Some(u) = json.as_str() {
                rows.push(IndexRow::uri(code, u));
            }
        }
    }
}

fn push_token(rows: &mut Vec<IndexRow>, code: &str, system: Option<&str>, value: Option<&str>) {
    if let Some(v) = value {
        rows.push(IndexRow::token(code, system, v));
    }
}

/// `Patient/123` from `Patient/123`, `Patient/123/_history/2` or an absolute URL whose
/// tail is `Type/id`; anything else as given.
pub fn local_reference(r: &str) -> String {
    let r = r.split("/_history/").next().unwrap_or(r);
    let parts: Vec<&str> = r.rsplitn(3, '/').collect();
    if parts.len() >= 2
        && parts[1].starts_with(|c: char| c.is_ascii_uppercase())
        && !parts[0].is_empty()
    {
        format!("{}/{}", parts[1], parts[0])
    } else {
        r.to_owned()
    }
}

/// Parameters of a search URL that are not search parameters.
const CONTROL: &[&str] = &[
    "_count",
    "_sort",
    "_summary",
    "_format",
    "_pretty",
    "_include",
    "_revinclude",
    "_cursor",
    "_total",
    "_elements",
];

/// What a search asks for besides its query.
#[derive(Debug, Default)]
pub struct Extras {
    pub summary_count: bool,
    pub include: Vec<(String, String)>,
    pub revinclude: Vec<(String, String)>,
}

/// The most results one page may hold.
pub const MAX_COUNT: usize = 1000;
/// Results per page when `_count` is not given.
pub const DEFAULT_COUNT: usize = 20;

/// `_count`: a whole number from 1 to [`MAX_COUNT`].
pub fn parse_count(value: &str) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "_count must be a whole number from 1 to {MAX_COUNT}"
            ))
        })
}

/// Parse the query parameters of a search on `ty` into a store query. Unknown parameters
/// are an error (400) unless `lenient` (the `Prefer: handling=lenient` header).
pub fn parse_query(
    params: &SearchParams,
    ty: &str,
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<(Query, Extras), ApiError> {
    let mut q = Query::new(ty);
    q.count = DEFAULT_COUNT;
    let mut extras = Extras::default();
    for (name, value) in pairs {
        let (code, modifier) = match name.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (name.as_str(), None),
        };
        match code {
            "_count" => q.count = parse_count(value)?,
            "_sort" => {
                q.order = match value.as_str() {
                    "_id" => Order::Id,
                    "_lastUpdated" => Order::LastUpdatedAsc,
                    "-_lastUpdated" => Order::LastUpdatedDesc,
                    _ => {
                        return Err(ApiError::bad_request(
                            "_sort supports _id, _lastUpdated and -_lastUpdated",
                        ));
                    }
                };
            }
            "_summary" => match value.as_str() {
                "count" => extras.summary_count = true,
                "false" => {}
                _ => return Err(ApiError::bad_request("_summary supports count and false")),
            },
            "_total" | "_format" | "_pretty" | "_elements" => {}
            "_cursor" => {
                let (t, id) = value
                    .split_once('.')
                    .and_then(|(t, id)| Some((t.parse().ok()?, id)))
                    .ok_or_else(|| ApiError::bad_request("_cursor is not one this server gave"))?;
                q.after = Some(Cursor {
                    last_updated: t,
                    id: id.to_owned(),
                });
            }
            "_include" | "_revinclude" => {
                let (src, param) = value
                    .split_once(':')
                    .ok_or_else(|| ApiError::bad_request(format!("{code} needs Type:parameter")))?;
                let (src, param) = (
                    src.to_owned(),
                    param.split(':').next().unwrap_or(param).to_owned(),
                );
                let known = params
                    .get(&src, &param)
                    .is_some_and(|p| p.kind == Kind::Reference);
                if !known {
                    return Err(ApiError::bad_request(format!(
                        "{code}={src}:{param}: {src} has no reference parameter {param}"
                    )));
                }
                if code == "_include" {
                    extras.include.push((src, param));
                } else {
                    extras.revinclude.push((src, param));
                }
            }
            "_id" => {
                q.ids
                    .get_or_insert_with(Vec::new)
                    .extend(value.split(',').map(str::to_owned));
            }
            "_lastUpdated" => {
                let (prefix, low, high) = date_value(value)?;
                q.last_updated.push((prefix, low, high));
            }
            _ if CONTROL.contains(&code) => {}
            _ => {
                let Some(p) = params.get(ty, code) else {
                    if lenient {
                        continue;
                    }
                    return Err(ApiError::bad_request(format!(
                        "{ty} has no search parameter {code} (send Prefer: handling=lenient to ignore unknown parameters)"
                    )));
                };
                q.clauses.push(clause(p, modifier, value)?);
            }
        }
    }
    Ok((q, extras))
}

fn clause(p: &Param, modifier: Option<&str>, value: &str) -> Result<Clause, ApiError> {
    let mut param = p.code.clone();
    let kind = match (p.kind, modifier) {
        (k, None) => k,
        (Kind::String, Some("exact" | "contains")) => Kind::String,
        (Kind::Reference, Some("identifier")) => {
            param = format!("{}:identifier", p.code);
            Kind::Token
        }
        (Kind::Reference, Some(t)) if t.starts_with(|c: char| c.is_ascii_uppercase()) => {
            Kind::Reference
        }
        (_, Some(m)) => {
            return Err(ApiError::bad_request(format!(
                "the :{m} modifier is not supported on {} ({} parameter)",
                p.code,
                p.kind.as_str()
            )));
        }
    };
    let mut any_of = Vec::new();
    for v in value.split(',') {
        if v.is_empty() {
            return Err(ApiError::bad_request(format!("{}: an empty value", p.code)));
        }
        any_of.push(match kind {
            Kind::Token => match v.split_once('|') {
                Some((sys, code)) => Match::Token {
                    system: Some(sys.to_owned()),
                    code: code.to_owned(),
                },
                None => Match::Token {
                    system: None,
                    code: v.to_owned(),
                },
            },
            Kind::String => Match::String {
                value: normalise(v),
                exact: modifier == Some("exact"),
            },
            Kind::Uri => Match::Uri(v.to_owned()),
            Kind::Reference => {
                let target = match modifier {
                    Some(t) if !v.contains('/') => format!("{t}/{v}"),
                    _ if v.contains('/') => local_reference(v),
                    _ if p.targets.len() == 1 => format!("{}/{v}", p.targets[0]),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "{}={v}: give the reference as Type/id (it may point to {})",
                            p.code,
                            p.targets.join(", ")
                        )));
                    }
                };
                Match::Reference(target)
            }
            Kind::Date => {
                let (prefix, low, high) = date_value(v)?;
                Match::Date { prefix, low, high }
            }
        });
    }
    Ok(Clause { param, any_of })
}

/// `[prefix]date` → (prefix, low, high).
pub(crate) fn date_value(v: &str) -> Result<(Prefix, i64, i64), ApiError> {
    let (prefix, rest) = match v.get(..2) {
        Some("eq") => (Prefix::Eq, &v[2..]),
        Some("ne") => (Prefix::Ne, &v[2..]),
        Some("gt") => (Prefix::Gt, &v[2..]),
        Some("lt") => (Prefix::Lt, &v[2..]),
        Some("ge") => (Prefix::Ge, &v[2..]),
        Some("le") => (Prefix::Le, &v[2..]),
        Some("sa") => (Prefix::Sa, &v[2..]),
        Some("eb") => (Prefix::Eb, &v[2..]),
        _ => (Prefix::Eq, v),
    };
    let (low, high) = dates::range(rest).ok_or_else(|| {
        ApiError::bad_request("a date must be YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a zone, after an optional prefix (eq, ne, gt, lt, ge, le, sa, eb)")
    })?;
    Ok((prefix, low, high))
}

#[cfg(test)]
mod tests {
    use super::local_reference;

    #[test]
    fn expressions_keep_their_type_s_branches() {
        use super::branches_for;
        assert_eq!(
            branches_for(
                "Patient.gender | Person.gender | Practitioner.gender",
                "Patient"
            ),
            "Patient.gender"
        );
        assert_eq!(
            branches_for(
                "(ServiceRequest.subject.where(resolve() is Patient)) | Task.for",
                "Task"
            ),
            "Task.for"
        );
        assert_eq!(
            branches_for("Goal.subject.where(resolve() is Patient)", "Goal"),
            "Goal.subject.where((reference.startsWith('Patient/') or reference.contains('/Patient/')))"
        );
        assert_eq!(branches_for("Resource.id", "Goal"), "Resource.id");
        assert_eq!(branches_for("Person.gender", "Goal"), "{}");
        assert_eq!(branches_for("name | alias", "Organization"), "name | alias");
        assert_eq!(
            branches_for("A.x.where(y = 'a|b') | B.z", "A"),
            "A.x.where(y = 'a|b')"
        );
    }

    #[test]
    fn references_become_type_and_id() {
        assert_eq!(local_reference("Patient/1"), "Patient/1");
        assert_eq!(
            local_reference("https://x.org/fhir/Patient/1/_history/2"),
            "Patient/1"
        );
        assert_eq!(local_reference("urn:uuid:abc"), "urn:uuid:abc");
        assert_eq!(local_reference("#c1"), "#c1");
    }
}
