//! The FHIRPath type model built lazily from a package registry (what the CLI and the
//! validator use: each type parsed on first use) answers exactly as the one built eagerly
//! from R4 core's `profiles-*.json` bundles, for every base type and backbone element.

use spfhir_fhirpath::Model;
use spfhir_fhirpath::model::TypeDef;

/// A type's elements as sorted text, for comparison.
fn describe(t: &TypeDef) -> String {
    let mut elements: Vec<String> = t
        .elements
        .iter()
        .map(|(name, e)| format!("{name}: {:?} many={} choice={}", e.types, e.many, e.choice))
        .collect();
    elements.sort();
    format!("{:?} base={:?} {}", t.kind, t.base, elements.join("; "))
}

#[test]
fn lazy_registry_model_equals_the_eager_one() {
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    let registry = crate::r4_core_registry();
    let eager = Model::load_r4_core(&r4).unwrap();
    let lazy = Model::from_source(registry.clone());
    let types: Vec<String> = registry
        .entries()
        .filter(|e| e.resource_type == "StructureDefinition")
        .filter_map(|e| {
            let ty = e.sd_type.as_deref()?;
            (e.url.as_deref()? == format!("http://hl7.org/fhir/StructureDefinition/{ty}"))
                .then(|| ty.to_string())
        })
        .collect();
    assert!(types.len() > 190, "{} base types", types.len());
    let mut checked = 0;
    let mut seen: std::collections::HashSet<String> = types.iter().cloned().collect();
    let mut queue = types.clone();
    while let Some(name) = queue.pop() {
        let (Some(a), Some(b)) = (eager.type_def(&name), lazy.type_def(&name)) else {
            // Logical models and the like: neither model holds them, or both do.
            assert_eq!(eager.knows(&name), lazy.knows(&name), "{name}");
            continue;
        };
        assert_eq!(describe(a), describe(b), "{name}");
        assert_eq!(eager.is_resource(&name), lazy.is_resource(&name), "{name}");
        assert_eq!(
            eager.is_primitive(&name),
            lazy.is_primitive(&name),
            "{name}"
        );
        assert_eq!(
            eager.type_name_ref(&name),
            lazy.type_name_ref(&name),
            "{name}"
        );
        checked += 1;
        // Backbone elements are types keyed by their path (`Patient.contact`).
        for e in a.elements.values() {
            for t in &e.types {
                if t.contains('.') && seen.insert(t.to_string()) {
                    queue.push(t.to_string());
                }
            }
        }
    }
    assert!(
        checked > 300,
        "{checked} types and backbone elements compared"
    );
    assert!(lazy.derives_from("Patient", "DomainResource"));
    assert!(lazy.primitive_derives_from("code", "string"));
    assert!(lazy.element("Patient", "id").is_some(), "through Resource");
    assert!(!lazy.knows("NoSuchType"));
}
