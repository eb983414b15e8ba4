//! A stand-in for an OpenAI-compatible chat-completions server: it answers
//! `POST /v1/chat/completions` the way the real API does (the same JSON shapes, usage
//! counts, error bodies and `Retry-After`), records every request, and follows a script
//! of replies so tests can make it slow, rate-limited, broken or wrong.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};

/// How the stand-in answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A completion whose content is this JSON, serialized.
    Json(Value),
    /// A completion with this exact content (truncated JSON, prose, fences…).
    Content(String),
    /// 429 with `Retry-After`, as the API does when rate-limited.
    RateLimited,
    /// 500 with the API's error body.
    ServerError,
    /// The reply after a delay (the server is slow, the client may give up).
    Slow(Duration, Box<Reply>),
}

#[derive(Default)]
struct Script {
    next: VecDeque<Reply>,
    otherwise: Option<Reply>,
    requests: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeOpenAi {
    /// The API base to give a client, e.g. `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
}

impl FakeOpenAi {
    pub async fn start() -> anyhow::Result<Self> {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new().route("/v1/chat/completions", post(complete)).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { base_url, script })
    }

    /// Answers every request not otherwise scripted with `reply`.
    pub fn always(&self, reply: Reply) {
        self.script.lock().unwrap().otherwise = Some(reply);
    }

    /// Answers the next request with `reply` (in order of calls).
    pub fn then(&self, reply: Reply) {
        self.script.lock().unwrap().next.push_back(reply);
    }

    /// Every request body received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn complete(State(script): State<Arc<Mutex<Script>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let reply = {
        let mut script = script.lock().unwrap();
        script.requests.push(body.clone());
        script.next.pop_front().or_else(|| script.otherwise.clone())
    };
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "expected application/json");
    }
    if body["model"].as_str().is_none_or(str::is_empty) || !body["messages"].is_array() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "model and messages are required");
    }
    let Some(mut reply) = reply else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "server_error", "the stand-in has no reply scripted");
    };
    loop {
        match reply {
            Reply::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            Reply::RateLimited => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "requests", "Rate limit reached for requests");
                response.headers_mut().insert("retry-after", "1".parse().unwrap());
                return response;
            }
            Reply::ServerError => {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server had an error");
            }
            Reply::Json(value) => return completion(&body, value.to_string()),
            Reply::Content(content) => return completion(&body, content),
        }
    }
}

fn completion(request: &Value, content: String) -> Response {
    let prompt_tokens = request["messages"]
        .as_array()
        .map(|m| m.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count()).sum::<usize>())
        .unwrap_or(0);
    let completion_tokens = content.split_whitespace().count();
    Json(json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 1_763_700_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    }))
    .into_response()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS { json!("rate_limit_exceeded") } else { Value::Null };
    (status, Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))).into_response()
}
