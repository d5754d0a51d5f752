//! Spans of time as people write them on a command line: `90s`, `15m`, `1h`, `30d`, `2w`.

use std::time::Duration;

/// Reads a span; clap calls it for `--since` and `--retain`.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}`: give a unit, e.g. 30s, 15m, 1h, 30d or 2w"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: a whole number then a unit, e.g. 15m or 30d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => return Err(format!("`{text}`: unknown unit `{other}`; use s, m, h, d or w")),
    };
    if number == 0 {
        return Err(format!("`{text}`: a span longer than zero"));
    }
    number
        .checked_mul(seconds)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: at most 100 years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_with_their_unit_and_nonsense_is_refused_with_the_reason() {
        assert_eq!(parse_span("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_span("30d"), Ok(Duration::from_secs(30 * 86_400)));
        for (bad, why) in [
            ("30", "give a unit"),
            ("3x", "unknown unit"),
            ("0d", "longer than zero"),
            ("d", "whole number"),
            ("99999999999999w", "at most"),
        ] {
            assert!(parse_span(bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
