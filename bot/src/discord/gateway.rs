//! The gateway connection (serenity): MESSAGE_CREATE, TYPING_START and
//! INTERACTION_CREATE become Nova's events; serenity heartbeats, reconnects and
//! RESUMEs, so events sent while the connection was down are replayed, not lost.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    Context, EventHandler, GatewayIntents, Interaction, Message, Ready, ResumedEvent, TypingStartEvent,
};

use super::Discord;
use super::events::{DiscordInteraction, DiscordMessage};

/// Messages (with their text), typing, in servers and DMs. Message Content is a
/// privileged intent: without it Nova sees the text of mentions and DMs only.
fn intents(with_content: bool) -> GatewayIntents {
    let base = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::GUILD_MESSAGE_TYPING
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::DIRECT_MESSAGE_TYPING;
    if with_content { base | GatewayIntents::MESSAGE_CONTENT } else { base }
}

struct Handler {
    discord: Arc<Discord>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        tracing::info!(session = %ready.session_id, user = %ready.user.name, "Discord gateway ready");
        if let Err(error) = self.discord.register_commands(ready.application.id).await {
            tracing::error!("{error:#}");
        }
        // A new session, not a resumed one: what was sent in between is not replayed.
        let guilds: Vec<_> = ready.guilds.iter().map(|g| g.id).collect();
        match self.discord.catch_up(&guilds).await {
            Ok(0) => {}
            Ok(taken) => tracing::info!(taken, "took messages written while Nova was disconnected"),
            Err(error) => tracing::warn!("cannot catch up on missed Discord messages: {error:#}"),
        }
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        tracing::info!("Discord gateway resumed; missed events are replayed");
    }

    async fn message(&self, _: Context, message: Message) {
        if let Err(error) = self.discord.on_message(DiscordMessage::from(&message)).await {
            tracing::error!(message = %message.id, "cannot take a Discord message: {error:#}");
        }
    }

    async fn typing_start(&self, _: Context, event: TypingStartEvent) {
        if let Err(error) = self.discord.on_typing(event.channel_id, event.user_id).await {
            tracing::warn!("cannot act on a typing signal: {error:#}");
        }
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        let interaction = DiscordInteraction::from(interaction);
        let Some(origin) = interaction.origin() else {
            return; // pings and autocomplete never come over the gateway for Nova
        };
        let (id, token) = (origin.id, origin.token.clone());
        let response = match self.discord.answer(interaction).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!("cannot handle a Discord interaction: {error:#}");
                super::private("Something went wrong; nothing changed. The logs say why.")
            }
        };
        if let Err(error) = self.discord.api.respond(id, &token, &response).await {
            tracing::warn!("cannot answer a Discord interaction: {error}");
        }
    }
}

/// Keeps a gateway connection up until [`Discord::shutdown`]. serenity resumes dropped
/// connections itself; this loop only starts over when the client gives up.
pub async fn run(discord: Arc<Discord>) {
    let mut with_content = true;
    let mut delay = Duration::from_secs(1);
    loop {
        let http = discord.api.gateway_http();
        let handler = Handler { discord: Arc::clone(&discord) };
        let client =
            serenity::client::ClientBuilder::new_with_http(http, intents(with_content)).event_handler(handler).await;
        let outcome = match client {
            Ok(mut client) => {
                *discord.shards.lock().expect("shards lock") = Some(Arc::clone(&client.shard_manager));
                client.start().await
            }
            Err(error) => Err(error),
        };
        match outcome {
            Err(serenity::Error::Gateway(serenity::gateway::GatewayError::DisallowedGatewayIntents))
                if with_content =>
            {
                tracing::warn!(
                    "the Discord app lacks the Message Content intent: Nova now sees only mentions and DMs \
                     (turn it on under Bot → Privileged Gateway Intents to use bound channels)"
                );
                with_content = false;
                continue;
            }
            Err(serenity::Error::Gateway(serenity::gateway::GatewayError::InvalidAuthentication)) => {
                tracing::error!("Discord refused DISCORD_TOKEN on the gateway; not retrying");
                return;
            }
            Err(error) => tracing::warn!("Discord gateway stopped: {error}; reconnecting in {delay:?}"),
            Ok(()) => tracing::warn!("Discord gateway closed; reconnecting in {delay:?}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}
