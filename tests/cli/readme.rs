//! README cannot drift: every `spfhir` command in its `sh` blocks runs as written, in order,
//! as a new user would after the README's set-up (the package install line included,
//! against a registry serving the packages in `../shared`). A command may find problems
//! (exit 1: the corpus is full of them) but never a usage error, a missing file or a crash.

use std::path::{Path, PathBuf};

use crate::package::registry;
use crate::{TempDir, command, run, text};

/// The `sh` code blocks of README.md, each as its lines.
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(Vec::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(b), l) => b.push(l.to_string()),
            _ => {}
        }
    }
    blocks
}

/// UK Core as an NPM package, built from the conformance resources in `../shared` (which
/// holds them as a folder), so the README's install line has something to install.
fn uk_core_package(dir: &Path) -> PathBuf {
    let src = spfhir_testkit::shared_dir().join("fhir/uk-core");
    let out = dir.join("uk-core.tgz");
    let file = std::fs::File::create(&out).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let manifest = br#"{"name":"fhir.r4.ukcore.stu3.currentbuild","version":"0.0.0-shared","fhirVersions":["4.0.1"],"dependencies":{"hl7.fhir.r4.core":"4.0.1"}}"#;
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("package/{name}"), bytes)
            .unwrap();
    };
    add("package.json", manifest);
    for sub in ["structuredefinitions", "valuesets", "codesystems"] {
        for f in spfhir_testkit::json_files(&src.join(sub)) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            add(&name, &std::fs::read(&f).unwrap());
        }
    }
    tar.into_inner().unwrap().finish().unwrap();
    out
}

#[test]
fn every_readme_command_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let home = TempDir::new("readme");
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    let url = registry(vec![
        (
            "hl7.fhir.r4.core",
            "4.0.1",
            r4.join("hl7.fhir.r4.core-4.0.1.tgz"),
        ),
        (
            "fhir.r4.ukcore.stu3.currentbuild",
            "0.0.0-shared",
            uk_core_package(&home.0),
        ),
    ]);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_spfhir"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut ran = 0;
    let mut problems = Vec::new();
    for block in sh_blocks(&readme) {
        for line in block {
            let line = line.trim();
            // Only spfhir's own commands: building (cargo) and benchmark scripts are CI's.
            if !line.starts_with("spfhir ") {
                continue;
            }
            let mut cmd = command(&home.0);
            cmd.env("PATH", &path)
                .env("SPFHIR_REGISTRY", &url)
                .args(["-o", "pipefail", "-c", line]);
            let mut bash = std::process::Command::new("bash");
            bash.current_dir(root);
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => bash.env(k, v),
                    None => bash.env_remove(k),
                };
            }
            bash.args(cmd.get_args());
            let out = run(bash, b"");
            ran += 1;
            let err = text(&out.stderr);
            let code = out.status.code();
            if !matches!(code, Some(0 | 1))
                || err.contains("cannot read")
                || err.contains("unexpected argument")
            {
                problems.push(format!("`{line}` exited {code:?}:\n{err}"));
            }
        }
    }
    assert!(ran >= 15, "only {ran} README commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
