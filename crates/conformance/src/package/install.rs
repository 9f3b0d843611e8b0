//! The FHIR package cache (`~/.fhir/packages`, shared with the HL7 tools): installing a
//! package archive into it, listing what it holds, and choosing a version from a registry's
//! listing. No network here: the front end fetches (`GET {registry}/{name}` lists the
//! versions, `GET {registry}/{name}/{version}` serves the `.tgz`) and hands over the bytes.

use std::fs;
use std::path::{Path, PathBuf};

use super::source::{files_below, index_json, scan_files, unpack_into};
use super::{Manifest, PackageError, version_cmp};
use crate::json::{self, Json};

/// Where an installed package records the registry it came from (beside `package/`, which
/// the HL7 tools read; they ignore this file).
const SOURCE_FILE: &str = ".spfhir-source";

/// A package in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The `{name}#{version}` folder.
    pub dir: PathBuf,
    /// The registry it was installed from, when spfhir installed it.
    pub source: Option<String>,
}

/// The folder package `name#version` has (or would have) in the cache.
pub fn cache_folder(fhir_cache: &Path, name: &str, version: &str) -> PathBuf {
    fhir_cache.join(format!("{name}#{version}"))
}

/// Whether `name#version` is in the cache, complete (its `package/package.json` present).
pub fn is_installed(fhir_cache: &Path, name: &str, version: &str) -> bool {
    cache_folder(fhir_cache, name, version)
        .join("package/package.json")
        .is_file()
}

/// Install the package archive `bytes` (a `.tgz` whose members sit under `package/`) into
/// the cache as `{name}#{version}/package/`, with an `.index.json` when the archive has
/// none, and a note of `source`. Returns the package's manifest, whose dependencies the
/// caller installs next. The work happens in a private folder renamed into place at the
/// end, so a cut-off install never leaves half a package; one already installed is kept.
pub fn install_archive(
    bytes: &[u8],
    fhir_cache: &Path,
    source: &str,
) -> Result<Manifest, PackageError> {
    static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    fs::create_dir_all(fhir_cache).map_err(|e| io_err(fhir_cache, e))?;
    let tmp = fhir_cache.join(format!(".spfhir-install-{}-{n}", std::process::id()));
    let label = Path::new(source);
    let result = (|| {
        unpack_into(bytes, label, &tmp, false)?;
        let dir = tmp.join("package");
        let manifest_path = dir.join("package.json");
        let text = fs::read_to_string(&manifest_path).map_err(|e| io_err(&manifest_path, e))?;
        let manifest = Manifest::parse(&text).map_err(|message| PackageError::Invalid {
            path: source.to_string(),
            message,
        })?;
        let index = dir.join(".index.json");
        if !index.is_file() {
            fs::write(&index, index_json(&scan_files(&dir, &files_below(&dir))))
                .map_err(|e| io_err(&index, e))?;
        }
        let note = tmp.join(SOURCE_FILE);
        fs::write(&note, source).map_err(|e| io_err(&note, e))?;
        let target = cache_folder(fhir_cache, &manifest.name, &manifest.version);
        if !is_installed(fhir_cache, &manifest.name, &manifest.version) {
            if target.exists() {
                let _ = fs::remove_dir_all(&target); // an earlier install that was cut off
            }
            if let Err(e) = fs::rename(&tmp, &target)
                && !is_installed(fhir_cache, &manifest.name, &manifest.version)
            {
                return Err(io_err(&target, e));
            }
        }
        Ok(manifest)
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Every complete package in the cache, sorted by name and version.
pub fn installed(fhir_cache: &Path) -> Vec<Installed> {
    let Ok(entries) = fs::read_dir(fhir_cache) else {
        return Vec::new();
    };
    let mut out: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let dir = e.path();
            let folder = e.file_name().to_string_lossy().into_owned();
            let (name, version) = folder.split_once('#')?;
            dir.join("package/package.json")
                .is_file()
                .then(|| Installed {
                    name: name.to_string(),
                    version: version.to_string(),
                    source: fs::read_to_string(dir.join(SOURCE_FILE)).ok(),
                    dir,
                })
        })
        .collect();
    out.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(version_cmp(&a.version, &b.version))
    });
    out
}

/// The version to install from a registry's listing of a package (`GET {registry}/{name}`:
/// `{"versions": {"4.0.1": …}, "dist-tags": {"latest": "4.0.1"}}`): `want` when it is
/// listed, else (no `want`) the `latest` tag, else the highest version listed.
pub fn choose_version(listing: &str, want: Option<&str>) -> Result<String, String> {
    let j = json::parse(listing).map_err(|e| format!("the registry's listing is not JSON: {e}"))?;
    let versions: Vec<&str> = j
        .get("versions")
        .and_then(Json::as_object)
        .map(|o| o.iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    match want {
        Some(v) if versions.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(format!(
            "version {v} is not published (published: {})",
            if versions.is_empty() {
                "none".to_string()
            } else {
                versions.join(", ")
            }
        )),
        None => j
            .get("dist-tags")
            .and_then(|t| t.get_str("latest"))
            .filter(|l| versions.contains(l))
            .map(str::to_string)
            .or_else(|| {
                versions
                    .iter()
                    .max_by(|a, b| version_cmp(a, b))
                    .map(|v| v.to_string())
            })
            .ok_or_else(|| "no versions are published".to_string()),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> PackageError {
    PackageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
