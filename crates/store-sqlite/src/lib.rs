//! The embedded store: one SQLite file, in WAL mode with `synchronous = FULL` (a write is
//! on disk before `commit` returns), migrations (`migrations/`) run when it opens. The
//! default for `spfhir serve`, which needs nothing installed.
//!
//! Three ways in: commits go to the one writer thread (`writer.rs`); a read or vread by id
//! runs on a read-only rusqlite connection of the calling thread's own ([`Readers`]), with
//! no hop to another thread; searches, history and the rest use sqlx's pool.
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
use spfhir_store::{
    AuditEntry, AuditPage, AuditQuery, Error, Page, Query, Record, Remembered, Result, Store, Write,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

mod writer;
use writer::Job;

/// Read-only connections, one per thread that reads by id (in a server, each tokio worker),
/// opened when the thread first reads. A read by id is one prepared lookup on the primary
/// key, tens of microseconds: cheaper to run where the request is than to send to sqlx's
/// SQLite thread and wait for the answer there (two thread hops, which were most of a
/// read's time and all of its tail). WAL readers never wait for the writer.
struct Readers {
    file: std::path::PathBuf,
    conns: thread_local::ThreadLocal<std::cell::RefCell<rusqlite::Connection>>,
}

impl Readers {
    fn one(&self, sql: &str, params: impl rusqlite::Params) -> Result<Option<Record>> {
        use rusqlite::OptionalExtension;
        let rb = |e: rusqlite::Error| Error::Backend(e.to_string());
        let conn = self.conns.get_or_try(|| {
            let conn = rusqlite::Connection::open_with_flags(
                &self.file,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(rb)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(rb)?;
            Ok::<_, Error>(std::cell::RefCell::new(conn))
        })?;
        // Never borrowed twice: nothing below calls back into the store.
        let conn = conn.borrow();
        let mut st = conn.prepare_cached(sql).map_err(rb)?;
        st.query_row(params, |r| {
            Ok(Record {
                ty: r.get(0)?,
                id: r.get(1)?,
                version: r.get(2)?,
                last_updated: r.get(3)?,
                deleted: r.get(4)?,
                body: r.get(5)?,
            })
        })
        .optional()
        .map_err(rb)
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store in one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// Commits go to the one writer thread (`writer.rs`) (SQLite has one writer at a time anyway).
    writer: mpsc::Sender<Job>,
    readers: Readers,
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
        let readers = Readers {
            file: options.get_filename().to_path_buf(),
            conns: thread_local::ThreadLocal::new(),
        };
        Ok(SqliteStore {
            pool,
            writer,
            readers,
            scratch,
        })
    }

    /// Close the pool, waiting for connections in use (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Run a `SELECT` statement; each row through `row`.
    async fn fetch<T>(&self, st: sql::Statement, row: fn(&SqliteRow) -> T) -> Result<Vec<T>> {
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

fn audit_entry(row: &SqliteRow) -> AuditEntry {
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
const READ: &str = "SELECT ty, id, version, last_updated, deleted, body FROM resource_versions \
                    WHERE ty = ?1 AND id = ?2 ORDER BY version DESC LIMIT 1";
const VREAD: &str = "SELECT ty, id, version, last_updated, deleted, body FROM resource_versions \
                     WHERE ty = ?1 AND id = ?2 AND version = ?3";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn read(&self, ty: &str, id: &str) -> Result<Option<Record>> {
        self.readers.one(READ, (ty, id))
    }

    async fn vread(&self, ty: &str, id: &str, version: i64) -> Result<Option<Record>> {
        self.readers.one(VREAD, (ty, id, version))
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
        sql::page(query, &sql::SQLITE, |st| self.fetch(st, record)).await
    }

    async fn count(&self, query: &Query) -> Result<u64> {
        self.count_rows(sql::count(query, &sql::SQLITE)).await
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
                audit: Vec::new(),
                reply: tx,
            })
            .await
            .map_err(|_| Error::Backend("the store is closed".into()))?;
        rx.await
            .map_err(|_| Error::Backend("the store's writer stopped".into()))?
    }

    async fn audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job {
                writes: Vec::new(),
                now: 0,
                remember: Vec::new(),
                audit: entries,
                reply: tx,
            })
            .await
            .map_err(|_| Error::Backend("the store is closed".into()))?;
        rx.await
            .map_err(|_| Error::Backend("the store's writer stopped".into()))?
            .map(|_| ())
    }

    async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage> {
        sql::audit_page(query, &sql::SQLITE, |st| self.fetch(st, audit_entry)).await
    }

    async fn audit_count(&self, query: &AuditQuery) -> Result<u64> {
        self.count_rows(sql::audit_count(query, &sql::SQLITE)).await
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
