//! The `spfhir` command line: argument parsing and rendering only; the work is in the library.
//!
//! Exit codes: 0 all records OK (warnings allowed), 1 some record failed, 2 usage or I/O error.

use spfhir_element::msg;
use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod args;
mod env;
mod outcomes;
mod package;
mod serve;
mod store_lines;
mod validate;

use args::{Bundle, Kind};

use spfhir_domain::schema_json;
use spfhir_element::issue::Issue;
use spfhir_element::{self as json, LineIndex, parse};
use spfhir_translate::{self as translate, WriteOptions};

#[derive(Parser, Debug)]
#[command(
    name = "spfhir",
    version,
    about = "FHIR R4 adapter for social prescribing: translate, validate, serve the REST API, report ICB outcomes and install FHIR packages",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  everything checked or translated (warnings allowed)
  1  some record failed: a validation error, a record that did not translate, a package not installed
  2  usage error, unreadable input, or a package that R4 needs is missing

Environment:
  SPFHIR_PACKAGE_PATH  more places to load FHIR packages from (':'-separated)
  SPFHIR_REGISTRY      package registries for `spfhir package install` (space- or comma-separated)
  SPFHIR_CACHE_DIR     where unpacked packages are kept (default: ~/.cache/spfhir)
  HOME                 the FHIR package cache is ~/.fhir/packages";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Translate records between the domain model and FHIR R4.
    Translate(TranslateArgs),
    /// Evaluate a FHIRPath expression against a resource and print the result as JSON.
    Fhirpath(FhirpathArgs),
    /// Validate resources against FHIR R4, UK Core, BaRS and spfhir's profiles, offline.
    #[command(after_help = EXIT_CODES)]
    Validate(validate::ValidateArgs),
    /// Serve the FHIR R4 REST API ($validate, $process-message, CRUD, search) on an embedded
    /// SQLite store (or PostgreSQL).
    Serve(serve::ServeArgs),
    /// Install FHIR packages (R4 core, UK Core…) into the FHIR package cache, or list them.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// ICB outcome tables from Bulk Data NDJSON: paired baseline and follow-up scores per
    /// instrument, with small-number suppression.
    Outcomes(outcomes::OutcomesArgs),
    /// Synthetic data for demos, tests and benchmarks.
    #[command(subcommand)]
    Synth(outcomes::SynthCommand),
    /// Print the JSON Schema of a domain record.
    Schema {
        #[arg(value_enum)]
        kind: Kind,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// Domain JSON in, FHIR Bundle out.
    Fhir,
    /// FHIR (Bundle or resource) in, domain JSON out.
    Domain,
}

#[derive(clap::Args, Debug)]
pub struct TranslateArgs {
    #[arg(long, value_enum)]
    pub kind: Kind,
    #[arg(long, value_enum)]
    pub to: Direction,
    /// Bundle type for --to fhir.
    #[arg(long, value_enum, default_value_t = Bundle::Message)]
    pub bundle: Bundle,
    /// Bundle.timestamp to write (default: now). Fix it for reproducible output.
    #[arg(long)]
    pub timestamp: Option<String>,
    /// Treat the input as NDJSON (one record per line). Implied by a .ndjson file name.
    #[arg(long)]
    pub ndjson: bool,
    /// Input file; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct FhirpathArgs {
    /// The expression, e.g. `Patient.name.given.first()`.
    pub expression: String,
    /// The resource (JSON); `-` or nothing for standard input.
    pub file: Option<PathBuf>,
    /// Where to find FHIR packages (R4 core); also $SPFHIR_PACKAGE_PATH and ~/.fhir/packages.
    #[arg(long = "package-path")]
    pub package_path: Vec<PathBuf>,
}

/// Run the CLI; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Schema { kind } => {
            println!("{}", schema_json(kind.into()));
            0
        }
        Command::Translate(args) => translate_cmd(&args),
        Command::Fhirpath(args) => fhirpath_cmd(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Package(cmd) => package::run(&cmd),
        Command::Serve(args) => serve::run(&args),
        Command::Outcomes(args) => outcomes::run(&args),
        Command::Synth(cmd) => outcomes::synth(&cmd),
    }
}

/// `spfhir fhirpath`: exit 0 with the result, 1 when evaluation fails, 2 for a syntax error,
/// bad input or a missing R4 core package.
fn fhirpath_cmd(args: &FhirpathArgs) -> i32 {
    use spfhir_fhirpath::{Compiled, Env, Model, eval::BaseServices, result_json};
    let compiled = match Compiled::new(&args.expression) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", args.expression);
            eprintln!(
                "{}^",
                " ".repeat(
                    args.expression[..e.offset.min(args.expression.len())]
                        .chars()
                        .count()
                )
            );
            eprintln!("error[FHIRPATH_SYNTAX]: {}", e.message);
            return 2;
        }
    };
    let (name, text) = match read_input(&args.file) {
        Ok((name, Ok(text))) => (name, text),
        Ok((name, Err(issue))) => {
            eprintln!("{}", issue.render(&name));
            return 2;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let resource = match parse(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "{name}:{}:{}: error[JSON_SYNTAX]: {}",
                e.line_col.line, e.line_col.col, e.message
            );
            return 2;
        }
    };
    // R4 core (for the type model) and every ValueSet on the package path (for memberOf()).
    let registry =
        match spfhir_conformance::package::load(&env::load_options(&args.package_path, Vec::new()))
        {
            Ok(r) => std::sync::Arc::new(r),
            Err(e) => {
                eprintln!("error: {}", env::explain(&e));
                return 2;
            }
        };
    let model = Model::from_source(registry.clone());
    let terminology = spfhir_conformance::terminology::Terminology::new(registry);
    let mut env = Env::new(&model);
    env.resource = Some(&resource);
    let services = BaseServices {
        model: &model,
        terminology: Some(&terminology),
    };
    env.services = Some(&services);
    match compiled.evaluate(&resource, &env) {
        Ok(result) => {
            println!("{:#}", result_json(&result));
            0
        }
        Err(e) => {
            eprintln!("{}", args.expression);
            eprintln!(
                "{}^",
                " ".repeat(
                    args.expression[..(e.offset as usize).min(args.expression.len())]
                        .chars()
                        .count()
                )
            );
            eprintln!(
                "error[FHIRPATH_{}]: {}",
                e.kind.as_str().to_uppercase(),
                e.message
            );
            1
        }
    }
}

/// An input's name and its text: `Err` with a `JSON_SYNTAX` issue (at the first byte that
/// is not UTF-8) when it is not text, so one bad file is reported as that file's problem and
/// the others still run. A UTF-8 byte order mark is dropped, as in every front end. The
/// outer `Err` is an I/O error (a file that cannot be read at all).
pub(crate) fn read_input(
    file: &Option<PathBuf>,
) -> Result<(String, Result<String, Issue>), String> {
    let (name, bytes) = read_bytes(file)?;
    Ok((name, as_text(bytes)))
}

/// An input's name and bytes (a file, or standard input for `-` or none).
fn read_bytes(file: &Option<PathBuf>) -> Result<(String, Vec<u8>), String> {
    match input_path(file) {
        None => read_stdin(),
        Some(p) => std::fs::read(p)
            .map(|b| (p.display().to_string(), b))
            .map_err(|e| format!("spfhir: cannot read {}: {e}", p.display())),
    }
}

/// Bytes as text, without a leading byte order mark; not UTF-8 is a `JSON_SYNTAX` issue at
/// the first bad byte.
fn as_text(mut bytes: Vec<u8>) -> Result<String, Issue> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        let mut issue = Issue::error(
            msg::JSON_SYNTAX,
            format!("the input is not valid UTF-8 (byte {})", valid + 1),
        );
        issue.line_col = Some(spfhir_element::line_col_of(before, valid));
        issue
    })
}

/// The file named on the command line, or `None` for standard input (nothing, or `-`).
pub(crate) fn input_path(file: &Option<PathBuf>) -> Option<&std::path::Path> {
    file.as_deref().filter(|p| p.as_os_str() != "-")
}

/// How an input is named in messages: its path, or `<stdin>`.
pub(crate) fn input_name(file: &Option<PathBuf>) -> String {
    input_path(file).map_or_else(|| "<stdin>".to_string(), |p| p.display().to_string())
}

/// Whether an input is NDJSON: `--ndjson`, or a `.ndjson` name.
pub(crate) fn is_ndjson(flag: bool, file: &Option<PathBuf>) -> bool {
    flag || input_path(file).is_some_and(|p| p.extension().is_some_and(|e| e == "ndjson"))
}

fn read_stdin() -> Result<(String, Vec<u8>), String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("spfhir: cannot read standard input: {e}"))?;
    Ok((input_name(&None), bytes))
}

/// One translated record: its output, or issues only.
pub struct RecordResult {
    pub output: Option<String>,
    pub issues: Vec<Issue>,
}

/// Translate one record's text. `pretty` selects the output layout.
pub fn translate_record(args: &TranslateArgs, text: &str, pretty: bool) -> RecordResult {
    let opts = WriteOptions {
        bundle: args.bundle.into(),
        timestamp: args.timestamp.clone(),
    };
    match args.to {
        Direction::Fhir => {
            match translate::domain_json_to_fhir_text(args.kind.into(), text, &opts, pretty) {
                Ok(t) => RecordResult {
                    output: Some(t.text),
                    issues: t.issues,
                },
                Err(issues) => RecordResult {
                    output: None,
                    issues,
                },
            }
        }
        Direction::Domain => {
            let tree = match parse(text) {
                Ok(t) => t,
                Err(e) => {
                    let mut issue = Issue::error(msg::JSON_SYNTAX, e.message.clone());
                    issue.line_col = Some(e.line_col);
                    return RecordResult {
                        output: None,
                        issues: vec![issue],
                    };
                }
            };
            let (output, mut issues) = match translate::fhir_to_domain_json(args.kind.into(), &tree)
            {
                Ok((v, issues)) => {
                    let out = if pretty {
                        serde_json::to_string_pretty(&v)
                    } else {
                        serde_json::to_string(&v)
                    };
                    (out.ok(), issues)
                }
                Err(issues) => (None, issues),
            };
            let index = LineIndex::new(text);
            for i in &mut issues {
                i.locate(&index, text);
            }
            RecordResult { output, issues }
        }
    }
}

fn translate_cmd(args: &TranslateArgs) -> i32 {
    let (name, bytes) = match read_bytes(&args.file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let ndjson = is_ndjson(args.ndjson, &args.file);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut total = 0usize;
    if ndjson {
        // Line by line, so a line that is not UTF-8 is that line's problem alone.
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            total += 1;
            let r = match as_text(line.strip_suffix(b"\r").unwrap_or(line).to_vec()) {
                Ok(line) => translate_record(args, &line, false),
                Err(issue) => RecordResult {
                    output: None,
                    issues: vec![issue],
                },
            };
            for mut issue in r.issues.iter().cloned() {
                // In NDJSON the line is the record's line; the column is within that line.
                issue.line_col = Some(json::LineCol {
                    line: n as u32 + 1,
                    col: issue.line_col.map_or(1, |lc| lc.col),
                });
                eprintln!("{}", issue.render(&name));
            }
            match r.output {
                Some(o) => {
                    let _ = writeln!(out, "{o}");
                }
                None => failed += 1,
            }
        }
    } else {
        total = 1;
        let r = match as_text(bytes) {
            Ok(text) => translate_record(args, &text, true),
            Err(issue) => RecordResult {
                output: None,
                issues: vec![issue],
            },
        };
        for issue in &r.issues {
            eprintln!("{}", issue.render(&name));
        }
        match r.output {
            Some(o) => {
                let _ = writeln!(out, "{o}");
            }
            None => failed = 1,
        }
    }
    let _ = out.flush();
    if ndjson {
        eprintln!(
            "spfhir: {} of {total} records translated, {failed} failed",
            total - failed
        );
    }
    if failed > 0 { 1 } else { 0 }
}
