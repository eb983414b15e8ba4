//! Group commit for inbound events: what arrives while one batch is being written is
//! written in the next, in one transaction. A platform waits for its acknowledgement
//! until its event is durable; under a burst, one commit then serves many events
//! instead of each waiting for the one before it.

use tokio::sync::{mpsc, oneshot};

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::gate::Lane;
use super::{InboundKind, NewInbound, Recorded, Store, inbound, messages, record_one};

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
                let written = store.write_each(Lane::Ack, &events, |txn, new| Box::pin(record_one(txn, new))).await;
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
    let is_message = new.kind == InboundKind::Message;
    let title: String = new.text.chars().take(super::THREAD_TITLE_CHARS).collect();
    let values: [Value; 11] = [
        new.dedupe_key.clone().into(),
        new.surface.clone().into(),
        new.channel.clone().into(),
        new.thread_id.clone().into(),
        new.author.clone().into(),
        new.kind.as_str().into(),
        new.body.clone().into(),
        now.into(),
        title.into(),
        is_message.into(),
        new.text.clone().into(),
    ];
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, RECORD, values);
    let Some(row) = db.query_one_raw(statement).await? else { return Ok(None) };
    let inbound = inbound::Model {
        id: row.try_get("", "inbound_id")?,
        dedupe_key: new.dedupe_key.clone(),
        surface: new.surface.clone(),
        channel: new.channel.clone(),
        thread_id: new.thread_id.clone(),
        author: new.author.clone(),
        kind: new.kind.as_str().to_owned(),
        body: new.body.clone(),
        received_at: now,
        processed_at: None,
    };
    let message_id: Option<i64> = row.try_get("", "message_id")?;
    let message = message_id.map(|id| messages::Model {
        id,
        thread_id: new.thread_id.clone(),
        author: new.author.clone(),
        from_nova: false,
        kind: "text".to_owned(),
        body: new.text.clone(),
        card: None,
        run_id: None,
        created_at: now,
        updated_at: now,
        revision: 0,
    });
    Ok(Some(Recorded { inbound, message, duplicate: false }))
}
