//! User stories, each the way a person lives it.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Nova, transcript};
use orchestrator::store::{MessageKind, Surface};

/// Runs snapshot assertions with the per-run note names replaced.
fn redact_runs(assertions: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"notes/[0-9a-f]{8}\.md", "notes/<run>.md");
    settings.bind(assertions);
}

/// `nova serve`'s own data dir is `./.nova`, relative to where it runs, while an
/// office's runtime runs in its workspace: it still finds the office's commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offices_work_when_the_data_dir_is_relative_to_where_nova_runs() {
    let mut nova = Nova::start_with(|config| {
        let here = std::env::current_dir().unwrap();
        let up = "../".repeat(here.components().count() - 1);
        let absolute = config.store.data_dir.display().to_string();
        config.store.data_dir = format!("{up}{}", absolute.trim_start_matches('/')).into();
        assert!(config.store.data_dir.is_relative() && config.store.data_dir.exists());
    })
    .await;
    let thread = nova.say("payments", "alice", "the coupon field rejects valid codes, please fix").await;
    let messages = nova.results(&thread, 1).await;
    let result = messages.iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert!(result.body.starts_with("Example runtime: I saved your request"), "{}", transcript(&messages));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_asks_in_payments_and_an_office_does_the_work_sleeps_and_remembers() {
    let mut nova = Nova::start_with(|config| {
        for office in &mut config.offices {
            office.set_idle_timeout(Duration::from_millis(200));
        }
    })
    .await;

    let thread = nova.say("payments", "alice", "the coupon field rejects valid codes, please fix").await;
    let messages = nova.results(&thread, 1).await;
    redact_runs(|| insta::assert_snapshot!("first_answer", transcript(&messages)));

    // Idle, it is snapshotted and put to sleep; its machine (here: its directory) goes.
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let asleep = nova
        .eventually("maker asleep without a workspace", async |nova: &Nova| {
            let office = nova.office("maker").await;
            (office.state.as_str() == "asleep" && !workspace.exists()).then_some(office)
        })
        .await;
    assert_eq!(asleep.generation, 1);
    let snapshot = nova.data_dir.path().join("snapshots/offices/maker/000000000001.tar.zst");
    assert!(snapshot.exists(), "the workspace snapshot is stored");
    assert_eq!(asleep.snapshot_bytes, Some(std::fs::metadata(&snapshot).unwrap().len() as i64));

    // A second person follows up in the same thread: the office wakes with its workspace.
    nova.reply(&thread, "bob", "also check that gift cards still work").await;
    let messages = nova.results(&thread, 2).await;
    let last = messages.iter().rev().find(|m| m.kind == MessageKind::Result).unwrap();
    assert!(last.body.contains("this workspace now holds 2 note(s)"), "{}", last.body);
    let notes = messages.iter().filter(|m| m.body.contains("has no url in nova.toml")).count();
    assert_eq!(notes, 1, "the repo's missing url is said once a session");
    assert_eq!(nova.office("maker").await.generation, 2);
    let authors: Vec<String> = nova.prompts(&thread).await.into_iter().map(|p| p.author).collect();
    assert_eq!(authors, ["alice", "bob"]);
    nova.finish().await;
}

/// An office woken ahead of work that never came (here `/nova wake`; a prewarm no
/// prompt followed is the same) sleeps on the snapshot it was restored from: nothing
/// ran, so nothing new is stored. Its work is all there at the next wake, and the
/// next sleep after a run stores a snapshot again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_woken_for_nothing_sleeps_without_a_new_snapshot_and_keeps_its_work() {
    let mut nova = Nova::start_with(|config| {
        for office in &mut config.offices {
            office.set_idle_timeout(Duration::from_millis(200));
        }
    })
    .await;
    let snapshots = nova.data_dir.path().join("snapshots/offices/maker");
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let asleep_at = async |nova: &mut Nova, generation: i64| {
        nova.eventually("maker asleep without a workspace", async |nova: &Nova| {
            let office = nova.office("maker").await;
            (office.state == orchestrator::store::OfficeState::Asleep
                && office.generation == generation
                && !workspace.exists())
            .then_some(office)
        })
        .await
    };

    let thread = nova.say("payments", "alice", "the coupon field rejects valid codes, please fix").await;
    nova.results(&thread, 1).await;
    let first = asleep_at(&mut nova, 1).await;
    let first_key = first.snapshot_key.clone().expect("a snapshot of the first run's work");

    // Woken with nothing to do, it idles out and sleeps on that same snapshot.
    assert_eq!(nova.engine().wake_office("maker", "bob").await.unwrap(), Some(2));
    let second = asleep_at(&mut nova, 2).await;
    assert_eq!(second.snapshot_key.as_deref(), Some(first_key.as_str()), "the snapshot it was restored from");
    assert!(!snapshots.join("000000000002.tar.zst").exists(), "no snapshot stored for a wake that ran nothing");
    assert_eq!(audited(&nova, "slept_unchanged").await, 1);
    assert_eq!(audited(&nova, "snapshot").await, 1, "only the first run's");

    // The work of the first run is all there, and a run makes the next sleep store one.
    nova.reply(&thread, "bob", "also check that gift cards still work").await;
    let messages = nova.results(&thread, 2).await;
    let last = messages.iter().rev().find(|m| m.kind == MessageKind::Result).unwrap();
    assert!(last.body.contains("this workspace now holds 2 note(s)"), "{}", last.body);
    let third = asleep_at(&mut nova, 3).await;
    assert!(snapshots.join("000000000003.tar.zst").exists(), "a wake that ran work is snapshotted");
    assert_ne!(third.snapshot_key, Some(first_key));
    assert_eq!(audited(&nova, "slept_unchanged").await, 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_50_prompts_wakes_one_office_and_delivers_all_in_order() {
    let mut nova = Nova::start().await;
    let nova_ref = &nova;
    let threads = futures::future::join_all(
        (0..5).map(|t| async move { nova_ref.say("eng", &format!("dev{t}"), &format!("@maker task {t}.0")).await }),
    )
    .await;
    futures::future::join_all(threads.iter().enumerate().map(|(t, thread)| {
        let nova = &nova;
        async move {
            for i in 1..10 {
                nova.reply(thread, &format!("dev{t}"), &format!("@maker task {t}.{i}")).await;
            }
        }
    }))
    .await;

    nova.eventually("all 50 prompts to finish", async |nova: &Nova| {
        let mut done = 0;
        for thread in &threads {
            done += nova.prompts(thread).await.iter().filter(|p| p.state.as_str() == "done").count();
        }
        (done == 50).then_some(())
    })
    .await;

    let maker = nova.office("maker").await;
    assert_eq!(maker.generation, 1, "exactly one wake");
    assert_eq!(nova.engine().running_offices().await, 1, "exactly one office process");
    for (t, thread) in threads.iter().enumerate() {
        let prompts = nova.prompts(thread).await;
        let texts: Vec<String> = prompts.iter().map(|p| p.text.clone()).collect();
        let expected: Vec<String> = (0..10).map(|i| format!("@maker task {t}.{i}")).collect();
        assert_eq!(texts, expected);
        let finished: Vec<i64> = prompts.iter().map(|p| p.finished_at.unwrap()).collect();
        assert!(finished.is_sorted(), "thread {t} ran in order: {finished:?}");
        let results = nova.messages(thread).await.into_iter().filter(|m| m.kind == MessageKind::Result).count();
        assert_eq!(results, 10);
    }
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_acknowledged_before_a_crash_are_delivered_after_the_restart() {
    let mut nova = Nova::start_without_engine().await;
    let first = nova.say("payments", "alice", "refunds over $500 fail, please fix").await;
    nova.reply(&first, "alice", "and the refund email shows the wrong amount").await;
    let second = nova.say("data", "carol", "top 20 products by revenue this quarter").await;
    assert!(nova.messages(&first).await.iter().all(|m| !m.from_nova), "nothing was processed before the crash");

    nova.restart(|_| {}).await;
    nova.results(&first, 2).await;
    nova.results(&second, 1).await;
    assert_eq!(nova.office("maker").await.generation, 1);
    assert_eq!(nova.office("analyst").await.generation, 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_running_when_nova_restarts_is_snapshotted_and_its_work_rerun() {
    let mut nova = Nova::start().await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;

    nova.restart(|_| {}).await;
    // The office died with the old Nova; its workspace on disk was kept as a snapshot.
    let maker = nova.office_reaches("maker", "asleep").await;
    assert!(maker.snapshot_key.is_some());
    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_is_recorded_and_run_once() {
    let mut nova = Nova::start().await;
    let body =
        json!({"channel": "eng", "author": "alice", "text": "@maker fix the flaky test", "client_id": "same-id"});
    let (first, answer) = nova.post_json("/api/console/messages", &body).await;
    let (second, again) = nova.post_json("/api/console/messages", &body).await;
    assert_eq!((first, second), (202, 200));
    assert_eq!(again["duplicate"], true);
    assert_eq!(answer["thread_id"], again["thread_id"]);
    let thread = answer["thread_id"].as_str().unwrap().to_owned();
    nova.results(&thread, 1).await;
    assert_eq!(nova.prompts(&thread).await.len(), 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_requests_get_clear_errors_and_change_nothing() {
    let nova = Nova::start().await;
    let thread = nova.say("eng", "alice", "@maker look at the cart").await;
    let people = async |nova: &Nova| nova.messages(&thread).await.iter().filter(|m| !m.from_nova).count();
    let before = people(&nova).await;
    let cases = [
        ("/api/console/messages", json!("not an object"), 400),
        ("/api/console/messages", json!({"channel": "eng", "author": "a", "text": "hi"}), 400),
        (
            "/api/console/messages",
            json!({"channel": "eng", "author": "a", "text": "hi", "client_id": "x", "admin": true}),
            400,
        ),
        ("/api/console/messages", json!({"channel": "nope", "author": "a", "text": "hi", "client_id": "x1"}), 404),
        (
            "/api/console/messages",
            json!({"channel": "eng", "thread_id": "forged", "author": "a", "text": "hi", "client_id": "x2"}),
            404,
        ),
        (
            "/api/console/messages",
            json!({"channel": "payments", "thread_id": thread, "author": "a", "text": "hi", "client_id": "x3"}),
            404,
        ),
        ("/api/console/messages", json!({"channel": "eng", "author": "a", "text": "   ", "client_id": "x4"}), 400),
        (
            "/api/console/actions",
            json!({"thread_id": thread, "message_id": 1, "author": "a", "action": "pick", "office": "maker", "client_id": "x6"}),
            404,
        ),
        (
            "/api/console/actions",
            json!({"thread_id": thread, "message_id": 1, "author": "a", "action": "launch", "client_id": "x7"}),
            400,
        ),
    ];
    let mut answers = String::new();
    for (path, body, expected) in cases {
        let (status, answer) = nova.post_json(path, &body).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        answers.push_str(&format!("{status} {}\n", answer["error"].as_str().unwrap()));
    }
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<thread>");
    settings.bind(|| insta::assert_snapshot!(answers));

    // An office event with a forged token or none at all.
    let event = json!({"office": "maker", "generation": 1, "run_id": "r", "seq": 0, "event": {"type": "result", "text": "pwned"}});
    let forged = reqwest::Client::new()
        .post(nova.url("/api/office/events"))
        .bearer_auth("forged")
        .header("x-nova-run-id", "r")
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let anonymous = reqwest::Client::new().post(nova.url("/api/office/events")).json(&event).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let maker = nova.office("maker").await;
    let key_id = maker.service_key_id.unwrap();
    for (key, error) in [
        ("forged".to_owned(), "malformed service key: expected hsk_<id>.hss_<secret>".to_owned()),
        ("hsk_0000.hss_abcd".to_owned(), "unknown service key hsk_0000".to_owned()),
        (format!("hsk_{key_id}.hss_guessed"), format!("invalid secret for service key hsk_{key_id}")),
    ] {
        let response = reqwest::Client::new()
            .post(nova.url("/api/office/events"))
            .bearer_auth(&key)
            .header("x-nova-run-id", "r")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], json!(error));
    }

    assert_eq!(people(&nova).await, before, "no refused request added to the thread");
    assert!(nova.messages(&thread).await.iter().all(|m| !m.body.contains("pwned")));
    let (status, threads) = nova.get_json("/api/channels/eng/threads").await;
    assert_eq!((status, threads.as_array().unwrap().len()), (200, 1), "no refused post made a thread");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclear_message_gets_a_picker_and_a_click_routes_the_thread() {
    let mut nova = Nova::start().await;
    let thread = nova.say("general", "alice", "can someone look at this?").await;
    let card = nova
        .eventually("a picker card", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| m.kind == MessageKind::Card)
        })
        .await;
    insta::assert_json_snapshot!(card.card, @r#"
    {
      "type": "picker",
      "options": [
        {
          "office": "maker",
          "role": "Software engineer: implements features, fixes bugs and opens pull requests."
        },
        {
          "office": "operator",
          "role": "Site reliability engineer: deploys, rollbacks, incidents, on-call, monitoring and infrastructure changes."
        },
        {
          "office": "analyst",
          "role": "Data analyst: answers questions with SQL over the warehouse, builds metrics, dashboards and reports."
        },
        {
          "office": "writer",
          "role": "Writer: help articles, documentation, blog posts, release notes and marketing copy."
        }
      ],
      "resolved": null
    }
    "#);

    let (status, answer) = nova.click_pick(&thread, card.id, "bob", "ghost").await;
    assert_eq!((status, answer["error"].as_str().unwrap()), (400, "unknown office `ghost`"));
    let (status, _) = nova.click_pick(&thread, card.id, "bob", "support").await;
    assert_eq!(status, 202);
    let messages = nova.results(&thread, 1).await;
    let card = messages.iter().find(|m| m.id == card.id).unwrap();
    assert_eq!(card.body, "bob picked **support**; this thread now goes there.");
    assert_eq!(nova.engine().store().thread(&thread).await.unwrap().unwrap().office.as_deref(), Some("support"));
    let picks = nova.engine().store().channel_picks(Surface::Console, "general").await.unwrap();
    assert_eq!(picks, [("support".to_owned(), 1)], "the pick informs later routing in #general");

    let (status, answer) = nova.click_pick(&thread, card.id, "carol", "maker").await;
    assert_eq!(status, 409);
    assert_eq!(answer["error"], "that card was already answered: bob picked **support**; this thread now goes there.");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_without_a_runtime_says_what_to_configure() {
    let mut nova = Nova::start_with(|config| config.offices.iter_mut().for_each(|o| o.runtime = None)).await;
    let thread = nova.say("data", "carol", "weekly returns by category, please").await;
    let message = nova
        .eventually("the setup instructions", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| m.body.contains("has no runtime configured"))
        })
        .await;
    assert!(message.body.contains("[offices.runtime]"));
    assert_eq!(nova.prompts(&thread).await[0].state.as_str(), "failed");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_runtime_is_reported_in_the_thread() {
    let mut nova = Nova::start_with(|config| {
        let runtime = config.offices[0].runtime.as_mut().unwrap();
        runtime.command =
            vec!["sh".into(), "-c".into(), "echo looking; echo 'no such file: cart.ts' >&2; exit 3".into()];
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker fix the cart").await;
    let failure = nova
        .eventually("the failure", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| m.body.contains("could not finish"))
        })
        .await;
    insta::assert_snapshot!(failure.body, @r"
    **maker** could not finish this: the runtime exited with exit status: 3:
    no such file: cart.ts
    ");
    let progress = nova.messages(&thread).await.into_iter().find(|m| m.kind == MessageKind::Progress).unwrap();
    assert_eq!(
        progress.body,
        "**maker** stopped with an error.\n\n> storefront has no url in nova.toml: working without a checkout\n> looking"
    );
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wake_hands_the_office_its_identity_from_live_config() {
    let mut nova = Nova::start().await;
    let thread = nova.say("eng", "alice", "@maker tidy the README").await;
    nova.results(&thread, 1).await;
    let soul = std::fs::read_to_string(nova.data_dir.path().join("offices/maker/workspace/SOUL.md")).unwrap();
    assert!(soul.contains("Software engineer: implements features"), "{soul}");
    let agents = std::fs::read_to_string(nova.data_dir.path().join("offices/maker/workspace/AGENTS.md")).unwrap();
    assert!(agents.contains("| **maker** (you) |"), "{agents}");
    let skill =
        std::fs::read_to_string(nova.data_dir.path().join("offices/maker/workspace/skills/office/SKILL.md")).unwrap();
    assert!(skill.contains("name: office"), "{skill}");

    nova.restart(|config| config.offices[0].role = "Staff engineer: owns the checkout end to end.".to_owned()).await;
    nova.office_reaches("maker", "asleep").await;
    nova.reply(&thread, "alice", "and the CONTRIBUTING file").await;
    nova.results(&thread, 2).await;
    let soul = std::fs::read_to_string(nova.data_dir.path().join("offices/maker/workspace/SOUL.md")).unwrap();
    assert!(soul.contains("Staff engineer: owns the checkout end to end."), "{soul}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_channels_offices_and_threads() {
    let nova = Nova::start().await;
    let (status, workspace) = nova.get_json("/api/workspace").await;
    assert_eq!(status, 200);
    assert_eq!(workspace["name"], "acme");
    assert!(workspace["channels"].as_array().unwrap().contains(&json!("payments")));
    let states: Vec<&str> =
        workspace["offices"].as_array().unwrap().iter().map(|o| o["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["asleep"; 5]);
    let page = reqwest::get(nova.url("/")).await.unwrap().text().await.unwrap();
    assert!(page.contains("<title>Nova console</title>"));
    let metrics = reqwest::get(nova.url("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    let (status, _) = nova.get_json("/api/channels/nope/threads").await;
    assert_eq!(status, 404);
    let (status, error) = nova.get_json("/api/threads/nope/messages").await;
    assert_eq!((status, error["error"].as_str().unwrap()), (404, "unknown thread `nope`"));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_that_dies_mid_run_keeps_its_workspace_and_reruns_the_prompt() {
    // The first run leaves a file in the workspace, then kills its own office daemon.
    let crash_once = "if [ -f crashed-once ]; then echo 'recovered: the workspace kept crashed-once'; \
                      else touch crashed-once; echo 'about to crash'; kill -9 $PPID; sleep 5; fi";
    let mut nova = Nova::start_with(|config| {
        let runtime = config.offices[0].runtime.as_mut().unwrap();
        runtime.command = vec!["sh".into(), "-c".into(), crash_once.into()];
        // Signalling the daemon is what the sandbox forbids (trust.rs); this runtime
        // plays the machine dying, so it runs unconfined.
        runtime.sandbox.enabled = false;
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker migrate the cart table").await;
    let messages = nova.results(&thread, 1).await;
    insta::assert_snapshot!(transcript(&messages), @r"
        alice [text]:
            @maker migrate the cart table
        nova [text]:
            Routing to **maker** · repo `storefront`. It is asleep; waking it up.
        nova [progress]:
            **maker** finished.

            > storefront has no url in nova.toml: working without a checkout
            > recovered: the workspace kept crashed-once
        nova [text]:
            **maker** stopped while working on this (its process exited); its workspace is kept and this runs again.
        nova [result]:
            recovered: the workspace kept crashed-once
        ");
    assert_eq!(nova.office("maker").await.generation, 2, "woken once more after the loss");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_model_configured_an_unclear_message_is_routed_without_asking() {
    let fake = testkit::openai::FakeOpenAi::start().await.unwrap();
    fake.always(testkit::openai::Reply::Json(json!({
        "repo": "none", "office": "analyst", "confidence": 0.85, "alternatives": ["maker"], "reason": "a numbers question"
    })));
    let base_url = fake.base_url.clone();
    let mut nova = Nova::start_with(|config| {
        config.model.model = Some("router-small".to_owned());
        config.model.base_url = Some(base_url);
    })
    .await;
    let thread = nova.say("general", "alice", "the numbers look off").await;
    let messages = nova.results(&thread, 1).await;
    assert_eq!(messages[1].body, "Routing to **analyst**. It is asleep; waking it up.");
    assert!(messages.iter().all(|m| m.kind != MessageKind::Card), "no picker was needed");
    assert_eq!(fake.requests().len(), 1);

    // A clear message never reaches the model.
    let clear = nova.say("payments", "bob", "refunds over $500 fail with a Stripe error, please fix").await;
    nova.results(&clear, 1).await;
    assert_eq!(fake.requests().len(), 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_a_run_is_in_the_audit_trail() {
    let mut nova = Nova::start_with(|config| {
        config.offices.iter_mut().for_each(|o| o.set_idle_timeout(Duration::from_millis(200)))
    })
    .await;
    let thread = nova.say("payments", "alice", "the coupon field rejects valid codes, please fix").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "asleep").await;
    let run = nova.prompts(&thread).await[0].run_id.clone();

    let (status, trail) = nova.get_json(&format!("/api/audit?run={run}")).await;
    assert_eq!(status, 200);
    let steps: Vec<(String, String)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["actor"].as_str().unwrap().to_owned(), row["action"].as_str().unwrap().to_owned()))
        .collect();
    let expected =
        [("alice", "route"), ("nova", "dispatch"), ("maker", "result")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(steps, expected);

    let (_, office_trail) = nova.get_json("/api/audit?office=maker").await;
    let actions: Vec<&str> = office_trail.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["route", "wake", "skills_loaded", "ready", "dispatch", "result", "snapshot"]);

    let (status, error) = nova.get_json("/api/audit?since=yesterday").await;
    assert_eq!(
        (status, error["error"].as_str().unwrap()),
        (400, "`yesterday` is neither a duration (like 2h) nor an RFC 3339 time")
    );
    let (_, recent) = nova.get_json("/api/audit?since=1h&office=nobody").await;
    assert_eq!(recent, json!([]));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_sleeps_into_cloud_storage_and_wakes_from_it_with_its_work() {
    let gcs = testkit::gcs::FakeGcs::start().await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("sa.json");
    std::fs::write(&key_file, gcs.service_account_json()).unwrap();
    let mut nova = Nova::start_with(|config| {
        config.store.snapshots = Some("gs://nova-snapshots/acme".into());
        config.store.snapshots_api_url = Some(gcs.api_url.clone());
        config.store.snapshots_credentials = Some(key_file.clone());
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker fix the cart totals").await;
    nova.results(&thread, 1).await;
    nova.office_reaches("maker", "idle").await;
    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    let maker = nova.office_reaches("maker", "asleep").await;
    let key = maker.snapshot_key.expect("a snapshot key");
    assert!(gcs.objects("nova-snapshots").contains_key(&format!("acme/{key}")), "the snapshot is in the bucket");

    // Woken again, the office finds its workspace as it left it.
    nova.reply(&thread, "alice", "and the tax line").await;
    let messages = nova.results(&thread, 2).await;
    assert!(messages.last().unwrap().body.contains("holds 2 note(s)"), "{}", messages.last().unwrap().body);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_fails_never_brings_back_an_older_workspace() {
    // Every run adds its prompt to a log in the workspace and reports the whole log.
    let log = r#"echo "$NOVA_PROMPT" | cut -d' ' -f2 >> log.txt; echo "{\"type\":\"result\",\"text\":\"log: $(tr '\n' ' ' < log.txt)\"}""#;
    let mut nova = Nova::start_with(|config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), log.into()];
    })
    .await;
    let last_result = async |nova: &mut Nova, thread: &str| {
        let messages = nova.results(thread, 1).await;
        messages.iter().rev().find(|m| m.kind == MessageKind::Result).unwrap().body.clone()
    };
    let first = nova.say("eng", "alice", "@maker one").await;
    assert_eq!(last_result(&mut nova, &first).await, "log: one ");
    assert!(nova.engine().sleep_office("maker", "operator").await.unwrap());
    nova.office_reaches("maker", "asleep").await;

    let second = nova.say("eng", "alice", "@maker two").await;
    assert_eq!(last_result(&mut nova, &second).await, "log: one two ", "restored from the first snapshot");
    // Storage refuses the next snapshot: something already sits at its key.
    let generation = nova.office("maker").await.generation;
    let key = provisioner::snapshot::Snapshots::key("maker", generation);
    let blocker = nova.data_dir.path().join("snapshots").join(key);
    std::fs::create_dir_all(&blocker).unwrap();
    assert!(nova.engine().sleep_office("maker", "operator").await.unwrap());
    let failed = nova.office_reaches("maker", "failed").await;
    assert!(failed.failure.unwrap().starts_with("snapshot failed"));

    std::fs::remove_dir_all(&blocker).unwrap();
    nova.engine().wake_office("maker", "operator").await.unwrap().expect("a failed office can be woken");
    let third = nova.say("eng", "alice", "@maker three").await;
    assert_eq!(last_result(&mut nova, &third).await, "log: one two three ", "the newer workspace was kept");
    nova.finish().await;
}

/// Nova's answers in a thread, once it has given `count`.
pub(crate) async fn nova_answers(nova: &mut Nova, thread: &str, count: usize) -> Vec<String> {
    nova.eventually(&format!("{count} answer(s) from Nova"), async |nova: &Nova| {
        let said: Vec<String> =
            nova.messages(thread).await.into_iter().filter(|m| m.from_nova).map(|m| m.body).collect();
        (said.len() >= count).then_some(said)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_console_people_ask_what_offices_cost_and_stop_an_office_by_name() {
    let mut nova = Nova::start_with(|config| {
        let maker = config.offices.iter_mut().find(|o| o.name == "maker").unwrap();
        maker.budget_usd = Some(50.0);
        // Works until stopped.
        maker.runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), "sleep 600".into()];
    })
    .await;
    let store = nova.engine().store().clone();
    for (office, cost) in [("maker", 0.42), ("maker", 1.08), ("writer", 0.25)] {
        let details = json!({"model": "m", "input_tokens": 1000, "output_tokens": 200, "cost_usd": cost});
        let entry = orchestrator::store::AuditEntry {
            actor: office.to_owned(),
            office: Some(office.to_owned()),
            run_id: None,
            action: "usage",
            details,
        };
        store.audit(entry).await.unwrap();
    }
    let thread = nova.say("general", "alice", "how much has maker spent this week?").await;
    let answer = nova_answers(&mut nova, &thread, 1).await;
    insta::assert_snapshot!(answer[0], @r"
    **maker** spent $1.50 in the last 7 days.
    • **maker**: $1.50 (models $1.50 over 2 run(s), 2400 tokens; machine $0.00 for 0.0 h awake), budget $50/month
    (Models at what runtimes report, else at `[prices]`; machines at their tier's hourly price; snapshots at $0.02 per GB-month.)
    ");
    assert!(nova.prompts(&thread).await.is_empty());

    // Bob's work is running; Alice, an operator, stops it by the office's name elsewhere.
    let work = nova.say("eng", "bob", "@maker migrate the cart to the new design system").await;
    nova.eventually("maker working", async |nova: &Nova| {
        let prompts = nova.prompts(&work).await;
        (prompts.first()?.state == orchestrator::store::PromptState::Dispatched).then_some(())
    })
    .await;
    let stop = nova.say("general", "alice", "kill whatever maker is running, it's hammering the database").await;
    assert_eq!(nova_answers(&mut nova, &stop, 1).await[0], "Stopping **maker**.");
    nova.eventually("the run stopped", async |nova: &Nova| {
        let prompts = nova.prompts(&work).await;
        (prompts.first()?.state == orchestrator::store::PromptState::Stopped).then_some(())
    })
    .await;
    nova.finish().await;
}

/// How many times the audit trail has `action`.
pub(crate) async fn audited(nova: &Nova, action: &str) -> usize {
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    trail.iter().filter(|row| row.action == action).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_made_in_plain_words_runs_on_its_days_never_stacks_and_pauses() {
    // The analyst's first run works until stopped; later ones answer at once.
    let first_run_hangs = "if [ -f ran-once ]; then echo 'signups yesterday: 42'; else touch ran-once; echo 'counting signups'; sleep 600; fi";
    let mut nova = Nova::start_with(|config| {
        config.roles.insert("operator".into(), vec!["alice".into()]);
        let analyst = config.offices.iter_mut().find(|o| o.name == "analyst").unwrap();
        analyst.runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), first_run_hangs.into()];
    })
    .await;

    // Only an operator may put recurring work on the fleet.
    let refused = nova.say("general", "bob", "every day at 6 have the writer check the docs build").await;
    let answer = nova_answers(&mut nova, &refused, 1).await;
    assert_eq!(answer[0], "Nothing scheduled: Only people with the `operator` role may do that.");

    let thread = nova.say("general", "alice", "every weekday at 9 have the analyst post yesterday's signups").await;
    let answer = nova_answers(&mut nova, &thread, 1).await;
    assert!(
        answer[0]
            .starts_with("Scheduled #1: **analyst** will “post yesterday's signups” weekdays at 09:00 UTC, first on "),
        "{}",
        answer[0]
    );
    nova.reply(&thread, "alice", "what's scheduled?").await;
    let answer = nova_answers(&mut nova, &thread, 2).await;
    assert!(
        answer[1].contains("• #1 **analyst** weekdays at 09:00 UTC: “post yesterday's signups” (next "),
        "{}",
        answer[1]
    );
    assert!(nova.prompts(&thread).await.is_empty(), "nothing ran yet");

    // The clock moves on a week: the tick queues the analyst's run in this thread.
    let day = 86_400_000;
    let mut now = orchestrator::store::now_ms() + 7 * day;
    assert_eq!(nova.engine().run_due_schedules(now).await.unwrap(), 1);
    nova.eventually("the analyst working on the tick", async |nova: &Nova| {
        nova.messages(&thread)
            .await
            .into_iter()
            .find(|m| m.kind == MessageKind::Progress && m.body.contains("counting signups"))
    })
    .await;

    // The next tick comes while that run is still going: it is skipped, not stacked.
    now += 7 * day;
    assert_eq!(nova.engine().run_due_schedules(now).await.unwrap(), 1);
    nova.eventually("the tick skipped", async |nova: &Nova| {
        (audited(nova, "schedule_skipped").await == 1).then_some(())
    })
    .await;
    assert_eq!(nova.prompts(&thread).await.len(), 1);

    // Stopped, the run makes room: the following tick runs and answers in the thread.
    nova.reply(&thread, "alice", "stop").await;
    nova.eventually("the run stopped", async |nova: &Nova| {
        let prompts = nova.prompts(&thread).await;
        (prompts.first()?.state == orchestrator::store::PromptState::Stopped).then_some(())
    })
    .await;
    now += 7 * day;
    assert_eq!(nova.engine().run_due_schedules(now).await.unwrap(), 1);
    let messages = nova.results(&thread, 1).await;
    assert!(messages.last().unwrap().body.contains("signups yesterday: 42"), "{}", messages.last().unwrap().body);
    assert!(messages.iter().any(|m| m.body.starts_with("Schedule #1 (weekdays at 09:00 UTC): **analyst**")));

    // Paused, it takes no tick; resumed, it runs again.
    nova.reply(&thread, "alice", "pause schedule 1").await;
    nova.eventually("the pause confirmed", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.body.starts_with("alice paused schedule #1"))
    })
    .await;
    now += 7 * day;
    assert_eq!(nova.engine().run_due_schedules(now).await.unwrap(), 0);
    assert_eq!(audited(&nova, "scheduled_run").await, 2);
    assert_eq!(audited(&nova, "schedule_made").await, 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_runs_at_nine_on_the_team_s_clock_not_at_nine_utc() {
    let new_york = chrono_tz::Tz::America__New_York;
    let mut nova = Nova::start_with(|config| {
        config.roles.insert("operator".into(), vec!["alice".into()]);
        config.workspace.time_zone = new_york;
    })
    .await;
    let thread = nova.say("general", "alice", "every weekday at 9 have the analyst post yesterday's signups").await;
    let answer = nova_answers(&mut nova, &thread, 1).await;
    let schedule = nova.engine().store().schedule(1).await.unwrap().expect("schedule #1");
    use chrono::Datelike as _;
    let next = chrono::DateTime::from_timestamp_millis(schedule.next_at).unwrap().with_timezone(&new_york);
    assert_eq!(next.format("%H:%M").to_string(), "09:00", "{next}");
    assert!(next.weekday().num_days_from_monday() < 5, "{next}");
    // The thread names the clock, and the first run as that clock shows it.
    let first = next.format("%a %-d %b %H:%M %Z").to_string();
    let said = format!("“post yesterday's signups” weekdays at 09:00 America/New_York, first on {first}. ");
    assert!(answer[0].contains(&said), "{}", answer[0]);
    assert!(first.ends_with("09:00 EST") || first.ends_with("09:00 EDT"), "{first}");
    // Nothing is due at nine UTC that day; at nine in New York the tick comes.
    let nine_utc = next.date_naive().and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp_millis();
    assert_eq!(nova.engine().run_due_schedules(nine_utc).await.unwrap(), 0);
    assert_eq!(nova.engine().run_due_schedules(schedule.next_at).await.unwrap(), 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_the_team_s_time_zone_moves_the_schedules_made_before_it() {
    use chrono::DateTime;
    let new_york = chrono_tz::Tz::America__New_York;
    let file = workspace_file(&[("analyst", "data"), ("writer", "docs")], "");
    let mut nova = Nova::start_from_file(&file).await;
    let thread = nova.say("data", "alice", "every weekday at 9 have the analyst post yesterday's signups").await;
    nova_answers(&mut nova, &thread, 1).await;
    let docs = nova.say("docs", "alice", "every 2h have the writer check the docs build").await;
    nova_answers(&mut nova, &docs, 1).await;
    // Said on a clock of its own, a schedule stays on it.
    let pacific = nova.say("docs", "alice", "every day at 7am PT have the writer post the changelog").await;
    let answer = nova_answers(&mut nova, &pacific, 1).await;
    assert!(
        answer[0].contains("“post the changelog” every day at 07:00 America/Los_Angeles, first on "),
        "{}",
        answer[0]
    );
    let store = nova.engine().store().clone();
    let at_nine = store.schedule(1).await.unwrap().unwrap().next_at;
    let every_two_hours = store.schedule(2).await.unwrap().unwrap().next_at;
    let at_seven_pacific = store.schedule(3).await.unwrap().unwrap().next_at;
    let los_angeles = chrono_tz::Tz::America__Los_Angeles;
    let seven = DateTime::from_timestamp_millis(at_seven_pacific).unwrap().with_timezone(&los_angeles);
    assert_eq!(seven.format("%H:%M").to_string(), "07:00");
    assert_eq!(DateTime::from_timestamp_millis(at_nine).unwrap().format("%H:%M").to_string(), "09:00");

    nova.rewrite_config(&file.replace("name = \"acme\"", "name = \"acme\"\ntime_zone = \"America/New_York\""));
    let moved = nova
        .eventually("the schedule moved to nine in New York", async |nova: &Nova| {
            let next_at = nova.engine().store().schedule(1).await.unwrap()?.next_at;
            let there = DateTime::from_timestamp_millis(next_at)?.with_timezone(&new_york);
            (there.format("%H:%M").to_string() == "09:00").then_some(next_at)
        })
        .await;
    assert_ne!(moved, at_nine);
    assert_eq!(store.schedule(2).await.unwrap().unwrap().next_at, every_two_hours, "an interval keeps its time");
    assert_eq!(store.schedule(3).await.unwrap().unwrap().next_at, at_seven_pacific, "Pacific stays Pacific");
    assert_eq!(audited(&nova, "schedules_retimed").await, 1);
    nova.reply(&thread, "alice", "what's scheduled?").await;
    let answer = nova_answers(&mut nova, &thread, 2).await;
    assert!(answer[1].contains("weekdays at 09:00 America/New_York"), "{}", answer[1]);
    nova.finish().await;
}

/// A workspace file with these offices (each `(name, channel)` answers "<name> did it").
pub(crate) fn workspace_file(offices: &[(&str, &str)], extra: &str) -> String {
    let mut toml = String::from(
        "[workspace]\nname = \"acme\"\n\n[store]\ndata_dir = \"{data_dir}\"\n\n\
         [[repos]]\nname = \"api\"\ndescription = \"The API\"\n",
    );
    for (name, channel) in offices {
        toml.push_str(&format!(
            "\n[[offices]]\nname = \"{name}\"\nrole = \"Does {name} work\"\nrepos = [\"api\"]\nchannels = [\"{channel}\"]\n\
             [offices.runtime]\ncommand = [\"sh\", \"-c\", \"echo {name} did it\"]\n"
        ));
    }
    toml.push_str(extra);
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_nova_toml_is_picked_up_and_a_broken_one_is_refused_while_the_fleet_keeps_going() {
    let mut nova = Nova::start_from_file(&workspace_file(&[("maker", "eng")], "")).await;
    let thread = nova.say("eng", "alice", "rename the checkout button").await;
    assert!(nova.results(&thread, 1).await.last().unwrap().body.contains("maker did it"));

    // A new office, bound to a new channel: taken without a restart.
    nova.rewrite_config(&workspace_file(&[("maker", "eng"), ("helpdesk", "support")], ""));
    nova.eventually("the new office", async |nova: &Nova| nova.engine().config().office("helpdesk").map(|_| ())).await;
    let thread = nova.say("support", "bob", "the printer queue is stuck again").await;
    assert!(nova.results(&thread, 1).await.last().unwrap().body.contains("helpdesk did it"));
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let reloaded = trail.iter().find(|row| row.action == "config_reloaded").expect("the reload audited");
    assert_eq!(reloaded.details, r#"{"offices_added":["helpdesk"]}"#);

    // A file that does not validate is refused with its error; the fleet keeps going.
    nova.rewrite_config(&workspace_file(&[("maker", "eng"), ("helpdesk", "support")], "\n[oops]\nkey = 1\n"));
    nova.eventually("the broken file refused", async |nova: &Nova| {
        (audited(nova, "config_refused").await == 1).then_some(())
    })
    .await;
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let refused = trail.iter().find(|row| row.action == "config_refused").unwrap();
    assert!(refused.details.contains("oops"), "the refusal names what is wrong: {}", refused.details);
    assert!(nova.engine().config().office("helpdesk").is_some());

    // What Nova was started on takes a restart: such a file is refused too, saying so.
    nova.rewrite_config(&workspace_file(&[("maker", "eng")], "\n[server]\nlisten = \"127.0.0.1:9\"\n"));
    nova.eventually("the server change refused", async |nova: &Nova| {
        (audited(nova, "config_refused").await == 2).then_some(())
    })
    .await;
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let refused = trail.iter().rfind(|row| row.action == "config_refused").unwrap();
    assert!(refused.details.contains("[server] changed, which takes a restart"), "{}", refused.details);
    let thread = nova.say("support", "bob", "and the scanner too").await;
    assert!(nova.results(&thread, 1).await.last().unwrap().body.contains("helpdesk did it"));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_reader_is_unsure_of_goes_to_the_model_and_only_that() {
    let model = testkit::openai::FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| {
        config.model.model = Some("fast".into());
        config.model.base_url = Some(model.base_url.clone());
    })
    .await;
    // Sure offline: no model call.
    let thread = nova.say("general", "alice", "what is maker doing?").await;
    assert!(nova_answers(&mut nova, &thread, 1).await[0].starts_with("**maker** is"));
    assert!(model.requests().is_empty(), "a sure reading asks no model");

    // Fleet words, but no rule reads them: the model is asked, with one tool per action.
    model.then(testkit::openai::Reply::tool("wake", json!({"office": "analyst"})));
    let thread = nova.say("general", "alice", "the analyst office should be up before the board meeting").await;
    let answer = nova_answers(&mut nova, &thread, 1).await;
    assert!(answer[0].contains("analyst"), "{}", answer[0]);
    assert_eq!(model.requests().len(), 1);
    nova.office_reaches("analyst", "idle").await;
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let request = trail.iter().rfind(|row| row.action == "request").unwrap();
    assert!(request.details.contains(r#""read_by":"model""#), "{}", request.details);
    assert!(nova.prompts(&thread).await.is_empty(), "a fleet request is not routed as work");
    nova.finish().await;
}

/// Carol starts with the analyst at about this time every day: for a week the
/// analyst's first session began within minutes of it. Nothing she does announces it,
/// so Nova wakes the analyst ahead of her from its history, and her prompt finds it up.
/// The writer, used at a different hour each day, is not woken on a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_used_at_the_same_time_every_day_is_up_before_its_person_comes() {
    use orchestrator::store::AuditFilter;
    use sea_orm::ConnectionTrait as _;

    let mut nova = Nova::start_with(|config| {
        for office in &mut config.offices {
            office.set_idle_timeout(Duration::from_millis(200));
        }
    })
    .await;
    let mut sessions = Vec::new();
    for day in 1..=6 {
        sessions.push(("analyst", day, nova.say("eng", "carol", &format!("@analyst signups for day {day}")).await));
        sessions.push(("writer", day, nova.say("docs", "dan", &format!("@writer draft note {day}")).await));
    }
    for (_, _, thread) in &sessions {
        nova.results(thread, 1).await;
    }
    nova.office_reaches("analyst", "asleep").await;
    nova.office_reaches("writer", "asleep").await;
    // Those were the past six days: the analyst's sessions two minutes from now's time
    // of day, the writer's at other hours each day.
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let now = orchestrator::store::now_ms();
    let db = nova.engine().store().db();
    for (office, day, thread) in &sessions {
        let at = match *office {
            "analyst" => now + 2 * 60_000 - day * DAY_MS,
            _ => now - day * DAY_MS + [5, 9, 2, 11, 7, 4][*day as usize - 1] * 3600 * 1000,
        };
        db.execute_unprepared(&format!("UPDATE prompts SET created_at = {at} WHERE thread_id = '{thread}'"))
            .await
            .unwrap();
    }
    // Plans are made as offices fall asleep, and anew when Nova starts.
    nova.restart(|_| {}).await;

    let woken = nova
        .eventually("the analyst woken ahead of carol", async |nova: &Nova| {
            let trail = nova.engine().store().audit_trail(&AuditFilter::default()).await.unwrap();
            trail.into_iter().find(|row| row.action == "habit_wake")
        })
        .await;
    assert_eq!(woken.office.as_deref(), Some("analyst"));
    let details: serde_json::Value = serde_json::from_str(&woken.details).unwrap();
    let until_minutes = (details["until"].as_i64().unwrap() - woken.at) as f64 / 60_000.0;
    assert!((2.0..20.0).contains(&until_minutes), "waits for her until ten minutes past her time: {until_minutes:.1}");
    let up = nova.office_reaches("analyst", "idle").await;
    assert!(up.prewarm_habit && up.prewarm_until.is_some(), "{up:?}");

    // Carol comes: the analyst is up, and the audit trail says the habit paid off.
    let thread = nova.say("eng", "carol", "@analyst signups for today").await;
    nova.results(&thread, 1).await;
    let hit = nova
        .eventually("the habit wake's hit", async |nova: &Nova| {
            let trail = nova.engine().store().audit_trail(&AuditFilter::default()).await.unwrap();
            trail.into_iter().find(|row| row.action == "prewarm_hit" && row.office.as_deref() == Some("analyst"))
        })
        .await;
    assert!(hit.details.contains(r#""source":"habit""#), "{}", hit.details);
    let trail = nova.engine().store().audit_trail(&AuditFilter::default()).await.unwrap();
    assert!(
        !trail.iter().any(|row| row.action == "wake" && row.office.as_deref() == Some("analyst") && row.at > woken.at),
        "her prompt needed no wake of its own"
    );
    // The writer was planned at the same start and is still asleep, never woken on a guess.
    assert_eq!(nova.office("writer").await.state.as_str(), "asleep");
    assert!(!trail.iter().any(|row| row.action == "habit_wake" && row.office.as_deref() == Some("writer")));
    nova.finish().await;
}

/// Maker's people have come back to it every forty minutes all morning: once idle, it
/// stays up for them past its idle timeout (and the audit trail says until when), while
/// the writer, asked once, sleeps as usual; with its budget spent, maker sleeps too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_its_people_keep_coming_back_to_stays_up_between_sessions() {
    use orchestrator::store::AuditFilter;
    use sea_orm::ConnectionTrait as _;

    let mut nova = Nova::start_with(|config| {
        for office in &mut config.offices {
            office.set_idle_timeout(Duration::from_millis(200));
        }
        config.offices.iter_mut().find(|o| o.name == "maker").unwrap().budget_usd = Some(20.0);
    })
    .await;
    // This morning's sessions: three prompts, then dated forty, eighty and 120 minutes ago.
    let mut earlier = Vec::new();
    for n in 1..=3 {
        earlier.push(nova.say("eng", "alice", &format!("@maker tidy module {n}")).await);
    }
    for thread in &earlier {
        nova.results(thread, 1).await;
    }
    nova.office_reaches("maker", "asleep").await;
    let db = nova.engine().store().db();
    for (thread, minutes) in earlier.iter().zip([120, 80, 40]) {
        let sql =
            format!("UPDATE prompts SET created_at = created_at - {} WHERE thread_id = '{thread}'", minutes * 60_000);
        db.execute_unprepared(&sql).await.unwrap();
    }

    // Alice is back: the office wakes for her, and once idle it stays up.
    let thread = nova.say("eng", "alice", "@maker one more: tidy module 4").await;
    nova.results(&thread, 1).await;
    let stays = nova
        .eventually("maker kept up for its regulars", async |nova: &Nova| {
            let trail = nova.engine().store().audit_trail(&AuditFilter::default()).await.unwrap();
            trail.into_iter().find(|row| row.action == "stays_up" && row.office.as_deref() == Some("maker"))
        })
        .await;
    let details: serde_json::Value = serde_json::from_str(&stays.details).unwrap();
    let hours = (details["until"].as_i64().unwrap() - stays.at) as f64 / 3_600_000.0;
    assert!((1.5..4.0).contains(&hours), "kept up for {hours:.2} h");

    // The writer, asked once after that, idles out and sleeps; maker is still up.
    let once = nova.say("docs", "bob", "@writer proofread the changelog").await;
    nova.results(&once, 1).await;
    nova.office_reaches("writer", "asleep").await;
    assert_eq!(nova.office("maker").await.state.as_str(), "idle");

    // Once maker's budget is spent, nothing keeps it up: it sleeps.
    let usage = orchestrator::store::AuditEntry {
        actor: "maker".to_owned(),
        office: Some("maker".to_owned()),
        run_id: None,
        action: "usage",
        details: serde_json::json!({"model": "m", "input_tokens": 1000, "output_tokens": 200, "cost_usd": 25.0}),
    };
    nova.engine().store().audit(usage).await.unwrap();
    nova.office_reaches("maker", "asleep").await;
    nova.finish().await;
}
