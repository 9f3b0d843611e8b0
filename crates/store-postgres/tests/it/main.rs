//! The shared store suite against a real PostgreSQL (`SPFHIR_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test creates a database of its own
//! and drops it after. Two stores over one database, as two server processes would be,
//! never both win a write to one resource.

use spfhir_store::{Error, Store, Write};
use spfhir_store_postgres::PgStore;
use sqlx::Connection;

fn admin_url() -> String {
    std::env::var("SPFHIR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new, empty database; its URL. Dropped by [`drop_database`].
async fn fresh_database(label: &str) -> (String, String) {
    let name = format!("spfhir_test_{label}_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must be running for these tests ({}): {e}",
                admin_url()
            )
        });
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = admin_url();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    (name, url)
}

async fn drop_database(name: &str) {
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_store_suite() {
    let (name, url) = fresh_database("suite").await;
    let store = PgStore::connect(&url, 4).await.unwrap();
    spfhir_store::suite::run(&store).await;
    store.close().await;
    drop_database(&name).await;
}

/// A store from before the audit log kept its AuditEvents as resources; connecting moves
/// them into the log (migration 4, run again here on a store rolled back to before it).
#[tokio::test]
async fn audit_events_stored_as_resources_move_into_the_log() {
    use spfhir_store::IndexRow;
    use spfhir_store::suite::{LEGACY_AUDIT_AT, LEGACY_AUDIT_EVENT, legacy_audit_moved};
    let (name, url) = fresh_database("legacy_audit").await;
    let store = PgStore::connect(&url, 2).await.unwrap();
    let index = vec![IndexRow::reference("entity", "Patient/p9")];
    store
        .commit(
            vec![Write::put("AuditEvent", "ae1", LEGACY_AUDIT_EVENT, index)],
            LEGACY_AUDIT_AT,
        )
        .await
        .unwrap();
    store.close().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("DROP TABLE audit_log; DELETE FROM _sqlx_migrations WHERE version = 4;")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = PgStore::connect(&url, 2).await.unwrap();
    legacy_audit_moved(&store).await;
    store.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn concurrent_writers_from_two_pools_never_lose_an_update() {
    let (name, url) = fresh_database("race").await;
    let a = std::sync::Arc::new(PgStore::connect(&url, 4).await.unwrap());
    let b = std::sync::Arc::new(PgStore::connect(&url, 4).await.unwrap());
    a.commit(vec![Write::put("ServiceRequest", "sr1", "{}", vec![])], 1)
        .await
        .unwrap();
    // 20 rounds: both writers update version n at once; exactly one may win each round.
    for round in 1..=20i64 {
        let (wa, wb) = (a.clone(), b.clone());
        let w = |tag: &str| {
            Write::put(
                "ServiceRequest",
                "sr1",
                &format!("{{\"by\":\"{tag}\"}}"),
                vec![],
            )
            .expecting(round)
        };
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let w = w("a");
                async move { wa.commit(vec![w], round).await }
            }),
            tokio::spawn({
                let w = w("b");
                async move { wb.commit(vec![w], round).await }
            }),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count();
        assert_eq!(wins, 1, "round {round}: {ra:?} {rb:?}");
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert!(matches!(e, Error::Conflict { .. }), "{e}");
            }
        }
        let current = a.read("ServiceRequest", "sr1").await.unwrap().unwrap();
        assert_eq!(current.version, round + 1);
    }
    assert_eq!(
        a.history("ServiceRequest", Some("sr1"), 100)
            .await
            .unwrap()
            .len(),
        21
    );
    a.close().await;
    b.close().await;
    drop_database(&name).await;
}

/// Several server processes append to one audit log while a reader follows it page by page
/// (`next` links are "after this `seq`"). An entry that took its `seq` before another
/// process's but committed after it would fall behind a reader already past it, so every
/// entry must be visible, in `seq` order, by the time a later one is.
#[tokio::test]
async fn a_reader_following_the_audit_log_misses_no_entry_of_two_writers() {
    use spfhir_store::{AuditEntry, AuditQuery};
    let (name, url) = fresh_database("audit_follow").await;
    let a = std::sync::Arc::new(PgStore::connect(&url, 4).await.unwrap());
    let b = std::sync::Arc::new(PgStore::connect(&url, 4).await.unwrap());
    const WRITERS: usize = 8;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 25;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        writers.push(tokio::spawn(async move {
            for batch in 0..BATCHES {
                let entries = (0..PER_BATCH)
                    .map(|i| AuditEntry {
                        seq: 0,
                        recorded: (batch * PER_BATCH + i) as i64,
                        interaction: "read".into(),
                        action: "R".into(),
                        entity: format!("Patient/w{w}-{batch}-{i}"),
                        who: format!("client-{w}"),
                        certificate: None,
                        status: 200,
                    })
                    .collect();
                store.audit(entries).await.unwrap();
            }
        }));
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut follow = |page: spfhir_store::AuditPage, after: &mut Option<i64>| {
        if let Some(last) = page.entries.last() {
            *after = Some(last.seq);
        }
        seen.extend(page.entries.into_iter().map(|e| e.entity));
    };
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let query = AuditQuery {
            after,
            count: 1_000,
            ..AuditQuery::default()
        };
        let page = a.audit_search(&query).await.unwrap();
        let empty = page.entries.is_empty();
        follow(page, &mut after);
        if done && empty {
            break;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let total = WRITERS * BATCHES * PER_BATCH;
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an entry was read twice");
    assert_eq!(
        seen.len(),
        total,
        "the reader missed {} of {total} entries",
        total - seen.len()
    );
    a.close().await;
    b.close().await;
    drop_database(&name).await;
}
