//! `spfhir outcomes`: ICB outcome tables from FHIR Bulk Data NDJSON. The reading is here;
//! scoring, pairing, aggregation and suppression are `spfhir-outcomes`'.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use spfhir_outcomes::context::Lookup;
use spfhir_outcomes::suppress::Rule;
use spfhir_outcomes::{Aggregator, Context, Dimension, Options, read};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    /// A FHIR MeasureReport (summary) against spfhir's Measure sp-outcome-change.
    Measurereport,
    /// One row per baseline/follow-up pair, NHS numbers replaced by a keyed HMAC
    /// (--key-file or $SPFHIR_PSEUDONYM_KEY); needs -o.
    Parquet,
    /// A self-contained page with SVG charts: completeness, distributions, change by
    /// stratum.
    Html,
}

#[derive(clap::Args, Debug)]
pub struct OutcomesArgs {
    /// NDJSON files (`.ndjson`, `.ndjson.gz`) or folders of them (a Bulk Data export: its
    /// `QuestionnaireResponse*`, `ServiceRequest*`, `CarePlan*` and `Patient*` files are
    /// read). A file is a ServiceRequest, CarePlan or Patient file when its name starts so.
    #[arg(long, num_args = 1.., required_unless_present = "store")]
    pub input: Vec<PathBuf>,
    /// A spfhir server's store instead of (or as well as) files: its SQLite file (the
    /// server's `database`; it may be serving) or a postgres:// URL. Its current Patients,
    /// ServiceRequests, CarePlans and QuestionnaireResponses are read.
    #[arg(long, value_name = "DATABASE")]
    pub store: Option<String>,
    /// The organisation lookup (CSV, ODS's shape: practice_code, pcn_code, sub_icb_code,
    /// icb_code), for --by pcn, sub-icb or icb.
    #[arg(long)]
    pub orgs: Option<PathBuf>,
    /// Stratify by these, together: icb, sub-icb, pcn, practice, quarter, month, age-band,
    /// sex, ethnicity, imd-decile, reason.
    #[arg(long, value_delimiter = ',', value_parser = parse_dimension)]
    pub by: Vec<Dimension>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exact figures, without small-number suppression or rounding: for local checking
    /// only, never for publication.
    #[arg(long)]
    pub unsuppressed: bool,
    /// --format parquet: a file holding the secret key NHS numbers are pseudonymised with
    /// (at least 16 bytes; else $SPFHIR_PSEUDONYM_KEY). Keep it: the same key gives the
    /// same pseudonyms, so exports join.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

fn parse_dimension(s: &str) -> Result<Dimension, String> {
    Dimension::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.id()).collect();
        format!("{s:?} is not a dimension (one of: {})", names.join(", "))
    })
}

/// Which Bulk Data file a path holds, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Patient,
    ServiceRequest,
    CarePlan,
    QuestionnaireResponse,
}

impl Kind {
    /// File names start with the resource type.
    const NAMES: [(&str, Kind); 4] = [
        ("Patient", Kind::Patient),
        ("ServiceRequest", Kind::ServiceRequest),
        ("CarePlan", Kind::CarePlan),
        ("QuestionnaireResponse", Kind::QuestionnaireResponse),
    ];

    fn name(self) -> &'static str {
        Kind::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("resource", |(n, _)| n)
    }
}

fn kind_of(path: &Path) -> Kind {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    Kind::NAMES
        .iter()
        .find(|(n, _)| name.starts_with(n))
        .map_or(Kind::QuestionnaireResponse, |(_, k)| *k)
}

/// The files to read, people, referrals and care plans first: each file given, and each
/// folder's Patient, ServiceRequest, CarePlan and QuestionnaireResponse files.
fn files(inputs: &[PathBuf]) -> Result<Vec<(Kind, PathBuf)>, String> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| format!("{}: {e}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    Kind::NAMES.iter().any(|(t, _)| name.starts_with(t))
                        && (name.ends_with(".ndjson") || name.ends_with(".ndjson.gz"))
                })
                .collect();
            found.sort();
            if !found
                .iter()
                .any(|p| kind_of(p) == Kind::QuestionnaireResponse)
            {
                return Err(format!(
                    "{}: no QuestionnaireResponse*.ndjson files in this folder",
                    input.display()
                ));
            }
            out.extend(found.into_iter().map(|p| (kind_of(&p), p)));
        } else if input.is_file() {
            out.push((kind_of(input), input.clone()));
        } else {
            return Err(format!("{}: no such file or folder", input.display()));
        }
    }
    out.sort_by_key(|(k, _)| *k as u8);
    Ok(out)
}

fn open(path: &Path, progress: &indicatif::ProgressBar) -> Result<Box<dyn BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = progress.wrap_read(file);
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// A progress bar over the bytes of `files` on a terminal's stderr; hidden otherwise.
fn progress_bar(files: &[(Kind, PathBuf)]) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let total = files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Now, as a FHIR dateTime in UTC (to the second).
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (day, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        read::date_of(day),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Lines read before they are parsed, on every core, and added in order.
const BATCH: usize = 8192;

/// Read an NDJSON file: lines are read in batches, each batch `parse`d on every core
/// (the readers are pure), then handed to `apply` with their line numbers in input order,
/// so the result is the same on any number of cores. The work is pipelined: while one
/// batch is parsed, the one before it is applied and the one after it read, so reading
/// and applying (which are serial) overlap the parsing. Returns the non-blank lines read.
fn read_batched<T: Send>(
    reader: &mut dyn BufRead,
    path: &Path,
    parse: &(dyn Fn(&str) -> T + Sync),
    apply: &mut dyn FnMut(u64, T),
) -> Result<u64, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut number = 0u64;
    let mut read = |reader: &mut dyn BufRead| -> Result<Vec<(u64, String)>, String> {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("{}:{}: {e}", path.display(), number + 1)),
            }
            number += 1;
            if !line.trim().is_empty() {
                batch.push((number, line));
            }
        }
        Ok(batch)
    };
    let failed = || {
        format!(
            "{}: a reading thread failed; nothing was written",
            path.display()
        )
    };
    std::thread::scope(|s| {
        type Parsing<'s, T> = (
            std::sync::Arc<Vec<(u64, String)>>,
            Vec<std::thread::ScopedJoinHandle<'s, Vec<T>>>,
        );
        let mut count = 0u64;
        let mut next = read(reader)?;
        let mut pending: Option<Parsing<'_, T>> = None;
        loop {
            // Start parsing the batch just read, on every core.
            let started = if next.is_empty() {
                None
            } else {
                count += next.len() as u64;
                let batch = std::sync::Arc::new(std::mem::take(&mut next));
                let part = batch.len().div_ceil(threads);
                let handles = (0..batch.len())
                    .step_by(part)
                    .map(|from| {
                        let batch = batch.clone();
                        s.spawn(move || {
                            batch[from..(from + part).min(batch.len())]
                                .iter()
                                .map(|(_, l)| parse(l.trim_end()))
                                .collect()
                        })
                    })
                    .collect();
                Some((batch, handles))
            };
            // Meanwhile, apply the batch before it, in order...
            if let Some((batch, handles)) = pending.take() {
                let mut lines = batch.iter();
                for h in handles {
                    for r in h.join().map_err(|_| failed())? {
                        let (n, _) = lines.next().ok_or_else(failed)?;
                        apply(*n, r);
                    }
                }
            }
            let Some(started) = started else {
                return Ok(count);
            };
            // ...and read the one after it.
            next = read(reader)?;
            pending = Some(started);
        }
    })
}

/// A server's store, opened to be read, with the runtime its client runs on and its name
/// for messages. A SQLite file must exist (opening would otherwise make an empty store).
type OpenStore = (
    std::sync::Arc<tokio::runtime::Runtime>,
    std::sync::Arc<dyn spfhir_store::Store>,
    String,
);

fn open_store(database: &str) -> Result<OpenStore, String> {
    let postgres = database.starts_with("postgres://") || database.starts_with("postgresql://");
    if !postgres && !Path::new(database).is_file() {
        return Err(format!(
            "--store {database}: no such SQLite file (give the server's `database`, or a postgres:// URL)"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the store's runtime: {e}"))?;
    let store = runtime.block_on(super::serve::open_store(database))?;
    // Named without a URL's password.
    let name = match database.split_once('@') {
        Some((_, host)) if postgres => format!("postgres://…@{host}"),
        _ => database.to_string(),
    };
    Ok((std::sync::Arc::new(runtime), store, name))
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
    if args.orgs.is_none()
        && let Some(d) = args.by.iter().find(|d| d.needs_orgs())
    {
        return Err(format!(
            "--by {} needs the organisation lookup: --orgs FILE (practice_code,pcn_code,sub_icb_code,icb_code)",
            d.id()
        ));
    }
    let options = Options {
        rule: if args.unsuppressed {
            eprintln!(
                "WARNING: --unsuppressed: exact figures, small numbers included; do not publish or share them"
            );
            Rule::NONE
        } else {
            Rule::default()
        },
        by: args.by.clone(),
        ..Options::default()
    };
    let mut context = Context::new();
    if let Some(orgs) = &args.orgs {
        let text = std::fs::read_to_string(orgs).map_err(|e| format!("{}: {e}", orgs.display()))?;
        context
            .add_orgs_csv(&text)
            .map_err(|e| format!("{}: {e}", orgs.display()))?;
    }
    let key = match args.format {
        Format::Parquet => {
            if args.output.is_none() {
                return Err("--format parquet writes a file: give it with -o FILE".into());
            }
            let key = crate::cli::env::pseudonym_key(args.key_file.as_deref())?;
            Some(spfhir_outcomes::parquet::Pseudonymiser::new(&key)?)
        }
        _ => None,
    };
    let mut files = files(&args.input)?;
    let store = match &args.store {
        Some(database) => Some(open_store(database)?),
        None => None,
    };
    if store.is_some() {
        // The store's own types, each after the files of its kind.
        files.extend(Kind::NAMES.iter().map(|(_, k)| (*k, PathBuf::new())));
        files.sort_by_key(|(k, p)| (*k as u8, p.as_os_str().is_empty()));
    }
    let progress = progress_bar(&files);
    let mut agg: Option<Aggregator> = None;
    let (mut lines, mut named, mut malformed) = (0u64, 0usize, 0u64);
    for (kind, file) in &files {
        // An empty path stands for the store's resources of this kind.
        let (mut reader, path) = match (&store, file.as_os_str().is_empty()) {
            (Some((runtime, s, database)), true) => {
                let lines =
                    super::store_lines::StoreLines::new(runtime.clone(), s.clone(), kind.name());
                let reader: Box<dyn BufRead> =
                    Box::new(BufReader::with_capacity(1 << 16, progress.wrap_read(lines)));
                (
                    reader,
                    PathBuf::from(format!("{database} ({})", kind.name())),
                )
            }
            _ => (open(file, &progress)?, file.clone()),
        };
        let path = &path;
        progress.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        if *kind == Kind::QuestionnaireResponse && agg.is_none() {
            agg = Some(Aggregator::with_context(
                options.clone(),
                std::mem::take(&mut context),
            ));
        }
        let mut skipped = |number: u64| {
            if named < NAMED {
                progress.suspend(|| {
                    let what = match kind {
                        Kind::QuestionnaireResponse => "resource",
                        k => k.name(),
                    };
                    eprintln!("{}:{number}:1: not a JSON {what}; skipped", path.display())
                });
            }
            named += 1;
        };
        lines += match (kind, agg.as_mut()) {
            (Kind::QuestionnaireResponse, Some(agg)) => {
                read_batched(&mut reader, path, &read::line, &mut |n, r| {
                    if agg.add_read(r) == Err(read::Rejected::Malformed) {
                        skipped(n);
                    }
                })?
            }
            (Kind::QuestionnaireResponse, None) => unreachable!("made above"),
            (lookup, _) => {
                let parse = match lookup {
                    Kind::Patient => Lookup::patient,
                    Kind::ServiceRequest => Lookup::service_request,
                    _ => Lookup::care_plan,
                };
                read_batched(&mut reader, path, &parse, &mut |n, r| match r {
                    Ok(l) => context.add(l),
                    Err(_) => {
                        malformed += 1;
                        skipped(n);
                    }
                })?
            }
        };
    }
    progress.finish_and_clear();
    let agg = agg.unwrap_or_else(|| Aggregator::with_context(options, context));
    let mut rows = None;
    if let (Some(key), Some(path)) = (&key, &args.output) {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = spfhir_outcomes::parquet::write_pairs(&agg, key, std::io::BufWriter::new(file))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        rows = Some(n);
    }
    let report = agg.finish();
    let text = match args.format {
        Format::Parquet => String::new(),
        Format::Html => report.to_html(&now()),
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
        _ if args.format == Format::Parquet => {}
        Some(p) => std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("standard output: {e}"))?,
    }
    if let (Some(n), Some(p)) = (rows, &args.output) {
        eprintln!(
            "{}: {n} pairs, pseudonymised (personal data: keep it as such)",
            p.display()
        );
    }
    let rejected: u64 = report.rejected.values().sum();
    let pairs: u64 = report.instruments.values().map(|c| c.pairs()).sum();
    eprintln!(
        "{lines} lines read: {} referrals ({} with a response), {} responses used, {rejected} not used{}{}; {pairs} baseline/follow-up pairs over {} measures",
        report.referrals,
        report.with_response,
        report.responses - rejected,
        if malformed > 0 {
            format!(", {malformed} Patient, ServiceRequest or CarePlan lines skipped")
        } else {
            String::new()
        },
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
    // The organisation lookup for the practices the people are registered with.
    let orgs = dir.join("orgs.csv");
    std::fs::write(&orgs, synth::orgs_csv()).map_err(|e| format!("{}: {e}", orgs.display()))?;
    eprintln!("{}: {} practices", orgs.display(), synth::PRACTICES.len());
    Ok(())
}
