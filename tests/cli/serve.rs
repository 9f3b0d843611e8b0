//! `spfhir serve` as a real process: it starts on the default SQLite store, answers over
//! HTTP, stops cleanly on SIGTERM with its data kept; two processes sharing a PostgreSQL
//! database never both win an update; `--check-config` and bad configuration files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, command, packages, text};

/// A running `spfhir serve` and its address.
pub struct Running {
    child: Child,
    pub base: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Running {
    pub fn start(home: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Running {
        let mut cmd = command(home);
        cmd.current_dir(dir)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--package-path",
                &packages(),
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spfhir serve starts");
        let stderr = child.stderr.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("spfhir listening on ") {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                keep.lock().unwrap().push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("spfhir serve did not start: {:?}", lines.lock().unwrap())
            });
        Running {
            child,
            base,
            stderr: lines,
        }
    }

    pub fn stop(mut self) -> (Option<i32>, Vec<String>) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.stderr.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("spfhir serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn create_patient(base: &str) -> serde_json::Value {
    let r = client()
        .post(format!("{base}/Patient"))
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","gender":"female","birthDate":"1950-02-03"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

#[test]
fn serve_keeps_its_data_across_a_clean_sigterm_restart() {
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    let s = Running::start(&home.0, &dir.0, &["--insecure-dev"]);
    assert_eq!(
        client()
            .get(format!("{}/metadata", s.base))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        client()
            .get(format!("{}/readyz", s.base))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let made = create_patient(&s.base);
    let id = made["id"].as_str().unwrap().to_owned();
    let (code, log) = s.stop();
    assert_eq!(code, Some(0), "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("WARNING: --insecure-dev")),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l == "spfhir stopped"), "{log:?}");
    // The log names requests by shape, never by id.
    assert!(!log.iter().any(|l| l.contains(&id)), "{log:?}");
    assert!(
        dir.0.join("spfhir.db").is_file(),
        "the default store is spfhir.db in the working folder"
    );
    let s = Running::start(&home.0, &dir.0, &["--insecure-dev"]);
    // The create's AuditEvent was stored before the first process exited.
    let audit: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{}/AuditEvent?entity=Patient/{id}", s.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        audit["entry"][0]["resource"]["subtype"][0]["code"], "create",
        "{audit}"
    );
    let read = client()
        .get(format!("{}/Patient/{id}", s.base))
        .send()
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    s.stop();
}

#[test]
fn without_a_token_issuer_reads_and_writes_are_refused_but_validation_works() {
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    let s = Running::start(&home.0, &dir.0, &[]);
    let r = client()
        .post(format!("{}/Patient", s.base))
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .post(format!("{}/Patient/$validate", s.base))
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","gender":"robot"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().contains("BINDING_REQUIRED"));
    s.stop();
}

#[test]
fn check_config_and_bad_configuration() {
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    let mut cmd = command(&home.0);
    cmd.current_dir(&dir.0)
        .args(["serve", "--check-config", "--package-path", &packages()]);
    let out = crate::run(cmd, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("configuration is good"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(
        dir.0.join("spfhir.toml"),
        "listen = \"127.0.0.1:8080\"\n[limits]\nbody_byte = 5\n",
    )
    .unwrap();
    let mut cmd = command(&home.0);
    cmd.current_dir(&dir.0)
        .args(["serve", "--check-config", "--package-path", &packages()]);
    let out = crate::run(cmd, b"");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("spfhir.toml:3:1") && err.contains("body_byte"),
        "{err}"
    );
    // Registered clients turn on the token endpoint; a short secret is refused.
    let jwks =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/server/tests/keys/jwks.json");
    let clients = format!(
        "[auth]\ntoken_lifetime = \"2m\"\n[[auth.clients]]\nid = \"gp-a\"\njwks = {jwks:?}\nscopes = [\"system/*.read\"]\nods = \"A81001\"\n"
    );
    for (secret, code, says) in [
        (None, 0, "own token endpoint /token for 1 client(s)"),
        (Some("short"), 2, "at least 32 bytes"),
    ] {
        let mut config = clients.clone();
        if let Some(secret) = secret {
            std::fs::write(dir.0.join("secret"), secret).unwrap();
            config = config.replace("[auth]\n", "[auth]\ntoken_secret = \"secret\"\n");
        }
        std::fs::write(dir.0.join("spfhir.toml"), config).unwrap();
        let mut cmd = command(&home.0);
        cmd.current_dir(&dir.0)
            .args(["serve", "--check-config", "--package-path", &packages()]);
        let out = crate::run(cmd, b"");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "{all}");
        assert!(all.contains(says), "{all}");
    }
}

/// A new database on the local PostgreSQL; its URL.
fn postgres_database(name: &str) -> String {
    let admin = std::env::var("SPFHIR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must be running for this test ({admin}): {e}"));
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
    });
    format!("{}/{name}", &admin[..admin.rfind('/').unwrap()])
}

#[test]
fn two_processes_on_postgres_never_both_win_an_update() {
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    let url = postgres_database(&format!("spfhir_cli_race_{}", std::process::id()));
    let a = Running::start(&home.0, &dir.0, &["--insecure-dev", "--database", &url]);
    let b = Running::start(&home.0, &dir.0, &["--insecure-dev", "--database", &url]);
    let made = create_patient(&a.base);
    let id = made["id"].as_str().unwrap().to_owned();
    for round in 1..=10 {
        let put = |base: String, family: &'static str| {
            let id = id.clone();
            std::thread::spawn(move || {
                let body = format!(
                    r#"{{"resourceType":"Patient","id":"{id}","gender":"female","name":[{{"family":"{family}"}}]}}"#
                );
                client()
                    .put(format!("{base}/Patient/{id}"))
                    .header("content-type", "application/fhir+json")
                    .header("if-match", format!("W/\"{round}\""))
                    .body(body)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        };
        let (ra, rb) = (put(a.base.clone(), "A"), put(b.base.clone(), "B"));
        let mut codes = [ra.join().unwrap(), rb.join().unwrap()];
        codes.sort();
        assert!(
            codes[0] == 200 && (codes[1] == 409 || codes[1] == 412),
            "round {round}: {codes:?}"
        );
    }
    let h: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{}/Patient/{id}/_history", a.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h["total"], 11, "one version per round, none lost");
    a.stop();
    b.stop();
}

/// `[auth] jwks` may be an URL: the keys are fetched at start; one that cannot be fetched
/// is a clear configuration error.
#[test]
fn jwks_from_a_url() {
    use std::io::{Read, Write};
    let jwks = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/server/tests/keys/jwks.json"),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                jwks.len()
            );
        }
    });
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for (url, code, says) in [
        (
            format!("http://127.0.0.1:{port}/jwks.json"),
            0,
            format!("keys: http://127.0.0.1:{port}/jwks.json"),
        ),
        (
            format!("http://127.0.0.1:{closed_port}/jwks.json"),
            2,
            "cannot fetch it".to_owned(),
        ),
    ] {
        std::fs::write(
            dir.0.join("spfhir.toml"),
            format!("[auth]\njwks = \"{url}\"\nissuer = \"https://auth.example.org\"\naudience = \"https://spfhir.example.org\"\n"),
        )
        .unwrap();
        let mut cmd = command(&home.0);
        cmd.current_dir(&dir.0)
            .args(["serve", "--check-config", "--package-path", &packages()]);
        let out = crate::run(cmd, b"");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "{all}");
        assert!(all.contains(&says), "{all}");
    }
}

/// An issuer rotates its keys: a token signed with a key the served JWKS did not hold at
/// start is refused, makes spfhir fetch the JWKS again at once, and is then accepted.
#[test]
fn a_rotated_jwks_is_fetched_again_when_a_token_names_a_new_key() {
    use std::io::{Read, Write};
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/server/tests/keys");
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("jwks.json")).unwrap()).unwrap();
    let mut rsa_only = full.clone();
    rsa_only["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] == "test-rs");
    let served = std::sync::Arc::new(std::sync::Mutex::new(rsa_only.to_string()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = serving.lock().unwrap().clone();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let home = TempDir::new("serve-home");
    let dir = TempDir::new("serve-dir");
    std::fs::write(
        dir.0.join("spfhir.toml"),
        format!("[auth]\njwks = \"http://127.0.0.1:{port}/jwks.json\"\nissuer = \"https://auth.example.org\"\naudience = \"https://spfhir.example.org\"\n"),
    )
    .unwrap();
    let s = Running::start(&home.0, &dir.0, &[]);
    // The issuer rotates: its JWKS now holds the EC key too, and it signs with that.
    *served.lock().unwrap() = full.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("test-ec".into());
    let claims = serde_json::json!({"iss": "https://auth.example.org", "aud": "https://spfhir.example.org", "sub": "gp-a", "scope": "system/*.read", "exp": now + 300});
    let key = jsonwebtoken::EncodingKey::from_ec_pem(
        &std::fs::read(keys.join("test-es384.pem")).unwrap(),
    )
    .unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let ask = || {
        client()
            .get(format!("{}/Patient", s.base))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ask(), 401, "the key is not yet known");
    let mut status = 401;
    for _ in 0..100 {
        status = ask();
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        status, 200,
        "the JWKS was fetched again and the new key accepted"
    );
    let (_, log) = s.stop();
    assert!(
        log.iter().any(|l| l.contains("auth.jwks fetched again")),
        "{log:?}"
    );
}
