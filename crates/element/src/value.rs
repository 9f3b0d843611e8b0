//! The tree itself: [`Json`] nodes with a position and a [`Kind`].

use compact_str::CompactString;

use super::Pos;

/// One JSON value and where it started in the source.
#[derive(Clone, Debug)]
pub struct Json {
    pub pos: Pos,
    pub kind: Kind,
}

/// What a node holds. Numbers keep their source text exactly.
#[derive(Clone, Debug)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The number exactly as written (always valid JSON number syntax).
    Number(CompactString),
    String(CompactString),
    Array(Vec<Json>),
    Object(Object),
}

/// An object's members in source order. Duplicate keys are kept (FHIR forbids them; the
/// validator reports them, nothing is dropped here).
#[derive(Clone, Debug, Default)]
pub struct Object {
    pub members: Vec<Member>,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub key: CompactString,
    pub key_pos: Pos,
    pub value: Json,
}

/// Value equality: positions are ignored, member order and number text are not.
impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.kind == other.kind
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Null, Kind::Null) => true,
            (Kind::Bool(a), Kind::Bool(b)) => a == b,
            (Kind::Number(a), Kind::Number(b)) => a == b,
            (Kind::String(a), Kind::String(b)) => a == b,
            (Kind::Array(a), Kind::Array(b)) => a == b,
            (Kind::Object(a), Kind::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        self.members.len() == other.members.len()
            && self
                .members
                .iter()
                .zip(&other.members)
                .all(|(a, b)| a.key == b.key && a.value == b.value)
    }
}

impl Object {
    /// The first member called `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.members.iter().find(|m| m.key == key).map(|m| &m.value)
    }

    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.members
            .iter_mut()
            .find(|m| m.key == key)
            .map(|m| &mut m.value)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.members.iter().map(|m| (m.key.as_str(), &m.value))
    }
}

impl Json {
    /// The first key repeated within one object, anywhere in the tree, as its path from
    /// here (`root.entry[1].resource.status`) and the repeated member's value. The parser
    /// keeps duplicates (JSON allows them; FHIR does not), so each reader decides what to
    /// do; this finds them in one pass.
    pub fn first_duplicate_key(&self, root: &str) -> Option<(String, &Json)> {
        // The scan builds no paths (it runs on every translated payload); only a repeat
        // found is then located, by a second walk that does.
        let repeat = self.find_duplicate()?;
        let mut path = root.to_string();
        self.path_to(repeat, &mut path).then_some((path, repeat))
    }

    /// The value of the first repeated key, depth first, without allocating per node.
    fn find_duplicate(&self) -> Option<&Json> {
        let mut stack: Vec<&Json> = vec![self];
        while let Some(node) = stack.pop() {
            match &node.kind {
                Kind::Object(o) => {
                    let m = &o.members;
                    // Objects are small: comparing pairs beats hashing below a few dozen.
                    let repeat = if m.len() <= 32 {
                        (1..m.len()).find(|&j| m[..j].iter().any(|a| a.key == m[j].key))
                    } else {
                        let mut seen = std::collections::HashSet::with_capacity(m.len());
                        (0..m.len()).find(|&j| !seen.insert(m[j].key.as_str()))
                    };
                    if let Some(j) = repeat {
                        return Some(&m[j].value);
                    }
                    stack.extend(
                        m.iter()
                            .rev()
                            .map(|m| &m.value)
                            .filter(|v| v.is_container()),
                    );
                }
                Kind::Array(items) => stack.extend(items.iter().rev().filter(|v| v.is_container())),
                _ => {}
            }
        }
        None
    }

    /// Append the path from here to `target` (by address) to `path`; whether it was found.
    fn path_to(&self, target: &Json, path: &mut String) -> bool {
        if std::ptr::eq(self, target) {
            return true;
        }
        let len = path.len();
        match &self.kind {
            Kind::Object(o) => {
                for m in &o.members {
                    path.push('.');
                    path.push_str(&m.key);
                    if m.value.path_to(target, path) {
                        return true;
                    }
                    path.truncate(len);
                }
            }
            Kind::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    if v.path_to(target, path) {
                        return true;
                    }
                    path.truncate(len);
                }
            }
            _ => {}
        }
        false
    }

    fn is_container(&self) -> bool {
        matches!(self.kind, Kind::Object(_) | Kind::Array(_))
    }

    pub fn new(kind: Kind) -> Json {
        Json {
            pos: Pos::NONE,
            kind,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match &self.kind {
            Kind::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match &mut self.kind {
            Kind::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The exact source text of a number.
    pub fn as_number_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Number(n) => Some(n),
            _ => None,
        }
    }

    /// An integer-valued number (no fraction or exponent) that fits in i64.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number_text().and_then(|t| t.parse().ok())
    }

    /// Member `key` of an object (first occurrence); `None` for other kinds.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// Member `key` of an object when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Json::as_str)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// A short name of the node's JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::Array(_) => "array",
            Kind::Object(_) => "object",
        }
    }

    /// Convert to `serde_json::Value` (numbers go through serde_json's own parser, so a
    /// decimal becomes f64 there unless serde_json's arbitrary_precision is on).
    pub fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            Kind::String(s) => Value::String(s.to_string()),
            Kind::Array(a) => Value::Array(a.iter().map(Json::to_serde).collect()),
            Kind::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_serde()))
                    .collect(),
            ),
        }
    }

    /// Convert from `serde_json::Value` (positions are [`Pos::NONE`]).
    pub fn from_serde(v: &serde_json::Value) -> Json {
        use serde_json::Value;
        Json::new(match v {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.to_string().into()),
            Value::String(s) => Kind::String(s.as_str().into()),
            Value::Array(a) => Kind::Array(a.iter().map(Json::from_serde).collect()),
            Value::Object(o) => Kind::Object(Object {
                members: o
                    .iter()
                    .map(|(k, v)| Member {
                        key: k.as_str().into(),
                        key_pos: Pos::NONE,
                        value: Json::from_serde(v),
                    })
                    .collect(),
            }),
        })
    }
}
