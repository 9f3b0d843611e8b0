//! AuditEvents: one for every read and write of a resource (who, what, when, outcome),
//! stored as FHIR `AuditEvent` resources and searchable like any other. Requests hand their
//! event to a background task that commits them in batches, so auditing costs a request a
//! channel send, not a disk sync.

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
const BATCH: usize = 256;
const WAIT: Duration = Duration::from_millis(50);

impl Auditor {
    /// Start the writer on the current tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        validator: Arc<spfhir_validate::Validator>,
        search: Arc<crate::search::SearchParams>,
    ) -> Auditor {
        let (tx, mut rx) = mpsc::channel::<Msg>(8192);
        tokio::spawn(async move {
            let mut msgs = Vec::with_capacity(BATCH);
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
                if !writes.is_empty()
                    && let Err(e) = store.commit(writes, now).await
                {
                    tracing::error!(error = %e, "audit events could not be stored");
                }
                for done in flushed {
                    let _ = done.send(());
                }
            }
        });
        Auditor { tx }
    }

    /// Record an event (never blocks a request: if the queue is full, the event is logged
    /// as dropped, with no identifiers).
    pub fn record(&self, e: Event) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Msg::Event(e)) {
            tracing::warn!("audit queue full: an audit event was dropped");
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
