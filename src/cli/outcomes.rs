//! `spfhir outcomes`: ICB outcome tables from FHIR Bulk Data NDJSON. The reading is here;
//! scoring, pairing, aggregation and suppression are `spfhir-outcomes`'.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use spfhir_outcomes::suppress::Rule;
use spfhir_outcomes::{Aggregator, Options};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    /// A FHIR MeasureReport (summary) against spfhir's Measure sp-outcome-change.
    Measurereport,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    Quarter,
}

#[derive(clap::Args, Debug)]
pub struct OutcomesArgs {
    /// NDJSON files (`.ndjson`, `.ndjson.gz`) or folders of them (a Bulk Data export: its
    /// `QuestionnaireResponse*.ndjson[.gz]` files are read).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Stratify by these (the quarter of the baseline date).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub by: Vec<By>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exact figures, without small-number suppression or rounding: for local checking
    /// only, never for publication.
    #[arg(long)]
    pub unsuppressed: bool,
}

/// The files to read: each file given, and each folder's QuestionnaireResponse files.
fn files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| format!("{}: {e}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    name.starts_with("QuestionnaireResponse")
                        && (name.ends_with(".ndjson") || name.ends_with(".ndjson.gz"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!(
                    "{}: no QuestionnaireResponse*.ndjson files in this folder",
                    input.display()
                ));
            }
            out.extend(found);
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            return Err(format!("{}: no such file or folder", input.display()));
        }
    }
    Ok(out)
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Now, as a FHIR dateTime in UTC (to the second).
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (day, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        spfhir_outcomes::read::date_of(day),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Malformed lines named on stderr, at most this many (all are counted).
const NAMED: usize = 20;

pub fn run(args: &OutcomesArgs) -> i32 {
    match outcomes(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn outcomes(args: &OutcomesArgs) -> Result<i32, String> {
    let options = Options {
        rule: if args.unsuppressed {
            eprintln!(
                "WARNING: --unsuppressed: exact figures, small numbers included; do not publish or share them"
            );
            Rule::NONE
        } else {
            Rule::default()
        },
        by_quarter: args.by.contains(&By::Quarter),
        ..Options::default()
    };
    let mut agg = Aggregator::new(options);
    let (mut lines, mut named) = (0u64, 0usize);
    for path in files(&args.input)? {
        let mut reader = open(&path)?;
        let mut line = String::new();
        let mut number = 0u64;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    return Err(format!("{}:{}: {e}", path.display(), number + 1));
                }
            }
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            if let Err(spfhir_outcomes::read::Rejected::Malformed) = agg.add_line(line.trim_end()) {
                if named < NAMED {
                    eprintln!(
                        "{}:{number}:1: not a JSON resource; skipped",
                        path.display()
                    );
                }
                named += 1;
            }
        }
    }
    let report = agg.finish();
    let text = match args.format {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
            t.push('\n');
            t
        }
        Format::Csv => report.to_csv(),
        Format::Measurereport => {
            let mut t =
                serde_json::to_string_pretty(&report.to_measure_report(&now())).unwrap_or_default();
            t.push('\n');
            t
        }
    };
    match &args.output {
        Some(p) => std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("standard output: {e}"))?,
    }
    let rejected: u64 = report.rejected.values().sum();
    let pairs: u64 = report.instruments.values().map(|c| c.pairs()).sum();
    eprintln!(
        "{lines} lines read: {} responses used, {rejected} not used{}; {pairs} baseline/follow-up pairs over {} measures",
        report.responses - rejected,
        if named > NAMED {
            format!(" ({} malformed lines not named)", named - NAMED)
        } else {
            String::new()
        },
        report.instruments.len()
    );
    Ok(0)
}

#[derive(clap::Subcommand, Debug)]
pub enum SynthCommand {
    /// A synthetic Bulk Data export for outcome reporting: Patient, ServiceRequest and
    /// QuestionnaireResponse NDJSON (test NHS numbers, several practices and PCNs, paired
    /// and unpaired responses, some items missing). The same seed gives the same files.
    Outcomes(SynthOutcomesArgs),
}

#[derive(clap::Args, Debug)]
pub struct SynthOutcomesArgs {
    /// How many people.
    #[arg(long, default_value_t = 1000)]
    pub people: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The folder to write the export into (made if missing).
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn synth(cmd: &SynthCommand) -> i32 {
    let SynthCommand::Outcomes(args) = cmd;
    match synth_outcomes(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn synth_outcomes(args: &SynthOutcomesArgs) -> Result<(), String> {
    use spfhir_outcomes::synth::{self, File};
    let dir = &args.output;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut writers = Vec::new();
    for f in File::ALL {
        let path = dir.join(f.name());
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        writers.push((path, std::io::BufWriter::new(file), 0u64));
    }
    let mut failed: Option<String> = None;
    synth::generate(args.people, args.seed, |f, line| {
        let (path, w, n) = &mut writers[f as usize];
        if failed.is_none()
            && let Err(e) = writeln!(w, "{line}")
        {
            failed = Some(format!("{}: {e}", path.display()));
        }
        *n += 1;
    });
    if let Some(e) = failed {
        return Err(e);
    }
    for (path, mut w, n) in writers {
        w.flush().map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("{}: {n} lines", path.display());
    }
    Ok(())
}
