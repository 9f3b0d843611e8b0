//! The embedded store: one SQLite file, in WAL mode with `synchronous = FULL` (a write is
//! on disk before `commit` returns), migrations (`migrations/`) run when it opens. The
//! default for `spfhir serve`, which needs nothing installed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), spfhir_store::Error> {
//! use spfhir_store::Store;
//! let store = spfhir_store_sqlite::SqliteStore::open("spfhir.db").await?;
//! assert!(store.read("Patient", "nobody").await?.is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::str::FromStr;

use async_trait::async_trait;
use spfhir_store::sql::{self, Bind};
use spfhir_store::{Cursor, Error, Page, Query, Record, Remembered, Result, Store, Write};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store in one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// Commits go to the one writer task (SQLite has one writer at a time anyway).
    writer: mpsc::Sender<Job>,
    /// A throw-away database's file, removed on drop.
    scratch: Option<std::path::PathBuf>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(p) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
}

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

impl SqliteStore {
    /// Open (creating if need be) the database at `path`, and bring its schema up to date.
    /// `:memory:` gives a private, throw-away database (tests): a file in the temp folder,
    /// not synced, removed when the store is dropped.
    pub async fn open(path: &str) -> Result<SqliteStore> {
        let scratch = (path == ":memory:").then(|| {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::env::temp_dir().join(format!("spfhir-scratch-{}-{n}.db", std::process::id()))
        });
        let file = scratch
            .as_ref()
            .map_or_else(|| path.to_owned(), |p| p.display().to_string());
        let options = SqliteConnectOptions::from_str(&file)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if scratch.is_some() {
                SqliteSynchronous::Off
            } else {
                SqliteSynchronous::Full
            })
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        // One writer at a time is SQLite's rule: the writer task keeps one connection;
        // readers share the others.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        // The writer's connection leaves the pool, so closing the pool never waits on it; it
        // closes when the store (the writer's last sender) is dropped.
        let conn = pool.acquire().await.map_err(backend)?.detach();
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(writer(conn, rx));
        Ok(SqliteStore {
            pool,
            writer: tx,
            scratch,
        })
    }

    /// Close the pool, waiting for connections in use (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn record(row: &SqliteRow) -> Record {
    Record {
        ty: row.get(0),
        id: row.get(1),
        version: row.get(2),
        last_updated: row.get(3),
        deleted: row.get(4),
        body: row.get(5),
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
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

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn read(&self, ty: &str, id: &str) -> Result<Option<Record>> {
        let row = sqlx::query(&format!(
            "{SELECT_VERSION} WHERE ty = ? AND id = ? ORDER BY version DESC LIMIT 1"
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
            "{SELECT_VERSION} WHERE ty = ? AND id = ? AND version = ?"
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
                format!("{SELECT_VERSION} WHERE ty = ? AND id = ? ORDER BY version DESC LIMIT ?")
            }
            None => format!(
                "{SELECT_VERSION} WHERE ty = ? ORDER BY last_updated DESC, id, version DESC LIMIT ?"
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
        let st = sql::search(query, sql::question, false);
        let rows = bind_all(sqlx::query(&st.sql), &st.binds)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let mut records: Vec<Record> = rows.iter().map(record).collect();
        // A resource matching the driving parameter twice comes back twice, side by side.
        records.dedup_by(|a, b| a.id == b.id);
        let next = (records.len() > query.count).then(|| {
            records.truncate(query.count);
            let last = records.last().expect("a full page");
            Cursor {
                last_updated: last.last_updated,
                id: last.id.clone(),
            }
        });
        Ok(Page {
            records,
            next,
            total: None,
        })
    }

    async fn count(&self, query: &Query) -> Result<u64> {
        let st = sql::search(query, sql::question, true);
        let n: i64 = bind_all(sqlx::query(&st.sql), &st.binds)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?
            .get(0);
        Ok(n as u64)
    }

    async fn commit(&self, writes: Vec<Write>, now: i64) -> Result<Vec<Record>> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((writes, now, tx))
            .await
            .map_err(|_| Error::Backend("the store is closed".into()))?;
        rx.await
            .map_err(|_| Error::Backend("the store's writer stopped".into()))?
    }

    async fn recall(&self, key: &str) -> Result<Option<Remembered>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT status, body FROM remembered WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(|(status, body)| Remembered {
            status: status as u16,
            body,
        }))
    }

    async fn remember(&self, key: &str, response: &Remembered) -> Result<()> {
        sqlx::query("INSERT INTO remembered (key, status, body) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(i64::from(response.status))
            .bind(&response.body)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Apply one commit's writes on `conn`, inside the transaction the writer task holds.
async fn apply(conn: &mut SqliteConnection, writes: Vec<Write>, now: i64) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(writes.len());
    for mut w in writes {
        let current: Option<(i64, bool)> =
            sqlx::query_as("SELECT version, deleted FROM resources WHERE ty = ? AND id = ?")
                .bind(&w.ty)
                .bind(&w.id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        let Some(version) = spfhir_store::next_version(current, &w)? else {
            out.push(Record {
                ty: w.ty,
                id: w.id,
                version: current.map_or(0, |c| c.0),
                last_updated: now,
                deleted: true,
                body: String::new(),
            });
            continue;
        };
        let deleted = w.body.is_none();
        let body = w.body.take().unwrap_or_default();
        sqlx::query(
                "INSERT INTO resource_versions (ty, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&w.ty)
            .bind(&w.id)
            .bind(version)
            .bind(now)
            .bind(deleted)
            .bind(&body)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO resources (ty, id, version, last_updated, deleted) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (ty, id) DO UPDATE SET version = excluded.version, \
                 last_updated = excluded.last_updated, deleted = excluded.deleted",
        )
        .bind(&w.ty)
        .bind(&w.id)
        .bind(version)
        .bind(now)
        .bind(deleted)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM search_index WHERE ty = ? AND id = ?")
            .bind(&w.ty)
            .bind(&w.id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        for row in &w.index {
            let (kind, system, value, low, high) = row.columns();
            sqlx::query(
                    "INSERT INTO search_index (ty, id, param, kind, system, value, low, high) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&w.ty)
                .bind(&w.id)
                .bind(&row.param)
                .bind(kind)
                .bind(system)
                .bind(value)
                .bind(low)
                .bind(high)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
        }
        out.push(Record {
            ty: w.ty,
            id: w.id,
            version,
            last_updated: now,
            deleted,
            body,
        });
    }
    Ok(out)
}

/// One caller's commit, waiting for the writer task.
type Job = (Vec<Write>, i64, oneshot::Sender<Result<Vec<Record>>>);

/// Commits at most this many callers' writes in one transaction (one disk sync).
const GROUP: usize = 128;

/// The writer: takes the commits waiting, applies each under a savepoint (a failing one is
/// rolled back alone), and commits them all with one sync, so concurrent writers share a
/// sync as Blaze's group commit does.
async fn writer(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(GROUP);
    while jobs.recv_many(&mut batch, GROUP).await > 0 {
        let mut results: Vec<Result<Vec<Record>>> = Vec::with_capacity(batch.len());
        let began = sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await;
        if let Err(e) = began {
            for (_, _, reply) in batch.drain(..) {
                let _ = reply.send(Err(backend_ref(&e)));
            }
            continue;
        }
        for (writes, now, _) in batch.iter_mut() {
            let writes = std::mem::take(writes);
            let r = match sqlx::query("SAVEPOINT job").execute(&mut conn).await {
                Err(e) => Err(backend(e)),
                Ok(_) => match apply(&mut conn, writes, *now).await {
                    Ok(records) => sqlx::query("RELEASE job")
                        .execute(&mut conn)
                        .await
                        .map(|_| records)
                        .map_err(backend),
                    Err(e) => {
                        let _ = sqlx::query("ROLLBACK TO job").execute(&mut conn).await;
                        let _ = sqlx::query("RELEASE job").execute(&mut conn).await;
                        Err(e)
                    }
                },
            };
            results.push(r);
        }
        match sqlx::query("COMMIT").execute(&mut conn).await {
            Ok(_) => {
                for ((_, _, reply), r) in batch.drain(..).zip(results) {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                for (_, _, reply) in batch.drain(..) {
                    let _ = reply.send(Err(backend_ref(&e)));
                }
            }
        }
    }
}

fn backend_ref(e: &sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}
