//! The API offices call (their daemon, on behalf of the agent): asks for approvals and
//! credentials, their answers, and secrets for the office's own proxy. Every call
//! carries the office's bearer token; state changes carry `X-Nova-Run-Id`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use orchestrator::Engine;
use orchestrator::engine::{
    ApprovalAsk, AskRefusal, CredentialAsk, EscalationAsk, EventRefusal, HandoffAsk, TaskAsk, TaskOutcome,
};
use orchestrator::store::tasks;
use provisioner::protocol::EventEnvelope;
use serde::Serialize;
use serde_json::json;

use crate::http_error::{ApiError, ApiResult};

/// What offices call, under `/api/office/`.
pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/office/events", post(office_event))
        .route("/api/office/approvals", post(ask_approval))
        .route("/api/office/approvals/{id}", get(approval))
        .route("/api/office/credentials", post(ask_credential))
        .route("/api/office/credentials/{id}", get(credential))
        .route("/api/office/secrets/{name}", get(secret))
        .route("/api/office/handoffs", post(hand_off))
        .route("/api/office/tasks", get(office_tasks).post(create_task))
        .route("/api/office/tasks/{id}/claim", post(claim_task))
        .route("/api/office/tasks/{id}/done", post(finish_task))
        .route("/api/office/escalations", post(escalate))
        .route("/api/office/commands", post(command))
        .route("/api/office/sql", post(sql))
        .route("/api/office/changes", post(submit_change))
        .route("/api/office/reviews/{id}/decision", post(review_decision))
        .with_state(engine)
}

/// The office's bearer token; every office route starts here.
pub fn office_token(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing office token"))
}

fn run_id(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get(provisioner::protocol::RUN_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "X-Nova-Run-Id is required"))
}

fn refused(refusal: AskRefusal) -> ApiError {
    let status = match refusal {
        AskRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
        AskRefusal::UnknownRun(_) => StatusCode::CONFLICT,
        AskRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
        AskRefusal::NotFound => StatusCode::NOT_FOUND,
        AskRefusal::NotAnUpstreamSecret(_) => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, refusal.to_string())
}

/// What an office asks of Nova about the fleet, in plain language (the `command` skill).
#[derive(serde::Deserialize)]
struct CommandAsk {
    text: String,
}

async fn command(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<CommandAsk>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    use orchestrator::engine::office_commands::CommandRefusal;
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    match engine.office_command(&token, &run, &ask.text).await? {
        Ok(answer) => Ok(Json(json!({"answer": answer}))),
        Err(refusal) => {
            let status = match refusal {
                CommandRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
                CommandRefusal::UnknownRun(_) => StatusCode::CONFLICT,
                CommandRefusal::NotUnderstood => StatusCode::UNPROCESSABLE_ENTITY,
                CommandRefusal::NotForOffices(_) => StatusCode::FORBIDDEN,
                CommandRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, refusal.to_string()))
        }
    }
}

/// An office's query for one of the workspace's databases (the `database` skill). A
/// write that needs a person's approval is a 409 that says how to ask for it.
async fn sql(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<orchestrator::engine::databases::SqlAsk>, JsonRejection>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    use orchestrator::engine::databases::{SqlRefusal, WRITE_APPROVAL};
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let query = ask.query.trim().trim_end_matches(';').trim_end().to_owned();
    match engine.office_sql(&token, &run, ask).await? {
        Ok(answer) => Ok(Json(answer).into_response()),
        Err(refusal) => {
            if let SqlRefusal::NeedsApproval { action, .. } = &refusal {
                let ask = json!({"kind": WRITE_APPROVAL, "action": action, "details": query, "risk": "high"});
                let body = json!({"error": refusal.to_string(), "needs_approval": ask});
                return Ok((StatusCode::CONFLICT, Json(body)).into_response());
            }
            let status = match refusal {
                SqlRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
                SqlRefusal::UnknownRun(_) | SqlRefusal::AlreadyRun | SqlRefusal::NeedsApproval { .. } => {
                    StatusCode::CONFLICT
                }
                SqlRefusal::NoDatabase { .. } => StatusCode::NOT_FOUND,
                SqlRefusal::NotYours { .. } | SqlRefusal::NotApproved(_) => StatusCode::FORBIDDEN,
                SqlRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
                SqlRefusal::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Err(ApiError::new(status, refusal.to_string()))
        }
    }
}

/// An office reports the change its session branch holds, for review in its thread.
async fn submit_change(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<orchestrator::engine::reviews::ChangeAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    use orchestrator::engine::reviews::ReviewRefusal;
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    match engine.office_submits_change(&token, &run, ask).await? {
        Ok(review) => Ok((
            StatusCode::CREATED,
            Json(json!({"review": review.id, "revision": review.revision, "state": review.state, "head": review.head})),
        )),
        Err(refusal) => {
            let status = match refusal {
                ReviewRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
                ReviewRefusal::UnknownRun(_) | ReviewRefusal::Closed(_) => StatusCode::CONFLICT,
                ReviewRefusal::Git(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, refusal.to_string()))
        }
    }
}

/// What a reviewer office decides about a review.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewDecisionAsk {
    verdict: orchestrator::store::Verdict,
    #[serde(default)]
    comment: String,
    /// `path:line`, for a line comment.
    #[serde(default)]
    at: Option<String>,
}

/// A reviewer office's decision: only an office the repo's review policy names.
async fn review_decision(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Result<Json<ReviewDecisionAsk>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    use orchestrator::engine::reviews::{ReviewRefusal, parse_at};
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let at = match ask.at.as_deref().filter(|at| !at.trim().is_empty()).map(parse_at) {
        None => None,
        Some(Some(at)) => Some(at),
        Some(None) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "`at` is `path:line`")),
    };
    let at = at.as_ref().map(|(path, line)| (path.as_str(), *line));
    match engine.office_decides_review(&token, &run, id, ask.verdict, &ask.comment, at).await? {
        Ok(review) => Ok(Json(json!({"review": review.id, "state": review.state, "revision": review.revision}))),
        Err(refusal) => {
            let status = match refusal {
                ReviewRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
                ReviewRefusal::OwnChange | ReviewRefusal::NotAReviewer(_) => StatusCode::FORBIDDEN,
                ReviewRefusal::Unknown(_) => StatusCode::NOT_FOUND,
                ReviewRefusal::UnknownRun(_) | ReviewRefusal::Closed(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, refusal.to_string()))
        }
    }
}

/// The tasks this office may take: open ones for it or for anyone, and those it holds.
async fn office_tasks(State(engine): State<Arc<Engine>>, headers: HeaderMap) -> ApiResult<Json<Vec<tasks::Model>>> {
    let token = office_token(&headers)?;
    Ok(Json(engine.office_tasks(&token).await??))
}

/// An office makes a task: for another office (a sub-task), or for any.
async fn create_task(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<TaskAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<tasks::Model>)> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let task = engine.office_creates_task(&token, &run, ask).await??;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Checkout: of two offices claiming one task, one gets it and the other a 409 that
/// names the holder.
async fn claim_task(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult<Json<tasks::Model>> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    Ok(Json(engine.office_claims_task(&token, &run, id).await??))
}

async fn finish_task(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Result<Json<TaskOutcome>, JsonRejection>,
) -> ApiResult<Json<tasks::Model>> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(outcome) = body?;
    Ok(Json(engine.office_finishes_task(&token, &run, id, outcome).await??))
}

/// An office asks the office it reports to for help.
async fn escalate(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<EscalationAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let to = engine.office_escalates(&token, &run, ask).await??;
    Ok((StatusCode::CREATED, Json(json!({"to": to}))))
}

/// What an office learns about its ask.
#[derive(Serialize)]
pub struct AskState {
    pub id: String,
    /// `pending`, `approved`, `rejected`, `expired` or `provided`.
    pub state: String,
    pub by: Option<String>,
}

pub async fn ask_approval(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<ApprovalAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<AskState>)> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let approval = engine.ask_approval(&token, &run, ask).await?.map_err(refused)?;
    Ok((
        StatusCode::CREATED,
        Json(AskState { id: approval.id, state: approval.state.as_str().to_owned(), by: approval.decided_by }),
    ))
}

pub async fn approval(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<AskState>> {
    let token = office_token(&headers)?;
    let approval = engine.approval_for_office(&token, &id).await?.map_err(refused)?;
    Ok(Json(AskState { id: approval.id, state: approval.state.as_str().to_owned(), by: approval.decided_by }))
}

pub async fn ask_credential(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<CredentialAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<AskState>)> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let request = engine.ask_credential(&token, &run, ask).await?.map_err(refused)?;
    Ok((
        StatusCode::CREATED,
        Json(AskState { id: request.id, state: request.state.as_str().to_owned(), by: request.provided_by }),
    ))
}

pub async fn credential(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<AskState>> {
    let token = office_token(&headers)?;
    let request = engine.credential_for_office(&token, &id).await?.map_err(refused)?;
    Ok(Json(AskState { id: request.id, state: request.state.as_str().to_owned(), by: request.provided_by }))
}

/// An office hands work to another; its outcome comes back to this session later.
pub async fn hand_off(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<HandoffAsk>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let token = office_token(&headers)?;
    let run = run_id(&headers)?;
    let Json(ask) = body?;
    let to = engine.hand_off(&token, &run, ask).await?.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"to": to}))))
}

/// For the office's secrets proxy only: the office daemon injects the value upstream;
/// the agent never calls this (it does not hold the office token).
pub async fn secret(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let token = office_token(&headers)?;
    match engine.secret_for_office(&token, &name).await?.map_err(refused)? {
        Some(value) => Ok(Json(json!({"value": value.expose()}))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no secret `{name}` for this office"))),
    }
}

/// Office → Nova: events of a run, authenticated with the office's per-wake token.
async fn office_event(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Json<EventEnvelope>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let token = office_token(&headers)?;
    let Json(envelope) = body?;
    let run_header = headers.get(provisioner::protocol::RUN_ID_HEADER).and_then(|v| v.to_str().ok());
    if run_header != Some(envelope.run_id.as_str()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "X-Nova-Run-Id must name the event's run"));
    }
    match engine.office_event(&token, envelope).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(refusal @ EventRefusal::BadKey(_)) => Err(ApiError::new(StatusCode::UNAUTHORIZED, refusal.to_string())),
        Err(refusal @ (EventRefusal::StaleGeneration | EventRefusal::UnknownRun)) => {
            Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string()))
        }
        Err(refusal @ EventRefusal::UnknownOffice) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
    }
}
