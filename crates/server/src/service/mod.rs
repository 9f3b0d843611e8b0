//! The REST semantics, apart from HTTP: what create, read, update, delete, history, search,
//! transactions, `$validate` and `$process-message` do, over the engine and the store. One
//! `impl Service` block per concern, as rust-analyzer splits its big passes.

mod audit;
mod bundle;
mod message;
mod metadata;
mod openapi;
mod rest;
mod search;
pub(crate) mod tenancy;
mod translate;
mod validate;

use std::sync::Arc;

use axum::http::StatusCode;
use spfhir_element::issue::{Issue, Severity};
use spfhir_element::{Json, msg};
use spfhir_store::{Record, Store};
use spfhir_validate::Engine;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::search::SearchParams;
use crate::{Config, SERVED_TYPES, WriteCheck};

pub use bundle::{etag_version, url_pairs};
pub use message::MessageHeaders;
pub use translate::{TranslateRequest, Translation};
pub use validate::ValidateRequest;

/// The engine, the store and the configuration the handlers call into.
pub struct Service {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub search: Arc<SearchParams>,
    pub config: Config,
    pub auth: Auth,
    /// Request and store metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Records an AuditEvent for each read and write (when a runtime was there to start it).
    pub auditor: Option<crate::audit::Auditor>,
    /// Requests per client (`Limits::rate_per_second`), when limited.
    pub limiter: Option<governor::DefaultKeyedRateLimiter<u64>>,
}

/// A write's outcome.
#[derive(Debug)]
pub struct Saved {
    pub record: Record,
    /// A new resource (201) rather than a new version (200).
    pub created: bool,
    /// Validation findings kept with a stored resource (`WriteCheck::Warn`).
    pub issues: Vec<Issue>,
}

impl Saved {
    /// 201 for a new resource, 200 for a new version (or an existing match).
    pub fn status(&self) -> StatusCode {
        if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    }
}

impl Service {
    pub fn new(engine: Engine, store: Arc<dyn Store>, config: Config, auth: Auth) -> Service {
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let store: Arc<dyn Store> = Arc::new(crate::metrics::TimedStore {
            inner: store,
            metrics: metrics.clone(),
        });
        // The audit log is searched by its own columns (`audit.rs`), not by index rows.
        let stored: Vec<&str> = SERVED_TYPES
            .iter()
            .copied()
            .filter(|t| crate::is_stored(t))
            .collect();
        let search = Arc::new(SearchParams::load(engine.validator().registry(), &stored));
        let auditor = tokio::runtime::Handle::try_current()
            .ok()
            .map(|_| crate::audit::Auditor::start(store.clone()));
        let limits = config.limits;
        let limiter = std::num::NonZeroU32::new(limits.rate_per_second).map(|rate| {
            let burst = std::num::NonZeroU32::new(limits.rate_burst.max(limits.rate_per_second))
                .unwrap_or(rate);
            governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst))
        });
        Service {
            engine,
            store,
            search,
            config,
            auth,
            auditor,
            limiter,
            metrics,
        }
    }

    /// 404 unless `ty` is a served resource type.
    pub fn served(&self, ty: &str) -> Result<(), ApiError> {
        if SERVED_TYPES.contains(&ty) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                msg::SERVER_UNKNOWN_TYPE,
                format!(
                    "this server does not serve {ty} (it serves {})",
                    SERVED_TYPES.join(", ")
                ),
            ))
        }
    }

    /// 404 unless `ty` is a served type; 405 for the audit log, which only this server
    /// writes (and which keeps no history but its entries).
    pub fn stored(&self, ty: &str) -> Result<(), ApiError> {
        self.served(ty)?;
        if ty == crate::AUDIT_TYPE {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                msg::SERVER_METHOD,
                "AuditEvents are recorded by this server, one for each read and write; they can be read and searched, not created, changed, deleted or listed by history",
            ));
        }
        Ok(())
    }

    /// The type is served and the caller's scopes allow `what` on it (404, 403 otherwise).
    pub fn allow(
        &self,
        caller: &crate::auth::Caller,
        ty: &str,
        what: crate::auth::Interaction,
    ) -> Result<(), ApiError> {
        self.served(ty)?;
        caller.require(ty, what)
    }

    /// Validate a parsed resource on a blocking thread (validation is CPU work), handing the
    /// tree back; `text` is what its positions point into. The text is not parsed again.
    pub async fn validate_tree(
        &self,
        text: String,
        json: Json,
    ) -> Result<(Vec<Issue>, Json), ApiError> {
        let v = self.engine.validator();
        tokio::task::spawn_blocking(move || (v.validate_node_in(&text, &json, &[]), json))
            .await
            .map_err(|_| {
                ApiError::internal(
                    "spfhir failed while validating this resource (a bug: please report it); nothing was stored",
                )
            })
    }

    /// The write check for `ty`: `Err(422)` when it rejects, else the issues to return, with
    /// the tree back.
    pub async fn check_write(
        &self,
        ty: &str,
        text: String,
        json: Json,
    ) -> Result<(Vec<Issue>, Json), ApiError> {
        let policy = self
            .config
            .on_write
            .get(ty)
            .copied()
            .unwrap_or(self.config.on_write_default);
        if policy == WriteCheck::Off {
            return Ok((Vec::new(), json));
        }
        let (issues, json) = self.validate_tree(text, json).await?;
        let errors = issues.iter().any(|i| i.severity <= Severity::Error);
        if errors && policy == WriteCheck::Reject {
            return Err(ApiError::issues(StatusCode::UNPROCESSABLE_ENTITY, issues));
        }
        Ok((issues, json))
    }

    /// Index rows for a resource about to be stored.
    pub fn index(&self, ty: &str, resource: &Json) -> Vec<spfhir_store::IndexRow> {
        let v = self.engine.validator();
        self.search.extract(ty, resource, v.model())
    }
}
