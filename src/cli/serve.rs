//! `spfhir serve`: the FHIR REST API on an embedded SQLite file (the default) or a shared
//! PostgreSQL database. Everything the server library is told comes from here: the
//! configuration file (`spfhir.toml` when present, or `--config`), flags that override it,
//! the packages, the store, logging, the runtime, and shutdown on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spfhir_conformance::package;
use spfhir_server::auth::{Auth, JwtVerifier, KeyRing};
use spfhir_server::token::{Client, TokenService};
use spfhir_server::{AppState, Config, Limits, WriteCheck};
use spfhir_store::Store;
use spfhir_validate::{Options, Validator};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (default: spfhir.toml in the working folder, if there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The store: a SQLite file (created if missing) or a postgres:// URL.
    #[arg(long)]
    pub database: Option<String>,
    /// Where to find FHIR packages (as for `validate`).
    #[arg(long = "package-path")]
    pub package_path: Vec<PathBuf>,
    /// Run with no authentication at all, for local development only. Prints a warning.
    #[arg(long)]
    pub insecure_dev: bool,
    /// Check the configuration (file, store, packages, keys), print what would be served,
    /// and exit: 0 when it is good.
    #[arg(long)]
    pub check_config: bool,
}

/// The configuration file, `spfhir.toml`.
#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    #[serde(default)]
    packages: Vec<PathBuf>,
    /// Identities this receiver answers to (ODS codes, `ODS:DoS` endpoints).
    #[serde(default)]
    identities: Vec<String>,
    base_url: Option<String>,
    #[serde(default)]
    auth: AuthFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    validation: ValidationFile,
    tls: Option<TlsFile>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    /// The certificate chain (PEM).
    cert: PathBuf,
    /// Its private key (PEM).
    key: PathBuf,
    /// Mutual TLS: the CA certificates (PEM) client certificates must chain to; clients
    /// without one cannot connect.
    client_ca: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    /// The keys an external issuer's tokens are signed with: a JWKS file, or its
    /// `https://` URL (fetched at start, then every `jwks_refresh`, and at once when a token
    /// names a key it lacks, at most once a minute).
    jwks: Option<PathBuf>,
    /// How often a JWKS URL is fetched again, e.g. "1h" (the default).
    jwks_refresh: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    /// Clients of spfhir's own token endpoint (`POST /token`).
    #[serde(default)]
    clients: Vec<ClientFile>,
    /// A file holding the secret (at least 32 bytes) spfhir signs its access tokens with;
    /// instances behind one load balancer share it. Default: random at each start.
    token_secret: Option<PathBuf>,
    /// How long an access token lives, e.g. "5m" (the default).
    token_lifetime: Option<String>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    /// The client id (`iss` and `sub` of its assertions).
    id: String,
    /// A JWKS file of its public keys.
    jwks: PathBuf,
    /// The SMART system scopes it may be granted.
    scopes: Vec<String>,
    /// Its organisation's ODS code: it then reads and writes only that organisation's data.
    ods: Option<String>,
}

#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    body_bytes: Option<usize>,
    /// e.g. "30s".
    request_timeout: Option<String>,
    concurrency: Option<usize>,
    /// Requests per second per client (0: no limit), and the burst allowed.
    rate_per_second: Option<u32>,
    rate_burst: Option<u32>,
    /// Validation time per resource, e.g. "10s".
    validation_time: Option<String>,
}

#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ValidationFile {
    /// reject (default), warn or off.
    on_write: Option<WriteCheck>,
    /// Per resource type, e.g. `{ Patient = "warn" }`.
    #[serde(default)]
    per_type: std::collections::HashMap<String, WriteCheck>,
}

/// Everything resolved: what the server is given.
struct Resolved {
    listen: SocketAddr,
    database: String,
    package_path: Vec<PathBuf>,
    config: Config,
    auth: Auth,
    auth_label: String,
    validation_time: Duration,
    tls: Option<spfhir_server::Tls>,
    /// A JWKS URL to fetch again while serving, into this key ring, this often.
    jwks_refresh: Option<(String, KeyRing, Duration)>,
}

/// The external token issuer `[auth] jwks`/`issuer`/`audience` name, with a label for the
/// start-up line.
fn external_issuer(
    auth: &AuthFile,
    relative: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<Option<(JwtVerifier, String)>, String> {
    let Some(jwks) = &auth.jwks else {
        return Ok(None);
    };
    let (text, from) = read_jwks(jwks, relative)?;
    let issuer = auth
        .issuer
        .clone()
        .ok_or("auth.issuer is needed with auth.jwks")?;
    let audience = auth
        .audience
        .clone()
        .ok_or("auth.audience is needed with auth.jwks")?;
    let v = JwtVerifier::new(&text, &issuer, &audience)
        .map_err(|e| format!("auth.jwks {from}: {e}"))?;
    Ok(Some((
        v,
        format!("bearer JWTs from {issuer} (keys: {from})"),
    )))
}

/// A JWKS document: fetched once at start when `source` is an `https://` (or `http://`)
/// URL, else read from the file; with where it came from, for messages.
fn read_jwks(
    source: &PathBuf,
    relative: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<(String, String), String> {
    let s = source.to_string_lossy();
    if is_url(source) {
        return Ok((fetch_jwks(&s)?, s.into_owned()));
    }
    let path = relative(source);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("auth.jwks {}: {e}", path.display()))?;
    Ok((text, path.display().to_string()))
}

fn is_url(source: &std::path::Path) -> bool {
    let s = source.to_string_lossy();
    s.starts_with("https://") || s.starts_with("http://")
}

/// The JWKS document at `url` (10 s to answer).
fn fetch_jwks(url: &str) -> Result<String, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("auth.jwks {url}: {e}"))?;
    let response = client
        .get(url)
        .send()
        .map_err(|e| format!("auth.jwks {url}: cannot fetch it: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "auth.jwks {url}: the server answered {}",
            response.status()
        ));
    }
    response.text().map_err(|e| format!("auth.jwks {url}: {e}"))
}

/// Keep `ring` up to date with the JWKS at `url`, on a thread of its own: fetched again
/// every `every`, and at once when a token names a key the ring lacks (an issuer rotating
/// its keys), at most once a minute. A failed fetch keeps the old keys and is logged.
fn refresh_jwks(url: String, ring: KeyRing, every: Duration) {
    const MIN_GAP: Duration = Duration::from_secs(60);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    ring.on_unknown_kid(tx);
    let spawned = std::thread::Builder::new()
        .name("jwks-refresh".into())
        .spawn(move || {
            let mut nudged: Option<std::time::Instant> = None;
            loop {
                match rx.recv_timeout(every) {
                    Ok(()) if nudged.is_some_and(|t| t.elapsed() < MIN_GAP) => continue,
                    Ok(()) => nudged = Some(std::time::Instant::now()),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                match fetch_jwks(&url).and_then(|text| ring.replace(&text)) {
                    Ok(n) => tracing::info!(keys = n, "auth.jwks fetched again"),
                    Err(e) => tracing::warn!(error = %e, "auth.jwks could not be fetched again; the old keys stay"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "auth.jwks will not be refreshed");
    }
}

/// spfhir's own token endpoint, from `[[auth.clients]]`, `token_secret` and
/// `token_lifetime`.
fn token_service(
    auth: &AuthFile,
    relative: &dyn Fn(&PathBuf) -> PathBuf,
) -> Result<TokenService, String> {
    let mut clients = Vec::new();
    for (i, c) in auth.clients.iter().enumerate() {
        let path = relative(&c.jwks);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("auth.clients[{i}].jwks {}: {e}", path.display()))?;
        clients.push(
            Client::new(&c.id, &text, c.scopes.clone(), c.ods.clone())
                .map_err(|e| format!("auth.clients[{i}] ({}): {e}", c.id))?,
        );
    }
    let secret = match &auth.token_secret {
        Some(p) => {
            let path = relative(p);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("auth.token_secret {}: {e}", path.display()))?;
            Some(bytes.trim_ascii().to_vec())
        }
        None => None,
    };
    let lifetime = match &auth.token_lifetime {
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| format!("auth.token_lifetime = {s:?}: {e}"))?
            .as_secs() as i64,
        None => 300,
    };
    if lifetime < 1 {
        return Err("auth.token_lifetime must be at least a second".into());
    }
    TokenService::new(clients, secret.as_deref(), lifetime).map_err(|e| format!("auth: {e}"))
}

fn resolve(args: &ServeArgs) -> Result<Resolved, String> {
    let (file, from): (FileConfig, Option<PathBuf>) = match &args.config {
        Some(p) => (read_config(p)?, Some(p.clone())),
        None if std::path::Path::new("spfhir.toml").is_file() => {
            let p = PathBuf::from("spfhir.toml");
            (read_config(&p)?, Some(p))
        }
        None => (FileConfig::default(), None),
    };
    let relative = |p: &PathBuf| match &from {
        Some(f) if p.is_relative() => f.parent().unwrap_or(std::path::Path::new(".")).join(p),
        _ => p.clone(),
    };
    let duration =
        |s: &Option<String>, what: &str, default: Duration| -> Result<Duration, String> {
            s.as_deref()
                .map(|s| {
                    humantime::parse_duration(s).map_err(|e| format!("limits.{what} = {s:?}: {e}"))
                })
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
    let defaults = Limits::default();
    let limits = Limits {
        body_bytes: file.limits.body_bytes.unwrap_or(defaults.body_bytes),
        request_timeout: duration(
            &file.limits.request_timeout,
            "request_timeout",
            defaults.request_timeout,
        )?,
        concurrency: file
            .limits
            .concurrency
            .unwrap_or(defaults.concurrency)
            .max(1),
        rate_per_second: file
            .limits
            .rate_per_second
            .unwrap_or(defaults.rate_per_second),
        rate_burst: file.limits.rate_burst.unwrap_or(defaults.rate_burst),
    };
    let issuer = external_issuer(&file.auth, &relative)?;
    let jwks_refresh = match (&issuer, &file.auth.jwks) {
        (Some((v, _)), Some(source)) if is_url(source) => {
            let every = match &file.auth.jwks_refresh {
                Some(s) => humantime::parse_duration(s)
                    .map_err(|e| format!("auth.jwks_refresh = {s:?}: {e}"))?,
                None => Duration::from_secs(3600),
            };
            Some((source.to_string_lossy().into_owned(), v.key_ring(), every))
        }
        _ => None,
    };
    let (auth, auth_label) = if args.insecure_dev {
        (Auth::Off, "OFF (--insecure-dev)".to_owned())
    } else if !file.auth.clients.is_empty() {
        let tokens = token_service(&file.auth, &relative)?;
        let label = format!(
            "own token endpoint /token for {} client(s){}",
            file.auth.clients.len(),
            issuer
                .as_ref()
                .map(|(_, l)| format!(", and {l}"))
                .unwrap_or_default()
        );
        (
            Auth::Smart {
                tokens,
                issuer: issuer.map(|(v, _)| v),
            },
            label,
        )
    } else if let Some((v, label)) = issuer {
        (Auth::Jwt(v), label)
    } else {
        (
            Auth::Unconfigured,
            "no token issuer configured: reads and writes are refused (401)".to_owned(),
        )
    };
    let mut package_path = args.package_path.clone();
    package_path.extend(file.packages.iter().map(relative));
    Ok(Resolved {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        database: args
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| "spfhir.db".into()),
        package_path,
        config: Config {
            limits,
            on_write: file.validation.per_type,
            on_write_default: file.validation.on_write.unwrap_or_default(),
            identities: file.identities,
            base_url: file.base_url,
        },
        auth,
        auth_label,
        tls: match &file.tls {
            None => None,
            Some(t) => {
                let read = |p: &PathBuf| {
                    let p = relative(p);
                    std::fs::read(&p).map_err(|e| format!("tls: {}: {e}", p.display()))
                };
                Some(spfhir_server::Tls {
                    cert_pem: read(&t.cert)?,
                    key_pem: read(&t.key)?,
                    client_ca_pem: t.client_ca.as_ref().map(read).transpose()?,
                })
            }
        },
        validation_time: duration(
            &file.limits.validation_time,
            "validation_time",
            Duration::from_secs(10),
        )?,
        jwks_refresh,
    })
}

fn read_config(path: &PathBuf) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = s.start - text[..s.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{col}")
            })
            .unwrap_or_default();
        format!("{}{at}: {}", path.display(), e.message())
    })
}

pub(crate) async fn open_store(database: &str) -> Result<Arc<dyn Store>, String> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let s = spfhir_store_postgres::PgStore::connect(database, 16)
            .await
            .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
        Ok(Arc::new(s))
    } else {
        let s = spfhir_store_sqlite::SqliteStore::open(database)
            .await
            .map_err(|e| format!("cannot open the SQLite store {database}: {e}"))?;
        Ok(Arc::new(s))
    }
}

/// Turn transparent huge pages off for this process. mimalloc asks the kernel for huge pages
/// on its arenas, and a long-lived server then holds 2 MiB pages it barely uses: idle RSS was
/// 67 MB with them and 29 MB without (`/proc/PID/status` after start, 2026-12-01), and the
/// throughput measured by `bench/serve.sh` did not change beyond the host's noise. A kernel
/// that refuses leaves things as they were.
fn small_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!("transparent huge pages stay on: {e}");
    }
}

/// Return to the OS the memory start-up used and freed (parsing the packages' indexes, the
/// migrations): mimalloc otherwise keeps freed pages until later allocations purge them,
/// and an idle server makes none.
fn give_back_start_up_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called at any time from any
    // thread; it only frees what the allocator no longer uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

pub fn run(args: &ServeArgs) -> i32 {
    small_pages();
    let r = match resolve(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SPFHIR_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let registry = match package::load(&super::env::load_options(&r.package_path, Vec::new())) {
        Ok(reg) => Arc::new(reg),
        Err(e) => {
            eprintln!("error: {}", super::env::explain(&e));
            return 2;
        }
    };
    let validator = Validator::new(
        registry,
        Options {
            max_time_per_resource: Some(r.validation_time),
            ..Options::default()
        },
    );
    // Validation runs on the runtime's blocking threads: give them the stack FHIRPath's
    // depth bounds are sized for.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(spfhir_fhirpath::STACK_SIZE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 2;
        }
    };
    runtime.block_on(async move {
        let sqlite = !(r.database.starts_with("postgres://") || r.database.starts_with("postgresql://"));
        if args.check_config && sqlite {
            // A check changes nothing: the SQLite file is not created or migrated.
            let path = std::path::Path::new(&r.database);
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            if !folder.is_dir() {
                eprintln!("error: the store's folder {} does not exist", folder.display());
                return 2;
            }
            println!(
                "configuration is good: would listen on http://{}; store: sqlite {}{}; auth: {}; writes: validated ({:?})",
                r.listen,
                r.database,
                if path.exists() { "" } else { " (created on first run)" },
                r.auth_label,
                r.config.on_write_default
            );
            return 0;
        }
        let store = match open_store(&r.database).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let summary = format!(
            "store: {} {}; auth: {}; writes: validated ({:?})",
            store.backend(),
            if store.backend() == "sqlite" { r.database.clone() } else { "(PostgreSQL)".into() },
            r.auth_label,
            r.config.on_write_default
        );
        if args.check_config {
            println!("configuration is good: would listen on http://{}; {summary}", r.listen);
            return 0;
        }
        if args.insecure_dev {
            eprintln!("WARNING: --insecure-dev: authentication is OFF; anyone who can reach {} can read and write everything", r.listen);
        }
        let scheme = if r.tls.is_some() { "https" } else { "http" };
        let listener = match std::net::TcpListener::bind(r.listen) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", r.listen);
                return 2;
            }
        };
        let addr = listener.local_addr().map_or(r.listen, |a| a);
        eprintln!("spfhir listening on {scheme}://{addr} ({summary})");
        if let Some((url, ring, every)) = r.jwks_refresh {
            refresh_jwks(url, ring, every);
        }
        let state = AppState::new(validator, store.clone(), r.config, r.auth);
        give_back_start_up_memory();
        let result = match r.tls {
            Some(tls) => {
                spfhir_server::serve_tls(listener, state, tls, shutdown_signal(), Duration::from_secs(30)).await
            }
            None => match listener.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(listener)) {
                Ok(l) => spfhir_server::serve(l, state, shutdown_signal()).await,
                Err(e) => Err(e),
            },
        };
        drop(store);
        match result {
            Ok(()) => {
                eprintln!("spfhir stopped");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
