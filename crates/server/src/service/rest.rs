//! Instance and type interactions: create (conditional too), read, vread, update (with
//! `If-Match`, and conditional), delete and history.

use axum::http::StatusCode;
use spfhir_element::{Json, msg};
use spfhir_store::{Record, Write};

use super::tenancy::{Tenant, claim, may_change, scope_query, visible};
use super::{Saved, Service};
use crate::dates;
use crate::error::ApiError;
use crate::resource::{self, is_id};

impl Service {
    /// Check a body is a resource of type `ty`; its id (if any).
    fn body_of_type<'j>(&self, ty: &str, json: &'j Json) -> Result<Option<&'j str>, ApiError> {
        let rt = json.get_str("resourceType").unwrap_or_default();
        if rt != ty {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                msg::SERVER_TYPE_MISMATCH,
                format!("the body is a {rt}, but the URL names {ty}"),
            ));
        }
        Ok(json.get_str("id"))
    }

    /// `POST /{ty}`: a new resource with a new id (any id in the body is replaced, as FHIR
    /// says). With `If-None-Exist`, an existing match is returned instead (200).
    pub async fn create(
        &self,
        ty: &str,
        text: String,
        mut json: Json,
        if_none_exist: Option<Vec<(String, String)>>,
        tenant: Tenant<'_>,
    ) -> Result<Saved, ApiError> {
        self.stored(ty)?;
        self.body_of_type(ty, &json)?;
        if let Some(pairs) = if_none_exist
            && let Some(existing) = self.conditional_match(ty, &pairs, tenant).await?
        {
            return Ok(Saved {
                record: existing,
                created: false,
                issues: Vec::new(),
            });
        }
        let (issues, checked) = self.check_write(ty, text, json).await?;
        json = checked;
        let id = resource::new_id();
        let now = dates::now_micros();
        claim(tenant, &mut json);
        let body = resource::stamp(&mut json, &id, 1, now);
        let index = self.index(ty, &json);
        let mut saved = self
            .store
            .commit(vec![Write::put(ty, &id, &body, index).expecting(0)], now)
            .await?;
        Ok(Saved {
            record: saved.remove(0),
            created: true,
            issues,
        })
    }

    /// The one resource a conditional interaction's search finds: `None` for none, 412 for
    /// several.
    pub(crate) async fn conditional_match(
        &self,
        ty: &str,
        pairs: &[(String, String)],
        tenant: Tenant<'_>,
    ) -> Result<Option<Record>, ApiError> {
        let (mut q, _) = crate::search::parse_query(&self.search, ty, pairs, false)?;
        scope_query(tenant, &mut q);
        q.count = 2;
        let page = self.store.search(&q).await?;
        match page.records.len() {
            0 => Ok(None),
            1 => Ok(page.records.into_iter().next()),
            _ => Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                msg::SERVER_PRECONDITION,
                format!("the condition matches more than one {ty}; make it more specific"),
            )),
        }
    }

    /// `GET /{ty}/{id}`: 404 if never written, 410 if deleted.
    pub async fn read(&self, ty: &str, id: &str, tenant: Tenant<'_>) -> Result<Record, ApiError> {
        self.served(ty)?;
        if ty == crate::AUDIT_TYPE {
            return self.audit_read(id, tenant).await;
        }
        let current = self.store.read(ty, id).await?;
        // A deletion has no body to say whose it was: the version before it does.
        let owned = match &current {
            Some(r) if r.deleted && tenant.is_some() => self
                .store
                .vread(ty, id, r.version - 1)
                .await?
                .is_some_and(|before| visible(tenant, &before)),
            Some(r) => visible(tenant, r),
            None => false,
        };
        match current.filter(|_| owned) {
            None => Err(ApiError::not_found(format!("{ty}/{id} is not here"))),
            Some(r) if r.deleted => Err(ApiError::new(
                StatusCode::GONE,
                msg::SERVER_GONE,
                format!("{ty}/{id} was deleted (version {})", r.version),
            )),
            Some(r) => Ok(r),
        }
    }

    /// `GET /{ty}/{id}/_history/{vid}`.
    pub async fn vread(
        &self,
        ty: &str,
        id: &str,
        vid: &str,
        tenant: Tenant<'_>,
    ) -> Result<Record, ApiError> {
        self.served(ty)?;
        let version: i64 = vid
            .parse()
            .map_err(|_| ApiError::bad_request("a version id is a whole number"))?;
        if ty == crate::AUDIT_TYPE {
            // An audit entry never changes: its one version is 1.
            return match version {
                1 => self.audit_read(id, tenant).await,
                _ => Err(ApiError::not_found(format!(
                    "{ty}/{id} has no version {version}"
                ))),
            };
        }
        match self
            .store
            .vread(ty, id, version)
            .await?
            .filter(|r| visible(tenant, r))
        {
            None => Err(ApiError::not_found(format!(
                "{ty}/{id} has no version {version}"
            ))),
            Some(r) if r.deleted => Err(ApiError::new(
                StatusCode::GONE,
                msg::SERVER_GONE,
                format!("version {version} of {ty}/{id} is its deletion"),
            )),
            Some(r) => Ok(r),
        }
    }

    /// `PUT /{ty}/{id}`: the body's id must be the URL's. `If-Match` (a version) must be the
    /// current one (412 otherwise). A resource that does not exist yet is created (201).
    pub async fn update(
        &self,
        ty: &str,
        id: &str,
        text: String,
        mut json: Json,
        if_match: Option<i64>,
        tenant: Tenant<'_>,
    ) -> Result<Saved, ApiError> {
        self.stored(ty)?;
        if !is_id(id) {
            return Err(ApiError::bad_request(
                "the id in the URL is not a valid FHIR id",
            ));
        }
        match self.body_of_type(ty, &json)? {
            Some(body_id) if body_id == id => {}
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    msg::SERVER_ID_MISMATCH,
                    "the id in the body differs from the id in the URL",
                ));
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    msg::SERVER_ID_MISMATCH,
                    "an update's body must carry the id the URL names",
                ));
            }
        }
        let (issues, checked) = self.check_write(ty, text, json).await?;
        json = checked;
        let current = self.store.read(ty, id).await?;
        may_change(tenant, current.as_ref())?;
        let current_version = current.as_ref().filter(|r| !r.deleted).map(|r| r.version);
        if let Some(expected) = if_match
            && Some(expected) != current_version
        {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                msg::SERVER_PRECONDITION,
                format!(
                    "If-Match names version {expected}, but {ty}/{id} is at {}",
                    current_version.map_or("no version".to_owned(), |v| format!("version {v}"))
                ),
            ));
        }
        let version = current.as_ref().map_or(1, |r| r.version + 1);
        let now = dates::now_micros();
        claim(tenant, &mut json);
        let body = resource::stamp(&mut json, id, version, now);
        let index = self.index(ty, &json);
        let write = Write::put(ty, id, &body, index).expecting(current_version.unwrap_or(0));
        let mut saved =
            self.store
                .commit(vec![write], now)
                .await
                .map_err(|e| match (e, if_match) {
                    (spfhir_store::Error::Conflict { .. }, Some(_)) => ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        msg::SERVER_PRECONDITION,
                        format!("{ty}/{id} changed while this update was made"),
                    ),
                    (e, _) => e.into(),
                })?;
        Ok(Saved {
            record: saved.remove(0),
            created: current_version.is_none(),
            issues,
        })
    }

    /// `PUT /{ty}?search`: update the one match, or create when there is none.
    pub async fn conditional_update(
        &self,
        ty: &str,
        pairs: &[(String, String)],
        text: String,
        json: Json,
        tenant: Tenant<'_>,
    ) -> Result<Saved, ApiError> {
        self.stored(ty)?;
        let id = match self.conditional_match(ty, pairs, tenant).await? {
            Some(existing) => existing.id,
            None => match self.body_of_type(ty, &json)? {
                Some(id) if is_id(id) => id.to_owned(),
                _ => resource::new_id(),
            },
        };
        let mut json = json;
        resource::set_id(&mut json, &id);
        self.update(ty, &id, text, json, None, tenant).await
    }

    /// `DELETE /{ty}/{id}`: deleting what is absent or already deleted succeeds too.
    pub async fn delete(&self, ty: &str, id: &str, tenant: Tenant<'_>) -> Result<(), ApiError> {
        self.stored(ty)?;
        if tenant.is_some() {
            may_change(tenant, self.store.read(ty, id).await?.as_ref())?;
        }
        self.store
            .commit(vec![Write::delete(ty, id)], dates::now_micros())
            .await?;
        Ok(())
    }

    /// `GET /{ty}/{id}/_history` and `GET /{ty}/_history`, newest first.
    pub async fn history(
        &self,
        ty: &str,
        id: Option<&str>,
        count: usize,
        tenant: Tenant<'_>,
    ) -> Result<Vec<Record>, ApiError> {
        self.stored(ty)?;
        let mut records = self.store.history(ty, id, count).await?;
        if tenant.is_some() {
            // Deletions are shown with the versions of the caller's own that they ended.
            let owned: std::collections::HashSet<String> = records
                .iter()
                .filter(|r| !r.deleted && visible(tenant, r))
                .map(|r| r.id.clone())
                .collect();
            records.retain(|r| owned.contains(&r.id) && (r.deleted || visible(tenant, r)));
        }
        if let (Some(id), true) = (id, records.is_empty()) {
            return Err(ApiError::not_found(format!("{ty}/{id} is not here")));
        }
        Ok(records)
    }
}
