//! nova.toml, changed while Nova runs: the new file is validated like at start (a bad
//! one is refused with its error, and the running fleet keeps going), then the fleet
//! (offices, repos, channels, roles, people, approvals, router) is swapped whole
//! between two steps. What Nova was started on (the store, the server, the
//! provisioner) takes a restart, and a file that changes it is refused, saying so.

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

impl Engine {
    /// Takes a new config (already validated): `Err` says why it was refused. Offices
    /// removed from the file are no longer routed to; work they have going finishes.
    pub async fn reload(&self, config: Config) -> anyhow::Result<Result<FleetChanges, String>> {
        let old = self.config();
        if let Some(part) = needs_restart(&old, &config) {
            let refusal = format!("{part} changed, which takes a restart; the running fleet keeps its config");
            self.record_global("nova", "config_refused", serde_json::json!({"error": refusal})).await;
            return Ok(Err(refusal));
        }
        let changes = FleetChanges::between(&old, &config);
        let names: Vec<String> = config.offices.iter().map(|o| o.name.clone()).collect();
        self.store.ensure_offices(names.iter().map(String::as_str)).await?;
        *self.live.write().expect("live fleet lock") = Arc::new(Live::new(Arc::new(config)));
        self.record_global("nova", "config_reloaded", serde_json::to_value(&changes)?).await;
        for office in changes.offices_added.iter().chain(&changes.offices_changed) {
            self.publish_office(office).await;
        }
        self.work.notify_one();
        Ok(Ok(changes))
    }

    /// A changed nova.toml that does not validate: recorded, nothing else changes.
    pub async fn refuse_config(&self, error: &str) {
        self.record_global("nova", "config_refused", serde_json::json!({"error": error})).await;
    }
}
