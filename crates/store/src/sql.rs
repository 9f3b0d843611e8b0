//! The SQL both backends share: search queries over the one schema shape their migrations
//! create (`resource_versions`, `resources`, `search_index`, `remembered`), built once with the
//! backend's placeholder style (`?` for SQLite, `$1` for PostgreSQL). Values are always
//! bound, never spliced into the text.

use crate::{Clause, Match, Order, Prefix, Query};

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

/// `SELECT` (a page of records, or `COUNT(*)` when `count_only`) for `q`.
pub fn search(q: &Query, ph: Placeholder, count_only: bool) -> Statement {
    let mut b = Builder {
        sql: String::new(),
        binds: Vec::new(),
        ph,
    };
    let ty = b.text(&q.ty);
    let mut sql = if count_only {
        format!("SELECT COUNT(*) FROM resources r WHERE r.ty = {ty} AND NOT r.deleted")
    } else {
        format!(
            "SELECT {RECORD_COLUMNS} FROM resources r JOIN resource_versions v \
             ON v.ty = r.ty AND v.id = r.id AND v.version = r.version \
             WHERE r.ty = {ty} AND NOT r.deleted"
        )
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
        // The first parameter drives: its matches, read from the (ty, param, value) index
        // into a sorted list, are the candidates in id order. Each other parameter is a probe
        // of the candidate's own rows (the (ty, id) index), so a page stops after a page's
        // worth of candidates instead of listing every match of every parameter.
        // Binds follow the order their placeholders appear (SQLite's `?` are positional).
        let ty = b.text(&q.ty);
        let cond = clause(&mut b, c);
        if i == 0 {
            sql.push_str(&format!(
                " AND r.id IN (SELECT s.id FROM search_index s WHERE s.ty = {ty} AND {cond})"
            ));
        } else {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM search_index s WHERE s.ty = {ty} AND s.id = r.id AND {cond})"
            ));
        }
    }
    if !count_only {
        if let Some(after) = &q.after {
            let cond = match q.order {
                Order::Id => format!("r.id > {}", b.text(&after.id)),
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
        sql.push_str(match q.order {
            Order::Id => " ORDER BY r.id",
            Order::LastUpdatedDesc => " ORDER BY r.last_updated DESC, r.id",
            Order::LastUpdatedAsc => " ORDER BY r.last_updated, r.id",
        });
        // One more than a page: whether there is a next page.
        let limit = b.int(q.count as i64 + 1);
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    b.sql = sql;
    Statement {
        sql: b.sql,
        binds: b.binds,
    }
}

fn clause(b: &mut Builder, c: &Clause) -> String {
    let param = b.text(&c.param);
    let ors: Vec<String> = c.any_of.iter().map(|m| matcher(b, m)).collect();
    format!("s.param = {param} AND ({})", ors.join(" OR "))
}

fn matcher(b: &mut Builder, m: &Match) -> String {
    match m {
        Match::Token { system, code } => {
            let code = b.text(code);
            match system.as_deref() {
                None => format!("(s.kind = 'token' AND s.value = {code})"),
                Some("") => format!("(s.kind = 'token' AND s.value = {code} AND s.system IS NULL)"),
                Some(sys) => {
                    let sys = b.text(sys);
                    format!("(s.kind = 'token' AND s.value = {code} AND s.system = {sys})")
                }
            }
        }
        Match::String { value, exact: true } => {
            format!("(s.kind = 'string' AND s.value = {})", b.text(value))
        }
        Match::String {
            value,
            exact: false,
        } => {
            // Starts with, as a range the index can serve: [value, value + U+10FFFF). Both
            // backends compare these values bytewise (PostgreSQL's column is COLLATE "C").
            let (low, high) = (b.text(value), b.text(&format!("{value}\u{10FFFF}")));
            format!("(s.kind = 'string' AND s.value >= {low} AND s.value < {high})")
        }
        Match::Reference(target) => {
            format!("(s.kind = 'reference' AND s.value = {})", b.text(target))
        }
        Match::Uri(u) => format!("(s.kind = 'uri' AND s.value = {})", b.text(u)),
        Match::Date { prefix, low, high } => {
            let cond = date_condition(b, *prefix, *low, *high, "s.low", "s.high");
            format!("(s.kind = 'date' AND {cond})")
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
        let s = search(&q, dollar, false);
        let n = s.sql.matches('$').count();
        assert_eq!(n, s.binds.len(), "{}", s.sql);
        assert!(s.binds.contains(&Bind::Text("100%_".into())));
        assert!(
            !s.sql.contains("9434765919"),
            "values are bound, never spliced"
        );
        let s = search(&q, question, true);
        assert_eq!(s.sql.matches('?').count(), s.binds.len());
        assert!(!s.sql.contains("LIMIT"));
    }
}
