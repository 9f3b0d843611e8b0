//! Who is calling, and what they may do: bearer JWTs (RS256, RS384, ES256, ES384) checked
//! against a JWKS (issuer, audience, expiry, not-before), and SMART system scopes (v1
//! `system/ServiceRequest.write`, `system/*.read`; v2 `system/ServiceRequest.cruds`) checked
//! per resource type and interaction. Auth is off only when the front end says so
//! (`--insecure-dev`).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use spfhir_element::msg;

use crate::AppState;
use crate::error::ApiError;
pub use crate::token::TokenService;

/// What a request does to a resource type, for scope checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    /// The SMART v2 letter.
    fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }
    fn is_write(self) -> bool {
        matches!(
            self,
            Interaction::Create | Interaction::Update | Interaction::Delete
        )
    }
}

/// How tokens are checked.
pub enum Auth {
    /// No checks (`--insecure-dev` only).
    Off,
    /// No token issuer is configured: every request that needs a token is refused (401),
    /// and says how to configure one. What needs none (`/metadata`, `$validate`) works.
    Unconfigured,
    /// Tokens from an external issuer only.
    Jwt(JwtVerifier),
    /// spfhir's own token endpoint (`POST /token`) for registered clients, and optionally
    /// an external issuer's tokens too.
    Smart {
        tokens: TokenService,
        issuer: Option<JwtVerifier>,
    },
}

/// One public key of a JWKS, with the algorithm it verifies.
pub struct VerifyKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub alg: Algorithm,
}

impl VerifyKey {
    /// May this key have signed a token with this header (same algorithm, and the same
    /// `kid` when both name one)?
    pub fn matches(&self, header: &jsonwebtoken::Header) -> bool {
        self.alg == header.alg
            && (header.kid.is_none() || self.kid.is_none() || header.kid == self.kid)
    }
}

/// The keys of a JWKS document (each must name its algorithm, `alg`, or be an RSA or EC key,
/// whose algorithm is then RS384 or ES384).
pub fn keys_from_jwks(jwks: &str) -> Result<Vec<VerifyKey>, String> {
    let set: JwkSet =
        serde_json::from_str(jwks).map_err(|e| format!("the JWKS is not valid: {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = match jwk.common.key_algorithm.map(|a| a.to_string()) {
            Some(a) => match a.as_str() {
                "RS256" => Algorithm::RS256,
                "RS384" => Algorithm::RS384,
                "RS512" => Algorithm::RS512,
                "ES256" => Algorithm::ES256,
                "ES384" => Algorithm::ES384,
                other => {
                    return Err(format!(
                        "the JWKS has a key for {other}, which spfhir does not accept"
                    ));
                }
            },
            None => match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS384,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES384,
                _ => return Err("the JWKS has a key that is neither RSA nor EC".into()),
            },
        };
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| format!("a JWKS key cannot be used: {e}"))?;
        keys.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            key,
            alg,
        });
    }
    if keys.is_empty() {
        return Err("the JWKS has no keys".into());
    }
    Ok(keys)
}

/// Checks bearer JWTs against the keys of a JWKS.
pub struct JwtVerifier {
    keys: KeyRing,
    issuer: String,
    audience: String,
}

/// The keys a [`JwtVerifier`] checks tokens with, shared with whoever refreshes them: the
/// front end re-reads a JWKS URL now and then, and sooner when a token names a key (`kid`)
/// the ring does not hold, as an issuer's key rotation does.
#[derive(Clone)]
pub struct KeyRing(std::sync::Arc<Ring>);

struct Ring {
    keys: std::sync::RwLock<std::sync::Arc<Vec<VerifyKey>>>,
    /// Told (without waiting) when a token names a key the ring does not hold.
    unknown_kid: std::sync::Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
}

impl KeyRing {
    fn new(keys: Vec<VerifyKey>) -> KeyRing {
        KeyRing(std::sync::Arc::new(Ring {
            keys: std::sync::RwLock::new(std::sync::Arc::new(keys)),
            unknown_kid: std::sync::Mutex::new(None),
        }))
    }

    /// The keys now.
    fn current(&self) -> std::sync::Arc<Vec<VerifyKey>> {
        self.0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the keys with those of `jwks`; on an error the old keys stay. The number
    /// of keys now held.
    pub fn replace(&self, jwks: &str) -> Result<usize, String> {
        let keys = keys_from_jwks(jwks)?;
        let n = keys.len();
        *self.0.keys.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(keys);
        Ok(n)
    }

    /// Be told on `tx` when a token names a key the ring does not hold (a full channel
    /// is not waited for: one pending nudge is enough).
    pub fn on_unknown_kid(&self, tx: std::sync::mpsc::SyncSender<()>) {
        *self.0.unknown_kid.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    fn nudge(&self) {
        if let Some(tx) = &*self.0.unknown_kid.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = tx.try_send(());
        }
    }
}

impl JwtVerifier {
    /// Check tokens from `issuer` for `audience` with the keys of `jwks`.
    pub fn new(jwks: &str, issuer: &str, audience: &str) -> Result<JwtVerifier, String> {
        Ok(JwtVerifier {
            keys: KeyRing::new(keys_from_jwks(jwks)?),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// The verifier's keys, to refresh them while it serves.
    pub fn key_ring(&self) -> KeyRing {
        self.keys.clone()
    }

    /// The token's caller (client, scopes, tenant), if it is valid.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "the token is not a JWT".to_owned())?;
        let mut last = "no key in the JWKS matches the token's kid and algorithm".to_owned();
        let keys = self.keys.current();
        if header.kid.is_some() && !keys.iter().any(|k| k.kid == header.kid) {
            self.keys.nudge();
        }
        for VerifyKey { key, alg, .. } in keys.iter().filter(|k| k.matches(&header)) {
            let mut v = Validation::new(*alg);
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&[&self.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            v.validate_nbf = true;
            v.leeway = 30;
            match jsonwebtoken::decode::<Claims>(token, key, &v) {
                Ok(data) => {
                    return Ok(Caller {
                        client: data
                            .claims
                            .client_id
                            .or(data.claims.sub)
                            .unwrap_or_default(),
                        scopes: data
                            .claims
                            .scope
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect(),
                        tenant: data.claims.ods,
                    });
                }
                Err(e) => last = describe(&e),
            }
        }
        Err(last)
    }
}

pub(crate) fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::InvalidAudience => "the token is for another audience".into(),
        K::InvalidIssuer => "the token is from another issuer".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        _ => "the token is not valid".into(),
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    /// The caller's organisation (ODS code), which limits what it may see and change.
    #[serde(default)]
    ods: Option<String>,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client: String,
    pub scopes: Vec<String>,
    /// The organisation (ODS code) the caller acts for, when its token names one: it may
    /// read and change only that organisation's resources.
    pub tenant: Option<String>,
}

impl Caller {
    fn unrestricted() -> Caller {
        Caller {
            client: "insecure-dev".into(),
            scopes: vec!["system/*.*".into()],
            tenant: None,
        }
    }

    /// The organisation the caller is limited to, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// May the caller do `what` to resources of type `ty`? 403 if not.
    pub fn require(&self, ty: &str, what: Interaction) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| scope_allows(s, ty, what)) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            msg::SERVER_FORBIDDEN,
            format!(
                "the token's scopes do not allow {} on {ty} (it needs e.g. system/{ty}.{})",
                format!("{what:?}").to_lowercase(),
                if what.is_write() { "write" } else { "read" }
            ),
        ))
    }
}

/// Does one SMART scope allow `what` on `ty`?
pub fn scope_allows(scope: &str, ty: &str, what: Interaction) -> bool {
    let Some(rest) = scope.strip_prefix("system/") else {
        return false;
    };
    let Some((rt, perms)) = rest.split_once('.') else {
        return false;
    };
    if rt != "*" && rt != ty {
        return false;
    }
    let perms = perms.split('?').next().unwrap_or(perms);
    match perms {
        "*" => true,
        "read" => !what.is_write(),
        "write" => what.is_write(),
        v2 => v2.chars().all(|c| "cruds".contains(c)) && v2.contains(what.letter()),
    }
}

/// Does the `allowed` scope cover everything the `requested` one asks (every interaction on
/// its type; a wildcard type only by a wildcard)? How the token endpoint grants scopes.
pub fn scope_allows_all(allowed: &str, requested: &str) -> bool {
    use Interaction::*;
    let Some((ty, _)) = requested
        .strip_prefix("system/")
        .and_then(|r| r.split_once('.'))
    else {
        return false;
    };
    let asked: Vec<Interaction> = [Create, Read, Update, Delete, Search]
        .into_iter()
        .filter(|w| scope_allows(requested, ty, *w))
        .collect();
    !asked.is_empty() && asked.iter().all(|w| scope_allows(allowed, ty, *w))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let unauthorized = |why: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                msg::SERVER_UNAUTHORIZED,
                why.to_owned(),
            )
        };
        match &state.auth {
            Auth::Off => return Ok(Caller::unrestricted()),
            Auth::Unconfigured => {
                return Err(unauthorized(
                    "this server has no token issuer configured ([auth] jwks, or [[auth.clients]] for its own token endpoint, in spfhir.toml), so it accepts no reads or writes; $validate and /metadata need no token",
                ));
            }
            Auth::Jwt(_) | Auth::Smart { .. } => {}
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                unauthorized("this request needs a bearer token (Authorization: Bearer …)")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be a bearer token"))?;
        let token = token.trim();
        match &state.auth {
            Auth::Jwt(v) => v.verify(token),
            Auth::Smart { tokens, issuer } => {
                let ours =
                    jsonwebtoken::decode_header(token).is_ok_and(|h| h.alg == Algorithm::HS256);
                match issuer {
                    Some(v) if !ours => v.verify(token),
                    _ => tokens.verify(token),
                }
            }
            Auth::Off | Auth::Unconfigured => unreachable!("answered above"),
        }
        .map_err(|why| unauthorized(&why))
    }
}

/// One claim of a JWT, read without checking the token: to find which key should check it,
/// or for audit records of requests whose token is checked (or refused) elsewhere.
pub fn unverified_claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get(name)
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(128).collect())
}

/// The client a bearer token names (`client_id`, else `sub`), read without checking it: for
/// audit records of requests whose token the handler checks (or refuses) itself.
pub fn claimed_client(authorization: Option<&str>) -> Option<String> {
    let token = authorization?
        .strip_prefix("Bearer ")
        .or_else(|| authorization?.strip_prefix("bearer "))?;
    unverified_claim(token, "client_id").or_else(|| unverified_claim(token, "sub"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        use Interaction::*;
        assert!(scope_allows(
            "system/ServiceRequest.write",
            "ServiceRequest",
            Create
        ));
        assert!(!scope_allows(
            "system/ServiceRequest.write",
            "ServiceRequest",
            Read
        ));
        assert!(scope_allows("system/*.read", "Patient", Search));
        assert!(!scope_allows("system/*.read", "Patient", Delete));
        assert!(scope_allows(
            "system/ServiceRequest.cruds",
            "ServiceRequest",
            Delete
        ));
        assert!(scope_allows("system/Patient.rs", "Patient", Read));
        assert!(!scope_allows("system/Patient.rs", "Patient", Update));
        assert!(!scope_allows("system/Patient.rs", "Goal", Read));
        assert!(!scope_allows("user/Patient.read", "Patient", Read));
        assert!(!scope_allows("system/Patient.xyz", "Patient", Read));
    }
}
