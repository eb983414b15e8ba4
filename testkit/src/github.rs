//! A stand-in for GitHub's REST API, stateful the way GitHub is for what Nova uses:
//! repositories backed by real bare git repos (the same ones [`crate::git_http`] serves),
//! pull requests whose head is what the branch really holds, reviews and line comments
//! with GitHub's rules (nobody approves or requests changes on their own pull request; a
//! review that asks for changes or comments says something), merges that really merge
//! (refused when the head moved since the reviewed commit, or when the branches
//! conflict), webhooks signed with `X-Hub-Signature-256` and kept in a delivery log, and
//! the rate limit (403 with `x-ratelimit-remaining: 0` once it is spent).
//!
//! People act on it the way they do on GitHub: through the API with a token of their
//! own ([`FakeGitHub::add_user`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A pull request as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub number: u64,
    pub repo: String,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub author: String,
    pub state: &'static str,
    pub merged: bool,
    pub merge_commit: Option<String>,
}

/// A review submitted on a pull request.
#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub number: u64,
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED` or `COMMENTED`, as GitHub spells them.
    pub state: String,
    pub body: String,
    pub commit_id: String,
}

/// A line comment of a review.
#[derive(Debug, Clone)]
pub struct ReviewComment {
    pub id: u64,
    pub review_id: u64,
    pub number: u64,
    pub author: String,
    pub path: String,
    pub line: u64,
    pub body: String,
}

/// One webhook delivery, as GitHub's delivery log shows it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: String,
    pub action: String,
    /// The receiver's answer, or 0 when it could not be reached.
    pub status: u16,
}

#[derive(Default)]
struct Hub {
    /// `owner/name` → its bare git repo.
    repos: HashMap<String, PathBuf>,
    /// token → login.
    tokens: HashMap<String, String>,
    pulls: Vec<PullRequest>,
    reviews: Vec<Review>,
    comments: Vec<ReviewComment>,
    next_id: u64,
    /// Requests left before the rate limit answers 403.
    remaining: u64,
    hooks: Vec<(String, String)>,
    deliveries: Vec<Delivery>,
    /// Bumped after every answered request and every delivery: what tests wait on.
    changed: tokio::sync::watch::Sender<u64>,
}

pub struct FakeGitHub {
    /// The API's base URL (what `https://api.github.com` is in production).
    pub api_url: String,
    hub: Arc<Mutex<Hub>>,
}

const RATE_LIMIT: u64 = 5000;

impl FakeGitHub {
    pub async fn start() -> anyhow::Result<Self> {
        let hub = Arc::new(Mutex::new(Hub { remaining: RATE_LIMIT, next_id: 1, ..Hub::default() }));
        let app = Router::new()
            .route("/user", get(user))
            .route("/repos/{owner}/{name}/pulls", post(create_pull).get(list_pulls))
            .route("/repos/{owner}/{name}/pulls/{number}", get(get_pull).patch(update_pull))
            .route("/repos/{owner}/{name}/pulls/{number}/reviews", post(create_review).get(list_reviews))
            .route("/repos/{owner}/{name}/pulls/{number}/comments", get(list_comments))
            .route("/repos/{owner}/{name}/pulls/{number}/merge", put(merge_pull))
            .with_state(Arc::clone(&hub))
            .layer(axum::middleware::map_response_with_state(Arc::clone(&hub), changed_after));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { api_url, hub })
    }

    /// A repository `owner/name` whose branches are those of the bare repo at `git_dir`.
    pub fn add_repo(&self, full_name: &str, git_dir: PathBuf) {
        self.hub.lock().unwrap().repos.insert(full_name.to_owned(), git_dir);
    }

    /// A GitHub account; returns its token.
    pub fn add_user(&self, login: &str) -> String {
        let token = format!("ghp_{}", uuid::Uuid::new_v4().simple());
        self.hub.lock().unwrap().tokens.insert(token.clone(), login.to_owned());
        token
    }

    /// A repository webhook: every event is POSTed to `url`, signed with `secret`.
    pub fn add_webhook(&self, url: &str, secret: &str) {
        self.hub.lock().unwrap().hooks.push((url.to_owned(), secret.to_owned()));
    }

    /// How many requests are left before the rate limit is reached.
    pub fn set_rate_limit_remaining(&self, remaining: u64) {
        self.hub.lock().unwrap().remaining = remaining;
    }

    pub fn pulls(&self) -> Vec<PullRequest> {
        self.hub.lock().unwrap().pulls.clone()
    }

    pub fn reviews(&self, number: u64) -> Vec<Review> {
        self.hub.lock().unwrap().reviews.iter().filter(|r| r.number == number).cloned().collect()
    }

    pub fn comments(&self, number: u64) -> Vec<ReviewComment> {
        self.hub.lock().unwrap().comments.iter().filter(|c| c.number == number).cloned().collect()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.hub.lock().unwrap().deliveries.clone()
    }

    /// Waits until `check` returns something (GitHub delivers webhooks on its own time).
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&Self) -> Option<T>) -> T {
        let changed = self.hub.lock().unwrap().changed.subscribe();
        crate::wait_until(changed, what, || check(self)).await
    }
}

/// Every answered request may have changed what a test waits for.
async fn changed_after(State(hub): State<Arc<Mutex<Hub>>>, response: Response) -> Response {
    hub.lock().unwrap().changed.send_modify(|n| *n += 1);
    response
}

type Answer = Result<Response, Refusal>;

/// An error answer, shaped as GitHub's: a status and a JSON message; a spent rate limit
/// also says when it resets.
struct Refusal {
    status: StatusCode,
    body: Value,
    rate_limit_reset: Option<i64>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(reset) = self.rate_limit_reset {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
            headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        }
        response
    }
}

fn error(status: StatusCode, message: &str) -> Refusal {
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest"});
    Refusal { status, body, rate_limit_reset: None }
}

fn invalid(message: &str) -> Refusal {
    let body = json!({"message": "Validation Failed", "errors": [{"message": message}],
                      "documentation_url": "https://docs.github.com/rest"});
    Refusal { status: StatusCode::UNPROCESSABLE_ENTITY, body, rate_limit_reset: None }
}

/// The caller's login, after the token and the rate limit.
fn caller(hub: &Mutex<Hub>, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")));
    let mut hub = hub.lock().unwrap();
    let Some(login) = token.and_then(|t| hub.tokens.get(t)).cloned() else {
        return Err(error(StatusCode::UNAUTHORIZED, "Bad credentials"));
    };
    if hub.remaining == 0 {
        let mut refusal = error(StatusCode::FORBIDDEN, "API rate limit exceeded for user.");
        refusal.rate_limit_reset = Some(chrono::Utc::now().timestamp() + 3600);
        return Err(refusal);
    }
    hub.remaining -= 1;
    Ok(login)
}

fn repo_dir(hub: &Hub, owner: &str, name: &str) -> Result<PathBuf, Refusal> {
    hub.repos.get(&format!("{owner}/{name}")).cloned().ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))
}

fn git(dir: &std::path::Path, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "GitHub")
        .env("GIT_AUTHOR_EMAIL", "noreply@github.com")
        .env("GIT_COMMITTER_NAME", "GitHub")
        .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn branch_sha(dir: &std::path::Path, branch: &str) -> Option<String> {
    git(dir, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
}

fn pull_json(pull: &PullRequest, dir: &std::path::Path) -> Value {
    let sha = |branch: &str| branch_sha(dir, branch).unwrap_or_default();
    json!({
        "number": pull.number,
        "state": pull.state,
        "title": pull.title,
        "body": pull.body,
        "user": {"login": pull.author},
        "head": {"ref": pull.head, "sha": sha(&pull.head)},
        "base": {"ref": pull.base, "sha": sha(&pull.base)},
        "merged": pull.merged,
        "merge_commit_sha": pull.merge_commit,
        "html_url": format!("https://github.com/{}/pull/{}", pull.repo, pull.number),
    })
}

fn review_json(review: &Review) -> Value {
    json!({"id": review.id, "user": {"login": review.author}, "state": review.state, "body": review.body,
           "commit_id": review.commit_id})
}

fn comment_json(comment: &ReviewComment) -> Value {
    json!({"id": comment.id, "pull_request_review_id": comment.review_id, "user": {"login": comment.author},
           "path": comment.path, "line": comment.line, "body": comment.body})
}

fn find_pull(hub: &Hub, owner: &str, name: &str, number: u64) -> Result<PullRequest, Refusal> {
    let full = format!("{owner}/{name}");
    hub.pulls
        .iter()
        .find(|p| p.repo == full && p.number == number)
        .cloned()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))
}

async fn user(State(hub): State<Arc<Mutex<Hub>>>, headers: HeaderMap) -> Answer {
    let login = caller(&hub, &headers)?;
    Ok(Json(json!({"login": login})).into_response())
}

async fn create_pull(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let login = caller(&hub, &headers)?;
    let dir = repo_dir(&hub.lock().unwrap(), &owner, &name)?;
    let field = |key: &str| body[key].as_str().map(str::to_owned);
    let (Some(title), Some(head), Some(base)) = (field("title"), field("head"), field("base")) else {
        return Err(invalid("title, head and base are required"));
    };
    if branch_sha(&dir, &head).is_none() {
        return Err(invalid(&format!("head: no branch `{head}`")));
    }
    if branch_sha(&dir, &base).is_none() {
        return Err(invalid(&format!("base: no branch `{base}`")));
    }
    let full = format!("{owner}/{name}");
    let pull = {
        let mut hub = hub.lock().unwrap();
        if hub.pulls.iter().any(|p| p.repo == full && p.head == head && p.state == "open") {
            return Err(invalid(&format!("A pull request already exists for {owner}:{head}.")));
        }
        let number = hub.pulls.iter().filter(|p| p.repo == full).count() as u64 + 1;
        let pull = PullRequest {
            number,
            repo: full,
            title,
            body: field("body").unwrap_or_default(),
            head,
            base,
            author: login.clone(),
            state: "open",
            merged: false,
            merge_commit: None,
        };
        hub.pulls.push(pull.clone());
        pull
    };
    let json = pull_json(&pull, &dir);
    deliver(&hub, "pull_request", json!({"action": "opened", "pull_request": json, "sender": {"login": login}}), &pull);
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn list_pulls(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    caller(&hub, &headers)?;
    let hub = hub.lock().unwrap();
    let dir = repo_dir(&hub, &owner, &name)?;
    let full = format!("{owner}/{name}");
    let pulls: Vec<Value> = hub.pulls.iter().filter(|p| p.repo == full).map(|p| pull_json(p, &dir)).collect();
    Ok(Json(pulls).into_response())
}

async fn get_pull(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Answer {
    caller(&hub, &headers)?;
    let hub = hub.lock().unwrap();
    let dir = repo_dir(&hub, &owner, &name)?;
    Ok(Json(pull_json(&find_pull(&hub, &owner, &name, number)?, &dir)).into_response())
}

async fn update_pull(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    caller(&hub, &headers)?;
    let mut hub = hub.lock().unwrap();
    let dir = repo_dir(&hub, &owner, &name)?;
    let full = format!("{owner}/{name}");
    let Some(pull) = hub.pulls.iter_mut().find(|p| p.repo == full && p.number == number) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if let Some(title) = body["title"].as_str() {
        pull.title = title.to_owned();
    }
    if let Some(text) = body["body"].as_str() {
        pull.body = text.to_owned();
    }
    Ok(Json(pull_json(pull, &dir)).into_response())
}

async fn create_review(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let login = caller(&hub, &headers)?;
    let (pull, dir) = {
        let hub = hub.lock().unwrap();
        (find_pull(&hub, &owner, &name, number)?, repo_dir(&hub, &owner, &name)?)
    };
    let state = match body["event"].as_str() {
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        _ => return Err(invalid("event must be APPROVE, REQUEST_CHANGES or COMMENT")),
    };
    if pull.state != "open" {
        return Err(invalid("Can not review a closed pull request"));
    }
    if pull.author == login && state != "COMMENTED" {
        let verb = if state == "APPROVED" { "approve" } else { "request changes on" };
        return Err(invalid(&format!("Can not {verb} your own pull request")));
    }
    let text = body["body"].as_str().unwrap_or_default().to_owned();
    let lines: Vec<(String, u64, String)> = body["comments"]
        .as_array()
        .map(|comments| {
            comments
                .iter()
                .filter_map(|c| {
                    Some((c["path"].as_str()?.to_owned(), c["line"].as_u64()?, c["body"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    if state != "APPROVED" && text.trim().is_empty() && lines.is_empty() {
        return Err(invalid("Review body is required"));
    }
    let head = branch_sha(&dir, &pull.head).unwrap_or_default();
    let commit_id = body["commit_id"].as_str().map_or(head, str::to_owned);
    let (review, comments) = {
        let mut hub = hub.lock().unwrap();
        let id = hub.next_id;
        hub.next_id += 1;
        let review = Review { id, number, author: login.clone(), state: state.to_owned(), body: text, commit_id };
        hub.reviews.push(review.clone());
        let mut comments = Vec::new();
        for (path, line, text) in lines {
            let comment_id = hub.next_id;
            hub.next_id += 1;
            let comment =
                ReviewComment { id: comment_id, review_id: id, number, author: login.clone(), path, line, body: text };
            hub.comments.push(comment.clone());
            comments.push(comment);
        }
        (review, comments)
    };
    let pull_json = pull_json(&pull, &dir);
    for comment in &comments {
        let payload = json!({"action": "created", "comment": comment_json(comment), "pull_request": pull_json,
                             "sender": {"login": login}});
        deliver(&hub, "pull_request_review_comment", payload, &pull);
    }
    let payload = json!({"action": "submitted", "review": review_json(&review), "pull_request": pull_json,
                         "sender": {"login": login}});
    deliver(&hub, "pull_request_review", payload, &pull);
    Ok(Json(review_json(&review)).into_response())
}

async fn list_reviews(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Answer {
    caller(&hub, &headers)?;
    let hub = hub.lock().unwrap();
    find_pull(&hub, &owner, &name, number)?;
    let reviews: Vec<Value> = hub.reviews.iter().filter(|r| r.number == number).map(review_json).collect();
    Ok(Json(reviews).into_response())
}

async fn list_comments(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Answer {
    caller(&hub, &headers)?;
    let hub = hub.lock().unwrap();
    find_pull(&hub, &owner, &name, number)?;
    let comments: Vec<Value> = hub.comments.iter().filter(|c| c.number == number).map(comment_json).collect();
    Ok(Json(comments).into_response())
}

async fn merge_pull(
    State(hub): State<Arc<Mutex<Hub>>>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let login = caller(&hub, &headers)?;
    let (pull, dir) = {
        let hub = hub.lock().unwrap();
        (find_pull(&hub, &owner, &name, number)?, repo_dir(&hub, &owner, &name)?)
    };
    if pull.state != "open" {
        return Err(error(StatusCode::METHOD_NOT_ALLOWED, "Pull Request is not mergeable"));
    }
    let (Some(head), Some(base)) = (branch_sha(&dir, &pull.head), branch_sha(&dir, &pull.base)) else {
        return Err(error(StatusCode::METHOD_NOT_ALLOWED, "Pull Request is not mergeable"));
    };
    if body["sha"].as_str().is_some_and(|sha| sha != head) {
        return Err(error(StatusCode::CONFLICT, "Head branch was modified. Review and try the merge again."));
    }
    let Some(tree) = git(&dir, &["merge-tree", "--write-tree", &base, &head]) else {
        return Err(error(StatusCode::METHOD_NOT_ALLOWED, "Pull Request is not mergeable"));
    };
    let title = body["commit_title"]
        .as_str()
        .map_or_else(|| format!("Merge pull request #{number} from {owner}/{}", pull.head), str::to_owned);
    let merged =
        git(&dir, &["commit-tree", tree.lines().next().unwrap_or_default(), "-p", &base, "-p", &head, "-m", &title])
            .filter(|commit| git(&dir, &["update-ref", &format!("refs/heads/{}", pull.base), commit, &base]).is_some());
    let Some(commit) = merged else {
        return Err(error(StatusCode::CONFLICT, "Base branch was modified. Review and try the merge again."));
    };
    let pull = {
        let mut hub = hub.lock().unwrap();
        let Some(stored) = hub.pulls.iter_mut().find(|p| p.repo == pull.repo && p.number == number) else {
            return Err(error(StatusCode::NOT_FOUND, "Not Found"));
        };
        stored.state = "closed";
        stored.merged = true;
        stored.merge_commit = Some(commit.clone());
        stored.clone()
    };
    let payload = json!({"action": "closed", "pull_request": pull_json(&pull, &dir), "sender": {"login": login}});
    deliver(&hub, "pull_request", payload, &pull);
    Ok(Json(json!({"sha": commit, "merged": true, "message": "Pull Request successfully merged"})).into_response())
}

/// Sends `payload` to every webhook, signed, in the background (as GitHub does), and
/// logs each delivery with the receiver's answer.
fn deliver(hub: &Arc<Mutex<Hub>>, event: &str, mut payload: Value, pull: &PullRequest) {
    payload["repository"] = json!({"full_name": pull.repo});
    let action = payload["action"].as_str().unwrap_or_default().to_owned();
    let body = payload.to_string();
    let hooks = hub.lock().unwrap().hooks.clone();
    for (url, secret) in hooks {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let (hub, event, action, body) = (Arc::clone(hub), event.to_owned(), action.clone(), body.clone());
        tokio::spawn(async move {
            let sent = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header("x-github-event", &event)
                .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
            let mut hub = hub.lock().unwrap();
            hub.deliveries.push(Delivery { event, action, status });
            hub.changed.send_modify(|n| *n += 1);
        });
    }
}
