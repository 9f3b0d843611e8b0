//! `memberOf()` against loaded ValueSets, offline.
//!
//! A ValueSet answers when every part of it can be enumerated from what is loaded: explicit
//! concept lists, whole CodeSystems that are loaded and complete, nested ValueSets of the
//! same kind, excludes of either. Anything else — property filters, systems not loaded
//! (SNOMED CT, LOINC), fragment CodeSystems — gives "cannot tell" (`None`), which FHIRPath
//! turns into an empty result, never into a false pass or a false fail. Full expansion with
//! filters (`is-a`, `descendent-of`, properties) belongs to the validator.

use std::collections::{HashMap, HashSet};

use crate::json::Json;

#[derive(Default)]
pub struct Terminology {
    value_sets: HashMap<String, Json>,
    /// Codes of complete CodeSystems, by system URL (nested concepts included).
    code_systems: HashMap<String, HashSet<String>>,
}

impl Terminology {
    /// The ValueSets and CodeSystems of an R4 core folder (`valuesets.json`) or of an
    /// unpacked package (`ValueSet-*.json`, `CodeSystem-*.json`). Unreadable files are skipped:
    /// what is not loaded only makes `memberOf` answer "cannot tell".
    pub fn load_dir(dir: &std::path::Path) -> Terminology {
        let mut t = Terminology::default();
        let mut add_file = |path: &std::path::Path| {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(json) = crate::json::parse(&text)
            {
                t.add(&json);
            }
        };
        if dir.join("valuesets.json").is_file() {
            add_file(&dir.join("valuesets.json"));
        } else if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if (name.starts_with("ValueSet-") || name.starts_with("CodeSystem-"))
                    && name.ends_with(".json")
                {
                    add_file(&e.path());
                }
            }
        }
        t
    }

    /// Add a ValueSet, a CodeSystem, or every one of them in a Bundle.
    pub fn add(&mut self, res: &Json) {
        let s = |k: &str| res.get(k).and_then(Json::as_str);
        match s("resourceType") {
            Some("Bundle") => {
                for e in res.get("entry").and_then(Json::as_array).unwrap_or(&[]) {
                    if let Some(r) = e.get("resource") {
                        self.add(r);
                    }
                }
            }
            Some("ValueSet") => {
                if let Some(url) = s("url") {
                    self.value_sets.insert(url.to_string(), res.clone());
                }
            }
            Some("CodeSystem") if s("content") == Some("complete") => {
                if let Some(url) = s("url") {
                    let mut codes = HashSet::new();
                    collect_codes(res.get("concept"), &mut codes);
                    self.code_systems.insert(url.to_string(), codes);
                }
            }
            _ => {}
        }
    }

    pub fn value_set_count(&self) -> usize {
        self.value_sets.len()
    }

    /// Whether `code` (in `system`, when given) is in the ValueSet `url` (`url|version`
    /// accepted); `None` when that cannot be decided offline.
    pub fn member_of(&self, system: Option<&str>, code: &str, url: &str) -> Option<bool> {
        self.member(system, code, url, 0)
    }

    fn member(&self, system: Option<&str>, code: &str, url: &str, depth: u8) -> Option<bool> {
        if depth > 8 {
            return None;
        }
        let url = url.split('|').next().unwrap_or(url);
        let vs = self.value_sets.get(url)?;
        if let Some(contains) = vs.get("expansion").and_then(|e| e.get("contains")) {
            return Some(in_expansion(contains, system, code));
        }
        let compose = vs.get("compose")?;
        let part = |key: &str| -> Option<bool> {
            let mut any = false;
            for inc in compose.get(key).and_then(Json::as_array).unwrap_or(&[]) {
                if self.in_include(inc, system, code, depth)? {
                    any = true;
                }
            }
            Some(any)
        };
        let included = part("include")?;
        if !included {
            return Some(false);
        }
        Some(!part("exclude")?)
    }

    fn in_include(&self, inc: &Json, system: Option<&str>, code: &str, depth: u8) -> Option<bool> {
        if inc.get("filter").is_some() {
            return None;
        }
        let inc_system = inc.get("system").and_then(Json::as_str);
        let mut matches = match (inc_system, system) {
            (Some(a), Some(b)) if a != b => return Some(false),
            (Some(sys), _) => match inc.get("concept").and_then(Json::as_array) {
                Some(concepts) => concepts
                    .iter()
                    .any(|c| c.get("code").and_then(Json::as_str) == Some(code)),
                None => self.code_systems.get(sys)?.contains(code),
            },
            (None, _) => true,
        };
        for vs in inc.get("valueSet").and_then(Json::as_array).unwrap_or(&[]) {
            let url = vs.as_str()?;
            matches = matches && self.member(system, code, url, depth + 1)?;
        }
        Some(matches)
    }
}

fn collect_codes(concepts: Option<&Json>, out: &mut HashSet<String>) {
    for c in concepts.and_then(Json::as_array).unwrap_or(&[]) {
        if let Some(code) = c.get("code").and_then(Json::as_str) {
            out.insert(code.to_string());
        }
        collect_codes(c.get("concept"), out);
    }
}

fn in_expansion(contains: &Json, system: Option<&str>, code: &str) -> bool {
    contains.as_array().unwrap_or(&[]).iter().any(|c| {
        (c.get("code").and_then(Json::as_str) == Some(code)
            && system.is_none_or(|s| c.get("system").and_then(Json::as_str) == Some(s)))
            || c.get("contains")
                .is_some_and(|n| in_expansion(n, system, code))
    })
}
