use serde_json::json;

use super::*;

fn event(event: serde_json::Value) -> SlackEvent {
    let body = json!({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": event});
    match parse_events(body.to_string().as_bytes()).unwrap() {
        EventsPayload::Callback { event_id, event } => {
            assert_eq!(event_id, "Ev1");
            event
        }
        other => panic!("not a callback: {other:?}"),
    }
}

fn message(fields: serde_json::Value) -> SlackMessage {
    let mut base = json!({"type": "message", "channel": "C1", "user": "U1", "text": "fix it", "ts": "10.0001"});
    for (k, v) in fields.as_object().unwrap() {
        base[k] = v.clone();
    }
    match event(base) {
        SlackEvent::Message(message) => message,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn answers_url_verification() {
    let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    assert_eq!(
        parse_events(body).unwrap(),
        EventsPayload::UrlVerification { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into() }
    );
}

#[test]
fn refuses_malformed_bodies() {
    assert!(matches!(parse_events(b"not json"), Err(PayloadError::Malformed(_))));
    assert_eq!(parse_events(br#"{"type":"url_verification"}"#), Err(PayloadError::Missing("challenge")));
    assert_eq!(
        parse_events(br#"{"type":"event_callback","event_id":"E","event":{"type":"message","ts":"1"}}"#),
        Err(PayloadError::Missing("event.channel"))
    );
}

#[test]
fn reads_messages_mentions_and_early_signals() {
    let mention = event(
        json!({"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UNOVA> hi", "ts": "1.2", "thread_ts": "1.0"}),
    );
    let SlackEvent::Message(mention) = mention else { panic!() };
    assert!(mention.app_mention);
    assert_eq!(mention.thread_ts.as_deref(), Some("1.0"));
    let started = event(
        json!({"type": "assistant_thread_started", "assistant_thread": {"user_id": "U1", "channel_id": "D1", "thread_ts": "1.0"}}),
    );
    assert_eq!(
        started,
        SlackEvent::EarlySignal {
            kind: "assistant_thread_started".into(),
            user: Some("U1".into()),
            channel: Some("D1".into())
        }
    );
    assert_eq!(event(json!({"type": "reaction_added", "user": "U1"})), SlackEvent::Ignored("reaction_added".into()));
}

#[test]
fn who_nova_listens_to() {
    let bot = Some("UNOVA");
    let top = message(json!({}));
    assert_eq!(disposition(&top, bot, false, false), Disposition::Chatter);
    assert_eq!(disposition(&top, bot, false, true), Disposition::Start { fetch_context: false });
    let mention = message(json!({"text": "<@UNOVA> fix it"}));
    assert_eq!(disposition(&mention, bot, false, false), Disposition::Start { fetch_context: false });
    let dm = message(json!({"channel_type": "im"}));
    assert_eq!(disposition(&dm, bot, false, false), Disposition::Start { fetch_context: false });
    let reply = message(json!({"thread_ts": "9.0"}));
    assert_eq!(disposition(&reply, bot, true, false), Disposition::FollowUp);
    assert_eq!(disposition(&reply, bot, false, true), Disposition::Chatter);
    let mention_in_thread = message(json!({"thread_ts": "9.0", "text": "<@UNOVA> take this"}));
    assert_eq!(disposition(&mention_in_thread, bot, false, false), Disposition::Start { fetch_context: true });
    // A thread's root message carries thread_ts == ts once it has replies.
    let root = message(json!({"thread_ts": "10.0001"}));
    assert_eq!(disposition(&root, bot, false, true), Disposition::Start { fetch_context: false });
}

#[test]
fn nova_never_wakes_itself_or_other_bots() {
    let bot = Some("UNOVA");
    let own = message(json!({"user": "UNOVA", "text": "Routing to maker"}));
    assert_eq!(disposition(&own, bot, true, true), Disposition::Ignore("Nova wrote it"));
    let other_bot = message(json!({"bot_id": "B9", "text": "<@UNOVA> loop forever"}));
    assert_eq!(disposition(&other_bot, bot, true, true), Disposition::Ignore("a bot wrote it"));
    let bot_message = message(json!({"subtype": "bot_message", "user": null}));
    assert_eq!(disposition(&bot_message, bot, true, true), Disposition::Ignore("a bot wrote it"));
    let edit = message(json!({"subtype": "message_changed"}));
    assert_eq!(disposition(&edit, bot, true, true), Disposition::Ignore("not a new message"));
    let broadcast = message(json!({"subtype": "thread_broadcast", "thread_ts": "9.0"}));
    assert_eq!(disposition(&broadcast, bot, true, false), Disposition::FollowUp);
}

#[test]
fn prompt_text_drops_novas_mention_and_unescapes() {
    assert_eq!(prompt_text("<@UNOVA>  fix &lt;b&gt; &amp; ship, cc <@U2>", Some("UNOVA")), "fix <b> & ship, cc <@U2>");
    assert_eq!(prompt_text("  spaced\n out ", None), "spaced out");
}

#[test]
fn reads_block_actions() {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U2", "username": "bob"},
        "trigger_id": "T.1",
        "channel": {"id": "C1", "name": "eng"},
        "container": {"type": "message", "message_ts": "11.0", "channel_id": "C1"},
        "message": {"ts": "11.0", "thread_ts": "10.0", "text": "x"},
        "actions": [{"action_id": "nova_approve", "value": "a1", "action_ts": "12.5", "type": "button"}]
    });
    let Interaction::BlockAction(action) = parse_interaction(payload.to_string().as_bytes()).unwrap() else { panic!() };
    assert_eq!(
        action,
        BlockAction {
            user: "U2".into(),
            trigger_id: Some("T.1".into()),
            channel: Some("C1".into()),
            message_ts: Some("11.0".into()),
            thread_ts: Some("10.0".into()),
            action_id: "nova_approve".into(),
            value: "a1".into(),
            action_ts: "12.5".into(),
        }
    );
}

#[test]
fn a_view_submission_never_shows_its_values() {
    let payload = json!({
        "type": "view_submission",
        "user": {"id": "U2"},
        "view": {"callback_id": "nova_credential", "private_metadata": "c1",
                 "state": {"values": {"credential": {"value": {"type": "plain_text_input", "value": "sk_live_123"}}}}}
    });
    let parsed = parse_interaction(payload.to_string().as_bytes()).unwrap();
    let shown = format!("{parsed:?}");
    assert!(!shown.contains("sk_live_123"), "{shown}");
    let Interaction::ViewSubmission { values, private_metadata, .. } = parsed else { panic!() };
    assert_eq!(private_metadata, "c1");
    assert_eq!(values["credential.value"].expose(), "sk_live_123");
}

#[test]
fn a_malformed_interaction_does_not_quote_itself() {
    let error = parse_interaction(br#"{"type":"view_submission","user":7,"view":"sk_live_123"}"#).unwrap_err();
    assert!(!error.to_string().contains("sk_live_123"));
}
