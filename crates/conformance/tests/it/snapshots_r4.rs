//! The snapshot generator against R4 core's own constraint profiles, which ship both a
//! differential and a published snapshot (vitalsigns and its children, the other core
//! profiles, and every core extension definition): the generated snapshot must equal the
//! published one on every property the validator uses.

use spfhir_conformance::package::{self, LoadOptions};
use spfhir_conformance::snapshot::Generator;
use spfhir_element::Json;

/// What the validator reads from an element, as comparable text.
fn summary(el: &Json) -> String {
    let s = |k: &str| el.get(k).map(|v| v.to_compact()).unwrap_or_default();
    let types: Vec<String> = el
        .get("type")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .map(|t| {
            format!(
                "{}{}{}",
                t.get("code").map(|c| c.to_compact()).unwrap_or_default(),
                t.get("profile").map(|c| c.to_compact()).unwrap_or_default(),
                t.get("targetProfile")
                    .map(|c| c.to_compact())
                    .unwrap_or_default()
            )
        })
        .collect();
    let mut keys: Vec<String> = el
        .get("constraint")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| c.get("key").and_then(Json::as_str).map(str::to_string))
        .collect();
    keys.sort();
    let fixed: Vec<String> = el
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("fixed") || k.starts_with("pattern"))
        .map(|(k, v)| format!("{k}={}", v.to_compact()))
        .collect();
    let binding = el
        .get("binding")
        .map(|b| {
            format!(
                "{}{}",
                b.get("strength")
                    .map(|c| c.to_compact())
                    .unwrap_or_default(),
                b.get("valueSet")
                    .map(|c| c.to_compact())
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let slicing = el
        .get("slicing")
        .map(|sl| {
            format!(
                "{}{}{}",
                sl.get("discriminator")
                    .map(|c| c.to_compact())
                    .unwrap_or_default(),
                sl.get("rules").map(|c| c.to_compact()).unwrap_or_default(),
                sl.get("ordered")
                    .map(|c| c.to_compact())
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    format!(
        "min={} max={} types={types:?} fixed={fixed:?} binding={binding} constraints={keys:?} slicing={slicing} maxLength={} contentRef={}",
        s("min"),
        s("max"),
        s("maxLength"),
        s("contentReference")
    )
}

/// `value[x]:valueQuantity` (a type slice the 2019 publisher wrote for `valueQuantity`)
/// and `value[x]` are the same element for validation.
fn normal_id(id: &str) -> String {
    let mut out = Vec::new();
    for seg in id.split('.') {
        match seg.split_once("[x]:") {
            Some((stem, slice))
                if slice
                    .strip_prefix(stem)
                    .is_some_and(|t| t.starts_with(char::is_uppercase)) =>
            {
                out.push(format!("{stem}[x]"))
            }
            _ => out.push(seg.to_string()),
        }
    }
    out.join(".")
}

fn by_id(elements: &[Json]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for e in elements {
        let id = normal_id(e.get("id").and_then(Json::as_str).unwrap());
        let sum = summary(e);
        // A type slice follows its choice element: it is the more specific of the two.
        match v.iter_mut().find(|(i, _)| *i == id) {
            Some(x) => x.1 = sum,
            None => v.push((id, sum)),
        }
    }
    v
}

/// Published snapshots the generator rightly does not reproduce: defects of the 2019
/// publisher, each checked by hand. The test fails if one of them starts to match (then it
/// should leave this list) or if any other profile differs.
const PUBLISHER_DEFECTS: &[(&str, &str)] = &[
    (
        "catalog",
        "slice Composition.date:IssueDate replaces the unsliced date (no slicing declared, max 1)",
    ),
    (
        "familymemberhistory-genetic",
        "slices (relationship:Relationship, sex:Sex, …) replace the unsliced elements (no slicing declared)",
    ),
    (
        "provenance-relevant-history",
        "agent:Author.type keeps the base binding; entity.agent's contentReference points at the slice",
    ),
    (
        "elementdefinition-de",
        "children of extension slices written out from Extension; the generator leaves them to the type, as it does everywhere else",
    ),
    (
        "structuredefinition-json-type",
        "published element types have no code (only an extension); generated ones carry the FHIRPath system type",
    ),
    (
        "structuredefinition-rdf-type",
        "same as structuredefinition-json-type",
    ),
    (
        "structuredefinition-xml-type",
        "same as structuredefinition-json-type",
    ),
];

#[test]
fn generated_snapshots_equal_r4_core_published_ones() {
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir/r4-core")],
            without_own_profiles: true,
            ..Default::default()
        })
        .unwrap(),
    );
    let generator = Generator::new(reg.clone());
    let mut checked = 0;
    let mut failures = Vec::new();
    for sd in reg.all_of_type("StructureDefinition") {
        if sd.get("derivation").and_then(Json::as_str) != Some("constraint") {
            continue;
        }
        let url = sd.get("url").and_then(Json::as_str).unwrap().to_string();
        let Some(published) = sd
            .get("snapshot")
            .and_then(|s| s.get("element"))
            .and_then(Json::as_array)
        else {
            continue; // nothing published to compare with
        };
        let published = by_id(published);
        let generated = match generator.generate(&sd) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{url}: {e}"));
                continue;
            }
        };
        checked += 1;
        for p in &generated.problems {
            failures.push(format!("{url}: {p}"));
        }
        let generated = by_id(&generated.elements);
        let gen_ids: Vec<&String> = generated.iter().map(|(i, _)| i).collect();
        let pub_ids: Vec<&String> = published.iter().map(|(i, _)| i).collect();
        if gen_ids != pub_ids {
            let missing: Vec<_> = pub_ids.iter().filter(|i| !gen_ids.contains(i)).collect();
            let extra: Vec<_> = gen_ids.iter().filter(|i| !pub_ids.contains(i)).collect();
            failures.push(format!(
                "{url}: element ids differ; missing {missing:?}; extra {extra:?}"
            ));
            continue;
        }
        for ((id, g), (_, p)) in generated.iter().zip(&published) {
            if g != p {
                failures.push(format!("{url} {id}:\n  generated {g}\n  published {p}"));
            }
        }
    }
    assert!(checked > 400, "only {checked} core profiles checked");
    let base = "http://hl7.org/fhir/StructureDefinition/";
    for (id, why) in PUBLISHER_DEFECTS {
        let url = format!("{base}{id}");
        assert!(
            failures
                .iter()
                .any(|f| f.starts_with(&format!("{url}:")) || f.starts_with(&format!("{url} "))),
            "{id} now matches its published snapshot; take it off PUBLISHER_DEFECTS ({why})"
        );
    }
    failures.retain(|f| {
        !PUBLISHER_DEFECTS.iter().any(|(id, _)| {
            f.starts_with(&format!("{base}{id}:")) || f.starts_with(&format!("{base}{id} "))
        })
    });
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{checked} R4 core profiles: {} equal their published snapshots, {} known publisher defects",
        checked - PUBLISHER_DEFECTS.len(),
        PUBLISHER_DEFECTS.len()
    );
}

/// Every differential-only profile loaded from ../shared (UK Core, BaRS) and spfhir's own
/// gets a snapshot in which every differential element found its place.
#[test]
fn uk_core_bars_and_own_profiles_generate_cleanly() {
    let reg = std::sync::Arc::new(
        package::load(&LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            ..Default::default()
        })
        .unwrap(),
    );
    let generator = Generator::new(reg.clone());
    let mut generated = 0;
    let mut problems = Vec::new();
    for e in reg.entries() {
        let Some(url) = &e.url else { continue };
        if e.resource_type != "StructureDefinition" || url.starts_with("http://hl7.org/fhir/") {
            continue;
        }
        let sd = reg.resolve(url).unwrap();
        if sd.get("snapshot").is_some() {
            continue;
        }
        match generator.snapshot(url) {
            Ok(s) => {
                generated += 1;
                problems.extend(s.problems.iter().map(|p| format!("{url}: {p}")));
            }
            Err(err) => problems.push(format!("{url}: {err}")),
        }
    }
    assert!(generated >= 60, "only {generated} snapshots generated");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
