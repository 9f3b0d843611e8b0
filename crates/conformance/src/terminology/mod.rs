//! Offline ValueSet expansion and code membership, from the CodeSystems and ValueSets in the
//! loaded packages.
//!
//! A ValueSet's `compose` is expanded from what is loaded: explicit concept lists, whole
//! CodeSystems, filters (`is-a`, `descendent-of`, `is-not-a`, `=` and `in` on properties
//! and on `concept`), nested ValueSets, and excludes. A part that cannot be enumerated
//! (SNOMED CT, LOINC and other systems not loaded, or a CodeSystem that is only a fragment)
//! makes the expansion incomplete, and membership answers "cannot tell" with the reason,
//! never a guess. A pre-computed `expansion` in the ValueSet is used when `compose` cannot be.
//!
//! Invariant: this module never contacts a terminology server.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use compact_str::CompactString;

use crate::json::Json;
use crate::package::Registry;

mod grammar;
pub use grammar::{Grammar, Grammars};

/// Is a code in a ValueSet?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    Member,
    NotMember,
    /// Cannot tell offline: the expansion, whose [`Expansion::why_unknown`] names what is
    /// missing (formatted only by a caller that reports it).
    Unknown(Arc<Expansion>),
}

/// A ValueSet's codes as far as they can be enumerated offline.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// (system, code) pairs; looked up by `(&str, &str)` through [`CodeRef`] without
    /// building owned strings.
    pub codes: CodeSet,
    /// Systems (or ValueSets) whose part could not be enumerated.
    pub unknown: Vec<String>,
    /// Systems included whole whose codes are a grammar (UCUM, BCP-47, BCP-13, ISO 4217):
    /// every code of one is a member, checked, not enumerated.
    pub grammars: Grammars,
}

/// UCUM's system URL.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// Is `code` a unit UCUM defines (its grammar, and every symbol in UCUM's tables)?
pub fn is_ucum_unit(code: &str) -> bool {
    octofhir_ucum::parse_expression(code).is_ok_and(|x| octofhir_ucum::evaluate(&x).is_ok())
}

pub type CodeSet = hashbrown::HashSet<(CompactString, CompactString), rustc_hash::FxBuildHasher>;

/// A borrowed `(system, code)` key for [`CodeSet`] lookups; hashes as the owned pair does.
#[derive(Hash)]
struct CodeRef<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(CompactString, CompactString)> for CodeRef<'_> {
    fn equivalent(&self, key: &(CompactString, CompactString)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl Expansion {
    pub fn is_complete(&self) -> bool {
        self.unknown.is_empty()
    }

    /// Why membership cannot be told offline: the parts that could not be enumerated.
    pub fn why_unknown(&self) -> String {
        format!("not available offline: {}", self.unknown.join(", "))
    }

    /// Is `system|code` among the enumerated codes?
    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.codes.contains(&CodeRef(system, code))
            || (!self.grammars.is_empty()
                && Grammar::of(system)
                    .is_some_and(|g| self.grammars.contains(g) && g.is_code(code)))
    }
}

/// A CodeSystem's codes with their parents and properties.
#[derive(Debug, Default)]
struct CodeSystemIndex {
    complete: bool,
    /// Case-sensitive unless the CodeSystem says otherwise.
    case_sensitive: bool,
    codes: Vec<CompactString>,
    parents: HashMap<CompactString, Vec<CompactString>>,
    properties: HashMap<CompactString, Vec<(CompactString, CompactString)>>,
    /// Each code's `display` first, then its designations' values (any language).
    displays: HashMap<CompactString, Vec<CompactString>>,
}

/// What a loaded CodeSystem says of a Coding's display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Display {
    /// It is the code's display or one of its designations (case and spacing aside), or it
    /// cannot be told (the CodeSystem is not loaded whole, or gives the code no display).
    Fits,
    /// It is none of them; the code's own display is this.
    Wrong(String),
}

/// Displays compare ignoring case and runs of white space.
fn same_display(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

pub struct Terminology {
    registry: Arc<Registry>,
    /// Expansions of ValueSets the registry holds (bounded; an unknown URL is never cached).
    value_sets: quick_cache::sync::Cache<String, Arc<Expansion>>,
    /// Indexes of CodeSystems the registry holds (bounded; an unknown URL is never cached).
    code_systems: quick_cache::sync::Cache<String, Arc<CodeSystemIndex>>,
}

const MAX_NESTING: usize = 12;

fn arr<'a>(j: &'a Json, k: &str) -> &'a [Json] {
    j.get(k).and_then(Json::as_array).unwrap_or(&[])
}

impl Terminology {
    /// The capacities [`Terminology::new`] gives: ValueSet expansions, CodeSystem indexes.
    pub const DEFAULT_CAPACITY: (usize, usize) = (4096, 1024);

    pub fn new(registry: Arc<Registry>) -> Terminology {
        let (value_sets, code_systems) = Terminology::DEFAULT_CAPACITY;
        Terminology::with_capacity(registry, value_sets, code_systems)
    }

    /// A terminology keeping at most `value_sets` expansions and `code_systems` indexes.
    pub fn with_capacity(
        registry: Arc<Registry>,
        value_sets: usize,
        code_systems: usize,
    ) -> Terminology {
        Terminology {
            registry,
            value_sets: quick_cache::sync::Cache::new(value_sets.max(1)),
            code_systems: quick_cache::sync::Cache::new(code_systems.max(1)),
        }
    }

    /// How many ValueSet expansions and CodeSystem indexes are kept now.
    pub fn cached(&self) -> (usize, usize) {
        (self.value_sets.len(), self.code_systems.len())
    }

    /// Is `system|code` in the ValueSet `vs` (a canonical, `|version` allowed)?
    pub fn member(&self, vs: &str, system: Option<&str>, code: &str) -> Membership {
        let exp = self.expand(vs);
        let hit = match system {
            Some(sys) => exp.contains(sys, code),
            None => {
                exp.codes.iter().any(|(_, c)| c == code)
                    || exp.grammars.iter().any(|g| g.is_code(code))
            }
        };
        if hit {
            return Membership::Member;
        }
        if exp.is_complete() {
            return Membership::NotMember;
        }
        Membership::Unknown(exp)
    }

    /// Does the loaded CodeSystem `system` define `code`? `None` when the system is not
    /// loaded completely.
    pub fn code_exists(&self, system: &str, code: &str) -> Option<bool> {
        if let Some(g) = Grammar::of(system) {
            return Some(g.is_code(code));
        }
        let cs = self.code_system(system)?;
        if !cs.complete {
            return None;
        }
        Some(if cs.case_sensitive {
            cs.parents.contains_key(code)
        } else {
            cs.codes.iter().any(|c| c.eq_ignore_ascii_case(code))
        })
    }

    /// Does `display` fit the code `system|code` (see [`Display`])?
    pub fn display(&self, system: &str, code: &str, display: &str) -> Display {
        let Some(cs) = self.code_system(system).filter(|c| c.complete) else {
            return Display::Fits;
        };
        let found = match cs.case_sensitive {
            true => cs.displays.get(code),
            false => cs
                .displays
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(code))
                .map(|(_, d)| d),
        };
        match found {
            Some(all) if !all.is_empty() && !all.iter().any(|d| same_display(d, display)) => {
                Display::Wrong(all[0].to_string())
            }
            _ => Display::Fits,
        }
    }

    /// Is `system` a CodeSystem loaded with all its codes?
    pub fn knows_system(&self, system: &str) -> bool {
        self.code_system(system).is_some_and(|c| c.complete)
    }

    /// The expansion of `vs` (cached).
    pub fn expand(&self, vs: &str) -> Arc<Expansion> {
        self.expand_at(vs, 0)
    }

    fn expand_at(&self, vs: &str, depth: usize) -> Arc<Expansion> {
        if let Some(e) = self.value_sets.get(vs) {
            return e;
        }
        let exp = Arc::new(match self.registry.resolve(vs) {
            None => {
                return Arc::new(Expansion {
                    unknown: vec![format!("ValueSet {vs} (not loaded)")],
                    ..Default::default()
                });
            }
            Some(_) if depth > MAX_NESTING => Expansion {
                unknown: vec![format!("ValueSet {vs} (nested too deeply)")],
                ..Default::default()
            },
            Some(res) => self.compose(&res, depth),
        });
        self.value_sets.insert(vs.to_string(), exp.clone());
        exp
    }

    fn compose(&self, vs: &Json, depth: usize) -> Expansion {
        let mut out = Expansion::default();
        let Some(compose) = vs.get("compose") else {
            return self.pre_expanded(vs).unwrap_or_else(|| Expansion {
                unknown: vec![format!(
                    "ValueSet {} (no compose)",
                    vs.get_str("url").unwrap_or("?")
                )],
                ..Default::default()
            });
        };
        for inc in arr(compose, "include") {
            let part = self.include(inc, depth);
            out.codes.extend(part.codes);
            out.unknown.extend(part.unknown);
            out.grammars = out.grammars.union(part.grammars);
        }
        for exc in arr(compose, "exclude") {
            let part = self.include(exc, depth);
            out.codes.retain(|c| !part.codes.contains(c));
            for g in part.grammars.iter() {
                out.grammars.remove(g);
                out.codes.retain(|(sys, _)| sys != g.system());
            }
            // An exclude we cannot enumerate leaves members uncertain.
            out.unknown.extend(part.unknown);
        }
        if !out.is_complete()
            && let Some(pre) = self.pre_expanded(vs)
        {
            return pre;
        }
        out.unknown.sort();
        out.unknown.dedup();
        out
    }

    /// `expansion.contains` (nested), when the ValueSet carries one with no `total` mismatch.
    fn pre_expanded(&self, vs: &Json) -> Option<Expansion> {
        let exp = vs.get("expansion")?;
        let mut out = Expansion::default();
        fn walk(list: &[Json], out: &mut Expansion) {
            for c in list {
                if let (Some(sys), Some(code)) = (c.get_str("system"), c.get_str("code")) {
                    out.codes.insert((sys.into(), code.into()));
                }
                walk(arr(c, "contains"), out);
            }
        }
        walk(arr(exp, "contains"), &mut out);
        (!out.codes.is_empty()).then_some(out)
    }

    /// One `include` (or `exclude`) clause.
    fn include(&self, inc: &Json, depth: usize) -> Expansion {
        let mut out = Expansion::default();
        let system = inc.get_str("system");
        let mut from_system: Option<CodeSet> = None;
        if let Some(sys) = system {
            let concepts = arr(inc, "concept");
            let filters = arr(inc, "filter");
            if !concepts.is_empty() {
                from_system = Some(
                    concepts
                        .iter()
                        .filter_map(|c| c.get_str("code"))
                        .map(|c| (sys.into(), c.into()))
                        .collect(),
                );
            } else if let Some(g) = Grammar::of(sys)
                && filters.is_empty()
                && arr(inc, "valueSet").is_empty()
            {
                // A grammar, not a list: its codes are checked, not enumerated.
                out.grammars.insert(g);
                return out;
            } else {
                match self.code_system(sys) {
                    Some(cs) if cs.complete => {
                        let mut codes: HashSet<&CompactString> = cs.codes.iter().collect();
                        for f in filters {
                            match filter(&cs, f) {
                                Some(keep) => codes.retain(|c| keep.contains(*c)),
                                None => {
                                    out.unknown.push(format!(
                                        "{sys} (filter {} {} not supported)",
                                        f.get_str("property").unwrap_or("?"),
                                        f.get_str("op").unwrap_or("?")
                                    ));
                                    return out;
                                }
                            }
                        }
                        from_system =
                            Some(codes.into_iter().map(|c| (sys.into(), c.clone())).collect());
                    }
                    _ => {
                        out.unknown.push(sys.to_string());
                        return out;
                    }
                }
            }
        }
        let mut result = from_system;
        for vs in arr(inc, "valueSet").iter().filter_map(Json::as_str) {
            let nested = self.expand_at(vs, depth + 1);
            out.unknown.extend(nested.unknown.iter().cloned());
            result = Some(match result {
                None => nested.codes.clone(),
                Some(r) => r.intersection(&nested.codes).cloned().collect(),
            });
        }
        out.codes = result.unwrap_or_default();
        out
    }

    fn code_system(&self, url: &str) -> Option<Arc<CodeSystemIndex>> {
        if let Some(hit) = self.code_systems.get(url) {
            return Some(hit);
        }
        let idx = self
            .registry
            .resolve(url)
            .filter(|r| r.get_str("resourceType") == Some("CodeSystem"))
            .map(|cs| Arc::new(index_code_system(&cs)))?;
        self.code_systems.insert(url.to_string(), idx.clone());
        Some(idx)
    }
}

fn index_code_system(cs: &Json) -> CodeSystemIndex {
    let mut idx = CodeSystemIndex {
        complete: cs.get_str("content") == Some("complete"),
        case_sensitive: cs
            .get("caseSensitive")
            .and_then(Json::as_bool)
            .unwrap_or(true),
        ..Default::default()
    };
    fn walk(list: &[Json], parent: Option<&str>, idx: &mut CodeSystemIndex) {
        for c in list {
            let Some(code) = c.get_str("code") else {
                continue;
            };
            let code = CompactString::from(code);
            if !idx.parents.contains_key(&code) {
                idx.codes.push(code.clone());
            }
            let parents = idx.parents.entry(code.clone()).or_default();
            if let Some(p) = parent {
                parents.push(p.into());
            }
            let displays: Vec<CompactString> = c
                .get_str("display")
                .into_iter()
                .chain(
                    arr(c, "designation")
                        .iter()
                        .filter_map(|d| d.get_str("value")),
                )
                .map(CompactString::from)
                .collect();
            if !displays.is_empty() {
                idx.displays.insert(code.clone(), displays);
            }
            for p in arr(c, "property") {
                let Some(name) = p.get_str("code") else {
                    continue;
                };
                let value = p
                    .as_object()
                    .and_then(|o| {
                        o.iter()
                            .find(|(k, _)| k.starts_with("value"))
                            .map(|(_, v)| {
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_compact())
                            })
                    })
                    .unwrap_or_default();
                if name == "parent" || name == "subsumedBy" {
                    idx.parents
                        .entry(code.clone())
                        .or_default()
                        .push(value.as_str().into());
                    continue;
                }
                idx.properties
                    .entry(code.clone())
                    .or_default()
                    .push((name.into(), value.into()));
            }
            walk(arr(c, "concept"), Some(&code), idx);
        }
    }
    walk(arr(cs, "concept"), None, &mut idx);
    idx
}

/// The codes of `cs` a filter keeps; `None` for a filter this module does not evaluate.
fn filter(cs: &CodeSystemIndex, f: &Json) -> Option<HashSet<CompactString>> {
    let prop = f.get_str("property")?;
    let op = f.get_str("op")?;
    let value = f.get_str("value")?;
    let descendants = |root: &str, include_self: bool| {
        let mut out: HashSet<CompactString> = HashSet::default();
        for c in &cs.codes {
            if (include_self && c == root) || is_descendant(cs, c, root) {
                out.insert(c.clone());
            }
        }
        out
    };
    match (prop, op) {
        ("concept", "is-a") => Some(descendants(value, true)),
        ("concept", "descendent-of") => Some(descendants(value, false)),
        ("concept", "is-not-a") => {
            let not = descendants(value, true);
            Some(
                cs.codes
                    .iter()
                    .filter(|c| !not.contains(*c))
                    .cloned()
                    .collect(),
            )
        }
        ("concept" | "code", "in") => Some(value.split(',').map(|v| v.trim().into()).collect()),
        ("concept" | "code", "=") => Some([CompactString::from(value)].into_iter().collect()),
        (p, "=") => Some(
            cs.codes
                .iter()
                .filter(|c| {
                    cs.properties
                        .get(*c)
                        .is_some_and(|ps| ps.iter().any(|(n, v)| n == p && v == value))
                })
                .cloned()
                .collect(),
        ),
        (p, "in") => {
            let values: Vec<&str> = value.split(',').map(str::trim).collect();
            Some(
                cs.codes
                    .iter()
                    .filter(|c| {
                        cs.properties.get(*c).is_some_and(|ps| {
                            ps.iter()
                                .any(|(n, v)| n == p && values.contains(&v.as_str()))
                        })
                    })
                    .cloned()
                    .collect(),
            )
        }
        (p, "exists") => {
            let want = value == "true";
            Some(
                cs.codes
                    .iter()
                    .filter(|c| {
                        cs.properties
                            .get(*c)
                            .is_some_and(|ps| ps.iter().any(|(n, _)| n == p))
                            == want
                    })
                    .cloned()
                    .collect(),
            )
        }
        _ => None,
    }
}

/// Is `code` below `ancestor` in the CodeSystem's hierarchy?
fn is_descendant(cs: &CodeSystemIndex, code: &str, ancestor: &str) -> bool {
    let mut stack: Vec<&str> = vec![code];
    let mut seen: HashSet<&str> = HashSet::default();
    while let Some(c) = stack.pop() {
        for p in cs.parents.get(c).map(Vec::as_slice).unwrap_or(&[]) {
            if p == ancestor {
                return true;
            }
            if seen.insert(p) {
                stack.push(p);
            }
        }
    }
    false
}
