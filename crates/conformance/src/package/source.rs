//! Where a package's files come from: a folder (with or without `.index.json`), a `.tgz`
//! (unpacked once into spfhir's cache, then read as a folder), or spfhir's own `profiles/`
//! built into the binary.
//!
//! Invariant: this module never parses more than it must. A folder with an index is read
//! from the index; a folder without one is scanned once and the scan's result is kept in
//! the cache, keyed by the folder's file list (names, sizes, modification times), so a
//! changed package is rescanned.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::{Entry, Manifest, PackageError};
use crate::json::{self, Json};

/// Resource types the registry indexes: what validation and mapping look up by canonical.
pub const INDEXED_TYPES: &[&str] = &[
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "Questionnaire",
    "ConceptMap",
    "NamingSystem",
    "SearchParameter",
];

/// Files of a package as read from disk.
pub struct Listing {
    pub manifest: Option<Manifest>,
    /// The folder that entries' `file` names are relative to.
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
}

/// The cache folder used when the caller names none: `spfhir-cache` in the system's temp
/// folder. Front ends choose a better one (`spfhir` uses `$SPFHIR_CACHE_DIR`, then the XDG
/// cache folder).
pub fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("spfhir-cache")
}

fn io_err(path: &Path, e: std::io::Error) -> PackageError {
    PackageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A stamp of a file's identity that changes when the file does (size and mtime).
fn stamp(meta: &fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}-{mtime}", meta.len())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read a `.tgz` package: unpacked on first use into `<cache>/tgz/<hash>/`, where the hash
/// covers the archive's path, size and modification time (and the types indexed); later
/// runs read that folder.
pub fn read_tgz(path: &Path, cache: &Path) -> Result<Listing, PackageError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let abs = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = Sha1::new()
        .chain_update(abs.to_string_lossy().as_bytes())
        .chain_update(stamp(&meta).as_bytes())
        // The index written for an archive without one lists the types indexed then.
        .chain_update(INDEXED_TYPES.join(",").as_bytes())
        .finalize();
    let target = cache.join("tgz").join(hex(&key[..10]));
    if !target.join(COMPLETE).is_file() {
        unpack(path, &target, &abs)?;
    }
    read_folder(&target.join("package"), cache)
}

/// Marks a finished unpack (written last, inside the folder before it is moved in place).
const COMPLETE: &str = ".spfhir-complete";

/// Unpack the JSON files of a package archive (members under `package/`) into `target`,
/// with an `.index.json` when the archive has none. Work happens in a private folder that
/// is renamed into place at the end, so concurrent loads never see half a package.
fn unpack(path: &Path, target: &Path, abs: &Path) -> Result<(), PackageError> {
    static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = target.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let result = fs::File::open(path)
        .map_err(|e| io_err(path, e))
        .and_then(|file| unpack_into(file, path, &tmp, true))
        .and_then(|()| {
            let dir = tmp.join("package");
            let index = dir.join(".index.json");
            if !index.is_file() {
                fs::write(&index, index_json(&scan_files(&dir, &files_below(&dir))))
                    .map_err(|e| io_err(&index, e))?;
            }
            let done = tmp.join(COMPLETE);
            fs::write(&done, abs.to_string_lossy().as_bytes()).map_err(|e| io_err(&done, e))?;
            if target.exists() && !target.join(COMPLETE).is_file() {
                let _ = fs::remove_dir_all(target); // an unpack that was cut off
            }
            match fs::rename(&tmp, target) {
                Ok(()) => Ok(()),
                // Another process or thread finished first: use theirs.
                Err(_) if target.join(COMPLETE).is_file() => Ok(()),
                Err(e) => Err(io_err(target, e)),
            }
        });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Unpack the members under `package/` of the gzip'd tar `archive` (named `path` in errors)
/// into `tmp/package/`: only `.json` files when `json_only`. A member whose path would climb
/// out of the target is skipped.
pub(super) fn unpack_into(
    archive: impl Read,
    path: &Path,
    tmp: &Path,
    json_only: bool,
) -> Result<(), PackageError> {
    let invalid = |message: String| PackageError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a gzip'd tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("corrupt archive: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| invalid(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // Only `package/…json` files; never a path that climbs out of the target.
        let Some(rel) = name.strip_prefix("package/") else {
            continue;
        };
        if (json_only && !rel.ends_with(".json"))
            || rel.split('/').any(|p| p == ".." || p.is_empty())
            || !entry.header().entry_type().is_file()
        {
            continue;
        }
        let out = tmp.join("package").join(rel);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("corrupt archive member {name}: {e}")))?;
        fs::write(&out, bytes).map_err(|e| io_err(&out, e))?;
    }
    if !tmp.join("package/package.json").is_file() {
        return Err(invalid("the archive has no package/package.json".into()));
    }
    Ok(())
}

/// Read a folder: `package.json` (here or in `package/`), then `.index.json` when present,
/// else a scan of every JSON file below it (outside `example`/`examples` folders).
pub fn read_folder(dir: &Path, cache: &Path) -> Result<Listing, PackageError> {
    let dir = if !dir.join("package.json").is_file() && dir.join("package/package.json").is_file() {
        dir.join("package")
    } else {
        dir.to_path_buf()
    };
    let manifest = match fs::read_to_string(dir.join("package.json")) {
        Ok(text) => Some(
            Manifest::parse(&text).map_err(|message| PackageError::Invalid {
                path: dir.join("package.json").display().to_string(),
                message,
            })?,
        ),
        Err(_) => None,
    };
    let entries = match fs::read_to_string(dir.join(".index.json")) {
        Ok(text) => index_entries(&text).unwrap_or_else(|| scan(&dir, cache)),
        Err(_) => scan(&dir, cache),
    };
    Ok(Listing {
        manifest,
        dir,
        entries,
    })
}

/// Entries from an NPM package `.index.json` (`files[]` with filename, resourceType, id,
/// url, version); `None` when it is not one.
fn index_entries(text: &str) -> Option<Vec<Entry>> {
    let index = json::parse(text).ok()?;
    let files = index.get("files")?.as_array()?;
    Some(
        files
            .iter()
            .filter_map(|f| {
                let s = |k: &str| f.get(k).and_then(Json::as_str).map(str::to_string);
                let resource_type = s("resourceType")?;
                let file = s("filename")?;
                INDEXED_TYPES
                    .contains(&resource_type.as_str())
                    .then(|| Entry {
                        file,
                        resource_type,
                        url: s("url"),
                        version: s("version"),
                        sd_type: s("type"),
                    })
            })
            .collect(),
    )
}

/// The cached result of scanning `dir`, or a fresh scan (then cached).
fn scan(dir: &Path, cache: &Path) -> Vec<Entry> {
    let files = files_below(dir);
    let mut h = Sha1::new();
    for (rel, st) in &files {
        h.update(rel.as_bytes());
        h.update(st.as_bytes());
    }
    let abs = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    h.update(abs.to_string_lossy().as_bytes());
    // A scan kept by a build that indexed other types is not this build's scan.
    h.update(INDEXED_TYPES.join(",").as_bytes());
    let cached = cache
        .join("scan")
        .join(format!("{}.json", hex(&h.finalize()[..10])));
    if let Some(entries) = fs::read_to_string(&cached)
        .ok()
        .and_then(|t| index_entries(&t))
    {
        return entries;
    }
    let entries = scan_files(dir, &files);
    // Best effort: a cache that cannot be written only costs the next run a rescan.
    let _ = fs::create_dir_all(cached.parent().unwrap_or(dir));
    let _ = fs::write(&cached, index_json(&entries));
    entries
}

/// Parse each file and index the conformance resources among them.
pub(super) fn scan_files(dir: &Path, files: &[(String, String)]) -> Vec<Entry> {
    files
        .iter()
        .filter_map(|(rel, _)| {
            let text = fs::read_to_string(dir.join(rel)).ok()?;
            let res = json::parse(&text).ok()?;
            Entry::of(&res, rel)
        })
        .collect()
}

/// Sorted relative paths and stamps of the JSON files below `dir`.
pub(super) fn files_below(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// Relative paths and stamps of JSON files below `dir` (not in example folders).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(read) = fs::read_dir(dir) else { return };
    for e in read.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            if !matches!(name.as_str(), "example" | "examples" | "other" | "openapi") {
                walk(root, &path, out);
            }
        } else if name.ends_with(".json")
            && !matches!(
                name.as_str(),
                "package.json" | ".index.json" | "manifest.json"
            )
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push((rel.to_string_lossy().into_owned(), stamp(&meta)));
        }
    }
}

/// An `.index.json` text for `entries` (the NPM package index format, version 1).
pub fn index_json(entries: &[Entry]) -> String {
    let files: Vec<Json> = entries
        .iter()
        .map(|e| {
            Json::obj()
                .with("filename", e.file.as_str())
                .with("resourceType", e.resource_type.as_str())
                .with_opt("url", e.url.as_deref())
                .with_opt("version", e.version.as_deref())
                .with_opt("type", e.sd_type.as_deref())
        })
        .collect();
    Json::obj()
        .with("index-version", 1i64)
        .with("files", Json::from(files))
        .to_pretty()
}
