//! Group commit for inbound events: what arrives while one batch is being written is
//! written in the next, in one transaction. A platform waits for its acknowledgement
//! until its event is durable; under a burst, one commit then serves many events
//! instead of each waiting for the one before it.

use tokio::sync::{mpsc, oneshot};

use super::gate::Lane;
use super::{NewInbound, Recorded, Store, record_one};

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
