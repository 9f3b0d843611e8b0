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
use spfhir_store::{Error, Page, Query, Record, Remembered, Result, Store, Write};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

mod writer;
use writer::Job;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store in one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// Commits go to the one writer thread (`writer.rs`) (SQLite has one writer at a time anyway).
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
        // One writer at a time is SQLite's rule: the writer thread keeps its own connection;
        // readers share the pool.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        // The writer has its own connection, on its own thread; it closes when the store
        // (the writer's last sender) is dropped.
        let writer = writer::spawn(options.get_filename(), scratch.is_none())?;
        Ok(SqliteStore {
            pool,
            writer,
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
        sql::page(query, &sql::SQLITE, |st| async move {
            let rows = bind_all(sqlx::query(&st.sql), &st.binds)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(record).collect())
        })
        .await
    }

    async fn count(&self, query: &Query) -> Result<u64> {
        let st = sql::count(query, &sql::SQLITE);
        let n: i64 = bind_all(sqlx::query(&st.sql), &st.binds)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?
            .get(0);
        Ok(n as u64)
    }

    async fn commit_remembering(
        &self,
        writes: Vec<Write>,
        now: i64,
        remember: Vec<(String, Remembered)>,
    ) -> Result<Vec<Record>> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job {
                writes,
                now,
                remember,
                reply: tx,
            })
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

    async fn claim(&self, key: &str, until: i64, now: i64) -> Result<bool> {
        sqlx::query("DELETE FROM claims WHERE until < ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let done = sqlx::query("INSERT OR IGNORE INTO claims (key, until) VALUES (?, ?)")
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
