//! The store: every step of Nova is driven from here, so a restart resumes where the
//! last process stopped. SQLite by default, Postgres for several replicas; the same
//! conditional updates (`… WHERE state = ? AND generation = ?`) are the fence on both.

mod applying;
mod asks;
mod checkout;
mod checkpoint;
pub mod entities;
mod fleet;
mod gate;
mod mirror;
mod pools;
mod recorder;
mod recurring;
mod reviewing;
mod sign_in;
mod states;

pub use checkout::{Claim, NewTask, TaskAsk, TaskSettled};
pub use gate::Lane;
use gate::{WriteGate, WritePermit};
pub use states::{
    ApprovalState, ClaimVia, CredentialState, InboundKind, MessageKind, OfficeState, PromptState, ReviewState, Surface,
    TaskState, Transition, Verdict,
};

pub use mirror::Unsynced;
pub use pools::{CLAIMED, WARM};

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

pub use entities::{
    approvals, audit, console_tokens, credential_requests, fleet_changes, inbound, leases, messages, offices, outbox,
    prompts, review_decisions, review_revisions, reviews, route_picks, schedules, secrets, skill_revisions,
    surface_posts, task_deps, tasks, threads, warm_vms,
};
pub use recurring::NewSchedule;
pub use reviewing::NewRevision;

/// Items one SQLite write transaction takes (see [`Store::write_each`]).
const ITEMS_PER_TURN: usize = 8;
/// Transactions [`Store::write_each`] runs at once on Postgres.
const PARALLEL_WRITES: usize = 16;
/// Items one Postgres transaction of multi-row statements takes ([`Store::write_chunked`]).
/// No gate for an acknowledgement to wait at, so a chunk can be large: each statement
/// costs Postgres a parse, a plan and a round trip whatever its rows, and a burst's
/// rounds written in chunks of eight as sixteen transactions at once kept a dozen
/// backends busy on two cores while acknowledgements queued for the CPU.
const ITEMS_PER_POSTGRES_CHUNK: usize = 64;
/// Chunk transactions [`Store::write_chunked`] runs at once on Postgres: a full round
/// (`ROUTE_BATCH`) in one go, without a backend per core and more.
const PARALLEL_POSTGRES_CHUNKS: usize = 4;
/// A thread's title: the start of its first message.
const THREAD_TITLE_CHARS: usize = 120;

/// Creates the data dir (or keeps it) readable by Nova's user only: it holds the
/// database, the master key and every office's workspace.
pub fn ensure_private_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create data dir {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make data dir {} private", path.display()))?;
    }
    Ok(())
}

/// Milliseconds since the epoch: the one clock every row uses.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    gate: WriteGate,
    /// SQLite: commits inbound events that arrive together in few transactions.
    recorder: Option<recorder::Recorder>,
    /// SQLite: checkpoints the write-ahead log apart from the writers.
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
    /// Connections for acknowledgements only, opened at start, so that a platform
    /// waiting for one never queues for a connection behind routing, runs and mirrors
    /// (on SQLite the ack lane's writes go through it; see [`Store::writer`]).
    acks: DatabaseConnection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.db.get_database_backend()).finish()
    }
}

/// The connection to write with, held while the [`WriteGate`] lets this writer through.
pub(crate) struct Writer<'a> {
    db: &'a DatabaseConnection,
    _permit: WritePermit,
}

impl std::ops::Deref for Writer<'_> {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        self.db
    }
}

/// The database to use: `NOVA_DATABASE_URL`, then the config's `database_url`, then a
/// SQLite file in the data dir.
pub fn database_url(configured: Option<&str>, data_dir: &Path) -> String {
    if let Ok(url) = std::env::var("NOVA_DATABASE_URL")
        && !url.is_empty()
    {
        return url;
    }
    match configured {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}?mode=rwc", data_dir.join("nova.db").display()),
    }
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let sqlite = url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .max_connections(if sqlite { 8 } else { 16 })
            // Postgres: connections kept open through quiet hours, so that the first
            // messages of a burst do not wait for new ones (each a login, 10–30 ms here).
            .min_connections(if sqlite { 0 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            // No ping before each use: on SQLite it doubled the cost of every query, on
            // Postgres it was a round trip per query on a machine that, under a burst,
            // is short of CPU. sqlx still pings a connection as it goes back to the pool
            // and drops it if that fails; one that went stale while idle (the server
            // restarted) fails its next query once, and the caller retries as for any
            // error (an unacknowledged event is delivered again, loops try next tick).
            .test_before_acquire(false)
            // Per connection, so every pooled connection gets them: WAL lets readers work
            // while a writer commits; NORMAL syncs at checkpoints rather than at every
            // commit (still durable across a process crash); the busy timeout makes
            // concurrent writers wait for each other instead of failing; checkpoints are
            // Nova's own (see [`checkpoint`]).
            .map_sqlx_sqlite_opts(|sqlite| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("wal_autocheckpoint", "0")
            });
        let db = Database::connect(options.clone())
            .await
            .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))?;
        Migrator::up(&db, None).await.context("cannot run database migrations")?;
        // SQLite writes one at a time: one connection; Postgres takes acks at once.
        let ack_connections = if sqlite { 1 } else { 4 };
        options.max_connections(ack_connections).min_connections(ack_connections);
        let acks = Database::connect(options)
            .await
            .with_context(|| format!("cannot connect to the database at {} for acknowledgements", redact_url(url)))?;
        let gate = if sqlite { WriteGate::serialized() } else { WriteGate::open() };
        let checkpointer = sqlite.then(|| Arc::new(checkpoint::Checkpointer::start(db.clone())));
        let store = Self { db, gate, recorder: None, checkpointer, acks };
        // Group commit pays where writers queue for one lock; Postgres takes concurrent
        // acknowledgements at once, and a batch would only make each wait for the rest.
        let recorder = sqlite.then(|| recorder::Recorder::start(store.clone()));
        Ok(Self { recorder, ..store })
    }

    /// For reads. Writes go through [`Store::writer`].
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Waits for this writer's turn (see [`gate`]); hold the result only while writing.
    pub(crate) async fn writer(&self, lane: Lane) -> Writer<'_> {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.note_write();
        }
        let db = if lane == Lane::Ack { &self.acks } else { &self.db };
        Writer { _permit: self.gate.enter(lane).await, db }
    }

    /// Writes an inbound message, its thread (if new) and the message as the thread
    /// shows it, durably, before the caller acknowledges it. A repeated `dedupe_key`
    /// changes nothing. Events arriving together are committed together (see
    /// [`recorder`]), so a burst costs one commit per batch, not one per event.
    pub async fn record_inbound(&self, new: NewInbound) -> anyhow::Result<Recorded> {
        match &self.recorder {
            Some(recorder) => recorder.record(new).await,
            None => match recorder::record_in_one_statement(&self.acks, &new).await? {
                Some(recorded) => Ok(recorded),
                None => self.record_in_a_transaction(new).await,
            },
        }
    }

    /// [`Store::record_inbound`] as a transaction of its own (duplicates, joined threads).
    async fn record_in_a_transaction(&self, new: NewInbound) -> anyhow::Result<Recorded> {
        self.write_each(Lane::Ack, &[new], |txn, new| Box::pin(record_one(txn, new)))
            .await
            .pop()
            .expect("one result per item")
    }

    pub async fn pending_inbound(&self, limit: u64) -> anyhow::Result<Vec<inbound::Model>> {
        Ok(inbound::Entity::find()
            .filter(inbound::Column::ProcessedAt.is_null())
            .order_by_asc(inbound::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Appends one row to the audit trail.
    pub async fn audit(&self, entry: AuditEntry) -> anyhow::Result<()> {
        insert_audit(&*self.writer(Lane::Background).await, entry).await
    }

    /// The audit trail, oldest first, filtered by office, run and time; at most
    /// [`AUDIT_PAGE_MAX`] rows.
    pub async fn audit_trail(&self, filter: &AuditFilter) -> anyhow::Result<Vec<audit::Model>> {
        let mut query = audit::Entity::find().order_by_asc(audit::Column::Id);
        if let Some(office) = &filter.office {
            query = query.filter(audit::Column::Office.eq(office));
        }
        if let Some(run) = &filter.run_id {
            query = query.filter(audit::Column::RunId.eq(run));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit::Column::At.gte(since));
        }
        let limit = Ord::min(filter.limit.unwrap_or(1000), AUDIT_PAGE_MAX);
        Ok(query.limit(limit).all(&self.db).await?)
    }

    /// Model spend per office over the last `days`, from every usage row of the audit
    /// trail (what offices report their models cost): `office → (usd, runs, tokens)`.
    /// Chat's spend answers, budgets and `nova spend` all read this.
    /// Audit rows of the given actions since `since`, oldest first.
    pub async fn audit_rows(&self, actions: &[&str], since: i64) -> anyhow::Result<Vec<audit::Model>> {
        Ok(audit::Entity::find()
            .filter(audit::Column::Action.is_in(actions.iter().copied()))
            .filter(audit::Column::At.gte(since))
            .order_by_asc(audit::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn thread(&self, id: &str) -> anyhow::Result<Option<threads::Model>> {
        Ok(threads::Entity::find_by_id(id.to_owned()).one(&self.db).await?)
    }

    pub async fn threads_in_channel(&self, surface: Surface, channel: &str) -> anyhow::Result<Vec<threads::Model>> {
        Ok(threads::Entity::find()
            .filter(threads::Column::Surface.eq(surface))
            .filter(threads::Column::Channel.eq(channel))
            .order_by_desc(threads::Column::UpdatedAt)
            .limit(200)
            .all(&self.db)
            .await?)
    }

    /// The dedupe key of the newest event recorded from `surface`, if any.
    pub async fn latest_inbound_key(&self, surface: Surface) -> anyhow::Result<Option<String>> {
        let newest = inbound::Entity::find()
            .filter(inbound::Column::Surface.eq(surface))
            .order_by_desc(inbound::Column::Id)
            .one(&self.db)
            .await?;
        Ok(newest.map(|row| row.dedupe_key))
    }

    /// A surface's sessions active since `since` (unix ms), most recent first.
    pub async fn active_threads(
        &self,
        surface: Surface,
        since: i64,
        limit: u64,
    ) -> anyhow::Result<Vec<threads::Model>> {
        Ok(threads::Entity::find()
            .filter(threads::Column::Surface.eq(surface))
            .filter(threads::Column::UpdatedAt.gte(since))
            .order_by_desc(threads::Column::UpdatedAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// What routing a round of inbound events reads, in three queries for the whole
    /// round rather than three per event: under a burst each query is a trip to the
    /// database's thread and back, and those trips, not the queries, were Nova's CPU.
    pub async fn read_for_routing(&self, events: &[inbound::Model]) -> anyhow::Result<RoutingReads> {
        let thread_ids: HashSet<&str> = events.iter().map(|e| e.thread_id.as_str()).collect();
        let channels: HashSet<&str> = events.iter().map(|e| e.channel.as_str()).collect();
        let threads =
            threads::Entity::find().filter(threads::Column::Id.is_in(thread_ids.iter().copied())).all(&self.db).await?;
        let messages = messages::Entity::find()
            .filter(messages::Column::ThreadId.is_in(thread_ids.iter().copied()))
            .order_by_asc(messages::Column::Id)
            .all(&self.db)
            .await?;
        let picks = route_picks::Entity::find()
            .filter(route_picks::Column::Channel.is_in(channels.iter().copied()))
            .all(&self.db)
            .await?;
        let mut reads = RoutingReads {
            threads: threads.into_iter().map(|t| (t.id.clone(), t)).collect(),
            ..RoutingReads::default()
        };
        for message in messages {
            reads.messages.entry(message.thread_id.clone()).or_default().push(message);
        }
        for pick in picks {
            let key = (pick.surface, pick.channel.clone());
            reads.picks.entry(key).or_default().push(office_and_count(pick));
        }
        Ok(reads)
    }

    pub async fn thread_messages(&self, thread_id: &str) -> anyhow::Result<Vec<messages::Model>> {
        Ok(messages::Entity::find()
            .filter(messages::Column::ThreadId.eq(thread_id))
            .order_by_asc(messages::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn message(&self, id: i64) -> anyhow::Result<Option<messages::Model>> {
        Ok(messages::Entity::find_by_id(id).one(&self.db).await?)
    }

    pub async fn post_message(
        &self,
        thread_id: &str,
        kind: MessageKind,
        body: &str,
        card: Option<&str>,
        run_id: Option<&str>,
    ) -> anyhow::Result<messages::Model> {
        insert_message(&*self.writer(Lane::Background).await, thread_id, "nova", true, kind, body, card, run_id).await
    }

    /// Edits a message in place (progress, a card reaching its terminal state).
    pub async fn edit_message(&self, id: i64, body: &str, card: Option<&str>) -> anyhow::Result<messages::Model> {
        update_message(&*self.writer(Lane::Background).await, id, body, card).await
    }

    /// Ends a run in one transaction: the prompt leaves `dispatched` for `to`, its
    /// progress message shows the final card, and the reply (result or failure) is
    /// posted; a crash can never leave a finished prompt without its reply. `None`:
    /// the prompt had already left `dispatched` (a redelivered event), nothing changed.
    pub async fn finish_run(
        &self,
        prompt: &prompts::Model,
        to: PromptState,
        progress: (i64, &str, &str),
        reply: (MessageKind, &str),
    ) -> anyhow::Result<Option<(messages::Model, messages::Model)>> {
        let writer = self.writer(Lane::Background).await;
        let txn = writer.begin().await?;
        let moved = prompts::Entity::update_many()
            .col_expr(prompts::Column::State, Expr::value(to.as_str()))
            .col_expr(prompts::Column::FinishedAt, Expr::value(now_ms()))
            .filter(prompts::Column::Id.eq(prompt.id))
            .filter(prompts::Column::State.eq(PromptState::Dispatched.as_str()))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(None);
        }
        let (progress_id, body, card) = progress;
        let edited = update_message(&txn, progress_id, body, Some(card)).await?;
        let (kind, text) = reply;
        let posted =
            insert_message(&txn, &prompt.thread_id, "nova", true, kind, text, None, Some(&prompt.run_id)).await?;
        txn.commit().await?;
        Ok(Some((edited, posted)))
    }

    pub async fn progress_message(&self, run_id: &str) -> anyhow::Result<Option<messages::Model>> {
        Ok(messages::Entity::find()
            .filter(messages::Column::RunId.eq(run_id))
            .filter(messages::Column::Kind.eq(MessageKind::Progress))
            .one(&self.db)
            .await?)
    }

    /// The office's newest result message, if it ever gave one.
    pub async fn last_result(&self, office: &str) -> anyhow::Result<Option<messages::Model>> {
        let runs = Query::select()
            .column(prompts::Column::RunId)
            .from(prompts::Entity)
            .and_where(Expr::col(prompts::Column::Office).eq(office))
            .to_owned();
        Ok(messages::Entity::find()
            .filter(messages::Column::Kind.eq(MessageKind::Result))
            .filter(messages::Column::RunId.in_subquery(runs))
            .order_by_desc(messages::Column::Id)
            .one(&self.db)
            .await?)
    }

    /// Marks inbound rows processed and applies their effects, all in one transaction
    /// (one turn at the write gate for a whole routing round). Per row: `None` if another
    /// worker got there first (that row changes nothing), else the messages it posted or
    /// edited. If the batch fails, each row is tried on its own, so one bad row fails only
    /// itself.
    pub async fn apply_inbound(
        &self,
        batch: Vec<(i64, InboundEffects)>,
    ) -> Vec<anyhow::Result<Option<Vec<messages::Model>>>> {
        self.write_chunked(Lane::Route, &batch, |txn, chunk| Box::pin(applying::apply_together(txn, chunk))).await
    }

    /// [`Store::write_each`] for a `write` that takes a whole chunk of items at once
    /// (multi-row statements): [`ITEMS_PER_TURN`] items a transaction on SQLite (the
    /// gate's turn stays short), [`ITEMS_PER_POSTGRES_CHUNK`] on Postgres.
    async fn write_chunked<T: Sync, R: Send>(
        &self,
        lane: Lane,
        items: &[T],
        write: impl for<'t> Fn(&'t DatabaseTransaction, &'t [T]) -> BoxFuture<'t, anyhow::Result<Vec<R>>> + Sync,
    ) -> Vec<anyhow::Result<R>> {
        let write = &write;
        let (per_chunk, at_once) = if self.gate.is_serialized() {
            (ITEMS_PER_TURN, 1)
        } else {
            (ITEMS_PER_POSTGRES_CHUNK, PARALLEL_POSTGRES_CHUNKS)
        };
        let chunks: Vec<BoxFuture<'_, Vec<anyhow::Result<R>>>> = items
            .chunks(per_chunk)
            .map(|chunk| -> BoxFuture<'_, _> {
                Box::pin(async move {
                    match self.write_chunk_in_one(lane, chunk, write).await {
                        Ok(written) => written.into_iter().map(Ok).collect(),
                        Err(error) if chunk.len() == 1 => vec![Err(error)],
                        Err(error) => {
                            tracing::warn!(items = chunk.len(), "a shared write failed, one by one now: {error:#}");
                            let mut results = Vec::with_capacity(chunk.len());
                            for one in chunk.chunks(1) {
                                let written = self.write_chunk_in_one(lane, one, write).await;
                                results.push(written.and_then(|mut w| w.pop().context("no result")));
                            }
                            results
                        }
                    }
                })
            })
            .collect();
        let written: Vec<Vec<anyhow::Result<R>>> = futures::stream::iter(chunks).buffered(at_once).collect().await;
        written.into_iter().flatten().collect()
    }

    /// Writes each item with `write`, a few items per transaction: fewer commits (and on
    /// Postgres fewer round trips) than one each, while no transaction holds SQLite's
    /// gate long (an acknowledgement waits for whoever holds it). On SQLite the
    /// transactions take turns; on Postgres several run at once. If a shared
    /// transaction fails, its items are tried one by one, so one bad item fails only
    /// itself.
    pub(crate) async fn write_each<T: Sync, R: Send>(
        &self,
        lane: Lane,
        items: &[T],
        write: impl for<'t> Fn(&'t DatabaseTransaction, &'t T) -> BoxFuture<'t, anyhow::Result<R>> + Sync,
    ) -> Vec<anyhow::Result<R>> {
        let write = &write;
        let chunks: Vec<BoxFuture<'_, Vec<anyhow::Result<R>>>> = items
            .chunks(ITEMS_PER_TURN)
            .map(|chunk| -> BoxFuture<'_, _> { Box::pin(self.write_chunk(lane, chunk, write)) })
            .collect();
        let at_once = if self.gate.is_serialized() { 1 } else { PARALLEL_WRITES };
        let written: Vec<Vec<anyhow::Result<R>>> = futures::stream::iter(chunks).buffered(at_once).collect().await;
        written.into_iter().flatten().collect()
    }

    /// One chunk of [`Store::write_chunked`], in a transaction of its own.
    async fn write_chunk_in_one<T: Sync, R: Send>(
        &self,
        lane: Lane,
        chunk: &[T],
        write: &(impl for<'t> Fn(&'t DatabaseTransaction, &'t [T]) -> BoxFuture<'t, anyhow::Result<Vec<R>>> + Sync),
    ) -> anyhow::Result<Vec<R>> {
        let writer = self.writer(lane).await;
        let txn = writer.begin().await?;
        let written = write(&txn, chunk).await?;
        txn.commit().await?;
        Ok(written)
    }

    /// One chunk of [`Store::write_each`]: together, or one by one if that fails.
    async fn write_chunk<T: Sync, R: Send>(
        &self,
        lane: Lane,
        chunk: &[T],
        write: &(impl for<'t> Fn(&'t DatabaseTransaction, &'t T) -> BoxFuture<'t, anyhow::Result<R>> + Sync),
    ) -> Vec<anyhow::Result<R>> {
        match self.write_together(lane, chunk, write).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(error) if chunk.len() == 1 => vec![Err(error)],
            Err(error) => {
                tracing::warn!(items = chunk.len(), "a shared write failed, one by one now: {error:#}");
                let mut results = Vec::with_capacity(chunk.len());
                for item in chunk {
                    let one = self.write_together(lane, std::slice::from_ref(item), write).await;
                    results.push(one.map(|mut one| one.pop().expect("one item, one result")));
                }
                results
            }
        }
    }

    /// Writes `items` in one transaction, in one turn at the gate.
    async fn write_together<T: Sync, R: Send>(
        &self,
        lane: Lane,
        items: &[T],
        write: &(impl for<'t> Fn(&'t DatabaseTransaction, &'t T) -> BoxFuture<'t, anyhow::Result<R>> + Sync),
    ) -> anyhow::Result<Vec<R>> {
        let writer = self.writer(lane).await;
        let txn = writer.begin().await?;
        let mut written = Vec::with_capacity(items.len());
        for item in items {
            written.push(write(&txn, item).await?);
        }
        txn.commit().await?;
        Ok(written)
    }

    /// Offices people picked in this channel, with how often.
    pub async fn channel_picks(&self, surface: Surface, channel: &str) -> anyhow::Result<Vec<(String, u32)>> {
        let rows = route_picks::Entity::find()
            .filter(route_picks::Column::Surface.eq(surface))
            .filter(route_picks::Column::Channel.eq(channel))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(office_and_count).collect())
    }

    /// The newest prompt a person (anyone not in `offices`) gave in a thread.
    pub async fn last_prompt_by_person(
        &self,
        thread_id: &str,
        offices: &[String],
    ) -> anyhow::Result<Option<prompts::Model>> {
        Ok(prompts::Entity::find()
            .filter(prompts::Column::ThreadId.eq(thread_id))
            .filter(prompts::Column::Author.is_not_in(offices.iter().cloned()))
            .order_by_desc(prompts::Column::Id)
            .one(&self.db)
            .await?)
    }

    /// How many runs `office` started in a thread after `since` for work from offices.
    pub async fn runs_from_offices(
        &self,
        office: &str,
        thread_id: &str,
        offices: &[String],
        since: i64,
    ) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(prompts::Entity::find()
            .filter(prompts::Column::Office.eq(office))
            .filter(prompts::Column::ThreadId.eq(thread_id))
            .filter(prompts::Column::Author.is_in(offices.iter().cloned()))
            .filter(prompts::Column::DispatchedAt.gt(since))
            .count(&self.db)
            .await?)
    }

    /// Prompts made since `since` (for the board's week).
    pub async fn prompts_since(&self, since: i64) -> anyhow::Result<Vec<prompts::Model>> {
        Ok(prompts::Entity::find().filter(prompts::Column::CreatedAt.gte(since)).all(&self.db).await?)
    }

    pub async fn prompts_in_state(&self, office: &str, state: PromptState) -> anyhow::Result<Vec<prompts::Model>> {
        self.oldest_prompts(office, state, None).await
    }

    /// An office's oldest prompts in `state`, at most `limit`.
    pub async fn oldest_prompts(
        &self,
        office: &str,
        state: PromptState,
        limit: Option<u64>,
    ) -> anyhow::Result<Vec<prompts::Model>> {
        Ok(prompts::Entity::find()
            .filter(prompts::Column::Office.eq(office))
            .filter(prompts::Column::State.eq(state.as_str()))
            .order_by_asc(prompts::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// When an office's prompts came, oldest first, from `since_ms` to `until_ms`: how
    /// often its people come back ([`crate::demand`]).
    pub async fn prompt_times(&self, office: &str, since_ms: i64, until_ms: i64) -> anyhow::Result<Vec<i64>> {
        Ok(prompts::Entity::find()
            .select_only()
            .column(prompts::Column::CreatedAt)
            .filter(prompts::Column::Office.eq(office))
            .filter(prompts::Column::CreatedAt.between(since_ms, until_ms))
            .order_by_asc(prompts::Column::CreatedAt)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// A thread's prompts, oldest first.
    pub async fn thread_prompts(&self, thread_id: &str) -> anyhow::Result<Vec<prompts::Model>> {
        Ok(prompts::Entity::find()
            .filter(prompts::Column::ThreadId.eq(thread_id))
            .order_by_asc(prompts::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// The prompts someone (under any of their names) asked for that are queued or running.
    pub async fn active_prompts_by(&self, authors: &[String]) -> anyhow::Result<Vec<prompts::Model>> {
        let states = [PromptState::Held.as_str(), PromptState::Dispatched.as_str()];
        Ok(prompts::Entity::find()
            .filter(prompts::Column::Author.is_in(authors.iter().map(String::as_str)))
            .filter(prompts::Column::State.is_in(states))
            .order_by_asc(prompts::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// How many prompts run `run_id` has handed to other offices.
    /// How many inbound events of a thread have a dedupe key that holds `key`.
    pub async fn count_inbound_keyed(&self, thread_id: &str, key: &str) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(inbound::Entity::find()
            .filter(inbound::Column::ThreadId.eq(thread_id))
            .filter(inbound::Column::DedupeKey.contains(key))
            .count(&self.db)
            .await?)
    }

    pub async fn count_handoffs(&self, run_id: &str) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(prompts::Entity::find().filter(prompts::Column::HandoffFrom.eq(run_id)).count(&self.db).await?)
    }

    pub async fn prompt_by_run(&self, run_id: &str) -> anyhow::Result<Option<prompts::Model>> {
        Ok(prompts::Entity::find().filter(prompts::Column::RunId.eq(run_id)).one(&self.db).await?)
    }

    /// Offices that have prompts waiting for them to wake. A `DISTINCT` read every held
    /// prompt, and under a burst thousands wait for one office: the engine asked this on
    /// every step, and on Postgres it took a millisecond of the database's CPU each time.
    /// Instead one seek in the `(state, office)` index per office that has any (a loose
    /// index scan), however many prompts each has.
    pub async fn offices_with_held_prompts(&self) -> anyhow::Result<Vec<String>> {
        const HELD_OFFICES: &str = "WITH RECURSIVE held (office) AS ( \
               SELECT MIN(office) FROM prompts WHERE state = $1 \
               UNION ALL \
               SELECT (SELECT MIN(office) FROM prompts WHERE state = $1 AND office > held.office) \
               FROM held WHERE held.office IS NOT NULL) \
             SELECT office FROM held WHERE office IS NOT NULL";
        let statement = Statement::from_sql_and_values(
            self.db.get_database_backend(),
            HELD_OFFICES,
            [PromptState::Held.as_str().into()],
        );
        let rows = self.db.query_all_raw(statement).await?;
        Ok(rows.iter().map(|row| row.try_get("", "office")).collect::<Result<_, _>>()?)
    }

    /// Moves a prompt between states if it is still in `from`; `true` if this call did.
    pub async fn move_prompt(&self, id: i64, from: PromptState, to: PromptState) -> anyhow::Result<bool> {
        let mut update = prompts::Entity::update_many()
            .col_expr(prompts::Column::State, Expr::value(to.as_str()))
            .filter(prompts::Column::Id.eq(id))
            .filter(prompts::Column::State.eq(from.as_str()));
        match to {
            PromptState::Dispatched => update = update.col_expr(prompts::Column::DispatchedAt, Expr::value(now_ms())),
            PromptState::Done | PromptState::Failed | PromptState::Stopped => {
                update = update.col_expr(prompts::Column::FinishedAt, Expr::value(now_ms()))
            }
            PromptState::Held | PromptState::Unrouted => {}
        }
        Ok(update.exec(&*self.writer(Lane::Background).await).await?.rows_affected == 1)
    }

    /// Dispatches a held prompt and shows its progress card (`fallback`, `card`), in one
    /// transaction: a dispatched prompt always has its progress message, so a stop that
    /// comes while the run is on its way to the office always finds the card to end.
    /// A run sent again (its office was lost) keeps its one progress message. `None`:
    /// the prompt was no longer held.
    pub async fn dispatch_prompt(
        &self,
        prompt: &prompts::Model,
        fallback: &str,
        card: &str,
    ) -> anyhow::Result<Option<messages::Model>> {
        let writer = self.writer(Lane::Background).await;
        let txn = writer.begin().await?;
        let moved = prompts::Entity::update_many()
            .col_expr(prompts::Column::State, Expr::value(PromptState::Dispatched.as_str()))
            .col_expr(prompts::Column::DispatchedAt, Expr::value(now_ms()))
            .filter(prompts::Column::Id.eq(prompt.id))
            .filter(prompts::Column::State.eq(PromptState::Held.as_str()))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(None);
        }
        let existing = messages::Entity::find()
            .filter(messages::Column::RunId.eq(&prompt.run_id))
            .filter(messages::Column::Kind.eq(MessageKind::Progress))
            .one(&txn)
            .await?;
        let message = match existing {
            Some(existing) => update_message(&txn, existing.id, fallback, Some(card)).await?,
            None => {
                insert_message(
                    &txn,
                    &prompt.thread_id,
                    "nova",
                    true,
                    MessageKind::Progress,
                    fallback,
                    Some(card),
                    Some(&prompt.run_id),
                )
                .await?
            }
        };
        txn.commit().await?;
        Ok(Some(message))
    }

    /// Puts every dispatched prompt of an office back in the queue (its office died).
    pub async fn requeue_dispatched(&self, office: &str) -> anyhow::Result<Vec<prompts::Model>> {
        let dispatched = self.prompts_in_state(office, PromptState::Dispatched).await?;
        let mut requeued = Vec::new();
        for prompt in dispatched {
            if self.move_prompt(prompt.id, PromptState::Dispatched, PromptState::Held).await? {
                requeued.push(prompt);
            }
        }
        Ok(requeued)
    }

    /// Whether `office` has any prompt in `states`: one index entry read, where counting
    /// them reads every one (thousands for an office a burst queued behind).
    pub async fn has_prompts(&self, office: &str, states: &[PromptState]) -> anyhow::Result<bool> {
        let first: Option<i64> = prompts::Entity::find()
            .select_only()
            .column(prompts::Column::Id)
            .filter(prompts::Column::Office.eq(office))
            .filter(prompts::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(first.is_some())
    }

    pub async fn count_prompts(&self, office: &str, states: &[PromptState]) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(prompts::Entity::find()
            .filter(prompts::Column::Office.eq(office))
            .filter(prompts::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .count(&self.db)
            .await?)
    }

    /// Creates an `asleep` row for every configured office that has none.
    pub async fn ensure_offices<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> anyhow::Result<()> {
        let now = now_ms();
        for name in names {
            offices::Entity::insert(offices::ActiveModel {
                name: Set(name.to_owned()),
                state: Set(OfficeState::Asleep),
                generation: Set(0),
                lease_owner: Set(None),
                lease_until: Set(None),
                endpoint: Set(None),
                token_hash: Set(None),
                snapshot_key: Set(None),
                snapshot_bytes: Set(None),
                failure: Set(None),
                state_changed_at: Set(now),
                last_active_at: Set(now),
                service_key_id: Set(Some(format!("{:016x}", rand::random::<u64>()))),
                prewarm_until: Set(None),
                prewarmed_at: Set(None),
                prewarm_habit: Set(false),
            })
            .on_conflict(OnConflict::column(offices::Column::Name).do_nothing().to_owned())
            .exec_without_returning(&*self.writer(Lane::Background).await)
            .await?;
        }
        Ok(())
    }

    /// Keeps the texts of skill revisions an office was handed (each once).
    pub async fn keep_skill_revisions(&self, skills: &[skills::Skill]) -> anyhow::Result<()> {
        let now = now_ms();
        for skill in skills {
            skill_revisions::Entity::insert(skill_revisions::ActiveModel {
                revision: Set(skill.revision.clone()),
                name: Set(skill.name.clone()),
                text: Set(skill.pinned_text()),
                first_seen: Set(now),
            })
            .on_conflict(OnConflict::column(skill_revisions::Column::Revision).do_nothing().to_owned())
            .exec_without_returning(&*self.writer(Lane::Background).await)
            .await?;
        }
        Ok(())
    }

    /// The revisions kept whose id starts with `prefix`.
    pub async fn skill_revisions(&self, prefix: &str) -> anyhow::Result<Vec<skill_revisions::Model>> {
        Ok(skill_revisions::Entity::find()
            .filter(skill_revisions::Column::Revision.starts_with(prefix))
            .order_by_asc(skill_revisions::Column::FirstSeen)
            .all(&self.db)
            .await?)
    }

    pub async fn office(&self, name: &str) -> anyhow::Result<Option<offices::Model>> {
        Ok(offices::Entity::find_by_id(name.to_owned()).one(&self.db).await?)
    }

    /// Offices with something for the engine to do: every office not asleep (up,
    /// waking, snapshotting or failed: each has timers or a replica to watch), and
    /// asleep ones with prompts waiting. Two indexed reads, however many offices sleep.
    pub async fn offices_needing_attention(&self) -> anyhow::Result<Vec<offices::Model>> {
        let waited_on = self.offices_with_held_prompts().await?;
        let up = OfficeState::ALL.into_iter().filter(|s| *s != OfficeState::Asleep);
        // `IN` rather than `<> 'asleep'`, so the state index finds the few that are up.
        let mut wanted = sea_orm::Condition::any().add(offices::Column::State.is_in(up));
        if !waited_on.is_empty() {
            wanted = wanted.add(offices::Column::Name.is_in(waited_on));
        }
        // No ORDER BY: sorting by name would have SQLite walk every office by name.
        Ok(offices::Entity::find().filter(wanted).all(&self.db).await?)
    }

    /// How many offices are in each state, and prompts in each state: for the gauges.
    pub async fn census(&self) -> anyhow::Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
        let offices: Vec<(String, i64)> = offices::Entity::find()
            .select_only()
            .column(offices::Column::State)
            .column_as(offices::Column::Name.count(), "count")
            .group_by(offices::Column::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        let prompts: Vec<(String, i64)> = prompts::Entity::find()
            .select_only()
            .column(prompts::Column::State)
            .column_as(prompts::Column::Id.count(), "count")
            .filter(prompts::Column::State.is_in([PromptState::Held.as_str(), PromptState::Dispatched.as_str()]))
            .group_by(prompts::Column::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok((offices, prompts))
    }

    /// Inbound events not routed yet.
    pub async fn count_pending_inbound(&self) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(inbound::Entity::find().filter(inbound::Column::ProcessedAt.is_null()).count(&self.db).await?)
    }

    /// Nova messages each platform does not show in their latest revision yet.
    pub async fn outbox_by_surface(&self) -> anyhow::Result<Vec<(Surface, i64)>> {
        Ok(outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Surface)
            .column_as(outbox::Column::MessageId.count(), "count")
            .group_by(outbox::Column::Surface)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// When the oldest inbound event not yet routed was received (unix ms).
    pub async fn oldest_pending_inbound(&self) -> anyhow::Result<Option<i64>> {
        Ok(self.pending_inbound(1).await?.first().map(|row| row.received_at))
    }

    pub async fn all_offices(&self) -> anyhow::Result<Vec<offices::Model>> {
        Ok(offices::Entity::find().order_by_asc(offices::Column::Name).all(&self.db).await?)
    }

    /// The wake gate: `asleep|failed (gen) → waking (gen + 1)`. Exactly one caller per
    /// generation wins, across processes, on SQLite and Postgres alike.
    pub async fn begin_wake(
        &self,
        office: &offices::Model,
        owner: &str,
        lease: Duration,
    ) -> anyhow::Result<Option<i64>> {
        let now = now_ms();
        let next = office.generation + 1;
        let result = offices::Entity::update_many()
            .col_expr(offices::Column::State, Expr::value(Transition::Wake.to()))
            .col_expr(offices::Column::Generation, Expr::value(next))
            .col_expr(offices::Column::LeaseOwner, Expr::value(owner))
            .col_expr(offices::Column::LeaseUntil, Expr::value(now + lease.as_millis() as i64))
            .col_expr(offices::Column::Failure, Expr::value(Option::<String>::None))
            // A new generation starts as a real wake; a prewarm marks itself afterwards.
            .col_expr(offices::Column::PrewarmUntil, Expr::value(Option::<i64>::None))
            .col_expr(offices::Column::PrewarmedAt, Expr::value(Option::<i64>::None))
            .col_expr(offices::Column::PrewarmHabit, Expr::value(false))
            .col_expr(offices::Column::StateChangedAt, Expr::value(now))
            .filter(offices::Column::Name.eq(&office.name))
            .filter(offices::Column::State.eq(office.state))
            .filter(offices::Column::State.is_in(Transition::Wake.from().iter().copied()))
            .filter(offices::Column::Generation.eq(office.generation))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok((result.rows_affected == 1).then_some(next))
    }

    /// A generation-fenced transition; `false` if the office moved on meanwhile.
    pub async fn transition(&self, name: &str, generation: i64, change: OfficeChange) -> anyhow::Result<bool> {
        let now = now_ms();
        let mut update = offices::Entity::update_many()
            .col_expr(offices::Column::State, Expr::value(change.transition.to()))
            .col_expr(offices::Column::StateChangedAt, Expr::value(now))
            .filter(offices::Column::Name.eq(name))
            .filter(offices::Column::Generation.eq(generation))
            .filter(offices::Column::State.is_in(change.transition.from().iter().copied()));
        if let Some(endpoint) = change.endpoint {
            update = update.col_expr(offices::Column::Endpoint, Expr::value(endpoint));
        }
        if let Some(token_hash) = change.token_hash {
            update = update.col_expr(offices::Column::TokenHash, Expr::value(token_hash));
        }
        if let Some((key, bytes)) = change.snapshot {
            update = update
                .col_expr(offices::Column::SnapshotKey, Expr::value(key))
                .col_expr(offices::Column::SnapshotBytes, Expr::value(bytes));
        }
        if let Some(failure) = change.failure {
            update = update.col_expr(offices::Column::Failure, Expr::value(failure));
        }
        if let Some(lease_until) = change.lease_until {
            update = update.col_expr(offices::Column::LeaseUntil, Expr::value(lease_until));
        }
        if change.touch {
            update = update.col_expr(offices::Column::LastActiveAt, Expr::value(now));
        }
        Ok(update.exec(&*self.writer(Lane::Background).await).await?.rows_affected == 1)
    }

    /// Extends the lease of every office this replica holds that is not asleep.
    pub async fn renew_leases(&self, owner: &str, lease: Duration) -> anyhow::Result<()> {
        offices::Entity::update_many()
            .col_expr(offices::Column::LeaseUntil, Expr::value(now_ms() + lease.as_millis() as i64))
            .filter(offices::Column::LeaseOwner.eq(owner))
            .filter(offices::Column::State.ne(OfficeState::Asleep.as_str()))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// Marks (`Some((signal_at, until))`) or unmarks a generation as up on a typing
    /// signal alone; a newer generation is left alone.
    pub async fn set_prewarm(&self, name: &str, generation: i64, prewarm: Option<(i64, i64)>) -> anyhow::Result<()> {
        let mut update = offices::Entity::update_many()
            .col_expr(offices::Column::PrewarmedAt, Expr::value(prewarm.map(|(at, _)| at)))
            .col_expr(offices::Column::PrewarmUntil, Expr::value(prewarm.map(|(_, until)| until)));
        if prewarm.is_none() {
            update = update.col_expr(offices::Column::PrewarmHabit, Expr::value(false));
        }
        update
            .filter(offices::Column::Name.eq(name))
            .filter(offices::Column::Generation.eq(generation))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// A wake ahead of the office's habits: up from `at` until `until` unless a prompt comes.
    pub async fn set_habit_wake(&self, name: &str, generation: i64, at: i64, until: i64) -> anyhow::Result<()> {
        offices::Entity::update_many()
            .col_expr(offices::Column::PrewarmedAt, Expr::value(at))
            .col_expr(offices::Column::PrewarmUntil, Expr::value(until))
            .col_expr(offices::Column::PrewarmHabit, Expr::value(true))
            .filter(offices::Column::Name.eq(name))
            .filter(offices::Column::Generation.eq(generation))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// Offices up (or waking) on a typing signal alone whose prewarm has not run out
    /// (those up ahead of their habits do not count: typing's cap is for typing).
    pub async fn count_prewarmed(&self, now: i64) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(offices::Entity::find()
            .filter(offices::Column::PrewarmUntil.gt(now))
            .filter(offices::Column::PrewarmHabit.eq(false))
            .filter(offices::Column::State.ne(OfficeState::Asleep.as_str()))
            .count(&self.db)
            .await?)
    }

    pub async fn touch_office(&self, name: &str) -> anyhow::Result<()> {
        offices::Entity::update_many()
            .col_expr(offices::Column::LastActiveAt, Expr::value(now_ms()))
            .filter(offices::Column::Name.eq(name))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }
}

/// One inbound row's effects inside [`Store::apply_inbound`]'s transaction.
async fn apply_one_inbound(
    txn: &DatabaseTransaction,
    id: i64,
    effects: &InboundEffects,
) -> anyhow::Result<Option<Vec<messages::Model>>> {
    let now = now_ms();
    let claimed = inbound::Entity::update_many()
        .col_expr(inbound::Column::ProcessedAt, Expr::value(now))
        .filter(inbound::Column::Id.eq(id))
        .filter(inbound::Column::ProcessedAt.is_null())
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(None);
    }
    let mut posted = Vec::new();
    if let Some(resolution) = &effects.resolve_card {
        let resolved = messages::Entity::update_many()
            .col_expr(messages::Column::Body, Expr::value(resolution.body.clone()))
            .col_expr(messages::Column::Card, Expr::value(resolution.card.clone()))
            .col_expr(messages::Column::UpdatedAt, Expr::value(now))
            .col_expr(messages::Column::Revision, Expr::col(messages::Column::Revision).add(1))
            .filter(messages::Column::Id.eq(resolution.message_id))
            .filter(messages::Column::Card.eq(resolution.expected.clone()))
            .exec(txn)
            .await?;
        if resolved.rows_affected != 1 {
            // Answered meanwhile: the click is used up and changes nothing.
            return Ok(Some(posted));
        }
        let card = messages::Entity::find_by_id(resolution.message_id).one(txn).await?.context("card vanished")?;
        queue_for_mirror(txn, [card.id]).await?;
        posted.push(card);
    }
    if let Some(route) = &effects.thread_route {
        threads::Entity::update_many()
            .col_expr(threads::Column::Repo, Expr::value(route.repo.clone()))
            .col_expr(threads::Column::Office, Expr::value(route.office.clone()))
            .col_expr(threads::Column::Confidence, Expr::value(route.confidence))
            .col_expr(threads::Column::UpdatedAt, Expr::value(now))
            .filter(threads::Column::Id.eq(&route.thread_id))
            .exec(txn)
            .await?;
    }
    if let Some(prompt) = &effects.prompt {
        prompts::Entity::insert(prompt.row(id, now)).exec_without_returning(txn).await?;
    }
    if let Some((surface, channel, office)) = &effects.record_pick {
        route_picks::Entity::insert(route_picks::ActiveModel {
            surface: Set(*surface),
            channel: Set(channel.clone()),
            office: Set(office.clone()),
            count: Set(1),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                route_picks::Column::Surface,
                route_picks::Column::Channel,
                route_picks::Column::Office,
            ])
            .value(route_picks::Column::Count, Expr::col((route_picks::Entity, route_picks::Column::Count)).add(1))
            .value(route_picks::Column::UpdatedAt, Expr::value(now))
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    if let Some((thread_id, office)) = &effects.assign_unrouted {
        prompts::Entity::update_many()
            .col_expr(prompts::Column::Office, Expr::value(office.clone()))
            .col_expr(prompts::Column::State, Expr::value(PromptState::Held.as_str()))
            .filter(prompts::Column::ThreadId.eq(thread_id))
            .filter(prompts::Column::State.eq(PromptState::Unrouted.as_str()))
            .exec(txn)
            .await?;
    }
    let schedule = match &effects.new_schedule {
        Some(new) => Some(recurring::create(txn, new).await?),
        None => None,
    };
    if let Some((schedule, run_id)) = &effects.schedule_ran {
        recurring::ran(txn, *schedule, run_id).await?;
    }
    for entry in &effects.audit {
        let mut entry = entry.clone();
        if let (Some(id), Some(details)) = (schedule, entry.details.as_object_mut()) {
            details.insert("schedule".to_owned(), id.into());
        }
        insert_audit(txn, entry).await?;
    }
    for reply in &effects.replies {
        let body = match schedule {
            Some(id) => reply.body.replace(SCHEDULE_ID, &id.to_string()),
            None => reply.body.clone(),
        };
        posted.push(
            insert_message(txn, &reply.thread_id, "nova", true, reply.kind, &body, reply.card.as_deref(), None).await?,
        );
    }
    Ok(Some(posted))
}

/// One inbound event inside the recorder's transaction.
async fn record_one(txn: &DatabaseTransaction, new: &NewInbound) -> anyhow::Result<Recorded> {
    let now = now_ms();
    let inserted = inbound::Entity::insert(inbound::ActiveModel {
        id: NotSet,
        dedupe_key: Set(new.dedupe_key.clone()),
        surface: Set(new.surface),
        channel: Set(new.channel.clone()),
        thread_id: Set(new.thread_id.clone()),
        author: Set(new.author.clone()),
        kind: Set(new.kind),
        body: Set(new.body.clone()),
        received_at: Set(now),
        processed_at: Set(None),
    })
    .on_conflict(OnConflict::column(inbound::Column::DedupeKey).do_nothing().to_owned())
    .exec_with_returning(txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // Nothing came back: the dedupe key was taken (sea-orm says so either way).
        Err(sea_orm::DbErr::RecordNotInserted | sea_orm::DbErr::RecordNotFound(_)) => {
            let earlier = inbound::Entity::find()
                .filter(inbound::Column::DedupeKey.eq(&new.dedupe_key))
                .one(txn)
                .await?
                .context("a duplicate's first delivery vanished")?;
            return Ok(Recorded { inbound: earlier, message: None, duplicate: true });
        }
        Err(error) => return Err(error.into()),
    };
    let mut message = None;
    if new.kind == InboundKind::Message {
        threads::Entity::insert(threads::ActiveModel {
            id: Set(new.thread_id.clone()),
            surface: Set(new.surface),
            channel: Set(new.channel.clone()),
            title: Set(new.text.chars().take(THREAD_TITLE_CHARS).collect()),
            repo: Set(None),
            office: Set(None),
            confidence: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(OnConflict::column(threads::Column::Id).update_column(threads::Column::UpdatedAt).to_owned())
        .exec_without_returning(txn)
        .await?;
        for (author, text) in &new.context {
            insert_message(txn, &new.thread_id, author, false, MessageKind::Context, text, None, None).await?;
        }
        message = Some(
            insert_message(txn, &new.thread_id, &new.author, false, MessageKind::Text, &new.text, None, None).await?,
        );
    }
    Ok(Recorded { inbound: row, message, duplicate: false })
}

/// A past picker choice as routing weighs it: the office and how often it was picked.
fn office_and_count(pick: route_picks::Model) -> (String, u32) {
    (pick.office, pick.count.clamp(0, u32::MAX as i64) as u32)
}

async fn insert_audit(db: &impl ConnectionTrait, entry: AuditEntry) -> anyhow::Result<()> {
    audit::Entity::insert(audit::ActiveModel {
        id: NotSet,
        at: Set(now_ms()),
        actor: Set(entry.actor),
        office: Set(entry.office),
        run_id: Set(entry.run_id),
        action: Set(entry.action.to_owned()),
        details: Set(entry.details.to_string()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    db: &impl ConnectionTrait,
    thread_id: &str,
    author: &str,
    from_nova: bool,
    kind: MessageKind,
    body: &str,
    card: Option<&str>,
    run_id: Option<&str>,
) -> anyhow::Result<messages::Model> {
    let now = now_ms();
    let model = messages::ActiveModel {
        id: NotSet,
        thread_id: Set(thread_id.to_owned()),
        author: Set(author.to_owned()),
        from_nova: Set(from_nova),
        kind: Set(kind),
        body: Set(body.to_owned()),
        card: Set(card.map(str::to_owned)),
        run_id: Set(run_id.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
        revision: Set(0),
    };
    let message = messages::Entity::insert(model).exec_with_returning(db).await?;
    if from_nova {
        queue_for_mirror(db, [message.id]).await?;
    }
    Ok(message)
}

/// Puts Nova's messages in the outbox of their threads' platforms (none for the
/// console), in one statement however many. Called after the messages' change is
/// written: a mirror that finished the previous revision meanwhile then finds the row
/// again.
async fn queue_for_mirror(db: &impl ConnectionTrait, ids: impl IntoIterator<Item = i64>) -> anyhow::Result<()> {
    let ids: Vec<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let surfaces = Query::select()
        .column((messages::Entity, messages::Column::Id))
        .column((threads::Entity, threads::Column::Surface))
        .column((messages::Entity, messages::Column::Revision))
        .from(messages::Entity)
        .inner_join(
            threads::Entity,
            Expr::col((threads::Entity, threads::Column::Id)).equals((messages::Entity, messages::Column::ThreadId)),
        )
        .and_where(Expr::col((messages::Entity, messages::Column::Id)).is_in(ids))
        .and_where(Expr::col((threads::Entity, threads::Column::Surface)).ne(Surface::Console.as_str()))
        .to_owned();
    // A row already queued takes the new revision (and its lock): a mirror taking the
    // row off for an older revision then leaves it (see `mirror::dequeue`).
    let queue = Query::insert()
        .into_table(outbox::Entity)
        .columns([outbox::Column::MessageId, outbox::Column::Surface, outbox::Column::Revision])
        .select_from(surfaces)?
        .on_conflict(OnConflict::column(outbox::Column::MessageId).update_column(outbox::Column::Revision).to_owned())
        .to_owned();
    db.execute(&queue).await?;
    Ok(())
}

async fn update_message(
    db: &impl ConnectionTrait,
    id: i64,
    body: &str,
    card: Option<&str>,
) -> anyhow::Result<messages::Model> {
    messages::Entity::update_many()
        .col_expr(messages::Column::Body, Expr::value(body))
        .col_expr(messages::Column::Card, Expr::value(card.map(str::to_owned)))
        .col_expr(messages::Column::UpdatedAt, Expr::value(now_ms()))
        .col_expr(messages::Column::Revision, Expr::col(messages::Column::Revision).add(1))
        .filter(messages::Column::Id.eq(id))
        .exec(db)
        .await?;
    let edited = messages::Entity::find_by_id(id).one(db).await?.context("edited message vanished")?;
    if edited.from_nova {
        queue_for_mirror(db, [id]).await?;
    }
    Ok(edited)
}

/// Hides the password of a database URL in messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A row for the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// A person's chat name, an office name, or `nova`.
    pub actor: String,
    pub office: Option<String>,
    pub run_id: Option<String>,
    /// What happened, e.g. `route`, `wake`, `dispatch`, `result`.
    pub action: &'static str,
    pub details: serde_json::Value,
}

/// `since` as people write it: a duration back from now (`90m`, `2h`, `1d`) or an
/// RFC 3339 time. Returns unix milliseconds.
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(duration) = humantime::parse_duration(value) {
        return Ok(now_ms - duration.as_millis() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("`{value}` is neither a duration (like 2h) nor an RFC 3339 time"))
}

/// One audit row as `nova audit` prints it.
pub fn format_audit(row: &audit::Model) -> String {
    let at = chrono::DateTime::from_timestamp_millis(row.at)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    format!(
        "{at}  {:<10} {:<20} {:<10} {:<36} {}",
        row.actor,
        row.action,
        row.office.as_deref().unwrap_or("-"),
        row.run_id.as_deref().unwrap_or("-"),
        row.details
    )
}

/// The most audit rows one query returns (a bigger limit overflows the databases' own).
pub const AUDIT_PAGE_MAX: u64 = 10_000;

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    pub office: Option<String>,
    pub run_id: Option<String>,
    /// Unix milliseconds.
    pub since: Option<i64>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct NewInbound {
    pub dedupe_key: String,
    pub surface: Surface,
    pub channel: String,
    pub thread_id: String,
    pub author: String,
    pub kind: InboundKind,
    /// The text as the thread shows it (messages) or empty (actions).
    pub text: String,
    /// The typed event, serialized: what the worker processes.
    pub body: String,
    /// Earlier messages of a platform thread Nova joins midway (author, text), oldest
    /// first: shown before the person's message and read by the router.
    pub context: Vec<(String, String)>,
}

/// See [`Store::read_for_routing`].
#[derive(Debug, Default)]
pub struct RoutingReads {
    threads: HashMap<String, threads::Model>,
    /// Each thread's messages, oldest first.
    messages: HashMap<String, Vec<messages::Model>>,
    /// Past picker choices by (surface, channel): office and how often.
    picks: HashMap<(Surface, String), Vec<(String, u32)>>,
    /// Office rows read so far this round: a burst's events mostly go to a few offices,
    /// and each office is read once per round, not once per event.
    offices: tokio::sync::Mutex<HashMap<String, Option<offices::Model>>>,
}

impl RoutingReads {
    pub fn thread(&self, id: &str) -> Option<threads::Model> {
        self.threads.get(id).cloned()
    }

    pub fn thread_messages(&self, id: &str) -> Vec<messages::Model> {
        self.messages.get(id).cloned().unwrap_or_default()
    }

    pub fn channel_picks(&self, surface: Surface, channel: &str) -> Vec<(String, u32)> {
        self.picks.get(&(surface, channel.to_owned())).cloned().unwrap_or_default()
    }

    /// The office's row as of its first read this round (a state a few milliseconds old
    /// says only whether the routing reply mentions a wake).
    pub async fn office(&self, store: &Store, name: &str) -> anyhow::Result<Option<offices::Model>> {
        let mut offices = self.offices.lock().await;
        if let Some(known) = offices.get(name) {
            return Ok(known.clone());
        }
        let row = store.office(name).await?;
        offices.insert(name.to_owned(), row.clone());
        Ok(row)
    }
}

#[derive(Debug)]
pub struct Recorded {
    pub inbound: inbound::Model,
    /// The person's message as the thread shows it (absent for duplicates and actions).
    pub message: Option<messages::Model>,
    pub duplicate: bool,
}

#[derive(Debug, Default)]
pub struct InboundEffects {
    pub thread_route: Option<ThreadRoute>,
    pub prompt: Option<NewPrompt>,
    /// `(thread, office)`: the thread's prompts waiting for a route go to this office.
    pub assign_unrouted: Option<(String, String)>,
    /// `(surface, channel, office)`: a person picked this office in this channel.
    pub record_pick: Option<(Surface, String, String)>,
    /// A card answered by this event: applied only if the card is still unanswered,
    /// and if it is not, none of the other effects apply either.
    pub resolve_card: Option<CardResolution>,
    pub replies: Vec<Reply>,
    /// Written in the same transaction as the effects it records.
    pub audit: Vec<AuditEntry>,
    /// `(run, user)`: a stop asked for in the thread. Not written: the engine carries
    /// it out (the office ends the run) once the rest is.
    pub stop_run: Option<(String, String)>,
    /// A fleet request in plain language. Not written: the engine answers it once the
    /// rest is.
    pub fleet_request: Option<crate::ask::Action>,
    /// A schedule made by this message; [`SCHEDULE_ID`] in the replies becomes its number.
    pub new_schedule: Option<NewSchedule>,
    /// `(schedule, run)`: the run a schedule's tick queued.
    pub schedule_ran: Option<(i64, String)>,
    /// A task a person asked for. Not written: the engine makes it (checked, numbered,
    /// said in the thread) once the rest is.
    pub new_task: Option<TaskAsk>,
    /// A reply quoting a line of a change under review. Not written: the engine records
    /// it on the review (through the reviewers' permission check) once the rest is.
    pub line_comment: Option<LineComment>,
}

/// A person's reply in a thread that quotes `path:line` of the change under review there.
#[derive(Debug, Clone, PartialEq)]
pub struct LineComment {
    pub review: i64,
    pub path: String,
    pub line: i32,
    pub body: String,
}

/// Where a reply names the schedule its message made (numbered only once written).
pub const SCHEDULE_ID: &str = "{schedule}";

#[derive(Debug)]
pub struct CardResolution {
    pub message_id: i64,
    /// The card as it was when the click was read.
    pub expected: String,
    pub card: String,
    pub body: String,
}

#[derive(Debug)]
pub struct ThreadRoute {
    pub thread_id: String,
    pub repo: Option<String>,
    pub office: Option<String>,
    pub confidence: f64,
}

#[derive(Debug)]
pub struct NewPrompt {
    /// Chosen by the caller, so the audit row of the route can name it.
    pub run_id: String,
    pub thread_id: String,
    pub office: String,
    pub author: String,
    pub text: String,
    pub state: PromptState,
    /// A handoff: the run it came from, whose office gets the result.
    pub handoff_from: Option<String>,
}

impl NewPrompt {
    /// The row that queues this prompt for the inbound event `inbound_id`.
    fn row(&self, inbound_id: i64, now: i64) -> prompts::ActiveModel {
        prompts::ActiveModel {
            id: NotSet,
            thread_id: Set(self.thread_id.clone()),
            office: Set(self.office.clone()),
            author: Set(self.author.clone()),
            text: Set(self.text.clone()),
            state: Set(self.state),
            run_id: Set(self.run_id.clone()),
            inbound_id: Set(inbound_id),
            created_at: Set(now),
            dispatched_at: Set(None),
            finished_at: Set(None),
            handoff_from: Set(self.handoff_from.clone()),
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub thread_id: String,
    pub kind: MessageKind,
    pub body: String,
    pub card: Option<String>,
}

/// A lifecycle move and what else changes with it (see [`Transition`]).
#[derive(Debug)]
pub struct OfficeChange {
    pub transition: Transition,
    pub endpoint: Option<Option<String>>,
    pub token_hash: Option<Option<String>>,
    pub snapshot: Option<(String, i64)>,
    pub failure: Option<Option<String>>,
    pub lease_until: Option<Option<i64>>,
    /// Also mark the office active now (resets its idle clock).
    pub touch: bool,
}

impl OfficeChange {
    pub fn new(transition: Transition) -> Self {
        Self {
            transition,
            endpoint: None,
            token_hash: None,
            snapshot: None,
            failure: None,
            lease_until: None,
            touch: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_data_dir_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("nova");
        super::ensure_private_dir(&data_dir).unwrap();
        assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::ensure_private_dir(&data_dir).unwrap();
        assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700, "tightened");
    }

    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        assert_eq!(parse_since("2h", 10_000_000), Ok(10_000_000 - 7_200_000));
        assert_eq!(parse_since("2026-11-21T00:00:00Z", 0), Ok(1_795_219_200_000));
        assert!(parse_since("yesterday", 0).unwrap_err().contains("neither a duration"));
    }

    /// No commit checkpoints the log (an acknowledgement would wait for it); the
    /// checkpointer copies it into the database file a tick after writes.
    #[tokio::test]
    async fn sqlite_logs_are_checkpointed_apart_from_commits() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nova.db");
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
        let backend = store.db().get_database_backend();
        let row = store.db().query_one_raw(sea_orm::Statement::from_string(backend, "PRAGMA wal_autocheckpoint")).await;
        let pages: i32 = row.unwrap().unwrap().try_get("", "wal_autocheckpoint").unwrap();
        assert_eq!(pages, 0, "SQLite checkpoints inside commits");
        store.db().execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
        let before = std::fs::metadata(&file).unwrap().len();
        let new = NewInbound {
            dedupe_key: "test:1".into(),
            surface: Surface::Console,
            channel: "eng".into(),
            thread_id: "t1".into(),
            author: "alice".into(),
            kind: InboundKind::Message,
            text: "x".repeat(20_000),
            body: "{}".into(),
            context: vec![],
        };
        let mut checkpoints = store.checkpointer.as_ref().unwrap().checkpoints();
        store.record_inbound(new).await.unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), before, "the commit left the log alone");
        // The checkpointer waits for a quarter-second pause; a loaded machine gets thirty.
        tokio::time::timeout(Duration::from_secs(30), checkpoints.changed()).await.unwrap().unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() > before, "the log was copied into the file");
    }

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(redact_url("postgres://nova:s3cret@db:5432/nova"), "postgres://nova:***@db:5432/nova");
        assert_eq!(redact_url("sqlite://.nova/nova.db?mode=rwc"), "sqlite://.nova/nova.db?mode=rwc");
        assert_eq!(redact_url("postgres://nova@db/nova"), "postgres://nova@db/nova");
    }
}
