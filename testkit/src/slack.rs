//! A stateful stand-in for Slack: the Web API methods Nova calls (with Slack's JSON
//! shapes, `ok: false` errors, token checks and 429 + `Retry-After`), a workspace of
//! channels, threads, messages and their edit history, modals opened from fresh
//! trigger ids, and Socket Mode. It delivers events, clicks, form submissions and
//! slash commands to Nova signed the way Slack signs them, can redeliver them like
//! Slack's retries, and records everything Nova did for assertions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt as _;
use futures::{SinkExt as _, StreamExt as _};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, watch};

pub const BOT_USER: &str = "UNOVA";
pub const BOT_ID: &str = "BNOVA";
pub const TEAM: &str = "T0NOVA";
/// How long a trigger id from an interaction can open a modal (Slack: 3 s).
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);
/// Methods that write, and so can be rate-limited by [`FakeSlack::rate_limit`].
const WRITE_METHODS: &[&str] = &["chat.postMessage", "chat.update", "chat.postEphemeral"];

/// A message in a channel, with every earlier version of it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub user: String,
    pub from_bot: bool,
    pub text: String,
    pub blocks: Value,
    /// (text, blocks) before each edit, oldest first.
    pub history: Vec<(String, Value)>,
    /// When the stand-in took the message (benchmarks time Nova's answers by it).
    pub posted_at: Instant,
}

impl Posted {
    /// The root of the thread this message is in.
    pub fn root(&self) -> &str {
        self.thread_ts.as_deref().unwrap_or(&self.ts)
    }

    /// Button action ids and values on the message.
    pub fn buttons(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for block in self.blocks.as_array().into_iter().flatten() {
            for element in block["elements"].as_array().into_iter().flatten() {
                if element["type"] == "button" {
                    out.push((
                        element["text"]["text"].as_str().unwrap_or_default().to_owned(),
                        element["action_id"].as_str().unwrap_or_default().to_owned(),
                        element["value"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub thread_ts: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct OpenedView {
    pub id: String,
    pub user: String,
    pub view: Value,
}

/// One Web API call as Nova made it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// `ok`, an error code, or `ratelimited`.
    pub outcome: String,
}

#[derive(Default)]
struct Workspace {
    channels: BTreeMap<String, (String, bool)>,
    messages: Vec<Posted>,
    ephemerals: Vec<Ephemeral>,
    views: Vec<OpenedView>,
    triggers: HashMap<String, (String, Instant)>,
    calls: Vec<Call>,
    rate_limits: VecDeque<u64>,
    /// Posts to make whose answers are then lost (see [`FakeSlack::lose_post_answers`]).
    lost_post_answers: usize,
    clock: u64,
    socket: Option<mpsc::UnboundedSender<String>>,
    socket_acks: Vec<Value>,
    socket_connections: u32,
    /// Nova's answers to the echoes of its own posts.
    echo_statuses: Vec<u16>,
}

impl Workspace {
    /// A message timestamp as Slack makes them: the time in microseconds, `seconds.micros`,
    /// unique and increasing within the workspace.
    fn next_ts(&mut self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.clock = (self.clock + 1).max(now.as_micros() as u64);
        format!("{}.{:06}", self.clock / 1_000_000, self.clock % 1_000_000)
    }
}

struct Shared {
    workspace: Mutex<Workspace>,
    changed: watch::Sender<u64>,
    bot_token: String,
    app_token: String,
    signing_secret: String,
    base: String,
    nova_url: Mutex<Option<String>>,
    /// Deliver `message` events for Nova's own posts back to Nova, as Slack does for
    /// apps subscribed to channel messages (where self-wake loops come from).
    echo_own_posts: std::sync::atomic::AtomicBool,
    http: reqwest::Client,
}

impl Shared {
    fn nova(&self, path: &str) -> String {
        format!("{}{path}", self.nova_url.lock().unwrap().as_deref().expect("call connect() with Nova's URL first"))
    }

    fn events_for(&self, channel: &str, ts: &str) -> Vec<Value> {
        let w = self.workspace.lock().unwrap();
        let message = w.messages.iter().find(|m| m.channel == channel && m.ts == ts).expect("message exists").clone();
        let is_im = w.channels.get(channel).is_some_and(|c| c.1);
        drop(w);
        let mut event = json!({
            "type": "message",
            "channel": channel,
            "channel_type": if is_im { "im" } else { "channel" },
            "text": message.text,
            "ts": message.ts,
            "event_ts": message.ts,
        });
        if message.from_bot {
            event["bot_id"] = json!(BOT_ID);
            event["user"] = json!(BOT_USER);
        } else {
            event["user"] = json!(message.user);
        }
        if let Some(thread_ts) = &message.thread_ts {
            event["thread_ts"] = json!(thread_ts);
        }
        let mut events = vec![callback(event.clone())];
        if message.text.contains(&format!("<@{BOT_USER}>")) && !message.from_bot {
            let mut mention = event;
            mention["type"] = json!("app_mention");
            mention.as_object_mut().unwrap().remove("channel_type");
            events.push(callback(mention));
        }
        events
    }

    /// Posts a signed body to Nova; returns its status and JSON answer.
    async fn deliver(&self, path: &str, content_type: &str, body: Vec<u8>, retry: Option<u32>) -> (u16, Value) {
        let timestamp = now_secs();
        let mut request = self
            .http
            .post(self.nova(path))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", sign(&self.signing_secret, timestamp, &body));
        if let Some(attempt) = retry {
            request =
                request.header("x-slack-retry-num", attempt.to_string()).header("x-slack-retry-reason", "http_timeout");
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn change<T>(&self, edit: impl FnOnce(&mut Workspace) -> T) -> T {
        let out = edit(&mut self.workspace.lock().unwrap());
        self.changed.send_modify(|n| *n += 1);
        out
    }
}

#[derive(Clone)]
pub struct FakeSlack {
    /// What Nova's `SLACK_API_URL` should be.
    pub api_url: String,
    pub signing_secret: String,
    pub bot_token: String,
    pub app_token: String,
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl FakeSlack {
    /// A workspace with the given channels (`(id, name)`), plus a DM channel `D1`.
    pub async fn start(channels: &[(&str, &str)]) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut workspace = Workspace::default();
        for (id, name) in channels {
            workspace.channels.insert((*id).to_owned(), ((*name).to_owned(), false));
        }
        workspace.channels.insert("D1".to_owned(), (String::new(), true));
        let shared = Arc::new(Shared {
            workspace: Mutex::new(workspace),
            changed: watch::channel(0).0,
            bot_token: format!("xoxb-{}", uuid::Uuid::new_v4().simple()),
            app_token: format!("xapp-{}", uuid::Uuid::new_v4().simple()),
            signing_secret: format!("secret-{}", uuid::Uuid::new_v4().simple()),
            base: base.clone(),
            nova_url: Mutex::new(None),
            echo_own_posts: std::sync::atomic::AtomicBool::new(true),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .route("/api/{method}", any(api))
            .route("/socket", get(socket))
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self {
            api_url: format!("{base}/api"),
            signing_secret: shared.signing_secret.clone(),
            bot_token: shared.bot_token.clone(),
            app_token: shared.app_token.clone(),
            shared,
            http: reqwest::Client::new(),
        })
    }

    /// Where Nova listens (`http://…`), for deliveries.
    pub fn connect(&self, nova_url: &str) {
        *self.shared.nova_url.lock().unwrap() = Some(nova_url.trim_end_matches('/').to_owned());
    }

    /// Whether Nova's own posts come back to it as events (on by default, like Slack).
    pub fn echo_own_posts(&self, on: bool) {
        self.shared.echo_own_posts.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn nova(&self, path: &str) -> String {
        self.shared.nova(path)
    }

    /// The next `count` write calls answer 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, count: usize, retry_after_secs: u64) {
        self.shared.change(|w| w.rate_limits.extend(std::iter::repeat_n(retry_after_secs, count)));
    }

    /// The next `count` posts are made, but their answers are lost: Slack answers 500
    /// after posting, as when it times out on its side. The caller sees a failure though
    /// the message is in the channel.
    pub fn lose_post_answers(&self, count: usize) {
        self.shared.change(|w| w.lost_post_answers += count);
    }

    // ---- what people do -------------------------------------------------------------

    /// A person writes a top-level message; Slack delivers `message` (and `app_mention`
    /// if it mentions Nova). Returns the message's ts and Nova's answers' statuses.
    pub async fn user_says(&self, channel: &str, user: &str, text: &str) -> (String, Vec<u16>) {
        self.user_posts(channel, None, user, text).await
    }

    /// A person replies in a thread.
    pub async fn user_replies(&self, channel: &str, thread_ts: &str, user: &str, text: &str) -> (String, Vec<u16>) {
        self.user_posts(channel, Some(thread_ts), user, text).await
    }

    async fn user_posts(&self, channel: &str, thread_ts: Option<&str>, user: &str, text: &str) -> (String, Vec<u16>) {
        let ts = self.add_message(channel, thread_ts, user, text);
        let mut statuses = Vec::new();
        for event in self.events_for(channel, &ts) {
            statuses.push(self.deliver_event(&event).await);
        }
        (ts, statuses)
    }

    /// Adds a person's message without delivering anything (history Nova has not seen).
    pub fn add_message(&self, channel: &str, thread_ts: Option<&str>, user: &str, text: &str) -> String {
        self.shared.change(|w| {
            let ts = w.next_ts();
            w.messages.push(Posted {
                channel: channel.to_owned(),
                ts: ts.clone(),
                thread_ts: thread_ts.map(str::to_owned),
                user: user.to_owned(),
                from_bot: false,
                text: text.to_owned(),
                blocks: Value::Null,
                history: Vec::new(),
                posted_at: Instant::now(),
            });
            ts
        })
    }

    /// The event callbacks Slack sends for a message: `message`, plus `app_mention`
    /// when the text mentions Nova. Each has its own event id.
    pub fn events_for(&self, channel: &str, ts: &str) -> Vec<Value> {
        self.shared.events_for(channel, ts)
    }
    /// Delivers an event callback signed now; returns Nova's HTTP status.
    pub async fn deliver_event(&self, body: &Value) -> u16 {
        self.deliver("/slack/events", "application/json", body.to_string().into_bytes(), None).await.0
    }

    /// Delivers it again as Slack's retry number `attempt` does.
    pub async fn redeliver_event(&self, body: &Value, attempt: u32) -> u16 {
        self.deliver("/slack/events", "application/json", body.to_string().into_bytes(), Some(attempt)).await.0
    }

    /// Posts `body` signed at `timestamp` with `secret`, then lets `tamper` change the body
    /// after signing: what forgers and replayers do. Returns Nova's status.
    pub async fn deliver_forged(
        &self,
        body: &Value,
        secret: &str,
        timestamp: i64,
        tamper: impl FnOnce(&mut String),
    ) -> u16 {
        let mut raw = body.to_string();
        let signature = sign(secret, timestamp, raw.as_bytes());
        tamper(&mut raw);
        let response = self
            .http
            .post(self.nova("/slack/events"))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature)
            .body(raw)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    async fn deliver(&self, path: &str, content_type: &str, body: Vec<u8>, retry: Option<u32>) -> (u16, Value) {
        self.shared.deliver(path, content_type, body, retry).await
    }

    /// A person clicks the button labelled `label` on `message`.
    pub async fn click(&self, user: &str, message: &Posted, label: &str) -> u16 {
        let (_, action_id, value) = message
            .buttons()
            .into_iter()
            .find(|(text, _, _)| text == label)
            .unwrap_or_else(|| panic!("no button {label:?} on {message:?}"));
        let trigger_id = self.issue_trigger(user);
        let payload = json!({
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0NOVA",
            "trigger_id": trigger_id,
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
            "channel": {"id": message.channel},
            "message": {"type": "message", "ts": message.ts, "thread_ts": message.thread_ts, "text": message.text, "user": BOT_USER, "bot_id": BOT_ID},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": format!("{}.{}", now_secs(), rand_suffix())}],
        });
        self.interact(&payload).await.0
    }

    /// Submits the modal `view_id` with `values` (`block.action` → text).
    pub async fn submit_view(&self, user: &str, view_id: &str, values: &[(&str, &str)]) -> (u16, Value) {
        let view = self.views().into_iter().find(|v| v.id == view_id).expect("view was opened").view;
        let mut state: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (key, value) in values {
            let (block, action) = key.split_once('.').expect("block.action");
            state
                .entry(block.to_owned())
                .or_default()
                .insert(action.to_owned(), json!({"type": "plain_text_input", "value": value}));
        }
        let payload = json!({
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user},
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": state},
            },
        });
        self.interact(&payload).await
    }

    async fn interact(&self, payload: &Value) -> (u16, Value) {
        let form = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.deliver("/slack/interactivity", "application/x-www-form-urlencoded", form.into_bytes(), None).await
    }

    /// A person runs `/nova {text}` in `channel`; returns Nova's status and response body.
    pub async fn command(&self, user: &str, channel: &str, text: &str) -> (u16, Value) {
        let trigger_id = self.issue_trigger(user);
        let form = serde_urlencoded::to_string([
            ("token", "deprecated"),
            ("team_id", TEAM),
            ("channel_id", channel),
            ("user_id", user),
            ("command", "/nova"),
            ("text", text),
            ("response_url", "https://hooks.slack.invalid/commands/1"),
            ("trigger_id", trigger_id.as_str()),
        ])
        .unwrap();
        self.deliver("/slack/commands", "application/x-www-form-urlencoded", form.into_bytes(), None).await
    }

    fn issue_trigger(&self, user: &str) -> String {
        let id = format!("{}.{}.{}", now_secs(), rand_suffix(), rand_suffix());
        self.shared.change(|w| w.triggers.insert(id.clone(), (user.to_owned(), Instant::now())));
        id
    }

    // ---- Socket Mode ----------------------------------------------------------------

    /// Sends an envelope over the open Socket Mode connection and waits for Nova's ack.
    pub async fn send_envelope(&self, kind: &str, payload: Value) -> Value {
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let frame =
            json!({"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": true});
        self.eventually("a Socket Mode connection", |w| w.socket.clone()).await.send(frame.to_string()).unwrap();
        self.eventually("Nova's ack", |w| {
            w.socket_acks.iter().find(|a| a["envelope_id"] == envelope_id.as_str()).cloned()
        })
        .await
    }

    /// Asks the connected Nova to reconnect, as Slack does every few hours.
    pub fn disconnect_socket(&self) {
        self.shared.change(|w| {
            if let Some(socket) = w.socket.take() {
                let _ = socket.send(json!({"type": "disconnect", "reason": "refresh_requested"}).to_string());
            }
        });
    }

    /// Nova's HTTP statuses for the events that echoed its own posts.
    pub fn echo_statuses(&self) -> Vec<u16> {
        self.shared.workspace.lock().unwrap().echo_statuses.clone()
    }

    pub fn socket_connections(&self) -> u32 {
        self.shared.workspace.lock().unwrap().socket_connections
    }

    // ---- what tests read ------------------------------------------------------------

    /// For each thread Nova answered in: when its first answer arrived.
    pub fn first_answers(&self) -> HashMap<String, Instant> {
        let mut first = HashMap::new();
        for m in self.shared.workspace.lock().unwrap().messages.iter().filter(|m| m.from_bot) {
            if let Some(root) = &m.thread_ts {
                first.entry(root.clone()).or_insert(m.posted_at);
            }
        }
        first
    }

    pub fn messages(&self) -> Vec<Posted> {
        self.shared.workspace.lock().unwrap().messages.clone()
    }

    /// A thread, root first, in the order Slack shows it.
    pub fn thread(&self, channel: &str, root: &str) -> Vec<Posted> {
        let mut messages: Vec<Posted> =
            self.messages().into_iter().filter(|m| m.channel == channel && m.root() == root).collect();
        messages.sort_by(|a, b| a.ts.cmp(&b.ts));
        messages
    }

    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.shared.workspace.lock().unwrap().ephemerals.clone()
    }

    pub fn views(&self) -> Vec<OpenedView> {
        self.shared.workspace.lock().unwrap().views.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.workspace.lock().unwrap().calls.clone()
    }

    /// A signal that fires on every change to the workspace.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Waits until `check` finds something, re-checking after every change to the
    /// workspace; panics after a generous guard.
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&FakeSlack) -> Option<T>) -> T {
        crate::wait_until(self.shared.changed.subscribe(), what, || check(self)).await
    }

    async fn eventually<T>(&self, what: &str, check: impl Fn(&Workspace) -> Option<T>) -> T {
        self.wait_for(what, |slack| check(&slack.shared.workspace.lock().unwrap())).await
    }
}

fn callback(event: Value) -> Value {
    json!({
        "token": "deprecated",
        "team_id": TEAM,
        "api_app_id": "A0NOVA",
        "type": "event_callback",
        "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()),
        "event_time": now_secs(),
        "event": event,
    })
}

/// Slack's request signature: `v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

// ---- the Web API --------------------------------------------------------------------

fn ok(body: Value) -> Response {
    let mut body = body;
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn error(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut params: Value = json!(query);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !body.is_empty() {
        let parsed = if content_type.starts_with("application/json") {
            serde_json::from_slice::<Value>(&body).ok()
        } else {
            serde_urlencoded::from_bytes::<HashMap<String, String>>(&body).ok().map(|form| json!(form))
        };
        let Some(Value::Object(fields)) = parsed else {
            return error("invalid_form_data");
        };
        for (k, v) in fields {
            params[k] = v;
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let (outcome, mut response) = answer(&shared, &method, &token, &params);
    if method == "chat.postMessage" && outcome == "ok" {
        let mut w = shared.workspace.lock().unwrap();
        if w.lost_post_answers > 0 {
            w.lost_post_answers -= 1;
            response = (StatusCode::INTERNAL_SERVER_ERROR, "upstream request timeout").into_response();
        }
    }
    if method == "chat.postMessage"
        && outcome == "ok"
        && shared.echo_own_posts.load(std::sync::atomic::Ordering::SeqCst)
    {
        let posted = shared.workspace.lock().unwrap().messages.last().map(|m| (m.channel.clone(), m.ts.clone()));
        if let Some((channel, ts)) = posted {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                for event in shared.events_for(&channel, &ts) {
                    let (status, _) =
                        shared.deliver("/slack/events", "application/json", event.to_string().into_bytes(), None).await;
                    shared.change(|w| w.echo_statuses.push(status));
                }
            });
        }
    }
    shared.change(|w| w.calls.push(Call { method: method.clone(), params, outcome }));
    response
}

fn answer(shared: &Shared, method: &str, token: &str, params: &Value) -> (String, Response) {
    let expected = if method == "apps.connections.open" { &shared.app_token } else { &shared.bot_token };
    if token.is_empty() {
        return ("not_authed".into(), error("not_authed"));
    }
    if token != expected {
        return ("invalid_auth".into(), error("invalid_auth"));
    }
    let mut w = shared.workspace.lock().unwrap();
    if WRITE_METHODS.contains(&method)
        && let Some(retry_after) = w.rate_limits.pop_front()
    {
        let response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            axum::Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
        return ("ratelimited".into(), response);
    }
    let text = |key: &str| params[key].as_str().map(str::to_owned);
    let result = match method {
        "auth.test" => Ok(json!({
            "url": "https://nova-test.slack.invalid/", "team": "Nova Test", "user": "nova",
            "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
        })),
        "conversations.info" => match text("channel").and_then(|id| w.channels.get(&id).cloned().map(|c| (id, c))) {
            Some((id, (name, is_im))) => {
                let mut channel = json!({"id": id, "created": 1_600_000_000, "is_channel": !is_im, "is_im": is_im});
                if !is_im {
                    channel["name"] = json!(name);
                    channel["name_normalized"] = json!(name);
                }
                Ok(json!({ "channel": channel }))
            }
            None => Err("channel_not_found"),
        },
        "conversations.replies" => {
            let (channel, ts) = (text("channel").unwrap_or_default(), text("ts").unwrap_or_default());
            let mut thread: Vec<&Posted> =
                w.messages.iter().filter(|m| m.channel == channel && m.root() == ts).collect();
            thread.sort_by(|a, b| a.ts.cmp(&b.ts));
            // `oldest` (inclusive with `inclusive`), `limit` and `cursor`, as Slack reads
            // them; the thread's root comes first. Timestamps of one width compare as text.
            // A cursor (opaque to clients) names where the next page starts.
            let oldest = text("oldest");
            let from = text("cursor").and_then(|cursor| cursor.strip_prefix("next_ts:").map(str::to_owned));
            let inclusive = text("inclusive").is_some_and(|value| value == "true" || value == "1");
            let limit = text("limit").and_then(|limit| limit.parse().ok()).unwrap_or(1000);
            let after_oldest = |m: &&&Posted| {
                m.ts == ts || oldest.as_ref().is_none_or(|oldest| m.ts > *oldest || (inclusive && m.ts == *oldest))
            };
            let on_page = |m: &&&Posted| from.as_ref().is_none_or(|from| m.ts >= *from);
            if thread.is_empty() {
                Err("thread_not_found")
            } else if text("cursor").is_some() && from.is_none() {
                Err("invalid_cursor")
            } else {
                let shown: Vec<&&Posted> = thread.iter().filter(after_oldest).filter(on_page).collect();
                let next = shown.get(limit).map(|m| format!("next_ts:{}", m.ts));
                let messages: Vec<Value> = shown
                    .iter()
                    .take(limit)
                    .map(|m| {
                        let mut v = json!({"type": "message", "ts": m.ts, "text": m.text, "thread_ts": m.root()});
                        if !m.blocks.is_null() {
                            v["blocks"] = m.blocks.clone();
                        }
                        if m.from_bot {
                            v["bot_id"] = json!(BOT_ID);
                        }
                        v["user"] = json!(m.user);
                        v
                    })
                    .collect();
                let has_more = next.is_some();
                Ok(json!({
                    "messages": messages, "has_more": has_more,
                    "response_metadata": {"next_cursor": next.unwrap_or_default()},
                }))
            }
        }
        "chat.postMessage" => {
            let channel = text("channel").unwrap_or_default();
            let thread_ts = text("thread_ts");
            let body = text("text").unwrap_or_default();
            let blocks = params.get("blocks").cloned().unwrap_or(Value::Null);
            if !w.channels.contains_key(&channel) {
                Err("channel_not_found")
            } else if body.is_empty() && blocks.is_null() {
                Err("no_text")
            } else if thread_ts.as_ref().is_some_and(|t| !w.messages.iter().any(|m| m.channel == channel && &m.ts == t))
            {
                Err("thread_not_found")
            } else {
                let ts = w.next_ts();
                w.messages.push(Posted {
                    channel: channel.clone(),
                    ts: ts.clone(),
                    thread_ts: thread_ts.clone(),
                    user: BOT_USER.to_owned(),
                    from_bot: true,
                    text: body.clone(),
                    blocks,
                    history: Vec::new(),
                    posted_at: Instant::now(),
                });
                Ok(json!({
                    "channel": channel, "ts": ts,
                    "message": {"type": "message", "ts": ts, "thread_ts": thread_ts, "text": body, "user": BOT_USER, "bot_id": BOT_ID},
                }))
            }
        }
        "chat.update" => {
            let (channel, ts) = (text("channel").unwrap_or_default(), text("ts").unwrap_or_default());
            let body = text("text").unwrap_or_default();
            let blocks = params.get("blocks").cloned().unwrap_or(Value::Null);
            match w.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) {
                None => Err("message_not_found"),
                Some(m) if !m.from_bot => Err("cant_update_message"),
                Some(m) => {
                    let before =
                        (std::mem::replace(&mut m.text, body.clone()), std::mem::replace(&mut m.blocks, blocks));
                    m.history.push(before);
                    Ok(
                        json!({"channel": channel, "ts": ts, "text": body, "message": {"text": body, "user": BOT_USER, "bot_id": BOT_ID}}),
                    )
                }
            }
        }
        "chat.postEphemeral" => {
            let channel = text("channel").unwrap_or_default();
            if !w.channels.contains_key(&channel) {
                Err("channel_not_found")
            } else {
                let ts = w.next_ts();
                w.ephemerals.push(Ephemeral {
                    channel,
                    user: text("user").unwrap_or_default(),
                    thread_ts: text("thread_ts"),
                    text: text("text").unwrap_or_default(),
                });
                Ok(json!({ "message_ts": ts }))
            }
        }
        "views.open" => {
            let trigger = text("trigger_id").unwrap_or_default();
            match w.triggers.remove(&trigger) {
                None => Err("invalid_trigger_id"),
                Some((_, issued)) if issued.elapsed() > TRIGGER_TTL => Err("expired_trigger_id"),
                Some((user, _)) => {
                    let view = params.get("view").cloned().unwrap_or(Value::Null);
                    if view["type"] != "modal" {
                        Err("invalid_arguments")
                    } else {
                        let id = format!("V{}", rand_suffix().to_uppercase());
                        w.views.push(OpenedView { id: id.clone(), user, view: view.clone() });
                        let mut answer = view;
                        answer["id"] = json!(id);
                        answer["team_id"] = json!(TEAM);
                        answer["hash"] = json!("1.abc");
                        answer["state"] = json!({"values": {}});
                        Ok(json!({ "view": answer }))
                    }
                }
            }
        }
        "apps.connections.open" => Ok(json!({ "url": format!("{}/socket", shared.base.replace("http://", "ws://")) })),
        _ => Err("unknown_method"),
    };
    drop(w);
    match result {
        Ok(body) => ("ok".into(), ok(body)),
        Err(code) => (code.into(), error(code)),
    }
}

async fn socket(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| serve_socket(shared, ws))
}

async fn serve_socket(shared: Arc<Shared>, ws: WebSocket) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let hello = json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0NOVA"}});
    if sink.send(WsMessage::text(hello.to_string())).await.is_err() {
        return;
    }
    shared.change(|w| {
        w.socket = Some(tx);
        w.socket_connections += 1;
    });
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Some(frame) => {
                    let disconnect = frame.contains("\"disconnect\"");
                    if sink.send(WsMessage::text(frame)).await.is_err() || disconnect {
                        break;
                    }
                }
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    if let Ok(ack) = serde_json::from_str::<Value>(&text) {
                        shared.change(|w| w.socket_acks.push(ack));
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
}
