//! The server over real HTTP: each test starts it on a loopback port (SQLite store, R4
//! core, UK Core, BaRS and spfhir's profiles) and talks to it with reqwest.

mod auth;
mod bad_inputs;
mod flows;
mod logs;
mod token;

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use spfhir_conformance::package::{self, LoadOptions, Registry};
use spfhir_server::auth::Auth;
use spfhir_server::{AppState, Config};
use spfhir_validate::{Options, Validator};

fn registry() -> Arc<Registry> {
    static R: OnceLock<Arc<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        let options = LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            ..Default::default()
        };
        Arc::new(package::load(&options).expect("packages load"))
    })
    .clone()
}

/// A running server and a client for it.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub async fn start(auth: Auth, config: Config) -> Server {
        let store = spfhir_store_sqlite::SqliteStore::open(":memory:")
            .await
            .unwrap();
        Server::start_on(Arc::new(store), auth, config).await
    }

    /// A server on `store`, which other servers in the test may share (instances behind one
    /// load balancer).
    pub async fn start_on(
        store: Arc<dyn spfhir_store::Store>,
        auth: Auth,
        config: Config,
    ) -> Server {
        logs::capture();
        let validator = Validator::new(registry(), Options::default());
        let state = AppState::new(validator, store, config, auth);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(spfhir_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Server {
            base,
            http: reqwest::Client::new(),
            _stop: tx,
        }
    }

    pub async fn open() -> Server {
        Server::start(Auth::Off, Config::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with a FHIR JSON body; (status, headers, body as JSON or Null).
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/fhir+json")
                .body(b.to_string());
        }
        Reply::of(req.send().await.unwrap()).await
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn of(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The message ids of an OperationOutcome's issues.
    pub fn ids(&self) -> Vec<String> {
        self.body["issue"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                i["extension"].as_array()?.iter().find(|e| e["url"].as_str().is_some_and(|u| u.ends_with("message-id")))?["valueString"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }
}

pub fn patient(nhs: &str, family: &str) -> Value {
    logs::sent(&[nhs, family, "1950-02-03"]);
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
        "name": [{"family": family, "given": ["Sam"]}],
        "gender": "female",
        "birthDate": "1950-02-03"
    })
}

/// spfhir's own referral message (a BaRS message Bundle that validates clean).
pub fn referral_message() -> Value {
    let (_, kind, text) = spfhir_testkit::domain_fixtures()
        .into_iter()
        .find(|(n, _, _)| n == "referral.json")
        .unwrap();
    let opts = spfhir_translate::WriteOptions {
        bundle: spfhir_translate::BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let fhir = spfhir_translate::domain_json_to_fhir(kind, &text, &opts)
        .unwrap()
        .fhir;
    let message: Value = serde_json::from_str(&fhir.to_compact()).unwrap();
    logs::sent_patients_of(&message);
    message
}

/// The test keys (`tests/keys`): JWKS, and the private keys that sign tokens and assertions.
pub fn keys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

/// Seconds since the epoch, for token claims.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `claims` signed with the private key `key` (a file in `tests/keys`) for `alg`, with `kid`.
pub fn sign(key: &str, alg: jsonwebtoken::Algorithm, kid: &str, claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let pem = std::fs::read(keys_dir().join(key)).unwrap();
    let enc = match alg {
        Algorithm::ES384 | Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &enc).unwrap()
}
