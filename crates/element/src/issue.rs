//! One diagnostic type for every layer: parsing, translation, mapping and (later) validation.
//!
//! An [`Issue`] has a severity, a FHIR `IssueType` code, a stable message id (catalogued in
//! `conformance/messages.md`), a plain-English sentence, and where it happened: a FHIRPath
//! `expression` and, for parsed input, a source position. It renders either as an
//! OperationOutcome (server, `--format json`) or as compiler-style text (CLI).
//!
//! Invariant: messages never contain patient data values (names, NHS numbers, addresses);
//! they name elements and rules, so issues are safe to log.

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

/// A diagnostic. Build with [`Issue::error`] / [`Issue::warning`] and the `at_*` helpers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR IssueType code: `invalid`, `structure`, `required`, `value`, `not-supported`, …
    pub code: &'static str,
    /// Stable message id, e.g. `TRANSLATE_NOT_MAPPED`.
    pub id: &'static str,
    pub message: String,
    /// FHIRPath of the element concerned, e.g. `Bundle.entry[2].resource.subject`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip)]
    pub pos: Option<Pos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_col: Option<LineCol>,
}

impl Issue {
    pub fn new(
        severity: Severity,
        code: &'static str,
        id: &'static str,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity,
            code,
            id,
            message: message.into(),
            expression: None,
            pos: None,
            line_col: None,
        }
    }

    pub fn error(code: &'static str, id: &'static str, message: impl Into<String>) -> Issue {
        Issue::new(Severity::Error, code, id, message)
    }

    pub fn warning(code: &'static str, id: &'static str, message: impl Into<String>) -> Issue {
        Issue::new(Severity::Warning, code, id, message)
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
            self.message
        ));
        if let Some(e) = &self.expression {
            s.push_str(&format!(" (at {e})"));
        }
        s
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
        .with("code", issue.code)
        .with("details", Json::obj().with("text", issue.message.as_str()))
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
        let mut issue = Issue::warning("informational", "TEST_ID", "something")
            .at("X.a")
            .at_node(member);
        issue.locate(&LineIndex::new(text), text);
        assert_eq!(
            issue.render("f.json"),
            "f.json:2:8: warning[TEST_ID]: something (at X.a)"
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
