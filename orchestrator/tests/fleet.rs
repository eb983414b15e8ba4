//! Warm pools and wakes on GCE (the stand-in), on SQLite and (with
//! NOVA_TEST_POSTGRES_URL) on Postgres.

use std::sync::Arc;
use std::time::Duration;

use orchestrator::fleet::{Fleet, PoolSettings, Source};
use orchestrator::store::Store;
use provisioner::gce::{GceBackend, GceSettings};
use provisioner::tiers::tier;
use testkit::TestDatabase;
use testkit::gce::{FakeGce, GceOptions};

const ZONES: [&str; 2] = ["europe-west1-b", "europe-west1-c"];

fn backend(gce: &FakeGce) -> Arc<GceBackend> {
    let tokens = gcp_auth::CustomServiceAccount::from_json(&gce.service_account_json()).unwrap();
    let zones = ZONES.iter().map(|z| z.to_string()).collect();
    let mut settings = GceSettings::new(&gce.api_url, gce.project(), zones, IMAGE);
    settings.agent_url = gce.agent_url_template();
    settings.boot_timeout = Duration::from_secs(10);
    settings.health_timeout = Duration::from_secs(5);
    settings.rate_limit_pause = Duration::from_millis(20);
    Arc::new(GceBackend::new(settings, Arc::new(tokens)).unwrap())
}

fn pools(floor: usize) -> PoolSettings {
    PoolSettings {
        floor,
        ceiling: floor.max(4),
        ttl: Duration::from_secs(3600),
        without_signals: false,
        refill_per_pass: 2,
        demand_window: Duration::from_secs(60),
        burst_span: Duration::from_secs(60),
        pass_interval: Duration::from_millis(50),
    }
}

/// Runs reconciler passes, each waited out to the end of its work, until `done` holds.
async fn passes_until(fleet: &Arc<Fleet>, what: &str, done: impl AsyncFn() -> bool) {
    for _ in 0..50 {
        fleet.reconcile().await.unwrap();
        fleet.settled().await;
        if done().await {
            return;
        }
    }
    panic!("50 reconciler passes and still not {what}");
}

async fn warm(store: &Store, image: &str) -> u64 {
    store.count_warm_vms(2, image).await.unwrap()
}

const IMAGE: &str = "projects/nova-test/global/images/office-1";

async fn fill(fleet: &Arc<Fleet>, store: &Store, want: u64) {
    passes_until(fleet, "filled", async || warm(store, IMAGE).await >= want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_claims_a_warm_vm_and_the_pool_refills() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let fleet = Fleet::new(store.clone(), backend(&gce), pools(2), "replica-a", vec![tier(2).unwrap()]);
    fill(&fleet, &store, 2).await;
    let (vm, source) = fleet.place("maker", 1, tier(2).unwrap()).await.unwrap();
    assert_eq!(source, Source::Pool);
    assert!(vm.name.starts_with("nova-pool-t2-"), "{}", vm.name);
    fill(&fleet, &store, 2).await;
    // A tier with no pool: a fresh VM named after the office's generation.
    let (fresh, source) = fleet.place("analyst", 1, tier(5).unwrap()).await.unwrap();
    assert_eq!((source, fresh.name.as_str()), (Source::Fresh, "nova-analyst-g1"));
    fleet.release(&vm).await.unwrap();
    assert!(gce.instances().iter().all(|i| i.name != vm.name), "a released VM is deleted");
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_twenty_asleep_offices_from_two_replicas_makes_exactly_twenty_vms() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let offices: Vec<String> = (0..20).map(|i| format!("office-{i:02}")).collect();
    store.ensure_offices(offices.iter().map(String::as_str)).await.unwrap();
    // Two replicas: separate stores and backends, one database, one GCE project.
    let second = Store::connect(&db.url).await.unwrap();
    let replicas = [
        Fleet::new(store.clone(), backend(&gce), pools(0), "replica-a", vec![]),
        Fleet::new(second.clone(), backend(&gce), pools(0), "replica-b", vec![]),
    ];
    // 200 prompts: ten for each office, half to each replica, all at once. Each tries
    // the wake gate; only a winner asks GCE for a VM.
    let attempts: Vec<_> = (0..200)
        .map(|i| {
            let fleet = Arc::clone(&replicas[i % 2]);
            let store = if i % 2 == 0 { store.clone() } else { second.clone() };
            let office = offices[i % 20].clone();
            tokio::spawn(async move {
                let row = store.office(&office).await.unwrap().unwrap();
                let replica = format!("replica-{}", i % 2);
                match store.begin_wake(&row, &replica, Duration::from_secs(60)).await.unwrap() {
                    Some(generation) => Some(fleet.place(&office, generation, tier(1).unwrap()).await.unwrap().0),
                    None => None,
                }
            })
        })
        .collect();
    let mut woken = Vec::new();
    for attempt in attempts {
        woken.extend(attempt.await.unwrap());
    }
    assert_eq!(woken.len(), 20, "one wake per office");
    assert_eq!(gce.all_instances().len(), 20, "exactly twenty VMs");
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_retires_the_old_members_gradually_and_never_a_claimed_one() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let mut settings = pools(4);
    settings.refill_per_pass = 1;
    let fleet = Fleet::new(store.clone(), backend(&gce), settings, "replica-a", vec![tier(2).unwrap()]);
    fill(&fleet, &store, 4).await;
    let (claimed, _) = fleet.place("maker", 1, tier(2).unwrap()).await.unwrap();

    fleet.set_image("projects/nova-test/global/images/office-2");
    let pass = fleet.reconcile().await.unwrap();
    assert_eq!(pass.retired, 1, "one old member per pass: {pass:?}");
    let new_image = "projects/nova-test/global/images/office-2";
    passes_until(&fleet, "on the new image", async || {
        warm(&store, IMAGE).await == 0 && warm(&store, new_image).await >= 4
    })
    .await;
    assert!(gce.instances().iter().any(|i| i.name == claimed.name), "the claimed VM is untouched");
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclaimed_members_expire_a_tier_without_signals_drains_and_only_one_replica_reconciles() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let mut settings = pools(2);
    settings.ttl = Duration::from_millis(200);
    let leader = Fleet::new(store.clone(), backend(&gce), settings.clone(), "replica-a", vec![tier(2).unwrap()]);
    let follower = Fleet::new(store.clone(), backend(&gce), settings, "replica-b", vec![tier(2).unwrap()]);
    assert!(leader.reconcile().await.unwrap().leader);
    assert!(!follower.reconcile().await.unwrap().leader, "the lease is held");
    fill(&leader, &store, 2).await;
    let before: Vec<String> = gce.instances().into_iter().map(|i| i.name).collect();
    // Expiry is about time passing: let the TTL run out.
    tokio::time::sleep(Duration::from_millis(200)).await;
    passes_until(&leader, "expired", async || {
        let now: Vec<String> = gce.instances().into_iter().map(|i| i.name).collect();
        before.iter().all(|name| !now.contains(name))
    })
    .await;
    // No typing signal for a tier-2 office all that time: the pool is given back …
    leader.reconcile().await.unwrap();
    leader.settled().await;
    assert_eq!(warm(&store, IMAGE).await, 0);
    assert!(gce.instances().is_empty(), "{:?}", gce.instances());
    // … an unannounced wake finds it empty and does not bring it back …
    let (vm, source) = leader.place("maker", 1, tier(2).unwrap()).await.unwrap();
    assert_eq!((source, vm.name.as_str()), (Source::Fresh, "nova-maker-g1"));
    leader.reconcile().await.unwrap();
    leader.settled().await;
    assert_eq!(warm(&store, IMAGE).await, 0);
    // … and someone typing to a tier-2 office does.
    leader.signalled(tier(2).unwrap());
    fill(&leader, &store, 2).await;
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_snapshot_and_the_delete_leaves_no_vm_behind_after_restart() {
    use orchestrator::store::{OfficeChange, Transition};
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    store.ensure_offices(["maker"]).await.unwrap();
    let fleet = Fleet::new(store.clone(), backend(&gce), pools(0), "replica-a", vec![]);
    let row = store.office("maker").await.unwrap().unwrap();
    let generation = store.begin_wake(&row, "replica-a", Duration::from_secs(60)).await.unwrap().unwrap();
    let (vm, _) = fleet.place("maker", generation, tier(2).unwrap()).await.unwrap();
    // The snapshot is stored and the office recorded asleep; then the process dies
    // before it deletes the VM.
    let mut asleep = OfficeChange::new(Transition::RecoverWaking);
    asleep.snapshot = Some(("snapshots/maker/1.tar.zst".into(), 1024));
    assert!(store.transition("maker", generation, asleep).await.unwrap());
    drop(fleet);

    // A new process: its first sweep finds the VM nothing accounts for and deletes it.
    let mut settings = pools(0);
    settings.pass_interval = Duration::from_millis(20);
    let restarted = Fleet::new(store.clone(), backend(&gce), settings, "replica-b", vec![]);
    let deleted = restarted.sweep_orphans(Duration::ZERO).await.unwrap();
    assert_eq!(deleted, std::slice::from_ref(&vm.name));
    assert!(gce.instances().is_empty(), "nothing left running");
    let office = store.office("maker").await.unwrap().unwrap();
    assert_eq!((office.state.as_str(), office.snapshot_key.as_deref()), ("asleep", Some("snapshots/maker/1.tar.zst")));
    // The next wake is a new generation with its own VM; a sweep leaves that one alone.
    let generation = store.begin_wake(&office, "replica-b", Duration::from_secs(60)).await.unwrap().unwrap();
    let (next, _) = restarted.place("maker", generation, tier(2).unwrap()).await.unwrap();
    assert_eq!(next.name, "nova-maker-g2");
    assert!(restarted.sweep_orphans(Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(gce.instances().len(), 1);
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_image_moves_the_pool_and_one_replica_builds_per_cadence() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let fleet = Fleet::new(store.clone(), backend(&gce), pools(2), "replica-a", vec![tier(2).unwrap()]);
    let other = Fleet::new(store.clone(), backend(&gce), pools(2), "replica-b", vec![tier(2).unwrap()]);
    fill(&fleet, &store, 2).await;
    let base = "projects/debian-cloud/global/images/debian-12";
    let cadence = Duration::from_secs(1800);
    let image = fleet.rebuild_image(base, "v2", cadence).await.unwrap().expect("this replica builds");
    assert_eq!(other.rebuild_image(base, "v2b", cadence).await.unwrap(), None, "one build per cadence");
    passes_until(&fleet, "booting from the new image", async || {
        warm(&store, IMAGE).await == 0 && warm(&store, &image).await >= 2
    })
    .await;
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_pool_vm_outlives_its_office_only_until_the_next_sweep() {
    use orchestrator::store::{OfficeChange, Transition};
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    store.ensure_offices(["maker"]).await.unwrap();
    let fleet = Fleet::new(store.clone(), backend(&gce), pools(1), "replica-a", vec![tier(2).unwrap()]);
    fill(&fleet, &store, 1).await;
    let row = store.office("maker").await.unwrap().unwrap();
    let generation = store.begin_wake(&row, "replica-a", Duration::from_secs(60)).await.unwrap().unwrap();
    let (vm, source) = fleet.place("maker", generation, tier(2).unwrap()).await.unwrap();
    assert_eq!(source, Source::Pool);
    fleet.settled().await;
    assert!(!fleet.sweep_orphans(Duration::ZERO).await.unwrap().contains(&vm.name), "its office is waking: kept");

    // The office sleeps, and the process dies before it deletes the claimed VM.
    let mut asleep = OfficeChange::new(Transition::RecoverWaking);
    asleep.snapshot = Some(("snapshots/maker/1.tar.zst".into(), 1024));
    assert!(store.transition("maker", generation, asleep).await.unwrap());
    let deleted = fleet.sweep_orphans(Duration::ZERO).await.unwrap();
    assert_eq!(deleted, std::slice::from_ref(&vm.name), "the warm member of the pool is kept; the claimed one goes");
    assert!(gce.instances().iter().all(|i| i.name != vm.name));
    assert!(store.warm_vm(&vm.name).await.unwrap().is_none(), "and its pool row with it");
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_knows_offices_whose_names_gce_cannot_spell() {
    let db = TestDatabase::new().await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    let gce = FakeGce::start(GceOptions::default()).await.unwrap();
    let long = "the-team-that-owns-the-quarterly-revenue-dashboards";
    let names = ["data_team", "api.v2", long];
    store.ensure_offices(names).await.unwrap();
    let fleet = Fleet::new(store.clone(), backend(&gce), pools(0), "replica-a", vec![]);
    let mut vms = Vec::new();
    for name in names {
        let row = store.office(name).await.unwrap().unwrap();
        let generation = store.begin_wake(&row, "replica-a", Duration::from_secs(60)).await.unwrap().unwrap();
        vms.push(fleet.place(name, generation, tier(2).unwrap()).await.unwrap().0.name);
    }
    assert_eq!(vms[0], "nova-data-team-g1", "GCE's spelling of the name");
    assert!(fleet.sweep_orphans(Duration::ZERO).await.unwrap().is_empty(), "every waking office keeps its VM");
    assert_eq!(gce.instances().len(), 3);
    db.cleanup().await.unwrap();
}
