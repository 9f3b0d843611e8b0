//! `spfhir validate`: load packages, validate each input, render issues as compiler-style
//! text, OperationOutcomes or NDJSON lines. NDJSON inputs are streamed in batches: each
//! batch is validated in parallel and written before the next is read, so memory stays
//! bounded however long the input, and a progress line goes to standard error when it is a
//! terminal.
//!
//! Exit codes: 0 no errors (warnings allowed), 1 some error, 2 usage, unreadable input or a
//! missing package.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::ValueEnum;

use super::args::Unchecked;
use spfhir_conformance::package;
use spfhir_element::issue::{Issue, Severity, operation_outcome};
use spfhir_element::{self as json, Json};
use spfhir_validate::{Options, Validator};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `file:line:col: severity[id]: message (at expression)`.
    Text,
    /// An OperationOutcome; for several inputs (or NDJSON), one JSON object mapping each
    /// input (`file`, or `file:line` for an NDJSON line) to its OperationOutcome.
    Json,
    /// One line per resource: {"file","index","valid","errors","warnings","issues"}.
    Ndjson,
}

/// What an extension without a loaded definition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownExt {
    Error,
    Warning,
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
    #[arg(long, value_enum, default_value_t = Unchecked::Warning)]
    pub unchecked_codes: Unchecked,
    /// An extension whose definition is not loaded: an error (the default, as the HL7
    /// reference validator has it) or a warning.
    #[arg(long, value_enum, default_value_t = UnknownExt::Error)]
    pub unknown_extensions: UnknownExt,
    /// Allow extensions under this URL prefix without a loaded definition (reported as
    /// information), e.g. a partner's namespace; repeatable.
    #[arg(long = "allow-extension-domain", value_name = "URL-PREFIX")]
    pub extension_domains: Vec<String>,
    /// Do not also validate an Observation with a vital sign's LOINC code against that
    /// vital sign's R4 profile (which FHIR R4 requires, and is done by default).
    #[arg(long)]
    pub no_implied_profiles: bool,
    /// Treat every input as NDJSON (one resource per line). Implied by a .ndjson name.
    #[arg(long)]
    pub ndjson: bool,
    /// Threads for NDJSON inputs (default: one per core).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// The most time one resource may take (a Bundle with its entries is one), e.g. `30s`,
    /// `500ms`; past it the resource gets a VALIDATION_TIME_LIMIT error and the run goes on.
    /// `0` for no limit.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub max_time_per_resource: std::time::Duration,
    /// Also print package-loading notes (missing dependencies) to standard error.
    #[arg(long, short)]
    pub verbose: bool,
    /// Report errors only (warnings and information are left out, and not counted).
    #[arg(long, short)]
    pub quiet: bool,
    /// Leave out issues with these message ids (comma-separated or repeated), e.g.
    /// `--suppress INVARIANT,BINDING_EXTENSIBLE`; they are not counted either.
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub suppress: Vec<String>,
    /// Files or folders to validate (folders: every .json, .xml and .ndjson file below, in name
    /// order); `-` or nothing for standard input.
    pub files: Vec<PathBuf>,
}

/// The result for one resource of one input.
struct Outcome<'a> {
    file: &'a str,
    /// Line index (0-based) in an NDJSON input.
    index: Option<usize>,
    issues: &'a [Issue],
}

pub fn run(args: &ValidateArgs) -> i32 {
    let known: std::collections::HashSet<&str> =
        spfhir_element::msg::ALL.iter().map(|m| m.id).collect();
    for id in &args.suppress {
        if !known.contains(id.as_str()) {
            eprintln!("error: --suppress {id}: no such message id (see conformance/messages.md)");
            return 2;
        }
    }
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
    let registry = match package::load(&super::env::load_options(&args.package_path, load)) {
        Ok(r) => std::sync::Arc::new(r),
        Err(e) => {
            eprintln!("error: {}", super::env::explain(&e));
            return 2;
        }
    };
    if args.verbose {
        for n in &registry.notes {
            eprintln!("note: {n}");
        }
    }
    let validator = Validator::new(
        registry,
        Options {
            profiles: profiles.clone(),
            unchecked_codes: args.unchecked_codes.into(),
            max_time_per_resource: Some(args.max_time_per_resource).filter(|d| !d.is_zero()),
            unknown_extensions: match args.unknown_extensions {
                UnknownExt::Error => spfhir_validate::UnknownExtensions::Error,
                UnknownExt::Warning => spfhir_validate::UnknownExtensions::Warning,
            },
            extension_domains: args.extension_domains.clone(),
            implied_profiles: !args.no_implied_profiles,
            ..Default::default()
        },
    );
    for url in &profiles {
        if let Err(e) = validator.profile(url) {
            eprintln!("error: --profile {url}: {e}");
            return 2;
        }
    }
    let inputs = match expand_inputs(&args.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let is_ndjson = |input: &Option<PathBuf>| super::is_ndjson(args.ndjson, input);
    let stdout = std::io::stdout();
    let mut out = Output {
        writer: std::io::BufWriter::new(stdout.lock()),
        format: args.format,
        totals: Totals::default(),
        quiet: args.quiet,
        suppress: args.suppress.clone(),
        json_map: args.format == Format::Json && (inputs.len() > 1 || inputs.iter().any(is_ndjson)),
        written: 0,
    };
    if out.json_map {
        let _ = out.writer.write_all(b"{");
    }
    let mut unreadable = 0usize;
    for input in &inputs {
        let name = super::input_name(input);
        let result = if is_ndjson(input) {
            open_lines(input).and_then(|reader| {
                validate_ndjson(&validator, &name, reader, args.jobs, &mut out)
                    .map_err(|e| format!("spfhir: cannot read {name}: {e}"))
            })
        } else {
            super::read_input(input).map(|(name, text)| {
                let issues = match text {
                    Ok(text) => validator.validate_text_isolated(&text),
                    Err(not_text) => vec![not_text],
                };
                out.write(&[Outcome {
                    issues: &issues,
                    file: &name,
                    index: None,
                }])
            })
        };
        if let Err(e) = result {
            // A file that cannot be read at all: said (after what is already written, so a
            // terminal shows the two in order), and the others still validated.
            let _ = out.writer.flush();
            eprintln!("error: {e}");
            unreadable += 1;
        }
    }
    out.finish();
    let t = out.totals;
    if args.format == Format::Text {
        eprintln!(
            "{} resource{} checked: {} error{}, {} warning{}",
            t.resources,
            plural(t.resources),
            t.errors,
            plural(t.errors),
            t.warnings,
            plural(t.warnings)
        );
    }
    if unreadable > 0 {
        return 2;
    }
    i32::from(t.errors > 0)
}

/// Counts over everything written.
#[derive(Clone, Copy, Default)]
struct Totals {
    resources: usize,
    errors: usize,
    warnings: usize,
}

/// Where results go, rendered as they are produced.
struct Output<W: Write> {
    writer: W,
    format: Format,
    totals: Totals,
    /// `--quiet`: errors only.
    quiet: bool,
    /// `--suppress`: ids left out.
    suppress: Vec<String>,
    /// `--format json` over several results: one object, `{"name": OperationOutcome, …}`.
    json_map: bool,
    /// Results written so far (for the separators of the JSON map).
    written: usize,
}

impl<W: Write> Output<W> {
    /// Render `outcomes` (less what `--quiet` and `--suppress` leave out) and count them. A
    /// write error (a closed pipe) is not retried; the counts and the exit code still cover
    /// every resource.
    fn write(&mut self, outcomes: &[Outcome]) {
        let filtering = self.quiet || !self.suppress.is_empty();
        let kept: Vec<Vec<Issue>>;
        let filtered: Vec<Outcome>;
        let outcomes = if filtering {
            kept = outcomes
                .iter()
                .map(|o| {
                    o.issues
                        .iter()
                        .filter(|i| {
                            (!self.quiet || i.is_error())
                                && !self.suppress.iter().any(|s| s == i.id)
                        })
                        .cloned()
                        .collect()
                })
                .collect();
            filtered = outcomes
                .iter()
                .zip(&kept)
                .map(|(o, issues)| Outcome {
                    file: o.file,
                    index: o.index,
                    issues,
                })
                .collect();
            &filtered
        } else {
            outcomes
        };
        for o in outcomes {
            let (e, w) = count(o.issues.iter());
            self.totals.resources += 1;
            self.totals.errors += e;
            self.totals.warnings += w;
        }
        let _ = if self.json_map {
            self.render_map(outcomes)
        } else {
            render(&mut self.writer, self.format, outcomes)
        };
    }

    /// Members of the `--format json` map: `"file": {…}` or `"file:line": {…}`.
    fn render_map(&mut self, outcomes: &[Outcome]) -> std::io::Result<()> {
        for o in outcomes {
            let name = match o.index {
                Some(i) => format!("{}:{}", o.file, i + 1),
                None => o.file.to_string(),
            };
            let sep = if self.written == 0 { "\n" } else { ",\n" };
            self.written += 1;
            write!(
                self.writer,
                "{sep}{}: {}",
                serde_json::to_string(&name).unwrap_or_default(),
                operation_outcome(o.issues).to_compact()
            )?;
        }
        Ok(())
    }

    /// Close the JSON map (when there is one) and flush.
    fn finish(&mut self) {
        if self.json_map {
            let _ = self.writer.write_all(b"\n}\n");
        }
        let _ = self.writer.flush();
    }
}

/// The inputs named on the command line: files as they are, folders as every `.json`, `.xml` and
/// `.ndjson` file below them (in name order), `-` or nothing as standard input (`None`).
fn expand_inputs(files: &[PathBuf]) -> Result<Vec<Option<PathBuf>>, String> {
    if files.is_empty() {
        return Ok(vec![None]);
    }
    let mut out = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            out.push(None);
        } else if f.is_dir() {
            let mut found = Vec::new();
            collect(f, &mut found)
                .map_err(|e| format!("cannot read folder {}: {e}", f.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "{} holds no .json, .xml or .ndjson files",
                    f.display()
                ));
            }
            found.sort();
            out.extend(found.into_iter().map(Some));
        } else if f.exists() {
            out.push(Some(f.clone()));
        } else {
            return Err(format!(
                "cannot read {}: no such file or folder",
                f.display()
            ));
        }
    }
    Ok(out)
}

fn collect(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "json" || e == "xml" || e == "ndjson")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A buffered reader over a file or standard input.
fn open_lines(input: &Option<PathBuf>) -> Result<Box<dyn BufRead>, String> {
    match super::input_path(input) {
        None => Ok(Box::new(std::io::stdin().lock())),
        Some(p) => std::fs::File::open(p)
            .map(|f| Box::new(std::io::BufReader::with_capacity(1 << 16, f)) as Box<dyn BufRead>)
            .map_err(|e| format!("spfhir: cannot read {}: {e}", p.display())),
    }
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

/// Validate each non-blank line of `reader` through the library's NDJSON pipeline over
/// `jobs` threads (default: one per core), writing results in line order, with a progress
/// line on a terminal.
fn validate_ndjson<W: Write>(
    v: &Validator,
    name: &str,
    reader: impl BufRead,
    jobs: Option<usize>,
    out: &mut Output<W>,
) -> std::io::Result<()> {
    let threads =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let progress = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut done = 0usize;
    v.validate_ndjson(reader, threads, |lines| {
        let outcomes: Vec<Outcome> = lines
            .iter()
            .map(|l| Outcome {
                file: name,
                index: Some(l.index),
                issues: &l.issues,
            })
            .collect();
        out.write(&outcomes);
        done += outcomes.len();
        if progress {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r{name}: {done} resources validated ({:.0}/s)",
                done as f64 / secs
            );
        }
    })?;
    if progress && done > 0 {
        eprintln!();
    }
    Ok(())
}

/// One line of `--format ndjson`, serialised straight to the output.
#[derive(serde::Serialize)]
struct NdjsonLine<'o> {
    file: &'o str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    valid: bool,
    errors: usize,
    warnings: usize,
    issues: &'o [Issue],
}

fn render(out: &mut impl Write, format: Format, outcomes: &[Outcome]) -> std::io::Result<()> {
    match format {
        Format::Text => {
            for o in outcomes {
                for i in o.issues {
                    writeln!(out, "{}", i.render(o.file))?;
                }
            }
        }
        Format::Json => {
            for o in outcomes {
                writeln!(out, "{:#}", operation_outcome(o.issues))?;
            }
        }
        Format::Ndjson => {
            for o in outcomes {
                let (errors, warnings) = count(o.issues.iter());
                let line = NdjsonLine {
                    file: o.file,
                    index: o.index,
                    valid: errors == 0,
                    errors,
                    warnings,
                    issues: o.issues,
                };
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}
