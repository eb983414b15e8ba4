//! Offices doing real work: the built-in agent against an OpenAI-compatible model (the
//! stand-in, scripted with tool calls), on a repo cloned from a local bare git remote;
//! follow-ups that continue the session; runs stopped from the thread.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orchestrator::config::{ApprovalPolicy, Config};
use orchestrator::store::MessageKind;
use orchestrator::texts::{Card, RunStatus};
use serde_json::{Value, json};
use testkit::openai::{FakeOpenAi, Reply};

use crate::harness::Nova;

/// A remote with one commit on `main`: a coupon check that rejects valid 10-character
/// codes, and the repo's test, which says so.
pub(crate) fn payments_remote(dir: &Path) -> PathBuf {
    let remote = dir.join("payments-api.git");
    let work = dir.join("seed");
    git(dir, &["init", "--quiet", "--bare", "--initial-branch=main", remote.to_str().unwrap()]);
    git(dir, &["init", "--quiet", "--initial-branch=main", work.to_str().unwrap()]);
    std::fs::write(work.join("coupons.sh"), "valid() { [ ${#1} -eq 8 ]; }\n").unwrap();
    std::fs::write(
        work.join("test.sh"),
        ". ./coupons.sh\nvalid SPRING25OFF && echo 'ok: 10 characters' || { echo 'FAIL: SPRING25OFF rejected'; exit 1; }\n",
    )
    .unwrap();
    git(&work, &["add", "."]);
    git(&work, &["-c", "user.name=alice", "-c", "user.email=alice@example.com", "commit", "--quiet", "-m", "coupons"]);
    git(&work, &["push", "--quiet", remote.to_str().unwrap(), "main"]);
    remote
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").args(args).current_dir(dir).env("GIT_CONFIG_NOSYSTEM", "1").output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The demo workspace with `payments-api` cloned from `remote`, and `maker` on the
/// built-in agent, its model behind the `llm` upstream (a local server: no key).
pub(crate) fn agent_workspace(config: &mut Config, remote: &Path, llm: &str, sandboxed: bool) {
    let toml = format!(
        r#"
[workspace]
name = "acme"

[[upstreams]]
name = "llm"
url = "{llm}"

[[repos]]
name = "payments-api"
description = "Payments service: charges, refunds, coupons."
url = "{remote}"

[[offices]]
name = "maker"
role = "Software engineer"
repos = ["payments-api"]
channels = ["eng"]

[offices.runtime]
preset = "nova-agent"
model = "small-coder"
timeout = "2m"
sandbox = {{ enabled = {sandboxed} }}

[[offices]]
name = "support"
role = "Customer support"
channels = ["support"]
"#,
        remote = remote.display()
    );
    let parsed = Config::parse(&toml, "the story's nova.toml").unwrap();
    config.repos = parsed.repos;
    config.offices = parsed.offices;
    config.upstreams = parsed.upstreams;
    for office in &mut config.offices {
        office.set_idle_timeout(Duration::from_secs(3600));
    }
}

/// Every message of a model request, as `role: content` lines.
fn conversation(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}: {}", m["role"].as_str().unwrap(), m["content"].as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_agent_fixes_the_repo_runs_its_tests_and_pushes_its_branch_after_approval() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    // The remote is a local path, which the sandbox rightly keeps the runtime from
    // writing: pushing needs it off here (a real remote is reached over HTTPS).
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, &model.base_url, false);
        config.roles.insert("lead".into(), vec!["carol".into()]);
        config.approvals.push(ApprovalPolicy {
            kind: "push".into(),
            approvers: vec!["lead".into()],
            expires: Duration::from_secs(600),
            over_usd: None,
        });
    })
    .await;
    model.then(Reply::ToolCalls(vec![
        (
            "report".into(),
            json!({"objectives": [{"text": "Find the coupon check"}, {"text": "Fix it"}, {"text": "Run the tests"}]}),
        ),
        ("read_file".into(), json!({"path": "coupons.sh"})),
    ]));
    model.then(Reply::tool(
        "edit_file",
        json!({"path": "coupons.sh", "old": "[ ${#1} -eq 8 ]", "new": "[ ${#1} -ge 6 ] && [ ${#1} -le 12 ]"}),
    ));
    model.then(Reply::tool("run", json!({"command": "sh test.sh"})));
    model.then(Reply::tool(
        "request_approval",
        json!({"kind": "push", "action": "push the branch with the coupon fix", "risk": "low"}),
    ));
    model.then(Reply::tool(
        "run",
        json!({"command": "git commit --quiet -am 'Accept coupon codes of 6 to 12 characters' && git push --quiet origin HEAD"}),
    ));
    model
        .then(Reply::Content("Coupon codes of 6 to 12 characters pass now; test.sh passes; pushed the branch.".into()));

    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    let card = nova
        .eventually("an approval card", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| matches!(m.card, Some(Card::Approval { .. })))
        })
        .await;
    assert!(card.body.contains("push the branch with the coupon fix"), "{}", card.body);
    let click = json!({"thread_id": thread, "message_id": card.id, "author": "carol", "action": "approve", "client_id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(nova.post_json("/api/console/actions", &click).await.0, 200);

    let messages = nova.results(&thread, 1).await;
    let result = messages.iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert_eq!(result.body, "Coupon codes of 6 to 12 characters pass now; test.sh passes; pushed the branch.");

    // The branch is on the remote, with the fix.
    let branch = format!("nova/{}", orchestrator::engine::session_name(&thread));
    let fixed = git(&remote, &["show", &format!("{branch}:coupons.sh")]);
    assert_eq!(fixed, "valid() { [ ${#1} -ge 6 ] && [ ${#1} -le 12 ]; }\n");
    let log = git(&remote, &["log", "--format=%an: %s", &branch]);
    assert_eq!(log, "maker: Accept coupon codes of 6 to 12 characters\nalice: coupons\n");
    assert_eq!(git(&remote, &["rev-parse", "main"]), git(&remote, &["rev-parse", &format!("{branch}~1")]));

    // The model saw the thread and the repo, and every tool's output.
    let requests = model.requests();
    assert_eq!(requests.len(), 6);
    let first = conversation(&requests[0]);
    assert!(first.contains("the coupon field rejects valid codes in payments-api"), "{first}");
    assert!(first.contains(&format!("on the branch `{branch}`")), "{first}");
    let last = conversation(&requests[5]);
    assert!(last.contains("ok: 10 characters"), "the tests ran after the edit: {last}");
    assert!(last.contains("tool: approved by carol"), "{last}");
    let tools: Vec<&str> =
        requests[0]["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(
        tools,
        [
            "read_file",
            "write_file",
            "edit_file",
            "list_files",
            "grep",
            "run",
            "request_approval",
            "request_credential",
            "call_upstream",
            "handoff",
            "tasks",
            "create_task",
            "claim_task",
            "finish_task",
            "escalate",
            "ask_nova",
            "sql",
            "submit_change",
            "review_decision",
            "load_skill",
            "report"
        ]
    );

    // The progress card ticked its objectives; the run's usage is in the audit trail.
    let progress = messages.iter().find(|m| m.kind == MessageKind::Progress).unwrap();
    let Some(Card::Progress { status, objectives, .. }) = &progress.card else { panic!("{progress:?}") };
    assert_eq!(*status, RunStatus::Done);
    assert_eq!(objectives.len(), 3);
    let prompt = nova.prompts(&thread).await.remove(0);
    let (_, audit) = nova.get_json(&format!("/api/audit?run={}", prompt.run_id)).await;
    let usage = audit.as_array().unwrap().iter().find(|row| row["action"] == "usage").expect("a usage row");
    let details: Value = serde_json::from_str(usage["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["model"], "small-coder");
    assert!(details["input_tokens"].as_u64().unwrap() > 0 && details["output_tokens"].as_u64().unwrap() > 0);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_s_follow_up_continues_the_session_after_the_office_slept() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| agent_workspace(config, &remote, &model.base_url, true)).await;
    model.then(Reply::tool(
        "edit_file",
        json!({"path": "coupons.sh", "old": "[ ${#1} -eq 8 ]", "new": "[ ${#1} -ge 6 ] && [ ${#1} -le 12 ]"}),
    ));
    model.then(Reply::tool("run", json!({"command": "sh test.sh && git commit --quiet -am 'Accept longer codes'"})));
    model.then(Reply::Content("Codes of 6 to 12 characters pass; committed on the session's branch.".into()));
    let thread = nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api").await;
    nova.results(&thread, 1).await;

    assert!(nova.engine().sleep_office("maker", "alice").await.unwrap());
    nova.office_reaches("maker", "asleep").await;

    model.then(Reply::tool("run", json!({"command": "git log --format=%s -1"})));
    model.then(Reply::Content("Expired codes are refused too.".into()));
    nova.reply(&thread, "bob", "also handle expired codes").await;
    let messages = nova.results(&thread, 2).await;
    assert_eq!(
        messages.iter().rfind(|m| m.kind == MessageKind::Result).unwrap().body,
        "Expired codes are refused too."
    );

    let requests = model.requests();
    let follow_up = conversation(requests.last().unwrap());
    // The same conversation, continued: the first run's work and answer are in it …
    assert!(follow_up.contains("the coupon field rejects valid codes in payments-api"), "{follow_up}");
    assert!(follow_up.contains("assistant: Codes of 6 to 12 characters pass"), "{follow_up}");
    // … then what the colleague asked, and the branch as the first run left it.
    assert!(follow_up.contains("bob now asks:\nalso handle expired codes"), "{follow_up}");
    assert!(follow_up.contains("tool: exit code 0\nAccept longer codes"), "{follow_up}");
    assert_eq!(follow_up.matches("system: ").count(), 1, "one system message, refreshed: {follow_up}");
    nova.finish().await;
}

/// Waits until the thread's run reports it is working; its progress card.
async fn working(nova: &mut Nova, thread: &str) -> orchestrator::engine::MessageView {
    nova.eventually("the run working", async |nova: &Nova| {
        nova.messages(thread).await.into_iter().find(
            |m| matches!(&m.card, Some(Card::Progress { lines, .. }) if lines.iter().any(|l| l == "working on it")),
        )
    })
    .await
}

/// A runtime that works until it is stopped, with a child of its own: both must end.
pub const LONG_RUN: &str = r#"
sleep 600 &
echo $! > "$NOVA_WORKSPACE/child.pid"
echo "working on it"
wait
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_author_or_an_operator_stops_a_long_run_and_the_office_goes_on_with_its_queue() {
    let mut nova = Nova::start_with(|config| {
        config.roles.insert("operator".into(), vec!["olga".into(), crate::harness::OPERATOR.into()]);
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), LONG_RUN.into()];
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker rebuild the search index").await;
    let progress = working(&mut nova, &thread).await;
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let child: i32 = std::fs::read_to_string(workspace.join("child.pid")).unwrap().trim().parse().unwrap();

    // Neither the author nor an operator: refused, in the thread.
    nova.reply(&thread, "mallory", "stop").await;
    nova.eventually("the refusal", async |nova: &Nova| {
        nova.messages(&thread)
            .await
            .into_iter()
            .find(|m| m.body == "Nothing changed: only alice (who asked for it) or an operator may stop it.")
    })
    .await;
    let click = json!({"thread_id": thread, "message_id": progress.id, "author": "mallory", "action": "stop", "client_id": uuid::Uuid::new_v4().to_string()});
    let (status, refusal) = nova.post_json("/api/console/actions", &click).await;
    assert_eq!(
        (status, refusal["error"].as_str().unwrap()),
        (403, "only alice (who asked for it) or an operator may stop it")
    );

    // The author's Stop button ends the runtime and its child.
    let click = json!({"thread_id": thread, "message_id": progress.id, "author": "alice", "action": "stop", "client_id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(nova.post_json("/api/console/actions", &click).await.0, 200);
    let stopped = nova
        .eventually("the stop in the thread", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| m.body.starts_with("alice stopped **maker**"))
        })
        .await;
    assert_eq!(stopped.body, "alice stopped **maker**. Its workspace keeps what it had done; say what to do next.");
    let card = nova.messages(&thread).await.into_iter().find(|m| m.id == progress.id).unwrap();
    assert!(matches!(card.card, Some(Card::Progress { status: RunStatus::Stopped, .. })), "{card:?}");
    // SAFETY: signal 0 only asks whether the process exists.
    assert_ne!(unsafe { libc::kill(child, 0) }, 0, "the runtime's child {child} outlived the stop");
    assert_eq!(nova.prompts(&thread).await[0].state, orchestrator::store::PromptState::Stopped);

    // The office goes on: the next prompt runs, and an operator stops it with a word.
    let second = nova.say("eng", "bob", "@maker rebuild the search index again").await;
    working(&mut nova, &second).await;
    nova.reply(&second, "olga", "<@U0NOVA> stop").await;
    nova.eventually("the operator's stop", async |nova: &Nova| {
        nova.messages(&second).await.into_iter().find(|m| m.body.starts_with("olga stopped **maker**"))
    })
    .await;

    // `/nova stop` (Slack and Discord alike) stops the one run the person asked for.
    let answer = orchestrator::commands::run(nova.engine(), "alice", "stop").await.unwrap();
    assert_eq!(answer.text, "Nothing you asked for is running.");
    let third = nova.say("eng", "alice", "@maker and the synonyms").await;
    working(&mut nova, &third).await;
    let answer = orchestrator::commands::run(nova.engine(), "alice", "stop").await.unwrap();
    assert_eq!((answer.text.as_str(), answer.private), ("Stopping **maker** on “@maker and the synonyms”.", true));
    nova.eventually("the command's stop", async |nova: &Nova| {
        nova.messages(&third).await.into_iter().find(|m| m.body.starts_with("alice stopped **maker**"))
    })
    .await;
    let (_, audit) = nova.get_json("/api/audit?office=maker").await;
    let stops = audit.as_array().unwrap().iter().filter(|row| row["action"] == "run_stopped").count();
    assert_eq!(stops, 3);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_stopped_before_it_starts_never_runs() {
    let mut nova = Nova::start_with(|config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), LONG_RUN.into()];
    })
    .await;
    let first = nova.say("eng", "alice", "@maker rebuild the search index").await;
    working(&mut nova, &first).await;
    let second = nova.say("eng", "bob", "@maker and re-rank the results").await;
    nova.eventually("the second queued", async |nova: &Nova| {
        nova.prompts(&second).await.first().filter(|p| p.state != orchestrator::store::PromptState::Unrouted).cloned()
    })
    .await;
    nova.reply(&second, "bob", "cancel").await;
    nova.eventually("the second stopped", async |nova: &Nova| {
        nova.messages(&second).await.into_iter().find(|m| m.body.contains("stopped"))
    })
    .await;
    nova.reply(&first, "alice", "stop").await;
    nova.eventually("the first stopped", async |nova: &Nova| {
        nova.messages(&first).await.into_iter().find(|m| m.body.starts_with("alice stopped **maker**"))
    })
    .await;
    assert_eq!(nova.prompts(&second).await[0].state, orchestrator::store::PromptState::Stopped);
    // Nothing else in the thread: the stopped prompt never reached the runtime.
    let texts: Vec<String> = nova.messages(&second).await.into_iter().map(|m| m.body).collect();
    assert!(!texts.iter().any(|t| t.contains("working on it")), "{texts:?}");
    nova.finish().await;
}

/// maker hands the release notes to writer, then answers with what came back.
const HANDS_OFF: &str = r#"
case "$NOVA_PROMPT" in
  "writer finished the work you handed over:"*)
    printf '{"type":"result","text":"Shipped, with notes from writer: %s"}\n' "$(echo "$NOVA_PROMPT" | tail -n 1)" ;;
  *)
    "$NOVA_OFFICE_CLI" handoff --to writer --prompt "write the release notes for the coupon fix" || exit 9
    "$NOVA_OFFICE_CLI" handoff --to maker --prompt "myself" 2> "$NOVA_WORKSPACE/refused.txt" && exit 8
    echo '{"type":"result","text":"Fixed the coupons; writer does the notes."}' ;;
esac
"#;

const WRITES_NOTES: &str = r#"echo '{"type":"result","text":"Coupons of 6 to 12 characters now pass."}'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_hands_work_to_another_and_continues_from_its_outcome() {
    let mut nova = Nova::start_with(|config| {
        let script = |text: &str| vec!["sh".to_owned(), "-c".to_owned(), text.to_owned()];
        for office in &mut config.offices {
            let runtime = office.runtime.as_mut().unwrap();
            match office.name.as_str() {
                "maker" => runtime.command = script(HANDS_OFF),
                "writer" => runtime.command = script(WRITES_NOTES),
                _ => {}
            }
        }
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker fix the coupon field and ship it").await;
    let messages = nova.results(&thread, 3).await;
    let texts: Vec<(MessageKind, String)> =
        messages.iter().filter(|m| m.kind != MessageKind::Progress).map(|m| (m.kind, m.body.clone())).collect();
    let shown: Vec<&str> = texts.iter().map(|(_, body)| body.as_str()).collect();
    assert!(
        shown.contains(&"**maker** hands work to **writer**: write the release notes for the coupon fix"),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&"**writer** is done with what **maker** handed over; **maker** takes it from here."),
        "{shown:#?}"
    );
    let mut results: Vec<&str> =
        texts.iter().filter(|(kind, _)| *kind == MessageKind::Result).map(|(_, body)| body.as_str()).collect();
    // Maker's first run and the writer's run overlap: either may end first. Maker's
    // second run needs the writer's outcome, so it is last.
    results[..2].sort();
    assert_eq!(
        results,
        [
            "Coupons of 6 to 12 characters now pass.",
            "Fixed the coupons; writer does the notes.",
            "Shipped, with notes from writer: Coupons of 6 to 12 characters now pass."
        ]
    );
    // Each prompt ran where it belonged, and the writer's was linked to maker's run.
    let prompts = nova.prompts(&thread).await;
    let offices: Vec<&str> = prompts.iter().map(|p| p.office.as_str()).collect();
    assert_eq!(offices, ["maker", "writer", "maker"]);
    assert_eq!(prompts[1].handoff_from.as_deref(), Some(prompts[0].run_id.as_str()));
    assert_eq!((prompts[1].author.as_str(), prompts[2].author.as_str()), ("maker", "writer"));
    let refused = std::fs::read_to_string(nova.data_dir.path().join("offices/maker/workspace/refused.txt")).unwrap();
    assert!(refused.contains("an office cannot hand work to itself"), "{refused}");
    nova.finish().await;
}

/// Waits (up to 20 s) until two sessions' runs are going at once, then reports where
/// it worked: run one at a time, the first would give up waiting for the second.
const MEETS_THE_OTHER_SESSION: &str = r#"
touch "$NOVA_WORKSPACE/started-$NOVA_SESSION"
for _ in $(seq 400); do
  [ "$(ls "$NOVA_WORKSPACE" | grep -c '^started-')" -ge 2 ] && break
  sleep 0.05
done
[ "$(ls "$NOVA_WORKSPACE" | grep -c '^started-')" -ge 2 ] || { echo "ran alone" >&2; exit 7; }
printf '{"type":"result","text":"worked in %s"}\n' "${NOVA_REPO_DIR#$NOVA_WORKSPACE/}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_with_concurrency_works_on_two_sessions_at_once_in_worktrees_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, "http://127.0.0.1:9/v1", false);
        let maker = &mut config.offices[0];
        maker.concurrency = 2;
        maker.runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), MEETS_THE_OTHER_SESSION.into()];
    })
    .await;
    let first = nova.say("eng", "alice", "@maker fix the coupon field in payments-api").await;
    let second = nova.say("eng", "bob", "@maker add gift cards to payments-api").await;
    let mut places = Vec::new();
    for thread in [&first, &second] {
        let messages = nova.results(thread, 1).await;
        let result = messages.iter().find(|m| m.kind == MessageKind::Result).map(|m| m.body.clone());
        places.push(result.unwrap_or_else(|| panic!("{}", crate::harness::transcript(&messages))));
    }
    let expected: Vec<String> = [&first, &second]
        .iter()
        .map(|thread| format!("worked in worktrees/{}/payments-api", orchestrator::engine::session_name(thread)))
        .collect();
    assert_eq!(places, expected);
    nova.finish().await;
}

/// Against a real OpenAI-compatible server (`NOVA_TEST_LLM_URL`, e.g. a llama.cpp
/// server's `http://127.0.0.1:8080/v1`; `NOVA_TEST_LLM_MODEL` names the model): the
/// built-in agent works on the repo until the run ends, and the test prints what it
/// did. Skipped when no server is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_works_in_an_office() {
    let Ok(llm) = std::env::var("NOVA_TEST_LLM_URL") else {
        eprintln!("skipped: set NOVA_TEST_LLM_URL to run the built-in agent against a real model");
        return;
    };
    let model = std::env::var("NOVA_TEST_LLM_MODEL").unwrap_or_else(|_| "local".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, &llm, true);
        let runtime = config.offices[0].runtime.as_mut().unwrap();
        runtime.env.insert("NOVA_AGENT_MODEL".into(), model.clone());
        runtime.env.insert("NOVA_AGENT_MAX_STEPS".into(), "12".into());
        runtime.timeout = Duration::from_secs(900);
    })
    .await;
    let started = std::time::Instant::now();
    let thread = nova
        .say(
            "eng",
            "alice",
            "@maker in payments-api, coupons.sh only accepts codes of exactly 8 characters. Change it to accept 6 to 12 characters, then run `sh test.sh`.",
        )
        .await;
    let messages = nova
        .eventually_within(Duration::from_secs(900), "the run to end", async |nova: &Nova| {
            let messages = nova.messages(&thread).await;
            let ended = messages
                .iter()
                .any(|m| matches!(&m.card, Some(Card::Progress { status: RunStatus::Done | RunStatus::Failed, .. })));
            ended.then_some(messages)
        })
        .await;
    let workspace = nova.data_dir.path().join("offices/maker/workspace/repos/payments-api");
    let coupons = std::fs::read_to_string(workspace.join("coupons.sh")).unwrap_or_default();
    eprintln!(
        "a real model ({model}) took {:.0} s:\n{}\ncoupons.sh is now:\n{coupons}",
        started.elapsed().as_secs_f64(),
        crate::harness::transcript(&messages)
    );
    let (_, audit) = nova.get_json("/api/audit?office=maker").await;
    let usage: Vec<&Value> = audit.as_array().unwrap().iter().filter(|row| row["action"] == "usage").collect();
    assert_eq!(usage.len(), 1, "the run reports its usage however it ends");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_still_reports_what_it_spent_and_ends_the_command_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| agent_workspace(config, &remote, &model.base_url, true)).await;
    model.then(Reply::tool("run", json!({"command": "echo $$ > \"$NOVA_WORKSPACE/command.pid\"; exec sleep 600"})));
    let thread = nova.say("eng", "alice", "@maker reindex payments-api").await;
    let progress = nova
        .eventually("the command running", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| {
                matches!(&m.card, Some(Card::Progress { lines, .. }) if lines.iter().any(|l| l.starts_with("$ echo")))
            })
        })
        .await;
    let pid_file = nova.data_dir.path().join("offices/maker/workspace/command.pid");
    let pid: i32 = nova
        .eventually("the command's pid", async |_: &Nova| {
            std::fs::read_to_string(&pid_file).ok().and_then(|pid| pid.trim().parse().ok())
        })
        .await;
    let click = json!({"thread_id": thread, "message_id": progress.id, "author": "alice", "action": "stop", "client_id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(nova.post_json("/api/console/actions", &click).await.0, 200);
    nova.eventually("the stop in the thread", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.body.starts_with("alice stopped **maker**"))
    })
    .await;
    let prompt = nova.prompts(&thread).await.remove(0);
    let (_, audit) = nova.get_json(&format!("/api/audit?run={}", prompt.run_id)).await;
    let usage = audit.as_array().unwrap().iter().find(|row| row["action"] == "usage").expect("a usage row");
    let details: Value = serde_json::from_str(usage["details"].as_str().unwrap()).unwrap();
    assert!(details["input_tokens"].as_u64().unwrap() > 0, "{details}");
    // SAFETY: signal 0 only asks whether the process exists.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "the agent's command {pid} outlived the stop");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_past_its_timeout_is_ended_even_after_it_closed_its_output() {
    let mut nova = Nova::start_with(|config| {
        for (office, script) in [(0, "echo started; sleep 600"), (1, "echo started; exec >&-; sleep 600")] {
            let runtime = config.offices[office].runtime.as_mut().unwrap();
            runtime.command = vec!["sh".into(), "-c".into(), script.into()];
            runtime.timeout = Duration::from_secs(1);
        }
    })
    .await;
    for (channel, office) in [("eng", "maker"), ("ops", "operator")] {
        let thread = nova.say(channel, "alice", &format!("@{office} rebuild the search index")).await;
        let failure = nova
            .eventually("the timeout in the thread", async |nova: &Nova| {
                nova.messages(&thread).await.into_iter().find(|m| m.body.contains("could not finish"))
            })
            .await;
        assert_eq!(failure.body, format!("**{office}** could not finish this: the runtime did not finish within 1 s"));
    }
    nova.finish().await;
}

/// Waits (at most 10 s) for process `pid` to end: a pidfd turns readable when it does.
async fn ends(pid: i32) -> bool {
    // SAFETY: pidfd_open takes a pid and flags; the fd it returns is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return true; // already gone
    }
    // SAFETY: a fresh fd from pidfd_open, owned by nothing else.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open (the same fd) until it drops.
    let watched =
        unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.unwrap();
    tokio::time::timeout(Duration::from_secs(10), watched.readable()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_ends_with_its_office_when_nova_stops() {
    let mut nova = Nova::start_with(|config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), LONG_RUN.into()];
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker rebuild the search index").await;
    working(&mut nova, &thread).await;
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let child: i32 = std::fs::read_to_string(workspace.join("child.pid")).unwrap().trim().parse().unwrap();
    nova.finish().await;
    assert!(ends(child).await, "the runtime's child {child} outlived its office");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_agent_splits_its_work_into_a_task_for_another_office() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, &model.base_url, true);
        let support = config.offices.iter_mut().find(|o| o.name == "support").unwrap();
        // The demo's runtime, answering at once.
        let mut runtime = Config::demo().offices[0].runtime.clone().unwrap();
        runtime.command = vec!["sh".into(), "-c".into(), "echo 'customers told'".into()];
        support.runtime = Some(runtime);
    })
    .await;
    model.then(Reply::ToolCalls(vec![
        ("create_task".into(), json!({"title": "tell the customers coupons work again", "owner": "support"})),
        ("claim_task".into(), json!({"id": 1})),
    ]));
    model.then(Reply::Content("Fixed; support tells the customers.".into()));
    let thread = nova.say("eng", "alice", "@maker fix the coupons and have the customers told").await;
    let done = nova
        .eventually("support's task done", async |nova: &Nova| {
            let task = nova.engine().store().task(1).await.ok()??;
            (task.state == orchestrator::store::TaskState::Done).then_some(task)
        })
        .await;
    assert_eq!((done.owner.as_deref(), done.result.as_deref()), (Some("support"), Some("customers told")));
    assert_eq!(done.thread_id, thread);
    // What the tools answered the model: the task made, and the claim refused with why.
    let requests = model.requests();
    let answers = conversation(&requests[1]);
    assert!(answers.contains("\"title\":\"tell the customers coupons work again\""), "{answers}");
    assert!(answers.contains("refused (HTTP 403): task #1 is for support"), "{answers}");
    nova.finish().await;
}
