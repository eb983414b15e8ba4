//! Where offices run.
//!
//! - `Local`: a `nova office serve` process per office on this machine, its workspace in
//!   the data dir; Nova restores and stores its snapshots itself.
//! - `Gce`: a VM per office generation, claimed from a warm pool or created (see
//!   [`Fleet`]). Its daemon starts unassigned; Nova assigns it the office, and the
//!   daemon restores the office's snapshot from Cloud Storage and, at sleep, stores a
//!   new one there. Once that snapshot is recorded the VM is deleted.
//!
//! The engine drives both the same way: start (restoring), snapshot, release.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use provisioner::gce::Vm;
use provisioner::local::{LocalBackend, StartSpec};
use provisioner::protocol::{Assignment, SNAPSHOT_FILES_HEADER, SNAPSHOT_SOURCE_BYTES_HEADER};
use provisioner::snapshot::{SnapshotInfo, Snapshots};
use provisioner::tiers::Tier;
use serde::Serialize;

use crate::config::{Backend, Config};
use crate::fleet::{Fleet, Source};
use crate::store::Store;
use crate::vault::Vault;

pub enum Compute {
    Local { backend: LocalBackend, snapshots: Snapshots },
    Gce(GceCompute),
}

/// The machine a wake got, for the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub vm: String,
    pub zone: String,
    /// `pool` (a warm VM was claimed) or `fresh` (one was created).
    pub source: &'static str,
}

/// An office whose machine is gone while it was up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Why, for the audit trail and the threads whose prompts run again.
    pub reason: String,
    /// Whether the workspace survived (a local process's stays on disk; a VM's disk
    /// goes with the VM, so the office resumes from its last snapshot).
    pub workspace_kept: bool,
}

/// A started office: where its daemon answers, and on what machine.
pub struct Started {
    pub endpoint: String,
    pub placement: Option<Placement>,
    /// The snapshot taken of an earlier generation's VM on the way (see
    /// [`Compute::start`]): the workspace the office now holds.
    pub rescued: Option<SnapshotInfo>,
    /// The snapshot the workspace now equals, if it was restored from one (not kept on
    /// disk from before, nor new): until something runs there, sleeping needs no new one.
    pub restored_from: Option<String>,
}

pub struct GceCompute {
    fleet: Arc<Fleet>,
    /// Offices' snapshots: Nova reads and writes them for the VMs, which hold no
    /// storage credential.
    snapshots: Snapshots,
    http: reqwest::Client,
    /// The VM each office this replica runs is on, and when it was placed there.
    vms: Mutex<HashMap<String, (Vm, Instant)>>,
    /// The latest listing of Nova's VMs, to notice one lost under its office.
    census: tokio::sync::Mutex<Census>,
}

/// Nova's VMs that were up at `taken_at` (absent: none taken yet).
#[derive(Default)]
struct Census {
    taken_at: Option<Instant>,
    up: HashSet<String>,
}

impl GceCompute {
    pub fn new(fleet: Arc<Fleet>, snapshots: Snapshots) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        Ok(Self { fleet, snapshots, http, vms: Mutex::new(HashMap::new()), census: Default::default() })
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    async fn start(
        &self,
        spec: &StartSpec,
        tier: &Tier,
        snapshot: Option<&str>,
        stranded: Option<i64>,
    ) -> anyhow::Result<Started> {
        let rescued = match stranded {
            Some(generation) => self.rescue(&spec.office, generation).await?,
            None => None,
        };
        let snapshot = rescued.as_ref().map(|info| info.key.as_str()).or(snapshot);
        let restored_from = snapshot.map(str::to_owned);
        let (vm, source) = self.fleet.place(&spec.office, spec.generation, tier).await?;
        let placement = Placement {
            vm: vm.name.clone(),
            zone: vm.zone.clone(),
            source: match source {
                Source::Pool => "pool",
                Source::Fresh => "fresh",
            },
        };
        if let Err(error) = self.assign(&vm, spec, snapshot).await {
            // A VM half given to an office is no use to anyone else.
            if let Err(delete) = self.fleet.release(&vm).await {
                tracing::error!(vm = %vm.name, "cannot delete a VM that refused its office: {delete:#}");
            }
            return Err(error);
        }
        let endpoint = vm.agent_url.clone();
        self.vms.lock().expect("vms lock").insert(spec.office.clone(), (vm, Instant::now()));
        Ok(Started { endpoint, placement: Some(placement), rescued, restored_from })
    }

    /// The VM of an earlier generation whose snapshot was never recorded (it failed, or
    /// Nova stopped first) may still hold work no snapshot has: take its archive, store
    /// it, and only then delete the VM. `None` when there is no such VM, or its daemon
    /// never got the office (nothing to keep).
    async fn rescue(&self, office: &str, generation: i64) -> anyhow::Result<Option<SnapshotInfo>> {
        let Some(vm) = self.fleet.find_office_vm(office, generation).await? else {
            return Ok(None);
        };
        // A VM Compute Engine stopped (or already deleted) has no daemon to answer:
        // nothing to take from it.
        let running = match self.fleet.backend().client().get(&vm.zone, &vm.name).await {
            Ok(info) => info.status == "RUNNING",
            Err(provisioner::gce::client::GceError::NotFound) => false,
            Err(error) => return Err(error.into()),
        };
        if !running {
            self.fleet.release(&vm).await?;
            return Ok(None);
        }
        let response = self.post_assigned(&vm.name, &format!("{}/snapshot", vm.agent_url), None).await?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            self.fleet.release(&vm).await?;
            return Ok(None);
        }
        let info = self.take_archive(office, generation, response).await?;
        tracing::info!(office, vm = %vm.name, generation, "kept the work of a VM whose snapshot had failed");
        self.fleet.release(&vm).await?;
        Ok(Some(info))
    }

    /// Stores the archive a daemon's `/snapshot` answered with, under `generation`.
    async fn take_archive(
        &self,
        office: &str,
        generation: i64,
        response: reqwest::Response,
    ) -> anyhow::Result<SnapshotInfo> {
        let started = Instant::now();
        let response = succeeded(response, &format!("{office}'s VM could not archive its workspace")).await?;
        let count = |header: &str| -> u64 {
            response.headers().get(header).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let (source_bytes, files) = (count(SNAPSHOT_SOURCE_BYTES_HEADER), count(SNAPSHOT_FILES_HEADER));
        let mut file = tempfile::tempfile().context("cannot create a temporary file for the snapshot")?;
        let mut stream = response.bytes_stream();
        let mut bytes = 0u64;
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.with_context(|| format!("{office}'s archive did not arrive whole"))?;
            bytes += chunk.len() as u64;
            std::io::Write::write_all(&mut file, &chunk)?;
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
        let archive = provisioner::snapshot::Archive { file, bytes, source_bytes, files };
        let mut info = self.snapshots.store_archive(office, generation, archive).await?;
        info.elapsed = started.elapsed();
        Ok(info)
    }

    /// Whether the office's VM is gone (stopped by Compute Engine, deleted by someone),
    /// from a listing at most `max_age` old: one call per zone, however many offices
    /// are up. A VM placed after the listing was taken is not judged by it, and a
    /// listing that fails judges nothing.
    async fn lost(&self, office: &str, max_age: Duration) -> Option<Lost> {
        let (vm, placed_at) = self.vms.lock().expect("vms lock").get(office).cloned()?;
        let mut census = self.census.lock().await;
        if census.taken_at.is_none_or(|at| at.elapsed() >= max_age) {
            let taken_at = Instant::now();
            let mut up = HashSet::new();
            for zone in self.fleet.backend().zones() {
                match self.fleet.backend().client().list_nova_instances(zone).await {
                    Ok(vms) => up.extend(
                        vms.into_iter()
                            .filter(|(vm, _)| {
                                !matches!(vm.status.as_str(), "STOPPING" | "TERMINATED" | "SUSPENDING" | "SUSPENDED")
                            })
                            .map(|(vm, _)| vm.name),
                    ),
                    Err(error) => {
                        tracing::warn!(zone, "cannot list VMs to check on offices: {error}");
                        return None;
                    }
                }
            }
            *census = Census { taken_at: Some(taken_at), up };
        }
        let judged = census.taken_at.is_some_and(|at| at > placed_at);
        (judged && !census.up.contains(&vm.name)).then(|| Lost {
            reason: format!("Compute Engine stopped or deleted its VM {}", vm.name),
            workspace_kept: false,
        })
    }

    /// POSTs to a VM's daemon with its assignment token: the newest key's, or (for a VM
    /// made before the master key was rotated) an older one's.
    async fn post_assigned(
        &self,
        vm_name: &str,
        url: &str,
        body: Option<&Assignment>,
    ) -> anyhow::Result<reqwest::Response> {
        let tokens = self.fleet.backend().assign_tokens(vm_name);
        anyhow::ensure!(!tokens.is_empty(), "no assignment key is configured");
        let last = tokens.len() - 1;
        for (index, token) in tokens.into_iter().enumerate() {
            let mut request = self.http.post(url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.with_context(|| format!("cannot reach the daemon on VM {vm_name}"))?;
            if response.status() != reqwest::StatusCode::UNAUTHORIZED || index == last {
                return Ok(response);
            }
        }
        unreachable!("the last token's answer is returned")
    }

    async fn assign(&self, vm: &Vm, spec: &StartSpec, snapshot: Option<&str>) -> anyhow::Result<()> {
        let assignment = Assignment {
            office: spec.office.clone(),
            generation: spec.generation,
            nova_url: spec.nova_url.clone(),
            token: spec.token.clone(),
            compression: self.snapshots.level(),
        };
        let url = format!("{}/assign", vm.agent_url);
        let response = self.post_assigned(&vm.name, &url, Some(&assignment)).await?;
        succeeded(response, &format!("VM {} did not take the office", vm.name)).await?;
        if let Some(key) = snapshot {
            // Streamed from object storage to the VM, which unpacks it as it arrives.
            let body = reqwest::Body::wrap_stream(self.snapshots.stream(key).await?);
            let response = self
                .http
                .post(format!("{}/restore", vm.agent_url))
                .bearer_auth(&spec.token)
                .body(body)
                .send()
                .await
                .with_context(|| format!("cannot hand VM {} the office's workspace", vm.name))?;
            succeeded(response, &format!("VM {} could not restore the office's workspace", vm.name)).await?;
        }
        Ok(())
    }

    /// Asks the office's daemon for a snapshot. A Nova that restarted no longer holds
    /// the office's token or knows its VM: it finds the VM and authenticates with the
    /// VM's assignment token instead, so the work done since the last snapshot is kept.
    async fn snapshot(
        &self,
        office: &str,
        generation: i64,
        daemon: Option<(&str, &str)>,
    ) -> anyhow::Result<SnapshotInfo> {
        let response = match daemon {
            Some((endpoint, token)) => self
                .http
                .post(format!("{endpoint}/snapshot"))
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("cannot reach {office}'s VM for its snapshot"))?,
            None => {
                let vm =
                    self.fleet.find_office_vm(office, generation).await?.with_context(|| {
                        format!("{office}'s VM is gone, so its work since the last snapshot is lost")
                    })?;
                let (name, url) = (vm.name.clone(), format!("{}/snapshot", vm.agent_url));
                // Released (deleted) once the snapshot is recorded, like any other.
                self.vms.lock().expect("vms lock").insert(office.to_owned(), (vm, Instant::now()));
                self.post_assigned(&name, &url, None).await?
            }
        };
        self.take_archive(office, generation, response).await
    }

    async fn release(&self, office: &str) {
        let vm = self.vms.lock().expect("vms lock").remove(office);
        if let Some((vm, _)) = vm
            && let Err(error) = self.fleet.release(&vm).await
        {
            // The orphan sweep deletes it later: nothing accounts for it any more.
            tracing::error!(office, vm = %vm.name, "cannot delete the office's VM: {error:#}");
        }
    }
}

/// The daemon's answer if it succeeded, else an error: `{refusal} ({status}): {its reason}`.
async fn succeeded(response: reqwest::Response, refusal: &str) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let reason = response.text().await.unwrap_or_default();
    bail!("{refusal} ({status}): {reason}")
}

impl Compute {
    /// Where `nova.toml` says offices run: local processes (snapshots on disk or in a
    /// bucket), or GCE VMs with their warm pools (snapshots in a bucket).
    pub fn for_config(
        config: &Config,
        store: &Store,
        vault: &Vault,
        replica: &str,
        office_program: Vec<String>,
        gce: Option<super::GceSetup>,
    ) -> anyhow::Result<Self> {
        let data_dir = &config.store.data_dir;
        let level = config.provisioner.snapshot_compression;
        Ok(match config.provisioner.backend {
            Backend::Local => {
                let snapshots = match &config.store.snapshots {
                    Some(url) => Snapshots::cloud_storage(
                        url,
                        config.store.snapshots_api_url.as_deref(),
                        config.store.snapshots_credentials.as_deref(),
                        level,
                    )?,
                    None => Snapshots::local(&data_dir.join("snapshots"), level)?,
                };
                let backend = LocalBackend::new(data_dir.join("offices"), office_program);
                Compute::Local { backend, snapshots }
            }
            Backend::Gce => {
                let setup = gce.context(
                    "backend = \"gce\" needs GCE_PROJECT, GCE_ZONE and GCE_IMAGE (see README, \"Offices on GCE\")",
                )?;
                // The config check guarantees a gs:// store with the GCE backend.
                let url = config.store.snapshots.as_deref().context("backend = \"gce\" needs [store] snapshots")?;
                let snapshots = Snapshots::cloud_storage(
                    url,
                    config.store.snapshots_api_url.as_deref(),
                    config.store.snapshots_credentials.as_deref(),
                    level,
                )?;
                let backend = provisioner::gce::GceBackend::new(setup.settings, setup.tokens)?
                    .with_assign_keys(vault.derive_keys("gce-assign"));
                let mut tiers: Vec<_> =
                    config.offices.iter().filter_map(|o| provisioner::tiers::tier(o.tier)).collect();
                tiers.sort_by_key(|t| t.number);
                tiers.dedup_by_key(|t| t.number);
                let pools = crate::fleet::PoolSettings::from(&config.provisioner);
                let fleet = Fleet::new(store.clone(), Arc::new(backend), pools, replica, tiers);
                Compute::Gce(GceCompute::new(fleet, snapshots)?)
            }
        })
    }

    /// Brings the office up with its workspace restored from `snapshot` (if any);
    /// returns once its daemon has started (the engine then checks its health).
    /// `stranded`: an earlier generation that recorded no snapshot, whose machine may
    /// still hold its work; that work is kept and restored instead.
    pub async fn start(
        &self,
        spec: &StartSpec,
        tier: &Tier,
        snapshot: Option<&str>,
        stranded: Option<i64>,
        timeout: Duration,
    ) -> anyhow::Result<Started> {
        match self {
            Self::Local { backend, snapshots } => {
                // A workspace still on disk is at least as new as the latest snapshot:
                // it is removed only once its snapshot is recorded. One left by a
                // snapshot that failed holds work no snapshot has, so it is kept.
                let workspace = backend.workspace(&spec.office);
                let restored_from = snapshot.filter(|_| !workspace.exists());
                if let Some(key) = restored_from {
                    // An incompatible snapshot fails the wake (the thread is told why)
                    // rather than being restored blindly.
                    snapshots.restore(key, &spec.office, &workspace).await?;
                }
                let endpoint = backend.start(spec, timeout).await?;
                Ok(Started {
                    endpoint,
                    placement: None,
                    rescued: None,
                    restored_from: restored_from.map(str::to_owned),
                })
            }
            Self::Gce(gce) => tokio::time::timeout(timeout, gce.start(spec, tier, snapshot, stranded))
                .await
                .with_context(|| format!("no VM took the office within {}", humantime::format_duration(timeout)))?,
        }
    }

    /// Stores the office's workspace under its generation; from then on the office
    /// takes no work. `daemon` (endpoint, token) reaches the office's daemon.
    pub async fn snapshot(
        &self,
        office: &str,
        generation: i64,
        daemon: Option<(&str, &str)>,
    ) -> anyhow::Result<SnapshotInfo> {
        match self {
            Self::Local { backend, snapshots } => {
                backend.stop(office, Duration::from_secs(5)).await?;
                snapshots.save(office, generation, &backend.workspace(office)).await
            }
            Self::Gce(gce) => gce.snapshot(office, generation, daemon).await,
        }
    }

    /// The office goes to sleep on the snapshot it was restored from (nothing ran since):
    /// its process stops and its machine and disk go, with no new snapshot.
    pub async fn discard(&self, office: &str) {
        if let Self::Local { backend, .. } = self
            && let Err(error) = backend.stop(office, Duration::from_secs(5)).await
        {
            tracing::warn!(office, "cannot stop the office process: {error:#}");
        }
        self.release(office).await;
    }

    /// The office is asleep (its snapshot recorded): its machine and disk go.
    pub async fn release(&self, office: &str) {
        match self {
            Self::Local { backend, .. } => {
                if let Err(error) = std::fs::remove_dir_all(backend.workspace(office)) {
                    tracing::warn!(office, "cannot remove the workspace after its snapshot: {error}");
                }
            }
            Self::Gce(gce) => gce.release(office).await,
        }
    }

    /// A wake failed, or Nova stops: the office's process stops. A local workspace
    /// stays on disk (the next wake keeps it); a VM is deleted.
    pub async fn stop(&self, office: &str) {
        match self {
            Self::Local { backend, .. } => {
                if let Err(error) = backend.stop(office, Duration::from_secs(2)).await {
                    tracing::warn!(office, "cannot stop the office process: {error:#}");
                }
            }
            Self::Gce(gce) => gce.release(office).await,
        }
    }

    /// Nova stops. Local office processes stop with it (their workspaces stay on disk).
    /// VMs are left running: deleting them would lose work not yet snapshotted, and
    /// the orphan sweep deletes those no office accounts for any more.
    pub async fn shutdown(&self, offices: impl Iterator<Item = &str>) {
        if let Self::Local { .. } = self {
            for office in offices {
                self.stop(office).await;
            }
        }
    }

    /// Whether the office, up on this replica, lost its machine (on GCE, judged by a
    /// listing of the zones at most `census_interval` old).
    pub async fn lost(&self, office: &str) -> Option<Lost> {
        self.lost_by(office, None).await
    }

    /// [`Compute::lost`], asking the cloud now: the office just failed a call, and a
    /// VM Compute Engine took back is better known at once (its work restarts from the
    /// last snapshot) than taken for a daemon in trouble (whose workspace a snapshot
    /// would try, in vain, to save first).
    pub async fn lost_now(&self, office: &str) -> Option<Lost> {
        self.lost_by(office, Some(Duration::ZERO)).await
    }

    async fn lost_by(&self, office: &str, max_age: Option<Duration>) -> Option<Lost> {
        match self {
            Self::Local { backend, .. } => (!backend.is_running(office).await)
                .then(|| Lost { reason: "its process exited".to_owned(), workspace_kept: true }),
            Self::Gce(gce) => {
                if !gce.vms.lock().expect("vms lock").contains_key(office) {
                    // The snapshot looks for the VM; if it is still there, the work is kept.
                    return Some(Lost { reason: "this Nova has no record of its VM".to_owned(), workspace_kept: true });
                }
                gce.lost(office, max_age.unwrap_or_else(|| gce.fleet.backend().census_interval())).await
            }
        }
    }

    /// How many offices this replica runs now.
    pub async fn running(&self) -> usize {
        match self {
            Self::Local { backend, .. } => backend.running().await,
            Self::Gce(gce) => gce.vms.lock().expect("vms lock").len(),
        }
    }

    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        match self {
            Self::Local { .. } => None,
            Self::Gce(gce) => Some(gce.fleet()),
        }
    }
}
