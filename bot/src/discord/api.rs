//! Discord's REST API through serenity's routes, builders and models, with Nova's
//! own handling of rate limits.
//!
//! serenity's rate limiter cannot be pointed at another base URL, and with it off a
//! 429's `retry_after` is lost inside serenity's error type. So requests are built by
//! serenity ([`Request::build`], which honours `DISCORD_API_URL`) and sent here: a 429
//! pauses every call for as long as Discord asks, then the call is retried. Order per
//! thread is kept by the mirror, which sends one message of a thread at a time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use serenity::all::{
    ApplicationId, Channel, ChannelId, CreateCommand, CreateInteractionResponse, CreateMessage, CreateThread,
    CurrentUser, EditMessage, GuildChannel, GuildId, InteractionId, Message, MessageId,
};
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};

use super::settings::DiscordSettings;

/// A call rate-limited this many times in a row gives up (the mirror retries later).
const MAX_RATE_LIMITED: u32 = 5;
/// When Discord sends a 429 without saying how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Nova paces calls itself (see the module docs), wherever they go.
fn serenity_http(settings: &DiscordSettings, client: reqwest::Client) -> Http {
    let mut builder = HttpBuilder::new(&settings.token).client(client).ratelimiter_disabled(true);
    if let Some(url) = &settings.api_url {
        builder = builder.proxy(url.as_str());
    }
    builder.build()
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("Discord answered {status}: {message} (code {code})")]
    Api { status: u16, code: i64, message: String },
    #[error("still rate-limited after {0} attempts")]
    RateLimited(u32),
    #[error("cannot reach Discord: {0}")]
    Transport(String),
}

impl CallError {
    /// Discord's JSON error code, if it answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub struct DiscordApi {
    /// serenity's client: its token and proxy build requests.
    http: Http,
    client: reqwest::Client,
    settings: DiscordSettings,
    paused_until: Mutex<Option<Instant>>,
}

impl DiscordApi {
    pub fn new(settings: &DiscordSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
        let http = serenity_http(settings, client.clone());
        Ok(Self { http, client, settings: settings.clone(), paused_until: Mutex::new(None) })
    }

    /// A serenity HTTP client for the gateway (which finds its URL through it).
    pub fn gateway_http(&self) -> Http {
        serenity_http(&self.settings, self.client.clone())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        route: Route<'_>,
        method: LightMethod,
        body: Option<Value>,
    ) -> Result<T, CallError> {
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON values serialize"));
        let mut limited = 0;
        loop {
            let pause = *self.paused_until.lock().expect("pause lock");
            if let Some(until) = pause.filter(|until| *until > Instant::now()) {
                tokio::time::sleep_until(until.into()).await;
            }
            let request = Request::new(route, method)
                .body(body.clone())
                .build(&self.client, self.http.token(), self.http.proxy.as_deref())
                .map_err(|e| CallError::Transport(e.to_string()))?
                .build()
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let response = self.client.execute(request).await.map_err(|e| CallError::Transport(e.to_string()))?;
            let status = response.status();
            let retry_header =
                response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<f64>().ok());
            let text = response.text().await.map_err(|e| CallError::Transport(e.to_string()))?;
            if status.as_u16() == 429 {
                limited += 1;
                metrics::counter!("nova_discord_rate_limited_total", "call" => what).increment(1);
                if limited >= MAX_RATE_LIMITED {
                    return Err(CallError::RateLimited(limited));
                }
                // The body's `retry_after` is precise (fractions of a second); the header rounds up.
                let body_wait = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["retry_after"].as_f64());
                let wait = body_wait
                    .or(retry_header)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64)
                    .unwrap_or(DEFAULT_RETRY_AFTER);
                tracing::info!(call = what, ?wait, "Discord rate-limited a call; waiting as it asks");
                let until = Instant::now() + wait;
                let mut paused = self.paused_until.lock().expect("pause lock");
                if paused.is_none_or(|p| p < until) {
                    *paused = Some(until);
                }
                continue;
            }
            if !status.is_success() {
                let error = serde_json::from_str::<Value>(&text).unwrap_or_default();
                return Err(CallError::Api {
                    status: status.as_u16(),
                    code: error["code"].as_i64().unwrap_or(-1),
                    message: error["message"].as_str().unwrap_or("no message").to_owned(),
                });
            }
            let text = if text.is_empty() { "null" } else { &text };
            return serde_json::from_str(text)
                .map_err(|e| CallError::Transport(format!("unexpected answer to {what}: {e}")));
        }
    }

    pub async fn current_user(&self) -> Result<CurrentUser, CallError> {
        self.call("get current user", Route::UserMe, LightMethod::Get, None).await
    }

    pub async fn channel(&self, id: ChannelId) -> Result<Channel, CallError> {
        self.call("get channel", Route::Channel { channel_id: id }, LightMethod::Get, None).await
    }

    /// The latest messages of a channel or thread, newest first.
    pub async fn recent_messages(&self, id: ChannelId) -> Result<Vec<Message>, CallError> {
        // serenity's routes carry no query; Discord's default page is 50 messages.
        self.call("get messages", Route::ChannelMessages { channel_id: id }, LightMethod::Get, None).await
    }

    /// A server's channels (threads not included).
    pub async fn guild_channels(&self, guild: GuildId) -> Result<Vec<GuildChannel>, CallError> {
        self.call("get guild channels", Route::GuildChannels { guild_id: guild }, LightMethod::Get, None).await
    }

    pub async fn send(&self, channel: ChannelId, message: CreateMessage) -> Result<Message, CallError> {
        let body = pings_nobody(serde_json::to_value(message).expect("builders serialize"));
        self.call("create message", Route::ChannelMessages { channel_id: channel }, LightMethod::Post, Some(body)).await
    }

    pub async fn edit(&self, channel: ChannelId, message: MessageId, edit: EditMessage) -> Result<Message, CallError> {
        let body = pings_nobody(serde_json::to_value(edit).expect("builders serialize"));
        let route = Route::ChannelMessage { channel_id: channel, message_id: message };
        self.call("edit message", route, LightMethod::Patch, Some(body)).await
    }

    /// A public thread started from a message (the thread gets the message's id).
    pub async fn start_thread(
        &self,
        channel: ChannelId,
        message: MessageId,
        thread: CreateThread<'_>,
    ) -> Result<GuildChannel, CallError> {
        let body = serde_json::to_value(thread).expect("builders serialize");
        let route = Route::ChannelMessageThreads { channel_id: channel, message_id: message };
        self.call("start thread", route, LightMethod::Post, Some(body)).await
    }

    /// Replaces the application's global commands with these.
    pub async fn register_commands(
        &self,
        application: ApplicationId,
        commands: Vec<CreateCommand>,
    ) -> Result<Vec<Value>, CallError> {
        let body = serde_json::to_value(commands).expect("builders serialize");
        self.call("register commands", Route::Commands { application_id: application }, LightMethod::Put, Some(body))
            .await
    }

    /// The first answer to an interaction received over the gateway.
    pub async fn respond(
        &self,
        interaction: InteractionId,
        token: &str,
        response: &CreateInteractionResponse,
    ) -> Result<(), CallError> {
        let mut body = serde_json::to_value(response).expect("builders serialize");
        if let Some(data) = body.get_mut("data").filter(|data| data.is_object()) {
            *data = pings_nobody(data.take());
        }
        let route = Route::InteractionResponse { interaction_id: interaction, token };
        self.call::<Value>("answer interaction", route, LightMethod::Post, Some(body)).await.map(|_| ())
    }

    /// Replaces a deferred answer ("Nova is thinking…") with the real one.
    pub async fn edit_original(&self, application: ApplicationId, token: &str, body: Value) -> Result<(), CallError> {
        let route = Route::WebhookOriginalInteractionResponse { application_id: application, token };
        self.call::<Value>("edit interaction answer", route, LightMethod::Patch, Some(body)).await.map(|_| ())
    }
}

/// What Nova posts quotes agents and people, and an agent's text may be written to
/// page everyone: `@everyone`, a role or a user in it stays text, never a ping.
fn pings_nobody(mut message: Value) -> Value {
    message["allowed_mentions"] = serde_json::json!({"parse": []});
    message
}
