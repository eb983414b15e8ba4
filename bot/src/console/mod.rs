//! The console: the local chat surface and the first board, served from assets embedded
//! in the binary (no build step). Its API turns form posts into typed inbound events.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use orchestrator::Engine;
use orchestrator::approvals::DecisionRefusal;
use orchestrator::engine::{
    CardAction, InboundEvent, Incoming, ProvideRefusal, Refusal, StopRefusal, TaskChanged, ThreadRef, ThreadView,
};
use orchestrator::store::Surface;
use orchestrator::texts::Card;
use serde::{Deserialize, Serialize};

use crate::http_error::{ApiError, ApiResult};
use crate::sign_in::SignedIn;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// The console page and what it posts: people's messages, clicks and credentials.
pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console.js", get(script))
        .route("/console.css", get(style))
        .route("/api/channels/{channel}/threads", get(threads))
        .route("/api/console/messages", post(post_message))
        .route("/api/console/actions", post(post_action))
        .route("/api/fleet", post(post_fleet_change))
        .route("/api/console/credentials", post(provide_credential))
        .route("/api/vault", get(vault).post(put_secret))
        .route("/api/vault/revoke", post(revoke_secret))
        .with_state(engine)
}

pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub channel: String,
    pub thread_id: Option<String>,
    pub text: String,
    /// Set by the browser per message, so a retried post is recorded once.
    pub client_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Accepted {
    pub thread_id: String,
    pub inbound_id: i64,
    pub duplicate: bool,
}

impl Accepted {
    /// A click applied at once (a decision, a stop), not recorded as an inbound event.
    fn applied(thread_id: &str) -> (StatusCode, Json<Self>) {
        (StatusCode::OK, Json(Self { thread_id: thread_id.to_owned(), inbound_id: 0, duplicate: false }))
    }
}

pub async fn post_message(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<PostMessage>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Json(post) = body?;
    check_client_id(&post.client_id)?;
    let thread = post.thread_id.map_or(ThreadRef::New, ThreadRef::Existing);
    let event = InboundEvent::Message { text: post.text, context: Vec::new() };
    accept(&engine, posted_in(&post.channel, thread, person, post.client_id, event)).await
}

/// What a signed-in person posted in a console channel (`#general` or `general`).
fn posted_in(channel: &str, thread: ThreadRef, person: String, client_id: String, event: InboundEvent) -> Incoming {
    Incoming {
        surface: Surface::Console,
        channel: channel.trim().trim_start_matches('#').to_lowercase(),
        thread,
        author: person,
        dedupe_key: client_id,
        event,
    }
}

/// A fleet change asked for without words: `{"channel", "change": {"action", "args"},
/// "client_id"}`, the action as the orchestration contract writes it. It opens a thread
/// in `channel` (default `general`) where its approval card and outcome show.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostFleetChange {
    #[serde(default = "general")]
    pub channel: String,
    pub change: orchestrator::ask::Action,
    pub client_id: String,
}

fn general() -> String {
    "general".to_owned()
}

pub async fn post_fleet_change(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<PostFleetChange>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Json(post) = body?;
    check_client_id(&post.client_id)?;
    let event = InboundEvent::FleetChange { change: post.change };
    accept(&engine, posted_in(&post.channel, ThreadRef::New, person, post.client_id, event)).await
}

/// A task asked for: `{"channel", "thread_id"?, "task": {"title", "body", "owner",
/// "priority", "depends_on", "parent"}, "client_id"}`. In `thread_id` if given, else in
/// a new thread in `channel` (default `general`), where its runs and outcome show.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostTask {
    #[serde(default = "general")]
    pub channel: String,
    pub thread_id: Option<String>,
    pub task: orchestrator::engine::TaskAsk,
    pub client_id: String,
}

pub async fn post_task(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<PostTask>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Json(post) = body?;
    check_client_id(&post.client_id)?;
    let thread = post.thread_id.map_or(ThreadRef::New, ThreadRef::Existing);
    let event = InboundEvent::NewTask { task: post.task };
    accept(&engine, posted_in(&post.channel, thread, person, post.client_id, event)).await
}

/// Cancels a task: `POST /api/tasks/{id}/cancel`, by its creator or an operator. The
/// run Nova handed it to stops; its thread says so. Answers the task as it now is.
pub async fn cancel_task(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    Path(id): Path<i64>,
) -> ApiResult<Json<TaskChanged>> {
    Ok(Json(engine.cancel_task(&person, id).await??))
}

/// `{"office"}`: the office a task is for from now; none, its owner again.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignTask {
    #[serde(default)]
    pub office: Option<String>,
}

/// Gives a task to an office, or to its owner again (a retry): `POST
/// /api/tasks/{id}/assign`, by its creator or an operator. Open again with its
/// attempts afresh; a run still on it stops.
pub async fn assign_task(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    Path(id): Path<i64>,
    body: Result<Json<AssignTask>, JsonRejection>,
) -> ApiResult<Json<TaskChanged>> {
    let Json(assign) = body?;
    Ok(Json(engine.assign_task(&person, id, assign.office.as_deref()).await??))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostAction {
    pub thread_id: String,
    pub message_id: i64,
    pub action: ActionName,
    /// For `pick`: the office chosen.
    pub office: Option<String>,
    /// On a review card: what should change, or the comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// On a review card: the line a comment is about, as `path:line`.
    #[serde(default)]
    pub at: Option<String>,
    pub client_id: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Pick,
    Approve,
    Reject,
    /// On a progress card: stop its run.
    Stop,
    /// On a review card: send it back to the office with a comment.
    RequestChanges,
    /// On a review card: a comment (on a line, with `at`).
    Comment,
}

pub async fn post_action(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<PostAction>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Json(post) = body?;
    check_client_id(&post.client_id)?;
    let action = match (post.action, post.office.clone()) {
        (ActionName::Pick, Some(office)) => CardAction::Pick { office },
        (ActionName::Pick, None) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "`pick` needs an `office`"));
        }
        (ActionName::Approve | ActionName::RequestChanges | ActionName::Comment, _)
            if matches!(engine.card_in_thread(&post.thread_id, post.message_id).await?, Some(Card::Review(_))) =>
        {
            return review(&engine, &post, &person).await;
        }
        (ActionName::RequestChanges | ActionName::Comment, _) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no review card {} in this thread", post.message_id),
            ));
        }
        (decision @ (ActionName::Approve | ActionName::Reject), _) => {
            let approve = matches!(decision, ActionName::Approve);
            return decide(&engine, &post.thread_id, post.message_id, &person, approve).await;
        }
        (ActionName::Stop, _) => return stop(&engine, &post.thread_id, post.message_id, &person).await,
    };
    let thread = engine
        .thread(&post.thread_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown thread `{}`", post.thread_id)))?;
    let incoming = Incoming {
        surface: Surface::Console,
        channel: thread.channel,
        thread: ThreadRef::Existing(post.thread_id),
        author: person,
        dedupe_key: post.client_id,
        event: InboundEvent::Action { message_id: post.message_id, action },
    };
    accept(&engine, incoming).await
}

/// Approve / Reject on an approval card: decided at once (one conditional update), so
/// the person who clicked learns right away whether their click counted.
async fn decide(
    engine: &Engine,
    thread_id: &str,
    message_id: i64,
    user: &str,
    approve: bool,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Some(Card::Approval { id, .. }) = engine.card_in_thread(thread_id, message_id).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no approval card {message_id} in this thread")));
    };
    match engine.decide(&id, user, approve).await? {
        Ok(_) => Ok(Accepted::applied(thread_id)),
        Err(refusal @ (DecisionRefusal::Requester(_) | DecisionRefusal::NotAnApprover { .. })) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, refusal.to_string()))
        }
        Err(refusal @ DecisionRefusal::Unknown(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
        Err(refusal) => Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string())),
    }
}

/// Approve, Request changes or Comment on a review card, decided at once.
async fn review(engine: &Arc<Engine>, post: &PostAction, user: &str) -> ApiResult<(StatusCode, Json<Accepted>)> {
    use orchestrator::engine::reviews::ReviewRefusal;
    use orchestrator::store::Verdict;
    let verdict = match post.action {
        ActionName::Approve => Verdict::Approve,
        ActionName::RequestChanges => Verdict::RequestChanges,
        _ => Verdict::Comment,
    };
    let at = match post.at.as_deref().map(orchestrator::engine::reviews::parse_at) {
        None => None,
        Some(Some(at)) => Some(at),
        Some(None) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "`at` is `path:line`")),
    };
    let at = at.as_ref().map(|(path, line)| (path.as_str(), *line));
    let comment = post.comment.as_deref().unwrap_or_default();
    match engine.decide_review(&post.thread_id, post.message_id, user, verdict, comment, at).await? {
        Ok(_) => Ok(Accepted::applied(&post.thread_id)),
        Err(
            refusal @ (ReviewRefusal::Requester(_) | ReviewRefusal::OwnChange | ReviewRefusal::NotAnApprover { .. }),
        ) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal.to_string())),
        Err(refusal @ ReviewRefusal::Unknown(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
        Err(refusal @ ReviewRefusal::Closed(_)) => Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string())),
        Err(refusal) => Err(ApiError::new(StatusCode::BAD_REQUEST, refusal.to_string())),
    }
}

/// Stop on a progress card: the office is told at once; the card and the thread show
/// it once the runtime has ended.
async fn stop(
    engine: &Engine,
    thread_id: &str,
    message_id: i64,
    user: &str,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Some(Card::Progress { .. }) = engine.card_in_thread(thread_id, message_id).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no progress card {message_id} in this thread")));
    };
    match engine.stop_card(message_id, user).await? {
        Ok(()) => Ok(Accepted::applied(thread_id)),
        Err(refusal @ StopRefusal::NotAllowed { .. }) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal.to_string())),
        Err(refusal @ StopRefusal::Unknown) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
        Err(refusal @ StopRefusal::Ended) => Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvideCredential {
    pub request_id: String,
    pub value: String,
}

/// The private form behind a credential card's "Provide" button. The value goes
/// straight into the vault: it is not recorded as an inbound event, not logged, and
/// never echoed back.
pub async fn provide_credential(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<ProvideCredential>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let provided = holding_a_secret(body)?;
    let value = orchestrator::vault::SecretValue::new(provided.value);
    match engine.provide_credential(&provided.request_id, &person, value).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(refusal @ ProvideRefusal::Unknown(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, refusal.to_string())),
        Err(refusal @ ProvideRefusal::AlreadyProvided { .. }) => {
            Err(ApiError::new(StatusCode::CONFLICT, refusal.to_string()))
        }
        Err(refusal @ ProvideRefusal::Empty) => Err(ApiError::new(StatusCode::BAD_REQUEST, refusal.to_string())),
        Err(refusal @ ProvideRefusal::Denied(_)) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal.to_string())),
    }
}

/// A body that holds a secret: a rejection's text could quote it, so a malformed one
/// gets a plain "malformed request".
fn holding_a_secret<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(value)| value).map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "malformed request"))
}

fn check_client_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 100 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "client_id must be 1–100 characters"));
    }
    Ok(())
}

async fn accept(engine: &Engine, incoming: Incoming) -> ApiResult<(StatusCode, Json<Accepted>)> {
    match engine.accept(incoming).await? {
        Ok(recorded) => {
            let status = if recorded.duplicate { StatusCode::OK } else { StatusCode::ACCEPTED };
            Ok((
                status,
                Json(Accepted {
                    thread_id: recorded.inbound.thread_id,
                    inbound_id: recorded.inbound.id,
                    duplicate: recorded.duplicate,
                }),
            ))
        }
        Err(refusal) => {
            let status = match refusal {
                Refusal::UnknownThread(_) | Refusal::UnknownCard(_) | Refusal::UnknownChannel(_) => {
                    StatusCode::NOT_FOUND
                }
                Refusal::AlreadyAnswered(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, refusal.to_string()))
        }
    }
}

pub async fn threads(
    State(engine): State<Arc<Engine>>,
    _: SignedIn,
    Path(channel): Path<String>,
) -> ApiResult<Json<Vec<ThreadView>>> {
    if !engine.config().channels().contains(&channel) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown channel `{channel}`")));
    }
    Ok(Json(engine.threads_in_channel(Surface::Console, &channel).await?))
}

/// What the vault holds (names, scopes, who stored them; never a value).
pub async fn vault(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
) -> ApiResult<Json<Vec<orchestrator::engine::VaultEntry>>> {
    let entries =
        engine.vault_entries(&person).await?.map_err(|refusal| ApiError::new(StatusCode::FORBIDDEN, refusal))?;
    Ok(Json(entries))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeSecret {
    /// `office:NAME`, `workspace` or `platform`.
    pub scope: String,
    pub name: String,
}

/// Removes a secret from the vault: offices can no longer use it.
pub async fn revoke_secret(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<RevokeSecret>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(revoke) = body?;
    match engine.revoke_secret(&person, &revoke.scope, &revoke.name).await? {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => {
            let message = format!("there is no secret `{}` in scope `{}`", revoke.name, revoke.scope);
            Err(ApiError::new(StatusCode::NOT_FOUND, message))
        }
        Err(refusal) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// `office:NAME`, `workspace` or `platform`.
    pub scope: String,
    pub name: String,
    pub value: String,
}

/// Puts a secret in the vault (a platform default for an upstream, say). The value is
/// sealed at once and never echoed back.
pub async fn put_secret(
    State(engine): State<Arc<Engine>>,
    SignedIn(person): SignedIn,
    body: Result<Json<PutSecret>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let put = holding_a_secret(body)?;
    let scope = orchestrator::vault::Scope::parse(&put.scope)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "a scope is `office:NAME`, `workspace` or `platform`"))?;
    let value = orchestrator::vault::SecretValue::new(put.value);
    match engine.put_secret(&person, &scope, &put.name, value).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(refusal) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal)),
    }
}
