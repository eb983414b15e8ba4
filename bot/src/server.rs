//! One HTTP listener: health, metrics, the console and its API, and the office API.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use metrics_exporter_prometheus::PrometheusHandle;
use orchestrator::Engine;
use orchestrator::engine::{MessageView, ReviewCardView, ReviewDetail, TaskView};
use orchestrator::store::ApprovalState;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

use crate::discord::{self, Discord};
use crate::http_error::{ApiError, ApiResult};
use crate::sign_in::{AllowedHosts, SignedIn};
use crate::slack::{self, Slack};
use crate::{console, github, office_api, sign_in};

/// The one listener's routes: each part (console, office API, Slack, Discord) brings
/// its own, with its own state; this only puts them together.
pub fn router(
    engine: Arc<Engine>,
    metrics: PrometheusHandle,
    slack: Option<Arc<Slack>>,
    discord: Option<Arc<Discord>>,
    hosts: AllowedHosts,
) -> Router {
    // What people use, signed in, and only under Nova's own host names.
    let for_people = Router::new()
        .route("/api/workspace", get(workspace))
        .route("/api/offices", get(offices))
        .route("/api/threads/{id}/messages", get(thread_messages))
        .route("/api/stream", get(stream))
        .route("/api/approvals", get(approvals))
        .route("/api/audit", get(audit))
        .route("/api/tasks", get(tasks).post(console::post_task))
        .route("/api/tasks/{id}/cancel", axum::routing::post(console::cancel_task))
        .route("/api/tasks/{id}/assign", axum::routing::post(console::assign_task))
        .route("/api/reviews", get(reviews))
        .route("/api/reviews/{id}", get(review))
        .route("/api/board", get(board))
        .with_state(Arc::clone(&engine))
        .merge(console::routes(Arc::clone(&engine)))
        .merge(sign_in::routes(Arc::clone(&engine)))
        .layer(axum::middleware::from_fn_with_state(Arc::new(hosts), sign_in::check_host));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(move || render_metrics(metrics.clone())))
        .merge(for_people)
        .merge(github::routes(Arc::clone(&engine)))
        .merge(office_api::routes(engine))
        .merge(slack::http::routes(slack))
        .merge(discord::http::routes(discord))
}

async fn render_metrics(metrics: PrometheusHandle) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
}

#[derive(Serialize)]
struct WorkspaceView {
    name: String,
    channels: Vec<String>,
    offices: Vec<orchestrator::engine::OfficeView>,
}

async fn workspace(State(engine): State<Arc<Engine>>, _: SignedIn) -> ApiResult<Json<WorkspaceView>> {
    let config = engine.config();
    Ok(Json(WorkspaceView {
        name: config.workspace.name.clone(),
        channels: config.channels(),
        offices: engine.offices().await?,
    }))
}

async fn offices(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
) -> ApiResult<Json<Vec<orchestrator::engine::OfficeView>>> {
    Ok(Json(engine.offices().await?))
}

async fn thread_messages(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<MessageView>>> {
    match engine.thread_messages(&id).await? {
        Some(messages) => Ok(Json(messages)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown thread `{id}`"))),
    }
}

/// Server-sent events: every message posted or edited and every office state change.
async fn stream(State(engine): State<Arc<Engine>>, _: SignedIn) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = BroadcastStream::new(engine.subscribe()).filter_map(|update| {
        // A lagging client skips what it missed; it reloads the thread on `lagged`.
        let event = match update {
            Ok(update) => Event::default().json_data(update).ok()?,
            Err(_) => Event::default().event("lagged").data("reload"),
        };
        Some(Ok(event))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
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
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<orchestrator::store::audit::Model>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if query.limit.is_some_and(|limit| limit > orchestrator::store::AUDIT_PAGE_MAX) {
        let message = format!("limit is at most {}", orchestrator::store::AUDIT_PAGE_MAX);
        return Err(ApiError::new(StatusCode::BAD_REQUEST, message));
    }
    let since = match &query.since {
        Some(value) => Some(
            orchestrator::store::parse_since(value, orchestrator::store::now_ms())
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?,
        ),
        None => None,
    };
    let filter =
        orchestrator::store::AuditFilter { office: query.office, run_id: query.run, since, limit: query.limit };
    Ok(Json(engine.audit_trail(&filter).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsQuery {
    state: Option<String>,
}

/// The fleet at a glance: offices in their chain of command, tasks, the week's figures.
async fn board(State(engine): State<Arc<Engine>>, _: SignedIn) -> ApiResult<Json<orchestrator::engine::Board>> {
    Ok(Json(engine.board().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TasksQuery {
    office: Option<String>,
}

/// Tasks, open ones first (`?office=` for one office's).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewsQuery {
    /// Every review, not only those waiting for reviewers.
    #[serde(default)]
    all: bool,
}

/// The reviews waiting for reviewers (or every one, with `?all=true`), as their cards show them.
async fn reviews(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    query: Result<axum::extract::Query<ReviewsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<ReviewCardView>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(Json(engine.review_cards(query.all).await?))
}

/// One review with every revision's whole diff and every decision: what the card
/// shows an excerpt of.
async fn review(State(engine): State<Arc<Engine>>, _: SignedIn, Path(id): Path<i64>) -> ApiResult<Json<ReviewDetail>> {
    match engine.review_detail(id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no review #{id}"))),
    }
}

async fn tasks(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    query: Result<axum::extract::Query<TasksQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<TaskView>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if let Some(office) = query.office.as_deref().filter(|office| engine.config().office(office).is_none()) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown office `{office}`")));
    }
    Ok(Json(engine.task_views(query.office.as_deref()).await?))
}

/// Approvals in a state (`pending` by default): what waits for a person.
async fn approvals(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    query: Result<axum::extract::Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<orchestrator::store::approvals::Model>>> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let wanted = match query.state.as_deref() {
        None => ApprovalState::Pending,
        Some(name) => name.parse().map_err(|error: String| ApiError::new(StatusCode::BAD_REQUEST, error))?,
    };
    Ok(Json(engine.approvals_in_state(wanted).await?))
}
