//! Optional typed bridge to fhir-sdk's R4B model (cargo feature `fhir-sdk`), for Rust callers
//! already on fhir-sdk.
//!
//! spfhir's core is R4 (4.0.1) over its own element model; fhir-sdk offers R4B (4.3) types.
//! The two agree on the resources social prescribing uses, but not everywhere, so each
//! conversion reports what did not survive instead of dropping it silently:
//!
//! - decimals become `f64` (`1.50` comes back as `1.5`, 20-digit values are rounded);
//! - members fhir-sdk's model does not know (R4-only elements, extensions' unknown shapes)
//!   are dropped by its deserialiser;
//! - R4 resource types absent from R4B fail to convert at all.
//!
//! [`to_sdk`] therefore returns the typed resource *and* the FHIRPaths of every value that
//! differs after a trip through fhir-sdk, so a caller can refuse a lossy conversion.
//!
//! Invariant: this module never changes what the translators produce; it only converts.

use fhir_sdk::r4b::resources::Resource;

use crate::json::{Json, Kind};

/// A conversion fhir-sdk could not do at all.
#[derive(Debug, thiserror::Error)]
#[error("fhir-sdk (R4B) cannot read this resource: {0}")]
pub struct BridgeError(String);

/// A typed fhir-sdk resource, with what the trip through it lost.
#[derive(Debug)]
pub struct Converted {
    pub resource: Resource,
    /// Values that fhir-sdk changed or dropped (empty when lossless).
    pub lost: Vec<Lost>,
}

/// One value a trip through fhir-sdk did not keep as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// FHIRPath of the value in the input.
    pub path: String,
    /// The input's JSON text of the value.
    pub was: String,
    /// What came back, or `None` when it was dropped.
    pub now: Option<String>,
}

/// Convert one FHIR resource (any type, including a Bundle) to fhir-sdk's R4B model.
pub fn to_sdk(json: &Json) -> Result<Converted, BridgeError> {
    let value = json.to_serde();
    let resource: Resource =
        serde_json::from_value(value).map_err(|e| BridgeError(e.to_string()))?;
    let back = from_sdk(&resource)?;
    let mut lost = Vec::new();
    let root = crate::read::resource_type(json).to_string();
    diff(json, &back, &root, &mut lost);
    Ok(Converted { resource, lost })
}

/// Convert a fhir-sdk R4B resource back into the element model.
pub fn from_sdk(resource: &Resource) -> Result<Json, BridgeError> {
    let value = serde_json::to_value(resource).map_err(|e| BridgeError(e.to_string()))?;
    Ok(Json::from_serde(&value))
}

/// Record in `lost` every value of `a` that `b` does not hold the same.
/// Numbers compare by their text, so `1.50` → `1.5` counts as a change.
fn diff(a: &Json, b: &Json, path: &str, lost: &mut Vec<Lost>) {
    let lose = |lost: &mut Vec<Lost>, path: String, was: &Json, now: Option<&Json>| {
        lost.push(Lost {
            path,
            was: was.to_compact(),
            now: now.map(Json::to_compact),
        })
    };
    match (&a.kind, &b.kind) {
        (Kind::Object(x), Kind::Object(_)) => {
            for m in &x.members {
                let p = format!("{path}.{}", m.key);
                match b.get(&m.key) {
                    Some(v) => diff(&m.value, v, &p, lost),
                    None => lose(lost, p, &m.value, None),
                }
            }
        }
        (Kind::Array(x), Kind::Array(y)) => {
            for (i, item) in x.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match y.get(i) {
                    Some(v) => diff(item, v, &p, lost),
                    None => lose(lost, p, item, None),
                }
            }
        }
        _ if a == b => {}
        _ => lose(lost, path.to_string(), a, Some(b)),
    }
}
