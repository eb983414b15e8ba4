//! GitHub's REST API, the part reviews use: open and update a pull request, leave a
//! review on it, merge it. Nova calls it with the token of `[github]`'s upstream, from
//! the vault; offices never reach that upstream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::vault::SecretValue;

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why a call did not do what was asked. Callers branch on it: a spent rate limit is
/// worth trying again later, a refusal is not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub's rate limit is spent (it resets at {reset})")]
    RateLimited { reset: String },
    #[error("GitHub answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("cannot reach GitHub: {0}")]
    Unreachable(String),
}

/// A line comment: path, line, text.
pub type LineComment = (String, i32, String);

pub struct GitHub {
    http: reqwest::Client,
    api_url: String,
    /// The header the upstream names, and its value with the token in it.
    auth: (String, SecretValue),
}

impl GitHub {
    pub fn new(api_url: &str, header: &str, value: SecretValue) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(TIMEOUT).user_agent("nova").build()?;
        Ok(Self { http, api_url: api_url.trim_end_matches('/').to_owned(), auth: (header.to_owned(), value) })
    }

    /// Opens a pull request of `head` into `base`; its number.
    pub async fn open_pull(
        &self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<i64, GithubError> {
        let sent = json!({"title": title, "head": head, "base": base, "body": body});
        let pull = self.call(reqwest::Method::POST, &format!("/repos/{repo}/pulls"), Some(sent)).await?;
        pull["number"].as_i64().ok_or_else(|| refused(502, "a pull request without a number"))
    }

    pub async fn update_pull(&self, repo: &str, number: i64, body: &str) -> Result<(), GithubError> {
        let path = format!("/repos/{repo}/pulls/{number}");
        self.call(reqwest::Method::PATCH, &path, Some(json!({"body": body}))).await.map(drop)
    }

    /// Leaves a review: `event` is `APPROVE`, `REQUEST_CHANGES` or `COMMENT`, about
    /// `commit`, with line comments.
    pub async fn review(
        &self,
        repo: &str,
        number: i64,
        event: &str,
        body: &str,
        commit: &str,
        comments: &[LineComment],
    ) -> Result<(), GithubError> {
        let comments: Vec<Value> =
            comments.iter().map(|(path, line, body)| json!({"path": path, "line": line, "body": body})).collect();
        let sent = json!({"event": event, "body": body, "commit_id": commit, "comments": comments});
        self.call(reqwest::Method::POST, &format!("/repos/{repo}/pulls/{number}/reviews"), Some(sent)).await.map(drop)
    }

    /// Merges the pull request if its head is still `sha` (what was reviewed); the merge
    /// commit.
    pub async fn merge(&self, repo: &str, number: i64, sha: &str, title: &str) -> Result<String, GithubError> {
        let sent = json!({"sha": sha, "commit_title": title, "merge_method": "merge"});
        let merged =
            self.call(reqwest::Method::PUT, &format!("/repos/{repo}/pulls/{number}/merge"), Some(sent)).await?;
        merged["sha"].as_str().map(str::to_owned).ok_or_else(|| refused(502, "a merge without a commit"))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, GithubError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api_url))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(self.auth.0.as_str(), self.auth.1.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| GithubError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let spent = header("x-ratelimit-remaining").as_deref() == Some("0");
        let reset = header("x-ratelimit-reset");
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        if spent && matches!(status.as_u16(), 403 | 429) {
            let reset = reset
                .and_then(|r| r.parse::<i64>().ok())
                .and_then(|r| chrono::DateTime::from_timestamp(r, 0))
                .map_or_else(|| "an unknown time".to_owned(), |at| at.format("%H:%M UTC").to_string());
            return Err(GithubError::RateLimited { reset });
        }
        let mut message = answer["message"].as_str().unwrap_or("no message").to_owned();
        if let Some(first) = answer["errors"][0]["message"].as_str() {
            message = format!("{message}: {first}");
        }
        Err(refused(status.as_u16(), &message))
    }
}

fn refused(status: u16, message: &str) -> GithubError {
    GithubError::Refused { status, message: message.to_owned() }
}
