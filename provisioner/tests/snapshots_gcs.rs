//! Workspace snapshots in Cloud Storage, through object_store's real GCS client and
//! the stand-in.

use provisioner::snapshot::Snapshots;
use testkit::gcs::FakeGcs;

#[tokio::test]
async fn a_workspace_goes_to_a_bucket_and_comes_back() {
    let gcs = FakeGcs::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sa.json");
    std::fs::write(&key_file, gcs.service_account_json()).unwrap();
    let snapshots =
        Snapshots::cloud_storage("gs://nova-snapshots/acme", Some(&gcs.api_url), Some(&key_file), 3).unwrap();
    let workspace = dir.path().join("ws");
    std::fs::create_dir_all(workspace.join("notes")).unwrap();
    std::fs::write(workspace.join("notes/plan.md"), "ship it").unwrap();

    let info = snapshots.save("maker", 4, &workspace).await.unwrap();
    let stored = gcs.objects("nova-snapshots");
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["acme/offices/maker/000000000004.tar.zst"]);
    assert_eq!(stored.values().next().unwrap().bytes.len() as u64, info.bytes, "verified after upload");

    std::fs::remove_dir_all(&workspace).unwrap();
    let manifest = snapshots.restore(&info.key, "maker", &workspace).await.unwrap();
    assert_eq!(manifest.generation, 4);
    assert_eq!(std::fs::read_to_string(workspace.join("notes/plan.md")).unwrap(), "ship it");
}

#[tokio::test]
async fn an_outage_fails_the_snapshot_loudly_and_bad_urls_are_named() {
    let gcs = FakeGcs::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sa.json");
    std::fs::write(&key_file, gcs.service_account_json()).unwrap();
    let snapshots = Snapshots::cloud_storage("gs://nova-snapshots", Some(&gcs.api_url), Some(&key_file), 3).unwrap();
    gcs.fail_writes(100);
    let error = snapshots.save("maker", 1, dir.path()).await.unwrap_err();
    assert!(format!("{error:#}").starts_with("cannot upload snapshot offices/maker/000000000001.tar.zst"), "{error:#}");
    assert!(gcs.objects("nova-snapshots").is_empty());
    let error = Snapshots::cloud_storage("s3://elsewhere", None, None, 3).err().unwrap();
    assert_eq!(error.to_string(), "`s3://elsewhere` is not a gs://bucket/prefix URL");
}
