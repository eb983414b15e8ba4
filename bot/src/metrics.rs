//! Every metric Nova exports, described in one place and present from the start (at
//! zero), so a dashboard or an alert can be written before the first event arrives.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

enum Kind {
    Counter,
    Gauge,
    Histogram(Unit),
}

/// Name, kind, help, and the label sets that exist before anything happens.
type Described = (&'static str, Kind, &'static str, &'static [(&'static str, &'static str)]);

const CATALOGUE: &[Described] = &[
    (
        "nova_inbound_total",
        Kind::Counter,
        "Messages and clicks recorded from every surface (duplicate = a redelivery).",
        &[("duplicate", "false"), ("duplicate", "true")],
    ),
    ("nova_office_wakes_total", Kind::Counter, "Wakes started (one per office generation).", &[]),
    ("nova_prompts_dispatched_total", Kind::Counter, "Prompts handed to an office to run.", &[]),
    (
        "nova_prewarm_total",
        Kind::Counter,
        "Prewarms by outcome: hit (a prompt came), expired (none came), miss (a prompt found its office asleep).",
        &[("outcome", "hit"), ("outcome", "expired"), ("outcome", "miss")],
    ),
    (
        "nova_prewarm_signals_total",
        Kind::Counter,
        "Warm signals by source (typing and early signals, or chatter about an office's work) and what Nova did with them.",
        &[],
    ),
    (
        "nova_prewarm_wasted_ms_total",
        Kind::Counter,
        "Office time spent up for prewarms (a signal's or a habit's) no prompt followed, in milliseconds.",
        &[],
    ),
    (
        "nova_habit_wakes_total",
        Kind::Counter,
        "Wakes ahead of offices' habits by outcome: woken, hit (a prompt came), expired (none came).",
        &[("outcome", "woken"), ("outcome", "hit"), ("outcome", "expired")],
    ),
    (
        "nova_pool_claims_total",
        Kind::Counter,
        "Warm-pool claims: hit (a warm VM) or empty (a fresh one was made).",
        &[("outcome", "hit"), ("outcome", "empty")],
    ),
    ("nova_pool_expired_total", Kind::Counter, "Warm VMs given back unclaimed after pool_ttl.", &[]),
    (
        "nova_image_builds_total",
        Kind::Counter,
        "Environment image builds by outcome.",
        &[("outcome", "ok"), ("outcome", "failed")],
    ),
    ("nova_gce_errors_total", Kind::Counter, "Compute Engine calls that failed, by HTTP status.", &[]),
    ("nova_gce_retries_total", Kind::Counter, "Compute Engine calls retried.", &[]),
    ("nova_gce_stockouts_total", Kind::Counter, "VM creates refused for lack of capacity, by zone.", &[]),
    (
        "nova_gce_breaker_opened_total",
        Kind::Counter,
        "Times repeated Compute Engine failures stopped further calls for a while.",
        &[],
    ),
    ("nova_gce_unhealthy_total", Kind::Counter, "VMs deleted because their daemon never answered.", &[]),
    (
        "nova_gce_orphans_deleted_total",
        Kind::Counter,
        "VMs no office or pool accounted for, deleted by the sweep.",
        &[],
    ),
    ("nova_router_model_calls_total", Kind::Counter, "Calls to the router model by outcome.", &[]),
    (
        "nova_router_model_tokens_total",
        Kind::Counter,
        "Tokens the router model used, by kind.",
        &[("kind", "prompt"), ("kind", "completion")],
    ),
    (
        "nova_slack_rejected_total",
        Kind::Counter,
        "Slack requests refused (a bad signature or an old timestamp).",
        &[("reason", "signature")],
    ),
    ("nova_slack_rate_limited_total", Kind::Counter, "Slack API calls answered 429, by method.", &[]),
    (
        "nova_slack_early_signals_total",
        Kind::Counter,
        "Slack events that announce a prompt (assistant threads, app home, chatter where Nova listens), by kind.",
        &[],
    ),
    (
        "nova_discord_rejected_total",
        Kind::Counter,
        "Discord interactions refused (a bad signature).",
        &[("reason", "signature")],
    ),
    ("nova_discord_rate_limited_total", Kind::Counter, "Discord API calls answered 429, by call.", &[]),
    (
        "nova_mirror_failures_total",
        Kind::Counter,
        "Posts and edits a chat platform refused, by surface (retried, then given up).",
        &[("surface", "slack"), ("surface", "discord")],
    ),
    (
        "nova_offices",
        Kind::Gauge,
        "Offices by state.",
        &[
            ("state", "asleep"),
            ("state", "waking"),
            ("state", "ready"),
            ("state", "idle"),
            ("state", "snapshotting"),
            ("state", "failed"),
        ],
    ),
    ("nova_prompts_queued", Kind::Gauge, "Prompts waiting for their office to be ready.", &[]),
    ("nova_runs_in_flight", Kind::Gauge, "Prompts an office is running.", &[]),
    (
        "nova_inbound_oldest_pending_seconds",
        Kind::Gauge,
        "Age of the oldest recorded message not yet routed (0 when none waits).",
        &[],
    ),
    (
        "nova_mirror_backlog",
        Kind::Gauge,
        "Nova messages a chat platform does not show in their latest revision yet.",
        &[("surface", "slack"), ("surface", "discord")],
    ),
    (
        "nova_build_info",
        Kind::Gauge,
        "Always 1; the version label says which Nova runs.",
        &[("version", env!("CARGO_PKG_VERSION"))],
    ),
    (
        "nova_wake_seconds",
        Kind::Histogram(Unit::Seconds),
        "Time from the start of a wake to the office being ready.",
        &[],
    ),
    ("nova_snapshot_seconds", Kind::Histogram(Unit::Seconds), "Time to store an office's workspace at sleep.", &[]),
    ("nova_router_model_seconds", Kind::Histogram(Unit::Seconds), "Latency of router model calls.", &[]),
    (
        "nova_store_write_wait_seconds",
        Kind::Histogram(Unit::Seconds),
        "SQLite: how long a write waited for its turn, by lane (ack, route, background).",
        &[],
    ),
    (
        "nova_store_write_hold_seconds",
        Kind::Histogram(Unit::Seconds),
        "SQLite: how long a write held the database, by lane.",
        &[],
    ),
    (
        "nova_store_checkpoint_seconds",
        Kind::Histogram(Unit::Seconds),
        "SQLite: how long a checkpoint of the write-ahead log took (apart from the writers).",
        &[],
    ),
];

/// The process-wide Prometheus recorder, installed and described once.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                describe_all();
            }
            handle
        })
        .clone()
}

fn describe_all() {
    for (name, kind, help, labels) in CATALOGUE {
        match kind {
            Kind::Counter => {
                describe_counter!(*name, *help);
                if labels.is_empty() {
                    metrics::counter!(*name).increment(0);
                }
                for (key, value) in labels.iter() {
                    metrics::counter!(*name, *key => *value).increment(0);
                }
            }
            Kind::Gauge => {
                describe_gauge!(*name, *help);
                // Build info says 1; every other gauge starts at 0 until measured.
                let start = if *name == "nova_build_info" { 1.0 } else { 0.0 };
                if labels.is_empty() {
                    metrics::gauge!(*name).set(start);
                }
                for (key, value) in labels.iter() {
                    metrics::gauge!(*name, *key => *value).set(start);
                }
            }
            Kind::Histogram(unit) => {
                describe_histogram!(*name, *unit, *help);
                // Registered with no sample: it renders as a count of 0.
                let _ = metrics::histogram!(*name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_is_described_and_present_at_start() {
        let rendered = super::handle().render();
        for (name, _, _, _) in super::CATALOGUE {
            assert!(rendered.contains(&format!("# HELP {name} ")), "{name} has no description");
            assert!(rendered.lines().any(|l| l.starts_with(name) && !l.starts_with('#')), "{name} is not present");
        }
        assert!(rendered.contains("nova_offices{state=\"asleep\"} 0"));
        assert!(rendered.contains(&format!("nova_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
    }
}
