//! An unmodified third-party FHIR client against a real `spfhir serve`: SMART on FHIR's
//! Python `fhirclient` (PyPI; `.ci/run` installs it) runs `tests/interop/fhirclient_session.py`:
//! it parses the CapabilityStatement with its own models, creates, reads, searches with
//! paging, updates and posts a transaction.

use std::process::Command;

use crate::TempDir;
use crate::serve::Running;

#[test]
fn the_python_fhirclient_runs_a_session() {
    let has_client = Command::new("python3")
        .args(["-c", "import fhirclient"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "the interop test needs Python 3 with fhirclient (pip install fhirclient; .ci/run installs it)"
    );
    let home = TempDir::new("interop-home");
    let dir = TempDir::new("interop-dir");
    let server = Running::start(&home.0, &dir.0, &["--insecure-dev"]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/fhirclient_session.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&server.base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all passed"), "{stdout}");
    server.stop();
}
