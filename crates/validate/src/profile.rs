//! A snapshot compiled for validation: a tree of element nodes (children and slices by
//! index), with cardinalities, types, fixed/pattern values, bindings and compiled
//! invariants read once, so the walk over an instance does no lookups by string.

use std::sync::Arc;

use crate::fhirpath::{Cache, Compiled, Model};
use crate::issue::Severity;
use crate::json::Json;
use crate::snapshot::{ExtensionContext, Snapshot};
use compact_str::CompactString;
use rustc_hash::FxHashMap;

/// One element definition: a node of a compiled profile (what the walk checks a value
/// against, and where it finds that element's children).
#[derive(Clone, Debug)]
pub struct NodeRef {
    pub profile: Arc<Profile>,
    /// The index of the node in `profile.nodes`.
    pub node: usize,
}

impl NodeRef {
    pub fn new(profile: Arc<Profile>, node: usize) -> NodeRef {
        NodeRef { profile, node }
    }

    /// The root of `profile` (a type's or a profile's own definition).
    pub fn root(profile: Arc<Profile>) -> NodeRef {
        NodeRef::new(profile, 0)
    }
}

#[derive(Debug)]
pub struct Profile {
    pub url: String,
    pub type_name: String,
    /// The definition constrains another (a profile), rather than defining a type.
    pub constraint: bool,
    pub nodes: Vec<Node>,
    /// Where an extension definition may be used (empty: anywhere, or not an extension).
    pub contexts: Vec<ExtensionContext>,
    /// An extension definition's `contextInvariant`s, compiled (`Err`: the text does not
    /// parse, reported where the extension is used).
    pub context_invariants: Vec<(String, Result<Arc<Compiled>, String>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Max {
    Unbounded,
    N(u32),
}

impl Max {
    pub fn allows(self, n: usize) -> bool {
        match self {
            Max::Unbounded => true,
            Max::N(m) => n <= m as usize,
        }
    }
    pub fn text(self) -> String {
        match self {
            Max::Unbounded => "*".into(),
            Max::N(m) => m.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TypeRef {
    pub code: String,
    pub profiles: Vec<String>,
    pub target_profiles: Vec<String>,
    /// The compiled definition children of this type come from (its first profile, else
    /// the base type), once looked up. Weak: profiles refer to each other in cycles.
    pub structure: std::sync::OnceLock<std::sync::Weak<Profile>>,
    /// The resource types `target_profiles` stand for, once looked up.
    pub target_types: std::sync::OnceLock<Vec<String>>,
    /// Whether `code` names a resource type (`Resource` or one of its kinds), once looked up.
    pub is_resource: std::sync::OnceLock<bool>,
    /// `aggregation`: where a referenced resource may be (`contained`, `referenced`,
    /// `bundled`); empty: anywhere.
    pub aggregation: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discriminator {
    Value,
    Pattern,
    Exists,
    Type,
    Profile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    Open,
    Closed,
    OpenAtEnd,
}

#[derive(Debug, Clone)]
pub struct Slicing {
    pub discriminators: Vec<(Discriminator, String)>,
    pub rules: Rules,
    pub ordered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    Required,
    Extensible,
    Preferred,
    Example,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub strength: Strength,
    pub value_set: Option<String>,
    /// The maximum value set of a preferred or extensible binding (the
    /// `elementdefinition-maxValueSet` extension): codes beyond `value_set` must still be in it.
    pub max_value_set: Option<String>,
}

/// Invariants R4 published with an expression that contradicts their own text, each
/// replaced by what the text says (matched on the whole expression, so a profile's own
/// version is left alone). `que-7` asks `answer is Boolean`, a System type no FHIR element
/// ever is (FHIRPath's suite: `Patient.active.is(Boolean)` is false), so every `exists`
/// condition failed it; the FHIR type `boolean` is what it means.
const CORRECTED_INVARIANTS: &[(&str, &str)] = &[(
    "operator = 'exists' implies (answer is Boolean)",
    "operator = 'exists' implies (answer is boolean)",
)];

fn corrected(expr: &str) -> &str {
    CORRECTED_INVARIANTS
        .iter()
        .find(|(published, _)| *published == expr)
        .map_or(expr, |(_, meant)| meant)
}

/// The extension on `ElementDefinition.binding` naming its maximum value set.
const MAX_VALUE_SET: &str = "http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet";

#[derive(Debug, Clone)]
pub struct Constraint {
    pub key: String,
    pub severity: Severity,
    pub human: String,
    pub expr: Option<Arc<Compiled>>,
}

#[derive(Debug)]
pub struct Node {
    pub id: String,
    pub path: String,
    /// The base definition's path (`Patient.contact` for a profile's `Patient.contact`):
    /// the FHIRPath type of a backbone element.
    pub base_path: String,
    /// Last path segment without `[x]`.
    pub name: String,
    pub choice: bool,
    pub min: u32,
    pub max: Max,
    /// Whether the element repeats in the base definition (a JSON array).
    pub base_many: bool,
    pub types: Vec<TypeRef>,
    pub children: Vec<usize>,
    pub slices: Vec<usize>,
    pub slicing: Option<Slicing>,
    pub slice_name: Option<String>,
    pub fixed: Option<Json>,
    pub pattern: Option<Json>,
    /// `minValue[x]` and `maxValue[x]`: (type suffix, value).
    pub min_value: Option<(String, Json)>,
    pub max_value: Option<(String, Json)>,
    pub binding: Option<Binding>,
    pub constraints: Vec<Constraint>,
    pub max_length: Option<usize>,
    /// `contentReference`: the node whose children this element has.
    pub content_ref: Option<usize>,
    pub is_modifier: bool,
    /// The element this one is a child of (a slice: the sliced element's parent); `None` for
    /// the root.
    pub parent: Option<usize>,
    /// Children that are not choices, by name (the first of a name wins), and the choice
    /// children: how [`Profile::child_for`] finds a JSON member's definition.
    by_name: FxHashMap<CompactString, usize>,
    choices: Vec<usize>,
    /// Children that must be present: `min > 0`, or a slice with `min > 0` (most children
    /// are optional, so the walk checks absences over this list only).
    pub required: Vec<usize>,
    /// In a profile: this element and everything below it check exactly what the base
    /// definition's element at the same path checks (see [`Profile::mark_same_as_base`]).
    pub same_as_base: bool,
    /// For a sliced element: whether no item can match two of its slices (each requires its
    /// own primitive value of the one value discriminator), worked out on first use.
    pub slices_exclusive: std::sync::OnceLock<bool>,
}

impl Node {
    /// Do this node and `base` (in `base_profile`) carry the same rules, children aside?
    fn same_rules(&self, p: &Profile, base: &Node, base_profile: &Profile) -> bool {
        let types_same = self.types.len() == base.types.len()
            && self.types.iter().zip(&base.types).all(|(a, b)| {
                a.code == b.code
                    && a.profiles == b.profiles
                    && a.target_profiles == b.target_profiles
                    && a.aggregation == b.aggregation
            });
        let constraints_same = self.constraints.len() == base.constraints.len()
            && self
                .constraints
                .iter()
                .zip(&base.constraints)
                .all(|(a, b)| {
                    a.key == b.key
                        && a.severity == b.severity
                        && a.human == b.human
                        && a.expr.as_ref().map(|e| &e.text) == b.expr.as_ref().map(|e| &e.text)
                });
        fn content_ref<'p>(p: &'p Profile, n: &Node) -> Option<&'p str> {
            n.content_ref.map(|t| p.nodes[t].id.as_str())
        }
        self.path == base.path
            && self.base_path == base.base_path
            && self.name == base.name
            && self.choice == base.choice
            && self.min == base.min
            && self.max == base.max
            && self.base_many == base.base_many
            && self.is_modifier == base.is_modifier
            && self.max_length == base.max_length
            && self.min_value == base.min_value
            && self.max_value == base.max_value
            && self.slice_name.is_none()
            && base.slice_name.is_none()
            && self.slicing.is_none()
            && base.slicing.is_none()
            && self.slices.is_empty()
            && base.slices.is_empty()
            && self.fixed == base.fixed
            && self.pattern == base.pattern
            && self.children.len() == base.children.len()
            && content_ref(p, self) == content_ref(base_profile, base)
            && types_same
            && constraints_same
            && self.binding == base.binding
    }
}

fn strings(j: Option<&Json>) -> Vec<String> {
    j.and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn parse_max(m: Option<&str>) -> Max {
    match m {
        Some("*") => Max::Unbounded,
        Some(n) => n.parse().map(Max::N).unwrap_or(Max::Unbounded),
        None => Max::Unbounded,
    }
}

impl Profile {
    /// The URL to name as an issue's provenance: a profile's, never a base definition's.
    pub fn provenance(&self) -> Option<&str> {
        self.constraint.then_some(self.url.as_str())
    }

    pub fn compile(snap: &Snapshot, fhirpath: &Cache) -> Profile {
        let mut nodes: Vec<Node> = Vec::with_capacity(snap.elements.len());
        let mut by_id: std::collections::HashMap<String, usize> = Default::default();
        let mut refs: Vec<(usize, String)> = Vec::new();
        for el in &snap.elements {
            let path = el.get_str("path").unwrap_or_default().to_string();
            let id = el
                .get_str("id")
                .map(str::to_string)
                .unwrap_or_else(|| path.clone());
            let last = path.rsplit('.').next().unwrap_or_default();
            let (name, choice) = match last.strip_suffix("[x]") {
                Some(n) => (n.to_string(), true),
                None => (last.to_string(), false),
            };
            let base = el.get("base");
            let base_max = base.and_then(|b| b.get_str("max")).or(el.get_str("max"));
            // R4 types Resource.id as a FHIRPath string; the specification says `id`.
            let resource_id = base.and_then(|b| b.get_str("path")) == Some("Resource.id");
            let types = el
                .get("type")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .map(|t| TypeRef {
                    code: if resource_id {
                        "id".to_string()
                    } else if t.get("code").is_none() {
                        codeless_type(base.and_then(|b| b.get_str("path")))
                    } else {
                        fhir_type_code(t)
                    },
                    profiles: strings(t.get("profile")),
                    target_profiles: strings(t.get("targetProfile")),
                    structure: Default::default(),
                    target_types: Default::default(),
                    is_resource: Default::default(),
                    aggregation: strings(t.get("aggregation")),
                })
                .collect();
            let slicing = el.get("slicing").map(|sl| Slicing {
                discriminators: sl
                    .get("discriminator")
                    .and_then(Json::as_array)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|d| {
                        let kind = match d.get_str("type")? {
                            "value" => Discriminator::Value,
                            "pattern" => Discriminator::Pattern,
                            "exists" => Discriminator::Exists,
                            "type" => Discriminator::Type,
                            "profile" => Discriminator::Profile,
                            _ => return None,
                        };
                        Some((kind, d.get_str("path")?.to_string()))
                    })
                    .collect(),
                rules: match sl.get_str("rules") {
                    Some("closed") => Rules::Closed,
                    Some("openAtEnd") => Rules::OpenAtEnd,
                    _ => Rules::Open,
                },
                ordered: sl.get("ordered").and_then(Json::as_bool).unwrap_or(false),
            });
            let (mut fixed, mut pattern) = (None, None);
            let (mut min_value, mut max_value) = (None, None);
            if let Some(o) = el.as_object() {
                for (k, v) in o.iter() {
                    if k.starts_with("fixed") {
                        fixed = Some(v.clone());
                    } else if k.starts_with("pattern") {
                        pattern = Some(v.clone());
                    } else if let Some(t) = k.strip_prefix("minValue") {
                        min_value = Some((t.to_string(), v.clone()));
                    } else if let Some(t) = k.strip_prefix("maxValue") {
                        max_value = Some((t.to_string(), v.clone()));
                    }
                }
            }
            let binding = el.get("binding").and_then(|b| {
                Some(Binding {
                    strength: match b.get_str("strength")? {
                        "required" => Strength::Required,
                        "extensible" => Strength::Extensible,
                        "preferred" => Strength::Preferred,
                        _ => Strength::Example,
                    },
                    value_set: b.get_str("valueSet").map(str::to_string),
                    max_value_set: b
                        .get("extension")
                        .and_then(Json::as_array)
                        .unwrap_or(&[])
                        .iter()
                        .find(|x| x.get_str("url") == Some(MAX_VALUE_SET))
                        .and_then(|x| x.get_str("valueCanonical"))
                        .map(str::to_string),
                })
            });
            let constraints = el
                .get("constraint")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(|c| {
                    let key = c.get_str("key")?.to_string();
                    Some(Constraint {
                        severity: if c.get_str("severity") == Some("warning") {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        human: c.get_str("human").unwrap_or_default().to_string(),
                        // `htmlChecks()` (txt-1, txt-2) is checked structurally, one issue
                        // per broken narrative rule, as `xhtml` values are walked.
                        expr: c
                            .get_str("expression")
                            .filter(|e| !e.trim().eq_ignore_ascii_case("htmlChecks()"))
                            .map(corrected)
                            .and_then(|e| fhirpath.get(e).ok()),
                        key,
                    })
                })
                .collect();
            let i = nodes.len();
            if let Some(r) = el.get_str("contentReference") {
                refs.push((i, r.trim_start_matches('#').to_string()));
            }
            nodes.push(Node {
                base_path: base
                    .and_then(|b| b.get_str("path"))
                    .unwrap_or(&path)
                    .to_string(),
                id: id.clone(),
                path,
                name,
                choice,
                min: el.get("min").and_then(Json::as_i64).unwrap_or(0) as u32,
                max: parse_max(el.get_str("max")),
                base_many: !matches!(base_max, Some("0" | "1")),
                types,
                children: Vec::new(),
                slices: Vec::new(),
                slicing,
                slice_name: el.get_str("sliceName").map(str::to_string),
                fixed,
                pattern,
                min_value,
                max_value,
                binding,
                constraints,
                max_length: el
                    .get("maxLength")
                    .and_then(Json::as_i64)
                    .map(|n| n as usize),
                content_ref: None,
                is_modifier: el
                    .get("isModifier")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
                parent: None,
                by_name: FxHashMap::default(),
                choices: Vec::new(),
                required: Vec::new(),
                same_as_base: false,
                slices_exclusive: std::sync::OnceLock::new(),
            });
            // Link to the parent (children) or the sliced element (slices).
            if i > 0 {
                let (parent, last_seg) = match id.rfind('.') {
                    Some(d) => (&id[..d], &id[d + 1..]),
                    None => ("", id.as_str()),
                };
                if let Some(colon) = last_seg.find(':') {
                    let sliced = match last_seg.rfind('/') {
                        Some(slash) => format!("{parent}.{}", &last_seg[..slash]),
                        None => format!("{parent}.{}", &last_seg[..colon]),
                    };
                    if let Some(&u) = by_id.get(&sliced) {
                        nodes[u].slices.push(i);
                        nodes[i].parent = nodes[u].parent;
                    }
                } else if let Some(&p) = by_id.get(parent) {
                    nodes[p].children.push(i);
                    nodes[i].parent = Some(p);
                }
            }
            by_id.insert(id, i);
        }
        for (i, target) in refs {
            nodes[i].content_ref = by_id.get(&target).copied();
        }
        for i in 0..nodes.len() {
            let mut by_name = FxHashMap::default();
            let mut choices = Vec::new();
            for &c in &nodes[i].children {
                if nodes[c].choice {
                    choices.push(c);
                } else {
                    by_name
                        .entry(CompactString::from(nodes[c].name.as_str()))
                        .or_insert(c);
                }
            }
            let required = nodes[i]
                .children
                .iter()
                .copied()
                .filter(|&c| nodes[c].min > 0 || nodes[c].slices.iter().any(|&s| nodes[s].min > 0))
                .collect();
            nodes[i].by_name = by_name;
            nodes[i].choices = choices;
            nodes[i].required = required;
        }
        Profile {
            url: snap.url.clone(),
            type_name: snap.type_name.clone(),
            constraint: snap.constraint,
            nodes,
            contexts: snap.contexts.clone(),
            context_invariants: snap
                .context_invariants
                .iter()
                .map(|e| (e.clone(), fhirpath.get(e).map_err(|err| err.to_string())))
                .collect(),
        }
    }

    /// Mark the nodes of this profile (a constraint on `base`, the compiled base definition
    /// of its type) whose whole subtree checks exactly what `base` checks at the same path:
    /// same rules, same children, recursively, and for a `contentReference` the same
    /// referenced subtree. A profile's pass over a resource skips those (the base pass has
    /// checked them, and would report the same issues). Elements under slices, elements a
    /// profile adds below a datatype (`code.coding`), and anything changed are never
    /// marked.
    pub fn mark_same_as_base(&mut self, base: &Profile) {
        let base_by_id: FxHashMap<&str, usize> = base
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let mut same: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| {
                base_by_id
                    .get(n.id.as_str())
                    .is_some_and(|&b| n.same_rules(self, &base.nodes[b], base))
            })
            .collect();
        // The greatest fixed point: a node stays marked while its children (and the
        // subtree its contentReference names, which may be its own ancestor) stay marked.
        loop {
            let mut changed = false;
            for (i, n) in self.nodes.iter().enumerate() {
                if same[i]
                    && (n.children.iter().any(|&c| !same[c])
                        || n.content_ref.is_some_and(|t| !same[t]))
                {
                    same[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for (n, s) in self.nodes.iter_mut().zip(same) {
            n.same_as_base = s;
        }
    }

    /// The child of `node` that a JSON member name stands for, with the type a choice
    /// name selects (`valueQuantity` → `Quantity`).
    /// The choice child of `node` that `key` names with a data type it does not allow
    /// (`valueString` where only `valueAddress` is allowed).
    pub fn choice_of_other_type(&self, node: usize, key: &str) -> Option<usize> {
        self.nodes[node].choices.iter().copied().find(|&c| {
            key.strip_prefix(self.nodes[c].name.as_str())
                .is_some_and(|rest| {
                    OPEN_TYPES
                        .iter()
                        .any(|t| Model::choice_suffix_matches(t, rest))
                })
        })
    }

    pub fn child_for<'p>(&'p self, node: usize, key: &str) -> Option<(usize, Option<&'p str>)> {
        let parent = &self.nodes[node];
        if let Some(&c) = parent.by_name.get(key) {
            return Some((c, None));
        }
        for &c in &parent.choices {
            let n = &self.nodes[c];
            if let Some(rest) = key.strip_prefix(n.name.as_str())
                && let Some(t) = n
                    .types
                    .iter()
                    .find(|t| Model::choice_suffix_matches(&t.code, rest))
            {
                return Some((c, Some(t.code.as_str())));
            }
        }
        None
    }
}

/// The R4 data types a choice element may name (the "open type" list of the datatypes page).
const OPEN_TYPES: [&str; 50] = [
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
];

/// The type of a `type` entry that has no `code`, only extensions on it (`"_code": {…}`), as
/// some of R4's own extension definitions give `Extension.id` and `Extension.url`: the type
/// of the base element it stands for.
fn codeless_type(base_path: Option<&str>) -> String {
    match base_path {
        Some("Extension.url") => "uri",
        _ => "string",
    }
    .to_string()
}

/// The FHIR type of a `type` entry: its code, or for the FHIRPath system types used on
/// `id`, `url` and primitive `value`s, the structure-definition-fhir-type extension's value.
fn fhir_type_code(t: &Json) -> String {
    let code = t.get_str("code").unwrap_or_default();
    if let Some(rest) = code.strip_prefix("http://hl7.org/fhirpath/System.") {
        for e in t.get("extension").and_then(Json::as_array).unwrap_or(&[]) {
            if e.get_str("url")
                == Some("http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
                && let Some(v) = e.get_str("valueUrl").or(e.get_str("valueUri"))
            {
                return v.to_string();
            }
        }
        return format!("System.{rest}");
    }
    code.to_string()
}
