//! One writer at a time on SQLite, in order of urgency.
//!
//! SQLite takes one writer at a time. Left to itself, a second writer sleeps in SQLite's
//! busy handler (1, 2, 5, 10 … ms) and retries: under a burst, acknowledgements queued
//! behind run events and mirror bookkeeping that way took tens of milliseconds, and
//! routing fell behind. The gate hands the database to one writer at a time, in the
//! order of the [`Lane`]s: a request waiting to be acknowledged goes before routing,
//! which goes before everything else. Postgres locks rows, not the database: there the
//! gate lets everyone through.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// How urgent a write is; earlier lanes go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// A platform is waiting for its acknowledgement.
    Ack = 0,
    /// Routing and queueing what people said, and the mirrors' bookkeeping: the first
    /// answer in a thread waits on both.
    Route = 1,
    /// Run events, office lifecycle, audit.
    Background = 2,
}

const LANES: usize = 3;

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Ack => "ack",
            Lane::Route => "route",
            Lane::Background => "background",
        }
    }
}

#[derive(Default)]
struct State {
    held: bool,
    waiting: [VecDeque<oneshot::Sender<()>>; LANES],
}

/// See the module docs. Cloning shares the gate.
#[derive(Clone)]
pub struct WriteGate {
    /// `None`: the database takes concurrent writers itself (Postgres).
    state: Option<Arc<Mutex<State>>>,
}

/// The right to write until dropped.
pub struct WritePermit {
    gate: Option<Arc<Mutex<State>>>,
    lane: Lane,
    since: Instant,
}

impl WriteGate {
    pub fn serialized() -> Self {
        Self { state: Some(Arc::new(Mutex::new(State::default()))) }
    }

    pub fn open() -> Self {
        Self { state: None }
    }

    /// Whether writers take turns (SQLite) rather than pass at once (Postgres).
    pub fn is_serialized(&self) -> bool {
        self.state.is_some()
    }

    pub async fn enter(&self, lane: Lane) -> WritePermit {
        let Some(state) = &self.state else {
            return WritePermit { gate: None, lane, since: Instant::now() };
        };
        let asked = Instant::now();
        let receiver = {
            let mut guard = state.lock().expect("write gate");
            if !guard.held {
                guard.held = true;
                metrics::histogram!("nova_store_write_wait_seconds", "lane" => lane.name()).record(0.0);
                return WritePermit { gate: Some(Arc::clone(state)), lane, since: Instant::now() };
            }
            let (sender, receiver) = oneshot::channel();
            guard.waiting[lane as usize].push_back(sender);
            receiver
        };
        let mut waiter = Waiter { receiver: Some(receiver), gate: Arc::clone(state) };
        let handed = waiter.receiver.as_mut().expect("receiver until handed").await;
        waiter.receiver = None;
        // The sender lives until it is used: a handed-over gate always arrives.
        debug_assert!(handed.is_ok());
        metrics::histogram!("nova_store_write_wait_seconds", "lane" => lane.name())
            .record(asked.elapsed().as_secs_f64());
        WritePermit { gate: Some(Arc::clone(state)), lane, since: Instant::now() }
    }
}

/// A writer still in line. Dropped before its turn (its request was cancelled), it
/// passes on a turn that was already handed to it, so the gate is never lost.
struct Waiter {
    receiver: Option<oneshot::Receiver<()>>,
    gate: Arc<Mutex<State>>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                release(&self.gate);
            }
        }
    }
}

impl Drop for WritePermit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            metrics::histogram!("nova_store_write_hold_seconds", "lane" => self.lane.name())
                .record(self.since.elapsed().as_secs_f64());
            release(&gate);
        }
    }
}

/// Hands the gate to the first writer of the most urgent lane still waiting.
fn release(gate: &Mutex<State>) {
    let mut state = gate.lock().expect("write gate");
    for lane in 0..LANES {
        while let Some(next) = state.waiting[lane].pop_front() {
            if next.send(()).is_ok() {
                return;
            }
        }
    }
    state.held = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urgent_writers_go_first_and_one_writes_at_a_time() {
        let gate = WriteGate::serialized();
        let first = gate.enter(Lane::Background).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (name, lane) in [("background", Lane::Background), ("route", Lane::Route), ("ack", Lane::Ack)] {
            let (in_line, order) = (gate.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _permit = in_line.enter(lane).await;
                order.lock().unwrap().push(name);
            }));
            // Each is in line before the next one comes.
            while gate.state.as_ref().unwrap().lock().unwrap().waiting[lane as usize].is_empty() {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["ack", "route", "background"]);
        assert!(!gate.state.as_ref().unwrap().lock().unwrap().held);
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_in_line_does_not_keep_the_gate() {
        let gate = WriteGate::serialized();
        let first = gate.enter(Lane::Background).await;
        let gave_up = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _ = gate.enter(Lane::Ack).await;
            })
        };
        while gate.state.as_ref().unwrap().lock().unwrap().waiting[0].is_empty() {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(first);
        // Would wait forever if the cancelled writer had kept its turn.
        let _again = gate.enter(Lane::Background).await;
    }

    #[tokio::test]
    async fn postgres_writers_pass_at_once() {
        let gate = WriteGate::open();
        let _a = gate.enter(Lane::Background).await;
        let _b = gate.enter(Lane::Background).await;
    }
}
