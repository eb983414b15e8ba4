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
use orchestrator::engine::{ApprovalAsk, AskRefusal, CredentialAsk, EventRefusal, HandoffAsk};
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
    Ok((StatusCode::CREATED, Json(AskState { id: approval.id, state: approval.state, by: approval.decided_by })))
}

pub async fn approval(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<AskState>> {
    let token = office_token(&headers)?;
    let approval = engine.approval_for_office(&token, &id).await?.map_err(refused)?;
    Ok(Json(AskState { id: approval.id, state: approval.state, by: approval.decided_by }))
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
    Ok((StatusCode::CREATED, Json(AskState { id: request.id, state: request.state, by: request.provided_by })))
}

pub async fn credential(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<AskState>> {
    let token = office_token(&headers)?;
    let request = engine.credential_for_office(&token, &id).await?.map_err(refused)?;
    Ok(Json(AskState { id: request.id, state: request.state, by: request.provided_by }))
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
