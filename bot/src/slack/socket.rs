//! Socket Mode: for installs without a public URL. Nova opens a WebSocket to Slack
//! (`apps.connections.open` with the app-level token) and receives the same payloads
//! the HTTP endpoints would, in envelopes it acknowledges by `envelope_id`. The
//! connection is authenticated by the token, so there is no request signature; the
//! payloads go to the same handlers.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::Slack;
use super::payloads::SlashCommand;

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    payload: Option<Value>,
    reason: Option<String>,
}

pub async fn run(slack: Arc<Slack>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match connect_once(&slack).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(error) => {
                tracing::warn!("Slack Socket Mode connection failed: {error:#}");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// One connection, until Slack asks Nova to reconnect or the socket closes.
async fn connect_once(slack: &Arc<Slack>) -> anyhow::Result<()> {
    let url = slack.api.socket_url().await?;
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let (mut sink, mut stream) = socket.split();
    tracing::info!("connected to Slack over Socket Mode");
    while let Some(frame) = stream.next().await {
        let text = match frame? {
            Message::Text(text) => text,
            Message::Ping(data) => {
                sink.send(Message::Pong(data)).await?;
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        let envelope: Envelope = match serde_json::from_str(&text) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!("ignoring a Socket Mode frame that is not an envelope: {error}");
                continue;
            }
        };
        if envelope.kind == "disconnect" {
            tracing::info!(reason = ?envelope.reason, "Slack asks Nova to reconnect");
            break;
        }
        let Some(envelope_id) = envelope.envelope_id else {
            continue; // `hello` and other frames without an envelope
        };
        let payload = envelope.payload.unwrap_or(Value::Null);
        // The payload is durable (or refused) before the ack, as over HTTP; an envelope
        // Nova fails on is not acknowledged, so Slack redelivers it.
        match handle(slack, &envelope.kind, payload).await {
            Ok(answer) => {
                let mut ack = json!({ "envelope_id": envelope_id });
                if !answer.is_null() {
                    ack["payload"] = answer;
                }
                sink.send(Message::text(ack.to_string())).await?;
            }
            Err(error) => tracing::error!(kind = envelope.kind, "cannot handle a Socket Mode envelope: {error}"),
        }
    }
    Ok(())
}

async fn handle(slack: &Slack, kind: &str, payload: Value) -> Result<Value, super::Rejected> {
    let bytes = serde_json::to_vec(&payload).map_err(anyhow::Error::from)?;
    match kind {
        "events_api" => slack.on_events(&bytes).await,
        "interactive" => slack.on_interaction(&bytes).await,
        "slash_commands" => {
            let command: SlashCommand = serde_json::from_value(payload)
                .map_err(|e| super::Rejected::BadRequest(format!("not a slash command: {e}")))?;
            slack.on_command(command).await
        }
        other => {
            tracing::debug!(kind = other, "ignoring a Socket Mode envelope");
            Ok(Value::Null)
        }
    }
}
