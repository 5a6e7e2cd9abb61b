//! Times: the store keeps Unix microseconds; people and APIs see RFC 3339.

/// Microseconds since the epoch as RFC 3339 (empty for a time out of range).
pub fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An RFC 3339 time as microseconds since the epoch; `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000).ok())
}

/// A form's time (an HTML `datetime-local` field: `YYYY-MM-DDTHH:MM`, seconds
/// optional, read as UTC — the zone every page shows times in) or RFC 3339, as
/// microseconds since the epoch, with the unit the text was given to: a time
/// without seconds stands for its whole minute. `None` when it is neither.
pub fn parse_form_time(s: &str) -> Option<(i64, i64)> {
    use time::macros::format_description;
    if let Some(t) = parse_rfc3339(s) {
        return Some((t, 1));
    }
    let minute = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let second = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let (t, unit) = match time::PrimitiveDateTime::parse(s, minute) {
        Ok(t) => (t, 60_000_000),
        Err(_) => (time::PrimitiveDateTime::parse(s, second).ok()?, 1_000_000),
    };
    let micros = i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000).ok()?;
    Some((micros, unit))
}

/// Seconds since the Unix epoch, for signature timestamp windows.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_micros() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_500_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(
            super::parse_rfc3339("1970-01-01T00:00:01.5Z"),
            Some(1_500_000)
        );
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn reads_form_times() {
        use super::parse_form_time as p;
        assert_eq!(p("1970-01-01T00:01"), Some((60_000_000, 60_000_000)));
        assert_eq!(p("1970-01-01T00:01:02"), Some((62_000_000, 1_000_000)));
        assert_eq!(p("1970-01-01T00:00:01.5Z"), Some((1_500_000, 1)));
        assert_eq!(p("1970-01-01"), None);
        assert_eq!(p("1970-13-01T00:00"), None);
    }
}
