//! Time as the domain sees it: milliseconds since the Unix epoch, UTC, and a
//! clock that is passed in so tests decide what "now" is.

use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// An instant, stored as milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a date or time: use RFC 3339 (2026-01-31T12:00:00Z) or a calendar date (2026-01-31)")]
pub struct TimestampError(String);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any offset, normalised to UTC) or a bare calendar date
    /// (midnight UTC).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let trimmed = text.trim();
        if let Ok(dt) = OffsetDateTime::parse(trimmed, &Rfc3339) {
            return Ok(Self::from_offset(dt));
        }
        let date_only = format_description!("[year]-[month]-[day]");
        if let Ok(date) = Date::parse(trimmed, &date_only) {
            let dt = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(UtcOffset::UTC);
            return Ok(Self::from_offset(dt));
        }
        Err(TimestampError(text.chars().take(64).collect()))
    }

    /// Unix seconds, as Intercom-style APIs send them.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        seconds.checked_mul(1000).map(Self)
    }

    fn from_offset(dt: OffsetDateTime) -> Self {
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Fixed-width RFC 3339 in UTC with milliseconds, so that the text form
    /// sorts as the instant does (the store compares dates as text).
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => {
                let fmt = format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                );
                dt.format(&fmt).unwrap_or_else(|_| self.0.to_string())
            }
            Err(_) => self.0.to_string(),
        }
    }
}

impl Timestamp {
    /// The RFC 5322 date-time of mail headers, in UTC:
    /// `Thu, 26 Nov 2026 16:05:00 +0000`. Instants before 1970 or after
    /// 9999 are clamped to that range (the grammar has four-digit years).
    pub fn to_rfc5322(self) -> String {
        let secs = self.0.div_euclid(1000).clamp(0, 253_402_300_799);
        let fmt = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
        );
        OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(|dt| dt.format(&fmt).ok())
            .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".to_owned())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// The source of "now". Production uses [`SystemClock`]; tests pass their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_offset(OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_normalises_to_utc() {
        let t = Timestamp::parse("2026-03-01T10:00:00+02:00").expect("parses");
        assert_eq!(t.to_rfc3339(), "2026-03-01T08:00:00.000Z");
        assert_eq!(Timestamp::parse(&t.to_rfc3339()), Ok(t));
    }

    #[test]
    fn calendar_date_is_midnight_utc() {
        let t = Timestamp::parse("2026-01-31").expect("parses");
        assert_eq!(t.to_rfc3339(), "2026-01-31T00:00:00.000Z");
    }

    #[test]
    fn text_form_sorts_like_the_instant() {
        let a = Timestamp::parse("1999-12-31T23:59:59.5Z").expect("a");
        let b = Timestamp::parse("2000-01-01").expect("b");
        assert!(a < b);
        assert!(a.to_rfc3339() < b.to_rfc3339());
    }

    #[test]
    fn garbage_is_refused_with_the_accepted_forms() {
        let err = Timestamp::parse("yesterday").expect_err("refused");
        assert!(err.to_string().contains("RFC 3339"));
        assert!(Timestamp::parse("2026-02-30").is_err());
    }
}
