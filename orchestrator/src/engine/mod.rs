//! Sessions, dispatch and the office lifecycle, all driven from the store.
//!
//! Surfaces record inbound events (before they acknowledge them) and poke the engine.
//! One loop then processes pending inbound rows (route → prompt), wakes offices that
//! have held prompts (exactly one wake per generation, via a conditional update),
//! dispatches held prompts in order to ready offices, and puts idle offices to sleep
//! (snapshot → stop). Because every step reads its work from the store, a restarted
//! Nova resumes whatever the last one left.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use provisioner::local::{LocalBackend, StartSpec};
use provisioner::protocol::{EventEnvelope, Health, RunEvent, RunRequest, RuntimeSpec, SnapshotStore};
use provisioner::snapshot::Snapshots;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;

mod asks;
pub mod compute;
mod prewarm;

use crate::service_key::{KeyError, ServiceKey};

pub use asks::{ApprovalAsk, AskRefusal, CredentialAsk, ProvideRefusal};
pub use prewarm::{Prewarm, WarmSignal};

use crate::config::Config;
use crate::context::Templates;
use crate::router::{RouteRequest, Router};
use crate::store::{
    self, InboundEffects, InboundKind, NewInbound, NewPrompt, OfficeChange, OfficeState, PromptState, Recorded, Reply,
    Store, ThreadRoute, messages, now_ms, offices, prompts,
};
use crate::texts::{self, Card, RunStatus};

/// How long a replica's hold on a waking or running office lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How long a failed office waits before Nova tries to wake it again.
const FAILED_RETRY: Duration = Duration::from_secs(30);
/// The engine's safety-net tick, for work from other replicas and for timers.
const TICK: Duration = Duration::from_millis(500);
/// How often the gauges (offices by state, queue, backlog age) are read from the store.
const GAUGES: Duration = Duration::from_secs(2);
/// Inbound events read per routing round.
const ROUTE_BATCH: u64 = 256;
/// Events routed at once: reads overlap, and on Postgres so do the writes.
const ROUTE_CONCURRENCY: usize = 16;

pub struct EngineOptions {
    /// How to start an office daemon, e.g. `["/usr/bin/nova", "office"]`.
    pub office_program: Vec<String>,
    /// The URL offices use to reach this Nova.
    pub nova_url: String,
    /// Where `backend = "gce"` makes VMs (read from the `GCE_*` environment).
    pub gce: Option<GceSetup>,
}

/// What the GCE backend needs besides `nova.toml`.
#[derive(Clone)]
pub struct GceSetup {
    pub settings: provisioner::gce::GceSettings,
    pub tokens: Arc<dyn gcp_auth::TokenProvider>,
}

/// A change the console (and later other surfaces) shows live.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    Message { channel: String, message: Box<MessageView> },
    Office { office: OfficeView },
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub thread_id: String,
    pub author: String,
    pub from_nova: bool,
    pub kind: String,
    pub body: String,
    pub card: Option<Card>,
    pub run_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<messages::Model> for MessageView {
    fn from(m: messages::Model) -> Self {
        Self {
            card: m.card.as_deref().and_then(Card::from_json),
            id: m.id,
            thread_id: m.thread_id,
            author: m.author,
            from_nova: m.from_nova,
            kind: m.kind,
            body: m.body,
            run_id: m.run_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OfficeView {
    pub name: String,
    pub role: String,
    pub state: String,
    pub generation: i64,
    pub failure: Option<String>,
    pub snapshot_bytes: Option<i64>,
    /// Up (or on its way) because someone is typing, not for a prompt yet.
    pub prewarmed: bool,
}

/// What a person did, as the surfaces hand it over: already verified and typed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEvent {
    Message {
        text: String,
        /// Earlier messages of a platform thread Nova joins midway (author, text).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        context: Vec<(String, String)>,
    },
    /// A button on a card.
    Action { message_id: i64, action: CardAction },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CardAction {
    Pick { office: String },
}

/// Why an inbound event was refused at the edge.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refusal {
    #[error("unknown channel `{0}`")]
    UnknownChannel(String),
    #[error("unknown thread `{0}`")]
    UnknownThread(String),
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is longer than {0} characters")]
    TooLong(usize),
    #[error("the author name must be 1–64 characters")]
    BadAuthor,
    #[error("no card {0} in this thread")]
    UnknownCard(i64),
    #[error("that card was already answered: {0}")]
    AlreadyAnswered(String),
    #[error("unknown office `{0}`")]
    UnknownOffice(String),
}

pub const MAX_MESSAGE_CHARS: usize = 40_000;

/// Which thread an incoming event belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadRef {
    /// Starts a thread with a fresh id (the console).
    New,
    /// Starts a thread whose id the platform determines (a Slack message's `ts`), so a
    /// redelivery or a reply finds the same thread.
    NewWithId(String),
    /// A thread Nova already has.
    Existing(String),
}

impl ThreadRef {
    fn existing(&self) -> Option<&str> {
        match self {
            ThreadRef::Existing(id) => Some(id),
            ThreadRef::New | ThreadRef::NewWithId(_) => None,
        }
    }
}

/// A person's message or click, as a surface hands it to [`Engine::accept`].
pub struct Incoming {
    pub surface: String,
    pub channel: String,
    pub thread: ThreadRef,
    pub author: String,
    /// Stable across redeliveries of the same event.
    pub dedupe_key: String,
    pub event: InboundEvent,
}

/// An office this replica started, with the credential it shares with it.
struct Attached {
    generation: i64,
    endpoint: String,
    token: String,
}

pub struct Engine {
    config: Arc<Config>,
    store: Store,
    router: Router,
    /// The fast model, asked when the offline router is unsure (if configured).
    model: Option<crate::router::model::ModelRouter>,
    templates: Templates,
    vault: crate::vault::Vault,
    compute: compute::Compute,
    replica: String,
    nova_url: String,
    http: reqwest::Client,
    updates: broadcast::Sender<Update>,
    /// Offices changed or prompts queued: the office loop has work.
    work: Notify,
    /// Inbound events recorded: the routing loop has work.
    inbound_waiting: Notify,
    /// Offices whose driving task runs, and whether work came for them meanwhile.
    driving: StdMutex<HashMap<String, bool>>,
    attached: StdMutex<HashMap<String, Attached>>,
    /// Per run: the last event sequence number applied, so redeliveries are dropped.
    applied: StdMutex<HashMap<String, u64>>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    /// (person, office) → the last typing signal acted on, for rate limiting.
    warm_signals: StdMutex<HashMap<(String, String), Instant>>,
    /// Offices this replica woke for a prompt no signal announced, and that have heard
    /// none since: they idle out after `idle_timeout_without_signals`.
    unannounced: StdMutex<HashSet<String>>,
    /// When this engine was made: recovery leaves alone what this process changed since
    /// (surfaces may wake an office before recovery runs).
    started_ms: i64,
}

impl Engine {
    pub async fn new(config: Arc<Config>, store: Store, options: EngineOptions) -> anyhow::Result<Arc<Self>> {
        let data_dir = config.store.data_dir.clone();
        std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let replica = replica_id(&data_dir)?;
        let level = config.provisioner.snapshot_compression;
        let vault = crate::vault::Vault::from_env_or_data_dir(std::env::var("NOVA_MASTER_KEY").ok(), &data_dir)?;
        store.ensure_offices(config.offices.iter().map(|o| o.name.as_str())).await?;
        let compute = match config.provisioner.backend {
            crate::config::Backend::Local => {
                let snapshots = match &config.store.snapshots {
                    Some(url) => Snapshots::cloud_storage(
                        url,
                        config.store.snapshots_api_url.as_deref(),
                        config.store.snapshots_credentials.as_deref(),
                        level,
                    )?,
                    None => Snapshots::local(&data_dir.join("snapshots"), level)?,
                };
                let backend = LocalBackend::new(data_dir.join("offices"), options.office_program);
                compute::Compute::Local { backend, snapshots }
            }
            crate::config::Backend::Gce => {
                let setup = options.gce.context(
                    "backend = \"gce\" needs GCE_PROJECT, GCE_ZONE and GCE_IMAGE (see README, \"Offices on GCE\")",
                )?;
                // The config check guarantees a gs:// store with the GCE backend.
                let url = config.store.snapshots.clone().context("backend = \"gce\" needs [store] snapshots")?;
                let store_for_daemons =
                    SnapshotStore { url, api_url: config.store.snapshots_api_url.clone(), compression: level };
                let backend = provisioner::gce::GceBackend::new(setup.settings, setup.tokens)?
                    .with_assign_key(vault.derive_key("gce-assign"));
                let mut tiers: Vec<_> =
                    config.offices.iter().filter_map(|o| provisioner::tiers::tier(o.tier)).collect();
                tiers.sort_by_key(|t| t.number);
                tiers.dedup_by_key(|t| t.number);
                let pools = crate::fleet::PoolSettings::from(&config.provisioner);
                let fleet = crate::fleet::Fleet::new(store.clone(), Arc::new(backend), pools, &replica, tiers);
                compute::Compute::Gce(compute::GceCompute::new(fleet, store_for_daemons)?)
            }
        };
        let (updates, _) = broadcast::channel(1024);
        Ok(Arc::new(Self {
            router: Router::new(&config),
            model: config
                .model_settings(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
                .map(|settings| crate::router::model::ModelRouter::new(&config, settings)),
            templates: Templates::default(),
            vault,
            config,
            store,
            compute,
            replica,
            nova_url: options.nova_url,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            updates,
            work: Notify::new(),
            inbound_waiting: Notify::new(),
            driving: StdMutex::new(HashMap::new()),
            attached: StdMutex::new(HashMap::new()),
            applied: StdMutex::new(HashMap::new()),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            warm_signals: StdMutex::new(HashMap::new()),
            unannounced: StdMutex::new(HashSet::new()),
            started_ms: now_ms(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The VM fleet, when offices run on GCE.
    pub fn fleet(&self) -> Option<&Arc<crate::fleet::Fleet>> {
        self.compute.fleet()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// How many office processes this replica runs right now.
    pub async fn running_offices(&self) -> usize {
        self.compute.running().await
    }

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
            InboundEvent::Action { .. } => (InboundKind::Action, String::new(), Vec::new()),
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

    async fn validate(&self, incoming: &Incoming) -> anyhow::Result<Result<(), Refusal>> {
        let author = incoming.author.trim();
        if author.is_empty() || author.chars().count() > 64 {
            return Ok(Err(Refusal::BadAuthor));
        }
        if let Some(thread_id) = incoming.thread.existing() {
            match self.store.thread(thread_id).await? {
                Some(thread) if thread.channel == incoming.channel && thread.surface == incoming.surface => {}
                _ => return Ok(Err(Refusal::UnknownThread(thread_id.to_owned()))),
            }
        } else if incoming.surface == "console" && !self.config.channels().contains(&incoming.channel) {
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
                if self.config.office(office).is_none() {
                    return Ok(Err(Refusal::UnknownOffice(office.clone())));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Runs the engine until the task is aborted (see [`Engine::shutdown`]).
    pub async fn run(self: Arc<Self>) {
        if let Err(error) = self.recover().await {
            tracing::error!("recovery after restart failed: {error:#}");
        }
        if let Some(fleet) = self.compute.fleet() {
            // Pools, the orphan sweep and image builds live as long as the engine loop.
            let mut tasks = self.tasks.lock().await;
            tasks.spawn(Arc::clone(fleet).run());
            let cadence = self.config.provisioner.image_cadence;
            if !cadence.is_zero() {
                tasks.spawn(Arc::clone(fleet).run_image_builds(fleet.backend().image().to_owned(), cadence));
            }
        }
        tokio::join!(Arc::clone(&self).route_loop(), Arc::clone(&self).office_loop());
    }

    /// Routes what people said as soon as it is recorded, apart from the office work,
    /// so that a busy office, a slow wake or a snapshot never delays a first answer.
    async fn route_loop(self: Arc<Self>) {
        loop {
            match self.route_pending().await {
                // More may be waiting: a burst is routed batch after batch.
                Ok(routed) if routed > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::error!("routing step failed: {error:#}"),
            }
            let _ = tokio::time::timeout(TICK, self.inbound_waiting.notified()).await;
        }
    }

    /// Routes one round of pending inbound events: different threads planned
    /// concurrently, each thread's events in order, and the round written in one
    /// transaction. Returns how many were routed.
    async fn route_pending(&self) -> anyhow::Result<usize> {
        let pending = self.store.pending_inbound(ROUTE_BATCH).await?;
        let mut threads = HashSet::new();
        // A thread's later event waits for the next round: it is routed in the light of
        // the earlier one (its office, its replies).
        let round: Vec<_> = pending.into_iter().filter(|row| threads.insert(row.thread_id.clone())).collect();
        let planned: Vec<(store::inbound::Model, anyhow::Result<InboundEffects>)> = futures::stream::iter(round)
            .map(|row| async move {
                let plan = self.plan_inbound(&row).await;
                (row, plan)
            })
            .buffered(ROUTE_CONCURRENCY)
            .collect()
            .await;
        let mut batch = Vec::with_capacity(planned.len());
        let mut channels = Vec::with_capacity(planned.len());
        for (row, plan) in planned {
            match plan {
                Ok(effects) => {
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
        if routed > 0 {
            // Prompts were queued: their offices have work.
            self.work.notify_one();
        }
        Ok(routed)
    }

    /// Drives offices: wakes, dispatch, idling, sleep, takeovers; and the timers.
    async fn office_loop(self: Arc<Self>) {
        let mut last_lease_renewal = Instant::now();
        let mut last_gauges: Option<Instant> = None;
        loop {
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
                last_gauges = Some(Instant::now());
            }
            let _ = tokio::time::timeout(TICK, self.work.notified()).await;
        }
    }

    /// Stops background work and every office process this replica started.
    pub async fn shutdown(&self) {
        self.tasks.lock().await.shutdown().await;
        self.compute.shutdown(self.config.offices.iter().map(|o| o.name.as_str())).await;
    }

    /// One pass over the offices that have something to do: those up (or failed), and
    /// those asleep with prompts waiting. Asleep offices with nothing waiting cost
    /// nothing, however many there are. Each office is driven in a task of its own, so
    /// one office dispatching a long queue holds up no other.
    async fn step(self: &Arc<Self>) -> anyhow::Result<()> {
        self.expire_approvals().await?;
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
    async fn recover(self: &Arc<Self>) -> anyhow::Result<()> {
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

    async fn recover_office(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<()> {
        let state = OfficeState::parse(&office.state);
        let requeued = self.store.requeue_dispatched(&office.name).await?;
        for prompt in requeued {
            self.post(&prompt.thread_id, "text", &texts::rerun(&office.name, "Nova restarted"), None, None).await?;
        }
        match state {
            Some(OfficeState::Waking) => {
                // A half-restored workspace: the next wake restores it again.
                self.set_state(&office, &[OfficeState::Waking], OfficeChange::to(OfficeState::Asleep)).await?;
            }
            Some(OfficeState::Ready | OfficeState::Idle | OfficeState::Snapshotting) => {
                // The workspace on disk is the newest state: snapshot it before sleeping.
                let mut change = OfficeChange::to(OfficeState::Snapshotting);
                change.lease_until = Some(Some(now_ms() + LEASE.as_millis() as i64));
                if self
                    .set_state(&office, &[OfficeState::Ready, OfficeState::Idle, OfficeState::Snapshotting], change)
                    .await?
                {
                    self.spawn_sleep(office.name.clone(), office.generation).await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Works out what an inbound event changes (routing it, or applying a click); reads
    /// only, so that a round's events are planned concurrently and written together.
    async fn plan_inbound(&self, row: &store::inbound::Model) -> anyhow::Result<InboundEffects> {
        let event: InboundEvent = serde_json::from_str(&row.body).context("inbound body is not an event")?;
        let thread = self.store.thread(&row.thread_id).await?;
        let mut effects = InboundEffects::default();
        match event {
            InboundEvent::Message { text, .. } => {
                let history: Vec<String> = self
                    .store
                    .thread_messages(&row.thread_id)
                    .await?
                    .into_iter()
                    .filter(|m| !m.from_nova && m.body != text)
                    .map(|m| m.body)
                    .collect();
                let picks = self.store.channel_picks(&row.surface, &row.channel).await?;
                let request = RouteRequest {
                    channel: &row.channel,
                    thread: &history,
                    text: &text,
                    thread_office: thread.as_ref().and_then(|t| t.office.as_deref()),
                    thread_repo: thread.as_ref().and_then(|t| t.repo.as_deref()),
                    channel_picks: &picks,
                };
                let mut route = self.router.route(&request);
                if let Some(model) = self.model.as_ref().filter(|m| m.should_ask(&route)) {
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
                            let asleep = self
                                .store
                                .office(office)
                                .await?
                                .is_none_or(|o| o.state == OfficeState::Asleep.as_str());
                            effects.replies.push(Reply {
                                thread_id: row.thread_id.clone(),
                                kind: "text",
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
                        });
                    }
                    None => {
                        let mut options: Vec<&crate::config::Office> =
                            route.alternatives.iter().filter_map(|name| self.config.office(name)).collect();
                        for office in &self.config.offices {
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
                            kind: "card",
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
                        });
                    }
                }
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
                effects.record_pick = Some((row.surface.clone(), row.channel.clone(), office.clone()));
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

    async fn drive_office(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<()> {
        let Some(config) = self.config.office(&office.name) else {
            return Ok(());
        };
        let now = now_ms();
        let lease_expired = office.lease_until.is_none_or(|until| until < now);
        let mine = office.lease_owner.as_deref() == Some(self.replica.as_str());
        let held = self.store.count_prompts(&office.name, &[PromptState::Held]).await? > 0;
        let retry_due = now - office.state_changed_at > FAILED_RETRY.as_millis() as i64;
        match OfficeState::parse(&office.state) {
            Some(OfficeState::Asleep) if held => {
                // A prompt found its office asleep: no signal came early enough.
                let name = office.name.clone();
                let woken = self.try_wake(office).await?;
                if woken.is_some() {
                    self.unannounced.lock().expect("unannounced lock").insert(name);
                }
                metrics::counter!("nova_prewarm_total", "outcome" => "miss").increment(u64::from(woken.is_some()));
            }
            Some(OfficeState::Failed) if held && retry_due => {
                self.try_wake(office).await?;
            }
            Some(OfficeState::Ready | OfficeState::Idle) if mine => {
                if let Some(lost) = self.compute.lost(&office.name).await {
                    return self.office_lost(&office, lost).await;
                }
                self.dispatch_held(&office).await?;
                let office = self.store.office(&office.name).await?.context("office row vanished")?;
                let busy =
                    self.store.count_prompts(&office.name, &[PromptState::Held, PromptState::Dispatched]).await? > 0;
                let idle_for = Duration::from_millis((now - office.last_active_at).max(0) as u64);
                let idle_timeout = if self.unannounced.lock().expect("unannounced lock").contains(&office.name) {
                    config.idle_timeout_without_signals
                } else {
                    config.idle_timeout
                };
                match OfficeState::parse(&office.state) {
                    Some(OfficeState::Ready) if !busy => {
                        self.set_state(&office, &[OfficeState::Ready], OfficeChange::to(OfficeState::Idle)).await?;
                    }
                    // Up on a typing signal alone: it waits for the prompt until its own deadline.
                    Some(OfficeState::Idle) if !busy && office.prewarm_until.is_some_and(|until| now >= until) => {
                        self.prewarm_expired(&office).await?;
                    }
                    Some(OfficeState::Idle) if !busy && office.prewarm_until.is_none() && idle_for >= idle_timeout => {
                        self.begin_sleep(&office).await?;
                    }
                    _ => {}
                }
            }
            Some(OfficeState::Waking | OfficeState::Ready | OfficeState::Idle | OfficeState::Snapshotting)
                if lease_expired && !mine =>
            {
                // Its replica died: take the office over. Its machine is gone with it.
                let mut change = OfficeChange::to(OfficeState::Failed);
                change.failure = Some(Some("the Nova replica that ran this office stopped".to_owned()));
                if self
                    .set_state(&office, &[OfficeState::parse(&office.state).unwrap_or(OfficeState::Waking)], change)
                    .await?
                {
                    self.store.requeue_dispatched(&office.name).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Starts a wake unless another caller won this generation's; returns the new generation.
    async fn try_wake(self: &Arc<Self>, office: offices::Model) -> anyhow::Result<Option<i64>> {
        let lease = self.config.provisioner.wake_timeout() + LEASE;
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
    async fn wake(&self, name: &str, generation: i64) -> anyhow::Result<()> {
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
        let timeout = self.config.provisioner.wake_timeout();
        let tier = self.config.office(name).and_then(|o| provisioner::tiers::tier(o.tier)).context("unknown tier")?;
        let started = self.compute.start(&spec, tier, row.snapshot_key.as_deref(), timeout).await?;
        let endpoint = started.endpoint;
        if let Some(placement) = started.placement {
            self.record("nova", name, None, "placed", serde_json::json!(placement)).await;
        }
        self.wait_healthy(&endpoint, name, generation, timeout).await?;
        if let Some(context) = self.templates.office_context(&self.config, name)? {
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
        self.attached
            .lock()
            .expect("attached lock")
            .insert(name.to_owned(), Attached { generation, endpoint: endpoint.clone(), token: token.clone() });
        let mut change = OfficeChange::to(OfficeState::Ready);
        change.endpoint = Some(Some(endpoint));
        change.token_hash = Some(Some(key.secret_hash()));
        change.lease_until = Some(Some(now_ms() + LEASE.as_millis() as i64));
        change.touch = true;
        let row = self.store.office(name).await?.context("office row vanished")?;
        if row.generation != generation || !self.set_state(&row, &[OfficeState::Waking], change).await? {
            self.compute.stop(name).await;
            bail!("the office moved on while it was waking");
        }
        Ok(())
    }

    async fn wait_healthy(&self, endpoint: &str, name: &str, generation: i64, timeout: Duration) -> anyhow::Result<()> {
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

    async fn wake_failed(&self, name: &str, generation: i64, reason: &str) {
        tracing::error!(office = name, generation, "wake failed: {reason}");
        self.record("nova", name, None, "wake_failed", serde_json::json!({"generation": generation, "reason": reason}))
            .await;
        self.compute.stop(name).await;
        let result: anyhow::Result<()> = async {
            let row = self.store.office(name).await?.context("office row vanished")?;
            if row.generation != generation {
                return Ok(());
            }
            let mut change = OfficeChange::to(OfficeState::Failed);
            change.failure = Some(Some(reason.to_owned()));
            if self.set_state(&row, &[OfficeState::Waking], change).await? {
                let mut told = std::collections::HashSet::new();
                for prompt in self.store.prompts_in_state(name, PromptState::Held).await? {
                    if told.insert(prompt.thread_id.clone()) {
                        self.post(&prompt.thread_id, "text", &texts::wake_failed(name, reason), None, None).await?;
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

    /// `idle → snapshotting`; the snapshot itself runs in the background.
    /// A person asks for an office to start now (`/nova wake`). Returns the new
    /// generation, or `None` if the office is not asleep (or another wake won).
    pub async fn wake_office(self: &Arc<Self>, name: &str, by: &str) -> anyhow::Result<Option<i64>> {
        let Some(office) = self.store.office(name).await? else {
            return Ok(None);
        };
        if !matches!(OfficeState::parse(&office.state), Some(OfficeState::Asleep | OfficeState::Failed)) {
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
        let change = OfficeChange::to(OfficeState::Snapshotting);
        if !self.set_state(&office, &[OfficeState::Idle, OfficeState::Ready], change).await? {
            return Ok(false);
        }
        self.record(by, name, None, "sleep_requested", serde_json::json!({"generation": office.generation})).await;
        self.spawn_sleep(office.name.clone(), office.generation).await;
        Ok(true)
    }

    async fn begin_sleep(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let change = OfficeChange::to(OfficeState::Snapshotting);
        if self.set_state(office, &[OfficeState::Idle], change).await? {
            // The next wake says anew whether its prompt was announced.
            self.unannounced.lock().expect("unannounced lock").remove(&office.name);
            self.spawn_sleep(office.name.clone(), office.generation).await;
        }
        Ok(())
    }

    async fn spawn_sleep(self: &Arc<Self>, name: String, generation: i64) {
        let engine = Arc::clone(self);
        self.publish_office(&name).await;
        self.tasks.lock().await.spawn(async move {
            if let Err(error) = engine.sleep(&name, generation).await {
                tracing::error!(office = %name, "cannot put the office to sleep: {error:#}");
                let mut change = OfficeChange::to(OfficeState::Failed);
                change.failure = Some(Some(format!("snapshot failed: {error:#}")));
                if let Ok(Some(row)) = engine.store.office(&name).await {
                    let _ = engine.set_state(&row, &[OfficeState::Snapshotting], change).await;
                }
            }
            engine.work.notify_one();
        });
    }

    /// Stops the office, snapshots its workspace (fenced by generation), and only
    /// then lets go of the workspace: nothing is deleted before the snapshot is stored.
    async fn sleep(&self, name: &str, generation: i64) -> anyhow::Result<()> {
        let attached = self.attached.lock().expect("attached lock").remove(name);
        let daemon = attached.as_ref().map(|a| (a.endpoint.as_str(), a.token.as_str()));
        let info = self.compute.snapshot(name, generation, daemon).await?;
        metrics::histogram!("nova_snapshot_seconds").record(info.elapsed.as_secs_f64());
        tracing::info!(office = name, generation, bytes = info.bytes, source_bytes = info.source_bytes, elapsed = ?info.elapsed, "snapshot stored");
        let details = serde_json::json!({"generation": generation, "key": info.key, "bytes": info.bytes});
        self.record("nova", name, None, "snapshot", details).await;
        let mut change = OfficeChange::to(OfficeState::Asleep);
        change.snapshot = Some((info.key, info.bytes as i64));
        change.endpoint = Some(None);
        change.token_hash = Some(None);
        change.lease_until = Some(None);
        let row = self.store.office(name).await?.context("office row vanished")?;
        // Published only once the workspace is gone, below: "asleep" means no machine.
        if row.generation != generation
            || !self.store.transition(name, generation, &[OfficeState::Snapshotting], change).await?
        {
            bail!("a newer generation took over during the snapshot; keeping its state");
        }
        // The machine goes, and its disk with it.
        self.compute.release(name).await;
        self.publish_office(name).await;
        Ok(())
    }

    /// Sends the office its held prompts, oldest first.
    async fn dispatch_held(self: &Arc<Self>, office: &offices::Model) -> anyhow::Result<()> {
        let held = self.store.prompts_in_state(&office.name, PromptState::Held).await?;
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
        if office.state == OfficeState::Idle.as_str() {
            let mut change = OfficeChange::to(OfficeState::Ready);
            change.touch = true;
            self.set_state(office, &[OfficeState::Idle], change).await?;
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

    /// The office's process is gone or broken. Its workspace holds the newest state of
    /// its work, so it is snapshotted (not discarded) before the office sleeps; the
    /// prompts it was running go back to the queue and run again on the next wake.
    /// The office's machine went while it was up: its interrupted prompts run again,
    /// from the workspace if it survived (snapshotted first), else from the last snapshot.
    async fn office_lost(self: &Arc<Self>, office: &offices::Model, lost: compute::Lost) -> anyhow::Result<()> {
        let reason = lost.reason.as_str();
        tracing::warn!(office = %office.name, generation = office.generation, "office lost: {reason}");
        let details = serde_json::json!({"reason": reason, "workspace_kept": lost.workspace_kept});
        self.record("nova", &office.name, None, "office_lost", details).await;
        self.attached.lock().expect("attached lock").remove(&office.name);
        let mut change = OfficeChange::to(OfficeState::Snapshotting);
        change.failure = Some(Some(reason.to_owned()));
        if !lost.workspace_kept {
            // Nothing to snapshot: asleep on its last snapshot, so the next prompt
            // (or the ones requeued here) wakes it at once.
            change = OfficeChange::to(OfficeState::Asleep);
            change.endpoint = Some(None);
            change.token_hash = Some(None);
            change.lease_until = Some(None);
        }
        if !self.set_state(office, &[OfficeState::Ready, OfficeState::Idle], change).await? {
            return Ok(());
        }
        let text = if lost.workspace_kept { texts::rerun } else { texts::rerun_from_snapshot };
        for prompt in self.store.requeue_dispatched(&office.name).await? {
            self.post(&prompt.thread_id, "text", &text(&office.name, reason), None, None).await?;
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

    async fn apply_run_event(&self, office: &str, prompt: &prompts::Model, event: RunEvent) -> anyhow::Result<()> {
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

    /// Appends to the audit trail; a failure to do so is logged, never fatal to the step.
    async fn record(
        &self,
        actor: &str,
        office: &str,
        run_id: Option<&str>,
        action: &'static str,
        details: serde_json::Value,
    ) {
        let entry = store::AuditEntry {
            actor: actor.to_owned(),
            office: Some(office.to_owned()),
            run_id: run_id.map(str::to_owned),
            action,
            details,
        };
        if let Err(error) = self.store.audit(entry).await {
            tracing::error!("cannot write the audit trail: {error:#}");
        }
    }

    async fn channel_of(&self, thread_id: &str) -> anyhow::Result<String> {
        Ok(self.store.thread(thread_id).await?.map(|t| t.channel).unwrap_or_default())
    }

    async fn post(
        &self,
        thread_id: &str,
        kind: &str,
        body: &str,
        card: Option<&Card>,
        run_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let card = card.map(Card::to_json);
        let message = self.store.post_message(thread_id, kind, body, card.as_deref(), run_id).await?;
        let channel = self.channel_of(thread_id).await?;
        self.publish_message(&channel, message);
        Ok(())
    }

    async fn set_state(
        &self,
        office: &offices::Model,
        from: &[OfficeState],
        change: OfficeChange,
    ) -> anyhow::Result<bool> {
        let moved = self.store.transition(&office.name, office.generation, from, change).await?;
        if moved {
            self.publish_office(&office.name).await;
        }
        Ok(moved)
    }

    fn publish_message(&self, channel: &str, message: messages::Model) {
        let _ = self.updates.send(Update::Message { channel: channel.to_owned(), message: Box::new(message.into()) });
    }

    async fn publish_office(&self, name: &str) {
        if let Ok(Some(row)) = self.store.office(name).await {
            let _ = self.updates.send(Update::Office { office: self.office_view(row) });
        }
    }

    pub fn office_view(&self, row: offices::Model) -> OfficeView {
        OfficeView {
            role: self.config.office(&row.name).map(|o| o.role.clone()).unwrap_or_default(),
            name: row.name,
            state: row.state,
            generation: row.generation,
            failure: row.failure,
            snapshot_bytes: row.snapshot_bytes,
            prewarmed: row.prewarm_until.is_some(),
        }
    }

    pub async fn offices(&self) -> anyhow::Result<Vec<OfficeView>> {
        Ok(self
            .store
            .all_offices()
            .await?
            .into_iter()
            .filter(|o| self.config.office(&o.name).is_some())
            .map(|o| self.office_view(o))
            .collect())
    }
}

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

/// A stable id for this Nova's data dir, so a restarted Nova recognises the offices it
/// ran before and recovers them at once instead of waiting for their leases to lapse.
fn replica_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path: PathBuf = data_dir.join("replica-id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_owned());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}
