//! Sessions, dispatch and the office lifecycle, all driven from the store. By job:
//! [`inbound`] (what people say, to the queue), [`runs`] (prompts to offices, their
//! events back), [`lifecycle`] (wake, idle, sleep, takeover, recovery), [`views`] (what
//! the console shows), [`asks`] (approvals and credentials), [`prewarm`] (typing
//! signals), [`compute`] (where offices run).
//!
//! Surfaces record inbound events (before they acknowledge them) and poke the engine.
//! Two loops then work from the store: the routing loop routes pending inbound rows
//! (route → prompt, or a picker card), and nothing an office does can hold it up; the
//! office loop wakes offices that have held prompts (exactly one wake per generation,
//! via a conditional update), dispatches held prompts in order to ready offices, and
//! puts idle offices to sleep (snapshot → stop). Because every step reads its work from
//! the store, a restarted Nova resumes whatever the last one left.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex, RwLock as StdRwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use provisioner::local::StartSpec;
use provisioner::protocol::{
    EventEnvelope, Health, RepoContext, RunEvent, RunRequest, RuntimeSpec, Speaker, StopRequest, TranscriptEntry,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;

mod asks;
mod board;
pub mod budgets;
pub mod code_host;
pub mod compute;
pub mod databases;
mod fleet_changes;
mod habits;
mod inbound;
mod lifecycle;
mod loop_guard;
pub mod office_commands;
pub mod people;
mod prewarm;
mod reload;
mod requests;
pub mod reviews;
mod runs;
mod schedules;
mod tasks;
mod views;

use crate::service_key::{KeyError, ServiceKey};

pub use crate::store::TaskAsk;
pub use asks::{ApprovalAsk, AskRefusal, CredentialAsk, ProvideRefusal, RunRefusal, VaultEntry};
pub use board::{Board, BoardOffice, WeekStats};
pub use budgets::{Spend, period_span, spend_between, spend_since};
pub use fleet_changes::FLEET_CHANGE;
pub use loop_guard::{LOOP_GUARD, MAX_SELF_DRIVEN_RUNS};
pub use prewarm::{Prewarm, WarmSignal};
pub use reload::{FleetChanges, LiveFleet, live_fleet};
pub use runs::EventRefusal;
pub use runs::{HandoffAsk, MAX_HANDOFFS_PER_RUN, StopRefusal, may_stop, session_name};
pub use tasks::{EscalationAsk, MAX_TASK_ATTEMPTS, MAX_TASKS_PER_RUN, TaskChanged, TaskOutcome, TaskRefusal};
pub use views::{MessageView, OfficeView, ReviewCardView, ReviewDetail, RevisionView, TaskView, ThreadView, Update};

use crate::config::Config;
use crate::context::Templates;
use crate::router::{RouteRequest, Router};
use crate::store::{
    self, ApprovalState, InboundEffects, InboundKind, MessageKind, NewInbound, NewPrompt, OfficeChange, OfficeState,
    PromptState, Recorded, Reply, Store, Surface, ThreadRoute, Transition, messages, now_ms, offices, prompts,
};
use crate::texts::{self, Card, RunStatus};

/// How long a replica's hold on a waking or running office lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How many prompts an office holds beyond those it may run at once: one ready to start
/// the moment a run ends. The rest wait in Nova, where a burst costs nothing.
const READY_PROMPTS: u64 = 1;
/// How long a failed office waits before Nova tries to wake it again.
const FAILED_RETRY: Duration = Duration::from_secs(30);
/// The office loop's safety-net tick, for work from other replicas and for timers.
const TICK: Duration = Duration::from_secs(1);
/// The routing loop's: this replica's events wake it at once; this is for other replicas'.
const INBOUND_TICK: Duration = Duration::from_secs(1);
/// The least time between two passes of the office loop. Every routing round nudges it;
/// under a burst that was a pass (and its reads) per message or two. A prompt waits at
/// most this long more for its dispatch, next to a run's seconds.
const PASS_GAP: Duration = Duration::from_millis(20);
/// How often the gauges (offices by state, queue, backlog age) are read from the store.
const GAUGES: Duration = Duration::from_secs(5);
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
    /// A schedule's tick: its prompt goes to its office, unless its last run is still going.
    /// The author is the person who made the schedule.
    Scheduled { schedule: i64 },
    /// A fleet change asked for through `/api/fleet` rather than in words: it goes the
    /// way a change read from chat goes (permission, validation, approval card).
    FleetChange { change: crate::ask::Action },
    /// An office hands work to another (`to`), or (`returning`) a handed-over run's
    /// outcome goes back to the office that handed it. The author is the office.
    Handoff {
        from_run: String,
        to: String,
        text: String,
        #[serde(default)]
        returning: bool,
    },
    /// A ready task, claimed for `run_id`, goes to its owner as a run. The author is the
    /// task's author.
    Task { task: i64, run_id: String },
    /// A person asks for a task (the console, `/api/tasks`); shown in its thread.
    NewTask { task: crate::store::TaskAsk },
    /// An office asks the office it reports to (`to`) for help. The author is the office.
    Escalation { from_run: String, to: String, reason: String, prompt: String },
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
    #[error("no schedule #{0}")]
    UnknownSchedule(i64),
    #[error("that card was already answered: {0}")]
    AlreadyAnswered(String),
    #[error("unknown office `{0}`")]
    UnknownOffice(String),
    #[error("no task #{0}")]
    UnknownTask(i64),
    #[error("`{0}` is not a fleet change: use create_office, update_office, retire_office or add_repo")]
    NotAFleetChange(&'static str),
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
    pub surface: Surface,
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
    /// The skills handed over at this wake (name → revision): what its runs use.
    skills: Arc<std::collections::BTreeMap<String, String>>,
    /// The snapshot the workspace was restored from at this wake, until a run is sent
    /// there: an office woken ahead of a prompt that never came (a prewarm, `/nova
    /// wake`) sleeps on it again instead of storing an identical one.
    unchanged_since: Option<String>,
}

/// The config and what is built from it, swapped whole when nova.toml changes or a
/// fleet change comes into force (see [`Engine::reload`]): a step reads one consistent
/// fleet from start to end.
struct Live {
    config: Arc<Config>,
    /// nova.toml's text, which the fleet changes are written over.
    base: Arc<str>,
    /// The fleet changes in force in the store when this was built, by id …
    changes_seen: Vec<i64>,
    /// … and those written in (the rest no longer fit nova.toml).
    changes_applied: Vec<i64>,
    router: Router,
    /// Reads plain language about the fleet.
    reader: crate::ask::Reader,
    /// The fast model, asked when the offline router is unsure (if configured).
    model: Option<crate::router::model::ModelRouter>,
    /// The same model, asked when the offline reader is unsure.
    ask_model: Option<crate::ask::model::ModelReader>,
}

impl Live {
    fn new(config: Arc<Config>, base: Arc<str>, changes_seen: Vec<i64>, changes_applied: Vec<i64>) -> Self {
        let settings = config.model_settings(|key| std::env::var(key).ok().filter(|v| !v.is_empty()));
        Self {
            router: Router::new(&config),
            reader: crate::ask::Reader::new(&config),
            model: settings.clone().map(|settings| crate::router::model::ModelRouter::new(&config, settings)),
            ask_model: settings.map(|settings| crate::ask::model::ModelReader::new(&config, settings)),
            config,
            base,
            changes_seen,
            changes_applied,
        }
    }
}

pub struct Engine {
    live: StdRwLock<Arc<Live>>,
    /// Held while a new fleet is built and swapped in, so a reload and a fleet change
    /// coming into force at once cannot undo each other.
    fleet_swap: tokio::sync::Mutex<()>,
    store: Store,
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
    /// A schedule was made or resumed: the scheduler looks again at what is due.
    schedules_changed: Notify,
    /// A task was made, ended or released: the task loop looks again at what is ready.
    tasks_changed: Notify,
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
    /// Per office idle past its timeout: since when (its `last_active_at`), and until
    /// when its people's return rate keeps it up, read once per idle spell.
    returning: StdMutex<HashMap<String, (i64, Option<i64>)>>,
    /// Each office's next wake ahead of its habits (planned when it falls asleep).
    habit_plans: StdMutex<habits::HabitPlans>,
    /// Runs whose thread was told their office is over budget (each is told once).
    budget_told: StdMutex<HashSet<String>>,
    /// When this engine was made: recovery leaves alone what this process changed since
    /// (surfaces may wake an office before recovery runs).
    started_ms: i64,
}

impl Engine {
    /// Starts on `file` (nova.toml as read) with the fleet changes in force written in.
    pub async fn new(file: Arc<Config>, store: Store, options: EngineOptions) -> anyhow::Result<Arc<Self>> {
        let base = Arc::clone(&file.source);
        let fleet = reload::live_fleet(&store, &file).await?;
        let (seen, applied) = (fleet.seen, fleet.applied);
        let config = Arc::new(fleet.config);
        let data_dir = config.store.data_dir.clone();
        store::ensure_private_dir(&data_dir)?;
        let replica = replica_id(&data_dir)?;
        let vault = crate::vault::Vault::from_env_or_data_dir(std::env::var("NOVA_MASTER_KEY").ok(), &data_dir)?;
        store.ensure_offices(config.offices.iter().map(|o| o.name.as_str())).await?;
        let compute =
            compute::Compute::for_config(&config, &store, &vault, &replica, options.office_program, options.gce)?;
        let (updates, _) = broadcast::channel(1024);
        Ok(Arc::new(Self {
            live: StdRwLock::new(Arc::new(Live::new(config, base, seen, applied))),
            fleet_swap: tokio::sync::Mutex::new(()),
            templates: Templates::default(),
            vault,
            store,
            compute,
            replica,
            nova_url: options.nova_url,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            updates,
            work: Notify::new(),
            inbound_waiting: Notify::new(),
            schedules_changed: Notify::new(),
            tasks_changed: Notify::new(),
            driving: StdMutex::new(HashMap::new()),
            attached: StdMutex::new(HashMap::new()),
            applied: StdMutex::new(HashMap::new()),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            warm_signals: StdMutex::new(HashMap::new()),
            unannounced: StdMutex::new(HashSet::new()),
            returning: StdMutex::new(HashMap::new()),
            habit_plans: StdMutex::new(habits::HabitPlans::default()),
            budget_told: StdMutex::new(HashSet::new()),
            started_ms: now_ms(),
        }))
    }

    fn live(&self) -> Arc<Live> {
        Arc::clone(&self.live.read().expect("live fleet lock"))
    }

    /// The fleet's config as it is now (nova.toml changes are picked up while Nova runs).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live().config)
    }

    /// The workspace's clock: schedules' times of day and calendar months are on it.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.config().workspace.time_zone
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The VM fleet, when offices run on GCE.
    pub fn fleet(&self) -> Option<&Arc<crate::fleet::Fleet>> {
        self.compute.fleet()
    }

    /// How many office processes this replica runs right now.
    pub async fn running_offices(&self) -> usize {
        self.compute.running().await
    }

    /// Runs the engine until the task is aborted (see [`Engine::shutdown`]).
    pub async fn run(self: Arc<Self>) {
        if let Err(error) = self.recover().await {
            tracing::error!("recovery after restart failed: {error:#}");
        }
        {
            // One read of each sleeping office's history: not worth holding up the start.
            let engine = Arc::clone(&self);
            self.tasks.lock().await.spawn(async move {
                if let Err(error) = engine.plan_habit_wakes().await {
                    tracing::warn!("cannot plan wakes ahead of offices' habits: {error:#}");
                }
            });
        }
        if let Some(fleet) = self.compute.fleet() {
            // Pools, the orphan sweep and image builds live as long as the engine loop.
            let mut tasks = self.tasks.lock().await;
            tasks.spawn(Arc::clone(fleet).run());
            let cadence = self.config().provisioner.image_cadence;
            if !cadence.is_zero() {
                tasks.spawn(Arc::clone(fleet).run_image_builds(fleet.backend().image().to_owned(), cadence));
            }
        }
        tokio::join!(
            Arc::clone(&self).route_loop(),
            Arc::clone(&self).office_loop(),
            Arc::clone(&self).schedule_loop(),
            Arc::clone(&self).task_loop()
        );
    }

    /// Stops background work and every office process this replica started.
    pub async fn shutdown(&self) {
        self.tasks.lock().await.shutdown().await;
        self.compute.shutdown(self.config().offices.iter().map(|o| o.name.as_str())).await;
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
        self.append_audit(entry).await;
    }

    /// Appends what concerns no office (a person signing in) to the audit trail.
    async fn record_global(&self, actor: &str, action: &'static str, details: serde_json::Value) {
        let entry = store::AuditEntry { actor: actor.to_owned(), office: None, run_id: None, action, details };
        self.append_audit(entry).await;
    }

    async fn append_audit(&self, entry: store::AuditEntry) {
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
        kind: MessageKind,
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

    async fn set_state(&self, office: &offices::Model, change: OfficeChange) -> anyhow::Result<bool> {
        let moved = self.store.transition(&office.name, office.generation, change).await?;
        if moved {
            self.publish_office(&office.name).await;
        }
        Ok(moved)
    }
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
