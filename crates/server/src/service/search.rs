//! Search: a URL's parameters to a store query, a page of matches, and the resources
//! `_include` and `_revinclude` bring with them.

use spfhir_fhirpath::{Env, Value};
use spfhir_store::{Clause, Match, Page, Query, Record};

use super::Service;
use super::tenancy::{Tenant, scope_query, visible};
use crate::error::ApiError;
use crate::search::{Extras, local_reference, parse_query};

/// A search's results.
pub struct SearchResult {
    pub query: Query,
    pub page: Page,
    /// `_include`d and `_revinclude`d resources.
    pub included: Vec<Record>,
    /// Only the count was asked for (`_summary=count`).
    pub count_only: bool,
}

impl SearchResult {
    /// The answer to `_summary=count`: no page, only the total.
    pub fn count(query: Query, total: u64) -> SearchResult {
        SearchResult {
            query,
            page: Page {
                records: Vec::new(),
                next: None,
                total: Some(total),
            },
            included: Vec::new(),
            count_only: true,
        }
    }
}

impl Service {
    /// `GET /{ty}?…`.
    pub async fn search(
        &self,
        ty: &str,
        pairs: &[(String, String)],
        lenient: bool,
        tenant: Tenant<'_>,
    ) -> Result<SearchResult, ApiError> {
        self.served(ty)?;
        if ty == crate::AUDIT_TYPE {
            return self.audit_search(pairs, lenient, tenant).await;
        }
        let (mut query, extras) = parse_query(&self.search, ty, pairs, lenient)?;
        scope_query(tenant, &mut query);
        if extras.summary_count {
            let total = self.store.count(&query).await?;
            return Ok(SearchResult::count(query, total));
        }
        let page = self.store.search(&query).await?;
        let mut included = self.includes(ty, &page.records, &extras).await?;
        included.retain(|r| visible(tenant, r));
        Ok(SearchResult {
            query,
            page,
            included,
            count_only: false,
        })
    }

    async fn includes(
        &self,
        ty: &str,
        matches: &[Record],
        extras: &Extras,
    ) -> Result<Vec<Record>, ApiError> {
        let mut out: Vec<Record> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in matches {
            seen.insert(format!("{}/{}", r.ty, r.id));
        }
        // _include=Src:param: the references `param` holds in each match.
        for (src, param) in &extras.include {
            if src != ty {
                continue;
            }
            let Some(p) = self.search.get(src, param) else {
                continue;
            };
            let v = self.engine.validator();
            let mut targets = Vec::new();
            for r in matches {
                let Ok(json) = spfhir_element::parse(&r.body) else {
                    continue;
                };
                let mut env = Env::new(v.model());
                env.lenient_as = true;
                env.resource = Some(&json);
                if let Ok(values) = p.expression.evaluate(&json, &env) {
                    for val in &values {
                        if let Value::Node(n) = val
                            && let Some(reference) = n.json.and_then(|j| j.get_str("reference"))
                        {
                            targets.push(local_reference(reference));
                        }
                    }
                }
            }
            for t in targets {
                if !seen.insert(t.clone()) {
                    continue;
                }
                if let Some((tt, id)) = t.split_once('/')
                    && crate::is_stored(tt)
                    && let Some(rec) = self.store.read(tt, id).await?
                    && !rec.deleted
                {
                    out.push(rec);
                }
            }
        }
        // _revinclude=Src:param: resources of type Src whose `param` points at a match.
        for (src, param) in &extras.revinclude {
            if matches.is_empty() || !crate::is_stored(src) {
                continue;
            }
            let mut q = Query::new(src);
            q.count = crate::search::MAX_COUNT;
            q.clauses.push(Clause {
                param: param.clone(),
                any_of: matches
                    .iter()
                    .map(|r| Match::Reference(format!("{}/{}", r.ty, r.id)))
                    .collect(),
            });
            for rec in self.store.search(&q).await?.records {
                if seen.insert(format!("{}/{}", rec.ty, rec.id)) {
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }
}
