//! spfhir's own SMART Backend Services token endpoint: a registered client's signed
//! assertion buys an access token once; every way an assertion can be wrong is refused.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use spfhir_server::auth::Auth;
use spfhir_server::token::{Client, TokenService};

use crate::{Reply, Server, keys_dir, now, patient, sign};

const ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn jti() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "jti-{}-{}",
        now(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A server whose token endpoint knows client `gp-a` (tenant A81001) and `gp-b` (B82002),
/// both with the test keys.
async fn server() -> Server {
    let jwks = std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap();
    let clients = vec![
        Client::new(
            "gp-a",
            &jwks,
            vec!["system/Patient.cruds".into(), "system/*.read".into()],
            Some("A81001".into()),
        )
        .unwrap(),
        Client::new(
            "gp-b",
            &jwks,
            vec!["system/*.cruds".into()],
            Some("B82002".into()),
        )
        .unwrap(),
    ];
    let tokens = TokenService::new(clients, None, 300).unwrap();
    Server::start(
        Auth::Smart {
            tokens,
            issuer: None,
        },
        Default::default(),
    )
    .await
}

/// A client assertion for `client`, signed with `key`, these claims changed.
fn assertion(
    s: &Server,
    client: &str,
    key: &str,
    alg: Algorithm,
    kid: &str,
    tweak: impl FnOnce(&mut Value),
) -> String {
    let mut claims = json!({"iss": client, "sub": client, "aud": s.url("/token"), "exp": now() + 240, "jti": jti()});
    tweak(&mut claims);
    sign(key, alg, kid, &claims)
}

fn rs(s: &Server, client: &str) -> String {
    assertion(
        s,
        client,
        "test-rs384.pem",
        Algorithm::RS384,
        "test-rs",
        |_| {},
    )
}

async fn ask(s: &Server, fields: &[(&str, &str)]) -> Reply {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Reply::of(
        s.http
            .post(s.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn token_for(s: &Server, assertion: &str, scope: &str) -> Reply {
    ask(
        s,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION),
            ("client_assertion", assertion),
            ("scope", scope),
        ],
    )
    .await
}

#[tokio::test]
async fn a_signed_assertion_buys_a_token_once() {
    let s = server().await;
    let a = rs(&s, "gp-a");
    let r = token_for(&s, &a, "system/Patient.cruds system/Goal.write").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 300);
    assert_eq!(
        r.body["scope"], "system/Patient.cruds",
        "only what the registration allows"
    );
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    // The token works for what it grants, and not beyond.
    let created = send(
        &s,
        "POST",
        "/Patient",
        &access,
        Some(patient("9434765919", "Smith")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let goal = send(
        &s,
        "POST",
        "/Goal",
        &access,
        Some(json!({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "walk"}, "subject": {"reference": "Patient/x"}})),
    )
    .await;
    assert_eq!(goal.status, 403, "{}", goal.body);
    // The same assertion again: refused.
    let again = token_for(&s, &a, "system/Patient.cruds").await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (401, Some("invalid_client")),
        "{}",
        again.body
    );
    assert!(
        again.body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before")
    );
    // ES384 works too.
    let es = assertion(
        &s,
        "gp-b",
        "test-es384.pem",
        Algorithm::ES384,
        "test-ec",
        |_| {},
    );
    assert_eq!(token_for(&s, &es, "system/*.read").await.status, 200);
}

#[tokio::test]
async fn an_assertion_used_at_one_instance_is_refused_at_another_on_the_same_store() {
    let store: std::sync::Arc<dyn spfhir_store::Store> = std::sync::Arc::new(
        spfhir_store_sqlite::SqliteStore::open(":memory:")
            .await
            .unwrap(),
    );
    // Two instances behind one public address, as behind a load balancer.
    let config = || spfhir_server::Config {
        base_url: Some("https://spfhir.example.nhs.uk".into()),
        ..Default::default()
    };
    let smart = || {
        let jwks = std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap();
        let client = Client::new("gp-a", &jwks, vec!["system/*.read".into()], None).unwrap();
        Auth::Smart {
            tokens: TokenService::new(vec![client], None, 300).unwrap(),
            issuer: None,
        }
    };
    let one = Server::start_on(store.clone(), smart(), config()).await;
    let two = Server::start_on(store, smart(), config()).await;
    let a = sign(
        "test-rs384.pem",
        Algorithm::RS384,
        "test-rs",
        &json!({"iss": "gp-a", "sub": "gp-a", "aud": "https://spfhir.example.nhs.uk/token", "exp": now() + 240, "jti": jti()}),
    );
    assert_eq!(token_for(&one, &a, "system/*.read").await.status, 200);
    let replay = token_for(&two, &a, "system/*.read").await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(
        replay.body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{}",
        replay.body
    );
}

#[tokio::test]
async fn bad_assertions_and_requests_are_refused() {
    let s = server().await;
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "a key the client did not register",
            assertion(
                &s,
                "gp-a",
                "other-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |_| {},
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "another audience",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |c| c["aud"] = json!("https://elsewhere.example.org/token"),
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "expired",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |c| c["exp"] = json!(now() - 600),
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "an hour ahead",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |c| c["exp"] = json!(now() + 3600),
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "no jti",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |c| {
                    c.as_object_mut().unwrap().remove("jti");
                },
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "sub is another client",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                |c| c["sub"] = json!("gp-b"),
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "an unregistered client",
            rs(&s, "stranger"),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "RS256, which SMART does not allow",
            assertion(
                &s,
                "gp-a",
                "test-rs384.pem",
                Algorithm::RS256,
                "test-rs",
                |_| {},
            ),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "not a JWT",
            "not-a-jwt".into(),
            "system/*.read",
            401,
            "invalid_client",
        ),
        (
            "a scope the client may not have",
            rs(&s, "gp-a"),
            "system/Goal.write",
            400,
            "invalid_scope",
        ),
        (
            "a wider wildcard than registered",
            rs(&s, "gp-a"),
            "system/*.write",
            400,
            "invalid_scope",
        ),
    ];
    for (why, a, scope, status, error) in cases {
        let r = token_for(&s, &a, scope).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (status, Some(error)),
            "{why}: {}",
            r.body
        );
    }
    let a = rs(&s, "gp-a");
    for (why, fields, error) in [
        (
            "another grant type",
            vec![
                ("grant_type", "password"),
                ("client_assertion_type", ASSERTION),
                ("client_assertion", a.as_str()),
            ],
            "unsupported_grant_type",
        ),
        (
            "no assertion",
            vec![
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION),
            ],
            "invalid_request",
        ),
        (
            "a client secret instead",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "gp-a"),
                ("client_secret", "x"),
            ],
            "invalid_request",
        ),
    ] {
        let r = ask(&s, &fields).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some(error)),
            "{why}: {}",
            r.body
        );
    }
    // A JSON body is not a form.
    let r = Reply::of(
        s.http
            .post(s.url("/token"))
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn tokens_of_another_secret_are_refused_and_discovery_names_the_endpoint() {
    let s = server().await;
    let jwks = std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap();
    // Another server's endpoint, same client, its own secret.
    let other = TokenService::new(
        vec![Client::new("gp-a", &jwks, vec!["system/*.read".into()], None).unwrap()],
        Some(&[7u8; 32]),
        300,
    )
    .unwrap();
    let form = vec![
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("client_assertion_type".to_owned(), ASSERTION.to_owned()),
        ("client_assertion".to_owned(), rs(&s, "gp-a")),
        ("scope".to_owned(), "system/*.read".to_owned()),
    ];
    let other_store = spfhir_store_sqlite::SqliteStore::open(":memory:")
        .await
        .unwrap();
    let foreign = other
        .issue(&other_store, &form, &s.url("/token"), now())
        .await
        .unwrap();
    let r = send(&s, "GET", "/Patient", &foreign.access_token, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let d = Reply::of(
        s.http
            .get(s.url("/.well-known/smart-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["token_endpoint"], s.url("/token"));
    // The CapabilityStatement and the OpenAPI description name it too.
    let cs = Reply::of(s.http.get(s.url("/metadata")).send().await.unwrap()).await;
    let uris = &cs.body["rest"][0]["security"]["extension"][0];
    assert_eq!(
        uris["extension"][0]["valueUri"],
        s.url("/token"),
        "{}",
        cs.body
    );
    let api = Reply::of(s.http.get(s.url("/openapi.json")).send().await.unwrap()).await;
    assert!(api.body["paths"]["/token"]["post"].is_object());
    assert!(
        d.body["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES384"))
    );
}

/// An access token for `client` with `scope`.
async fn access(s: &Server, client: &str, scope: &str) -> String {
    let r = token_for(s, &rs(s, client), scope).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn send(s: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    let mut req = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/fhir+json")
            .body(b.to_string());
    }
    Reply::of(req.send().await.unwrap()).await
}

fn entries(r: &Reply) -> usize {
    r.body["entry"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_organisation_sees_and_changes_only_its_own_resources() {
    let s = server().await;
    let a = access(&s, "gp-a", "system/Patient.cruds").await;
    let b = access(&s, "gp-b", "system/*.cruds").await;
    // A's patient, sent with B's tag: stored with A's only.
    let mut body = patient("9434765919", "Smith");
    body["meta"] = json!({"tag": [
        {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "code": "B82002"},
        {"system": "https://example.org/tags", "code": "kept"}
    ]});
    let created = send(&s, "POST", "/Patient", &a, Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body["meta"]["tag"],
        json!([
            {"system": "https://example.org/tags", "code": "kept"},
            {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "code": "A81001"}
        ])
    );
    let own = format!("/Patient/{id}");
    assert_eq!(send(&s, "GET", &own, &a, None).await.status, 200);
    // B: not there to read, search or history; refused to change.
    for (method, path, status) in [
        ("GET", own.clone(), 404),
        ("GET", format!("{own}/_history/1"), 404),
        ("GET", format!("{own}/_history"), 404),
        ("DELETE", own.clone(), 403),
    ] {
        let r = send(&s, method, &path, &b, None).await;
        assert_eq!(r.status, status, "B {method} {path}: {}", r.body);
    }
    let mut update = created.body.clone();
    update["gender"] = json!("unknown");
    let r = send(&s, "PUT", &own, &b, Some(update.clone())).await;
    assert_eq!(
        (r.status, r.ids()),
        (403, vec!["SERVER_FORBIDDEN".to_owned()]),
        "{}",
        r.body
    );
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": update, "request": {"method": "PUT", "url": own.trim_start_matches('/')}}
    ]});
    assert_eq!(send(&s, "POST", "/", &b, Some(tx)).await.status, 403);
    let found = send(&s, "GET", "/Patient?identifier=9434765919", &b, None).await;
    assert_eq!(entries(&found), 0, "{}", found.body);
    let history = send(&s, "GET", "/Patient/_history", &b, None).await;
    assert_eq!(entries(&history), 0, "{}", history.body);
    // A conditional create by B does not match A's patient: B gets its own.
    let r = Reply::of(
        s.http
            .post(s.url("/Patient"))
            .bearer_auth(&b)
            .header("content-type", "application/fhir+json")
            .header("if-none-exist", "identifier=9434765919")
            .body(patient("9434765919", "Smith").to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_ne!(r.body["id"], json!(id));
    // A still sees one (its own), unchanged; B sees its own one.
    let mine = send(&s, "GET", "/Patient?identifier=9434765919", &a, None).await;
    assert_eq!(entries(&mine), 1, "{}", mine.body);
    assert_eq!(mine.body["entry"][0]["resource"]["id"], json!(id));
    assert_eq!(
        mine.body["entry"][0]["resource"]["gender"], "female",
        "B's update did not land"
    );
    let theirs = send(&s, "GET", "/Patient?identifier=9434765919", &b, None).await;
    assert_eq!(entries(&theirs), 1, "{}", theirs.body);
    // A can change its own.
    let mut mine = created.body.clone();
    mine["gender"] = json!("male");
    assert_eq!(send(&s, "PUT", &own, &a, Some(mine)).await.status, 200);
    assert_eq!(send(&s, "DELETE", &own, &a, None).await.status, 204);
    // Deleted: gone for A, still not there for B, whose history does not show it either.
    assert_eq!(send(&s, "GET", &own, &a, None).await.status, 410);
    assert_eq!(send(&s, "GET", &own, &b, None).await.status, 404);
    let history = send(&s, "GET", "/Patient/_history", &b, None).await;
    let ids: Vec<&Value> = history.body["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| &x["request"]).collect())
        .unwrap_or_default();
    assert!(
        !history.body.to_string().contains(&id),
        "B's history names A's resource: {ids:?}"
    );
    let mine = send(&s, "GET", &format!("{own}/_history"), &a, None).await;
    assert_eq!(entries(&mine), 3, "A's history: created, updated, deleted");
}
