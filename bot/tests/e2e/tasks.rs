//! Tasks: asked for in the console, handed to their owner as runs in their thread,
//! waiting for what they depend on, claimed by one office only, finished once even
//! when their office dies, and sent up the chain of command when they keep failing.

use orchestrator::config::Config;
use orchestrator::store::{MessageKind, TaskState};
use serde_json::{Value, json};

use crate::harness::Nova;
use crate::stories::audited;

fn script(config: &mut Config, office: &str, text: &str) {
    let office = config.offices.iter_mut().find(|o| o.name == office).unwrap();
    office.runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), text.into()];
}

/// Answers with the first line of what it was asked.
const ANSWERS_THE_FIRST_LINE: &str = r#"printf 'did: %s\n' "$(echo "$NOVA_PROMPT" | head -n 1)""#;

/// Asks for a task through `/api/tasks`; the thread it is in.
async fn ask_task(nova: &Nova, thread: Option<&str>, task: Value) -> String {
    let body =
        json!({"channel": "general", "thread_id": thread, "task": task, "client_id": uuid::Uuid::new_v4().to_string()});
    let (status, accepted) = nova.post_json("/api/tasks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    accepted["thread_id"].as_str().unwrap().to_owned()
}

/// Waits for the task titled `title`; its `/api/tasks` view.
async fn task_titled(nova: &mut Nova, title: &str, state: &str) -> Value {
    let what = format!("task “{title}” {state}");
    nova.eventually(&what, async |nova: &Nova| {
        let (_, tasks) = nova.get_json("/api/tasks").await;
        tasks.as_array()?.iter().find(|t| t["title"] == title && t["state"] == state).cloned()
    })
    .await
}

fn said_by_nova(messages: &[orchestrator::engine::MessageView]) -> Vec<String> {
    messages.iter().filter(|m| m.author == "nova" && m.kind == MessageKind::Text).map(|m| m.body.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waits_for_the_one_it_depends_on_then_its_office_gets_that_outcome() {
    let mut nova = Nova::start_with(|config| {
        script(config, "maker", ANSWERS_THE_FIRST_LINE);
        script(config, "writer", r#"printf 'documented, given: %s\n' "$(echo "$NOVA_PROMPT" | grep '^did:')""#);
    })
    .await;
    // The writer's task is asked for first and waits for the maker's.
    let thread = ask_task(&nova, None, json!({"title": "add a discount column", "owner": "maker"})).await;
    let column = task_titled(&mut nova, "add a discount column", "done").await;
    assert_eq!(column["result"], "did: Task #1: add a discount column");
    let docs = json!({"title": "document the column", "owner": "writer", "depends_on": [column["id"]]});
    ask_task(&nova, Some(&thread), docs).await;
    let documented = task_titled(&mut nova, "document the column", "done").await;
    assert_eq!(documented["depends_on"], json!([1]));
    assert_eq!(documented["result"], "documented, given: did: Task #1: add a discount column");
    // The task is done in the store a moment before its thread says so.
    nova.eventually("the thread says task 2 is done", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.body.starts_with("Task #2 *document the column* is done"))
    })
    .await;
    let said = said_by_nova(&nova.messages(&thread).await);
    insta::assert_debug_snapshot!(said, @r#"
    [
        "Task #1 *add a discount column*: for **maker**.",
        "**maker** takes task #1 *add a discount column*.",
        "Task #1 *add a discount column* is done by **maker**.",
        "Task #2 *document the column*: for **writer**.",
        "**writer** takes task #2 *document the column*.",
        "Task #2 *document the column* is done by **writer**.",
    ]
    "#);

    // A task that waits for an open one is said to wait, and starts once it is done.
    let (status, _) =
        nova.post_json("/api/tasks", &json!({"task": {"title": "x", "owner": "nobody"}, "client_id": "c1"})).await;
    assert_eq!(status, 400, "an unknown owner changes nothing");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tasks_for_a_sleeping_office_wake_it_once() {
    let mut nova = Nova::start_with(|config| script(config, "writer", ANSWERS_THE_FIRST_LINE)).await;
    let thread = ask_task(&nova, None, json!({"title": "blog post", "owner": "writer"})).await;
    ask_task(&nova, Some(&thread), json!({"title": "release notes", "owner": "writer"})).await;
    ask_task(&nova, Some(&thread), json!({"title": "help article", "owner": "writer", "priority": 5})).await;
    for title in ["blog post", "release notes", "help article"] {
        task_titled(&mut nova, title, "done").await;
    }
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let wakes = trail.iter().filter(|row| row.action == "wake" && row.office.as_deref() == Some("writer")).count();
    assert_eq!(wakes, 1, "three tasks, one wake");
    assert_eq!(audited(&nova, "task_dispatched").await, 3);
    nova.finish().await;
}

/// Both offices run this at once: one claims the task and holds it until the other has
/// been refused; the other reports the refusal.
const CLAIMS_TASK_ONE: &str = r#"
if "$NOVA_OFFICE_CLI" task claim 1 > /dev/null 2> "$NOVA_WORKSPACE/refused.txt"; then
  for _ in $(seq 400); do [ -f "$RACE_DIR/lost" ] && break; sleep 0.05; done
  "$NOVA_OFFICE_CLI" task done 1 --result "$NOVA_OFFICE wrote it" > /dev/null || exit 9
  echo "won"
else
  echo "$?" > "$RACE_DIR/lost"
  echo "lost: $(cat "$NOVA_WORKSPACE/refused.txt")"
fi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_offices_claiming_one_task_one_wins_and_the_other_hears_who_holds_it() {
    let race = tempfile::tempdir().unwrap();
    let race_dir = race.path().to_str().unwrap().to_owned();
    let mut nova = Nova::start_with(|config| {
        for office in ["maker", "writer"] {
            script(config, office, CLAIMS_TASK_ONE);
            let runtime = config.offices.iter_mut().find(|o| o.name == office).unwrap().runtime.as_mut().unwrap();
            runtime.env.insert("RACE_DIR".into(), race_dir.clone());
            // The two runtimes meet in a directory outside their workspaces, which the
            // sandbox (rightly) forbids.
            runtime.sandbox.enabled = false;
        }
    })
    .await;
    ask_task(&nova, None, json!({"title": "write the launch post"})).await;
    task_titled(&mut nova, "write the launch post", "open").await;
    let maker = nova.say("eng", "alice", "@maker take task 1").await;
    let writer = nova.say("marketing", "bob", "@writer take task 1").await;
    let mut results = Vec::new();
    for thread in [&maker, &writer] {
        results.push(nova.results(thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap().body);
    }
    let task = task_titled(&mut nova, "write the launch post", "done").await;
    let winner = task["holder"].as_str().unwrap().to_owned();
    let (won, lost) = if winner == "maker" { (&results[0], &results[1]) } else { (&results[1], &results[0]) };
    assert_eq!(won, "won");
    assert!(lost.starts_with(&format!("lost: Nova refused: task #1 is held by {winner} (run ")), "{lost}");
    assert_eq!(std::fs::read_to_string(race.path().join("lost")).unwrap().trim(), "3", "a 409 exits 3");
    assert_eq!(task["result"], format!("{winner} wrote it"));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_office_dies_mid_work_is_finished_once() {
    let crash_once = "if [ -f crashed-once ]; then echo 'migrated after the crash'; \
                      else touch crashed-once; kill -9 $PPID; sleep 5; fi";
    let mut nova = Nova::start_with(|config| {
        script(config, "maker", crash_once);
        // Playing the machine dying means signalling the daemon, which the sandbox forbids.
        config.offices[0].runtime.as_mut().unwrap().sandbox.enabled = false;
    })
    .await;
    let thread = ask_task(&nova, None, json!({"title": "migrate the cart table", "owner": "maker"})).await;
    let task = task_titled(&mut nova, "migrate the cart table", "done").await;
    assert_eq!(task["result"], "migrated after the crash");
    assert_eq!(task["attempts"], 1, "the same claim carried over the loss: no second hand-out");
    nova.eventually("the task said done", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.body.ends_with("is done by **maker**."))
    })
    .await;
    assert_eq!(audited(&nova, "task_finished").await, 1);
    let results: Vec<_> = nova.messages(&thread).await.into_iter().filter(|m| m.kind == MessageKind::Result).collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(nova.office("maker").await.generation, 2, "woken once more after the loss");
    let stored = nova.engine().store().task(1).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.generation), (TaskState::Done, 1));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_keeps_failing_goes_up_to_the_manager_with_its_history() {
    let mut nova = Nova::start_with(|config| {
        script(config, "operator", "echo 'the deploy key is rejected' >&2; exit 2");
        script(config, "maker", r#"echo "$NOVA_PROMPT" | head -n 1"#);
    })
    .await;
    let thread = ask_task(&nova, None, json!({"title": "roll out 2.4 to staging", "owner": "operator"})).await;
    let task = task_titled(&mut nova, "roll out 2.4 to staging", "failed").await;
    assert_eq!(task["attempts"], 3);
    let messages = nova
        .eventually("the manager's answer and the escalation said", async |nova: &Nova| {
            let messages = nova.messages(&thread).await;
            let escalated = messages.iter().any(|m| m.body.contains("it goes up to **maker**"));
            (escalated && messages.iter().any(|m| m.kind == MessageKind::Result)).then_some(messages)
        })
        .await;
    let said = said_by_nova(&messages);
    let retried: Vec<&String> = said.iter().filter(|s| s.contains("goes back to the queue")).collect();
    assert_eq!(retried.len(), 2, "{said:#?}");
    assert!(
        said.contains(
            &"Task #1 *roll out 2.4 to staging* failed 3 times; it goes up to **maker**, whom **operator** reports to."
                .to_owned()
        ),
        "{said:#?}"
    );
    let escalated = said.iter().find(|s| s.starts_with("**operator** escalates to **maker**:")).unwrap();
    assert!(escalated.contains("task #1 (roll out 2.4 to staging) failed 3 times. Its last outcome: "), "{escalated}");
    let prompts = nova.prompts(&thread).await;
    let escalation = prompts.last().unwrap();
    assert_eq!((escalation.office.as_str(), escalation.author.as_str()), ("maker", "operator"));
    assert!(escalation.text.contains("The task:\nTask #1: roll out 2.4 to staging"), "{}", escalation.text);
    let result = messages.iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert!(
        result
            .body
            .starts_with("operator reports to you and is stuck: task #1 (roll out 2.4 to staging) failed 3 times"),
        "{}",
        result.body
    );
    nova.finish().await;
}

/// maker splits its work: a sub-task for writer, then a question to its own manager is
/// refused (it reports to no office).
const SPLITS_THE_WORK: &str = r#"
"$NOVA_OFFICE_CLI" task create --title "announce the fix" --owner writer > /dev/null || exit 9
"$NOVA_OFFICE_CLI" task claim 1 2> "$NOVA_WORKSPACE/claim.txt" && exit 8
"$NOVA_OFFICE_CLI" escalate --reason "who signs off?" 2> "$NOVA_WORKSPACE/escalate.txt" && exit 7
echo "fixed; writer announces it"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_makes_a_task_for_another_and_cannot_take_it_itself() {
    let mut nova = Nova::start_with(|config| {
        script(config, "maker", SPLITS_THE_WORK);
        script(config, "writer", ANSWERS_THE_FIRST_LINE);
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker fix the coupon field and have it announced").await;
    let task = task_titled(&mut nova, "announce the fix", "done").await;
    assert_eq!((task["created_by"].as_str(), task["thread_id"].as_str()), (Some("maker"), Some(thread.as_str())));
    assert_eq!(task["result"], "did: Task #1: announce the fix");
    // writer may finish before maker's script has written what it was told: wait for
    // maker's own result before reading it.
    nova.eventually("maker's result", async |nova: &Nova| {
        let messages = nova.messages(&thread).await;
        messages
            .iter()
            .any(|m| m.kind == MessageKind::Result && m.body.contains("fixed; writer announces it"))
            .then_some(())
    })
    .await;
    let workspace = nova.data_dir.path().join("offices/maker/workspace");
    let claim = std::fs::read_to_string(workspace.join("claim.txt")).unwrap();
    assert!(claim.contains("task #1 is for writer"), "{claim}");
    let escalate = std::fs::read_to_string(workspace.join("escalate.txt")).unwrap();
    assert!(escalate.contains("maker reports to no office"), "{escalate}");
    nova.finish().await;
}

/// Each run makes the next step a task for maker itself, thirteen steps in all.
const MAKES_ITS_OWN_NEXT_STEP: &str = r#"
n=$(ls "$NOVA_WORKSPACE" | grep -c '^ran-')
touch "$NOVA_WORKSPACE/ran-$n"
if [ "$n" -lt 13 ]; then "$NOVA_OFFICE_CLI" task create --owner maker --title "step $((n + 1))" > /dev/null || exit 9; fi
echo "step $n done"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_that_keeps_giving_itself_work_is_paused_until_a_person_lets_it_go_on() {
    let mut nova = Nova::start_with(|config| {
        script(config, "maker", MAKES_ITS_OWN_NEXT_STEP);
        config.roles.insert("operator".into(), vec!["bob".into()]);
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker work through the migration steps").await;
    let card = nova.approval_card(&thread).await;
    insta::assert_snapshot!(card.body.split("Expires at").next().unwrap(), @r"
        **nova** asks for approval to **let maker go on: it has run 10 times on work from offices with no person in between** (loop_guard, risk: medium).
        > Work maker gave maker waits. maker may be looping (making tasks for itself, handing work back and forth). Approve to let it run as many times again; reject, or leave it, and that work waits.
        Who may decide: bob.
        ");
    // Ten runs on its own work, then nothing more starts.
    let steps = task_titled(&mut nova, "step 11", "claimed").await;
    assert_eq!(steps["holder"], "maker");
    let prompts = nova.prompts(&thread).await;
    let started = prompts.iter().filter(|p| p.dispatched_at.is_some()).count();
    assert_eq!(started, 11, "alice's prompt and ten of maker's own");
    assert_eq!(audited(&nova, "loop_paused").await, 1);

    // A person's prompt still runs while the loop waits.
    let other = nova.say("eng", "carol", "@maker what is the cart's schema version?").await;
    assert_eq!(nova.results(&other, 1).await.iter().filter(|m| m.kind == MessageKind::Result).count(), 1);
    let waiting = nova.prompts(&thread).await.into_iter().last().unwrap();
    assert_eq!((waiting.author.as_str(), waiting.state), ("maker", orchestrator::store::PromptState::Held));

    // Approved by an operator, it goes on and finishes its steps.
    let (status, _) = nova.click(&thread, card.id, "bob", "approve").await;
    assert_eq!(status, 200);
    task_titled(&mut nova, "step 13", "done").await;
    assert_eq!(audited(&nova, "loop_resumed").await, 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_thread_people_make_it_a_task_and_ask_what_tasks_are_open() {
    let mut nova = Nova::start_with(|config| {
        script(config, "maker", ANSWERS_THE_FIRST_LINE);
        // The analyst takes its task but never finishes while this story runs.
        script(config, "analyst", "sleep 600");
    })
    .await;
    let thread = nova.say("general", "alice", "the invoice PDF shows the wrong VAT rate for Austria").await;
    nova.reply(&thread, "alice", "make this a task for maker").await;
    let task = task_titled(&mut nova, "the invoice PDF shows the wrong VAT rate for Austria", "done").await;
    assert_eq!(task["owner"], "maker");
    assert_eq!(task["result"], "did: Task #1: the invoice PDF shows the wrong VAT rate for Austria");

    let other = nova.say("data", "bob", "create a task for the analyst: rebuild the churn dashboard").await;
    task_titled(&mut nova, "rebuild the churn dashboard", "claimed").await;
    let list = nova.say("general", "carol", "what tasks are open?").await;
    let answer = crate::stories::nova_answers(&mut nova, &list, 1).await;
    insta::assert_snapshot!(answer[0], @r"
        Tasks:
        • #2 rebuild the churn dashboard — for **analyst**, analyst is on it
        • #1 the invoice PDF shows the wrong VAT rate for Austria — for **maker**, done
        ");
    assert!(nova.prompts(&list).await.is_empty(), "a question about tasks is answered, not sent to an office");
    // The claim comes first; the task's prompt is queued when its hand-out is routed.
    let queued = nova
        .eventually("the analyst's task queued in its thread", async |nova: &Nova| {
            nova.prompts(&other).await.first().map(|prompt| prompt.office.clone())
        })
        .await;
    assert_eq!(queued, "analyst");
    nova.finish().await;
}

/// A runaway (or prompt-injected) agent escalating again and again.
const ESCALATES_FOUR_TIMES: &str = r#"
for n in 1 2 3 4; do
  "$NOVA_OFFICE_CLI" escalate --reason "stuck, take $n" > /dev/null 2> "$NOVA_WORKSPACE/escalate-$n.txt" || break
done
echo "escalated until $n"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_escalates_to_its_manager_at_most_three_times_a_run() {
    let mut nova = Nova::start_with(|config| {
        script(config, "operator", ESCALATES_FOUR_TIMES);
        script(config, "maker", r#"echo "$NOVA_PROMPT" | head -n 1"#);
    })
    .await;
    let thread = nova.say("ops", "alice", "@operator roll out 2.4 to staging").await;
    let messages = nova.results(&thread, 4).await;
    let results: Vec<&str> =
        messages.iter().filter(|m| m.kind == MessageKind::Result).map(|m| m.body.as_str()).collect();
    assert!(results.contains(&"escalated until 4"), "{results:#?}");
    let prompts = nova.prompts(&thread).await;
    assert_eq!(prompts.iter().filter(|p| p.office == "maker").count(), 3, "three escalations reached maker");
    let refused =
        std::fs::read_to_string(nova.data_dir.path().join("offices/operator/workspace/escalate-4.txt")).unwrap();
    assert!(refused.contains("a run may escalate at most 3 times"), "{refused}");
    nova.finish().await;
}

/// Asks for a task through `/api/tasks` as `person`; the thread it is in.
async fn ask_task_as(nova: &Nova, person: &str, task: Value) -> String {
    let body = json!({"author": person, "task": task, "client_id": uuid::Uuid::new_v4().to_string()});
    let (status, accepted) = nova.post_json("/api/tasks", &body).await;
    assert_eq!(status, 202, "{accepted}");
    accepted["thread_id"].as_str().unwrap().to_owned()
}

/// Waits until `thread` has a message from Nova starting with `start`; its body.
async fn nova_says(nova: &mut Nova, thread: &str, start: &str) -> String {
    nova.eventually(&format!("“{start}…” in the thread"), async |nova: &Nova| {
        nova.messages(thread).await.into_iter().find(|m| m.from_nova && m.body.starts_with(start)).map(|m| m.body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_gives_a_stuck_task_to_another_office_and_cancels_one_nobody_needs() {
    let mut nova = Nova::start_with(|config| {
        // maker takes its tasks and never finishes while this story runs.
        script(config, "maker", "sleep 600");
        script(config, "writer", ANSWERS_THE_FIRST_LINE);
        config.roles.insert("operator".into(), vec!["olga".into()]);
    })
    .await;
    let pricing = ask_task_as(&nova, "alice", json!({"title": "update the pricing page", "owner": "maker"})).await;
    task_titled(&mut nova, "update the pricing page", "claimed").await;
    let stuck = nova
        .eventually("maker working on task 1", async |nova: &Nova| {
            nova.prompts(&pricing).await.into_iter().find(|p| p.state == orchestrator::store::PromptState::Dispatched)
        })
        .await;

    // Someone who neither asked for it nor operates the fleet changes nothing.
    let dave = nova.say("general", "dave", "give task 1 to writer").await;
    let refused = crate::stories::nova_answers(&mut nova, &dave, 1).await;
    insta::assert_snapshot!(refused[0], @"Nothing changed: only alice (who asked for task #1) or an operator may change it.");
    let (status, _) = nova.post_json("/api/tasks/1/cancel", &json!({"author": "dave"})).await;
    assert_eq!(status, 403);
    assert_eq!(nova.engine().store().task(1).await.unwrap().unwrap().state, TaskState::Claimed);

    // The person who asked for it gives it to the writer, from another channel.
    let alice = nova.say("general", "alice", "please reassign task #1 to the writer, maker is stuck").await;
    let given = nova_says(&mut nova, &pricing, "Task #1 *update the pricing page* is for **writer** now").await;
    insta::assert_snapshot!(given, @"Task #1 *update the pricing page* is for **writer** now (alice gave it). **maker**'s run on it is stopping.");
    assert_eq!(crate::stories::nova_answers(&mut nova, &alice, 1).await, vec![given]);
    let done = task_titled(&mut nova, "update the pricing page", "done").await;
    assert_eq!((done["owner"].as_str(), done["holder"].as_str()), (Some("writer"), Some("writer")));
    assert_eq!(done["result"], "did: Task #1: update the pricing page");
    assert_eq!(done["attempts"], 1, "counted afresh for the writer");
    nova.eventually("maker's run on it stopped", async |nova: &Nova| {
        let prompt = nova.engine().store().prompt_by_run(&stuck.run_id).await.unwrap()?;
        (prompt.state == orchestrator::store::PromptState::Stopped).then_some(())
    })
    .await;

    // A task nobody needs any more is cancelled in its thread; what waited for it is named.
    let translate = ask_task_as(&nova, "alice", json!({"title": "translate the page", "owner": "maker"})).await;
    task_titled(&mut nova, "translate the page", "claimed").await;
    ask_task_as(&nova, "olga", json!({"title": "announce the prices", "owner": "writer", "depends_on": [2]})).await;
    nova.reply(&translate, "olga", "cancel task 2, we dropped that market").await;
    let cancelled = nova_says(&mut nova, &translate, "Task #2 *translate the page* is cancelled").await;
    insta::assert_snapshot!(cancelled, @"Task #2 *translate the page* is cancelled by olga. **maker**'s run on it is stopping. #3 waits for it and will not start: give #2 to an office again, or cancel it too.");
    let task = task_titled(&mut nova, "translate the page", "cancelled").await;
    assert_eq!(task["result"], "cancelled by olga");
    assert_eq!(nova.engine().store().task(3).await.unwrap().unwrap().state, TaskState::Open, "#3 still waits");

    // What cannot change says why, and changes nothing.
    let again = nova.say("general", "olga", "cancel task 2").await;
    insta::assert_snapshot!(crate::stories::nova_answers(&mut nova, &again, 1).await[0], @"Nothing changed: task #2 is cancelled.");
    for (path, body, status) in [
        ("/api/tasks/1/cancel", json!({"author": "olga"}), 409),
        ("/api/tasks/99/cancel", json!({"author": "olga"}), 404),
        ("/api/tasks/2/assign", json!({"author": "olga", "office": "nobody"}), 400),
        ("/api/tasks/2/assign", json!({"author": "olga", "offices": "writer"}), 400),
    ] {
        let (got, error) = nova.post_json(path, &body).await;
        assert_eq!(got, status, "{path} {body}: {error}");
    }
    assert_eq!(nova.engine().store().task(2).await.unwrap().unwrap().state, TaskState::Cancelled);

    // Given out again through the API, it runs, and what waited for it follows.
    let (status, changed) =
        nova.post_json("/api/tasks/2/assign", &json!({"author": "alice", "office": "writer"})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["task"]["state"], "open");
    task_titled(&mut nova, "translate the page", "done").await;
    task_titled(&mut nova, "announce the prices", "done").await;
    assert_eq!(audited(&nova, "task_assigned").await, 2);
    assert_eq!(audited(&nova, "task_cancelled").await, 1);
    nova.finish().await;
}
