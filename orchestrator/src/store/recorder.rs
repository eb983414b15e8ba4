//! Group commit for inbound events: what arrives while one batch is being written is
//! written in the next, in one transaction. A platform waits for its acknowledgement
//! until its event is durable; under a burst, one commit then serves many events
//! instead of each waiting for the one before it.

use tokio::sync::{mpsc, oneshot};

use anyhow::Context as _;
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};

use super::gate::Lane;
use super::{ITEMS_PER_TURN, InboundKind, MessageKind, NewInbound, Recorded, Store, inbound, messages, record_one};

/// The most events taken from the queue at once (written a few per transaction).
const BATCH: usize = 256;
/// Events waiting to be written; past this, `record` waits (back-pressure).
const QUEUE: usize = 4096;

type Job = (NewInbound, oneshot::Sender<anyhow::Result<Recorded>>);

#[derive(Clone)]
pub(super) struct Recorder {
    queue: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the writer task; it ends when the last [`Recorder`] is dropped.
    pub(super) fn start(store: Store) -> Self {
        let (queue, mut jobs) = mpsc::channel::<Job>(QUEUE);
        // The task must not keep the store's recorder (and so itself) alive.
        let store = Store { recorder: None, ..store };
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while jobs.recv_many(&mut batch, BATCH).await > 0 {
                let (events, replies): (Vec<NewInbound>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
                let written = record_on_sqlite(&store, &events).await;
                for (reply, recorded) in replies.into_iter().zip(written) {
                    let _ = reply.send(recorded);
                }
            }
        });
        Self { queue }
    }

    pub(super) async fn record(&self, new: NewInbound) -> anyhow::Result<Recorded> {
        let (done, result) = oneshot::channel();
        self.queue.send((new, done)).await.map_err(|_| anyhow::anyhow!("the inbound recorder stopped"))?;
        result.await.map_err(|_| anyhow::anyhow!("the inbound recorder stopped"))?
    }
}

/// Writes a batch on SQLite a few events per transaction; each transaction sends the
/// events' inserts as one multi-statement query (see [`record_together`]). A chunk that
/// fails is written again one event at a time, so one bad event fails only itself.
async fn record_on_sqlite(store: &Store, events: &[NewInbound]) -> Vec<anyhow::Result<Recorded>> {
    let mut results = Vec::with_capacity(events.len());
    for chunk in events.chunks(ITEMS_PER_TURN) {
        match store.write_together(Lane::Ack, std::slice::from_ref(&chunk), &record_chunk).await {
            Ok(mut written) => results.extend(written.pop().expect("one chunk, one result").into_iter().map(Ok)),
            Err(error) => {
                tracing::warn!(events = chunk.len(), "recording events together failed, one by one now: {error:#}");
                results.extend(store.write_each(Lane::Ack, chunk, |txn, new| Box::pin(record_one(txn, new))).await);
            }
        }
    }
    results
}

fn record_chunk<'t>(
    txn: &'t DatabaseTransaction,
    chunk: &'t &[NewInbound],
) -> BoxFuture<'t, anyhow::Result<Vec<Recorded>>> {
    Box::pin(record_together(txn, chunk))
}

/// Records events in one round trip to SQLite's connection thread: their inserts go as
/// one multi-statement query, run there one after the other, instead of a trip there and
/// back per insert (under a burst each trip waited for a CPU, and those waits were most
/// of an acknowledgement). Per event: the inbound row (nothing if its dedupe key is
/// taken); then, for a message, the message the thread shows, only if that inbound row
/// was new (`changes()` is the previous insert's count); then its thread, created or
/// touched only if the message was written. Events bringing earlier messages of their
/// platform thread are recorded after, as before.
async fn record_together(txn: &DatabaseTransaction, events: &[NewInbound]) -> anyhow::Result<Vec<Recorded>> {
    // `$n` names the n-th of all the query's values (sqlx binds SQLite's `$n` that way):
    // event k's are shifted by 12k. `$12` is the event's place in the batch.
    const EVENT: &str = "\
        INSERT INTO inbound (dedupe_key, surface, channel, thread_id, author, kind, body, received_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, $12 AS item, 0 AS what; \
        INSERT INTO messages (thread_id, author, from_nova, kind, body, created_at, updated_at, revision) \
        SELECT $4, $5, 0, 'text', $11, $8, $8, 0 WHERE changes() = 1 AND $10 RETURNING id, $12 AS item, 1 AS what; \
        INSERT INTO threads (id, surface, channel, title, created_at, updated_at) \
        SELECT $4, $2, $3, $9, $8, $8 WHERE changes() = 1 AND $10 \
        ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at;";
    const VALUES_PER_EVENT: usize = 12;
    let now = super::now_ms();
    let simple: Vec<usize> = (0..events.len()).filter(|&i| events[i].context.is_empty()).collect();
    let mut inbound_ids: Vec<Option<i64>> = vec![None; events.len()];
    let mut message_ids: Vec<Option<i64>> = vec![None; events.len()];
    if !simple.is_empty() {
        let mut sql = String::new();
        let mut values: Vec<Value> = Vec::with_capacity(simple.len() * VALUES_PER_EVENT);
        for (k, &i) in simple.iter().enumerate() {
            sql.push_str(&shift_parameters(EVENT, k * VALUES_PER_EVENT));
            values.extend(event_values(&events[i], now));
            values.push((i as i64).into());
        }
        for row in txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await? {
            let (id, item, what): (i64, i64, i64) =
                (row.try_get("", "id")?, row.try_get("", "item")?, row.try_get("", "what")?);
            let item = usize::try_from(item).ok().filter(|&i| i < events.len()).context("a row for no event")?;
            match what {
                0 => inbound_ids[item] = Some(id),
                _ => message_ids[item] = Some(id),
            }
        }
    }
    let mut recorded = Vec::with_capacity(events.len());
    for (i, new) in events.iter().enumerate() {
        let Some(id) = inbound_ids[i] else {
            // Not in the query (it brings earlier messages), or its dedupe key was taken
            // (the first delivery is the answer): the one-event path does either.
            recorded.push(record_one(txn, new).await?);
            continue;
        };
        recorded.push(Recorded {
            inbound: inbound_row(new, id, now),
            message: message_ids[i].map(|id| person_message(new, id, now)),
            duplicate: false,
        });
    }
    Ok(recorded)
}

/// An event's values as both stores' statements number them: `$1` dedupe key, `$2`
/// surface, `$3` channel, `$4` thread, `$5` author, `$6` kind, `$7` body, `$8` now, `$9`
/// the thread's title, `$10` whether it is a message, `$11` its text.
fn event_values(new: &NewInbound, now: i64) -> Vec<Value> {
    let title: String = new.text.chars().take(super::THREAD_TITLE_CHARS).collect();
    vec![
        new.dedupe_key.clone().into(),
        new.surface.as_str().into(),
        new.channel.clone().into(),
        new.thread_id.clone().into(),
        new.author.clone().into(),
        new.kind.as_str().into(),
        new.body.clone().into(),
        now.into(),
        title.into(),
        (new.kind == InboundKind::Message).into(),
        new.text.clone().into(),
    ]
}

/// `sql` with every `$n` made `$(n + by)`.
pub(super) fn shift_parameters(sql: &str, by: usize) -> String {
    let mut shifted = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        shifted.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => shifted.push_str(&(n + by).to_string()),
            Err(_) => shifted.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    shifted.push_str(rest);
    shifted
}

/// The inbound row as written, with the id the database gave it.
fn inbound_row(new: &NewInbound, id: i64, now: i64) -> inbound::Model {
    inbound::Model {
        id,
        dedupe_key: new.dedupe_key.clone(),
        surface: new.surface,
        channel: new.channel.clone(),
        thread_id: new.thread_id.clone(),
        author: new.author.clone(),
        kind: new.kind,
        body: new.body.clone(),
        received_at: now,
        processed_at: None,
    }
}

/// The person's message as its thread shows it, with the id the database gave it.
fn person_message(new: &NewInbound, id: i64, now: i64) -> messages::Model {
    messages::Model {
        id,
        thread_id: new.thread_id.clone(),
        author: new.author.clone(),
        from_nova: false,
        kind: MessageKind::Text,
        body: new.text.clone(),
        card: None,
        run_id: None,
        created_at: now,
        updated_at: now,
        revision: 0,
    }
}

/// Records an event on Postgres in one statement: the inbound row, its thread and the
/// message the thread shows, as one round trip and one commit (a transaction of three
/// inserts is five round trips, each a wait for a CPU the burst keeps busy). `None`
/// when it cannot: the dedupe key was taken (the caller reads the first delivery) or
/// the event brings earlier messages of its platform thread.
pub(super) async fn record_in_one_statement(
    db: &impl ConnectionTrait,
    new: &NewInbound,
) -> anyhow::Result<Option<Recorded>> {
    if !new.context.is_empty() {
        return Ok(None);
    }
    // A message's thread is created or touched and the message added only if the
    // inbound row was new (`FROM new_inbound`); an action writes the inbound row only.
    const RECORD: &str = "\
        WITH new_inbound AS ( \
            INSERT INTO inbound (dedupe_key, surface, channel, thread_id, author, kind, body, received_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
            ON CONFLICT (dedupe_key) DO NOTHING \
            RETURNING id \
        ), new_thread AS ( \
            INSERT INTO threads (id, surface, channel, title, created_at, updated_at) \
            SELECT $4, $2, $3, $9, $8, $8 FROM new_inbound WHERE $10 \
            ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at \
        ), new_message AS ( \
            INSERT INTO messages (thread_id, author, from_nova, kind, body, created_at, updated_at, revision) \
            SELECT $4, $5, false, 'text', $11, $8, $8, 0 FROM new_inbound WHERE $10 \
            RETURNING id \
        ) \
        SELECT new_inbound.id AS inbound_id, (SELECT id FROM new_message) AS message_id FROM new_inbound";
    let now = super::now_ms();
    let values = event_values(new, now);
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, RECORD, values);
    let Some(row) = db.query_one_raw(statement).await? else { return Ok(None) };
    let message_id: Option<i64> = row.try_get("", "message_id")?;
    Ok(Some(Recorded {
        inbound: inbound_row(new, row.try_get("", "inbound_id")?, now),
        message: message_id.map(|id| person_message(new, id, now)),
        duplicate: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Surface;

    fn event(key: &str, thread: &str, kind: InboundKind, text: &str, context: &[(&str, &str)]) -> NewInbound {
        NewInbound {
            dedupe_key: key.to_owned(),
            surface: Surface::Slack,
            channel: "eng".to_owned(),
            thread_id: thread.to_owned(),
            author: "alice".to_owned(),
            kind,
            text: text.to_owned(),
            body: format!("{{\"event\":\"{key}\"}}"),
            context: context.iter().map(|(a, t)| (a.to_string(), t.to_string())).collect(),
        }
    }

    async fn bodies(store: &Store, thread: &str) -> Vec<String> {
        store.thread_messages(thread).await.unwrap().into_iter().map(|m| m.body).collect()
    }

    /// The whole path, on the test's store (Postgres when `NOVA_TEST_POSTGRES_URL` is set):
    /// each event once, with its thread and message; a redelivery changes nothing.
    #[tokio::test]
    async fn each_event_is_recorded_once_with_its_thread_and_message() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        let (first, click, joined) = tokio::join!(
            store.record_inbound(event("m1", "t1", InboundKind::Message, "checkout fails", &[])),
            store.record_inbound(event("c1", "t1", InboundKind::Action, "", &[])),
            store.record_inbound(event("m2", "t2", InboundKind::Message, "me too", &[("bob", "it broke at 9")])),
        );
        let (first, click, joined) = (first.unwrap(), click.unwrap(), joined.unwrap());
        assert!(!first.duplicate && !click.duplicate && !joined.duplicate);
        assert_eq!(first.message.as_ref().map(|m| m.body.as_str()), Some("checkout fails"));
        assert_eq!(click.message, None, "a click shows nothing in the thread");
        assert_eq!(bodies(&store, "t1").await, ["checkout fails"]);
        assert_eq!(bodies(&store, "t2").await, ["it broke at 9", "me too"], "earlier messages first");
        assert_eq!(store.thread("t1").await.unwrap().unwrap().title, "checkout fails");

        let again = store.record_inbound(event("m1", "t1", InboundKind::Message, "checkout fails", &[])).await;
        let again = again.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.inbound, first.inbound, "the first delivery is the answer");
        assert_eq!(bodies(&store, "t1").await, ["checkout fails"], "a redelivery adds nothing");
        let mut pending: Vec<String> =
            store.pending_inbound(10).await.unwrap().into_iter().map(|row| row.dedupe_key).collect();
        pending.sort();
        assert_eq!(pending, ["c1", "m1", "m2"], "concurrent events, each once (in any order)");
        database.cleanup().await.unwrap();
    }

    /// SQLite's multi-statement batch itself: a key delivered twice within one batch is
    /// written once, and a reply lands in the thread it follows.
    #[test]
    fn parameters_are_shifted_by_number() {
        assert_eq!(shift_parameters("VALUES ($1, $12) AS item, $", 24), "VALUES ($25, $36) AS item, $");
        assert_eq!(shift_parameters("no values", 12), "no values");
    }

    #[tokio::test]
    async fn a_batch_on_sqlite_writes_each_event_once_even_when_it_comes_twice_in_it() {
        let database = testkit::TestDatabase::sqlite().unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        let batch = [
            event("m1", "t1", InboundKind::Message, "checkout fails", &[]),
            event("m1", "t1", InboundKind::Message, "checkout fails", &[]),
            event("c1", "t1", InboundKind::Action, "", &[]),
            event("m2", "t1", InboundKind::Message, "since the deploy", &[]),
            event("m3", "t2", InboundKind::Message, "me too", &[("bob", "it broke at 9")]),
        ];
        let written = store.write_together(Lane::Ack, &[batch.as_slice()], &record_chunk).await.unwrap().pop().unwrap();
        let duplicates: Vec<bool> = written.iter().map(|r| r.duplicate).collect();
        assert_eq!(duplicates, [false, true, false, false, false]);
        assert_eq!(written[1].inbound, written[0].inbound);
        assert_eq!(written[1].message, None);
        assert_eq!(written[3].message.as_ref().map(|m| m.thread_id.as_str()), Some("t1"));
        assert_eq!(bodies(&store, "t1").await, ["checkout fails", "since the deploy"]);
        assert_eq!(bodies(&store, "t2").await, ["it broke at 9", "me too"]);
        assert_eq!(store.thread("t1").await.unwrap().unwrap().title, "checkout fails", "a reply keeps the title");
        assert_eq!(store.pending_inbound(10).await.unwrap().len(), 4);
    }
}
