//! Helpers shared by the integration tests of every spfhir crate: where the reference data
//! in `../shared` and the repository's fixtures live. Tests only; never a dependency of a
//! library.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding `profiles/`, `conformance/` and `examples/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `shared/` reference-data folder: `$SPFHIR_SHARED`, else `../shared` beside the
/// workspace.
/// Panics with a clear message when it is missing, so a test over it can never pass vacuously.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("SPFHIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared"));
    assert!(
        dir.join("fhir").is_dir(),
        "reference data not found at {}: set SPFHIR_SHARED to the shared/ folder",
        dir.display()
    );
    dir
}

/// Every `.json` file below `dir`, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "json")
}

/// Every file below `dir` whose name ends in `.{ext}`, sorted.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `(name, text)` of every `.json` member of a `.tgz` / `.tar.gz`.
pub fn tgz_json(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            out.push((name, text));
        }
    }
    out
}

/// Every domain fixture in `examples/domain`, sorted: `(file name, record kind, text)`.
/// The kind is the file name's first word (`referral-minimal.json` is a referral).
pub fn domain_fixtures() -> Vec<(String, spfhir_domain::RecordKind, String)> {
    use spfhir_domain::RecordKind;
    let dir = domain_dir();
    json_files(&dir)
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let kind = match name.split(['-', '.']).next().unwrap() {
                "referral" => RecordKind::Referral,
                "careplan" => RecordKind::Careplan,
                _ => RecordKind::Outcome,
            };
            let text = std::fs::read_to_string(&path).unwrap();
            (name, kind, text)
        })
        .collect()
}

/// The domain fixtures' folder, `examples/domain`.
pub fn domain_dir() -> PathBuf {
    workspace_root().join("examples/domain")
}
