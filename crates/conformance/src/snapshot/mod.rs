//! Snapshot generation: the full element list of a profile, from its differential and the
//! snapshot of its base.
//!
//! Elements are matched by `ElementDefinition.id` (`Observation.component:Systolic.code`).
//! A differential element that is not yet in the snapshot is either a new slice (its last
//! id segment carries `:name`; it starts as a copy of the sliced element and its children,
//! placed after the earlier slices), a child of a complex element whose type has not been
//! expanded yet (the children come from the type's own snapshot, or its profile's when the
//! type names one, or from the `contentReference` target), or a type-specific name of a
//! choice (`valueQuantity` constrains `value[x]` to `Quantity`). Properties in the
//! differential replace the base's, except `constraint`, which adds to them.
//!
//! Invariants: generation never changes the StructureDefinitions it reads (snapshots are
//! new element lists); a differential element it cannot place is reported, never dropped
//! silently; profiles that already carry a snapshot are used as published.

use std::sync::Arc;

use crate::json::Json;
use crate::package::Registry;

/// A generated (or published) snapshot.
#[derive(Debug)]
pub struct Snapshot {
    pub url: String,
    /// `StructureDefinition.type`.
    pub type_name: String,
    /// `StructureDefinition.derivation` is `constraint`: a profile of another definition,
    /// not a base definition of a type.
    pub constraint: bool,
    pub elements: Vec<Json>,
    /// Differential elements that could not be placed, in plain words.
    pub problems: Vec<String>,
    /// An extension definition's `context`s, or its base's when it states none.
    pub contexts: Vec<ExtensionContext>,
    /// An extension definition's `contextInvariant`s (FHIRPath on the holder, `%extension`
    /// the extension), or its base's when it states none.
    pub context_invariants: Vec<String>,
}

/// Where an extension may be used (`StructureDefinition.context`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionContext {
    pub kind: ContextKind,
    pub expression: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    /// An element id or type name (`Patient.name`, `HumanName`, `Element`).
    Element,
    /// Inside the extension with this URL.
    Extension,
    /// A FHIRPath expression, evaluated on the resource: the holder must be among its results.
    Fhirpath,
}

/// Places HL7's own R4 definitions use four of R4's extensions that their R4 `context`
/// leaves out: every R4 snapshot puts `structuredefinition-fhir-type` (and some `regex`) on
/// `ElementDefinition.type`, where R4 says `ElementDefinition.type.code`;
/// `structuredefinition-normative-version` marks normative CodeSystems, ValueSets,
/// OperationDefinitions and elements, where R4 says StructureDefinition; and R4's
/// CodeSystems carry `valueset-concept-comments`. The later definitions of these
/// extensions (R4B, R5 and HL7's extensions pack, which the reference validator loads) allow
/// these places, so spfhir does too: otherwise every StructureDefinition with a snapshot
/// would be rejected.
const R4_CONTEXT_ERRATA: &[(&str, &[&str])] = &[
    (
        "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type",
        &["ElementDefinition.type"],
    ),
    (
        "http://hl7.org/fhir/StructureDefinition/regex",
        &["ElementDefinition.type", "ElementDefinition.type.code"],
    ),
    (
        "http://hl7.org/fhir/StructureDefinition/structuredefinition-normative-version",
        &[
            "CodeSystem",
            "ValueSet",
            "ConceptMap",
            "NamingSystem",
            "OperationDefinition",
            "SearchParameter",
            "CapabilityStatement",
            "CompartmentDefinition",
            "StructureMap",
            "ElementDefinition",
        ],
    ),
    (
        "http://hl7.org/fhir/StructureDefinition/valueset-concept-comments",
        &["CodeSystem.concept"],
    ),
];

/// The `context` entries of a StructureDefinition, with [`R4_CONTEXT_ERRATA`].
fn contexts_of(sd: &Json) -> Vec<ExtensionContext> {
    let mut contexts = stated_contexts(sd);
    if !contexts.is_empty()
        && let Some(url) = sd.get_str("url")
        && let Some((_, extra)) = R4_CONTEXT_ERRATA.iter().find(|(u, _)| *u == url)
    {
        contexts.extend(extra.iter().map(|e| ExtensionContext {
            kind: ContextKind::Element,
            expression: (*e).to_string(),
        }));
    }
    contexts
}

/// The `context` entries as the StructureDefinition states them.
fn stated_contexts(sd: &Json) -> Vec<ExtensionContext> {
    sd.get("context")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| {
            let kind = match c.get_str("type")? {
                "element" => ContextKind::Element,
                "extension" => ContextKind::Extension,
                "fhirpath" => ContextKind::Fhirpath,
                _ => return None,
            };
            Some(ExtensionContext {
                kind,
                expression: c.get_str("expression")?.to_string(),
            })
        })
        .collect()
}

/// The `contextInvariant` expressions of a StructureDefinition.
fn context_invariants_of(sd: &Json) -> Vec<String> {
    sd.get("contextInvariant")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SnapshotError {
    #[error("StructureDefinition {0} is not loaded")]
    NotFound(String),
    #[error("StructureDefinition {url}: {message}")]
    Invalid { url: String, message: String },
}

/// The one rule for what a base definition is (see [`spfhir_fhirpath::model::is_constraint`]).
pub use spfhir_fhirpath::model::is_constraint;

/// Generates snapshots on demand and keeps them.
pub struct Generator {
    registry: Arc<Registry>,
    /// Snapshots of definitions the registry holds (bounded); a URL it does not hold is
    /// never cached, so instances cannot fill the cache with URLs of their choosing.
    cache: quick_cache::sync::Cache<String, Result<Arc<Snapshot>, SnapshotError>>,
}

const MAX_DEPTH: usize = 16;

fn id_of(el: &Json) -> String {
    el.get_str("id")
        .or_else(|| el.get_str("path"))
        .unwrap_or_default()
        .to_string()
}

/// Set (replace or append) member `key` of an object.
fn set(el: &mut Json, key: &str, value: Json) {
    if let Some(o) = el.as_object_mut() {
        match o.get_mut(key) {
            Some(v) => *v = value,
            None => {
                el.push_member(key, value);
            }
        }
    }
}

fn remove(el: &mut Json, key: &str) {
    if let Some(o) = el.as_object_mut() {
        o.members.retain(|m| m.key != key);
    }
}

/// Rename an element copied from `from_id`/`from_path` to sit under `to_id`/`to_path`.
fn reroot(el: &Json, from_id: &str, to_id: &str, from_path: &str, to_path: &str) -> Json {
    let mut e = el.clone();
    let id = id_of(el);
    let path = el.get_str("path").unwrap_or_default().to_string();
    set(
        &mut e,
        "id",
        Json::from(format!("{to_id}{}", &id[from_id.len().min(id.len())..])),
    );
    set(
        &mut e,
        "path",
        Json::from(format!(
            "{to_path}{}",
            &path[from_path.len().min(path.len())..]
        )),
    );
    e
}

/// Is `id` inside the subtree of `root` (itself, a child or a slice of it)?
fn in_subtree(id: &str, root: &str) -> bool {
    id == root
        || id
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with(':'))
}

/// Is `id` a strict descendant (child path) of `root`, not a slice of it?
fn is_child(id: &str, root: &str) -> bool {
    id.strip_prefix(root)
        .is_some_and(|rest| rest.starts_with('.'))
}

impl Generator {
    /// The capacity [`Generator::new`] gives.
    pub const DEFAULT_CAPACITY: usize = 2048;

    pub fn new(registry: Arc<Registry>) -> Generator {
        Generator::with_capacity(registry, Generator::DEFAULT_CAPACITY)
    }

    /// A generator keeping at most `capacity` snapshots.
    pub fn with_capacity(registry: Arc<Registry>, capacity: usize) -> Generator {
        Generator {
            registry,
            cache: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// How many snapshots are kept now.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The snapshot of the StructureDefinition at `url` (published, else generated).
    pub fn snapshot(&self, url: &str) -> Result<Arc<Snapshot>, SnapshotError> {
        self.snapshot_at(url, 0)
    }

    fn snapshot_at(&self, url: &str, depth: usize) -> Result<Arc<Snapshot>, SnapshotError> {
        if let Some(hit) = self.cache.get(url) {
            return hit;
        }
        let result = match self.registry.resolve(url) {
            None => return Err(SnapshotError::NotFound(url.to_string())),
            Some(other) if other.get_str("resourceType") != Some("StructureDefinition") => {
                Err(SnapshotError::Invalid {
                    url: url.to_string(),
                    message: format!(
                        "the URL names a {}, not a StructureDefinition",
                        other.get_str("resourceType").unwrap_or("resource")
                    ),
                })
            }
            Some(sd) => {
                let published = sd
                    .get("snapshot")
                    .and_then(|s| s.get("element"))
                    .and_then(Json::as_array);
                match published {
                    Some(els) if !els.is_empty() => Ok(Arc::new(Snapshot {
                        url: url.to_string(),
                        type_name: sd.get_str("type").unwrap_or_default().to_string(),
                        constraint: is_constraint(&sd),
                        elements: els.to_vec(),
                        problems: Vec::new(),
                        contexts: contexts_of(&sd),
                        context_invariants: context_invariants_of(&sd),
                    })),
                    _ => self.generate_at(&sd, depth).map(Arc::new),
                }
            }
        };
        self.cache.insert(url.to_string(), result.clone());
        result
    }

    /// Generate the snapshot of `sd` from its differential, ignoring any snapshot it has.
    pub fn generate(&self, sd: &Json) -> Result<Snapshot, SnapshotError> {
        self.generate_at(sd, 0)
    }

    fn generate_at(&self, sd: &Json, depth: usize) -> Result<Snapshot, SnapshotError> {
        let url = sd.get_str("url").unwrap_or("(no url)").to_string();
        let invalid = |message: String| SnapshotError::Invalid {
            url: url.clone(),
            message,
        };
        if depth > MAX_DEPTH {
            return Err(invalid(
                "base definitions nest too deeply (a cycle?)".into(),
            ));
        }
        let base_url = sd
            .get_str("baseDefinition")
            .ok_or_else(|| invalid("has neither a snapshot nor a baseDefinition".into()))?;
        let base = self.snapshot_at(base_url, depth + 1)?;
        let mut elements = base.elements.clone();
        let mut problems = Vec::new();
        let diff = sd
            .get("differential")
            .and_then(|d| d.get("element"))
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        for d in diff {
            let id = id_of(d);
            match self.place(&mut elements, &id, depth) {
                Some(i) => {
                    merge(&mut elements[i], d);
                    if d.get("type").is_some() {
                        self.inherit_profile_constraints(&mut elements[i], depth);
                    }
                }
                None => problems.push(format!(
                    "differential element {id} matches nothing in the base {base_url}"
                )),
            }
        }
        let mut contexts = contexts_of(sd);
        if contexts.is_empty() {
            contexts = base.contexts.clone();
        }
        let mut context_invariants = context_invariants_of(sd);
        if context_invariants.is_empty() {
            context_invariants = base.context_invariants.clone();
        }
        Ok(Snapshot {
            url,
            type_name: sd.get_str("type").unwrap_or_default().to_string(),
            constraint: is_constraint(sd),
            elements,
            problems,
            contexts,
            context_invariants,
        })
    }

    /// The index of element `id` in `elements`, creating it (slice, expanded children or
    /// choice rename) when needed. `None` when it cannot exist.
    fn place(&self, elements: &mut Vec<Json>, id: &str, depth: usize) -> Option<usize> {
        if let Some(i) = elements.iter().position(|e| id_of(e) == id) {
            return Some(i);
        }
        // Split the id at its last segment, minding `.` inside slice names is not allowed
        // but `/` (reslices) and `:` are.
        let (parent_id, last) = match id.rfind('.') {
            Some(dot) => (&id[..dot], &id[dot + 1..]),
            None => return None,
        };
        if let Some((name, slice)) = last.split_once(':') {
            // A (re)slice of `parent.name` (or of a slice `parent.name:a` for `a/b`).
            let (sliced_id, sep, inner) = match slice.rsplit_once('/') {
                Some((outer, inner)) => (format!("{parent_id}.{name}:{outer}"), '/', inner),
                None => (format!("{parent_id}.{name}"), ':', slice),
            };
            let u = self.place(elements, &sliced_id, depth)?;
            let sliced_id = id_of(&elements[u]);
            let new_id = format!("{sliced_id}{sep}{inner}");
            if let Some(i) = elements.iter().position(|e| id_of(e) == new_id) {
                return Some(i);
            }
            if elements[u].get("slicing").is_none() && is_extension(&elements[u]) {
                // Extensions are sliced by url unless a profile says otherwise.
                set(&mut elements[u], "slicing", default_extension_slicing());
            }
            let end = (u + 1..elements.len())
                .find(|&i| !in_subtree(&id_of(&elements[i]), &sliced_id))
                .unwrap_or(elements.len());
            let u_path = elements[u].get_str("path").unwrap_or_default().to_string();
            let mut slice_els: Vec<Json> = vec![{
                let mut e = elements[u].clone();
                set(&mut e, "id", Json::from(new_id.as_str()));
                set(&mut e, "sliceName", Json::from(slice));
                remove(&mut e, "slicing");
                // A slice is optional unless the differential says otherwise; the sliced
                // element's own minimum counts all its slices together.
                set(&mut e, "min", Json::from(0i64));
                e
            }];
            slice_els.extend(
                elements[u + 1..end]
                    .iter()
                    .filter(|e| is_child(&id_of(e), &sliced_id))
                    .map(|e| reroot(e, &sliced_id, &new_id, &u_path, &u_path)),
            );
            elements.splice(end..end, slice_els);
            return Some(end);
        }
        let p = self.place(elements, parent_id, depth)?;
        let parent_id = id_of(&elements[p]);
        let want = format!("{parent_id}.{last}");
        let find = |elements: &[Json]| elements.iter().position(|e| id_of(e) == want);
        if let Some(i) = find(elements) {
            return Some(i);
        }
        // Children of `p` not yet expanded: bring them in from its type.
        let already = elements
            .get(p + 1)
            .is_some_and(|e| is_child(&id_of(e), &parent_id));
        if !already {
            let children = self.type_children(elements, p, depth)?;
            elements.splice(p + 1..p + 1, children);
            if let Some(i) = find(elements) {
                return Some(i);
            }
        }
        // `valueQuantity` for `value[x]`: the choice restricted to one type.
        let parent_id = parent_id.as_str();
        let choice = (p + 1..elements.len())
            .take_while(|&i| in_subtree(&id_of(&elements[i]), parent_id))
            .find(|&i| {
                let cid = id_of(&elements[i]);
                cid.strip_prefix(parent_id)
                    .and_then(|r| r.strip_prefix('.'))
                    .and_then(|r| r.strip_suffix("[x]"))
                    .is_some_and(|stem| {
                        last.strip_prefix(stem)
                            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))
                    })
            })?;
        let stem_len = id_of(&elements[choice]).len() - parent_id.len() - 4;
        let type_name = &last[stem_len..];
        let types = elements[choice]
            .get("type")
            .and_then(Json::as_array)
            .unwrap_or(&[]);
        let kept: Vec<Json> = types
            .iter()
            .filter(|t| {
                t.get_str("code")
                    .is_some_and(|c| c.eq_ignore_ascii_case(type_name))
            })
            .cloned()
            .collect();
        if kept.is_empty() {
            return None;
        }
        set(&mut elements[choice], "type", Json::from(kept));
        Some(choice)
    }

    /// An element newly typed with a profile (`Quantity` as `SimpleQuantity`) takes on the
    /// constraints of that profile's root element.
    fn inherit_profile_constraints(&self, el: &mut Json, depth: usize) {
        let types = el.get("type").and_then(Json::as_array).unwrap_or(&[]);
        let [t] = types else { return };
        let Some(url) = t
            .get("profile")
            .and_then(Json::as_array)
            .and_then(|p| p.first())
            .and_then(Json::as_str)
        else {
            return;
        };
        let Ok(snap) = self.snapshot_at(url, depth + 1) else {
            return;
        };
        if let Some(root) = snap.elements.first()
            && let Some(extra) = root.get("constraint")
        {
            merge(el, &Json::obj().with("constraint", extra.clone()));
        }
    }

    /// The child elements of `elements[p]`, from its single type's snapshot (or the type's
    /// profile), or from its `contentReference`, renamed to sit under it.
    fn type_children(&self, elements: &[Json], p: usize, depth: usize) -> Option<Vec<Json>> {
        let el = &elements[p];
        let p_id = id_of(el);
        let p_path = el.get_str("path").unwrap_or_default().to_string();
        if let Some(r) = el.get_str("contentReference") {
            let target = r.trim_start_matches('#');
            return Some(
                elements
                    .iter()
                    .filter(|e| is_child(&id_of(e), target) && !id_of(e).contains(':'))
                    .map(|e| reroot(e, target, &p_id, target, &p_path))
                    .collect(),
            );
        }
        let types = el.get("type").and_then(Json::as_array)?;
        // Children of a choice belong to its one complex type (`event[x]` = Coding | uri).
        let complex: Vec<&Json> = types
            .iter()
            .filter(|t| {
                t.get_str("code")
                    .is_some_and(|c| c.starts_with(|c: char| c.is_ascii_uppercase()))
            })
            .collect();
        let t = match (types, complex.as_slice()) {
            ([t], _) => t,
            (_, [t]) => *t,
            _ => return None,
        };
        let code = t.get_str("code")?;
        let url = t
            .get("profile")
            .and_then(Json::as_array)
            .and_then(|p| p.first())
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| type_url(code));
        let snap = self.snapshot_at(&url, depth + 1).ok()?;
        let root = snap.elements.first()?;
        let root_id = id_of(root);
        let root_path = root.get_str("path").unwrap_or_default().to_string();
        Some(
            snap.elements[1..]
                .iter()
                .map(|e| reroot(e, &root_id, &p_id, &root_path, &p_path))
                .collect(),
        )
    }
}

fn is_extension(el: &Json) -> bool {
    el.get("type")
        .and_then(Json::as_array)
        .is_some_and(|t| t.len() == 1 && t[0].get_str("code") == Some("Extension"))
}

/// `{discriminator: [{type: value, path: url}], ordered: false, rules: open}`.
fn default_extension_slicing() -> Json {
    Json::obj()
        .with(
            "discriminator",
            Json::arr().item(Json::obj().with("type", "value").with("path", "url")),
        )
        .with("ordered", false)
        .with("rules", "open")
}

/// The canonical URL of a base type (`Identifier`, `Patient`, or a FHIRPath system type).
pub fn type_url(code: &str) -> String {
    if code.contains("://") {
        code.to_string()
    } else {
        format!("http://hl7.org/fhir/StructureDefinition/{code}")
    }
}

/// Apply differential element `d` to snapshot element `el`.
fn merge(el: &mut Json, d: &Json) {
    let Some(o) = d.as_object() else { return };
    for m in &o.members {
        match m.key.as_str() {
            "id" | "path" => {}
            "constraint" => {
                let mut all: Vec<Json> = el
                    .get("constraint")
                    .and_then(Json::as_array)
                    .map(<[Json]>::to_vec)
                    .unwrap_or_default();
                for c in m.value.as_array().unwrap_or(&[]) {
                    let key = c.get_str("key");
                    match all
                        .iter_mut()
                        .find(|x| key.is_some() && x.get_str("key") == key)
                    {
                        Some(x) => *x = c.clone(),
                        None => all.push(c.clone()),
                    }
                }
                set(el, "constraint", Json::from(all));
            }
            key => {
                // A fixed or pattern value replaces any other of either kind.
                if (key.starts_with("fixed") || key.starts_with("pattern"))
                    && let Some(eo) = el.as_object_mut()
                {
                    eo.members
                        .retain(|x| !x.key.starts_with("fixed") && !x.key.starts_with("pattern"));
                }
                set(el, key, m.value.clone());
            }
        }
    }
}
