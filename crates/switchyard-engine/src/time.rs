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
}
