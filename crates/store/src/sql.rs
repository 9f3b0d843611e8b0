//! The SQL both backends share: search queries over the one schema shape their migrations
//! create (`resource_versions`, `resources`, `search_index`, `remembered`), built once with the
//! backend's placeholder style (`?` for SQLite, `$1` for PostgreSQL). Values are always
//! bound, never spliced into the text.

use crate::{
    AuditEntry, AuditField, AuditMatch, AuditPage, AuditQuery, Clause, Cursor, Match, Order, Page,
    Prefix, Query, Record, Result,
};

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// A statement and its values in placeholder order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// How a backend writes its `n`th placeholder (1-based).
pub type Placeholder = fn(usize) -> String;

/// What differs between the backends' SQL: placeholders, and the index hints SQLite needs.
/// Without statistics SQLite's planner may probe a candidate's rows through the value index
/// (reading every row with that parameter) instead of the candidate's own rows, which turned a
/// 1 ms search into a minute; PostgreSQL keeps statistics and takes no hints.
pub struct Dialect {
    pub placeholder: Placeholder,
    /// After `search_index d` when it drives in id order.
    pub driver_hint: &'static str,
    /// After `search_index s` in a probe of one candidate's rows.
    pub probe_hint: &'static str,
    /// Before `s.param` in a probe: SQLite's `+` keeps the planner off the value and date
    /// indexes (whose second column is the parameter), so it probes the candidate's own
    /// rows by the table's key, (ty, id, param, n).
    pub probe_param: &'static str,
    /// The join from the driver to `resources` (SQLite's `CROSS JOIN` keeps the driver outer).
    pub driver_join: &'static str,
}

/// SQLite: `?`, with `INDEXED BY` hints.
pub const SQLITE: Dialect = Dialect {
    placeholder: question,
    driver_hint: " INDEXED BY search_index_value",
    probe_hint: "",
    probe_param: "+",
    driver_join: "CROSS JOIN",
};

/// PostgreSQL: `$n`, no hints.
pub const POSTGRES: Dialect = Dialect {
    placeholder: dollar,
    driver_hint: "",
    probe_hint: "",
    probe_param: "",
    driver_join: "JOIN",
};

/// SQLite's `?`.
pub fn question(_: usize) -> String {
    "?".into()
}

/// PostgreSQL's `$n`.
pub fn dollar(n: usize) -> String {
    format!("${n}")
}

struct Builder {
    sql: String,
    binds: Vec<Bind>,
    ph: Placeholder,
}

impl Builder {
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        (self.ph)(self.binds.len())
    }
    fn text(&mut self, s: &str) -> String {
        self.bind(Bind::Text(s.to_owned()))
    }
    fn int(&mut self, i: i64) -> String {
        self.bind(Bind::Int(i))
    }
}

/// The columns a search returns, in [`crate::Record`] field order.
pub const RECORD_COLUMNS: &str = "r.ty, r.id, r.version, r.last_updated, r.deleted, v.body";

/// `SELECT COUNT(*)` of the resources matching `q`.
pub fn count(q: &Query, dialect: &Dialect) -> Statement {
    build(q, dialect, None)
}

/// `SELECT` of at most `limit` rows of the resources matching `q`, in `q.order`. When a
/// clause drives in id order ([`Driver::Index`]), a resource matching it twice comes back
/// twice, side by side; [`page`] handles that.
pub fn search(q: &Query, dialect: &Dialect, limit: usize) -> Statement {
    build(q, dialect, Some(limit))
}

/// How a search finds its candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    /// No clauses: every resource of the type.
    All,
    /// Clause `i`'s matches are collected into a list, then looked up (any order, any match).
    List(usize),
    /// Clause `i` (one equality) is read from the `(ty, param, value, id)` index, already in
    /// id order, so a page stops after a page's worth of candidates.
    Index(usize),
}

fn driver(q: &Query, count_only: bool) -> Driver {
    if q.clauses.is_empty() {
        return Driver::All;
    }
    let equality = |c: &Clause| {
        matches!(
            c.any_of.as_slice(),
            [Match::Token { .. }
                | Match::Reference(_)
                | Match::Uri(_)
                | Match::String { exact: true, .. }]
        )
    };
    match q.clauses.iter().position(equality) {
        Some(i) if !count_only && q.order == Order::Id => Driver::Index(i),
        Some(i) => Driver::List(i),
        None => Driver::List(0),
    }
}

fn build(q: &Query, dialect: &Dialect, limit: Option<usize>) -> Statement {
    let mut b = Builder {
        sql: String::new(),
        binds: Vec::new(),
        ph: dialect.placeholder,
    };
    let count_only = limit.is_none();
    let driver = driver(q, count_only);
    let what = if count_only {
        "COUNT(*)".to_string()
    } else {
        RECORD_COLUMNS.to_string()
    };
    let body = if count_only {
        ""
    } else {
        " JOIN resource_versions v ON v.ty = r.ty AND v.id = r.id AND v.version = r.version"
    };
    // Binds follow the order their placeholders appear (SQLite's `?` are positional).
    let mut sql = match driver {
        Driver::Index(i) => {
            let ty = b.text(&q.ty);
            let cond = clause(&mut b, &q.clauses[i], "d", "");
            format!(
                "SELECT {what} FROM search_index d{} {} resources r ON r.ty = d.ty AND r.id = d.id{body} \
                 WHERE d.ty = {ty} AND {cond} AND NOT r.deleted",
                dialect.driver_hint, dialect.driver_join
            )
        }
        _ => {
            let ty = b.text(&q.ty);
            format!("SELECT {what} FROM resources r{body} WHERE r.ty = {ty} AND NOT r.deleted")
        }
    };
    if let Some(ids) = &q.ids {
        if ids.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            let list: Vec<String> = ids.iter().map(|i| b.text(i)).collect();
            sql.push_str(&format!(" AND r.id IN ({})", list.join(", ")));
        }
    }
    for (prefix, low, high) in &q.last_updated {
        let cond = date_condition(
            &mut b,
            *prefix,
            *low,
            *high,
            "r.last_updated",
            "r.last_updated",
        );
        sql.push_str(&format!(" AND {cond}"));
    }
    for (i, c) in q.clauses.iter().enumerate() {
        // The driver lists its matches; every other clause is a probe of the candidate's own
        // rows by (ty, id, param): SQLite's table key, PostgreSQL's owner index.
        match driver {
            Driver::Index(d) if d == i => {}
            Driver::List(d) if d == i => {
                let ty = b.text(&q.ty);
                let cond = clause(&mut b, c, "s", "");
                sql.push_str(&format!(
                    " AND r.id IN (SELECT s.id FROM search_index s WHERE s.ty = {ty} AND {cond})"
                ));
            }
            _ => {
                let ty = b.text(&q.ty);
                let cond = clause(&mut b, c, "s", dialect.probe_param);
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM search_index s{} WHERE s.ty = {ty} AND s.id = r.id AND {cond})",
                    dialect.probe_hint
                ));
            }
        }
    }
    if let Some(limit) = limit {
        // The driver's id when it drives: the index's own order, so no sort.
        let id = if matches!(driver, Driver::Index(_)) {
            "d.id"
        } else {
            "r.id"
        };
        if let Some(after) = &q.after {
            let cond = match q.order {
                Order::Id => format!("{id} > {}", b.text(&after.id)),
                Order::LastUpdatedDesc => {
                    let (t1, t2, id) = (
                        b.int(after.last_updated),
                        b.int(after.last_updated),
                        b.text(&after.id),
                    );
                    format!("(r.last_updated < {t1} OR (r.last_updated = {t2} AND r.id > {id}))")
                }
                Order::LastUpdatedAsc => {
                    let (t1, t2, id) = (
                        b.int(after.last_updated),
                        b.int(after.last_updated),
                        b.text(&after.id),
                    );
                    format!("(r.last_updated > {t1} OR (r.last_updated = {t2} AND r.id > {id}))")
                }
            };
            sql.push_str(&format!(" AND {cond}"));
        }
        sql.push_str(&match q.order {
            Order::Id => format!(" ORDER BY {id}"),
            Order::LastUpdatedDesc => " ORDER BY r.last_updated DESC, r.id".into(),
            Order::LastUpdatedAsc => " ORDER BY r.last_updated, r.id".into(),
        });
        let limit = b.int(limit as i64);
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    b.sql = sql;
    Statement {
        sql: b.sql,
        binds: b.binds,
    }
}

/// A page of `q`'s results, fetched by the backend's `fetch` (which runs a [`Statement`] and
/// returns its records in order). One more than a page is asked for, to know whether there
/// is a next page; when an index-driven search returns a resource twice (it matched the
/// driving parameter twice) and so falls short, a larger limit is asked for.
pub async fn page<F, Fut>(q: &Query, dialect: &Dialect, fetch: F) -> Result<Page>
where
    F: Fn(Statement) -> Fut,
    Fut: Future<Output = Result<Vec<Record>>>,
{
    let mut limit = q.count + 1;
    loop {
        let mut records = fetch(search(q, dialect, limit)).await?;
        let fetched = records.len();
        records.dedup_by(|a, b| a.id == b.id);
        if records.len() > q.count || fetched < limit {
            let next = (records.len() > q.count).then(|| {
                records.truncate(q.count);
                let last = records.last().expect("a full page");
                Cursor {
                    last_updated: last.last_updated,
                    id: last.id.clone(),
                }
            });
            return Ok(Page {
                records,
                next,
                total: None,
            });
        }
        limit = limit.saturating_mul(4);
    }
}

/// The columns of `audit_log` an audit search returns, in [`AuditEntry`] field order.
pub const AUDIT_COLUMNS: &str =
    "seq, recorded, interaction, action, entity, who, certificate, status";

/// The insert of one audit entry (its `seq` is the table's next).
pub fn audit_insert(ph: Placeholder) -> String {
    format!(
        "INSERT INTO audit_log (recorded, interaction, action, entity, who, certificate, status) \
         VALUES ({}, {}, {}, {}, {}, {}, {})",
        ph(1),
        ph(2),
        ph(3),
        ph(4),
        ph(5),
        ph(6),
        ph(7)
    )
}

/// The latest `recorded` of the audit log (NULL when it is empty); the `recorded` index
/// answers it.
pub const AUDIT_LAST_RECORDED: &str = "SELECT MAX(recorded) FROM audit_log";

/// The `recorded` times to append `entries` with, after an entry recorded at `last`: each
/// its own, or the one before it where that is later. Requests take their time as they end
/// and reach the log through a queue (and on PostgreSQL from several instances, in batches),
/// so a time can be a little earlier than one appended before it. Holding each to the
/// latest before it keeps `seq` order and `recorded` order one order, so a search sorted by
/// date pages by `seq` and a reader following entries by date misses none. An entry is
/// recorded in the log when it is appended, so the time it then carries is never early.
pub fn recorded_in_order(last: Option<i64>, entries: &[AuditEntry]) -> Vec<i64> {
    let mut latest = last.unwrap_or(i64::MIN);
    entries
        .iter()
        .map(|e| {
            latest = latest.max(e.recorded);
            latest
        })
        .collect()
}

/// `SELECT` of at most `limit` audit entries matching `q`, in `seq` order, after `q.after`.
pub fn audit_search(q: &AuditQuery, dialect: &Dialect, limit: usize) -> Statement {
    let mut b = Builder {
        sql: String::new(),
        binds: Vec::new(),
        ph: dialect.placeholder,
    };
    let mut conds = audit_conditions(&mut b, q);
    if let Some(after) = q.after {
        let op = if q.newest_first { "<" } else { ">" };
        conds.push(format!("seq {op} {}", b.int(after)));
    }
    let limit = b.int(i64::try_from(limit).unwrap_or(i64::MAX));
    b.sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log{} ORDER BY seq{} LIMIT {limit}",
        where_clause(&conds),
        if q.newest_first { " DESC" } else { "" }
    );
    Statement {
        sql: b.sql,
        binds: b.binds,
    }
}

/// `SELECT COUNT(*)` of the audit entries matching `q` (its page position aside).
pub fn audit_count(q: &AuditQuery, dialect: &Dialect) -> Statement {
    let mut b = Builder {
        sql: String::new(),
        binds: Vec::new(),
        ph: dialect.placeholder,
    };
    let conds = audit_conditions(&mut b, q);
    b.sql = format!("SELECT COUNT(*) FROM audit_log{}", where_clause(&conds));
    Statement {
        sql: b.sql,
        binds: b.binds,
    }
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

fn audit_conditions(b: &mut Builder, q: &AuditQuery) -> Vec<String> {
    q.clauses
        .iter()
        .map(|any_of| {
            let ors: Vec<String> = any_of
                .iter()
                .map(|m| match m {
                    AuditMatch::Text(field, value) => {
                        let column = match field {
                            AuditField::Interaction => "interaction",
                            AuditField::Action => "action",
                            AuditField::Entity => "entity",
                            AuditField::Who => "who",
                            AuditField::Certificate => "certificate",
                        };
                        format!("{column} = {}", b.text(value))
                    }
                    AuditMatch::Status(low, high) => {
                        let (l, h) = (b.int(*low), b.int(*high));
                        format!("status BETWEEN {l} AND {h}")
                    }
                    AuditMatch::Recorded(prefix, low, high) => {
                        date_condition(b, *prefix, *low, *high, "recorded", "recorded")
                    }
                    AuditMatch::Seq(seq) => format!("seq = {}", b.int(*seq)),
                })
                .collect();
            if ors.is_empty() {
                "FALSE".to_owned()
            } else {
                format!("({})", ors.join(" OR "))
            }
        })
        .collect()
}

/// A page of `q`'s audit entries, fetched by the backend's `fetch` (one more than a page is
/// asked for, to know whether there is a next page).
pub async fn audit_page<F, Fut>(q: &AuditQuery, dialect: &Dialect, fetch: F) -> Result<AuditPage>
where
    F: FnOnce(Statement) -> Fut,
    Fut: Future<Output = Result<Vec<AuditEntry>>>,
{
    let mut entries = fetch(audit_search(q, dialect, q.count + 1)).await?;
    let next = if entries.len() > q.count {
        entries.truncate(q.count);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(AuditPage { entries, next })
}

/// `c` on the search_index rows named `t`; `prefix` goes before the parameter column.
fn clause(b: &mut Builder, c: &Clause, t: &str, prefix: &str) -> String {
    let param = b.text(&c.param);
    let ors: Vec<String> = c.any_of.iter().map(|m| matcher(b, m, t)).collect();
    format!("{prefix}{t}.param = {param} AND ({})", ors.join(" OR "))
}

fn matcher(b: &mut Builder, m: &Match, t: &str) -> String {
    match m {
        Match::Token { system, code } => {
            let code = b.text(code);
            match system.as_deref() {
                None => format!("({t}.kind = 'token' AND {t}.value = {code})"),
                Some("") => {
                    format!("({t}.kind = 'token' AND {t}.value = {code} AND {t}.system IS NULL)")
                }
                Some(sys) => {
                    let sys = b.text(sys);
                    format!("({t}.kind = 'token' AND {t}.value = {code} AND {t}.system = {sys})")
                }
            }
        }
        Match::String { value, exact: true } => {
            format!("({t}.kind = 'string' AND {t}.value = {})", b.text(value))
        }
        Match::String {
            value,
            exact: false,
        } => {
            // Starts with, as a range the index can serve: [value, value + U+10FFFF). Both
            // backends compare these values bytewise (PostgreSQL's column is COLLATE "C").
            let (low, high) = (b.text(value), b.text(&format!("{value}\u{10FFFF}")));
            format!("({t}.kind = 'string' AND {t}.value >= {low} AND {t}.value < {high})")
        }
        Match::Reference(target) => {
            format!(
                "({t}.kind = 'reference' AND {t}.value = {})",
                b.text(target)
            )
        }
        Match::Uri(u) => format!("({t}.kind = 'uri' AND {t}.value = {})", b.text(u)),
        Match::Date { prefix, low, high } => {
            let cond = date_condition(
                b,
                *prefix,
                *low,
                *high,
                &format!("{t}.low"),
                &format!("{t}.high"),
            );
            format!("({t}.kind = 'date' AND {cond})")
        }
    }
}

/// FHIR's date prefixes, comparing the stored range `[lo, hi]` with the searched one
/// `[low, high]` (both inclusive).
fn date_condition(
    b: &mut Builder,
    prefix: Prefix,
    low: i64,
    high: i64,
    lo: &str,
    hi: &str,
) -> String {
    match prefix {
        Prefix::Eq => {
            let (l, h) = (b.int(low), b.int(high));
            format!("({lo} >= {l} AND {hi} <= {h})")
        }
        Prefix::Ne => {
            let (l, h) = (b.int(low), b.int(high));
            format!("NOT ({lo} >= {l} AND {hi} <= {h})")
        }
        Prefix::Gt => format!("{hi} > {}", b.int(high)),
        Prefix::Lt => format!("{lo} < {}", b.int(low)),
        Prefix::Ge => format!("{hi} >= {}", b.int(low)),
        Prefix::Le => format!("{lo} <= {}", b.int(high)),
        Prefix::Sa => format!("{lo} > {}", b.int(high)),
        Prefix::Eb => format!("{hi} < {}", b.int(low)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clause, Cursor, Match};

    #[test]
    fn placeholders_follow_the_binds() {
        let mut q = Query::new("Patient")
            .with(Clause::new(
                "identifier",
                Match::Token {
                    system: Some("https://fhir.nhs.uk/Id/nhs-number".into()),
                    code: "9434765919".into(),
                },
            ))
            .with(Clause::new(
                "name",
                Match::String {
                    value: "100%_".into(),
                    exact: false,
                },
            ));
        q.after = Some(Cursor {
            last_updated: 0,
            id: "p9".into(),
        });
        let s = search(&q, &POSTGRES, 21);
        let n = s.sql.matches('$').count();
        assert_eq!(n, s.binds.len(), "{}", s.sql);
        assert!(s.binds.contains(&Bind::Text("100%_".into())));
        assert!(
            !s.sql.contains("9434765919"),
            "values are bound, never spliced"
        );
        let s = count(&q, &SQLITE);
        assert_eq!(s.sql.matches('?').count(), s.binds.len());
        assert!(!s.sql.contains("LIMIT"));
    }
}
