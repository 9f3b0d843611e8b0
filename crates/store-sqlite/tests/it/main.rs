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
