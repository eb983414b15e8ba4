//! Tasks: work with an owner office, dependencies and a thread. People make them (the
//! console, `/api`), offices make them for others (sub-tasks), and Nova hands each ready
//! one to its owner as a run, claimed for that run: the run's end closes the task, retries
//! it, or (after [`MAX_TASK_ATTEMPTS`]) escalates it up the chain of command. An office may
//! also claim a task itself (one nobody owns), and of two claimers one wins.
//!
//! Hand-outs are level-triggered: the loop looks at what is ready, not at which events
//! arrived, so three events that make work ready for a sleeping office wake it once.

use super::*;
use crate::store::{Claim, ClaimVia, NewTask, TaskAsk, TaskSettled, TaskState, tasks};

/// Runs a task gets before it goes up the chain of command.
pub const MAX_TASK_ATTEMPTS: i32 = 3;
/// How long a claim may go without a live run before it is taken back: long enough for
/// a hand-out to become a held prompt, short enough that a dead claimer blocks nothing
/// for long. A claim whose run is held or running never lapses.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
/// The task loop's tick, for claims that lapse and work other replicas made ready.
const TASK_TICK: Duration = Duration::from_secs(5);
/// How many tasks one run may create: a runaway agent cannot flood the board.
pub const MAX_TASKS_PER_RUN: u64 = 20;
/// How many times one run may escalate: a runaway agent cannot flood its manager.
pub const MAX_ESCALATIONS_PER_RUN: u64 = 3;
const MAX_TITLE_CHARS: usize = 200;

/// Why a task request was refused. Callers branch on it (HTTP statuses).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskRefusal {
    #[error("{0}")]
    BadKey(KeyError),
    #[error("run `{0}` is not running in this office")]
    UnknownRun(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no task #{0}")]
    NotFound(i64),
    #[error("task #{id} is held by {holder} (run {run})")]
    Held { id: i64, holder: String, run: String },
    #[error("task #{id} waits for {}", .waiting.iter().map(|id| format!("#{id}")).collect::<Vec<_>>().join(", "))]
    Blocked { id: i64, waiting: Vec<i64> },
    #[error("task #{id} is for {owner}")]
    NotYours { id: i64, owner: String },
    #[error("task #{id} is {}", .state.as_str())]
    Closed { id: i64, state: TaskState },
    #[error("this run does not hold task #{0}")]
    NotHeld(i64),
    /// A person may not cancel or assign this task.
    #[error("only {creator} (who asked for task #{id}) or an operator may change it")]
    NotAllowed { id: i64, creator: String },
}

impl From<RunRefusal> for TaskRefusal {
    fn from(refusal: RunRefusal) -> Self {
        match refusal {
            RunRefusal::BadKey(error) => Self::BadKey(error),
            RunRefusal::UnknownRun(run) => Self::UnknownRun(run),
        }
    }
}

impl TaskRefusal {
    fn from_claim(id: i64, claim: Claim) -> Option<Self> {
        match claim {
            Claim::Claimed(_) => None,
            Claim::Held { holder, run } => Some(Self::Held { id, holder, run }),
            Claim::Blocked(waiting) => Some(Self::Blocked { id, waiting }),
            Claim::NotYours { owner } => Some(Self::NotYours { id, owner }),
            Claim::Closed(state) => Some(Self::Closed { id, state }),
            Claim::NotFound => Some(Self::NotFound(id)),
        }
    }
}

/// How many times a person's change is tried again when the task moved at the same
/// moment (a hand-out, a run ending): each try reads the task afresh.
const SETTLE_TRIES: usize = 3;

/// A person's change to a task, carried out: the task now, and what its thread was told.
#[derive(Debug, Clone, Serialize)]
pub struct TaskChanged {
    pub task: tasks::Model,
    pub said: String,
}

/// How an office ends a task it claimed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskOutcome {
    pub result: String,
    #[serde(default)]
    pub failed: bool,
}

/// An office asks its manager for help.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationAsk {
    pub reason: String,
}

/// An escalation's dedupe key: by the run that asks, then by what it says.
fn escalation_key(run_id: &str, reason_hash: &str) -> String {
    format!("escalation:{run_id}:{reason_hash}")
}

impl Engine {
    /// Makes a task in `thread_id`, said there. Checked: a title, a known owner, a known
    /// parent and known dependencies.
    pub async fn create_task(
        &self,
        thread_id: &str,
        created_by: &str,
        created_run: Option<&str>,
        ask: TaskAsk,
    ) -> anyhow::Result<Result<tasks::Model, TaskRefusal>> {
        let title = ask.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Ok(Err(TaskRefusal::Invalid(format!("a task needs a title of 1–{MAX_TITLE_CHARS} characters"))));
        }
        if ask.body.chars().count() > MAX_MESSAGE_CHARS {
            return Ok(Err(TaskRefusal::Invalid(format!("a task's body is at most {MAX_MESSAGE_CHARS} characters"))));
        }
        if let Some(owner) = &ask.owner
            && self.config().office(owner).is_none()
        {
            return Ok(Err(TaskRefusal::Invalid(format!("there is no office `{owner}`"))));
        }
        for id in ask.parent.iter().chain(&ask.depends_on) {
            if self.store.task(*id).await?.is_none() {
                return Ok(Err(TaskRefusal::NotFound(*id)));
            }
        }
        if self.store.thread(thread_id).await?.is_none() {
            return Ok(Err(TaskRefusal::Invalid(format!("unknown thread `{thread_id}`"))));
        }
        let task = self
            .store
            .create_task(NewTask {
                title: title.to_owned(),
                body: ask.body.trim().to_owned(),
                owner: ask.owner.clone(),
                priority: ask.priority,
                parent_id: ask.parent,
                depends_on: ask.depends_on.clone(),
                thread_id: thread_id.to_owned(),
                created_by: created_by.to_owned(),
                created_run: created_run.map(str::to_owned),
            })
            .await?;
        let details = serde_json::json!({
            "task": task.id, "title": task.title, "thread": thread_id, "depends_on": ask.depends_on, "parent": ask.parent
        });
        self.record(created_by, task.owner.as_deref().unwrap_or(""), created_run, "task_created", details).await;
        let waiting = self.store.ready_tasks().await?.iter().all(|ready| ready.id != task.id) && task.owner.is_some();
        let waits_for = if waiting { ask.depends_on.clone() } else { Vec::new() };
        let said = texts::task_created(task.id, &task.title, task.owner.as_deref(), &waits_for);
        self.post(thread_id, MessageKind::Text, &said, None, None).await?;
        self.tasks_changed.notify_one();
        Ok(Ok(task))
    }

    /// An office makes a task (for another office, or for any): in the thread of the run
    /// asking, as a sub-task of the task that run holds unless it names a parent.
    pub async fn office_creates_task(
        &self,
        token: &str,
        run_id: &str,
        mut ask: TaskAsk,
    ) -> anyhow::Result<Result<tasks::Model, TaskRefusal>> {
        let (office, prompt) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if self.store.tasks_created_by_run(run_id).await? >= MAX_TASKS_PER_RUN {
            return Ok(Err(TaskRefusal::Invalid(format!("a run may create at most {MAX_TASKS_PER_RUN} tasks"))));
        }
        if ask.parent.is_none() {
            ask.parent = self.store.tasks_held_by(run_id).await?.first().map(|task| task.id);
        }
        self.create_task(&prompt.thread_id, &office.name, Some(run_id), ask).await
    }

    /// An office claims a task for the run it is in: one nobody owns, or its own.
    pub async fn office_claims_task(
        &self,
        token: &str,
        run_id: &str,
        id: i64,
    ) -> anyhow::Result<Result<tasks::Model, TaskRefusal>> {
        let (office, _) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let lease = now_ms() + CLAIM_LEASE.as_millis() as i64;
        let claim = self.store.claim_task(id, &office.name, run_id, ClaimVia::Office, lease).await?;
        if let Some(refusal) = TaskRefusal::from_claim(id, claim.clone()) {
            return Ok(Err(refusal));
        }
        let Claim::Claimed(task) = claim else { unreachable!("a refusal is returned above") };
        let details = serde_json::json!({"task": id, "via": ClaimVia::Office, "generation": task.generation});
        self.record(&office.name, &office.name, Some(run_id), "task_claimed", details).await;
        self.post(
            &task.thread_id,
            MessageKind::Text,
            &texts::task_taken(id, &task.title, &office.name, 1, 1),
            None,
            None,
        )
        .await?;
        Ok(Ok(*task))
    }

    /// An office ends a task its run holds.
    pub async fn office_finishes_task(
        &self,
        token: &str,
        run_id: &str,
        id: i64,
        outcome: TaskOutcome,
    ) -> anyhow::Result<Result<tasks::Model, TaskRefusal>> {
        let (office, _) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let state = if outcome.failed { TaskState::Failed } else { TaskState::Done };
        let Some(task) = self.store.finish_task(id, run_id, state, &outcome.result).await? else {
            return Ok(Err(TaskRefusal::NotHeld(id)));
        };
        self.task_finished(&office.name, run_id, &task).await?;
        Ok(Ok(task))
    }

    /// The tasks an office may work on: those it holds, its own and those for anyone.
    pub async fn office_tasks(&self, token: &str) -> anyhow::Result<Result<Vec<tasks::Model>, TaskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(TaskRefusal::BadKey(error))),
        };
        let tasks = self.store.tasks(None).await?;
        Ok(Ok(tasks
            .into_iter()
            .filter(|task| !task.state.is_closed())
            .filter(|task| task.owner.as_deref().is_none_or(|owner| owner == office.name))
            .filter(|task| task.state == TaskState::Open || task.holder.as_deref() == Some(office.name.as_str()))
            .collect()))
    }

    /// An office asks the office it reports to for help, in the thread of its run.
    pub async fn office_escalates(
        &self,
        token: &str,
        run_id: &str,
        ask: EscalationAsk,
    ) -> anyhow::Result<Result<String, TaskRefusal>> {
        let (office, prompt) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if ask.reason.trim().is_empty() {
            return Ok(Err(TaskRefusal::Invalid("say why you escalate".to_owned())));
        }
        let Some(manager) = self.manager_of(&office.name) else {
            return Ok(Err(TaskRefusal::Invalid(format!("{} reports to no office", office.name))));
        };
        if self.store.count_inbound_keyed(&prompt.thread_id, &escalation_key(run_id, "")).await?
            >= MAX_ESCALATIONS_PER_RUN
        {
            let message = format!("a run may escalate at most {MAX_ESCALATIONS_PER_RUN} times");
            return Ok(Err(TaskRefusal::Invalid(message)));
        }
        let history = self.thread_history(&prompt.thread_id).await?;
        self.escalate(&prompt.thread_id, &office.name, run_id, &manager, ask.reason.trim(), &history).await?;
        Ok(Ok(manager))
    }

    /// The office `office` reports to, if it is an office of the fleet.
    fn manager_of(&self, office: &str) -> Option<String> {
        let config = self.config();
        let manager = config.office(office)?.reports_to.clone()?;
        config.office(&manager).map(|m| m.name.clone())
    }

    /// What was said in a thread, oldest first, as a manager reads it.
    async fn thread_history(&self, thread_id: &str) -> anyhow::Result<String> {
        let lines: Vec<String> = self
            .store
            .thread_messages(thread_id)
            .await?
            .into_iter()
            .filter(|m| matches!(m.kind, MessageKind::Text | MessageKind::Result))
            .map(|m| format!("{}: {}", if m.from_nova { "nova" } else { m.author.as_str() }, m.body))
            .collect();
        let keep = lines.len().saturating_sub(20);
        Ok(format!("The thread so far:\n{}", lines[keep..].join("\n")))
    }

    /// Sends `reason` up to `manager` as a prompt in the thread.
    async fn escalate(
        &self,
        thread_id: &str,
        office: &str,
        run_id: &str,
        manager: &str,
        reason: &str,
        history: &str,
    ) -> anyhow::Result<()> {
        use sha2::Digest as _;
        let Some(thread) = self.store.thread(thread_id).await? else { return Ok(()) };
        let incoming = Incoming {
            surface: thread.surface,
            channel: thread.channel,
            thread: ThreadRef::Existing(thread.id),
            author: office.to_owned(),
            // A repeated ask (the office retried) is the same escalation.
            dedupe_key: escalation_key(run_id, &hex::encode(&sha2::Sha256::digest(reason)[..8])),
            event: InboundEvent::Escalation {
                from_run: run_id.to_owned(),
                to: manager.to_owned(),
                reason: reason.to_owned(),
                prompt: texts::escalation_prompt(office, reason, history),
            },
        };
        if let Err(refusal) = self.accept(incoming).await? {
            tracing::warn!(office, manager, "an escalation was refused: {refusal}");
        }
        Ok(())
    }

    /// A person cancels a task: it closes whatever state it is in (but done), the run
    /// Nova handed it to stops, and its thread says so, naming the tasks that wait for it.
    pub async fn cancel_task(&self, user: &str, id: i64) -> anyhow::Result<Result<TaskChanged, TaskRefusal>> {
        let by = self.config().person(user).unwrap_or(user).to_owned();
        let why = format!("cancelled by {by}");
        let (before, cancelled) = match self
            .settle(user, id, |task| match task.state {
                TaskState::Cancelled => Err(TaskRefusal::Closed { id, state: task.state }),
                _ => Ok(TaskSettled::Cancelled { why: why.clone() }),
            })
            .await?
        {
            Ok(settled) => settled,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let stopping = self.stop_task_run(&before, user).await?;
        let waiting: Vec<i64> = self.store.tasks_waiting_for(id).await?.iter().map(|task| task.id).collect();
        let details =
            serde_json::json!({"task": id, "was": before.state.as_str(), "run": before.holder_run, "waiting": waiting});
        self.record(
            user,
            before.owner.as_deref().unwrap_or(""),
            before.holder_run.as_deref(),
            "task_cancelled",
            details,
        )
        .await;
        let said = texts::task_cancelled_by(id, &before.title, &by, stopping.as_deref(), &waiting);
        self.post(&before.thread_id, MessageKind::Text, &said, None, None).await?;
        self.tasks_changed.notify_one();
        Ok(Ok(TaskChanged { task: cancelled, said }))
    }

    /// A person gives a task to an office (`None`: to its owner again): it is open for
    /// that office with its attempts counted afresh, whatever became of it (but done),
    /// and a run still on it stops. How a failed, cancelled or orphaned task (its office
    /// retired) gets going again.
    pub async fn assign_task(
        &self,
        user: &str,
        id: i64,
        office: Option<&str>,
    ) -> anyhow::Result<Result<TaskChanged, TaskRefusal>> {
        let config = self.config();
        let (before, assigned) = match self
            .settle(user, id, |task| {
                let to = office.or(task.owner.as_deref()).ok_or_else(|| {
                    TaskRefusal::Invalid(format!("task #{id} is for any office: say which office it is for"))
                })?;
                if config.office(to).is_none() {
                    // Named by the person, or the task's own office, retired since.
                    let retired = if office.is_none() { " any more: say which office it is for" } else { "" };
                    return Err(TaskRefusal::Invalid(format!("there is no office `{to}`{retired}")));
                }
                if task.state == TaskState::Open && task.owner.as_deref() == Some(to) {
                    return Err(TaskRefusal::Invalid(format!("task #{id} is already open for {to}")));
                }
                Ok(TaskSettled::AssignedTo(to.to_owned()))
            })
            .await?
        {
            Ok(settled) => settled,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let stopping = self.stop_task_run(&before, user).await?;
        let to = assigned.owner.clone().unwrap_or_default();
        let details = serde_json::json!({
            "task": id, "to": to, "from": before.owner, "was": before.state.as_str(), "run": before.holder_run
        });
        self.record(user, &to, before.holder_run.as_deref(), "task_assigned", details).await;
        let by = config.person(user).unwrap_or(user);
        let said = texts::task_assigned(id, &before.title, &to, by, before.state, stopping.as_deref());
        self.post(&before.thread_id, MessageKind::Text, &said, None, None).await?;
        self.tasks_changed.notify_one();
        Ok(Ok(TaskChanged { task: assigned, said }))
    }

    /// Checks that `user` may change task `id` and carries out `change` of it (which
    /// may refuse, seeing the task as it is), read afresh if the task moved meanwhile.
    /// Returns the task before and after.
    async fn settle(
        &self,
        user: &str,
        id: i64,
        change: impl Fn(&tasks::Model) -> Result<TaskSettled, TaskRefusal>,
    ) -> anyhow::Result<Result<(tasks::Model, tasks::Model), TaskRefusal>> {
        let config = self.config();
        for _ in 0..SETTLE_TRIES {
            let Some(task) = self.store.task(id).await? else { return Ok(Err(TaskRefusal::NotFound(id))) };
            if runs::may_stop(&config, &task.created_by, user).is_err() {
                let creator = config.person(&task.created_by).unwrap_or(&task.created_by).to_owned();
                return Ok(Err(TaskRefusal::NotAllowed { id, creator }));
            }
            if task.state == TaskState::Done {
                return Ok(Err(TaskRefusal::Closed { id, state: task.state }));
            }
            let settled = match change(&task) {
                Ok(settled) => settled,
                Err(refusal) => return Ok(Err(refusal)),
            };
            if let Some(after) = self.store.settle_task(&task, settled).await? {
                return Ok(Ok((task, after)));
            }
        }
        anyhow::bail!("task #{id} kept changing while {user} tried to change it")
    }

    /// Stops the run Nova handed a task to, now that the task is taken from it; `Some`
    /// office when one was on it. A run that claimed the task itself was asked for
    /// something else, and goes on: its answer about the task changes nothing now.
    async fn stop_task_run(&self, task: &tasks::Model, user: &str) -> anyhow::Result<Option<String>> {
        let (Some(run), Some(ClaimVia::Dispatch)) = (&task.holder_run, task.claimed_via) else {
            return Ok(None);
        };
        match self.stop_run(run, user).await? {
            Ok(()) => Ok(task.holder.clone()),
            // Not queued yet (the hand-out finds its claim gone), or already over.
            Err(refusal) => {
                tracing::info!(task = task.id, run, "a cancelled or reassigned task's run was not stopped: {refusal}");
                Ok(None)
            }
        }
    }

    /// Hands out what is ready and takes back what lapsed, whenever tasks change and on
    /// a tick.
    pub(super) async fn task_loop(self: Arc<Self>) {
        loop {
            if let Err(error) = self.recover_tasks(now_ms()).await {
                tracing::error!("taking back lapsed task claims failed: {error:#}");
            }
            if let Err(error) = self.hand_out_tasks().await {
                tracing::error!("handing out tasks failed: {error:#}");
            }
            let _ = tokio::time::timeout(TASK_TICK, self.tasks_changed.notified()).await;
        }
    }

    /// Claims every ready task for its owner and queues it there as a run, in its thread.
    async fn hand_out_tasks(&self) -> anyhow::Result<()> {
        for task in self.store.ready_tasks().await? {
            let Some(owner) = task.owner.clone().filter(|owner| self.config().office(owner).is_some()) else {
                continue; // its office was retired: it waits for a person to give it to another
            };
            let run_id = uuid::Uuid::new_v4().to_string();
            let lease = now_ms() + CLAIM_LEASE.as_millis() as i64;
            let Claim::Claimed(claimed) =
                self.store.claim_task(task.id, &owner, &run_id, ClaimVia::Dispatch, lease).await?
            else {
                continue; // claimed meanwhile (another replica, or the office itself)
            };
            let Some(thread) = self.store.thread(&claimed.thread_id).await? else {
                self.store.release_task(&claimed, TaskState::Cancelled, Some("its thread is gone")).await?;
                continue;
            };
            let incoming = Incoming {
                surface: thread.surface,
                channel: thread.channel,
                thread: ThreadRef::Existing(thread.id),
                author: claimed.created_by.clone(),
                dedupe_key: format!("task:{}:{}", claimed.id, claimed.generation),
                event: InboundEvent::Task { task: claimed.id, run_id },
            };
            if let Err(refusal) = self.accept(incoming).await? {
                tracing::warn!(task = claimed.id, "a task's hand-out was refused: {refusal}");
                self.store.release_task(&claimed, TaskState::Open, None).await?;
            }
        }
        Ok(())
    }

    /// A hand-out, routed: the owner gets the task as a prompt, with what the tasks it
    /// waited for came to. Skipped if the claim moved on meanwhile.
    pub(super) async fn plan_task_run(
        &self,
        row: &store::inbound::Model,
        id: i64,
        run_id: String,
        effects: &mut InboundEffects,
    ) -> anyhow::Result<()> {
        let Some(task) = self.store.task(id).await?.filter(|t| t.holder_run.as_deref() == Some(run_id.as_str())) else {
            return Ok(());
        };
        let Some(office) = task.holder.clone() else { return Ok(()) };
        let deps = self.store.task_dependencies(&[id]).await?.remove(&id).unwrap_or_default();
        let mut before = Vec::new();
        for dep in deps {
            if let Some(dep) = self.store.task(dep).await? {
                before.push((dep.id, dep.title, dep.result.unwrap_or_default()));
            }
        }
        effects.audit.push(store::AuditEntry {
            actor: "nova".to_owned(),
            office: Some(office.clone()),
            run_id: Some(run_id.clone()),
            action: "task_dispatched",
            details: serde_json::json!({"task": id, "attempt": task.attempts, "thread": row.thread_id}),
        });
        effects.replies.push(Reply {
            thread_id: row.thread_id.clone(),
            kind: MessageKind::Text,
            body: texts::task_taken(id, &task.title, &office, task.attempts, MAX_TASK_ATTEMPTS),
            card: None,
        });
        effects.prompt = Some(NewPrompt {
            run_id,
            thread_id: row.thread_id.clone(),
            office,
            author: row.author.clone(),
            text: texts::task_prompt(id, &task.title, &task.body, &before),
            state: PromptState::Held,
            handoff_from: None,
        });
        Ok(())
    }

    /// A run ended: the tasks it held are done (its result), retried or escalated (it
    /// failed), cancelled (someone stopped it), or open again (an office's own claim it
    /// never finished).
    pub(super) async fn tasks_after_run(
        &self,
        office: &str,
        prompt: &prompts::Model,
        ended: PromptState,
        said: &str,
    ) -> anyhow::Result<()> {
        for task in self.store.tasks_held_by(&prompt.run_id).await? {
            let handed_out = task.claimed_via == Some(ClaimVia::Dispatch);
            match ended {
                PromptState::Done if handed_out => {
                    if let Some(task) = self.store.finish_task(task.id, &prompt.run_id, TaskState::Done, said).await? {
                        self.task_finished(office, &prompt.run_id, &task).await?;
                    }
                }
                PromptState::Failed if handed_out && task.attempts >= MAX_TASK_ATTEMPTS => {
                    let Some(task) = self.store.release_task(&task, TaskState::Failed, Some(said)).await? else {
                        continue;
                    };
                    self.task_finished(office, &prompt.run_id, &task).await?;
                }
                PromptState::Failed if handed_out => {
                    if self.store.release_task(&task, TaskState::Open, Some(said)).await?.is_some() {
                        let text = texts::task_retried(task.id, &task.title, office, task.attempts, MAX_TASK_ATTEMPTS);
                        self.post(&task.thread_id, MessageKind::Text, &text, None, None).await?;
                        self.record(
                            "nova",
                            office,
                            Some(&prompt.run_id),
                            "task_retried",
                            serde_json::json!({"task": task.id}),
                        )
                        .await;
                    }
                }
                PromptState::Stopped => {
                    if self.store.release_task(&task, TaskState::Cancelled, Some(said)).await?.is_some() {
                        let text = texts::task_cancelled(task.id, &task.title, office);
                        self.post(&task.thread_id, MessageKind::Text, &text, None, None).await?;
                        self.record(
                            "nova",
                            office,
                            Some(&prompt.run_id),
                            "task_cancelled",
                            serde_json::json!({"task": task.id}),
                        )
                        .await;
                    }
                }
                _ => {
                    if self.store.release_task(&task, TaskState::Open, None).await?.is_some() {
                        let text = texts::task_reopened(task.id, &task.title, office);
                        self.post(&task.thread_id, MessageKind::Text, &text, None, None).await?;
                        self.record(
                            "nova",
                            office,
                            Some(&prompt.run_id),
                            "task_reopened",
                            serde_json::json!({"task": task.id}),
                        )
                        .await;
                    }
                }
            }
        }
        self.tasks_changed.notify_one();
        Ok(())
    }

    /// A task reached `done` or `failed`: said in its thread, audited, and (failed) sent
    /// up the chain of command. Its dependents may now be ready.
    async fn task_finished(&self, office: &str, run_id: &str, task: &tasks::Model) -> anyhow::Result<()> {
        let details = serde_json::json!({"task": task.id, "state": task.state.as_str(), "attempts": task.attempts});
        self.record(office, office, Some(run_id), "task_finished", details).await;
        match task.state {
            TaskState::Failed => {
                let text = match self.manager_of(office) {
                    Some(manager) => {
                        let reason = format!(
                            "task #{} ({}) failed {} times. Its last outcome: {}",
                            task.id,
                            task.title,
                            task.attempts,
                            task.result.as_deref().unwrap_or("none")
                        );
                        let history =
                            format!("The task:\n{}", texts::task_prompt(task.id, &task.title, &task.body, &[]));
                        self.escalate(&task.thread_id, office, run_id, &manager, &reason, &history).await?;
                        texts::task_escalated(task.id, &task.title, office, task.attempts, &manager)
                    }
                    None => texts::task_needs_a_person(task.id, &task.title, office, task.attempts),
                };
                self.post(&task.thread_id, MessageKind::Text, &text, None, None).await?;
            }
            _ => {
                self.post(
                    &task.thread_id,
                    MessageKind::Text,
                    &texts::task_done(task.id, &task.title, office),
                    None,
                    None,
                )
                .await?;
            }
        }
        self.tasks_changed.notify_one();
        Ok(())
    }

    /// The tasks there are (all, or one office's), as the orchestrator answers "what
    /// tasks are open?".
    pub(super) async fn task_list(&self, office: Option<&str>) -> anyhow::Result<String> {
        if let Some(office) = office
            && self.config().office(office).is_none()
        {
            return Ok(texts::no_such_office(&self.config(), office));
        }
        let tasks = self.store.tasks(office).await?;
        let lines: Vec<texts::TaskLine> = tasks
            .iter()
            .filter(|t| !t.state.is_closed() || now_ms() - t.updated_at < 86_400_000)
            .map(|t| texts::TaskLine {
                id: t.id,
                title: &t.title,
                owner: t.owner.as_deref(),
                state: t.state.as_str(),
                holder: t.holder.as_deref(),
            })
            .collect();
        Ok(texts::task_list(office, &lines))
    }

    /// Takes back claims whose lease passed while their run was not alive.
    pub async fn recover_tasks(&self, now: i64) -> anyhow::Result<usize> {
        let mut recovered = 0;
        for task in self.store.lapsed_claims(now).await? {
            let holder = task.holder.clone().unwrap_or_default();
            if let Some(reopened) = self.store.release_task(&task, TaskState::Open, None).await? {
                recovered += 1;
                let details =
                    serde_json::json!({"task": task.id, "run": task.holder_run, "generation": reopened.generation});
                self.record("nova", &holder, task.holder_run.as_deref(), "task_recovered", details).await;
                let text = texts::task_recovered(task.id, &task.title, &holder);
                self.post(&task.thread_id, MessageKind::Text, &text, None, None).await?;
            }
        }
        if recovered > 0 {
            self.tasks_changed.notify_one();
        }
        Ok(recovered)
    }
}
