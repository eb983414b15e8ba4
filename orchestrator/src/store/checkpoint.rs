//! SQLite's write-ahead log copied back into the database file apart from the writers.
//!
//! Left to itself, SQLite checkpoints inside whichever commit takes the log past 1,000
//! pages: that commit (an acknowledgement, as often as not) then copies and syncs
//! megabytes while every other writer waits at the gate. With the engine off, that alone
//! put the burst bench's ack p99 at 6.3 ms against a p90 of 0.8 ms. Nova turns automatic
//! checkpoints off and checkpoints here instead, passively (writers go on appending).
//!
//! Even a passive checkpoint stalls the writers while it syncs: checkpointing once a
//! second under a burst put a 10–35 ms stall on the acknowledgements of every second
//! (the bench's slowest acks all fell in the same few milliseconds of each second). So
//! the log is checkpointed when the writes pause (a quarter second without one), which
//! in everyday use is within a second of any write, and during writes that never pause,
//! at least every 30 s, so that the log stays small.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// How often the checkpointer looks for a pause.
const TICK: Duration = Duration::from_millis(250);
/// The longest the log goes without a checkpoint while writes never pause.
const AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// Runs while any clone of its [`super::Store`] lives.
pub(super) struct Checkpointer {
    written: Arc<AtomicBool>,
    /// How many checkpoints have run: what a test waits on.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    done: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let written = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&written);
        let (count, done) = tokio::sync::watch::channel(0);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Written since the last checkpoint, and when that was.
            let (mut unsaved, mut last) = (false, Instant::now());
            loop {
                ticks.tick().await;
                let writing = seen.swap(false, Ordering::Relaxed);
                unsaved |= writing;
                if !due(unsaved, writing, last.elapsed()) {
                    continue;
                }
                let started = Instant::now();
                match db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
                    Ok(_) => {
                        metrics::histogram!("nova_store_checkpoint_seconds").record(started.elapsed().as_secs_f64());
                        count.send_modify(|n| *n += 1);
                        (unsaved, last) = (false, Instant::now());
                    }
                    Err(error) => tracing::warn!("cannot checkpoint the database's log: {error}"),
                }
            }
        });
        Self { written, done, task }
    }

    /// Changes each time a checkpoint has run.
    #[cfg(test)]
    pub(super) fn checkpoints(&self) -> tokio::sync::watch::Receiver<u64> {
        self.done.clone()
    }

    /// Something was (or is about to be) written: the next pause checkpoints.
    pub(super) fn note_write(&self) {
        self.written.store(true, Ordering::Relaxed);
    }
}

/// Whether to checkpoint now: something is unsaved, and the writes paused for a tick
/// (`writing` says whether any came during it) or the last checkpoint is too old.
fn due(unsaved: bool, writing: bool, since_last: Duration) -> bool {
    unsaved && (!writing || since_last >= AT_LEAST_EVERY)
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_checkpointed_in_a_pause_or_when_writes_never_pause_for_long() {
        let second = Duration::from_secs(1);
        assert!(!due(false, false, second), "nothing written, nothing to do");
        assert!(!due(true, true, second), "writes are coming: wait for a pause");
        assert!(due(true, false, second), "a pause after writes");
        assert!(due(true, true, AT_LEAST_EVERY), "writes that never pause wait at most this long");
    }
}
