//! Discord: the gateway (messages, typing, interactions), the HTTP interactions
//! endpoint, `/nova`, and the outbound mirror.
//!
//! Every payload becomes one of Nova's types ([`events`]) before a handler sees it;
//! interactions are answered by one function whichever way they came (gateway or
//! signed HTTP). Typing becomes a warm signal for the office the channel most likely
//! routes to.

pub mod api;
pub mod components;
pub mod events;
pub mod gateway;
pub mod http;
pub mod outbound;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use orchestrator::Engine;
use orchestrator::engine::{
    CardAction, InboundEvent, Incoming, Prewarm, ProvideRefusal, ThreadRef, ThreadView, WarmSignal,
};
use orchestrator::store::{ApprovalState, CredentialState, Surface, Verdict};
use orchestrator::texts::Card;
use serenity::all::{
    ApplicationId, Channel, ChannelId, ChannelType, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateMessage, GuildId, UserId,
};

use api::{CallError, DiscordApi};
use components::Button;
use events::{DiscordInteraction, DiscordMessage, Disposition, Origin, Place, ThreadKey};
use settings::DiscordSettings;

/// The `surface` of Discord threads in the store.
pub const SURFACE: Surface = Surface::Discord;
/// Discord wants a first answer to an interaction within 3 s; work that may take
/// longer is deferred after this and the answer edited in.
const DEFER_AFTER: Duration = Duration::from_millis(2_000);
/// How far back sessions are checked for messages missed while disconnected.
const CATCH_UP_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// At most this many channels per server are read to catch up (API calls are paced).
const CATCH_UP_CHANNELS: usize = 100;
/// Chatter older than this (read while catching up) says nothing about who is asked next.
const CHATTER_FRESH: Duration = Duration::from_secs(60);

pub struct Discord {
    engine: Arc<Engine>,
    api: Arc<DiscordApi>,
    settings: DiscordSettings,
    me: tokio::sync::OnceCell<UserId>,
    /// Set from READY; needed to register `/nova`.
    application: std::sync::OnceLock<ApplicationId>,
    /// Channel → (the name channel bindings use, where it is). A thread goes by its
    /// parent channel's name.
    places: Mutex<HashMap<ChannelId, (String, Place)>>,
    verifier: Option<serenity::interactions_endpoint::Verifier>,
    /// The gateway's shards: they run in tasks of their own and must be stopped, or a
    /// stopped Nova would go on taking messages.
    shards: Mutex<Option<Arc<serenity::gateway::ShardManager>>>,
}

impl Discord {
    /// Checks the token (learning Nova's user id). A token Discord refuses is an
    /// error at start; Discord being unreachable is not.
    pub async fn start(engine: Arc<Engine>, settings: DiscordSettings) -> anyhow::Result<Arc<Self>> {
        let api = Arc::new(DiscordApi::new(&settings)?);
        let verifier = match &settings.public_key {
            Some(key) => {
                let bytes: [u8; 32] = hex::decode(key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .context("DISCORD_PUBLIC_KEY is not 64 hex characters")?;
                Some(
                    serenity::interactions_endpoint::Verifier::try_new(bytes)
                        .map_err(|_| anyhow::anyhow!("DISCORD_PUBLIC_KEY is not a valid Ed25519 public key"))?,
                )
            }
            None => None,
        };
        let discord = Arc::new(Self {
            engine,
            api: Arc::clone(&api),
            settings,
            me: tokio::sync::OnceCell::new(),
            application: std::sync::OnceLock::new(),
            places: Mutex::new(HashMap::new()),
            verifier,
            shards: Mutex::new(None),
        });
        match api.current_user().await {
            Ok(user) => {
                tracing::info!(bot_user = %user.id, name = %user.name, "connected to Discord");
                let _ = discord.me.set(user.id);
            }
            Err(CallError::Api { status: 401, .. }) => {
                anyhow::bail!(
                    "Discord refused DISCORD_TOKEN (401 Unauthorized): copy the token from the app's Bot page"
                )
            }
            Err(error) => tracing::warn!("cannot reach Discord yet: {error}"),
        }
        Ok(discord)
    }

    /// The background work: the gateway and the mirror.
    pub fn spawn_workers(self: &Arc<Self>, passes: &crate::mirror::Passes) -> Vec<tokio::task::JoinHandle<()>> {
        let writer = Arc::new(outbound::DiscordWriter::new(Arc::clone(&self.engine), Arc::clone(&self.api)));
        let interval = self.settings.edit_interval;
        vec![
            tokio::spawn(crate::mirror::run(Arc::clone(&self.engine), writer, interval, Arc::clone(passes))),
            tokio::spawn(gateway::run(Arc::clone(self))),
        ]
    }

    /// Closes the gateway connection (call before stopping the workers).
    pub async fn shutdown(&self) {
        let shards = self.shards.lock().expect("shards lock").take();
        if let Some(shards) = shards {
            shards.shutdown_all().await;
        }
    }

    pub fn settings(&self) -> &DiscordSettings {
        &self.settings
    }

    async fn me(&self) -> anyhow::Result<UserId> {
        Ok(*self.me.get_or_try_init(|| async { self.api.current_user().await.map(|u| u.id) }).await?)
    }

    /// Where a channel is, and the name its bindings go by; cached.
    async fn place(&self, id: ChannelId) -> anyhow::Result<(String, Place)> {
        if let Some(known) = self.places.lock().expect("place cache").get(&id) {
            return Ok(known.clone());
        }
        let found = match self.api.channel(id).await.with_context(|| format!("cannot look up Discord channel {id}"))? {
            Channel::Private(_) => ("dm".to_owned(), Place::Dm),
            Channel::Guild(channel)
                if matches!(
                    channel.kind,
                    ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
                ) =>
            {
                let parent = channel.parent_id.context("a thread without a parent channel")?;
                let (name, _) = Box::pin(self.place(parent)).await?;
                (name, Place::Thread { parent })
            }
            Channel::Guild(channel) => (channel.name, Place::Channel),
            _ => ("unknown".to_owned(), Place::Channel),
        };
        self.places.lock().expect("place cache").insert(id, found.clone());
        Ok(found)
    }

    /// MESSAGE_CREATE: a prompt, a follow-up, or nothing for Nova. `true` when it
    /// recorded something it had not seen.
    pub async fn on_message(&self, message: DiscordMessage) -> anyhow::Result<bool> {
        let me = self.me().await?;
        // Nova's own and other bots' messages never cost a lookup.
        if message.author == me || message.automated {
            return Ok(false);
        }
        let (channel_name, place) = self.place(message.channel).await?;
        let key = ThreadKey::of(&message, place);
        let session = self.engine.is_session(SURFACE, &key.id()).await?;
        let bound = self.engine.config().channels().contains(&channel_name);
        match events::disposition(&message, place, me, session, bound) {
            Disposition::Ignore(why) => {
                tracing::debug!(message = %message.id, why, "not a prompt for Nova");
                return Ok(false);
            }
            Disposition::Chatter => {
                self.on_chatter(&message, channel_name, me);
                return Ok(false);
            }
            Disposition::Start | Disposition::FollowUp => {}
        }
        let context = match place {
            // Nova joins a thread midway: what was said before helps routing.
            Place::Thread { .. } if !session => self.thread_context(&message).await,
            _ => Vec::new(),
        };
        let incoming = Incoming {
            surface: SURFACE,
            channel: channel_name,
            thread: if session { ThreadRef::Existing(key.id()) } else { ThreadRef::NewWithId(key.id()) },
            author: message.author.to_string(),
            // Message ids are unique; a replayed gateway event is recorded once.
            dedupe_key: format!("discord:{}", message.id),
            event: InboundEvent::Message { text: events::prompt_text(&message.content, me), context },
        };
        match self.engine.accept(incoming).await? {
            Ok(recorded) if recorded.duplicate => {
                tracing::debug!(message = %message.id, "a replayed Discord message");
                Ok(false)
            }
            Ok(_) => Ok(true),
            Err(refusal) => {
                let reply = CreateMessage::new()
                    .content(components::content(&format!("I can't take that: {refusal}.")))
                    .reference_message((message.channel, message.id));
                if let Err(error) = self.api.send(message.channel, reply).await {
                    tracing::warn!("cannot tell {} why Nova refused: {error}", message.author);
                }
                Ok(false)
            }
        }
    }

    /// After a fresh gateway session (a restart, or a session Discord would not resume)
    /// events sent meanwhile are gone from the gateway; the messages are not. Reads the
    /// latest messages of recently active sessions and takes what it has not recorded
    /// (message ids dedupe, so what it has is a no-op).
    pub async fn catch_up(&self, guilds: &[GuildId]) -> anyhow::Result<usize> {
        let since = orchestrator::store::now_ms() - CATCH_UP_WINDOW.as_millis() as i64;
        let threads = self.engine.sessions_since(SURFACE, since, 100).await?;
        let mut taken = self.catch_up_channels(guilds).await?;
        for thread in threads {
            let Some(key) = ThreadKey::parse(&thread.id) else { continue };
            let recent = match self.api.recent_messages(key.channel()).await {
                Ok(recent) => recent,
                Err(error) => {
                    tracing::warn!(thread = %thread.id, "cannot catch up on a session: {error}");
                    continue;
                }
            };
            // Oldest first; only what was written since the session began (earlier
            // messages of a thread Nova joined midway are context, not prompts).
            for message in recent.iter().rev() {
                if message.id.created_at().unix_timestamp() * 1000 < thread.created_at - 1000 {
                    continue;
                }
                taken += usize::from(self.on_message(DiscordMessage::from(message)).await?);
            }
        }
        Ok(taken)
    }

    /// Mentions and bound-channel messages written in servers' channels after the last
    /// Discord event Nova recorded (never before it: older history is not a prompt).
    /// Discord's ids are snowflakes, ordered by time on Discord's clock, so the cutoff
    /// does not depend on this machine's.
    async fn catch_up_channels(&self, guilds: &[GuildId]) -> anyhow::Result<usize> {
        let last_key = self.engine.latest_event_key(SURFACE).await?;
        // Dedupe keys end in the message's or interaction's snowflake.
        let Some(last_seen) = last_key.and_then(|key| key.rsplit(':').next()?.parse::<u64>().ok()) else {
            return Ok(0); // Nova has never taken a Discord message: nothing can have been missed
        };
        let mut taken = 0;
        for guild in guilds {
            let channels = match self.api.guild_channels(*guild).await {
                Ok(channels) => channels,
                Err(error) => {
                    tracing::warn!(%guild, "cannot list channels to catch up: {error}");
                    continue;
                }
            };
            let text = channels.into_iter().filter(|c| c.kind == ChannelType::Text).take(CATCH_UP_CHANNELS);
            for channel in text {
                let Ok(recent) = self.api.recent_messages(channel.id).await else { continue };
                for message in recent.iter().rev() {
                    if message.id.get() <= last_seen {
                        continue;
                    }
                    taken += usize::from(self.on_message(DiscordMessage::from(message)).await?);
                }
            }
        }
        Ok(taken)
    }

    /// Earlier messages of a thread Nova is mentioned in, oldest first. Best effort:
    /// a failure here must not lose the message itself.
    async fn thread_context(&self, message: &DiscordMessage) -> Vec<(String, String)> {
        match self.api.recent_messages(message.channel).await {
            Ok(mut earlier) => {
                earlier.reverse();
                earlier
                    .iter()
                    .filter(|m| m.id != message.id && !m.content.trim().is_empty())
                    .map(|m| (m.author.id.to_string(), m.content.clone()))
                    .collect()
            }
            Err(error) => {
                tracing::warn!("cannot read the thread's earlier messages: {error}");
                Vec::new()
            }
        }
    }

    /// People talking about an office's work where Nova listens: warm up the office the
    /// words route to. Only as it happens: history read while catching up after a
    /// reconnect announces nothing. In the background, so the gateway is not held up.
    fn on_chatter(&self, message: &DiscordMessage, channel: String, me: UserId) {
        let written_ms = message.id.created_at().unix_timestamp() * 1000;
        if orchestrator::store::now_ms() - written_ms > CHATTER_FRESH.as_millis() as i64 {
            return;
        }
        let signal = WarmSignal {
            surface: SURFACE,
            channel,
            user: message.author.to_string(),
            // Not a session thread (that would be a follow-up): the words name the office.
            thread: None,
            chatter: Some(events::prompt_text(&message.content, me)),
        };
        let engine = Arc::clone(&self.engine);
        tokio::spawn(async move {
            match engine.prewarm(signal).await {
                Ok(outcome) => tracing::debug!(?outcome, "Discord chatter"),
                Err(error) => tracing::warn!("cannot act on Discord chatter: {error:#}"),
            }
        });
    }

    /// TYPING_START: someone is about to write; warm up the office they will likely need.
    pub async fn on_typing(&self, channel: ChannelId, user: UserId) -> anyhow::Result<Prewarm> {
        let (name, place) = self.place(channel).await?;
        let thread = match place {
            Place::Thread { parent } => Some(ThreadKey::Thread { parent, root: channel.get().into() }.id()),
            Place::Dm => Some(ThreadKey::Dm { channel }.id()),
            Place::Channel => None,
        };
        let signal = WarmSignal { surface: SURFACE, channel: name, user: user.to_string(), thread, chatter: None };
        let outcome = self.engine.prewarm(signal).await?;
        tracing::debug!(?outcome, %channel, %user, "typing signal");
        Ok(outcome)
    }

    /// Registers `/nova` for the application (on every READY: it replaces, so repeats are harmless).
    pub async fn register_commands(&self, application: ApplicationId) -> anyhow::Result<()> {
        let _ = self.application.set(application);
        self.api
            .register_commands(application, vec![components::nova_command()])
            .await
            .context("cannot register /nova with Discord")?;
        Ok(())
    }

    /// The answer to an interaction, whichever way it came.
    pub async fn answer(&self, interaction: DiscordInteraction) -> anyhow::Result<CreateInteractionResponse> {
        Ok(match interaction {
            DiscordInteraction::Ping => CreateInteractionResponse::Pong,
            DiscordInteraction::Button { origin, custom_id } => self.on_button(&origin, &custom_id).await?,
            DiscordInteraction::ModalSubmit { origin, custom_id, mut values } => {
                if let Some(Button::ReviewForm(message_id)) = Button::parse(&custom_id) {
                    // Form values arrive sealed (the credential form's must never be
                    // logged); a review comment is meant for the thread.
                    let mut text = |name: &str| values.remove(name).map(|v| v.expose().to_owned());
                    let (comment, at) =
                        (text(components::REVIEW_COMMENT).unwrap_or_default(), text(components::REVIEW_AT));
                    let user = origin.user.to_string();
                    let verdict = Verdict::RequestChanges;
                    return Ok(
                        match self
                            .engine
                            .decide_review_on(SURFACE, message_id, &user, verdict, &comment, at.as_deref())
                            .await?
                        {
                            Ok(_) => private("Sent back to the office with your comment."),
                            Err(refusal) => private(&format!("Nothing changed: {refusal}.")),
                        },
                    );
                }
                let Some(Button::CredentialForm(id)) = Button::parse(&custom_id) else {
                    return Ok(private("That form is not one of Nova's."));
                };
                let Some(value) = values.remove(components::CREDENTIAL_INPUT) else {
                    return Ok(private("The form came without a value; nothing was stored."));
                };
                match self.engine.provide_credential(&id, &origin.user.to_string(), value).await? {
                    Ok(()) => {
                        private("Stored in the vault. Nobody in the thread sees it, and neither does the office.")
                    }
                    Err(refusal) => private(&format!("Nothing stored: {refusal}.")),
                }
            }
            DiscordInteraction::Command { origin, name, text } if name == "nova" => self.on_command(origin, text).await,
            DiscordInteraction::Command { name, .. } => private(&format!("Nova has no `/{name}` command.")),
            DiscordInteraction::Other(kind) => {
                tracing::debug!(kind, "ignoring a Discord interaction");
                CreateInteractionResponse::Acknowledge
            }
        })
    }

    async fn on_button(&self, origin: &Origin, custom_id: &str) -> anyhow::Result<CreateInteractionResponse> {
        let user = origin.user.to_string();
        let Some(button) = Button::parse(custom_id) else {
            return Ok(private("That button is not one of Nova's."));
        };
        Ok(match button {
            Button::Pick { message_id, office } => {
                let Some(thread) = self.thread_of_card(message_id).await? else {
                    return Ok(private("That card is no longer in a Nova thread."));
                };
                let incoming = Incoming {
                    surface: SURFACE,
                    channel: thread.channel,
                    thread: ThreadRef::Existing(thread.id),
                    author: user,
                    dedupe_key: format!("discord:interaction:{}", origin.id),
                    event: InboundEvent::Action { message_id, action: CardAction::Pick { office } },
                };
                match self.engine.accept(incoming).await? {
                    // The mirror edits the card; Discord only needs to know the click landed.
                    Ok(_) => CreateInteractionResponse::Acknowledge,
                    Err(refusal) => private(&format!("Nothing changed: {refusal}.")),
                }
            }
            Button::Approve(id) => match self.engine.approval_card(&id).await? {
                Some(Card::Approval { state: ApprovalState::Pending, office, kind, action, .. }) => {
                    let consequence = orchestrator::texts::approval_consequence(&office, &kind, &action);
                    let (content, rows) = components::confirm_approval(&id, &consequence);
                    CreateInteractionResponse::Message(
                        CreateInteractionResponseMessage::new().content(content).components(rows).ephemeral(true),
                    )
                }
                // Decided, expired or unknown: `decide` explains which, and changes nothing.
                _ => self.decide(&id, &user, true, false).await?,
            },
            Button::ConfirmApprove(id) => self.decide(&id, &user, true, true).await?,
            Button::Reject(id) => self.decide(&id, &user, false, false).await?,
            Button::Provide(id) => match self.engine.credential_card(&id).await? {
                Some(Card::Credential { state: CredentialState::Pending, name, .. }) => {
                    CreateInteractionResponse::Modal(components::credential_modal(&id, &name))
                }
                Some(Card::Credential { name, provided_by, .. }) => {
                    let by = provided_by.unwrap_or_else(|| "someone".to_owned());
                    private(&format!("Nothing to do: {}.", ProvideRefusal::AlreadyProvided { name, by }))
                }
                _ => private(&format!("Nothing to do: {}.", ProvideRefusal::Unknown(id))),
            },
            Button::CredentialForm(_) | Button::ReviewForm(_) => private("That button is not one of Nova's."),
            Button::ReviewApprove(message_id) => {
                match self.engine.decide_review_on(SURFACE, message_id, &user, Verdict::Approve, "", None).await? {
                    Ok(_) => CreateInteractionResponse::Acknowledge,
                    Err(refusal) => private(&format!("Nothing changed: {refusal}.")),
                }
            }
            Button::ReviewChanges(message_id) => match self.thread_of_card(message_id).await? {
                Some(thread) => match self.engine.card_in_thread(&thread.id, message_id).await? {
                    Some(Card::Review(review)) => {
                        CreateInteractionResponse::Modal(components::review_modal(message_id, review.id))
                    }
                    _ => private("That button is not one of Nova's."),
                },
                None => private("That card is no longer in a Nova thread."),
            },
            Button::Stop(message_id) => match self.engine.stop_card(message_id, &user).await? {
                // The thread says who stopped it once the office has.
                Ok(()) => CreateInteractionResponse::Acknowledge,
                Err(refusal) => private(&format!("Nothing changed: {refusal}.")),
            },
        })
    }

    /// Approve or reject. `confirming`: the click came from the private confirmation,
    /// which is then replaced by the outcome.
    async fn decide(
        &self,
        id: &str,
        user: &str,
        approve: bool,
        confirming: bool,
    ) -> anyhow::Result<CreateInteractionResponse> {
        let text = match self.engine.decide(id, user, approve).await? {
            Ok(_) if !confirming => return Ok(CreateInteractionResponse::Acknowledge),
            Ok(_) => "Approved. The card in the thread shows it.".to_owned(),
            Err(refusal) => format!("Nothing changed: {refusal}."),
        };
        Ok(if confirming {
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new().content(components::content(&text)).components(vec![]),
            )
        } else {
            private(&text)
        })
    }

    /// The Discord thread a card belongs to.
    async fn thread_of_card(&self, message_id: i64) -> anyhow::Result<Option<ThreadView>> {
        self.engine.card_thread(SURFACE, message_id).await
    }

    /// `/nova …`: answered at once when it is quick; otherwise deferred ("Nova is
    /// thinking…") and the answer edited in when ready.
    async fn on_command(&self, origin: Origin, text: String) -> CreateInteractionResponse {
        let engine = Arc::clone(&self.engine);
        let user = origin.user.to_string();
        let mut work = tokio::spawn(async move { orchestrator::commands::run(&engine, &user, &text).await });
        let answer = match tokio::time::timeout(DEFER_AFTER, &mut work).await {
            Ok(answer) => answer,
            Err(_) => {
                let api = Arc::clone(&self.api);
                tokio::spawn(async move {
                    let content = match work.await {
                        Ok(Ok(answer)) => components::content(&answer.text),
                        _ => "Something went wrong; nothing changed. The logs say why.".to_owned(),
                    };
                    let body = serde_json::json!({ "content": content });
                    if let Err(error) = api.edit_original(origin.application, &origin.token, body).await {
                        tracing::warn!("cannot deliver a deferred /nova answer: {error}");
                    }
                });
                return CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true));
            }
        };
        match answer {
            Ok(Ok(answer)) => CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(components::content(&answer.text))
                    .ephemeral(answer.private),
            ),
            Ok(Err(error)) => {
                tracing::error!("/nova failed: {error:#}");
                private("Something went wrong; nothing changed. The logs say why.")
            }
            Err(error) => {
                tracing::error!("/nova panicked: {error}");
                private("Something went wrong; nothing changed. The logs say why.")
            }
        }
    }

    /// Checks an HTTP interaction's Ed25519 signature (over `timestamp + body`).
    pub fn verify(&self, signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
        let verifier = self.verifier.as_ref().ok_or("DISCORD_PUBLIC_KEY is not set")?;
        let sent: i64 = timestamp.parse().map_err(|_| "the timestamp is not a number")?;
        // Discord's docs do not ask for it, but an old signed request is a replay.
        if (now - sent).abs() > 5 * 60 {
            return Err("the timestamp is more than 5 minutes off");
        }
        verifier.verify(signature, timestamp, body).map_err(|()| "the signature does not match")
    }
}

/// An answer only the person who clicked sees.
fn private(text: &str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new().content(components::content(text)).ephemeral(true),
    )
}

#[cfg(test)]
mod tests {
    use serenity::all::Permissions;

    /// What Nova does in a server: read, answer, open threads from messages and write in them.
    fn needed() -> Permissions {
        Permissions::VIEW_CHANNEL
            | Permissions::SEND_MESSAGES
            | Permissions::READ_MESSAGE_HISTORY
            | Permissions::CREATE_PUBLIC_THREADS
            | Permissions::SEND_MESSAGES_IN_THREADS
    }

    #[test]
    fn the_readme_invite_link_asks_for_exactly_what_nova_needs() {
        let readme = include_str!("../../../README.md");
        assert!(readme.contains(&format!("permissions={}", needed().bits())), "README's invite URL is stale");
    }
}
