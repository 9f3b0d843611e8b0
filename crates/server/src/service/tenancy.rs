//! Tenancy: a caller whose token names an organisation (its ODS code, claim `ods`) reads and
//! changes only that organisation's resources. What it writes is tagged with its ODS code
//! (`meta.tag`, system [`TENANT_SYSTEM`]); what it reads, searches and changes must carry
//! that tag. A caller without a tenant (an unrestricted system, `--insecure-dev`) sees
//! everything.
//!
//! Invariant: every store read a tenant caller's request makes goes through [`visible`] or
//! a query narrowed by [`scope_query`]; a resource of another organisation is "not here"
//! (404) to reads and searches, and refused (403) to writes.

use axum::http::StatusCode;
use spfhir_element::{Json, msg};
use spfhir_store::{Clause, Match, Query, Record};

use crate::error::ApiError;

/// The tag system a resource's organisation is recorded under.
pub const TENANT_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";

/// The organisation a request acts for, if it is limited to one.
pub type Tenant<'a> = Option<&'a str>;

/// Does `r` belong to `tenant` (or is the caller unrestricted)?
pub fn visible(tenant: Tenant<'_>, r: &Record) -> bool {
    match tenant {
        None => true,
        // A deletion has no body to say whose it was; callers that show deletions decide
        // from the version before it.
        Some(_) if r.deleted => false,
        Some(t) => {
            r.body.contains(t) && spfhir_element::parse(&r.body).is_ok_and(|json| belongs(&json, t))
        }
    }
}

/// Does `resource` carry `tenant`'s tag?
pub fn belongs(resource: &Json, tenant: &str) -> bool {
    resource
        .get("meta")
        .and_then(|m| m.get("tag"))
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .any(|t| t.get_str("system") == Some(TENANT_SYSTEM) && t.get_str("code") == Some(tenant))
}

/// 403 when `current` exists (not deleted) and belongs to another organisation.
pub fn may_change(tenant: Tenant<'_>, current: Option<&Record>) -> Result<(), ApiError> {
    match current {
        Some(r) if !r.deleted && !visible(tenant, r) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            msg::SERVER_FORBIDDEN,
            format!(
                "{}/{} belongs to another organisation; this token may change only its own organisation's resources",
                r.ty, r.id
            ),
        )),
        _ => Ok(()),
    }
}

/// Tag `resource` as `tenant`'s (its tag replaces any other organisation's).
pub fn claim(tenant: Tenant<'_>, resource: &mut Json) {
    if let Some(t) = tenant {
        crate::resource::tag(resource, TENANT_SYSTEM, t);
    }
}

/// Narrow `q` to `tenant`'s resources.
pub fn scope_query(tenant: Tenant<'_>, q: &mut Query) {
    if let Some(t) = tenant {
        q.clauses.push(Clause::new(
            "_tag",
            Match::Token {
                system: Some(TENANT_SYSTEM.into()),
                code: t.into(),
            },
        ));
    }
}
