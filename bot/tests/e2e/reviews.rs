//! Reviews in threads: an office's change is reviewed where it was asked for, changes
//! asked for go back to the office with every comment, and nothing merges until the
//! policy's approvals are in; then it merges once.

use orchestrator::config::{ReviewPolicy, ReviewStage};
use orchestrator::texts::Card;
use serde_json::{Value, json};
use testkit::openai::{FakeOpenAi, Reply};

use crate::harness::Nova;
use crate::work::{agent_workspace, git, payments_remote};

/// The review card in the thread, once `ready` says it is as expected.
async fn review_card(nova: &mut Nova, thread: &str, ready: impl Fn(&str) -> bool) -> (i64, String) {
    nova.eventually("the review card", async |nova: &Nova| {
        nova.messages(thread)
            .await
            .into_iter()
            .find(|m| matches!(m.card, Some(Card::Review(_))) && ready(&m.body))
            .map(|m| (m.id, m.body))
    })
    .await
}

fn click(thread: &str, card: i64, author: &str, action: &str, comment: Option<&str>, at: Option<&str>) -> Value {
    json!({"thread_id": thread, "message_id": card, "author": author, "action": action, "comment": comment, "at": at,
           "client_id": uuid::Uuid::new_v4().to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_sent_back_with_a_line_comment_revised_and_merged_once_by_two_approvers() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, &model.base_url, false);
        config.roles.insert("lead".into(), vec!["carol".into(), "dave".into()]);
        config.reviews.push(ReviewPolicy {
            repos: vec!["payments-api".into()],
            approvals: 2,
            approvers: vec!["lead".into()],
            stages: vec![ReviewStage::Merge],
            reviewers: vec![],
        });
    })
    .await;
    script_two_revisions(&model);

    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    let (card, body) = review_card(&mut nova, &thread, |body| body.contains("revision 1")).await;
    assert!(body.contains("**maker**'s change to `payments-api`"), "{body}");
    assert!(body.contains("Files: `coupons.sh` +1 −1"), "Nova's own diff: {body}");
    assert!(body.contains("Tests: passed `sh test.sh`"), "{body}");
    assert!(
        body.contains("-valid() { [ ${#1} -eq 8 ]; }\n+valid() { [ ${#1} -ge 6 ] && [ ${#1} -le 12 ]; }"),
        "{body}"
    );
    assert!(body.ends_with("Approved by: nobody yet. Waiting for 2 more approvals (lead)."), "{body}");

    // The person who asked for the work cannot approve it, nor can someone outside the policy.
    let (status, refused) =
        nova.post_json("/api/console/actions", &click(&thread, card, "alice", "approve", None, None)).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("alice asked for this work, so someone else has to review it"))
    );
    let (status, _) =
        nova.post_json("/api/console/actions", &click(&thread, card, "erin", "approve", None, None)).await;
    assert_eq!(status, 403);

    // Carol asks for changes on a line; it goes back to maker, in its session.
    let ask = click(
        &thread,
        card,
        "carol",
        "request_changes",
        Some("say where the 6 to 12 rule comes from"),
        Some("coupons.sh:1"),
    );
    assert_eq!(nova.post_json("/api/console/actions", &ask).await.0, 200);
    let (_, body) = review_card(&mut nova, &thread, |body| body.contains("revision 2")).await;
    assert!(body.contains("Since revision 1: `coupons.sh`"), "{body}");
    assert!(body.contains("+# Codes are 6 to 12 characters (marketing's rule)."), "{body}");
    let requests = model.requests();
    let sent_back = requests[4]["messages"].to_string();
    assert!(
        sent_back.contains("changes requested on review #1 (revision 1)")
            && sent_back.contains("- carol on `coupons.sh:1`: say where the 6 to 12 rule comes from"),
        "{sent_back}"
    );
    assert!(sent_back.contains("The fix is up for review."), "the same session: {sent_back}");

    // What is waiting, in chat and over the API (with the whole diff).
    let asked = nova.say("general", "dave", "what's waiting for my review?").await;
    let answer = crate::stories::nova_answers(&mut nova, &asked, 1).await;
    assert_eq!(
        answer[0],
        "Waiting for review:\n• #1 **maker**'s change to `payments-api`, revision 2: Accept coupon codes of 6 to 12 \
         characters, and say where the rule comes from. — needs 2 more approvals (lead)"
    );
    assert!(nova.prompts(&asked).await.is_empty(), "a question about reviews is answered, not sent to an office");
    let (status, waiting) = nova.get_json("/api/reviews").await;
    assert_eq!((status, waiting[0]["card"]["revision"].as_i64()), (200, Some(2)));
    let (_, whole) = nova.get_json("/api/reviews/1").await;
    let revisions = whole["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert!(revisions[0]["diff"].as_str().unwrap().starts_with("diff --git a/coupons.sh b/coupons.sh"));
    assert_eq!(revisions[0]["decisions"][0]["path"], "coupons.sh");

    // Carol and Dave approve at the same moment: one merge.
    let (one, two) =
        (click(&thread, card, "carol", "approve", None, None), click(&thread, card, "dave", "approve", None, None));
    let (a, b) =
        tokio::join!(nova.post_json("/api/console/actions", &one), nova.post_json("/api/console/actions", &two));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let (_, body) = review_card(&mut nova, &thread, |body| body.contains("Merged into `main`")).await;
    assert!(body.contains("Approved by: carol, dave") || body.contains("Approved by: dave, carol"), "{body}");
    let merges = git(&remote, &["log", "--merges", "--format=%an: %s", "main"]);
    assert_eq!(merges.lines().count(), 1, "{merges}");
    assert!(merges.starts_with("Nova: Merge review #1 (nova/"), "{merges}");
    assert!(git(&remote, &["show", "main:coupons.sh"]).starts_with("# Codes are 6 to 12 characters"));

    // A merged review takes no more decisions; every decision is in the audit trail.
    let late = click(&thread, card, "carol", "request_changes", Some("one more thing"), None);
    assert_eq!(nova.post_json("/api/console/actions", &late).await.0, 409);
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let count = |action: &str| trail.iter().filter(|r| r.action == action).count();
    assert_eq!((count("review_revision"), count("review_decision"), count("review_stage")), (2, 3, 1));
    assert!(trail.iter().filter(|r| r.action == "review_decision").all(|r| r.run_id.is_some()));
    nova.finish().await;
}

/// The office's two revisions, scripted: the fix, then what the reviewer asked for.
fn script_two_revisions(model: &FakeOpenAi) {
    let push = |message: &str| {
        Reply::tool(
            "run",
            json!({"command": format!("git commit --quiet -am '{message}' && git push --quiet origin HEAD")}),
        )
    };
    let submit = |summary: &str| {
        Reply::tool(
            "submit_change",
            json!({"repo": "payments-api", "summary": summary, "tests": [{"command": "sh test.sh", "passed": true}]}),
        )
    };
    model.then(Reply::tool(
        "edit_file",
        json!({"path": "coupons.sh", "old": "[ ${#1} -eq 8 ]", "new": "[ ${#1} -ge 6 ] && [ ${#1} -le 12 ]"}),
    ));
    model.then(push("Accept coupon codes of 6 to 12 characters"));
    model.then(submit("Accept coupon codes of 6 to 12 characters."));
    model.then(Reply::Content("The fix is up for review.".into()));
    model.then(Reply::tool(
        "edit_file",
        json!({"path": "coupons.sh", "old": "valid() {", "new": "# Codes are 6 to 12 characters (marketing's rule).\nvalid() {"}),
    ));
    model.then(push("Say where the length rule comes from"));
    model.then(submit("Accept coupon codes of 6 to 12 characters, and say where the rule comes from."));
    model.then(Reply::Content("Revised.".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_slack_a_reviewer_asks_for_changes_in_a_form_and_the_second_revision_is_approved_and_merged() {
    use testkit::slack::FakeSlack;
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let slack = FakeSlack::start(&[("C_ENG", "eng")]).await.unwrap();
    let nova = Nova::start_on_slack(&slack, false, |config| {
        agent_workspace(config, &remote, &model.base_url, false);
        config.reviews.push(ReviewPolicy { stages: vec![ReviewStage::Merge], ..ReviewPolicy::default() });
    })
    .await;
    script_two_revisions(&model);
    let (ts, _) = slack
        .user_says("C_ENG", "U_ALICE", "@maker the coupon field rejects valid codes in payments-api, please fix")
        .await;
    let card = slack
        .wait_for("the review card in Slack", |slack| {
            slack.thread("C_ENG", &ts).into_iter().find(|m| m.text.contains("*Review #1*") && !m.buttons().is_empty())
        })
        .await;
    assert!(card.text.contains("Files: `coupons.sh` +1 −1"), "{}", card.text);

    // The requester's Approve is refused, privately.
    assert_eq!(slack.click("U_ALICE", &card, "Approve").await, 200);
    let refusal =
        slack.wait_for("a private refusal", |slack| slack.ephemerals().into_iter().find(|e| e.user == "U_ALICE")).await;
    assert_eq!(refusal.text, "Nothing changed: U_ALICE asked for this work, so someone else has to review it.");

    // Bob asks for changes in the form, on a line.
    assert_eq!(slack.click("U_BOB", &card, "Request changes").await, 200);
    let view = slack.wait_for("the review form", |slack| slack.views().into_iter().next()).await;
    let (status, answer) = slack
        .submit_view(
            "U_BOB",
            &view.id,
            &[("review_comment.value", "say where the rule comes from"), ("review_at.value", "coupons")],
        )
        .await;
    assert_eq!(
        (status, answer["errors"]["review_comment"].as_str()),
        (200, Some("a line is `path:line`, like `src/app.rs:12`"))
    );
    let (_, answer) = slack
        .submit_view(
            "U_BOB",
            &view.id,
            &[("review_comment.value", "say where the rule comes from"), ("review_at.value", "coupons.sh:1")],
        )
        .await;
    assert_eq!(answer, json!({"response_action": "clear"}));

    let revised = slack
        .wait_for("revision 2 on the card", |slack| {
            slack.thread("C_ENG", &ts).into_iter().find(|m| m.ts == card.ts && m.text.contains("revision 2"))
        })
        .await;
    assert!(revised.text.contains("Since revision 1: `coupons.sh`"), "{}", revised.text);
    assert_eq!(slack.click("U_CAROL", &revised, "Approve").await, 200);
    let merged = slack
        .wait_for("the merged card", |slack| {
            slack.thread("C_ENG", &ts).into_iter().find(|m| m.ts == card.ts && m.text.contains("Merged into `main`"))
        })
        .await;
    assert!(merged.buttons().is_empty(), "a merged review has no buttons");
    assert_eq!(git(&remote, &["log", "--merges", "--format=%s", "main"]).lines().count(), 1);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_discord_a_self_review_is_refused_changes_go_back_through_a_form_and_an_approval_merges() {
    use bot::discord::components;
    use testkit::discord::FakeDiscord;
    const ENG: &str = "1100000000000000202";
    const ALICE: &str = "1100000000000000101";
    const BOB: &str = "1100000000000000102";
    const CAROL: &str = "1100000000000000103";
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let model = FakeOpenAi::start().await.unwrap();
    let discord = FakeDiscord::start(&[(ENG, "eng")]).await.unwrap();
    let nova = Nova::start_on_discord(&discord, |config| {
        agent_workspace(config, &remote, &model.base_url, false);
        config.reviews.push(ReviewPolicy { stages: vec![ReviewStage::Merge], ..ReviewPolicy::default() });
    })
    .await;
    discord
        .wait_for("the gateway session", |d| (d.gateway_connected() && !d.commands().is_empty()).then_some(()))
        .await;
    script_two_revisions(&model);
    let ask = discord.say(ENG, ALICE, "@maker the coupon field rejects valid codes in payments-api, please fix");
    let card = discord
        .wait_for("the review card", |d| {
            d.channel_messages(&ask)
                .into_iter()
                .find(|m| m.content.contains("**Review #1**") && !m.buttons().is_empty())
        })
        .await;

    discord.click(ALICE, &card, "Approve").await;
    let refusal = discord.wait_for("the refusal", |d| d.ephemerals(ALICE).pop()).await;
    assert_eq!(
        refusal.content,
        format!("Nothing changed: {ALICE} asked for this work, so someone else has to review it.")
    );

    discord.click(BOB, &card, "Request changes").await;
    let modal = discord.wait_for("the review form", |d| d.modals().into_iter().next()).await;
    discord
        .submit_modal(
            BOB,
            &modal,
            &[(components::REVIEW_COMMENT, "say where the rule comes from"), (components::REVIEW_AT, "coupons.sh:1")],
        )
        .await;
    let revised = discord
        .wait_for("revision 2", |d| {
            d.channel_messages(&ask).into_iter().find(|m| m.id == card.id && m.content.contains("revision 2"))
        })
        .await;
    discord.click(CAROL, &revised, "Approve").await;
    discord
        .wait_for("the merged card", |d| {
            d.channel_messages(&ask).into_iter().find(|m| m.id == card.id && m.content.contains("Merged into `main`"))
        })
        .await;
    assert_eq!(git(&remote, &["log", "--merges", "--format=%s", "main"]).lines().count(), 1);
    let comment = nova.engine().store().review_decisions(1, 1).await.unwrap();
    assert_eq!((comment[0].path.as_deref(), comment[0].line), (Some("coupons.sh"), Some(1)));
    nova.finish().await;
}

/// Nothing lands on `main` but through a review, on a host that wants a credential: an
/// office's push through its proxy (which holds the host's token) may update its session
/// branch and nothing else; Nova fetches the change and pushes the merge with the token
/// from the vault; the model never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_hosted_repo_the_office_cannot_push_main_and_nova_merges_the_reviewed_branch_with_the_vault_s_token() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let host = testkit::git_http::FakeGitHost::start(dir.path().to_owned(), "ghp-live-31").await.unwrap();
    let model = FakeOpenAi::start().await.unwrap();
    let mut nova = Nova::start_with(|config| {
        agent_workspace(config, &remote, &model.base_url, false);
        config.repos[0].url = Some(format!("{}/payments-api.git", host.base_url));
        config.repos[0].upstream = Some("githost".into());
        config.upstreams.push(provisioner::protocol::Upstream {
            name: "githost".into(),
            url: host.base_url.clone(),
            header: "Authorization".into(),
            value: "Bearer {secret}".into(),
            secret: Some("git_token".into()),
        });
        config.reviews.push(ReviewPolicy { stages: vec![ReviewStage::Merge], ..ReviewPolicy::default() });
    })
    .await;
    let put = json!({"scope": "platform", "name": "git_token", "value": "ghp-live-31"});
    assert_eq!(nova.post_json("/api/vault", &put).await.0, 204);
    let main_before = git(&remote, &["rev-parse", "main"]);
    model.then(Reply::tool("edit_file", json!({"path": "coupons.sh", "old": "-eq 8", "new": "-ge 6"})));
    model.then(Reply::tool(
        "run",
        json!({"command": "git commit --quiet -am 'Accept longer codes' && git push --quiet origin HEAD"}),
    ));
    model.then(Reply::tool("run", json!({"command": "git push --quiet origin HEAD:main"})));
    model.then(Reply::tool("submit_change", json!({"repo": "payments-api", "summary": "Accept longer coupon codes."})));
    model.then(Reply::Content("Pushed the branch; main is not mine to push.".into()));
    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    nova.results(&thread, 1).await;

    let outputs: Vec<String> = model.requests()[2..4]
        .iter()
        .map(|r| r["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(outputs[0].starts_with("exit code 0"), "the session branch goes through: {}", outputs[0]);
    assert!(!outputs[1].starts_with("exit code 0") && outputs[1].contains("403"), "main is refused: {}", outputs[1]);
    let branch = format!("nova/{}", orchestrator::engine::session_name(&thread));
    assert_eq!(git(&remote, &["log", "--format=%s", "-1", &branch]), "Accept longer codes\n");
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before, "main is untouched");

    // Nova fetched the branch with the vault's token; the approval merges it the same way.
    let (card, body) = review_card(&mut nova, &thread, |body| body.contains("revision 1")).await;
    assert!(body.contains("Files: `coupons.sh` +1 −1"), "{body}");
    assert_eq!(
        nova.post_json("/api/console/actions", &click(&thread, card, "carol", "approve", None, None)).await.0,
        200
    );
    review_card(&mut nova, &thread, |body| body.contains("Merged into `main`")).await;
    assert!(git(&remote, &["log", "--format=%s", "-1", "main"]).starts_with("Merge review #1"));
    assert!(!serde_json::to_string(&model.requests()).unwrap().contains("ghp-live-31"), "the token reached the model");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reviewer_is_asked_with_the_diff_and_its_approval_merges_while_the_author_cannot_approve_itself() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    // Each office has a model of its own, so their scripts cannot interleave.
    let (model, reviewer_model) = (FakeOpenAi::start().await.unwrap(), FakeOpenAi::start().await.unwrap());
    let toml = format!(
        "[workspace]\nname = \"acme\"\n\n[[upstreams]]\nname = \"llm\"\nurl = \"{}\"\n\n[[upstreams]]\nname = \"llm-qa\"\nurl = \"{}\"\n\n\
         [[repos]]\nname = \"payments-api\"\ndescription = \"Payments service.\"\nurl = \"{}\"\n\n\
         [[offices]]\nname = \"maker\"\nrole = \"Software engineer\"\nrepos = [\"payments-api\"]\nchannels = [\"eng\"]\n\
         [offices.runtime]\npreset = \"nova-agent\"\nmodel = \"small-coder\"\ntimeout = \"2m\"\nsandbox = {{ enabled = false }}\n\n\
         [[offices]]\nname = \"qa\"\nrole = \"Code reviewer\"\n\
         [offices.runtime]\npreset = \"nova-agent\"\nupstream = \"llm-qa\"\nmodel = \"careful-reviewer\"\ntimeout = \"2m\"\n\n\
         [[reviews]]\nreviewers = [\"qa\"]\nstages = [\"merge\"]\n",
        model.base_url,
        reviewer_model.base_url,
        remote.display()
    );
    let parsed = orchestrator::config::Config::parse(&toml, "the story's nova.toml").unwrap();
    let mut nova = Nova::start_with(|config| {
        config.repos = parsed.repos.clone();
        config.offices = parsed.offices.clone();
        config.upstreams = parsed.upstreams.clone();
        config.reviews = parsed.reviews.clone();
        for office in &mut config.offices {
            office.set_idle_timeout(Duration::from_secs(3600));
        }
    })
    .await;
    model.then(Reply::tool(
        "edit_file",
        json!({"path": "coupons.sh", "old": "[ ${#1} -eq 8 ]", "new": "[ ${#1} -ge 6 ] && [ ${#1} -le 12 ]"}),
    ));
    model.then(Reply::tool(
        "run",
        json!({"command": "git commit --quiet -am 'Accept 6 to 12' && git push --quiet origin HEAD"}),
    ));
    model.then(Reply::tool(
        "submit_change",
        json!({"repo": "payments-api", "summary": "Accept coupon codes of 6 to 12 characters."}),
    ));
    model.then(Reply::tool("review_decision", json!({"review": 1, "verdict": "approve"})));
    model.then(Reply::Content("Up for review.".into()));
    reviewer_model.then(Reply::tool("review_decision", json!({"review": 1, "verdict": "approve"})));
    reviewer_model.then(Reply::Content("Approved: the length check matches the test.".into()));

    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    let (_, body) = review_card(&mut nova, &thread, |body| body.contains("Merged into `main`")).await;
    assert!(body.contains("Approved by: qa."), "{body}");

    let own =
        model.requests()[4]["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert_eq!(own, "refused (HTTP 403): an office cannot review its own change");
    let asked = reviewer_model.requests()[0]["messages"].to_string();
    assert!(asked.contains("please review #1 (revision 1)"), "{asked}");
    assert!(asked.contains("-valid() { [ ${#1} -eq 8 ]; }"), "the reviewer reads the diff Nova computed: {asked}");
    assert_eq!(git(&remote, &["log", "--merges", "--format=%s", "main"]).lines().count(), 1);
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    assert!(trail.iter().any(|r| r.action == "review_decision" && r.actor == "qa"));
    nova.finish().await;
}

/// A repo on GitHub: the review gets a pull request; a decision in the thread shows on
/// it; reviews left on GitHub (a line comment, an approval) count in the thread under the
/// same policy and check (the requester's approval there does not count); a forged
/// delivery changes nothing and one GitHub makes twice counts once; the approvals merge
/// the pull request through GitHub at the reviewed head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_github_reviews_left_on_the_pull_request_count_in_the_thread_and_the_approvals_merge_it_there() {
    use hmac::Mac as _;
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let github = testkit::github::FakeGitHub::start().await.unwrap();
    let (carol, alice) = (github.add_user("carol-gh"), github.add_user("alice-gh"));
    let model = FakeOpenAi::start().await.unwrap();
    let (mut nova, nova_token) = on_github(&github, &remote, &model, vec![ReviewStage::Merge]).await;

    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    let (card, body) = review_card(&mut nova, &thread, |body| body.contains("Pull request: acme/payments-api#1")).await;
    assert!(body.contains("Waiting for 2 more approvals"), "{body}");
    let pull = github.pulls().pop().unwrap();
    let branch = format!("nova/{}", orchestrator::engine::session_name(&thread));
    assert_eq!((pull.author.as_str(), pull.head.as_str(), pull.base.as_str()), ("nova-bot", branch.as_str(), "main"));
    assert_eq!(pull.title, "Accept longer coupon codes");
    assert!(pull.body.contains("Nova review #1, revision 1"), "{}", pull.body);

    // Dave approves in the thread: the pull request says so.
    let approve = click(&thread, card, "dave", "approve", None, None);
    assert_eq!(nova.post_json("/api/console/actions", &approve).await.0, 200);
    let mirrored = github.wait_for("dave's approval", |g| g.reviews(1).into_iter().next()).await;
    assert_eq!((mirrored.author.as_str(), mirrored.state.as_str()), ("nova-bot", "COMMENTED"));
    assert!(mirrored.body.starts_with("**dave** approved in the chat thread."), "{}", mirrored.body);

    // Dave's reply quoting a line is a line comment, here and on GitHub, not work for maker.
    let prompts = nova.prompts(&thread).await.len();
    nova.reply(&thread, "dave", "`coupons.sh:1`: does 6 still reject the old 5-character codes?").await;
    review_card(&mut nova, &thread, |body| body.contains("> dave on `coupons.sh:1`: `coupons.sh:1`: does 6")).await;
    let on_the_line = github.wait_for("dave's line comment", |g| g.comments(1).into_iter().next()).await;
    assert_eq!((on_the_line.path.as_str(), on_the_line.line), ("coupons.sh", 1));
    assert_eq!(nova.prompts(&thread).await.len(), prompts, "a comment on the change is not a prompt");

    // On GitHub: the requester's approval does not count; carol's line comment shows on the card.
    let client = reqwest::Client::new();
    let review_on_github = |token: &str, body: Value| {
        client
            .post(format!("{}/repos/acme/payments-api/pulls/1/reviews", github.api_url))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    assert_eq!(review_on_github(&alice, json!({"event": "APPROVE"})).await.unwrap().status(), 200);
    let comment = json!({"event": "COMMENT", "comments": [{"path": "coupons.sh", "line": 1, "body": "name the rule"}]});
    assert_eq!(review_on_github(&carol, comment).await.unwrap().status(), 200);
    let (_, body) =
        review_card(&mut nova, &thread, |body| body.contains("> carol on `coupons.sh:1`: name the rule")).await;
    assert!(body.contains("Approved by: dave. Waiting for 1 more approval"), "alice's approval does not count: {body}");
    let told = "alice-gh's review on GitHub does not count toward review policy: alice-gh asked for this work, so \
                someone else has to review it.";
    nova.eventually("the thread told why alice's approval does not count", async |nova: &Nova| {
        nova.messages(&thread).await.into_iter().find(|m| m.from_nova && m.body == told)
    })
    .await;

    // A forged delivery changes nothing.
    let forged = json!({"action": "submitted", "repository": {"full_name": "acme/payments-api"},
        "pull_request": {"number": 1}, "sender": {"login": "carol-gh"},
        "review": {"id": 999, "user": {"login": "carol-gh"}, "state": "APPROVED", "commit_id": pull_head(&remote, &branch)}});
    let response = client
        .post(nova.url("/github/webhook"))
        .header("x-github-event", "pull_request_review")
        .header("x-hub-signature-256", "sha256=00")
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Carol approves on GitHub: two approvals, and the pull request is merged there, once,
    // at the head that was reviewed.
    assert_eq!(review_on_github(&carol, json!({"event": "APPROVE"})).await.unwrap().status(), 200);
    let (_, body) = review_card(&mut nova, &thread, |body| body.contains("Merged into `main`")).await;
    assert!(body.contains("on GitHub"), "{body}");
    let merged = github.pulls().pop().unwrap();
    assert!(merged.merged, "{merged:?}");
    assert_eq!(git(&remote, &["rev-parse", "main"]).trim(), merged.merge_commit.unwrap());
    assert!(git(&remote, &["log", "--format=%s", "-1", "main"]).starts_with("Merge review #1"));

    // The same approval delivered again (GitHub redelivers) is counted once.
    let carol_approval =
        github.reviews(1).into_iter().find(|r| r.author == "carol-gh" && r.state == "APPROVED").unwrap();
    let again = json!({"action": "submitted", "repository": {"full_name": "acme/payments-api"},
        "pull_request": {"number": 1}, "sender": {"login": "carol-gh"},
        "review": {"id": carol_approval.id, "user": {"login": "carol-gh"}, "state": "APPROVED", "commit_id": carol_approval.commit_id}})
    .to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec-7f3a").unwrap();
    mac.update(again.as_bytes());
    let response = client
        .post(nova.url("/github/webhook"))
        .header("x-github-event", "pull_request_review")
        .header("x-hub-signature-256", format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
        .header("content-type", "application/json")
        .body(again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let decisions: Vec<&str> =
        trail.iter().filter(|r| r.action == "review_decision").map(|r| r.actor.as_str()).collect();
    assert_eq!(decisions.len(), 4, "dave's approval and line, carol's comment and approval: {decisions:?}");
    assert!(github.deliveries().iter().all(|d| d.status < 300), "{:?}", github.deliveries());
    assert!(!serde_json::to_string(&model.requests()).unwrap().contains(&nova_token), "the token reached the model");
    nova.finish().await;
}

/// The payments workspace with its repo on GitHub (`acme/payments-api`, served from
/// `remote`): Nova's token and the webhook secret in the vault, the webhook pointing at
/// Nova, carol and alice known by their GitHub logins, two approvals and `stages`; the
/// office scripted to push one change and report it. Returns Nova and its GitHub token.
async fn on_github(
    github: &testkit::github::FakeGitHub,
    remote: &std::path::Path,
    model: &FakeOpenAi,
    stages: Vec<ReviewStage>,
) -> (Nova, String) {
    use orchestrator::config::{GithubSettings, Person};
    github.add_repo("acme/payments-api", remote.to_owned());
    let nova_token = github.add_user("nova-bot");
    let nova = Nova::start_with(|config| {
        agent_workspace(config, remote, &model.base_url, false);
        config.upstreams.push(provisioner::protocol::Upstream {
            name: "github".into(),
            url: github.api_url.clone(),
            header: "Authorization".into(),
            value: "Bearer {secret}".into(),
            secret: Some("github_token".into()),
        });
        config.github =
            Some(GithubSettings { upstream: "github".into(), webhook_secret: Some("github_webhook".into()) });
        config.repos[0].github = Some("acme/payments-api".into());
        for (name, login) in
            [("alice", Some("alice-gh")), ("carol", Some("carol-gh")), ("dave", None), (crate::harness::OPERATOR, None)]
        {
            config.people.insert(name.into(), Person { github: login.map(str::to_owned), ..Person::default() });
        }
        config.reviews.push(ReviewPolicy { approvals: 2, stages, ..ReviewPolicy::default() });
    })
    .await;
    for (name, value) in [("github_token", nova_token.as_str()), ("github_webhook", "whsec-7f3a")] {
        let put = json!({"scope": "platform", "name": name, "value": value});
        assert_eq!(nova.post_json("/api/vault", &put).await.0, 204);
    }
    github.add_webhook(&nova.url("/github/webhook"), "whsec-7f3a");
    model.then(Reply::tool("edit_file", json!({"path": "coupons.sh", "old": "-eq 8", "new": "-ge 6"})));
    model.then(Reply::tool(
        "run",
        json!({"command": "git commit --quiet -am 'Accept longer codes' && git push --quiet origin HEAD"}),
    ));
    model.then(Reply::tool("submit_change", json!({"repo": "payments-api", "summary": "Accept longer coupon codes."})));
    model.then(Reply::Content("Up for review.".into()));
    (nova, nova_token)
}

/// GitHub out of requests when the review opens: the review goes on in chat (the card
/// has no pull request, the audit trail says why), and once the rate limit is back the
/// approvals open the pull request, which the `pr` stage leaves approved for GitHub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_github_s_rate_limit_spent_the_review_goes_on_in_chat_and_the_pr_stage_opens_the_pull_request_later() {
    let dir = tempfile::tempdir().unwrap();
    let remote = payments_remote(dir.path());
    let github = testkit::github::FakeGitHub::start().await.unwrap();
    let model = FakeOpenAi::start().await.unwrap();
    let (mut nova, _) = on_github(&github, &remote, &model, vec![ReviewStage::Pr]).await;
    github.set_rate_limit_remaining(0);

    let thread =
        nova.say("eng", "alice", "@maker the coupon field rejects valid codes in payments-api, please fix").await;
    let (card, body) = review_card(&mut nova, &thread, |body| body.contains("revision 1")).await;
    assert!(!body.contains("Pull request:"), "{body}");
    let failed = nova
        .eventually("the failure in the audit trail", async |nova: &Nova| {
            let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
            trail.into_iter().find(|r| r.action == "code_host_failed")
        })
        .await;
    assert!(failed.details.contains("rate limit is spent"), "{}", failed.details);
    assert!(github.pulls().is_empty());

    github.set_rate_limit_remaining(100);
    for person in ["carol", "dave"] {
        let approve = click(&thread, card, person, "approve", None, None);
        assert_eq!(nova.post_json("/api/console/actions", &approve).await.0, 200);
    }
    let (_, body) = review_card(&mut nova, &thread, |body| body.contains("waits to be merged on GitHub")).await;
    assert!(body.contains("Pull request: acme/payments-api#1"), "{body}");
    assert!(body.ends_with("Approved: pull request acme/payments-api#1 waits to be merged on GitHub."), "{body}");
    let pull = github.pulls().pop().unwrap();
    assert_eq!((pull.state, pull.merged), ("open", false), "`pr` leaves the merge to GitHub");
    nova.finish().await;
}

fn pull_head(remote: &std::path::Path, branch: &str) -> String {
    git(remote, &["rev-parse", branch]).trim().to_owned()
}
