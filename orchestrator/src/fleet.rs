//! Offices on GCE with warm pools: a wake claims a pre-booted VM of the office's tier
//! when one is warm (milliseconds) and creates one otherwise (tens of seconds); one
//! replica at a time (a lease in the store) keeps each pool at its size, refills it at
//! a paced rate right after claims, expires members nobody claimed, and retires members
//! of an old image a few at a time when a new image lands. A claimed VM is never
//! retired: claims and retirements are conditional updates on the same row.
//!
//! A pool is what lets a prewarm finish before its prompt arrives, so a tier keeps one
//! while typing signals come for its offices; with none for a pool TTL (the night, or
//! a Slack workspace, which sends none for plain messages) its pool is given back. A
//! claim for an unannounced prompt only shortens a wait; keeping its office up longer
//! (`idle_timeout_without_signals`) is the better use of those VM-hours, unless
//! `pool_without_signals` says otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provisioner::gce::{CreateError, GceBackend, Vm};
use provisioner::tiers::Tier;
use tokio::sync::{Notify, watch};

use crate::store::{Store, now_ms, warm_vms};

#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Warm VMs per tier in use, at least …
    pub floor: usize,
    /// … and at most, following recent demand in between.
    pub ceiling: usize,
    /// Unclaimed for this long, a warm VM is deleted; with no signal for its tier for
    /// this long, it is not replaced.
    pub ttl: Duration,
    /// Unannounced wakes keep a tier's pool too, as signals do.
    pub without_signals: bool,
    /// Creations (and retirements of an old image) started per pass, per tier.
    pub refill_per_pass: usize,
    /// Demand is read from the wakes in this window …
    pub demand_window: Duration,
    /// … as the most wakes of a tier within any span this long: about twice what a
    /// replacement VM takes to boot and pass its health check. A pool only has to cover
    /// the wakes that come before the VMs claimed from it are replaced, not every wake
    /// of the window (a tier woken once a minute needs one or two warm VMs, not 15).
    pub burst_span: Duration,
    /// How often the reconciler runs when nothing wakes it.
    pub pass_interval: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            floor: 1,
            ceiling: 8,
            ttl: Duration::from_secs(2 * 3600),
            without_signals: false,
            refill_per_pass: 2,
            demand_window: Duration::from_secs(15 * 60),
            burst_span: Duration::from_secs(2 * 60),
            pass_interval: Duration::from_secs(10),
        }
    }
}

/// The pool sizes and TTL of `[provisioner]`; the pacing is Nova's own.
impl From<&crate::config::ProvisionerSettings> for PoolSettings {
    fn from(settings: &crate::config::ProvisionerSettings) -> Self {
        Self {
            floor: settings.pool_floor,
            ceiling: settings.pool_ceiling,
            ttl: settings.pool_ttl,
            without_signals: settings.pool_without_signals,
            ..Self::default()
        }
    }
}

/// Where a woken office's VM came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Pool,
    Fresh,
}

/// What one reconciler pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub leader: bool,
    pub started: usize,
    pub expired: usize,
    pub retired: usize,
}

pub struct Fleet {
    store: Store,
    backend: Arc<GceBackend>,
    settings: PoolSettings,
    replica: String,
    /// The tiers offices use: the pools to keep.
    tiers: Vec<&'static Tier>,
    image: Mutex<String>,
    /// Recent wakes per tier, for demand-following pool sizes.
    demand: Mutex<VecDeque<(Instant, u8)>>,
    /// Each tier's latest typing signal (or this fleet's start): a tier with none for a
    /// pool TTL keeps no pool.
    last_signal: Mutex<HashMap<u8, Instant>>,
    /// Pool VMs being created now, per tier.
    creating: Mutex<HashMap<u8, usize>>,
    /// Pool creations and deletions still running, for [`Fleet::settled`].
    in_flight: watch::Sender<usize>,
    refill: Notify,
}

impl Fleet {
    pub fn new(
        store: Store,
        backend: Arc<GceBackend>,
        settings: PoolSettings,
        replica: &str,
        tiers: Vec<&'static Tier>,
    ) -> Arc<Self> {
        let image = backend.image().to_owned();
        let last_signal = tiers.iter().map(|tier| (tier.number, Instant::now())).collect();
        Arc::new(Self {
            store,
            backend,
            settings,
            replica: replica.to_owned(),
            tiers,
            image: Mutex::new(image),
            demand: Mutex::new(VecDeque::new()),
            last_signal: Mutex::new(last_signal),
            creating: Mutex::new(HashMap::new()),
            in_flight: watch::channel(0).0,
            refill: Notify::new(),
        })
    }

    pub fn backend(&self) -> &GceBackend {
        &self.backend
    }

    /// The image pools boot from; a new one retires the old members gradually.
    pub fn set_image(&self, image: &str) {
        *self.image.lock().expect("image lock") = image.to_owned();
        self.refill.notify_one();
    }

    fn image(&self) -> String {
        self.image.lock().expect("image lock").clone()
    }

    /// Builds a new environment image from `base` and moves the pools to it (their old
    /// members retire gradually). One replica per `cadence`; a failed build keeps the
    /// newest good image. `Ok(None)`: another replica builds this time.
    pub async fn rebuild_image(&self, base: &str, version: &str, cadence: Duration) -> anyhow::Result<Option<String>> {
        let now = now_ms();
        if !self.store.take_lease("images", &self.replica, now, now + cadence.as_millis() as i64).await? {
            return Ok(None);
        }
        match self.backend.build_image(base, version).await {
            Ok(image) => {
                tracing::info!(image, "a new environment image; pools move to it");
                metrics::counter!("nova_image_builds_total", "outcome" => "ok").increment(1);
                self.set_image(&image);
                Ok(Some(image))
            }
            Err(error) => {
                metrics::counter!("nova_image_builds_total", "outcome" => "failed").increment(1);
                Err(anyhow::Error::new(error)
                    .context(format!("image build {version} failed; pools keep {}", self.image())))
            }
        }
    }

    /// Rebuilds the image every `cadence` (default in DESIGN.md: 30 minutes).
    pub async fn run_image_builds(self: Arc<Self>, base: String, cadence: Duration) {
        loop {
            tokio::time::sleep(cadence).await;
            let version = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
            if let Err(error) = self.rebuild_image(&base, &version, cadence).await {
                tracing::error!("{error:#}");
            }
        }
    }

    /// A VM for an office's generation: a warm one if the pool has it, else a new one
    /// (named after the office and generation, so only one can exist).
    pub async fn place(&self, office: &str, generation: i64, tier: &Tier) -> Result<(Vm, Source), CreateError> {
        self.demand.lock().expect("demand lock").push_back((Instant::now(), tier.number));
        if self.settings.without_signals {
            self.signalled(tier);
        }
        let claimed = self.store.claim_warm_vm(tier.number as i32, &self.image(), office, now_ms()).await;
        // Refill right away: a claim that waits for the next pass can drain the pool.
        self.refill.notify_one();
        match claimed {
            Ok(Some(row)) => {
                metrics::counter!("nova_pool_claims_total", "outcome" => "hit").increment(1);
                let vm = Vm { agent_url: self.backend.agent_url(&row.zone, &row.name), name: row.name, zone: row.zone };
                Ok((vm, Source::Pool))
            }
            Ok(None) => {
                metrics::counter!("nova_pool_claims_total", "outcome" => "empty").increment(1);
                Ok((self.backend.create(office, generation, tier).await?, Source::Fresh))
            }
            Err(error) => {
                tracing::error!("cannot claim a warm VM: {error:#}");
                Ok((self.backend.create(office, generation, tier).await?, Source::Fresh))
            }
        }
    }

    /// The VM an office's generation runs on, found from the store and GCE alone (a
    /// restarted Nova has no memory of it): the pool VM it claimed, or the VM named
    /// after the generation in any zone. `None`: it has none.
    pub async fn find_office_vm(&self, office: &str, generation: i64) -> anyhow::Result<Option<Vm>> {
        if let Some(row) = self.store.claimed_vm_of(office).await? {
            let agent_url = self.backend.agent_url(&row.zone, &row.name);
            return Ok(Some(Vm { name: row.name, zone: row.zone, agent_url }));
        }
        let name = provisioner::gce::instance_name(office, generation);
        for zone in self.backend.zones() {
            match self.backend.client().get(zone, &name).await {
                Ok(_) => {
                    return Ok(Some(Vm { agent_url: self.backend.agent_url(zone, &name), name, zone: zone.clone() }));
                }
                Err(provisioner::gce::client::GceError::NotFound) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(None)
    }

    /// The office is asleep (its snapshot stored): its VM goes.
    pub async fn release(&self, vm: &Vm) -> anyhow::Result<()> {
        self.backend.delete(&vm.zone, &vm.name).await?;
        self.store.forget_claimed_vm(&vm.name).await
    }

    /// Runs passes until the task is aborted: every `pass_interval`, and right after
    /// claims; every tenth pass also sweeps for orphaned VMs.
    pub async fn run(self: Arc<Self>) {
        let mut passes = 0u64;
        loop {
            match self.reconcile().await {
                Ok(pass) if pass.leader && passes.is_multiple_of(10) => {
                    if let Err(error) = self.sweep_orphans(self.backend.boot_timeout()).await {
                        tracing::error!("orphan sweep failed: {error:#}");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::error!("pool pass failed: {error:#}"),
            }
            passes += 1;
            let _ = tokio::time::timeout(self.settings.pass_interval, self.refill.notified()).await;
        }
    }

    /// Deletes Nova's VMs that nothing accounts for: an office's VM of a generation that
    /// is not the office's current one (or whose office sleeps: a crash came between its
    /// snapshot and the delete), pool VMs with no pool row (a crash between create and
    /// record), and pool VMs claimed by an office that is no longer up. VMs younger
    /// than `grace` are left alone: they may be on their way to being recorded.
    /// Returns the names deleted.
    pub async fn sweep_orphans(&self, grace: Duration) -> anyhow::Result<Vec<String>> {
        use crate::store::OfficeState;
        let young = chrono::Utc::now() - chrono::Duration::from_std(grace)?;
        let mut deleted = Vec::new();
        for zone in self.backend.zones() {
            for (vm, owner) in self.backend.client().list_nova_instances(zone).await? {
                // Young VMs may be on their way to being recorded; a STOPPING one is
                // usually being deleted already (by its office going to sleep, say).
                if vm.created.is_none_or(|at| at > young) || vm.status == "STOPPING" {
                    continue;
                }
                let up = |office: &crate::store::offices::Model| {
                    !matches!(office.state, OfficeState::Asleep | OfficeState::Failed)
                };
                let orphan = if owner == "pool" {
                    match self.store.warm_vm(&vm.name).await? {
                        None => true,
                        Some(row) => match &row.office {
                            Some(office) => !self
                                .store
                                .office(office)
                                .await?
                                .is_some_and(|o| up(&o) || o.state == OfficeState::Failed),
                            None => false,
                        },
                    }
                } else {
                    match (provisioner::gce::parse_instance_name(&vm.name), self.store.office(&owner).await?) {
                        // A failed office's VM may hold work no snapshot has (its
                        // snapshot failed): the next wake rescues it first.
                        (Some((_, generation)), Some(office)) => {
                            !(office.generation == generation && (up(&office) || office.state == OfficeState::Failed))
                        }
                        // An office no longer configured, or a name Nova did not make.
                        (_, None) | (None, _) => true,
                    }
                };
                if orphan {
                    tracing::warn!(vm = %vm.name, zone, owner, "deleting a VM nothing accounts for");
                    metrics::counter!("nova_gce_orphans_deleted_total").increment(1);
                    self.backend.delete(zone, &vm.name).await?;
                    self.store.forget_claimed_vm(&vm.name).await?;
                    deleted.push(vm.name);
                }
            }
        }
        Ok(deleted)
    }

    /// Someone is typing to an office of this tier: its people give warning, so its
    /// pool is worth keeping.
    pub fn signalled(&self, tier: &Tier) {
        self.last_signal.lock().expect("last signal lock").insert(tier.number, Instant::now());
    }

    /// How many warm VMs a tier should have now.
    fn target(&self, tier: u8) -> usize {
        let last_signal = self.last_signal.lock().expect("last signal lock").get(&tier).copied();
        if last_signal.is_none_or(|at| at.elapsed() > self.settings.ttl) {
            return 0;
        }
        let mut demand = self.demand.lock().expect("demand lock");
        let window = self.settings.demand_window;
        while demand.front().is_some_and(|(at, _)| at.elapsed() > window) {
            demand.pop_front();
        }
        let wakes = demand.iter().filter(|(_, t)| *t == tier).map(|(at, _)| *at);
        busiest_span(wakes, self.settings.burst_span).clamp(self.settings.floor, self.settings.ceiling)
    }

    /// One pass, if this replica holds the pools' lease.
    pub async fn reconcile(self: &Arc<Self>) -> anyhow::Result<Pass> {
        let now = now_ms();
        let lease = (self.settings.pass_interval * 3).as_millis() as i64;
        if !self.store.take_lease("pools", &self.replica, now, now + lease).await? {
            return Ok(Pass::default());
        }
        let mut pass = Pass { leader: true, ..Pass::default() };
        let image = self.image();
        let mut retiring: HashMap<i32, usize> = HashMap::new();
        for stale in self.store.stale_warm_vms(&image, now).await? {
            let expired = stale.expires_at <= now;
            // An old image's members go a few at a time, so the pool never empties.
            let budget = retiring.entry(stale.tier).or_default();
            if !expired && *budget >= self.settings.refill_per_pass {
                continue;
            }
            if !self.store.retire_warm_vm(&stale.name).await? {
                continue; // claimed meanwhile: it is an office's now
            }
            *budget += usize::from(!expired);
            if expired {
                pass.expired += 1;
                metrics::counter!("nova_pool_expired_total").increment(1);
            } else {
                pass.retired += 1;
            }
            let fleet = Arc::clone(self);
            self.spawn_work(async move {
                if let Err(error) = fleet.backend.delete(&stale.zone, &stale.name).await {
                    tracing::warn!(vm = %stale.name, "cannot delete a retired pool VM: {error}");
                }
            });
        }
        for tier in self.tiers.clone() {
            let warm = self.store.count_warm_vms(tier.number as i32, &image).await? as usize;
            let creating = *self.creating.lock().expect("creating lock").get(&tier.number).unwrap_or(&0);
            let missing = self.target(tier.number).saturating_sub(warm + creating);
            for _ in 0..missing.min(self.settings.refill_per_pass) {
                pass.started += 1;
                *self.creating.lock().expect("creating lock").entry(tier.number).or_default() += 1;
                let fleet = Arc::clone(self);
                let image = image.clone();
                self.spawn_work(async move {
                    fleet.add_to_pool(tier, &image).await;
                    *fleet.creating.lock().expect("creating lock").entry(tier.number).or_default() -= 1;
                });
            }
        }
        Ok(pass)
    }

    /// Runs pool work (a creation, a deletion) in the background, counted in `in_flight`.
    fn spawn_work(&self, work: impl Future<Output = ()> + Send + 'static) {
        /// Counts the work done even if it panics.
        struct Done(watch::Sender<usize>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.send_modify(|n| *n -= 1);
            }
        }
        self.in_flight.send_modify(|n| *n += 1);
        let done = Done(self.in_flight.clone());
        tokio::spawn(async move {
            let _done = done;
            work.await;
        });
    }

    /// Waits until the pool work started so far has finished: new members recorded,
    /// retired ones deleted.
    pub async fn settled(&self) {
        let _ = self.in_flight.subscribe().wait_for(|n| *n == 0).await;
    }

    async fn add_to_pool(&self, tier: &'static Tier, image: &str) {
        let name = format!("nova-pool-t{}-{}", tier.number, &uuid::Uuid::new_v4().simple().to_string()[..12]);
        match self.backend.create_named(&name, "pool", tier, image).await {
            Ok(vm) => {
                let now = now_ms();
                let row = warm_vms::Model {
                    name: vm.name,
                    tier: tier.number as i32,
                    image: image.to_owned(),
                    zone: vm.zone,
                    state: crate::store::WARM.to_owned(),
                    office: None,
                    created_at: now,
                    claimed_at: None,
                    expires_at: now + self.settings.ttl.as_millis() as i64,
                };
                if let Err(error) = self.store.add_warm_vm(row).await {
                    tracing::error!(vm = %name, "cannot record a warm VM: {error:#}");
                }
            }
            Err(error) => tracing::warn!(vm = %name, "cannot add a VM to the pool: {error}"),
        }
    }
}

/// The most of these instants (in time order) that fall within any one `span`.
fn busiest_span(times: impl Iterator<Item = Instant>, span: Duration) -> usize {
    let mut window = VecDeque::new();
    let mut most = 0;
    for at in times {
        window.push_back(at);
        while window.front().is_some_and(|first| at.duration_since(*first) >= span) {
            window.pop_front();
        }
        most = most.max(window.len());
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_is_the_busiest_span_not_the_whole_window() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let span = Duration::from_secs(120);
        // One wake a minute for a quarter hour: two at most within two minutes.
        assert_eq!(busiest_span((0..15).map(|m| at(m * 60)), span), 2);
        // An incident: five wakes within a minute, among others spread out.
        let incident = [0, 300, 600, 610, 620, 640, 655, 900];
        assert_eq!(busiest_span(incident.into_iter().map(at), span), 5);
        assert_eq!(busiest_span(std::iter::empty(), span), 0);
    }
}
