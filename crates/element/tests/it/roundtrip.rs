//! parse → write is value-identical for every JSON file in ../shared/fhir, including every
//! member of the R4 core, THO and UK Core archives: same members in the same order, same
//! number text, and the same value as serde_json sees it.

use spfhir_element::{Json, parse};

fn check(name: &str, text: &str) -> Result<(), String> {
    let tree = parse(text).map_err(|e| format!("{name}: {e}"))?;
    let compact = tree.to_compact();
    let pretty = tree.to_pretty();
    for (style, out) in [("compact", &compact), ("pretty", &pretty)] {
        let again = parse(out).map_err(|e| format!("{name} ({style}): reparse: {e}"))?;
        if again != tree {
            return Err(format!("{name} ({style}): tree differs after round trip"));
        }
    }
    let theirs: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{name}: serde_json: {e}"))?;
    let ours: serde_json::Value = serde_json::from_str(&compact).unwrap();
    if ours != theirs {
        return Err(format!("{name}: serde_json sees a different value"));
    }
    if Json::from_serde(&theirs).to_serde() != theirs {
        return Err(format!("{name}: serde bridge is not lossless"));
    }
    Ok(())
}

/// Files in ../shared that are not valid JSON upstream, with the error we give.
const KNOWN_MALFORMED: &[(&str, &str)] = &[(
    "fhir/bars/examples/document_reference/GET-success.json",
    "13:2: expected ',' or '}' after an object member, found '\"'",
)];

#[test]
fn every_shared_fhir_json_file_round_trips() {
    let shared = spfhir_testkit::shared_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut malformed_seen = Vec::new();
    for path in spfhir_testkit::json_files(&shared.join("fhir")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let rel = path
            .strip_prefix(&shared)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if let Some((_, want)) = KNOWN_MALFORMED.iter().find(|(f, _)| *f == rel) {
            // Upstream files that are not JSON: the parser must say where, exactly.
            let err = parse(&text).expect_err("known-malformed file parsed");
            assert_eq!(&err.to_string(), want, "{rel}");
            malformed_seen.push(rel);
            continue;
        }
        if let Err(e) = check(&rel, &text) {
            failures.push(e);
        }
        checked += 1;
    }
    assert_eq!(
        malformed_seen.len(),
        KNOWN_MALFORMED.len(),
        "a known-malformed file is missing"
    );
    for archive in [
        "fhir/r4-core/hl7.fhir.r4.core-4.0.1.tgz",
        "fhir/r4-core/hl7.terminology.r4-7.0.1.tgz",
        "fhir/uk-core/uk-core-stu3-currentbuild-all-json.tar.gz",
    ] {
        for (name, text) in spfhir_testkit::tgz_json(&shared.join(archive)) {
            if let Err(e) = check(&format!("{archive}!{name}"), &text) {
                failures.push(e);
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 124 UK Core examples + BaRS + r4-core bundles + ~4,500 package files + THO + 594 UK Core.
    assert!(
        checked > 6000,
        "only {checked} files checked: is ../shared complete?"
    );
    eprintln!("round-tripped {checked} files");
}

#[test]
fn primitive_extensions_and_null_aligned_arrays_survive() {
    let text = r#"{"resourceType":"Patient","birthDate":"1970-03-30","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-03-30T14:30:00+01:00"}]},"name":[{"given":["A",null,"C"],"_given":[null,{"id":"g2","extension":[{"url":"x","valueString":"B"}]},null]}],"contained":[{"resourceType":"Organization","id":"o1","unknownThing":{"deep":[1.000]}}]}"#;
    let tree = parse(text).unwrap();
    assert_eq!(tree.to_compact(), text);
}

#[test]
fn decimals_keep_precision_and_trailing_zeros() {
    for n in [
        "1.50",
        "0.00001",
        "123456789012345678901234567890.0000000000000001",
        "-0.0",
        "1E-7",
        "3.0e+2",
    ] {
        let text = format!(r#"{{"valueDecimal":{n}}}"#);
        assert_eq!(parse(&text).unwrap().to_compact(), text);
    }
}
