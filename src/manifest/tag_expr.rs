//! The expressions docker/metadata-action allows inside `raw`, `prefix`, `suffix` and
//! `schedule` patterns: `{{branch}}`, `{{tag}}`, `{{sha}}`, `{{base_ref}}`,
//! `{{is_default_branch}}` and `{{date 'YYYYMMDD' tz='UTC'}}`.
//!
//! Parsed once when the manifest is checked, so an unknown name is an error at its line
//! rather than a tag that silently comes out wrong; `tags.rs` fills the pieces in.

use serde::Serialize;

/// One piece of a tag expression.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Piece {
    Text(String),
    /// The branch name (on a pull request, its head branch), or nothing.
    Branch,
    /// The git tag, or nothing.
    Tag,
    /// The first 7 hex of the commit, as metadata-action writes it.
    Sha,
    /// The branch a pull request targets, or nothing.
    BaseRef,
    /// `true` on the default branch, else `false`.
    IsDefaultBranch,
    /// The run's date in a moment.js format, at a fixed offset from UTC (minutes east).
    Date {
        format: String,
        offset_minutes: i32,
    },
}

/// The names an expression may use, for messages.
pub const EXPRESSION_NAMES: &[&str] = &[
    "branch",
    "tag",
    "sha",
    "base_ref",
    "is_default_branch",
    "date",
];

/// Splits `text` into pieces. Returns the problem and the fix when an expression is not
/// one metadata-action defines (or one sifbake cannot honour, such as a named timezone).
pub fn parse(text: &str) -> Result<Vec<Piece>, (String, String)> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let Some(end) = rest[start..].find("}}") else {
            return Err((
                "`{{` without a closing `}}`".to_owned(),
                "write expressions as `{{branch}}`".to_owned(),
            ));
        };
        pieces.push(expression(rest[start + 2..start + end].trim())?);
        rest = &rest[start + end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Returns true if and only if the pieces are plain text.
pub fn is_plain(pieces: &[Piece]) -> bool {
    pieces.iter().all(|p| matches!(p, Piece::Text(_)))
}

fn expression(inner: &str) -> Result<Piece, (String, String)> {
    let (name, arguments) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
    let piece = match name {
        "branch" => Piece::Branch,
        "tag" => Piece::Tag,
        "sha" => Piece::Sha,
        "base_ref" => Piece::BaseRef,
        "is_default_branch" => Piece::IsDefaultBranch,
        "date" => return date(arguments.trim()),
        other => {
            let known = EXPRESSION_NAMES.join("}}, {{");
            let help = match super::suggest::did_you_mean(other, EXPRESSION_NAMES) {
                Some(s) => format!("did you mean `{{{{{s}}}}}`? Expressions: {{{{{known}}}}}"),
                None => format!("expressions: {{{{{known}}}}}"),
            };
            return Err((format!("unknown expression `{{{{{other}}}}}`"), help));
        }
    };
    if !arguments.trim().is_empty() {
        return Err((
            format!("`{{{{{name}}}}}` takes no arguments"),
            format!("write it as `{{{{{name}}}}}`"),
        ));
    }
    Ok(piece)
}

fn date(arguments: &str) -> Result<Piece, (String, String)> {
    let usage = "write it as `{{date 'YYYYMMDD'}}`, optionally with `tz='UTC'` or `tz='+09:00'`";
    let (format, rest) = quoted(arguments).ok_or_else(|| {
        (
            "`{{date}}` needs a format in quotes".to_owned(),
            usage.to_owned(),
        )
    })?;
    let rest = rest.trim();
    let offset_minutes = if rest.is_empty() {
        0
    } else {
        let zone = rest
            .strip_prefix("tz=")
            .and_then(|z| quoted(z))
            .filter(|(_, after)| after.trim().is_empty())
            .map(|(zone, _)| zone)
            .ok_or_else(|| {
                (
                    format!("unexpected `{rest}` in `{{{{date}}}}`"),
                    usage.to_owned(),
                )
            })?;
        offset(&zone).ok_or_else(|| {
            (
                format!("timezone `{zone}` is not UTC or an offset"),
                "sifbake reads no timezone database: write `tz='UTC'` or an offset such as \
                 `tz='+09:00'` (daylight saving is not followed)"
                    .to_owned(),
            )
        })?
    };
    Ok(Piece::Date {
        format,
        offset_minutes,
    })
}

/// Reads a `'…'` or `"…"` string; returns it and the text after it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let body = &text[1..];
    let end = body.find(quote)?;
    Some((body[..end].to_owned(), &body[end + 1..]))
}

/// `UTC`, `Etc/UTC`, `Z`, or `±HH:MM`/`±HHMM`, in minutes east of UTC.
fn offset(zone: &str) -> Option<i32> {
    if matches!(zone, "UTC" | "Etc/UTC" | "Z" | "GMT") {
        return Some(0);
    }
    let sign = match zone.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    (hours <= 14 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

/// Formats seconds since the Unix epoch with moment.js tokens (`YYYY`, `YY`, `MM`, `M`,
/// `DD`, `D`, `HH`, `H`, `mm`, `m`, `ss`, `s`; `[text]` is kept as written), the subset
/// metadata-action's documentation and real workflows use.
pub fn format_date(epoch_seconds: i64, format: &str, offset_minutes: i32) -> String {
    let local = epoch_seconds + i64::from(offset_minutes) * 60;
    let (year, month, day) = civil_from_days(local.div_euclid(86_400));
    let second_of_day = local.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    let tokens: [(&str, String); 12] = [
        ("YYYY", format!("{year:04}")),
        ("YY", format!("{:02}", year.rem_euclid(100))),
        ("MM", format!("{month:02}")),
        ("M", month.to_string()),
        ("DD", format!("{day:02}")),
        ("D", day.to_string()),
        ("HH", format!("{hour:02}")),
        ("H", hour.to_string()),
        ("mm", format!("{minute:02}")),
        ("m", minute.to_string()),
        ("ss", format!("{second:02}")),
        ("s", second.to_string()),
    ];
    let mut out = String::new();
    let mut rest = format;
    'outer: while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('[')
            && let Some(end) = body.find(']')
        {
            out.push_str(&body[..end]);
            rest = &body[end + 1..];
            continue;
        }
        for (token, value) in &tokens {
            if let Some(after) = rest.strip_prefix(token) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_moment() {
        // 2026-12-04T23:30:05Z
        let t = 1_796_427_005;
        assert_eq!(format_date(t, "YYYYMMDD", 0), "20261204");
        assert_eq!(
            format_date(t, "YYYY-MM-DD[T]HHmmss", 0),
            "2026-12-04T233005"
        );
        assert_eq!(format_date(t, "YYYYMMDD", 60), "20261205");
        assert_eq!(format_date(t, "YYMD", -24 * 60), "26123");
        assert_eq!(format_date(0, "YYYY-MM-DD", 0), "1970-01-01");
        assert_eq!(format_date(951_782_400, "YYYYMMDD", 0), "20000229");
    }

    #[test]
    fn expressions_parse_and_unknown_names_fail() {
        assert_eq!(
            parse("v-{{ branch }}-{{sha}}").unwrap(),
            vec![
                Piece::Text("v-".into()),
                Piece::Branch,
                Piece::Text("-".into()),
                Piece::Sha
            ]
        );
        assert_eq!(
            parse("{{date 'YYYYMMDD' tz='+09:00'}}").unwrap(),
            vec![Piece::Date {
                format: "YYYYMMDD".into(),
                offset_minutes: 540
            }]
        );
        let (message, help) = parse("{{brnach}}").unwrap_err();
        assert!(message.contains("brnach"), "{message}");
        assert!(help.contains("did you mean `{{branch}}`"), "{help}");
        assert!(
            parse("{{date 'YYYY' tz='Asia/Tokyo'}}")
                .unwrap_err()
                .1
                .contains("offset")
        );
        assert!(parse("{{date}}").is_err());
        assert!(parse("{{sha 7}}").is_err());
        assert!(parse("{{tag").is_err());
    }
}
