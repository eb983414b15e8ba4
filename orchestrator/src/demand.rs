//! How long an idle office is worth keeping up, from how often its people have been
//! coming back.
//!
//! Most prompts that find their office asleep are the first of a session: a person
//! comes back after a while, with nothing (no typing, no chatter) to announce it. A
//! fixed idle timeout spends the same VM-hours on every office, but offices are not
//! used alike: a few are in use all day and most now and then. So an office whose
//! sessions have lately been starting more often than once per `return_interval`
//! stays up between them, for as long as that rate, fading with a two-hour time
//! constant, stays above it; an office used once in a while sleeps on its idle timeout
//! as before. On the skewed generated day this kept people from waiting on 86–87% of
//! unannounced prompts (84% with the idle timeouts alone) for about 2% more of
//! always-on VM-hours.
//!
//! Pure, so that the engine (reading prompt times from the store) and the simulator
//! (recording them as the trace plays) decide alike.

use std::time::Duration;

/// The time constant over which past sessions fade from the estimate.
pub const FADE: Duration = Duration::from_secs(2 * 3600);

/// A prompt this long after the one before starts a new session; closer ones are the
/// same person carrying on.
pub const SESSION_GAP: Duration = Duration::from_secs(10 * 60);

/// Prompt times older than this before the office went idle weigh too little to count
/// (less than e⁻⁶ each): the engine reads no further back.
pub const LOOKBACK: Duration = Duration::from_secs(6 * 2 * 3600);

/// When an office idle since `idle_since_ms` stops being worth keeping up: `None` when
/// its recent sessions come less often than once per `return_interval` (or that is
/// zero, which turns this off). `prompts_ms` are the office's prompt times in
/// ascending order, up to `idle_since_ms`.
///
/// The estimate counts sessions other than the one that just ended (a session is
/// evidence that people come back only if another came before it), each weighted
/// `e^(-age / FADE)`: rate = (Σ weights − 1) / FADE. It falls by `e^(-t / FADE)` while
/// nobody comes, so the office stays up for `FADE · ln(rate / threshold)`.
pub fn keep_up_until(prompts_ms: &[i64], idle_since_ms: i64, return_interval: Duration) -> Option<i64> {
    if return_interval.is_zero() {
        return None;
    }
    let fade_ms = FADE.as_millis() as f64;
    let gap_ms = SESSION_GAP.as_millis() as i64;
    let mut weights = 0.0;
    let mut previous: Option<i64> = None;
    for &at in prompts_ms.iter().filter(|&&at| at <= idle_since_ms) {
        if previous.is_none_or(|before| at - before > gap_ms) {
            weights += (-((idle_since_ms - at) as f64) / fade_ms).exp();
        }
        previous = Some(at);
    }
    let rate = (weights - 1.0) / fade_ms;
    let threshold = 1.0 / return_interval.as_millis() as f64;
    (rate > threshold).then(|| idle_since_ms + (fade_ms * (rate / threshold).ln()) as i64)
}

/// How far back an office's habits are read: two weeks, so that each weekday is seen twice.
pub const HABIT_HISTORY_DAYS: i64 = 14;

/// How wide a habit is: sessions that begin within this of each other on different
/// days are the same habit (someone who starts around nine, give or take half an hour).
pub const HABIT_WINDOW: Duration = Duration::from_secs(3600);

/// How long before a habit's window opens the office is woken: a pool claim and a
/// restore take seconds, a fresh VM about a minute.
pub const HABIT_LEAD: Duration = Duration::from_secs(3 * 60);

/// How long past the latest start a habit's window has seen the office waits for it.
pub const HABIT_GRACE: Duration = Duration::from_secs(10 * 60);

/// A prompt this long after the one before found the office asleep (or would have):
/// only such starts are worth foreseeing, the rest find it up anyway.
pub const COLD_GAP: Duration = Duration::from_secs(3600);

/// A habit must be this unlikely to arise by chance, were the office's sessions to begin
/// at random over its working day: an office used a few times a day at random hours has,
/// among its many windows, some that reached the share by luck.
const SIGNIFICANCE: f64 = 0.02;

/// The shortest working day chance is measured against (an office whose every session
/// begins at nine has a one-hour day of its own, which would make no habit remarkable).
const MIN_WORKING_DAY: Duration = Duration::from_secs(8 * 3600);

/// Fewer days of history than this say nothing about habits.
const MIN_HISTORY_DAYS: usize = 3;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// [`HABIT_HISTORY_DAYS`] in milliseconds: how far back callers read prompt times for
/// [`next_habitual_wake`].
pub const HABIT_HISTORY_MS: i64 = HABIT_HISTORY_DAYS * DAY_MS;

/// A wake an office's own history foresees: up at `at` (ms), back to sleep at `until`
/// unless a prompt comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeseenWake {
    pub at: i64,
    pub until: i64,
}

/// The next time an office asleep at `now_ms` is likely wanted, from the times its
/// sessions began on earlier days: people who start with an office around nine on most
/// weekdays will likely do so tomorrow, and nothing they do announces it (typing comes
/// seconds before a prompt; a wake takes longer). `None` when no habit is strong enough:
/// an office used at random times is never woken on a guess.
///
/// For each time of day a session began cold (no prompt in the hour before) within the
/// last [`HABIT_HISTORY_DAYS`], the window [that time, + [`HABIT_WINDOW`]] is a candidate;
/// its chance today is P(the office is used today) · P(a session begins in the window |
/// a day it is used). The first is read from the same weekday of earlier weeks (offices
/// rest at weekends), or from every day while there is less than a week of history; the
/// second from the days it was used. The first candidate whose chance reaches `share`,
/// and whose hits chance alone would give with odds under [`SIGNIFICANCE`], gives the wake, [`HABIT_LEAD`] before its window opens, until [`HABIT_GRACE`] after
/// the latest start seen in it (a wake no prompt uses costs no longer than it must).
/// `share` 0 (or less) turns foresight off. `prompts_ms` ascending, all before `now_ms`.
pub fn next_habitual_wake(prompts_ms: &[i64], now_ms: i64, share: f64) -> Option<ForeseenWake> {
    if share <= 0.0 {
        return None;
    }
    let from = now_ms - HABIT_HISTORY_MS;
    let prompts: Vec<i64> = prompts_ms.iter().copied().filter(|&at| at >= from && at < now_ms).collect();
    let first = *prompts.first()?;
    // Whole days since the first prompt seen (the day it fell in counts).
    let days = (((now_ms - first) / DAY_MS) + 1).min(HABIT_HISTORY_DAYS) as usize;
    if days < MIN_HISTORY_DAYS {
        return None;
    }
    let cold_gap = COLD_GAP.as_millis() as i64;
    let window = HABIT_WINDOW.as_millis() as i64;
    let cold: Vec<i64> = prompts
        .iter()
        .enumerate()
        .filter(|&(i, &at)| i == 0 || at - prompts[i - 1] >= cold_gap)
        .map(|(_, &at)| at)
        .collect();
    // Each cold start as (offset into the coming day, how many days before it fell).
    let mut starts: Vec<(i64, usize)> = cold
        .iter()
        .map(|&at| {
            let offset = (at - now_ms).rem_euclid(DAY_MS);
            (offset, ((now_ms + offset - at) / DAY_MS) as usize)
        })
        .collect();
    starts.sort_unstable();
    let by_chance = chance_of_a_hit(&cold, &starts, now_ms, window);
    let mut previous = None;
    for &(offset, _) in &starts {
        if previous.replace(offset) == Some(offset) {
            continue;
        }
        if offset + window > DAY_MS {
            // Past the coming day: it is planned again before then.
            break;
        }
        // Which earlier days the office was used on (within half a day of the window)
        // and which of those had a session begin in it.
        let centre = now_ms + offset;
        let used: Vec<bool> = (1..=days)
            .map(|k| {
                let around = centre - k as i64 * DAY_MS;
                let lo = prompts.partition_point(|&at| at < around - DAY_MS / 2);
                prompts.get(lo).is_some_and(|&at| at < around + DAY_MS / 2)
            })
            .collect();
        let used_days = used.iter().filter(|&&u| u).count();
        if used_days < MIN_HISTORY_DAYS {
            continue;
        }
        let mut hit = vec![false; days + 1];
        let mut latest = offset;
        for &(other, k) in &starts {
            if (offset..=offset + window).contains(&other) && k <= days {
                hit[k] = true;
                latest = latest.max(other);
            }
        }
        let hits = (1..=days).filter(|&k| hit[k] && used[k - 1]).count();
        let same_weekday: Vec<bool> = [7, 14].iter().filter(|&&k| k <= days).map(|&k| used[k - 1]).collect();
        let used_today = if same_weekday.is_empty() {
            used_days as f64 / days as f64
        } else {
            same_weekday.iter().filter(|&&u| u).count() as f64 / same_weekday.len() as f64
        };
        // The day the window is drawn from is a hit by construction: it is left out, or
        // among many windows one would reach the share by chance alone.
        let chance = used_today * (hits - 1) as f64 / (used_days - 1) as f64;
        if chance >= share && binomial_tail(used_days - 1, hits - 1, by_chance) <= SIGNIFICANCE {
            let opens = now_ms + offset;
            let at = (opens - HABIT_LEAD.as_millis() as i64).max(now_ms);
            return Some(ForeseenWake { at, until: now_ms + latest + HABIT_GRACE.as_millis() as i64 });
        }
    }
    None
}

/// How likely a window of this width is to hold a cold start on a given day were the
/// office's starts spread at random over its working day. Its night is the longest
/// quiet stretch between starts (as on a clock face); its days run from night to night,
/// and its working day is the rest, at least [`MIN_WORKING_DAY`]. `cold` are the start
/// times, `starts` their offsets from `now_ms` in order; neither is empty.
fn chance_of_a_hit(cold: &[i64], starts: &[(i64, usize)], now_ms: i64, window: i64) -> f64 {
    let (first, last) = (starts[0].0, starts[starts.len() - 1].0);
    let (mut quietest, mut night) = (first + DAY_MS - last, last + (first + DAY_MS - last) / 2);
    for pair in starts.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        if gap > quietest {
            (quietest, night) = (gap, pair[0].0 + gap / 2);
        }
    }
    let days: std::collections::HashSet<i64> =
        cold.iter().map(|&at| (at - now_ms - night).div_euclid(DAY_MS)).collect();
    let per_day = cold.len() as f64 / days.len() as f64;
    let working = (DAY_MS - quietest).max(MIN_WORKING_DAY.as_millis() as i64) as f64;
    (1.0 - (-per_day * window as f64 / working).exp()).min(0.95)
}

/// P(X ≥ k) for X ~ Binomial(n, p).
fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    let mut term = (1.0 - p).powi(n as i32);
    let mut below = 0.0;
    for i in 0..k.min(n + 1) {
        below += term;
        term *= (n - i) as f64 / (i + 1) as f64 * p / (1.0 - p);
    }
    if k > n { 0.0 } else { (1.0 - below).max(0.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const FIVE_HOURS: Duration = Duration::from_secs(5 * 3600);

    #[test]
    fn an_office_used_once_is_not_kept_up() {
        // One session of three prompts: nothing says its people come back.
        let prompts = [0, 3 * MINUTE, 7 * MINUTE];
        assert_eq!(keep_up_until(&prompts, 8 * MINUTE, FIVE_HOURS), None);
    }

    #[test]
    fn an_office_whose_people_keep_coming_back_stays_up_for_hours() {
        // A session every half hour all morning.
        let prompts: Vec<i64> = (0..8).map(|i| i * 30 * MINUTE).collect();
        let idle_since = 4 * HOUR;
        let until = keep_up_until(&prompts, idle_since, FIVE_HOURS).expect("kept up");
        let hours = (until - idle_since) as f64 / HOUR as f64;
        assert!((3.0..6.0).contains(&hours), "kept up {hours:.2} h");
    }

    #[test]
    fn more_recent_sessions_keep_an_office_up_longer() {
        let two: Vec<i64> = vec![0, 40 * MINUTE, 80 * MINUTE];
        let four: Vec<i64> = (0..5).map(|i| i * 20 * MINUTE).collect();
        let idle_since = 90 * MINUTE;
        let after_three = keep_up_until(&two, idle_since, FIVE_HOURS).expect("three sessions keep it up");
        let after_five = keep_up_until(&four, idle_since, FIVE_HOURS).expect("five sessions keep it up");
        assert!(after_five > after_three);
    }

    #[test]
    fn prompts_close_together_are_one_session() {
        // Twenty prompts in twenty minutes are one person's session, not twenty returns.
        let prompts: Vec<i64> = (0..20).map(|i| i * MINUTE).collect();
        assert_eq!(keep_up_until(&prompts, 20 * MINUTE, FIVE_HOURS), None);
    }

    #[test]
    fn old_sessions_fade() {
        // Busy yesterday morning, nothing since: not kept up today.
        let prompts: Vec<i64> = (0..8).map(|i| i * 30 * MINUTE).collect();
        assert!(keep_up_until(&prompts, 4 * HOUR, FIVE_HOURS).is_some());
        let mut today = prompts.clone();
        today.push(24 * HOUR);
        assert_eq!(keep_up_until(&today, 24 * HOUR + MINUTE, FIVE_HOURS), None);
    }

    #[test]
    fn a_longer_interval_keeps_more_offices_up_and_zero_turns_it_off() {
        // A session every three hours: less often than once in five.
        let prompts = [0, 3 * HOUR, 6 * HOUR];
        assert_eq!(keep_up_until(&prompts, 6 * HOUR, FIVE_HOURS), None);
        assert!(keep_up_until(&prompts, 6 * HOUR, Duration::from_secs(12 * 3600)).is_some());
        assert_eq!(keep_up_until(&prompts, 6 * HOUR, Duration::ZERO), None);
    }

    #[test]
    fn prompts_after_the_office_went_idle_do_not_count() {
        let prompts: Vec<i64> = (0..8).map(|i| i * 30 * MINUTE).collect();
        assert_eq!(keep_up_until(&prompts, 10 * MINUTE, FIVE_HOURS), None);
    }

    const DAY: i64 = 24 * HOUR;

    /// A session at about `hour` (plus `jitter` minutes) on each listed day before the
    /// fortnight ends at day 14, three prompts each.
    fn habit(days: &[i64], hour: i64, jitter: &[i64]) -> Vec<i64> {
        let mut prompts: Vec<i64> = days
            .iter()
            .zip(jitter.iter().cycle())
            .flat_map(|(&day, &minutes)| {
                let start = day * DAY + hour * HOUR + minutes * MINUTE;
                [start, start + 4 * MINUTE, start + 9 * MINUTE]
            })
            .collect();
        prompts.sort_unstable();
        prompts
    }

    /// Weekdays of two weeks that start on a Monday (day 0): days 5, 6, 12 and 13 are the weekend.
    const WEEKDAYS: [i64; 10] = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11];

    #[test]
    fn an_office_used_around_nine_every_weekday_is_woken_just_before_nine() {
        let prompts = habit(&WEEKDAYS, 9, &[-10, 5, 20, 0, -5]);
        // Monday of the third week, at 02:00.
        let now = 14 * DAY + 2 * HOUR;
        let wake = next_habitual_wake(&prompts, now, 0.5).expect("a habit");
        // From the earliest start seen (8:50) to ten minutes past the latest (9:20).
        assert_eq!(wake.at, 14 * DAY + 9 * HOUR - 10 * MINUTE - HABIT_LEAD.as_millis() as i64);
        assert_eq!(wake.until, 14 * DAY + 9 * HOUR + 30 * MINUTE);
    }

    #[test]
    fn an_office_is_not_woken_on_a_day_of_the_week_it_rests() {
        // Three weeks of weekdays; day 19 is the third Saturday, and the Saturdays a week
        // and two before were quiet.
        let mut days = WEEKDAYS.to_vec();
        days.extend(14..19);
        let prompts = habit(&days, 9, &[0]);
        assert_eq!(next_habitual_wake(&prompts, 19 * DAY + 2 * HOUR, 0.5), None);
        // The Friday before, it was woken.
        let friday: Vec<i64> = prompts.iter().copied().filter(|&at| at < 18 * DAY).collect();
        assert!(next_habitual_wake(&friday, 18 * DAY + 2 * HOUR, 0.5).is_some());
    }

    #[test]
    fn sessions_at_random_times_are_no_habit() {
        // One session a day, at a different hour each day.
        let mut prompts = Vec::new();
        for (day, hour) in (0..14).zip([8, 15, 11, 17, 9, 13, 10, 16, 12, 14, 8, 11, 15, 17]) {
            prompts.extend(habit(&[day], hour, &[0]));
        }
        assert_eq!(next_habitual_wake(&prompts, 14 * DAY, 0.5), None);
    }

    #[test]
    fn a_habit_kept_on_only_a_few_days_could_be_chance_and_wakes_nothing() {
        // Around ten on seven weekdays of ten, around two on the other three.
        let mut used = habit(&[0, 1, 3, 4, 8, 9, 11], 10, &[0]);
        used.extend(habit(&[2, 7, 10], 14, &[0]));
        used.sort_unstable();
        let now = 14 * DAY;
        let ten = next_habitual_wake(&used, now, 0.5).expect("the ten o'clock habit");
        assert_eq!(ten.until, now + 10 * HOUR + 10 * MINUTE);
        // Asleep after ten, three days in ten at two are no habit, even at a low share:
        // a session at some hour of an eight-hour day lands in that hour as often.
        // The next wake is tomorrow's ten o'clock.
        let after_ten = now + 12 * HOUR;
        for share in [0.5, 0.2] {
            let next = next_habitual_wake(&used, after_ten, share).map(|w| w.until);
            assert_eq!(next, Some(now + DAY + 10 * HOUR + 10 * MINUTE), "at {share}");
        }
    }

    #[test]
    fn the_binomial_tail_is_right_at_its_edges_and_in_between() {
        assert!((binomial_tail(10, 0, 0.3) - 1.0).abs() < 1e-12);
        assert!((binomial_tail(3, 3, 0.5) - 0.125).abs() < 1e-12);
        assert!((binomial_tail(4, 2, 0.5) - 11.0 / 16.0).abs() < 1e-12);
        assert_eq!(binomial_tail(3, 4, 0.5), 0.0);
    }

    #[test]
    fn little_history_or_none_foresees_nothing_and_a_zero_share_turns_it_off() {
        assert_eq!(next_habitual_wake(&[], DAY, 0.5), None);
        let two_days = habit(&[0, 1], 9, &[0]);
        assert_eq!(next_habitual_wake(&two_days, 2 * DAY, 0.5), None);
        let prompts = habit(&WEEKDAYS, 9, &[0]);
        assert!(next_habitual_wake(&prompts, 14 * DAY, 0.5).is_some());
        assert_eq!(next_habitual_wake(&prompts, 14 * DAY, 0.0), None);
    }

    #[test]
    fn only_sessions_that_begin_cold_make_a_habit() {
        // Busy from eight all day, every weekday: the only cold start is at eight.
        let mut prompts = Vec::new();
        for &day in &WEEKDAYS {
            prompts.extend((0..20).map(|i| day * DAY + 8 * HOUR + i * 25 * MINUTE));
        }
        let now = 14 * DAY;
        let wake = next_habitual_wake(&prompts, now, 0.5).expect("the eight o'clock start");
        assert_eq!(wake.until, now + 8 * HOUR + 10 * MINUTE);
        // Asleep at noon (say it was stopped), the next is tomorrow's.
        assert_eq!(
            next_habitual_wake(&prompts, now + 12 * HOUR, 0.5).map(|w| w.until),
            Some(now + DAY + 8 * HOUR + 10 * MINUTE)
        );
    }
}
