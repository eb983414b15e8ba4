//! `nova simulate`: the real GCE backend, warm pools and prewarm policy against the
//! GCE stand-in, in accelerated time, over a day of offices, typing signals and
//! prompts. Prints what an operator needs before spending a cent: how often people
//! wait and for how long, VM-hours against always-on, pool waste, API calls against
//! quota, and duplicate VMs (which must be zero).
//!
//! A trace is JSON lines: a header `{"kind", "hours", "offices": [{"name", "tier"}]}`,
//! then events `{"t": seconds, "type": "typing" | "chatter" | "prompt", "office", "user",
//! "work": seconds}` in time order. `chatter` is a person talking about the office's work
//! where Nova listens without being addressed (Nova routes the words to that office). `nova simulate --generate discord|slack` writes one.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orchestrator::config::ProvisionerSettings;
use orchestrator::fleet::{Fleet, PoolSettings, Source};
use orchestrator::store::Store;
use provisioner::gce::{GceBackend, GceSettings, Vm};
use provisioner::tiers::{self, Tier};
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use testkit::gce::{FakeGce, GceOptions};
use tokio::sync::watch;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub kind: String,
    pub hours: f64,
    pub offices: Vec<OfficeSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfficeSpec {
    pub name: String,
    pub tier: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the start of the trace.
    pub t: f64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub office: String,
    pub user: String,
    /// For prompts: how long the run keeps the office busy, in seconds.
    #[serde(default)]
    pub work: f64,
}

impl Event {
    /// A typing or chatter signal at `t` (never before the trace starts).
    fn signal(kind: EventKind, t: f64, office: &str, user: &str) -> Self {
        Self { t: t.max(0.0), kind, office: office.to_owned(), user: user.to_owned(), work: 0.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Typing,
    Chatter,
    Prompt,
}

/// What announced a prompt: its person typing to the office, or talking about the
/// office's work, since their last prompt there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    Typing,
    Chatter,
}

/// Policy knobs, in GCE time (the simulator scales them).
#[derive(Debug, Clone)]
pub struct Policy {
    pub idle_timeout: Duration,
    pub idle_timeout_without_signals: Duration,
    pub prewarm_ttl: Duration,
    pub max_prewarms: usize,
    /// Offices whose sessions lately began more often than once in this long stay up
    /// between them ([`orchestrator::demand`]).
    pub return_interval: Duration,
    /// Offices asleep are woken ahead of their habits ([`orchestrator::demand::next_habitual_wake`]).
    pub habit_share: f64,
    pub pool: PoolSettings,
    /// Restoring a snapshot on a fresh or claimed VM (median, p95).
    pub restore: (Duration, Duration),
    /// Snapshotting before the VM is deleted (median, p95).
    pub snapshot: (Duration, Duration),
    /// GCE's per-minute write quota the stand-in enforces.
    pub writes_per_minute: u32,
    /// What an office's snapshot weighs in object storage (priced, not simulated).
    pub snapshot_gb: f64,
}

/// Object storage (GCS standard, one region), per GB and month.
pub const STORAGE_USD_PER_GB_MONTH: f64 = 0.020;
const HOURS_PER_MONTH: f64 = 730.0;

/// What `nova serve` does with a default `[provisioner]`.
impl Default for Policy {
    fn default() -> Self {
        let settings = ProvisionerSettings::default();
        Self {
            idle_timeout: settings.idle_timeout,
            idle_timeout_without_signals: settings.idle_timeout_without_signals,
            prewarm_ttl: settings.prewarm_ttl,
            max_prewarms: settings.max_prewarms,
            return_interval: settings.return_interval,
            habit_share: settings.habit_share,
            pool: PoolSettings::from(&settings),
            restore: (Duration::from_secs(3), Duration::from_secs(8)),
            snapshot: (Duration::from_secs(5), Duration::from_secs(15)),
            writes_per_minute: 600,
            snapshot_gb: 2.0,
        }
    }
}

// ---- traces ------------------------------------------------------------------------

/// A plausible day: offices used in working hours in sessions of a few prompts, a few
/// minutes apart; on Discord each prompt is preceded by typing.
pub fn generate(kind: &str, offices: usize, hours: f64, seed: u64) -> anyhow::Result<(Header, Vec<Event>)> {
    let typing = match kind {
        "discord" => true,
        "slack" => false,
        other => anyhow::bail!("unknown trace kind `{other}`: use discord or slack"),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tiers = [1u8, 2, 2, 2, 3, 3, 4, 5, 6, 8];
    let specs: Vec<OfficeSpec> = (0..offices)
        .map(|i| OfficeSpec { name: format!("office-{i:03}"), tier: tiers[rng.random_range(0..tiers.len())] })
        .collect();
    let day = hours * 3600.0;
    // Working hours: the middle 10 h of a 24 h day, scaled to shorter traces.
    let (open, close) = (day * 8.0 / 24.0, day * 18.0 / 24.0);
    let mut events = Vec::new();
    for office in &specs {
        let sessions = poisson(&mut rng, 3.0 * hours / 24.0);
        for _ in 0..sessions {
            let mut t = rng.random_range(open..close);
            let user = format!("u{}", rng.random_range(0..40));
            let prompts = 1 + geometric(&mut rng, 0.3);
            for _ in 0..prompts {
                let work = lognormal(&mut rng, 60.0, 300.0);
                if typing {
                    let lead = lognormal(&mut rng, 12.0, 40.0).max(3.0);
                    events.push(Event::signal(EventKind::Typing, t - lead, &office.name, &user));
                }
                events.push(Event {
                    t,
                    kind: EventKind::Prompt,
                    office: office.name.clone(),
                    user: user.clone(),
                    work,
                });
                t += work + lognormal(&mut rng, 90.0, 600.0);
            }
        }
    }
    events.retain(|e| e.t < day);
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok((Header { kind: kind.to_owned(), hours, offices: specs }, events))
}

/// The shape of a day, for days unlike the shipped ones: how unevenly offices are used,
/// where their people are, how often typing announces a prompt, and an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct DayShape {
    pub offices: usize,
    pub hours: f64,
    /// Sessions per office per 24 h on average.
    pub sessions: f64,
    /// Zipf exponent of popularity: 0, every office as busy as the next; above 1, a few
    /// busy all day and most used once or twice.
    pub skew: f64,
    /// The regions offices' people work in, as hours after the trace's start of day
    /// (0 and 6: two regions six hours apart). Each office belongs to one.
    pub regions: Vec<f64>,
    /// The share of prompts a typing signal announces.
    pub typing_share: f64,
    /// The share of the other prompts that chatter announces: their person talks about
    /// the problem where Nova listens first. As many chatter episodes again lead to no
    /// prompt at all (talk that never becomes a request).
    pub chatter_share: f64,
    /// An incident: this many offices each get a prompt within this many seconds.
    pub incident: Option<(usize, f64)>,
    /// Days of the fleet's past before the day, as prompts at negative times, for a
    /// policy that reads offices' history ([`orchestrator::demand::next_habitual_wake`]).
    /// The day is a Wednesday; at weekends offices get a tenth of their sessions.
    pub history_days: usize,
    /// The share of sessions that begin at one of their office's habitual times (each
    /// office has one or two, in working hours: someone who starts with it at nine),
    /// give or take twenty minutes; the rest begin at random in working hours.
    pub habit: f64,
    pub seed: u64,
}

impl DayShape {
    /// A named shape: `skewed` (the day #21 was found on: 120 offices, a few busy all day,
    /// two regions six hours apart, half the prompts typed, an incident on 20 offices in
    /// two minutes), `quiet` (many offices, each used about once), `busy` (every office
    /// used all day), `global` (three regions eight hours apart), `untyped` (Slack-like:
    /// no typing), `chatty` (no typing, but half the prompts follow talk about the
    /// problem where Nova listens), `storm` (an incident on 40 offices in one minute),
    /// `routine` (the Slack-like fleet with two weeks of history, half its sessions
    /// habits).
    pub fn named(name: &str, seed: u64) -> anyhow::Result<Self> {
        let base = Self {
            offices: 120,
            hours: 24.0,
            sessions: 3.0,
            skew: 1.1,
            regions: vec![0.0, 6.0],
            typing_share: 0.5,
            chatter_share: 0.0,
            incident: Some((20, 120.0)),
            history_days: 0,
            habit: 0.0,
            seed,
        };
        Ok(match name {
            "skewed" => base,
            "quiet" => Self { offices: 200, sessions: 1.0, skew: 0.3, incident: None, ..base },
            "busy" => Self { offices: 40, sessions: 8.0, skew: 0.2, regions: vec![0.0], incident: None, ..base },
            "global" => Self { regions: vec![0.0, 8.0, 16.0], typing_share: 0.7, ..base },
            "untyped" => Self { typing_share: 0.0, ..base },
            "chatty" => Self { typing_share: 0.0, chatter_share: 0.5, ..base },
            "storm" => Self { offices: 80, skew: 0.8, regions: vec![0.0], incident: Some((40, 60.0)), ..base },
            // The Slack-like shipped day's fleet after two weeks of work, half of whose
            // sessions are its people's habits.
            "routine" => Self {
                offices: 100,
                skew: 0.0,
                regions: vec![0.0],
                typing_share: 0.0,
                incident: None,
                history_days: 14,
                habit: 0.5,
                ..base
            },
            other => anyhow::bail!(
                "unknown day `{other}`: use discord, slack, skewed, quiet, busy, global, untyped, chatty, storm or routine"
            ),
        })
    }
}

/// Records a signal of the day itself; the days before keep only their prompts.
fn signal(events: &mut Vec<Event>, past: bool, event: Event) {
    if !past {
        events.push(event);
    }
}

/// The day's weekday when a shaped day has history: a Wednesday (Monday is 0).
const DAY_WEEKDAY: i64 = 2;

/// At weekends offices get this share of their weekday sessions.
const WEEKEND_SESSIONS: f64 = 0.1;

/// A day of the given shape. Sessions are spread over each region's working hours, an
/// office's share of them falling with its popularity rank; with `history_days`, the
/// days before it are drawn alike (prompts only, at negative times, and no incident).
pub fn generate_shape(shape: &DayShape) -> anyhow::Result<(Header, Vec<Event>)> {
    anyhow::ensure!(shape.offices > 0 && shape.hours > 0.0, "a day needs offices and hours");
    anyhow::ensure!((0.0..=1.0).contains(&shape.typing_share), "the typing share is between 0 and 1");
    anyhow::ensure!((0.0..=1.0).contains(&shape.chatter_share), "the chatter share is between 0 and 1");
    anyhow::ensure!((0.0..=1.0).contains(&shape.habit), "the habit share is between 0 and 1");
    anyhow::ensure!(!shape.regions.is_empty(), "a day needs at least one region");
    anyhow::ensure!(shape.history_days == 0 || shape.hours == 24.0, "history needs 24-hour days");
    let mut rng = rand::rngs::StdRng::seed_from_u64(shape.seed);
    let tiers = [1u8, 2, 2, 2, 3, 3, 4, 5, 6, 8];
    let specs: Vec<OfficeSpec> = (0..shape.offices)
        .map(|i| OfficeSpec { name: format!("office-{i:03}"), tier: tiers[rng.random_range(0..tiers.len())] })
        .collect();
    let day = shape.hours * 3600.0;
    let scale = shape.hours / 24.0;
    // Popularity by rank (Zipf), normalised so the fleet has `sessions` per office on average.
    let weights: Vec<f64> = (1..=shape.offices).map(|rank| 1.0 / (rank as f64).powf(shape.skew)).collect();
    let total: f64 = weights.iter().sum();
    // Each office's habitual hours (local), drawn apart from the rest so that a day
    // without habits stays the day it was.
    let habits: Vec<Vec<f64>> = if shape.habit > 0.0 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(shape.seed ^ 0x4841_4249_5453);
        (0..shape.offices)
            .map(|_| {
                let mut hours = vec![rng.random_range(8.5..11.0)];
                if rng.random::<f64>() < 0.5 {
                    hours.push(rng.random_range(13.0..16.0));
                }
                hours
            })
            .collect()
    } else {
        Vec::new()
    };
    // When a session begins, hours into the office's local working day.
    let start_hour = |rank: usize, rng: &mut rand::rngs::StdRng| {
        if shape.habit > 0.0 && rng.random::<f64>() < shape.habit {
            let hours = &habits[rank];
            hours[rng.random_range(0..hours.len())] + standard_normal(rng) / 3.0
        } else {
            rng.random_range(8.0..18.0)
        }
    };
    let mut events = Vec::new();
    let mut session = |office: &OfficeSpec, start: f64, prompts: usize, rng: &mut rand::rngs::StdRng| {
        let user = format!("u{}", rng.random_range(0..60));
        let mut t = start;
        // The days before are their prompts (what the store would hold), no signals.
        let past = start < 0.0;
        for _ in 0..prompts {
            let work = lognormal(rng, 60.0, 300.0);
            if rng.random::<f64>() < shape.typing_share {
                let lead = lognormal(rng, 12.0, 40.0).max(3.0);
                signal(&mut events, past, Event::signal(EventKind::Typing, t - lead, &office.name, &user));
            } else if shape.chatter_share > 0.0 && rng.random::<f64>() < shape.chatter_share {
                // (No draw on days without chatter: they stay the days they were.)
                // A few messages about the problem in the minutes before the request.
                for _ in 0..1 + geometric(rng, 0.5) {
                    let lead = lognormal(rng, 45.0, 240.0).max(3.0);
                    signal(&mut events, past, Event::signal(EventKind::Chatter, t - lead, &office.name, &user));
                }
                // And talk, the same part of the day, that never becomes a request.
                let at = (start + rng.random_range(-3.0..3.0) * 3600.0 * shape.hours / 24.0).min(day);
                let someone = format!("u{}", rng.random_range(0..60));
                signal(&mut events, past, Event::signal(EventKind::Chatter, at, &office.name, &someone));
            }
            events.push(Event { t, kind: EventKind::Prompt, office: office.name.clone(), user: user.clone(), work });
            t += work + lognormal(rng, 90.0, 600.0);
        }
    };
    // The days before (each from a generator of its own), then the day itself.
    for before in (0..=shape.history_days as i64).rev() {
        let mut history_rng;
        let (rng, weekday_share) = if before == 0 {
            (&mut rng, 1.0)
        } else {
            history_rng =
                rand::rngs::StdRng::seed_from_u64(shape.seed.wrapping_mul(1_000_003).wrapping_add(before as u64));
            let weekday = (DAY_WEEKDAY - before).rem_euclid(7);
            (&mut history_rng, if weekday >= 5 { WEEKEND_SESSIONS } else { 1.0 })
        };
        let midnight = -(before as f64) * day;
        for (rank, office) in specs.iter().enumerate() {
            let region = shape.regions[rank % shape.regions.len()];
            let mean = weekday_share * shape.sessions * scale * shape.offices as f64 * weights[rank] / total;
            for _ in 0..poisson(rng, mean) {
                // Working hours: 08:00 to 18:00 in the office's region.
                let start = midnight + (start_hour(rank, rng) + region).rem_euclid(24.0) * 3600.0 * scale;
                let prompts = 1 + geometric(rng, 0.3);
                session(office, start, prompts, rng);
            }
        }
    }
    if let Some((count, window)) = shape.incident {
        let at = rng.random_range(day * 0.3..day * 0.7);
        let mut hit: Vec<usize> = (0..specs.len()).collect();
        for i in 0..count.min(specs.len()) {
            let j = rng.random_range(i..hit.len());
            hit.swap(i, j);
            session(&specs[hit[i]], at + rng.random_range(0.0..window), 1 + geometric(&mut rng, 0.5), &mut rng);
        }
    }
    events.retain(|e| e.t < day);
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok((Header { kind: format!("generated (seed {})", shape.seed), hours: shape.hours, offices: specs }, events))
}

fn poisson(rng: &mut rand::rngs::StdRng, mean: f64) -> usize {
    let limit = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

fn geometric(rng: &mut rand::rngs::StdRng, p: f64) -> usize {
    let mut k = 0;
    while rng.random::<f64>() > p && k < 20 {
        k += 1;
    }
    k
}

/// A log-normal draw with this median and 95th percentile.
fn lognormal(rng: &mut rand::rngs::StdRng, median: f64, p95: f64) -> f64 {
    let sigma = (p95 / median).ln() / 1.645;
    median * (sigma * standard_normal(rng)).exp()
}

/// A draw from the standard normal distribution (Box–Muller).
fn standard_normal(rng: &mut rand::rngs::StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

pub fn write_trace(header: &Header, events: &[Event], out: &mut impl std::io::Write) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string(header)?)?;
    for event in events {
        writeln!(out, "{}", serde_json::to_string(event)?)?;
    }
    Ok(())
}

pub fn read_trace(path: &std::path::Path) -> anyhow::Result<(Header, Vec<Event>)> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open trace {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: Header = serde_json::from_str(&lines.next().context("an empty trace")??)
        .with_context(|| format!("{}:1: not a trace header", path.display()))?;
    let mut events = Vec::new();
    for (number, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a trace event", path.display(), number + 2))?;
        events.push(event);
    }
    Ok((header, events))
}

// ---- the simulation ----------------------------------------------------------------

/// Why an office is being woken.
#[derive(Debug, Clone, Copy, PartialEq)]
enum WakeFor {
    /// A prompt waits for it.
    Prompt,
    /// A typing or chatter signal: a prompt may follow within the prewarm TTL.
    Signal,
    /// Its habits: a session may begin before this (trace ms).
    Habit { until_ms: i64 },
}

#[derive(Debug, Clone)]
enum Office {
    Asleep,
    Waking {
        ready: watch::Receiver<bool>,
        why: WakeFor,
    },
    Up {
        vm: Vm,
        busy_until: Instant,
        last_active: Instant,
        /// Woken ahead of a prompt (a signal or a habit): back to sleep then unless one came.
        prewarm_until: Option<Instant>,
        /// A signal woke it or has come since: it sleeps after the shorter idle timeout.
        announced: bool,
        /// Its habits woke it (not counted against `max_prewarms`).
        foreseen: bool,
    },
    Sleeping,
}

#[derive(Default)]
struct Tally {
    /// Per prompt: how long its person waited for the office, GCE seconds.
    waits: Vec<f64>,
    ready_at_submit: usize,
    /// Of the prompts a typing signal announced: how many, and how many found their office ready.
    typed: usize,
    ready_typed: usize,
    /// Of the others: how many chatter announced, and how many of those found it ready.
    chattered: usize,
    ready_chattered: usize,
    /// Decision latency per wake: signal handled → VM claimed or first GCE call, real ms.
    overhead_ms: Vec<f64>,
    prewarms: usize,
    prewarm_hits: usize,
    prewarm_expired: usize,
    prewarms_at_capacity: usize,
    /// Wakes ahead of offices' habits, those a prompt found up, those that went unused.
    foreseen: usize,
    foreseen_hits: usize,
    foreseen_expired: usize,
    /// Pool VMs claimed, and the office each went to.
    pool_claims: HashMap<String, String>,
    live: HashMap<String, usize>,
    duplicates: usize,
    wakes: usize,
    fresh_wakes: usize,
    wake_failures: usize,
    missed: Missed,
}

impl Tally {
    /// A prompt reached an office up ahead of it: the prewarm (a signal's or a habit's)
    /// paid off, and the office is up for real work from now on.
    fn prompt_found(&mut self, prewarm_until: &mut Option<Instant>, foreseen: &mut bool) {
        if prewarm_until.take().is_some() {
            if std::mem::take(foreseen) {
                self.foreseen_hits += 1;
            } else {
                self.prewarm_hits += 1;
            }
        }
    }
}

/// Why prompts were not ready at submit: what their office was doing when they came.
#[derive(Debug, Default, Clone, Copy)]
pub struct Missed {
    /// A typing signal had started a wake that was still claiming and restoring.
    pub prewarm_restoring: usize,
    /// Its habits had started a wake that was still restoring.
    pub foreseen_restoring: usize,
    /// Waking for an earlier prompt, not for a signal.
    pub behind_another_wake: usize,
    /// Asleep, with no signal before the prompt (or one the rate limit dropped).
    pub asleep: usize,
    /// Snapshotting on its way to sleep.
    pub going_to_sleep: usize,
}

impl Missed {
    /// Every prompt not ready at submit, each counted under one reason.
    pub fn total(&self) -> usize {
        self.prewarm_restoring + self.foreseen_restoring + self.behind_another_wake + self.asleep + self.going_to_sleep
    }
}

struct Sim {
    fleet: Arc<Fleet>,
    store: Store,
    gce: FakeGce,
    factor: f64,
    policy: Policy,
    tiers: HashMap<String, &'static Tier>,
    offices: Mutex<HashMap<String, Office>>,
    tally: Mutex<Tally>,
    rng: Mutex<rand::rngs::StdRng>,
    recent_signals: Mutex<HashMap<(String, String), Instant>>,
    /// When the trace started, in real time.
    origin: Instant,
    /// Per office: when its prompts came, trace milliseconds, ascending (the trace's
    /// history first, at negative times).
    prompt_times: Mutex<HashMap<String, Vec<i64>>>,
    /// Per office asleep: the wake its habits foresee.
    foreseen: Mutex<HashMap<String, orchestrator::demand::ForeseenWake>>,
}

impl Sim {
    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.factor)
    }

    /// Trace milliseconds at `at`.
    fn trace_ms(&self, at: Instant) -> i64 {
        (at.saturating_duration_since(self.origin).as_secs_f64() / self.factor * 1000.0) as i64
    }

    fn draw(&self, (median, p95): (Duration, Duration)) -> Duration {
        let seconds = lognormal(&mut self.rng.lock().unwrap(), median.as_secs_f64(), p95.as_secs_f64());
        self.scaled(Duration::from_secs_f64(seconds))
    }

    /// The office's generation is over: the wake gate opens again and it counts as asleep.
    async fn asleep(&self, office: &str, generation: i64) {
        use orchestrator::store::{OfficeChange, Transition};
        let change = OfficeChange::new(Transition::RecoverWaking);
        let _ = self.store.transition(office, generation, change).await;
        self.offices.lock().unwrap().insert(office.to_owned(), Office::Asleep);
        self.foresee(office);
    }

    /// Plans the office's next wake from its habits, as the engine does when it sleeps.
    fn foresee(&self, office: &str) {
        let now = self.trace_ms(Instant::now());
        let wake = {
            let prompt_times = self.prompt_times.lock().unwrap();
            let times = prompt_times.get(office).map_or(&[][..], Vec::as_slice);
            orchestrator::demand::next_habitual_wake(times, now, self.policy.habit_share)
        };
        let mut foreseen = self.foreseen.lock().unwrap();
        match wake {
            Some(wake) => drop(foreseen.insert(office.to_owned(), wake)),
            None => drop(foreseen.remove(office)),
        }
    }

    /// Wakes the offices whose foreseen wake is due and which still sleep.
    async fn wake_foreseen(self: &Arc<Self>) {
        let now = self.trace_ms(Instant::now());
        let due: Vec<(String, i64)> = {
            let mut foreseen = self.foreseen.lock().unwrap();
            let due: Vec<(String, i64)> =
                foreseen.iter().filter(|(_, wake)| wake.at <= now).map(|(o, wake)| (o.clone(), wake.until)).collect();
            for (office, _) in &due {
                foreseen.remove(office);
            }
            due
        };
        for (office, until_ms) in due {
            let asleep = matches!(self.offices.lock().unwrap().get(&office), Some(Office::Asleep) | None);
            if asleep && until_ms > now {
                self.wake(&office, WakeFor::Habit { until_ms }).await;
            }
        }
    }

    /// Starts waking an office if it sleeps; returns a receiver that turns true when it is up.
    async fn wake(self: &Arc<Self>, office: &str, why: WakeFor) -> Option<watch::Receiver<bool>> {
        let (tx, rx) = watch::channel(false);
        {
            let mut offices = self.offices.lock().unwrap();
            match offices.get(office) {
                Some(Office::Asleep) | None => {
                    offices.insert(office.to_owned(), Office::Waking { ready: rx.clone(), why });
                }
                Some(Office::Waking { ready, .. }) => return Some(ready.clone()),
                _ => return None,
            }
        }
        let decided = Instant::now();
        let sim = Arc::clone(self);
        let office = office.to_owned();
        tokio::spawn(async move {
            let tier = sim.tiers[&office];
            let row = sim.store.office(&office).await.ok().flatten();
            let generation = match row {
                Some(row) => sim.store.begin_wake(&row, "sim", Duration::from_secs(3600)).await.ok().flatten(),
                None => None,
            };
            let Some(generation) = generation else {
                sim.offices.lock().unwrap().insert(office.clone(), Office::Asleep);
                let _ = tx.send(true);
                return;
            };
            let placed = sim.fleet.place(&office, generation, tier).await;
            let overhead = match &placed {
                Ok((_, Source::Pool)) => Some(decided.elapsed()),
                Ok((vm, Source::Fresh)) => {
                    sim.gce.first_write_for(&vm.name).map(|at| at.saturating_duration_since(decided))
                }
                Err(_) => None,
            };
            match placed {
                Ok((vm, source)) => {
                    // Restore the snapshot, then the agent answers.
                    tokio::time::sleep(sim.draw(sim.policy.restore)).await;
                    let mut tally = sim.tally.lock().unwrap();
                    tally.wakes += 1;
                    if let Some(overhead) = overhead {
                        tally.overhead_ms.push(overhead.as_secs_f64() * 1000.0);
                    }
                    match source {
                        Source::Pool => drop(tally.pool_claims.insert(vm.name.clone(), office.clone())),
                        Source::Fresh => tally.fresh_wakes += 1,
                    }
                    let live = tally.live.entry(office.clone()).or_default();
                    *live += 1;
                    if *live > 1 {
                        tally.duplicates += 1;
                    }
                    let now = Instant::now();
                    let prewarm_until = match why {
                        WakeFor::Prompt => None,
                        WakeFor::Signal => {
                            tally.prewarms += 1;
                            Some(now + sim.scaled(sim.policy.prewarm_ttl))
                        }
                        WakeFor::Habit { until_ms } => {
                            tally.foreseen += 1;
                            let left = (until_ms - sim.trace_ms(now)).max(0) as f64 / 1000.0;
                            Some(now + sim.scaled(Duration::from_secs_f64(left)))
                        }
                    };
                    drop(tally);
                    let office_now = Office::Up {
                        vm,
                        busy_until: now,
                        last_active: now,
                        prewarm_until,
                        announced: why == WakeFor::Signal,
                        foreseen: matches!(why, WakeFor::Habit { .. }),
                    };
                    sim.offices.lock().unwrap().insert(office.clone(), office_now);
                }
                Err(error) => {
                    tracing::warn!(office, "wake failed: {error}");
                    sim.tally.lock().unwrap().wake_failures += 1;
                    sim.asleep(&office, generation).await;
                }
            }
            let _ = tx.send(true);
        });
        Some(rx)
    }

    /// Typing or chatter: the engine treats both as a warm signal for the office.
    async fn on_signal(self: &Arc<Self>, office: &str, user: &str) {
        let key = (user.to_owned(), office.to_owned());
        self.fleet.signalled(self.tiers[office]);
        if let Some(Office::Up { announced, .. }) = self.offices.lock().unwrap().get_mut(office) {
            *announced = true;
        }
        {
            let mut recent = self.recent_signals.lock().unwrap();
            if recent.get(&key).is_some_and(|at| at.elapsed() < self.scaled(Duration::from_secs(8))) {
                return;
            }
            recent.insert(key, Instant::now());
        }
        let asleep = {
            let mut offices = self.offices.lock().unwrap();
            match offices.get_mut(office) {
                // Up already: someone typing keeps it from idling out.
                Some(Office::Up { last_active, prewarm_until, .. }) => {
                    *last_active = Instant::now();
                    // (Never shortened: a wake ahead of a habit may be good for longer.)
                    if let Some(until) = prewarm_until {
                        *until = (*until).max(Instant::now() + self.scaled(self.policy.prewarm_ttl));
                    }
                    false
                }
                Some(Office::Waking { .. } | Office::Sleeping) => false,
                Some(Office::Asleep) | None => {
                    // As the engine does: at most `max_prewarms` offices up on typing alone.
                    let prewarmed = offices
                        .values()
                        .filter(|o| {
                            matches!(
                                o,
                                Office::Waking { why: WakeFor::Signal, .. }
                                    | Office::Up { prewarm_until: Some(_), foreseen: false, .. }
                            )
                        })
                        .count();
                    if prewarmed >= self.policy.max_prewarms {
                        self.tally.lock().unwrap().prewarms_at_capacity += 1;
                        false
                    } else {
                        true
                    }
                }
            }
        };
        if asleep {
            self.wake(office, WakeFor::Signal).await;
        }
    }

    async fn on_prompt(self: &Arc<Self>, office: &str, work: f64, announced: Option<Announced>) {
        let submitted = Instant::now();
        self.prompt_times.lock().unwrap().entry(office.to_owned()).or_default().push(self.trace_ms(submitted));
        let typed = announced == Some(Announced::Typing);
        let chattered = announced == Some(Announced::Chatter);
        {
            let mut tally = self.tally.lock().unwrap();
            tally.typed += usize::from(typed);
            tally.chattered += usize::from(chattered);
        }
        let ready = {
            let mut offices = self.offices.lock().unwrap();
            match offices.get_mut(office) {
                Some(Office::Up { busy_until, last_active, prewarm_until, foreseen, .. }) => {
                    let now = Instant::now();
                    *busy_until = (*busy_until).max(now) + self.scaled(Duration::from_secs_f64(work));
                    *last_active = now;
                    let mut tally = self.tally.lock().unwrap();
                    tally.prompt_found(prewarm_until, foreseen);
                    tally.ready_at_submit += 1;
                    tally.ready_typed += usize::from(typed);
                    tally.ready_chattered += usize::from(chattered);
                    tally.waits.push(0.0);
                    return;
                }
                Some(Office::Waking { ready, why }) => {
                    let mut tally = self.tally.lock().unwrap();
                    match why {
                        WakeFor::Signal => tally.missed.prewarm_restoring += 1,
                        WakeFor::Habit { .. } => tally.missed.foreseen_restoring += 1,
                        WakeFor::Prompt => tally.missed.behind_another_wake += 1,
                    }
                    Some(ready.clone())
                }
                Some(Office::Sleeping) => {
                    self.tally.lock().unwrap().missed.going_to_sleep += 1;
                    None
                }
                Some(Office::Asleep) | None => {
                    self.tally.lock().unwrap().missed.asleep += 1;
                    None
                }
            }
        };
        let ready = match ready {
            Some(ready) => Some(ready),
            None => self.wake(office, WakeFor::Prompt).await,
        };
        let sim = Arc::clone(self);
        let office = office.to_owned();
        tokio::spawn(async move {
            if let Some(mut ready) = ready {
                let _ = ready.wait_for(|up| *up).await;
            }
            // Sleeping (snapshotting) or a failed wake: try again until it is up.
            loop {
                let state = sim.offices.lock().unwrap().get(&office).cloned();
                match state {
                    Some(Office::Up { .. }) => break,
                    Some(Office::Waking { mut ready, .. }) => {
                        let _ = ready.wait_for(|up| *up).await;
                    }
                    Some(Office::Asleep) | None => {
                        if let Some(mut ready) = sim.wake(&office, WakeFor::Prompt).await {
                            let _ = ready.wait_for(|up| *up).await;
                        }
                    }
                    Some(Office::Sleeping) => tokio::time::sleep(sim.scaled(Duration::from_secs(1))).await,
                }
            }
            let waited = submitted.elapsed().as_secs_f64() / sim.factor;
            let mut offices = sim.offices.lock().unwrap();
            if let Some(Office::Up { busy_until, last_active, prewarm_until, foreseen, .. }) = offices.get_mut(&office)
            {
                let now = Instant::now();
                *busy_until = (*busy_until).max(now) + sim.scaled(Duration::from_secs_f64(work));
                *last_active = now;
                let mut tally = sim.tally.lock().unwrap();
                tally.prompt_found(prewarm_until, foreseen);
                tally.waits.push(waited);
            }
        });
    }

    /// Puts offices to sleep: idle past the timeout, or prewarmed with no prompt.
    async fn sweep(self: &Arc<Self>) {
        let now = Instant::now();
        let mut going = Vec::new();
        {
            let prompt_times = self.prompt_times.lock().unwrap();
            let mut offices = self.offices.lock().unwrap();
            for (name, office) in offices.iter_mut() {
                if let Office::Up { vm, busy_until, last_active, prewarm_until, announced, foreseen } = office {
                    let idle = self.scaled(if *announced {
                        self.policy.idle_timeout
                    } else {
                        self.policy.idle_timeout_without_signals
                    });
                    let expired = prewarm_until.is_some_and(|until| now >= until);
                    let idled = prewarm_until.is_none()
                        && now >= *busy_until
                        && now.duration_since(*last_active) >= idle
                        && orchestrator::demand::keep_up_until(
                            prompt_times.get(name).map_or(&[], Vec::as_slice),
                            self.trace_ms(*last_active),
                            self.policy.return_interval,
                        )
                        .is_none_or(|until| self.trace_ms(now) >= until);
                    if (expired && now >= *busy_until) || idled {
                        if expired {
                            let mut tally = self.tally.lock().unwrap();
                            if *foreseen {
                                tally.foreseen_expired += 1;
                            } else {
                                tally.prewarm_expired += 1;
                            }
                        }
                        // A prewarm no prompt followed ran nothing: it sleeps on the
                        // snapshot it was restored from, without storing a new one.
                        going.push((name.clone(), vm.clone(), !expired));
                        *office = Office::Sleeping;
                    }
                }
            }
        }
        for (name, vm, snapshot) in going {
            let sim = Arc::clone(self);
            tokio::spawn(async move {
                if snapshot {
                    tokio::time::sleep(sim.draw(sim.policy.snapshot)).await;
                }
                if let Err(error) = sim.fleet.release(&vm).await {
                    tracing::warn!(vm = %vm.name, "cannot delete: {error:#}");
                }
                *sim.tally.lock().unwrap().live.entry(name.clone()).or_default() -= 1;
                let generation = sim.store.office(&name).await.ok().flatten().map(|row| row.generation);
                sim.asleep(&name, generation.unwrap_or_default()).await;
            });
        }
    }
}

/// What a run measured.
/// Where the report charges pool VMs no office claimed.
pub const WARM_POOL: &str = "(warm pool)";

#[derive(Debug, Clone)]
pub struct Report {
    pub kind: String,
    pub offices: usize,
    pub hours: f64,
    pub prompts: usize,
    pub ready_at_submit: f64,
    /// Prompts a typing signal announced: how many, and the share that found their office ready.
    pub typed_prompts: usize,
    pub ready_typed: f64,
    pub ready_untyped: f64,
    /// Prompts chatter (and no typing) announced: how many, and the share found ready.
    pub chatter_prompts: usize,
    pub ready_chatter: f64,
    pub wait_p50: f64,
    pub wait_p95: f64,
    pub wait_p99: f64,
    pub vm_hours: f64,
    /// What the machines cost, per office (and [`WARM_POOL`] for pool VMs never claimed).
    pub dollars: BTreeMap<String, f64>,
    pub dollars_by_tier: BTreeMap<u8, f64>,
    /// Keeping every office's snapshot in object storage for the trace's hours.
    pub storage_dollars: f64,
    pub always_on_hours: f64,
    pub pool_waste_hours: f64,
    pub calls_per_minute_mean: f64,
    pub calls_per_minute_max: usize,
    pub quota_per_minute: u32,
    pub duplicates: usize,
    pub overhead_p99_ms: f64,
    pub prewarms: usize,
    pub prewarm_hits: usize,
    pub prewarm_expired: usize,
    pub prewarms_at_capacity: usize,
    /// Wakes ahead of offices' habits: how many, how many a prompt found up, how many went unused.
    pub foreseen: usize,
    pub foreseen_hits: usize,
    pub foreseen_expired: usize,
    pub wakes: usize,
    pub fresh_wakes: usize,
    pub wake_failures: usize,
    pub missed: Missed,
    /// Prompts nothing announced that were their office's first of the trace: no policy
    /// short of keeping every office up from the start has them ready, but for one that
    /// knows its offices' habits from the days before (a trace with history).
    pub out_of_reach: usize,
    pub real_seconds: f64,
    /// What was simulated, so a printed report says which policy its figures are for.
    pub policy: Policy,
}

impl Report {
    /// The share of prompts nothing announced (no typing, no chatter) that found their office ready.
    pub fn ready_unannounced(&self) -> f64 {
        let untyped = (self.prompts - self.typed_prompts) as f64;
        let chattered = self.chatter_prompts as f64;
        let unannounced = untyped - chattered;
        if unannounced <= 0.0 {
            return 0.0;
        }
        (self.ready_untyped * untyped - self.ready_chatter * chattered) / unannounced
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} trace: {} offices, {:.0} h, {} prompts ({:.0} s real)",
            self.kind, self.offices, self.hours, self.prompts, self.real_seconds
        )?;
        let policy = &self.policy;
        writeln!(
            f,
            "  policy:               idle timeout {} ({} if woken unannounced; longer for sessions more often than once in {}), woken ahead of habits kept on {:.0}% of days, pool {}–{} VMs per tier (TTL {}), prewarm up to {} offices for {}",
            humantime::format_duration(policy.idle_timeout),
            humantime::format_duration(policy.idle_timeout_without_signals),
            humantime::format_duration(policy.return_interval),
            policy.habit_share * 100.0,
            policy.pool.floor,
            policy.pool.ceiling,
            humantime::format_duration(policy.pool.ttl),
            policy.max_prewarms,
            humantime::format_duration(policy.prewarm_ttl)
        )?;
        writeln!(
            f,
            "  ready at submit:      {:.1}% (typed first: {:.1}% of {}; untyped: {:.1}% of {})",
            self.ready_at_submit * 100.0,
            self.ready_typed * 100.0,
            self.typed_prompts,
            self.ready_untyped * 100.0,
            self.prompts - self.typed_prompts
        )?;
        if self.chatter_prompts > 0 {
            writeln!(
                f,
                "  of the untyped:       {:.1}% of {} announced by chatter; {:.1}% of {} by nothing",
                self.ready_chatter * 100.0,
                self.chatter_prompts,
                self.ready_unannounced() * 100.0,
                self.prompts - self.typed_prompts - self.chatter_prompts
            )?;
        }
        let missed = &self.missed;
        writeln!(
            f,
            "  not ready because:    {} prewarm still restoring, {} woken for a habit still restoring, {} asleep with no signal, {} waking for an earlier prompt, {} going to sleep",
            missed.prewarm_restoring,
            missed.foreseen_restoring,
            missed.asleep,
            missed.behind_another_wake,
            missed.going_to_sleep
        )?;
        let untyped = self.prompts - self.typed_prompts;
        if untyped > 0 {
            writeln!(
                f,
                "  first of the day:     {} unannounced prompts were their office's first of the trace (untyped ready {:.1}% at most, but for habits)",
                self.out_of_reach,
                100.0 * (1.0 - self.out_of_reach as f64 / untyped as f64)
            )?;
        }
        writeln!(
            f,
            "  time to ready:        p50 {:.1} s  p95 {:.1} s  p99 {:.1} s",
            self.wait_p50, self.wait_p95, self.wait_p99
        )?;
        writeln!(
            f,
            "  VM-hours:             {:.1} of {:.0} always-on ({:.1}%)",
            self.vm_hours,
            self.always_on_hours,
            100.0 * self.vm_hours / self.always_on_hours
        )?;
        writeln!(f, "  pool waste:           {:.1} VM-hours never claimed", self.pool_waste_hours)?;
        // From 0.0: an empty `sum()` of f64 is -0.0, printed "$-0.00".
        let total = self.dollars.values().fold(0.0, |total, usd| total + usd);
        let mut by_office: Vec<(&String, &f64)> = self.dollars.iter().filter(|(o, _)| *o != WARM_POOL).collect();
        by_office.sort_by(|a, b| b.1.total_cmp(a.1));
        let top: Vec<String> = by_office.iter().take(5).map(|(o, usd)| format!("{o} ${usd:.2}")).collect();
        writeln!(
            f,
            "  machine cost:         ${total:.2} (most: {}; warm pool never claimed ${:.2})",
            top.join(", "),
            self.dollars.get(WARM_POOL).copied().unwrap_or(0.0)
        )?;
        let tiers: Vec<String> =
            self.dollars_by_tier.iter().map(|(tier, usd)| format!("tier {tier} ${usd:.2}")).collect();
        writeln!(f, "  by tier:              {}", tiers.join(", "))?;
        writeln!(
            f,
            "  snapshot storage:     ${:.2} ({} offices × {} GB); all in ${:.2}",
            self.storage_dollars,
            self.offices,
            self.policy.snapshot_gb,
            total + self.storage_dollars
        )?;
        writeln!(
            f,
            "  API writes per minute: mean {:.1}, max {} (quota {})",
            self.calls_per_minute_mean, self.calls_per_minute_max, self.quota_per_minute
        )?;
        writeln!(
            f,
            "  prewarms:             {} ({} hit, {} expired and slept on their snapshot; {} signals dropped at capacity)",
            self.prewarms, self.prewarm_hits, self.prewarm_expired, self.prewarms_at_capacity
        )?;
        writeln!(
            f,
            "  habits:               {} offices woken ahead of a habit ({} found up by a prompt, {} slept unused)",
            self.foreseen, self.foreseen_hits, self.foreseen_expired
        )?;
        writeln!(
            f,
            "  wakes:                {} ({} on a fresh VM: the pool was empty; {} failed)",
            self.wakes, self.fresh_wakes, self.wake_failures
        )?;
        writeln!(f, "  orchestration p99:    {:.1} ms (signal → VM claimed or first GCE call)", self.overhead_p99_ms)?;
        write!(f, "  duplicate VMs:        {}", self.duplicates)
    }
}

/// Prompts nothing announced that were the first their office got.
fn out_of_reach(events: &[Event], announced: &HashMap<usize, Announced>) -> usize {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .enumerate()
        .filter(|(at, event)| {
            event.kind == EventKind::Prompt && seen.insert(event.office.as_str()) && !announced.contains_key(at)
        })
        .count()
}

/// The prompts (by index) that their person announced, and how: a signal from them for
/// the same office since their last prompt there (typing wins over chatter).
fn announced(events: &[Event]) -> HashMap<usize, Announced> {
    let mut signals: HashMap<(&str, &str), Announced> = HashMap::new();
    let mut announced = HashMap::new();
    for (at, event) in events.iter().enumerate() {
        let key = (event.office.as_str(), event.user.as_str());
        match event.kind {
            EventKind::Typing => drop(signals.insert(key, Announced::Typing)),
            EventKind::Chatter => drop(signals.entry(key).or_insert(Announced::Chatter)),
            EventKind::Prompt => {
                if let Some(how) = signals.remove(&key) {
                    announced.insert(at, how);
                }
            }
        }
    }
    announced
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Runs a trace at `factor` (0.002: a simulated day takes about three minutes).
pub async fn run(header: Header, mut events: Vec<Event>, factor: f64, policy: Policy) -> anyhow::Result<Report> {
    let started = Instant::now();
    // The fleet's past (events before the trace starts): the prompt times the store
    // would hold, read by the policy, not played.
    let mut prompt_times: HashMap<String, Vec<i64>> = HashMap::new();
    let past = events.partition_point(|e| e.t < 0.0);
    for event in events.drain(..past).filter(|e| e.kind == EventKind::Prompt) {
        prompt_times.entry(event.office).or_default().push((event.t * 1000.0) as i64);
    }
    let gce = FakeGce::start(GceOptions {
        time_factor: factor,
        writes_per_minute: policy.writes_per_minute,
        ..GceOptions::default()
    })
    .await?;
    let data = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", data.path().join("sim.db").display())).await?;
    store.ensure_offices(header.offices.iter().map(|o| o.name.as_str())).await?;
    let tokens = gcp_auth::CustomServiceAccount::from_json(&gce.service_account_json())?;
    let zones = vec!["europe-west1-b".to_owned(), "europe-west1-c".to_owned(), "europe-west1-d".to_owned()];
    let mut settings =
        GceSettings::new(&gce.api_url, gce.project(), zones, "projects/nova-test/global/images/office-1");
    settings.agent_url = gce.agent_url_template();
    let scale = |d: Duration| d.mul_f64(factor);
    settings.boot_timeout = scale(settings.boot_timeout);
    settings.health_timeout = scale(settings.health_timeout);
    settings.rate_limit_pause = scale(settings.rate_limit_pause);
    settings.breaker_cooldown = scale(settings.breaker_cooldown);
    let backend = Arc::new(GceBackend::new(settings, Arc::new(tokens))?);
    let mut pool = policy.pool.clone();
    pool.ttl = scale(pool.ttl);
    pool.demand_window = scale(pool.demand_window);
    pool.burst_span = scale(pool.burst_span);
    pool.pass_interval = scale(pool.pass_interval);
    let mut used: Vec<&'static Tier> = header.offices.iter().filter_map(|o| tiers::tier(o.tier)).collect();
    used.sort_by_key(|t| t.number);
    used.dedup_by_key(|t| t.number);
    let fleet = Fleet::new(store.clone(), backend, pool, "sim", used);
    let reconciler = tokio::spawn(Arc::clone(&fleet).run());
    let tiers = header
        .offices
        .iter()
        .map(|o| {
            Ok((o.name.clone(), tiers::tier(o.tier).with_context(|| format!("office {} has tier {}", o.name, o.tier))?))
        })
        .collect::<anyhow::Result<HashMap<_, _>>>()?;
    let origin = tokio::time::Instant::now();
    let sim = Arc::new(Sim {
        fleet,
        store,
        gce,
        factor,
        policy: policy.clone(),
        tiers,
        offices: Mutex::new(HashMap::new()),
        tally: Mutex::new(Tally::default()),
        rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(11)),
        recent_signals: Mutex::new(HashMap::new()),
        origin: origin.into_std(),
        prompt_times: Mutex::new(prompt_times),
        foreseen: Mutex::new(HashMap::new()),
    });
    for office in &header.offices {
        sim.foresee(&office.name);
    }
    let sweeper = {
        let sim = Arc::clone(&sim);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(sim.scaled(Duration::from_secs(5))).await;
                sim.sweep().await;
                sim.wake_foreseen().await;
            }
        })
    };
    let prompts = events.iter().filter(|e| e.kind == EventKind::Prompt).count();
    let announced = announced(&events);
    for (at, event) in events.iter().enumerate() {
        tokio::time::sleep_until(origin + Duration::from_secs_f64(event.t * factor)).await;
        match event.kind {
            EventKind::Typing | EventKind::Chatter => sim.on_signal(&event.office, &event.user).await,
            EventKind::Prompt => sim.on_prompt(&event.office, event.work, announced.get(&at).copied()).await,
        }
    }
    tokio::time::sleep_until(origin + Duration::from_secs_f64(header.hours * 3600.0 * factor)).await;
    // Every prompt has been answered by now (or waits for a wake still in flight).
    let guard = Instant::now() + Duration::from_secs(60);
    while sim.tally.lock().unwrap().waits.len() < prompts && Instant::now() < guard {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sweeper.abort();
    reconciler.abort();

    let end = Instant::now();
    let tally = std::mem::take(&mut *sim.tally.lock().unwrap());
    let mut waits = tally.waits.clone();
    waits.sort_by(f64::total_cmp);
    let mut overhead = tally.overhead_ms.clone();
    overhead.sort_by(f64::total_cmp);
    let hours_of = |from: Instant, to: Option<Instant>| {
        to.unwrap_or(end).min(end).saturating_duration_since(from).as_secs_f64() / factor / 3600.0
    };
    let instances = sim.gce.all_instances();
    let vm_hours = instances.iter().map(|i| hours_of(i.created, i.deleted_at)).fold(0.0, |total, hours| total + hours);
    let pool_waste_hours: f64 = instances
        .iter()
        .filter(|i| i.name.starts_with("nova-pool-") && !tally.pool_claims.contains_key(&i.name))
        .map(|i| hours_of(i.created, i.deleted_at))
        // Not `sum()`: an empty float sum is -0.0, printed "-0.0".
        .fold(0.0, |total, hours| total + hours);
    // Dollars: each VM's hours at its machine type's price, charged to the office it
    // served (a pool VM to the office that claimed it; one never claimed to the pool).
    let mut dollars: BTreeMap<String, f64> = BTreeMap::new();
    let mut dollars_by_tier: BTreeMap<u8, f64> = BTreeMap::new();
    for instance in &instances {
        let tier = tiers::TIERS.iter().find(|t| instance.machine_type.ends_with(t.machine_type));
        let price = tier.map_or(0.0, |t| t.usd_per_hour);
        *dollars_by_tier.entry(tier.map_or(0, |t| t.number)).or_default() +=
            hours_of(instance.created, instance.deleted_at) * price;
        let owner = match tally.pool_claims.get(&instance.name) {
            Some(office) => office.clone(),
            None if instance.name.starts_with("nova-pool-") => WARM_POOL.to_owned(),
            None => provisioner::gce::parse_instance_name(&instance.name)
                .map_or_else(|| instance.name.clone(), |(office, _)| office.to_owned()),
        };
        *dollars.entry(owner).or_default() += hours_of(instance.created, instance.deleted_at) * price;
    }
    let calls = sim.gce.calls();
    let minute = Duration::from_secs(60).mul_f64(factor);
    let mut per_minute: HashMap<u64, usize> = HashMap::new();
    // The quota counts writes; reads are cheap and separately limited.
    let writes: Vec<_> = calls.iter().filter(|c| c.method != "GET").collect();
    for call in &writes {
        let bucket = (call.at.saturating_duration_since(started).as_secs_f64() / minute.as_secs_f64()) as u64;
        *per_minute.entry(bucket).or_default() += 1;
    }
    let minutes = (header.hours * 60.0).max(1.0);
    Ok(Report {
        kind: header.kind.clone(),
        offices: header.offices.len(),
        hours: header.hours,
        prompts,
        ready_at_submit: tally.ready_at_submit as f64 / prompts.max(1) as f64,
        typed_prompts: tally.typed,
        ready_typed: tally.ready_typed as f64 / tally.typed.max(1) as f64,
        ready_untyped: (tally.ready_at_submit - tally.ready_typed) as f64 / (prompts - tally.typed).max(1) as f64,
        chatter_prompts: tally.chattered,
        ready_chatter: tally.ready_chattered as f64 / tally.chattered.max(1) as f64,
        wait_p50: percentile(&waits, 0.50),
        wait_p95: percentile(&waits, 0.95),
        wait_p99: percentile(&waits, 0.99),
        vm_hours,
        dollars,
        dollars_by_tier,
        storage_dollars: header.offices.len() as f64 * policy.snapshot_gb * STORAGE_USD_PER_GB_MONTH * header.hours
            / HOURS_PER_MONTH,
        always_on_hours: header.offices.len() as f64 * header.hours,
        pool_waste_hours,
        calls_per_minute_mean: writes.len() as f64 / minutes,
        calls_per_minute_max: per_minute.values().copied().max().unwrap_or(0),
        quota_per_minute: policy.writes_per_minute,
        duplicates: tally.duplicates,
        overhead_p99_ms: percentile(&overhead, 0.99),
        prewarms: tally.prewarms,
        prewarm_hits: tally.prewarm_hits,
        prewarm_expired: tally.prewarm_expired,
        prewarms_at_capacity: tally.prewarms_at_capacity,
        foreseen: tally.foreseen,
        foreseen_hits: tally.foreseen_hits,
        foreseen_expired: tally.foreseen_expired,
        wakes: tally.wakes,
        fresh_wakes: tally.fresh_wakes,
        missed: tally.missed,
        out_of_reach: out_of_reach(&events, &announced),
        wake_failures: tally.wake_failures,
        real_seconds: started.elapsed().as_secs_f64(),
        policy: policy.clone(),
    })
}

// ---- tuning ------------------------------------------------------------------------

/// What a policy has to achieve on a trace (the goal of #21 by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// Ready at submit, for prompts typing announced …
    pub typed: f64,
    /// … and for the others.
    pub untyped: f64,
    /// VM-hours at most this share of always-on.
    pub vm_share: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Self { typed: 0.97, untyped: 0.85, vm_share: 0.20 }
    }
}

impl Targets {
    /// How far a report falls short of the targets, summed over them (0: met). A kind
    /// of prompt the trace does not have cannot fall short; a duplicate VM never passes.
    pub fn shortfall(&self, report: &Report) -> f64 {
        if report.duplicates > 0 {
            return f64::INFINITY;
        }
        let untyped = report.prompts - report.typed_prompts;
        let typed = if report.typed_prompts > 0 { (self.typed - report.ready_typed).max(0.0) } else { 0.0 };
        let untyped = if untyped > 0 { (self.untyped - report.ready_untyped).max(0.0) } else { 0.0 };
        let vm_share = (report.vm_hours / report.always_on_hours - self.vm_share).max(0.0);
        typed + untyped + vm_share
    }
}

impl Report {
    /// Machines and snapshot storage, in dollars.
    pub fn total_dollars(&self) -> f64 {
        self.dollars.values().fold(self.storage_dollars, |total, usd| total + usd)
    }
}

/// A knob `--tune` turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    IdleTimeout,
    IdleTimeoutWithoutSignals,
    ReturnInterval,
    HabitShare,
    PoolFloor,
    PrewarmTtl,
}

/// The knobs `--tune` turns, and the settings it tries for each, around the defaults.
pub fn knobs() -> Vec<(Knob, Vec<f64>)> {
    vec![
        (Knob::IdleTimeoutWithoutSignals, vec![45.0 * 60.0, 90.0 * 60.0, 150.0 * 60.0, 240.0 * 60.0]),
        (Knob::IdleTimeout, vec![15.0 * 60.0, 30.0 * 60.0, 45.0 * 60.0, 60.0 * 60.0]),
        (Knob::ReturnInterval, vec![0.0, 3.0 * 3600.0, 5.0 * 3600.0, 8.0 * 3600.0]),
        (Knob::HabitShare, vec![0.0, 0.3, 0.5, 0.7]),
        (Knob::PoolFloor, vec![0.0, 1.0, 2.0]),
        (Knob::PrewarmTtl, vec![60.0, 90.0, 180.0]),
    ]
}

impl Knob {
    /// The policy with this knob set (durations in seconds, the floor in VMs).
    fn set(self, policy: &Policy, value: f64) -> Policy {
        let mut policy = policy.clone();
        match self {
            Knob::IdleTimeout => policy.idle_timeout = Duration::from_secs_f64(value),
            Knob::IdleTimeoutWithoutSignals => policy.idle_timeout_without_signals = Duration::from_secs_f64(value),
            Knob::ReturnInterval => policy.return_interval = Duration::from_secs_f64(value),
            Knob::HabitShare => policy.habit_share = value,
            Knob::PoolFloor => {
                policy.pool.floor = value as usize;
                policy.pool.ceiling = policy.pool.ceiling.max(policy.pool.floor);
            }
            Knob::PrewarmTtl => policy.prewarm_ttl = Duration::from_secs_f64(value),
        }
        policy
    }

    fn get(self, policy: &Policy) -> f64 {
        match self {
            Knob::IdleTimeout => policy.idle_timeout.as_secs_f64(),
            Knob::IdleTimeoutWithoutSignals => policy.idle_timeout_without_signals.as_secs_f64(),
            Knob::ReturnInterval => policy.return_interval.as_secs_f64(),
            Knob::HabitShare => policy.habit_share,
            Knob::PoolFloor => policy.pool.floor as f64,
            Knob::PrewarmTtl => policy.prewarm_ttl.as_secs_f64(),
        }
    }
}

/// Whether `a` beats `b`: meeting the targets first, then the smaller shortfall, then
/// the cheaper.
fn beats(a: &Report, b: &Report, targets: &Targets) -> bool {
    let (short_a, short_b) = (targets.shortfall(a), targets.shortfall(b));
    if (short_a - short_b).abs() > 1e-3 {
        return short_a < short_b;
    }
    a.total_dollars() < b.total_dollars()
}

/// Looks for the cheapest policy that meets `targets` on a trace, one knob at a time
/// from `start` (each setting of a knob is tried with the best of the others so far),
/// running every candidate through the full simulation. Returns the best policy's
/// report; `tried` hears of every run as it ends.
pub async fn tune(
    header: &Header,
    events: &[Event],
    factor: f64,
    start: Policy,
    targets: Targets,
    knobs: &[(Knob, Vec<f64>)],
    mut tried: impl FnMut(&Report),
) -> anyhow::Result<Report> {
    let mut best = run(header.clone(), events.to_vec(), factor, start).await?;
    tried(&best);
    for (knob, settings) in knobs {
        let current = best.policy.clone();
        for &setting in settings {
            if (knob.get(&current) - setting).abs() < f64::EPSILON {
                continue;
            }
            let report = run(header.clone(), events.to_vec(), factor, knob.set(&current, setting)).await?;
            tried(&report);
            if beats(&report, &best, &targets) {
                best = report;
            }
        }
    }
    Ok(best)
}

/// One line per tried policy: its knobs, what it achieved, what it costs.
pub fn summary(report: &Report, targets: &Targets) -> String {
    let policy = &report.policy;
    let shortfall = targets.shortfall(report);
    format!(
        "idle {} / unannounced {} / returning {} / habits {:.0}% / pool floor {} / prewarm {}: typed {:.1}%, untyped {:.1}%, VM-hours {:.1}% of always-on, ${:.2}{}",
        humantime::format_duration(policy.idle_timeout),
        humantime::format_duration(policy.idle_timeout_without_signals),
        humantime::format_duration(policy.return_interval),
        policy.habit_share * 100.0,
        policy.pool.floor,
        humantime::format_duration(policy.prewarm_ttl),
        report.ready_typed * 100.0,
        report.ready_untyped * 100.0,
        100.0 * report.vm_hours / report.always_on_hours,
        report.total_dollars(),
        if shortfall == 0.0 {
            " (meets the targets)".to_owned()
        } else {
            format!(" (short by {:.1} points)", shortfall * 100.0)
        }
    )
}

/// A policy as the `[provisioner]` lines that select it.
pub fn provisioner_toml(policy: &Policy) -> String {
    format!(
        "[provisioner]\nidle_timeout = \"{}\"\nidle_timeout_without_signals = \"{}\"\nreturn_interval = \"{}\"\nhabit_share = {}\nprewarm_ttl = \"{}\"\nmax_prewarms = {}\npool_floor = {}\npool_ceiling = {}\npool_ttl = \"{}\"\n",
        humantime::format_duration(policy.idle_timeout),
        humantime::format_duration(policy.idle_timeout_without_signals),
        humantime::format_duration(policy.return_interval),
        policy.habit_share,
        humantime::format_duration(policy.prewarm_ttl),
        policy.max_prewarms,
        policy.pool.floor,
        policy.pool.ceiling,
        humantime::format_duration(policy.pool.ttl),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_traces_type_before_each_prompt_and_slack_traces_never_do() {
        let (header, discord) = generate("discord", 30, 24.0, 5).unwrap();
        assert_eq!(header.offices.len(), 30);
        let prompts = discord.iter().filter(|e| e.kind == EventKind::Prompt).count();
        let typing = discord.iter().filter(|e| e.kind == EventKind::Typing).count();
        assert!(prompts > 30 && typing == prompts, "{prompts} prompts, {typing} typing signals");
        assert!(discord.windows(2).all(|w| w[0].t <= w[1].t), "events in time order");
        let (_, slack) = generate("slack", 30, 24.0, 5).unwrap();
        assert!(slack.iter().all(|e| e.kind == EventKind::Prompt));
        assert!(generate("irc", 1, 1.0, 1).is_err());
    }

    #[test]
    fn a_prompt_is_announced_by_its_person_typing_or_talking_about_the_office_since_their_last_prompt() {
        let event = |t: f64, kind: EventKind, office: &str, user: &str| Event {
            t,
            kind,
            office: office.into(),
            user: user.into(),
            work: 0.0,
        };
        let events = [
            event(0.0, EventKind::Typing, "maker", "u1"),
            event(30.0, EventKind::Prompt, "maker", "u1"),
            event(31.0, EventKind::Prompt, "maker", "u2"),
            event(32.0, EventKind::Prompt, "writer", "u1"),
            event(500.0, EventKind::Prompt, "maker", "u1"),
            event(900.0, EventKind::Typing, "writer", "u2"),
            event(1500.0, EventKind::Prompt, "writer", "u2"),
            event(1600.0, EventKind::Chatter, "maker", "u3"),
            event(1610.0, EventKind::Typing, "maker", "u3"),
            event(1620.0, EventKind::Prompt, "maker", "u3"),
            event(1700.0, EventKind::Chatter, "analyst", "u3"),
            event(1800.0, EventKind::Prompt, "analyst", "u3"),
            event(1900.0, EventKind::Chatter, "analyst", "u1"),
            event(2000.0, EventKind::Prompt, "analyst", "u2"),
        ];
        // The second maker prompt of u1 had no signal of its own; u3 talked, then typed
        // to the maker (typing counts); their talk about the analyst's work announced
        // their prompt there; u1's talk does not announce u2's prompt.
        let expected =
            [(1, Announced::Typing), (6, Announced::Typing), (9, Announced::Typing), (11, Announced::Chatter)];
        assert_eq!(announced(&events), expected.into_iter().collect());
        // The maker's and the analyst's first prompts were announced; the writer's was not.
        assert_eq!(out_of_reach(&events, &announced(&events)), 1);
        let (_, discord) = generate("discord", 10, 24.0, 1).unwrap();
        let prompts = discord.iter().filter(|e| e.kind == EventKind::Prompt).count();
        assert_eq!(announced(&discord).len(), prompts, "every discord prompt is typed first");
    }

    #[test]
    fn the_same_seed_gives_the_same_day() {
        let one = generate("slack", 10, 24.0, 9).unwrap().1;
        let two = generate("slack", 10, 24.0, 9).unwrap().1;
        assert_eq!(serde_json::to_string(&one).unwrap(), serde_json::to_string(&two).unwrap());
    }

    #[test]
    fn traces_round_trip_through_a_file() {
        let (header, events) = generate("discord", 3, 24.0, 2).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        write_trace(&header, &events, &mut file.as_file()).unwrap();
        let (read_header, read_events) = read_trace(file.path()).unwrap();
        assert_eq!(read_header.offices.len(), 3);
        assert_eq!(read_events.len(), events.len());
        std::fs::write(file.path(), "{\"kind\":\"x\"}\n").unwrap();
        let error = format!("{:#}", read_trace(file.path()).unwrap_err());
        assert!(error.contains(":1: not a trace header"), "{error}");
    }
}

#[cfg(test)]
mod report_text {
    use super::*;

    /// What `nova simulate` prints, from fixed figures (a run's own vary with its random
    /// restore times, so the text is pinned here rather than from a run).
    #[test]
    fn the_report_reads_the_same_for_the_same_figures() {
        let report = Report {
            kind: "generated (seed 1)".to_owned(),
            offices: 120,
            hours: 24.0,
            prompts: 1000,
            ready_at_submit: 0.9,
            typed_prompts: 500,
            ready_typed: 0.97,
            ready_untyped: 0.83,
            chatter_prompts: 100,
            ready_chatter: 0.95,
            wait_p50: 0.0,
            wait_p95: 6.5,
            wait_p99: 61.0,
            vm_hours: 400.0,
            dollars: BTreeMap::from([
                ("office-001".to_owned(), 1.5),
                ("office-002".to_owned(), 1.25),
                (WARM_POOL.to_owned(), 3.0),
            ]),
            dollars_by_tier: BTreeMap::from([(2, 1.25), (4, 4.5)]),
            storage_dollars: 0.16,
            always_on_hours: 2880.0,
            pool_waste_hours: 40.0,
            calls_per_minute_mean: 0.5,
            calls_per_minute_max: 14,
            quota_per_minute: 600,
            duplicates: 0,
            overhead_p99_ms: 2.5,
            prewarms: 480,
            prewarm_hits: 460,
            prewarm_expired: 20,
            prewarms_at_capacity: 3,
            foreseen: 30,
            foreseen_hits: 24,
            foreseen_expired: 6,
            wakes: 300,
            fresh_wakes: 12,
            wake_failures: 0,
            missed: Missed {
                prewarm_restoring: 15,
                foreseen_restoring: 2,
                behind_another_wake: 4,
                asleep: 80,
                going_to_sleep: 1,
            },
            out_of_reach: 40,
            real_seconds: 170.0,
            policy: Policy::default(),
        };
        insta::assert_snapshot!(report.to_string());
    }
}
