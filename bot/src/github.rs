//! `/github/webhook`: GitHub's deliveries about pull requests. The signature
//! (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the `[github]` webhook
//! secret from the vault) is checked first; a delivery that fails it gets 401 and
//! nothing else happens. What passes becomes one typed [`CodeHostEvent`]; the engine
//! never sees GitHub's JSON.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use orchestrator::Engine;
use orchestrator::engine::code_host::CodeHostEvent;
use orchestrator::store::Verdict;
use serde::Deserialize;
use sha2::Sha256;

use crate::http_error::ApiError;

pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new().route("/github/webhook", post(webhook)).with_state(engine)
}

async fn webhook(State(engine): State<Arc<Engine>>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let Some(secret) = engine.github_webhook_secret().await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "GitHub webhooks are not configured: name the vault secret in [github] webhook_secret",
        ));
    };
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !signed(secret.expose(), &body, signature) {
        metrics::counter!("nova_github_rejected_total", "reason" => "signature").increment(1);
        tracing::warn!("refused a GitHub delivery: bad signature");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid GitHub delivery: the signature does not match"));
    }
    let kind = headers.get("x-github-event").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let event = match parse(kind, &body) {
        Ok(Some(event)) => event,
        Ok(None) => return Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("not a GitHub {kind} event: {error}")));
        }
    };
    let known = engine.on_code_host_event(event).await?;
    Ok(if known { StatusCode::OK } else { StatusCode::ACCEPTED }.into_response())
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC of `body` under `secret`, compared
/// in constant time.
fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(Ok(given)) = signature.strip_prefix("sha256=").map(hex::decode) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct PullRequest {
    number: i64,
    #[serde(default)]
    merged: bool,
}

#[derive(Deserialize)]
struct ReviewPayload {
    id: i64,
    user: Login,
    state: String,
    body: Option<String>,
    commit_id: String,
}

#[derive(Deserialize)]
struct CommentPayload {
    id: i64,
    user: Login,
    path: String,
    line: Option<i32>,
    body: String,
}

#[derive(Deserialize)]
struct Delivery {
    action: String,
    repository: Repository,
    pull_request: PullRequest,
    sender: Login,
    review: Option<ReviewPayload>,
    comment: Option<CommentPayload>,
}

/// The event a delivery reports, or `None` for one Nova does not act on (a ping, a
/// label, a review dismissed, a comment on no line).
fn parse(kind: &str, body: &[u8]) -> Result<Option<CodeHostEvent>, serde_json::Error> {
    if !matches!(kind, "pull_request" | "pull_request_review" | "pull_request_review_comment") {
        return Ok(None);
    }
    let delivery: Delivery = serde_json::from_slice(body)?;
    let (repo, number) = (delivery.repository.full_name, delivery.pull_request.number);
    Ok(match (kind, delivery.action.as_str()) {
        ("pull_request", "closed") if delivery.pull_request.merged => {
            Some(CodeHostEvent::Merged { repo, number, login: delivery.sender.login })
        }
        ("pull_request_review", "submitted") => delivery.review.and_then(|review| {
            let verdict = match review.state.to_ascii_lowercase().as_str() {
                "approved" => Verdict::Approve,
                "changes_requested" => Verdict::RequestChanges,
                "commented" => Verdict::Comment,
                _ => return None,
            };
            Some(CodeHostEvent::Review {
                repo,
                number,
                id: review.id,
                login: review.user.login,
                verdict,
                body: review.body.unwrap_or_default(),
                commit: review.commit_id,
            })
        }),
        ("pull_request_review_comment", "created") => delivery.comment.and_then(|comment| {
            Some(CodeHostEvent::LineComment {
                repo,
                number,
                id: comment.id,
                login: comment.user.login,
                path: comment.path,
                line: comment.line?,
                body: comment.body,
            })
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_the_secret_s_signature_over_these_exact_bytes_passes() {
        let body = br#"{"action":"submitted"}"#;
        assert!(signed("s3cret", body, &sign("s3cret", body)));
        assert!(!signed("other", body, &sign("s3cret", body)));
        assert!(!signed("s3cret", br#"{"action":"submitted" }"#, &sign("s3cret", body)));
        assert!(!signed("s3cret", body, ""));
        assert!(!signed("s3cret", body, "sha256=zz"));
        assert!(!signed("s3cret", body, &sign("s3cret", body).replace("sha256=", "sha1=")));
    }

    fn delivery(extra: serde_json::Value) -> Vec<u8> {
        let mut base = serde_json::json!({
            "repository": {"full_name": "acme/payments-api"},
            "pull_request": {"number": 7, "merged": false},
            "sender": {"login": "carol-gh"}
        });
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        base.to_string().into_bytes()
    }

    #[test]
    fn reviews_line_comments_and_merges_become_typed_events_and_the_rest_is_ignored() {
        let review = delivery(serde_json::json!({"action": "submitted", "review":
            {"id": 41, "user": {"login": "carol-gh"}, "state": "APPROVED", "body": null, "commit_id": "abc"}}));
        assert_eq!(
            parse("pull_request_review", &review).unwrap(),
            Some(CodeHostEvent::Review {
                repo: "acme/payments-api".into(),
                number: 7,
                id: 41,
                login: "carol-gh".into(),
                verdict: Verdict::Approve,
                body: String::new(),
                commit: "abc".into()
            })
        );
        let comment = delivery(serde_json::json!({"action": "created", "comment":
            {"id": 42, "user": {"login": "carol-gh"}, "path": "coupons.sh", "line": 3, "body": "why 12?"}}));
        assert!(matches!(
            parse("pull_request_review_comment", &comment).unwrap(),
            Some(CodeHostEvent::LineComment { line: 3, .. })
        ));
        let outdated = delivery(serde_json::json!({"action": "created", "comment":
            {"id": 43, "user": {"login": "carol-gh"}, "path": "coupons.sh", "line": null, "body": "gone"}}));
        assert_eq!(parse("pull_request_review_comment", &outdated).unwrap(), None);
        let mut merged: serde_json::Value =
            serde_json::from_slice(&delivery(serde_json::json!({"action": "closed"}))).unwrap();
        merged["pull_request"]["merged"] = true.into();
        assert!(matches!(
            parse("pull_request", merged.to_string().as_bytes()).unwrap(),
            Some(CodeHostEvent::Merged { number: 7, .. })
        ));
        let closed = delivery(serde_json::json!({"action": "closed"}));
        assert_eq!(parse("pull_request", &closed).unwrap(), None, "closed without a merge");
        let dismissed = delivery(serde_json::json!({"action": "dismissed", "review":
            {"id": 41, "user": {"login": "carol-gh"}, "state": "DISMISSED", "commit_id": "abc"}}));
        assert_eq!(parse("pull_request_review", &dismissed).unwrap(), None);
        assert_eq!(parse("ping", b"{\"zen\": \"Keep it logically awesome.\"}").unwrap(), None);
        assert!(parse("pull_request_review", b"{\"action\": 3}").is_err(), "malformed");
    }
}
