//! The one writer: a thread of its own holding a rusqlite connection. It takes the commits
//! waiting, applies them all in one transaction, and commits them with one sync, so
//! concurrent writers share a sync as Blaze's group commit does. When one of them fails
//! (a version conflict), the transaction is begun again with each commit under its own
//! savepoint, so only the failing one is rolled back ([`apply_batch`]).
//!
//! Why not sqlx here too: every sqlx statement is a round trip between the async caller and
//! sqlx's SQLite thread, and a create is about a dozen statements (the resource, its version,
//! its index rows, its audit entry). Run in the thread that owns the
//! connection, with prepared statements kept, the statements cost what SQLite costs. Reads
//! stay on sqlx's pool. Both crates link the same `libsqlite3-sys`.
//!
//! Invariant: a caller's reply is sent only after the transaction holding its writes has
//! committed (or failed); nothing is acknowledged before it is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use spfhir_store::{AuditEntry, Error, Record, Remembered, Result, Write};
use tokio::sync::{mpsc, oneshot};

/// One caller's commit, waiting for the writer.
pub(crate) struct Job {
    pub writes: Vec<Write>,
    pub now: i64,
    /// Responses to remember with the writes (`Store::commit_remembering`).
    pub remember: Vec<(String, Remembered)>,
    /// Entries to append to the audit log.
    pub audit: Vec<AuditEntry>,
    pub reply: oneshot::Sender<Result<Vec<Record>>>,
}

/// Commits at most this many callers' writes in one transaction (one disk sync).
const GROUP: usize = 128;

fn backend(e: rusqlite::Error) -> Error {
    Error::Backend(e.to_string())
}

/// Open the writer's connection to `file` (already migrated) and start its thread. `sync`:
/// `synchronous = FULL` (every commit on disk before its reply), else `OFF` (scratch stores).
pub(crate) fn spawn(file: &std::path::Path, sync: bool) -> Result<mpsc::Sender<Job>> {
    let conn = Connection::open(file).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    conn.execute_batch(if sync {
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;"
    })
    .map_err(backend)?;
    // - The page cache holds the index pages inserts land on (up to 64 MB, grown as used);
    //   without it each commit reads them back from the OS.
    // - Savepoints journal the pages they change: in memory, not in a temporary file.
    // - Checkpoints (copying the WAL into the database file) run on their own thread, not
    //   inside a commit, where they were a quarter of the writer's time (see `checkpointer`).
    conn.execute_batch(
        "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; \
         PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 0;",
    )
    .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(32);
    let checkpoints = Connection::open(file).map_err(backend)?;
    checkpoints
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    let (tick, ticks) = std::sync::mpsc::sync_channel(1);
    let restart = Arc::new(AtomicBool::new(false));
    let wanted = restart.clone();
    std::thread::Builder::new()
        .name("spfhir-sqlite-checkpoint".into())
        .spawn(move || checkpointer(checkpoints, ticks, wanted))
        .map_err(|e| Error::Backend(format!("cannot start the SQLite checkpointer: {e}")))?;
    let (tx, rx) = mpsc::channel(1024);
    std::thread::Builder::new()
        .name("spfhir-sqlite-writer".into())
        .spawn(move || run(conn, rx, tick, restart))
        .map_err(|e| Error::Backend(format!("cannot start the SQLite writer: {e}")))?;
    Ok(tx)
}

/// WAL pages past which the checkpointer asks the writer to start the WAL again.
const RESTART_AT: i64 = 10_000;

/// Copy committed WAL frames into the database file after commits, without blocking the
/// writer (`PASSIVE`), at most fifty times a second. A passive checkpoint cannot let the WAL
/// start again while writes go on, so past [`RESTART_AT`] pages it asks the writer to run a
/// `RESTART` checkpoint between two commits (by then with little left to copy). When the
/// writer stops, one last `TRUNCATE` checkpoint leaves the WAL empty.
fn checkpointer(conn: Connection, ticks: std::sync::mpsc::Receiver<()>, restart: Arc<AtomicBool>) {
    while ticks.recv().is_ok() {
        let log: i64 = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap_or(0);
        if log > RESTART_AT {
            restart.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// The writer's loop, until every sender is gone. `tick` tells the checkpointer that
/// something was committed; `restart` is its request for a `RESTART` checkpoint.
fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    tick: std::sync::mpsc::SyncSender<()>,
    restart: Arc<AtomicBool>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(GROUP);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = run_cached(&conn, "BEGIN IMMEDIATE") {
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(e.clone()));
            }
            continue;
        }
        let results: Vec<Result<Vec<Record>>> = match apply_batch(&conn, &batch) {
            Ok(Some(results)) => results.into_iter().map(Ok).collect(),
            Ok(None) => batch.iter().map(|job| one_job(&conn, job)).collect(),
            Err(e) => {
                // Rolled back and not begun again: nothing of this batch is stored.
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
                continue;
            }
        };
        match run_cached(&conn, "COMMIT") {
            Ok(()) => {
                for (job, r) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(r);
                }
                let _ = tick.try_send(());
                if restart.swap(false, Ordering::Relaxed) {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The fast path: every job of the batch applied in the open transaction with no
/// savepoint, since a savepoint copies each page a job touches before changing it (in a
/// group of jobs, mostly the same index pages again and again). `None` when a job fails:
/// the transaction is rolled back (in WAL mode, by forgetting its frames) and begun again,
/// and the caller applies the jobs one savepoint each, so one failure never fails another.
/// `Err` when the transaction could not be begun again (it is rolled back: nothing of
/// the batch is stored).
fn apply_batch(conn: &Connection, batch: &[Job]) -> Result<Option<Vec<Vec<Record>>>> {
    if batch.len() == 1 {
        return Ok(None); // one job: its own savepoint costs no more
    }
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        match apply_job(conn, job) {
            Ok(records) => out.push(records),
            Err(_) => {
                run_cached(conn, "ROLLBACK")?;
                run_cached(conn, "BEGIN IMMEDIATE")?;
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}

/// One caller's writes, then the responses to remember and the audit entries with them.
fn apply_job(conn: &Connection, job: &Job) -> Result<Vec<Record>> {
    let records = apply(conn, &job.writes, job.now)?;
    remember(conn, &job.remember)?;
    audit(conn, &job.audit)?;
    Ok(records)
}

/// Append entries to the audit log, each `recorded` no earlier than the entry before it
/// ([`spfhir_store::sql::recorded_in_order`]).
fn audit(conn: &Connection, entries: &[AuditEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let last: Option<i64> = conn
        .prepare_cached(spfhir_store::sql::AUDIT_LAST_RECORDED)
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(backend)?;
    let mut insert = conn
        .prepare_cached(&spfhir_store::sql::audit_insert(
            spfhir_store::sql::question,
        ))
        .map_err(backend)?;
    for (e, recorded) in entries
        .iter()
        .zip(spfhir_store::sql::recorded_in_order(last, entries))
    {
        insert
            .execute(params![
                recorded,
                e.interaction,
                e.action,
                e.entity,
                e.who,
                e.certificate,
                e.status
            ])
            .map_err(backend)?;
    }
    Ok(())
}

/// Store the responses to remember with a job's writes.
fn remember(conn: &Connection, remember: &[(String, Remembered)]) -> Result<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO remembered (key, status, body) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .map_err(backend)?;
    for (key, response) in remember {
        insert
            .execute(params![key, i64::from(response.status), response.body])
            .map_err(backend)?;
    }
    Ok(())
}

/// One caller's writes (and responses to remember) under a savepoint: all applied, or none.
fn one_job(conn: &Connection, job: &Job) -> Result<Vec<Record>> {
    run_cached(conn, "SAVEPOINT job")?;
    match apply_job(conn, job) {
        Ok(records) => run_cached(conn, "RELEASE job").map(|()| records),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

/// Run a statement without parameters, prepared once (transaction control runs for every
/// commit, and `execute_batch` would parse it every time).
fn run_cached(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute([]))
        .map(|_| ())
        .map_err(backend)
}

/// Apply one commit's writes, inside the transaction the writer holds.
fn apply(conn: &Connection, writes: &[Write], now: i64) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        let current: Option<(i64, bool)> = conn
            .prepare_cached("SELECT version, deleted FROM resources WHERE ty = ?1 AND id = ?2")
            .map_err(backend)?
            .query_row(params![w.ty, w.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(backend)?;
        let Some(version) = spfhir_store::next_version(current, w)? else {
            out.push(Record {
                ty: w.ty.clone(),
                id: w.id.clone(),
                version: current.map_or(0, |c| c.0),
                last_updated: now,
                deleted: true,
                body: String::new(),
            });
            continue;
        };
        let deleted = w.body.is_none();
        let body = w.body.as_deref().unwrap_or_default();
        conn.prepare_cached(
            "INSERT INTO resource_versions (ty, id, version, last_updated, deleted, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?
        .execute(params![w.ty, w.id, version, now, deleted, body])
        .map_err(backend)?;
        conn.prepare_cached(
            "INSERT INTO resources (ty, id, version, last_updated, deleted) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (ty, id) DO UPDATE SET version = excluded.version, \
             last_updated = excluded.last_updated, deleted = excluded.deleted",
        )
        .map_err(backend)?
        .execute(params![w.ty, w.id, version, now, deleted])
        .map_err(backend)?;
        // A resource that never existed has no index rows to remove.
        if current.is_some() {
            conn.prepare_cached("DELETE FROM search_index WHERE ty = ?1 AND id = ?2")
                .map_err(backend)?
                .execute(params![w.ty, w.id])
                .map_err(backend)?;
        }
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO search_index (ty, id, param, n, kind, system, value, low, high) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(backend)?;
        // `n` tells a resource's rows apart (the table's key is (ty, id, param, n)).
        for (n, row) in w.index.iter().enumerate() {
            let (kind, system, value, low, high) = row.columns();
            insert
                .execute(params![
                    w.ty, w.id, row.param, n as i64, kind, system, value, low, high
                ])
                .map_err(backend)?;
        }
        out.push(Record {
            ty: w.ty.clone(),
            id: w.id.clone(),
            version,
            last_updated: now,
            deleted,
            body: body.to_owned(),
        });
    }
    Ok(out)
}
