//! Primitive values: the JSON kind each FHIR primitive takes, and the lexical rules (regular
//! expressions and ranges of the R4 specification) its value must meet.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

use crate::json::{Json, Kind, temporal};

/// Is `code` a FHIR primitive type (or a FHIRPath system type)?
pub fn is_primitive(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_lowercase()) || code.starts_with("System.")
}

/// `pattern` compiled to match whole values only, with a size limit (patterns may come
/// from loaded resources, e.g. a Questionnaire's `regex` extension).
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}

fn re(pattern: &str) -> Regex {
    anchored(pattern).expect("valid built-in pattern")
}

static OID: LazyLock<Regex> = LazyLock::new(|| re(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"));
static UUID: LazyLock<Regex> =
    LazyLock::new(|| re(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));

/// Check a primitive value's JSON kind and lexical form. `Err` says what is wrong in words
/// that name the type, never the value itself (values may be patient data).
pub fn check(code: &str, v: &Json) -> Result<(), String> {
    let code = code.strip_prefix("System.").map_or(code, |c| match c {
        "String" => "string",
        "Boolean" => "boolean",
        "Integer" => "integer",
        "Decimal" => "decimal",
        "Date" => "date",
        "DateTime" => "dateTime",
        "Time" => "time",
        other => other,
    });
    match (&v.kind, code) {
        (Kind::Bool(_), "boolean") => Ok(()),
        (_, "boolean") => Err(format!(
            "must be a JSON boolean (true or false), not {}",
            v.type_name()
        )),
        (Kind::Number(n), "integer" | "positiveInt" | "unsignedInt") => {
            let Ok(i) = n.parse::<i64>() else {
                return Err(format!("must be a whole number for {code}"));
            };
            if i32::try_from(i).is_err() {
                return Err(format!("is outside the 32-bit range of {code}"));
            }
            match code {
                "positiveInt" if i < 1 => Err("must be 1 or more (positiveInt)".into()),
                "unsignedInt" if i < 0 => Err("must be 0 or more (unsignedInt)".into()),
                _ => Ok(()),
            }
        }
        (Kind::Number(_), "decimal") => Ok(()),
        (Kind::Number(_), "integer64") => Ok(()),
        (_, "integer" | "positiveInt" | "unsignedInt" | "decimal") => Err(format!(
            "must be a JSON number for {code}, not {}",
            v.type_name()
        )),
        (Kind::String(s), _) => check_string(code, s),
        _ => Err(format!(
            "must be a JSON string for {code}, not {}",
            v.type_name()
        )),
    }
}

/// R4's `code` pattern `[^\s]+( [^\s]+)*`, without a regex (codes are everywhere): one
/// pass over the bytes of an ASCII code, the general rule ([`is_code_chars`]) otherwise.
fn is_code(s: &str) -> bool {
    if !s.is_ascii() {
        return is_code_chars(s);
    }
    // `prev_space` starts true, so a leading space is a repeat; a trailing one is caught last.
    let mut prev_space = true;
    for &b in s.as_bytes() {
        match b {
            b' ' if prev_space => return false,
            b' ' => prev_space = true,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => return false,
            _ => prev_space = false,
        }
    }
    !prev_space
}

/// Does `s` hold whitespace as `char::is_whitespace` defines it? A byte test for ASCII text
/// (every system and reference URL is checked, so this is on the hot path).
fn has_whitespace(s: &str) -> bool {
    // Every whitespace character is a space or control byte, or starts with a non-ASCII one.
    s.bytes().any(|b| b <= b' ' || b >= 0x80) && s.chars().any(char::is_whitespace)
}

/// Does `s` start with a URI scheme (RFC 3986: a letter, then letters, digits, `+`, `-` or
/// `.`, then `:`) and have something after it? `http://x`, `urn:oid:1.2` and `mailto:a@b`
/// are absolute; `loinc`, `Patient/1`, `//x` and `a b:c` are not.
pub(crate) fn is_absolute_uri(s: &str) -> bool {
    // One pass over the scheme only (every canonical and Identifier.system comes here).
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    for (i, &c) in b.iter().enumerate().skip(1) {
        match c {
            b':' => return i + 1 < b.len(),
            c if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.') => {}
            _ => return false,
        }
    }
    false
}

/// [`is_code`] for any text, whitespace as Rust's `char::is_whitespace` defines it.
fn is_code_chars(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars().all(|c| c == ' ' || !c.is_whitespace())
}

/// R4's `id` pattern `[A-Za-z0-9\-\.]{1,64}`.
pub(crate) fn is_id(s: &str) -> bool {
    // One table lookup a byte: every reference's id is checked.
    static ID_BYTE: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
            b += 1;
        }
        t
    };
    (1..=64).contains(&s.len()) && s.bytes().all(|b| ID_BYTE[b as usize])
}

fn check_string(code: &str, s: &str) -> Result<(), String> {
    let bad = |what: &str| Err(format!("is not a valid {code}: {what}"));
    if s.is_empty() {
        return Err("must not be an empty string (leave the element out instead)".into());
    }
    match code {
        "date" => temporal::date(s).or_else(bad),
        "dateTime" => temporal::date_time(s).or_else(bad),
        "instant" => temporal::instant(s).or_else(bad),
        "time" => temporal::time(s).or_else(bad),
        "code" if !is_code(s) => bad("no leading, trailing or repeated whitespace allowed"),
        "id" if !is_id(s) => bad("1 to 64 letters, digits, '-' or '.'"),
        "oid" if !OID.is_match(s) => bad("expected urn:oid: followed by a dotted number"),
        "uuid" if !UUID.is_match(s) => bad("expected urn:uuid: followed by a lower-case UUID"),
        // A URI in the urn:uuid: or urn:oid: scheme follows that scheme's form too (RFC 4122
        // in lower case, as FHIR's uuid type has it; RFC 3001's dotted numbers).
        "uri" | "url" | "canonical" if s.starts_with("urn:uuid:") && !UUID.is_match(s) => {
            bad("a urn:uuid: must be followed by a lower-case UUID (8-4-4-4-12 hex digits)")
        }
        "uri" | "url" | "canonical" if s.starts_with("urn:oid:") && !OID.is_match(s) => {
            bad("a urn:oid: must be followed by a dotted number without leading zeros")
        }
        "uri" | "url" | "canonical" if has_whitespace(s) => bad("no whitespace allowed"),
        // `oid:` and `uuid:` are not URI schemes; FHIR writes them `urn:oid:` and `urn:uuid:`.
        "uri" | "url" | "canonical" if s.starts_with("oid:") || s.starts_with("uuid:") => {
            bad("OIDs and UUIDs are written urn:oid:… and urn:uuid:…")
        }
        // A canonical names a resource by its canonical URL, which is absolute (R4
        // references.html#canonical), or a contained resource by `#id`.
        "canonical" if !s.starts_with('#') && !is_absolute_uri(s) => {
            bad("a canonical reference is an absolute URI (or #id for a contained resource)")
        }
        "base64Binary" => {
            let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(_) => Ok(()),
                Err(_) => bad("not base64"),
            }
        }
        "string" | "markdown" if s.len() > 1024 * 1024 => bad("longer than 1 MB"),
        _ => Ok(()),
    }
}

/// The text of a `string` or `markdown` (or FHIRPath `System.String`) value: what the
/// text rules below look at. One type test for all of them.
pub fn text_of<'j>(code: &str, v: &'j Json) -> Option<&'j str> {
    if matches!(code, "string" | "markdown" | "System.String") {
        v.as_str()
    } else {
        None
    }
}

/// A string or markdown that is only whitespace. R4's string pattern (`[ \r\n\t\S]+`)
/// allows it, so it is a warning, as the reference validator has it, not an error.
pub fn only_whitespace(s: &str) -> bool {
    !s.is_empty() && s.trim().is_empty()
}

/// A `string` with text that starts or ends with a space, tab or line break (`"Smith "`).
/// Allowed, but the reference validator warns ("should not start or finish with
/// whitespace"). Not markdown, where a line break at the end can mean something: the
/// caller asks this of strings only.
pub fn padded(s: &str) -> bool {
    let b = s.as_bytes();
    let ws = |c: Option<&u8>| c.is_some_and(u8::is_ascii_whitespace);
    (ws(b.first()) || ws(b.last())) && !s.trim().is_empty()
}

/// The first Unicode bidirectional control in a text that is left open (UAX #9): an
/// embedding or override (LRE, RLE, LRO, RLO) without its PDF, or an isolate (LRI, RLI,
/// FSI) without its PDI, before the end of the text or of its paragraph. An open control
/// reverses how the text after it is shown, the "Trojan Source" attack (CVE-2021-42574);
/// the reference validator rejects it. Closers without an opener are harmless and let
/// pass. ASCII text is not scanned further.
pub fn bidi_unterminated(s: &str) -> Option<&'static str> {
    // Every control here is outside ASCII (U+202A..U+202E, U+2066..U+2069), and nearly all
    // text is ASCII, which `is_ascii` tells a word at a time.
    if s.is_ascii() {
        return None;
    }
    // The open controls, innermost last: (is an isolate, name).
    let mut open: Vec<(bool, &'static str)> = Vec::new();
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\u{2029}' | '\u{85}' => open.clear(),
            '\u{202A}' => open.push((false, "LRE")),
            '\u{202B}' => open.push((false, "RLE")),
            '\u{202D}' => open.push((false, "LRO")),
            '\u{202E}' => open.push((false, "RLO")),
            '\u{2066}' => open.push((true, "LRI")),
            '\u{2067}' => open.push((true, "RLI")),
            '\u{2068}' => open.push((true, "FSI")),
            // PDF closes the innermost embedding, unless an isolate is open inside it.
            '\u{202C}' if open.last().is_some_and(|(isolate, _)| !isolate) => {
                open.pop();
            }
            // PDI closes the innermost isolate and the embeddings opened inside it.
            '\u{2069}' => {
                if let Some(k) = open.iter().rposition(|(isolate, _)| *isolate) {
                    open.truncate(k);
                }
            }
            _ => {}
        }
    }
    open.first().map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::{
        bidi_unterminated, check, has_whitespace, is_absolute_uri, is_code, is_code_chars, padded,
        text_of,
    };
    use crate::json::parse;

    #[test]
    fn padded_strings() {
        let cases = [
            ("string", "\"Smith \"", true),
            ("string", "\" Smith\"", true),
            ("string", "\"\\tSmith\"", true),
            ("string", "\"Smith\\n\"", true),
            ("string", "\"Ann Smith\"", false),
            ("string", "\"Smith\\u00a0\"", false),
            ("string", "\"   \"", false),
            ("string", "\"\"", false),
            ("markdown", "\"text\\n\"", false),
            ("code", "\"a \"", false),
        ];
        for (code, json, expected) in cases {
            let v = parse(json).unwrap();
            let text = text_of(code, &v).filter(|_| code == "string");
            assert_eq!(text.is_some_and(padded), expected, "{code} {json}");
        }
    }

    proptest::proptest! {
        /// The byte loop agrees with the general rule on any text, ASCII controls and
        /// Unicode spaces included.
        #[test]
        fn code_fast_path_matches_general_rule(s in "[ a-z\t\n\u{b}\u{c}\r\u{85}\u{a0}\u{2003}é-]{0,8}") {
            proptest::prop_assert_eq!(is_code(&s), is_code_chars(&s), "{:?}", s);
            proptest::prop_assert_eq!(has_whitespace(&s), s.chars().any(char::is_whitespace), "{:?}", s);
        }
    }

    #[test]
    fn bidi_controls_left_open() {
        let open = bidi_unterminated;
        assert_eq!(open("plain text"), None);
        assert_eq!(open("caf\u{e9} \u{2014} dash"), None); // E2 bytes that are no control
        assert_eq!(open("a \u{202E}b"), Some("RLO"));
        assert_eq!(open("a \u{202E}b\u{202C} c"), None);
        assert_eq!(open("\u{202A}x"), Some("LRE"));
        assert_eq!(open("\u{2067}x\u{2069}"), None);
        assert_eq!(open("\u{2068}x"), Some("FSI"));
        assert_eq!(open("\u{202B}x"), Some("RLE"));
        assert_eq!(open("\u{2067}x"), Some("RLI"));
        assert_eq!(open("\u{2066}x"), Some("LRI"));
        assert_eq!(open("\u{202D}x"), Some("LRO"));
        // PDF closes no isolate.
        assert_eq!(open("\u{2066}x\u{202C}"), Some("LRI"));
        // PDI closes its isolate and the embeddings opened inside it.
        assert_eq!(open("\u{2066}\u{202B}x\u{2069}"), None);
        // PDF cannot close an embedding outside an open isolate.
        assert_eq!(open("\u{202D}\u{2066}x\u{202C}"), Some("LRO"));
        // A paragraph ends every control; stray closers do nothing.
        assert_eq!(open("\u{202E}x\ny"), None);
        assert_eq!(open("\u{202C}\u{2069}x"), None);
        assert_eq!(open("\u{202E}x\u{202C}\u{2069}\u{202E}"), Some("RLO"));
        // Only text types are asked.
        let code = crate::json::Json::new(crate::json::Kind::String("\u{202E}".into()));
        assert_eq!(text_of("code", &code), None);
        assert_eq!(text_of("markdown", &code).and_then(open), Some("RLO"));
    }

    #[test]
    fn absolute_uris() {
        for s in ["http://x", "urn:oid:1.2", "mailto:a@b", "a+b-c.d:x", "H:x"] {
            assert!(is_absolute_uri(s), "{s}");
        }
        for s in [
            "loinc",
            "Patient/1",
            "//x:y",
            "a b:c",
            "1a:x",
            "urn:",
            ":x",
            "",
        ] {
            assert!(!is_absolute_uri(s), "{s}");
        }
    }

    fn ok(code: &str, json: &str) -> bool {
        check(code, &parse(json).unwrap()).is_ok()
    }

    #[test]
    fn lexical_rules() {
        for (code, good, bad) in [
            ("date", r#""2024-02-29""#, r#""2024-13-01""#),
            ("date", r#""2024""#, r#""24""#),
            (
                "dateTime",
                r#""2024-02-01T10:00:00Z""#,
                r#""2024-02-01T10:00:00""#,
            ),
            (
                "instant",
                r#""2024-02-01T10:00:00.123+01:00""#,
                r#""2024-02-01""#,
            ),
            ("time", r#""23:59:60""#, r#""24:00:00""#),
            ("id", r#""a-B.9""#, r#""a_b""#),
            ("code", r#""a b""#, r#""a  b""#),
            ("code", r#""a""#, r#"" a""#),
            ("code", r#""a-b""#, r#""a\tb""#),
            ("code", r#""a b c""#, r#""a ""#),
            (
                "id",
                r#""x""#,
                r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#,
            ),
            ("uri", r#""urn:x:y""#, r#""a b""#),
            ("oid", r#""urn:oid:1.2.840""#, r#""urn:oid:1.02""#),
            (
                "uri",
                r#""urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e""#,
                r#""urn:uuid:0F8FAD5B-D9CB-469F-A165-70867728950E""#,
            ),
            ("uri", r#""urn:oid:2.16.840.1""#, r#""urn:oid:2.16.0840""#),
            (
                "canonical",
                r#""urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e""#,
                r#""urn:uuid:1234""#,
            ),
            ("uri", r#""urn:oid:1.2.3""#, r#""oid:1.2.3""#),
            ("url", r#""http://x/uuid:1""#, r#""uuid:0f8fad5b""#),
            (
                "canonical",
                r#""http://x/Questionnaire/a|1.0""#,
                r#""Questionnaire/a""#,
            ),
            ("canonical", r##""#q1""##, r#""q1""#),
            ("base64Binary", r#""aGVsbG8=""#, r#""***""#),
            ("integer", "-5", "1.0"),
            ("integer", "2147483647", "2147483648"),
            ("positiveInt", "1", "0"),
            ("unsignedInt", "0", "-1"),
            ("decimal", "1.50", r#""1.5""#),
            ("boolean", "true", r#""true""#),
            ("string", r#""x""#, r#""""#),
            ("string", r#""x""#, "1"),
        ] {
            assert!(ok(code, good), "{code} {good} should pass");
            assert!(!ok(code, bad), "{code} {bad} should fail");
        }
    }
}
