//! Slack's payloads, turned into typed events at the edge. Only the fields Nova reads
//! are parsed; anything else in a payload is ignored, and a payload that lacks what
//! Nova needs is an error the handler answers with 400.

use std::collections::BTreeMap;

use orchestrator::vault::SecretValue;
use serde::Deserialize;
use serde_json::Value;

/// A body of `POST /slack/events` (or an `events_api` envelope in Socket Mode).
#[derive(Debug, Clone, PartialEq)]
pub enum EventsPayload {
    UrlVerification {
        challenge: String,
    },
    Callback {
        event_id: String,
        event: SlackEvent,
    },
    /// An envelope type Nova does not use (`app_rate_limited`, …).
    Other(String),
}

/// One event of an `event_callback`.
#[derive(Debug, Clone, PartialEq)]
pub enum SlackEvent {
    Message(SlackMessage),
    /// Someone is about to ask: `assistant_thread_started`, `app_home_opened`.
    EarlySignal {
        kind: String,
        user: Option<String>,
        channel: Option<String>,
    },
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlackMessage {
    pub channel: String,
    /// `im` for direct messages, `channel` / `group` / `mpim` otherwise.
    pub channel_type: Option<String>,
    pub user: Option<String>,
    pub bot_id: Option<String>,
    pub subtype: Option<String>,
    pub text: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// Delivered as `app_mention` (the text mentions Nova).
    pub app_mention: bool,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
    event: Option<Value>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    channel: Option<Value>,
    channel_type: Option<String>,
    user: Option<Value>,
    bot_id: Option<String>,
    subtype: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
    assistant_thread: Option<Value>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not JSON Slack sends: {0}")]
    Malformed(String),
    #[error("the payload lacks `{0}`")]
    Missing(&'static str),
}

fn malformed(error: impl std::fmt::Display) -> PayloadError {
    PayloadError::Malformed(error.to_string())
}

/// A field that Slack sends either as a string or as an object with an `id`.
fn id_of(value: &Option<Value>) -> Option<String> {
    match value.as_ref()? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

pub fn parse_events(body: &[u8]) -> Result<EventsPayload, PayloadError> {
    let raw: RawEnvelope = serde_json::from_slice(body).map_err(malformed)?;
    match raw.kind.as_str() {
        "url_verification" => {
            Ok(EventsPayload::UrlVerification { challenge: raw.challenge.ok_or(PayloadError::Missing("challenge"))? })
        }
        "event_callback" => {
            let event_id = raw.event_id.ok_or(PayloadError::Missing("event_id"))?;
            let event: RawEvent =
                serde_json::from_value(raw.event.ok_or(PayloadError::Missing("event"))?).map_err(malformed)?;
            Ok(EventsPayload::Callback { event_id, event: event.into_event()? })
        }
        other => Ok(EventsPayload::Other(other.to_owned())),
    }
}

impl RawEvent {
    fn into_event(self) -> Result<SlackEvent, PayloadError> {
        match self.kind.as_str() {
            "message" | "app_mention" => Ok(SlackEvent::Message(SlackMessage {
                channel: id_of(&self.channel).ok_or(PayloadError::Missing("event.channel"))?,
                channel_type: self.channel_type,
                user: id_of(&self.user),
                bot_id: self.bot_id,
                subtype: self.subtype,
                text: self.text.unwrap_or_default(),
                ts: self.ts.ok_or(PayloadError::Missing("event.ts"))?,
                thread_ts: self.thread_ts,
                app_mention: self.kind == "app_mention",
            })),
            "assistant_thread_started" | "app_home_opened" => {
                let thread_user = self.assistant_thread.as_ref().and_then(|t| t.get("user_id")).cloned();
                let thread_channel = self.assistant_thread.as_ref().and_then(|t| t.get("channel_id")).cloned();
                Ok(SlackEvent::EarlySignal {
                    kind: self.kind,
                    user: id_of(&self.user).or_else(|| id_of(&thread_user)),
                    channel: id_of(&self.channel).or_else(|| id_of(&thread_channel)),
                })
            }
            _ => Ok(SlackEvent::Ignored(self.kind)),
        }
    }
}

/// What Nova does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Ignore(&'static str),
    /// Start a session in this Slack thread. `fetch_context`: the thread has earlier
    /// messages Nova has not seen.
    Start {
        fetch_context: bool,
    },
    /// A message in a thread that already is a session.
    FollowUp,
    /// A person talking where Nova listens but was not addressed (an unbound channel, a
    /// thread that is no session): not a prompt, but a hint of who may be asked soon.
    Chatter,
}

/// Subtypes that are still a person writing; every other subtype (edits, deletions,
/// joins, bot messages) is not a prompt.
const PERSON_SUBTYPES: &[&str] = &["thread_broadcast", "file_share", "me_message"];

/// Decides what a message is to Nova. Pure: the caller looks up whether the thread is
/// a session and whether the channel is bound to a repo or office.
pub fn disposition(message: &SlackMessage, bot_user: Option<&str>, known_thread: bool, bound: bool) -> Disposition {
    if message.bot_id.is_some() || message.subtype.as_deref() == Some("bot_message") {
        return Disposition::Ignore("a bot wrote it");
    }
    let Some(user) = message.user.as_deref() else {
        return Disposition::Ignore("no author");
    };
    if Some(user) == bot_user {
        return Disposition::Ignore("Nova wrote it");
    }
    if message.subtype.as_deref().is_some_and(|s| !PERSON_SUBTYPES.contains(&s)) {
        return Disposition::Ignore("not a new message");
    }
    let mentioned = message.app_mention || bot_user.is_some_and(|bot| message.text.contains(&format!("<@{bot}>")));
    let direct = message.channel_type.as_deref() == Some("im");
    let in_thread = message.thread_ts.as_deref().is_some_and(|t| t != message.ts);
    if in_thread {
        if known_thread {
            Disposition::FollowUp
        } else if mentioned || direct {
            Disposition::Start { fetch_context: true }
        } else {
            Disposition::Chatter
        }
    } else if mentioned || direct || bound {
        Disposition::Start { fetch_context: false }
    } else {
        Disposition::Chatter
    }
}

/// The message text as a prompt: Nova's own mention removed, Slack's escapes undone.
pub fn prompt_text(text: &str, bot_user: Option<&str>) -> String {
    let mut text = text.to_owned();
    if let Some(bot) = bot_user {
        text = text.replace(&format!("<@{bot}>"), " ");
    }
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A body of `POST /slack/interactivity` (the JSON inside `payload=`).
#[derive(Debug)]
pub enum Interaction {
    BlockAction(BlockAction),
    /// A submitted modal. Its inputs are kept as secrets: the only modal Nova opens
    /// asks for a credential, and Debug output must never show one.
    ViewSubmission {
        user: String,
        callback_id: String,
        private_metadata: String,
        values: BTreeMap<String, SecretValue>,
    },
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockAction {
    pub user: String,
    pub trigger_id: Option<String>,
    pub channel: Option<String>,
    pub message_ts: Option<String>,
    pub thread_ts: Option<String>,
    pub action_id: String,
    pub value: String,
    pub action_ts: String,
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: String,
    user: Option<Value>,
    trigger_id: Option<String>,
    channel: Option<Value>,
    container: Option<RawContainer>,
    message: Option<RawContainer>,
    #[serde(default)]
    actions: Vec<RawAction>,
    view: Option<RawView>,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(alias = "message_ts")]
    ts: Option<String>,
    thread_ts: Option<String>,
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    value: Option<String>,
    action_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawView {
    callback_id: Option<String>,
    private_metadata: Option<String>,
    state: Option<RawViewState>,
}

#[derive(Deserialize)]
struct RawViewState {
    values: BTreeMap<String, BTreeMap<String, RawInput>>,
}

#[derive(Deserialize)]
struct RawInput {
    value: Option<String>,
}

pub fn parse_interaction(json: &[u8]) -> Result<Interaction, PayloadError> {
    // serde's messages can quote the offending value, and a view submission carries a
    // credential: say only that the payload is malformed.
    let raw: RawInteraction = serde_json::from_slice(json).map_err(|_| malformed("not a Slack interaction payload"))?;
    let user = id_of(&raw.user).ok_or(PayloadError::Missing("user"))?;
    match raw.kind.as_str() {
        "block_actions" => {
            let action = raw.actions.into_iter().next().ok_or(PayloadError::Missing("actions"))?;
            let message_ts = raw.message.as_ref().and_then(|m| m.ts.clone());
            let thread_ts = raw
                .message
                .as_ref()
                .and_then(|m| m.thread_ts.clone())
                .or_else(|| raw.container.as_ref().and_then(|c| c.thread_ts.clone()));
            Ok(Interaction::BlockAction(BlockAction {
                user,
                trigger_id: raw.trigger_id,
                channel: id_of(&raw.channel).or_else(|| raw.container.as_ref().and_then(|c| c.channel_id.clone())),
                message_ts: message_ts.or_else(|| raw.container.as_ref().and_then(|c| c.ts.clone())),
                thread_ts,
                action_id: action.action_id,
                value: action.value.unwrap_or_default(),
                action_ts: action.action_ts.unwrap_or_default(),
            }))
        }
        "view_submission" => {
            let view = raw.view.ok_or(PayloadError::Missing("view"))?;
            let values = view
                .state
                .map(|state| {
                    state
                        .values
                        .into_iter()
                        .flat_map(|(block, inputs)| {
                            inputs.into_iter().map(move |(action, input)| {
                                (format!("{block}.{action}"), SecretValue::new(input.value.unwrap_or_default()))
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Interaction::ViewSubmission {
                user,
                callback_id: view.callback_id.unwrap_or_default(),
                private_metadata: view.private_metadata.unwrap_or_default(),
                values,
            })
        }
        other => Ok(Interaction::Other(other.to_owned())),
    }
}

/// A `/nova` invocation: the form fields of `POST /slack/commands`, or the payload of a
/// `slash_commands` envelope in Socket Mode.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub user_id: String,
    pub channel_id: String,
}

#[cfg(test)]
mod tests;
