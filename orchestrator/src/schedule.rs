//! When a schedule runs: the `every` of a schedule (the forms of the orchestration
//! contract: an interval `"30m"`, days and a time `"daily 06:00"`, `"weekday 09:00"`,
//! `"monday 09:00"`, or five-field cron) and its next time after a moment. Times of day
//! are UTC, and Nova says so when it confirms a schedule.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};

/// The shortest interval a schedule may have: a tighter loop is a runaway, not a plan.
pub const SHORTEST_INTERVAL_MINUTES: i64 = 5;

/// A parsed `every`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cadence {
    /// Every so many minutes, counted from the previous run.
    Interval { minutes: i64 },
    /// At a time of day on the days listed (Monday is 0).
    Days { days: [bool; 7], at: NaiveTime },
    /// Five-field cron: minute, hour, day of month, month, day of week.
    Cron(Cron),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CadenceError {
    #[error(
        "`{0}` is not a schedule: say an interval (30m, 2h, 1d), `daily 06:00`, `weekday 09:00`, `monday 09:00`, or cron"
    )]
    Unreadable(String),
    #[error("every {0} minutes is too often: the shortest schedule is every {SHORTEST_INTERVAL_MINUTES} minutes")]
    TooOften(i64),
    #[error("cron field {field} (`{text}`) is not valid: {why}")]
    BadCron { field: &'static str, text: String, why: &'static str },
}

impl Cadence {
    pub fn parse(every: &str) -> Result<Self, CadenceError> {
        let every = every.trim().to_lowercase();
        let unreadable = || CadenceError::Unreadable(every.clone());
        let fields: Vec<&str> = every.split_whitespace().collect();
        match fields.as_slice() {
            [interval] => {
                let (digits, unit) =
                    interval.split_at(interval.find(|c: char| !c.is_ascii_digit()).ok_or_else(unreadable)?);
                let count: i64 = digits.parse().map_err(|_| unreadable())?;
                let minutes = match unit {
                    "m" => count,
                    "h" => count * 60,
                    "d" => count * 24 * 60,
                    _ => return Err(unreadable()),
                };
                if minutes < SHORTEST_INTERVAL_MINUTES {
                    return Err(CadenceError::TooOften(minutes));
                }
                Ok(Self::Interval { minutes })
            }
            [days, at] => {
                let at = NaiveTime::parse_from_str(at, "%H:%M").map_err(|_| unreadable())?;
                let days = match *days {
                    "daily" => [true; 7],
                    "weekday" => [true, true, true, true, true, false, false],
                    name => {
                        let day: Weekday = name.parse().map_err(|_| unreadable())?;
                        let mut days = [false; 7];
                        days[day.num_days_from_monday() as usize] = true;
                        days
                    }
                };
                Ok(Self::Days { days, at })
            }
            [_, _, _, _, _] => Ok(Self::Cron(Cron::parse(&fields)?)),
            _ => Err(unreadable()),
        }
    }

    /// The first time strictly after `after` (for an interval: `after` plus the interval).
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Interval { minutes } => after + Duration::minutes(*minutes),
            Self::Days { days, at } => {
                let mut day = after.date_naive();
                loop {
                    let candidate = Utc.from_utc_datetime(&day.and_time(*at));
                    if candidate > after && days[day.weekday().num_days_from_monday() as usize] {
                        return candidate;
                    }
                    day = day.succ_opt().expect("dates this side of year 262143");
                }
            }
            Self::Cron(cron) => cron.next_after(after),
        }
    }

    /// In words, for the confirmation and the list: "every 30 minutes", "weekdays at 09:00 UTC".
    pub fn describe(&self) -> String {
        match self {
            Self::Interval { minutes } if minutes % (24 * 60) == 0 => plural(minutes / (24 * 60), "day"),
            Self::Interval { minutes } if minutes % 60 == 0 => plural(minutes / 60, "hour"),
            Self::Interval { minutes } => plural(*minutes, "minute"),
            Self::Days { days, at } => {
                let at = at.format("%H:%M");
                match days {
                    [true, true, true, true, true, true, true] => format!("every day at {at} UTC"),
                    [true, true, true, true, true, false, false] => format!("weekdays at {at} UTC"),
                    _ => {
                        const NAMES: [&str; 7] =
                            ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"];
                        let names: Vec<&str> = (0..7).filter(|&i| days[i]).map(|i| NAMES[i]).collect();
                        format!("{} at {at} UTC", names.join(", "))
                    }
                }
            }
            Self::Cron(cron) => format!("on cron `{}` (UTC)", cron.text),
        }
    }
}

fn plural(count: i64, unit: &str) -> String {
    if count == 1 { format!("every {unit}") } else { format!("every {count} {unit}s") }
}

/// Five-field cron, with the usual `*`, lists, ranges and steps; day of week 0 or 7 is
/// Sunday; when both day of month and day of week are restricted, either matching will
/// do (as in Vixie cron).
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    text: String,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    month_days: Vec<bool>,
    months: Vec<bool>,
    /// Sunday is 0.
    week_days: Vec<bool>,
    month_days_restricted: bool,
    week_days_restricted: bool,
}

impl Cron {
    fn parse(fields: &[&str]) -> Result<Self, CadenceError> {
        let mut week_days = field("day of week", fields[4], 0, 7)?;
        if week_days[7] {
            week_days[0] = true;
        }
        week_days.truncate(7);
        Ok(Self {
            text: fields.join(" "),
            minutes: field("minute", fields[0], 0, 59)?,
            hours: field("hour", fields[1], 0, 23)?,
            month_days: field("day of month", fields[2], 1, 31)?,
            months: field("month", fields[3], 1, 12)?,
            week_days,
            month_days_restricted: fields[2] != "*",
            week_days_restricted: fields[4] != "*",
        })
    }

    fn day_matches(&self, at: DateTime<Utc>) -> bool {
        let month_day = self.month_days[at.day() as usize];
        let week_day = self.week_days[at.weekday().num_days_from_sunday() as usize];
        match (self.month_days_restricted, self.week_days_restricted) {
            (true, true) => month_day || week_day,
            _ => month_day && week_day,
        }
    }

    /// Walks forward: whole days that cannot match are skipped, then hours, then minutes.
    fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let mut at =
            (after + Duration::minutes(1)).with_second(0).and_then(|t| t.with_nanosecond(0)).expect("whole minutes");
        // Five years cover every valid combination (29 February on a given weekday included).
        let give_up = after + Duration::days(5 * 366);
        while at < give_up {
            if !self.months[at.month() as usize] || !self.day_matches(at) {
                let next_day = at.date_naive().succ_opt().expect("dates this side of year 262143");
                at = Utc.from_utc_datetime(&next_day.and_time(NaiveTime::MIN));
            } else if !self.hours[at.hour() as usize] {
                at = (at + Duration::hours(1)).with_minute(0).expect("minute 0 exists");
            } else if !self.minutes[at.minute() as usize] {
                at += Duration::minutes(1);
            } else {
                return at;
            }
        }
        // A field set that never matches (31 February): never, in practice.
        DateTime::<Utc>::MAX_UTC
    }
}

/// One cron field as a table of the values it allows, indexed by value.
fn field(name: &'static str, text: &str, low: u32, high: u32) -> Result<Vec<bool>, CadenceError> {
    let bad = |why| CadenceError::BadCron { field: name, text: text.to_owned(), why };
    let mut allowed = vec![false; high as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().map_err(|_| bad("the step is not a number"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(bad("a step of 0"));
        }
        let (from, to) = match range {
            "*" => (low, high),
            range => match range.split_once('-') {
                Some((from, to)) => (number(from).ok_or(bad("not a number"))?, number(to).ok_or(bad("not a number"))?),
                None => {
                    let value = number(range).ok_or(bad("not a number"))?;
                    // `5/15` means from 5 to the end, every 15.
                    (value, if part.contains('/') { high } else { value })
                }
            },
        };
        if from < low || to > high || from > to {
            return Err(bad("out of range"));
        }
        for value in (from..=to).step_by(step as usize) {
            allowed[value as usize] = true;
        }
    }
    Ok(allowed)
}

fn number(text: &str) -> Option<u32> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn next(every: &str, after: &str) -> String {
        Cadence::parse(every).unwrap().next_after(at(after)).to_rfc3339()
    }

    #[test]
    fn intervals_count_from_the_previous_run() {
        assert_eq!(next("30m", "2026-12-01T10:07:00Z"), "2026-12-01T10:37:00+00:00");
        assert_eq!(next("2h", "2026-12-01T10:07:00Z"), "2026-12-01T12:07:00+00:00");
        assert_eq!(next("1d", "2026-12-01T10:07:00Z"), "2026-12-02T10:07:00+00:00");
    }

    #[test]
    fn days_and_a_time() {
        // 2026-12-04 is a Friday.
        assert_eq!(next("daily 06:00", "2026-12-04T05:59:00Z"), "2026-12-04T06:00:00+00:00");
        assert_eq!(next("daily 06:00", "2026-12-04T06:00:00Z"), "2026-12-05T06:00:00+00:00");
        assert_eq!(next("weekday 09:00", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00+00:00");
        assert_eq!(next("monday 09:00", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00+00:00");
        assert_eq!(next("sunday 23:30", "2026-12-04T10:00:00Z"), "2026-12-06T23:30:00+00:00");
    }

    #[test]
    fn cron_as_written() {
        assert_eq!(next("0 9 * * 1-5", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00+00:00");
        assert_eq!(next("*/15 * * * *", "2026-12-04T10:07:30Z"), "2026-12-04T10:15:00+00:00");
        assert_eq!(next("0 0 1 * *", "2026-12-04T10:00:00Z"), "2027-01-01T00:00:00+00:00");
        assert_eq!(next("30 6 * * 0", "2026-12-04T10:00:00Z"), "2026-12-06T06:30:00+00:00");
        assert_eq!(next("30 6 * * 7", "2026-12-04T10:00:00Z"), "2026-12-06T06:30:00+00:00");
        assert_eq!(next("0 12 29 2 *", "2026-12-04T10:00:00Z"), "2028-02-29T12:00:00+00:00");
        // Day of month or day of week, when both are given.
        assert_eq!(next("0 8 15 * 1", "2026-12-04T10:00:00Z"), "2026-12-07T08:00:00+00:00");
        assert_eq!(next("5,35 8-9 * * *", "2026-12-04T08:36:00Z"), "2026-12-04T09:05:00+00:00");
    }

    #[test]
    fn what_is_refused_says_why() {
        assert_eq!(Cadence::parse("1m"), Err(CadenceError::TooOften(1)));
        assert!(matches!(Cadence::parse("fortnightly"), Err(CadenceError::Unreadable(_))));
        assert!(matches!(Cadence::parse("daily 25:00"), Err(CadenceError::Unreadable(_))));
        assert!(matches!(Cadence::parse("someday 09:00"), Err(CadenceError::Unreadable(_))));
        assert_eq!(
            Cadence::parse("61 * * * *").unwrap_err().to_string(),
            "cron field minute (`61`) is not valid: out of range"
        );
        assert!(matches!(Cadence::parse("*/0 * * * *"), Err(CadenceError::BadCron { why: "a step of 0", .. })));
    }

    #[test]
    fn in_words() {
        let describe = |every: &str| Cadence::parse(every).unwrap().describe();
        assert_eq!(describe("30m"), "every 30 minutes");
        assert_eq!(describe("1h"), "every hour");
        assert_eq!(describe("2d"), "every 2 days");
        assert_eq!(describe("daily 06:00"), "every day at 06:00 UTC");
        assert_eq!(describe("weekday 09:00"), "weekdays at 09:00 UTC");
        assert_eq!(describe("monday 09:00"), "Mondays at 09:00 UTC");
        assert_eq!(describe("0 9 * * 1-5"), "on cron `0 9 * * 1-5` (UTC)");
    }
}
