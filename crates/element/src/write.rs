//! Serialise a tree back to JSON text. Numbers are written exactly as stored; strings are
//! escaped minimally (quotes, backslashes and control characters), as serde_json does.

use super::scan::{ESCAPE, is_plain, next_escape};
use super::{Json, Kind, Member, Out};

/// What the writers need of a tree; [`Json`] (parsed) and [`Out`] (built) both are one.
pub(crate) trait Tree: Sized {
    type Member: Pair<Self>;
    /// Whether member names are known to need no escaping (built trees' `'static` keys).
    const PLAIN_KEYS: bool;
    fn view(&self) -> View<'_, Self>;
}

pub(crate) trait Pair<T> {
    fn key(&self) -> &str;
    fn value(&self) -> &T;
}

pub(crate) enum View<'t, T: Tree> {
    Null,
    Bool(bool),
    Number(&'t str),
    String(&'t str),
    Array(&'t [T]),
    Object(&'t [T::Member]),
}

impl Tree for Json {
    type Member = Member;
    const PLAIN_KEYS: bool = false;
    #[inline]
    fn view(&self) -> View<'_, Json> {
        match &self.kind {
            Kind::Null => View::Null,
            Kind::Bool(b) => View::Bool(*b),
            Kind::Number(n) => View::Number(n),
            Kind::String(s) => View::String(s),
            Kind::Array(a) => View::Array(a),
            Kind::Object(o) => View::Object(&o.members),
        }
    }
}

impl Pair<Json> for Member {
    #[inline]
    fn key(&self) -> &str {
        &self.key
    }
    #[inline]
    fn value(&self) -> &Json {
        &self.value
    }
}

impl<'a> Tree for Out<'a> {
    type Member = (&'static str, Out<'a>);
    const PLAIN_KEYS: bool = true;
    #[inline]
    fn view(&self) -> View<'_, Out<'a>> {
        match *self {
            Out::Null => View::Null,
            Out::Bool(b) => View::Bool(b),
            Out::Number(n) => View::Number(n),
            Out::String(s) => View::String(s),
            Out::Array(a) => View::Array(a),
            Out::Object(o) => View::Object(o),
        }
    }
}

impl<'a> Pair<Out<'a>> for (&'static str, Out<'a>) {
    #[inline]
    fn key(&self) -> &str {
        self.0
    }
    #[inline]
    fn value(&self) -> &Out<'a> {
        &self.1
    }
}

#[inline]
fn write_key<T: Tree>(key: &str, out: &mut String) {
    if T::PLAIN_KEYS {
        debug_assert!(
            is_plain(key.as_bytes()),
            "member name {key:?} needs escaping"
        );
        out.push('"');
        out.push_str(key);
        out.push('"');
    } else {
        write_str(key, out);
    }
}

/// Compact JSON (no whitespace).
pub fn write_compact(json: &Json, out: &mut String) {
    compact(json, out)
}

pub(crate) fn compact<T: Tree>(json: &T, out: &mut String) {
    match json.view() {
        View::Null => out.push_str("null"),
        View::Bool(true) => out.push_str("true"),
        View::Bool(false) => out.push_str("false"),
        View::Number(n) => out.push_str(n),
        View::String(s) => write_str(s, out),
        View::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                compact(item, out);
            }
            out.push(']');
        }
        View::Object(members) => {
            out.push('{');
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key::<T>(m.key(), out);
                out.push(':');
                compact(m.value(), out);
            }
            out.push('}');
        }
    }
}

/// Pretty JSON with two-space indentation, the layout of FHIR's published examples.
pub fn write_pretty(json: &Json, out: &mut String) {
    pretty(json, out, 0);
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

pub(crate) fn pretty<T: Tree>(json: &T, out: &mut String, level: usize) {
    match json.view() {
        View::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                pretty(item, out, level + 1);
            }
            newline(out, level);
            out.push(']');
        }
        View::Object(members) if !members.is_empty() => {
            out.push('{');
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_key::<T>(m.key(), out);
                out.push_str(": ");
                pretty(m.value(), out, level + 1);
            }
            newline(out, level);
            out.push('}');
        }
        _ => compact(json, out),
    }
}

/// Write `s` as a JSON string literal.
pub fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    if is_plain(s.as_bytes()) {
        out.push_str(s);
    } else {
        write_escaped(s, out);
    }
    out.push('"');
}

/// The body of a string literal that needs escapes.
#[cold]
fn write_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    // Copy runs of plain bytes in one go; only bytes marked in ESCAPE break a run. Every
    // escaped byte is ASCII, so each run starts and ends on a char boundary.
    while let Some(i) = next_escape(bytes, start) {
        out.push_str(&s[start..i]);
        let b = bytes[i];
        match ESCAPE[b as usize] {
            b'u' => {
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            e => {
                out.push('\\');
                out.push(e as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

impl Json {
    pub fn to_compact(&self) -> String {
        // Most FHIR resources are kilobytes: start there rather than grow from nothing.
        let mut s = String::with_capacity(2048);
        write_compact(self, &mut s);
        s
    }

    pub fn to_pretty(&self) -> String {
        let mut s = String::with_capacity(4096);
        write_pretty(self, &mut s);
        s
    }
}

impl Out<'_> {
    /// Compact JSON text of the built tree.
    pub fn to_compact(&self) -> String {
        let mut s = String::with_capacity(2048);
        compact(self, &mut s);
        s
    }

    pub fn to_pretty(&self) -> String {
        let mut s = String::with_capacity(4096);
        pretty(self, &mut s, 0);
        s
    }
}

impl std::fmt::Display for Json {
    /// `{}` writes compact JSON, `{:#}` pretty JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&if f.alternate() {
            self.to_pretty()
        } else {
            self.to_compact()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn round_trips_exactly() {
        let text = r#"{"a":[1.50,-0,1e400,"é\"\\\n\u0001"],"_a":[null,{"id":"x"}],"b":{},"c":[]}"#;
        let j = parse(text).unwrap();
        assert_eq!(j.to_compact(), text);
        assert_eq!(parse(&j.to_pretty()).unwrap(), j);
    }

    #[test]
    fn finds_every_escape_at_every_offset() {
        use crate::scan::{ESCAPE, is_plain, next_escape};
        for len in 0..24 {
            for at in 0..len {
                for special in [
                    "\u{0}", "\u{1f}", "\"", "\\", "\n", " ", "~", "\u{7f}", "é", "!", "#", "[",
                ] {
                    let mut text = "a".repeat(at);
                    text.push_str(special);
                    text.push_str(&"b".repeat(len - at));
                    let bytes = text.as_bytes();
                    for from in 0..=bytes.len() {
                        let naive = (from..bytes.len()).find(|&i| ESCAPE[bytes[i] as usize] != 0);
                        assert_eq!(next_escape(bytes, from), naive, "{text:?} from {from}");
                        assert_eq!(
                            is_plain(&bytes[from..]),
                            naive.is_none(),
                            "{text:?} from {from}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn pretty_layout() {
        let j = parse(r#"{"a":[1,{"b":null}],"c":{}}"#).unwrap();
        assert_eq!(
            j.to_pretty(),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {}\n}"
        );
    }
}
