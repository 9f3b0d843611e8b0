//! A mutation fuzzer over the corpus seeds: spfhir's own translations, the validator's
//! corpus cases and FHIRPath expressions, each mutated (bytes flipped, inserted, deleted,
//! spans repeated, brackets nested) and run through parsing, validation, translation both
//! ways and FHIRPath. Nothing may panic. CI runs a fixed, seeded number of iterations;
//! `bash bench/fuzz.sh` runs a longer campaign (`SPFHIR_FUZZ_SECONDS`, `SPFHIR_FUZZ_SEED`)
//! and prints runs, failures and the slowest inputs per KB.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use spfhir_domain::RecordKind;
use spfhir_element as json;
use spfhir_fhirpath::{Compiled, Env};
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
    (fhir, domain)
}

#[test]
fn mutated_inputs_never_panic() {
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
                let expr = mutate_expression(EXPRESSIONS[rng.below(EXPRESSIONS.len())], &mut rng);
                let resource = fhir[rng.below(fhir.len())].clone();
                input = expr.clone().into_bytes();
                catch_unwind(AssertUnwindSafe(|| {
                    if let (Ok(c), Ok(res)) = (
                        Compiled::new(&expr),
                        json::parse(&String::from_utf8_lossy(&resource)),
                    ) {
                        let mut env = Env::new(&model);
                        env.resource = Some(&res);
                        let _ = c.evaluate(&res, &env);
                    }
                }))
            }
        };
        let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
        if outcome.is_err() {
            failures.push(shown.clone());
        }
        let per_kb = t.elapsed().as_secs_f64() * 1024.0 / input.len().max(1) as f64;
        slowest.push((per_kb, shown));
        slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
        slowest.truncate(3);
    }
    eprintln!(
        "fuzz: {runs} runs in {:.1} s, {} panics; slowest per KB: {:?}",
        started.elapsed().as_secs_f64(),
        failures.len(),
        slowest
            .iter()
            .map(|(s, i)| format!("{:.3} ms/KB {}", s * 1000.0, &i[..i.len().min(60)]))
            .collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} inputs panicked, e.g. {:?}",
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
