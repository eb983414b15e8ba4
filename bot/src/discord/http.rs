//! `POST /discord/interactions`, for apps with an Interactions Endpoint URL. The
//! Ed25519 signature over `timestamp + body` is checked first; a request that fails
//! gets 401 and nothing else happens (Discord probes this with bad signatures).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serenity::all::Interaction;

use super::Discord;
use super::events::DiscordInteraction;
use crate::http_error::ApiError;

/// `/discord/interactions`; without Discord configured it answers 404 with what to set.
pub fn routes(discord: Option<Arc<Discord>>) -> Router {
    Router::new().route("/discord/interactions", post(interactions)).with_state(discord)
}

pub async fn interactions(
    State(discord): State<Option<Arc<Discord>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(discord) = discord else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Discord is not configured: set DISCORD_TOKEN and DISCORD_PUBLIC_KEY",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let signature = header("x-signature-ed25519");
    let timestamp = header("x-signature-timestamp");
    if let Err(why) = discord.verify(signature, timestamp, &body, now) {
        metrics::counter!("nova_discord_rejected_total", "reason" => "signature").increment(1);
        tracing::warn!("refused a Discord interaction: {why}");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, format!("invalid request signature: {why}")));
    }
    // Not quoting the parse error: a modal submission may hold a credential.
    let interaction: Interaction = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "not a Discord interaction"))?;
    let response = discord.answer(DiscordInteraction::from(interaction)).await?;
    Ok(Json(response).into_response())
}
