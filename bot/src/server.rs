//! One HTTP listener: health, metrics, the console and its API, and the office API.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use metrics_exporter_prometheus::PrometheusHandle;
use orchestrator::Engine;
use orchestrator::engine::{EventRefusal, MessageView};
use provisioner::protocol::EventEnvelope;
use serde::Serialize;
use serde_json::json;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

use crate::discord::{self, Discord};
use crate::slack::{self, Slack};
use crate::{console, office_api};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub metrics: PrometheusHandle,
    /// Set when Slack is configured.
    pub slack: Option<Arc<Slack>>,
    /// Set when Discord is configured.
    pub discord: Option<Arc<Discord>>,
}

pub fn router(
    engine: Arc<Engine>,
    metrics: PrometheusHandle,
    slack: Option<Arc<Slack>>,
    discord: Option<Arc<Discord>>,
) -> Router {
    Router::new()
        .route("/", get(console::index))
        .route("/console.js", get(console::script))
        .route("/console.css", get(console::style))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(render_metrics))
        .route("/api/workspace", get(workspace))
        .route("/api/offices", get(offices))
        .route("/api/channels/{channel}/threads", get(console::threads))
        .route("/api/threads/{id}/messages", get(thread_messages))
        .route("/api/console/messages", post(console::post_message))
        .route("/api/console/actions", post(console::post_action))
        .route("/api/stream", get(stream))
        .route("/api/office/events", post(office_event))
        .route("/api/office/approvals", post(office_api::ask_approval))
        .route("/api/office/approvals/{id}", get(office_api::approval))
        .route("/api/office/credentials", post(office_api::ask_credential))
        .route("/api/office/credentials/{id}", get(office_api::credential))
        .route("/api/office/secrets/{name}", get(office_api::secret))
        .route("/api/console/credentials", post(console::provide_credential))
        .route("/api/approvals", get(approvals))
        .route("/api/audit", get(audit))
        .route("/slack/events", post(slack::http::events))
        .route("/slack/interactivity", post(slack::http::interactivity))
        .route("/slack/commands", post(slack::http::commands))
        .route("/discord/interactions", post(discord::http::interactions))
        .with_state(AppState { engine, metrics, slack, discord })
}

/// An error as a client sees it: a status and one clear sentence, never a chain.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!("request failed: {error:#}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Nova could not handle this request; see its log")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("malformed request: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

#[derive(Serialize)]
struct WorkspaceView {
    name: String,
    channels: Vec<String>,
    offices: Vec<orchestrator::engine::OfficeView>,
}

async fn workspace(State(state): State<AppState>) -> ApiResult<Json<WorkspaceView>> {
    let config = state.engine.config();
    Ok(Json(WorkspaceView {
        name: config.workspace.name.clone(),
        channels: config.channels(),
        offices: state.engine.offices().await?,
    }))
}

async fn offices(State(state): State<AppState>) -> ApiResult<Json<Vec<orchestrator::engine::OfficeView>>> {
    Ok(Json(state.engine.offices().await?))
}

async fn thread_messages(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Vec<MessageView>>> {
    if state.engine.store().thread(&id).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown thread `{id}`")));
    }
    let messages = state.engine.store().thread_messages(&id).await?;
    Ok(Json(messages.into_iter().map(MessageView::from).collect()))
}

/// Server-sent events: every message posted or edited and every office state change.
async fn stream(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = BroadcastStream::new(state.engine.subscribe()).filter_map(|update| {
        // A lagging client skips what it missed; it reloads the thread on `lagged`.
        let event = match update {
            Ok(update) => Event::default().json_data(update).ok()?,
            Err(_) => Event::default().event("lagged").data("reload"),
        };
        Some(Ok(event))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

/// Office → Nova: events of a run, authenticated with the office's per-wake token.
async fn office_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EventEnvelope>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let token = office_api::office_token(&headers)?;
    let Json(envelope) = body?;
    let run_header = headers.get(provisioner::protocol::RUN_ID_HEADER).and_then(|v| v.to_str().ok());
    if run_header != Some(envelope.run_id.as_str()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "X-Nova-Run-Id must name the event's run"));
    }
    match state.engine.office_event(&token, envelope).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(refusal @ EventRefusal::BadKey(_)) => Err(ApiError::new(StatusCode::UNAUTHORIZED, refusal.to_string())),
        Err(refusal @ (EventRefusal::StaleGeneration | EventRefusal::UnknownRun)) => {
            Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string()))
        }
        Err(refusal @ EventRefusal::UnknownOffice) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    office: Option<String>,
    run: Option<String>,
    since: Option<String>,
    limit: Option<u64>,
}

/// The audit trail, filtered by office, run id and time (`since=2h` or RFC 3339).
async fn audit(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<orchestrator::store::audit::Model>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let since = match &query.since {
        Some(value) => Some(
            orchestrator::store::parse_since(value, orchestrator::store::now_ms())
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?,
        ),
        None => None,
    };
    let filter =
        orchestrator::store::AuditFilter { office: query.office, run_id: query.run, since, limit: query.limit };
    Ok(Json(state.engine.store().audit_trail(&filter).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsQuery {
    state: Option<String>,
}

/// Approvals in a state (`pending` by default): what waits for a person.
async fn approvals(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<orchestrator::store::approvals::Model>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let wanted = query.state.unwrap_or_else(|| "pending".to_owned());
    if !["pending", "approved", "rejected", "expired"].contains(&wanted.as_str()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("unknown state `{wanted}`")));
    }
    Ok(Json(state.engine.approvals_in_state(&wanted).await?))
}
