//! The gauges Nova keeps current from the store: what an operator looks at first when
//! something seems slow. Counters and histograms are recorded where things happen; the
//! names and descriptions of all of them are listed in one place by the `nova` binary.

use crate::store::{OfficeState, PromptState, Store, Surface, now_ms};

/// Offices by state, prompts waiting and running, the age of the oldest event not yet
/// routed, and the messages each chat platform has yet to show. Every state is set, at zero too, so a dashboard never sees gaps.
pub async fn refresh(store: &Store) -> anyhow::Result<()> {
    let (offices, prompts) = store.census().await?;
    let outbox = store.outbox_by_surface().await?;
    for state in OfficeState::ALL {
        let count = offices.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
        metrics::gauge!("nova_offices", "state" => state.as_str()).set(count as f64);
    }
    let count = |wanted: PromptState| prompts.iter().find(|(s, _)| s == wanted.as_str()).map_or(0, |(_, n)| *n);
    metrics::gauge!("nova_prompts_queued").set(count(PromptState::Held) as f64);
    metrics::gauge!("nova_runs_in_flight").set(count(PromptState::Dispatched) as f64);
    let oldest = store.oldest_pending_inbound().await?.map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
    metrics::gauge!("nova_inbound_oldest_pending_seconds").set(oldest);
    for surface in [Surface::Slack, Surface::Discord] {
        let waiting = outbox.iter().find(|(s, _)| *s == surface).map_or(0, |(_, n)| *n);
        metrics::gauge!("nova_mirror_backlog", "surface" => surface.as_str()).set(waiting as f64);
    }
    Ok(())
}
