//! Validating text: the one parse → validate → locate entry point ([`Validator::validate_text`])
//! and the NDJSON pipeline ([`Validator::validate_ndjson`]) the CLI and the server share.
//!
//! NDJSON is streamed: lines are read in batches of [`BATCH`], each batch is spread over
//! worker threads that live for the whole input (so each keeps its allocator's pages warm)
//! and its results are handed to the caller in line order before the next batch is read.
//! Memory stays bounded however long the input. A line that is not UTF-8 or not JSON is
//! reported on that line; a panic while validating a line becomes that line's
//! `INTERNAL_ERROR`, and the other lines still validate.

use std::io::BufRead;

use crate::Validator;
use crate::issue::Issue;
use crate::json::{self, Json, LineCol, LineIndex};
use spfhir_element::msg;

/// Lines read and validated per batch.
pub const BATCH: usize = 4096;

/// The result for one NDJSON line.
#[derive(Debug)]
pub struct LineOutcome {
    /// The line's index (0-based); issue positions carry its number (1-based).
    pub index: usize,
    pub issues: Vec<Issue>,
}

/// A line's index and its text (or why it is not text).
type Line = (usize, Result<String, std::string::FromUtf8Error>);

/// Turn each issue's position into line:col in `text`.
fn locate_all(issues: &mut [Issue], text: &str) {
    if !issues.is_empty() {
        let index = LineIndex::new(text);
        for i in issues {
            i.locate(&index, text);
        }
    }
}

/// The issue for text that is not JSON.
pub fn syntax_issue(e: &json::ParseError) -> Issue {
    let mut i = Issue::error(msg::JSON_SYNTAX, e.message.clone());
    i.line_col = Some(e.line_col);
    i
}

impl Validator {
    /// Parse and validate one JSON text; issue positions become line:col in that text.
    /// Text that is not JSON gives one `JSON_SYNTAX` issue.
    pub fn validate_text(&self, text: &str) -> Vec<Issue> {
        if spfhir_xml::looks_like_xml(text) {
            return match spfhir_xml::parse(text, self.model()) {
                Ok(parsed) => {
                    let mut issues = parsed.issues;
                    issues.extend(self.validate(&parsed.resource));
                    locate_all(&mut issues, text);
                    issues
                }
                Err(e) => {
                    let mut i = Issue::error(msg::XML_SYNTAX, e.message.clone());
                    i.line_col = Some(e.line_col);
                    vec![i]
                }
            };
        }
        match json::parse(text) {
            Ok(res) => {
                let mut issues = self.validate(&res);
                locate_all(&mut issues, text);
                issues
            }
            Err(e) => vec![syntax_issue(&e)],
        }
    }

    /// Validate `resource`, a node of the tree parsed from `text` (a Parameters' resource,
    /// say), also against `profiles`; positions become line:col in `text`.
    pub fn validate_node_in(&self, text: &str, resource: &Json, profiles: &[String]) -> Vec<Issue> {
        let mut issues = self.validate_against(resource, profiles);
        locate_all(&mut issues, text);
        issues
    }

    /// [`Validator::validate_text`] on a thread with the stack FHIRPath's depth bounds are
    /// sized for ([`crate::fhirpath::STACK_SIZE`]), with a panic (a bug) turned into an
    /// `INTERNAL_ERROR` issue for this text alone: what a front end calls for each file or
    /// request, so one input can never take the process down.
    pub fn validate_text_isolated(&self, text: &str) -> Vec<Issue> {
        on_big_stack(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.validate_text(text)))
                .unwrap_or_else(|_| vec![internal_error("input")])
        })
    }

    /// Validate each non-blank line of `reader` over `threads` threads, handing each batch's
    /// results to `sink` in line order. Fails only when `reader` does.
    pub fn validate_ndjson(
        &self,
        mut reader: impl BufRead,
        threads: usize,
        mut sink: impl FnMut(&[LineOutcome]),
    ) -> std::io::Result<()> {
        let threads = threads.max(1);
        let mut line_no = 0usize;
        // Lines are read into one reused buffer and copied out at their exact length
        // (reading each into a fresh Vec grew it a dozen times per line).
        let mut scratch = Vec::with_capacity(1 << 16);
        let mut read_batch = |reader: &mut dyn BufRead| -> std::io::Result<Vec<Line>> {
            let mut batch = Vec::with_capacity(BATCH);
            while batch.len() < BATCH {
                scratch.clear();
                if reader.read_until(b'\n', &mut scratch)? == 0 {
                    break;
                }
                let n = line_no;
                line_no += 1;
                if !scratch.iter().all(u8::is_ascii_whitespace) {
                    batch.push((n, String::from_utf8(scratch.as_slice().to_vec())));
                }
            }
            Ok(batch)
        };
        let validate_all = |lines: &[Line]| -> Vec<LineOutcome> {
            lines
                .iter()
                .map(|(n, line)| self.validate_line(*n, line))
                .collect()
        };
        if threads == 1 {
            loop {
                let batch = read_batch(&mut reader)?;
                if batch.is_empty() {
                    return Ok(());
                }
                sink(&on_big_stack(|| validate_all(&batch)));
            }
        }
        // Work goes out as (chunk number, lines); results come back tagged the same way.
        let (work_tx, work_rx) = std::sync::mpsc::channel::<(usize, Vec<Line>)>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Vec<LineOutcome>)>();
        let work_rx = std::sync::Mutex::new(work_rx);
        let validate_all = &validate_all;
        std::thread::scope(|scope| -> std::io::Result<()> {
            for _ in 0..threads {
                let (work_rx, done_tx) = (&work_rx, done_tx.clone());
                // The stack FHIRPath's depth bound is sized for (spawning can fail only
                // when the system is out of threads; then the others do the work).
                let _ = std::thread::Builder::new()
                    .stack_size(crate::fhirpath::STACK_SIZE)
                    .spawn_scoped(scope, move || {
                        loop {
                            let job = work_rx.lock().map(|rx| rx.recv());
                            let Ok(Ok((k, lines))) = job else { break };
                            if done_tx.send((k, validate_all(&lines))).is_err() {
                                break;
                            }
                        }
                    });
            }
            drop(done_tx);
            let result = (|| {
                loop {
                    let mut batch = read_batch(&mut reader)?;
                    if batch.is_empty() {
                        return Ok(());
                    }
                    let chunk = batch.len().div_ceil(threads);
                    let mut sent = 0;
                    while !batch.is_empty() {
                        let rest = batch.split_off(chunk.min(batch.len()));
                        let _ = work_tx.send((sent, std::mem::replace(&mut batch, rest)));
                        sent += 1;
                    }
                    let mut parts: Vec<(usize, Vec<LineOutcome>)> =
                        done_rx.iter().take(sent).collect();
                    parts.sort_by_key(|(k, _)| *k);
                    for (_, outcomes) in &parts {
                        sink(outcomes);
                    }
                }
            })();
            drop(work_tx); // the workers stop when the queue closes
            result
        })
    }

    /// One NDJSON line's outcome; issue lines are the input's line numbers.
    fn validate_line(
        &self,
        n: usize,
        line: &Result<String, std::string::FromUtf8Error>,
    ) -> LineOutcome {
        let mut issues = match line {
            // A bug in the validator must not take the other lines down with it.
            Ok(text) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.validate_text(text)))
                    .unwrap_or_else(|_| vec![internal_error("line")])
            }
            Err(e) => {
                let mut i = Issue::error(
                    msg::JSON_SYNTAX,
                    format!(
                        "the line is not valid UTF-8 (byte {})",
                        e.utf8_error().valid_up_to() + 1
                    ),
                );
                i.line_col = Some(LineCol { line: 1, col: 1 });
                vec![i]
            }
        };
        for i in &mut issues {
            if let Some(lc) = &mut i.line_col {
                lc.line = n as u32 + 1;
            }
        }
        LineOutcome { index: n, issues }
    }
}

/// The issue for a panic (a bug) while validating one `what` (a line, an input).
fn internal_error(what: &str) -> Issue {
    Issue::error(
        msg::INTERNAL_ERROR,
        format!(
            "spfhir failed while validating this {what} (a bug: please report it with the input); it was not validated"
        ),
    )
}

/// Run `f` on a thread with [`crate::fhirpath::STACK_SIZE`] of stack (on this one if no
/// thread can be started). A panic in `f` carries on in the caller.
fn on_big_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let cell = std::sync::Mutex::new(Some(f));
    let run = || {
        let f = cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        f.map(|f| f())
    };
    let joined = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(crate::fhirpath::STACK_SIZE)
            .spawn_scoped(scope, run)
            .ok()
            .map(|h| h.join())
    });
    match joined {
        Some(Ok(Some(r))) => r,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread could start: the work has not run, so it runs here.
        Some(Ok(None)) | None => run().expect("the work had not run"),
    }
}
