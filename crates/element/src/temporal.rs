//! The lexical and calendar rules of FHIR's `date`, `dateTime`, `instant` and `time`: the R4
//! regular expressions, plus the calendar (`2023-02-30` and `2023-02-29` are not dates,
//! `2024-02-29` is). The one place spfhir checks them: the domain model, the validator and
//! the translators all call these. Errors say what was expected, never the value.

/// Why a value is not of the type: the forms the type takes, in words.
pub type Reason = &'static str;

pub const DATE_FORMS: Reason = "expected YYYY, YYYY-MM or YYYY-MM-DD";
pub const DATE_TIME_FORMS: Reason =
    "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone";
pub const INSTANT_FORMS: Reason = "expected YYYY-MM-DDThh:mm:ss(.sss) with a time zone";
pub const TIME_FORMS: Reason = "expected hh:mm:ss";
pub const NO_SUCH_DAY: Reason = "no such day in the calendar";

/// A FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real day.
pub fn date(s: &str) -> Result<(), Reason> {
    match prefix_date(s.as_bytes(), DATE_FORMS)? {
        (n, real) if n == s.len() => real,
        _ => Err(DATE_FORMS),
    }
}

/// A FHIR `dateTime`: a date, or a full date with `Thh:mm:ss[.f]` and a time zone.
pub fn date_time(s: &str) -> Result<(), Reason> {
    let b = s.as_bytes();
    let (n, real) = prefix_date(b, DATE_TIME_FORMS)?;
    if n == b.len() {
        return real;
    }
    if n != 10 || b[10] != b'T' {
        return Err(DATE_TIME_FORMS);
    }
    time_and_zone(&b[11..], true).ok_or(DATE_TIME_FORMS)?;
    real
}

/// A FHIR `instant`: a full date and time to the second, with a time zone.
pub fn instant(s: &str) -> Result<(), Reason> {
    let b = s.as_bytes();
    let (n, real) = prefix_date(b, INSTANT_FORMS)?;
    if n != 10 || b.get(10) != Some(&b'T') {
        return Err(INSTANT_FORMS);
    }
    time_and_zone(&b[11..], true).ok_or(INSTANT_FORMS)?;
    real
}

/// A FHIR `time`: `hh:mm:ss[.f]`, no time zone.
pub fn time(s: &str) -> Result<(), Reason> {
    time_and_zone(s.as_bytes(), false).ok_or(TIME_FORMS)
}

/// Two ASCII digits at `b[i..i + 2]` as a number.
/// Days in month `m` (1–12) of year `y`, proleptic Gregorian.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(y, m, d)` of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    match b.get(i..i + 2)? {
        [x, y] if x.is_ascii_digit() && y.is_ascii_digit() => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    }
}

/// `YYYY[-MM[-DD]]` at the start of `b` (year 0000 is not allowed, as R4's pattern has it;
/// months 01–12, days 01–31): the length it takes, and whether the day exists in its month
/// (reported only once the whole form is known to be right).
fn prefix_date(b: &[u8], forms: Reason) -> Result<(usize, Result<(), Reason>), Reason> {
    let year = match (two(b, 0), two(b, 2)) {
        (Some(c), Some(y)) if c * 100 + y > 0 => c * 100 + y,
        _ => return Err(forms),
    };
    if b.len() == 4 || b[4] != b'-' {
        return Ok((4, Ok(())));
    }
    let month = two(b, 5).filter(|m| (1..=12).contains(m)).ok_or(forms)?;
    if b.len() == 7 || b[7] != b'-' {
        return Ok((7, Ok(())));
    }
    let day = two(b, 8).ok_or(forms)?;
    let days = days_in_month(i64::from(year), i64::from(month)) as u32;
    if day == 0 || day > 31 {
        return Err(forms);
    }
    Ok((10, if day > days { Err(NO_SUCH_DAY) } else { Ok(()) }))
}

/// `hh:mm:ss[.f+]`, then (when `zone`) `Z` or `±hh:mm` (up to ±14:00), and nothing else.
fn time_and_zone(b: &[u8], zone: bool) -> Option<()> {
    two(b, 0).filter(|h| *h <= 23)?;
    (b.get(2) == Some(&b':')).then_some(())?;
    two(b, 3).filter(|m| *m <= 59)?;
    (b.get(5) == Some(&b':')).then_some(())?;
    two(b, 6).filter(|s| *s <= 60)?;
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let rest = &b[i..];
    if !zone {
        return rest.is_empty().then_some(());
    }
    match rest {
        b"Z" => Some(()),
        [b'+' | b'-', _, _, b':', _, _] => {
            let (h, m) = (two(rest, 1)?, two(rest, 4)?);
            (h <= 13 && m <= 59 || h == 14 && m == 0).then_some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_day_numbers_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert!((1..=days_in_month(y, m)).contains(&d));
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn calendar_and_forms() {
        for ok in ["2024", "2024-02", "2024-02-29", "2000-02-29", "0001-01-01"] {
            assert_eq!(date(ok), Ok(()), "{ok}");
        }
        assert_eq!(date("2023-02-29"), Err(NO_SUCH_DAY));
        assert_eq!(date("2023-02-30"), Err(NO_SUCH_DAY));
        assert_eq!(date("1900-02-29"), Err(NO_SUCH_DAY));
        assert_eq!(date("2023-04-31"), Err(NO_SUCH_DAY));
        for bad in [
            "0000",
            "24",
            "2024-13",
            "2024-00",
            "2024-01-00",
            "2024-01-32",
            "2024-1-01",
            "2024-01-01T10:00:00Z",
            "2024-",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
        for ok in [
            "2024",
            "2024-02-29T23:59:60Z",
            "2024-01-01T00:00:00.123456789+14:00",
            "2024-01-01T10:00:00-13:59",
        ] {
            assert_eq!(date_time(ok), Ok(()), "{ok}");
        }
        for bad in [
            "2024-01-01T10:00:00",
            "2024-01-01T10:00Z",
            "2024-01T10:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T10:00:00+14:30",
            "2024-01-01T10:00:00.Z",
        ] {
            assert!(date_time(bad).is_err(), "{bad}");
        }
        assert_eq!(date_time("2023-02-30T10:00:00Z"), Err(NO_SUCH_DAY));
        assert_eq!(instant("2024-01-01T10:00:00Z"), Ok(()));
        assert!(instant("2024-01-01").is_err());
        assert_eq!(time("23:59:60.5"), Ok(()));
        assert!(time("23:59").is_err() && time("10:00:00Z").is_err());
    }
}
