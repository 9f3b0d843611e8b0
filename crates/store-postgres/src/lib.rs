//! The shared store: PostgreSQL through a connection pool, for several spfhir instances
//! behind a load balancer. Migrations (`migrations/`) run when it connects (sqlx takes an
//! advisory lock, so instances starting together do not race). Two writers of one resource,
//! in one process or two, never both win: each write inserts the next version under the
//! `(ty, id, version)` primary key, so the second gets [`Error::Conflict`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), spfhir_store::Error> {
//! use spfhir_store::Store;
//! let store = spfhir_store_postgres::PgStore::connect("postgres://127.0.0.1/spfhir", 10).await?;
//! assert!(store.read("Patient", "nobody").await?.is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use async_trait::async_trait;
use spfhir_store::sql::{self, Bind};
use spfhir_store::{
    AuditEntry, AuditPage, AuditQuery, Error, Page, Query, Record, Remembered, Result, Store, Write,
};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The advisory lock (`pg_advisory_xact_lock`) under which audit batches append; the
/// number is arbitrary ("spfhir-a" in ASCII), and only spfhir's audit appends take it.
const AUDIT_APPEND_LOCK: i64 = 0x7370_6668_6972_2d61;

/// A store in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
}

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

/// A unique-key violation on a version insert is another writer's version: a conflict.
fn write_error(e: sqlx::Error, w: &Write) -> Error {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        Error::Conflict {
            ty: w.ty.clone(),
            id: w.id.clone(),
            expected: w.expect,
            found: None,
        }
    } else {
        backend(e)
    }
}

impl PgStore {
    /// Connect with a pool of at most `max_connections`, and bring the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        Ok(PgStore { pool })
    }

    /// Close the pool, waiting for connections in use (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Run a `SELECT` statement; each row through `row`.
    async fn fetch<T>(&self, st: sql::Statement, row: fn(&PgRow) -> T) -> Result<Vec<T>> {
        let rows = bind_all(sqlx::query(&st.sql), &st.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(row).collect())
    }

    /// Run a `SELECT COUNT(*)` statement.
    async fn count_rows(&self, st: sql::Statement) -> Result<u64> {
        let n: i64 = bind_all(sqlx::query(&st.sql), &st.binds)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?
            .get(0);
        Ok(n as u64)
    }
}

fn record(row: &PgRow) -> Record {
    Record {
        ty: row.get(0),
        id: row.get(1),
        version: row.get(2),
        last_updated: row.get(3),
        deleted: row.get(4),
        body: row.get(5),
    }
}

fn audit_entry(row: &PgRow) -> AuditEntry {
    AuditEntry {
        seq: row.get(0),
        recorded: row.get(1),
        interaction: row.get(2),
        action: row.get(3),
        entity: row.get(4),
        who: row.get(5),
        certificate: row.get(6),
        status: row.get(7),
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

const SELECT_VERSION: &str =
    "SELECT ty, id, version, last_updated, deleted, body FROM resource_versions";

/// Why an attempt at a commit did not succeed.
enum Attempt {
    /// A resource written in the short form for new ones was there already: apply the
    /// commit again, in full.
    Again,
    Failed(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Attempt {
        Attempt::Failed(e)
    }
}

/// The record a write made.
fn made(w: &Write, version: i64, now: i64) -> Record {
    Record {
        ty: w.ty.clone(),
        id: w.id.clone(),
        version,
        last_updated: now,
        deleted: w.body.is_none(),
        body: w.body.clone().unwrap_or_default(),
    }
}

/// A write's index rows as column arrays, for one `INSERT … FROM UNNEST`.
#[allow(clippy::type_complexity)]
fn index_arrays(
    w: &Write,
) -> (
    Vec<&str>,
    Vec<&'static str>,
    Vec<Option<&str>>,
    Vec<Option<&str>>,
    Vec<Option<i64>>,
    Vec<Option<i64>>,
) {
    let n = w.index.len();
    let mut cols = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for row in &w.index {
        let (kind, system, value, low, high) = row.columns();
        cols.0.push(row.param.as_str());
        cols.1.push(kind);
        cols.2.push(system);
        cols.3.push(value);
        cols.4.push(low);
        cols.5.push(high);
    }
    cols
}

/// A new resource's first version, its current row and its index rows, in one statement
/// (one round trip instead of five: no look-up of a current version, no old index rows to
/// remove). `Again` when the resource is there already (a concurrent create, or one
/// deleted before): only the full form can tell a conflict from a re-creation.
async fn insert_new(
    conn: &mut sqlx::PgConnection,
    w: &Write,
    now: i64,
) -> std::result::Result<(), Attempt> {
    let (params, kinds, systems, values, lows, highs) = index_arrays(w);
    let done = sqlx::query(
        "WITH v AS (INSERT INTO resource_versions (ty, id, version, last_updated, deleted, body) \
                    VALUES ($1, $2, 1, $3, FALSE, $4)), \
              r AS (INSERT INTO resources (ty, id, version, last_updated, deleted) \
                    VALUES ($1, $2, 1, $3, FALSE)) \
         INSERT INTO search_index (ty, id, param, kind, system, value, low, high) \
         SELECT $1, $2, * FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[])",
    )
    .bind(&w.ty)
    .bind(&w.id)
    .bind(now)
    .bind(w.body.as_deref().unwrap_or_default())
    .bind(&params)
    .bind(&kinds)
    .bind(&systems)
    .bind(&values)
    .bind(&lows)
    .bind(&highs)
    .execute(conn)
    .await;
    match done {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Err(Attempt::Again)
        }
        Err(e) => Err(Attempt::Failed(backend(e))),
    }
}

impl PgStore {
    /// Apply a commit in one transaction; with `short`, a write that creates a resource
    /// goes in the short form ([`insert_new`]), and a commit that is only that runs on its
    /// own, with no `BEGIN` and `COMMIT` round trips.
    async fn apply(
        &self,
        writes: &[Write],
        now: i64,
        remember: &[(String, Remembered)],
        short: bool,
    ) -> std::result::Result<Vec<Record>, Attempt> {
        let is_new = |w: &Write| short && w.expect == Some(0) && w.body.is_some();
        if let ([w], true) = (writes, remember.is_empty())
            && is_new(w)
        {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            insert_new(&mut conn, w, now).await?;
            return Ok(vec![made(w, 1, now)]);
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for (key, response) in remember {
            sqlx::query("INSERT INTO remembered (key, status, body) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(i64::from(response.status))
                .bind(&response.body)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            if is_new(w) {
                insert_new(&mut tx, w, now).await?;
                out.push(made(w, 1, now));
                continue;
            }
            let current: Option<(i64, bool)> =
                sqlx::query_as("SELECT version, deleted FROM resources WHERE ty = $1 AND id = $2")
                    .bind(&w.ty)
                    .bind(&w.id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let Some(version) = spfhir_store::next_version(current, w)? else {
                // Only a delete changes nothing (of what is absent or deleted already): the
                // record `made` is a deletion at the current version.
                out.push(made(w, current.map_or(0, |c| c.0), now));
                continue;
            };
            let deleted = w.body.is_none();
            sqlx::query(
                "INSERT INTO resource_versions (ty, id, version, last_updated, deleted, body) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&w.ty)
            .bind(&w.id)
            .bind(version)
            .bind(now)
            .bind(deleted)
            .bind(w.body.as_deref().unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, w))?;
            sqlx::query(
                "INSERT INTO resources (ty, id, version, last_updated, deleted) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (ty, id) DO UPDATE SET version = excluded.version, \
                 last_updated = excluded.last_updated, deleted = excluded.deleted",
            )
            .bind(&w.ty)
            .bind(&w.id)
            .bind(version)
            .bind(now)
            .bind(deleted)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("DELETE FROM search_index WHERE ty = $1 AND id = $2")
                .bind(&w.ty)
                .bind(&w.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            // All the resource's index rows in one statement (arrays unnested), not a round
            // trip per row: a referral message has about 85.
            if !w.index.is_empty() {
                let (params, kinds, systems, values, lows, highs) = index_arrays(w);
                sqlx::query(
                    "INSERT INTO search_index (ty, id, param, kind, system, value, low, high) \
                     SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[])",
                )
                .bind(&w.ty)
                .bind(&w.id)
                .bind(&params)
                .bind(&kinds)
                .bind(&systems)
                .bind(&values)
                .bind(&lows)
                .bind(&highs)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            out.push(made(w, version, now));
        }
        tx.commit().await.map_err(backend)?;
        Ok(out)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }

    async fn read(&self, ty: &str, id: &str) -> Result<Option<Record>> {
        let row = sqlx::query(&format!(
            "{SELECT_VERSION} WHERE ty = $1 AND id = $2 ORDER BY version DESC LIMIT 1"
        ))
        .bind(ty)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(record))
    }

    async fn vread(&self, ty: &str, id: &str, version: i64) -> Result<Option<Record>> {
        let row = sqlx::query(&format!(
            "{SELECT_VERSION} WHERE ty = $1 AND id = $2 AND version = $3"
        ))
        .bind(ty)
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(record))
    }

    async fn history(&self, ty: &str, id: Option<&str>, count: usize) -> Result<Vec<Record>> {
        let sql = match id {
            Some(_) => {
                format!("{SELECT_VERSION} WHERE ty = $1 AND id = $2 ORDER BY version DESC LIMIT $3")
            }
            None => format!(
                "{SELECT_VERSION} WHERE ty = $1 ORDER BY last_updated DESC, id, version DESC LIMIT $2"
            ),
        };
        let mut q = sqlx::query(&sql).bind(ty);
        if let Some(id) = id {
            q = q.bind(id);
        }
        let rows = q
            .bind(count as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(record).collect())
    }

    async fn search(&self, query: &Query) -> Result<Page> {
        sql::page(query, &sql::POSTGRES, |st| self.fetch(st, record)).await
    }

    async fn count(&self, query: &Query) -> Result<u64> {
        self.count_rows(sql::count(query, &sql::POSTGRES)).await
    }

    async fn audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Batches from every instance append one at a time, each committed before the next
        // takes its `seq`s (a lock held to the end of the transaction), so `seq` order is
        // commit order: a reader that sees an entry sees every entry before it, and one
        // following the log by "after this `seq`" misses none. Without the lock, a batch that
        // drew its numbers first but committed last would fall behind such a reader for good.
        // Under it, `recorded` is kept in `seq` order too (`sql::recorded_in_order`).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let last: Option<i64> = sqlx::query_scalar(sql::AUDIT_LAST_RECORDED)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let recorded = sql::recorded_in_order(last, &entries);
        let (mut interactions, mut actions, mut entities, mut whos, mut certificates) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut statuses = Vec::with_capacity(entries.len());
        for e in entries {
            interactions.push(e.interaction);
            actions.push(e.action);
            entities.push(e.entity);
            whos.push(e.who);
            certificates.push(e.certificate);
            statuses.push(e.status);
        }
        // One statement for the whole batch (arrays unnested in their order), not a round
        // trip per entry.
        sqlx::query(
            "INSERT INTO audit_log (recorded, interaction, action, entity, who, certificate, status) \
             SELECT r, i, a, e, w, c, s FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY AS t(r, i, a, e, w, c, s, n) ORDER BY n",
        )
        .bind(&recorded)
        .bind(&interactions)
        .bind(&actions)
        .bind(&entities)
        .bind(&whos)
        .bind(&certificates)
        .bind(&statuses)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage> {
        sql::audit_page(query, &sql::POSTGRES, |st| self.fetch(st, audit_entry)).await
    }

    async fn audit_count(&self, query: &AuditQuery) -> Result<u64> {
        self.count_rows(sql::audit_count(query, &sql::POSTGRES))
            .await
    }

    async fn commit_remembering(
        &self,
        writes: Vec<Write>,
        now: i64,
        remember: Vec<(String, Remembered)>,
    ) -> Result<Vec<Record>> {
        // New resources first go in the short form (`insert_new`); if one of them turns out
        // to be there already, the whole commit is rolled back and applied again in full.
        match self.apply(&writes, now, &remember, true).await {
            Ok(out) => Ok(out),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::Again) => match self.apply(&writes, now, &remember, false).await {
                Ok(out) => Ok(out),
                Err(Attempt::Failed(e)) => Err(e),
                Err(Attempt::Again) => Err(Error::Backend(
                    "a write was retried in full and asked for a retry again".into(),
                )),
            },
        }
    }

    async fn recall(&self, key: &str) -> Result<Option<Remembered>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT status, body FROM remembered WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(|(status, body)| Remembered {
            status: status as u16,
            body,
        }))
    }

    async fn claim(&self, key: &str, until: i64, now: i64) -> Result<bool> {
        sqlx::query("DELETE FROM claims WHERE until < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let done = sqlx::query(
            "INSERT INTO claims (key, until) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(until)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
