//! What people say, from the edge to the queue: a surface's typed event is checked and
//! recorded before it is acknowledged; the routing loop then routes it, apart from any
//! office work, and queues the prompt (or posts a picker card).

use super::requests::FleetRequest;
use super::*;
use crate::ask::Action;

impl Engine {
    /// Validates and records a person's message or click, then wakes the engine.
    /// Returns once the event is durable: the caller may acknowledge it.
    pub async fn accept(&self, incoming: Incoming) -> anyhow::Result<Result<Recorded, Refusal>> {
        if let Err(refusal) = self.validate(&incoming).await? {
            return Ok(Err(refusal));
        }
        let thread_id = match &incoming.thread {
            ThreadRef::New => uuid::Uuid::new_v4().to_string(),
            ThreadRef::NewWithId(id) | ThreadRef::Existing(id) => id.clone(),
        };
        let (kind, text, context) = match &incoming.event {
            InboundEvent::Message { text, context } => (InboundKind::Message, text.clone(), context.clone()),
            // Shown in its thread as what the person asked for.
            InboundEvent::FleetChange { change } => (InboundKind::Message, texts::fleet_change(change), Vec::new()),
            InboundEvent::NewTask { task } => {
                (InboundKind::Message, texts::task_asked(&task.title, task.owner.as_deref()), Vec::new())
            }
            InboundEvent::Action { .. }
            | InboundEvent::Handoff { .. }
            | InboundEvent::Scheduled { .. }
            | InboundEvent::Task { .. }
            | InboundEvent::Escalation { .. } => (InboundKind::Action, String::new(), Vec::new()),
        };
        let recorded = self
            .store
            .record_inbound(NewInbound {
                dedupe_key: format!("{}:{}", incoming.surface, incoming.dedupe_key),
                surface: incoming.surface,
                channel: incoming.channel.clone(),
                thread_id,
                author: incoming.author,
                kind,
                text,
                body: serde_json::to_string(&incoming.event)?,
                context,
            })
            .await?;
        metrics::counter!("nova_inbound_total", "duplicate" => recorded.duplicate.to_string()).increment(1);
        if let Some(message) = &recorded.message {
            self.publish_message(&incoming.channel, message.clone());
        }
        self.inbound_waiting.notify_one();
        Ok(Ok(recorded))
    }

    pub(super) async fn validate(&self, incoming: &Incoming) -> anyhow::Result<Result<(), Refusal>> {
        let author = incoming.author.trim();
        if author.is_empty() || author.chars().count() > 64 {
            return Ok(Err(Refusal::BadAuthor));
        }
        if let Some(thread_id) = incoming.thread.existing() {
            match self.store.thread(thread_id).await? {
                Some(thread) if thread.channel == incoming.channel && thread.surface == incoming.surface => {}
                _ => return Ok(Err(Refusal::UnknownThread(thread_id.to_owned()))),
            }
        } else if incoming.surface == Surface::Console && !self.config().channels().contains(&incoming.channel) {
            return Ok(Err(Refusal::UnknownChannel(incoming.channel.clone())));
        }
        match &incoming.event {
            InboundEvent::Message { text, .. } => {
                if text.trim().is_empty() {
                    return Ok(Err(Refusal::EmptyMessage));
                }
                if text.chars().count() > MAX_MESSAGE_CHARS {
                    return Ok(Err(Refusal::TooLong(MAX_MESSAGE_CHARS)));
                }
            }
            InboundEvent::Action { message_id, action: CardAction::Pick { office } } => {
                let Some(thread_id) = incoming.thread.existing() else {
                    return Ok(Err(Refusal::UnknownCard(*message_id)));
                };
                let card =
                    self.store.message(*message_id).await?.filter(|m| m.thread_id == thread_id).and_then(|m| m.card);
                match card.as_deref().and_then(Card::from_json) {
                    Some(Card::Picker { resolved: None, .. }) => {}
                    Some(Card::Picker { resolved: Some(r), .. }) => {
                        return Ok(Err(Refusal::AlreadyAnswered(texts::picked(&r.by, &r.choice))));
                    }
                    _ => return Ok(Err(Refusal::UnknownCard(*message_id))),
                }
                if self.config().office(office).is_none() {
                    return Ok(Err(Refusal::UnknownOffice(office.clone())));
                }
            }
            InboundEvent::FleetChange { change } => {
                if !change.changes_config() {
                    return Ok(Err(Refusal::NotAFleetChange(change.name())));
                }
            }
            InboundEvent::Scheduled { schedule } => {
                if self.store.schedule(*schedule).await?.is_none() {
                    return Ok(Err(Refusal::UnknownSchedule(*schedule)));
                }
            }
            InboundEvent::NewTask { task } => {
                if task.title.trim().is_empty() {
                    return Ok(Err(Refusal::EmptyMessage));
                }
                if let Some(owner) = task.owner.as_ref().filter(|owner| self.config().office(owner).is_none()) {
                    return Ok(Err(Refusal::UnknownOffice(owner.clone())));
                }
            }
            InboundEvent::Task { task, .. } => {
                if self.store.task(*task).await?.is_none() {
                    return Ok(Err(Refusal::UnknownTask(*task)));
                }
            }
            InboundEvent::Handoff { to, text, .. } | InboundEvent::Escalation { to, prompt: text, .. } => {
                if self.config().office(to).is_none() {
                    return Ok(Err(Refusal::UnknownOffice(to.clone())));
                }
                if text.trim().is_empty() {
                    return Ok(Err(Refusal::EmptyMessage));
                }
                if text.chars().count() > MAX_MESSAGE_CHARS {
                    return Ok(Err(Refusal::TooLong(MAX_MESSAGE_CHARS)));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Routes what people said as soon as it is recorded, apart from the office work,
    /// so that a busy office, a slow wake or a snapshot never delays a first answer.
    pub(super) async fn route_loop(self: Arc<Self>) {
        loop {
            match self.route_pending().await {
                // More may be waiting: a burst is routed batch after batch.
                Ok(routed) if routed > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::error!("routing step failed: {error:#}"),
            }
            let _ = tokio::time::timeout(INBOUND_TICK, self.inbound_waiting.notified()).await;
        }
    }

    /// Routes one round of pending inbound events: different threads planned
    /// concurrently, each thread's events in order, and the round written in one
    /// transaction. Returns how many were routed.
    pub(super) async fn route_pending(self: &Arc<Self>) -> anyhow::Result<usize> {
        let pending = self.store.pending_inbound(ROUTE_BATCH).await?;
        let mut threads = HashSet::new();
        // A thread's later event waits for the next round: it is routed in the light of
        // the earlier one (its office, its replies).
        let round: Vec<_> = pending.into_iter().filter(|row| threads.insert(row.thread_id.clone())).collect();
        if round.is_empty() {
            return Ok(0);
        }
        let reads = &self.store.read_for_routing(&round).await?;
        let planned: Vec<(store::inbound::Model, anyhow::Result<InboundEffects>)> = futures::stream::iter(round)
            .map(|row| async move {
                let plan = self.plan_inbound(&row, reads).await;
                (row, plan)
            })
            .buffered(ROUTE_CONCURRENCY)
            .collect()
            .await;
        let mut batch = Vec::with_capacity(planned.len());
        let mut channels = Vec::with_capacity(planned.len());
        let mut stops = Vec::new();
        let mut requests = Vec::new();
        let mut new_tasks = Vec::new();
        let mut line_comments = Vec::new();
        let mut made_schedules = false;
        for (row, plan) in planned {
            match plan {
                Ok(mut effects) => {
                    made_schedules |= effects.new_schedule.is_some();
                    stops.extend(effects.stop_run.take());
                    new_tasks
                        .extend(effects.new_task.take().map(|ask| (row.thread_id.clone(), row.author.clone(), ask)));
                    line_comments.extend(effects.line_comment.take().map(|comment| (row.author.clone(), comment)));
                    requests.extend(effects.fleet_request.take().map(|action| FleetRequest {
                        thread_id: row.thread_id.clone(),
                        author: row.author.clone(),
                        action,
                    }));
                    batch.push((row.id, effects));
                    channels.push(row.channel);
                }
                Err(error) => tracing::error!(inbound = row.id, "cannot process inbound event: {error:#}"),
            }
        }
        let mut routed = 0;
        for (channel, applied) in channels.iter().zip(self.store.apply_inbound(batch).await) {
            match applied {
                Ok(changes) => {
                    routed += 1;
                    for message in changes.into_iter().flatten() {
                        self.publish_message(channel, message);
                    }
                }
                Err(error) => tracing::error!("cannot record a routed event: {error:#}"),
            }
        }
        // Stops carried out once the "stop" is recorded (a retry finds it processed).
        for (run_id, user) in stops {
            if let Err(refusal) = self.stop_run(&run_id, &user).await? {
                tracing::info!(run = run_id, "a stop in the thread changed nothing: {refusal}");
            }
        }
        // Tasks asked for, made once the ask is recorded (a retry finds it processed).
        for (thread_id, author, ask) in new_tasks {
            if let Err(refusal) = self.create_task(&thread_id, &author, None, ask).await? {
                self.post(&thread_id, MessageKind::Text, &texts::task_refused(&refusal.to_string()), None, None)
                    .await?;
            }
        }
        // Line comments quoted in a thread, recorded on their review once the reply is.
        for (author, comment) in line_comments {
            if let Err(refusal) = self.comment_on_line(&author, comment).await? {
                tracing::info!("a quoted line comment was not recorded: {refusal}");
            }
        }
        // Requests that act (wake, sleep, stop an office) are carried out once recorded,
        // each in its own task, so a slow one (a sleep's snapshot) never holds up routing.
        for request in requests {
            let engine = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(error) = engine.carry_out(request).await {
                    tracing::error!("cannot carry out a fleet request: {error:#}");
                }
            });
        }
        if made_schedules {
            self.schedules_changed.notify_one();
        }
        if routed > 0 {
            // Prompts were queued: their offices have work.
            self.work.notify_one();
        }
        Ok(routed)
    }

    /// "stop" in a thread: its run ends if the person may end it.
    async fn plan_stop(&self, row: &store::inbound::Model, effects: &mut InboundEffects) -> anyhow::Result<()> {
        let reply = match self.active_run(&row.thread_id).await? {
            None => Some(texts::nothing_to_stop()),
            Some(run) => match may_stop(&self.config(), &run.author, &row.author) {
                Ok(()) => {
                    effects.stop_run = Some((run.run_id, row.author.clone()));
                    None
                }
                Err(refusal) => Some(format!("Nothing changed: {refusal}.")),
            },
        };
        effects.replies.extend(reply.map(|body| Reply {
            thread_id: row.thread_id.clone(),
            kind: MessageKind::Text,
            body,
            card: None,
        }));
        Ok(())
    }

    /// Works out what an inbound event changes (routing it, or applying a click); reads
    /// only, so that a round's events are planned concurrently and written together.
    pub(super) async fn plan_inbound(
        &self,
        row: &store::inbound::Model,
        reads: &store::RoutingReads,
    ) -> anyhow::Result<InboundEffects> {
        let event: InboundEvent = serde_json::from_str(&row.body).context("inbound body is not an event")?;
        let thread = reads.thread(&row.thread_id);
        let mut effects = InboundEffects::default();
        match event {
            InboundEvent::Message { text, .. } => {
                // Plain language about the fleet is answered, not routed to an office.
                let thread_office = thread.as_ref().and_then(|t| t.office.as_deref());
                // Read once: the plain-language reader and the router both look at the thread.
                let earlier = reads.thread_messages(&row.thread_id);
                // What an office says in a thread (a reviewer's request, say) is work for
                // an office, never a fleet request: offices ask Nova through `ask-nova`,
                // under their own permission check.
                let from_office = self.config().office(&row.author).is_some();
                // A person's reply quoting a line of the change under review comments on it
                // (addressed to an office, it is work for that office).
                let addressed = self.live().router.addresses_an_office(&text);
                if !from_office
                    && !addressed
                    && let Some(comment) = self.quoted_line(&row.thread_id, &text).await?
                {
                    effects.line_comment = Some(comment);
                    return Ok(effects);
                }
                let request = match from_office {
                    true => None,
                    false => self.read_request(row, &text, &earlier, thread_office).await?,
                };
                if let Some((action, rule)) = request {
                    let details =
                        serde_json::json!({"thread": row.thread_id, "text": text, "request": action, "read_by": rule});
                    effects.audit.push(store::AuditEntry {
                        actor: row.author.clone(),
                        office: None,
                        run_id: None,
                        action: "request",
                        details,
                    });
                    match action {
                        Action::Stop { office: None } => self.plan_stop(row, &mut effects).await?,
                        Action::Handoff { to, .. } => self.plan_handoff(row, &to, &mut effects).await?,
                        Action::Schedule { office, every, prompt, time_zone } => {
                            self.plan_schedule(row, &office, &every, &prompt, time_zone.as_deref(), &mut effects)?
                        }
                        Action::MakeTask { office, title } => {
                            // "this": what the thread first asked for, with what was said after it.
                            let asked: Vec<&messages::Model> =
                                earlier.iter().filter(|m| !m.from_nova && m.body != text).collect();
                            let title = title.or_else(|| asked.first().map(|m| texts::one_line(&m.body, 120)));
                            let body = asked.iter().map(|m| format!("{}: {}", m.author, m.body)).collect::<Vec<_>>();
                            match title {
                                Some(title) => {
                                    let owner = Some(office);
                                    effects.new_task = Some(crate::store::TaskAsk {
                                        title,
                                        body: body.join("\n"),
                                        owner,
                                        ..Default::default()
                                    });
                                }
                                None => effects.replies.push(Reply {
                                    thread_id: row.thread_id.clone(),
                                    kind: MessageKind::Text,
                                    body: texts::task_refused("say what the task is, or ask in the thread it is about"),
                                    card: None,
                                }),
                            }
                        }
                        action => match self.answer(&action).await? {
                            Some(body) => effects.replies.push(Reply {
                                thread_id: row.thread_id.clone(),
                                kind: MessageKind::Text,
                                body,
                                card: None,
                            }),
                            None => effects.fleet_request = Some(action),
                        },
                    }
                    return Ok(effects);
                }
                let history: Vec<String> =
                    earlier.into_iter().filter(|m| !m.from_nova && m.body != text).map(|m| m.body).collect();
                let picks = reads.channel_picks(row.surface, &row.channel);
                let request = RouteRequest {
                    channel: &row.channel,
                    thread: &history,
                    text: &text,
                    thread_office: thread.as_ref().and_then(|t| t.office.as_deref()),
                    thread_repo: thread.as_ref().and_then(|t| t.repo.as_deref()),
                    channel_picks: &picks,
                };
                let live = self.live();
                let mut route = live.router.route(&request);
                if let Some(model) = live.model.as_ref().filter(|m| m.should_ask(&route)) {
                    let (answer, call) = model.route(&request, route).await;
                    tracing::info!(outcome = call.outcome.as_str(), latency = ?call.latency, tokens = call.prompt_tokens + call.completion_tokens, "asked the router model");
                    route = answer;
                }
                let run_id = uuid::Uuid::new_v4().to_string();
                effects.audit.push(store::AuditEntry {
                    actor: row.author.clone(),
                    office: route.office.clone(),
                    run_id: route.office.as_ref().map(|_| run_id.clone()),
                    action: "route",
                    details: serde_json::json!({
                        "thread": row.thread_id,
                        "channel": row.channel,
                        "repo": route.repo.label(),
                        "office": route.office.as_deref().unwrap_or("unknown"),
                        "confidence": (route.confidence * 1000.0).round() / 1000.0,
                        "stage": route.stage,
                    }),
                });
                match &route.office {
                    Some(office) => {
                        let changed = thread.as_ref().and_then(|t| t.office.as_deref()) != Some(office.as_str());
                        effects.thread_route = Some(ThreadRoute {
                            thread_id: row.thread_id.clone(),
                            repo: route.repo.name().map(str::to_owned),
                            office: Some(office.clone()),
                            confidence: route.confidence,
                        });
                        if changed {
                            // An office the budget keeps from this work is not woken: its
                            // thread is told why instead.
                            let asleep =
                                reads.office(&self.store, office).await?.is_none_or(|o| o.state == OfficeState::Asleep)
                                    && self.budget_would_start(office, &text).await?;
                            effects.replies.push(Reply {
                                thread_id: row.thread_id.clone(),
                                kind: MessageKind::Text,
                                body: texts::routed(&route, asleep),
                                card: None,
                            });
                        }
                        effects.prompt = Some(NewPrompt {
                            run_id,
                            thread_id: row.thread_id.clone(),
                            office: office.clone(),
                            author: row.author.clone(),
                            text,
                            state: PromptState::Held,
                            handoff_from: None,
                        });
                    }
                    None => {
                        let config = self.config();
                        let mut options: Vec<&crate::config::Office> =
                            route.alternatives.iter().filter_map(|name| config.office(name)).collect();
                        for office in &config.offices {
                            if options.len() >= 4 {
                                break;
                            }
                            if !options.iter().any(|o| o.name == office.name) {
                                options.push(office);
                            }
                        }
                        let card = Card::picker(&options);
                        effects.replies.push(Reply {
                            thread_id: row.thread_id.clone(),
                            kind: MessageKind::Card,
                            body: card.fallback_text(),
                            card: Some(card.to_json()),
                        });
                        effects.prompt = Some(NewPrompt {
                            run_id,
                            thread_id: row.thread_id.clone(),
                            office: String::new(),
                            author: row.author.clone(),
                            text,
                            state: PromptState::Unrouted,
                            handoff_from: None,
                        });
                    }
                }
            }
            InboundEvent::Scheduled { schedule } => self.plan_scheduled_run(row, schedule, &mut effects).await?,
            InboundEvent::FleetChange { change } => {
                let details = serde_json::json!({"thread": row.thread_id, "request": change, "read_by": "api"});
                effects.audit.push(store::AuditEntry {
                    actor: row.author.clone(),
                    office: None,
                    run_id: None,
                    action: "request",
                    details,
                });
                effects.fleet_request = Some(change);
            }
            InboundEvent::Handoff { from_run, to, text, returning } => {
                let body = if returning {
                    texts::handoff_returned(&row.author, &to)
                } else {
                    texts::handed_off(&row.author, &to, &text)
                };
                effects.replies.push(Reply {
                    thread_id: row.thread_id.clone(),
                    kind: MessageKind::Text,
                    body,
                    card: None,
                });
                let run_id = uuid::Uuid::new_v4().to_string();
                effects.audit.push(store::AuditEntry {
                    actor: row.author.clone(),
                    office: Some(to.clone()),
                    run_id: Some(run_id.clone()),
                    action: if returning { "handoff_returned" } else { "handoff" },
                    details: serde_json::json!({"thread": row.thread_id, "from_run": from_run}),
                });
                effects.prompt = Some(NewPrompt {
                    run_id,
                    thread_id: row.thread_id.clone(),
                    office: to,
                    author: row.author.clone(),
                    text,
                    state: PromptState::Held,
                    handoff_from: (!returning).then_some(from_run),
                });
            }
            InboundEvent::NewTask { task } => effects.new_task = Some(task),
            InboundEvent::Task { task, run_id } => self.plan_task_run(row, task, run_id, &mut effects).await?,
            InboundEvent::Escalation { from_run, to, reason, prompt } => {
                let body = texts::escalated(&row.author, &to, &reason);
                effects.replies.push(Reply {
                    thread_id: row.thread_id.clone(),
                    kind: MessageKind::Text,
                    body,
                    card: None,
                });
                let run_id = uuid::Uuid::new_v4().to_string();
                effects.audit.push(store::AuditEntry {
                    actor: row.author.clone(),
                    office: Some(to.clone()),
                    run_id: Some(run_id.clone()),
                    action: "escalation",
                    details: serde_json::json!({"thread": row.thread_id, "from_run": from_run, "reason": reason}),
                });
                effects.prompt = Some(NewPrompt {
                    run_id,
                    thread_id: row.thread_id.clone(),
                    office: to,
                    author: row.author.clone(),
                    text: prompt,
                    state: PromptState::Held,
                    handoff_from: None,
                });
            }
            InboundEvent::Action { message_id, action: CardAction::Pick { office } } => {
                let card_message = self.store.message(message_id).await?.context("picked card vanished")?;
                let current = card_message.card.clone().unwrap_or_default();
                let Some(Card::Picker { options, resolved: None }) = Card::from_json(&current) else {
                    // Someone else answered first; the click changes nothing.
                    return Ok(InboundEffects::default());
                };
                let resolved = Card::Picker {
                    options,
                    resolved: Some(texts::Resolution { by: row.author.clone(), choice: office.clone() }),
                };
                effects.resolve_card = Some(store::CardResolution {
                    message_id,
                    expected: current,
                    card: resolved.to_json(),
                    body: resolved.fallback_text(),
                });
                effects.thread_route = Some(ThreadRoute {
                    thread_id: row.thread_id.clone(),
                    repo: thread.as_ref().and_then(|t| t.repo.clone()),
                    office: Some(office.clone()),
                    confidence: 1.0,
                });
                effects.record_pick = Some((row.surface, row.channel.clone(), office.clone()));
                effects.audit.push(store::AuditEntry {
                    actor: row.author.clone(),
                    office: Some(office.clone()),
                    run_id: None,
                    action: "pick",
                    details: serde_json::json!({"thread": row.thread_id, "card": message_id}),
                });
                effects.assign_unrouted = Some((row.thread_id.clone(), office.clone()));
            }
        }
        Ok(effects)
    }
}
