//! The Slack Web API calls Nova makes, through slack-morphism, pointed at
//! `SLACK_API_URL`. Rate limits are honoured here for every caller: a 429 pauses all
//! calls for its `Retry-After`, then the call is repeated.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::time::Instant;

use super::blocks;
use super::settings::SlackSettings;

/// How long to wait after a 429 that names no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A call rate-limited this many times in a row fails (and is retried by its caller later).
const MAX_RATE_LIMITED: u32 = 20;
/// Pages of 200 replies `find_post` reads at most: a post Slack made is looked for among
/// the replies from a minute before Nova wrote it, and no thread grows by 2,000 in that.
const FIND_POST_PAGES: usize = 10;

pub struct SlackApi {
    client: SlackHyperClient,
    bot_token: SlackApiToken,
    app_token: Option<SlackApiToken>,
    /// No call starts before this instant (the latest `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

/// Why a call failed, as far as callers branch on it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("Slack answered `{0}`")]
    Api(String),
    #[error("still rate-limited after {0} attempts")]
    RateLimited(u32),
    #[error("cannot reach Slack: {0}")]
    Transport(String),
}

/// A message as Nova sends it: fallback text (notifications, screen readers) and blocks.
pub struct Content {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

impl Content {
    pub fn new(message_id: i64, body: &str, card: Option<&orchestrator::texts::Card>) -> anyhow::Result<Self> {
        let text = blocks::mrkdwn(&card.map(|c| c.fallback_text()).unwrap_or_else(|| body.to_owned()));
        Ok(Self { text, blocks: blocks::typed_blocks(blocks::blocks(message_id, body, card))? })
    }

    fn message(self) -> SlackMessageContent {
        SlackMessageContent::new().with_text(self.text).with_blocks(self.blocks)
    }
}

impl SlackApi {
    pub fn new(settings: &SlackSettings) -> anyhow::Result<Self> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_native_roots() {
            Ok(builder) => builder,
            Err(error) => {
                // Without system certificates only a plain-HTTP SLACK_API_URL (a proxy or
                // a stand-in) works; say so instead of failing later with a TLS error.
                tracing::warn!("no system TLS certificates ({error}); Slack is reachable only over plain HTTP");
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let api_url = settings.api_url.trim_end_matches('/').to_owned();
        let connector = SlackClientHyperConnector::from(connector).with_slack_api_url(&api_url);
        Ok(Self {
            client: SlackClient::new(connector),
            bot_token: SlackApiToken::new(settings.bot_token.clone().into()),
            app_token: settings.app_token.clone().map(|token| SlackApiToken::new(token.into())),
            paused_until: Mutex::new(None),
        })
    }

    /// Runs one call, waiting out rate limits.
    async fn call<T, F, Fut>(&self, method: &str, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        let mut limited = 0;
        loop {
            let pause = *self.paused_until.lock().expect("pause lock");
            if let Some(until) = pause {
                tokio::time::sleep_until(until).await;
            }
            match call().await {
                Ok(answer) => return Ok(answer),
                Err(SlackClientError::RateLimitError(error)) => {
                    limited += 1;
                    metrics::counter!("nova_slack_rate_limited_total", "method" => method.to_owned()).increment(1);
                    if limited >= MAX_RATE_LIMITED {
                        return Err(CallError::RateLimited(limited));
                    }
                    let wait = error.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                    tracing::info!(method, ?wait, "Slack rate-limited a call; waiting as it asks");
                    let until = Instant::now() + wait;
                    let mut paused = self.paused_until.lock().expect("pause lock");
                    if paused.is_none_or(|p| p < until) {
                        *paused = Some(until);
                    }
                }
                Err(SlackClientError::ApiError(error)) => return Err(CallError::Api(error.code)),
                Err(other) => return Err(CallError::Transport(other.to_string())),
            }
        }
    }

    fn bot(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.client.open_session(&self.bot_token)
    }

    /// Nova's own user id (its messages must never wake it).
    pub async fn bot_user_id(&self) -> Result<String, CallError> {
        let session = self.bot();
        let answer = self.call("auth.test", || session.auth_test()).await?;
        Ok(answer.user_id.0)
    }

    /// A channel's name, and whether it is a direct-message channel.
    pub async fn channel(&self, id: &str) -> Result<(String, bool), CallError> {
        let request = SlackApiConversationsInfoRequest::new(id.into());
        let session = self.bot();
        let answer = self.call("conversations.info", || session.conversations_info(&request)).await?;
        let is_im = answer.channel.flags.is_im.unwrap_or(false);
        let name = answer.channel.name.unwrap_or_else(|| if is_im { "dm".to_owned() } else { id.to_owned() });
        Ok((name, is_im))
    }

    /// The messages of a thread, oldest first: (ts, author, text).
    pub async fn thread_replies(
        &self,
        channel: &str,
        thread_ts: &str,
    ) -> Result<Vec<(String, String, String)>, CallError> {
        let request = SlackApiConversationsRepliesRequest::new(channel.into(), thread_ts.into()).with_limit(50);
        let session = self.bot();
        let answer = self.call("conversations.replies", || session.conversations_replies(&request)).await?;
        Ok(answer
            .messages
            .into_iter()
            .map(|m| {
                let author = m.sender.user.map(|u| u.0).or(m.sender.username).unwrap_or_else(|| "someone".to_owned());
                (m.origin.ts.0, author, m.content.text.unwrap_or_default())
            })
            .collect())
    }

    /// The `ts` of a message in a thread that carries the block `block_id`, posted at
    /// `oldest` or later (a Slack timestamp), if the thread shows one, page after page.
    pub async fn find_post(
        &self,
        channel: &str,
        thread_ts: &str,
        block_id: &str,
        oldest: &str,
    ) -> Result<Option<String>, CallError> {
        let mut request = SlackApiConversationsRepliesRequest::new(channel.into(), thread_ts.into())
            .with_oldest(oldest.into())
            .with_inclusive(true)
            .with_limit(200);
        let session = self.bot();
        for _ in 0..FIND_POST_PAGES {
            let answer = self.call("conversations.replies", || session.conversations_replies(&request)).await?;
            let found = answer.messages.into_iter().find_map(|m| {
                let blocks = serde_json::to_value(&m.content.blocks).unwrap_or_default();
                let carries = blocks.as_array().into_iter().flatten().any(|block| block["block_id"] == block_id);
                (m.sender.bot_id.is_some() && carries).then_some(m.origin.ts.0)
            });
            match answer.response_metadata.and_then(|metadata| metadata.next_cursor) {
                Some(cursor) if found.is_none() => request = request.with_cursor(cursor),
                _ => return Ok(found),
            }
        }
        Ok(None)
    }

    /// Posts in a thread and returns the message's `ts`.
    pub async fn post(&self, channel: &str, thread_ts: &str, content: Content) -> Result<String, CallError> {
        let request =
            SlackApiChatPostMessageRequest::new(channel.into(), content.message()).with_thread_ts(thread_ts.into());
        let session = self.bot();
        let answer = self.call("chat.postMessage", || session.chat_post_message(&request)).await?;
        Ok(answer.ts.0)
    }

    pub async fn update(&self, channel: &str, ts: &str, content: Content) -> Result<(), CallError> {
        let request = SlackApiChatUpdateRequest::new(channel.into(), content.message(), ts.into());
        let session = self.bot();
        self.call("chat.update", || session.chat_update(&request)).await?;
        Ok(())
    }

    /// A message only `user` sees (refusals, explanations of stale clicks).
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), CallError> {
        let content = SlackMessageContent::new().with_text(blocks::mrkdwn(text));
        let mut request = SlackApiChatPostEphemeralRequest::new(channel.into(), user.into(), content);
        if let Some(thread_ts) = thread_ts {
            request = request.with_thread_ts(thread_ts.into());
        }
        let session = self.bot();
        self.call("chat.postEphemeral", || session.chat_post_ephemeral(&request)).await?;
        Ok(())
    }

    pub async fn open_view(&self, trigger_id: &str, view: Value) -> anyhow::Result<()> {
        let request = SlackApiViewsOpenRequest::new(trigger_id.into(), blocks::typed_view(view)?);
        let session = self.bot();
        self.call("views.open", || session.views_open(&request)).await.context("views.open failed")?;
        Ok(())
    }

    /// A Socket Mode WebSocket URL (needs the app-level token).
    pub async fn socket_url(&self) -> anyhow::Result<String> {
        let token = self.app_token.as_ref().context("Socket Mode needs SLACK_APP_TOKEN")?;
        let session = self.client.open_session(token);
        let request = SlackApiAppsConnectionOpenRequest::new();
        let answer = self.call("apps.connections.open", || session.apps_connections_open(&request)).await?;
        Ok(answer.url.0.to_string())
    }
}
