//! `spfhir package install|list` against a FHIR package registry served over HTTP from the
//! packages in `../shared` (CI has no internet), then validation from the cache alone.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use crate::{TempDir, command, run, text};

/// A package registry on 127.0.0.1: `GET /{name}` lists versions, `GET /{name}/{version}`
/// serves the `.tgz`; anything else is 404. Returns its base URL.
pub fn registry(packages: Vec<(&'static str, &'static str, PathBuf)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
            let body: Option<(Vec<u8>, &str)> = match parts.as_slice() {
                [name] => packages.iter().find(|p| p.0 == *name).map(|p| {
                    let listing = format!(
                        r#"{{"name":"{}","dist-tags":{{"latest":"{}"}},"versions":{{"{}":{{"name":"{}","version":"{}"}}}}}}"#,
                        p.0, p.1, p.1, p.0, p.1
                    );
                    (listing.into_bytes(), "application/json")
                }),
                [name, version] => packages
                    .iter()
                    .find(|p| p.0 == *name && p.1 == *version)
                    .map(|p| (std::fs::read(&p.2).unwrap(), "application/gzip")),
                _ => None,
            };
            let _ = match body {
                Some((bytes, kind)) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .and_then(|()| stream.write_all(&bytes)),
                None => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    base
}

pub fn shared_registry() -> String {
    let r4 = spfhir_testkit::shared_dir().join("fhir/r4-core");
    registry(vec![
        (
            "hl7.fhir.r4.core",
            "4.0.1",
            r4.join("hl7.fhir.r4.core-4.0.1.tgz"),
        ),
        (
            "hl7.terminology.r4",
            "7.0.1",
            r4.join("hl7.terminology.r4-7.0.1.tgz"),
        ),
    ])
}

#[test]
fn install_fetches_dependencies_lists_them_and_validation_finds_them() {
    let home = TempDir::new("install");
    let url = shared_registry();
    let missing = registry(Vec::new());
    // THO depends on R4 core (served) and on the extensions pack (not served): both are
    // tried, R4 core is installed, the missing one is named with who needs it.
    let mut cmd = command(&home.0);
    cmd.args([
        "package",
        "install",
        "--registry",
        &missing,
        "--registry",
        &url,
        "hl7.terminology.r4",
    ]);
    let out = run(cmd, b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hl7.terminology.r4#7.0.1: installed"), "{err}");
    assert!(err.contains("hl7.fhir.r4.core#4.0.1: installed"), "{err}");
    assert!(
        err.contains("hl7.fhir.uv.extensions.r4#5.2.0 (needed by hl7.terminology.r4#7.0.1): no registry has it"),
        "{err}"
    );
    let cache = home.0.join(".fhir/packages");
    for p in ["hl7.fhir.r4.core#4.0.1", "hl7.terminology.r4#7.0.1"] {
        assert!(cache.join(p).join("package/package.json").is_file(), "{p}");
        assert!(cache.join(p).join("package/.index.json").is_file(), "{p}");
    }

    // Installing again changes nothing and says so; SPFHIR_REGISTRY is honoured.
    let mut cmd = command(&home.0);
    cmd.env("SPFHIR_REGISTRY", &url)
        .args(["package", "install", "hl7.fhir.r4.core#4.0.1"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already installed"),
        "{}",
        text(&out.stderr)
    );

    let mut cmd = command(&home.0);
    cmd.args(["package", "list"]);
    let out = run(cmd, b"");
    let list = text(&out.stdout);
    assert!(list.contains("hl7.fhir.r4.core#4.0.1"), "{list}");
    assert!(list.contains(&url), "the registry it came from: {list}");

    // With R4 core in the cache, validation needs no --package-path.
    let mut cmd = command(&home.0);
    cmd.args(["validate", "-"]);
    let out = run(cmd, br#"{"resourceType":"Patient","gender":"femal"}"#);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("BINDING_REQUIRED"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_missing_r4_core_says_how_to_install_it() {
    let home = TempDir::new("no-core");
    let mut cmd = command(&home.0);
    cmd.args(["validate", "-"]);
    let out = run(cmd, br#"{"resourceType":"Patient"}"#);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("spfhir package install hl7.fhir.r4.core#4.0.1"),
        "{err}"
    );
}

#[test]
fn install_rejects_a_bad_name_and_an_unpublished_version() {
    let home = TempDir::new("bad");
    let url = shared_registry();
    let mut cmd = command(&home.0);
    cmd.args([
        "package",
        "install",
        "--registry",
        &url,
        "hl7.fhir.r4.core#",
    ]);
    assert_eq!(run(cmd, b"").status.code(), Some(2));
    let mut cmd = command(&home.0);
    cmd.args([
        "package",
        "install",
        "--registry",
        &url,
        "hl7.fhir.r4.core#9.9.9",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("version 9.9.9 is not published (published: 4.0.1)"),
        "{}",
        text(&out.stderr)
    );
}
