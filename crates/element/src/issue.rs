//! One diagnostic type for every layer: parsing, translation, mapping and (later) validation.
//!
//! An [`Issue`] has a severity, a FHIR `IssueType` code, a stable message id (catalogued in
//! `conformance/messages.md`), a plain-English sentence, and where it happened: a FHIRPath
//! `expression` and, for parsed input, a source position. It renders either as an
//! OperationOutcome (server, `--format json`) or as compiler-style text (CLI).
//!
//! Invariant: messages never contain patient data values (names, NHS numbers, addresses);
//! they name elements and rules, so issues are safe to log.

use crate::msg::Msg;
use crate::{Json, LineCol, LineIndex, Pos};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// The FHIR R4 `IssueType` code of an issue (`OperationOutcome.issue.code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Unknown,
    Expired,
    Forbidden,
    Suppressed,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    CodeInvalid,
    Extension,
    TooCostly,
    BusinessRule,
    Conflict,
    Transient,
    LockError,
    NoStore,
    Exception,
    Timeout,
    Incomplete,
    Throttled,
    Informational,
}

impl IssueType {
    /// The code as FHIR spells it (`code-invalid`).
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::Invariant => "invariant",
            IssueType::Security => "security",
            IssueType::Login => "login",
            IssueType::Unknown => "unknown",
            IssueType::Expired => "expired",
            IssueType::Forbidden => "forbidden",
            IssueType::Suppressed => "suppressed",
            IssueType::Processing => "processing",
            IssueType::NotSupported => "not-supported",
            IssueType::Duplicate => "duplicate",
            IssueType::MultipleMatches => "multiple-matches",
            IssueType::NotFound => "not-found",
            IssueType::Deleted => "deleted",
            IssueType::TooLong => "too-long",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Extension => "extension",
            IssueType::TooCostly => "too-costly",
            IssueType::BusinessRule => "business-rule",
            IssueType::Conflict => "conflict",
            IssueType::Transient => "transient",
            IssueType::LockError => "lock-error",
            IssueType::NoStore => "no-store",
            IssueType::Exception => "exception",
            IssueType::Timeout => "timeout",
            IssueType::Incomplete => "incomplete",
            IssueType::Throttled => "throttled",
            IssueType::Informational => "informational",
        }
    }
}

impl serde::Serialize for IssueType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A diagnostic. Build with [`Issue::error`] / [`Issue::warning`] and the `at_*` helpers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR IssueType code: `invalid`, `structure`, `required`, `value`, `not-supported`, …
    pub code: IssueType,
    /// Stable message id, e.g. `TRANSLATE_NOT_MAPPED` (see [`crate::msg`]).
    pub id: &'static str,
    /// The plain-English sentence, without its provenance (see [`Issue::text`]).
    pub message: String,
    /// The profile whose rule this is, when it is not a base definition's: rendered after
    /// the message as ` (profile URL)`, and not part of what makes two findings the same.
    pub profile: Option<String>,
    /// FHIRPath of the element concerned, e.g. `Bundle.entry[2].resource.subject`.
    pub expression: Option<String>,
    pub pos: Option<Pos>,
    pub line_col: Option<LineCol>,
}

impl Issue {
    pub fn new(severity: Severity, msg: Msg, message: impl Into<String>) -> Issue {
        Issue {
            severity,
            code: msg.code,
            id: msg.id,
            message: message.into(),
            profile: None,
            expression: None,
            pos: None,
            line_col: None,
        }
    }

    pub fn error(msg: Msg, message: impl Into<String>) -> Issue {
        Issue::new(Severity::Error, msg, message)
    }

    pub fn warning(msg: Msg, message: impl Into<String>) -> Issue {
        Issue::new(Severity::Warning, msg, message)
    }

    /// Record the profile whose rule this is.
    pub fn in_profile(mut self, url: Option<&str>) -> Issue {
        self.profile = url.map(str::to_string);
        self
    }

    /// The message as users see it: the sentence, then ` (profile URL)` when a profile's
    /// rule gave it.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.profile {
            None => std::borrow::Cow::Borrowed(&self.message),
            Some(p) => std::borrow::Cow::Owned(format!("{} (profile {p})", self.message)),
        }
    }

    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression = Some(expression.into());
        self
    }

    /// Attach the source position of `node` (ignored for nodes built in code).
    pub fn at_node(mut self, node: &Json) -> Issue {
        if !node.pos.is_none() {
            self.pos = Some(node.pos);
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }

    /// Fill `line_col` from `pos` using the source text the positions refer to.
    pub fn locate(&mut self, index: &LineIndex, text: &str) {
        if let (None, Some(pos)) = (self.line_col, self.pos) {
            self.line_col = index.line_col(text, pos);
        }
    }

    /// `file:line:col: severity[id]: message (at expression)` — the CLI's text form.
    pub fn render(&self, file: &str) -> String {
        let mut s = String::from(file);
        if let Some(lc) = self.line_col {
            s.push_str(&format!(":{}:{}", lc.line, lc.col));
        }
        s.push_str(&format!(
            ": {}[{}]: {}",
            self.severity.as_str(),
            self.id,
            self.text()
        ));
        if let Some(e) = &self.expression {
            s.push_str(&format!(" (at {e})"));
        }
        s
    }
}

/// `{"severity","code","id","message","expression"?,"line_col"?}`: the NDJSON form, with
/// the message as users see it ([`Issue::text`]).
impl serde::Serialize for Issue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields =
            4 + usize::from(self.expression.is_some()) + usize::from(self.line_col.is_some());
        let mut st = s.serialize_struct("Issue", fields)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("message", &*self.text())?;
        if let Some(e) = &self.expression {
            st.serialize_field("expression", e)?;
        }
        if let Some(lc) = &self.line_col {
            st.serialize_field("line_col", lc)?;
        }
        st.end()
    }
}

/// Render issues as a FHIR R4 OperationOutcome. An empty list gives the single
/// "all OK" information issue that R4 requires (OperationOutcome.issue is 1..*).
pub fn operation_outcome(issues: &[Issue]) -> Json {
    let mut list: Vec<Json> = issues.iter().map(issue_json).collect();
    if list.is_empty() {
        list.push(
            Json::obj()
                .with("severity", "information")
                .with("code", "informational")
                .with("diagnostics", "No issues found."),
        );
    }
    Json::obj()
        .with("resourceType", "OperationOutcome")
        .with_list("issue", list)
}

fn issue_json(issue: &Issue) -> Json {
    let mut ext = Vec::new();
    if let Some(lc) = issue.line_col {
        ext.push(
            Json::obj()
                .with(
                    "url",
                    "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line",
                )
                .with("valueInteger", lc.line as i64),
        );
        ext.push(
            Json::obj()
                .with(
                    "url",
                    "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col",
                )
                .with("valueInteger", lc.col as i64),
        );
    }
    ext.push(
        Json::obj()
            .with(
                "url",
                "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
            )
            .with("valueString", issue.id),
    );
    Json::obj()
        .with_list("extension", ext)
        .with("severity", issue.severity.as_str())
        .with("code", issue.code.as_str())
        .with("details", Json::obj().with("text", issue.text().as_ref()))
        .with_opt(
            "expression",
            issue
                .expression
                .as_ref()
                .map(|e| Json::arr().item(e.as_str())),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_and_outcome() {
        let text = "{\n  \"a\": 1\n}";
        let node = crate::parse(text).unwrap();
        let member = node.get("a").unwrap();
        let mut issue = Issue::warning(crate::msg::TRANSLATE_NOT_MAPPED, "something")
            .at("X.a")
            .at_node(member);
        issue.locate(&LineIndex::new(text), text);
        assert_eq!(
            issue.render("f.json"),
            "f.json:2:8: warning[TRANSLATE_NOT_MAPPED]: something (at X.a)"
        );
        let oo = operation_outcome(&[issue]).to_compact();
        assert!(oo.contains(r#""expression":["X.a"]"#), "{oo}");
        assert!(
            oo.contains(r#"operationoutcome-issue-line","valueInteger":2"#),
            "{oo}"
        );
        assert!(
            operation_outcome(&[])
                .to_compact()
                .contains("No issues found.")
        );
    }
}
