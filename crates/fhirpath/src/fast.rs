//! A fast path for the simplest invariants, evaluated straight on the JSON tree.
//!
//! Most invariants in the R4 and UK Core snapshots are boolean combinations of existence
//! tests on member paths (`value.empty() or system.exists()`, `contained.contained.empty()`,
//! `type = 'document' implies …`). [`Fast::compile`] recognises those shapes, and
//! [`Fast::eval`] answers them without building FHIRPath collections. Whatever it cannot
//! decide exactly, it declines (`None`), and the caller runs the general evaluator: a
//! member name that could be a choice (`value` beside `valueString`), a primitive carrying
//! only extensions where a value is compared, a comparison of several values.
//!
//! Invariant: `eval` returns `Some(r)` only when `r` is what the general evaluator gives.

use crate::func::Func;
use compact_str::CompactString;
use smallvec::SmallVec;

use super::parser::{BinOp, Expr, ExprKind, Lit};
use crate::json::{Json, Kind};

/// A recognised invariant shape. Results are FHIRPath's three-valued booleans:
/// `Some(b)` or `None` for the empty collection.
#[derive(Clone, Debug)]
pub enum Fast {
    /// `a.b.c.exists()`
    Exists(Vec<CompactString>),
    /// `a.b.c.empty()`
    Empty(Vec<CompactString>),
    /// `a.b.hasValue()`
    HasValue(Vec<CompactString>),
    /// `a.b = 'text'`
    StrEq(Vec<CompactString>, CompactString),
    /// `X.empty()` where X starts with member `root` and only narrows (where, select,
    /// trace, first, …): true when `root` is absent, otherwise undecided.
    EmptyWhenAbsent(CompactString),
    /// `a.b.startsWith('text')`
    StartsWith(Vec<CompactString>, CompactString),
    Not(Box<Fast>),
    Bin(BinOp, Box<Fast>, Box<Fast>),
    /// `left or …`, `left and …`, `left implies …` where only the left side has a fast
    /// form: decided when the left side alone decides (true for `or`, false for `and` and
    /// `implies`), as the evaluator's short cut does; otherwise declined.
    Short(BinOp, Box<Fast>),
}

/// Functions that give the empty collection for an empty input, whatever their arguments.
const NARROWING: &[Func] = &[
    Func::Where,
    Func::Select,
    Func::Trace,
    Func::First,
    Func::Last,
    Func::Tail,
    Func::OfType,
    Func::Distinct,
    Func::Repeat,
    Func::Descendants,
    Func::Children,
    Func::Skip,
    Func::Take,
    Func::Single,
];

impl Fast {
    /// The fast form of `expr`, when it has one.
    pub fn compile(expr: &Expr) -> Option<Fast> {
        match &expr.kind {
            ExprKind::Call(Some(target), Func::StartsWith, args) => match &args[..] {
                [
                    Expr {
                        kind: ExprKind::Lit(Lit::Str(s)),
                        ..
                    },
                ] => Some(Fast::StartsWith(path(target)?, s.clone())),
                _ => None,
            },
            ExprKind::Call(Some(target), f, args) if args.is_empty() => match f {
                Func::Exists => Some(Fast::Exists(path(target)?)),
                Func::HasValue => Some(Fast::HasValue(path(target)?)),
                Func::Empty => match path(target) {
                    Some(p) => Some(Fast::Empty(p)),
                    None => Some(Fast::EmptyWhenAbsent(narrowing_root(target)?)),
                },
                Func::Not => Some(Fast::Not(Box::new(Fast::compile(target)?))),
                _ => None,
            },
            ExprKind::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                if let ExprKind::Lit(Lit::Str(s)) = &b.kind
                    && *op == BinOp::Eq
                {
                    return Some(Fast::StrEq(path(a)?, s.clone()));
                }
                // Between two booleans (`extension.exists() != value.exists()`).
                let (a, b) = (Fast::compile(a)?, Fast::compile(b)?);
                Some(Fast::Bin(*op, Box::new(a), Box::new(b)))
            }
            ExprKind::Bin(op @ (BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies), a, b) => {
                let a = Fast::compile(a)?;
                match Fast::compile(b) {
                    Some(b) => Some(Fast::Bin(*op, Box::new(a), Box::new(b))),
                    None if *op != BinOp::Xor => Some(Fast::Short(*op, Box::new(a))),
                    None => None,
                }
            }
            _ => None,
        }
    }

    /// Evaluate on `focus` (an object). `None`: not decidable here, use the evaluator.
    pub fn eval(&self, focus: &Json) -> Option<Option<bool>> {
        match self {
            Fast::Exists(p) => Some(Some(nodes(focus, p)?.count > 0)),
            Fast::Empty(p) => Some(Some(nodes(focus, p)?.count == 0)),
            Fast::HasValue(p) => {
                let n = nodes(focus, p)?;
                Some(Some(
                    n.count == 1 && n.values.len() == 1 && is_primitive(n.values[0]),
                ))
            }
            Fast::StrEq(p, s) => {
                let n = nodes(focus, p)?;
                match (n.count, n.values.as_slice()) {
                    (0, _) => Some(None),
                    (1, [v]) => Some(Some(v.as_str()? == s.as_str())),
                    _ => None,
                }
            }
            Fast::EmptyWhenAbsent(root) => {
                let o = focus.as_object()?;
                let absent = o.iter().all(|(k, _)| {
                    let k = k.strip_prefix('_').unwrap_or(k);
                    k != root.as_str() && !is_choice_of(k, root)
                });
                absent.then_some(Some(true))
            }
            Fast::StartsWith(p, prefix) => {
                let n = nodes(focus, p)?;
                match (n.count, n.values.as_slice()) {
                    (0, _) => Some(None),
                    (1, [v]) => Some(Some(v.as_str()?.starts_with(prefix.as_str()))),
                    _ => None,
                }
            }
            Fast::Short(op, a) => match (op, a.eval(focus)?) {
                (BinOp::Or, Some(true)) => Some(Some(true)),
                (BinOp::And, Some(false)) => Some(Some(false)),
                (BinOp::Implies, Some(false)) => Some(Some(true)),
                _ => None,
            },
            Fast::Not(a) => Some(a.eval(focus)?.map(|b| !b)),
            Fast::Bin(op, a, b) => {
                let x = a.eval(focus)?;
                // Short cuts the evaluator would also take do not change results here: both
                // sides are side-effect free, so evaluate both.
                let y = b.eval(focus)?;
                Some(match op {
                    BinOp::And => match (x, y) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    BinOp::Or => match (x, y) {
                        (Some(true), _) | (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    BinOp::Xor => x.zip(y).map(|(x, y)| x != y),
                    BinOp::Implies => match (x, y) {
                        (Some(false), _) => Some(true),
                        (Some(true), y) => y,
                        (None, Some(true)) => Some(true),
                        (None, _) => None,
                    },
                    BinOp::Eq => x.zip(y).map(|(x, y)| x == y),
                    BinOp::Ne => x.zip(y).map(|(x, y)| x != y),
                    _ => return None,
                })
            }
        }
    }
}

/// `a.b.c` as member names, when `e` is nothing but a member path.
fn path(e: &Expr) -> Option<Vec<CompactString>> {
    match &e.kind {
        ExprKind::Ident(n) if is_member_name(n) => Some(vec![n.clone()]),
        ExprKind::Member(target, n) => {
            let mut p = path(target)?;
            p.push(n.clone());
            Some(p)
        }
        _ => None,
    }
}

/// The first member name of a chain of member steps and narrowing functions.
fn narrowing_root(e: &Expr) -> Option<CompactString> {
    match &e.kind {
        ExprKind::Ident(n) if is_member_name(n) => Some(n.clone()),
        ExprKind::Member(target, _) | ExprKind::Index(target, _) | ExprKind::As(target, _) => {
            narrowing_root(target)
        }
        ExprKind::Call(Some(target), f, _) if NARROWING.contains(f) => narrowing_root(target),
        _ => None,
    }
}

/// Element names start in lower case; a capitalised first step is a type name
/// (`Patient.name`), which the evaluator handles.
fn is_member_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_lowercase())
}

/// `key` is `name` + a type suffix (`valueString` for `value`): possibly a choice element.
fn is_choice_of(key: &str, name: &str) -> bool {
    key.len() > name.len()
        && key.starts_with(name)
        && key.as_bytes()[name.len()].is_ascii_uppercase()
}

fn is_primitive(v: &Json) -> bool {
    matches!(v.kind, Kind::String(_) | Kind::Number(_) | Kind::Bool(_))
}

/// The nodes a member path selects: how many, and their JSON values (nodes that are only
/// an `_x` extension count but have no value).
struct Nodes<'j> {
    count: usize,
    values: SmallVec<[&'j Json; 4]>,
}

fn nodes<'j>(focus: &'j Json, path: &[CompactString]) -> Option<Nodes<'j>> {
    // Inline up to four: most steps select one member of one object (this runs for every
    // invariant of every element).
    let mut current: SmallVec<[&'j Json; 4]> = smallvec::smallvec![focus];
    let mut count = 1;
    for (i, name) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let mut next = SmallVec::new();
        count = 0;
        for node in &current {
            let Some(o) = node.as_object() else {
                // A primitive's children (id, extension) are not modelled here.
                return None;
            };
            let mut values: &[Json] = &[];
            let mut single = None;
            let mut exts: &[Json] = &[];
            let mut single_ext = None;
            let name_bytes = name.as_bytes();
            for (k, v) in o.iter() {
                let (key, is_ext) = match k.strip_prefix('_') {
                    Some(key) => (key, true),
                    None => (k, false),
                };
                let kb = key.as_bytes();
                // Most members differ in their first byte: reject those without a compare.
                if kb.first() != name_bytes.first() || !kb.starts_with(name_bytes) {
                    continue;
                }
                if kb.len() > name_bytes.len() {
                    if kb[name_bytes.len()].is_ascii_uppercase() {
                        return None; // could be name[x]: leave it to the evaluator
                    }
                    continue;
                }
                match (&v.kind, is_ext) {
                    (Kind::Array(a), false) => values = a,
                    (_, false) => single = Some(v),
                    (Kind::Array(a), true) => exts = a,
                    (_, true) => single_ext = Some(v),
                }
            }
            if (!exts.is_empty() || single_ext.is_some()) && !last {
                return None;
            }
            let vs = single
                .into_iter()
                .chain(values.iter().filter(|v| !v.is_null()));
            for v in vs {
                next.push(v);
                count += 1;
            }
            // Array positions with only an extension, and a lone `_x`.
            let ext_only = exts
                .iter()
                .enumerate()
                .filter(|(j, e)| !e.is_null() && values.get(*j).is_none_or(|v| v.is_null()))
                .count();
            count += ext_only + usize::from(single.is_none() && single_ext.is_some());
        }
        current = next;
    }
    Some(Nodes {
        count,
        values: current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Compiled;

    fn check(expr: &str, json: &str) -> Option<Option<bool>> {
        let c = Compiled::new(expr).unwrap();
        let fast = Fast::compile(&c.expr).expect("recognised");
        fast.eval(&crate::json::parse(json).unwrap())
    }

    #[test]
    fn existence_and_logic() {
        let e = "value.empty() or system.exists()";
        assert_eq!(check(e, r#"{"system":"x"}"#), Some(Some(true)));
        assert_eq!(check(e, r#"{"use":"home"}"#), Some(Some(true)));
        assert_eq!(check(e, r#"{"value":"1"}"#), Some(Some(false)));
        assert_eq!(
            check(e, r#"{"value":"1","_system":{"extension":[]}}"#),
            Some(Some(true))
        );
        // A possible choice element is left to the evaluator.
        assert_eq!(
            check(
                "extension.exists() != value.exists()",
                r#"{"valueString":"a"}"#
            ),
            None
        );
        assert_eq!(
            check("contained.meta.security.empty()", r#"{"id":"a"}"#),
            Some(Some(true))
        );
        assert_eq!(
            check(
                "contained.meta.security.empty()",
                r#"{"contained":[{"meta":{"security":[{}]}}]}"#
            ),
            Some(Some(false))
        );
    }

    #[test]
    fn string_equality_is_three_valued() {
        let e = "type = 'document' implies timestamp.hasValue()";
        assert_eq!(check(e, r#"{"type":"message"}"#), Some(Some(true)));
        assert_eq!(check(e, r#"{"type":"document"}"#), Some(Some(false)));
        assert_eq!(
            check(e, r#"{"type":"document","timestamp":"2026"}"#),
            Some(Some(true))
        );
        assert_eq!(check(e, r#"{}"#), Some(None)); // {} implies false is {}
        assert_eq!(check("type = 'x'", r#"{}"#), Some(None));
        assert_eq!(check("type = 'x'", r#"{"_type":{"extension":[]}}"#), None);
    }

    #[test]
    fn narrowing_chains_are_decided_only_when_absent() {
        let e = "contained.where(id.exists()).trace('x').empty()";
        assert_eq!(check(e, r#"{"id":"a"}"#), Some(Some(true)));
        assert_eq!(check(e, r#"{"contained":[]}"#), None);
        assert!(Fast::compile(&Compiled::new("x.count() = 0").unwrap().expr).is_none());
    }
}
