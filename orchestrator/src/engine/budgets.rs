//! Budgets that stop spend before it happens: an office whose model spend over the last
//! [`BUDGET_DAYS`] (what its runs report, see [`Store::spend_by_office`]) has reached
//! its `budget_usd` is not woken, warmed or sent a run. Its prompts wait, each thread is
//! told once why and how to go on, and raising the budget (a fleet change, approved like
//! any: "give maker a budget of $80 a month") lets them run.

use super::*;

/// The window a monthly budget is held against.
pub const BUDGET_DAYS: i64 = 30;

impl Engine {
    /// `(spent, budget)` when the office has a budget and has spent all of it.
    pub(super) async fn over_budget(&self, office: &str) -> anyhow::Result<Option<(f64, f64)>> {
        let Some(budget) = self.config().office(office).and_then(|o| o.budget_usd) else {
            return Ok(None);
        };
        let (spent, _, _) =
            self.store.spend_by_office(Some(office), BUDGET_DAYS).await?.remove(office).unwrap_or_default();
        Ok((spent >= budget).then_some((spent, budget)))
    }

    /// Holds an office's prompts back while it is over budget, telling each thread once
    /// (and the audit trail); `true` when it is over and nothing may start.
    pub(super) async fn held_by_budget(&self, office: &str) -> anyhow::Result<bool> {
        let Some((spent, budget)) = self.over_budget(office).await? else {
            return Ok(false);
        };
        for prompt in self.store.oldest_prompts(office, PromptState::Held, None).await? {
            if !self.budget_told.lock().expect("budget lock").insert(prompt.run_id.clone()) {
                continue;
            }
            let details = serde_json::json!({"spent_usd": spent, "budget_usd": budget, "days": BUDGET_DAYS});
            self.record("nova", office, Some(&prompt.run_id), "budget_stop", details).await;
            self.post(&prompt.thread_id, "text", &texts::over_budget(office, spent, budget), None, None).await?;
        }
        Ok(true)
    }
}
