//! When a bulk mail may reach a person: a message's delivery window
//! ("09:00 to 17:00 local, weekdays"), the workspace's quiet hours ("not
//! between 21:00 and 08:00 local") and the recipient's time zone (an IANA
//! name such as `Europe/Paris`, from the tz database bundled with the
//! binary, so every machine agrees).
//!
//! [`first_open`] answers the one question the queue asks: from this
//! instant, when is the first moment both allow?

use crate::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use std::fmt;

/// A time of day on the wall clock, to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime {
    minute_of_day: u16,
}

impl LocalTime {
    /// `HH:MM`, 24-hour, from `00:00` to `23:59`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let bad = || ScheduleError::Time(text.to_owned());
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !(1..=2).contains(&h.len()) || !h.bytes().all(|b| b.is_ascii_digit()) || !two_digits(m) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(Self {
            minute_of_day: h * 60 + m,
        })
    }

    fn hour(self) -> i8 {
        i8::try_from(self.minute_of_day / 60).unwrap_or(0)
    }

    fn minute(self) -> i8 {
        i8::try_from(self.minute_of_day % 60).unwrap_or(0)
    }

    fn of(dt: DateTime) -> Self {
        let h = u16::try_from(dt.hour()).unwrap_or(0);
        let m = u16::try_from(dt.minute()).unwrap_or(0);
        Self {
            minute_of_day: h * 60 + m,
        }
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

/// A span of the day from `start` up to (not including) `end`; one whose
/// end comes before its start runs over midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailySpan {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl DailySpan {
    pub fn new(start: LocalTime, end: LocalTime) -> Result<Self, ScheduleError> {
        if start == end {
            return Err(ScheduleError::Empty(start.to_string()));
        }
        Ok(Self { start, end })
    }

    fn contains(self, t: LocalTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// The days of the week a window is open, by the recipient's local date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Days {
    pub const ALL: Days = Days(0b111_1111);

    /// Day names (`mon` ... `sun`), or `weekdays` / `weekends`.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScheduleError> {
        let mut bits = 0u8;
        for name in names {
            let lower = name.trim().to_ascii_lowercase();
            bits |= match lower.as_str() {
                "weekdays" => 0b001_1111,
                "weekends" => 0b110_0000,
                other => {
                    let at = FULL_DAY_NAMES
                        .iter()
                        .zip(DAY_NAMES)
                        .position(|(full, short)| other == *full || other == short)
                        .ok_or_else(|| ScheduleError::Day(name.to_owned()))?;
                    1 << at
                }
            };
        }
        if bits == 0 {
            return Err(ScheduleError::NoDays);
        }
        Ok(Self(bits))
    }

    fn contains(self, day: Weekday) -> bool {
        let at = day.to_monday_zero_offset();
        self.0 & (1 << at) != 0
    }

    /// The day names, in order from Monday.
    pub fn names(self) -> Vec<&'static str> {
        (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect()
    }
}

/// When a message may be delivered, in each recipient's local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryWindow {
    pub hours: DailySpan,
    pub days: Days,
}

/// A time zone known to the bundled tz database, with its IANA name.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// An IANA name such as `America/New_York` (or `UTC`).
    pub fn parse(name: &str) -> Result<Self, ScheduleError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(ScheduleError::Zone(name.to_owned()));
        }
        let tz = TimeZone::get(name).map_err(|_| ScheduleError::Zone(name.to_owned()))?;
        Ok(Self {
            name: tz.iana_name().unwrap_or(name).to_owned(),
            tz,
        })
    }

    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Why a window, quiet hours or time zone could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(
        "'{0}' is not a time of day: write it as HH:MM on a 24-hour clock, e.g. 09:00 or 17:30"
    )]
    Time(String),
    #[error("a span from {0} to {0} is empty: give an end different from its start")]
    Empty(String),
    #[error("'{0}' is not a day: use mon ... sun (or monday ... sunday), weekdays or weekends")]
    Day(String),
    #[error("no day is given: list at least one day, or leave days out for every day")]
    NoDays,
    #[error(
        "'{0}' is not a time zone: give an IANA name such as Europe/Paris, America/New_York or UTC"
    )]
    Zone(String),
}

fn at(date: Date, t: LocalTime, zone: &Zone) -> Option<Timestamp> {
    // A wall time that does not exist (the hour skipped when clocks go
    // forward) is read as the first moment after it.
    let dt = date.at(t.hour(), t.minute(), 0, 0);
    let z = dt.to_zoned(zone.tz.clone()).ok()?;
    Some(Timestamp::from_millis(z.timestamp().as_millisecond()))
}

fn is_open(
    when: Timestamp,
    zone: &Zone,
    window: Option<&DeliveryWindow>,
    quiet: Option<&DailySpan>,
) -> bool {
    let Ok(instant) = jiff::Timestamp::from_millisecond(when.millis()) else {
        return false;
    };
    let local = instant.to_zoned(zone.tz.clone()).datetime();
    let t = LocalTime::of(local);
    let in_window =
        window.is_none_or(|w| w.days.contains(local.date().weekday()) && w.hours.contains(t));
    in_window && !quiet.is_some_and(|q| q.contains(t))
}

/// The first moment at or after `now` when a mail may reach a person in
/// `zone`, or `None` when the window and the quiet hours never allow it
/// (a window that lies wholly inside the quiet hours).
///
/// The open moments form spans that begin at `now`, at a window's start,
/// at the end of quiet hours or at a local midnight (a new day), so the
/// answer is the earliest of those, over the next eight local days, that
/// is open.
pub fn first_open(
    now: Timestamp,
    zone: &Zone,
    window: Option<&DeliveryWindow>,
    quiet: Option<&DailySpan>,
) -> Option<Timestamp> {
    if is_open(now, zone, window, quiet) {
        return Some(now);
    }
    let instant = jiff::Timestamp::from_millisecond(now.millis()).ok()?;
    let today = instant.to_zoned(zone.tz.clone()).date();
    let midnight = LocalTime { minute_of_day: 0 };
    let mut candidates: Vec<Timestamp> = Vec::new();
    let mut date = today;
    for _ in 0..9 {
        candidates.extend(at(date, midnight, zone));
        if let Some(w) = window {
            candidates.extend(at(date, w.hours.start, zone));
        }
        if let Some(q) = quiet {
            candidates.extend(at(date, q.end, zone));
        }
        date = date.tomorrow().ok()?;
    }
    candidates.sort_unstable();
    candidates
        .into_iter()
        .filter(|c| *c > now)
        .find(|c| is_open(*c, zone, window, quiet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        let t: jiff::Timestamp = text.parse().expect("instant");
        Timestamp::from_millis(t.as_millisecond())
    }

    fn window(start: &str, end: &str, days: &[&str]) -> DeliveryWindow {
        DeliveryWindow {
            hours: DailySpan::new(
                LocalTime::parse(start).expect("start"),
                LocalTime::parse(end).expect("end"),
            )
            .expect("span"),
            days: Days::parse(days.iter().copied()).expect("days"),
        }
    }

    fn quiet(start: &str, end: &str) -> DailySpan {
        DailySpan::new(
            LocalTime::parse(start).expect("start"),
            LocalTime::parse(end).expect("end"),
        )
        .expect("span")
    }

    #[test]
    fn times_days_and_zones_are_read_or_refused_with_the_reason() {
        assert_eq!(LocalTime::parse("9:05").expect("time").to_string(), "09:05");
        for bad in ["24:00", "12:60", "noon", "12", "12:5", "-1:00", "12:00:00"] {
            assert!(LocalTime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Days::parse(["weekdays"]).expect("days").names(),
            ["mon", "tue", "wed", "thu", "fri"]
        );
        assert_eq!(
            Days::parse(["Saturday", "sun"]).expect("days").names(),
            ["sat", "sun"]
        );
        assert!(Days::parse(["someday"]).is_err());
        assert!(Days::parse(["monkey"]).is_err());
        assert!(Days::parse(["saturn"]).is_err());
        assert_eq!(Days::parse([]), Err(ScheduleError::NoDays));
        assert_eq!(
            Zone::parse("Europe/Paris").expect("zone").name(),
            "Europe/Paris"
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("").is_err());
        assert!(DailySpan::new(
            LocalTime::parse("09:00").expect("t"),
            LocalTime::parse("09:00").expect("t")
        )
        .is_err());
    }

    #[test]
    fn an_open_moment_is_now() {
        let now = ts("2026-12-07T10:00:00Z"); // a Monday
        let w = window("09:00", "17:00", &["weekdays"]);
        assert_eq!(first_open(now, &Zone::utc(), Some(&w), None), Some(now));
        assert_eq!(first_open(now, &Zone::utc(), None, None), Some(now));
    }

    #[test]
    fn a_window_waits_for_its_start_in_the_recipients_zone() {
        // 10:00 UTC is 05:00 in New York (EST, UTC-5): wait for 09:00 there.
        let now = ts("2026-12-07T10:00:00Z");
        let ny = Zone::parse("America/New_York").expect("zone");
        let w = window("09:00", "17:00", &["weekdays"]);
        assert_eq!(
            first_open(now, &ny, Some(&w), None),
            Some(ts("2026-12-07T14:00:00Z"))
        );
        // In Tokyo (UTC+9) it is 19:00: the next day's 09:00.
        let tokyo = Zone::parse("Asia/Tokyo").expect("zone");
        assert_eq!(
            first_open(now, &tokyo, Some(&w), None),
            Some(ts("2026-12-08T00:00:00Z"))
        );
    }

    #[test]
    fn weekdays_skip_the_weekend() {
        let friday_evening = ts("2026-12-11T18:00:00Z");
        let w = window("09:00", "17:00", &["weekdays"]);
        assert_eq!(
            first_open(friday_evening, &Zone::utc(), Some(&w), None),
            Some(ts("2026-12-14T09:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_over_midnight_hold_until_they_end() {
        let late = ts("2026-12-07T22:30:00Z");
        let q = quiet("21:00", "08:00");
        assert_eq!(
            first_open(late, &Zone::utc(), None, Some(&q)),
            Some(ts("2026-12-08T08:00:00Z"))
        );
        let morning = ts("2026-12-08T07:59:00Z");
        assert_eq!(
            first_open(morning, &Zone::utc(), None, Some(&q)),
            Some(ts("2026-12-08T08:00:00Z"))
        );
        let day = ts("2026-12-08T12:00:00Z");
        assert_eq!(first_open(day, &Zone::utc(), None, Some(&q)), Some(day));
    }

    #[test]
    fn a_window_partly_quiet_opens_when_both_allow() {
        // Window 07:00-12:00, quiet until 08:00: 08:00.
        let early = ts("2026-12-07T06:00:00Z");
        let w = window("07:00", "12:00", &["mon"]);
        let q = quiet("22:00", "08:00");
        assert_eq!(
            first_open(early, &Zone::utc(), Some(&w), Some(&q)),
            Some(ts("2026-12-07T08:00:00Z"))
        );
    }

    #[test]
    fn a_window_inside_quiet_hours_never_opens() {
        let now = ts("2026-12-07T06:00:00Z");
        let w = window("22:00", "23:00", &["weekdays"]);
        let q = quiet("21:00", "08:00");
        assert_eq!(first_open(now, &Zone::utc(), Some(&w), Some(&q)), None);
    }

    #[test]
    fn a_start_skipped_by_daylight_saving_opens_just_after() {
        // Europe/Paris moves from 02:00 to 03:00 on 2027-03-28.
        let now = ts("2027-03-27T23:00:00Z"); // 00:00 local
        let paris = Zone::parse("Europe/Paris").expect("zone");
        let w = window("02:30", "04:00", &["sun"]);
        let open = first_open(now, &paris, Some(&w), None).expect("opens");
        assert_eq!(open, ts("2027-03-28T01:30:00Z")); // 03:30 CEST
    }
}
