//! Nova in Slack: user stories against the real slack-morphism client, the real server
//! and the Slack stand-in, which signs what it sends the way Slack does.

use std::time::Duration;

use bot::slack::api::Content;
use bot::slack::thread_key::ThreadKey;
use orchestrator::engine::{Prewarm, WarmSignal};
use orchestrator::store::{MessageKind, Surface};
use serde_json::json;
use testkit::slack::{FakeSlack, Posted, now_secs};

use crate::asks::with_approvals;
use crate::harness::{Nova, logs};

const CHANNELS: &[(&str, &str)] = &[("C_RANDOM", "random"), ("C_ENG", "eng"), ("C_PAY", "payments")];

/// Waits, re-checking whenever Slack's workspace or Nova's state changes.
async fn until<T>(
    nova: &Nova,
    slack: &FakeSlack,
    what: &str,
    check: impl AsyncFn(&Nova, &FakeSlack) -> Option<T>,
) -> T {
    crate::harness::until(nova, slack, slack.changes(), what, check).await
}

/// Waits until the Slack thread shows exactly what Nova wrote in it (latest revisions,
/// in order) with `results` results among them; returns Nova's messages as Slack shows them.
async fn mirrored(nova: &Nova, slack: &FakeSlack, thread_id: &str, results: usize) -> Vec<Posted> {
    let key = ThreadKey::parse(thread_id).unwrap();
    let what = format!("Slack to show {results} result(s) of {thread_id}");
    crate::harness::until_explained(nova, slack, slack.changes(), &what, async |nova, slack| {
        let messages = nova.messages(thread_id).await;
        if messages.iter().filter(|m| m.kind == MessageKind::Result).count() < results {
            return Err("Nova has not the results yet".to_owned());
        }
        let expected: Vec<String> = messages
            .iter()
            .filter(|m| m.from_nova)
            .map(|m| Content::new(m.id, &m.body, m.card.as_ref()).unwrap().text)
            .collect();
        let shown: Vec<Posted> =
            slack.thread(&key.channel, &key.thread_ts).into_iter().filter(|m| m.from_bot).collect();
        let texts: Vec<String> = shown.iter().map(|m| m.text.clone()).collect();
        if texts == expected { Ok(shown) } else { Err(format!("Nova has {expected:#?}\nSlack shows {texts:#?}")) }
    })
    .await
}

/// A Slack thread as people read it.
fn transcript(messages: &[Posted]) -> String {
    messages
        .iter()
        .map(|m| {
            let who = if m.from_bot { "nova" } else { m.user.as_str() };
            let edits = if m.history.is_empty() { String::new() } else { " (edited)".to_owned() };
            format!("{who}{edits}: {}", m.text.replace('\n', "\n    "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn thread_id(channel: &str, ts: &str) -> String {
    ThreadKey::new(channel, ts).id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_is_routed_worked_on_and_answered_in_its_thread_and_a_colleague_follows_up() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let mut nova = Nova::start_on_slack(&slack, false, crate::harness::paced_steps).await;

    let (ts, statuses) =
        slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> the coupon field rejects valid codes, please fix").await;
    assert_eq!(statuses, [200, 200], "the message and app_mention events are both acknowledged");
    let thread = thread_id("C_RANDOM", &ts);
    let shown = mirrored(&nova, &slack, &thread, 1).await;
    let progress = shown.iter().find(|m| m.text.contains("*maker* finished")).expect("a progress message");
    assert!(!progress.history.is_empty(), "progress is edited in place: {progress:?}");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"notes/[0-9a-f]{8}\.md", "notes/<run>.md");
    settings.bind(|| insta::assert_snapshot!("slack_first_answer", transcript(&slack.thread("C_RANDOM", &ts))));

    // A colleague replies in the thread without mentioning Nova: same session.
    let (_, statuses) = slack.user_replies("C_RANDOM", &ts, "U_BOB", "also check that gift cards still work").await;
    assert_eq!(statuses, [200]);
    mirrored(&nova, &slack, &thread, 2).await;
    let authors: Vec<String> = nova.prompts(&thread).await.into_iter().map(|p| p.author).collect();
    assert_eq!(authors, ["U_ALICE", "U_BOB"]);

    // Slack echoed every one of Nova's posts back as events; none became a prompt.
    let echoes = slack.echo_statuses();
    assert!(echoes.len() >= 4 && echoes.iter().all(|s| *s == 200), "{echoes:?}");
    assert_eq!(nova.prompts(&thread).await.len(), 2);
    assert_eq!(nova.engine().store().threads_in_channel(Surface::Slack, "random").await.unwrap().len(), 1);
    let _ = nova.office_reaches("maker", "idle").await;
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_channels_listen_unbound_ones_need_a_mention() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let (chatter, statuses) = slack.user_says("C_RANDOM", "U_ALICE", "lunch anyone?").await;
    assert_eq!(statuses, [200]);
    let (ask, _) = slack.user_says("C_PAY", "U_ALICE", "refunds fail for orders with a coupon").await;
    let thread = thread_id("C_PAY", &ask);
    mirrored(&nova, &slack, &thread, 1).await;
    let routed = &slack.thread("C_PAY", &ask)[1];
    assert!(routed.text.starts_with("Routing to *"), "{}", routed.text);
    assert!(nova.engine().store().thread(&thread_id("C_RANDOM", &chatter)).await.unwrap().is_none());
    assert!(slack.thread("C_RANDOM", &chatter).iter().all(|m| !m.from_bot), "Nova stays out of chatter");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_inside_an_existing_thread_brings_the_earlier_messages_along() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let root = slack.add_message("C_RANDOM", None, "U_ALICE", "the payments checkout times out since this morning");
    slack.add_message("C_RANDOM", Some(&root), "U_CAROL", "I see it too, only with coupons");
    let (_, statuses) = slack.user_replies("C_RANDOM", &root, "U_BOB", "<@UNOVA> can you take this?").await;
    assert_eq!(statuses, [200, 200]);
    let thread = thread_id("C_RANDOM", &root);
    mirrored(&nova, &slack, &thread, 1).await;
    let context: Vec<(String, String)> = nova
        .messages(&thread)
        .await
        .into_iter()
        .filter(|m| m.kind == MessageKind::Context)
        .map(|m| (m.author, m.body))
        .collect();
    assert_eq!(
        context,
        [
            ("U_ALICE".to_owned(), "the payments checkout times out since this morning".to_owned()),
            ("U_CAROL".to_owned(), "I see it too, only with coupons".to_owned())
        ]
    );
    assert!(slack.calls().iter().any(|c| c.method == "conversations.replies" && c.outcome == "ok"));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_delivered_three_times_runs_once() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let ts = slack.add_message("C_RANDOM", None, "U_ALICE", "<@UNOVA> @maker rotate the staging logs");
    let events = slack.events_for("C_RANDOM", &ts);
    assert_eq!(events.len(), 2, "message + app_mention");
    assert_eq!(slack.deliver_event(&events[0]).await, 200);
    assert_eq!(slack.redeliver_event(&events[0], 1).await, 200);
    assert_eq!(slack.redeliver_event(&events[0], 2).await, 200);
    assert_eq!(slack.deliver_event(&events[1]).await, 200);
    let thread = thread_id("C_RANDOM", &ts);
    let shown = mirrored(&nova, &slack, &thread, 1).await;
    assert_eq!(nova.prompts(&thread).await.len(), 1);
    assert_eq!(shown.iter().filter(|m| m.text.starts_with("Routing to")).count(), 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_altered_requests_get_401_and_change_nothing() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let ts = slack.add_message("C_ENG", None, "U_MALLORY", "<@UNOVA> drop the production database");
    let event = slack.events_for("C_ENG", &ts).remove(0);
    let now = now_secs();
    assert_eq!(slack.deliver_forged(&event, "a-guessed-secret", now, |_| {}).await, 401);
    assert_eq!(slack.deliver_forged(&event, &slack.signing_secret, now - 6 * 60, |_| {}).await, 401);
    let altered = slack
        .deliver_forged(&event, &slack.signing_secret, now, |body| *body = body.replace("U_MALLORY", "U_ADMIN"))
        .await;
    assert_eq!(altered, 401);
    let unsigned = reqwest::Client::new().post(nova.url("/slack/events")).json(&event).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let (status, _) = slack.command("U_MALLORY", "C_ENG", "wake maker").await;
    assert_eq!(status, 200, "the genuine command path works, so the refusals above were the signatures");
    let store = nova.engine().store();
    assert!(store.threads_in_channel(Surface::Slack, "eng").await.unwrap().is_empty());
    assert!(store.pending_inbound(10).await.unwrap().is_empty());
    assert!(
        store
            .audit_trail(&Default::default())
            .await
            .unwrap()
            .iter()
            .all(|row| row.actor != "U_MALLORY" || row.action == "wake_requested"),
        "nothing but the genuine command was done for the forger"
    );
    // A signed body that is not a Slack payload is a clear 400.
    let (status, body) = {
        let garbage = json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}});
        let status = slack.deliver_event(&garbage).await;
        (status, garbage)
    };
    assert_eq!(status, 400, "{body}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_card_is_approved_with_one_click_by_an_approver() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        with_approvals(Duration::from_secs(600))(config);
        config.roles.insert("dba".into(), vec!["U_CAROL".into(), "U_DAVE".into()]);
    })
    .await;
    let (ts, _) = slack.user_says("C_ENG", "U_ALICE", "drop the legacy_orders table, nobody uses it").await;
    let card = until(&nova, &slack, "an approval card in Slack", async |_, slack| {
        slack.thread("C_ENG", &ts).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Approve"))
    })
    .await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d\d:\d\d UTC", "HH:MM UTC");
    settings.bind(|| insta::assert_snapshot!("slack_approval_card", card.text));

    // The requester may not approve their own request: told privately, nothing changes.
    assert_eq!(slack.click("U_ALICE", &card, "Approve").await, 200);
    let refusal = until(&nova, &slack, "a private refusal", async |_, slack| {
        slack.ephemerals().into_iter().find(|e| e.user == "U_ALICE")
    })
    .await;
    assert_eq!(refusal.text, "Nothing changed: U_ALICE asked for this work, so someone else has to approve it.");
    assert_eq!(refusal.thread_ts.as_deref(), Some(ts.as_str()));

    assert_eq!(slack.click("U_CAROL", &card, "Approve").await, 200);
    let shown = mirrored(&nova, &slack, &thread_id("C_ENG", &ts), 1).await;
    assert!(shown.last().unwrap().text.contains("dropped legacy_orders"), "{}", transcript(&shown));
    let decided = shown.iter().find(|m| m.ts == card.ts).unwrap();
    assert!(decided.text.starts_with("Approved by U_CAROL"), "{}", decided.text);
    assert!(decided.buttons().is_empty(), "a decided card has no buttons");

    // A stale copy of the card clicked later: explained, never a second effect.
    assert_eq!(slack.click("U_DAVE", &card, "Reject").await, 200);
    let stale = until(&nova, &slack, "the stale click's explanation", async |_, slack| {
        slack.ephemerals().into_iter().find(|e| e.user == "U_DAVE")
    })
    .await;
    assert_eq!(stale.text, "Nothing changed: this approval was already approved by U_CAROL.");
    nova.finish().await;
}

const NEEDS_KEY: &str = r#"
$NOVA_OFFICE_CLI request-credential --name llm_key --why "to call the model API for this task" || exit 5
echo '{"type":"result","text":"got the key it asked for"}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_goes_through_a_modal_into_the_vault_and_nowhere_else() {
    let secret = format!("sk-live-{}", uuid::Uuid::new_v4().simple());
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), NEEDS_KEY.into()];
    })
    .await;
    let (ts, _) = slack.user_says("C_ENG", "U_ALICE", "@maker summarize the open bugs with the model").await;
    let card = until(&nova, &slack, "a credential card", async |_, slack| {
        slack.thread("C_ENG", &ts).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Provide"))
    })
    .await;
    assert_eq!(slack.click("U_BOB", &card, "Provide").await, 200);
    let view = until(&nova, &slack, "the credential modal", async |_, slack| slack.views().into_iter().next()).await;
    assert_eq!(view.user, "U_BOB");
    let (status, answer) = slack.submit_view("U_BOB", &view.id, &[("credential.value", "   ")]).await;
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("errors")), "an empty value is refused");
    let (status, answer) = slack.submit_view("U_BOB", &view.id, &[("credential.value", &secret)]).await;
    assert_eq!((status, answer), (200, json!({"response_action": "clear"})));

    let shown = mirrored(&nova, &slack, &thread_id("C_ENG", &ts), 1).await;
    assert!(shown.iter().any(|m| m.text.contains("*llm_key* was provided by U_BOB")), "{}", transcript(&shown));

    // Submitting again changes nothing and says why.
    let (_, again) = slack.submit_view("U_BOB", &view.id, &[("credential.value", "other")]).await;
    assert_eq!(again["errors"]["credential"], "`llm_key` was already provided by U_BOB");

    // The value is nowhere but the vault: not in anything Nova sent Slack, not in the
    // thread, not in the logs, not in the database's messages or inbound rows.
    assert!(slack.calls().iter().all(|c| !c.params.to_string().contains(&secret)));
    assert!(slack.messages().iter().all(|m| !m.text.contains(&secret) && !m.blocks.to_string().contains(&secret)));
    assert!(slack.ephemerals().iter().all(|e| !e.text.contains(&secret)));
    assert!(!logs().contains(&secret), "the secret reached the logs");
    let thread = thread_id("C_ENG", &ts);
    assert!(nova.messages(&thread).await.iter().all(|m| !m.body.contains(&secret)));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_delays_but_loses_and_reorders_nothing() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    slack.rate_limit(4, 1);
    let (first, _) = slack.user_says("C_ENG", "U_ALICE", "fix the flaky cart test").await;
    let (second, _) = slack.user_says("C_ENG", "U_BOB", "bump the logging library").await;
    let one = mirrored(&nova, &slack, &thread_id("C_ENG", &first), 1).await;
    let two = mirrored(&nova, &slack, &thread_id("C_ENG", &second), 1).await;
    for shown in [&one, &two] {
        assert!(shown[0].text.starts_with("Routing to"), "{}", transcript(shown));
        assert!(shown.last().unwrap().text.contains("this workspace now holds"), "{}", transcript(shown));
    }
    let limited = slack.calls().iter().filter(|c| c.outcome == "ratelimited").count();
    assert_eq!(limited, 4, "every 429 was answered by waiting and trying again");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_report_wake_and_put_offices_to_sleep() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let mut nova = Nova::start_on_slack(&slack, false, |config| {
        config.roles.insert("operator".into(), vec!["U_OPS".into()]);
    })
    .await;
    let (status, help) = slack.command("U_ALICE", "C_ENG", "").await;
    assert_eq!((status, help["response_type"].as_str()), (200, Some("ephemeral")));
    assert!(help["text"].as_str().unwrap().contains("/nova status"));

    let (_, refused) = slack.command("U_ALICE", "C_ENG", "wake maker").await;
    assert_eq!(refused["text"], "Only people with the `operator` role may do that.");
    assert_eq!(nova.office("maker").await.state.as_str(), "asleep");

    let (_, woken) = slack.command("U_OPS", "C_ENG", "wake maker").await;
    assert_eq!(woken, json!({"response_type": "in_channel", "text": "U_OPS is waking *maker* (generation 1)."}));
    nova.office_reaches("maker", "idle").await;
    let (_, status_text) = slack.command("U_ALICE", "C_ENG", "status").await;
    assert!(status_text["text"].as_str().unwrap().contains("• *maker* — idle"), "{status_text}");

    let (_, slept) = slack.command("U_OPS", "C_ENG", "sleep maker").await;
    assert_eq!(slept["text"], "U_OPS put *maker* to sleep: its workspace is being snapshotted.");
    nova.office_reaches("maker", "asleep").await;

    let (_, unknown) = slack.command("U_OPS", "C_ENG", "wake nobody").await;
    assert!(unknown["text"].as_str().unwrap().starts_with("There is no office `nobody`."), "{unknown}");
    let (_, nonsense) = slack.command("U_OPS", "C_ENG", "deploy prod").await;
    assert!(nonsense["text"].as_str().unwrap().starts_with("unknown command `deploy`."), "{nonsense}");
    let (_, approvals) = slack.command("U_OPS", "C_ENG", "approvals").await;
    assert_eq!(approvals["text"], "Nothing waits for a decision.");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_serves_installs_without_a_public_url_and_survives_reconnects() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, true, |_| {}).await;
    let ts = slack.add_message("C_RANDOM", None, "U_ALICE", "<@UNOVA> tidy the docs index");
    let event = slack.events_for("C_RANDOM", &ts).remove(0);
    let ack = slack.send_envelope("events_api", event).await;
    assert!(ack.get("payload").is_none(), "events are acknowledged without a payload: {ack}");
    let thread = thread_id("C_RANDOM", &ts);
    mirrored(&nova, &slack, &thread, 1).await;

    // Slack asks for a reconnect; the next envelope arrives on the new connection.
    slack.disconnect_socket();
    until(&nova, &slack, "a second connection", async |_, slack| (slack.socket_connections() >= 2).then_some(())).await;
    let reply = slack.add_message("C_RANDOM", Some(&ts), "U_BOB", "and the changelog too");
    slack.send_envelope("events_api", slack.events_for("C_RANDOM", &reply).remove(0)).await;
    mirrored(&nova, &slack, &thread, 2).await;

    let answer = slack
        .send_envelope(
            "slash_commands",
            json!({"command": "/nova", "text": "help", "user_id": "U_BOB", "channel_id": "C_RANDOM"}),
        )
        .await;
    assert_eq!(answer["payload"]["response_type"], "ephemeral");
    // Without a signing secret the HTTP endpoints accept nothing.
    let posted = reqwest::Client::new().post(nova.url("/slack/events")).body("{}").send().await.unwrap();
    assert_eq!(posted.status().as_u16(), 401);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_slack_made_though_its_answer_was_lost_is_not_posted_again() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, crate::harness::paced_steps).await;
    // Slack takes Nova's first answer but the answer to the post is lost: to Nova it
    // failed, and it tries again, as a mirror does after a crash between a post and its
    // bookkeeping.
    slack.lose_post_answers(1);
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> the coupon field rejects valid codes").await;
    let thread = thread_id("C_RANDOM", &ts);
    let shown = mirrored(&nova, &slack, &thread, 1).await;
    let routing = nova.messages(&thread).await.into_iter().find(|m| m.from_nova).unwrap();
    assert!(shown[0].text.starts_with("Routing to"), "{}", transcript(&shown));
    let carrying = |m: &&Posted| m.blocks[0]["block_id"] == format!("nova_message_{}", routing.id);
    assert_eq!(shown.iter().filter(carrying).count(), 1, "one post of it:\n{}", transcript(&shown));
    let calls: Vec<String> =
        slack.calls().into_iter().map(|call| format!("{} {}", call.method, call.outcome)).collect();
    assert!(calls.contains(&"conversations.replies ok".to_owned()), "Nova looked before posting again: {calls:?}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_post_is_found_among_hundreds_of_replies_and_not_posted_again() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, crate::harness::paced_steps).await;
    // A busy thread: 450 replies land between the mention and Nova's first post, whose
    // answer is lost, so Nova looks for the post beyond the first pages of replies.
    slack.lose_post_answers(1);
    let ts = slack.add_message("C_RANDOM", None, "U_ALICE", "<@UNOVA> the coupon field rejects valid codes");
    for n in 0..450 {
        slack.add_message("C_RANDOM", Some(&ts), "U_BOB", &format!("+1, seen it too ({n})"));
    }
    for event in slack.events_for("C_RANDOM", &ts) {
        assert_eq!(slack.deliver_event(&event).await, 200);
    }
    let thread = thread_id("C_RANDOM", &ts);
    let shown = mirrored(&nova, &slack, &thread, 1).await;
    let routing = nova.messages(&thread).await.into_iter().find(|m| m.from_nova).unwrap();
    let carrying = |m: &&Posted| m.blocks[0]["block_id"] == format!("nova_message_{}", routing.id);
    assert_eq!(shown.iter().filter(carrying).count(), 1, "one post of it:\n{}", transcript(&shown));
    assert_eq!(slack.thread("C_RANDOM", &ts).len(), 1 + 450 + shown.len(), "the mention, the replies, Nova's posts");
    let lookups = slack.calls().into_iter().filter(|call| call.method == "conversations.replies").count();
    assert!(lookups >= 3, "Nova read the thread page after page: {lookups} lookups");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistant_thread_opening_in_a_bound_channel_warms_its_office_up() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let mut nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let event = json!({
        "type": "event_callback",
        "event_id": "Ev_warm",
        "event": {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": "U_ALICE", "channel_id": "C_ENG", "thread_ts": "1700000000.000001"},
        },
    });
    assert_eq!(slack.deliver_event(&event).await, 200);
    nova.office_reaches("maker", "idle").await;
    let office = nova.office("maker").await;
    assert!(office.prewarm_until.is_some(), "up on the signal alone, until its prewarm runs out");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_talking_about_a_problem_where_nova_listens_warm_up_the_office_that_fixes_it() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let mut nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    // #random is bound to nothing: this is not a prompt, and Nova does not answer it...
    let (_, statuses) = slack
        .user_says("C_RANDOM", "U_ALICE", "the checkout page throws a 500 when I apply a coupon, anyone seen this?")
        .await;
    assert_eq!(statuses, vec![200]);
    // ...but the maker, who fixes checkout bugs, is woken before anyone asks it.
    nova.office_reaches("maker", "idle").await;
    let maker = nova.office("maker").await;
    assert!(maker.prewarm_until.is_some(), "up on chatter alone, until its prewarm runs out");
    assert!(nova.engine().store().threads_in_channel(Surface::Slack, "random").await.unwrap().is_empty(), "no session");
    assert!(slack.messages().iter().all(|m| !m.from_bot), "Nova said nothing");
    let prewarms = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let prewarm = prewarms.iter().find(|r| r.action == "prewarm").expect("the prewarm is audited");
    assert!(!prewarm.details.contains("coupon"), "the chatter's words are not kept: {}", prewarm.details);

    // Small talk names no office and wakes nothing.
    let small_talk = WarmSignal {
        surface: Surface::Slack,
        channel: "random".into(),
        user: "U_BOB".into(),
        thread: None,
        chatter: Some("lunch anyone?".into()),
    };
    assert_eq!(nova.engine().prewarm(small_talk).await.unwrap(), Prewarm::NoLikelyOffice);
    for office in ["operator", "analyst", "writer"] {
        assert_eq!(nova.office(office).await.state.as_str(), "asleep", "{office}");
    }
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_channels_is_answered_while_one_office_is_busy() {
    let ids: Vec<(String, String)> = (0..20).map(|c| (format!("C_B{c:02}"), format!("burst-{c}"))).collect();
    let channels: Vec<(&str, &str)> = ids.iter().map(|(id, name)| (id.as_str(), name.as_str())).collect();
    let slack = FakeSlack::start(&channels).await.unwrap();
    // The maker works until the test says it is done.
    let gate = tempfile::tempdir().unwrap();
    let release = gate.path().join("release");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done; echo '{{\"type\":\"result\",\"text\":\"maker done\"}}'",
        release.display()
    );
    let nova = Nova::start_on_slack(&slack, false, |config| {
        let maker = config.offices.iter_mut().find(|o| o.name == "maker").unwrap();
        maker.runtime.as_mut().unwrap().command = vec!["sh".to_owned(), "-c".to_owned(), script];
    })
    .await;

    let (busy_ts, _) = slack.user_says("C_B00", "U_ALICE", "<@UNOVA> @maker rewrite the checkout").await;
    let busy = thread_id("C_B00", &busy_ts);
    until(&nova, &slack, "the maker to be at work", async |nova, _| {
        nova.prompts(&busy).await.first().is_some_and(|p| p.state.as_str() == "dispatched").then_some(())
    })
    .await;

    // A burst: forty mentions in twenty channels, every other one for the busy maker.
    let asks: Vec<(String, &str, String)> = (0..40)
        .map(|i| {
            let office = if i % 2 == 0 { "maker" } else { "writer" };
            (ids[i % 20].0.clone(), office, format!("<@UNOVA> @{office} task {i}"))
        })
        .collect();
    let sent = futures::future::join_all(
        asks.iter().map(|(channel, _, text)| async { slack.user_says(channel, "U_BOB", text).await }),
    )
    .await;
    let threads: Vec<(String, &str)> =
        sent.iter().zip(&asks).map(|((ts, _), (channel, office, _))| (thread_id(channel, ts), *office)).collect();

    // Every thread hears from Nova, and the writer's are done, while the maker's first run goes on.
    until(&nova, &slack, "every thread of the burst to be answered", async |nova, slack| {
        let answered = slack.first_answers();
        let all_answered = sent.iter().all(|(ts, _)| answered.contains_key(ts));
        let mut writer_done = true;
        for (thread, office) in &threads {
            if *office == "writer" && !nova.messages(thread).await.iter().any(|m| m.kind == MessageKind::Result) {
                writer_done = false;
            }
        }
        (all_answered && writer_done).then_some(())
    })
    .await;
    assert_eq!(nova.prompts(&busy).await[0].state.as_str(), "dispatched", "the maker is still on its first run");
    for (thread, office) in &threads {
        let first = &nova.messages(thread).await[1];
        assert!(first.body.starts_with(&format!("Routing to **{office}**")), "{thread}: {}", first.body);
    }

    // Once the maker is done, its queue goes on, in the order it was asked.
    std::fs::write(&release, "").unwrap();
    for (thread, office) in &threads {
        if *office == "maker" {
            until(&nova, &slack, "the maker's queue to be worked off", async |nova, _| {
                nova.messages(thread).await.iter().any(|m| m.kind == MessageKind::Result).then_some(())
            })
            .await;
        }
    }
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_login_in_slack_signs_that_person_in_to_the_console() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        let alice = orchestrator::config::Person { slack: Some("U_ALICE".into()), ..Default::default() };
        config.people.insert("alice".into(), alice);
    })
    .await;
    let (status, answer) = slack.command("U_ALICE", "C_ENG", "login").await;
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "only Alice sees it");
    let text = answer["text"].as_str().unwrap();
    assert!(text.starts_with("Sign in to the console as *alice*: http://127.0.0.1:"), "{text}");
    let link = text.split_whitespace().find(|word| word.contains("/login?token=")).unwrap();
    let path = &link[link.find("/login").unwrap()..];

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let opened = no_redirects.get(nova.url(path)).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let me: serde_json::Value =
        no_redirects.get(nova.url("/api/me")).header("cookie", cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["person"], "alice", "the person Slack vouched for, by name");

    // Someone [people] does not list gets no link.
    let (_, stranger) = slack.command("U_MALLORY", "C_ENG", "login").await;
    assert!(stranger["text"].as_str().unwrap().starts_with("You are not in this workspace's [people]"), "{stranger}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_button_on_a_progress_card_ends_the_run_for_its_author() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        config.roles.insert("operator".into(), vec!["U_OLGA".into()]);
        config.offices[0].runtime.as_mut().unwrap().command =
            vec!["sh".into(), "-c".into(), crate::work::LONG_RUN.into()];
    })
    .await;
    let (ts, _) = slack.user_says("C_ENG", "U_ALICE", "rebuild the search index").await;
    let card = until(&nova, &slack, "a working progress card with Stop", async |_, slack| {
        slack
            .thread("C_ENG", &ts)
            .into_iter()
            .find(|m| m.text.contains("working on it") && m.buttons().iter().any(|(label, _, _)| label == "Stop"))
    })
    .await;

    // Someone else: told privately, the run goes on.
    assert_eq!(slack.click("U_BOB", &card, "Stop").await, 200);
    let refusal = until(&nova, &slack, "a private refusal", async |_, slack| {
        slack.ephemerals().into_iter().find(|e| e.user == "U_BOB")
    })
    .await;
    assert_eq!(refusal.text, "Nothing changed: only U_ALICE (who asked for it) or an operator may stop it.");

    assert_eq!(slack.click("U_ALICE", &card, "Stop").await, 200);
    let stopped = until(&nova, &slack, "the stop in the thread", async |_, slack| {
        slack.thread("C_ENG", &ts).into_iter().find(|m| m.text.contains("stopped *maker*"))
    })
    .await;
    assert!(stopped.text.starts_with("U_ALICE stopped *maker*"), "{}", stopped.text);
    let card = until(&nova, &slack, "the card without its button", async |_, slack| {
        slack.thread("C_ENG", &ts).into_iter().find(|m| m.ts == card.ts && m.buttons().is_empty())
    })
    .await;
    assert!(card.text.contains("was stopped"), "{}", card.text);
    nova.finish().await;
}

/// Nova's last message in a Slack thread, once there are `count` of them.
async fn nova_said(nova: &Nova, slack: &FakeSlack, channel: &str, ts: &str, count: usize) -> String {
    until(nova, slack, &format!("Nova's message {count} in {ts}"), async |_, slack| {
        let said: Vec<Posted> = slack.thread(channel, ts).into_iter().filter(|m| m.from_bot).collect();
        (said.len() >= count).then(|| said[count - 1].text.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_ask_about_and_steer_the_fleet_in_their_own_words() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let mut nova = Nova::start_on_slack(&slack, false, |config| {
        config.roles.insert("operator".into(), vec!["U_OPS".into()]);
    })
    .await;

    // A question about the fleet is answered in its thread, not routed as work.
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> which offices are awake right now?").await;
    let answer = nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await;
    assert!(answer.starts_with("*Offices*") && answer.contains("• *maker* — asleep"), "{answer}");
    assert!(nova.prompts(&thread_id("C_RANDOM", &ts)).await.is_empty(), "a question is no work");

    // Waking is an operator's: a colleague is refused and nothing changes.
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> pls wake up the analyst").await;
    let refused = nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await;
    assert_eq!(refused, "Only people with the `operator` role may do that.");
    assert_eq!(nova.office("analyst").await.state.as_str(), "asleep");
    let (ts, _) = slack.user_says("C_RANDOM", "U_OPS", "<@UNOVA> wake the anlyst up, questions are coming").await;
    assert_eq!(nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await, "U_OPS is waking *analyst* (generation 1).");
    nova.office_reaches("analyst", "idle").await;
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> is the analyst up?").await;
    let status = nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await;
    assert_eq!(status, "*analyst* is idle, with nothing running.");

    // Work still goes to an office; then the thread hands it over in plain words.
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> @maker the coupon field rejects valid codes").await;
    let thread = thread_id("C_RANDOM", &ts);
    mirrored(&nova, &slack, &thread, 1).await;
    let (_, statuses) = slack.user_replies("C_RANDOM", &ts, "U_ALICE", "actually let operator take it from here").await;
    assert_eq!(statuses, [200]);
    mirrored(&nova, &slack, &thread, 2).await;
    let offices: Vec<String> = nova.prompts(&thread).await.into_iter().map(|p| p.office).collect();
    assert_eq!(offices, ["maker", "operator"]);
    assert!(
        slack.thread("C_RANDOM", &ts).iter().any(|m| m.text == "U_ALICE handed this from *maker* to *operator*."),
        "{}",
        transcript(&slack.thread("C_RANDOM", &ts))
    );

    // History, with who asked, and every request audited.
    let (ts, _) = slack.user_says("C_RANDOM", "U_OPS", "<@UNOVA> what did maker do in the last 2 hours?").await;
    let history = nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await;
    assert!(history.starts_with("What happened in *maker* in the last 2h"), "{history}");
    assert!(history.contains("route by U_ALICE"), "{history}");
    let requests = nova
        .engine()
        .store()
        .audit_trail(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.action == "request")
        .count();
    assert_eq!(requests, 6, "every plain-language request is in the audit trail");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asked_for_in_slack_comes_once_a_colleague_approves_it() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |_| {}).await;
    let ask = "<@UNOVA> set up an office called scribe for release notes under the writer";
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", ask).await;
    let card = until(&nova, &slack, "the change's approval card", async |_, slack| {
        slack.thread("C_RANDOM", &ts).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Approve"))
    })
    .await;
    assert!(card.text.starts_with("*U_ALICE* asks for approval to *create the office scribe"), "{}", card.text);
    assert!(nova.engine().config().office("scribe").is_none(), "nothing changes before the approval");

    assert_eq!(slack.click("U_BOB", &card, "Approve").await, 200);
    let done = nova_said(&nova, &slack, "C_RANDOM", &ts, 2).await;
    assert!(done.starts_with("Done: create the office scribe"), "{done}");
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", "<@UNOVA> what is scribe doing?").await;
    assert_eq!(nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await, "*scribe* is asleep, with nothing running.");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_slack_stop_in_a_thread_ends_its_run_and_a_schedule_fires_into_its_thread() {
    let slack = FakeSlack::start(CHANNELS).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        config.offices[0].runtime.as_mut().unwrap().command =
            vec!["sh".into(), "-c".into(), crate::work::LONG_RUN.into()];
    })
    .await;
    let (ts, _) = slack.user_says("C_ENG", "U_ALICE", "rebuild the search index").await;
    let thread = thread_id("C_ENG", &ts);
    until(&nova, &slack, "maker working", async |nova, _| {
        let prompts = nova.prompts(&thread).await;
        (prompts.first()?.state == orchestrator::store::PromptState::Dispatched).then_some(())
    })
    .await;
    slack.user_replies("C_ENG", &ts, "U_ALICE", "stop").await;
    until(&nova, &slack, "the stop shown in Slack", async |_, slack| {
        slack.thread("C_ENG", &ts).into_iter().find(|m| m.from_bot && m.text.contains("stopped *maker*"))
    })
    .await;
    assert_eq!(nova.prompts(&thread).await[0].state, orchestrator::store::PromptState::Stopped);

    let ask = "<@UNOVA> every weekday at 9 have the analyst post yesterday's signups";
    let (ts, _) = slack.user_says("C_RANDOM", "U_ALICE", ask).await;
    let made = nova_said(&nova, &slack, "C_RANDOM", &ts, 1).await;
    assert!(made.starts_with("Scheduled #1: *analyst* will"), "{made}");
    let a_week_on = orchestrator::store::now_ms() + 7 * 86_400_000;
    assert_eq!(nova.engine().run_due_schedules(a_week_on).await.unwrap(), 1);
    let shown = mirrored(&nova, &slack, &thread_id("C_RANDOM", &ts), 1).await;
    assert!(
        shown.iter().any(|m| m.text.starts_with("Schedule #1 (weekdays at 09:00 UTC): *analyst*")),
        "{}",
        transcript(&shown)
    );
    nova.finish().await;
}
