//! Fleet requests in plain language ("what is maker doing?", "put the analyst to
//! sleep", "stop"): read by [`crate::ask::Reader`] when a message is routed, recorded
//! with it, and answered or carried out right after, in the thread, by the person's
//! permission. Every request is audited with who asked.

use super::*;

use super::tasks::{TaskChanged, TaskRefusal};
use crate::ask::{Action, Kind, Message, Said, Speaker};

/// A fleet request read from a message, carried out once the message is recorded.
#[derive(Debug, Clone)]
pub(super) struct FleetRequest {
    pub thread_id: String,
    pub author: String,
    pub action: Action,
}

impl Engine {
    /// Reads a message as plain language, offline first and, when the reader is unsure
    /// and a model is configured, by the model; `Some` when it is about the fleet, with
    /// the rule that read it.
    pub(super) async fn read_request(
        &self,
        row: &store::inbound::Model,
        text: &str,
        thread: &[messages::Model],
        thread_office: Option<&str>,
    ) -> anyhow::Result<Option<(Action, &'static str)>> {
        let earlier: Vec<Said> = thread
            .iter()
            .filter(|m| m.kind != MessageKind::Context || !m.from_nova)
            .filter(|m| !(m.author == row.author && m.body == text && !m.from_nova))
            .map(|m| Said {
                speaker: match (m.from_nova, m.run_id.is_some(), thread_office) {
                    (true, true, Some(office)) => Speaker::Office(office.to_owned()),
                    (true, _, _) => Speaker::Nova,
                    (false, _, _) => Speaker::Person(m.author.clone()),
                },
                text: m.body.clone(),
            })
            .collect();
        let live = self.live();
        let message = Message { channel: &row.channel, text, thread: &earlier };
        let mut understanding = live.reader.understand(&message);
        if understanding.confidence < crate::ask::UNSURE
            && let Some(model) = &live.ask_model
        {
            let (read, call) = model.read(&message).await;
            tracing::info!(outcome = call.outcome.as_str(), latency = ?call.latency, "asked the model what a message means");
            understanding = read.unwrap_or(understanding);
        }
        Ok(match understanding.kind {
            Kind::Fleet => understanding.action.map(|action| (action, understanding.rule)),
            Kind::Work | Kind::Unknown => None,
        })
    }

    /// The answer to a request that only reads (status, approvals, spend, history,
    /// help); `None` for a request that acts, carried out once the message is recorded (see [`Engine::carry_out`]).
    /// Computed while the message is planned, so the answer is written with it: a crash
    /// cannot lose it.
    pub(super) async fn answer(&self, action: &Action) -> anyhow::Result<Option<String>> {
        Ok(Some(match action {
            Action::Help {} => texts::plain_language_help(),
            Action::Status { office: None } => crate::commands::fleet_status(self).await?,
            Action::Status { office: Some(office) } => self.office_status(office).await?,
            Action::Approvals {} => crate::commands::pending_approvals(self).await?,
            Action::Spend { office, period } => self.spend(office.as_deref(), *period).await?,
            Action::Audit { office, since } => self.history(office.as_deref(), since.as_deref()).await?,
            Action::Schedules { office } => self.schedule_list(office.as_deref()).await?,
            Action::Tasks { office } => self.task_list(office.as_deref()).await?,
            Action::Reviews {} => self.review_list().await?,
            Action::CreateOffice(_)
            | Action::MakeTask { .. }
            | Action::UpdateOffice { .. }
            | Action::RetireOffice { .. }
            | Action::AddRepo(_)
            | Action::Wake { .. }
            | Action::Sleep { .. }
            | Action::Stop { .. }
            | Action::Handoff { .. }
            | Action::Schedule { .. }
            | Action::ChangeSchedule { .. }
            | Action::CancelTask { .. }
            | Action::AssignTask { .. } => return Ok(None),
        }))
    }

    /// Carries out a request that acts (wake, sleep, stop an office's runs, change a
    /// schedule, change the fleet), by the asker's permission, and says what happened
    /// in its thread.
    pub(super) async fn carry_out(self: &Arc<Self>, request: FleetRequest) -> anyhow::Result<()> {
        let FleetRequest { thread_id, author, action } = request;
        let answer = match action {
            Action::Wake { office } => {
                crate::commands::execute(self, &author, crate::commands::Command::Wake { office }).await?.text
            }
            Action::Sleep { office } => {
                crate::commands::execute(self, &author, crate::commands::Command::Sleep { office }).await?.text
            }
            Action::Stop { office: Some(office) } => self.stop_office(&office, &author).await?,
            Action::ChangeSchedule { id, office, change } => {
                self.change_schedule(&author, id, office.as_deref(), change).await?
            }
            Action::CancelTask { id } => {
                match Self::task_change_answer(&thread_id, self.cancel_task(&author, id).await?) {
                    Some(answer) => answer,
                    None => return Ok(()),
                }
            }
            Action::AssignTask { id, office } => {
                match Self::task_change_answer(&thread_id, self.assign_task(&author, id, office.as_deref()).await?) {
                    Some(answer) => answer,
                    None => return Ok(()),
                }
            }
            change if change.changes_config() => match self.request_fleet_change(&thread_id, &author, change).await? {
                Some(answer) => answer,
                None => return Ok(()),
            },
            other => bail!("not a request that acts on an office: {other:?}"),
        };
        self.post(&thread_id, MessageKind::Text, &answer, None, None).await
    }

    /// What the asker is told of a change to a task: why not, or what the task's
    /// thread was told, when that is another thread; `None` when it is this one.
    fn task_change_answer(asked_in: &str, changed: Result<TaskChanged, TaskRefusal>) -> Option<String> {
        match changed {
            Err(refusal) => Some(texts::task_unchanged(&refusal.to_string())),
            Ok(changed) => (changed.task.thread_id != asked_in).then_some(changed.said),
        }
    }

    /// One office: its state, the runs it is on (who asked, for how long, how far
    /// through its objectives), its queue, its last result and its spend this month.
    async fn office_status(&self, office: &str) -> anyhow::Result<String> {
        let config = self.config();
        let Some(office_config) = config.office(office) else {
            return Ok(texts::no_such_office(&config, office));
        };
        let state = self.store.office(office).await?.map_or(OfficeState::Asleep, |o| o.state);
        let running = self.store.prompts_in_state(office, PromptState::Dispatched).await?;
        let waiting = self.store.count_prompts(office, &[PromptState::Held]).await?;
        let now = store::now_ms();
        let mut runs = Vec::with_capacity(running.len());
        for prompt in &running {
            let card = self.store.progress_message(&prompt.run_id).await?.and_then(|m| m.card);
            let objectives = match card.as_deref().and_then(Card::from_json) {
                Some(Card::Progress { objectives, .. }) => objectives,
                _ => Vec::new(),
            };
            runs.push(texts::RunLine {
                who: config.person(&prompt.author).unwrap_or(&prompt.author).to_owned(),
                text: prompt.text.clone(),
                running_ms: now - prompt.dispatched_at.unwrap_or(prompt.created_at),
                objectives,
            });
        }
        let last_result = self.store.last_result(office).await?.map(|m| (now - m.created_at, m.body));
        let month = self.spend_since(budgets::month_start(now, self.zone())).await?;
        let spent = month.get(office).map_or(0.0, budgets::Spend::total);
        let status = texts::OfficeStatus {
            office,
            state: &state.to_string(),
            runs: &runs,
            waiting,
            last_result: last_result.as_ref().map(|(age, body)| (*age, body.as_str())),
            spent_month_usd: spent,
            budget_usd: office_config.budget_usd,
        };
        Ok(status.to_string())
    }

    /// Stops every run an office has going that `user` may stop.
    async fn stop_office(&self, office: &str, user: &str) -> anyhow::Result<String> {
        if self.config().office(office).is_none() {
            return Ok(texts::no_such_office(&self.config(), office));
        }
        let running = self.store.prompts_in_state(office, PromptState::Dispatched).await?;
        if running.is_empty() {
            return Ok(format!("**{office}** is not running anything."));
        }
        let mut refusals = Vec::new();
        let mut stopped = 0;
        for run in running {
            match self.stop_run(&run.run_id, user).await? {
                Ok(()) => stopped += 1,
                Err(refusal) => refusals.push(refusal.to_string()),
            }
        }
        Ok(match (stopped, refusals.first()) {
            (0, Some(refusal)) => format!("Nothing changed: {refusal}."),
            (_, _) => texts::stopping(office),
        })
    }

    /// Model spend from the usage rows of the audit trail, over a period.
    async fn spend(&self, office: Option<&str>, period: Option<crate::ask::when::Period>) -> anyhow::Result<String> {
        use crate::ask::when::Period;
        if let Some(office) = office
            && self.config().office(office).is_none()
        {
            return Ok(texts::no_such_office(&self.config(), office));
        }
        let period = period.unwrap_or(Period::Month);
        let mut by_office = self.spend_in(period).await?;
        if let Some(office) = office {
            by_office.retain(|name, _| name == office);
        }
        Ok(texts::spend(office, period, &by_office, |name| self.config().office(name).and_then(|o| o.budget_usd)))
    }

    /// What happened, and who asked for it, from the audit trail.
    async fn history(&self, office: Option<&str>, since: Option<&str>) -> anyhow::Result<String> {
        if let Some(office) = office
            && self.config().office(office).is_none()
        {
            return Ok(texts::no_such_office(&self.config(), office));
        }
        let back = since.and_then(|s| humantime::parse_duration(s).ok()).unwrap_or(Duration::from_secs(86_400));
        let filter = store::AuditFilter {
            office: office.map(str::to_owned),
            since: Some(store::now_ms() - back.as_millis() as i64),
            limit: Some(u64::MAX),
            ..Default::default()
        };
        let rows = self.store.audit_trail(&filter).await?;
        let entries: Vec<texts::HistoryEntry> = rows
            .iter()
            .rev()
            .filter(|r| r.action != "usage")
            .take(12)
            .map(|r| texts::HistoryEntry {
                at: r.at,
                actor: self.config().person(&r.actor).unwrap_or(&r.actor).to_owned(),
                action: r.action.clone(),
                office: r.office.clone(),
            })
            .collect();
        Ok(texts::history(office, &humantime::format_duration(back).to_string(), rows.len(), &entries))
    }

    /// Moves this thread's work to another office, with the message that asked: the
    /// run going is stopped (by the same rule as a stop), the thread routed to `to`,
    /// and its last ask queued there.
    pub(super) async fn plan_handoff(
        &self,
        row: &store::inbound::Model,
        to: &str,
        effects: &mut InboundEffects,
    ) -> anyhow::Result<()> {
        let mut reply = |body: String| {
            effects.replies.push(Reply { thread_id: row.thread_id.clone(), kind: MessageKind::Text, body, card: None });
        };
        if self.config().office(to).is_none() {
            reply(texts::no_such_office(&self.config(), to));
            return Ok(());
        }
        let prompts = self.store.thread_prompts(&row.thread_id).await?;
        let Some(last) = prompts.iter().rev().find(|p| p.office != to && !p.office.is_empty()) else {
            reply(format!("There is no work in this thread to hand to **{to}**; say what it should do."));
            return Ok(());
        };
        if let Some(run) = self.active_run(&row.thread_id).await? {
            match may_stop(&self.config(), &run.author, &row.author) {
                Ok(()) => effects.stop_run = Some((run.run_id, row.author.clone())),
                Err(refusal) => {
                    reply(format!("Nothing changed: {refusal}."));
                    return Ok(());
                }
            }
        }
        let thread = self.store.thread(&row.thread_id).await?;
        effects.thread_route = Some(ThreadRoute {
            thread_id: row.thread_id.clone(),
            repo: thread.and_then(|t| t.repo),
            office: Some(to.to_owned()),
            confidence: 1.0,
        });
        let run_id = uuid::Uuid::new_v4().to_string();
        effects.audit.push(store::AuditEntry {
            actor: row.author.clone(),
            office: Some(to.to_owned()),
            run_id: Some(run_id.clone()),
            action: "handoff",
            details: serde_json::json!({"thread": row.thread_id, "from": last.office, "from_run": last.run_id}),
        });
        effects.prompt = Some(NewPrompt {
            run_id,
            thread_id: row.thread_id.clone(),
            office: to.to_owned(),
            author: row.author.clone(),
            text: texts::handed_over_prompt(&last.office, &last.text),
            state: PromptState::Held,
            handoff_from: None,
        });
        let who = self.config().person(&row.author).unwrap_or(&row.author).to_owned();
        reply(texts::handing_over(&last.office, to, &who));
        Ok(())
    }
}
