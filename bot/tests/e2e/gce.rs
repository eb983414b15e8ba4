//! Offices on (stand-in) Compute Engine VMs: each VM runs a real office daemon that
//! Nova assigns the office to; the workspace travels through (stand-in) Cloud Storage.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{BUCKET, Cloud, Nova, ZONES, until};
use orchestrator::store::MessageKind;

/// Where each wake of `office` ran, oldest first, from the audit trail.
async fn placements(nova: &Nova, office: &str) -> Vec<Value> {
    let filter = orchestrator::store::AuditFilter { office: Some(office.to_owned()), ..Default::default() };
    let trail = nova.engine().store().audit_trail(&filter).await.unwrap();
    trail.iter().filter(|row| row.action == "placed").map(|row| serde_json::from_str(&row.details).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_works_on_its_own_vm_sleeps_into_the_bucket_and_wakes_on_a_new_vm_with_its_work() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;

    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    let messages = nova.results(&thread, 1).await;
    assert!(messages.last().unwrap().body.contains("holds 1 note(s)"), "{}", messages.last().unwrap().body);
    let placed = placements(&nova, "maker").await;
    assert_eq!(placed.len(), 1);
    assert_eq!((placed[0]["vm"].as_str(), placed[0]["source"].as_str()), (Some("nova-maker-g1"), Some("fresh")));
    assert_eq!(cloud.office_vms(), ["nova-maker-g1"], "one VM, named after the office and its generation");
    let accounts: Vec<String> = cloud.gce.instances().into_iter().map(|vm| vm.service_account).collect();
    assert_eq!(accounts, [""], "a VM runs with no service account: its metadata server has no token to give");

    // Asleep: the workspace is in the bucket, and the VM is gone.
    nova.office_reaches("maker", "idle").await;
    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    let maker = nova.office_reaches("maker", "asleep").await;
    let key = maker.snapshot_key.expect("a snapshot key");
    assert!(cloud.gcs.objects(BUCKET).contains_key(&format!("acme/{key}")), "Nova stored the VM's archive");
    // The store says asleep once the snapshot is stored; the VM's deletion follows (CI
    // on Postgres once read the VM list in between).
    nova.eventually("an office asleep costs no VM", async |_| cloud.office_vms().is_empty().then_some(())).await;

    // The next message wakes it on a new VM, which restores the workspace first.
    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    assert_eq!(placements(&nova, "maker").await[1]["vm"], "nova-maker-g2");
    assert_eq!(cloud.office_vms(), ["nova-maker-g2"]);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_nova_with_a_rotated_key_keeps_the_work_on_a_vm_it_no_longer_remembers() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;

    // The master key is rotated on the way (a new key first, the old one kept to open
    // what it sealed): the VM made under the old key still answers to Nova.
    let key_file = nova.data_dir.path().join("master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, format!("new:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=,{}", old_key.trim())).unwrap();

    // The new process finds the VM, has it store the workspace, and only then deletes it.
    nova.restart(|_| {}).await;
    let maker = nova.office_reaches("maker", "asleep").await;
    assert_eq!(maker.snapshot_key.as_deref(), Some("offices/maker/000000000001.tar.zst"));
    // The store says asleep once the snapshot is stored; the VM's deletion follows.
    nova.eventually("the VM deleted", async |_| cloud.office_vms().is_empty().then_some(())).await;

    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_vm_from_the_pool_takes_the_office_and_the_pool_refills() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |config| {
        config.provisioner.pool_floor = 1;
        config.provisioner.pool_ceiling = 2;
    })
    .await;
    let is_pool_vm = |name: &String| name.starts_with("nova-pool-");
    let fleet = nova.engine().fleet().unwrap().clone();
    let first = until(&nova, &cloud, cloud.gce.changes(), "a warm pool VM", async |_, cloud: &Cloud| {
        fleet.settled().await;
        let warm: Vec<String> = cloud.vms().into_iter().filter(is_pool_vm).collect();
        (!warm.is_empty()).then(|| warm[0].clone())
    })
    .await;

    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    let placed = placements(&nova, "maker").await;
    assert_eq!((placed[0]["vm"].as_str(), placed[0]["source"].as_str()), (Some(first.as_str()), Some("pool")));
    assert_eq!(cloud.office_vms(), Vec::<String>::new(), "no VM was created for the wake");

    // The claim set off a refill: another warm VM waits for the next wake.
    until(&nova, &cloud, cloud.gce.changes(), "the pool to refill", async |_, cloud: &Cloud| {
        fleet.settled().await;
        cloud.vms().into_iter().any(|name| is_pool_vm(&name) && name != first).then_some(())
    })
    .await;
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stockout_in_the_first_zone_wakes_the_office_in_the_second() {
    let cloud = Cloud::start().await;
    cloud.gce.stock_out(ZONES[0]);
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    let placed = placements(&nova, "maker").await;
    assert_eq!((placed[0]["vm"].as_str(), placed[0]["zone"].as_str()), (Some("nova-maker-g1"), Some(ZONES[1])));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_whose_daemon_never_answers_is_deleted_and_the_thread_is_told() {
    let cloud = Cloud::start().await;
    cloud.gce.never_healthy("nova-maker-");
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    let failure = nova
        .eventually("the wake failure in the thread", async |nova: &Nova| {
            let messages = nova.messages(&thread).await;
            messages.into_iter().find(|m| m.from_nova && m.body.contains("never passed its health check"))
        })
        .await;
    assert!(failure.body.contains("nova-maker-g1"), "{}", failure.body);
    assert_eq!(cloud.office_vms(), Vec::<String>::new(), "the watchdog deleted the VM");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_compute_engine_takes_back_mid_run_is_noticed_and_the_run_starts_again_from_the_last_snapshot() {
    let cloud = Cloud::start().await;
    // Each run leaves a note in the workspace. From the second on, a run waits for the
    // test's word, so the VM is taken back mid-run whatever the machine's load (a run
    // of fixed length raced the preemption and sometimes won).
    let word = tempfile::tempdir().unwrap();
    let release = word.path().join("release");
    let runtime = format!(
        "n=$(ls notes 2>/dev/null | wc -l | tr -d ' '); mkdir -p notes; echo '{{{{prompt}}}}' > notes/{{{{run_id}}}}.md; \
         if [ \"$n\" -ge 1 ]; then while [ ! -f {} ]; do sleep 0.05; done; fi; \
         echo \"this workspace now holds $((n + 1)) note(s)\"",
        release.display()
    );
    let mut nova = Nova::start_on_gce(&cloud, |config| {
        let maker = config.offices.iter_mut().find(|office| office.name == "maker").unwrap();
        let maker_runtime = maker.runtime.as_mut().unwrap();
        maker_runtime.command = vec!["sh".into(), "-c".into(), runtime];
        // The runtime reads the test's word outside its workspace.
        maker_runtime.sandbox.enabled = false;
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;
    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    nova.office_reaches("maker", "asleep").await;

    // The next run is under way on a new VM when Compute Engine takes the VM back.
    nova.reply(&thread, "alice", "and the tax line").await;
    // Under way means the VM took the run (the prompt counts as dispatched a moment before).
    nova.eventually("the second run under way", async |nova: &Nova| {
        let second = nova.prompts(&thread).await.get(1)?.run_id.clone();
        let filter = orchestrator::store::AuditFilter { run_id: Some(second), ..Default::default() };
        let trail = nova.engine().store().audit_trail(&filter).await.unwrap();
        trail.iter().any(|row| row.action == "dispatch").then_some(())
    })
    .await;
    cloud.gce.preempt("nova-maker-g2").await;

    // Nova notices, says so in the thread, and runs it again on a third VM from the
    // snapshot the first one stored: the second VM's note went with its disk.
    nova.eventually("the thread told", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.body.contains("stopped while working on this"))
    })
    .await;
    std::fs::write(&release, "go").unwrap();
    let messages = nova.results(&thread, 2).await;
    let placed = placements(&nova, "maker").await;
    let told = messages.iter().find(|m| m.body.contains("stopped while working on this"));
    let told = told.unwrap_or_else(|| panic!("the thread is told: {messages:#?}\n{placed:#?}"));
    assert!(told.body.contains("Compute Engine stopped or deleted its VM nova-maker-g2"), "{}", told.body);
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    let vms: Vec<Value> = placements(&nova, "maker").await.into_iter().map(|p| p["vm"].clone()).collect();
    assert_eq!(vms, ["nova-maker-g1", "nova-maker-g2", "nova-maker-g3"]);
    // The stopped VM would still cost its disk: it is deleted.
    nova.eventually("the stopped VM deleted", async |_| (cloud.office_vms() == ["nova-maker-g3"]).then_some(())).await;
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_taken_back_as_its_run_is_sent_is_known_lost_at_once_and_the_run_goes_to_a_new_vm() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;
    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    nova.office_reaches("maker", "asleep").await;

    // The next wake's VM comes up, then Compute Engine takes it back as the run is sent.
    cloud.gce.preempt_when_sent_a_run("nova-maker-g2");
    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    // Nova asked the cloud instead of taking the failed call for a daemon in trouble:
    // nothing to save on the stopped VM, the run went to a new one from the snapshot.
    let filter = orchestrator::store::AuditFilter { office: Some("maker".into()), ..Default::default() };
    let trail = nova.engine().store().audit_trail(&filter).await.unwrap();
    let lost: Vec<&str> =
        trail.iter().filter(|row| row.action == "office_lost").map(|row| row.details.as_str()).collect();
    assert_eq!(lost, [r#"{"reason":"Compute Engine stopped or deleted its VM nova-maker-g2","workspace_kept":false}"#]);
    let vms: Vec<Value> = placements(&nova, "maker").await.into_iter().map(|p| p["vm"].clone()).collect();
    assert_eq!(vms, ["nova-maker-g1", "nova-maker-g2", "nova-maker-g3"]);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_runtime_on_a_vm_gets_nothing_either() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |config| crate::trust::hostile(config, 0)).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    let attacks = crate::trust::outcomes(&result);
    assert_eq!(attacks.len(), crate::trust::ATTACKS, "{result}");
    let got: Vec<_> = attacks.iter().filter(|(_, outcome)| outcome != "refused").collect();
    assert!(got.is_empty(), "the runtime on a VM got {got:?}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_the_bucket_refuses_keeps_the_vm_and_its_work_for_the_next_wake() {
    let cloud = Cloud::start().await;
    let mut nova = Nova::start_on_gce(&cloud, |_| {}).await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;

    // Nova's access to the bucket is refused once: the snapshot fails.
    cloud.gcs.deny_writes(1);
    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    let failed = nova.office_reaches("maker", "failed").await;
    assert!(failed.failure.unwrap().starts_with("snapshot failed"));
    assert_eq!(nova.engine().fleet().unwrap().sweep_orphans(Duration::ZERO).await.unwrap(), Vec::<String>::new());
    assert_eq!(cloud.office_vms(), ["nova-maker-g1"], "the VM holding the only copy of the work is kept");

    // The next wake takes that VM's work first, then lets it go.
    nova.engine().wake_office("maker", "alice").await.unwrap().expect("a failed office wakes");
    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    assert_eq!(cloud.office_vms(), ["nova-maker-g2"]);
    nova.finish().await;
}
