//! Changing the fleet in plain words: the asker's permission first, an approval for
//! what costs money or reach, the change written over nova.toml and validated like it,
//! kept across a restart and an edit of the file, and written out by `nova export`.

use std::time::Duration;

use orchestrator::config::Config;
use orchestrator::store::{ApprovalState, MessageKind};
use serde_json::json;

use crate::harness::Nova;
use crate::stories::{audited, nova_answers, workspace_file};

const OPERATORS: &str = "\n[roles]\noperator = [\"alice\", \"bob\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asked_for_in_chat_waits_for_approval_then_takes_work_and_outlives_a_restart() {
    let mut nova = Nova::start_from_file(&workspace_file(&[("writer", "docs")], OPERATORS)).await;
    let ask = "set up an office called scribe for release notes under the writer";

    // Only an operator may change the fleet.
    let refused = nova.say("general", "carol", ask).await;
    assert_eq!(
        nova_answers(&mut nova, &refused, 1).await[0],
        "Nothing changed: Only people with the `operator` role may change the fleet."
    );

    // A new office waits for someone else's approval; nothing changes before it.
    let thread = nova.say("general", "alice", ask).await;
    let card = nova.approval_card(&thread).await;
    insta::assert_snapshot!(card.body.split("Expires at").next().unwrap(), @r"
    **alice** asks for approval to **create the office scribe: “release notes”; reporting to writer** (fleet_change, risk: medium).
    Who may decide: alice, bob.
    ");
    assert!(nova.engine().config().office("scribe").is_none());
    let (status, refusal) = nova.click(&thread, card.id, "alice", "approve").await;
    assert_eq!(
        (status, refusal["error"].as_str().unwrap()),
        (403, "alice asked for this work, so someone else has to approve it")
    );
    let (status, _) = nova.click(&thread, card.id, "bob", "approve").await;
    assert_eq!(status, 200);
    let answers = nova_answers(&mut nova, &thread, 2).await;
    assert_eq!(
        answers[1],
        "Done: create the office scribe: “release notes”; reporting to writer. `nova export` writes the live fleet out as a config file."
    );

    // The new office takes work at once, working the way the office it reports to does.
    let work = nova.say("docs", "dave", "@scribe draft the notes for 1.2").await;
    assert!(nova.results(&work, 1).await.last().unwrap().body.contains("writer did it"));
    assert_eq!(nova.prompts(&work).await[0].office, "scribe");

    // An idle timeout costs nothing new: it needs no approval.
    let keep_up = nova.say("general", "alice", "keep the scribe up for an hour when it goes idle").await;
    assert_eq!(
        nova_answers(&mut nova, &keep_up, 1).await[0],
        "Done: change the office scribe: idle timeout 1h. `nova export` writes the live fleet out as a config file."
    );
    assert_eq!(nova.engine().config().office("scribe").unwrap().idle_timeout, Duration::from_secs(3600));

    // Who asked and who approved, under the change's own id.
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let changed: Vec<(&str, Option<&str>)> =
        trail.iter().filter(|r| r.action == "fleet_changed").map(|r| (r.actor.as_str(), r.office.as_deref())).collect();
    assert_eq!(changed, [("bob", Some("scribe")), ("alice", Some("scribe"))]);
    assert_eq!(audited(&nova, "fleet_change_requested").await, 1);

    // `nova export` prints the live fleet: the file, with the changes written in.
    let exported = export(&nova);
    assert!(exported.starts_with("[workspace]\nname = \"acme\""), "{exported}");
    let config = Config::parse(&exported, "export").unwrap();
    assert_eq!(config.office("scribe").unwrap().reports_to.as_deref(), Some("writer"));
    assert_eq!(config.office("scribe").unwrap().idle_timeout, Duration::from_secs(3600));

    // The changes outlive a restart, and an edit of the file (here, a new office).
    nova.restart(|_| {}).await;
    assert!(nova.engine().config().office("scribe").is_some());
    nova.rewrite_config(&workspace_file(&[("writer", "docs"), ("helpdesk", "support")], OPERATORS));
    nova.eventually("the edited file taken", async |nova: &Nova| nova.engine().config().office("helpdesk").map(|_| ()))
        .await;
    assert!(
        nova.engine().config().office("scribe").is_some(),
        "the file's edit keeps the chat's changes: {}",
        crate::harness::logs()
    );

    // A file that now makes its own scribe wins: the chat's is left out, saying why,
    // and the later change to it still applies.
    let scribe = ("scribe", "notes");
    nova.rewrite_config(&workspace_file(&[("writer", "docs"), ("helpdesk", "support"), scribe], OPERATORS));
    nova.eventually("the chat's scribe left out", async |nova: &Nova| {
        (audited(nova, "fleet_change_left_out").await == 1).then_some(())
    })
    .await;
    let scribe = nova.engine().config().office("scribe").unwrap().clone();
    assert_eq!(
        (scribe.channels.as_slice(), scribe.idle_timeout),
        (&["notes".to_owned()][..], Duration::from_secs(3600))
    );
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_office_gets_no_more_work_and_goes_to_sleep() {
    let mut nova =
        Nova::start_from_file(&workspace_file(&[("writer", "docs"), ("helpdesk", "support")], OPERATORS)).await;
    let work = nova.say("support", "dave", "the printer queue is stuck").await;
    assert!(nova.results(&work, 1).await.last().unwrap().body.contains("helpdesk did it"));
    nova.office_reaches("helpdesk", "idle").await;

    // A change the fleet would not take is refused before anyone is asked.
    let thread = nova.say("general", "alice", "set up an office called writer for more docs").await;
    assert_eq!(
        nova_answers(&mut nova, &thread, 1).await[0],
        "Nothing changed: I cannot create the office writer: “more docs”, because there is already an office named `writer`."
    );

    let thread = nova.say("general", "alice", "retire helpdesk").await;
    let card = nova.approval_card(&thread).await;
    let (status, _) = nova.click(&thread, card.id, "bob", "reject").await;
    assert_eq!(status, 200);
    assert!(nova.engine().config().office("helpdesk").is_some(), "rejected: nothing changes");

    let thread = nova.say("general", "alice", "retire helpdesk").await;
    let card = nova.approval_card(&thread).await;
    nova.click(&thread, card.id, "bob", "approve").await;
    assert!(nova_answers(&mut nova, &thread, 2).await[1].starts_with("Done: retire the office helpdesk"));
    assert!(nova.engine().config().office("helpdesk").is_none());
    // Its machine is not left running: it sleeps (workspace kept) at once.
    nova.office_reaches("helpdesk", "asleep").await;
    assert!(!export(&nova).contains("helpdesk"));
    nova.finish().await;
}

/// What `nova export` prints for this Nova's file and database.
fn export(nova: &Nova) -> String {
    nova_cli(nova, &["export"])
}

/// What a `nova` command prints for this Nova's file and database.
fn nova_cli(nova: &Nova, command: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nova"))
        .args(command)
        .arg("--config")
        .arg(nova.config_file().unwrap())
        .env("NOVA_DATABASE_URL", nova.database_url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_over_budget_is_not_woken_until_the_raise_nova_offers_is_approved() {
    let file = workspace_file(&[("writer", "docs")], OPERATORS)
        .replace("role = \"Does writer work\"", "role = \"Does writer work\"\nbudget = 1.0");
    let mut nova = Nova::start_from_file(&file).await;
    // What the writer's runs reported their models cost.
    let details = serde_json::json!({"model": "m", "input_tokens": 9000, "output_tokens": 900, "cost_usd": 1.5});
    let usage = orchestrator::store::AuditEntry {
        actor: "writer".into(),
        office: Some("writer".into()),
        run_id: None,
        action: "usage",
        details,
    };
    nova.engine().store().audit(usage).await.unwrap();

    // `nova spend` reads the same figures.
    let spend = nova_cli(&nova, &["spend"]);
    assert!(
        spend.contains(
            "• writer: $1.50 (models $1.50 over 1 run(s), 9900 tokens; machine $0.00 for 0.0 h awake), budget $1/month"
        ),
        "{spend}"
    );

    // Spend stops before the wake: the prompt waits, and its thread says why and how on.
    let work = nova.say("docs", "dave", "@writer draft the launch post").await;
    let answers = nova_answers(&mut nova, &work, 2).await;
    assert!(!answers[0].contains("waking"), "{}", answers[0]);
    let told = &answers[1];
    assert!(told.starts_with("This waits: **writer** has spent $1.50 of its $1.00 budget"), "{told}");
    assert_eq!(nova.office("writer").await.state.as_str(), "asleep");
    assert_eq!(audited(&nova, "budget_stop").await, 1);
    assert_eq!(audited(&nova, "wake").await, 0);

    // Nova offers the raise in the thread, as a fleet change: approved, the prompt runs.
    let card = nova.approval_card(&work).await;
    insta::assert_snapshot!(card.body.split("Expires at").next().unwrap(), @r"
        **nova** asks for approval to **change the office writer: budget $2 a month** (fleet_change, risk: medium).
        > writer has spent its $1.00 budget this month; its work waits. Approving doubles the budget and the work runs.
        Who may decide: alice, bob.
        ");
    let (status, _) = nova.click(&work, card.id, "bob", "approve").await;
    assert_eq!(status, 200);
    assert!(nova.results(&work, 1).await.last().unwrap().body.contains("writer did it"));
    assert_eq!(nova.engine().config().office("writer").unwrap().budget_usd, Some(2.0));
    assert_eq!(audited(&nova, "budget_stop").await, 1, "each thread is told once");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_asks_for_a_fleet_change_the_way_chat_does() {
    let mut nova = Nova::start_from_file(&workspace_file(&[("writer", "docs")], OPERATORS)).await;
    let client_id = || uuid::Uuid::new_v4().to_string();

    // Not a change, or not one Nova knows: refused with the reason, nothing recorded.
    let help = json!({"author": "alice", "change": {"action": "help", "args": {}}, "client_id": client_id()});
    let (status, refusal) = nova.post_json("/api/fleet", &help).await;
    assert_eq!(
        (status, refusal["error"].as_str().unwrap()),
        (400, "`help` is not a fleet change: use create_office, update_office, retire_office or add_repo")
    );
    let unknown = json!({"author": "alice", "change": {"action": "buy_gpus", "args": {}}, "client_id": client_id()});
    assert_eq!(nova.post_json("/api/fleet", &unknown).await.0, 400);
    assert_eq!(audited(&nova, "request").await, 0);

    // A new repo: recorded like a message (its thread shows what was asked), then the
    // same permission check and approval card as in chat.
    let add = json!({
        "author": "alice",
        "change": {"action": "add_repo", "args": {"name": "billing-jobs", "description": "Nightly billing batch jobs"}},
        "client_id": client_id()
    });
    let (status, accepted) = nova.post_json("/api/fleet", &add).await;
    assert_eq!(status, 202, "{accepted}");
    let thread = accepted["thread_id"].as_str().unwrap().to_owned();
    let card = nova.approval_card(&thread).await;
    let asked = &nova.messages(&thread).await[0];
    assert_eq!(
        (asked.author.as_str(), asked.body.as_str()),
        ("alice", "add the repo billing-jobs: “Nightly billing batch jobs”")
    );
    nova.click(&thread, card.id, "bob", "approve").await;
    assert!(nova_answers(&mut nova, &thread, 2).await[1].starts_with("Done: add the repo billing-jobs"));
    assert_eq!(nova.engine().config().repo("billing-jobs").unwrap().description, "Nightly billing batch jobs");

    // Someone without the operator role is told so in the thread.
    let retire = json!({"author": "carol", "change": {"action": "retire_office", "args": {"office": "writer"}}, "client_id": client_id()});
    let (_, accepted) = nova.post_json("/api/fleet", &retire).await;
    let thread = accepted["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(
        nova_answers(&mut nova, &thread, 1).await[0],
        "Nothing changed: Only people with the `operator` role may change the fleet."
    );
    nova.finish().await;
}

/// A runtime that asks for a fleet-change approval, as a prompt-injected agent might, to
/// show a card that reads as a person's request.
const FORGES_A_FLEET_CHANGE: &str = r#"
"$NOVA_OFFICE_CLI" request-approval --kind fleet_change --action "create the office backdoor" --risk low
first=$?
"$NOVA_OFFICE_CLI" request-approval --kind loop_guard --action "let maker go on" --risk low
echo "{\"type\":\"result\",\"text\":\"asked, exit $first and $?\"}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_cannot_ask_for_a_fleet_change_or_a_loop_guard_approval() {
    let mut nova = Nova::start_with(|config| {
        config.offices[0].runtime.as_mut().unwrap().command =
            vec!["sh".into(), "-c".into(), FORGES_A_FLEET_CHANGE.into()];
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker tidy up the README").await;
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    // Neither a fleet change nor Nova's loop pause can be asked for by an office.
    assert!(result.starts_with("asked, exit ") && !result.contains(" 0"), "{result}");
    assert!(nova.engine().approvals_in_state(ApprovalState::Pending).await.unwrap().is_empty(), "no card was shown");
    assert!(nova.messages(&thread).await.iter().all(|m| m.card.is_none() || m.kind != MessageKind::Card));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_80_percent_only_urgent_work_runs_and_a_spent_workspace_budget_stops_everyone() {
    let file = workspace_file(&[("writer", "docs"), ("maker", "eng")], OPERATORS)
        .replace("role = \"Does writer work\"", "role = \"Does writer work\"\nbudget = 2.0")
        .replace("name = \"acme\"", "name = \"acme\"\nbudget = 10.0");
    let mut nova = Nova::start_from_file(&file).await;
    // Priced from `[prices]`-less usage: the runtime reported its cost.
    let spent = |office: &str, cost: f64| orchestrator::store::AuditEntry {
        actor: office.into(),
        office: Some(office.into()),
        run_id: None,
        action: "usage",
        details: serde_json::json!({"model": "m", "input_tokens": 100, "output_tokens": 10, "cost_usd": cost}),
    };
    nova.engine().store().audit(spent("writer", 1.7)).await.unwrap();

    // 85% of the writer's budget: ordinary work waits, urgent work runs.
    let post = nova.say("docs", "dave", "@writer draft the launch post").await;
    let answers = nova_answers(&mut nova, &post, 2).await;
    assert!(!answers[0].contains("waking"), "{}", answers[0]);
    assert!(
        answers[1].starts_with("This waits: **writer** has spent $1.70 of its $2.00 budget this month (85%)"),
        "{}",
        answers[1]
    );
    assert_eq!(nova.office("writer").await.state.as_str(), "asleep", "not woken for work it may not start");
    let urgent = nova.say("docs", "dave", "@writer urgent: the status page says we are down, fix its wording").await;
    assert_eq!(nova.results(&urgent, 1).await.iter().filter(|m| m.kind == MessageKind::Result).count(), 1);
    assert_eq!(nova.prompts(&post).await[0].state, orchestrator::store::PromptState::Held, "still waiting");
    assert_eq!(audited(&nova, "budget_warning").await, 1);

    // The workspace's budget binds every office, even one with none of its own.
    nova.engine().store().audit(spent("writer", 8.5)).await.unwrap();
    let fix = nova.say("eng", "erin", "@maker fix the cart").await;
    let answers = nova_answers(&mut nova, &fix, 2).await;
    assert!(
        answers[1].starts_with("This waits: the workspace has spent $10.20 of its $10.00 budget this month"),
        "{}",
        answers[1]
    );
    nova.finish().await;
}
