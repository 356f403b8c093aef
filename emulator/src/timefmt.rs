//! RFC 3339 timestamps and Go-style duration strings.
//!
//! Library models carry Go `time.Time` values, which Go clients decode only from RFC 3339
//! (PROTOCOL.md §0.1); build logs print durations the way Go's `time.Duration` does
//! (`1h0m0s`), because the real service's log lines are produced by Go.

use std::time::Duration;

/// Formats Unix seconds as RFC 3339 in UTC with second precision (`2021-12-16T03:35:14Z`).
pub fn rfc3339_from_unix(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) civil date.
///
/// Howard Hinnant's `civil_from_days` algorithm, restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Formats a duration like Go's `time.Duration.String()` for whole and fractional seconds.
///
/// Go prints `1h0m0s`, `20m0s`, `2s`, `1.5s`, `500ms`; the real build service prints its
/// limit this way (`Setting maximum build duration to 1h0m0s`).
pub fn go_duration(duration: Duration) -> String {
    let total_nanos = duration.as_nanos();
    if total_nanos == 0 {
        return "0s".to_owned();
    }
    if total_nanos < 1_000_000_000 {
        return sub_second(total_nanos);
    }
    let hours = total_nanos / 3_600_000_000_000;
    let minutes = (total_nanos / 60_000_000_000) % 60;
    let nanos_in_minute = total_nanos % 60_000_000_000;
    let whole_seconds = nanos_in_minute / 1_000_000_000;
    let fraction = nanos_in_minute % 1_000_000_000;
    let mut seconds = whole_seconds.to_string();
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        seconds.push('.');
        seconds.push_str(digits.trim_end_matches('0'));
    }
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// Formats a sub-second duration in the largest unit Go would choose.
fn sub_second(nanos: u128) -> String {
    let (unit, scale) = if nanos >= 1_000_000 {
        ("ms", 1_000_000)
    } else if nanos >= 1_000 {
        ("µs", 1_000)
    } else {
        ("ns", 1)
    };
    let whole = nanos / scale;
    let fraction = nanos % scale;
    if fraction == 0 {
        return format!("{whole}{unit}");
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

/// Parses a duration written as a number and a unit: `500ms`, `2s`, `1.5s`, `1m`, `1h`, or a
/// Go-style composite such as `1h30m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * scale).ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_639_625_714), "2021-12-16T03:35:14Z");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn formats_durations_like_go() {
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(1200)), "20m0s");
        assert_eq!(go_duration(Duration::from_secs(2)), "2s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("2 weeks"), None);
    }
}
