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
    /// An assistant message that calls these tools: `(name, arguments)`, with ids
    /// `call_{n}` numbered across the stand-in's life, as a model with tools answers.
    ToolCalls(Vec<(String, Value)>),
}

impl Reply {
    /// One tool call.
    pub fn tool(name: &str, arguments: Value) -> Self {
        Self::ToolCalls(vec![(name.to_owned(), arguments)])
    }
}

#[derive(Default)]
struct Script {
    next: VecDeque<Reply>,
    otherwise: Option<Reply>,
    requests: Vec<Value>,
    calls_made: usize,
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
    if let Err(message) = check_tool_messages(&body) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &message);
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
            Reply::ToolCalls(calls) => {
                if body["tools"].as_array().is_none_or(|tools| tools.is_empty()) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        "the script calls a tool, but the request offers none",
                    );
                }
                let first = {
                    let mut script = script.lock().unwrap();
                    script.calls_made += calls.len();
                    script.calls_made - calls.len()
                };
                let calls: Vec<Value> = calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| {
                        json!({"id": format!("call_{}", first + i), "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
                    })
                    .collect();
                return tool_completion(&body, calls);
            }
        }
    }
}

fn completion(request: &Value, content: String) -> Response {
    let completion_tokens = content.split_whitespace().count();
    let message = json!({"role": "assistant", "content": content, "refusal": null});
    choice(request, message, "stop", completion_tokens)
}

fn tool_completion(request: &Value, calls: Vec<Value>) -> Response {
    let completion_tokens = 10 * calls.len();
    let message = json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": calls});
    choice(request, message, "tool_calls", completion_tokens)
}

/// A chat completion with one choice, as the API shapes it.
fn choice(request: &Value, message: Value, finish_reason: &str, completion_tokens: usize) -> Response {
    let prompt_tokens = prompt_tokens(request);
    Json(json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 1_763_700_000,
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    }))
    .into_response()
}

/// As the API does: every `tool` message answers a call of the assistant message
/// before it, and every call is answered before the conversation goes on.
fn check_tool_messages(body: &Value) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    for (i, message) in body["messages"].as_array().into_iter().flatten().enumerate() {
        match message["role"].as_str() {
            Some("tool") => {
                let id = message["tool_call_id"].as_str().unwrap_or("");
                let Some(at) = open.iter().position(|call| call == id) else {
                    return Err(format!(
                        "messages[{i}]: a tool message must answer a preceding tool call (`{id}` is not one)"
                    ));
                };
                open.remove(at);
            }
            _ if !open.is_empty() => {
                return Err(format!("messages[{i}]: the tool calls {open:?} have no tool message answering them"));
            }
            Some("assistant") => {
                open = message["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|call| call["id"].as_str().map(str::to_owned))
                    .collect();
            }
            _ => {}
        }
    }
    Ok(())
}

/// Words of every message's text: a rough count, as the real usage is.
fn prompt_tokens(request: &Value) -> usize {
    request["messages"]
        .as_array()
        .map(|m| m.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count()).sum::<usize>())
        .unwrap_or(0)
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS { json!("rate_limit_exceeded") } else { Value::Null };
    (status, Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))).into_response()
}
