//! Offices asking people: approvals before consequential actions, credentials they lack.

use std::time::Duration;

use orchestrator::config::{ApprovalPolicy, Config};
use orchestrator::engine::MessageView;
use orchestrator::texts::Card;
use serde_json::json;

use crate::harness::Nova;

/// A runtime that asks before dropping a table and reports what it was told.
const DROP_TABLE: &str = r#"
echo "about to drop legacy_orders"
$NOVA_OFFICE_CLI request-approval --kind destructive --action "drop the table legacy_orders" --risk high --details "No reads in 90 days."
code=$?
if [ $code -eq 0 ]; then
  echo '{"type":"result","text":"dropped legacy_orders"}'
else
  echo "{\"type\":\"result\",\"text\":\"did not drop legacy_orders (exit $code)\"}"
fi
"#;

fn with_approvals(expires: Duration) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.roles.insert("dba".into(), vec!["carol".into(), "dave".into()]);
        config.approvals.push(ApprovalPolicy { kind: "destructive".into(), approvers: vec!["dba".into()], expires, over_usd: None });
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), DROP_TABLE.into()];
    }
}

async fn approval_card(nova: &mut Nova, thread: &str) -> MessageView {
    nova.eventually("an approval card", async |nova: &Nova| {
        nova.messages(thread).await.into_iter().find(|m| matches!(m.card, Some(Card::Approval { .. })))
    })
    .await
}

async fn click(nova: &Nova, thread: &str, card: i64, user: &str, action: &str) -> (u16, serde_json::Value) {
    let body = json!({"thread_id": thread, "message_id": card, "author": user, "action": action, "client_id": uuid::Uuid::new_v4().to_string()});
    nova.post_json("/api/console/actions", &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asks_before_dropping_a_table_and_only_an_approver_can_say_yes() {
    let mut nova = Nova::start_with(with_approvals(Duration::from_secs(600))).await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table, nobody uses it").await;
    let card = approval_card(&mut nova, &thread).await;
    assert!(card.body.contains("asks for approval to **drop the table legacy_orders** (destructive, risk: high)"), "{}", card.body);
    let (_, pending) = nova.get_json("/api/approvals").await;
    assert_eq!(pending.as_array().unwrap().len(), 1);

    let (status, refusal) = click(&nova, &thread, card.id, "mallory", "approve").await;
    assert_eq!((status, refusal["error"].as_str().unwrap()), (403, "mallory may not decide this; it needs one of: carol, dave"));
    let (status, refusal) = click(&nova, &thread, card.id, "alice", "approve").await;
    assert_eq!((status, refusal["error"].as_str().unwrap()), (403, "alice asked for this work, so someone else has to approve it"));
    let (status, _) = click(&nova, &thread, card.id, "carol", "approve").await;
    assert_eq!(status, 200);

    let messages = nova.results(&thread, 1).await;
    assert_eq!(messages.iter().find(|m| m.kind == "result").unwrap().body, "dropped legacy_orders");
    let card = messages.iter().find(|m| m.id == card.id).unwrap();
    assert!(card.body.starts_with("Approved by carol at "), "{}", card.body);
    let Some(Card::Approval { state, decided_by, .. }) = &card.card else { panic!() };
    assert_eq!((state.as_str(), decided_by.as_deref()), ("approved", Some("carol")));

    let (status, again) = click(&nova, &thread, card.id, "dave", "reject").await;
    assert_eq!((status, again["error"].as_str().unwrap()), (409, "this approval was already approved by carol"));
    let (_, pending) = nova.get_json("/api/approvals").await;
    assert_eq!(pending, json!([]));

    let run = nova.prompts(&thread).await[0].run_id.clone();
    let (_, trail) = nova.get_json(&format!("/api/audit?run={run}")).await;
    let actions: Vec<(&str, &str)> =
        trail.as_array().unwrap().iter().map(|r| (r["actor"].as_str().unwrap(), r["action"].as_str().unwrap())).collect();
    assert_eq!(actions, [
        ("alice", "route"),
        ("nova", "dispatch"),
        ("maker", "approval_requested"),
        ("carol", "approval_decided"),
        ("maker", "result")
    ]);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_clicking_at_once_make_one_decision() {
    let mut nova = Nova::start_with(with_approvals(Duration::from_secs(600))).await;
    let thread = nova.say("eng", "alice", "@maker drop the legacy_orders table").await;
    let card = approval_card(&mut nova, &thread).await;
    let (approve, reject) =
        tokio::join!(click(&nova, &thread, card.id, "carol", "approve"), click(&nova, &thread, card.id, "dave", "reject"));
    let mut statuses = [approve.0, reject.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "exactly one click decides: {approve:?} {reject:?}");
    let messages = nova.results(&thread, 1).await;
    let result = &messages.iter().find(|m| m.kind == "result").unwrap().body;
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
    assert_eq!(messages.iter().find(|m| m.kind == "result").unwrap().body, "did not drop legacy_orders (exit 4)");
    let card = messages.iter().find(|m| matches!(m.card, Some(Card::Approval { .. }))).unwrap();
    assert!(card.body.starts_with("Expired at "), "{}", card.body);
    let (status, refusal) = click(&nova, &thread, card.id, "carol", "approve").await;
    assert_eq!((status, refusal["error"].as_str().unwrap()), (409, "this approval expired"));
    nova.finish().await;
}
