//! Nova in Discord: user stories against the real serenity client (REST and gateway),
//! the real server and the Discord stand-in.

use std::time::{Duration, Instant};

use bot::discord::components;
use bot::discord::events::ThreadKey;
use orchestrator::engine::{Prewarm, WarmSignal};
use orchestrator::store::{AuditFilter, MessageKind, Surface};
use serde_json::{Value, json};
use testkit::discord::{DM_CHANNEL, Delivery, FakeDiscord, Posted, intents, now_secs};

use crate::asks::with_approvals;
use crate::harness::{Nova, logs};

const RANDOM: &str = "1100000000000000201";
const ENG: &str = "1100000000000000202";
const PAYMENTS: &str = "1100000000000000203";
const DATA: &str = "1100000000000000204";
const CHANNELS: &[(&str, &str)] = &[(RANDOM, "random"), (ENG, "eng"), (PAYMENTS, "payments"), (DATA, "data")];

const ALICE: &str = "1100000000000000101";
const BOB: &str = "1100000000000000102";
const CAROL: &str = "1100000000000000103";
const DAVE: &str = "1100000000000000104";
const OPS: &str = "1100000000000000105";

/// Waits, re-checking whenever the Discord stand-in or Nova's state changes.
async fn until<T>(
    nova: &Nova,
    discord: &FakeDiscord,
    what: &str,
    check: impl AsyncFn(&Nova, &FakeDiscord) -> Option<T>,
) -> T {
    crate::harness::until(nova, discord, discord.changes(), what, check).await
}

/// Nova with the gateway connected and `/nova` registered.
async fn connected(discord: &FakeDiscord, edit: impl FnOnce(&mut orchestrator::config::Config)) -> Nova {
    let nova = Nova::start_on_discord(discord, edit).await;
    until(&nova, discord, "the gateway session and /nova", async |_, d| {
        (d.gateway_connected() && !d.commands().is_empty()).then_some(())
    })
    .await;
    nova
}

/// The session a message in a channel starts (its thread has the message's id).
fn session_of(channel: &str, message: &str) -> String {
    format!("discord:{channel}:{message}")
}

/// Waits until the session's Discord channel shows exactly what Nova wrote (latest
/// revisions, in order) with `results` results among them; returns Nova's messages there.
async fn mirrored(nova: &Nova, discord: &FakeDiscord, session: &str, results: usize) -> Vec<Posted> {
    let channel = ThreadKey::parse(session).unwrap().channel().to_string();
    let what = format!("Discord to show {results} result(s) of {session}");
    crate::harness::until_explained(nova, discord, discord.changes(), &what, async |nova, discord| {
        let messages = nova.messages(session).await;
        if messages.iter().filter(|m| m.kind == MessageKind::Result).count() < results {
            return Err("Nova has not the results yet".to_owned());
        }
        let expected: Vec<String> = messages
            .iter()
            .filter(|m| m.from_nova)
            .map(|m| components::message(m.id, &m.body, m.card.as_ref()).0)
            .collect();
        let shown: Vec<Posted> = discord.channel_messages(&channel).into_iter().filter(|m| m.from_bot).collect();
        let texts: Vec<String> = shown.iter().map(|m| m.content.clone()).collect();
        if texts == expected { Ok(shown) } else { Err(format!("Nova has {expected:#?}\nDiscord shows {texts:#?}")) }
    })
    .await
}

fn transcript(messages: &[Posted]) -> String {
    messages
        .iter()
        .map(|m| {
            let who = if m.from_bot { "nova" } else { m.author.as_str() };
            let edits = if m.history.is_empty() { String::new() } else { " (edited)".to_owned() };
            format!("{who}{edits}: {}", m.content.replace('\n', "\n    "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn audit(nova: &Nova, action: &str) -> Vec<orchestrator::store::audit::Model> {
    let rows = nova.engine().store().audit_trail(&AuditFilter::default()).await.unwrap();
    rows.into_iter().filter(|r| r.action == action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_opens_a_thread_where_progress_is_edited_and_a_colleague_follows_up() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, crate::harness::paced_steps).await;
    let expected = intents::GUILD_MESSAGES | intents::GUILD_MESSAGE_TYPING | intents::DIRECT_MESSAGE_TYPING;
    assert_eq!(discord.intents() & expected, expected, "Nova asks for messages and typing");

    let ask = discord.say(RANDOM, ALICE, &FakeDiscord::mention("the coupon field rejects valid codes, please fix"));
    let session = session_of(RANDOM, &ask);
    let shown = mirrored(&nova, &discord, &session, 1).await;
    let thread = discord.channel(&ask).expect("a thread opened from the message");
    assert_eq!(thread.name, "the coupon field rejects valid codes, please fix");
    let progress = shown.iter().find(|m| m.content.contains("**maker** finished")).expect("a progress message");
    assert!(!progress.history.is_empty(), "progress is edited in place: {progress:?}");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"notes/[0-9a-f]{8}\.md", "notes/<run>.md");
    settings.bind(|| insta::assert_snapshot!("discord_first_answer", transcript(&discord.channel_messages(&ask))));

    // A colleague writes in the thread without mentioning Nova: same session.
    discord.say(&ask, BOB, "also check that gift cards still work");
    mirrored(&nova, &discord, &session, 2).await;
    let authors: Vec<String> = nova.prompts(&session).await.into_iter().map(|p| p.author).collect();
    assert_eq!(authors, [ALICE, BOB]);
    // Discord sent every one of Nova's posts back over the gateway; none became a prompt.
    assert_eq!(nova.prompts(&session).await.len(), 2);
    assert_eq!(nova.engine().store().threads_in_channel(Surface::Discord, "random").await.unwrap().len(), 1);
    assert_eq!(discord.threads().len(), 1, "one thread per session");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_channels_listen_unbound_ones_need_a_mention_and_dms_are_one_session() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    let chatter = discord.say(RANDOM, ALICE, "lunch anyone?");
    let ask = discord.say(PAYMENTS, ALICE, "refunds fail for orders with a coupon");
    let shown = mirrored(&nova, &discord, &session_of(PAYMENTS, &ask), 1).await;
    assert!(shown[0].content.starts_with("Routing to **"), "{}", shown[0].content);

    let dm = discord.say(DM_CHANNEL, BOB, "what does the inventory sync do at night?");
    let session = ThreadKey::Dm { channel: DM_CHANNEL.parse::<u64>().unwrap().into() }.id();
    mirrored(&nova, &discord, &session, 1).await;
    discord.say(DM_CHANNEL, BOB, "and how long does it take?");
    mirrored(&nova, &discord, &session, 2).await;
    assert!(discord.channel(&dm).is_none(), "no threads in DMs");

    assert!(nova.engine().store().thread(&session_of(RANDOM, &chatter)).await.unwrap().is_none());
    assert!(discord.channel(&chatter).is_none() && discord.channel_messages(RANDOM).iter().all(|m| !m.from_bot));
    assert_eq!(nova.prompts(&session).await.len(), 2);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_in_a_bound_channel_prewarms_the_office_and_the_message_finds_it_ready() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |_| {}).await;
    assert_eq!(nova.office("maker").await.state.as_str(), "asleep");

    let typing = Instant::now();
    discord.start_typing(ENG, ALICE);
    nova.office_reaches("maker", "idle").await;
    let ready_after = typing.elapsed();
    let prewarm = audit(&nova, "prewarm").await;
    assert_eq!(prewarm.len(), 1, "{prewarm:?}");
    assert_eq!(prewarm[0].actor, ALICE);
    let wake_took = audit(&nova, "ready").await[0].at - audit(&nova, "wake").await[0].at;
    eprintln!("typing signal → office ready: {} ms (of which the wake: {wake_took} ms)", ready_after.as_millis());

    // Typing again moments later (Discord repeats it every ~10 s) starts nothing new.
    discord.start_typing(ENG, ALICE);
    let ask = discord.say(ENG, ALICE, "the cart total ignores the coupon");
    let session = session_of(ENG, &ask);
    mirrored(&nova, &discord, &session, 1).await;
    let hits = audit(&nova, "prewarm_hit").await;
    assert_eq!(hits.len(), 1, "the prompt found the prewarmed office");
    assert_eq!(audit(&nova, "wake").await.len(), 1, "one wake: the prewarm's");
    let routed = &nova.messages(&session).await[1];
    assert!(!routed.body.contains("asleep"), "no 'waking' notice: {}", routed.body);
    assert!(nova.office("maker").await.prewarm_until.is_none(), "a real office now, on the normal idle timeout");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_about_a_bug_in_an_unbound_channel_warms_up_the_maker_and_nova_stays_quiet() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |_| {}).await;
    let posted_before = discord.messages().len();
    discord.say(RANDOM, BOB, "the checkout page throws a 500 when I apply a coupon, anyone seen this?");
    nova.office_reaches("maker", "idle").await;
    assert!(nova.office("maker").await.prewarm_until.is_some(), "up on chatter alone");
    let prewarm = audit(&nova, "prewarm").await;
    assert_eq!((prewarm.len(), prewarm[0].actor.as_str()), (1, BOB));
    assert!(!prewarm[0].details.contains("coupon"), "the words are not kept: {}", prewarm[0].details);
    assert_eq!(discord.messages().len(), posted_before + 1, "Nova answered nothing and opened no thread");
    assert!(nova.engine().store().threads_in_channel(Surface::Discord, "random").await.unwrap().is_empty());
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_woken_without_warning_stays_up_while_one_whose_people_type_first_sleeps() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |config| {
        for office in &mut config.offices {
            office.idle_timeout = Duration::from_millis(300);
            office.idle_timeout_without_signals = Duration::from_secs(3600);
        }
    })
    .await;
    // #data: a message nobody was seen typing (pasted, sent from a phone, a bot's).
    let unannounced = discord.say(DATA, BOB, "why did the nightly export shrink by half?");
    mirrored(&nova, &discord, &session_of(DATA, &unannounced), 1).await;
    nova.office_reaches("analyst", "idle").await;

    // #eng: typing first, then the message; done after #data's.
    discord.start_typing(ENG, ALICE);
    nova.office_reaches("maker", "idle").await;
    let announced = discord.say(ENG, ALICE, "the cart total ignores the coupon");
    mirrored(&nova, &discord, &session_of(ENG, &announced), 1).await;

    // The next signal can warm maker again, so it sleeps after its short timeout; the
    // analyst, idle for longer, stays up: nothing will announce its next prompt either.
    nova.office_reaches("maker", "asleep").await;
    let analyst = nova.office("analyst").await;
    assert_eq!(analyst.state.as_str(), "idle", "{analyst:?}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_without_a_message_lets_the_prewarm_expire_and_returns_the_capacity() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |config| {
        // Long enough that the checks below never race the prewarm's end on a loaded
        // machine; the story then waits for it.
        config.provisioner.prewarm_ttl = Duration::from_secs(8);
        config.provisioner.max_prewarms = 1;
    })
    .await;
    discord.start_typing(ENG, ALICE);
    nova.office_reaches("maker", "idle").await;
    assert_eq!(nova.engine().running_offices().await, 1);
    let status = slash(&nova, &discord, BOB, "status").await;
    let text = status["data"]["content"].as_str().unwrap();
    assert!(text.contains("• **maker** — idle (warming up: someone is typing)"), "{text}");

    // What the engine makes of more signals meanwhile: the same person again is rate
    // limited, and the one prewarm place is taken, so #data's office stays asleep.
    let signal = |channel: &str, user: &str| WarmSignal {
        surface: Surface::Discord,
        channel: channel.into(),
        user: user.into(),
        thread: None,
        chatter: None,
    };
    let again = nova.engine().prewarm(signal("eng", ALICE)).await.unwrap();
    assert_eq!(again, Prewarm::RateLimited { office: "maker".into() });
    let full = nova.engine().prewarm(signal("data", BOB)).await.unwrap();
    assert_eq!(full, Prewarm::AtCapacity { office: "analyst".into() });
    assert_eq!(nova.office("analyst").await.state.as_str(), "asleep");

    // No prompt followed: maker goes back to sleep and frees its place.
    nova.office_reaches("maker", "asleep").await;
    assert_eq!(nova.engine().running_offices().await, 0);
    let expired = audit(&nova, "prewarm_expired").await;
    assert_eq!(expired.len(), 1);
    discord.start_typing(DATA, BOB);
    nova.office_reaches("analyst", "idle").await;
    assert!(audit(&nova, "prewarm").await.iter().any(|r| r.office.as_deref() == Some("analyst")));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_gateway_connection_resumes_without_missing_or_repeating_a_message() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    let first = discord.say(ENG, ALICE, "rename the checkout button");
    mirrored(&nova, &discord, &session_of(ENG, &first), 1).await;

    discord.drop_gateway();
    // Written while Nova is disconnected: Discord keeps it for the RESUME.
    let missed = discord.say(ENG, BOB, "bump the logging library");
    until(&nova, &discord, "a resumed session", async |_, d| (d.gateway_counts().1 >= 1).then_some(())).await;
    mirrored(&nova, &discord, &session_of(ENG, &missed), 1).await;
    let (identifies, resumes, _) = discord.gateway_counts();
    assert_eq!((identifies, resumes), (1, 1), "resumed, not re-identified");
    let beats = discord.gateway_counts().2;
    until(&nova, &discord, "heartbeats on the resumed connection", async |_, d| {
        (d.gateway_counts().2 >= beats + 2).then_some(())
    })
    .await;
    assert_eq!(discord.gateway_counts().0, 1, "acknowledged heartbeats keep the session");
    assert_eq!(nova.prompts(&session_of(ENG, &missed)).await.len(), 1, "handled once");
    assert_eq!(nova.prompts(&session_of(ENG, &first)).await.len(), 1, "nothing replayed twice");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_while_nova_was_down_are_taken_when_it_is_back() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |_| {}).await;
    let ask = discord.say(ENG, ALICE, "rename the checkout button");
    let session = session_of(ENG, &ask);
    mirrored(&nova, &discord, &session, 1).await;

    // Nova stops; a colleague writes in the session's thread meanwhile. Discord gives a
    // new gateway session nothing from before it, so only the thread itself has it.
    nova.restart(|_| {
        discord.say(&ask, BOB, "and make it green");
    })
    .await;
    mirrored(&nova, &discord, &session, 2).await;
    let authors: Vec<String> = nova.prompts(&session).await.into_iter().map(|p| p.author).collect();
    assert_eq!(authors, [ALICE, BOB], "taken once, in order, the thread's earlier messages left alone");
    assert_eq!(discord.gateway_counts().0, 2, "a new session after the restart");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_written_while_nova_was_down_is_answered_but_older_history_is_not_a_prompt() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    // Written before Nova ever ran, in a bound channel: history, not a prompt.
    let old = discord.say(PAYMENTS, CAROL, "refunds were slow last year");
    let mut nova = connected(&discord, |_| {}).await;
    let first = discord.say(ENG, ALICE, "rename the checkout button");
    mirrored(&nova, &discord, &session_of(ENG, &first), 1).await;

    let mut missed = String::new();
    nova.restart(|_| {
        missed = discord.say(RANDOM, BOB, &FakeDiscord::mention("the coupon field rejects valid codes"));
    })
    .await;
    mirrored(&nova, &discord, &session_of(RANDOM, &missed), 1).await;
    assert_eq!(nova.prompts(&session_of(RANDOM, &missed)).await.len(), 1);
    assert!(nova.engine().store().thread(&session_of(PAYMENTS, &old)).await.unwrap().is_none());
    assert_eq!(nova.prompts(&session_of(ENG, &first)).await.len(), 1, "nothing taken twice");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interactions_endpoint_answers_pings_and_refuses_bad_signatures() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    let ping = json!({"id": "1100000000000000900", "application_id": testkit::discord::APPLICATION_ID, "type": 1, "token": "t", "version": 1}).to_string();
    let (status, pong) = discord.post_signed(&ping, None).await;
    assert_eq!((status, &pong["type"]), (200, &json!(1)), "PING gets PONG: {pong}");

    let now = now_secs().to_string();
    let forged = "ab".repeat(64);
    assert_eq!(discord.post_signed(&ping, Some((&forged, &now))).await.0, 401, "a forged signature");
    let old = (now_secs() - 600).to_string();
    let stale = discord.sign(&old, &ping);
    assert_eq!(discord.post_signed(&ping, Some((&stale, &old))).await.0, 401, "a replayed old request");
    let signed_other = discord.sign(&now, "{\"type\":1}");
    assert_eq!(discord.post_signed(&ping, Some((&signed_other, &now))).await.0, 401, "a body altered after signing");
    let unsigned = reqwest::Client::new().post(nova.url("/discord/interactions")).body(ping.clone()).send().await;
    assert_eq!(unsigned.unwrap().status().as_u16(), 401);
    let signature = discord.sign(&now, "not json");
    assert_eq!(discord.post_signed("not json", Some((&signature, &now))).await.0, 400, "signed garbage is a 400");
    assert!(nova.engine().store().pending_inbound(10).await.unwrap().is_empty());
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_buttons_confirm_first_then_decide_once() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        with_approvals(Duration::from_secs(600))(config);
        config.roles.insert("dba".into(), vec![CAROL.into(), DAVE.into()]);
    })
    .await;
    // Through the HTTP endpoint, as for apps with an Interactions Endpoint URL.
    discord.deliver_interactions(Delivery::Endpoint);
    let ask = discord.say(ENG, ALICE, "drop the legacy_orders table, nobody uses it");
    let card = until(&nova, &discord, "an approval card", async |_, d| {
        d.channel_messages(&ask).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Approve…"))
    })
    .await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d\d:\d\d UTC", "HH:MM UTC");
    settings.bind(|| insta::assert_snapshot!("discord_approval_card", card.content));

    // The requester may not approve: the confirmation is offered, the decision refused.
    let (status, _) = discord.click(ALICE, &card, "Approve…").await;
    assert_eq!(status, 200);
    let confirm = discord.ephemerals(ALICE).pop().expect("a private confirmation");
    assert!(confirm.content.starts_with("Approve? **maker** will **drop the table legacy_orders**"));
    discord.click(ALICE, &confirm, "Yes, approve").await;
    let refused = discord.ephemerals(ALICE).pop().unwrap();
    assert_eq!(
        refused.content,
        format!("Nothing changed: {ALICE} asked for this work, so someone else has to approve it.")
    );

    discord.click(CAROL, &card, "Approve…").await;
    let confirm = discord.ephemerals(CAROL).pop().unwrap();
    discord.click(CAROL, &confirm, "Yes, approve").await;
    assert_eq!(discord.ephemerals(CAROL).pop().unwrap().content, "Approved. The card in the thread shows it.");
    let shown = mirrored(&nova, &discord, &session_of(ENG, &ask), 1).await;
    assert!(shown.last().unwrap().content.contains("dropped legacy_orders"), "{}", transcript(&shown));
    let decided = shown.iter().find(|m| m.id == card.id).unwrap();
    assert!(decided.content.starts_with(&format!("Approved by {CAROL}")), "{}", decided.content);
    assert!(decided.buttons().is_empty(), "a decided card has no buttons");

    // A stale copy of the card clicked later: explained privately, no second effect.
    let (_, interaction) = discord.click(DAVE, &card, "Reject").await;
    let answer = &discord.responses(&interaction)[0];
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(answer["data"]["content"], format!("Nothing changed: this approval was already approved by {CAROL}."));
    nova.finish().await;
}

const NEEDS_KEY: &str = r#"
$NOVA_OFFICE_CLI request-credential --name llm_key --why "to call the model API for this task" || exit 5
echo '{"type":"result","text":"got the key it asked for"}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_goes_through_a_modal_into_the_vault_and_nowhere_else() {
    let secret = format!("sk-live-{}", uuid::Uuid::new_v4().simple());
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), NEEDS_KEY.into()];
    })
    .await;
    let ask = discord.say(ENG, ALICE, "@maker summarize the open bugs with the model");
    let card = until(&nova, &discord, "a credential card", async |_, d| {
        d.channel_messages(&ask).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Provide"))
    })
    .await;
    // Over the gateway: Nova answers with a callback.
    discord.click(BOB, &card, "Provide").await;
    let modal = until(&nova, &discord, "the credential modal", async |_, d| d.modals().into_iter().next()).await;
    assert_eq!(modal.user, BOB);
    discord.submit_modal(BOB, &modal, &[(components::CREDENTIAL_INPUT, "   ")]).await;
    let empty = until(&nova, &discord, "the refusal", async |_, d| d.ephemerals(BOB).pop()).await;
    assert_eq!(empty.content, "Nothing stored: the value is empty.");
    discord.submit_modal(BOB, &modal, &[(components::CREDENTIAL_INPUT, &secret)]).await;
    until(&nova, &discord, "the confirmation", async |_, d| (d.ephemerals(BOB).len() == 2).then_some(())).await;

    let session = session_of(ENG, &ask);
    let shown = mirrored(&nova, &discord, &session, 1).await;
    assert!(
        shown.iter().any(|m| m.content.contains(&format!("**llm_key** was provided by {BOB}"))),
        "{}",
        transcript(&shown)
    );

    // Again: refused, nothing changes.
    discord.submit_modal(BOB, &modal, &[(components::CREDENTIAL_INPUT, "other")]).await;
    let again = until(&nova, &discord, "the second refusal", async |_, d| {
        d.ephemerals(BOB).into_iter().find(|m| m.content.contains("already provided"))
    })
    .await;
    assert_eq!(again.content, format!("Nothing stored: `llm_key` was already provided by {BOB}."));

    // The value is nowhere but the vault.
    assert!(discord.calls().iter().all(|c| !c.body.to_string().contains(&secret)));
    assert!(discord.messages().iter().all(|m| !m.content.contains(&secret)));
    assert!(!logs().contains(&secret), "the secret reached the logs");
    assert!(nova.messages(&session).await.iter().all(|m| !m.body.contains(&secret)));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_delays_but_loses_and_reorders_nothing() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    discord.rate_limit(4, 0.3);
    let first = discord.say(ENG, ALICE, "fix the flaky cart test");
    let second = discord.say(ENG, BOB, "bump the logging library");
    for ask in [&first, &second] {
        let shown = mirrored(&nova, &discord, &session_of(ENG, ask), 1).await;
        assert!(shown[0].content.starts_with("Routing to"), "{}", transcript(&shown));
        assert!(shown.last().unwrap().content.contains("this workspace now holds"), "{}", transcript(&shown));
    }
    let limited = discord.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 4, "every 429 was answered by waiting and trying again");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_discord_refuses_is_sent_again_and_nothing_overtakes_it() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    // Five 429s in a row: Nova gives the call up and tries the message again later,
    // while the office's result is already waiting behind it.
    discord.rate_limit(5, 0.0);
    let ask = discord.say(ENG, ALICE, "fix the flaky cart test");
    let shown = mirrored(&nova, &discord, &session_of(ENG, &ask), 1).await;
    assert!(shown[0].content.starts_with("Routing to"), "{}", transcript(&shown));
    assert!(shown.last().unwrap().content.contains("this workspace now holds"), "{}", transcript(&shown));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_again_after_a_crash_shows_once() {
    use bot::mirror::Writer as _;
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    let ask = discord.say(ENG, ALICE, "fix the flaky cart test");
    let session = session_of(ENG, &ask);
    let shown = mirrored(&nova, &discord, &session, 1).await;

    // A Nova that crashed between posting its first answer and noting it posts it again.
    let settings = bot::discord::settings::DiscordSettings {
        token: discord.token.clone(),
        public_key: None,
        api_url: Some(discord.api_url.clone()),
        edit_interval: Duration::from_millis(20),
    };
    let api = std::sync::Arc::new(bot::discord::api::DiscordApi::new(&settings).unwrap());
    let writer = bot::discord::outbound::DiscordWriter::new(std::sync::Arc::clone(nova.engine()), api);
    let first =
        nova.engine().store().thread_messages(&session).await.unwrap().into_iter().find(|m| m.from_nova).unwrap();
    let again = writer.post(&session, &first, None).await.unwrap();
    assert_eq!(again, shown[0].id, "Discord answers with the message it already has");
    let channel = ThreadKey::parse(&session).unwrap().channel().to_string();
    assert_eq!(discord.channel_messages(&channel).into_iter().filter(|m| m.from_bot).count(), shown.len());
    nova.finish().await;
}

/// `/nova <text>` in #eng; Nova's answer to it.
async fn slash(nova: &Nova, discord: &FakeDiscord, user: &str, text: &str) -> Value {
    let (status, interaction) = discord.slash(user, ENG, text).await;
    assert_eq!(status, 200);
    until(nova, discord, "an answer", async |_, d| d.responses(&interaction).pop()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_are_registered_and_report_wake_and_put_offices_to_sleep() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let mut nova = connected(&discord, |config| {
        config.roles.insert("operator".into(), vec![OPS.into()]);
    })
    .await;
    assert_eq!(discord.commands()[0]["name"], "nova");
    let help = slash(&nova, &discord, ALICE, "").await;
    assert_eq!(help["type"], 4);
    assert_eq!(help["data"]["flags"], 64, "help is private");
    assert!(help["data"]["content"].as_str().unwrap().contains("/nova status"));

    let refused = slash(&nova, &discord, ALICE, "wake maker").await;
    assert_eq!(refused["data"]["content"], "Only people with the `operator` role may do that.");
    assert_eq!(nova.office("maker").await.state.as_str(), "asleep");
    let woken = slash(&nova, &discord, OPS, "wake maker").await;
    assert_eq!(woken["data"]["content"], format!("{OPS} is waking **maker** (generation 1)."));
    assert_eq!(woken["data"].get("flags").and_then(Value::as_u64).unwrap_or(0) & 64, 0, "the channel sees a wake");
    nova.office_reaches("maker", "idle").await;
    let status = slash(&nova, &discord, ALICE, "status").await;
    assert!(status["data"]["content"].as_str().unwrap().contains("• **maker** — idle"), "{status}");
    let slept = slash(&nova, &discord, OPS, "sleep maker").await;
    assert_eq!(slept["data"]["content"], format!("{OPS} put **maker** to sleep: its workspace is being snapshotted."));
    nova.office_reaches("maker", "asleep").await;
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_discord_refuses_stops_nova_at_start_with_a_clear_error() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let db = testkit::TestDatabase::new().await.unwrap();
    let started = bot::start(bot::Options {
        config: crate::harness::test_config(data_dir.path()),
        config_path: None,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        office_program: vec![],
        database_url: Some(db.url.clone()),
        run_engine: false,
        slack: None,
        discord: Some(bot::discord::settings::DiscordSettings {
            token: "MTEw.not-the-token.x".into(),
            public_key: None,
            api_url: Some(discord.api_url.clone()),
            edit_interval: Duration::from_secs(1),
        }),
        gce: None,
    })
    .await;
    let error = format!("{:#}", started.err().expect("Nova refuses to start"));
    assert!(error.starts_with("Discord refused DISCORD_TOKEN (401 Unauthorized)"), "{error}");
    assert!(!error.contains("not-the-token"), "the token is not repeated: {error}");
    db.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_writes_everyone_and_roles_pings_nobody() {
    const LOUD: &str =
        r#"echo '{"type":"result","text":"@everyone done, <@&1100000000000000900> and <@1100000000000000102> look"}'"#;
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), LOUD.into()];
    })
    .await;
    let ask = discord.say(ENG, ALICE, &FakeDiscord::mention("@maker tell everyone when it is done"));
    let shown = mirrored(&nova, &discord, &session_of(ENG, &ask), 1).await;
    let result = shown.iter().find(|m| m.content.contains("@everyone done")).expect("the result, word for word");
    assert_eq!(result.pinged, Vec::<String>::new(), "the agent's mentions stay text");
    assert!(shown.iter().all(|m| m.pinged.is_empty()), "no post of Nova's pings anyone");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_button_ends_a_run_for_its_author_and_explains_itself_to_others() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        config.roles.insert("operator".into(), vec![OPS.into()]);
        config.offices[0].runtime.as_mut().unwrap().command =
            vec!["sh".into(), "-c".into(), crate::work::LONG_RUN.into()];
    })
    .await;
    discord.deliver_interactions(Delivery::Endpoint);
    let ask = discord.say(ENG, ALICE, "@maker rebuild the search index");
    let card = until(&nova, &discord, "a working progress card with Stop", async |_, d| {
        d.channel_messages(&ask)
            .into_iter()
            .find(|m| m.content.contains("working on it") && m.buttons().iter().any(|(label, _, _)| label == "Stop"))
    })
    .await;

    // Someone else: told privately, the run goes on.
    let (_, interaction) = discord.click(BOB, &card, "Stop").await;
    let answer = &discord.responses(&interaction)[0];
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(
        answer["data"]["content"],
        format!("Nothing changed: only {ALICE} (who asked for it) or an operator may stop it.")
    );

    let (status, _) = discord.click(ALICE, &card, "Stop").await;
    assert_eq!(status, 200);
    let stopped = until(&nova, &discord, "the stop in the thread", async |_, d| {
        d.channel_messages(&ask).into_iter().find(|m| m.content.starts_with(&format!("{ALICE} stopped **maker**")))
    })
    .await;
    assert!(stopped.content.ends_with("say what to do next."), "{}", stopped.content);
    let card = until(&nova, &discord, "the card without its button", async |_, d| {
        d.channel_messages(&ask).into_iter().find(|m| m.id == card.id && m.buttons().is_empty())
    })
    .await;
    assert!(card.content.contains("was stopped"), "{}", card.content);
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_discord_people_ask_about_the_fleet_in_their_own_words() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        config.roles.insert("operator".into(), vec![OPS.into()]);
    })
    .await;
    let question = discord.say(ENG, ALICE, "what is maker up to?");
    let session = session_of(ENG, &question);
    let answer = until(&nova, &discord, "Nova's answer", async |nova, _| {
        nova.messages(&session).await.into_iter().find(|m| m.from_nova).map(|m| m.body)
    })
    .await;
    assert_eq!(answer, "**maker** is asleep, with nothing running.");
    let channel = ThreadKey::parse(&session).unwrap().channel().to_string();
    until(&nova, &discord, "Discord to show it", async |_, discord| {
        discord.channel_messages(&channel).iter().any(|m| m.from_bot && m.content == answer).then_some(())
    })
    .await;
    assert!(nova.prompts(&session).await.is_empty(), "a question is no work");

    let sleep = discord.say(ENG, BOB, "put maker to sleep");
    let session = session_of(ENG, &sleep);
    let refused = until(&nova, &discord, "the refusal", async |nova, _| {
        nova.messages(&session).await.into_iter().find(|m| m.from_nova).map(|m| m.body)
    })
    .await;
    assert_eq!(refused, "Only people with the `operator` role may do that.");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asked_for_in_discord_comes_once_a_colleague_approves_it() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |_| {}).await;
    discord.deliver_interactions(Delivery::Endpoint);
    let ask = discord.say(ENG, ALICE, "set up an office called scribe for release notes under the writer");
    let card = until(&nova, &discord, "the change's approval card", async |_, d| {
        d.channel_messages(&ask).into_iter().find(|m| m.buttons().iter().any(|(label, _, _)| label == "Approve…"))
    })
    .await;
    assert!(card.content.contains("asks for approval to **create the office scribe"), "{}", card.content);

    discord.click(BOB, &card, "Approve…").await;
    let confirm = discord.ephemerals(BOB).pop().expect("a private confirmation");
    discord.click(BOB, &confirm, "Yes, approve").await;
    let session = session_of(ENG, &ask);
    let done = until(&nova, &discord, "the change made", async |nova, _| {
        nova.messages(&session).await.into_iter().find(|m| m.body.starts_with("Done: create the office scribe"))
    })
    .await;
    until(&nova, &discord, "Discord to show it", async |_, discord| {
        discord.channel_messages(&ask).iter().any(|m| m.from_bot && m.content == done.body).then_some(())
    })
    .await;
    assert!(nova.engine().config().office("scribe").is_some());
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_discord_stop_in_a_thread_ends_its_run_and_a_schedule_fires_into_its_thread() {
    let discord = FakeDiscord::start(CHANNELS).await.unwrap();
    let nova = connected(&discord, |config| {
        config.offices[0].runtime.as_mut().unwrap().command =
            vec!["sh".into(), "-c".into(), crate::work::LONG_RUN.into()];
    })
    .await;
    let ask = discord.say(ENG, ALICE, "rebuild the search index");
    let session = session_of(ENG, &ask);
    until(&nova, &discord, "maker working", async |nova, _| {
        let prompts = nova.prompts(&session).await;
        (prompts.first()?.state == orchestrator::store::PromptState::Dispatched).then_some(())
    })
    .await;
    discord.say(&ask, ALICE, "stop");
    until(&nova, &discord, "the stop shown in Discord", async |_, discord| {
        discord.channel_messages(&ask).into_iter().find(|m| m.from_bot && m.content.contains("stopped **maker**"))
    })
    .await;
    assert_eq!(nova.prompts(&session).await[0].state, orchestrator::store::PromptState::Stopped);

    let made = discord.say(DATA, ALICE, "every weekday at 9 have the analyst post yesterday's signups");
    let session = session_of(DATA, &made);
    let answer = until(&nova, &discord, "the schedule made", async |nova, _| {
        nova.messages(&session).await.into_iter().find(|m| m.from_nova).map(|m| m.body)
    })
    .await;
    assert!(answer.starts_with("Scheduled #1: **analyst** will"), "{answer}");
    let a_week_on = orchestrator::store::now_ms() + 7 * 86_400_000;
    assert_eq!(nova.engine().run_due_schedules(a_week_on).await.unwrap(), 1);
    let shown = mirrored(&nova, &discord, &session, 1).await;
    assert!(
        shown.iter().any(|m| m.content.starts_with("Schedule #1 (weekdays at 09:00 UTC): **analyst**")),
        "{}",
        transcript(&shown)
    );
    nova.finish().await;
}
