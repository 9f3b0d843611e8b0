//! Values FHIRPath computes with: nodes of the element tree (with their FHIR type), and the
//! System types — Boolean, Integer, Decimal (exact), String, Date, DateTime, Time (partial
//! precision) and Quantity (UCUM or calendar units).

use std::cmp::Ordering;

use compact_str::CompactString;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::json::Json;
use spfhir_element::temporal;

/// A node of the input: its JSON value (absent for a primitive that has only extensions), the
/// `_name` sibling holding the primitive's id and extensions, and its FHIR type (a type name
/// such as `HumanName` or `date`, or a backbone element path such as `Patient.contact`).
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    pub json: Option<&'a Json>,
    pub ext: Option<&'a Json>,
    pub ty: &'a str,
}

#[derive(Clone, Debug)]
pub enum Value<'a> {
    Node(Node<'a>),
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(CompactString),
    Temporal(Temporal),
    Quantity(Decimal, CompactString),
    /// The result of `type()`: a namespace (`System` or `FHIR`) and a type name.
    Type(CompactString, CompactString),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemporalKind {
    Date,
    DateTime,
    Time,
}

/// A date, dateTime or time with the precision it was given to.
/// `precision`: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Temporal {
    pub kind: TemporalKind,
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
    pub precision: u8,
    /// Offset from UTC in minutes, when given.
    pub tz: Option<i16>,
}

impl Temporal {
    fn blank(kind: TemporalKind) -> Temporal {
        Temporal {
            kind,
            year: 0,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
            precision: 0,
            tz: None,
        }
    }

    /// A FHIRPath literal without its `@`: `2015-02-04`, `2015-02-04T14:34:28Z`, `2015T`,
    /// `T14:34`.
    pub fn parse_literal(text: &str) -> Option<Temporal> {
        if let Some(time) = text.strip_prefix('T') {
            return Temporal::parse_time(time);
        }
        match text.split_once('T') {
            Some((date, "")) => {
                let mut t = Temporal::parse_date(date)?;
                t.kind = TemporalKind::DateTime;
                Some(t)
            }
            Some(_) => Temporal::parse_date_time(text),
            None => Temporal::parse_date(text),
        }
    }

    /// FHIR `date`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`.
    pub fn parse_date(s: &str) -> Option<Temporal> {
        let mut t = Temporal::blank(TemporalKind::Date);
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let p = b.get(r)?;
            p.iter()
                .all(u8::is_ascii_digit)
                .then(|| p.iter().fold(0, |a, d| a * 10 + (d - b'0') as u32))
        };
        t.year = num(0..4)? as i32;
        t.precision = 1;
        match b.len() {
            4 => {}
            7 if b[4] == b'-' => {
                t.month = num(5..7)? as u8;
                t.precision = 2;
            }
            10 if b[4] == b'-' && b[7] == b'-' => {
                t.month = num(5..7)? as u8;
                t.day = num(8..10)? as u8;
                t.precision = 3;
            }
            _ => return None,
        }
        if !(1..=12).contains(&t.month) || t.day < 1 || t.day > days_in_month(t.year, t.month) {
            return None;
        }
        Some(t)
    }

    /// A time of day `hh[:mm[:ss[.fff]]]`, with an optional zone for dateTimes.
    fn parse_clock(s: &str, t: &mut Temporal, allow_tz: bool) -> Option<()> {
        let (clock, tz) = if !allow_tz {
            (s, None)
        } else if let Some(c) = s.strip_suffix('Z') {
            (c, Some(0))
        } else if let Some(i) = s.rfind(['+', '-']) {
            let (c, z) = s.split_at(i);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (h, m) = z[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i16, i16) = (h.parse().ok()?, m.parse().ok()?);
            if h > 14 || m > 59 {
                return None;
            }
            (c, Some(sign * (h * 60 + m)))
        } else {
            (s, None)
        };
        t.tz = tz;
        let mut parts = clock.split(':');
        let two = |p: &str| -> Option<u8> {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
        };
        t.hour = two(parts.next()?)?;
        t.precision = 4;
        if let Some(m) = parts.next() {
            t.minute = two(m)?;
            t.precision = 5;
        }
        if let Some(sec) = parts.next() {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            t.second = two(whole)?;
            t.precision = 6;
            if let Some(f) = frac {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let ms: String = f.chars().chain("000".chars()).take(3).collect();
                t.millis = ms.parse().ok()?;
                t.precision = 7;
            }
        }
        if parts.next().is_some() || t.hour > 23 || t.minute > 59 || t.second > 60 {
            return None;
        }
        Some(())
    }

    pub fn parse_time(s: &str) -> Option<Temporal> {
        let mut t = Temporal::blank(TemporalKind::Time);
        Temporal::parse_clock(s, &mut t, false)?;
        Some(t)
    }

    /// FHIR `dateTime` / `instant`: a date, or a date and time with an optional zone.
    pub fn parse_date_time(s: &str) -> Option<Temporal> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut t = Temporal::parse_date(date)?;
        t.kind = TemporalKind::DateTime;
        if let Some(time) = time {
            if t.precision != 3 {
                return None;
            }
            Temporal::parse_clock(time, &mut t, true)?;
        }
        Some(t)
    }

    /// The value as FHIR writes it (no `@`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.kind != TemporalKind::Time {
            s.push_str(&format!("{:04}", self.year));
            if self.precision >= 2 {
                s.push_str(&format!("-{:02}", self.month));
            }
            if self.precision >= 3 {
                s.push_str(&format!("-{:02}", self.day));
            }
            if self.kind == TemporalKind::Date {
                return s;
            }
            if self.precision >= 4 {
                s.push('T');
            } else {
                return s;
            }
        }
        s.push_str(&format!("{:02}", self.hour));
        if self.precision >= 5 {
            s.push_str(&format!(":{:02}", self.minute));
        }
        if self.precision >= 6 {
            s.push_str(&format!(":{:02}", self.second));
        }
        if self.precision >= 7 {
            s.push_str(&format!(".{:03}", self.millis));
        }
        if let Some(tz) = self.tz {
            if tz == 0 {
                s.push('Z');
            } else {
                let sign = if tz < 0 { '-' } else { '+' };
                s.push_str(&format!("{sign}{:02}:{:02}", tz.abs() / 60, tz.abs() % 60));
            }
        }
        s
    }

    /// Milliseconds since 1970-01-01 of the given components (UTC when a zone is known).
    fn instant_ms(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        let ms = ((days * 24 + self.hour as i64) * 60 + self.minute as i64) * 60_000
            + self.second as i64 * 1000
            + self.millis as i64;
        ms - self.tz.unwrap_or(0) as i64 * 60_000
    }

    /// A UTC dateTime to the millisecond from milliseconds since 1970-01-01T00:00:00Z.
    pub fn from_unix_ms(ms: i64) -> Temporal {
        Temporal::from_ms(TemporalKind::DateTime, ms, 7, Some(0))
    }

    fn from_ms(kind: TemporalKind, ms: i64, precision: u8, tz: Option<i16>) -> Temporal {
        let local = ms + tz.unwrap_or(0) as i64 * 60_000;
        let days = local.div_euclid(86_400_000);
        let rem = local.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        Temporal {
            kind,
            year,
            month,
            day,
            hour: (rem / 3_600_000) as u8,
            minute: (rem / 60_000 % 60) as u8,
            second: (rem / 1000 % 60) as u8,
            millis: (rem % 1000) as u16,
            precision,
            tz,
        }
    }

    /// Compare per FHIRPath: `None` when one is more precise and they agree as far as both go.
    /// Seconds and milliseconds count as one precision.
    pub fn compare(&self, other: &Temporal) -> Option<Ordering> {
        if (self.kind == TemporalKind::Time) != (other.kind == TemporalKind::Time) {
            return None;
        }
        let timed = self.precision >= 4 && other.precision >= 4 && self.kind != TemporalKind::Time;
        if timed && self.tz.is_some() != other.tz.is_some() {
            // One is zoned and one is not: which instant the other means is unknown.
            return None;
        }
        let (a, b) = if timed && self.tz.is_some() {
            (self.to_utc(), other.to_utc())
        } else {
            (*self, *other)
        };
        let pa = a.precision.min(6);
        let pb = b.precision.min(6);
        let common = pa.min(pb);
        let first = if a.kind == TemporalKind::Time { 4 } else { 1 };
        for level in first..=common {
            let ord = match level {
                1 => a.year.cmp(&b.year),
                2 => a.month.cmp(&b.month),
                3 => a.day.cmp(&b.day),
                4 => a.hour.cmp(&b.hour),
                5 => a.minute.cmp(&b.minute),
                _ => (a.second as u32 * 1000 + a.millis as u32)
                    .cmp(&(b.second as u32 * 1000 + b.millis as u32)),
            };
            if ord != Ordering::Equal {
                return Some(ord);
            }
        }
        (pa == pb).then_some(Ordering::Equal)
    }

    fn to_utc(self) -> Temporal {
        if self.kind == TemporalKind::Time || self.tz.is_none() {
            return self;
        }
        Temporal::from_ms(self.kind, self.instant_ms(), self.precision, Some(0))
    }

    /// Add `amount` of a calendar or UCUM time unit: `self + amount unit`. `None`: the unit does not apply (not a time unit, or smaller
    /// than a date's precision); `Some(None)`: the result is outside years 1–9999, which
    /// FHIRPath cannot represent (evaluates to empty); never a wrapped value.
    pub fn add(&self, amount: Decimal, unit: &str) -> Option<Option<Temporal>> {
        let unit = calendar_unit(unit).or_else(|| ucum_time_unit(unit))?;
        let below_a_day = !matches!(unit, "year" | "month" | "week" | "day");
        if self.kind == TemporalKind::Date && below_a_day {
            return None;
        }
        let Some(whole) = amount.trunc().to_i64() else {
            return Some(None);
        };
        Some(self.add_whole(whole, unit))
    }

    fn add_whole(&self, whole: i64, unit: &str) -> Option<Temporal> {
        let mut t = *self;
        match unit {
            "year" => t.year = t.year.checked_add(i32::try_from(whole).ok()?)?,
            "month" => {
                let m = (t.year as i64 * 12 + (t.month as i64 - 1)).checked_add(whole)?;
                t.year = i32::try_from(m.div_euclid(12)).ok()?;
                t.month = (m.rem_euclid(12) + 1) as u8;
            }
            _ => {
                let ms_per: i64 = match unit {
                    "week" => 7 * 86_400_000,
                    "day" => 86_400_000,
                    "hour" => 3_600_000,
                    "minute" => 60_000,
                    "second" => 1000,
                    _ => 1,
                };
                // Only whole units are added (`+ 0.1 's'` adds nothing), as the spec's tests ask.
                let delta = whole.checked_mul(ms_per)?;
                if t.kind == TemporalKind::Time {
                    let ms = ((((t.hour as i64 * 60 + t.minute as i64) * 60 + t.second as i64)
                        * 1000
                        + t.millis as i64)
                        .checked_add(delta)?)
                    .rem_euclid(86_400_000);
                    t.hour = (ms / 3_600_000) as u8;
                    t.minute = (ms / 60_000 % 60) as u8;
                    t.second = (ms / 1000 % 60) as u8;
                    t.millis = (ms % 1000) as u16;
                    return Some(t);
                }
                let shifted = Temporal::from_ms(
                    t.kind,
                    t.instant_ms().checked_add(delta)?,
                    t.precision,
                    t.tz,
                );
                return (1..=9999).contains(&shifted.year).then_some(shifted);
            }
        }
        if !(1..=9999).contains(&t.year) {
            return None;
        }
        t.day = t.day.min(days_in_month(t.year, t.month));
        Some(t)
    }
}

pub fn days_in_month(y: i32, m: u8) -> u8 {
    temporal::days_in_month(i64::from(y), i64::from(m)) as u8
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    temporal::days_from_civil(i64::from(y), i64::from(m), i64::from(d))
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let (y, m, d) = temporal::civil_from_days(z);
    (y as i32, m as u8, d as u8)
}

/// The calendar duration a FHIRPath unit keyword names (`years` → `year`).
pub fn calendar_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" => "week",
        "day" | "days" => "day",
        "hour" | "hours" => "hour",
        "minute" | "minutes" => "minute",
        "second" | "seconds" => "second",
        "millisecond" | "milliseconds" => "millisecond",
        _ => return None,
    })
}

/// UCUM time units usable in date arithmetic. `a` and `mo` are deliberately absent: the
/// spec keeps UCUM years and months apart from calendar ones.
fn ucum_time_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "wk" => "week",
        "d" => "day",
        "h" => "hour",
        "min" => "minute",
        "s" => "second",
        "ms" => "millisecond",
        _ => return None,
    })
}

/// A unit's canonical unit and its factor to it, from UCUM itself (`octofhir-ucum`): `cm`
/// is `m` × 0.01, `[lb_av]` is `g` × 453.59237, `kg.m/s2` is `g.m.s-2` × 1000. FHIRPath's
/// calendar durations of a week or less stand for their UCUM units (`1 week = 1 'wk'`);
/// calendar years and months, UCUM's `a` and `mo`, and units with an offset (`Cel`) compare
/// only with themselves. `None`: not a unit UCUM knows.
pub fn unit_factor(u: &str) -> Option<(CompactString, Decimal)> {
    let ucum = match u {
        "1" | "" => "1",
        "year" | "years" | "month" | "months" | "a" | "mo" => {
            let own = u.trim_end_matches('s');
            return Some((own.into(), Decimal::ONE));
        }
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        other => other,
    };
    let canonical = octofhir_ucum::get_canonical_units(ucum).ok()?;
    if !canonical.offset.is_zero() {
        return Some((u.into(), Decimal::ONE));
    }
    let (digits, exp) = canonical.factor.to_integer_and_exponent();
    let factor = if exp <= 0 {
        // A factor finer than a Decimal's 28 places (none of UCUM's in practice) is not
        // converted.
        Decimal::try_from_i128_with_scale(digits, u32::try_from(-exp).ok()?).ok()?
    } else {
        Decimal::try_from_i128_with_scale(digits, 0)
            .ok()?
            .checked_mul(Decimal::from(10i64.checked_pow(u32::try_from(exp).ok()?)?))?
    };
    Some((canonical.unit.into(), factor))
}

/// Compare two quantities, converting units where both are known and of one dimension.
pub fn compare_quantities(a: (&Decimal, &str), b: (&Decimal, &str)) -> Option<Ordering> {
    if a.1 == b.1 {
        return Some(a.0.cmp(b.0));
    }
    let (da, fa) = unit_factor(a.1)?;
    let (db, fb) = unit_factor(b.1)?;
    if da != db {
        return None;
    }
    Some(a.0.checked_mul(fa)?.cmp(&b.0.checked_mul(fb)?))
}

impl Value<'_> {
    pub fn type_name(&self) -> &str {
        match self {
            Value::Node(n) => n.ty,
            Value::Bool(_) => "Boolean",
            Value::Int(_) => "Integer",
            Value::Dec(_) => "Decimal",
            Value::Str(_) => "String",
            Value::Temporal(t) => match t.kind {
                TemporalKind::Date => "Date",
                TemporalKind::DateTime => "DateTime",
                TemporalKind::Time => "Time",
            },
            Value::Quantity(..) => "Quantity",
            Value::Type(..) => "TypeInfo",
        }
    }
}

/// Shortest decimal text that keeps the value's scale, as FHIRPath prints decimals.
pub fn decimal_text(d: &Decimal) -> String {
    d.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn partial_precision_compare() {
        let a = Temporal::parse_literal("2012-01").unwrap();
        let b = Temporal::parse_literal("2012-01-31").unwrap();
        assert_eq!(a.compare(&b), None);
        let c = Temporal::parse_literal("2012-02").unwrap();
        assert_eq!(a.compare(&c), Some(Ordering::Less));
        let x = Temporal::parse_literal("2017-11-05T01:30:00.0-04:00").unwrap();
        let y = Temporal::parse_literal("2017-11-05T01:15:00.0-05:00").unwrap();
        assert_eq!(x.compare(&y), Some(Ordering::Less));
    }

    #[test]
    fn calendar_arithmetic() {
        let t = Temporal::parse_literal("1973-12-25").unwrap();
        assert_eq!(
            t.add(Decimal::from(1), "month").flatten().unwrap().text(),
            "1974-01-25"
        );
        let t = Temporal::parse_literal("1973-12-25T00:00:00.000+10:00").unwrap();
        assert_eq!(
            t.add(Decimal::from(10), "ms").flatten().unwrap().text(),
            "1973-12-25T00:00:00.010+10:00"
        );
    }
}
