//! Offices asking people: approvals before consequential actions, credentials they lack.

use std::time::Duration;

use orchestrator::config::{ApprovalPolicy, Config};
use orchestrator::store::MessageKind;
use orchestrator::texts::Card;
use serde_json::json;

use crate::harness::Nova;

/// A runtime that asks before dropping a table and reports what it was told.
const DROP_TABLE: &str = r#"
echo "about to drop legacy_orders"
"$NOVA_OFFICE_CLI" request-approval --kind destructive --action "drop the table legacy_orders" --risk high --details "No reads in 90 days."
code=$?
if [ $code -eq 0 ]; then
  echo '{"type":"result","text":"dropped legacy_orders"}'
else
  echo "{\"type\":\"result\",\"text\":\"did not drop legacy_orders (exit $code)\"}"
fi
"#;

pub fn with_approvals(expires: Duration) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.roles.insert("dba".into(), vec!["carol".into(), "dave".into()]);
        config.approvals.push(ApprovalPolicy {
            kind: "destructive".into(),
            approvers: vec!["dba".into()],
            expires,
            over_usd: None,
        });
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), DROP_TABLE.into()];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asks_before_dropping_a_table_and_only_an_approver_can_say_yes() {
    let mut nova = Nova::start_with(with_approvals(Duration::from_secs(600))).await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table, nobody uses it").await;
    let card = nova.approval_card(&thread).await;
    assert!(
        card.body.contains("asks for approval to **drop the table legacy_orders** (destructive, risk: high)"),
        "{}",
        card.body
    );
    let (_, pending) = nova.get_json("/api/approvals").await;
    assert_eq!(pending.as_array().unwrap().len(), 1);

    let (status, refusal) = nova.click(&thread, card.id, "mallory", "approve").await;
    assert_eq!(
        (status, refusal["error"].as_str().unwrap()),
        (403, "mallory may not decide this; it needs one of: carol, dave")
    );
    let (status, refusal) = nova.click(&thread, card.id, "alice", "approve").await;
    assert_eq!(
        (status, refusal["error"].as_str().unwrap()),
        (403, "alice asked for this work, so someone else has to approve it")
    );
    let (status, _) = nova.click(&thread, card.id, "carol", "approve").await;
    assert_eq!(status, 200);

    let messages = nova.results(&thread, 1).await;
    assert_eq!(messages.iter().find(|m| m.kind == MessageKind::Result).unwrap().body, "dropped legacy_orders");
    let card = messages.iter().find(|m| m.id == card.id).unwrap();
    assert!(card.body.starts_with("Approved by carol at "), "{}", card.body);
    let Some(Card::Approval { state, decided_by, .. }) = &card.card else { panic!() };
    assert_eq!((state.as_str(), decided_by.as_deref()), ("approved", Some("carol")));

    let (status, again) = nova.click(&thread, card.id, "dave", "reject").await;
    assert_eq!((status, again["error"].as_str().unwrap()), (409, "this approval was already approved by carol"));
    let (_, pending) = nova.get_json("/api/approvals").await;
    assert_eq!(pending, json!([]));

    let run = nova.prompts(&thread).await[0].run_id.clone();
    let (_, trail) = nova.get_json(&format!("/api/audit?run={run}")).await;
    let actions: Vec<(&str, &str)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["actor"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("alice", "route"),
            ("nova", "dispatch"),
            ("maker", "approval_requested"),
            ("carol", "approval_decided"),
            ("maker", "result")
        ]
    );
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_clicking_at_once_make_one_decision() {
    let mut nova = Nova::start_with(with_approvals(Duration::from_secs(600))).await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table").await;
    let card = nova.approval_card(&thread).await;
    let (approve, reject) =
        tokio::join!(nova.click(&thread, card.id, "carol", "approve"), nova.click(&thread, card.id, "dave", "reject"));
    let mut statuses = [approve.0, reject.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "exactly one click decides: {approve:?} {reject:?}");
    let messages = nova.results(&thread, 1).await;
    let result = &messages.iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    if approve.0 == 200 {
        assert_eq!(result, "dropped legacy_orders");
        assert_eq!(reject.1["error"], "this approval was already approved by carol");
    } else {
        assert_eq!(result, "did not drop legacy_orders (exit 3)");
        assert_eq!(approve.1["error"], "this approval was already rejected by dave");
    }
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_nobody_decides_expires_and_the_office_is_told() {
    let mut nova = Nova::start_with(with_approvals(Duration::from_millis(300))).await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table").await;
    let messages = nova.results(&thread, 1).await;
    assert_eq!(
        messages.iter().find(|m| m.kind == MessageKind::Result).unwrap().body,
        "did not drop legacy_orders (exit 4)"
    );
    let card = messages.iter().find(|m| matches!(m.card, Some(Card::Approval { .. }))).unwrap();
    assert!(card.body.starts_with("Expired at "), "{}", card.body);
    let (status, refusal) = nova.click(&thread, card.id, "carol", "approve").await;
    assert_eq!((status, refusal["error"].as_str().unwrap()), (409, "this approval expired"));
    nova.finish().await;
}

/// A runtime that needs a model API key: asks for it, then calls the API through the
/// office's secrets proxy (and tries a host that is not configured). Plain bash: the
/// agent has nothing but its environment, which holds no secret.
const CALL_MODEL: &str = r#"
$NOVA_OFFICE_CLI request-credential --name llm_key --why "to call the model API for this task" || exit 5
base=${NOVA_PROXY#http://}; hostport=${base%%/*}; proxy=/${base#*/}
get() {
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$proxy$1" "$hostport" >&3
  head -n 1 <&3 | tr -d '\r' | cut -d' ' -f2-
  exec 3<&-
}
env > env.txt
echo "llm: $(get /llm/models)"
echo "evil: $(get /evil/steal)"
echo "redirect: $(get /llm/redirect)"
echo "climb: $(get /llm/..%2Fadmin)"
echo '{"type":"result","text":"called the model API"}'
"#;

/// A stand-in model API under `/v1` that accepts exactly one key and records the
/// `Authorization` it saw on `/v1/models`, plus every path outside `/v1` anyone reached
/// (`/v1/redirect` sends the caller to `/elsewhere` with a 302).
struct Upstream {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    outside: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

async fn upstream(expected: String) -> Upstream {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let outside = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let strays = outside.clone();
    let app = axum::Router::new()
        .route(
            "/v1/models",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let (recorded, expected) = (recorded.clone(), expected.clone());
                async move {
                    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    recorded.lock().unwrap().push(given.clone());
                    if given == format!("Bearer {expected}") {
                        (axum::http::StatusCode::OK, axum::Json(json!({"data": [{"id": "small"}]})))
                    } else {
                        (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid api key"})))
                    }
                }
            }),
        )
        .route(
            "/v1/redirect",
            axum::routing::get(|| async { (axum::http::StatusCode::FOUND, [("location", "/elsewhere")]) }),
        )
        .fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let strays = strays.clone();
            async move {
                let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                strays.lock().unwrap().push((uri.path().to_owned(), given));
                "outside the API"
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { url, seen, outside }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_is_provided_privately_and_used_through_the_proxy_without_the_agent_seeing_it() {
    let secret = format!("sk-live-{}", uuid::Uuid::new_v4().simple());
    let Upstream { url: upstream_url, seen, outside } = upstream(secret.clone()).await;
    let mut nova = Nova::start_with(|config| {
        config.upstreams.push(provisioner::protocol::Upstream {
            name: "llm".into(),
            url: upstream_url,
            header: "Authorization".into(),
            value: "Bearer {secret}".into(),
            secret: Some("llm_key".into()),
        });
        config.offices[0].runtime.as_mut().unwrap().command = vec!["bash".into(), "-c".into(), CALL_MODEL.into()];
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker summarize the open bugs with the model").await;
    let card = nova
        .eventually("a credential card", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| matches!(m.card, Some(Card::Credential { .. })))
        })
        .await;
    let Some(Card::Credential { id, .. }) = &card.card else { unreachable!() };
    assert!(
        card.body.contains("needs the credential **llm_key**: to call the model API for this task"),
        "{}",
        card.body
    );

    let provide = |value: &str| json!({"request_id": id, "author": "alice", "value": value});
    let (status, _) = nova.post_json("/api/console/credentials", &provide("   ")).await;
    assert_eq!(status, 400, "an empty value is refused");
    let (status, _) = nova.post_json("/api/console/credentials", &provide(&secret)).await;
    assert_eq!(status, 204);
    let (status, again) = nova.post_json("/api/console/credentials", &provide("sk-other")).await;
    assert_eq!((status, again["error"].as_str().unwrap()), (409, "`llm_key` was already provided by alice"));

    let messages = nova.results(&thread, 1).await;
    let progress = messages.iter().find(|m| m.kind == MessageKind::Progress).unwrap();
    assert!(progress.body.contains("> llm: 200 OK"), "{}", progress.body);
    assert!(progress.body.contains("> evil: 403 Forbidden"), "{}", progress.body);
    assert_eq!(*seen.lock().unwrap(), [format!("Bearer {secret}")], "the upstream got the key, once");
    // The proxy follows no redirect (it would carry the key elsewhere) and keeps paths
    // under the upstream's base.
    assert!(progress.body.contains("> redirect: 302 Found"), "{}", progress.body);
    assert!(progress.body.contains("> climb: 400 Bad Request"), "{}", progress.body);
    assert_eq!(*outside.lock().unwrap(), Vec::<(String, String)>::new(), "nothing outside /v1 was reached");
    let card = messages.iter().find(|m| m.id == card.id).unwrap();
    assert_eq!(card.body, "**llm_key** was provided by alice and stored in the vault; **maker** can use it now.");

    // A forged office token gets nothing.
    let forged =
        reqwest::Client::new().get(nova.url("/api/office/secrets/llm_key")).bearer_auth("forged").send().await.unwrap();
    assert_eq!(forged.status(), 401);

    // The secret is nowhere but sealed in the vault.
    let logs = crate::harness::logs();
    assert!(logs.contains("office ready office=maker"), "the logs were captured");
    let mut places: Vec<(String, String)> = vec![("logs".into(), logs)];
    for message in nova.messages(&thread).await {
        places.push((format!("message {}", message.id), serde_json::to_string(&message).unwrap()));
    }
    let (_, trail) = nova.get_json("/api/audit").await;
    places.push(("audit trail".into(), trail.to_string()));
    let store = nova.engine().store();
    for row in store.pending_inbound(1000).await.unwrap() {
        places.push(("inbound".into(), row.body));
    }
    for row in store.all_secrets().await.unwrap() {
        assert!(row.sealed.starts_with("nova1:"));
        places.push((format!("vault entry {}", row.name), row.sealed));
    }
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let environment = std::fs::read_to_string(workspace.join("env.txt")).unwrap();
    assert!(environment.contains("NOVA_PROXY=http://127.0.0.1:"), "the agent ran with the proxy in its environment");
    places.push(("the agent's environment".into(), environment));
    for entry in walk(nova.data_dir.path()) {
        // A file can go between the listing and the read (SQLite's shared-memory file, a
        // run's scratch file): what is gone holds nothing any more.
        let bytes = match std::fs::read(&entry) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            read => read.unwrap(),
        };
        places.push((entry.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    if let Some(path) = nova.database_url().strip_prefix("sqlite://").and_then(|p| p.split('?').next()) {
        // WAL mode: recent writes are in the -wal file until a checkpoint.
        let mut database = std::fs::read(path).unwrap();
        database.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let database = String::from_utf8_lossy(&database).into_owned();
        assert!(database.contains("nova1:"), "the database files hold the sealed value");
        places.push(("the SQLite files".to_owned(), database));
    }
    for (place, text) in &places {
        assert!(!text.contains(&secret), "the secret leaked into {place}");
    }
    assert!(places.len() > 10);
    nova.finish().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Asks once, then kills its own office daemon the first time; the re-run asks again.
const ASK_THEN_CRASH_ONCE: &str = r#"
$NOVA_OFFICE_CLI request-approval --kind destructive --action "drop the table legacy_orders" --risk high >> answers.txt
if [ ! -f crashed-once ]; then touch crashed-once; kill -9 $PPID; sleep 5; fi
echo "{\"type\":\"result\",\"text\":\"answers: $(tr '\n' ' ' < answers.txt)\"}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_survives_the_office_being_lost_while_it_waits() {
    let mut nova = Nova::start_with(|config| {
        with_approvals(Duration::from_secs(600))(config);
        let runtime = config.offices[0].runtime.as_mut().unwrap();
        runtime.command = vec!["sh".into(), "-c".into(), ASK_THEN_CRASH_ONCE.into()];
        // Signalling the daemon is what the sandbox forbids (trust.rs); this runtime
        // plays the machine dying, so it runs unconfined.
        runtime.sandbox.enabled = false;
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table").await;
    let card = nova.approval_card(&thread).await;
    let (status, _) = nova.click(&thread, card.id, "carol", "approve").await;
    assert_eq!(status, 200);
    let messages = nova.results(&thread, 1).await;
    let result = &messages.iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    assert_eq!(result, "answers: approved by carol approved by carol ", "the re-run found the same decision");
    let cards = messages.iter().filter(|m| matches!(m.card, Some(Card::Approval { .. }))).count();
    assert_eq!(cards, 1, "no second approval card");
    nova.finish().await;
}
