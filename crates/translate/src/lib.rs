//! Domain ⇄ FHIR R4 translation.
//!
//! - [`referral`]: Referral ⇄ ServiceRequest (+ Patient, PractitionerRole, Organization,
//!   HealthcareService, Consent, Flag) in a BaRS-shaped message Bundle or a transaction.
//! - [`careplan`]: CarePlan ⇄ CarePlan + Goal, activities pointing at HealthcareServices.
//! - [`outcome`]: OutcomeResponse ⇄ QuestionnaireResponse against our Questionnaires.
//!
//! Invariants: domain → FHIR is deterministic (same record and timestamp, same bytes) and
//! lossless for everything the domain holds; FHIR → domain never drops anything silently
//! (see the `read` module). Neither direction does I/O or logs.

#[cfg(feature = "fhir-sdk")]
pub mod bridge;

use spfhir_domain::{self as domain, canonical};
use spfhir_element::msg;
use spfhir_element::{self as json, issue};

/// `$name(v) -> code` and `$from(code) -> Option<v>` for an enum mirroring a FHIR code list.
macro_rules! code_table {
    ($name:ident, $from:ident, $ty:ty, [$($v:ident => $s:literal),+ $(,)?]) => {
        pub fn $name(v: $ty) -> &'static str {
            match v { $(<$ty>::$v => $s),+ }
        }
        pub(crate) fn $from(s: &str) -> Option<$ty> {
            match s { $($s => Some(<$ty>::$v),)+ _ => None }
        }
    };
}

pub mod careplan;
pub mod outcome;
mod read;
pub mod referral;
mod write;

use crate::domain::{CarePlan, Identifier, OutcomeResponse, RecordKind, Referral};
use crate::issue::Issue;
use json::{Arena, Builder, Json, Kind, Out};

pub use write::{BundleKind, WriteOptions};

/// FHIR produced from a domain record, with any warnings.
#[derive(Debug)]
pub struct Translated {
    pub fhir: Json,
    pub issues: Vec<Issue>,
}

/// FHIR JSON text produced from a domain record, with any warnings.
#[derive(Debug)]
pub struct Rendered {
    pub text: String,
    pub issues: Vec<Issue>,
}

/// FHIR built from a domain record in an arena, with any warnings.
#[derive(Debug)]
pub struct Built<'a> {
    pub fhir: Out<'a>,
    pub issues: Vec<Issue>,
}

/// A domain record that translates to FHIR: built in an arena ([`ToFhir::build`]), then
/// written as text ([`ToFhir::to_fhir_text`], the fast path: no owned tree at all) or turned
/// into an owned tree ([`ToFhir::to_fhir`]).
pub trait ToFhir {
    fn build<'a>(&'a self, opts: &'a WriteOptions, b: Builder<'a>)
    -> Result<Built<'a>, Vec<Issue>>;

    /// The record as an owned FHIR tree (a Bundle).
    fn to_fhir(&self, opts: &WriteOptions) -> Result<Translated, Vec<Issue>> {
        in_arena(|arena| {
            let built = self.build(opts, Builder::new(arena))?;
            Ok(Translated {
                fhir: built.fhir.to_json(),
                issues: built.issues,
            })
        })
    }

    /// The record as FHIR JSON text (a Bundle), compact or pretty.
    fn to_fhir_text(&self, opts: &WriteOptions, pretty: bool) -> Result<Rendered, Vec<Issue>> {
        in_arena(|arena| {
            let built = self.build(opts, Builder::new(arena))?;
            Ok(Rendered {
                text: if pretty {
                    built.fhir.to_pretty()
                } else {
                    built.fhir.to_compact()
                },
                issues: built.issues,
            })
        })
    }
}

/// An arena kept per thread past this size is dropped rather than reused, so one very large
/// record does not pin its memory for the thread's life.
const ARENA_KEEP: usize = 1 << 20;

thread_local! {
    static ARENA: std::cell::RefCell<Arena> = std::cell::RefCell::new(Arena::new());
}

/// Run `f` with this thread's arena, emptied first (a fresh one if it is in use already).
fn in_arena<R>(f: impl FnOnce(&Arena) -> R) -> R {
    ARENA.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arena) => {
            arena.reset();
            let r = f(&arena);
            if arena.allocated_bytes() > ARENA_KEEP {
                *arena = Arena::new();
            }
            r
        }
        Err(_) => f(&Arena::new()),
    })
}

/// Identifier system used when a resource has no business identifier: the value is then the
/// resource's own URI (its fullUrl, or `Type/id`), per RFC 3986.
pub const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// Find the record's main resource: a message Bundle's focus, the only resource of `kind`
/// in another Bundle, or the input itself.
pub(crate) fn find_focus(rd: &mut read::Reader<'_>, kind: &str) -> Result<usize, Vec<Issue>> {
    // A key given twice could be read either way: the record is refused, never guessed.
    let root = rd.root();
    if let Some((path, node)) = root.first_duplicate_key(read::resource_type(root)) {
        return Err(vec![
            Issue::error(
                msg::TRANSLATE_DUPLICATE_KEY,
                format!("{path} is given more than once; the record is not translated, since either value could be meant"),
            )
            .at(path)
            .at_node(node),
        ]);
    }
    if let Some(&(_, mh)) = rd.all_of("MessageHeader").first()
        && let Some(focus) = mh
            .get("focus")
            .and_then(Json::as_array)
            .and_then(|f| f.first())
        && let Some(i) = rd.resolve(focus)
        && read::resource_type(rd.root_entry(i)) == kind
    {
        return Ok(i);
    }
    let all = rd.all_of(kind);
    match all.as_slice() {
        [(i, _)] => Ok(*i),
        [] => {
            let found = read::resource_type(rd.root());
            Err(vec![Issue::error(msg::TRANSLATE_NO_RECORD,
                format!("expected a {kind} (or a Bundle holding one), found {}", if found.is_empty() { "no resourceType" } else { found }),
            )
            .at(if found.is_empty() { "$this".to_string() } else { found.to_string() })])
        }
        many => Err(vec![Issue::error(msg::TRANSLATE_MANY_RECORDS,
            format!("the Bundle holds {} {kind} resources and no MessageHeader focus says which is the record; send one record per Bundle", many.len()),
        )
        .at("Bundle.entry")]),
    }
}

/// The record's business identifier: its first `identifier` with system and value, else its
/// resource URI (with a warning).
pub(crate) fn record_identifier<'a>(
    rd: &mut read::Reader<'a>,
    res: &'a Json,
    path: &str,
) -> Identifier {
    let ids = rd.list(res, "identifier");
    if let Some(id) = ids.iter().find_map(|id| rd.identifier(id).map(|i| (id, i))) {
        rd.consume_if_done(Some(id.0));
        rd.consume_if_done(res.get("identifier"));
        return id.1;
    }
    let uri = rd.full_url_of(res).map(str::to_string).unwrap_or_else(|| {
        format!(
            "{}/{}",
            read::resource_type(res),
            res.get("id").and_then(Json::as_str).unwrap_or("unknown")
        )
    });
    rd.issues.push(
        Issue::warning(msg::TRANSLATE_NO_IDENTIFIER,
            "the record has no business identifier (system and value); it is identified by its resource URI instead",
        )
        .at(format!("{path}.identifier")),
    );
    Identifier {
        system: URI_SYSTEM.into(),
        value: uri,
    }
}

/// Consume the MessageHeader that spfhir's own care plan and outcome messages carry (see
/// [`write::sp_message_header`]); anything else in it is reported as not mapped.
pub(crate) fn read_sp_header(rd: &mut read::Reader<'_>) {
    if let Some(&(mh, _)) = rd.all_of("MessageHeader").first() {
        let (header, _) = rd.visit(mh);
        for key in ["eventCoding", "focus", "source"] {
            rd.consume(header.get(key));
        }
    }
}

/// FHIR of a domain record given as JSON (the CLI's and server's entry point).
pub fn domain_json_to_fhir(
    kind: RecordKind,
    domain: &str,
    opts: &WriteOptions,
) -> Result<Translated, Vec<Issue>> {
    parse_record(kind, domain)?.to_fhir(opts)
}

/// FHIR JSON text of a domain record given as JSON, compact or `pretty`.
pub fn domain_json_to_fhir_text(
    kind: RecordKind,
    domain: &str,
    opts: &WriteOptions,
    pretty: bool,
) -> Result<Rendered, Vec<Issue>> {
    parse_record(kind, domain)?.to_fhir_text(opts, pretty)
}

/// A domain record of `kind` from its JSON; errors name the member (`person.nhsNumber`) and
/// line:column.
fn parse_record(kind: RecordKind, domain: &str) -> Result<Box<dyn ToFhir>, Vec<Issue>> {
    // A UTF-8 byte order mark is allowed, as the JSON parser allows it (RFC 8259 §8.1).
    let domain = domain.strip_prefix('\u{feff}').unwrap_or(domain);
    fn parse<T: serde::de::DeserializeOwned + ToFhir + 'static>(
        text: &str,
    ) -> Result<Box<dyn ToFhir>, Vec<Issue>> {
        let de = &mut serde_json::Deserializer::from_str(text);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(record) => Ok(Box::new(record)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let mut issue = Issue::error(msg::DOMAIN_INVALID, describe_serde_error(&inner));
                if path != "." {
                    issue = issue.at(path);
                }
                if inner.line() > 0 {
                    issue.line_col = Some(json::LineCol {
                        line: inner.line() as u32,
                        col: inner.column() as u32,
                    });
                }
                Err(vec![issue])
            }
        }
    }
    match kind {
        RecordKind::Referral => parse::<Referral>(domain),
        RecordKind::Careplan => parse::<CarePlan>(domain),
        RecordKind::Outcome => parse::<OutcomeResponse>(domain),
    }
}

/// A serde error in words that never quote the input, since values may be patient data:
/// serde's `invalid type: string "Smith", expected …` becomes `invalid type: string,
/// expected …`, and likewise for invalid values and unknown variants. Field names (which
/// are the schema's) and spfhir's own messages pass as they are; the position is reported
/// apart, as line and column.
pub fn describe_serde_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => &text[..at],
        _ => text.as_str(),
    };
    match e.classify() {
        Category::Eof => "the JSON ends too early".to_string(),
        Category::Data => without_values(text),
        Category::Syntax | Category::Io => text.to_string(),
    }
}

/// serde's data messages with the quoted input value taken out.
fn without_values(text: &str) -> String {
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(lead) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let kind = found.split(['`', '"']).next().unwrap_or_default().trim();
            return if expected.is_empty() {
                format!("{lead}{kind}")
            } else {
                format!("{lead}{kind}, expected {expected}")
            };
        }
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        return match rest.split_once(", expected ") {
            Some((_, expected)) => format!("unknown variant, expected {expected}"),
            None => "unknown variant".to_string(),
        };
    }
    text.to_string()
}

/// Domain JSON (pretty) of a FHIR payload, with the warnings of what did not map.
pub fn fhir_to_domain_json(
    kind: RecordKind,
    fhir: &Json,
) -> Result<(serde_json::Value, Vec<Issue>), Vec<Issue>> {
    fn out<T: serde::Serialize>(
        r: Result<(T, Vec<Issue>), Vec<Issue>>,
    ) -> Result<(serde_json::Value, Vec<Issue>), Vec<Issue>> {
        let (t, issues) = r?;
        Ok((serde_json::to_value(&t).unwrap_or_default(), issues))
    }
    match kind {
        RecordKind::Referral => out(referral::to_domain(fhir)),
        RecordKind::Careplan => out(careplan::to_domain(fhir)),
        RecordKind::Outcome => out(outcome::to_domain(fhir)),
    }
}

/// The Bundle's first `resource_type` resource on its own (to send or validate it alone): an
/// id from its fullUrl's UUID,
/// and every `urn:uuid:` reference rewritten to `Type/id` of the entry it names.
pub fn standalone(bundle: &Json, resource_type: &str) -> Option<Json> {
    let entries = bundle.get("entry").and_then(Json::as_array)?;
    let target = |url: &str| -> Option<String> {
        let e = entries.iter().find(|e| e.get_str("fullUrl") == Some(url))?;
        let rt = e.get("resource")?.get_str("resourceType")?;
        Some(format!("{rt}/{}", url.strip_prefix("urn:uuid:")?))
    };
    let entry = entries.iter().find(|e| {
        e.get("resource").and_then(|r| r.get_str("resourceType")) == Some(resource_type)
    })?;
    let mut res = entry.get("resource")?.clone();
    let id = entry.get_str("fullUrl")?.trim_start_matches("urn:uuid:");
    if let Some(o) = res.as_object_mut() {
        o.members.insert(
            1,
            json::Member {
                key: "id".into(),
                key_pos: json::Pos::NONE,
                value: Json::from(id),
            },
        );
    }
    rewrite_references(&mut res, &target);
    Some(res)
}

fn rewrite_references(v: &mut Json, target: &dyn Fn(&str) -> Option<String>) {
    match &mut v.kind {
        Kind::Object(o) => {
            for m in &mut o.members {
                if m.key == "reference"
                    && let Some(t) = m.value.as_str().and_then(target)
                {
                    m.value = Json::from(t);
                } else {
                    rewrite_references(&mut m.value, target);
                }
            }
        }
        Kind::Array(a) => a.iter_mut().for_each(|x| rewrite_references(x, target)),
        _ => {}
    }
}
