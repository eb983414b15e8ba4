//! The outbound mirror: makes each chat thread show what the store says Nova wrote.
//!
//! The store is the truth; this loop finds Nova messages that a surface (Slack,
//! Discord) does not show in their latest revision and posts or edits them. Per thread it goes strictly in order
//! (a message is never posted before an earlier one of its thread), across threads it
//! works in parallel. Because it always sends a message's latest state, edits that pile
//! up while the platform rate-limits coalesce into one, and a progress message is edited at
//! most once per `edit_interval`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use orchestrator::Engine;
use orchestrator::engine::Update;
use orchestrator::store::{MessageKind, Surface, Unsynced, messages, now_ms};
use orchestrator::texts::Card;

/// How long one mirror may hold a first post before another may take it over.
const POST_CLAIM_MS: i64 = 60_000;
/// After a failed call, the message waits this long before it is tried again.
const RETRY_MS: i64 = 2_000;
/// A message the platform refuses this many times is given up on (and logged), so one bad
/// message cannot block its thread forever.
const GIVE_UP_AFTER: i32 = 5;
/// Threads sent to at once: enough to keep a burst moving, few enough not to flood the
/// platform's connection pool.
const THREADS_AT_ONCE: usize = 64;
/// The mirror's safety-net tick (throttled edits, retries, other replicas' messages).
const TICK: Duration = Duration::from_millis(250);

/// How one platform shows Nova's messages.
pub trait Writer: Send + Sync + 'static {
    /// The `surface` of this platform's threads in the store.
    const SURFACE: Surface;

    /// Posts a new message in the thread; returns the platform's id for it.
    fn post(
        &self,
        thread_id: &str,
        message: &messages::Model,
        card: Option<&Card>,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;

    /// A post of `message` that an earlier attempt made and never recorded (a mirror
    /// stopped between the post and its bookkeeping: a crash), if the platform shows
    /// one. Asked before a first post is tried again, so a restart does not post twice.
    fn find_post(
        &self,
        thread_id: &str,
        message: &messages::Model,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send;

    /// Replaces the content of a message posted earlier.
    fn edit(
        &self,
        thread_id: &str,
        external_id: &str,
        message: &messages::Model,
        card: Option<&Card>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Passes in flight. A pass runs as a task of its own, holding a read guard: stopping
/// the mirror never cuts one between a post and its bookkeeping (which would post the
/// message again after its claim ran out), and [`drain`] waits for the last one.
pub type Passes = Arc<tokio::sync::RwLock<()>>;

/// Waits (at most `patience`) for the passes in flight to finish.
pub async fn drain(passes: &Passes, patience: Duration) {
    if tokio::time::timeout(patience, passes.write()).await.is_err() {
        tracing::warn!("a mirror pass was still sending when Nova stopped");
    }
}

pub async fn run<W: Writer>(engine: Arc<Engine>, writer: Arc<W>, edit_interval: Duration, passes: Passes) {
    let mut updates = engine.subscribe();
    loop {
        let guard = Arc::clone(&passes).read_owned().await;
        let (pass_engine, pass_writer) = (Arc::clone(&engine), Arc::clone(&writer));
        let pass = tokio::spawn(async move {
            let _guard = guard;
            sync(&pass_engine, pass_writer.as_ref(), edit_interval).await
        });
        match pass.await {
            Ok(Err(error)) => tracing::error!(surface = W::SURFACE.as_str(), "mirror step failed: {error:#}"),
            Err(error) => tracing::error!(surface = W::SURFACE.as_str(), "mirror step panicked: {error}"),
            Ok(Ok(())) => {}
        }
        // Any change to one of Nova's messages may be one for the platform (people's own
        // messages are already there); otherwise check on the tick.
        let _ = tokio::time::timeout(TICK, async {
            loop {
                match updates.recv().await {
                    Ok(Update::Message { message, .. }) if message.from_nova => return,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        })
        .await;
    }
}

/// One pass: every thread with messages to send, in parallel; each thread in order.
/// The bookkeeping is written in two transactions per pass (the claims before, what was
/// sent after), not one per message: a burst's first answers then go out while the
/// engine is still routing it.
pub async fn sync<W: Writer>(engine: &Engine, writer: &W, edit_interval: Duration) -> anyhow::Result<()> {
    let store = engine.store();
    let pending = store.unsynced_messages(W::SURFACE, 500).await?;
    let first_posts: Vec<i64> = pending
        .iter()
        .filter(|item| !item.held && item.post.as_ref().is_none_or(|p| p.external_id.is_none()))
        .map(|item| item.message.id)
        .collect();
    let claimed: HashSet<i64> = store.claim_posts(&first_posts, W::SURFACE, POST_CLAIM_MS).await?.into_iter().collect();
    let mut threads: BTreeMap<String, Vec<Unsynced>> = BTreeMap::new();
    for item in pending {
        threads.entry(item.message.thread_id.clone()).or_default().push(item);
    }
    let outcomes: Vec<Vec<Sent>> = futures::stream::iter(threads)
        .map(|(thread, items)| Box::pin(sync_thread(writer, thread, items, &claimed, edit_interval)))
        .buffer_unordered(THREADS_AT_ONCE)
        .collect()
        .await;
    let mut attempted = HashSet::new();
    let mut synced = Vec::new();
    let outcomes: Vec<Sent> = outcomes.into_iter().flatten().collect();
    for sent in &outcomes {
        attempted.insert(match sent {
            Sent::Shown { message_id, .. } | Sent::Refused { message_id, .. } => *message_id,
        });
    }
    let unused: Vec<i64> = claimed.iter().copied().filter(|id| !attempted.contains(id)).collect();
    store.release_post_claims(&unused).await?;
    for sent in outcomes {
        match sent {
            Sent::Shown { message_id, external_id, revision } => synced.push((message_id, external_id, revision)),
            Sent::Refused { message_id, revision, error } => failed::<W>(engine, message_id, revision, &error).await?,
        }
    }
    store.mark_synced(&synced).await
}

/// What became of one message in a pass.
enum Sent {
    Shown { message_id: i64, external_id: String, revision: i64 },
    Refused { message_id: i64, revision: i64, error: anyhow::Error },
}

async fn sync_thread<W: Writer>(
    writer: &W,
    thread: String,
    items: Vec<Unsynced>,
    claimed: &HashSet<i64>,
    edit_interval: Duration,
) -> Vec<Sent> {
    let mut sent = Vec::new();
    for Unsynced { message, post, held } in items {
        let card = message.card.as_deref().and_then(Card::from_json);
        let (message_id, revision) = (message.id, message.revision);
        let tried_before = post.is_some();
        match post.and_then(|p| p.external_id.map(|id: String| (id, p.updated_at))) {
            None => {
                if !claimed.contains(&message_id) {
                    // Another mirror is posting it, or it waits for a retry: the thread's
                    // later first posts wait for it.
                    break;
                }
                match first_post(writer, &thread, &message, card.as_ref(), tried_before).await {
                    Ok(external_id) => sent.push(Sent::Shown { message_id, external_id, revision }),
                    Err(error) => {
                        sent.push(Sent::Refused { message_id, revision, error });
                        // Later messages of this thread wait: order matters more than speed.
                        break;
                    }
                }
            }
            Some(_) if held => continue, // an edit waiting for its retry
            Some((external_id, last_sent)) => {
                let due = last_sent + edit_interval.as_millis() as i64;
                if message.kind == MessageKind::Progress && now_ms() < due {
                    continue; // coalesced into the next edit
                }
                match writer.edit(&thread, &external_id, &message, card.as_ref()).await {
                    Ok(()) => sent.push(Sent::Shown { message_id, external_id, revision }),
                    Err(error) => sent.push(Sent::Refused { message_id, revision, error }),
                }
            }
        }
    }
    sent
}

/// Posts a message the platform has not shown yet. One tried before may be there
/// already, from an attempt whose outcome was never recorded: then that post is
/// brought up to date instead of a second one posted. If the platform cannot be asked,
/// it is posted again: a message shown twice is better than one never shown.
async fn first_post<W: Writer>(
    writer: &W,
    thread: &str,
    message: &messages::Model,
    card: Option<&Card>,
    tried_before: bool,
) -> anyhow::Result<String> {
    let earlier = match tried_before {
        true => writer.find_post(thread, message).await.unwrap_or_else(|error| {
            tracing::warn!(message = message.id, "cannot look for an earlier post of it; posting: {error:#}");
            None
        }),
        false => None,
    };
    match earlier {
        Some(external_id) => {
            writer.edit(thread, &external_id, message, card).await?;
            Ok(external_id)
        }
        None => writer.post(thread, message, card).await,
    }
}

async fn failed<W: Writer>(
    engine: &Engine,
    message_id: i64,
    revision: i64,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    tracing::warn!(surface = W::SURFACE.as_str(), message = message_id, "the platform refused a message: {error:#}");
    metrics::counter!("nova_mirror_failures_total", "surface" => W::SURFACE.as_str()).increment(1);
    engine.store().mark_sync_failed(message_id, revision, &format!("{error:#}"), RETRY_MS, GIVE_UP_AFTER).await
}
