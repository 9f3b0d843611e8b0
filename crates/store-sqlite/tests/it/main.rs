//! The shared store suite against SQLite: in memory, and in a file reopened (migrations
//! run once, data kept).

use spfhir_store::Store;
use spfhir_store_sqlite::SqliteStore;

#[tokio::test]
async fn the_store_suite_in_memory() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    spfhir_store::suite::run(&store).await;
}

#[tokio::test]
async fn a_file_keeps_its_data_across_opens() {
    let dir = std::env::temp_dir().join(format!("spfhir-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.db");
    let _ = std::fs::remove_file(&path);
    let path = path.display().to_string();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        spfhir_store::suite::run(&store).await;
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let r = store.read("Observation", "o1").await.unwrap().unwrap();
    assert_eq!(r.version, 2);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store from before the audit log kept its AuditEvents as resources; opening it moves
/// them into the log (migration 6, run again here on a store rolled back to before it).
#[tokio::test]
async fn audit_events_stored_as_resources_move_into_the_log() {
    use spfhir_store::suite::{LEGACY_AUDIT_AT, LEGACY_AUDIT_EVENT, legacy_audit_moved};
    use spfhir_store::{IndexRow, Write};
    let dir = std::env::temp_dir().join(format!("spfhir-sqlite-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("old.db").display().to_string();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        let index = vec![IndexRow::reference("entity", "Patient/p9")];
        store
            .commit(
                vec![Write::put("AuditEvent", "ae1", LEGACY_AUDIT_EVENT, index)],
                LEGACY_AUDIT_AT,
            )
            .await
            .unwrap();
        store.close().await;
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE audit_log; DELETE FROM _sqlx_migrations WHERE version = 6;")
            .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    legacy_audit_moved(&store).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Commits from many tasks at once go through one writer in groups: every independent one
/// succeeds, and of several updates of one version exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_are_grouped_and_still_exclusive() {
    use spfhir_store::{Error, Write};
    let store = std::sync::Arc::new(SqliteStore::open(":memory:").await.unwrap());
    store
        .commit(vec![Write::put("Goal", "shared", "{}", vec![])], 1)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 20 == 0 {
                s.commit(
                    vec![Write::put("Goal", "shared", "{\"v\":2}", vec![]).expecting(1)],
                    2,
                )
                .await
            } else {
                s.commit(
                    vec![Write::put("Goal", &format!("g{i}"), "{}", vec![]).expecting(0)],
                    2,
                )
                .await
            }
        }));
    }
    let mut created = 0;
    let (mut won, mut conflicts) = (0, 0);
    for (i, t) in tasks.into_iter().enumerate() {
        match (i % 20 == 0, t.await.unwrap()) {
            (false, Ok(_)) => created += 1,
            (true, Ok(_)) => won += 1,
            (true, Err(Error::Conflict { .. })) => conflicts += 1,
            (_, r) => panic!("task {i}: {r:?}"),
        }
    }
    assert_eq!((created, won, conflicts), (190, 1, 9));
    assert_eq!(
        store.read("Goal", "shared").await.unwrap().unwrap().version,
        2
    );
    assert_eq!(
        store
            .count(&spfhir_store::Query::new("Goal"))
            .await
            .unwrap(),
        191
    );
}
