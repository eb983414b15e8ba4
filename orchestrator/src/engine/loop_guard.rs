//! The loop guard: an office that keeps running on offices' work in a thread (its own
//! tasks, handoffs that come back, escalations) with no person speaking there is paused
//! after [`MAX_SELF_DRIVEN_RUNS`] runs. Offices' work in that thread then waits, a card
//! there says why, and approving it lets the office go on for as many runs again. A
//! person's prompt runs regardless; one in that thread starts the count over.

use super::*;
use crate::approvals::{Requirement, requirement};
use crate::store::approvals;

/// The approval kind of a pause: asked by Nova, never by an office.
pub const LOOP_GUARD: &str = "loop_guard";
/// Runs an office may start from offices' work without a person in between.
pub const MAX_SELF_DRIVEN_RUNS: u64 = 10;

impl Engine {
    /// Whether `author` is an office of the fleet (not a person).
    fn is_office(&self, author: &str) -> bool {
        self.config().office(author).is_some()
    }

    /// Of an office's held prompts, those that may start now: what its budget and the
    /// loop guard allow.
    pub(super) async fn startable(
        &self,
        office: &str,
        held: Vec<prompts::Model>,
    ) -> anyhow::Result<Vec<prompts::Model>> {
        if held.is_empty() {
            return Ok(held);
        }
        let held = self.budget_allows(office, held).await?;
        self.loop_guard_allows(office, held).await
    }

    /// `held` as the loop guard lets it start: all of it, but for the offices' work in
    /// threads where this office is paused.
    pub(super) async fn loop_guard_allows(
        &self,
        office: &str,
        held: Vec<prompts::Model>,
    ) -> anyhow::Result<Vec<prompts::Model>> {
        let mut paused = HashSet::new();
        let mut checked = HashSet::new();
        for prompt in held.iter().filter(|p| self.is_office(&p.author)) {
            if checked.insert(prompt.thread_id.clone()) && self.loop_paused(office, prompt).await? {
                paused.insert(prompt.thread_id.clone());
            }
        }
        Ok(held.into_iter().filter(|p| !(self.is_office(&p.author) && paused.contains(&p.thread_id))).collect())
    }

    /// Whether `office` is paused in the thread of `waiting` (work from an office): it has
    /// run [`MAX_SELF_DRIVEN_RUNS`] times there on offices' work since a person last
    /// spoke there (or last let it go on). Pausing posts the card, once.
    async fn loop_paused(&self, office: &str, waiting: &prompts::Model) -> anyhow::Result<bool> {
        let thread = waiting.thread_id.as_str();
        let offices: Vec<String> = self.config().offices.iter().map(|o| o.name.clone()).collect();
        let last_person = self.store.last_prompt_by_person(thread, &offices).await?.map_or(0, |p| p.created_at);
        let pauses = self.store.approvals_of_kind(office, LOOP_GUARD, Some(thread), last_person).await?;
        let resumed_at =
            pauses.iter().filter(|a| a.state == ApprovalState::Approved).filter_map(|a| a.decided_at).max();
        let since = resumed_at.unwrap_or(last_person).max(last_person);
        let self_driven = self.store.runs_from_offices(office, thread, &offices, since).await?;
        if self_driven < MAX_SELF_DRIVEN_RUNS {
            return Ok(false);
        }
        if !pauses.iter().any(|a| a.state == ApprovalState::Pending && a.created_at >= since) {
            self.pause_for_loop(office, waiting, self_driven).await?;
        }
        Ok(true)
    }

    /// Posts the pause's card in the thread of the work that waits.
    async fn pause_for_loop(&self, office: &str, waiting: &prompts::Model, runs: u64) -> anyhow::Result<()> {
        let config = self.config();
        let approvers = match requirement(&config, LOOP_GUARD, None) {
            Requirement::Needed { people, .. } => people,
            Requirement::NotNeeded => config.roles.get("operator").cloned().unwrap_or_default(),
        };
        let now = now_ms();
        let approval = approvals::Model {
            id: uuid::Uuid::new_v4().to_string(),
            office: office.to_owned(),
            run_id: waiting.run_id.clone(),
            thread_id: waiting.thread_id.clone(),
            message_id: None,
            requester: "nova".to_owned(),
            kind: LOOP_GUARD.to_owned(),
            action: texts::loop_guard_action(office, runs),
            details: texts::loop_guard_details(office, &waiting.author),
            risk: "medium".to_owned(),
            approvers: serde_json::to_string(&approvers)?,
            state: ApprovalState::Pending,
            // Left alone, the work simply waits: the card need not expire soon.
            expires_at: now + 7 * 86_400_000,
            decided_by: None,
            decided_at: None,
            created_at: now,
        };
        self.store.insert_approval(approval.clone()).await?;
        let details = serde_json::json!({"approval": approval.id, "self_driven_runs": runs, "waiting": waiting.run_id});
        self.record("nova", office, Some(&waiting.run_id), "loop_paused", details).await;
        self.show_approval(&approval, None).await
    }

    /// A pause was decided: approved, the office's waiting work goes on.
    pub(super) async fn loop_guard_decided(&self, approval: &approvals::Model) -> anyhow::Result<()> {
        if approval.state == ApprovalState::Approved {
            let by = approval.decided_by.clone().unwrap_or_default();
            self.record(&by, &approval.office, Some(&approval.run_id), "loop_resumed", serde_json::json!({})).await;
            self.work.notify_one();
        }
        Ok(())
    }
}
