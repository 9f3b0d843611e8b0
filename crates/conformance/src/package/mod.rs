//! FHIR NPM packages and loose conformance resources, and the canonical registry over them.
//!
//! [`load`] finds packages on the package path (the front end gathers it from
//! `--package-path` and `$SPFHIR_PACKAGE_PATH`): `.tgz` files, folders with a `package.json` (at the top or in
//! `package/`), and loose folders of conformance resources without one (as UK Core's
//! source tree is). Every package found there is loaded, with spfhir's own profiles
//! (built into the binary). Dependencies (`name#version` in package.json) are taken from
//! what was loaded, else from the FHIR package cache the caller names (`~/.fhir/packages`); one that cannot be
//! found is recorded as a note naming it, who needs it and where it was looked for. R4 core
//! (`hl7.fhir.r4.core#4.0.1`) is required: without it loading fails with that same detail.
//!
//! The [`Registry`] resolves canonicals (`url` or `url|version`) to resources, parsing each
//! file only when first asked for.
//!
//! Invariants: the registry never fetches anything over the network; it never holds a
//! resource it has not been asked for in parsed form.

pub mod install;
mod source;

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use source::{INDEXED_TYPES, default_cache_dir};

use crate::json::{self, Json};

/// spfhir's own profiles (`profiles/`), built into the binary.
static OWN_PROFILES: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../profiles");

pub const R4_CORE: (&str, &str) = ("hl7.fhir.r4.core", "4.0.1");

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "package {name}#{version} not found; looked in: {}. Give --package-path DIR (a folder of packages, a package folder or a .tgz) or set SPFHIR_PACKAGE_PATH",
        looked.join(", ")
    )]
    Missing {
        name: String,
        version: String,
        looked: Vec<String>,
    },
}

/// The parts of `package.json` the registry uses.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub dependencies: Vec<(String, String)>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let j = json::parse(text).map_err(|e| e.to_string())?;
        let s = |k: &str| {
            j.get(k)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("package.json has no \"{k}\""))
        };
        let dependencies = j
            .get("dependencies")
            .and_then(Json::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Manifest {
            name: s("name")?,
            version: s("version")?,
            dependencies,
        })
    }
}

/// One indexed resource of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File name relative to the package folder.
    pub file: String,
    pub resource_type: String,
    pub url: Option<String>,
    pub version: Option<String>,
    /// `StructureDefinition.type`.
    pub sd_type: Option<String>,
}

impl Entry {
    /// The entry for `res` if it is a conformance resource the registry indexes.
    pub fn of(res: &Json, file: &str) -> Option<Entry> {
        let s = |k: &str| res.get(k).and_then(Json::as_str).map(str::to_string);
        let resource_type = s("resourceType")?;
        INDEXED_TYPES
            .contains(&resource_type.as_str())
            .then(|| Entry {
                file: file.to_string(),
                resource_type,
                url: s("url"),
                version: s("version"),
                sd_type: s("type"),
            })
    }
}

/// A loaded package (or loose folder, or `--load`ed files).
#[derive(Clone, Debug)]
pub struct PackageInfo {
    /// `name#version`, or `None` for loose resources.
    pub id: Option<(String, String)>,
    /// Where it came from, for messages.
    pub origin: String,
    pub dependencies: Vec<(String, String)>,
    pub resources: usize,
}

impl PackageInfo {
    pub fn label(&self) -> String {
        match &self.id {
            Some((n, v)) => format!("{n}#{v}"),
            None => self.origin.clone(),
        }
    }
}

enum Content {
    File(PathBuf),
    Static(&'static str),
    Parsed,
}

struct Slot {
    entry: Entry,
    content: Content,
    parsed: OnceLock<Option<Arc<Json>>>,
    /// From HL7's terminology package (`hl7.terminology*`), the source of truth for what
    /// R4 core only copied in 2019.
    from_terminology: bool,
}

/// Every loaded conformance resource, by canonical URL.
#[derive(Default)]
pub struct Registry {
    packages: Vec<PackageInfo>,
    slots: Vec<Slot>,
    by_url: HashMap<String, Vec<usize>>,
    /// Things the user should know that did not stop loading (missing dependencies).
    pub notes: Vec<String>,
    /// Where `.tgz` packages are unpacked and folder scans kept.
    cache_dir: PathBuf,
    /// The FHIR package cache searched for dependencies.
    fhir_cache: Option<PathBuf>,
    /// Every NamingSystem's `uri` unique ids (R4's NamingSystem has no `url`, so they are not
    /// in `by_url`); gathered on first use, cleared when a resource is added.
    naming_system_uris: OnceLock<rustc_hash::FxHashSet<String>>,
}

/// Where to look for packages.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--package-path` entries: every package found below each is loaded.
    pub package_path: Vec<PathBuf>,
    /// `--load` files and folders of loose conformance resources (or Bundles of them).
    pub load: Vec<PathBuf>,
    /// Leave out spfhir's own profiles.
    pub without_own_profiles: bool,
    /// The FHIR package cache (`~/.fhir/packages`, which the HL7 tools share), searched for
    /// dependencies that are not on the package path. `None`: dependencies come from the
    /// package path only.
    pub fhir_cache: Option<PathBuf>,
    /// Where `.tgz` packages are unpacked and folder scans are kept between runs; `None`
    /// for [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
}

/// Load packages as described in the module docs.
pub fn load(opts: &LoadOptions) -> Result<Registry, PackageError> {
    let mut reg = Registry {
        cache_dir: opts.cache_dir.clone().unwrap_or_else(default_cache_dir),
        fhir_cache: opts.fhir_cache.clone(),
        ..Registry::default()
    };
    let roots = &opts.package_path;
    if !opts.without_own_profiles {
        reg.add_own_profiles();
    }
    let mut found = Vec::new();
    for root in roots {
        if !root.exists() {
            return Err(PackageError::Io {
                path: root.display().to_string(),
                message: "no such file or folder (given on the package path)".into(),
            });
        }
        discover(root, 0, &mut found);
    }
    for place in found {
        let listing = match place {
            Found::Tgz(p) => source::read_tgz(&p, &reg.cache_dir)?,
            Found::Folder(p) => source::read_folder(&p, &reg.cache_dir)?,
        };
        reg.add_listing(listing);
    }
    for path in &opts.load {
        reg.load_loose(path)?;
    }
    reg.resolve_dependencies(roots);
    if !reg.has_package(R4_CORE.0, R4_CORE.1) {
        let mut looked: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        looked.extend(reg.fhir_cache.as_ref().map(|c| c.display().to_string()));
        return Err(PackageError::Missing {
            name: R4_CORE.0.into(),
            version: R4_CORE.1.into(),
            looked,
        });
    }
    Ok(reg)
}

/// The `{name}#{version}` folder in `place` with the highest version, if any.
fn latest_in(place: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}#");
    std::fs::read_dir(place)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let folder = e.file_name().to_string_lossy().into_owned();
            let version = folder.strip_prefix(&prefix)?.to_string();
            Some((version, e.path()))
        })
        .max_by(|a, b| version_cmp(&a.0, &b.0))
        .map(|(_, p)| p)
}

enum Found {
    Tgz(PathBuf),
    Folder(PathBuf),
}

/// Packages and loose folders at or below `path` (at most four folders deep).
fn discover(path: &Path, depth: usize, out: &mut Vec<Found>) {
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "tgz") {
            out.push(Found::Tgz(path.to_path_buf()));
        } else {
            out.push(Found::Folder(path.to_path_buf()));
        }
        return;
    }
    if path.join("package.json").is_file() || path.join("package/package.json").is_file() {
        out.push(Found::Folder(path.to_path_buf()));
        return;
    }
    let Ok(read) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    children.sort();
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let tgz: Vec<&PathBuf> = children
        .iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    let has_json = children.iter().any(|p| {
        p.is_file()
            && p.extension().is_some_and(|e| e == "json")
            && name(p).as_deref() != Some("manifest.json")
    });
    if !tgz.is_empty() {
        out.extend(tgz.into_iter().map(|p| Found::Tgz(p.clone())));
    } else if has_json {
        out.push(Found::Folder(path.to_path_buf()));
        return;
    }
    if depth < 4 {
        for c in &children {
            let n = name(c).unwrap_or_default();
            if c.is_dir() && !matches!(n.as_str(), "example" | "examples" | "openapi") {
                discover(c, depth + 1, out);
            }
        }
    }
}

/// Compare dotted versions numerically where both parts are numbers (`2.10` > `2.9`).
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let mut ai = a.split(['.', '-']);
    let mut bi = b.split(['.', '-']);
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if o.is_ne() {
                    return o;
                }
            }
        }
    }
}

/// Does `have` satisfy a dependency on `want` (exact, or `x` wildcards such as `4.0.x`)?
/// Whether version `have` satisfies `want`: the same, a wildcard (`4.0.x`), or `current`
/// (the HL7 tools' name for a package's latest build: any version will do).
fn version_matches(want: &str, have: &str) -> bool {
    want == have
        || want == "current"
        || want
            .split('.')
            .zip(have.split('.'))
            .all(|(w, h)| w == "x" || w == "*" || w == h)
            && want.split('.').count() == have.split('.').count()
}

impl Registry {
    pub fn packages(&self) -> &[PackageInfo] {
        &self.packages
    }

    pub fn has_package(&self, name: &str, version: &str) -> bool {
        self.packages.iter().any(|p| {
            p.id.as_ref()
                .is_some_and(|(n, v)| n == name && version_matches(version, v))
        })
    }

    fn push_slot(
        &mut self,
        entry: Entry,
        content: Content,
        parsed: Option<Arc<Json>>,
        from_terminology: bool,
    ) {
        if entry.resource_type == "NamingSystem" {
            self.naming_system_uris = OnceLock::new();
        }
        let i = self.slots.len();
        if let Some(url) = &entry.url {
            self.by_url.entry(url.clone()).or_default().push(i);
        }
        let cell = OnceLock::new();
        if let Some(p) = parsed {
            let _ = cell.set(Some(p));
        }
        self.slots.push(Slot {
            entry,
            content,
            parsed: cell,
            from_terminology,
        });
    }

    fn add_listing(&mut self, listing: source::Listing) {
        let (id, dependencies) = match &listing.manifest {
            Some(m) => (
                Some((m.name.clone(), m.version.clone())),
                m.dependencies.clone(),
            ),
            None => (None, Vec::new()),
        };
        if let Some((n, v)) = &id
            && self.has_package(n, v)
        {
            return; // the same package found twice (e.g. a folder and its .tgz)
        }
        self.packages.push(PackageInfo {
            id,
            origin: listing.dir.display().to_string(),
            dependencies,
            resources: listing.entries.len(),
        });
        let from_terminology = self
            .packages
            .last()
            .and_then(|p| p.id.as_ref())
            .is_some_and(|(name, _)| name.starts_with("hl7.terminology"));
        for e in listing.entries {
            let path = listing.dir.join(&e.file);
            self.push_slot(e, Content::File(path), None, from_terminology);
        }
    }

    fn add_own_profiles(&mut self) {
        let mut count = 0;
        let mut manifest = None;
        for f in OWN_PROFILES.files() {
            let name = f.path().to_string_lossy();
            let Some(text) = f.contents_utf8() else {
                continue;
            };
            if name == "package.json" {
                manifest = Manifest::parse(text).ok();
                continue;
            }
            if let Ok(res) = json::parse(text)
                && let Some(e) = Entry::of(&res, &name)
            {
                self.push_slot(e, Content::Static(text), None, false);
                count += 1;
            }
        }
        self.packages.push(PackageInfo {
            id: manifest
                .as_ref()
                .map(|m| (m.name.clone(), m.version.clone())),
            origin: "spfhir's own profiles (built in)".into(),
            dependencies: manifest.map(|m| m.dependencies).unwrap_or_default(),
            resources: count,
        });
    }

    /// Add loose conformance resources from a file (a resource or a Bundle of them) or a
    /// folder (every JSON file below it).
    pub fn load_loose(&mut self, path: &Path) -> Result<(), PackageError> {
        if path.is_dir() {
            let listing = source::read_folder(path, &self.cache_dir)?;
            self.add_listing(listing);
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| PackageError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let res = json::parse(&text).map_err(|e| PackageError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let before = self.slots.len();
        self.add_resource(res, &path.display().to_string());
        self.packages.push(PackageInfo {
            id: None,
            origin: path.display().to_string(),
            dependencies: Vec::new(),
            resources: self.slots.len() - before,
        });
        Ok(())
    }

    /// Add one conformance resource (or each in a Bundle) already in memory.
    pub fn add_resource(&mut self, res: Json, origin: &str) {
        if res.get("resourceType").and_then(Json::as_str) == Some("Bundle") {
            for e in res.get("entry").and_then(Json::as_array).unwrap_or(&[]) {
                if let Some(r) = e.get("resource") {
                    self.add_resource(r.clone(), origin);
                }
            }
            return;
        }
        if let Some(e) = Entry::of(&res, origin) {
            self.push_slot(e, Content::Parsed, Some(Arc::new(res)), false);
        }
    }

    /// Take each package's dependencies from what is loaded, else from `~/.fhir/packages`
    /// (and a `name#version` folder in any root); note the ones that cannot be found.
    fn resolve_dependencies(&mut self, roots: &[PathBuf]) {
        let mut i = 0;
        let mut wanted: Vec<(String, String, String)> = vec![(
            R4_CORE.0.into(),
            R4_CORE.1.into(),
            "spfhir (FHIR R4)".into(),
        )];
        loop {
            while i < self.packages.len() {
                let p = &self.packages[i];
                for (n, v) in &p.dependencies {
                    wanted.push((n.clone(), v.clone(), p.label()));
                }
                i += 1;
            }
            let Some((name, version, by)) = wanted.pop() else {
                break;
            };
            if self.has_package(&name, &version) {
                continue;
            }
            let mut places: Vec<PathBuf> = roots.to_vec();
            places.extend(self.fhir_cache.clone());
            let hit = places.iter().find_map(|p| {
                let dir = if version == "current" {
                    latest_in(p, &name)?
                } else {
                    p.join(format!("{name}#{version}"))
                };
                let tgz = p.join(format!("{name}-{version}.tgz"));
                if dir.is_dir() {
                    source::read_folder(&dir, &self.cache_dir).ok()
                } else if tgz.is_file() {
                    source::read_tgz(&tgz, &self.cache_dir).ok()
                } else {
                    None
                }
            });
            match hit {
                Some(listing) => self.add_listing(listing),
                None if name == R4_CORE.0 => {} // load() reports it as an error
                None => {
                    let note = format!(
                        "package {name}#{version} (needed by {by}) not found; looked in: {}",
                        places
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    if !self.notes.contains(&note) {
                        self.notes.push(note);
                    }
                }
            }
        }
    }

    fn parsed(&self, i: usize) -> Option<Arc<Json>> {
        let slot = &self.slots[i];
        slot.parsed
            .get_or_init(|| {
                let text = match &slot.content {
                    Content::File(p) => std::fs::read_to_string(p).ok()?,
                    Content::Static(s) => s.to_string(),
                    Content::Parsed => return None,
                };
                json::parse(&text).ok().map(Arc::new)
            })
            .clone()
    }

    /// The slot a canonical (`url` or `url|version`) resolves to: an exact version when one
    /// is given, otherwise the highest version loaded.
    fn find(&self, canonical: &str) -> Option<usize> {
        let (url, version) = match canonical.split_once('|') {
            Some((u, v)) => (u, Some(v)),
            None => (canonical, None),
        };
        let slots = self.by_url.get(url)?;
        match version {
            Some(v) => slots
                .iter()
                .copied()
                .find(|&i| self.slots[i].entry.version.as_deref() == Some(v)),
            // The latest version; but HL7's terminology package over R4 core's copies of the
            // same code systems and value sets, whatever their versions say: core's are
            // 2019 snapshots, often dated (`2018-08-12`) where the package's current ones
            // are numbered (`3.0.0`), so the numbers alone would pick the old one.
            None => slots.iter().copied().max_by(|&a, &b| {
                let (a, b) = (&self.slots[a], &self.slots[b]);
                a.from_terminology.cmp(&b.from_terminology).then_with(|| {
                    version_cmp(
                        a.entry.version.as_deref().unwrap_or(""),
                        b.entry.version.as_deref().unwrap_or(""),
                    )
                })
            }),
        }
    }

    /// The resource a canonical refers to.
    pub fn resolve(&self, canonical: &str) -> Option<Arc<Json>> {
        self.find(canonical).and_then(|i| self.parsed(i))
    }

    /// The index entry a canonical refers to (without parsing the resource).
    pub fn entry(&self, canonical: &str) -> Option<&Entry> {
        self.find(canonical).map(|i| &self.slots[i].entry)
    }

    /// Does a loaded definition answer to `uri`: a canonical resource's `url` (with or
    /// without `|version`), or a NamingSystem's `uri` unique id (`http://hl7.org/fhir/sid/…`)?
    pub fn knows_uri(&self, uri: &str) -> bool {
        self.find(uri).is_some()
            || self
                .naming_system_uris
                .get_or_init(|| {
                    let mut uris = rustc_hash::FxHashSet::default();
                    for ns in self.all_of_type("NamingSystem") {
                        for id in ns.get("uniqueId").and_then(Json::as_array).unwrap_or(&[]) {
                            if id.get("type").and_then(Json::as_str) == Some("uri")
                                && let Some(v) = id.get("value").and_then(Json::as_str)
                            {
                                uris.insert(v.to_string());
                            }
                        }
                    }
                    uris
                })
                .contains(uri)
    }

    /// Every loaded resource of `resource_type` (parsed on demand).
    pub fn all_of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = Arc<Json>> + 'a {
        (0..self.slots.len())
            .filter(move |&i| self.slots[i].entry.resource_type == resource_type)
            .filter_map(|i| self.parsed(i))
    }

    /// Index entries of every loaded resource.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().map(|s| &s.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("2.10.0", "2.9.1"), Greater);
        assert_eq!(version_cmp("1.0", "1.0.0"), Less);
        assert_eq!(version_cmp("4.0.1", "4.0.1"), Equal);
        assert!(version_matches("4.0.x", "4.0.1"));
        assert!(!version_matches("4.0.x", "4.1.0"));
        assert!(!version_matches("4.0", "4.0.1"));
    }
}
