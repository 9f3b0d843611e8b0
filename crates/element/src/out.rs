//! Trees built in code, for the translators: [`Out`] nodes in an [`Arena`].
//!
//! A parsed payload needs the owned, positioned [`Json`](super::Json); a tree the
//! translators build needs neither positions nor ownership. [`Out`] borrows its strings (from
//! the domain record, from `'static` literals, or copied once into the arena) and keeps its
//! arrays and objects as arena slices, so building a referral's Bundle makes no heap
//! allocation of its own and dropping it costs nothing. It is written to text directly
//! ([`Out::to_compact`]) or turned into a [`Json`](super::Json) for callers that walk trees
//! ([`Out::to_json`]).
//!
//! Member names are `&'static str`: every key a translator writes is a FHIR element name
//! known at compile time, so keys are never escaped when written (checked in debug builds).

use bumpalo::collections::Vec as BumpVec;

use super::{Json, Kind, Member, Object, Pos};

/// The memory a built tree lives in (a bump allocator: freed all at once).
pub use bumpalo::Bump as Arena;

/// One node of a built tree. `Copy`: nodes are a tag and a borrowed slice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Out<'a> {
    Null,
    Bool(bool),
    /// The number's text; the builder guarantees JSON number syntax.
    Number(&'a str),
    String(&'a str),
    Array(&'a [Out<'a>]),
    Object(&'a [(&'static str, Out<'a>)]),
}

impl<'a> Out<'a> {
    /// Member `key` of an object (first occurrence); `None` for other kinds.
    pub fn get(&self, key: &str) -> Option<&Out<'a>> {
        match self {
            Out::Object(members) => members.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Out::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is an object or array without members (FHIR forbids those).
    pub fn is_empty_container(&self) -> bool {
        match self {
            Out::Object(m) => m.is_empty(),
            Out::Array(a) => a.is_empty(),
            _ => false,
        }
    }

    /// The owned tree (positions [`Pos::NONE`]), for callers that walk or keep it.
    pub fn to_json(&self) -> Json {
        Json::new(match *self {
            Out::Null => Kind::Null,
            Out::Bool(b) => Kind::Bool(b),
            Out::Number(n) => Kind::Number(n.into()),
            Out::String(s) => Kind::String(s.into()),
            Out::Array(items) => Kind::Array(items.iter().map(Out::to_json).collect()),
            Out::Object(members) => Kind::Object(Object {
                members: members
                    .iter()
                    .map(|(k, v)| Member {
                        key: (*k).into(),
                        key_pos: Pos::NONE,
                        value: v.to_json(),
                    })
                    .collect(),
            }),
        })
    }
}

impl<'a> From<&'a str> for Out<'a> {
    #[inline]
    fn from(s: &'a str) -> Out<'a> {
        Out::String(s)
    }
}

impl<'a> From<&'a String> for Out<'a> {
    #[inline]
    fn from(s: &'a String) -> Out<'a> {
        Out::String(s)
    }
}

impl From<bool> for Out<'_> {
    #[inline]
    fn from(b: bool) -> Self {
        Out::Bool(b)
    }
}

impl<'a> From<&'a [Out<'a>]> for Out<'a> {
    #[inline]
    fn from(items: &'a [Out<'a>]) -> Out<'a> {
        Out::Array(items)
    }
}

impl<'a> From<Obj<'a>> for Out<'a> {
    #[inline]
    fn from(o: Obj<'a>) -> Out<'a> {
        o.done()
    }
}

/// Builds nodes in one arena. `Copy`, so helpers take it by value.
#[derive(Clone, Copy)]
pub struct Builder<'a> {
    arena: &'a Arena,
}

/// Members most FHIR objects stay within; an object that outgrows them moves once.
const OBJECT_CAPACITY: usize = 8;

impl<'a> Builder<'a> {
    pub fn new(arena: &'a Arena) -> Builder<'a> {
        Builder { arena }
    }

    /// An empty object to add members to.
    #[inline]
    pub fn obj(self) -> Obj<'a> {
        Obj {
            members: BumpVec::with_capacity_in(OBJECT_CAPACITY, self.arena),
        }
    }

    /// An array of one item (FHIR's most common list).
    #[inline]
    pub fn one(self, item: impl Into<Out<'a>>) -> Out<'a> {
        Out::Array(std::slice::from_ref(self.arena.alloc(item.into())))
    }

    /// The items as an array slice (empty when there are none: see [`Obj::with_list`]).
    #[inline]
    pub fn list<I>(self, items: I) -> &'a [Out<'a>]
    where
        I: IntoIterator,
        I::Item: Into<Out<'a>>,
    {
        BumpVec::from_iter_in(items.into_iter().map(Into::into), self.arena).into_bump_slice()
    }

    /// A growable list in the arena, for items gathered in steps.
    #[inline]
    pub fn vec(self) -> BumpVec<'a, Out<'a>> {
        BumpVec::new_in(self.arena)
    }

    /// `s` copied into the arena (for text computed while building).
    #[inline]
    pub fn str(self, s: &str) -> &'a str {
        self.arena.alloc_str(s)
    }

    /// A string node of text computed while building.
    #[inline]
    pub fn string(self, s: &str) -> Out<'a> {
        Out::String(self.str(s))
    }

    /// An integer number.
    #[inline]
    pub fn int(self, n: i64) -> Out<'a> {
        Out::Number(self.str(itoa::Buffer::new().format(n)))
    }

    /// A decimal number, keeping its scale (`23.20` is written `23.20`).
    pub fn decimal(self, d: rust_decimal::Decimal) -> Out<'a> {
        use std::fmt::Write;
        let mut s = bumpalo::collections::String::new_in(self.arena);
        let _ = write!(s, "{d}");
        Out::Number(s.into_bump_str())
    }

    /// Text formatted straight into the arena.
    pub fn fmt(self, args: std::fmt::Arguments<'_>) -> &'a str {
        use std::fmt::Write;
        let mut s = bumpalo::collections::String::new_in(self.arena);
        let _ = s.write_fmt(args);
        s.into_bump_str()
    }
}

/// An object being built: members in the order added.
pub struct Obj<'a> {
    members: BumpVec<'a, (&'static str, Out<'a>)>,
}

impl<'a> Obj<'a> {
    /// Append member `key`.
    #[inline]
    pub fn with(mut self, key: &'static str, value: impl Into<Out<'a>>) -> Obj<'a> {
        self.members.push((key, value.into()));
        self
    }

    /// Append member `key` if `value` is `Some` and not an empty object or array.
    #[inline]
    pub fn with_opt<T: Into<Out<'a>>>(mut self, key: &'static str, value: Option<T>) -> Obj<'a> {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty_container() {
                self.members.push((key, v));
            }
        }
        self
    }

    /// Append an array member `key` unless `items` is empty (FHIR forbids empty arrays).
    #[inline]
    pub fn with_list(mut self, key: &'static str, items: &'a [Out<'a>]) -> Obj<'a> {
        if !items.is_empty() {
            self.members.push((key, Out::Array(items)));
        }
        self
    }

    /// The finished object.
    #[inline]
    pub fn done(self) -> Out<'a> {
        Out::Object(self.members.into_bump_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn builds_writes_and_converts() {
        let arena = Arena::new();
        let b = Builder::new(&arena);
        let computed = format!("x{}", 1);
        let tree: Out = b
            .obj()
            .with("a", b.one(b.int(-3)))
            .with("s", b.string(&computed))
            .with("q", "\"quoted\"\n")
            .with_opt("skipped", Some(b.obj()))
            .with_opt::<&str>("none", None)
            .with_list("empty", b.list(Vec::<&str>::new()))
            .with("d", b.decimal(rust_decimal::Decimal::new(2320, 2)))
            .with("t", true)
            .with("n", Out::Null)
            .into();
        let text = tree.to_compact();
        assert_eq!(
            text,
            r#"{"a":[-3],"s":"x1","q":"\"quoted\"\n","d":23.20,"t":true,"n":null}"#
        );
        assert_eq!(tree.to_json(), parse(&text).unwrap());
        assert_eq!(tree.to_pretty(), tree.to_json().to_pretty());
        assert_eq!(tree.get("s").and_then(Out::as_str), Some("x1"));
    }
}
