//! Building trees in code, for the translators: `Json::obj()`, `.with(k, v)`, `From` impls.

use compact_str::CompactString;

use super::{Json, Kind, Member, Object, Pos};

impl Json {
    /// An empty object.
    #[inline]
    pub fn obj() -> Json {
        Json::new(Kind::Object(Object::default()))
    }

    /// An empty array.
    #[inline]
    pub fn arr() -> Json {
        Json::new(Kind::Array(Vec::new()))
    }

    /// A number from its exact text. The caller guarantees JSON number syntax.
    #[inline]
    pub fn number_text(text: impl Into<CompactString>) -> Json {
        Json::new(Kind::Number(text.into()))
    }

    /// Append member `key` (builder style). Objects only; on other kinds it does nothing.
    #[inline]
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.push_member(key, value.into());
        self
    }

    /// Append member `key` if `value` is `Some` and not an empty object or array.
    #[inline]
    pub fn with_opt<T: Into<Json>>(mut self, key: &str, value: Option<T>) -> Json {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty_container() {
                self.push_member(key, v);
            }
        }
        self
    }

    /// Append an array member `key` unless `items` is empty (FHIR forbids empty arrays).
    #[inline]
    pub fn with_list(mut self, key: &str, items: Vec<Json>) -> Json {
        if !items.is_empty() {
            self.push_member(key, Json::new(Kind::Array(items)));
        }
        self
    }

    #[inline]
    pub fn push_member(&mut self, key: &str, value: Json) {
        if let Kind::Object(o) = &mut self.kind {
            o.members.push(Member {
                key: key.into(),
                key_pos: Pos::NONE,
                value,
            });
        }
    }

    /// Append to an array (builder style). Arrays only; on other kinds it does nothing.
    #[inline]
    pub fn item(mut self, value: impl Into<Json>) -> Json {
        if let Kind::Array(a) = &mut self.kind {
            a.push(value.into());
        }
        self
    }

    #[inline]
    pub fn is_empty_container(&self) -> bool {
        match &self.kind {
            Kind::Object(o) => o.members.is_empty(),
            Kind::Array(a) => a.is_empty(),
            _ => false,
        }
    }
}

impl From<&str> for Json {
    #[inline]
    fn from(s: &str) -> Json {
        Json::new(Kind::String(s.into()))
    }
}

impl From<&String> for Json {
    #[inline]
    fn from(s: &String) -> Json {
        Json::new(Kind::String(s.as_str().into()))
    }
}

impl From<String> for Json {
    #[inline]
    fn from(s: String) -> Json {
        Json::new(Kind::String(s.into()))
    }
}

impl From<bool> for Json {
    #[inline]
    fn from(b: bool) -> Json {
        Json::new(Kind::Bool(b))
    }
}

impl From<i64> for Json {
    #[inline]
    fn from(n: i64) -> Json {
        Json::new(Kind::Number(CompactString::from(
            itoa::Buffer::new().format(n),
        )))
    }
}

impl From<u32> for Json {
    #[inline]
    fn from(n: u32) -> Json {
        Json::from(n as i64)
    }
}

impl From<rust_decimal::Decimal> for Json {
    /// Decimals keep their scale: 23.20 is written `23.20`.
    #[inline]
    fn from(d: rust_decimal::Decimal) -> Json {
        Json::number_text(d.to_string())
    }
}

impl From<Vec<Json>> for Json {
    #[inline]
    fn from(items: Vec<Json>) -> Json {
        Json::new(Kind::Array(items))
    }
}
