//! nova.toml, changed while Nova runs: the new file is validated like at start (a bad
//! one is refused with its error, and the running fleet keeps going), then the fleet
//! (offices, repos, channels, roles, people, approvals, router) is swapped whole
//! between two steps. What Nova was started on (the store, the server, the
//! provisioner) takes a restart, and a file that changes it is refused, saying so.
//!
//! The file is the bootstrap: the fleet changes made while Nova runs (chat, console,
//! `/api`; see [`crate::config::edit`]) are written over it each time, so an edit of
//! the file keeps them, and an approval on any replica reaches every replica.

use serde::Serialize;

use super::*;

/// What a reload changed, for the log and the audit trail.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct FleetChanges {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offices_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offices_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offices_changed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos_changed: Vec<String>,
}

impl FleetChanges {
    pub fn between(old: &Config, new: &Config) -> Self {
        let (offices_added, offices_removed, offices_changed) = diff(&old.offices, &new.offices, |o| &o.name);
        let (repos_added, repos_removed, repos_changed) = diff(&old.repos, &new.repos, |r| &r.name);
        Self { offices_added, offices_removed, offices_changed, repos_added, repos_removed, repos_changed }
    }

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Names added, removed and changed between two lists of named items.
fn diff<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &String) -> (Vec<String>, Vec<String>, Vec<String>) {
    let find = |list: &[T], wanted: &String| list.iter().find(|item| name(item) == wanted).map(|_| ()).is_some();
    let added = new.iter().filter(|n| !find(old, name(n))).map(|n| name(n).clone()).collect();
    let removed = old.iter().filter(|o| !find(new, name(o))).map(|o| name(o).clone()).collect();
    let changed =
        new.iter().filter(|n| old.iter().any(|o| name(o) == name(n) && o != *n)).map(|n| name(n).clone()).collect();
    (added, removed, changed)
}

/// The part of the config a running Nova cannot change, if the new file changes it.
fn needs_restart(old: &Config, new: &Config) -> Option<&'static str> {
    if old.store != new.store {
        Some("[store]")
    } else if old.server != new.server {
        Some("[server]")
    } else if old.provisioner != new.provisioner {
        Some("[provisioner]")
    } else if old.workspace.name != new.workspace.name {
        Some("the workspace name")
    } else {
        None
    }
}

/// The live fleet: nova.toml with the fleet changes in force written in.
pub struct LiveFleet {
    pub config: Config,
    /// Every change in force in the store, by id: the fleet is rebuilt when this changes.
    pub seen: Vec<i64>,
    /// Those written in.
    pub applied: Vec<i64>,
    /// Those the file no longer takes (it now makes the same office, say), and why.
    pub skipped: Vec<crate::config::edit::Skipped>,
}

/// The live fleet over `base` (nova.toml as read): the fleet changes in force written
/// in, in order. A change the file no longer takes is left out, saying why.
pub async fn live_fleet(store: &Store, base: &Config) -> anyhow::Result<LiveFleet> {
    let mut seen = Vec::new();
    let mut changes = Vec::new();
    for row in store.fleet_changes_in_force().await? {
        seen.push(row.id);
        match serde_json::from_str::<crate::ask::Action>(&row.change) {
            Ok(action) => changes.push((row.id, action)),
            Err(error) => tracing::error!(change = row.id, "a stored fleet change is not an action: {error}"),
        }
    }
    if changes.is_empty() {
        return Ok(LiveFleet { config: base.clone(), seen, applied: Vec::new(), skipped: Vec::new() });
    }
    let (config, skipped) = crate::config::edit::apply_all(&base.source, "nova.toml", &changes)?;
    for skipped in &skipped {
        tracing::warn!(change = skipped.id, "a fleet change made while Nova ran is left out: {}", skipped.reason);
    }
    let applied = changes.iter().map(|(id, _)| *id).filter(|id| !skipped.iter().any(|s| s.id == *id)).collect();
    Ok(LiveFleet { config, seen, applied, skipped })
}

impl Engine {
    /// Takes a new nova.toml (already validated): `Err` says why it was refused.
    /// Offices removed from the fleet are no longer routed to; work they have going
    /// finishes.
    pub async fn reload(&self, file: Config) -> anyhow::Result<Result<FleetChanges, String>> {
        let _swapping = self.fleet_swap.lock().await;
        if let Some(part) = needs_restart(&self.config(), &file) {
            let refusal = format!("{part} changed, which takes a restart; the running fleet keeps its config");
            self.record_global("nova", "config_refused", serde_json::json!({"error": refusal})).await;
            return Ok(Err(refusal));
        }
        let base = Arc::clone(&file.source);
        let zone_before = self.zone();
        let fleet = live_fleet(&self.store, &file).await?;
        let changes = self.swap_fleet(fleet, base).await?;
        self.record_global("nova", "config_reloaded", serde_json::to_value(&changes)?).await;
        if self.zone() != zone_before {
            let moved = self.retime_schedules().await?;
            let details = serde_json::json!({"from": zone_before.name(), "to": self.zone().name(), "schedules": moved});
            self.record_global("nova", "schedules_retimed", details).await;
        }
        Ok(Ok(changes))
    }

    /// Takes the fleet changes that came into force since the fleet was last built (an
    /// approval here or on another replica); `None` when there are none.
    pub(super) async fn refresh_fleet(&self) -> anyhow::Result<Option<FleetChanges>> {
        let _swapping = self.fleet_swap.lock().await;
        let live = self.live();
        let in_force: Vec<i64> = self.store.fleet_changes_in_force().await?.iter().map(|c| c.id).collect();
        if in_force == live.changes_seen {
            return Ok(None);
        }
        let file = Config::parse(&live.base, "nova.toml")?;
        let fleet = live_fleet(&self.store, &file).await?;
        Ok(Some(self.swap_fleet(fleet, Arc::clone(&live.base)).await?))
    }

    /// Makes `fleet` the running fleet between two steps; a change it leaves out is
    /// audited (`fleet_change_left_out`, with why).
    async fn swap_fleet(&self, fleet: LiveFleet, base: Arc<str>) -> anyhow::Result<FleetChanges> {
        let LiveFleet { config, seen, applied, skipped } = fleet;
        for left_out in &skipped {
            let details = serde_json::json!({"change": left_out.id, "reason": left_out.reason});
            self.record_global("nova", "fleet_change_left_out", details).await;
        }
        let changes = FleetChanges::between(&self.config(), &config);
        // Names first: an iterator of closures held across the await would not be `Send`.
        let names: Vec<String> = config.offices.iter().map(|o| o.name.clone()).collect();
        self.store.ensure_offices(names.iter().map(String::as_str)).await?;
        *self.live.write().expect("live fleet lock") = Arc::new(Live::new(Arc::new(config), base, seen, applied));
        for office in changes.offices_added.iter().chain(&changes.offices_changed) {
            self.publish_office(office).await;
        }
        self.work.notify_one();
        Ok(changes)
    }

    /// The live fleet as a config file: nova.toml with the changes made while Nova
    /// runs written in (what `nova export` prints).
    pub fn export(&self) -> String {
        self.config().source.to_string()
    }

    /// A changed nova.toml that does not validate: recorded, nothing else changes.
    pub async fn refuse_config(&self, error: &str) {
        self.record_global("nova", "config_refused", serde_json::json!({"error": error})).await;
    }
}
