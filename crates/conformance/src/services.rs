//! The conformance layer as the FHIRPath engine's services: the registry as its
//! [`DefinitionSource`] (base types), the terminology as its `memberOf`.

use std::sync::Arc;

use spfhir_fhirpath::eval::CodeMembership;
use spfhir_fhirpath::model::DefinitionSource;

use crate::json::Json;
use crate::package::Registry;
use crate::terminology::{Membership, Terminology};

impl DefinitionSource for Registry {
    /// Every base (non-constraint) StructureDefinition whose canonical is
    /// `http://hl7.org/fhir/StructureDefinition/{type}`.
    fn base_types(&self) -> Vec<(String, String)> {
        self.entries()
            .filter(|e| e.resource_type == "StructureDefinition")
            .filter_map(|e| {
                let url = e.url.as_deref()?;
                let ty = e.sd_type.as_deref()?;
                (url.strip_prefix("http://hl7.org/fhir/StructureDefinition/") == Some(ty))
                    .then(|| (ty.to_string(), url.to_string()))
            })
            .collect()
    }

    fn definition(&self, canonical: &str) -> Option<Arc<Json>> {
        self.resolve(canonical)
    }
}

impl CodeMembership for Terminology {
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool> {
        match self.member(value_set, system, code) {
            Membership::Member => Some(true),
            Membership::NotMember => Some(false),
            Membership::Unknown(_) => None,
        }
    }
}

/// The FHIRPath type model over a registry's base definitions, each parsed on first use.
pub fn model(registry: Arc<Registry>) -> spfhir_fhirpath::Model {
    spfhir_fhirpath::Model::from_source(registry)
}
