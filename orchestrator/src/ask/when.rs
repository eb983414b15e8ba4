//! Times in plain language: how often a schedule runs (`every`), how far back a history
//! goes (`since`), and which accounting period a cost question means (`period`). Each
//! reader takes the message's words and returns the value in the contract's spelling
//! with the positions of the words it consumed, so the rest of the message can become
//! the schedule's prompt.

use std::ops::Range;

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// `monday`, `mondays`, `mon` → `monday`.
fn day_name(word: &str) -> Option<&'static str> {
    let word = word.trim_end_matches('s');
    DAYS.iter().copied().find(|day| *day == word || (word.len() >= 3 && day.starts_with(word) && word.len() <= 4))
}

/// A clock time at `words[at..]`: `9`, `9am`, `9 am`, `9:30`, `16:00`, `4pm`, `noon`,
/// `midnight`. Returns `HH:MM` and how many words it took.
pub fn clock(words: &[String], at: usize) -> Option<(String, usize)> {
    let word = words.get(at)?.as_str();
    match word {
        "noon" | "midday" => return Some(("12:00".into(), 1)),
        "midnight" => return Some(("00:00".into(), 1)),
        _ => {}
    }
    // "half four", "half past seven", "quarter past 9", "quarter to 8": in the afternoon
    // when the hour is one a working day has only then (1 to 6).
    let past_or_to = words.get(at + 1).map(String::as_str).filter(|w| matches!(*w, "past" | "to"));
    let hour_at = at + 1 + usize::from(past_or_to.is_some());
    let hour = words.get(hour_at).and_then(|h| h.parse::<u32>().ok()).filter(|h| (1..=12).contains(h));
    let minutes = match (word, past_or_to) {
        ("half", None | Some("past")) => Some(30),
        ("quarter", Some("past")) => Some(15),
        ("quarter", Some("to")) => Some(45),
        _ => None,
    };
    if let (Some(hour), Some(minute)) = (hour, minutes) {
        let hour = if minute == 45 { hour - 1 } else { hour };
        let hour = if (1..=6).contains(&hour) || (hour == 0 && minute == 45) { hour + 12 } else { hour };
        return Some((format!("{hour:02}:{minute:02}"), hour_at + 1 - at));
    }
    let (digits, suffix) = match word.find(|c: char| !(c.is_ascii_digit() || c == ':')) {
        Some(split) => word.split_at(split),
        None => (word, ""),
    };
    let (suffix, taken) = match (suffix, words.get(at + 1).map(String::as_str)) {
        ("", Some(next @ ("am" | "pm" | "a.m" | "p.m" | "a.m." | "p.m."))) => (next, 2),
        (suffix, _) => (suffix, 1),
    };
    let meridiem = match suffix.trim_end_matches('.') {
        "" | "h" => None,
        "am" | "a.m" => Some(false),
        "pm" | "p.m" => Some(true),
        _ => return None,
    };
    let (hour, minute) = match digits.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        Some(_) => return None,
        None if !digits.is_empty() && digits.len() <= 2 => (digits.parse::<u32>().ok()?, 0),
        // "0600", "1730": a 24-hour time without its colon.
        None if digits.len() == 4 && meridiem.is_none() => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        None => return None,
    };
    // A bare number is a time only when it reads as one ("at 9"), which the caller
    // checks; "9" alone is also a tier or a count.
    let hour = match meridiem {
        Some(pm) if (1..=12).contains(&hour) => hour % 12 + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => hour,
    };
    (hour < 24 && minute < 60).then(|| (format!("{hour:02}:{minute:02}"), taken))
}

/// A number word or digits: `2`, `two`, `a`, `an`.
pub fn number(word: &str) -> Option<u32> {
    const WORDS: [&str; 13] =
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
    match word {
        "a" | "an" => Some(1),
        "half" => None,
        _ => word.parse().ok().or_else(|| WORDS.iter().position(|w| *w == word).map(|n| n as u32)),
    }
}

/// A unit word as `m`, `h` or `d`, with how many of it a week is worth for `week`.
fn unit(word: &str) -> Option<(&'static str, u32)> {
    match word.trim_end_matches('s') {
        "minute" | "min" | "m" => Some(("m", 1)),
        "hour" | "hr" | "h" => Some(("h", 1)),
        "day" | "d" => Some(("d", 1)),
        "week" | "wk" => Some(("d", 7)),
        _ => None,
    }
}

/// `2h`, `30m`, `3d` written as one word.
fn compact_duration(word: &str) -> Option<String> {
    let split = word.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = word.split_at(split);
    let n: u32 = digits.parse().ok()?;
    let (unit, times) = unit(suffix)?;
    Some(format!("{}{unit}", n * times))
}

/// A duration at `words[at..]`: `2 hours`, `an hour`, `30 minutes`, `half an hour`, `2h`.
pub fn duration(words: &[String], at: usize) -> Option<(String, usize)> {
    let word = words.get(at)?;
    if let Some(compact) = compact_duration(word) {
        return Some((compact, 1));
    }
    if word == "half" && words.get(at + 1).is_some_and(|w| w == "an" || w == "a") {
        return words.get(at + 2).filter(|w| unit(w).is_some_and(|(u, _)| u == "h")).map(|_| ("30m".into(), 3));
    }
    let n = number(word)?;
    // "an extra hour", "two more hours".
    let more = usize::from(
        words.get(at + 1).is_some_and(|w| matches!(w.as_str(), "extra" | "more" | "additional" | "further")),
    );
    let (unit, times) = unit(words.get(at + 1 + more)?)?;
    Some((format!("{}{unit}", n * times), 2 + more))
}

/// How often: the contract's `every` value and the words it spans.
pub fn every(words: &[String]) -> Option<(String, Range<usize>)> {
    if let Some(cron) = cron(words) {
        return Some(cron);
    }
    // Both said: the later one is a correction ("on the 1st of every month… no wait,
    // every monday").
    match (monthly(words), days_or_at_a_time(words)) {
        (Some(month), Some(other)) => Some(if month.1.start > other.1.start { month } else { other }),
        (month, other) => month.or(other),
    }
}

/// The first recurrence that names days or a time, else the first interval: in "they
/// want to see bookings every week, so every friday at 4pm post the tee sheet", the
/// background's "every week" says why, the request's "every friday at 4pm" says when.
fn days_or_at_a_time(words: &[String]) -> Option<(String, Range<usize>)> {
    let first = days_or_interval(words)?;
    let is_interval = |every: &str| every.starts_with(|c: char| c.is_ascii_digit()) && !every.contains(' ');
    if !is_interval(&first.0) {
        return Some(first);
    }
    let mut from = first.1.end;
    while from < words.len() {
        let Some((every, span)) = days_or_interval(&words[from..]) else { break };
        let span = span.start + from..span.end + from;
        if !is_interval(&every) {
            return Some((every, span));
        }
        from = span.end;
    }
    Some(first)
}

/// Days and a time ("weekday 09:00", "monday 09:00", "daily 06:00") or an interval.
fn days_or_interval(words: &[String]) -> Option<(String, Range<usize>)> {
    for start in 0..words.len() {
        let word = words[start].as_str();
        let next = words.get(start + 1).map(String::as_str);
        // What the words at `start` say about days, and where they end.
        let (days, mut end): (Option<String>, usize) = match (word, next) {
            ("every" | "each", Some("weekday" | "weekdays" | "workday" | "workdays")) => {
                (Some("weekday".into()), start + 2)
            }
            ("every" | "each", Some("business")) if words.get(start + 2).is_some_and(|w| w.starts_with("day")) => {
                (Some("weekday".into()), start + 3)
            }
            ("on", Some("weekdays" | "workdays")) | ("weekdays", _) => {
                (Some("weekday".into()), start + if word == "on" { 2 } else { 1 })
            }
            ("monday", Some("to" | "through" | "thru" | "-"))
                if words.get(start + 2).is_some_and(|w| w == "friday") =>
            {
                (Some("weekday".into()), start + 3)
            }
            ("mon-fri", _) => (Some("weekday".into()), start + 1),
            ("every" | "each", Some("day" | "morning" | "night" | "evening")) | ("daily" | "nightly", _) => {
                let end = if word == "daily" || word == "nightly" { start + 1 } else { start + 2 };
                (Some("daily".into()), end)
            }
            ("every" | "each" | "on", Some(day)) if day_name(day).is_some() && (word != "on" || day.ends_with('s')) => {
                (day_name(day).map(str::to_owned), start + 2)
            }
            (day, _) if day.ends_with("days") && day_name(day).is_some() => {
                (day_name(day).map(str::to_owned), start + 1)
            }
            ("every" | "each", _) => {
                // An interval: "every 30 minutes", "every hour", "every half hour".
                let interval = match next {
                    Some("half") if words.get(start + 2).is_some_and(|w| w.starts_with("hour")) => {
                        Some(("30m".to_owned(), 3))
                    }
                    Some(unit_word) if unit(unit_word).is_some() && !unit_word.ends_with('s') => {
                        let (unit, times) = unit(unit_word).unwrap();
                        Some((format!("{times}{unit}"), 2))
                    }
                    Some(_) => duration(words, start + 1).map(|(d, n)| (d, n + 1)),
                    None => None,
                };
                match interval {
                    Some((interval, taken)) => return Some((interval, start..start + taken)),
                    None => continue,
                }
            }
            ("hourly", _) => return Some(("1h".into(), start..start + 1)),
            _ => continue,
        };
        let Some(days) = days else { continue };
        // "every monday morning at 10", "every monday in the morning at 8": the part of
        // the day, then the time.
        let mut part = words.get(end).map(String::as_str).filter(|w| listed_part(w));
        if part.is_some() {
            end += 1;
        } else if let Some(said) = part_said_with_in(words, end) {
            part = Some(said);
            end += 3;
        }
        // A time of day, after or before: "at 9", "9am every monday", "in the morning".
        let mut time = None;
        if words.get(end).is_some_and(|w| w == "at") {
            if let Some((t, n)) = clock(words, end + 1) {
                time = Some(t);
                end += 1 + n;
            }
        } else if let Some((t, n)) = clock(words, end).filter(|_| is_clockish(words.get(end))) {
            time = Some(t);
            end += n;
        } else if part.is_none() {
            // "each monday in 8 morning", "every day 6 evening": a bare hour said with
            // the part of the day it is in.
            let skip = usize::from(words.get(end).is_some_and(|w| w == "in"));
            if let Some((t, 1)) = clock(words, end + skip)
                && let Some(said) = words.get(end + skip + 1).map(String::as_str).filter(|w| listed_part(w))
            {
                time = Some(t);
                part = Some(said);
                end += skip + 2;
            }
        }
        // "at 8 in the morning", "at 6 evening": the part of the day after the time.
        if time.is_some() && part.is_none() {
            if let Some(said) = part_said_with_in(words, end) {
                part = Some(said);
                end += 3;
            } else if let Some(said) = words.get(end).map(String::as_str).filter(|w| listed_part(w)) {
                part = Some(said);
                end += 1;
            }
        }
        let part = part.map(|said| said.trim_end_matches('s'));
        let mut begin = start;
        if time.is_none()
            && start >= 2
            && words[start - 2] == "at"
            && let Some((t, _)) = clock(words, start - 1).filter(|(_, n)| *n == 1)
        {
            time = Some(t);
            begin = start - 2;
        }
        // "the nightly export", "daily standup": an adjective, unless a time says when.
        if time.is_none() && matches!(word, "daily" | "nightly") {
            continue;
        }
        // "every monday evening at 6" is 18:00.
        let said_a_time = time.is_some();
        let time = time.map(|t: String| match (part, t.split_once(':')) {
            (Some("afternoon" | "evening" | "night"), Some((hour, minute))) => match hour.parse::<u8>() {
                Ok(hour) if hour < 12 => format!("{:02}:{minute}", hour + 12),
                _ => t,
            },
            _ => t,
        });
        let time = time.unwrap_or_else(|| match part.or(next) {
            _ if word == "nightly" => "00:00".into(),
            Some("night") => "21:00".into(),
            Some("evening") => "18:00".into(),
            Some("afternoon") => "14:00".into(),
            _ => "09:00".into(),
        });
        let value =
            if days == "daily" && word == "every" && next == Some("day") && !said_a_time && !has_time(words, end) {
                "1d".to_owned()
            } else {
                format!("{days} {time}")
            };
        return Some((value, begin..end));
    }
    None
}

/// A part of the day said after the days: "every monday morning".
fn listed_part(word: &str) -> bool {
    matches!(word, "morning" | "mornings" | "afternoon" | "afternoons" | "evening" | "evenings" | "night" | "nights")
}

/// "in the morning", "in the evening" at `words[at..]`: the part of the day.
fn part_said_with_in(words: &[String], at: usize) -> Option<&str> {
    let said = words.get(at + 2).map(String::as_str).filter(|w| listed_part(w))?;
    (words[at] == "in" && words[at + 1] == "the").then_some(said)
}

/// Once a month, as cron (the contract's other forms have no months): "on the first of
/// every month at 7am" → `0 7 1 * *`, "every month on the 15th", "monthly" (the 1st).
fn monthly(words: &[String]) -> Option<(String, Range<usize>)> {
    let month_at = words.iter().position(|w| w == "month" || w == "monthly")?;
    let is = |at: usize, options: &[&str]| words.get(at).is_some_and(|w| options.contains(&w.as_str()));
    let (mut begin, mut end, mut day) = (month_at, month_at + 1, None);
    if words[month_at] == "month" {
        // "every first day of month": the ordinal after "every", the month bare.
        if month_at >= 3 && is(month_at - 1, &["of"]) {
            let ordinal_at = if is(month_at - 2, &["day"]) { month_at - 3 } else { month_at - 2 };
            if let Some(found) = ordinal(&words[ordinal_at])
                && ordinal_at >= 1
                && is(ordinal_at - 1, &["every", "each"])
            {
                return monthly_at(words, ordinal_at - 1, month_at + 1, Some(found), month_at);
            }
        }
        // "every month", "each month", "of every month", "of the month".
        if month_at == 0 || !is(month_at - 1, &["every", "each", "the"]) {
            return None;
        }
        begin = month_at - 1;
        if begin >= 1 && is(begin - 1, &["of"]) {
            // "[on] [the] first [day] of every month"
            let mut at = begin - 1;
            if at >= 1 && is(at - 1, &["day"]) {
                at -= 1;
            }
            day = Some(ordinal(words.get(at.checked_sub(1)?)?)?);
            begin = at - 1;
            while begin >= 1 && is(begin - 1, &["on", "the"]) {
                begin -= 1;
            }
        } else if words[begin] == "the" {
            return None;
        }
    }
    if day.is_none() {
        // "every month on the 15th", "monthly on the 1st".
        let mut at = end;
        while is(at, &["on", "the"]) {
            at += 1;
        }
        if let Some(found) = words.get(at).and_then(|w| ordinal(w)) {
            day = Some(found);
            end = at + 1;
        }
    }
    monthly_at(words, begin, end, day, month_at)
}

/// The cron text of a monthly schedule found at `begin..end`, with the time said after
/// it or just before it (09:00 if none).
fn monthly_at(
    words: &[String],
    mut begin: usize,
    mut end: usize,
    day: Option<u32>,
    month_at: usize,
) -> Option<(String, Range<usize>)> {
    let is = |at: usize, options: &[&str]| words.get(at).is_some_and(|w| options.contains(&w.as_str()));
    let mut time = None;
    if is(end, &["at"])
        && let Some((t, n)) = clock(words, end + 1)
    {
        time = Some(t);
        end += 1 + n;
    } else if begin >= 2
        && is(begin - 2, &["at"])
        && let Some((t, n)) = clock(words, begin - 1).filter(|(_, n)| *n == 1)
    {
        time = Some(t);
        begin -= 1 + n;
    }
    // "a monthly budget", "the monthly report": an adjective, unless a day or a time
    // says when.
    if words[month_at] == "monthly" && day.is_none() && time.is_none() {
        return None;
    }
    let time = time.unwrap_or_else(|| "09:00".into());
    let (hour, minute) = time.split_once(':')?;
    let (hour, minute): (u32, u32) = (hour.parse().ok()?, minute.parse().ok()?);
    Some((format!("{minute} {hour} {} * *", day.unwrap_or(1)), begin..end))
}

/// A day of the month written as an ordinal: "first", "1st", "15th".
fn ordinal(word: &str) -> Option<u32> {
    const WORDS: [&str; 10] =
        ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];
    let day = match WORDS.iter().position(|w| *w == word) {
        Some(index) => index as u32 + 1,
        None => {
            let digits = word.strip_suffix("st").or(word.strip_suffix("nd")).or(word.strip_suffix("rd"));
            digits.or(word.strip_suffix("th"))?.parse().ok()?
        }
    };
    (1..=28).contains(&day).then_some(day)
}

fn has_time(words: &[String], end: usize) -> bool {
    words[..end].iter().any(|w| w == "at")
}

/// A word that is a time on its own (`9am`, `16:00`), unlike a bare number.
fn is_clockish(word: Option<&String>) -> bool {
    // "0700" too: four digits, a 24-hour time.
    word.is_some_and(|w| {
        w.contains(':')
            || w.ends_with("am")
            || w.ends_with("pm")
            || w == "noon"
            || w == "midnight"
            || (w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()) && w[..2] < *"24" && w[2..] < *"60")
    })
}

/// Five cron fields in a row, kept as the person wrote them.
fn cron(words: &[String]) -> Option<(String, Range<usize>)> {
    let field = |w: &String| {
        !w.is_empty()
            && w.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c) || c.is_ascii_alphabetic())
            && (w.chars().any(|c| c.is_ascii_digit() || c == '*'))
    };
    (0..words.len().saturating_sub(4)).find_map(|start| {
        let fields = &words[start..start + 5];
        (fields.iter().all(field) && fields.iter().any(|w| w.contains('*')))
            .then(|| (fields.join(" "), start..start + 5))
    })
}

/// Clocks people name after a time, each word with its tz database zone.
/// Abbreviations and US zone names as people write them; a few cities and countries.
const ZONES: &[(&str, chrono_tz::Tz)] = {
    use chrono_tz::Tz;
    &[
        ("utc gmt", Tz::UTC),
        ("pt pst pdt pacific", Tz::America__Los_Angeles),
        ("mt mst mdt mountain", Tz::America__Denver),
        ("ct cst cdt central", Tz::America__Chicago),
        ("et est edt eastern nyc", Tz::America__New_York),
        ("bst uk london british", Tz::Europe__London),
        ("cet cest paris", Tz::Europe__Paris),
        ("berlin german germany", Tz::Europe__Berlin),
        ("amsterdam dutch", Tz::Europe__Amsterdam),
        ("madrid spain", Tz::Europe__Madrid),
        ("ist india", Tz::Asia__Kolkata),
        ("sgt singapore", Tz::Asia__Singapore),
        ("jst tokyo japan", Tz::Asia__Tokyo),
        ("aest aedt sydney", Tz::Australia__Sydney),
        ("nzst nzdt auckland", Tz::Pacific__Auckland),
    ]
};

/// A clock named right after a time ("at 9am PT", "at 17:00 UK time", "at 9 Pacific"):
/// its zone and how many words say it. A zone's name in full ("Pacific", "London") is
/// taken only where a clock is plainly meant (with "time", or ending the clause), so
/// "every day at 6 central ops posts …" keeps its words.
pub fn zone_at(words: &[String], at: usize) -> Option<(chrono_tz::Tz, usize)> {
    const CLAUSE_END: [char; 7] = [')', '.', ',', '!', '?', ';', ':'];
    let said = words.get(at)?;
    let word = said.trim_start_matches('(').trim_end_matches(CLAUSE_END);
    let zone = ZONES.iter().find(|(names, _)| names.split(' ').any(|name| name == word)).map(|(_, zone)| *zone)?;
    let ends_clause = said.ends_with(CLAUSE_END);
    let then = words.get(at + 1).map(|w| w.trim_end_matches(CLAUSE_END));
    if then == Some("time") {
        return Some((zone, 2));
    }
    let abbreviated = word.len() <= 4 && !matches!(word, "uk" | "nyc");
    let clause_ends =
        ends_clause || then.is_none_or(|next| super::listed("have get ask tell let make please and so then", next));
    (abbreviated || clause_ends).then_some((zone, 1))
}

/// How far back: `since yesterday` → `1d`, `in the last 2 hours` → `2h`.
pub fn since(words: &[String]) -> Option<String> {
    let mut overnight = false;
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str);
        match (word.as_str(), next) {
            ("since" | "from", Some("yesterday")) | ("yesterday", _) => return Some("1d".into()),
            ("last" | "past" | "previous", Some(_)) => {
                if let Some((d, _)) = duration(words, i + 1) {
                    return Some(d);
                }
                if let Some((unit, times)) = next.and_then(unit) {
                    return Some(format!("{times}{unit}"));
                }
                if next == Some("night") {
                    return Some("1d".into());
                }
            }
            ("since" | "for", _) => {
                if let Some((d, _)) = duration(words, i + 1) {
                    return Some(d);
                }
            }
            (_, Some("ago")) => {
                if let Some((d, _)) = duration(words, i.saturating_sub(1)) {
                    return Some(d);
                }
            }
            ("this", Some("week")) => return Some("7d".into()),
            ("this", Some("morning")) | ("today", _) => return Some("1d".into()),
            // Unless a span is also said ("overnight … since yesterday").
            ("overnight", _) => overnight = true,
            // "eng log 6h": a bare span is how far back.
            (word, _) if compact_duration(word).is_some() => return compact_duration(word),
            _ => {}
        }
    }
    overnight.then(|| "12h".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The last 24 hours ("a day", "daily").
    Day,
    /// Since midnight on the workspace's clock. The contract has one `day` for today
    /// and yesterday alike; Nova tells them apart to answer with the right day.
    #[serde(rename(serialize = "day"))]
    Today,
    /// The day before today, midnight to midnight on the workspace's clock.
    #[serde(rename(serialize = "day"))]
    Yesterday,
    /// The last 7 days.
    Week,
    /// The calendar month so far (on the workspace's clock), the period budgets are kept in.
    Month,
    /// The calendar month before this one.
    LastMonth,
    /// The calendar year so far.
    Year,
    /// The calendar year before this one.
    LastYear,
}

/// Which accounting period a cost question means, if it says.
pub fn period(words: &[String]) -> Option<Period> {
    words.iter().enumerate().find_map(|(i, w)| {
        let before = |i: usize| i.checked_sub(1).map(|b| words[b].as_str());
        // "last month" is the month before this one; "the last month" runs up to now,
        // and the month so far is the nearest period to it.
        let gone = match before(i) {
            Some("previous" | "prior") => true,
            Some("last" | "past") => i < 2 || before(i - 1) != Some("the"),
            _ => false,
        };
        match w.trim_end_matches(['?', '.', '!', ',', '\'']) {
            "today" | "tonight" => Some(Period::Today),
            "yesterday" => Some(Period::Yesterday),
            "daily" => Some(Period::Day),
            "week" | "weekly" | "wk" => Some(Period::Week),
            "month" if gone => Some(Period::LastMonth),
            "month" | "monthly" | "mtd" => Some(Period::Month),
            "year" if gone => Some(Period::LastYear),
            "year" | "yearly" | "annual" | "annually" | "ytd" => Some(Period::Year),
            "day" if matches!(before(i), Some("a" | "per" | "this" | "the" | "each")) => Some(Period::Day),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn every_of(text: &str) -> Option<String> {
        every(&words(text)).map(|(v, _)| v)
    }

    #[test]
    fn schedules_in_plain_words() {
        assert_eq!(every_of("every monday at 9 have the analyst post").as_deref(), Some("monday 09:00"));
        assert_eq!(every_of("every weekday at 7am post").as_deref(), Some("weekday 07:00"));
        assert_eq!(every_of("send it every friday at 4pm").as_deref(), Some("friday 16:00"));
        assert_eq!(every_of("every day at 08:30 have econ").as_deref(), Some("daily 08:30"));
        assert_eq!(every_of("daily at 6 pm").as_deref(), Some("daily 18:00"));
        assert_eq!(every_of("on mondays at noon").as_deref(), Some("monday 12:00"));
        assert_eq!(every_of("every monday morning at 10 have growth post").as_deref(), Some("monday 10:00"));
        assert_eq!(every_of("every friday evening at 6 send").as_deref(), Some("friday 18:00"));
        assert_eq!(every_of("every monday in the morning at 8 post").as_deref(), Some("monday 08:00"));
        assert_eq!(every_of("every day at 6 in the evening post").as_deref(), Some("daily 18:00"));
        assert_eq!(every_of("every day at 6 evening post").as_deref(), Some("daily 18:00"));
        assert_eq!(every_of("each monday in 8 morning post").as_deref(), Some("monday 08:00"));
        assert_eq!(every_of("every friday 5 afternoon post").as_deref(), Some("friday 17:00"));
        assert_eq!(every_of("every tuesday afternoon send").as_deref(), Some("tuesday 14:00"));
        assert_eq!(every_of("every morning at half past 7 post").as_deref(), Some("daily 07:30"));
        assert_eq!(every_of("every friday at quarter past 4 send").as_deref(), Some("friday 16:15"));
        assert_eq!(every_of("every monday at quarter to 9 send").as_deref(), Some("monday 08:45"));
        assert_eq!(every_of("every day 8 morning send").as_deref(), Some("daily 08:00"));
        assert_eq!(every_of("every day send the figures").as_deref(), Some("1d"));
        assert_eq!(every_of("at 9am every weekday").as_deref(), Some("weekday 09:00"));
        assert_eq!(every_of("every 30 minutes check").as_deref(), Some("30m"));
        assert_eq!(every_of("every hour").as_deref(), Some("1h"));
        assert_eq!(every_of("every two hours").as_deref(), Some("2h"));
        assert_eq!(every_of("every half hour").as_deref(), Some("30m"));
        assert_eq!(every_of("every day").as_deref(), Some("1d"));
        assert_eq!(every_of("run 0 9 * * 1-5 please").as_deref(), Some("0 9 * * 1-5"));
        assert_eq!(every_of("every time it breaks"), None);
        assert_eq!(every_of("fix everything"), None);
        assert_eq!(every_of("why did the nightly export shrink"), None);
        assert_eq!(every_of("the daily digest is empty"), None);
    }

    #[test]
    fn the_schedule_span_covers_its_words() {
        let text = words("every monday at 9 have the analyst post signups");
        assert_eq!(every(&text).unwrap().1, 0..4);
    }

    #[test]
    fn how_far_back() {
        assert_eq!(since(&words("what did operator do since yesterday")).as_deref(), Some("1d"));
        assert_eq!(since(&words("in the last 2 hours")).as_deref(), Some("2h"));
        assert_eq!(since(&words("over the past 3 days")).as_deref(), Some("3d"));
        assert_eq!(since(&words("in the last 30 minutes")).as_deref(), Some("30m"));
        assert_eq!(since(&words("the past hour")).as_deref(), Some("1h"));
        assert_eq!(since(&words("last week")).as_deref(), Some("7d"));
        assert_eq!(since(&words("what happened")), None);
    }

    #[test]
    fn clocks_named_after_a_time() {
        use chrono_tz::Tz;
        let zone = |text: &str, at: usize| zone_at(&words(text), at);
        assert_eq!(zone("at 9am PT have", 2), None, "the words as written; the reader lowercases them");
        assert_eq!(zone("at 9am pt have", 2), Some((Tz::America__Los_Angeles, 1)));
        assert_eq!(zone("at 9am pacific have the analyst", 2), Some((Tz::America__Los_Angeles, 1)));
        assert_eq!(zone("at 17:00 uk time, ask", 2), Some((Tz::Europe__London, 2)));
        assert_eq!(zone("at 9 (utc) post", 2), Some((Tz::UTC, 1)));
        assert_eq!(zone("at 9 london time post", 2), Some((Tz::Europe__London, 2)));
        assert_eq!(zone("at 9 est.", 2), Some((Tz::America__New_York, 1)));
        // A zone's name in full goes on into what to do: not a clock.
        assert_eq!(zone("at 6 central ops posts the report", 2), None);
        assert_eq!(zone("at 9 eastern region sales", 2), None);
        assert_eq!(zone("at 9 post the report", 2), None);
    }

    #[test]
    fn periods() {
        assert_eq!(period(&words("so far this month")), Some(Period::Month));
        assert_eq!(period(&words("cost us today")), Some(Period::Today));
        assert_eq!(period(&words("how much did platform spend yesterday")), Some(Period::Yesterday));
        assert_eq!(period(&words("what's the whole lot costing us a day?")), Some(Period::Day));
        assert_eq!(period(&words("daily spend")), Some(Period::Day));
        // The contract has one `day` for all three.
        for period in [Period::Day, Period::Today, Period::Yesterday] {
            assert_eq!(serde_json::to_value(period).unwrap(), "day");
        }
        assert_eq!(serde_json::from_value::<Period>("day".into()).unwrap(), Period::Day);
        assert_eq!(period(&words("burn through this week")), Some(Period::Week));
        assert_eq!(period(&words("how much has maker spent")), None);
        assert_eq!(period(&words("what have the offices cost us this year?")), Some(Period::Year));
        assert_eq!(period(&words("the annual spend on agents")), Some(Period::Year));
        assert_eq!(period(&words("spend ytd")), Some(Period::Year));
        assert_eq!(period(&words("what did we spend last month")), Some(Period::LastMonth));
        assert_eq!(period(&words("cost over the previous year")), Some(Period::LastYear));
        assert_eq!(period(&words("over the last month")), Some(Period::Month));
    }

    #[test]
    fn once_a_month_is_cron() {
        assert_eq!(every_of("on the first of every month at 7am send the arrears").as_deref(), Some("0 7 1 * *"));
        assert_eq!(every_of("every month on the 15th at 16:30 post the report").as_deref(), Some("30 16 15 * *"));
        assert_eq!(every_of("monthly on the 1st post the spend").as_deref(), Some("0 9 1 * *"));
        assert_eq!(every_of("every month post the spend").as_deref(), Some("0 9 1 * *"));
        assert_eq!(every_of("at 8 on the 2nd day of each month post it").as_deref(), Some("0 8 2 * *"));
        // A correction: the later one.
        assert_eq!(
            every_of("on the first of every month no wait every monday at 10:00").as_deref(),
            Some("monday 10:00")
        );
        // Not a schedule: a month named as a period, "monthly" as an adjective, a day past the 28th.
        assert_eq!(every_of("what did we spend this month"), None);
        assert_eq!(every_of("give insights a $150 monthly budget"), None);
        assert_eq!(every_of("post it on the 31st of every month"), None);
    }

    #[test]
    fn clock_times() {
        let at = |t: &str| clock(&words(t), 0).map(|(v, _)| v);
        assert_eq!(at("9").as_deref(), Some("09:00"));
        assert_eq!(at("4pm").as_deref(), Some("16:00"));
        assert_eq!(at("4 pm").as_deref(), Some("16:00"));
        assert_eq!(at("12am").as_deref(), Some("00:00"));
        assert_eq!(at("08:30").as_deref(), Some("08:30"));
        assert_eq!(at("25:00"), None);
        assert_eq!(at("tier"), None);
    }
}
