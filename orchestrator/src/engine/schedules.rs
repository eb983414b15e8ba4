//! Schedules: recurring prompts for an office, made, listed, paused and removed in
//! plain words ("every monday at 9 have the analyst post last week's signups").
//!
//! A tick goes through the same pipe as what people say: the scheduler records it as
//! an inbound event (deduplicated by schedule and due time, so a crash or a second
//! replica never runs a tick twice), then moves the schedule on; routing queues its
//! prompt for the office, in the thread where the schedule was made, unless the last
//! tick's run is still going (a schedule never stacks runs). Every tick is audited.

use chrono::{DateTime, Utc};

use super::*;
use crate::ask::ScheduleChange;
use crate::schedule::Cadence;
use crate::store::{NewSchedule, SCHEDULE_ID, schedules};

/// The scheduler looks at least this often, so that a schedule made by another
/// replica is not missed for long.
const SCHEDULE_TICK: Duration = Duration::from_secs(30);
/// Ticks taken in one pass; more wait for the next.
const TICKS_AT_ONCE: u64 = 100;

/// A moment in the form the thread shows it, on `zone`'s clock: "Mon 7 Dec 09:00 UTC",
/// "Mon 7 Dec 09:00 CET".
fn when_in_words(at_ms: i64, zone: chrono_tz::Tz) -> String {
    DateTime::<Utc>::from_timestamp_millis(at_ms)
        .map_or_else(String::new, |at| at.with_timezone(&zone).format("%a %-d %b %H:%M %Z").to_string())
}

impl Engine {
    /// "every … have X do Y": checked (who may, which office, which cadence) and, when
    /// it holds, written with the message, confirmed in the thread.
    pub(super) fn plan_schedule(
        &self,
        row: &store::inbound::Model,
        office: &str,
        every: &str,
        prompt: &str,
        time_zone: Option<&str>,
        effects: &mut InboundEffects,
    ) -> anyhow::Result<()> {
        let mut reply = |body: String| {
            effects.replies.push(Reply { thread_id: row.thread_id.clone(), kind: MessageKind::Text, body, card: None });
        };
        if let Err(refusal) = crate::commands::may_operate(&self.config(), &row.author) {
            reply(texts::schedule_refused(refusal.trim_end_matches('.')));
            return Ok(());
        }
        if self.config().office(office).is_none() {
            reply(texts::no_such_office(&self.config(), office));
            return Ok(());
        }
        let cadence = match Cadence::parse(every) {
            Ok(cadence) => cadence,
            Err(error) => {
                reply(texts::schedule_refused(&error.to_string()));
                return Ok(());
            }
        };
        let zone = match time_zone.map(str::parse::<chrono_tz::Tz>) {
            None => self.zone(),
            Some(Ok(zone)) => zone,
            Some(Err(_)) => {
                let name = time_zone.unwrap_or_default();
                reply(texts::schedule_refused(&format!("`{name}` is not a time zone")));
                return Ok(());
            }
        };
        let next_at = cadence.next_after(Utc::now(), zone).timestamp_millis();
        effects.new_schedule = Some(NewSchedule {
            office: office.to_owned(),
            every: every.to_owned(),
            prompt: prompt.to_owned(),
            thread_id: row.thread_id.clone(),
            created_by: row.author.clone(),
            next_at,
            time_zone: time_zone.map(|_| zone.name().to_owned()),
        });
        effects.audit.push(store::AuditEntry {
            actor: row.author.clone(),
            office: Some(office.to_owned()),
            run_id: None,
            action: "schedule_made",
            details: serde_json::json!({"thread": row.thread_id, "every": every, "prompt": prompt, "time_zone": zone.name()}),
        });
        reply(texts::schedule_made(
            SCHEDULE_ID,
            office,
            &cadence.describe(zone),
            prompt,
            &when_in_words(next_at, zone),
        ));
        Ok(())
    }

    /// The schedules, all or one office's, as the list answer shows them.
    pub(super) async fn schedule_list(&self, office: Option<&str>) -> anyhow::Result<String> {
        let rows = self.store.schedules(office).await?;
        let lines: Vec<texts::ScheduleLine<'_>> = rows
            .iter()
            .map(|s| texts::ScheduleLine {
                id: s.id,
                office: &s.office,
                when: Cadence::parse(&s.every).map_or_else(|_| s.every.clone(), |c| c.describe(self.zone_of(s))),
                prompt: &s.prompt,
                paused: s.paused,
                next: when_in_words(s.next_at, self.zone_of(s)),
            })
            .collect();
        Ok(texts::schedules(&lines, office))
    }

    /// Pauses, resumes or removes a schedule (by number, or an office's only one), for
    /// whoever may operate the fleet or made the schedule.
    pub(super) async fn change_schedule(
        &self,
        user: &str,
        id: Option<i64>,
        office: Option<&str>,
        change: ScheduleChange,
    ) -> anyhow::Result<String> {
        let schedule = match id {
            Some(id) => self.store.schedule(id).await?.filter(|s| office.is_none_or(|o| o == s.office)),
            None => {
                let mut found = self.store.schedules(office).await?;
                if found.len() != 1 || office.is_none() {
                    return Ok(texts::which_schedule(office, found.len()));
                }
                found.pop()
            }
        };
        let Some(schedule) = schedule else {
            return Ok(texts::which_schedule(office, 0));
        };
        if schedule.created_by != user
            && let Err(refusal) = crate::commands::may_operate(&self.config(), user)
        {
            return Ok(format!("Nothing changed: {}", refusal.replace("do that", "change another person's schedule")));
        }
        let next_at = match change {
            ScheduleChange::Remove => {
                self.store.remove_schedule(schedule.id).await?;
                schedule.next_at
            }
            ScheduleChange::Pause => {
                self.store.set_schedule_paused(schedule.id, true, schedule.next_at).await?;
                schedule.next_at
            }
            ScheduleChange::Resume => {
                // Ticks missed while paused are not made up: it runs at its next time from now.
                let next_at =
                    Cadence::parse(&schedule.every)?.next_after(Utc::now(), self.zone_of(&schedule)).timestamp_millis();
                self.store.set_schedule_paused(schedule.id, false, next_at).await?;
                self.schedules_changed.notify_one();
                next_at
            }
        };
        let details = serde_json::json!({"schedule": schedule.id, "change": change});
        self.record(user, &schedule.office, None, "schedule_changed", details).await;
        let who = self.config().person(user).unwrap_or(user).to_owned();
        Ok(texts::schedule_changed(
            schedule.id,
            &schedule.office,
            change,
            &who,
            &when_in_words(next_at, self.zone_of(&schedule)),
        ))
    }

    /// The clock `schedule`'s times of day are on: its own, when it was said in one,
    /// else the workspace's.
    fn zone_of(&self, schedule: &schedules::Model) -> chrono_tz::Tz {
        schedule.time_zone.as_deref().and_then(|zone| zone.parse().ok()).unwrap_or_else(|| self.zone())
    }

    /// The workspace's clock changed: every schedule with a time of day on it runs next
    /// at that time on the new clock (an interval, a schedule on a clock of its own, or a
    /// paused one, which is timed afresh when resumed, keeps its next run). Returns how
    /// many moved.
    pub(super) async fn retime_schedules(&self) -> anyhow::Result<usize> {
        let now = Utc::now();
        let mut moved = 0;
        for schedule in self.store.schedules(None).await? {
            let Ok(cadence) = Cadence::parse(&schedule.every) else { continue };
            // A schedule said on a clock of its own stays on it.
            if schedule.paused || schedule.time_zone.is_some() || matches!(cadence, Cadence::Interval { .. }) {
                continue;
            }
            let next_at = cadence.next_after(now, self.zone()).timestamp_millis();
            // Conditional on the run it replaces: a tick taken meanwhile wins.
            if next_at != schedule.next_at
                && self.store.advance_schedule(schedule.id, schedule.next_at, next_at).await?
            {
                moved += 1;
            }
        }
        if moved > 0 {
            self.schedules_changed.notify_one();
        }
        Ok(moved)
    }

    /// Takes every tick due at `now` (the scheduler's clock, or a test's). Returns how
    /// many ticks were recorded.
    pub async fn run_due_schedules(&self, now: i64) -> anyhow::Result<usize> {
        let mut taken = 0;
        for schedule in self.store.due_schedules(now, TICKS_AT_ONCE).await? {
            let cadence = match Cadence::parse(&schedule.every) {
                Ok(cadence) => cadence,
                Err(error) => {
                    // Only a row written by hand gets here; it stops rather than spins.
                    tracing::error!(schedule = schedule.id, "pausing a schedule that cannot be read: {error}");
                    self.store.set_schedule_paused(schedule.id, true, schedule.next_at).await?;
                    continue;
                }
            };
            // Missed ticks (Nova was down) are one tick, not a burst: the next is counted from now.
            let from = DateTime::<Utc>::from_timestamp_millis(now.max(schedule.next_at)).unwrap_or_else(Utc::now);
            let next_at = cadence.next_after(from, self.zone_of(&schedule)).timestamp_millis();
            if self.record_tick(&schedule).await? {
                taken += 1;
            }
            self.store.advance_schedule(schedule.id, schedule.next_at, next_at).await?;
        }
        Ok(taken)
    }

    /// Records one tick as an inbound event in the schedule's thread.
    async fn record_tick(&self, schedule: &schedules::Model) -> anyhow::Result<bool> {
        let Some(thread) = self.store.thread(&schedule.thread_id).await? else {
            tracing::warn!(schedule = schedule.id, "the schedule's thread is gone; pausing it");
            self.store.set_schedule_paused(schedule.id, true, schedule.next_at).await?;
            return Ok(false);
        };
        let incoming = Incoming {
            surface: thread.surface,
            channel: thread.channel,
            thread: ThreadRef::Existing(thread.id),
            author: schedule.created_by.clone(),
            dedupe_key: format!("schedule:{}:{}", schedule.id, schedule.next_at),
            event: InboundEvent::Scheduled { schedule: schedule.id },
        };
        match self.accept(incoming).await? {
            Ok(recorded) => Ok(!recorded.duplicate),
            Err(refusal) => {
                tracing::warn!(schedule = schedule.id, "a schedule's tick was refused: {refusal}");
                Ok(false)
            }
        }
    }

    /// A tick, routed: the prompt is queued for the office, or the tick is skipped
    /// (the schedule was paused or removed since, or its last run is still going).
    pub(super) async fn plan_scheduled_run(
        &self,
        row: &store::inbound::Model,
        id: i64,
        effects: &mut InboundEffects,
    ) -> anyhow::Result<()> {
        let skip = |effects: &mut InboundEffects, office: Option<String>, reason: &str| {
            effects.audit.push(store::AuditEntry {
                actor: "nova".to_owned(),
                office,
                run_id: None,
                action: "schedule_skipped",
                details: serde_json::json!({"schedule": id, "reason": reason}),
            });
        };
        let Some(schedule) = self.store.schedule(id).await?.filter(|s| !s.paused) else {
            skip(effects, None, "paused or removed");
            return Ok(());
        };
        if let Some(last) = &schedule.last_run_id
            && let Some(prompt) = self.store.prompt_by_run(last).await?
            && matches!(prompt.state, PromptState::Held | PromptState::Dispatched | PromptState::Unrouted)
        {
            skip(effects, Some(schedule.office.clone()), "its last run is still going");
            return Ok(());
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let when = Cadence::parse(&schedule.every)
            .map_or_else(|_| schedule.every.clone(), |c| c.describe(self.zone_of(&schedule)));
        effects.audit.push(store::AuditEntry {
            actor: row.author.clone(),
            office: Some(schedule.office.clone()),
            run_id: Some(run_id.clone()),
            action: "scheduled_run",
            details: serde_json::json!({"schedule": id, "thread": row.thread_id, "every": schedule.every}),
        });
        effects.replies.push(Reply {
            thread_id: row.thread_id.clone(),
            kind: MessageKind::Text,
            body: texts::schedule_tick(id, &schedule.office, &when, &schedule.prompt),
            card: None,
        });
        effects.schedule_ran = Some((id, run_id.clone()));
        effects.prompt = Some(NewPrompt {
            run_id,
            thread_id: row.thread_id.clone(),
            office: schedule.office,
            author: row.author.clone(),
            text: schedule.prompt,
            state: PromptState::Held,
            handoff_from: None,
        });
        Ok(())
    }

    /// Takes ticks as they come due: sleeps until the next one (or a change), so an
    /// idle fleet costs one query per [`SCHEDULE_TICK`].
    pub(super) async fn schedule_loop(self: Arc<Self>) {
        loop {
            if let Err(error) = self.run_due_schedules(store::now_ms()).await {
                tracing::error!("scheduler step failed: {error:#}");
            }
            let wait = match self.store.next_schedule_at().await {
                Ok(Some(at)) => Duration::from_millis((at - store::now_ms()).max(0) as u64).min(SCHEDULE_TICK),
                Ok(None) => SCHEDULE_TICK,
                Err(error) => {
                    tracing::error!("cannot read the next schedule: {error:#}");
                    SCHEDULE_TICK
                }
            };
            let _ = tokio::time::timeout(wait, self.schedules_changed.notified()).await;
        }
    }
}
