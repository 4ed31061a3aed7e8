//! Wall-clock text in GMT+8 (`yyyy-MM-dd HH:mm:ss`), the only date form the clients accept,
//! to and from milliseconds since the Unix epoch. Pure arithmetic, no clock.

const OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 86_400_000;

/// Formats epoch milliseconds as `yyyy-MM-dd HH:mm:ss` in GMT+8.
pub fn format(epoch_ms: i64) -> String {
    let local = epoch_ms + OFFSET_MS;
    let days = local.div_euclid(DAY_MS);
    let ms_of_day = local.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats epoch milliseconds as `yyyyMMddHHmmss` in GMT+8 (a prefix for generated ids).
/// `yyyy-MM-dd HH:mm:ss.SSS` in GMT+8.
pub fn format_ms(epoch_ms: i64) -> String {
    format!("{}.{:03}", format(epoch_ms), epoch_ms.rem_euclid(1000))
}

pub fn compact(epoch_ms: i64) -> String {
    format(epoch_ms)
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// Parses `yyyy-MM-dd HH:mm:ss` (or a bare `yyyy-MM-dd`, meaning midnight) in GMT+8.
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, clock) = match text.len() {
        10 => (text, "00:00:00"),
        19 if text.as_bytes()[10] == b' ' => (&text[..10], &text[11..]),
        _ => return None,
    };
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return None;
    }
    if t.iter().any(|part| part.len() != 2) {
        return None;
    }
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (h, min, s) = (num(t[0])?, num(t[1])?, num(t[2])?);
    if !(1..=12).contains(&m)
        || day < 1
        || day > days_in_month(y, m)
        || h > 23
        || min > 59
        || s > 59
    {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some(days * DAY_MS + (h * 3600 + min * 60 + s) * 1000 - OFFSET_MS)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_in_gmt8() {
        let cases = [
            (0, "1970-01-01 08:00:00"),
            (1_477_669_670_000, "2016-10-28 23:47:50"),
            (951_753_600_000, "2000-02-29 00:00:00"),
            (4_102_415_999_000, "2099-12-31 23:59:59"),
        ];
        for (ms, text) in cases {
            assert_eq!(format(ms), text);
            assert_eq!(parse(text), Some(ms), "{text}");
        }
        assert_eq!(compact(0), "19700101080000");
        assert_eq!(parse("2016-10-29"), parse("2016-10-29 00:00:00"));
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2016-10-28T23:47:50",
            "2016-1-28 23:47:50",
            "2016-13-01 00:00:00",
            "2015-02-29 00:00:00",
            "2016-10-28 24:00:00",
            "2016-10-28 23:47",
            "２０１６-10-28 23:47:50",
            "+016-10-28 23:47:50",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
