//! AuditEvents: one for every read and write of a resource (who, what, when, outcome),
//! stored as FHIR `AuditEvent` resources and searchable like any other. Requests hand their
//! event to a background task that commits them in batches, so auditing costs a request a
//! channel send, not a disk sync. No event is dropped: a full queue makes requests wait.

use std::sync::Arc;
use std::time::Duration;

use spfhir_element::Json;
use spfhir_store::{Store, Write};
use tokio::sync::mpsc;

use crate::dates;

/// One audited request.
#[derive(Debug)]
pub struct Event {
    /// The RESTful interaction (`read`, `create`, `search-type`…).
    pub interaction: &'static str,
    /// C, R, U, D or E (execute).
    pub action: &'static str,
    /// `Type/id` or `Type`.
    pub entity: String,
    /// The token's client (`sub`/`client_id`), or `anonymous`.
    pub who: String,
    /// The subject of the client's certificate, on a mutual-TLS connection.
    pub certificate: Option<String>,
    pub status: u16,
    pub at: i64,
}

/// What the writer task is sent.
enum Msg {
    Event(Event),
    /// Commit everything before this, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Hands events to the writer task.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Msg>,
}

/// Events a batch holds at most, and how long the writer waits to fill one.
const BATCH: usize = 1024;
const WAIT: Duration = Duration::from_millis(50);
/// Events waiting to be stored, at most; past it, requests wait ([`Auditor::record`]).
const QUEUE: usize = 8192;

impl Auditor {
    /// Start the writer on the current tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        validator: Arc<spfhir_validate::Validator>,
        search: Arc<crate::search::SearchParams>,
    ) -> Auditor {
        Auditor::start_with_queue(store, validator, search, QUEUE)
    }

    /// [`Auditor::start`] with a queue of `queue` events (tests make it tiny, so requests
    /// meet a full queue).
    fn start_with_queue(
        store: Arc<dyn Store>,
        validator: Arc<spfhir_validate::Validator>,
        search: Arc<crate::search::SearchParams>,
        queue: usize,
    ) -> Auditor {
        let (tx, mut rx) = mpsc::channel::<Msg>(queue);
        tokio::spawn(async move {
            let mut msgs = Vec::with_capacity(BATCH);
            // The batch being committed while the next one is built (its events turned into
            // resources and index rows): the store's writer and this task work at once.
            let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
            loop {
                if rx.recv_many(&mut msgs, BATCH).await == 0 {
                    break; // every sender is gone: the server has stopped
                }
                // A short wait gathers what arrives meanwhile into the same commit.
                if msgs.len() < BATCH && !msgs.iter().any(|m| matches!(m, Msg::Flush(_))) {
                    tokio::time::sleep(WAIT).await;
                    while msgs.len() < BATCH {
                        match rx.try_recv() {
                            Ok(m) => msgs.push(m),
                            Err(_) => break,
                        }
                    }
                }
                let now = dates::now_micros();
                let mut writes = Vec::new();
                let mut flushed = Vec::new();
                for m in msgs.drain(..) {
                    match m {
                        Msg::Event(e) => {
                            let id = crate::resource::new_id();
                            let mut json = event_json(&e);
                            let body = crate::resource::stamp(&mut json, &id, 1, now);
                            let index = search.extract("AuditEvent", &json, validator.model());
                            writes.push(Write::put("AuditEvent", &id, &body, index).expecting(0));
                        }
                        Msg::Flush(done) => flushed.push(done),
                    }
                }
                // One batch in flight at a time: batches are stored in order.
                if let Some(previous) = in_flight.take() {
                    let _ = previous.await;
                }
                let store = store.clone();
                let commit = tokio::spawn(async move {
                    if !writes.is_empty()
                        && let Err(e) = store.commit(writes, now).await
                    {
                        tracing::error!(error = %e, "audit events could not be stored");
                    }
                });
                if flushed.is_empty() {
                    in_flight = Some(commit);
                } else {
                    let _ = commit.await;
                    for done in flushed {
                        let _ = done.send(());
                    }
                }
            }
            if let Some(last) = in_flight {
                let _ = last.await;
            }
        });
        Auditor { tx }
    }

    /// Record an event. Never dropped: when the queue is full (the store is behind), the
    /// request waits for room before its response goes out, so a client that reads faster
    /// than its reads can be audited is slowed to that pace rather than left unaudited.
    pub async fn record(&self, e: Event) {
        if self.tx.send(Msg::Event(e)).await.is_err() {
            // Only when the writer task has stopped, i.e. the server is shutting down.
            tracing::error!("the audit writer has stopped: an audit event was not stored");
        }
    }

    /// Wait until every event recorded so far is stored (graceful shutdown).
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// The AuditEvent resource for an event (R4: type `rest`, subtype the interaction).
fn event_json(e: &Event) -> Json {
    let outcome = match e.status {
        200..=399 => "0",
        400..=499 => "4",
        _ => "8",
    };
    Json::obj()
        .with("resourceType", "AuditEvent")
        .with(
            "type",
            Json::obj()
                .with(
                    "system",
                    "http://terminology.hl7.org/CodeSystem/audit-event-type",
                )
                .with("code", "rest")
                .with("display", "RESTful Operation"),
        )
        .with(
            "subtype",
            Json::arr().item(
                Json::obj()
                    .with("system", "http://hl7.org/fhir/restful-interaction")
                    .with("code", e.interaction),
            ),
        )
        .with("action", e.action)
        .with("recorded", dates::instant(e.at).as_str())
        .with("outcome", outcome)
        .with("outcomeDesc", format!("HTTP {}", e.status).as_str())
        .with("agent", Json::arr().item(agent(e)))
        .with(
            "source",
            Json::obj().with("observer", Json::obj().with("display", "spfhir")),
        )
        .with(
            "entity",
            Json::arr()
                .item(Json::obj().with("what", Json::obj().with("reference", e.entity.as_str()))),
        )
}

/// The requesting agent: the token's client, and on a mutual-TLS connection the subject of
/// the client's certificate as its alternative identity.
fn agent(e: &Event) -> Json {
    let who = Json::obj().with(
        "who",
        Json::obj().with("identifier", Json::obj().with("value", e.who.as_str())),
    );
    let who = match &e.certificate {
        Some(subject) => who.with("altId", format!("certificate {subject}").as_str()),
        None => who,
    };
    who.with("requestor", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_makes_requests_wait_and_no_event_is_lost() {
        let options = spfhir_conformance::package::LoadOptions {
            package_path: vec![spfhir_testkit::shared_dir().join("fhir")],
            ..Default::default()
        };
        let registry = Arc::new(spfhir_conformance::package::load(&options).unwrap());
        let validator = Arc::new(spfhir_validate::Validator::new(
            registry,
            spfhir_validate::Options::default(),
        ));
        let search = Arc::new(crate::search::SearchParams::load(
            validator.registry(),
            &["AuditEvent"],
        ));
        let store: Arc<dyn Store> = Arc::new(
            spfhir_store_sqlite::SqliteStore::open(":memory:")
                .await
                .unwrap(),
        );
        // A queue of one: nearly every record meets it full and waits.
        let auditor = Auditor::start_with_queue(store.clone(), validator, search, 1);
        let clients: Vec<_> = (0..16)
            .map(|c| {
                let auditor = auditor.clone();
                tokio::spawn(async move {
                    for n in 0..40 {
                        auditor
                            .record(Event {
                                interaction: "read",
                                action: "R",
                                entity: format!("Patient/p{c}-{n}"),
                                who: format!("client-{c}"),
                                certificate: None,
                                status: 200,
                                at: dates::now_micros(),
                            })
                            .await;
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        auditor.flush().await;
        let stored = store.history("AuditEvent", None, 10_000).await.unwrap();
        assert_eq!(stored.len(), 16 * 40);
        let mut entities: Vec<String> = stored
            .iter()
            .map(|r| {
                let json = spfhir_element::parse(&r.body).unwrap();
                json.get("entity").unwrap().as_array().unwrap()[0]
                    .get("what")
                    .unwrap()
                    .get_str("reference")
                    .unwrap()
                    .to_owned()
            })
            .collect();
        entities.sort();
        entities.dedup();
        assert_eq!(entities.len(), 16 * 40, "every event once");
    }
}
