//! spfhir's FHIR R4 REST API over any spfhir [`Store`]: `$validate`, `$process-message`
//! (BaRS message Bundles), create/read/vread/update/delete/history and search for the social
//! prescribing resource types, transaction and batch Bundles, and a CapabilityStatement
//! generated from what is actually served.
//!
//! The crate follows axum's examples: [`AppState`] is the shared state, `router.rs` the
//! routes and layers, `handlers/` thin handlers (parse the request, call the service,
//! render), `service/` the REST semantics (one `impl Service` block per concern), and
//! `error.rs` renders every failure as an OperationOutcome in one place. It reads no
//! environment and no files: the front end (`spfhir serve`) builds the [`Config`], opens the
//! store and loads the packages.
//!
//! ```no_run
//! # async fn demo(validator: spfhir_validate::Validator, store: std::sync::Arc<dyn spfhir_store::Store>) -> std::io::Result<()> {
//! use spfhir_server::{AppState, Config, auth::Auth};
//! let state = AppState::new(validator, store, Config::default(), Auth::Off);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! spfhir_server::serve(listener, state, std::future::pending()).await
//! # }
//! ```
//!
//! Validation runs on tokio's blocking threads; the front end must give the runtime's
//! threads [`spfhir_fhirpath::STACK_SIZE`] of stack (`spfhir serve` does).
#![forbid(unsafe_code)]

mod audit;
pub mod auth;
mod dates;
pub mod error;
mod handlers;
mod metrics;
mod resource;
mod router;
pub mod search;
mod service;
mod tls;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use spfhir_store::Store;
use spfhir_validate::{Engine, Validator};

pub use router::router;
pub use service::Service;

/// The media type of every FHIR response.
pub const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// The resource types served by the REST API.
pub const SERVED_TYPES: &[&str] = &[
    "ServiceRequest",
    "CarePlan",
    "Goal",
    "QuestionnaireResponse",
    "Questionnaire",
    "Task",
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "HealthcareService",
    "Consent",
    "MeasureReport",
    "AuditEvent",
];

/// The served type that is the audit log: read and searched, written only by this server
/// (one entry for every read and write), never by a client.
pub const AUDIT_TYPE: &str = "AuditEvent";

/// Is `ty` a type clients store (a served type other than the audit log)?
pub fn is_stored(ty: &str) -> bool {
    ty != AUDIT_TYPE && SERVED_TYPES.contains(&ty)
}

/// What to do with a write whose resource does not validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteCheck {
    /// 422 with the issues; nothing stored (the default).
    #[default]
    Reject,
    /// Stored; the issues come back in the response.
    Warn,
    /// Not validated.
    Off,
}

/// Limits on each request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest request body, in bytes (413 past it).
    pub body_bytes: usize,
    /// The longest a request may take (503 past it).
    pub request_timeout: Duration,
    /// Requests handled at once; more wait their turn.
    pub concurrency: usize,
    /// Requests per second each client may make (by bearer token, else by address);
    /// past it, 429 with `Retry-After`. 0: no limit.
    pub rate_per_second: u32,
    /// How many requests a client may make at once before the rate applies.
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 10 << 20,
            request_timeout: Duration::from_secs(30),
            concurrency: 512,
            rate_per_second: 1000,
            rate_burst: 2000,
        }
    }
}

/// Everything the server is told by its front end.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub limits: Limits,
    /// Validation of writes, by resource type; types not named use `on_write_default`.
    pub on_write: std::collections::HashMap<String, WriteCheck>,
    pub on_write_default: WriteCheck,
    /// The identities (`ODS:DoS` endpoints, ODS codes) this instance receives messages
    /// for; `MessageHeader.destination.endpoint` and `NHSD-Target-Identifier` must name one.
    /// Empty: every destination is accepted.
    pub identities: Vec<String>,
    /// The base URL for `fullUrl`s and links (else taken from the request's Host).
    pub base_url: Option<String>,
}

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Service>);

impl std::ops::Deref for AppState {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.0
    }
}

impl AppState {
    pub fn new(
        validator: Validator,
        store: Arc<dyn Store>,
        config: Config,
        auth: auth::Auth,
    ) -> AppState {
        AppState(Arc::new(Service::new(
            Engine::new(validator),
            store,
            config,
            auth,
        )))
    }
}

/// A certificate chain and its private key, PEM-encoded, for HTTPS.
pub struct Tls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// Mutual TLS: the CA certificates (PEM) client certificates must chain to. When set, a
    /// client without such a certificate cannot connect at all.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl Tls {
    /// The rustls server configuration: the certificate chain and key, HTTP/2 and 1.1, and
    /// client certificates verified against `client_ca_pem` when it is set.
    fn server_config(&self) -> std::io::Result<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {e}"))
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| invalid("the TLS certificate", &e))?;
        let key =
            PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| invalid("the TLS key", &e))?;
        let builder = rustls::ServerConfig::builder();
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in CertificateDer::pem_slice_iter(pem) {
                    let ca = ca.map_err(|e| invalid("the client CA", &e))?;
                    roots.add(ca).map_err(|e| invalid("the client CA", &e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| invalid("the client CA", &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid("the TLS certificate and key", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Serve `state` over HTTPS (rustls, ring; no OpenSSL) on `listener` until `shutdown`
/// completes; then stop accepting, give requests in flight up to `grace` to finish, and
/// return.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: AppState,
    tls: Tls,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    // One crypto provider for the process: ring (already what reqwest uses).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls.server_config()?));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    listener.set_nonblocking(true)?;
    let app = router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let acceptor =
        tls::CertificateAcceptor::new(axum_server::tls_rustls::RustlsAcceptor::new(config));
    let served = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app)
        .await;
    state.flush_audit().await;
    served
}

impl AppState {
    /// Store every AuditEvent recorded so far (after the last request, before exit).
    pub async fn flush_audit(&self) {
        if let Some(a) = &self.auditor {
            a.flush().await;
        }
    }
}

/// Serve `state` on `listener` until `shutdown` completes; then stop accepting, finish
/// requests in flight, store the AuditEvents they recorded, and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    state.flush_audit().await;
    served
}
