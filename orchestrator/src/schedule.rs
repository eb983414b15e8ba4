//! When a schedule runs: the `every` of a schedule (the forms of the orchestration
//! contract: an interval `"30m"`, days and a time `"daily 06:00"`, `"weekday 09:00"`,
//! `"monday 09:00"`, or five-field cron) and its next time after a moment. Times of day
//! are the workspace's (`[workspace] time_zone`, UTC unless set), and Nova names the zone
//! when it confirms a schedule.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

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

    /// The first time strictly after `after` (for an interval: `after` plus the interval),
    /// times of day read on `zone`'s clock.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        match self {
            Self::Interval { minutes } => after + Duration::minutes(*minutes),
            Self::Days { days, at } => {
                let mut day = after.with_timezone(&zone).date_naive();
                loop {
                    if days[day.weekday().num_days_from_monday() as usize] {
                        let candidate = in_zone(zone, day.and_time(*at));
                        if candidate > after {
                            return candidate;
                        }
                    }
                    day = day.succ_opt().expect("dates this side of year 262143");
                }
            }
            Self::Cron(cron) => cron.next_after(after, zone),
        }
    }

    /// In words, for the confirmation and the list: "every 30 minutes", "weekdays at
    /// 09:00 UTC", "Mondays at 09:00 Europe/Paris".
    pub fn describe(&self, zone: Tz) -> String {
        let zone = zone.name();
        match self {
            Self::Interval { minutes } if minutes % (24 * 60) == 0 => plural(minutes / (24 * 60), "day"),
            Self::Interval { minutes } if minutes % 60 == 0 => plural(minutes / 60, "hour"),
            Self::Interval { minutes } => plural(*minutes, "minute"),
            Self::Days { days, at } => {
                let at = at.format("%H:%M");
                match days {
                    [true, true, true, true, true, true, true] => format!("every day at {at} {zone}"),
                    [true, true, true, true, true, false, false] => format!("weekdays at {at} {zone}"),
                    _ => {
                        const NAMES: [&str; 7] =
                            ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"];
                        let names: Vec<&str> = (0..7).filter(|&i| days[i]).map(|i| NAMES[i]).collect();
                        format!("{} at {at} {zone}", names.join(", "))
                    }
                }
            }
            Self::Cron(cron) => format!("on cron `{}` ({zone})", cron.text),
        }
    }
}

/// The moment a time on `zone`'s clock names: when clocks go back and it comes twice,
/// the first; when clocks go forward over it, the moment they go forward to (a 02:30
/// schedule runs at 03:00 that night, not a day late; a day whose midnight is skipped
/// starts when the clock first shows it).
pub(crate) fn in_zone(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        // Skipped: the first quarter hour after it that the clock shows (no zone skips
        // more than a few hours).
        LocalResult::None => (1..=4 * 24)
            .find_map(|quarter| zone.from_local_datetime(&(local + Duration::minutes(15 * quarter))).earliest())
            .map_or(DateTime::<Utc>::MAX_UTC, |at| at.with_timezone(&Utc)),
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

    fn day_matches(&self, day: NaiveDate) -> bool {
        let month_day = self.month_days[day.day() as usize];
        let week_day = self.week_days[day.weekday().num_days_from_sunday() as usize];
        match (self.month_days_restricted, self.week_days_restricted) {
            (true, true) => month_day || week_day,
            _ => month_day && week_day,
        }
    }

    /// Walks `zone`'s clock forward: whole days that cannot match are skipped, then
    /// hours, then minutes.
    fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let start = after.with_timezone(&zone).naive_local() + Duration::minutes(1);
        let mut at = start.with_second(0).and_then(|t| t.with_nanosecond(0)).expect("whole minutes");
        // Five years cover every valid combination (29 February on a given weekday included).
        let give_up = start + Duration::days(5 * 366);
        while at < give_up {
            if !self.months[at.month() as usize] || !self.day_matches(at.date()) {
                at = at.date().succ_opt().expect("dates this side of year 262143").and_time(NaiveTime::MIN);
            } else if !self.hours[at.hour() as usize] {
                at = (at + Duration::hours(1)).with_minute(0).expect("minute 0 exists");
            } else if !self.minutes[at.minute() as usize] {
                at += Duration::minutes(1);
            } else {
                // The clock shows an hour twice when it goes back: its second time is
                // before `after` here, and the walk goes on.
                let moment = in_zone(zone, at);
                if moment > after {
                    return moment;
                }
                at += Duration::minutes(1);
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
        Cadence::parse(every).unwrap().next_after(at(after), Tz::UTC).to_rfc3339()
    }

    /// The next run on `zone`'s clock, as that clock shows it.
    fn next_in(zone: Tz, every: &str, after: &str) -> String {
        Cadence::parse(every).unwrap().next_after(at(after), zone).with_timezone(&zone).to_rfc3339()
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
        let describe = |every: &str| Cadence::parse(every).unwrap().describe(Tz::UTC);
        assert_eq!(describe("30m"), "every 30 minutes");
        assert_eq!(describe("1h"), "every hour");
        assert_eq!(describe("2d"), "every 2 days");
        assert_eq!(describe("daily 06:00"), "every day at 06:00 UTC");
        assert_eq!(describe("weekday 09:00"), "weekdays at 09:00 UTC");
        assert_eq!(describe("monday 09:00"), "Mondays at 09:00 UTC");
        assert_eq!(describe("0 9 * * 1-5"), "on cron `0 9 * * 1-5` (UTC)");
        let in_paris = |every: &str| Cadence::parse(every).unwrap().describe(Tz::Europe__Paris);
        assert_eq!(in_paris("weekday 09:00"), "weekdays at 09:00 Europe/Paris");
        assert_eq!(in_paris("0 9 * * 1-5"), "on cron `0 9 * * 1-5` (Europe/Paris)");
        assert_eq!(in_paris("30m"), "every 30 minutes");
    }

    #[test]
    fn times_of_day_are_on_the_workspace_s_clock() {
        let new_york = Tz::America__New_York;
        // 2026-12-04 is a Friday; New York is 5 hours behind UTC in December.
        assert_eq!(next_in(new_york, "weekday 09:00", "2026-12-04T15:00:00Z"), "2026-12-07T09:00:00-05:00");
        assert_eq!(next_in(new_york, "weekday 09:00", "2026-12-04T13:59:00Z"), "2026-12-04T09:00:00-05:00");
        assert_eq!(next_in(new_york, "0 9 * * 1-5", "2026-12-04T15:00:00Z"), "2026-12-07T09:00:00-05:00");
        // 22:00 on Friday in New York is already Saturday in UTC: the days are New York's.
        assert_eq!(next_in(new_york, "daily 23:30", "2026-12-05T03:00:00Z"), "2026-12-04T23:30:00-05:00");
        assert_eq!(next_in(new_york, "0 23 * * 5", "2026-12-05T03:00:00Z"), "2026-12-04T23:00:00-05:00");
        assert_eq!(next_in(new_york, "friday 21:00", "2026-12-05T03:00:00Z"), "2026-12-11T21:00:00-05:00");
        // An interval is a length of time, whatever the clock says.
        assert_eq!(next_in(new_york, "2h", "2026-12-04T15:00:00Z"), "2026-12-04T12:00:00-05:00");
        // Across the change to summer time (8 March 2026) 09:00 stays 09:00 on the clock.
        assert_eq!(next_in(new_york, "daily 09:00", "2026-03-07T15:00:00Z"), "2026-03-08T09:00:00-04:00");
        assert_eq!(next_in(Tz::Asia__Kolkata, "daily 09:00", "2026-12-04T04:00:00Z"), "2026-12-05T09:00:00+05:30");
    }

    #[test]
    fn a_time_the_clock_skips_or_shows_twice_runs_once() {
        let new_york = Tz::America__New_York;
        // 8 March 2026: 02:00 becomes 03:00; a 02:30 schedule runs as the clock jumps.
        assert_eq!(next_in(new_york, "daily 02:30", "2026-03-08T06:00:00Z"), "2026-03-08T03:00:00-04:00");
        assert_eq!(next_in(new_york, "30 2 * * *", "2026-03-08T06:00:00Z"), "2026-03-08T03:00:00-04:00");
        // And the next night at 02:30 again.
        assert_eq!(next_in(new_york, "daily 02:30", "2026-03-08T07:00:00Z"), "2026-03-09T02:30:00-04:00");
        // 1 November 2026: 02:00 goes back to 01:00; 01:30 comes twice and runs the first time only.
        let first = next_in(new_york, "daily 01:30", "2026-11-01T04:00:00Z");
        assert_eq!(first, "2026-11-01T01:30:00-04:00");
        let after_first = at(&first).with_timezone(&Utc).to_rfc3339();
        assert_eq!(next_in(new_york, "daily 01:30", &after_first), "2026-11-02T01:30:00-05:00");
        assert_eq!(next_in(new_york, "30 1 * * *", &after_first), "2026-11-02T01:30:00-05:00");
    }
}
