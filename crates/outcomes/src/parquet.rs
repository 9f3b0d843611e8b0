//! The pseudonymised pair table as Parquet: one row per baseline/follow-up pair, for ICBs
//! to load into the warehouse engines they already run (Databricks, Synapse, BigQuery,
//! DuckDB) when one machine's tables are not enough.
//!
//! The person (the NHS number, where `Patient.ndjson` gives it) and the episode are
//! replaced by a keyed HMAC-SHA256, hex. The key is the ICB's own secret: the same key
//! gives the same pseudonym for the same person in every export, so exports join, and
//! without the key a pseudonym cannot be reversed by hashing every NHS number. The table is
//! pseudonymised, not anonymous: it is personal data, and no small-number rule applies to
//! rows. Written to any `Write`: the front end opens the file.
//!
//! Columns: `person`, `episode`, `measure`, `baseline_date`, `baseline`, `follow_up_date`,
//! `follow_up`, `change`, `outcome`, `higher_is_better`, then each of
//! [`PairRow::DIMENSIONS`] (`icb`, `sub_icb`, `pcn`, `practice`, `age_band`, `sex`,
//! `ethnicity`, `imd_decile`, `reason`; null where the input does not say).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use sha2::Sha256;

use crate::pair::{Aggregator, PairRow};
use crate::read::day32;

/// The shortest key accepted, in bytes.
pub const MIN_KEY: usize = 16;

/// Rows per row group.
const GROUP: usize = 65_536;

/// Keyed pseudonyms: HMAC-SHA256 of a value, as 64 hex digits.
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(..)")
    }
}

impl Pseudonymiser {
    /// A key of at least [`MIN_KEY`] bytes (surrounding whitespace, such as a file's last
    /// newline, is not part of it).
    pub fn new(key: &[u8]) -> Result<Pseudonymiser, String> {
        let key = key.trim_ascii();
        if key.len() < MIN_KEY {
            return Err(format!(
                "the pseudonymisation key has {} bytes; it needs at least {MIN_KEY} (e.g. `openssl rand -hex 32`)",
                key.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        Ok(Pseudonymiser { mac })
    }

    /// The pseudonym of `value`.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in digest {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        out
    }
}

const SCHEMA: &str = "message pairs {
  required binary person (STRING);
  required binary episode (STRING);
  required binary measure (STRING);
  required int32 baseline_date (DATE);
  required double baseline;
  required int32 follow_up_date (DATE);
  required double follow_up;
  required double change;
  required binary outcome (STRING);
  required boolean higher_is_better;
  optional binary icb (STRING);
  optional binary sub_icb (STRING);
  optional binary pcn (STRING);
  optional binary practice (STRING);
  optional binary age_band (STRING);
  optional binary sex (STRING);
  optional binary ethnicity (STRING);
  optional int32 imd_decile;
  optional binary reason (STRING);
}";

/// The columns of one row group.
#[derive(Default)]
struct Columns {
    person: Vec<ByteArray>,
    episode: Vec<ByteArray>,
    measure: Vec<ByteArray>,
    baseline_date: Vec<i32>,
    baseline: Vec<f64>,
    follow_up_date: Vec<i32>,
    follow_up: Vec<f64>,
    change: Vec<f64>,
    outcome: Vec<ByteArray>,
    higher_is_better: Vec<bool>,
    /// Each text dimension's present values and every row's definition level.
    text: Vec<(Vec<ByteArray>, Vec<i16>)>,
    imd: (Vec<i32>, Vec<i16>),
}

impl Columns {
    fn len(&self) -> usize {
        self.person.len()
    }

    fn push(&mut self, row: &PairRow<'_>, key: &Pseudonymiser) {
        let text = |s: &str| ByteArray::from(s.as_bytes().to_vec());
        self.person.push(text(&key.pseudonym(row.person)));
        self.episode.push(text(&if row.episode.is_empty() {
            String::new()
        } else {
            key.pseudonym(row.episode)
        }));
        self.measure.push(text(row.measure.id()));
        self.baseline_date.push(day32(row.baseline.0));
        self.baseline.push(row.baseline.1);
        self.follow_up_date.push(day32(row.follow_up.0));
        self.follow_up.push(row.follow_up.1);
        self.change.push(row.follow_up.1 - row.baseline.1);
        self.outcome.push(text(row.outcome.id()));
        self.higher_is_better.push(row.measure.higher_is_better());
        if self.text.is_empty() {
            self.text = vec![Default::default(); PairRow::DIMENSIONS.len() - 1];
        }
        let mut texts = self.text.iter_mut();
        for (d, value) in &row.strata {
            let known = value != "unknown";
            if *d == crate::Dimension::ImdDecile {
                let n = value.parse::<i32>().ok().filter(|_| known);
                self.imd.1.push(i16::from(n.is_some()));
                self.imd.0.extend(n);
            } else if let Some((values, levels)) = texts.next() {
                levels.push(i16::from(known));
                if known {
                    values.push(text(value));
                }
            }
        }
    }

    /// Write the columns, in the schema's order, as one row group.
    fn write<W: std::io::Write + Send>(
        &mut self,
        file: &mut SerializedFileWriter<W>,
    ) -> parquet::errors::Result<()> {
        let mut group = file.next_row_group()?;
        let mut n = 0;
        while let Some(mut column) = group.next_column()? {
            match n {
                0 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.person, None, None)?,
                1 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.episode, None, None)?,
                2 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.measure, None, None)?,
                3 => column
                    .typed::<Int32Type>()
                    .write_batch(&self.baseline_date, None, None)?,
                4 => column
                    .typed::<DoubleType>()
                    .write_batch(&self.baseline, None, None)?,
                5 => column
                    .typed::<Int32Type>()
                    .write_batch(&self.follow_up_date, None, None)?,
                6 => column
                    .typed::<DoubleType>()
                    .write_batch(&self.follow_up, None, None)?,
                7 => column
                    .typed::<DoubleType>()
                    .write_batch(&self.change, None, None)?,
                8 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.outcome, None, None)?,
                9 => column
                    .typed::<BoolType>()
                    .write_batch(&self.higher_is_better, None, None)?,
                17 => {
                    column
                        .typed::<Int32Type>()
                        .write_batch(&self.imd.0, Some(&self.imd.1), None)?
                }
                // The text dimensions: columns 10–16, then 18 (after imd_decile).
                i => {
                    let (values, levels) = &self.text[if i < 17 { i - 10 } else { i - 11 }];
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(values, Some(levels), None)?
                }
            };
            column.close()?;
            n += 1;
        }
        group.close()?;
        *self = Columns::default();
        Ok(())
    }
}

/// Write every pair `agg` makes to `out` as Parquet (Snappy); how many rows were written.
pub fn write_pairs<W: std::io::Write + Send>(
    agg: &Aggregator,
    key: &Pseudonymiser,
    out: W,
) -> Result<u64, String> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| e.to_string())?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("spfhir outcomes".into())
            .build(),
    );
    let mut file = SerializedFileWriter::new(out, schema, props).map_err(|e| e.to_string())?;
    let mut columns = Columns::default();
    let mut rows = 0u64;
    let mut failed = None;
    agg.for_each_pair(|row| {
        if failed.is_some() {
            return;
        }
        columns.push(row, key);
        rows += 1;
        if columns.len() == GROUP
            && let Err(e) = columns.write(&mut file)
        {
            failed = Some(e.to_string());
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if columns.len() > 0 {
        columns.write(&mut file).map_err(|e| e.to_string())?;
    }
    file.close().map_err(|e| e.to_string())?;
    Ok(rows)
}
