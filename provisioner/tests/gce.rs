//! The GCE backend against the Compute Engine stand-in, fault by fault, with real
//! gcp_auth service-account tokens.

use std::sync::Arc;
use std::time::Duration;

use provisioner::gce::client::GceError;
use provisioner::gce::{CreateError, GceBackend, GceSettings, instance_name, request_id};
use provisioner::tiers::tier;
use testkit::gce::{FakeGce, GceOptions};

const ZONES: [&str; 2] = ["europe-west1-b", "europe-west1-c"];

async fn backend(gce: &FakeGce, edit: impl FnOnce(&mut GceSettings)) -> GceBackend {
    let tokens = gcp_auth::CustomServiceAccount::from_json(&gce.service_account_json()).unwrap();
    let zones = ZONES.iter().map(|z| z.to_string()).collect();
    let mut settings =
        GceSettings::new(&gce.api_url, gce.project(), zones, "projects/nova-test/global/images/office-1");
    settings.agent_url = gce.agent_url_template();
    settings.boot_timeout = Duration::from_secs(10);
    settings.health_timeout = Duration::from_millis(300);
    settings.rate_limit_pause = Duration::from_millis(20);
    edit(&mut settings);
    GceBackend::new(settings, Arc::new(tokens)).unwrap()
}

fn quick() -> GceOptions {
    GceOptions { time_factor: 0.001, ..GceOptions::default() }
}

#[tokio::test]
async fn a_vm_is_created_in_the_first_zone_and_answers_its_health_check() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    let vm = backend.create("maker", 1, tier(3).unwrap()).await.unwrap();
    assert_eq!((vm.name.as_str(), vm.zone.as_str()), ("nova-maker-g1", ZONES[0]));
    let instances = gce.instances();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].machine_type, "e2-medium");
    assert_eq!(instances[0].source_image, "projects/nova-test/global/images/office-1");
    assert_eq!(instances[0].labels["nova-owner"], "maker");
    assert_eq!(instances[0].service_account, "", "no service account: the VM holds no cloud credential");
    let script = instances[0].metadata.as_array().unwrap().iter().find(|item| item["key"] == "startup-script");
    assert!(script.unwrap()["value"].as_str().unwrap().contains("nova office pool"), "it boots the daemon");
}

#[tokio::test]
async fn retries_and_racing_replicas_make_one_vm() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = Arc::new(backend(&gce, |_| {}).await);
    // Five callers (a retry loop, another replica…) wake the same generation at once.
    let wakes: Vec<_> = (0..5)
        .map(|_| {
            let backend = Arc::clone(&backend);
            tokio::spawn(async move { backend.create("maker", 7, tier(2).unwrap()).await })
        })
        .collect();
    for wake in wakes {
        assert_eq!(wake.await.unwrap().unwrap().name, "nova-maker-g7");
    }
    assert_eq!(gce.all_instances().len(), 1, "one VM, whoever asked and however often");
    // The same request id twice is one operation on GCE's side, even after the VM exists.
    let same = spec("nova-maker-g7");
    let again = backend.client().insert(ZONES[0], &same, &request_id("nova-maker-g7", ZONES[0], "insert")).await;
    assert!(again.is_ok(), "a repeated requestId is answered with the first operation");
    let other_id = backend.client().insert(ZONES[0], &same, "c3f0a7e8-0000-4000-8000-000000000001").await;
    assert_eq!(other_id.unwrap_err(), GceError::AlreadyExists);
}

fn spec(name: &str) -> provisioner::gce::client::InstanceSpec {
    provisioner::gce::client::InstanceSpec {
        name: name.to_owned(),
        machine_type: "e2-small".to_owned(),
        image: "projects/nova-test/global/images/office-1".to_owned(),
        labels: vec![],
        metadata: vec![],
        service_account: None,
    }
}

#[tokio::test]
async fn a_stockout_in_the_first_zone_wakes_the_office_in_the_second() {
    let gce = FakeGce::start(quick()).await.unwrap();
    gce.stock_out(ZONES[0]);
    let backend = backend(&gce, |_| {}).await;
    let vm = backend.create("maker", 1, tier(8).unwrap()).await.unwrap();
    assert_eq!(vm.zone, ZONES[1]);
    let instances = gce.instances();
    assert_eq!((instances.len(), instances[0].zone.as_str()), (1, ZONES[1]));
}

#[tokio::test]
async fn the_api_quota_is_waited_out_at_a_growing_pace() {
    // Two writes per (scaled) minute: 60 ms at this time factor.
    let gce = FakeGce::start(GceOptions { writes_per_minute: 2, ..quick() }).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    for generation in 1..=4 {
        backend.create("maker", generation, tier(1).unwrap()).await.unwrap();
    }
    let calls = gce.calls();
    let refused = calls.iter().filter(|c| c.status == 403).count();
    assert!(refused >= 1, "the quota was hit: {refused}");
    assert_eq!(gce.instances().len(), 4, "and every VM was made anyway");
}

#[tokio::test]
async fn a_vm_that_never_becomes_healthy_is_deleted_and_reported() {
    let gce = FakeGce::start(quick()).await.unwrap();
    gce.never_healthy("nova-maker-");
    let backend = backend(&gce, |_| {}).await;
    let error = backend.create("maker", 1, tier(2).unwrap()).await.unwrap_err();
    assert!(matches!(&error, CreateError::Unhealthy { name, .. } if name == "nova-maker-g1"), "{error}");
    assert!(error.to_string().contains("never passed its health check"), "{error}");
    // The watchdog deleted it, and waited for GCE to finish: nothing is left running (and billing).
    assert!(gce.instances().is_empty(), "the unhealthy VM is gone");
}

#[tokio::test]
async fn repeated_failures_open_the_breaker_which_says_so_instead_of_calling_gce() {
    let gce = FakeGce::start(quick()).await.unwrap();
    for zone in ZONES {
        gce.stock_out(zone);
    }
    let backend = backend(&gce, |s| {
        s.breaker_after = 3;
        s.breaker_cooldown = Duration::from_secs(60);
    })
    .await;
    for generation in 1..=3 {
        let error = backend.create("maker", generation, tier(2).unwrap()).await.unwrap_err();
        assert!(matches!(error, CreateError::AllZonesOut(_)), "{error}");
    }
    let calls_before = gce.calls().len();
    let error = backend.create("maker", 4, tier(2).unwrap()).await.unwrap_err();
    let CreateError::BreakerOpen { failures, .. } = &error else { panic!("{error}") };
    assert_eq!(*failures, 3);
    assert!(error.to_string().contains("every configured zone is out of capacity"), "{error}");
    assert_eq!(gce.calls().len(), calls_before, "an open breaker makes no calls");
}

#[tokio::test]
async fn deleting_is_idempotent_and_bad_credentials_are_named() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    let vm = backend.create("maker", 1, tier(2).unwrap()).await.unwrap();
    backend.delete(&vm.zone, &vm.name).await.unwrap();
    backend.delete(&vm.zone, &vm.name).await.unwrap();
    assert!(gce.instances().is_empty());
    assert_eq!(instance_name("maker", 1), vm.name);

    // Credentials revoked on GCE's side: the cached token stops working, and says so.
    gce.revoke_tokens();
    let error = backend.client().get(ZONES[0], "nova-maker-g1").await.unwrap_err();
    assert!(matches!(error, GceError::Unauthorized(_)), "{error}");
}

#[tokio::test]
async fn listings_read_every_page_so_no_vm_looks_deleted() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    for generation in 1..=5 {
        backend.create("maker", generation, tier(1).unwrap()).await.unwrap();
    }
    let listed = backend.client().list_nova_instances_in_pages(ZONES[0], 2).await.unwrap();
    let mut names: Vec<String> = listed.into_iter().map(|(vm, _)| vm.name).collect();
    names.sort();
    assert_eq!(names, (1..=5).map(|generation| instance_name("maker", generation)).collect::<Vec<_>>());
    let pages = gce.calls().into_iter().filter(|c| c.method == "GET" && c.path.ends_with("/instances")).count();
    assert_eq!(pages, 3, "three pages of at most two");
}

#[tokio::test]
async fn an_image_is_built_from_a_builder_vm_that_is_then_deleted() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    let image = backend.build_image("projects/debian-cloud/global/images/debian-12", "20261122-0100").await.unwrap();
    assert_eq!(image, "projects/nova-test/global/images/nova-office-20261122-0100");
    let images = gce.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].source_disk, "zones/europe-west1-b/disks/nova-builder-20261122-0100");
    assert_eq!(images[0].family.as_deref(), Some("nova-office"));
    assert!(gce.instances().is_empty(), "the builder is gone");
}

#[tokio::test]
async fn a_failed_build_leaves_no_image_and_no_builder() {
    let gce = FakeGce::start(quick()).await.unwrap();
    gce.never_healthy("nova-builder-");
    let backend = backend(&gce, |_| {}).await;
    let error = backend.build_image("projects/debian-cloud/global/images/debian-12", "v2").await.unwrap_err();
    assert!(error.to_string().starts_with("the builder VM did not finish setup"), "{error}");
    assert!(gce.images().is_empty());
    assert!(gce.instances().is_empty(), "the failed builder is deleted");
}

#[tokio::test]
async fn check_says_what_works_and_what_does_not() {
    let gce = FakeGce::start(quick()).await.unwrap();
    let backend = backend(&gce, |_| {}).await;
    let checks = backend.check().await;
    assert_eq!(checks.len(), 3, "two zones and the image");
    assert!(checks[..2].iter().all(|c| c.outcome.is_ok()), "{checks:?}");
    assert_eq!(checks[2].outcome, Err("not found".to_owned()), "the image does not exist yet");
    let image = backend.build_image("projects/debian-cloud/global/images/debian-12", "v1").await.unwrap();
    let built = backend_with_image(&gce, &image).await;
    assert!(built.check().await.iter().all(|c| c.outcome.is_ok()));
    gce.revoke_tokens();
    assert!(built.check().await.iter().all(|c| c.outcome.as_ref().is_err_and(|e| e.contains("credentials"))));
}

async fn backend_with_image(gce: &FakeGce, image: &str) -> GceBackend {
    let image = image.to_owned();
    backend(gce, move |s| s.image = image).await
}
