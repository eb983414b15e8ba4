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

impl Engine {
    /// Sends the office its held prompts, oldest first.
    /// Only as many as keep the office busy: one running and one ready to start the
    /// moment it ends. The rest wait here, where a burst costs nothing until their turn.
    pub(super) async fn dispatch_held(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let in_flight = self.store.count_prompts(&office.name, &[PromptState::Dispatched]).await?;
        let room = OFFICE_SLOTS.saturating_sub(in_flight);
        if room == 0 {
            return Ok(());
        }
        let held = self.store.oldest_prompts(&office.name, PromptState::Held, Some(room)).await?;
        if held.is_empty() {
            return Ok(());
        }
        let Some(config) = self.config.office(&office.name) else {
            return Ok(());
        };
        let attached = {
            let attached = self.attached.lock().expect("attached lock");
            attached
                .get(&office.name)
                .filter(|a| a.generation == office.generation)
                .map(|a| (a.endpoint.clone(), a.token.clone()))
        };
        let Some((endpoint, token)) = attached else {
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
                    self.post(&prompt.thread_id, "text", &texts::no_runtime(&office.name), None, None).await?;
                }
                continue;
            };
            if !self.store.move_prompt(prompt.id, PromptState::Held, PromptState::Dispatched).await? {
                continue;
            }
            let card = Card::Progress {
                office: office.name.clone(),
                status: RunStatus::Queued,
                objectives: vec![],
                lines: vec![],
            };
            // A run sent again (its office was lost) keeps its one progress message.
            match self.store.progress_message(&prompt.run_id).await? {
                Some(existing) => {
                    let edited =
                        self.store.edit_message(existing.id, &card.fallback_text(), Some(&card.to_json())).await?;
                    let channel = self.channel_of(&prompt.thread_id).await?;
                    self.publish_message(&channel, edited);
                }
                None => {
                    self.post(&prompt.thread_id, "progress", &card.fallback_text(), Some(&card), Some(&prompt.run_id))
                        .await?
                }
            }
            self.applied.lock().expect("applied lock").remove(&prompt.run_id);
            let request = RunRequest {
                run_id: prompt.run_id.clone(),
                prompt: prompt.text.clone(),
                author: prompt.author.clone(),
                thread_id: prompt.thread_id.clone(),
                runtime: RuntimeSpec {
                    command: runtime.command.clone(),
                    env: runtime.env.clone(),
                    timeout_secs: runtime.timeout.as_secs().max(1),
                    sandbox: runtime.sandbox.clone(),
                },
            };
            let sent = self.http.post(format!("{endpoint}/runs")).bearer_auth(&token).json(&request).send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    metrics::counter!("nova_prompts_dispatched_total").increment(1);
                    let details = serde_json::json!({"thread": prompt.thread_id, "author": prompt.author});
                    self.record("nova", &office.name, Some(&prompt.run_id), "dispatch", details).await;
                    self.store.touch_office(&office.name).await?;
                }
                failed => {
                    let reason = match failed {
                        Ok(response) => format!("the office answered {}", response.status()),
                        Err(error) => format!("the office stopped responding ({error})"),
                    };
                    self.store.move_prompt(prompt.id, PromptState::Dispatched, PromptState::Held).await?;
                    // Its workspace may well be there still: the snapshot tries.
                    self.office_lost(office, compute::Lost { reason, workspace_kept: true }).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
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
        if office.generation != envelope.generation {
            return Ok(Err(EventRefusal::StaleGeneration));
        }
        let Some(prompt) = self.store.prompt_by_run(&envelope.run_id).await?.filter(|p| p.office == office.name) else {
            return Ok(Err(EventRefusal::UnknownRun));
        };
        {
            let mut applied = self.applied.lock().expect("applied lock");
            let last = applied.get(&envelope.run_id).copied();
            if last.is_some_and(|last| envelope.seq <= last) {
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
        if matches!(status, RunStatus::Done | RunStatus::Failed) {
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
                Some((PromptState::Done, RunStatus::Done, "result", text, audit))
            }
            RunEvent::Failed { error } => {
                let text = texts::run_failed(office, &error);
                Some((
                    PromptState::Failed,
                    RunStatus::Failed,
                    "text",
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
        self.applied.lock().expect("applied lock").remove(&prompt.run_id);
        self.work.notify_one();
        Ok(())
    }
}
