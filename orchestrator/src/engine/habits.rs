//! Wakes ahead of habits: an office asleep is woken a few minutes before a time its
//! sessions began on most comparable days ([`crate::demand::next_habitual_wake`]), so
//! the person who starts with it at nine every weekday finds it up, though nothing they
//! do announces it. Unused, it sleeps again when the habit's window closes, on the
//! snapshot it was restored from.
//!
//! Each office's next such wake is planned from its own prompts when it falls asleep
//! (and for every office asleep when the engine starts); the office loop wakes what is
//! due once a tick, so a step costs what is due, not a scan of the fleet's history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::demand::{self, ForeseenWake};
use crate::store::{OfficeState, now_ms};

/// An office with no habit strong enough is looked at again this much later: a plan
/// covers the coming day, and Monday's habit must be found on Saturday night too.
pub const LOOK_AGAIN: Duration = Duration::from_secs(6 * 3600);

/// What is planned for one office: a wake, or only another look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planned {
    Wake { until: i64 },
    LookAgain,
}

/// The planned wakes and looks, by when they are due.
#[derive(Debug, Default)]
pub(super) struct HabitPlans {
    due: BTreeMap<(i64, String), Planned>,
    at: HashMap<String, i64>,
}

impl HabitPlans {
    fn set(&mut self, office: &str, at: i64, planned: Planned) {
        self.remove(office);
        self.due.insert((at, office.to_owned()), planned);
        self.at.insert(office.to_owned(), at);
    }

    fn remove(&mut self, office: &str) {
        if let Some(at) = self.at.remove(office) {
            self.due.remove(&(at, office.to_owned()));
        }
    }

    /// Takes out what is due at `now`.
    fn take_due(&mut self, now: i64) -> Vec<(String, Planned)> {
        let mut taken = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, office), planned) = entry.remove_entry();
            self.at.remove(&office);
            taken.push((office, planned));
        }
        taken
    }
}

impl Engine {
    /// Plans the office's next wake from its last two weeks of prompts (or another look
    /// at them later).
    pub(super) async fn plan_habit_wake(&self, office: &str) -> anyhow::Result<()> {
        let now = now_ms();
        let share = self.config().provisioner.habit_share;
        let times = self.store.prompt_times(office, now - demand::HABIT_HISTORY_MS, now).await?;
        let mut plans = self.habit_plans.lock().expect("habit plans lock");
        match demand::next_habitual_wake(&times, now, share) {
            Some(ForeseenWake { at, until }) => plans.set(office, at, Planned::Wake { until }),
            None => plans.set(office, now + LOOK_AGAIN.as_millis() as i64, Planned::LookAgain),
        }
        Ok(())
    }

    /// Plans every office asleep (at start: the plans live in memory).
    pub(super) async fn plan_habit_wakes(&self) -> anyhow::Result<()> {
        for office in self.store.all_offices().await? {
            if office.state == OfficeState::Asleep {
                self.plan_habit_wake(&office.name).await?;
            }
        }
        Ok(())
    }

    /// Wakes the offices whose habit is due and that still sleep; looks again at those
    /// due a look.
    pub(super) async fn wake_for_habits(self: &Arc<Self>) {
        let now = now_ms();
        let due = self.habit_plans.lock().expect("habit plans lock").take_due(now);
        for (office, planned) in due {
            let outcome = match planned {
                Planned::LookAgain => self.plan_habit_wake(&office).await,
                Planned::Wake { until } => match self.wake_for_habit(&office, now, until).await {
                    // Up already (planned anew when it sleeps), or not to be woken now:
                    // the habit after this one.
                    Ok(false) => {
                        self.look_again(&office, until);
                        Ok(())
                    }
                    woken => woken.map(drop),
                },
            };
            if let Err(error) = outcome {
                // One office's failure holds up no other; this one is looked at later.
                tracing::warn!(office, "cannot wake it ahead of its habits: {error:#}");
                self.look_again(&office, now + LOOK_AGAIN.as_millis() as i64);
            }
        }
    }

    fn look_again(&self, office: &str, at: i64) {
        self.habit_plans.lock().expect("habit plans lock").set(office, at, Planned::LookAgain);
    }

    async fn wake_for_habit(self: &Arc<Self>, office: &str, now: i64, until: i64) -> anyhow::Result<bool> {
        if self.config().provisioner.habit_share <= 0.0 || self.config().office(office).is_none() {
            return Ok(false);
        }
        let Some(row) = self.store.office(office).await? else {
            return Ok(false);
        };
        // Only an office asleep, with budget left: a failed one waits for a person.
        if row.state != OfficeState::Asleep || self.over_budget(office).await?.is_some() {
            return Ok(false);
        }
        let Some(generation) = self.try_wake(row).await? else {
            return Ok(false);
        };
        self.store.set_habit_wake(office, generation, now, until).await?;
        // Nothing announces its people's prompts: once used, it idles out on the longer timeout.
        self.unannounced.lock().expect("unannounced lock").insert(office.to_owned());
        metrics::counter!("nova_habit_wakes_total", "outcome" => "woken").increment(1);
        let details = serde_json::json!({"generation": generation, "until": until});
        self.record("nova", office, None, "habit_wake", details).await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_come_due_in_time_order_and_a_new_plan_replaces_the_old() {
        let mut plans = HabitPlans::default();
        plans.set("maker", 300, Planned::Wake { until: 900 });
        plans.set("writer", 100, Planned::LookAgain);
        plans.set("analyst", 200, Planned::Wake { until: 500 });
        plans.set("analyst", 400, Planned::Wake { until: 600 });
        assert_eq!(plans.take_due(50), vec![]);
        assert_eq!(
            plans.take_due(350),
            vec![("writer".to_owned(), Planned::LookAgain), ("maker".to_owned(), Planned::Wake { until: 900 })]
        );
        assert_eq!(plans.take_due(350), vec![], "taken once");
        plans.set("writer", 380, Planned::LookAgain);
        plans.remove("analyst");
        assert_eq!(plans.take_due(i64::MAX), vec![("writer".to_owned(), Planned::LookAgain)]);
    }
}
