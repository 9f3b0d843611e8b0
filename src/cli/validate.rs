//! `spfhir validate`: load packages, validate each input, render issues as compiler-style
//! text, OperationOutcomes or NDJSON lines. NDJSON inputs are validated in parallel.
//!
//! Exit codes: 0 no errors (warnings allowed), 1 some error, 2 usage, unreadable input or a
//! missing package.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::issue::{Issue, Severity, operation_outcome};
use crate::json::{self, Json, LineIndex};
use crate::package::{self, LoadOptions};
use crate::validate::{Options, UncheckedCodes, Validator};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `file:line:col: severity[id]: message (at expression)`.
    Text,
    /// One OperationOutcome per file.
    Json,
    /// One line per resource: {"file","index","valid","errors","warnings","issues"}.
    Ndjson,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Also validate against this profile (canonical URL, or a StructureDefinition file).
    #[arg(long)]
    pub profile: Vec<String>,
    /// Load loose conformance resources (a file, a Bundle of them, or a folder).
    #[arg(long)]
    pub load: Vec<PathBuf>,
    /// Where to find FHIR packages (.tgz, package folders, folders of them); also
    /// $SPFHIR_PACKAGE_PATH, then ~/.fhir/packages for dependencies.
    #[arg(long = "package-path")]
    pub package_path: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How to report codes whose system is not available offline (SNOMED CT, LOINC, …).
    #[arg(long, value_enum, default_value_t = UncheckedCodes::Warning)]
    pub unchecked_codes: UncheckedCodes,
    /// Treat every input as NDJSON (one resource per line). Implied by a .ndjson name.
    #[arg(long)]
    pub ndjson: bool,
    /// Threads for NDJSON inputs (default: one per core).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Also print package-loading notes (missing dependencies) to standard error.
    #[arg(long, short)]
    pub verbose: bool,
    /// Files to validate; `-` or nothing for standard input.
    pub files: Vec<PathBuf>,
}

/// The result for one resource of one input.
struct Outcome {
    file: String,
    /// Line index (0-based) in an NDJSON input.
    index: Option<usize>,
    issues: Vec<Issue>,
}

pub fn run(args: &ValidateArgs) -> i32 {
    let mut load = args.load.clone();
    let mut profiles = Vec::new();
    for p in &args.profile {
        let path = PathBuf::from(p);
        if path.is_file() {
            match profile_url(&path) {
                Ok(url) => {
                    load.push(path);
                    profiles.push(url);
                }
                Err(e) => {
                    eprintln!("error: --profile {p}: {e}");
                    return 2;
                }
            }
        } else {
            profiles.push(p.clone());
        }
    }
    let registry = match package::load(&LoadOptions {
        package_path: args.package_path.clone(),
        load,
        ..Default::default()
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.verbose {
        for n in &registry.notes {
            eprintln!("note: {n}");
        }
    }
    let validator = Validator::new(
        &registry,
        Options {
            profiles: profiles.clone(),
            unchecked_codes: args.unchecked_codes,
            ..Default::default()
        },
    );
    for url in &profiles {
        if let Err(e) = validator.profile(url) {
            eprintln!("error: --profile {url}: {e}");
            return 2;
        }
    }
    let inputs: Vec<Option<PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files.iter().map(|f| Some(f.clone())).collect()
    };
    let mut outcomes = Vec::new();
    for input in &inputs {
        let (name, text) = match super::read_input(input) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let ndjson = args.ndjson || name.ends_with(".ndjson");
        if ndjson {
            outcomes.extend(validate_ndjson(&validator, &name, &text, args.jobs));
        } else {
            outcomes.push(Outcome {
                issues: validate_text(&validator, &text),
                file: name,
                index: None,
            });
        }
    }
    let failed = outcomes
        .iter()
        .any(|o| o.issues.iter().any(|i| i.severity <= Severity::Error));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let _ = render(&mut out, args.format, &outcomes);
    let _ = out.flush();
    if args.format == Format::Text {
        let (e, w) = count(outcomes.iter().flat_map(|o| &o.issues));
        eprintln!(
            "{} resource{} checked: {e} error{}, {w} warning{}",
            outcomes.len(),
            plural(outcomes.len()),
            plural(e),
            plural(w)
        );
    }
    i32::from(failed)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn count<'i>(issues: impl Iterator<Item = &'i Issue>) -> (usize, usize) {
    issues.fold((0, 0), |(e, w), i| match i.severity {
        Severity::Fatal | Severity::Error => (e + 1, w),
        Severity::Warning => (e, w + 1),
        Severity::Information => (e, w),
    })
}

/// The canonical URL of a StructureDefinition file given to --profile.
fn profile_url(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let sd = json::parse(&text).map_err(|e| e.to_string())?;
    if sd.get("resourceType").and_then(Json::as_str) != Some("StructureDefinition") {
        return Err("not a StructureDefinition".into());
    }
    sd.get("url")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| "the StructureDefinition has no url".into())
}

/// Parse and validate one JSON text; positions become line:col.
fn validate_text(v: &Validator<'_>, text: &str) -> Vec<Issue> {
    match json::parse(text) {
        Ok(res) => {
            let mut issues = v.validate(&res);
            let index = LineIndex::new(text);
            for i in &mut issues {
                i.locate(&index, text);
            }
            issues
        }
        Err(e) => vec![syntax_issue(&e)],
    }
}

fn syntax_issue(e: &json::ParseError) -> Issue {
    let mut i = Issue::error("invalid", "JSON_SYNTAX", e.message.clone());
    i.line_col = Some(e.line_col);
    i
}

/// Validate each non-blank line, spread over `jobs` threads (default: the machine's cores);
/// results in line order.
fn validate_ndjson(v: &Validator<'_>, name: &str, text: &str, jobs: Option<usize>) -> Vec<Outcome> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let threads = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, lines.len().max(1));
    let chunk = lines.len().div_ceil(threads).max(1);
    let mut results: Vec<Vec<Outcome>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&(n, line)| {
                            let mut issues = validate_text(v, line);
                            for i in &mut issues {
                                if let Some(lc) = &mut i.line_col {
                                    lc.line = n as u32 + 1;
                                }
                            }
                            Outcome {
                                file: name.to_string(),
                                index: Some(n),
                                issues,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            results.push(h.join().unwrap_or_default());
        }
    });
    results.into_iter().flatten().collect()
}

fn render(out: &mut impl Write, format: Format, outcomes: &[Outcome]) -> std::io::Result<()> {
    match format {
        Format::Text => {
            for o in outcomes {
                for i in &o.issues {
                    writeln!(out, "{}", i.render(&o.file))?;
                }
            }
        }
        Format::Json => {
            for o in outcomes {
                writeln!(out, "{:#}", operation_outcome(&o.issues))?;
            }
        }
        Format::Ndjson => {
            for o in outcomes {
                let (e, w) = count(o.issues.iter());
                let issues: Vec<Json> = o
                    .issues
                    .iter()
                    .map(|i| Json::from_serde(&serde_json::to_value(i).unwrap_or_default()))
                    .collect();
                let line = Json::obj()
                    .with("file", o.file.as_str())
                    .with_opt("index", o.index.map(|i| i as i64))
                    .with("valid", e == 0)
                    .with("errors", e as i64)
                    .with("warnings", w as i64)
                    .with("issues", Json::from(issues));
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}
