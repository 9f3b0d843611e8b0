//! The `spfhir` binary end to end, run as a user runs it: a fresh home folder (no FHIR
//! package cache, no `SPFHIR_*` variables from the machine running the tests), real files,
//! real HTTP for the package registry.

mod basics;
mod browser;
mod interop;
mod outcomes;
mod package;
mod readme;
mod serve;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `spfhir` with the environment of a new user whose home is `home`: nothing inherited
/// that changes where packages come from.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spfhir"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home)
        .env_remove("SPFHIR_PACKAGE_PATH")
        .env_remove("SPFHIR_REGISTRY")
        .env_remove("XDG_CACHE_HOME")
        // Unpacked packages are kept between tests (unpacking R4 core takes a second).
        .env(
            "SPFHIR_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("spfhir-cache"),
        );
    cmd
}

/// Run `cmd` with `stdin` fed from another thread (so a large input and a large output
/// cannot block each other; a child that exits without reading it all is not a failure).
pub fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spfhir runs");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// `spfhir ARGS` as a new user, in the repository's folder.
pub fn spfhir(args: &[&str], stdin: &[u8]) -> Output {
    let home = TempDir::new("home");
    let mut cmd = command(&home.0);
    cmd.args(args);
    run(cmd, stdin)
}

pub fn packages() -> String {
    spfhir_testkit::shared_dir()
        .join("fhir")
        .display()
        .to_string()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
