//! spfhir as its own token endpoint for SMART Backend Services (`POST /token`): a registered
//! client proves who it is with a JWT it signs with its private key (`private_key_jwt`:
//! RS384 or ES384 as SMART requires, RS512 as NHS API Management uses), and gets a short-lived
//! access token with the scopes it asked for, as far as its registration allows.
//!
//! - The assertion must be signed by one of the client's registered public keys, with
//!   `iss` = `sub` = the client id, `aud` = this token endpoint's URL, an `exp` at most five
//!   minutes ahead, and a `jti` never seen before: each assertion is accepted once. The
//!   `jti`s are claimed in the store ([`Store::claim`]), so instances sharing a database
//!   refuse an assertion replayed at any of them.
//! - Access tokens are HS256 JWTs signed with the server's secret (configured, so several
//!   instances accept each other's tokens; else random at start). They carry the client id,
//!   the granted scopes and the client's tenant (its ODS code, claim `ods`).
//! - Errors are RFC 6749's (`{"error": "invalid_client", …}`), which OAuth clients expect;
//!   they never say which check of an assertion failed beyond what a client can fix.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use spfhir_store::Store;

use crate::auth::{Caller, VerifyKey, keys_from_jwks, scope_allows_all};

/// The `client_assertion_type` SMART Backend Services uses.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The issuer and audience of the access tokens spfhir makes.
const OWN: &str = "spfhir";

/// The longest an assertion may live (SMART: "no more than five minutes in the future").
const MAX_ASSERTION_SECS: i64 = 300;

/// A registered client.
pub struct Client {
    pub id: String,
    keys: Vec<VerifyKey>,
    /// The scopes it may be granted.
    pub scopes: Vec<String>,
    /// Its organisation's ODS code: what it may read and write is limited to that tenant.
    pub tenant: Option<String>,
}

impl Client {
    /// A client from its id, its public keys (a JWKS document), the scopes it may have and
    /// its tenant.
    pub fn new(
        id: &str,
        jwks: &str,
        scopes: Vec<String>,
        tenant: Option<String>,
    ) -> Result<Client, String> {
        Ok(Client {
            id: id.to_owned(),
            keys: keys_from_jwks(jwks)?,
            scopes,
            tenant,
        })
    }
}

/// The token endpoint: registered clients and the access token secret.
pub struct TokenService {
    clients: HashMap<String, Client>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: i64,
}

/// A failed token request, as RFC 6749 §5.2 names it.
#[derive(Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
    fn client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(401, "invalid_client", description)
    }
}

/// A granted access token (RFC 6749 §5.1).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Granted {
    /// The bearer token for later requests.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes granted: those asked for that the client's registration allows.
    pub scope: String,
}

/// A token request's form fields (`application/x-www-form-urlencoded`), for the OpenAPI
/// description; the endpoint reads them with [`TokenService::issue`].
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `client_credentials`.
    grant_type: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: String,
    /// A JWT signed with the client's private key (RS384, ES384 or RS512): `iss` and `sub`
    /// the client id, `aud` this endpoint's URL, `exp` at most five minutes ahead, a new `jti`.
    client_assertion: String,
    /// The SMART system scopes wanted, space-separated.
    scope: String,
}

/// A refused token request (RFC 6749 §5.2).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct TokenError {
    /// `invalid_request`, `invalid_client`, `invalid_scope` or `unsupported_grant_type`.
    error: String,
    /// What to fix.
    error_description: String,
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: String,
    exp: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    client_id: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ods: Option<String>,
    iat: i64,
    exp: i64,
}

impl TokenService {
    /// `secret`: the access token key (at least 32 bytes), or `None` for a random one.
    /// `lifetime`: seconds an access token lives.
    pub fn new(
        clients: Vec<Client>,
        secret: Option<&[u8]>,
        lifetime: i64,
    ) -> Result<TokenService, String> {
        let random;
        let secret = match secret {
            Some(s) if s.len() < 32 => {
                return Err("the token secret must be at least 32 bytes".into());
            }
            Some(s) => s,
            None => {
                random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                    .iter()
                    .flat_map(|u| *u.as_bytes())
                    .collect::<Vec<u8>>();
                &random
            }
        };
        let mut by_id = HashMap::new();
        for c in clients {
            if by_id.contains_key(&c.id) {
                return Err(format!("client {} is registered twice", c.id));
            }
            by_id.insert(c.id.clone(), c);
        }
        Ok(TokenService {
            clients: by_id,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            lifetime,
        })
    }

    /// Answer a token request: `form` is its decoded body, `token_url` this endpoint's URL
    /// (the assertion's audience), `now` in seconds since the epoch; the assertion's `jti`
    /// is claimed in `store`.
    pub async fn issue(
        &self,
        store: &dyn Store,
        form: &[(String, String)],
        token_url: &str,
        now: i64,
    ) -> Result<Granted, OAuthError> {
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    "only grant_type=client_credentials is supported",
                ));
            }
            None => {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    "grant_type is missing",
                ));
            }
        }
        if field("client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                format!("client_assertion_type must be {ASSERTION_TYPE}"),
            ));
        }
        let assertion = field("client_assertion").ok_or_else(|| {
            OAuthError::new(400, "invalid_request", "client_assertion is missing")
        })?;
        let (client, claims) = self.authenticate(assertion, token_url, now)?;
        // Each assertion once, across every instance on this store, until it expires.
        let key = format!("jti\u{0}{}\u{0}{}", client.id, claims.jti);
        match store.claim(&key, claims.exp + 30, now).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(OAuthError::client(
                    "this client_assertion (its jti) was used before; each may be used once",
                ));
            }
            Err(_) => {
                return Err(OAuthError::new(
                    503,
                    "temporarily_unavailable",
                    "the store did not answer; try again",
                ));
            }
        }
        let requested = field("scope").unwrap_or_default();
        let granted: Vec<&str> = requested
            .split_whitespace()
            .filter(|s| client.scopes.iter().any(|a| scope_allows_all(a, s)))
            .collect();
        if granted.is_empty() {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                format!(
                    "none of the scopes asked for is registered for this client (it may have: {})",
                    client.scopes.join(" ")
                ),
            ));
        }
        let scope = granted.join(" ");
        let claims = AccessClaims {
            iss: OWN.into(),
            aud: OWN.into(),
            sub: client.id.clone(),
            client_id: client.id.clone(),
            scope: scope.clone(),
            ods: client.tenant.clone(),
            iat: now,
            exp: now + self.lifetime,
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(
                |_| OAuthError::new(500, "server_error", "the access token could not be signed"),
            )?;
        Ok(Granted {
            access_token,
            token_type: "bearer",
            expires_in: self.lifetime,
            scope,
        })
    }

    /// The client whose assertion this is, after every check.
    fn authenticate(
        &self,
        assertion: &str,
        token_url: &str,
        now: i64,
    ) -> Result<(&Client, AssertionClaims), OAuthError> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| OAuthError::client("client_assertion is not a JWT"))?;
        // The client is named by the assertion itself; its signature is checked below.
        let claimed = crate::auth::unverified_claim(assertion, "iss")
            .ok_or_else(|| OAuthError::client("client_assertion has no iss"))?;
        let client = self
            .clients
            .get(&claimed)
            .ok_or_else(|| OAuthError::client("the client is not registered here"))?;
        if !matches!(
            header.alg,
            Algorithm::RS384 | Algorithm::ES384 | Algorithm::RS512
        ) {
            return Err(OAuthError::client(
                "client_assertion must be signed with RS384, ES384 or RS512",
            ));
        }
        let mut last = OAuthError::client(
            "no registered key of the client matches the assertion's kid and algorithm",
        );
        for key in client.keys.iter().filter(|k| k.matches(&header)) {
            let mut v = Validation::new(header.alg);
            v.set_audience(&[token_url]);
            v.set_required_spec_claims(&["exp", "iss", "sub", "aud", "jti"]);
            v.leeway = 30;
            let claims = match jsonwebtoken::decode::<AssertionClaims>(assertion, &key.key, &v) {
                Ok(d) => d.claims,
                Err(e) => {
                    last = OAuthError::client(format!(
                        "client_assertion: {}",
                        crate::auth::describe(&e)
                    ));
                    continue;
                }
            };
            if claims.iss != client.id || claims.sub != client.id {
                return Err(OAuthError::client(
                    "client_assertion's iss and sub must both be the client id",
                ));
            }
            if claims.exp > now + MAX_ASSERTION_SECS + 30 {
                return Err(OAuthError::client(
                    "client_assertion's exp is more than five minutes ahead",
                ));
            }
            return Ok((client, claims));
        }
        Err(last)
    }

    /// The caller an access token of ours names, if it is ours and valid.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[OWN]);
        v.set_audience(&[OWN]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = 30;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &v)
            .map_err(|e| crate::auth::describe(&e))?
            .claims;
        Ok(Caller {
            client: claims.client_id,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            tenant: claims.ods,
        })
    }
}
