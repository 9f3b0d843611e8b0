//! `spfhir package install|list`: FHIR NPM packages from a package registry into the FHIR
//! package cache (`~/.fhir/packages`, which the HL7 tools share), with their dependencies.
//! The HTTP is here; unpacking, indexing and version choice are the library's
//! (`spfhir_conformance::package::install`).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use spfhir_conformance::package::Manifest;
use spfhir_conformance::package::install::{self, choose_version};

/// The public FHIR package registries, tried in order when none is given.
pub const DEFAULT_REGISTRIES: &[&str] = &[
    "https://packages.fhir.org",
    "https://packages2.fhir.org/packages",
];

#[derive(clap::Subcommand, Debug)]
pub enum PackageCommand {
    /// Install packages and their dependencies into the FHIR package cache.
    Install {
        /// A package registry (the FHIR NPM registry API); repeat to try several in order.
        /// Default: $SPFHIR_REGISTRY (space- or comma-separated), else packages.fhir.org,
        /// then packages2.fhir.org.
        #[arg(long = "registry", value_name = "URL")]
        registries: Vec<String>,
        /// `name` or `name#version`, e.g. `hl7.fhir.r4.core#4.0.1`.
        #[arg(required = true, value_name = "NAME[#VERSION]")]
        packages: Vec<String>,
    },
    /// List the packages in the FHIR package cache and where each came from.
    List,
}

pub fn run(cmd: &PackageCommand) -> i32 {
    let Some(cache) = super::env::fhir_cache() else {
        eprintln!("error: cannot find the FHIR package cache: $HOME is not set");
        return 2;
    };
    match cmd {
        PackageCommand::List => list(&cache),
        PackageCommand::Install {
            registries,
            packages,
        } => {
            let registries = if registries.is_empty() {
                super::env::registries()
                    .unwrap_or_else(|| DEFAULT_REGISTRIES.iter().map(|r| r.to_string()).collect())
            } else {
                registries.clone()
            };
            install_all(&cache, &registries, packages)
        }
    }
}

fn list(cache: &Path) -> i32 {
    let all = install::installed(cache);
    if all.is_empty() {
        println!(
            "no packages in {} (install one with: spfhir package install hl7.fhir.r4.core#4.0.1)",
            cache.display()
        );
        return 0;
    }
    for p in &all {
        let from = p.source.as_deref().unwrap_or("installed by another tool");
        println!("{}#{}\t{}\t{}", p.name, p.version, p.dir.display(), from);
    }
    0
}

/// Install each package, then the dependencies each names, breadth first. Exit 0 when all
/// are installed, 1 when some could not be, 2 for a bad argument.
fn install_all(cache: &Path, registries: &[String], wanted: &[String]) -> i32 {
    let client = match reqwest::blocking::Client::builder()
        .user_agent(concat!("spfhir/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(600))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot start an HTTP client: {e}");
            return 2;
        }
    };
    let mut queue: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for w in wanted {
        let (name, version) = match w.split_once('#') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (w.as_str(), None),
        };
        if name.is_empty() || version.as_deref() == Some("") {
            eprintln!("error: '{w}' is not NAME or NAME#VERSION");
            return 2;
        }
        queue.push((name.to_string(), version, None));
    }
    let mut seen = HashSet::new();
    let mut failed = Vec::new();
    let mut i = 0;
    while i < queue.len() {
        let (name, version, needed_by) = queue[i].clone();
        i += 1;
        if !seen.insert((name.clone(), version.clone())) {
            continue;
        }
        let found = match &version {
            Some(v) if install::is_installed(cache, &name, v) => {
                eprintln!("{name}#{v}: already installed");
                installed_manifest(cache, &name, v)
            }
            _ => fetch_and_install(&client, cache, registries, &name, version.as_deref()),
        };
        match found {
            Ok(manifest) => {
                for (dep, v) in manifest.dependencies {
                    queue.push((dep, Some(v), Some(format!("{name}#{}", manifest.version))));
                }
            }
            Err(why) => {
                let by = needed_by
                    .map(|b| format!(" (needed by {b})"))
                    .unwrap_or_default();
                let label = version.map_or(name.clone(), |v| format!("{name}#{v}"));
                eprintln!("error: {label}{by}: {why}");
                failed.push(label);
            }
        }
    }
    if failed.is_empty() {
        eprintln!("packages are in {}", cache.display());
        0
    } else {
        eprintln!(
            "{} package(s) could not be installed: {}",
            failed.len(),
            failed.join(", ")
        );
        1
    }
}

/// Find `name` (at `version`, or the latest) on the first registry that has it, download
/// it and install it.
fn fetch_and_install(
    client: &reqwest::blocking::Client,
    cache: &Path,
    registries: &[String],
    name: &str,
    version: Option<&str>,
) -> Result<Manifest, String> {
    let mut tried = Vec::new();
    for registry in registries {
        let base = registry.trim_end_matches('/');
        let listing = match get(client, &format!("{base}/{name}")) {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => {
                tried.push(format!("{base}: not found"));
                continue;
            }
            Err(e) => {
                tried.push(format!("{base}: {e}"));
                continue;
            }
        };
        let v = match choose_version(&listing, version) {
            Ok(v) => v,
            Err(e) => {
                tried.push(format!("{base}: {e}"));
                continue;
            }
        };
        if install::is_installed(cache, name, &v) {
            eprintln!("{name}#{v}: already installed");
            return installed_manifest(cache, name, &v);
        }
        let url = format!("{base}/{name}/{v}");
        eprintln!("{name}#{v}: downloading from {url}");
        let bytes = match get(client, &url) {
            Ok(Some(b)) => b,
            Ok(None) => {
                tried.push(format!("{url}: not found"));
                continue;
            }
            Err(e) => {
                tried.push(format!("{url}: {e}"));
                continue;
            }
        };
        let manifest = install::install_archive(&bytes, cache, base).map_err(|e| e.to_string())?;
        if manifest.name != name || manifest.version != v {
            return Err(format!(
                "{url} served {}#{} instead",
                manifest.name, manifest.version
            ));
        }
        eprintln!(
            "{name}#{v}: installed ({:.1} MB)",
            bytes.len() as f64 / 1_048_576.0
        );
        return Ok(manifest);
    }
    Err(format!("no registry has it ({})", tried.join("; ")))
}

/// The manifest of a package already in the cache (for its dependencies).
fn installed_manifest(cache: &Path, name: &str, version: &str) -> Result<Manifest, String> {
    let path = install::cache_folder(cache, name, version).join("package/package.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// GET `url`: its body, `None` on 404, an error for anything else.
fn get(client: &reqwest::blocking::Client, url: &str) -> Result<Option<Vec<u8>>, String> {
    let resp = client.get(url).send().map_err(|e| e.to_string())?;
    match resp.status() {
        s if s.is_success() => resp
            .bytes()
            .map(|b| Some(b.to_vec()))
            .map_err(|e| e.to_string()),
        reqwest::StatusCode::NOT_FOUND => Ok(None),
        s => Err(format!("HTTP {s}")),
    }
}
