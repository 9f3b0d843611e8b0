//! The audit log: an entry for every read and write of a resource (who, what, when,
//! outcome), kept by the store in a log of its own ([`Store::audit`]) and served as FHIR
//! `AuditEvent` resources, read and searched like any other (`service/audit.rs`). Requests
//! hand their entry to a background task that appends them in batches, so auditing costs a
//! request a channel send, not a disk sync. No entry is dropped: a full queue makes requests
//! wait.
//!
//! Why a log and not AuditEvent resources: one is written for every read. As a resource, an
//! entry was a version row, a current row and eight index rows (about twenty-two b-tree
//! inserts, after FHIRPath extracted the index values), and at full load the store's
//! writer, storing them, set the pace of reads. As a log row it is four inserts.

use std::sync::Arc;
use std::time::Duration;

use spfhir_element::Json;
use spfhir_store::{AuditEntry, AuditField, AuditMatch, AuditQuery, Record, Store};
use tokio::sync::mpsc;

use crate::dates;
use crate::error::ApiError;

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

impl Event {
    fn entry(self) -> AuditEntry {
        AuditEntry {
            seq: 0,
            recorded: self.at,
            interaction: self.interaction.to_owned(),
            action: self.action.to_owned(),
            entity: self.entity,
            who: self.who,
            certificate: self.certificate,
            status: i64::from(self.status),
        }
    }
}

/// What the writer task is sent.
enum Msg {
    Event(Event),
    /// Store everything before this, then answer.
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
    pub fn start(store: Arc<dyn Store>) -> Auditor {
        Auditor::start_with_queue(store, QUEUE, WAIT)
    }

    /// [`Auditor::start`] with a queue of `queue` events and a wait of `wait` to fill a batch
    /// (tests make both tiny, so requests meet a full queue and batches go at once).
    fn start_with_queue(store: Arc<dyn Store>, queue: usize, wait: Duration) -> Auditor {
        let (tx, mut rx) = mpsc::channel::<Msg>(queue);
        tokio::spawn(async move {
            let mut msgs = Vec::with_capacity(BATCH);
            // The batch being appended while the next one gathers: the store's writer and
            // the requests work at once.
            let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
            loop {
                if rx.recv_many(&mut msgs, BATCH).await == 0 {
                    break; // every sender is gone: the server has stopped
                }
                // A short wait gathers what arrives meanwhile into the same commit.
                if msgs.len() < BATCH && !msgs.iter().any(|m| matches!(m, Msg::Flush(_))) {
                    tokio::time::sleep(wait).await;
                    while msgs.len() < BATCH {
                        match rx.try_recv() {
                            Ok(m) => msgs.push(m),
                            Err(_) => break,
                        }
                    }
                }
                let mut entries = Vec::with_capacity(msgs.len());
                let mut flushed = Vec::new();
                for m in msgs.drain(..) {
                    match m {
                        Msg::Event(e) => entries.push(e.entry()),
                        Msg::Flush(done) => flushed.push(done),
                    }
                }
                // One batch in flight at a time: batches are stored in order.
                if let Some(previous) = in_flight.take() {
                    let _ = previous.await;
                }
                let store = store.clone();
                let append = tokio::spawn(async move {
                    let n = entries.len();
                    if n > 0
                        && let Err(e) = store.audit(entries).await
                    {
                        tracing::error!(error = %e, entries = n, "audit entries could not be stored");
                    }
                });
                if flushed.is_empty() {
                    in_flight = Some(append);
                } else {
                    let _ = append.await;
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

/// The AuditEvent resource an entry of the log is (R4: type `rest`, subtype the
/// interaction), with its `seq` as its id and its one version.
pub fn resource(e: &AuditEntry) -> Record {
    let outcome = match e.status {
        200..=399 => "0",
        400..=499 => "4",
        _ => "8",
    };
    let mut json = Json::obj()
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
                    .with("code", e.interaction.as_str()),
            ),
        )
        .with("action", e.action.as_str())
        .with("recorded", dates::instant(e.recorded).as_str())
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
        );
    let id = e.seq.to_string();
    let body = crate::resource::stamp(&mut json, &id, 1, e.recorded);
    Record {
        ty: crate::AUDIT_TYPE.to_owned(),
        id,
        version: 1,
        last_updated: e.recorded,
        deleted: false,
        body,
    }
}

/// The requesting agent: the token's client, and on a mutual-TLS connection the subject of
/// the client's certificate as its alternative identity.
fn agent(e: &AuditEntry) -> Json {
    let who = Json::obj().with(
        "who",
        Json::obj().with("identifier", Json::obj().with("value", e.who.as_str())),
    );
    let who = match &e.certificate {
        Some(subject) => who.with("altId", format!("{CERTIFICATE}{subject}").as_str()),
        None => who,
    };
    who.with("requestor", true)
}

/// What an agent's `altId` says before a certificate's subject.
pub const CERTIFICATE: &str = "certificate ";

/// The search parameters of the audit log, R4's AuditEvent parameters that its columns
/// answer: (code, type, what it matches). `/metadata` lists these.
pub const PARAMS: &[(&str, &str, &str)] = &[
    ("_id", "token", "the entry"),
    ("_lastUpdated", "date", "when it was recorded (as date)"),
    ("date", "date", "when it was recorded"),
    (
        "entity",
        "reference",
        "the resource read or written, as Type/id",
    ),
    ("patient", "reference", "the Patient read or written"),
    (
        "agent",
        "reference",
        "agent:identifier=the client that asked (agents have no references)",
    ),
    ("altid", "token", "the subject of the client's certificate"),
    ("action", "token", "C, R, U, D or E"),
    (
        "subtype",
        "token",
        "the interaction (read, create, search-type…)",
    ),
    (
        "outcome",
        "token",
        "0 success, 4 the client's error, 8 the server's",
    ),
    ("type", "token", "always rest"),
];

const INTERACTION_SYSTEM: &str = "http://hl7.org/fhir/restful-interaction";
const TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";

/// A search of the audit log from a URL's parameters; `true` when only the count is asked
/// for. Unknown parameters are an error (400) unless `lenient`.
pub fn parse_query(
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<(AuditQuery, bool), ApiError> {
    let mut q = AuditQuery {
        count: crate::search::DEFAULT_COUNT,
        ..AuditQuery::default()
    };
    let mut count_only = false;
    for (name, value) in pairs {
        let (code, modifier) = match name.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (name.as_str(), None),
        };
        let known = PARAMS.iter().any(|(c, _, _)| *c == code);
        let modifier_ok = match (code, modifier) {
            (_, None) | ("agent", Some("identifier")) => true,
            ("entity", Some(t)) => t.starts_with(|c: char| c.is_ascii_uppercase()),
            _ => false,
        };
        if known && !modifier_ok {
            return Err(ApiError::bad_request(format!(
                "the :{} modifier is not supported on {code} here",
                modifier.unwrap_or_default()
            )));
        }
        let values = || value.split(',').filter(|v| !v.is_empty());
        let token = |v: &str| match v.split_once('|') {
            Some((system, code)) => (Some(system.to_owned()), code.to_owned()),
            None => (None, v.to_owned()),
        };
        let text = |f: AuditField, v: String| AuditMatch::Text(f, v);
        let clause: Vec<AuditMatch> = match code {
            "_count" => {
                q.count = crate::search::parse_count(value)?;
                continue;
            }
            "_sort" => {
                q.newest_first = match value.as_str() {
                    "_id" | "date" | "_lastUpdated" => false,
                    "-_id" | "-date" | "-_lastUpdated" => true,
                    _ => {
                        return Err(ApiError::bad_request(
                            "AuditEvents sort by date (_id, date or _lastUpdated), oldest or newest (-date) first",
                        ));
                    }
                };
                continue;
            }
            "_summary" => {
                match value.as_str() {
                    "count" => count_only = true,
                    "false" => {}
                    _ => return Err(ApiError::bad_request("_summary supports count and false")),
                }
                continue;
            }
            "_cursor" => {
                let seq = value
                    .split_once('.')
                    .and_then(|(_, seq)| seq.parse().ok())
                    .ok_or_else(|| ApiError::bad_request("_cursor is not one this server gave"))?;
                q.after = Some(seq);
                continue;
            }
            "_total" | "_format" | "_pretty" | "_elements" => continue,
            "_id" => values()
                .map(|v| AuditMatch::Seq(v.parse().unwrap_or(-1)))
                .collect(),
            "_lastUpdated" | "date" => values()
                .map(|v| {
                    let (prefix, low, high) = crate::search::date_value(v)?;
                    Ok(AuditMatch::Recorded(prefix, low, high))
                })
                .collect::<Result<_, ApiError>>()?,
            "entity" | "patient" => values()
                .map(|v| {
                    let target = match modifier {
                        Some(t) if !v.contains('/') => format!("{t}/{v}"),
                        _ if v.contains('/') => crate::search::local_reference(v),
                        _ if code == "patient" => format!("Patient/{v}"),
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "entity={v}: give the reference as Type/id"
                            )));
                        }
                    };
                    if code == "patient" && !target.starts_with("Patient/") {
                        return Err(ApiError::bad_request(format!(
                            "patient={v}: a patient is a Patient/id"
                        )));
                    }
                    Ok(text(AuditField::Entity, target))
                })
                .collect::<Result<_, ApiError>>()?,
            // Agents are named by identifier (the token's client), never by reference: a
            // reference matches none.
            "agent" if modifier.is_none() => Vec::new(),
            "agent" => values()
                .map(|v| text(AuditField::Who, token(v).1))
                .collect(),
            "altid" => values()
                .map(|v| {
                    let v = token(v).1;
                    let subject = v.strip_prefix(CERTIFICATE).unwrap_or(&v).to_owned();
                    text(AuditField::Certificate, subject)
                })
                .collect(),
            "action" => values()
                .map(|v| text(AuditField::Action, token(v).1))
                .collect(),
            "subtype" => values()
                .filter_map(|v| match token(v) {
                    (Some(system), _) if system != INTERACTION_SYSTEM => None,
                    (_, code) => Some(text(AuditField::Interaction, code)),
                })
                .collect(),
            "outcome" => values()
                .flat_map(|v| match token(v).1.as_str() {
                    "0" => vec![AuditMatch::Status(200, 399)],
                    "4" => vec![AuditMatch::Status(400, 499)],
                    "8" => vec![
                        AuditMatch::Status(i64::MIN, 199),
                        AuditMatch::Status(500, i64::MAX),
                    ],
                    _ => Vec::new(),
                })
                .collect(),
            "type" => {
                // Every entry is a RESTful operation: `rest` matches all, anything else none.
                if values().any(|v| {
                    let (system, code) = token(v);
                    code == "rest" && system.as_deref().is_none_or(|s| s == TYPE_SYSTEM)
                }) {
                    continue;
                }
                Vec::new()
            }
            _ if lenient => continue,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "AuditEvent has no search parameter {code} here (it has {}; send Prefer: handling=lenient to ignore unknown parameters)",
                    PARAMS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        q.clauses.push(clause);
    }
    Ok((q, count_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_makes_requests_wait_and_no_event_is_lost() {
        let store: Arc<dyn Store> = Arc::new(
            spfhir_store_sqlite::SqliteStore::open(":memory:")
                .await
                .unwrap(),
        );
        // A queue of one: nearly every record meets it full and waits.
        let auditor = Auditor::start_with_queue(store.clone(), 1, Duration::from_millis(1));
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
        let query = AuditQuery {
            count: 10_000,
            ..Default::default()
        };
        let stored = store.audit_search(&query).await.unwrap().entries;
        assert_eq!(stored.len(), 16 * 40);
        let mut entities: Vec<&str> = stored.iter().map(|e| e.entity.as_str()).collect();
        entities.sort();
        entities.dedup();
        assert_eq!(entities.len(), 16 * 40, "every event once");
    }

    #[test]
    fn an_entry_is_an_audit_event() {
        let entry = AuditEntry {
            seq: 42,
            recorded: 1_700_000_000_000_000,
            interaction: "read".into(),
            action: "R".into(),
            entity: "Patient/p1".into(),
            who: "client-1".into(),
            certificate: Some("CN=gp".into()),
            status: 404,
        };
        let r = resource(&entry);
        assert_eq!((r.id.as_str(), r.version), ("42", 1));
        let json = spfhir_element::parse(&r.body).unwrap();
        assert_eq!(json.get_str("id"), Some("42"));
        assert_eq!(json.get_str("outcome"), Some("4"));
        assert_eq!(
            json.get_str("recorded"),
            Some("2023-11-14T22:13:20.000+00:00")
        );
        let agent = &json.get("agent").unwrap().as_array().unwrap()[0];
        assert_eq!(agent.get_str("altId"), Some("certificate CN=gp"));
    }
}
