//! Runs: held prompts handed to their office as it has room, and the events an office
//! reports back (progress, objectives, the result), applied to the thread.

use super::*;

/// Why an office event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventRefusal {
    #[error("the event names another office than its service key")]
    UnknownOffice,
    #[error("{0}")]
    BadKey(KeyError),
    #[error("the event is from an older generation of this office")]
    StaleGeneration,
    #[error("unknown run")]
    UnknownRun,
}

/// How much work one run may hand to other offices: a runaway agent cannot flood
/// the fleet.
pub const MAX_HANDOFFS_PER_RUN: u64 = 5;

/// An office's request to hand work to another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffAsk {
    pub to: String,
    pub prompt: String,
}

/// Why a stop was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopRefusal {
    #[error("that run is not one of Nova's")]
    Unknown,
    #[error("that run has already ended")]
    Ended,
    #[error("only {author} (who asked for it) or an operator may stop it")]
    NotAllowed { author: String },
}

/// Who may stop a run: whoever asked for it, and operators (everyone, while the
/// workspace names no operators).
pub fn may_stop(config: &crate::config::Config, author: &str, user: &str) -> Result<(), StopRefusal> {
    let same_person = config.identities(user).iter().any(|identity| identity == author);
    if same_person || crate::commands::may_operate(config, user).is_ok() {
        return Ok(());
    }
    Err(StopRefusal::NotAllowed { author: config.person(author).unwrap_or(author).to_owned() })
}

/// The path-safe name of a thread's session: its branch is `nova/{name}`.
pub fn session_name(thread_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(thread_id.as_bytes());
    format!("s-{}", &hex::encode(digest)[..12])
}

impl Engine {
    /// Sends the office its held prompts, oldest first.
    /// Only as many as keep the office busy: as many running as its concurrency allows
    /// and one ready to start the moment a run ends. The rest wait here, where a burst
    /// costs nothing until their turn.
    pub(super) async fn dispatch_held(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let fleet = self.config();
        let Some(config) = fleet.office(&office.name) else {
            return Ok(());
        };
        let in_flight = self.store.count_prompts(&office.name, &[PromptState::Dispatched]).await?;
        let room = (u64::from(config.concurrency) + READY_PROMPTS).saturating_sub(in_flight);
        if room == 0 {
            return Ok(());
        }
        let held = self.store.oldest_prompts(&office.name, PromptState::Held, Some(room)).await?;
        let held = self.startable(&office.name, held).await?;
        if held.is_empty() {
            return Ok(());
        }
        let attached = {
            let mut attached = self.attached.lock().expect("attached lock");
            attached.get_mut(&office.name).filter(|a| a.generation == office.generation).map(|a| {
                // Work goes there: from now on its workspace is its own, snapshotted on sleep.
                a.unchanged_since = None;
                (a.endpoint.clone(), a.token.clone(), Arc::clone(&a.skills))
            })
        };
        let Some((endpoint, token, skills)) = attached else {
            return Ok(());
        };
        if office.prewarm_until.is_some() {
            self.prewarm_hit(office).await?;
        }
        if office.state == OfficeState::Idle {
            let mut change = OfficeChange::new(Transition::Resume);
            change.touch = true;
            self.set_state(office, change).await?;
        }
        for prompt in held {
            let Some(runtime) = &config.runtime else {
                if self.store.move_prompt(prompt.id, PromptState::Held, PromptState::Failed).await? {
                    let said = texts::no_runtime(&office.name);
                    self.post(&prompt.thread_id, MessageKind::Text, &said, None, None).await?;
                    self.tasks_after_run(&office.name, &prompt, PromptState::Failed, &said).await?;
                }
                continue;
            };
            let card = Card::Progress {
                office: office.name.clone(),
                status: RunStatus::Queued,
                objectives: vec![],
                lines: vec![],
            };
            let Some(progress) = self.store.dispatch_prompt(&prompt, &card.fallback_text(), &card.to_json()).await?
            else {
                continue;
            };
            let channel = self.channel_of(&prompt.thread_id).await?;
            self.publish_message(&channel, progress);
            self.applied.lock().expect("applied lock").remove(&prompt.run_id);
            let request = RunRequest {
                run_id: prompt.run_id.clone(),
                prompt: prompt.text.clone(),
                author: prompt.author.clone(),
                thread_id: prompt.thread_id.clone(),
                session: session_name(&prompt.thread_id),
                repo: self.run_repo(&prompt.thread_id).await?,
                transcript: self.transcript(&prompt).await?,
                runtime: RuntimeSpec {
                    command: runtime.command.clone(),
                    env: runtime.env.clone(),
                    timeout_secs: runtime.timeout.as_secs().max(1),
                    sandbox: runtime.sandbox.clone(),
                    output: runtime.output.unwrap_or_default(),
                    concurrency: config.concurrency,
                },
            };
            // Stopped while its card went up: it never leaves.
            if self.store.prompt_by_run(&prompt.run_id).await?.is_none_or(|p| p.state != PromptState::Dispatched) {
                continue;
            }
            let sent = self.http.post(format!("{endpoint}/runs")).bearer_auth(&token).json(&request).send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    metrics::counter!("nova_prompts_dispatched_total").increment(1);
                    // The run's audit pins the skills it has: their revisions at this wake.
                    let details =
                        serde_json::json!({"thread": prompt.thread_id, "author": prompt.author, "skills": *skills});
                    self.record("nova", &office.name, Some(&prompt.run_id), "dispatch", details).await;
                    self.store.touch_office(&office.name).await?;
                }
                failed => {
                    let reason = match failed {
                        Ok(response) => format!("the office answered {}", response.status()),
                        Err(error) => format!("the office stopped responding ({error})"),
                    };
                    self.store.move_prompt(prompt.id, PromptState::Dispatched, PromptState::Held).await?;
                    // The cloud may know the machine is gone; else its workspace may well
                    // be there still, and the snapshot tries.
                    let lost = self.compute.lost_now(&office.name).await;
                    self.office_lost(office, lost.unwrap_or(compute::Lost { reason, workspace_kept: true })).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The repo a thread is about, as its run needs it.
    async fn run_repo(&self, thread_id: &str) -> anyhow::Result<Option<RepoContext>> {
        let thread = self.store.thread(thread_id).await?;
        let repo = thread.and_then(|t| t.repo).and_then(|name| self.config().repo(&name).cloned());
        Ok(repo.map(|repo| RepoContext {
            name: repo.name,
            url: repo.url,
            default_branch: repo.branch,
            upstream: repo.upstream,
        }))
    }

    /// The thread up to `prompt`, oldest first: what people said, Nova's notes and the
    /// offices' results (each under its office's name). Progress and cards are left out.
    async fn transcript(&self, prompt: &prompts::Model) -> anyhow::Result<Vec<TranscriptEntry>> {
        let runs: HashMap<String, String> =
            self.store.thread_prompts(&prompt.thread_id).await?.into_iter().map(|p| (p.run_id, p.office)).collect();
        let mut entries = Vec::new();
        for message in self.store.thread_messages(&prompt.thread_id).await? {
            let is_prompt = !message.from_nova && message.body == prompt.text;
            if message.created_at > prompt.created_at && !is_prompt {
                break;
            }
            let (author, role) = match (message.from_nova, message.kind) {
                (false, _) => (message.author.clone(), Speaker::Person),
                (true, MessageKind::Result) => match message.run_id.as_ref().and_then(|run| runs.get(run)) {
                    Some(office) => (office.clone(), Speaker::Office),
                    None => ("nova".to_owned(), Speaker::Nova),
                },
                (true, MessageKind::Text) => ("nova".to_owned(), Speaker::Nova),
                _ => continue,
            };
            let author = match role {
                Speaker::Person => self.config().person(&author).unwrap_or(&author).to_owned(),
                _ => author,
            };
            entries.push(TranscriptEntry { author, role, text: message.body });
            if is_prompt {
                break;
            }
        }
        Ok(entries)
    }

    /// Someone stops a run. The permission check comes first; a queued run never
    /// starts, a running one has its runtime's process group ended by its office.
    pub async fn stop_run(&self, run_id: &str, user: &str) -> anyhow::Result<Result<(), StopRefusal>> {
        let Some(prompt) = self.store.prompt_by_run(run_id).await? else {
            return Ok(Err(StopRefusal::Unknown));
        };
        if let Err(refusal) = may_stop(&self.config(), &prompt.author, user) {
            return Ok(Err(refusal));
        }
        let by = self.config().person(user).unwrap_or(user).to_owned();
        // Still queued here: it never leaves. Dispatched meanwhile: the office stops it.
        let queued = prompt.state == PromptState::Held;
        let stopped_here = queued && self.store.move_prompt(prompt.id, PromptState::Held, PromptState::Stopped).await?;
        let prompt =
            if queued && !stopped_here { self.store.prompt_by_run(run_id).await?.unwrap_or(prompt) } else { prompt };
        match prompt.state {
            PromptState::Held if stopped_here => {
                let details = serde_json::json!({"thread": prompt.thread_id, "by": by, "started": false});
                self.record(user, &prompt.office, Some(run_id), "run_stopped", details).await;
                let said = texts::stopped_before_start(&prompt.office, &by);
                self.post(&prompt.thread_id, MessageKind::Text, &said, None, None).await?;
                self.tasks_after_run(&prompt.office, &prompt, PromptState::Stopped, &said).await?;
                Ok(Ok(()))
            }
            PromptState::Dispatched => {
                let details = serde_json::json!({"thread": prompt.thread_id, "by": by});
                self.record(user, &prompt.office, Some(run_id), "stop_requested", details).await;
                let attached = {
                    let attached = self.attached.lock().expect("attached lock");
                    attached.get(&prompt.office).map(|a| (a.endpoint.clone(), a.token.clone()))
                };
                let sent = match attached {
                    Some((endpoint, token)) => Some(
                        self.http
                            .post(format!("{endpoint}/runs/{run_id}/stop"))
                            .bearer_auth(token)
                            .json(&StopRequest { by: by.clone() })
                            .send()
                            .await,
                    ),
                    None => None,
                };
                match sent {
                    Some(Ok(response)) if response.status().is_success() => {}
                    // The office no longer has it (it was lost, or ended just now): the
                    // run ends here, and a late result is ignored.
                    _ => {
                        self.apply_run_event(&prompt.office, &prompt, RunEvent::Stopped { by }).await?;
                    }
                }
                Ok(Ok(()))
            }
            PromptState::Held
            | PromptState::Unrouted
            | PromptState::Done
            | PromptState::Failed
            | PromptState::Stopped => Ok(Err(StopRefusal::Ended)),
        }
    }

    /// An office hands work to another: a prompt for `to` in the same thread, whose
    /// outcome comes back to this office's session when it ends. Asked by the office
    /// (its token and a run it is running); at most [`MAX_HANDOFFS_PER_RUN`] per run.
    pub async fn hand_off(
        &self,
        token: &str,
        run_id: &str,
        ask: HandoffAsk,
    ) -> anyhow::Result<Result<String, AskRefusal>> {
        use sha2::Digest as _;
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        let Some(prompt) = self.running_prompt(&office, run_id).await? else {
            return Ok(Err(AskRefusal::UnknownRun(run_id.to_owned())));
        };
        if ask.to == office.name {
            return Ok(Err(AskRefusal::Invalid("an office cannot hand work to itself".to_owned())));
        }
        if self.config().office(&ask.to).is_none() {
            let config = self.config();
            let known: Vec<&str> =
                config.offices.iter().map(|o| o.name.as_str()).filter(|name| *name != office.name).collect();
            return Ok(Err(AskRefusal::Invalid(format!(
                "there is no office `{}` (offices: {})",
                ask.to,
                known.join(", ")
            ))));
        }
        if self.store.count_handoffs(run_id).await? >= MAX_HANDOFFS_PER_RUN {
            let message = format!("a run may hand over at most {MAX_HANDOFFS_PER_RUN} pieces of work");
            return Ok(Err(AskRefusal::Invalid(message)));
        }
        let Some(thread) = self.store.thread(&prompt.thread_id).await? else {
            return Ok(Err(AskRefusal::UnknownRun(run_id.to_owned())));
        };
        let incoming = Incoming {
            surface: thread.surface,
            channel: thread.channel,
            thread: ThreadRef::Existing(thread.id),
            author: office.name.clone(),
            // A repeated ask (the office retried) is the same handoff.
            dedupe_key: format!(
                "handoff:{run_id}:{}",
                hex::encode(&sha2::Sha256::digest(format!("{}\n{}", ask.to, ask.prompt))[..8])
            ),
            event: InboundEvent::Handoff {
                from_run: run_id.to_owned(),
                to: ask.to.clone(),
                text: ask.prompt,
                returning: false,
            },
        };
        match self.accept(incoming).await? {
            Ok(_) => Ok(Ok(ask.to)),
            Err(refusal) => Ok(Err(AskRefusal::Invalid(refusal.to_string()))),
        }
    }

    /// A handed-over run ended: its outcome goes back to the office that handed it
    /// over, as a prompt in the same session.
    async fn return_handoff(&self, office: &str, prompt: &prompts::Model, outcome: &str) -> anyhow::Result<()> {
        let Some(from_run) = &prompt.handoff_from else { return Ok(()) };
        let Some(origin) = self.store.prompt_by_run(from_run).await? else { return Ok(()) };
        let Some(thread) = self.store.thread(&prompt.thread_id).await? else { return Ok(()) };
        let incoming = Incoming {
            surface: thread.surface,
            channel: thread.channel,
            thread: ThreadRef::Existing(thread.id),
            author: office.to_owned(),
            dedupe_key: format!("handoff-return:{}", prompt.run_id),
            event: InboundEvent::Handoff {
                from_run: prompt.run_id.clone(),
                to: origin.office,
                text: texts::handoff_result(office, outcome),
                returning: true,
            },
        };
        if let Err(refusal) = self.accept(incoming).await? {
            tracing::warn!(run = prompt.run_id, "the handoff's outcome could not go back: {refusal}");
        }
        Ok(())
    }

    /// A stop from a progress card's button: the card's run.
    pub async fn stop_card(&self, message_id: i64, user: &str) -> anyhow::Result<Result<(), StopRefusal>> {
        let run =
            self.store.message(message_id).await?.filter(|m| m.kind == MessageKind::Progress).and_then(|m| m.run_id);
        match run {
            Some(run) => self.stop_run(&run, user).await,
            None => Ok(Err(StopRefusal::Unknown)),
        }
    }

    /// The run a "stop" in a thread means: the one running, else the next queued.
    pub(super) async fn active_run(&self, thread_id: &str) -> anyhow::Result<Option<prompts::Model>> {
        let prompts = self.store.thread_prompts(thread_id).await?;
        let running = prompts.iter().find(|p| p.state == PromptState::Dispatched);
        Ok(running.or_else(|| prompts.iter().find(|p| p.state == PromptState::Held)).cloned())
    }

    /// Applies an event an office reports. Refuses stale generations and bad tokens.
    pub async fn office_event(&self, token: &str, envelope: EventEnvelope) -> anyhow::Result<Result<(), EventRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(EventRefusal::BadKey(error))),
        };
        if office.name != envelope.office {
            return Ok(Err(EventRefusal::UnknownOffice));
        }
        let (run, seq) = (envelope.run_id.as_str(), envelope.seq);
        if office.generation != envelope.generation {
            tracing::warn!(
                office = office.name,
                run,
                seq,
                generation = envelope.generation,
                "refused an event of a stale generation"
            );
            return Ok(Err(EventRefusal::StaleGeneration));
        }
        let Some(prompt) = self.store.prompt_by_run(run).await?.filter(|p| p.office == office.name) else {
            tracing::warn!(office = office.name, run, seq, "refused an event of a run the office does not have");
            return Ok(Err(EventRefusal::UnknownRun));
        };
        {
            let mut applied = self.applied.lock().expect("applied lock");
            let last = applied.get(run).copied();
            if last.is_some_and(|last| seq <= last) {
                tracing::debug!(office = office.name, run, seq, last, "an event delivered again; already applied");
                return Ok(Ok(()));
            }
            applied.insert(envelope.run_id.clone(), envelope.seq);
        }
        self.store.touch_office(&office.name).await?;
        self.apply_run_event(&office.name, &prompt, envelope.event).await?;
        Ok(Ok(()))
    }

    pub(super) async fn apply_run_event(
        &self,
        office: &str,
        prompt: &prompts::Model,
        event: RunEvent,
    ) -> anyhow::Result<()> {
        let Some(progress) = self.store.progress_message(&prompt.run_id).await? else {
            bail!("run {} has no progress message", prompt.run_id);
        };
        let Some(Card::Progress { status, mut objectives, mut lines, .. }) =
            progress.card.as_deref().and_then(Card::from_json)
        else {
            bail!("run {} has a broken progress card", prompt.run_id);
        };
        if matches!(status, RunStatus::Done | RunStatus::Failed | RunStatus::Stopped) {
            return Ok(());
        }
        let ending = match event {
            RunEvent::Started => None,
            RunEvent::Progress { text } => {
                lines.push(text);
                if lines.len() > texts::PROGRESS_LINES {
                    lines.drain(..lines.len() - texts::PROGRESS_LINES);
                }
                None
            }
            RunEvent::Objectives { items } => {
                objectives = items;
                None
            }
            RunEvent::Result { text } => {
                let audit = ("result", serde_json::json!({"chars": text.chars().count()}));
                Some((PromptState::Done, RunStatus::Done, MessageKind::Result, text, audit))
            }
            RunEvent::Usage { model, input_tokens, output_tokens, cost_usd } => {
                let details = serde_json::json!({
                    "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost_usd
                });
                self.record(office, office, Some(&prompt.run_id), "usage", details).await;
                metrics::counter!("nova_model_tokens_total", "office" => office.to_owned())
                    .increment(input_tokens + output_tokens);
                return Ok(());
            }
            RunEvent::Stopped { by } => {
                let text = texts::run_stopped(office, &by);
                let details = serde_json::json!({"thread": prompt.thread_id, "by": by, "started": true});
                Some((PromptState::Stopped, RunStatus::Stopped, MessageKind::Text, text, ("run_stopped", details)))
            }
            RunEvent::Failed { error } => {
                let text = texts::run_failed(office, &error);
                Some((
                    PromptState::Failed,
                    RunStatus::Failed,
                    MessageKind::Text,
                    text,
                    ("run_failed", serde_json::json!({"error": error})),
                ))
            }
        };
        let channel = self.channel_of(&prompt.thread_id).await?;
        let Some((state, status, kind, body, (action, details))) = ending else {
            let card = Card::Progress { office: office.to_owned(), status: RunStatus::Working, objectives, lines };
            let edited = self.store.edit_message(progress.id, &card.fallback_text(), Some(&card.to_json())).await?;
            self.publish_message(&channel, edited);
            return Ok(());
        };
        let card = Card::Progress { office: office.to_owned(), status, objectives, lines };
        let (fallback, json) = (card.fallback_text(), card.to_json());
        let Some((edited, posted)) =
            self.store.finish_run(prompt, state, (progress.id, &fallback, &json), (kind, &body)).await?
        else {
            return Ok(()); // a redelivered ending: already applied
        };
        self.record(office, office, Some(&prompt.run_id), action, details).await;
        self.publish_message(&channel, edited);
        self.publish_message(&channel, posted);
        self.return_handoff(office, prompt, &body).await?;
        self.tasks_after_run(office, prompt, state, &body).await?;
        self.applied.lock().expect("applied lock").remove(&prompt.run_id);
        self.work.notify_one();
        Ok(())
    }
}
