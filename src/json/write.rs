//! Serialise a tree back to JSON text. Numbers are written exactly as stored; strings are
//! escaped minimally (quotes, backslashes and control characters), as serde_json does.

use super::{Json, Kind};

/// Compact JSON (no whitespace).
pub fn write_compact(json: &Json, out: &mut String) {
    write(json, out, None, 0);
}

/// Pretty JSON with two-space indentation, the layout of FHIR's published examples.
pub fn write_pretty(json: &Json, out: &mut String) {
    write(json, out, Some(2), 0);
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        for _ in 0..n * level {
            out.push(' ');
        }
    }
}

fn write(json: &Json, out: &mut String, indent: Option<usize>, level: usize) {
    match &json.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(true) => out.push_str("true"),
        Kind::Bool(false) => out.push_str("false"),
        Kind::Number(n) => out.push_str(n),
        Kind::String(s) => write_str(s, out),
        Kind::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write(item, out, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Kind::Object(o) => {
            if o.members.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, m) in o.members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_str(&m.key, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(&m.value, out, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// Write `s` as a JSON string literal.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl Json {
    pub fn to_compact(&self) -> String {
        let mut s = String::new();
        write_compact(self, &mut s);
        s
    }

    pub fn to_pretty(&self) -> String {
        let mut s = String::new();
        write_pretty(self, &mut s);
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
    use crate::json::parse;

    #[test]
    fn round_trips_exactly() {
        let text = r#"{"a":[1.50,-0,1e400,"é\"\\\n\u0001"],"_a":[null,{"id":"x"}],"b":{},"c":[]}"#;
        let j = parse(text).unwrap();
        assert_eq!(j.to_compact(), text);
        assert_eq!(parse(&j.to_pretty()).unwrap(), j);
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
