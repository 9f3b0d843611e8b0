//! FHIR dates, dateTimes and instants as the time ranges they stand for, in microseconds
//! since the Unix epoch (UTC): `2024` is the whole year, `2024-02-29T10:00:00Z` the second.
//! A value without a zone is read as UTC.

use spfhir_element::temporal::{days_from_civil, days_in_month};

const DAY: i64 = 86_400_000_000;

/// The inclusive range `[low, high]` a FHIR date, dateTime or instant covers; `None` when
/// it is not one.
pub fn range(s: &str) -> Option<(i64, i64)> {
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y = num(parts.next().filter(|p| p.len() == 4)?)?;
    let m = parts
        .next()
        .map(|p| num(p).filter(|m| p.len() == 2 && (1..=12).contains(m)));
    let d = parts.next().map(|p| num(p).filter(|_| p.len() == 2));
    if parts.next().is_some() {
        return None;
    }
    // Present but malformed is not a date; absent is a coarser precision.
    let m = m.map(|x| x.ok_or(())).transpose().ok()?;
    let d = d.map(|x| x.ok_or(())).transpose().ok()?;
    if let (Some(m), Some(d)) = (m, d)
        && !(1..=days_in_month(y, m)).contains(&d)
    {
        return None;
    }
    let Some(time) = time else {
        return Some(match (m, d) {
            (None, _) => (
                days_from_civil(y, 1, 1) * DAY,
                days_from_civil(y + 1, 1, 1) * DAY - 1,
            ),
            (Some(m), None) => {
                let start = days_from_civil(y, m, 1);
                (start * DAY, (start + days_in_month(y, m)) * DAY - 1)
            }
            (Some(m), Some(d)) => {
                let start = days_from_civil(y, m, d);
                (start * DAY, (start + 1) * DAY - 1)
            }
        });
    };
    let (m, d) = (m?, d?);
    // hh:mm[:ss[.fraction]] then Z or ±hh:mm.
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, z) = time.split_at(i);
        let (zh, zm) = z[1..].split_once(':')?;
        let mins = num(zh)? * 60 + num(zm)?;
        (c, if z.starts_with('-') { -mins } else { mins })
    } else {
        (time, 0)
    };
    let mut hms = clock.split(':');
    let h = num(hms.next()?).filter(|h| *h < 24)?;
    let mi = num(hms.next()?).filter(|m| *m < 60)?;
    let (sec, frac, digits) = match hms.next() {
        None => (None, 0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let s = num(whole).filter(|s| *s <= 60)?;
            let digits = frac.len().min(6);
            let f = if frac.is_empty() {
                0
            } else {
                num(&frac[..digits])?
            };
            (Some(s), f * 10i64.pow(6 - digits as u32), digits)
        }
    };
    let base =
        days_from_civil(y, m, d) * DAY + (h * 3600 + mi * 60) * 1_000_000 - offset * 60_000_000;
    Some(match sec {
        None => (base, base + 60_000_000 - 1),
        Some(s) => {
            let low = base + s * 1_000_000 + frac;
            let width = if digits == 0 {
                1_000_000
            } else {
                10i64.pow(6 - digits as u32)
            };
            (low, low + width - 1)
        }
    })
}

/// An instant for `Bundle.meta.lastUpdated` and `Last-Modified` from microseconds.
pub fn instant(micros: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros.max(0) as u64);
    humantime::format_rfc3339_millis(t)
        .to_string()
        .replace("Z", "+00:00")
}

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let day = |s| range(s).unwrap();
        assert_eq!(day("1970-01-01"), (0, DAY - 1));
        assert_eq!(day("1970-01"), (0, 31 * DAY - 1));
        assert_eq!(day("1970"), (0, 365 * DAY - 1));
        assert_eq!(day("2024-02").1 - day("2024-02").0 + 1, 29 * DAY);
        assert_eq!(day("1970-01-01T00:00:01Z"), (1_000_000, 1_999_999));
        assert_eq!(day("1970-01-01T01:00:00+01:00").0, 0);
        assert_eq!(day("1970-01-01T00:00:00.5Z"), (500_000, 599_999));
        assert_eq!(day("2000-03-01").0 / DAY, 11_017);
        for bad in [
            "2023-02-30",
            "24",
            "2024-13",
            "2024-01-01T25:00:00Z",
            "x",
            "2024-1-01",
        ] {
            assert_eq!(range(bad), None, "{bad}");
        }
        assert!(instant(0).starts_with("1970-01-01T00:00:00.000"));
    }
}
