//! Slack: the Events API, interactivity, `/nova`, Socket Mode and the outbound mirror.
//!
//! Every request is verified (signature, then typed parsing) before anything reads it,
//! and an accepted message is in the store before Slack gets its 200. Handlers return
//! the response body so that HTTP and Socket Mode share them.

pub mod api;
pub mod blocks;
pub mod http;
pub mod outbound;
pub mod payloads;
pub mod settings;
pub mod socket;
pub mod thread_key;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use orchestrator::Engine;
use orchestrator::engine::{CardAction, InboundEvent, Incoming, ProvideRefusal, ThreadRef, ThreadView, WarmSignal};
use orchestrator::store::{CredentialState, Surface, Verdict};
use orchestrator::texts::Card;
use serde_json::{Value, json};

use api::{CallError, SlackApi};
use payloads::{BlockAction, Disposition, EventsPayload, Interaction, SlackEvent, SlackMessage, SlashCommand};
use settings::SlackSettings;
use thread_key::ThreadKey;

/// The `surface` of Slack threads in the store.
pub const SURFACE: Surface = Surface::Slack;

/// Why a Slack request was refused; the HTTP layer maps these to statuses.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct Slack {
    engine: Arc<Engine>,
    api: Arc<SlackApi>,
    settings: SlackSettings,
    bot_user: tokio::sync::OnceCell<String>,
    /// Channel id → (name, is a DM). Names are what channel bindings in nova.toml use.
    channels: Mutex<HashMap<String, (String, bool)>>,
}

impl Slack {
    /// Connects to Slack (learning Nova's user id), then starts the outbound mirror and,
    /// with an app token, Socket Mode. A token Slack refuses is an error at start.
    pub async fn start(engine: Arc<Engine>, settings: SlackSettings) -> anyhow::Result<Arc<Self>> {
        let api = Arc::new(SlackApi::new(&settings)?);
        let slack = Arc::new(Self {
            engine: Arc::clone(&engine),
            api: Arc::clone(&api),
            settings,
            bot_user: tokio::sync::OnceCell::new(),
            channels: Mutex::new(HashMap::new()),
        });
        match api.bot_user_id().await {
            Ok(user) => {
                tracing::info!(bot_user = %user, "connected to Slack");
                let _ = slack.bot_user.set(user);
            }
            Err(CallError::Api(code)) => {
                anyhow::bail!("Slack refused SLACK_BOT_TOKEN (auth.test answered `{code}`)")
            }
            // Slack unreachable: start anyway and learn the id on the first event.
            Err(error) => tracing::warn!("cannot reach Slack yet: {error}"),
        }
        Ok(slack)
    }

    /// The background work: the mirror, and Socket Mode if configured.
    pub fn spawn_workers(self: &Arc<Self>, passes: &crate::mirror::Passes) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(crate::mirror::run(
            Arc::clone(&self.engine),
            Arc::clone(&self.api),
            self.settings.edit_interval,
            Arc::clone(passes),
        ))];
        if self.settings.app_token.is_some() {
            tasks.push(tokio::spawn(socket::run(Arc::clone(self))));
        }
        tasks
    }

    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    async fn bot_user(&self) -> Option<&str> {
        self.bot_user.get_or_try_init(|| self.api.bot_user_id()).await.ok().map(String::as_str)
    }

    /// A channel's name and whether it is a DM, cached after the first lookup.
    async fn channel(&self, id: &str) -> anyhow::Result<(String, bool)> {
        if let Some(known) = self.channels.lock().expect("channel cache").get(id) {
            return Ok(known.clone());
        }
        let found = self.api.channel(id).await.with_context(|| format!("cannot look up Slack channel {id}"))?;
        self.channels.lock().expect("channel cache").insert(id.to_owned(), found.clone());
        Ok(found)
    }

    /// `POST /slack/events` (or an `events_api` envelope): the body to answer with.
    pub async fn on_events(&self, body: &[u8]) -> Result<Value, Rejected> {
        let payload = payloads::parse_events(body).map_err(|e| Rejected::BadRequest(e.to_string()))?;
        match payload {
            EventsPayload::UrlVerification { challenge } => Ok(json!({ "challenge": challenge })),
            EventsPayload::Callback { event_id, event } => {
                match event {
                    SlackEvent::Message(message) => self.on_message(&event_id, message).await?,
                    SlackEvent::EarlySignal { kind, user, channel } => {
                        metrics::counter!("nova_slack_early_signals_total", "kind" => kind.clone()).increment(1);
                        tracing::debug!(kind, ?user, ?channel, "someone may be about to ask");
                        if let (Some(user), Some(channel)) = (user, channel) {
                            self.warm_up(user, &channel, None).await;
                        }
                    }
                    SlackEvent::Ignored(kind) => tracing::debug!(kind, event_id, "ignoring a Slack event"),
                }
                Ok(Value::Null)
            }
            EventsPayload::Other(kind) => {
                tracing::debug!(kind, "ignoring a Slack envelope");
                Ok(Value::Null)
            }
        }
    }

    async fn on_message(&self, event_id: &str, message: SlackMessage) -> anyhow::Result<()> {
        let bot_user = self.bot_user().await;
        let root = message.thread_ts.clone().unwrap_or_else(|| message.ts.clone());
        let key = ThreadKey::new(&message.channel, &root);
        // A message that is not in a thread starts one of its own: no session can know
        // it yet (a redelivery is caught by its dedupe key), so no read before the ack.
        let known = message.thread_ts.is_some() && self.engine.is_session(SURFACE, &key.id()).await?;
        // Only messages that could start a session need the channel's binding.
        let quick = payloads::disposition(&message, bot_user, known, false);
        let disposition = match quick {
            Disposition::Chatter if message.thread_ts.is_none() => {
                let (name, _) = self.channel(&message.channel).await?;
                payloads::disposition(&message, bot_user, known, self.engine.config().channels().contains(&name))
            }
            other => other,
        };
        let fetch_context = match disposition {
            Disposition::Ignore(why) => {
                tracing::debug!(event_id, why, "not a prompt for Nova");
                return Ok(());
            }
            Disposition::Chatter => {
                if let Some(user) = message.user.clone() {
                    metrics::counter!("nova_slack_early_signals_total", "kind" => "chatter").increment(1);
                    let words = payloads::prompt_text(&message.text, bot_user);
                    self.warm_up(user, &message.channel, Some(words)).await;
                }
                return Ok(());
            }
            Disposition::Start { fetch_context } => fetch_context,
            Disposition::FollowUp => false,
        };
        let (channel_name, _) = self.channel(&message.channel).await?;
        let context = if fetch_context { self.thread_context(&message, &root).await } else { Vec::new() };
        let author = message.user.clone().context("a prompt without an author")?;
        let incoming = Incoming {
            surface: SURFACE,
            channel: channel_name,
            thread: if known { ThreadRef::Existing(key.id()) } else { ThreadRef::NewWithId(key.id()) },
            author: author.clone(),
            // The message itself, not the event: `message` and `app_mention` deliver one
            // message twice under different event ids.
            dedupe_key: format!("{}:{}", message.channel, message.ts),
            event: InboundEvent::Message { text: payloads::prompt_text(&message.text, bot_user), context },
        };
        match self.engine.accept(incoming).await? {
            Ok(recorded) if recorded.duplicate => tracing::debug!(event_id, "a redelivered Slack message"),
            Ok(_) => {}
            Err(refusal) => {
                self.tell(&message.channel, &author, Some(&root), format!("I can't take that: {refusal}."));
            }
        }
        Ok(())
    }

    /// Slack sends no typing events; an assistant thread opening, or people talking
    /// about an office's work where Nova listens (`chatter`), is the nearest thing.
    /// The prewarm runs in the background: the acknowledgement must not wait for it.
    async fn warm_up(&self, user: String, channel: &str, chatter: Option<String>) {
        let name = match self.channel(channel).await {
            Ok((name, _)) => name,
            Err(error) => return tracing::debug!("no warm-up: {error:#}"),
        };
        let engine = Arc::clone(&self.engine);
        tokio::spawn(async move {
            let signal = WarmSignal { surface: SURFACE, channel: name, user, thread: None, chatter };
            match engine.prewarm(signal).await {
                Ok(outcome) => tracing::debug!(?outcome, "Slack early signal"),
                Err(error) => tracing::warn!("cannot act on a Slack early signal: {error:#}"),
            }
        });
    }

    /// Earlier messages of a thread Nova joins midway, for routing. Best effort: a
    /// failure here must not lose the message itself.
    async fn thread_context(&self, message: &SlackMessage, root: &str) -> Vec<(String, String)> {
        match self.api.thread_replies(&message.channel, root).await {
            Ok(replies) => replies
                .into_iter()
                .filter(|(ts, _, text)| ts != &message.ts && !text.trim().is_empty())
                .map(|(_, author, text)| (author, text))
                .collect(),
            Err(error) => {
                tracing::warn!("cannot read the thread's earlier messages: {error}");
                Vec::new()
            }
        }
    }

    /// An ephemeral message to one person, sent in the background so that the request
    /// that caused it is answered at once.
    fn tell(&self, channel: &str, user: &str, thread_ts: Option<&str>, text: String) {
        let api = Arc::clone(&self.api);
        let (channel, user, thread_ts) = (channel.to_owned(), user.to_owned(), thread_ts.map(str::to_owned));
        tokio::spawn(async move {
            if let Err(error) = api.ephemeral(&channel, &user, thread_ts.as_deref(), &text).await {
                tracing::warn!("cannot tell {user} in {channel}: {error}");
            }
        });
    }

    /// `POST /slack/interactivity` (the JSON of `payload=`, or an `interactive` envelope).
    pub async fn on_interaction(&self, json: &[u8]) -> Result<Value, Rejected> {
        match payloads::parse_interaction(json).map_err(|e| Rejected::BadRequest(e.to_string()))? {
            Interaction::BlockAction(action) => {
                self.on_block_action(action).await?;
                Ok(Value::Null)
            }
            Interaction::ViewSubmission { user, callback_id, private_metadata, mut values }
                if callback_id == blocks::REVIEW_VIEW =>
            {
                let (block, _) = blocks::REVIEW_COMMENT.split_once('.').expect("block.action");
                // Form values arrive sealed (the credential form's must never be logged);
                // a review comment is meant for the thread.
                let comment = values.remove(blocks::REVIEW_COMMENT).map(|v| v.expose().to_owned()).unwrap_or_default();
                let at =
                    values.remove(blocks::REVIEW_AT).map(|v| v.expose().to_owned()).filter(|at| !at.trim().is_empty());
                let message_id =
                    private_metadata.parse::<i64>().map_err(|_| Rejected::BadRequest("not a card".into()))?;
                let decided = self
                    .engine
                    .decide_review_on(SURFACE, message_id, &user, Verdict::RequestChanges, &comment, at.as_deref())
                    .await?;
                Ok(match decided {
                    Ok(_) => json!({"response_action": "clear"}),
                    Err(refusal) => json!({"response_action": "errors", "errors": {block: refusal}}),
                })
            }
            Interaction::ViewSubmission { user, callback_id, private_metadata, mut values } => {
                if callback_id != blocks::CREDENTIAL_VIEW {
                    return Err(Rejected::BadRequest(format!("unknown view `{callback_id}`")));
                }
                let value = values
                    .remove(blocks::CREDENTIAL_INPUT)
                    .ok_or_else(|| Rejected::BadRequest("the credential form has no value".to_owned()))?;
                let (block, _) = blocks::CREDENTIAL_INPUT.split_once('.').expect("block.action");
                Ok(match self.engine.provide_credential(&private_metadata, &user, value).await? {
                    Ok(()) => json!({"response_action": "clear"}),
                    Err(refusal) => json!({"response_action": "errors", "errors": {block: refusal.to_string()}}),
                })
            }
            Interaction::Other(kind) => {
                tracing::debug!(kind, "ignoring a Slack interaction");
                Ok(Value::Null)
            }
        }
    }

    async fn on_block_action(&self, action: BlockAction) -> anyhow::Result<()> {
        let channel = action.channel.clone().unwrap_or_default();
        let thread_ts = action.thread_ts.clone().or_else(|| action.message_ts.clone());
        let refuse = |text: String| self.tell(&channel, &action.user, thread_ts.as_deref(), text);
        match action.action_id.as_str() {
            id if id.starts_with(blocks::PICK) => {
                let Some((message_id, office)) =
                    action.value.split_once(':').and_then(|(m, o)| Some((m.parse::<i64>().ok()?, o)))
                else {
                    refuse("That button is not one of Nova's.".to_owned());
                    return Ok(());
                };
                let Some(thread) = self.thread_of_card(message_id).await? else {
                    refuse("That card is no longer in a Nova thread.".to_owned());
                    return Ok(());
                };
                let incoming = Incoming {
                    surface: SURFACE,
                    channel: thread.channel,
                    thread: ThreadRef::Existing(thread.id),
                    author: action.user.clone(),
                    dedupe_key: format!("action:{message_id}:{}:{}", action.user, action.action_ts),
                    event: InboundEvent::Action { message_id, action: CardAction::Pick { office: office.to_owned() } },
                };
                if let Err(refusal) = self.engine.accept(incoming).await? {
                    refuse(format!("Nothing changed: {refusal}."));
                }
            }
            blocks::APPROVE | blocks::REJECT => {
                let approve = action.action_id == blocks::APPROVE;
                if let Err(refusal) = self.engine.decide(&action.value, &action.user, approve).await? {
                    refuse(format!("Nothing changed: {refusal}."));
                }
            }
            blocks::REVIEW_APPROVE => {
                let message_id = action.value.parse::<i64>().unwrap_or_default();
                let decided =
                    self.engine.decide_review_on(SURFACE, message_id, &action.user, Verdict::Approve, "", None).await?;
                if let Err(refusal) = decided {
                    refuse(format!("Nothing changed: {refusal}."));
                }
            }
            blocks::REVIEW_CHANGES => {
                let message_id = action.value.parse::<i64>().unwrap_or_default();
                let Some(thread) = self.thread_of_card(message_id).await? else {
                    refuse("That card is no longer in a Nova thread.".to_owned());
                    return Ok(());
                };
                let Some(Card::Review(review)) = self.engine.card_in_thread(&thread.id, message_id).await? else {
                    refuse("That button is not one of Nova's.".to_owned());
                    return Ok(());
                };
                let Some(trigger) = action.trigger_id.as_deref() else {
                    refuse("Slack sent no trigger for the form; click Request changes again.".to_owned());
                    return Ok(());
                };
                if let Err(error) =
                    self.api.open_view(trigger, blocks::review_modal(message_id, review.id, &review.office)).await
                {
                    tracing::warn!("cannot open the review form: {error:#}");
                    refuse(
                        "I could not open the form (Slack allows 3 seconds); click Request changes again.".to_owned(),
                    );
                }
            }
            blocks::PROVIDE => match self.engine.credential_card(&action.value).await? {
                Some(Card::Credential { id, office, name, why, state: CredentialState::Pending, .. }) => {
                    let Some(trigger) = action.trigger_id.as_deref() else {
                        refuse("Slack sent no trigger for the form; click Provide again.".to_owned());
                        return Ok(());
                    };
                    let modal = blocks::credential_modal(&id, &office, &name, &why);
                    if let Err(error) = self.api.open_view(trigger, modal).await {
                        tracing::warn!("cannot open the credential form: {error:#}");
                        refuse("I could not open the form (Slack allows 3 seconds); click Provide again.".to_owned());
                    }
                }
                Some(Card::Credential { name, provided_by, .. }) => {
                    let by = provided_by.unwrap_or_else(|| "someone".to_owned());
                    let refusal = ProvideRefusal::AlreadyProvided { name, by };
                    refuse(format!("Nothing to do: {refusal}."));
                }
                _ => refuse(format!("Nothing to do: {}.", ProvideRefusal::Unknown(action.value.clone()))),
            },
            blocks::STOP => {
                let Ok(message_id) = action.value.parse::<i64>() else {
                    refuse("That button is not one of Nova's.".to_owned());
                    return Ok(());
                };
                if let Err(refusal) = self.engine.stop_card(message_id, &action.user).await? {
                    refuse(format!("Nothing changed: {refusal}."));
                }
            }
            other => tracing::debug!(action = other, "ignoring an unknown Slack action"),
        }
        Ok(())
    }

    /// The Slack thread a card belongs to.
    async fn thread_of_card(&self, message_id: i64) -> anyhow::Result<Option<ThreadView>> {
        self.engine.card_thread(SURFACE, message_id).await
    }

    /// `/nova …`: answered in the response itself, privately unless it concerns everyone.
    pub async fn on_command(&self, command: SlashCommand) -> Result<Value, Rejected> {
        let answer = orchestrator::commands::run(&self.engine, &command.user_id, &command.text).await?;
        let response_type = if answer.private { "ephemeral" } else { "in_channel" };
        Ok(json!({"response_type": response_type, "text": blocks::mrkdwn(&answer.text)}))
    }
}
