//! The three HTTP endpoints Slack calls. Each verifies the signature over the raw body
//! first; a request that fails gets 401 and nothing else happens.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;

use super::payloads::SlashCommand;
use super::{Rejected, Slack, verify};
use crate::http_error::ApiError;

/// `/slack/events`, `/slack/interactivity` and `/slack/commands`; without Slack
/// configured each answers 404 with what to set.
pub fn routes(slack: Option<Arc<Slack>>) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/interactivity", post(interactivity))
        .route("/slack/commands", post(commands))
        .with_state(slack)
}

fn verified(slack: Option<Arc<Slack>>, headers: &HeaderMap, body: &[u8]) -> Result<Arc<Slack>, ApiError> {
    let Some(slack) = slack else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN",
        ));
    };
    if !slack.settings().verifies_http() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Nova runs Slack in Socket Mode and has no signing secret",
        ));
    }
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = verify::verify(&slack.settings().signing_secret, headers, body, now) {
        metrics::counter!("nova_slack_rejected_total", "reason" => "signature").increment(1);
        tracing::warn!("refused a Slack request: {error}");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, format!("invalid Slack request: {error}")));
    }
    if let Some(retry) = headers.get("x-slack-retry-num").and_then(|v| v.to_str().ok()) {
        let reason = headers.get("x-slack-retry-reason").and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        tracing::info!(retry, reason, "Slack redelivered a request");
    }
    Ok(slack)
}

fn respond(result: Result<Value, Rejected>) -> Result<Response, ApiError> {
    match result {
        Ok(Value::Null) => Ok(StatusCode::OK.into_response()),
        Ok(body) => Ok(Json(body).into_response()),
        Err(Rejected::BadRequest(message)) => Err(ApiError::new(StatusCode::BAD_REQUEST, message)),
        // 500 makes Slack deliver it again: nothing accepted is lost.
        Err(Rejected::Internal(error)) => Err(error.into()),
    }
}

pub async fn events(
    State(slack): State<Option<Arc<Slack>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = verified(slack, &headers, &body)?;
    respond(slack.on_events(&body).await)
}

pub async fn interactivity(
    State(slack): State<Option<Arc<Slack>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = verified(slack, &headers, &body)?;
    #[derive(serde::Deserialize)]
    struct Form {
        payload: String,
    }
    // Not quoting the parse error: the body may hold a credential.
    let form: Form = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "expected a form with a `payload` field"))?;
    respond(slack.on_interaction(form.payload.as_bytes()).await)
}

pub async fn commands(
    State(slack): State<Option<Arc<Slack>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = verified(slack, &headers, &body)?;
    let command: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("not a slash command: {e}")))?;
    respond(slack.on_command(command).await)
}
