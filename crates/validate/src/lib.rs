//! Instance validation: a resource (or Bundle) against its base definition, the profiles in
//! its `meta.profile` and any the caller names, offline.
//!
//! [`Validator`] holds what validation needs from the loaded packages, built lazily and
//! shared across threads: snapshots ([`crate::snapshot`]) compiled into [`profile::Profile`]
//! trees, ValueSet expansions ([`crate::terminology`]), the FHIRPath type model and
//! compiled invariants. [`Validator::validate`] walks one instance ([`walk`]) and returns
//! [`Issue`]s with stable ids (catalogued in `conformance/messages.md`), a FHIRPath
//! `expression` and the source position.
//!
//! Invariants: validation never changes its input and never stops at the first problem;
//! messages name elements, rules and profiles but never quote instance values (which may
//! be patient data), except codes, which are not personal.

use spfhir_conformance::{package, snapshot, terminology};
use spfhir_element::{self as json, issue};
use spfhir_fhirpath as fhirpath;

mod batch;
mod bundle;
mod engine;
mod primitive;
pub mod profile;
mod questionnaire;
mod walk;

use std::sync::Arc;

use crate::fhirpath::{Cache, Model};
use crate::issue::{Issue, Severity};
use crate::package::Registry;
use crate::snapshot::{Generator, SnapshotError, type_url};
use crate::terminology::Terminology;
use json::Json;

pub use batch::{BATCH, LineOutcome, syntax_issue};
pub use engine::Engine;
pub use profile::{NodeRef, Profile};

/// UCUM's system URL: a Quantity in it has a UCUM unit code.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// A Quantity as messages show it: `250 cm` (its code, else its unit), or the bare value.
pub(crate) fn quantity_text(q: &Json) -> String {
    let value = q.get("value").map(Json::to_compact).unwrap_or_default();
    match q.get_str("code").or_else(|| q.get_str("unit")) {
        Some(unit) => format!("{value} {unit}"),
        None => value,
    }
}

/// `{path}{seg}`, then `[{i}]` when given: built by hand rather than by `format!`, since
/// paths are made for every item the walk and the Questionnaire checks visit.
pub(crate) fn sub_path(path: &str, seg: &str, i: Option<usize>) -> String {
    let mut buf = itoa::Buffer::new();
    let n = i.map(|i| buf.format(i));
    let mut s = String::with_capacity(path.len() + seg.len() + n.map_or(0, |n| n.len() + 2));
    s.push_str(path);
    s.push_str(seg);
    if let Some(n) = n {
        s.push('[');
        s.push_str(n);
        s.push(']');
    }
    s
}

/// How codes from systems that cannot be checked offline (SNOMED CT, LOINC, …) are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UncheckedCodes {
    /// A warning: "not checked: system not available offline" (the default).
    #[default]
    Warning,
    /// An information issue.
    Information,
    /// Nothing.
    Ignore,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Profiles every resource is also validated against (`--profile`).
    pub profiles: Vec<String>,
    pub unchecked_codes: UncheckedCodes,
    /// Evaluate invariants of simple shapes straight on the JSON ([`crate::fhirpath::fast`])
    /// rather than with the general FHIRPath evaluator. Same results; on by default, off
    /// only to compare the two.
    pub general_invariants_only: bool,
    /// Walk every profile in full, even where it repeats what the base definition's pass
    /// has already checked (the same datatype under the same object, an element a profile
    /// leaves as the base has it). Same results, slower; only to compare the two.
    pub no_skips: bool,
    /// How much the validator's caches may hold.
    pub cache: CacheSizes,
    /// How long one resource (a Bundle with its entries counts as one) may take. Past it the
    /// walk stops and says so (`VALIDATION_TIME_LIMIT`, an error: the resource is not known
    /// to be valid). `None`: no limit.
    pub max_time_per_resource: Option<std::time::Duration>,
    /// An extension whose definition is not loaded: an error (the default, as the HL7
    /// reference validator has it), or a warning.
    pub unknown_extensions: UnknownExtensions,
    /// Validate an Observation whose code is a vital sign's LOINC code against that vital
    /// sign's R4 profile as well, as FHIR R4 requires and the reference validator does (on
    /// by default).
    pub implied_profiles: bool,
    /// URL prefixes of extensions that may be used without a loaded definition (reported
    /// as information): a partner's own namespace, say. Example namespaces (`example.org`,
    /// `acme.com`) and HL7's tooling extensions are always allowed.
    pub extension_domains: Vec<String>,
}

/// What an extension whose definition is not loaded is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownExtensions {
    /// An error: it cannot be checked, and a receiver cannot know what it means.
    #[default]
    Error,
    /// A warning.
    Warning,
}

impl Options {
    /// Whether an extension at `url` may be used without a loaded definition: an example
    /// namespace, HL7's tooling extensions, or a configured domain.
    pub fn extension_allowed(&self, url: &str) -> bool {
        ["example.org", "acme.com", "nema.org"]
            .iter()
            .any(|d| url.contains(d))
            || url.starts_with("http://hl7.org/fhir/tools/StructureDefinition/")
            || self
                .extension_domains
                .iter()
                .any(|d| url.starts_with(d.as_str()))
    }
}

impl Options {
    /// The default time limit per resource: far above any real resource (the largest
    /// corpus Bundles take milliseconds), low enough that a pathological one cannot hold a
    /// worker for long.
    pub const DEFAULT_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(30);
}

impl Default for Options {
    fn default() -> Options {
        Options {
            profiles: Vec::new(),
            unchecked_codes: UncheckedCodes::default(),
            general_invariants_only: false,
            no_skips: false,
            cache: CacheSizes::default(),
            max_time_per_resource: Some(Options::DEFAULT_MAX_TIME),
            unknown_extensions: UnknownExtensions::default(),
            implied_profiles: true,
            extension_domains: Vec::new(),
        }
    }
}

/// Upper bounds on what a [`Validator`] keeps between validations, in entries. Each cache
/// drops its least useful entries past its bound; only definitions the packages hold are
/// cached, so an instance cannot fill a cache with URLs of its own choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Compiled profiles and base definitions.
    pub profiles: usize,
    /// Snapshots (published or generated).
    pub snapshots: usize,
    /// ValueSet expansions.
    pub value_sets: usize,
    /// CodeSystem indexes.
    pub code_systems: usize,
    /// Compiled FHIRPath expressions (invariants, `enableWhenExpression`s).
    pub expressions: usize,
    /// Compiled Questionnaire `regex` extensions.
    pub regexes: usize,
}

impl Default for CacheSizes {
    fn default() -> CacheSizes {
        CacheSizes {
            profiles: 2048,
            snapshots: Generator::DEFAULT_CAPACITY,
            value_sets: Terminology::DEFAULT_CAPACITY.0,
            code_systems: Terminology::DEFAULT_CAPACITY.1,
            expressions: Cache::DEFAULT_CAPACITY,
            regexes: 512,
        }
    }
}

/// Validates instances against the packages of one [`Registry`]. It owns what it needs
/// (`Send + Sync + 'static`), so it can live in a server's shared state; its caches fill
/// lazily and are shared across threads.
pub struct Validator {
    registry: Arc<Registry>,
    snapshots: Generator,
    terminology: Terminology,
    model: Model,
    fhirpath: Cache,
    /// Compiled definitions the registry holds (an unknown URL's error is not kept).
    profiles: quick_cache::sync::Cache<String, Result<Arc<Profile>, SnapshotError>>,
    /// Questionnaire `regex` extensions, compiled (anchored); `None` when invalid.
    regexes: quick_cache::sync::Cache<String, Option<Arc<regex::Regex>>>,
    /// The vital signs profiles that are loaded, by the LOINC code each requires.
    vital_signs: std::sync::OnceLock<Vec<(String, String)>>,
    pub options: Options,
}

/// The profiles FHIR R4 requires of an Observation by its code (observation-vitalsigns.html:
/// "if implementations use this code in Observation.code, they SHALL conform"). Each one's
/// LOINC code is read from the profile itself.
const VITAL_SIGNS: [&str; 10] = [
    "vitalspanel",
    "resprate",
    "heartrate",
    "oxygensat",
    "bodytemp",
    "bodyheight",
    "headcircum",
    "bodyweight",
    "bmi",
    "bp",
];

impl Validator {
    pub fn new(registry: Arc<Registry>, options: Options) -> Validator {
        let sizes = options.cache;
        Validator {
            snapshots: Generator::with_capacity(registry.clone(), sizes.snapshots),
            terminology: Terminology::with_capacity(
                registry.clone(),
                sizes.value_sets,
                sizes.code_systems,
            ),
            model: Model::from_source(registry.clone()),
            registry,
            fhirpath: Cache::with_capacity(sizes.expressions),
            profiles: quick_cache::sync::Cache::new(sizes.profiles.max(1)),
            regexes: quick_cache::sync::Cache::new(sizes.regexes.max(1)),
            vital_signs: std::sync::OnceLock::new(),
            options,
        }
    }

    /// The FHIRPath type model over this validator's packages.
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn terminology(&self) -> &Terminology {
        &self.terminology
    }

    /// The compiled profile (or base definition) at `url`.
    pub fn profile(&self, url: &str) -> Result<Arc<Profile>, SnapshotError> {
        if let Some(p) = self.profiles.get(url) {
            return p;
        }
        let p = self.snapshots.snapshot(url).and_then(|snap| {
            // A differential element that matches nothing in the base would be a constraint
            // silently dropped: the profile is not used, rather than used in part.
            if !snap.problems.is_empty() {
                return Err(SnapshotError::Invalid {
                    url: url.to_string(),
                    message: snap.problems.join("; "),
                });
            }
            let mut p = Profile::compile(&snap, &self.fhirpath);
            let base_url = type_url(&p.type_name);
            if url != base_url
                && let Ok(base) = self.profile(&base_url)
            {
                p.mark_same_as_base(&base);
            }
            Ok(Arc::new(p))
        });
        if !matches!(&p, Err(SnapshotError::NotFound(missing)) if missing == url) {
            self.profiles.insert(url.to_string(), p.clone());
        }
        p
    }

    /// The profiles FHIR requires of an Observation with this `code` (a CodeableConcept)
    /// that the packages hold: `(LOINC code, profile URL)`.
    pub(crate) fn implied_profiles<'s>(&'s self, code: &Json) -> Vec<&'s (String, String)> {
        let codings = code.get("coding").and_then(Json::as_array).unwrap_or(&[]);
        // The ten profiles are compiled only once an Observation with a LOINC code comes.
        if !codings
            .iter()
            .any(|c| c.get_str("system") == Some("http://loinc.org"))
        {
            return Vec::new();
        }
        let known = self.vital_signs.get_or_init(|| {
            VITAL_SIGNS
                .iter()
                .filter_map(|id| {
                    let url = format!("http://hl7.org/fhir/StructureDefinition/{id}");
                    let p = self.profile(&url).ok()?;
                    let code = p.nodes.iter().find_map(|n| {
                        (n.path == "Observation.code.coding.code")
                            .then(|| n.fixed.as_ref()?.as_str())
                            .flatten()
                    })?;
                    Some((code.to_string(), url))
                })
                .collect()
        });
        known
            .iter()
            .filter(|(loinc, _)| {
                codings.iter().any(|c| {
                    c.get_str("system") == Some("http://loinc.org")
                        && c.get_str("code") == Some(loinc.as_str())
                })
            })
            .collect()
    }

    /// A regular expression from a resource (anchored to match the whole value), compiled
    /// once; `None` when it is not valid.
    pub fn regex(&self, pattern: &str) -> Option<Arc<regex::Regex>> {
        if let Some(r) = self.regexes.get(pattern) {
            return r;
        }
        let r = primitive::anchored(pattern).ok().map(Arc::new);
        self.regexes.insert(pattern.to_string(), r.clone());
        r
    }

    /// How many entries each cache holds now (the same fields as its bounds).
    pub fn cached(&self) -> CacheSizes {
        let (value_sets, code_systems) = self.terminology.cached();
        CacheSizes {
            profiles: self.profiles.len(),
            snapshots: self.snapshots.cached(),
            value_sets,
            code_systems,
            expressions: self.fhirpath.len(),
            regexes: self.regexes.len(),
        }
    }

    /// The base definition of a type (`Patient`, `HumanName`).
    pub fn base(&self, type_name: &str) -> Result<Arc<Profile>, SnapshotError> {
        self.profile(&type_url(type_name))
    }

    /// Validate one resource (a Bundle's entries included). Issues come in document order
    /// of the elements they concern, each once.
    pub fn validate(&self, resource: &Json) -> Vec<Issue> {
        self.validate_against(resource, &[])
    }

    /// [`Validator::validate`], also against `profiles` (canonical URLs) beyond
    /// `Options::profiles` and the resource's own `meta.profile`.
    pub fn validate_against(&self, resource: &Json, profiles: &[String]) -> Vec<Issue> {
        let mut w = walk::Walk::new(self, resource);
        let all: Vec<String>;
        let profiles = if profiles.is_empty() {
            &self.options.profiles
        } else {
            all = self
                .options
                .profiles
                .iter()
                .chain(profiles)
                .cloned()
                .collect();
            &all
        };
        w.resource(resource, None, profiles);
        let mut issues = w.finish(resource);
        dedup(&mut issues);
        issues
    }
}

/// The same finding reached through the base definition and a profile is reported once
/// (the first, which names the more basic rule); then issues are put in document order.
fn dedup(issues: &mut Vec<Issue>) {
    let mut seen = std::collections::HashSet::new();
    issues.retain(|i| seen.insert((i.id, i.expression.clone(), i.message.clone())));
    issues.sort_by_key(|i| i.pos.map_or(u32::MAX, |p| p.0));
}

/// Does a result hold any error?
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity <= Severity::Error)
}
