//! The daemon of a pool VM (`nova-office pool`): unassigned until Nova, with the VM's
//! assignment token, gives it an office; then it restores the office's snapshot,
//! serves it, and stores a new snapshot when asked.

use provisioner::protocol::{Assignment, Health, SnapshotStore, StoredSnapshot};
use provisioner::snapshot::Snapshots;
use testkit::gcs::FakeGcs;
use tokio::io::AsyncBufReadExt as _;

const ASSIGN_TOKEN: &str = "assign-me-4f1c";
const OFFICE_TOKEN: &str = "hsk_maker.hss_secret";

struct PoolVm {
    url: String,
    workspace: std::path::PathBuf,
    _process: tokio::process::Child,
}

async fn boot(dir: &std::path::Path, key_file: &std::path::Path) -> PoolVm {
    let workspace = dir.join("vm/workspace");
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nova-office"))
        .args(["pool", "--listen", "127.0.0.1:0", "--exit-with-stdin", "--workspace"])
        .arg(&workspace)
        .env("NOVA_ASSIGN_TOKEN", ASSIGN_TOKEN)
        .env("GOOGLE_APPLICATION_CREDENTIALS", key_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let address = first.strip_prefix(provisioner::protocol::LISTENING_PREFIX).unwrap().trim().to_owned();
    PoolVm { url: format!("http://{address}"), workspace, _process: process }
}

fn assignment(gcs: &FakeGcs, generation: i64, restore: Option<String>) -> Assignment {
    Assignment {
        office: "maker".into(),
        generation,
        nova_url: "http://127.0.0.1:9".into(),
        token: OFFICE_TOKEN.into(),
        snapshots: SnapshotStore {
            url: "gs://nova-snapshots/acme".into(),
            api_url: Some(gcs.api_url.clone()),
            compression: 3,
        },
        restore,
    }
}

#[tokio::test]
async fn a_pool_vm_takes_an_office_only_from_nova_restores_it_and_snapshots_it() {
    let gcs = FakeGcs::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sa.json");
    std::fs::write(&key_file, gcs.service_account_json()).unwrap();
    // The office's previous generation left a snapshot.
    let earlier = dir.path().join("earlier");
    std::fs::create_dir_all(earlier.join("notes")).unwrap();
    std::fs::write(earlier.join("notes/plan.md"), "ship it").unwrap();
    let snapshots =
        Snapshots::cloud_storage("gs://nova-snapshots/acme", Some(&gcs.api_url), Some(&key_file), 3).unwrap();
    let previous = snapshots.save("maker", 1, &earlier).await.unwrap();

    let vm = boot(dir.path(), &key_file).await;
    let http = reqwest::Client::new();
    let health: Health = http.get(format!("{}/healthz", vm.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!((health.office.as_str(), health.generation), ("", 0), "unassigned");
    let run = || {
        let body = serde_json::json!({
            "run_id": "r1", "prompt": "p", "author": "a", "thread_id": "t",
            "runtime": {"command": ["true"], "timeout_secs": 5}
        });
        http.post(format!("{}/runs", vm.url)).bearer_auth(OFFICE_TOKEN).json(&body).send()
    };
    assert_eq!(run().await.unwrap().status(), 409, "no office, no runs");

    let assign = |token: &'static str, body: Assignment| {
        http.post(format!("{}/assign", vm.url)).bearer_auth(token).json(&body).send()
    };
    let forged = assign("guess", assignment(&gcs, 2, Some(previous.key.clone()))).await.unwrap();
    assert_eq!(forged.status(), 401);
    assert!(!vm.workspace.join("notes").exists(), "a refused assignment changes nothing");

    let taken = assign(ASSIGN_TOKEN, assignment(&gcs, 2, Some(previous.key.clone()))).await.unwrap();
    assert_eq!(taken.status(), 200);
    let health: Health = taken.json().await.unwrap();
    assert_eq!((health.office.as_str(), health.generation), ("maker", 2));
    assert_eq!(std::fs::read_to_string(vm.workspace.join("notes/plan.md")).unwrap(), "ship it");
    let again = assign(ASSIGN_TOKEN, assignment(&gcs, 2, Some(previous.key.clone()))).await.unwrap();
    assert_eq!(again.status(), 200, "a retried assignment is answered as the first");
    let other = assign(ASSIGN_TOKEN, assignment(&gcs, 3, None)).await.unwrap();
    assert_eq!(other.status(), 409);
    assert!(other.text().await.unwrap().contains("already serves maker generation 2"));

    // Sleep: the workspace goes to the bucket under this generation's key; no more runs.
    std::fs::write(vm.workspace.join("notes/today.md"), "cart totals").unwrap();
    let refused = http.post(format!("{}/snapshot", vm.url)).bearer_auth("hsk_other.hss_x").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // Nova's assignment token will do too: a Nova that restarted has only that one.
    let stored: StoredSnapshot =
        http.post(format!("{}/snapshot", vm.url)).bearer_auth(ASSIGN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored.key, "offices/maker/000000000002.tar.zst");
    assert!(gcs.objects("nova-snapshots").contains_key(&format!("acme/{}", stored.key)));
    assert_eq!(run().await.unwrap().status(), 409, "a snapshotted office takes no more runs");

    let restored = dir.path().join("restored");
    snapshots.restore(&stored.key, "maker", &restored).await.unwrap();
    assert_eq!(std::fs::read_to_string(restored.join("notes/today.md")).unwrap(), "cart totals");
}
