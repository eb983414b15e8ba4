//! Predictive warm-up: someone is typing, or talking in a channel about work an office
//! does, so wake the office their message will most likely go to before they send it.
//!
//! A prewarm is *soft*: it is rate-limited per person and office, capped in number,
//! and the office goes back to sleep at `prewarm_until` unless a prompt arrives first
//! (then it is an ordinary awake office). Hits, expiries and their timings go to the
//! audit trail and to metrics, so the policy can be judged on real traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use crate::router::RouteRequest;
use crate::store::{OfficeState, Surface, now_ms, offices};

/// Discord repeats a typing signal about every 10 s while someone types; one prewarm
/// (or extension) per person and office in this window is plenty.
const SIGNAL_INTERVAL: Duration = Duration::from_secs(8);

/// Someone is about to write in `channel` (or in the session `thread`).
#[derive(Debug, Clone)]
pub struct WarmSignal {
    pub surface: Surface,
    /// The channel's name, as channel bindings in nova.toml use it.
    pub channel: String,
    pub user: String,
    /// The session thread they are typing in, if any: its office is the likely one.
    pub thread: Option<String>,
    /// What they said where Nova listens but was not addressed (a channel without a
    /// binding, a thread that is no session): people talk about a problem before they
    /// ask for help with it. Only routed, to name the office; never stored or logged.
    pub chatter: Option<String>,
}

/// What a warm signal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prewarm {
    /// The office was asleep and is now waking, for `prewarm_ttl` unless a prompt follows.
    Waking { office: String, generation: i64 },
    /// The office was already prewarming; its deadline moved on.
    Extended { office: String },
    /// The office is already up (or on its way down); nothing to do but keep it up.
    AlreadyAwake { office: String },
    /// The same person signalled for the same office moments ago.
    RateLimited { office: String },
    /// Already `max_prewarms` offices up on typing alone.
    AtCapacity { office: String },
    /// Nothing in the channel points at one office clearly enough.
    NoLikelyOffice,
    /// The office has spent its budget: it is not woken for what may come.
    OverBudget { office: String },
}

impl Engine {
    /// Acts on a typing signal. Cheap when it does nothing, so surfaces call it for
    /// every signal they get.
    pub async fn prewarm(self: &Arc<Self>, signal: WarmSignal) -> anyhow::Result<Prewarm> {
        let settings = &self.config().provisioner;
        if settings.max_prewarms == 0 {
            return Ok(Prewarm::NoLikelyOffice);
        }
        let source = if signal.chatter.is_some() { "chatter" } else { "typing" };
        let Some(office) = self.likely_office(&signal).await? else {
            metrics::counter!("nova_prewarm_signals_total", "outcome" => "no_office", "source" => source).increment(1);
            return Ok(Prewarm::NoLikelyOffice);
        };
        // Its people give warning: the office need not stay up for unannounced prompts,
        // and a warm VM of its tier will let the next prewarm beat their prompt.
        self.unannounced.lock().expect("unannounced lock").remove(&office);
        if let Some(fleet) = self.fleet()
            && let Some(tier) = self.config().office(&office).and_then(|o| provisioner::tiers::tier(o.tier))
        {
            fleet.signalled(tier);
        }
        if !self.first_signal_in_window(&signal.user, &office) {
            return Ok(Prewarm::RateLimited { office });
        }
        let Some(row) = self.store.office(&office).await? else {
            return Ok(Prewarm::NoLikelyOffice);
        };
        let now = now_ms();
        let until = now + settings.prewarm_ttl.as_millis() as i64;
        let outcome = match row.state {
            OfficeState::Asleep | OfficeState::Failed => {
                if self.store.count_prewarmed(now).await? >= settings.max_prewarms as u64 {
                    // Not acted on: the next signal may find a free place.
                    self.warm_signals.lock().expect("warm signal lock").remove(&(signal.user.clone(), office.clone()));
                    Prewarm::AtCapacity { office }
                } else {
                    self.start_prewarm(row, &signal, now, until).await?
                }
            }
            OfficeState::Waking | OfficeState::Ready | OfficeState::Idle if row.prewarm_until.is_some() => {
                // (Never shortened: a wake ahead of a habit may be good for longer.)
                let until = until.max(row.prewarm_until.unwrap_or(until));
                self.store.set_prewarm(&office, row.generation, Some((row.prewarmed_at.unwrap_or(now), until))).await?;
                Prewarm::Extended { office }
            }
            _ => {
                // Up for real work already: keep it from idling out under their fingers.
                self.store.touch_office(&office).await?;
                Prewarm::AlreadyAwake { office }
            }
        };
        let label = match &outcome {
            Prewarm::Waking { .. } => "waking",
            Prewarm::Extended { .. } => "extended",
            Prewarm::AlreadyAwake { .. } => "awake",
            Prewarm::AtCapacity { .. } => "at_capacity",
            Prewarm::RateLimited { .. } | Prewarm::NoLikelyOffice => "skipped",
            Prewarm::OverBudget { .. } => "over_budget",
        };
        metrics::counter!("nova_prewarm_signals_total", "outcome" => label, "source" => source).increment(1);
        Ok(outcome)
    }

    async fn start_prewarm(
        self: &Arc<Self>,
        row: offices::Model,
        signal: &WarmSignal,
        now: i64,
        until: i64,
    ) -> anyhow::Result<Prewarm> {
        let office = row.name.clone();
        if self.over_budget(&office).await?.is_some() {
            return Ok(Prewarm::OverBudget { office });
        }
        let Some(generation) = self.try_wake(row).await? else {
            // Another signal or a real prompt won the wake: the office is on its way.
            return Ok(Prewarm::AlreadyAwake { office });
        };
        self.store.set_prewarm(&office, generation, Some((now, until))).await?;
        let details = serde_json::json!({
            "generation": generation,
            "channel": signal.channel,
            "surface": signal.surface,
            "ttl_ms": until - now,
        });
        self.record(&signal.user, &office, None, "prewarm", details).await;
        Ok(Prewarm::Waking { office, generation })
    }

    /// The office a message typed here would most likely be routed to: the session's
    /// office in a session thread, else what the router makes of the chatter's words and
    /// the channel. Chatter that names no office clearly (small talk) wakes nothing.
    async fn likely_office(&self, signal: &WarmSignal) -> anyhow::Result<Option<String>> {
        if let Some(thread) = &signal.thread
            && let Some(office) = self.store.thread(thread).await?.and_then(|t| t.office)
        {
            return Ok(Some(office));
        }
        let picks = self.store.channel_picks(signal.surface, &signal.channel).await?;
        let request = RouteRequest {
            channel: &signal.channel,
            thread: &[],
            text: signal.chatter.as_deref().unwrap_or(""),
            thread_office: None,
            thread_repo: None,
            channel_picks: &picks,
        };
        Ok(self.live().router.route(&request).office)
    }

    fn first_signal_in_window(&self, user: &str, office: &str) -> bool {
        let mut recent = self.warm_signals.lock().expect("warm signal lock");
        let now = Instant::now();
        recent.retain(|_, at| now.duration_since(*at) < SIGNAL_INTERVAL);
        match recent.entry((user.to_owned(), office.to_owned())) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        }
    }

    /// A prompt reached a prewarmed office: the warm-up (a signal's or a habit's) paid off.
    pub(super) async fn prewarm_hit(&self, office: &offices::Model) -> anyhow::Result<()> {
        let Some(at) = office.prewarmed_at else {
            return Ok(());
        };
        self.store.set_prewarm(&office.name, office.generation, None).await?;
        let lead_ms = now_ms() - at;
        let source = if office.prewarm_habit { "habit" } else { "signal" };
        if office.prewarm_habit {
            metrics::counter!("nova_habit_wakes_total", "outcome" => "hit").increment(1);
        } else {
            metrics::counter!("nova_prewarm_total", "outcome" => "hit").increment(1);
        }
        let details =
            serde_json::json!({"generation": office.generation, "since_signal_ms": lead_ms, "source": source});
        self.record("nova", &office.name, None, "prewarm_hit", details).await;
        Ok(())
    }

    /// No prompt followed in time: the office goes back to sleep and frees its place.
    pub(super) async fn prewarm_expired(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let up_ms = office.prewarmed_at.map(|at| now_ms() - at).unwrap_or(0);
        let source = if office.prewarm_habit { "habit" } else { "signal" };
        if office.prewarm_habit {
            metrics::counter!("nova_habit_wakes_total", "outcome" => "expired").increment(1);
        } else {
            metrics::counter!("nova_prewarm_total", "outcome" => "expired").increment(1);
        }
        metrics::counter!("nova_prewarm_wasted_ms_total").increment(up_ms.max(0) as u64);
        let details = serde_json::json!({"generation": office.generation, "up_ms": up_ms, "source": source});
        self.record("nova", &office.name, None, "prewarm_expired", details).await;
        self.begin_sleep(office).await?;
        self.store.set_prewarm(&office.name, office.generation, None).await
    }
}
