//! Authentication and scopes: every write needs a valid bearer token with a scope for it;
//! `/metadata` and `$validate` need none.

use jsonwebtoken::Algorithm;
use serde_json::json;
use spfhir_server::auth::{Auth, JwtVerifier};

use crate::{Reply, Server, keys_dir, now, patient, sign};

const ISSUER: &str = "https://auth.example.org";
const AUDIENCE: &str = "https://spfhir.example.org";

/// A token signed with `key` (a file in tests/keys) for `alg`, with these claims changed.
fn token(
    key: &str,
    alg: Algorithm,
    kid: &str,
    scope: &str,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> String {
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "test-client", "exp": now() + 300, "nbf": now() - 10, "scope": scope, "jti": uuid()});
    tweak(&mut claims);
    sign(key, alg, kid, &claims)
}

fn uuid() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn secured() -> Server {
    let jwks = std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap();
    let v = JwtVerifier::new(&jwks, ISSUER, AUDIENCE).unwrap();
    Server::start(Auth::Jwt(v), Default::default()).await
}

async fn create_with(s: &Server, bearer: Option<&str>) -> Reply {
    let mut req = s
        .http
        .post(s.url("/Patient"))
        .header("content-type", "application/fhir+json")
        .body(patient("9434765919", "Smith").to_string());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    Reply::of(req.send().await.unwrap()).await
}

#[tokio::test]
async fn writes_need_a_valid_token_with_a_write_scope() {
    let s = secured().await;
    let rs = |scope: &str| token("test-rs384.pem", Algorithm::RS384, "test-rs", scope, |_| {});
    let es = |scope: &str| token("test-es384.pem", Algorithm::ES384, "test-ec", scope, |_| {});
    assert_eq!(
        create_with(&s, Some(&rs("system/Patient.write")))
            .await
            .status,
        201
    );
    assert_eq!(
        create_with(&s, Some(&es("system/*.cruds"))).await.status,
        201
    );
    assert_eq!(
        create_with(&s, Some(&rs("system/Patient.c"))).await.status,
        201
    );
    for (why, t, status, id) in [
        ("no token", None, 401, "SERVER_UNAUTHORIZED"),
        (
            "expired",
            Some(token(
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                "system/*.write",
                |c| c["exp"] = json!(now() - 3600),
            )),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "not yet valid",
            Some(token(
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                "system/*.write",
                |c| c["nbf"] = json!(now() + 3600),
            )),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "wrong audience",
            Some(token(
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                "system/*.write",
                |c| c["aud"] = json!("https://other.example.org"),
            )),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "wrong issuer",
            Some(token(
                "test-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                "system/*.write",
                |c| c["iss"] = json!("https://evil.example.org"),
            )),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "a key not in the JWKS",
            Some(token(
                "other-rs384.pem",
                Algorithm::RS384,
                "test-rs",
                "system/*.write",
                |_| {},
            )),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "not a JWT",
            Some("not-a-token".to_owned()),
            401,
            "SERVER_UNAUTHORIZED",
        ),
        (
            "read scope only",
            Some(rs("system/Patient.read")),
            403,
            "SERVER_FORBIDDEN",
        ),
        (
            "another type's scope",
            Some(rs("system/Goal.write")),
            403,
            "SERVER_FORBIDDEN",
        ),
        (
            "a user scope",
            Some(rs("user/Patient.write")),
            403,
            "SERVER_FORBIDDEN",
        ),
    ] {
        let r = create_with(&s, t.as_deref()).await;
        assert_eq!(
            (r.status, r.ids()),
            (status, vec![id.to_owned()]),
            "{why}: {}",
            r.body
        );
    }
    // Reads need a token too; a read scope is enough.
    let r = Reply::of(s.http.get(s.url("/Patient")).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    let r = Reply::of(
        s.http
            .get(s.url("/Patient"))
            .bearer_auth(rs("system/*.read"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["entry"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn metadata_and_validate_need_no_token() {
    let s = secured().await;
    assert_eq!(s.send("GET", "/metadata", None).await.status, 200);
    let r = s
        .send(
            "POST",
            "/Patient/$validate",
            Some(&patient("9434765919", "Smith")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_server_with_no_issuer_refuses_reads_and_writes_and_says_why() {
    let s = Server::start(Auth::Unconfigured, Default::default()).await;
    let r = create_with(&s, None).await;
    assert_eq!(r.status, 401);
    assert!(
        r.body.to_string().contains("no token issuer configured"),
        "{}",
        r.body
    );
    assert_eq!(s.send("GET", "/metadata", None).await.status, 200);
}
