//! The FHIR type model FHIRPath navigates with: for each type (and each backbone element,
//! keyed by its path, e.g. `Patient.contact`), its base type and its elements' types,
//! whether they repeat, and which are choices (`value[x]`). Built from the base
//! StructureDefinitions (R4 core's `profiles-types.json` and `profiles-resources.json`, or
//! the same definitions from a package), never hard-coded.

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use compact_str::CompactString;

use crate::json::{self, Json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Primitive,
    Complex,
    Resource,
    /// A backbone element: an anonymous type declared inside another.
    Backbone,
}

#[derive(Clone, Debug)]
pub struct ElementDef {
    /// Type names: FHIR types (`HumanName`, `string`) or backbone paths (`Patient.contact`).
    pub types: Vec<CompactString>,
    pub many: bool,
    pub choice: bool,
    /// Where the element comes in its type's snapshot, inherited elements included: the
    /// order FHIR's XML form requires.
    pub order: u32,
}

#[derive(Clone, Debug)]
pub struct TypeDef {
    pub kind: TypeKind,
    pub base: Option<CompactString>,
    pub elements: HashMap<CompactString, ElementDef>,
}

/// Where a lazily built [`Model`] finds base StructureDefinitions: a package registry, say.
/// The model asks for [`DefinitionSource::base_types`] once, when it is made, and for a
/// type's definition the first time the type is used.
pub trait DefinitionSource: Send + Sync {
    /// Every base type the source defines: `(type name, canonical of its definition)`.
    fn base_types(&self) -> Vec<(String, String)>;
    /// The StructureDefinition at `canonical`.
    fn definition(&self, canonical: &str) -> Option<Arc<Json>>;
}

/// The types, and where more come from. A model from a [`DefinitionSource`] parses a type's
/// StructureDefinition only when the type is first asked for (start-up would otherwise parse
/// every base definition in R4 core). It owns what it needs, so it can live in a server's
/// shared state.
#[derive(Default)]
pub struct Model {
    /// Types added eagerly ([`Model::load_r4_core`], [`Model::add_definition`]).
    types: HashMap<CompactString, TypeDef>,
    /// Types to load on first use: base type name → its canonical and, once parsed, the
    /// type with its backbone elements (`Patient`, `Patient.contact`, …).
    lazy: HashMap<CompactString, LazyType>,
    source: Option<Arc<dyn DefinitionSource>>,
}

struct LazyType {
    url: String,
    group: OnceLock<HashMap<CompactString, TypeDef>>,
}

/// A model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Json { path: String, message: String },
}

impl Model {
    /// The R4 base model from a folder holding `profiles-types.json` and
    /// `profiles-resources.json` (as `../shared/fhir/r4-core` does).
    pub fn load_r4_core(dir: &Path) -> Result<Model, ModelError> {
        let mut model = Model::default();
        for name in ["profiles-types.json", "profiles-resources.json"] {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let bundle = json::parse(&text).map_err(|e| ModelError::Json {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            for entry in bundle.get("entry").and_then(Json::as_array).unwrap_or(&[]) {
                if let Some(sd) = entry.get("resource") {
                    model.add_definition(sd);
                }
            }
        }
        Ok(model)
    }

    /// The base model from a [`DefinitionSource`], each type's definition parsed on first use.
    pub fn from_source(source: Arc<dyn DefinitionSource>) -> Model {
        let lazy = source
            .base_types()
            .into_iter()
            .map(|(ty, url)| {
                let lazy = LazyType {
                    url,
                    group: OnceLock::new(),
                };
                (CompactString::from(ty), lazy)
            })
            .collect();
        Model {
            types: HashMap::default(),
            lazy,
            source: Some(source),
        }
    }

    /// Type `name` (a FHIR type or a backbone path), loading its definition if need be.
    fn get_entry(&self, name: &str) -> Option<(&CompactString, &TypeDef)> {
        if !self.types.is_empty()
            && let Some(found) = self.types.get_key_value(name)
        {
            return Some(found);
        }
        let owner = name.find('.').map_or(name, |dot| &name[..dot]);
        let lazy = self.lazy.get(owner)?;
        let group = lazy.group.get_or_init(|| {
            self.source
                .as_ref()
                .and_then(|r| r.definition(&lazy.url))
                .and_then(|sd| definition_group(&sd))
                .unwrap_or_default()
        });
        group.get_key_value(name)
    }

    fn get(&self, name: &str) -> Option<&TypeDef> {
        self.get_entry(name).map(|(_, t)| t)
    }

    /// Add one base StructureDefinition (a specialization, or a root such as Element).
    /// Constraints (profiles) are ignored: they do not define new types.
    pub fn add_definition(&mut self, sd: &Json) {
        if let Some(defs) = definition_group(sd) {
            self.types.extend(defs);
        }
    }
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.get(name)
    }

    /// The model's own copy of a type name, so nodes can borrow it for the model's lifetime.
    pub fn type_name_ref(&self, name: &str) -> Option<&str> {
        self.get_entry(name).map(|(k, _)| k.as_str())
    }

    pub fn knows(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn is_resource(&self, name: &str) -> bool {
        self.get(name).is_some_and(|t| t.kind == TypeKind::Resource)
    }

    pub fn is_primitive(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|t| t.kind == TypeKind::Primitive)
    }

    /// Element `name` of type `ty`, looked up through the base types.
    pub fn element(&self, ty: &str, name: &str) -> Option<&ElementDef> {
        let mut cur = self.get(ty)?;
        loop {
            if let Some(e) = cur.elements.get(name) {
                return Some(e);
            }
            cur = self.get(cur.base.as_deref()?)?;
        }
    }

    /// Whether primitive `ty` specialises primitive `ancestor` (`code` → `string`).
    pub fn primitive_derives_from(&self, ty: &str, ancestor: &str) -> bool {
        let mut cur = ty;
        for _ in 0..8 {
            if cur == ancestor {
                return true;
            }
            match self.get(cur).and_then(|t| t.base.as_deref()) {
                Some(b) if self.is_primitive(b) => cur = b,
                _ => return false,
            }
        }
        false
    }

    /// Whether `ty` is `ancestor` or derives from it. Primitive types match only themselves
    /// (a `code` is not `as(string)`, as the spec's tests require).
    pub fn derives_from(&self, ty: &str, ancestor: &str) -> bool {
        if self.is_primitive(ty) {
            return ty == ancestor;
        }
        let mut cur = ty;
        for _ in 0..32 {
            if cur == ancestor {
                return true;
            }
            match self.get(cur).and_then(|t| t.base.as_deref()) {
                Some(b) => cur = b,
                None => return false,
            }
        }
        false
    }

    /// Does the suffix of a choice member name stand for type `code` (`Quantity` for
    /// `Quantity`, `String` for `string`, `DateTime` for `dateTime`)?
    pub fn choice_suffix_matches(code: &str, suffix: &str) -> bool {
        let (c, s) = (code.as_bytes(), suffix.as_bytes());
        match (c.split_first(), s.split_first()) {
            (Some((a, c_rest)), Some((b, s_rest))) => {
                a.to_ascii_uppercase() == *b && c_rest == s_rest
            }
            _ => false,
        }
    }
}

/// The type a base StructureDefinition (a specialization, or a root such as Element) defines,
/// with its backbone elements, keyed by name; `None` for constraints (profiles), which define
/// no new type.
/// Whether a StructureDefinition constrains another (a profile), rather than defining a
/// type: `derivation` says so; without it, a `baseDefinition` whose type is the same type.
/// The one place spfhir decides what a base definition is.
pub fn is_constraint(sd: &Json) -> bool {
    match sd.get_str("derivation") {
        Some(d) => d == "constraint",
        None => sd.get_str("baseDefinition").is_some_and(|b| {
            let ty = sd.get_str("type").unwrap_or_default();
            !ty.is_empty() && b.rsplit('/').next() == Some(ty)
        }),
    }
}

fn definition_group(sd: &Json) -> Option<HashMap<CompactString, TypeDef>> {
    let s = |k: &str| sd.get(k).and_then(Json::as_str);
    if s("resourceType") != Some("StructureDefinition") || is_constraint(sd) {
        return None;
    }
    let type_name = s("type")?;
    let kind = match s("kind") {
        Some("primitive-type") => TypeKind::Primitive,
        Some("resource") => TypeKind::Resource,
        Some("complex-type") => TypeKind::Complex,
        _ => return None,
    };
    let base = s("baseDefinition")
        .and_then(|b| b.rsplit('/').next())
        .map(CompactString::from);
    let mut defs: HashMap<CompactString, TypeDef> = HashMap::default();
    defs.insert(
        type_name.into(),
        TypeDef {
            kind,
            base,
            elements: HashMap::default(),
        },
    );
    let elements = sd
        .get("snapshot")
        .and_then(|s| s.get("element"))
        .and_then(Json::as_array)
        .unwrap_or(&[]);
    for (order, el) in elements.iter().enumerate() {
        let Some(path) = el.get("path").and_then(Json::as_str) else {
            continue;
        };
        let Some((parent, name)) = path.rsplit_once('.') else {
            continue;
        };
        let (name, choice) = match name.strip_suffix("[x]") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let many = el
            .get("max")
            .and_then(Json::as_str)
            .is_some_and(|m| m != "0" && m != "1");
        let mut types: Vec<CompactString> = el
            .get("type")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(|t| Some((t, t.get("code").and_then(Json::as_str)?)))
            .map(
                |(t, code)| match code.strip_prefix("http://hl7.org/fhirpath/System.") {
                    // Element.id, Extension.url, Resource.id: System types, with the FHIR type
                    // they stand for in an extension.
                    Some(system) => fhir_type_extension(t)
                        .map(CompactString::from)
                        .unwrap_or_else(|| match system {
                            "String" => "string".into(),
                            other => other.to_ascii_lowercase().into(),
                        }),
                    None => code.into(),
                },
            )
            .collect();
        if kind == TypeKind::Resource && parent == type_name && name == "id" {
            // R4's snapshots say `string`; a resource id is an `id` (FHIRPath suite).
            types = vec!["id".into()];
        } else if let Some(r) = el.get("contentReference").and_then(Json::as_str) {
            types = vec![r.trim_start_matches('#').into()];
        } else if types.len() == 1 && (types[0] == "BackboneElement" || types[0] == "Element") {
            // An element declared inline: its own backbone type, keyed by its path.
            let base = types[0].clone();
            types = vec![path.into()];
            defs.insert(
                path.into(),
                TypeDef {
                    kind: TypeKind::Backbone,
                    base: Some(base),
                    elements: HashMap::default(),
                },
            );
        }
        if let Some(parent_def) = defs.get_mut(parent) {
            parent_def.elements.insert(
                name.into(),
                ElementDef {
                    types,
                    many,
                    choice,
                    order: order as u32,
                },
            );
        }
    }
    Some(defs)
}

/// The `structuredefinition-fhir-type` extension of an ElementDefinition.type.
fn fhir_type_extension(t: &Json) -> Option<&str> {
    t.get("extension")?.as_array()?.iter().find_map(|e| {
        (e.get("url")?.as_str()?
            == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
            .then(|| e.get("valueUrl").or_else(|| e.get("valueUri"))?.as_str())?
    })
}
