//! The message catalogue in code (`spfhir_element::msg`) and in `conformance/messages.md`
//! agree: every id in both, with the same IssueType code, and every id emitted somewhere.

use std::collections::BTreeMap;

use spfhir_element::msg::ALL;

/// `id → code` from the catalogue table.
fn documented() -> BTreeMap<String, String> {
    let path = spfhir_testkit::workspace_root().join("conformance/messages.md");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let id = *cells.get(1)?;
            (id.len() > 2
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit()))
            .then(|| (id.to_string(), cells.get(2).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
fn every_message_is_documented_with_its_code() {
    let doc = documented();
    let mut problems = Vec::new();
    for m in ALL {
        match doc.get(m.id) {
            None => problems.push(format!("{} is not in conformance/messages.md", m.id)),
            Some(code) if code != m.code.as_str() => problems.push(format!(
                "{}: messages.md says code {code}, the code says {}",
                m.id,
                m.code.as_str()
            )),
            Some(_) => {}
        }
    }
    for id in doc.keys() {
        if !ALL.iter().any(|m| m.id == id) {
            problems.push(format!(
                "{id} is documented but spfhir cannot emit it (stale)"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(ALL.len() >= 80, "only {} messages", ALL.len());
}

/// Every message constant is used by some library or the binary (`msg::ID`), so the
/// catalogue lists only what can be emitted.
#[test]
fn every_message_is_emitted_somewhere() {
    let root = spfhir_testkit::workspace_root();
    let mut sources = String::new();
    let mut dirs = vec![root.join("src")];
    for c in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(c.unwrap().path().join("src"));
    }
    for d in dirs {
        if !d.is_dir() {
            continue;
        }
        for f in spfhir_testkit::files_with_extension(&d, "rs") {
            if f.file_name().is_some_and(|n| n == "msg.rs") {
                continue;
            }
            sources.push_str(&std::fs::read_to_string(&f).unwrap());
        }
    }
    let unused: Vec<&str> = ALL
        .iter()
        .map(|m| m.id)
        .filter(|id| {
            !sources.match_indices(id).any(|(at, _)| {
                let after = sources[at + id.len()..].bytes().next();
                sources[..at].ends_with("msg::")
                    && !after.is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric())
            })
        })
        .collect();
    assert!(unused.is_empty(), "never emitted: {unused:?}");
}
