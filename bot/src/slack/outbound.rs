//! The outbound mirror: makes each Slack thread show what the store says Nova wrote.
//!
//! The store is the truth; this loop finds Nova messages that Slack does not show in
//! their latest revision and posts or edits them. Per thread it goes strictly in order
//! (a message is never posted before an earlier one of its thread), across threads it
//! works in parallel. Because it always sends a message's latest state, edits that pile
//! up while Slack rate-limits coalesce into one, and a progress message is edited at
//! most once per `edit_interval`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orchestrator::Engine;
use orchestrator::engine::Update;
use orchestrator::store::{Unsynced, now_ms};
use orchestrator::texts::Card;

use super::SURFACE;
use super::api::{CallError, Content, SlackApi};
use super::thread_key::ThreadKey;

/// How long one mirror may hold a first post before another may take it over.
const POST_CLAIM_MS: i64 = 60_000;
/// After a failed call, the message waits this long before it is tried again.
const RETRY_MS: i64 = 2_000;
/// A message Slack refuses this many times is given up on (and logged), so one bad
/// message cannot block its thread forever.
const GIVE_UP_AFTER: i32 = 5;
/// The mirror's safety-net tick (throttled edits, retries, other replicas' messages).
const TICK: Duration = Duration::from_millis(250);

pub async fn run(engine: Arc<Engine>, api: Arc<SlackApi>, edit_interval: Duration) {
    let mut updates = engine.subscribe();
    loop {
        if let Err(error) = sync(&engine, &api, edit_interval).await {
            tracing::error!("Slack mirror step failed: {error:#}");
        }
        // Any change to one of Nova's messages may be one for Slack (people's own
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
pub async fn sync(engine: &Engine, api: &SlackApi, edit_interval: Duration) -> anyhow::Result<()> {
    let pending = engine.store().unsynced_messages(SURFACE, 500).await?;
    let mut threads: BTreeMap<String, Vec<Unsynced>> = BTreeMap::new();
    for item in pending {
        threads.entry(item.message.thread_id.clone()).or_default().push(item);
    }
    let passes = threads.into_iter().map(|(thread, items)| async move {
        if let Err(error) = sync_thread(engine, api, &thread, items, edit_interval).await {
            tracing::error!(thread = %thread, "cannot mirror a Slack thread: {error:#}");
        }
    });
    futures::future::join_all(passes).await;
    Ok(())
}

async fn sync_thread(
    engine: &Engine,
    api: &SlackApi,
    thread: &str,
    items: Vec<Unsynced>,
    edit_interval: Duration,
) -> anyhow::Result<()> {
    let Some(key) = ThreadKey::parse(thread) else {
        anyhow::bail!("thread id `{thread}` is not a Slack thread");
    };
    let store = engine.store();
    for Unsynced { message, post } in items {
        let card = message.card.as_deref().and_then(Card::from_json);
        let content = Content::new(message.id, &message.body, card.as_ref())?;
        match post.and_then(|p| p.external_id.map(|ts: String| (ts, p.updated_at))) {
            None => {
                if !store.claim_post(message.id, SURFACE, POST_CLAIM_MS).await? {
                    // Another mirror is posting it; what follows must wait for it.
                    return Ok(());
                }
                match api.post(&key.channel, &key.thread_ts, content).await {
                    Ok(ts) => store.mark_synced(message.id, &ts, message.revision).await?,
                    Err(error) => {
                        failed(engine, message.id, message.revision, &error).await?;
                        // Later messages of this thread wait: order matters more than speed.
                        return Ok(());
                    }
                }
            }
            Some((ts, last_sent)) => {
                let due = last_sent + edit_interval.as_millis() as i64;
                if message.kind == "progress" && now_ms() < due {
                    continue; // coalesced into the next edit
                }
                match api.update(&key.channel, &ts, content).await {
                    Ok(()) => store.mark_synced(message.id, &ts, message.revision).await?,
                    Err(error) => failed(engine, message.id, message.revision, &error).await?,
                }
            }
        }
    }
    Ok(())
}

async fn failed(engine: &Engine, message_id: i64, revision: i64, error: &CallError) -> anyhow::Result<()> {
    tracing::warn!(message = message_id, "Slack refused a message: {error}");
    metrics::counter!("nova_slack_mirror_failures_total").increment(1);
    engine.store().mark_sync_failed(message_id, revision, &error.to_string(), RETRY_MS, GIVE_UP_AFTER).await
}
