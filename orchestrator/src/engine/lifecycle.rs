//! Offices' lives: the office loop steps the offices that have something to do, wakes
//! them (one wake per generation), idles them, puts them to sleep (snapshot, then
//! release), takes over those of a replica that died, and recovers after a restart.

use std::collections::BTreeMap;

use super::*;

impl Engine {
    /// Drives offices: wakes, dispatch, idling, sleep, takeovers; and the timers.
    pub(super) async fn office_loop(self: Arc<Self>) {
        let mut last_lease_renewal = Instant::now();
        let mut last_gauges: Option<Instant> = None;
        let mut last_deadlines: Option<Instant> = None;
        loop {
            let pass = Instant::now();
            // Deadlines are read once a tick, not at every nudge.
            if last_deadlines.is_none_or(|at| at.elapsed() >= TICK) {
                if let Err(error) = self.expire_asks().await {
                    tracing::error!("cannot expire approvals and credential requests: {error:#}");
                }
                self.wake_for_habits().await;
                last_deadlines = Some(pass);
            }
            if let Err(error) = self.step().await {
                tracing::error!("engine step failed: {error:#}");
            }
            if last_lease_renewal.elapsed() > LEASE / 3 {
                if let Err(error) = self.store.renew_leases(&self.replica, LEASE).await {
                    tracing::warn!("cannot renew office leases: {error:#}");
                }
                last_lease_renewal = Instant::now();
            }
            if last_gauges.is_none_or(|at| at.elapsed() >= GAUGES) {
                if let Err(error) = crate::metrics::refresh(&self.store).await {
                    tracing::warn!("cannot refresh the gauges: {error:#}");
                }
                // Fleet changes approved on another replica.
                if let Err(error) = self.refresh_fleet().await {
                    tracing::warn!("cannot take the fleet changes in force: {error:#}");
                }
                last_gauges = Some(Instant::now());
            }
            let _ = tokio::time::timeout(TICK, self.work.notified()).await;
            tokio::time::sleep_until((pass + PASS_GAP).into()).await;
        }
    }

    async fn expire_asks(&self) -> anyhow::Result<()> {
        self.expire_approvals().await?;
        self.expire_credential_requests().await
    }

    /// One pass over the offices that have something to do: those up (or failed), and
    /// those asleep with prompts waiting. Asleep offices with nothing waiting cost
    /// nothing, however many there are. Each office is driven in a task of its own, so
    /// one office dispatching a long queue holds up no other.
    pub(super) async fn step(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut tasks = self.tasks.lock().await;
        // Finished tasks are reaped here, so the set holds only what runs.
        while let Some(finished) = tasks.try_join_next() {
            if let Err(error) = finished
                && error.is_panic()
            {
                tracing::error!("an engine task panicked: {error}");
            }
        }
        for office in self.store.offices_needing_attention().await? {
            if let Some(asked_again) = self.driving.lock().expect("driving lock").get_mut(&office.name) {
                // Its task is still at it; it passes again once done.
                *asked_again = true;
                continue;
            }
            self.driving.lock().expect("driving lock").insert(office.name.clone(), false);
            let engine = Arc::clone(self);
            tasks.spawn(async move {
                let name = office.name.clone();
                if let Err(error) = engine.drive_office(office).await {
                    tracing::error!(office = %name, "office step failed: {error:#}");
                }
                let asked_again = engine.driving.lock().expect("driving lock").remove(&name);
                if asked_again == Some(true) {
                    engine.work.notify_one();
                }
            });
        }
        Ok(())
    }

    /// Offices this replica ran before a restart: their processes died with it (they
    /// exit when their stdin closes), so put them back into a consistent state now.
    pub(super) async fn recover(self: &Arc<Self>) -> anyhow::Result<()> {
        for office in self.store.all_offices().await? {
            // Not an earlier process's leftover: a wake this one started (a typing
            // signal that came in before recovery ran, say).
            if office.lease_owner.as_deref() != Some(&self.replica) || office.state_changed_at >= self.started_ms {
                continue;
            }
            self.recover_office(office).await?;
        }
        Ok(())
    }

    pub(super) async fn recover_office(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<()> {
        let state = office.state;
        let requeued = self.store.requeue_dispatched(&office.name).await?;
        for prompt in requeued {
            self.post(&prompt.thread_id, MessageKind::Text, &texts::rerun(&office.name, "Nova restarted"), None, None)
                .await?;
        }
        match state {
            OfficeState::Waking => {
                // A wake cut short (a restore is all or nothing): the next wake starts over.
                self.set_state(&office, OfficeChange::new(Transition::RecoverWaking)).await?;
            }
            OfficeState::Ready | OfficeState::Idle | OfficeState::Snapshotting => {
                // The workspace on disk is the newest state: snapshot it before sleeping.
                let mut change = OfficeChange::new(Transition::RecoverUp);
                change.lease_until = Some(Some(now_ms() + LEASE.as_millis() as i64));
                if self.set_state(&office, change).await? {
                    self.spawn_sleep(office.name.clone(), office.generation).await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) async fn drive_office(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<()> {
        let fleet = self.config();
        let Some(config) = fleet.office(&office.name) else {
            return self.wind_down(&office).await;
        };
        let now = now_ms();
        let lease_expired = office.lease_until.is_none_or(|until| until < now);
        let mine = office.lease_owner.as_deref() == Some(self.replica.as_str());
        let held = self.store.has_prompts(&office.name, &[PromptState::Held]).await?;
        let retry_due = now - office.state_changed_at > FAILED_RETRY.as_millis() as i64;
        match office.state {
            OfficeState::Asleep if held => {
                // Spend is stopped before the wake, not after: nothing wakes it that the
                // budget or the loop guard would not let run.
                let waiting = self.store.oldest_prompts(&office.name, PromptState::Held, None).await?;
                if self.startable(&office.name, waiting).await?.is_empty() {
                    return Ok(());
                }
                // A prompt found its office asleep: no signal came early enough.
                let name = office.name.clone();
                let woken = self.try_wake(office).await?;
                if woken.is_some() {
                    self.unannounced.lock().expect("unannounced lock").insert(name);
                }
                metrics::counter!("nova_prewarm_total", "outcome" => "miss").increment(u64::from(woken.is_some()));
            }
            OfficeState::Failed if held && retry_due => {
                self.try_wake(office).await?;
            }
            OfficeState::Ready | OfficeState::Idle if mine => {
                if let Some(lost) = self.compute.lost(&office.name).await {
                    return self.office_lost(&office, lost).await;
                }
                self.dispatch_held(&office).await?;
                let office = self.store.office(&office.name).await?.context("office row vanished")?;
                let busy = self.store.has_prompts(&office.name, &[PromptState::Held, PromptState::Dispatched]).await?;
                let idle_for = Duration::from_millis((now - office.last_active_at).max(0) as u64);
                let idle_timeout = if self.unannounced.lock().expect("unannounced lock").contains(&office.name) {
                    config.idle_timeout_without_signals
                } else {
                    config.idle_timeout
                };
                match office.state {
                    OfficeState::Ready if !busy => {
                        self.set_state(&office, OfficeChange::new(Transition::GoIdle)).await?;
                    }
                    // Up on a typing signal alone: it waits for the prompt until its own deadline.
                    OfficeState::Idle if !busy && office.prewarm_until.is_some_and(|until| now >= until) => {
                        self.prewarm_expired(&office).await?;
                    }
                    OfficeState::Idle
                        if !busy
                            && office.prewarm_until.is_none()
                            && idle_for >= idle_timeout
                            && !self.people_coming_back(&office, now).await? =>
                    {
                        self.begin_sleep(&office).await?;
                    }
                    _ => {}
                }
            }
            state if Transition::TakeOver.from().contains(&state) && lease_expired && !mine => {
                // Its replica died: take the office over. Its machine is gone with it.
                let mut change = OfficeChange::new(Transition::TakeOver);
                change.failure = Some(Some("the Nova replica that ran this office stopped".to_owned()));
                if self.set_state(&office, change).await? {
                    self.store.requeue_dispatched(&office.name).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether an office idle past its timeout stays up because its people have lately
    /// been coming back often ([`crate::demand`]) and it has budget left. Its prompt
    /// times are read once per idle spell, not at every pass.
    async fn people_coming_back(&self, office: &offices::Model, now: i64) -> anyhow::Result<bool> {
        let since = office.last_active_at;
        let memo = self.returning.lock().expect("returning lock").get(&office.name).copied();
        let until = match memo {
            Some((idle_since, until)) if idle_since == since => until,
            _ => {
                let interval = self.config().provisioner.return_interval;
                let from = since - crate::demand::LOOKBACK.as_millis() as i64;
                let times = self.store.prompt_times(&office.name, from, since).await?;
                let until = crate::demand::keep_up_until(&times, since, interval);
                self.returning.lock().expect("returning lock").insert(office.name.clone(), (since, until));
                if let Some(until) = until {
                    // Why an office is up past its idle timeout, for whoever pays for it.
                    let details = serde_json::json!({"generation": office.generation, "until": until});
                    self.record("nova", &office.name, None, "stays_up", details).await;
                }
                until
            }
        };
        if until.is_none_or(|until| now >= until) {
            return Ok(false);
        }
        // Its budget spent, it is not kept up for what may come, as no prewarm wakes it.
        Ok(self.over_budget(&office.name).await?.is_none())
    }

    /// An office taken out of the fleet (retired, or gone from nova.toml) gets no new
    /// work; once the runs it has going end, it sleeps (workspace snapshotted, machine
    /// stopped) rather than wait out an idle timeout it no longer has.
    async fn wind_down(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let mine = office.lease_owner.as_deref() == Some(self.replica.as_str());
        if !mine || self.store.has_prompts(&office.name, &[PromptState::Dispatched]).await? {
            return Ok(());
        }
        match office.state {
            OfficeState::Ready => {
                self.set_state(office, OfficeChange::new(Transition::GoIdle)).await?;
            }
            OfficeState::Idle => self.begin_sleep(office).await?,
            _ => {}
        }
        Ok(())
    }

    /// Starts a wake unless another caller won this generation's; returns the new generation.
    pub(super) async fn try_wake(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<Option<i64>> {
        let lease = self.config().provisioner.wake_timeout() + LEASE;
        let Some(generation) = self.store.begin_wake(&office, &self.replica, lease).await? else {
            return Ok(None);
        };
        metrics::counter!("nova_office_wakes_total").increment(1);
        self.record("nova", &office.name, None, "wake", serde_json::json!({"generation": generation})).await;
        self.publish_office(&office.name).await;
        let engine = Arc::clone(self);
        let name = office.name.clone();
        self.tasks.lock().await.spawn(async move {
            let started = Instant::now();
            match engine.wake(&name, generation).await {
                Ok(()) => {
                    metrics::histogram!("nova_wake_seconds").record(started.elapsed().as_secs_f64());
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    let details = serde_json::json!({"generation": generation, "elapsed_ms": elapsed_ms});
                    engine.record("nova", &name, None, "ready", details).await;
                    tracing::info!(office = %name, generation, elapsed = ?started.elapsed(), "office ready");
                }
                Err(error) => engine.wake_failed(&name, generation, &format!("{error:#}")).await,
            }
            engine.work.notify_one();
        });
        Ok(Some(generation))
    }

    /// Restores the workspace, starts the office, checks its health, hands it its
    /// context, then marks it ready; the engine loop then drains its held prompts.
    pub(super) async fn wake(&self, name: &str, generation: i64) -> anyhow::Result<()> {
        let row = self.store.office(name).await?.context("office row vanished")?;
        let key_id = match &row.service_key_id {
            Some(id) => id.clone(),
            None => self.store.assign_service_key_id(name).await?,
        };
        // A new secret on every wake, same id: the old generation's key stops working.
        let key = ServiceKey::issue(&key_id);
        let token = key.token();
        let spec =
            StartSpec { office: name.to_owned(), generation, nova_url: self.nova_url.clone(), token: token.clone() };
        let timeout = self.config().provisioner.wake_timeout();
        let tier = self.config().office(name).and_then(|o| provisioner::tiers::tier(o.tier)).context("unknown tier")?;
        // The previous generation recorded no snapshot of its own (its snapshot failed,
        // or Nova stopped first): its machine may still hold its work.
        let previous = generation - 1;
        let recorded = row.snapshot_key.as_deref().and_then(provisioner::snapshot::Snapshots::generation_of);
        let stranded = (previous >= 1 && recorded != Some(previous)).then_some(previous);
        let started = self.compute.start(&spec, tier, row.snapshot_key.as_deref(), stranded, timeout).await?;
        if let Some(info) = &started.rescued {
            let details = serde_json::json!({"generation": previous, "key": info.key, "bytes": info.bytes});
            self.record("nova", name, None, "snapshot_rescued", details).await;
        }
        let rescued = started.rescued.map(|info| (info.key, info.bytes as i64));
        let (endpoint, unchanged_since) = (started.endpoint, started.restored_from);
        if let Some(placement) = started.placement {
            self.record("nova", name, None, "placed", serde_json::json!(placement)).await;
        }
        self.wait_healthy(&endpoint, name, generation, timeout).await?;
        // Read once: the skills handed over now are the ones every run of this wake uses.
        let config = self.config();
        let loaded = config.office(name).map(|office| office.loaded_skills.as_slice()).unwrap_or_default();
        self.store.keep_skill_revisions(loaded).await?;
        let skills: BTreeMap<String, String> = loaded.iter().map(|s| (s.name.clone(), s.revision.clone())).collect();
        if let Some(context) = self.templates.office_context(&config, name)? {
            let response = self
                .http
                .post(format!("{endpoint}/context"))
                .bearer_auth(&token)
                .json(&context)
                .send()
                .await
                .context("cannot hand the office its context")?;
            if !response.status().is_success() {
                bail!("the office refused its context: {}", response.status());
            }
        }
        let details = serde_json::json!({"generation": generation, "skills": skills});
        self.record("nova", name, None, "skills_loaded", details).await;
        let attached = Attached {
            generation,
            endpoint: endpoint.clone(),
            token: token.clone(),
            skills: Arc::new(skills),
            unchanged_since,
        };
        self.attached.lock().expect("attached lock").insert(name.to_owned(), attached);
        let mut change = OfficeChange::new(Transition::Ready);
        change.snapshot = rescued;
        change.endpoint = Some(Some(endpoint));
        change.token_hash = Some(Some(key.secret_hash()));
        change.lease_until = Some(Some(now_ms() + LEASE.as_millis() as i64));
        change.touch = true;
        let row = self.store.office(name).await?.context("office row vanished")?;
        if row.generation != generation || !self.set_state(&row, change).await? {
            self.compute.stop(name).await;
            bail!("the office moved on while it was waking");
        }
        Ok(())
    }

    pub(super) async fn wait_healthy(
        &self,
        endpoint: &str,
        name: &str,
        generation: i64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(10);
        loop {
            let checked = self.http.get(format!("{endpoint}/healthz")).send().await;
            if let Ok(response) = checked
                && let Ok(health) = response.json::<Health>().await
            {
                if health.office == name && health.generation == generation {
                    return Ok(());
                }
                bail!(
                    "the office at {endpoint} is {} generation {}, expected {name} generation {generation}",
                    health.office,
                    health.generation
                );
            }
            if Instant::now() >= deadline {
                bail!("the office did not pass its health check within {}", humantime::format_duration(timeout));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    pub(super) async fn wake_failed(&self, name: &str, generation: i64, reason: &str) {
        tracing::error!(office = name, generation, "wake failed: {reason}");
        self.record("nova", name, None, "wake_failed", serde_json::json!({"generation": generation, "reason": reason}))
            .await;
        self.compute.stop(name).await;
        let result: anyhow::Result<()> = async {
            let row = self.store.office(name).await?.context("office row vanished")?;
            if row.generation != generation {
                return Ok(());
            }
            let mut change = OfficeChange::new(Transition::WakeFailed);
            change.failure = Some(Some(reason.to_owned()));
            if self.set_state(&row, change).await? {
                let mut told = std::collections::HashSet::new();
                for prompt in self.store.prompts_in_state(name, PromptState::Held).await? {
                    if told.insert(prompt.thread_id.clone()) {
                        self.post(&prompt.thread_id, MessageKind::Text, &texts::wake_failed(name, reason), None, None)
                            .await?;
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::error!(office = name, "cannot record the failed wake: {error:#}");
        }
    }

    /// A person asks for an office to start now (`/nova wake`). Returns the new
    /// generation, or `None` if the office is not asleep (or another wake won).
    pub async fn wake_office(self: &Arc<Self>, name: &str, by: &str) -> anyhow::Result<Option<i64>> {
        let Some(office) = self.store.office(name).await? else {
            return Ok(None);
        };
        if !Transition::Wake.from().contains(&office.state) {
            return Ok(None);
        }
        self.record(by, name, None, "wake_requested", serde_json::json!({"generation": office.generation})).await;
        self.try_wake(office).await
    }

    /// A person asks for an idle office to sleep now (`/nova sleep`). Returns whether
    /// it started snapshotting.
    pub async fn sleep_office(self: &Arc<Self>, name: &str, by: &str) -> anyhow::Result<bool> {
        let Some(office) = self.store.office(name).await? else {
            return Ok(false);
        };
        if office.lease_owner.as_deref() != Some(self.replica.as_str()) {
            return Ok(false);
        }
        if !self.set_state(&office, OfficeChange::new(Transition::SleepNow)).await? {
            return Ok(false);
        }
        self.record(by, name, None, "sleep_requested", serde_json::json!({"generation": office.generation})).await;
        self.spawn_sleep(office.name.clone(), office.generation).await;
        Ok(true)
    }

    /// `idle → snapshotting`; the snapshot itself runs in the background.
    pub(super) async fn begin_sleep(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        if self.set_state(office, OfficeChange::new(Transition::IdleOut)).await? {
            // The next wake says anew whether its prompt was announced.
            self.unannounced.lock().expect("unannounced lock").remove(&office.name);
            self.returning.lock().expect("returning lock").remove(&office.name);
            self.spawn_sleep(office.name.clone(), office.generation).await;
        }
        Ok(())
    }

    pub(super) async fn spawn_sleep(self: &Arc<Self>, name: String, generation: i64) {
        let engine = Arc::clone(self);
        self.publish_office(&name).await;
        self.tasks.lock().await.spawn(async move {
            let slept = engine.sleep(&name, generation).await;
            if slept.is_ok()
                && let Err(error) = engine.plan_habit_wake(&name).await
            {
                tracing::warn!(office = %name, "cannot plan a wake ahead of its habits: {error:#}");
            }
            if let Err(error) = slept {
                tracing::error!(office = %name, "cannot put the office to sleep: {error:#}");
                let mut change = OfficeChange::new(Transition::SnapshotFailed);
                change.failure = Some(Some(format!("snapshot failed: {error:#}")));
                if let Ok(Some(row)) = engine.store.office(&name).await {
                    let _ = engine.set_state(&row, change).await;
                }
            }
            engine.work.notify_one();
        });
    }

    /// Stops the office, snapshots its workspace (fenced by generation), and only
    /// then lets go of the workspace: nothing is deleted before the snapshot is stored.
    pub(super) async fn sleep(&self, name: &str, generation: i64) -> anyhow::Result<()> {
        let attached = self.attached.lock().expect("attached lock").remove(name);
        if let Some(attached) = &attached
            && attached.generation == generation
            && let Some(restored_from) = &attached.unchanged_since
        {
            let row = self.store.office(name).await?.context("office row vanished")?;
            if row.snapshot_key.as_ref() == Some(restored_from) {
                return self.sleep_unchanged(row, generation).await;
            }
        }
        let daemon = attached.as_ref().map(|a| (a.endpoint.as_str(), a.token.as_str()));
        let info = self.compute.snapshot(name, generation, daemon).await?;
        metrics::histogram!("nova_snapshot_seconds").record(info.elapsed.as_secs_f64());
        tracing::info!(office = name, generation, bytes = info.bytes, source_bytes = info.source_bytes, elapsed = ?info.elapsed, "snapshot stored");
        let details = serde_json::json!({"generation": generation, "key": info.key, "bytes": info.bytes});
        self.record("nova", name, None, "snapshot", details).await;
        let mut change = OfficeChange::new(Transition::Slept);
        change.snapshot = Some((info.key, info.bytes as i64));
        change.endpoint = Some(None);
        change.token_hash = Some(None);
        change.lease_until = Some(None);
        let row = self.store.office(name).await?.context("office row vanished")?;
        // Published only once the workspace is gone, below: "asleep" means no machine.
        if row.generation != generation || !self.store.transition(name, generation, change).await? {
            bail!("a newer generation took over during the snapshot; keeping its state");
        }
        // The machine goes, and its disk with it.
        self.compute.release(name).await;
        self.publish_office(name).await;
        Ok(())
    }

    /// [`Engine::sleep`] for an office that ran nothing since its workspace was restored
    /// from its current snapshot: the machine goes without storing a copy of it (minutes
    /// of a VM's time and gigabytes written, for every prewarm that no prompt followed).
    async fn sleep_unchanged(&self, row: offices::Model, generation: i64) -> anyhow::Result<()> {
        let name = row.name.as_str();
        let mut change = OfficeChange::new(Transition::Slept);
        change.endpoint = Some(None);
        change.token_hash = Some(None);
        change.lease_until = Some(None);
        if row.generation != generation || !self.store.transition(name, generation, change).await? {
            bail!("a newer generation took over while it went to sleep; keeping its state");
        }
        let details = serde_json::json!({"generation": generation, "key": row.snapshot_key});
        self.record("nova", name, None, "slept_unchanged", details).await;
        self.compute.discard(name).await;
        self.publish_office(name).await;
        Ok(())
    }

    /// The office's process or machine went while it was up: its interrupted prompts
    /// go back to the queue and run again on the next wake, from the workspace if it
    /// survived (snapshotted, not discarded, before the office sleeps), else from the
    /// last snapshot.
    pub(super) async fn office_lost(
        self: &Arc<Self>,
        office: &offices::Model,
        lost: compute::Lost,
    ) -> anyhow::Result<()> {
        let reason = lost.reason.as_str();
        tracing::warn!(office = %office.name, generation = office.generation, "office lost: {reason}");
        let details = serde_json::json!({"reason": reason, "workspace_kept": lost.workspace_kept});
        self.record("nova", &office.name, None, "office_lost", details).await;
        self.attached.lock().expect("attached lock").remove(&office.name);
        let mut change = OfficeChange::new(Transition::SleepNow);
        change.failure = Some(Some(reason.to_owned()));
        if !lost.workspace_kept {
            // Nothing to snapshot: asleep on its last snapshot, so the next prompt
            // (or the ones requeued here) wakes it at once.
            change = OfficeChange::new(Transition::Lost);
            change.endpoint = Some(None);
            change.token_hash = Some(None);
            change.lease_until = Some(None);
        }
        if !self.set_state(office, change).await? {
            return Ok(());
        }
        let text = if lost.workspace_kept { texts::rerun } else { texts::rerun_from_snapshot };
        for prompt in self.store.requeue_dispatched(&office.name).await? {
            self.post(&prompt.thread_id, MessageKind::Text, &text(&office.name, reason), None, None).await?;
        }
        if lost.workspace_kept {
            self.spawn_sleep(office.name.clone(), office.generation).await;
        } else {
            // A stopped VM still exists (and costs its disk): it goes, with any pool claim.
            self.compute.release(&office.name).await;
            self.publish_office(&office.name).await;
            self.work.notify_one();
        }
        Ok(())
    }
}
