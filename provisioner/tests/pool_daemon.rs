//! The daemon of a pool VM (`nova-office pool`): unassigned until Nova, with the VM's
//! assignment token, gives it an office; then Nova hands it the office's snapshot, it
//! serves the office, and it answers Nova's `/snapshot` with the workspace's archive.
//! The VM holds no storage credential: Nova moves the archives.

use provisioner::protocol::{Assignment, Health, SNAPSHOT_FILES_HEADER};
use provisioner::snapshot::{Snapshots, archive};
use tokio::io::AsyncBufReadExt as _;

const ASSIGN_TOKEN: &str = "assign-me-4f1c";
const OFFICE_TOKEN: &str = "hsk_maker.hss_secret";

struct PoolVm {
    url: String,
    workspace: std::path::PathBuf,
    _process: tokio::process::Child,
}

async fn boot(dir: &std::path::Path) -> PoolVm {
    let workspace = dir.join("vm/workspace");
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nova-office"))
        .args(["pool", "--listen", "127.0.0.1:0", "--exit-with-stdin", "--workspace"])
        .arg(&workspace)
        .env("NOVA_ASSIGN_TOKEN", ASSIGN_TOKEN)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
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

fn assignment(generation: i64) -> Assignment {
    Assignment {
        office: "maker".into(),
        generation,
        nova_url: "http://127.0.0.1:9".into(),
        token: OFFICE_TOKEN.into(),
        compression: 3,
    }
}

/// The bytes of an archive of `dir` as office `office` generation 1.
fn archived(dir: &std::path::Path, office: &str) -> Vec<u8> {
    use std::io::Read as _;
    let mut made = archive(dir, office, 1, 3, u64::MAX).unwrap();
    let mut bytes = Vec::new();
    made.file.read_to_end(&mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn a_pool_vm_takes_an_office_only_from_nova_restores_it_and_snapshots_it() {
    let dir = tempfile::tempdir().unwrap();
    // The office's previous generation left a snapshot.
    let earlier = dir.path().join("earlier");
    std::fs::create_dir_all(earlier.join("notes")).unwrap();
    std::fs::write(earlier.join("notes/plan.md"), "ship it").unwrap();
    let previous = archived(&earlier, "maker");

    let vm = boot(dir.path()).await;
    let http = reqwest::Client::new();
    let health: Health = http.get(format!("{}/healthz", vm.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!((health.office.as_str(), health.generation), ("", 0), "unassigned");
    let run = |id: &str| {
        let body = serde_json::json!({
            "run_id": id, "prompt": "p", "author": "a", "thread_id": "t",
            "runtime": {"command": ["true"], "timeout_secs": 5}
        });
        http.post(format!("{}/runs", vm.url)).bearer_auth(OFFICE_TOKEN).json(&body).send()
    };
    assert_eq!(run("r0").await.unwrap().status(), 409, "no office, no runs");

    let assign = |token: &'static str, body: Assignment| {
        http.post(format!("{}/assign", vm.url)).bearer_auth(token).json(&body).send()
    };
    let forged = assign("guess", assignment(2)).await.unwrap();
    assert_eq!(forged.status(), 401);
    let taken = assign(ASSIGN_TOKEN, assignment(2)).await.unwrap();
    assert_eq!(taken.status(), 200);
    let health: Health = taken.json().await.unwrap();
    assert_eq!((health.office.as_str(), health.generation), ("maker", 2));
    let again = assign(ASSIGN_TOKEN, assignment(2)).await.unwrap();
    assert_eq!(again.status(), 200, "a retried assignment is answered as the first");
    let other = assign(ASSIGN_TOKEN, assignment(3)).await.unwrap();
    assert_eq!(other.status(), 409);
    assert!(other.text().await.unwrap().contains("already serves maker generation 2"));

    // Nova hands it the workspace: only with the office's token, only the office's own.
    let restore = |token: &'static str, body: Vec<u8>| {
        http.post(format!("{}/restore", vm.url)).bearer_auth(token).body(body).send()
    };
    assert_eq!(restore(ASSIGN_TOKEN, previous.clone()).await.unwrap().status(), 401);
    let foreign = restore(OFFICE_TOKEN, archived(&earlier, "analyst")).await.unwrap();
    assert_eq!(foreign.status(), 422);
    assert!(foreign.text().await.unwrap().contains("belongs to office `analyst`"));
    assert!(!vm.workspace.join("notes").exists(), "a refused archive changes nothing");
    // Unpacked as it arrives: one that ends early is refused, and nothing of it stays.
    let cut = restore(OFFICE_TOKEN, previous[..previous.len() / 2].to_vec()).await.unwrap();
    assert_eq!(cut.status(), 422);
    assert!(!vm.workspace.join("notes").exists(), "a cut archive changes nothing");
    assert_eq!(restore(OFFICE_TOKEN, previous.clone()).await.unwrap().status(), 204);
    assert_eq!(std::fs::read_to_string(vm.workspace.join("notes/plan.md")).unwrap(), "ship it");

    // Once the office works, a late restore could roll its work back: refused.
    assert_eq!(run("r1").await.unwrap().status(), 202);
    assert_eq!(restore(OFFICE_TOKEN, previous).await.unwrap().status(), 409);

    // Sleep: the answer is the workspace's archive; no more runs.
    std::fs::write(vm.workspace.join("notes/today.md"), "cart totals").unwrap();
    let refused = http.post(format!("{}/snapshot", vm.url)).bearer_auth("hsk_other.hss_x").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // Nova's assignment token will do too: a Nova that restarted has only that one.
    let taken = http.post(format!("{}/snapshot", vm.url)).bearer_auth(ASSIGN_TOKEN).send().await.unwrap();
    assert_eq!(taken.status(), 200);
    assert_eq!(taken.headers()[SNAPSHOT_FILES_HEADER], "2");
    let bytes = taken.bytes().await.unwrap();
    assert_eq!(run("r2").await.unwrap().status(), 409, "a snapshotted office takes no more runs");

    let store = std::sync::Arc::new(object_store::memory::InMemory::new());
    let snapshots = Snapshots::new(store.clone(), 3);
    let key = Snapshots::key("maker", 2);
    object_store::ObjectStoreExt::put(&*store, &key.as_str().into(), bytes.to_vec().into()).await.unwrap();
    let restored = dir.path().join("restored");
    snapshots.restore(&key, "maker", &restored).await.unwrap();
    assert_eq!(std::fs::read_to_string(restored.join("notes/today.md")).unwrap(), "cart totals");
}
