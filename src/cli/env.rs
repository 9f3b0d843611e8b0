//! Everything the binary takes from the environment, in one place. The libraries read no
//! environment variables; they are given these values.

use std::path::{Path, PathBuf};

use spfhir_conformance::package::LoadOptions;

/// Package loading options: the `--package-path` entries, then `$SPFHIR_PACKAGE_PATH`
/// (a `:`-separated list); the FHIR package cache `~/.fhir/packages` for dependencies;
/// spfhir's cache folder for unpacked packages.
pub fn load_options(package_path: &[PathBuf], load: Vec<PathBuf>) -> LoadOptions {
    let mut roots = package_path.to_vec();
    if let Some(env) = std::env::var_os("SPFHIR_PACKAGE_PATH") {
        roots.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    LoadOptions {
        package_path: roots,
        load,
        without_own_profiles: false,
        fhir_cache: fhir_cache(),
        cache_dir: Some(cache_dir()),
    }
}

/// The FHIR package cache the HL7 tools share: `~/.fhir/packages`.
pub fn fhir_cache() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".fhir/packages"))
}

/// spfhir's cache folder: `$SPFHIR_CACHE_DIR`, else `$XDG_CACHE_HOME/spfhir`, else
/// `~/.cache/spfhir`, else the system temp folder.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SPFHIR_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Path::new(&d).join("spfhir");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return Path::new(&h).join(".cache/spfhir");
    }
    spfhir_conformance::package::default_cache_dir()
}

/// The pseudonymisation key for `spfhir outcomes --format parquet`: the file
/// `--key-file` names, else `$SPFHIR_PSEUDONYM_KEY`. Never a flag's value, which would show
/// in the process list and shell history.
pub fn pseudonym_key(file: Option<&Path>) -> Result<Vec<u8>, String> {
    if let Some(f) = file {
        return std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()));
    }
    std::env::var_os("SPFHIR_PSEUDONYM_KEY")
        .map(|k| k.into_encoded_bytes())
        .ok_or_else(|| {
            "--format parquet pseudonymises NHS numbers with the ICB's secret key: give it in a file (--key-file FILE) or in $SPFHIR_PSEUDONYM_KEY".to_owned()
        })
}

/// Package registries from `$SPFHIR_REGISTRY` (separated by spaces or commas), if set.
pub fn registries() -> Option<Vec<String>> {
    let v = std::env::var("SPFHIR_REGISTRY").ok()?;
    let list: Vec<String> = v
        .split([' ', ','])
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// A package-loading error, with what to do about it.
pub fn explain(e: &spfhir_conformance::package::PackageError) -> String {
    use spfhir_conformance::package::PackageError;
    match e {
        PackageError::Missing { name, version, .. } => format!(
            "{e}\n  install it with: spfhir package install {name}#{version}\n  (or give a folder or .tgz holding it with --package-path)"
        ),
        _ => e.to_string(),
    }
}
