//! A mutation fuzzer over the corpus seeds: spfhir's own translations (as JSON and as FHIR
//! XML), the validator's corpus cases (JSON and XML) and FHIRPath expressions, each mutated (bytes flipped, inserted, deleted,
//! spans repeated, brackets nested) and run through parsing, validation, translation both
//! ways and FHIRPath. Nothing may panic. CI runs a fixed, seeded number of iterations;
//! `bash bench/fuzz.sh` runs a longer campaign (`SPFHIR_FUZZ_SECONDS`, `SPFHIR_FUZZ_SEED`)
//! and prints runs, failures and the slowest inputs per KB.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use spfhir_domain::RecordKind;
use spfhir_element as json;
use spfhir_fhirpath::{Compiled, Env, Func};
use spfhir_translate::{self as translate, BundleKind, WriteOptions};
use spfhir_validate::{Options, Validator};

/// A validator over the packages and the corpus's own definitions.
fn corpus_validator() -> Validator {
    Validator::new(crate::registry(true), Options::default())
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"null",
    b"true",
    b"-1e999",
    b"1.0000000000000000000000000000001",
    b"79228162514264337593543950335",
    b"\"\\u0000\"",
    b"\"2023-02-30\"",
    b"\"#\"",
    b"\"urn:uuid:x\"",
    b"\"resourceType\":\"Bundle\"",
    b"\"extension\":[{\"url\":\"x\"}]",
    b"\"_given\":[null]",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\"><script/></div>\"",
    // FHIR XML's own shapes (the seeds include XML forms of every resource).
    b"<",
    b"</",
    b"/>",
    b"=\"",
    b"<extension url=\"x\">",
    b"<valueBoolean value=\"maybe\"/>",
    b"<contained><Basic/><Basic/></contained>",
    b"<div xmlns=\"http://www.w3.org/1999/xhtml\">",
    b"&amp;&#x0;&lt;",
    b"<!DOCTYPE x [<!ENTITY a \"aa\">]>",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())];
                b.splice(at..at, f.iter().copied());
            }
            2 if !b.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at.min(end)..end);
            }
            3 if !b.is_empty() => {
                // Repeat a span (duplicate keys, long arrays).
                let start = at.min(b.len() - 1);
                let end = (start + 1 + rng.below(200)).min(b.len());
                let span = b[start..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    b.splice(end..end, span.iter().copied());
                }
            }
            4 => {
                // Nest deeply.
                let n = rng.below(300);
                let open = vec![b'['; n];
                let close = vec![b']'; n];
                b.splice(at..at, open.into_iter().chain(close));
            }
            _ => {}
        }
    }
    b
}

const EXPRESSIONS: &[&str] = &[
    "Patient.name.where(use = 'official').given.first()",
    "entry.fullUrl.isDistinct()",
    "descendants().ofType(Reference).reference.startsWith('#').not()",
    "(1 + 2.5) * 3 'mg' / 2",
    "@2020-01-01T10:00:00Z + 3 months - 1 'ms'",
    "name.select(given | family).distinct().count() > 1",
    "iif(active, 'yes', 'no').replace('y', 'yy').length()",
    "repeat(item).linkId.union(%resource.id)",
];

fn mutate_expression(e: &str, rng: &mut Rng) -> String {
    let mut s: Vec<char> = e.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 if !s.is_empty() => {
                s.remove(at.min(s.len() - 1));
            }
            1 => {
                let pieces = [
                    "(",
                    ")",
                    ".",
                    "'",
                    "not()",
                    "+",
                    "1e30",
                    "$this",
                    "%resource",
                    "[0]",
                    " and ",
                    ".replace('a','aaaa')",
                ];
                let p = pieces[rng.below(pieces.len())];
                for (k, c) in p.chars().enumerate() {
                    s.insert(at + k, c);
                }
            }
            2 => {
                let tail: String = s[at..].iter().collect();
                for _ in 0..rng.below(50) {
                    s.extend(tail.chars().take(20));
                }
            }
            _ => {}
        }
    }
    s.into_iter().collect()
}

/// A random FHIRPath expression from the grammar, at most `depth` levels deep: literals of
/// every kind (extremes included), paths over `names` (the member names of the resource it
/// will run on), variables, every function at an arity it accepts, every operator, indexers
/// and type tests.
fn generate_expression(rng: &mut Rng, names: &[String], depth: u32) -> String {
    const LITERALS: &[&str] = &[
        "true",
        "false",
        "0",
        "-1",
        "2147483647",
        "-2147483648",
        "9223372036854775807",
        "79228162514264337593543950335",
        "0.000000001",
        "1.5",
        "'a'",
        "''",
        "'\\u0041\\''",
        "@2020",
        "@2020-02-29",
        "@2020-02-29T12:00:00.123+14:00",
        "@T23:59:59.999",
        "@9999-12-31",
        "@0001-01-01",
        "5 'mg'",
        "2 years",
        "1.0 'cm'",
        "3 'wk'",
        "{}",
    ];
    const VARIABLES: &[&str] = &[
        "$this",
        "%resource",
        "%context",
        "%rootResource",
        "$index",
        "$total",
        "%ucum",
    ];
    const OPERATORS: &[&str] = &[
        "+", "-", "*", "/", "div", "mod", "&", "|", "=", "!=", "~", "!~", "<", ">", "<=", ">=",
        "and", "or", "xor", "implies", "in", "contains",
    ];
    const TYPES: &[&str] = &[
        "Quantity",
        "string",
        "Coding",
        "Reference",
        "FHIR.Patient",
        "System.Integer",
        "dateTime",
    ];
    let leaf = |rng: &mut Rng| -> String {
        match rng.below(3) {
            0 => LITERALS[rng.below(LITERALS.len())].to_owned(),
            1 if !names.is_empty() => names[rng.below(names.len())].clone(),
            _ => VARIABLES[rng.below(VARIABLES.len())].to_owned(),
        }
    };
    if depth == 0 {
        return leaf(rng);
    }
    let sub = |rng: &mut Rng| generate_expression(rng, names, depth - 1);
    match rng.below(7) {
        0 => leaf(rng),
        1 | 2 => {
            // An invocation: base.function(args), or a bare call.
            let f = Func::ALL[rng.below(Func::ALL.len())];
            let (min, max) = f.arity();
            let n = min + rng.below(max.unwrap_or(min + 2) - min + 1);
            let args: Vec<String> = (0..n).map(|_| sub(rng)).collect();
            let call = format!("{}({})", f.name(), args.join(", "));
            if rng.below(4) == 0 {
                call
            } else {
                format!("{}.{call}", sub(rng))
            }
        }
        3 => format!(
            "({} {} {})",
            sub(rng),
            OPERATORS[rng.below(OPERATORS.len())],
            sub(rng)
        ),
        4 => format!(
            "{}.{}",
            sub(rng),
            names
                .get(rng.below(names.len().max(1)))
                .map_or("id", String::as_str)
        ),
        5 => format!("{}[{}]", sub(rng), sub(rng)),
        _ => match rng.below(3) {
            0 => format!("-{}", sub(rng)),
            1 => format!("({} is {})", sub(rng), TYPES[rng.below(TYPES.len())]),
            _ => format!("({} as {})", sub(rng), TYPES[rng.below(TYPES.len())]),
        },
    }
}

/// Every member name in a JSON tree (the paths the generator can walk).
fn member_names(v: &json::Json, out: &mut Vec<String>) {
    if let Some(o) = v.as_object() {
        for (key, value) in o.iter() {
            if !key.starts_with('_') && !out.iter().any(|n| n == key) {
                out.push(key.to_string());
            }
            member_names(value, out);
        }
    } else if let Some(a) = v.as_array() {
        for x in a {
            member_names(x, out);
        }
    }
}

/// FHIR payloads, and domain records with their kind.
type Seeds = (Vec<Vec<u8>>, Vec<(RecordKind, Vec<u8>)>);

/// Seeds: spfhir's FHIR for every domain fixture, every corpus case, and the fixtures
/// themselves (for domain → FHIR).
fn seeds() -> Seeds {
    let opts = WriteOptions {
        bundle: BundleKind::Message,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    };
    let mut fhir = Vec::new();
    let mut domain = Vec::new();
    for (_, kind, text) in spfhir_testkit::domain_fixtures() {
        fhir.push(
            translate::domain_json_to_fhir(kind, &text, &opts)
                .unwrap()
                .fhir
                .to_compact()
                .into_bytes(),
        );
        domain.push((kind, text.into_bytes()));
    }
    let cases = spfhir_testkit::workspace_root().join("conformance/validate/cases");
    for path in spfhir_testkit::json_files(&cases) {
        fhir.push(std::fs::read(path).unwrap());
    }
    // XML: the corpus's XML cases, and the XML form of every translation.
    for path in spfhir_testkit::files_with_extension(&cases, "xml") {
        fhir.push(std::fs::read(path).unwrap());
    }
    let model =
        spfhir_fhirpath::Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core"))
            .unwrap();
    let translated: Vec<Vec<u8>> = fhir
        .iter()
        .take(domain.len())
        .filter_map(|t| json::parse(std::str::from_utf8(t).ok()?).ok())
        .map(|tree| spfhir_xml::write(&tree, &model).into_bytes())
        .collect();
    fhir.extend(translated);
    (fhir, domain)
}

#[test]
fn mutated_inputs_never_panic() {
    // On the stack the front ends give validation and FHIRPath, not the test harness's.
    std::thread::Builder::new()
        .stack_size(spfhir_fhirpath::STACK_SIZE)
        .spawn(fuzz_campaign)
        .unwrap()
        .join()
        .unwrap();
}

fn fuzz_campaign() {
    // SPFHIR_FUZZ_LOG=path: each input is written there before it runs, so an input that
    // aborts the process (a stack overflow) can be recovered.
    let log = std::env::var_os("SPFHIR_FUZZ_LOG");
    let seconds: u64 = std::env::var("SPFHIR_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let iterations: usize = if seconds > 0 { usize::MAX } else { 1500 };
    let mut rng = Rng(std::env::var("SPFHIR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_5F1A_u64));
    let v = corpus_validator();
    let model =
        spfhir_fhirpath::Model::load_r4_core(&spfhir_testkit::shared_dir().join("fhir/r4-core"))
            .unwrap();
    let (fhir, domain) = seeds();
    let kinds = [
        RecordKind::Referral,
        RecordKind::Careplan,
        RecordKind::Outcome,
    ];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut failures: Vec<String> = Vec::new();
    let mut slowest: Vec<(f64, String)> = Vec::new();
    let mut runs = 0usize;
    let (mut generated, mut compiled, mut hangs) = (0usize, 0usize, 0usize);
    while runs < iterations && (seconds == 0 || Instant::now() < deadline) {
        runs += 1;
        let t = Instant::now();
        let which = rng.below(3);
        let input: Vec<u8>;
        let outcome = match which {
            0 => {
                input = mutate(&fhir[rng.below(fhir.len())], &mut rng);
                let text = String::from_utf8_lossy(&input).into_owned();
                catch_unwind(AssertUnwindSafe(|| {
                    let _ = v.validate_text(&text);
                    if let Ok(tree) = json::parse(&text) {
                        for k in kinds {
                            let _ = translate::fhir_to_domain_json(k, &tree);
                        }
                    }
                }))
            }
            1 => {
                let (kind, seed) = &domain[rng.below(domain.len())];
                input = mutate(seed, &mut rng);
                let text = String::from_utf8_lossy(&input).into_owned();
                let opts = WriteOptions::default();
                catch_unwind(AssertUnwindSafe(|| {
                    let _ = translate::domain_json_to_fhir(*kind, &text, &opts);
                }))
            }
            _ => {
                let resource = json::parse(&String::from_utf8_lossy(&fhir[rng.below(fhir.len())]));
                let expr = if rng.below(2) == 0 {
                    mutate_expression(EXPRESSIONS[rng.below(EXPRESSIONS.len())], &mut rng)
                } else {
                    let mut names = Vec::new();
                    if let Ok(r) = &resource {
                        member_names(r, &mut names);
                    }
                    let depth = 1 + rng.below(5) as u32;
                    generate_expression(&mut rng, &names, depth)
                };
                input = expr.clone().into_bytes();
                if let Some(log) = &log {
                    let _ = std::fs::write(log, &input);
                }
                generated += 1;
                catch_unwind(AssertUnwindSafe(|| {
                    if let (Ok(c), Ok(res)) = (Compiled::new(&expr), &resource) {
                        compiled += 1;
                        let mut env = Env::new(&model);
                        env.resource = Some(res);
                        let _ = c.evaluate(res, &env);
                    }
                }))
            }
        };
        let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
        if outcome.is_err() {
            failures.push(shown.clone());
        }
        // An input that takes over a second (ten in a debug build) is counted as a hang:
        // the budgets should stop any input well before.
        if t.elapsed() > Duration::from_secs(if cfg!(debug_assertions) { 10 } else { 1 }) {
            hangs += 1;
            failures.push(format!("took {:.1} s: {shown}", t.elapsed().as_secs_f64()));
        }
        let per_kb = t.elapsed().as_secs_f64() * 1024.0 / input.len().max(1) as f64;
        slowest.push((per_kb, shown));
        slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
        slowest.truncate(3);
    }
    eprintln!(
        "fuzz: {runs} runs in {:.1} s, {} panics, {hangs} hangs; FHIRPath: {generated} expressions, {compiled} parsed; slowest per KB: {:?}",
        started.elapsed().as_secs_f64(),
        failures.len() - hangs,
        slowest
            .iter()
            .map(|(s, i)| format!("{:.3} ms/KB {}", s * 1000.0, &i[..i.len().min(60)]))
            .collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} inputs panicked or hung, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

/// Found by the fuzzer: a date answer with a multi-byte character where a digit belongs
/// was sliced mid-character when compared with the item's minValue.
#[test]
fn a_date_answer_with_a_multibyte_character_does_not_panic() {
    let v = corpus_validator();
    let case = spfhir_testkit::workspace_root()
        .join("conformance/validate/cases/QR_ANSWER_RANGE--qr-rules-date-before-minimum.json");
    let text = std::fs::read_to_string(case).unwrap();
    let date = text
        .split("\"valueDate\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let broken = text.replacen(&date, &format!("{}\u{fffd}1", &date[..date.len() - 1]), 1);
    assert_ne!(broken, text);
    let issues = v.validate_text(&broken);
    assert!(
        issues.iter().any(|i| i.id == "TYPE_PRIMITIVE"),
        "{issues:?}"
    );
}
