//! The store interface: versioned FHIR resources, each version kept as the exact JSON text
//! received (decimals and member order intact), with the search index rows the server
//! extracted from it. One trait, [`Store`]; one crate per backend (`spfhir-store-sqlite`,
//! the embedded default, and `spfhir-store-postgres`), each with its own migrations.
//!
//! The store knows nothing about FHIR: the server decides ids, bodies and index rows, and
//! the store keeps them, versions them and answers queries over the rows. Every write goes
//! through [`Store::commit`], which applies a list of writes atomically (a single create
//! is a list of one; a transaction Bundle is a list of many), so a version conflict or any
//! failure leaves nothing changed.
//!
//! ```no_run
//! # async fn demo(store: &dyn spfhir_store::Store) -> Result<(), spfhir_store::Error> {
//! use spfhir_store::{Write, IndexRow, Query, Clause, Match};
//! let body = r#"{"resourceType":"Patient","id":"p1","active":true}"#;
//! let saved = store
//!     .commit(vec![Write::put("Patient", "p1", body, vec![IndexRow::token("active", None, "true")])], 1_700_000_000_000_000)
//!     .await?;
//! assert_eq!(saved[0].version, 1);
//! let page = store
//!     .search(&Query::new("Patient").with(Clause::new("active", Match::Token { system: None, code: "true".into() })))
//!     .await?;
//! assert_eq!(page.records.len(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod sql;
#[cfg(feature = "suite")]
pub mod suite;

use async_trait::async_trait;

/// What a store can fail with.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// A write's expected version is not the current one (If-Match), or another writer
    /// created the same version first.
    #[error("version conflict on {ty}/{id}: expected version {expected:?}, found {found:?}")]
    Conflict {
        ty: String,
        id: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
    /// The database failed (the message is the driver's, with no resource content).
    #[error("store: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One version of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ty: String,
    pub id: String,
    /// 1, 2, 3… per resource.
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub last_updated: i64,
    /// A deletion: `body` is empty.
    pub deleted: bool,
    /// The resource's JSON text as it was stored.
    pub body: String,
}

/// A search index row: one value of one search parameter of one resource version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexRow {
    pub param: String,
    pub value: IndexValue,
}

/// An indexed value, by search parameter kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexValue {
    /// A code with its system (`None`: no system given).
    Token {
        system: Option<String>,
        code: String,
    },
    /// Text, stored normalised (lower case, accents kept) for `:exact`-less matching.
    String(String),
    /// A reference target: `Type/id` for local ones, the URL otherwise.
    Reference(String),
    /// A time range in microseconds since the epoch, both ends inclusive.
    Date { low: i64, high: i64 },
    /// A URI, matched exactly.
    Uri(String),
}

impl IndexRow {
    pub fn token(param: &str, system: Option<&str>, code: &str) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::Token {
                system: system.map(Into::into),
                code: code.into(),
            },
        }
    }
    pub fn string(param: &str, value: &str) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::String(value.into()),
        }
    }
    pub fn reference(param: &str, target: &str) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::Reference(target.into()),
        }
    }
    pub fn date(param: &str, low: i64, high: i64) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::Date { low, high },
        }
    }
    pub fn uri(param: &str, value: &str) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::Uri(value.into()),
        }
    }

    /// The row as the backends' one index table holds it: (kind, system, value, low, high).
    pub fn columns(
        &self,
    ) -> (
        &'static str,
        Option<&str>,
        Option<&str>,
        Option<i64>,
        Option<i64>,
    ) {
        match &self.value {
            IndexValue::Token { system, code } => {
                ("token", system.as_deref(), Some(code), None, None)
            }
            IndexValue::String(s) => ("string", None, Some(s), None, None),
            IndexValue::Reference(r) => ("reference", None, Some(r), None, None),
            IndexValue::Date { low, high } => ("date", None, None, Some(*low), Some(*high)),
            IndexValue::Uri(u) => ("uri", None, Some(u), None, None),
        }
    }
}

/// One write of a [`Store::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub ty: String,
    pub id: String,
    /// The new version's JSON text; `None` deletes.
    pub body: Option<String>,
    pub index: Vec<IndexRow>,
    /// The version the writer expects to be current (If-Match); `Some(0)`: the resource must
    /// not exist yet (a create); `None`: whatever is there.
    pub expect: Option<i64>,
}

impl Write {
    /// Create or replace, whatever is there.
    pub fn put(ty: &str, id: &str, body: &str, index: Vec<IndexRow>) -> Write {
        Write {
            ty: ty.into(),
            id: id.into(),
            body: Some(body.into()),
            index,
            expect: None,
        }
    }
    /// Delete, whatever is there.
    pub fn delete(ty: &str, id: &str) -> Write {
        Write {
            ty: ty.into(),
            id: id.into(),
            body: None,
            index: Vec::new(),
            expect: None,
        }
    }
    pub fn expecting(mut self, version: i64) -> Write {
        self.expect = Some(version);
        self
    }
}

/// The version a write makes, given the resource's current (version, deleted), or `None`
/// when the write changes nothing (deleting what is absent or already deleted). Every
/// backend's `commit` decides with this, so they agree on conflicts.
pub fn next_version(current: Option<(i64, bool)>, w: &Write) -> Result<Option<i64>> {
    let found = current.map(|(v, _)| v);
    let conflict = || Error::Conflict {
        ty: w.ty.clone(),
        id: w.id.clone(),
        expected: w.expect,
        found,
    };
    match (w.expect, current) {
        // A create: nothing there, or only a deletion.
        (Some(0), Some((_, false))) => return Err(conflict()),
        (Some(0), _) => {}
        (Some(e), Some((v, false))) if e == v => {}
        (Some(_), _) => return Err(conflict()),
        (None, _) => {}
    }
    Ok(match (current, &w.body) {
        (None | Some((_, true)), None) => None,
        (None, Some(_)) => Some(1),
        (Some((v, _)), _) => Some(v + 1),
    })
}

/// A comparison of a date parameter, as FHIR's prefixes name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
}

/// What one value of a search parameter must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// `system|code`, `|code` (no system: `Some(None)` is not modelled; use `system: Some("")`),
    /// or `code` (any system: `system: None`).
    Token {
        system: Option<String>,
        code: String,
    },
    /// Starts with (normalised), or equals when `exact`.
    String {
        value: String,
        exact: bool,
    },
    Reference(String),
    /// The resource's range compared with `[low, high]` by `prefix`.
    Date {
        prefix: Prefix,
        low: i64,
        high: i64,
    },
    Uri(String),
}

/// One search parameter: any of its values matches (a comma in the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    pub param: String,
    pub any_of: Vec<Match>,
}

impl Clause {
    pub fn new(param: &str, m: Match) -> Clause {
        Clause {
            param: param.into(),
            any_of: vec![m],
        }
    }
}

/// The order of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// By id (the default: stable while other resources change).
    #[default]
    Id,
    /// Most recently updated first, then by id.
    LastUpdatedDesc,
    /// Least recently updated first, then by id.
    LastUpdatedAsc,
}

/// A search over the current, not deleted, versions of one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub ty: String,
    /// All must match (`AND` between parameters).
    pub clauses: Vec<Clause>,
    /// Only these ids (`_id`), when given.
    pub ids: Option<Vec<String>>,
    /// `_lastUpdated` comparisons (microseconds), all of which must hold.
    pub last_updated: Vec<(Prefix, i64, i64)>,
    pub order: Order,
    /// Results per page.
    pub count: usize,
    /// Where the previous page ended (from [`Page::next`]): results start after it.
    pub after: Option<Cursor>,
}

impl Query {
    pub fn new(ty: &str) -> Query {
        Query {
            ty: ty.into(),
            clauses: Vec::new(),
            ids: None,
            last_updated: Vec::new(),
            order: Order::Id,
            count: 50,
            after: None,
        }
    }
    pub fn with(mut self, c: Clause) -> Query {
        self.clauses.push(c);
        self
    }
}

/// A position in an ordered result: the last record's sort key. Keyset paging: a page
/// never repeats or skips a resource that stays, however others are added or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub last_updated: i64,
    pub id: String,
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<Record>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Cursor>,
    /// How many match in all, when asked for.
    pub total: Option<u64>,
}

/// One entry of the audit log: who did what to which resource, when, and how it ended.
/// The log is kept apart from the resources, append-only: an entry is one narrow row, not
/// a versioned resource with a dozen index rows, since one is written for every read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Given by the store as it appends: unique and increasing. Ignored on entries to append.
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub recorded: i64,
    /// What was done (`read`, `create`, `search-type`…).
    pub interaction: String,
    /// C, R, U, D or E.
    pub action: String,
    /// What it was done to (`Type/id`, or `Type`).
    pub entity: String,
    /// Who did it.
    pub who: String,
    /// The subject of the caller's client certificate, if it gave one.
    pub certificate: Option<String>,
    /// The response's status.
    pub status: i64,
}

/// A column of the audit log a search can compare with text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditField {
    Interaction,
    Action,
    Entity,
    Who,
    Certificate,
}

/// What one value of an audit search must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditMatch {
    /// The field equals the text.
    Text(AuditField, String),
    /// The status is within `[low, high]`.
    Status(i64, i64),
    /// `recorded` (an instant) compared with `[low, high]` by the prefix.
    Recorded(Prefix, i64, i64),
    /// The entry with this `seq`.
    Seq(i64),
}

/// A search of the audit log: every clause must hold, and a clause holds when any of its
/// matches does. Results come in `seq` order, a page at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    pub clauses: Vec<Vec<AuditMatch>>,
    /// Newest first, instead of oldest first.
    pub newest_first: bool,
    /// Results start after this `seq` (the previous page's [`AuditPage::next`]).
    pub after: Option<i64>,
    /// Entries per page.
    pub count: usize,
}

impl Default for AuditQuery {
    fn default() -> AuditQuery {
        AuditQuery {
            clauses: Vec::new(),
            newest_first: false,
            after: None,
            count: 50,
        }
    }
}

/// One page of audit entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, if there may be one.
    pub next: Option<i64>,
}

/// A remembered response to a request that must not be applied twice (a repeated
/// `X-Request-ID`, a message Bundle's identifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    pub status: u16,
    pub body: String,
}

/// A place versioned resources are kept. Implementations are shared between request
/// handlers (`Send + Sync`), and every method is one round of work on the database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name, for logs and `/metadata` (`sqlite`, `postgresql`).
    fn backend(&self) -> &'static str;

    /// The current version of a resource (a deletion included), if it was ever written.
    async fn read(&self, ty: &str, id: &str) -> Result<Option<Record>>;

    /// One version of a resource.
    async fn vread(&self, ty: &str, id: &str, version: i64) -> Result<Option<Record>>;

    /// Versions, newest first: of one resource (`id`), of one type, at most `count`.
    async fn history(&self, ty: &str, id: Option<&str>, count: usize) -> Result<Vec<Record>>;

    /// Current, not deleted, resources of one type matching `query`, a page at a time.
    async fn search(&self, query: &Query) -> Result<Page>;

    /// How many current, not deleted, resources of one type match (`_summary=count`).
    async fn count(&self, query: &Query) -> Result<u64>;

    /// Apply `writes` atomically at time `now` (microseconds): all or none. Each gets the
    /// next version of its resource; the new records come back in order.
    async fn commit(&self, writes: Vec<Write>, now: i64) -> Result<Vec<Record>> {
        self.commit_remembering(writes, now, Vec::new()).await
    }

    /// [`Store::commit`], and in the same transaction remember each `(key, response)` (the
    /// first response remembered under a key stays): a response is remembered exactly when
    /// the writes it reports are stored, so a retry after a crash never applies them twice.
    async fn commit_remembering(
        &self,
        writes: Vec<Write>,
        now: i64,
        remember: Vec<(String, Remembered)>,
    ) -> Result<Vec<Record>>;

    /// A response remembered under `key`.
    async fn recall(&self, key: &str) -> Result<Option<Remembered>>;

    /// Remember a response under `key`; the first one remembered stays.
    async fn remember(&self, key: &str, response: &Remembered) -> Result<()> {
        self.commit_remembering(Vec::new(), 0, vec![(key.to_owned(), response.clone())])
            .await
            .map(|_| ())
    }

    /// Claim `key` until `until` (seconds since the epoch): `true` for the one caller that
    /// claimed it first, `false` for every later one while the claim lasts. Claims are kept
    /// in the database, so every instance sharing it agrees (a token assertion's `jti` is
    /// accepted once across a cluster). Claims past their `until` are forgotten.
    async fn claim(&self, key: &str, until: i64, now: i64) -> Result<bool>;

    /// Append entries to the audit log, all or none; each gets the next `seq`. Appends
    /// share commits (and disk syncs) with other writes.
    async fn audit(&self, entries: Vec<AuditEntry>) -> Result<()>;

    /// A page of the audit entries matching `query`.
    async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage>;

    /// How many audit entries match `query`.
    async fn audit_count(&self, query: &AuditQuery) -> Result<u64>;

    /// Check the database answers (`/readyz`).
    async fn ping(&self) -> Result<()>;
}
