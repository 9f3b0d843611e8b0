//! A strict RFC 8259 parser that records the byte offset of every node.
//!
//! Invariants: it never panics on any input, never recurses deeper than [`MAX_DEPTH`], and
//! never changes a number's text. Errors carry the offset and a plain sentence; callers turn
//! the offset into line:column with [`super::LineIndex`] or [`ParseError::line_col`].

use compact_str::CompactString;

use super::pos::line_col_of;
use super::scan::next_escape;
use super::{Json, Kind, LineCol, Member, Object, Pos};

/// Deepest nesting accepted. FHIR resources rarely pass 20; this bounds stack use.
pub const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line_col}: {message}")]
pub struct ParseError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    pub line_col: LineCol,
    pub message: String,
}

impl ParseError {
    pub fn line_col(&self) -> LineCol {
        self.line_col
    }
}

/// Parse one JSON document. Leading and trailing whitespace (and a UTF-8 BOM) are allowed;
/// anything else after the value is an error.
pub fn parse(text: &str) -> Result<Json, ParseError> {
    let bytes = text.as_bytes();
    let mut p = Parser {
        text,
        bytes,
        i: 0,
        members: Vec::new(),
        items: Vec::new(),
    };
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        p.i = 3;
    }
    p.skip_ws();
    if p.i >= bytes.len() {
        return Err(p.error_at(p.i, "the input is empty: expected a JSON value".into()));
    }
    let value = p.value(0)?;
    p.skip_ws();
    if p.i < bytes.len() {
        return Err(p.error_at(
            p.i,
            format!(
                "unexpected {} after the end of the JSON value (only one value is allowed per document)",
                p.describe_here()
            ),
        ));
    }
    Ok(value)
}

/// The items of `stack` from `base` on, moved (one memcpy) into a Vec of exactly their number;
/// the stack keeps its capacity for the next container.
fn take_from<T>(stack: &mut Vec<T>, base: usize) -> Vec<T> {
    if base == 0 {
        // `split_off(0)` would hand over the whole stack buffer, spare capacity and all.
        let mut out = Vec::with_capacity(stack.len());
        out.append(stack);
        out
    } else {
        stack.split_off(base)
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    i: usize,
    /// Members and items of the objects and arrays being parsed, innermost last: each
    /// container takes its own off the top when it closes, in one allocation of the exact
    /// size (growing a Vec per container reallocated most objects two or three times).
    members: Vec<Member>,
    items: Vec<Json>,
}

impl<'a> Parser<'a> {
    fn error_at(&self, offset: usize, message: String) -> ParseError {
        ParseError {
            offset,
            line_col: line_col_of(self.text, offset),
            message,
        }
    }

    fn describe_here(&self) -> String {
        match self.text.get(self.i..).and_then(|s| s.chars().next()) {
            None => "end of input".into(),
            Some(c) if c.is_control() => format!("control character U+{:04X}", c as u32),
            Some(c) => format!("'{c}'"),
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.i) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        let start = self.i;
        let pos = Pos(start as u32);
        let kind = match self.bytes.get(self.i) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Kind::Number(self.number()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(b'\'') => {
                return Err(self.error_at(
                    start,
                    "strings must use double quotes (\"), not single quotes".into(),
                ));
            }
            _ => {
                return Err(self.error_at(
                    start,
                    format!("expected a JSON value, found {}", self.describe_here()),
                ));
            }
        };
        Ok(Json { pos, kind })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, ParseError> {
        if self.bytes[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(self.error_at(
                self.i,
                format!(
                    "expected a JSON value, found {} (did you mean {word}?)",
                    self.describe_here()
                ),
            ))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            Err(self.error_at(
                self.i,
                format!("the JSON nests deeper than {MAX_DEPTH} levels"),
            ))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, ParseError> {
        self.enter(depth)?;
        let open = self.i;
        self.i += 1;
        let base = self.members.len();
        self.skip_ws();
        if self.bytes.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Kind::Object(Object::default()));
        }
        loop {
            self.skip_ws();
            let key_pos = Pos(self.i as u32);
            match self.bytes.get(self.i) {
                Some(b'"') => {}
                Some(b'}') => {
                    return Err(self.error_at(
                        self.i,
                        "trailing comma before '}': remove the last ','".into(),
                    ));
                }
                None => return Err(self.unclosed(open, '{')),
                _ => {
                    return Err(self.error_at(
                        self.i,
                        format!(
                            "expected a member name in double quotes, found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
            let key = self.string()?;
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b':') => self.i += 1,
                None => return Err(self.unclosed(open, '{')),
                _ => {
                    return Err(self.error_at(
                        self.i,
                        format!(
                            "expected ':' after member name \"{key}\", found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
            self.skip_ws();
            if self.i >= self.bytes.len() {
                return Err(self.unclosed(open, '{'));
            }
            let value = self.value(depth + 1)?;
            self.members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    let members = take_from(&mut self.members, base);
                    return Ok(Kind::Object(Object { members }));
                }
                None => return Err(self.unclosed(open, '{')),
                _ => {
                    return Err(self.error_at(
                        self.i,
                        format!(
                            "expected ',' or '}}' after an object member, found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, ParseError> {
        self.enter(depth)?;
        let open = self.i;
        self.i += 1;
        let base = self.items.len();
        self.skip_ws();
        if self.bytes.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Kind::Array(Vec::new()));
        }
        loop {
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b']') => {
                    return Err(self.error_at(
                        self.i,
                        "trailing comma before ']': remove the last ','".into(),
                    ));
                }
                None => return Err(self.unclosed(open, '[')),
                _ => {}
            }
            let item = self.value(depth + 1)?;
            self.items.push(item);
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Kind::Array(take_from(&mut self.items, base)));
                }
                None => return Err(self.unclosed(open, '[')),
                _ => {
                    return Err(self.error_at(
                        self.i,
                        format!(
                            "expected ',' or ']' after an array item, found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
        }
    }

    fn unclosed(&self, open: usize, c: char) -> ParseError {
        let at = line_col_of(self.text, open);
        let close = if c == '{' { '}' } else { ']' };
        self.error_at(
            self.bytes.len(),
            format!(
                "unexpected end of input: the '{c}' opened at {at} is never closed with '{close}'"
            ),
        )
    }

    fn string(&mut self) -> Result<CompactString, ParseError> {
        let open = self.i;
        self.i += 1;
        let start = self.i;
        // Fast path: skip to the first quote, backslash or control character, eight bytes
        // at a time; a string without escapes is then copied whole.
        self.i = next_escape(self.bytes, start).unwrap_or(self.bytes.len());
        match self.bytes.get(self.i) {
            Some(b'"') => {
                let s = &self.text[start..self.i];
                self.i += 1;
                return Ok(CompactString::from(s));
            }
            Some(b'\\') => {}
            Some(&b) => return Err(self.control_in_string(b)),
            None => return Err(self.unterminated(open)),
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.text[start..self.i]);
        loop {
            match self.bytes.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(CompactString::from(out));
                }
                Some(b'\\') => {
                    let esc_at = self.i;
                    self.i += 1;
                    let c = match self.bytes.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            self.unicode_escape(esc_at)?
                        }
                        None => return Err(self.unterminated(open)),
                        _ => {
                            return Err(self.error_at(
                                esc_at,
                                format!("invalid escape '\\{}' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", self.describe_here()),
                            ));
                        }
                    };
                    if !matches!(self.bytes.get(esc_at + 1), Some(b'u')) {
                        self.i += 1;
                    }
                    out.push(c);
                }
                Some(&b) if b < 0x20 => return Err(self.control_in_string(b)),
                Some(_) => {
                    // Copy a run of ordinary bytes at once; stop on a char boundary.
                    let run_start = self.i;
                    while let Some(&b) = self.bytes.get(self.i) {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.text[run_start..self.i]);
                }
                None => return Err(self.unterminated(open)),
            }
        }
    }

    /// After `\u`: read 4 hex digits (and a low surrogate if this is a high one).
    fn unicode_escape(&mut self, esc_at: usize) -> Result<char, ParseError> {
        let hi = self.hex4(esc_at)?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.bytes.get(self.i) == Some(&b'\\') && self.bytes.get(self.i + 1) == Some(&b'u') {
                let lo_at = self.i;
                self.i += 2;
                let lo = self.hex4(lo_at)?;
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return char::from_u32(c)
                        .ok_or_else(|| self.error_at(esc_at, "invalid unicode escape".into()));
                }
            }
            return Err(self.error_at(esc_at, format!("unpaired surrogate \\u{hi:04X} in a string: a high surrogate must be followed by a low one")));
        }
        if (0xDC00..0xE000).contains(&hi) {
            return Err(self.error_at(
                esc_at,
                format!("unpaired surrogate \\u{hi:04X} in a string"),
            ));
        }
        char::from_u32(hi).ok_or_else(|| self.error_at(esc_at, "invalid unicode escape".into()))
    }

    fn hex4(&mut self, esc_at: usize) -> Result<u32, ParseError> {
        let digits = self
            .bytes
            .get(self.i..self.i + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        match digits {
            Some(d) => {
                self.i += 4;
                Ok(u32::from_str_radix(std::str::from_utf8(d).unwrap_or("0"), 16).unwrap_or(0))
            }
            None => Err(self.error_at(
                esc_at,
                "invalid unicode escape: \\u must be followed by 4 hex digits".into(),
            )),
        }
    }

    fn control_in_string(&self, b: u8) -> ParseError {
        let what = match b {
            b'\n' => "a raw line break".to_string(),
            b'\t' => "a raw tab".to_string(),
            _ => format!("control character U+{b:04X}"),
        };
        self.error_at(
            self.i,
            format!("{what} inside a string: escape it (\\n, \\t, \\u00XX)"),
        )
    }

    fn unterminated(&self, open: usize) -> ParseError {
        let at = line_col_of(self.text, open);
        self.error_at(
            self.bytes.len(),
            format!("unexpected end of input: the string opened at {at} is never closed with '\"'"),
        )
    }

    fn number(&mut self) -> Result<CompactString, ParseError> {
        let start = self.i;
        let b = self.bytes;
        if b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match b.get(self.i) {
            Some(b'0') => {
                self.i += 1;
                if matches!(b.get(self.i), Some(b'0'..=b'9')) {
                    return Err(self.error_at(
                        start,
                        "numbers must not have leading zeros (FHIR and JSON forbid '01')".into(),
                    ));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error_at(start, "a '-' must be followed by a digit".into())),
        }
        if b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !matches!(b.get(self.i), Some(b'0'..=b'9')) {
                return Err(self.error_at(
                    self.i,
                    "a decimal point must be followed by at least one digit".into(),
                ));
            }
            self.digits();
        }
        if matches!(b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(b.get(self.i), Some(b'0'..=b'9')) {
                return Err(
                    self.error_at(self.i, "an exponent must have at least one digit".into())
                );
            }
            self.digits();
        }
        Ok(CompactString::from(&self.text[start..self.i]))
    }

    #[inline]
    fn digits(&mut self) {
        while matches!(self.bytes.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        format!("{}:{}: {}", e.line_col.line, e.line_col.col, e.message)
    }

    #[test]
    fn keeps_number_text_and_member_order() {
        let j = parse(r#"{"b": 1.50, "a": 12345678901234567890.123456789, "c": -0e+10}"#).unwrap();
        let o = j.as_object().unwrap();
        let keys: Vec<_> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(o.get("b").unwrap().as_number_text(), Some("1.50"));
        assert_eq!(
            o.get("a").unwrap().as_number_text(),
            Some("12345678901234567890.123456789")
        );
        assert_eq!(o.get("c").unwrap().as_number_text(), Some("-0e+10"));
    }

    #[test]
    fn records_positions() {
        let text = "{\n  \"a\": [true, \"x\"]\n}";
        let j = parse(text).unwrap();
        let m = j.as_object().unwrap().member("a").unwrap();
        assert_eq!(m.key_pos, Pos(4));
        assert_eq!(m.value.pos, Pos(9));
        assert_eq!(m.value.as_array().unwrap()[1].pos, Pos(16));
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let j = parse(r#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(j.as_str(), Some("a\"b\\c/d\né😀"));
    }

    #[test]
    fn keeps_duplicate_keys() {
        let j = parse(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(j.as_object().unwrap().len(), 2);
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            err("{\n  \"a\": 1,\n}"),
            "3:1: trailing comma before '}': remove the last ','"
        );
        assert_eq!(
            err("{\"a\" 1}"),
            "1:6: expected ':' after member name \"a\", found '1'"
        );
        assert_eq!(
            err("[1, 2"),
            "1:6: unexpected end of input: the '[' opened at 1:1 is never closed with ']'"
        );
        assert_eq!(
            err("{\"a\": 01}"),
            "1:7: numbers must not have leading zeros (FHIR and JSON forbid '01')"
        );
        assert_eq!(
            err("{\"a\": 'x'}"),
            "1:7: strings must use double quotes (\"), not single quotes"
        );
        assert_eq!(
            err("{\"a\": \"x\ny\"}"),
            "1:9: a raw line break inside a string: escape it (\\n, \\t, \\u00XX)"
        );
        assert_eq!(
            err("{\"é\": tru}"),
            "1:7: expected a JSON value, found 't' (did you mean true?)"
        );
        assert_eq!(
            err("{} {}"),
            "1:4: unexpected '{' after the end of the JSON value (only one value is allowed per document)"
        );
        assert_eq!(err("  "), "1:3: the input is empty: expected a JSON value");
        assert_eq!(
            err("\"\\ud800x\""),
            "1:2: unpaired surrogate \\uD800 in a string: a high surrogate must be followed by a low one"
        );
        assert_eq!(
            err("[1.]"),
            "1:4: a decimal point must be followed by at least one digit"
        );
        assert_eq!(
            err("{\"a\":1 \"b\":2}"),
            "1:8: expected ',' or '}' after an object member, found '\"'"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        assert!(err(&text).contains("nests deeper than 256 levels"));
        let ok = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn accepts_a_bom() {
        assert!(parse("\u{feff}{}").is_ok());
    }
}
