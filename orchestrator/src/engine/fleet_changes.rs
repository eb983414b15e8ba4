//! Changing the fleet while Nova runs: "set up an office for release notes under the
//! writer", "retire support", "add the repo billing-jobs", "keep the writer up for an
//! hour when it goes idle". The asker's permission is checked first (the `operator`
//! role, like waking and sleeping), then the change is written over the live config and
//! validated like nova.toml. What costs money or reach (a new office or repo, a
//! retirement, a budget, a tier, repo access) waits on an approval card and comes into
//! force when a person approves it: the change and its approval are stored together,
//! and "in force" is read from the approval's state, so an approval is never lost
//! between the click and the fleet. The rest comes into force at once.

use super::*;

use crate::approvals::{Requirement, requirement};
use crate::ask::Action;
use crate::config::edit;
use crate::store::approvals;

/// The approval kind of fleet changes: `[[approvals]] kind = "fleet_change"` says who
/// may approve them (by default, anyone holding a role, the asker excepted).
pub const FLEET_CHANGE: &str = "fleet_change";

impl Engine {
    /// Asks for a fleet change on behalf of `author`, in `thread_id`. The answer to post
    /// in the thread, or `None` when the approval card posted there is the answer.
    pub(super) async fn request_fleet_change(
        &self,
        thread_id: &str,
        author: &str,
        action: Action,
    ) -> anyhow::Result<Option<String>> {
        let config = self.config();
        if let Err(refusal) = crate::commands::may_operate(&config, author) {
            return Ok(Some(format!("Nothing changed: {}", refusal.replace("do that", "change the fleet"))));
        }
        let action = match action {
            Action::CreateOffice(mut new) => match edit::office_name(&new) {
                Ok(name) => {
                    new.name = Some(name);
                    Action::CreateOffice(new)
                }
                Err(error) => return Ok(Some(texts::fleet_change_refused("create that office", &error.to_string()))),
            },
            other => other,
        };
        let what = texts::fleet_change(&action);
        if let Err(reason) = takes(&config, &action) {
            return Ok(Some(texts::fleet_change_refused(&what, &reason)));
        }
        let target = target(&action);
        if !action.needs_approval() {
            let change = serde_json::to_string(&action)?;
            let change_id = uuid::Uuid::new_v4().to_string();
            let row = self.store.insert_fleet_change(&change, author, Some(thread_id), None).await?;
            self.refresh_fleet().await?;
            let details = serde_json::json!({"change": row.id, "action": action, "asked_by": author});
            self.record_change(author, target, &change_id, "fleet_changed", details).await;
            return Ok(Some(match self.live().changes_applied.contains(&row.id) {
                true => texts::fleet_changed(&what),
                false => texts::fleet_change_refused(&what, "the fleet changed meanwhile"),
            }));
        }
        self.ask_approval_for_change(thread_id, author, &action, target, String::new()).await?;
        Ok(None)
    }

    /// Records `action` with the approval it waits for (asked by `requester`, filed under
    /// `target`) and shows the approval's card in the thread.
    async fn ask_approval_for_change(
        &self,
        thread_id: &str,
        requester: &str,
        action: &Action,
        target: Option<String>,
        details: String,
    ) -> anyhow::Result<()> {
        let (approvers, expires) = match requirement(&self.config(), FLEET_CHANGE, None) {
            Requirement::Needed { people, expires } => (people, expires),
            Requirement::NotNeeded => (Vec::new(), crate::config::DEFAULT_APPROVAL_EXPIRY),
        };
        let now = now_ms();
        let change_id = uuid::Uuid::new_v4().to_string();
        let approval = approvals::Model {
            id: uuid::Uuid::new_v4().to_string(),
            office: target.clone().unwrap_or_default(),
            run_id: change_id.clone(),
            thread_id: thread_id.to_owned(),
            message_id: None,
            requester: requester.to_owned(),
            kind: FLEET_CHANGE.to_owned(),
            action: texts::fleet_change(action),
            details,
            risk: "medium".to_owned(),
            approvers: serde_json::to_string(&approvers)?,
            state: ApprovalState::Pending,
            expires_at: now + expires.as_millis() as i64,
            decided_by: None,
            decided_at: None,
            created_at: now,
        };
        let change = serde_json::to_string(action)?;
        let row = self.store.insert_fleet_change(&change, requester, Some(thread_id), Some(approval.clone())).await?;
        let details = serde_json::json!({"change": row.id, "approval": approval.id, "action": action});
        self.record_change(requester, target, &change_id, "fleet_change_requested", details).await;
        self.show_approval(&approval, None).await
    }

    /// An office's budget is spent: Nova asks, on an approval card in `thread_id`, to
    /// double it, so one click lets its waiting work run. Once while such a card waits.
    pub(super) async fn offer_budget_raise(&self, thread_id: &str, office: &str, budget: f64) -> anyhow::Result<()> {
        let offered = self.store.approvals_of_kind(office, FLEET_CHANGE, None, 0).await?;
        if offered.iter().any(|a| a.state == ApprovalState::Pending && a.requester == "nova") {
            return Ok(());
        }
        let changes =
            crate::ask::OfficeChanges { budget_usd: Some((budget * 2.0).ceil().max(1.0)), ..Default::default() };
        let action = Action::UpdateOffice { office: office.to_owned(), changes };
        if takes(&self.config(), &action).is_err() {
            return Ok(());
        }
        let details = texts::budget_raise_details(office, budget);
        self.ask_approval_for_change(thread_id, "nova", &action, Some(office.to_owned()), details).await
    }

    /// A fleet change's approval was decided: approved, it is now in force (said in its
    /// thread, with who asked and who approved in the audit trail).
    pub(super) async fn fleet_change_decided(&self, approval: &approvals::Model) -> anyhow::Result<()> {
        if approval.state != ApprovalState::Approved {
            return Ok(());
        }
        let Some(row) = self.store.fleet_change_for(&approval.id).await? else {
            bail!("approval {} is for a fleet change that is not stored", approval.id);
        };
        self.refresh_fleet().await?;
        let action: Action = serde_json::from_str(&row.change)?;
        let what = texts::fleet_change(&action);
        let answer = if self.live().changes_applied.contains(&row.id) {
            let approved_by = approval.decided_by.clone().unwrap_or_default();
            let details = serde_json::json!({"change": row.id, "action": action, "asked_by": row.asked_by, "approved_by": approved_by});
            self.record_change(&approved_by, target(&action), &approval.run_id, "fleet_changed", details).await;
            texts::fleet_changed(&what)
        } else {
            let reason =
                takes(&self.config(), &action).err().unwrap_or_else(|| "the fleet changed meanwhile".to_owned());
            texts::fleet_change_left_out(&what, &reason)
        };
        self.post(&approval.thread_id, MessageKind::Text, &answer, None, None).await
    }

    /// Audits a step of a fleet change under its id (the run ID of the audit trail),
    /// filed under the office it is about.
    async fn record_change(
        &self,
        actor: &str,
        office: Option<String>,
        change_id: &str,
        action: &'static str,
        details: serde_json::Value,
    ) {
        let entry =
            store::AuditEntry { actor: actor.to_owned(), office, run_id: Some(change_id.to_owned()), action, details };
        self.append_audit(entry).await;
    }
}

/// Whether the live fleet takes the change: written over its config and validated
/// like nova.toml; `Err` is the reason, in words (without the lines of a file the
/// person never saw).
fn takes(config: &Config, action: &Action) -> Result<(), String> {
    let text = edit::apply(&config.source, action).map_err(|e| e.to_string())?;
    Config::parse(&text, "the fleet").map(|_| ()).map_err(|error| match error {
        crate::config::ConfigError::Invalid { message, .. } | crate::config::ConfigError::Parse { message, .. } => {
            message
        }
        other => other.to_string(),
    })
}

/// The office a change is about: its approval and audit rows are filed under it.
fn target(action: &Action) -> Option<String> {
    match action {
        Action::CreateOffice(new) => new.name.clone(),
        Action::UpdateOffice { office, .. } | Action::RetireOffice { office } => Some(office.clone()),
        _ => None,
    }
}
