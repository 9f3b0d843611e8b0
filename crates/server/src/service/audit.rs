//! The audit log as AuditEvent resources: read and searched (`audit.rs` keeps the log).
//! Entries belong to no organisation: a caller limited to one (a tenant) sees none.

use spfhir_store::{AuditMatch, AuditQuery, Cursor, Page, Record};

use super::Service;
use super::search::SearchResult;
use super::tenancy::Tenant;
use crate::error::ApiError;

impl Service {
    /// `GET /AuditEvent/{id}`.
    pub(super) async fn audit_read(
        &self,
        id: &str,
        tenant: Tenant<'_>,
    ) -> Result<Record, ApiError> {
        let not_here = || ApiError::not_found(format!("AuditEvent/{id} is not here"));
        let seq: i64 = id.parse().map_err(|_| not_here())?;
        if tenant.is_some() {
            return Err(not_here());
        }
        let q = AuditQuery {
            clauses: vec![vec![AuditMatch::Seq(seq)]],
            count: 1,
            ..AuditQuery::default()
        };
        let page = self.store.audit_search(&q).await?;
        page.entries
            .first()
            .map(crate::audit::resource)
            .ok_or_else(not_here)
    }

    /// `GET /AuditEvent?…`.
    pub(super) async fn audit_search(
        &self,
        pairs: &[(String, String)],
        lenient: bool,
        tenant: Tenant<'_>,
    ) -> Result<SearchResult, ApiError> {
        let (mut q, count_only) = crate::audit::parse_query(pairs, lenient)?;
        if tenant.is_some() {
            q.clauses.push(Vec::new()); // matches nothing
        }
        let query = spfhir_store::Query::new(crate::AUDIT_TYPE);
        if count_only {
            let total = self.store.audit_count(&q).await?;
            return Ok(SearchResult::count(query, total));
        }
        let page = self.store.audit_search(&q).await?;
        Ok(SearchResult {
            query,
            page: Page {
                records: page.entries.iter().map(crate::audit::resource).collect(),
                // The handler writes a cursor as `{last_updated}.{id}`; the id is the seq.
                next: page.next.map(|seq| Cursor {
                    last_updated: 0,
                    id: seq.to_string(),
                }),
                total: None,
            },
            included: Vec::new(),
            count_only: false,
        })
    }
}
