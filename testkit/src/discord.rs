//! A stateful stand-in for Discord: the REST routes Nova calls (Discord's JSON shapes,
//! error codes, token checks, 429 with `retry_after`), a server of channels, threads
//! started from messages, messages with their edit history, interaction tokens that
//! must be answered within 3 s and only once, modals, ephemeral replies and registered
//! commands; and a gateway WebSocket that speaks HELLO → IDENTIFY → READY, acks
//! heartbeats, dispatches events with sequence numbers, can drop the connection and
//! replays what was missed on RESUME.
//!
//! Interactions reach Nova over the gateway, or, like an app with an Interactions
//! Endpoint URL, as HTTP POSTs signed with Ed25519 over `timestamp + body`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt as _;
use ed25519_dalek::{Signer as _, SigningKey};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

pub const APPLICATION_ID: &str = "1100000000000000001";
pub const BOT_USER_ID: &str = "1100000000000000002";
pub const GUILD_ID: &str = "1100000000000000003";
/// Interactions must get their first response within this (Discord: 3 s).
pub const INTERACTION_TTL: Duration = Duration::from_secs(3);
/// 2015-01-01, where Discord's snowflake clock starts.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;
/// Message flag: only the person who caused it sees the message.
pub const EPHEMERAL: u64 = 1 << 6;

/// Gateway intents Nova's features depend on (Discord's bit values).
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const GUILD_MESSAGE_TYPING: u64 = 1 << 11;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    pub const DIRECT_MESSAGE_TYPING: u64 = 1 << 14;
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    Text,
    Dm,
    /// A public thread, started from the message with the same id.
    Thread {
        parent: String,
    },
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
}

/// A message in a channel or thread, with every earlier version of it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub id: String,
    pub channel: String,
    pub author: String,
    pub from_bot: bool,
    pub content: String,
    pub components: Value,
    /// (content, components) before each edit, oldest first.
    pub history: Vec<(String, Value)>,
    /// Set for a reply to an interaction that only its user sees.
    pub ephemeral_for: Option<String>,
    /// Whom posting it notified: `everyone`, `here`, `user:<id>`, `role:<id>`.
    pub pinged: Vec<String>,
}

impl Posted {
    /// Buttons on the message: (label, custom id, style).
    pub fn buttons(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for row in self.components.as_array().into_iter().flatten() {
            for component in row["components"].as_array().into_iter().flatten() {
                if component["type"] == 2 {
                    out.push((
                        component["label"].as_str().unwrap_or_default().to_owned(),
                        component["custom_id"].as_str().unwrap_or_default().to_owned(),
                        component["style"].as_u64().unwrap_or_default(),
                    ));
                }
            }
        }
        out
    }
}

/// A modal Nova opened in answer to an interaction.
#[derive(Debug, Clone)]
pub struct OpenedModal {
    pub user: String,
    pub channel: String,
    pub data: Value,
}

/// One REST call as Nova made it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The HTTP status Nova got.
    pub status: u16,
}

#[derive(Debug, Clone)]
struct IssuedInteraction {
    user: String,
    channel: String,
    created: Instant,
    /// The message a component was on (for "update message" responses).
    message: Option<String>,
    responded: bool,
    /// The reply message created by the response, for `@original` edits.
    original: Option<String>,
}

/// How interactions reach Nova.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Gateway,
    /// Signed HTTP POSTs to Nova's interactions endpoint.
    Endpoint,
}

#[derive(Default)]
struct Session {
    id: String,
    seq: u64,
    /// Every dispatch of the session, for RESUME.
    log: Vec<(u64, Value)>,
    intents: u64,
}

#[derive(Default)]
struct Server {
    channels: BTreeMap<String, Channel>,
    messages: Vec<Posted>,
    modals: Vec<OpenedModal>,
    interactions: HashMap<String, (String, IssuedInteraction)>,
    /// Each interaction's responses as Nova sent them (callback bodies).
    responses: Vec<(String, Value)>,
    commands: Vec<Value>,
    calls: Vec<Call>,
    /// Upcoming 429s: `retry_after` seconds each.
    rate_limits: VecDeque<f64>,
    /// Messages created with `enforce_nonce`, by (channel, nonce): the same create again
    /// answers with the first message instead of a second one, as Discord does for a
    /// few minutes.
    nonces: HashMap<(String, String), (usize, std::time::Instant)>,
    next_id: u64,
    session: Option<Session>,
    /// The live gateway connection, if any.
    gateway: Option<mpsc::UnboundedSender<WsMessage>>,
    identifies: u32,
    resumes: u32,
    heartbeats: u32,
}

impl Server {
    /// Discord's ids: milliseconds since 2015 in the high bits, so an id tells when
    /// its message was written; strictly increasing.
    fn snowflake(&mut self) -> String {
        let since_epoch = (chrono::Utc::now().timestamp_millis() - DISCORD_EPOCH_MS).max(0) as u64;
        self.next_id = (since_epoch << 22).max(self.next_id + 1);
        self.next_id.to_string()
    }

    /// Queues an event on the session (if any) and sends it if connected.
    fn dispatch(&mut self, kind: &str, data: Value) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "s": session.seq, "t": kind, "d": data});
        session.log.push((session.seq, frame.clone()));
        if let Some(gateway) = &self.gateway {
            let _ = gateway.send(WsMessage::text(frame.to_string()));
        }
    }

    fn intents(&self) -> u64 {
        self.session.as_ref().map(|s| s.intents).unwrap_or_default()
    }

    fn guild_of(&self, channel: &str) -> Option<&'static str> {
        match self.channels.get(channel).map(|c| &c.kind) {
            Some(ChannelKind::Dm) | None => None,
            _ => Some(GUILD_ID),
        }
    }

    fn message_json(&self, message: &Posted) -> Value {
        let mut mentions = Vec::new();
        if message.content.contains(&format!("<@{BOT_USER_ID}>")) {
            mentions.push(user_json(BOT_USER_ID, true));
        }
        let mut value = json!({
            "id": message.id,
            "channel_id": message.channel,
            "author": user_json(&message.author, message.from_bot),
            "content": message.content,
            "timestamp": timestamp(),
            "edited_timestamp": if message.history.is_empty() { Value::Null } else { json!(timestamp()) },
            "tts": false,
            "mention_everyone": false,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "type": 0,
            "flags": if message.ephemeral_for.is_some() { EPHEMERAL } else { 0 },
            "components": message.components,
        });
        if let Some(guild) = self.guild_of(&message.channel) {
            value["guild_id"] = json!(guild);
        }
        value
    }

    fn channel_json(&self, channel: &Channel) -> Value {
        match &channel.kind {
            ChannelKind::Dm => json!({
                "id": channel.id, "type": 1, "last_message_id": null,
                "recipients": [user_json("1100000000000000099", false)],
            }),
            ChannelKind::Text => json!({
                "id": channel.id, "type": 0, "guild_id": GUILD_ID, "name": channel.name, "position": 0,
                "permission_overwrites": [], "nsfw": false, "parent_id": null,
            }),
            ChannelKind::Thread { parent } => json!({
                "id": channel.id, "type": 11, "guild_id": GUILD_ID, "name": channel.name, "parent_id": parent,
                "owner_id": BOT_USER_ID, "message_count": 0, "member_count": 1,
                "thread_metadata": {"archived": false, "auto_archive_duration": 1440, "archive_timestamp": timestamp(), "locked": false},
            }),
        }
    }
}

struct Shared {
    server: Mutex<Server>,
    changed: watch::Sender<u64>,
    token: String,
    signing: SigningKey,
    base: String,
    delivery: Mutex<Delivery>,
    nova_url: Mutex<Option<String>>,
    heartbeat_interval_ms: u64,
}

impl Shared {
    fn change<T>(&self, f: impl FnOnce(&mut Server) -> T) -> T {
        let out = f(&mut self.server.lock().unwrap());
        self.changed.send_modify(|n| *n += 1);
        out
    }

    fn nova(&self, path: &str) -> String {
        format!("{}{path}", self.nova_url.lock().unwrap().as_deref().expect("call connect() with Nova's URL first"))
    }
}

/// The DM channel between Nova and people.
pub const DM_CHANNEL: &str = "1100000000000000010";

/// A Discord server with one guild, for one test.
pub struct FakeDiscord {
    /// What `DISCORD_API_URL` should be (serenity appends `/api/v10/...`).
    pub api_url: String,
    pub token: String,
    /// The application's public key, hex, for `DISCORD_PUBLIC_KEY`.
    pub public_key: String,
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl FakeDiscord {
    /// A guild with the given text channels (`(id, name)`), plus the DM channel [`DM_CHANNEL`].
    pub async fn start(channels: &[(&str, &str)]) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut server = Server::default();
        for (id, name) in channels {
            let channel = Channel { id: (*id).to_owned(), name: (*name).to_owned(), kind: ChannelKind::Text };
            server.channels.insert(channel.id.clone(), channel);
        }
        server.channels.insert(
            DM_CHANNEL.to_owned(),
            Channel { id: DM_CHANNEL.to_owned(), name: String::new(), kind: ChannelKind::Dm },
        );
        let shared = Arc::new(Shared {
            server: Mutex::new(server),
            changed: watch::channel(0).0,
            token: format!("MTEw.{}.fake", uuid::Uuid::new_v4().simple()),
            signing: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
            base: base.clone(),
            delivery: Mutex::new(Delivery::Gateway),
            nova_url: Mutex::new(None),
            // Short, so that every story sees heartbeats and their acks.
            heartbeat_interval_ms: 1000,
        });
        let app = axum::Router::new()
            .route("/api/v10/{*path}", any(rest))
            .route("/gateway", get(gateway))
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self {
            api_url: base,
            token: shared.token.clone(),
            public_key: hex::encode(shared.signing.verifying_key().as_bytes()),
            shared,
            http: reqwest::Client::new(),
        })
    }

    /// Where Nova listens (`http://…`), for interactions sent to its endpoint.
    pub fn connect(&self, nova_url: &str) {
        *self.shared.nova_url.lock().unwrap() = Some(nova_url.trim_end_matches('/').to_owned());
    }

    /// How interactions reach Nova from now on.
    pub fn deliver_interactions(&self, delivery: Delivery) {
        *self.shared.delivery.lock().unwrap() = delivery;
    }

    /// The next `count` write calls answer 429 with this `retry_after` (seconds).
    pub fn rate_limit(&self, count: usize, retry_after_secs: f64) {
        self.shared.change(|s| s.rate_limits.extend(std::iter::repeat_n(retry_after_secs, count)));
    }

    /// Drops the gateway connection without a goodbye, as a network failure would.
    /// Events dispatched meanwhile wait in the session for a RESUME.
    pub fn drop_gateway(&self) {
        self.shared.change(|s| {
            if let Some(gateway) = s.gateway.take() {
                let _ = gateway.send(WsMessage::Close(Some(CloseFrame { code: 4000, reason: "dropped".into() })));
            }
        });
    }

    // ---- what people do -------------------------------------------------------------

    /// A person writes in a channel (or thread, or the DM); Nova gets MESSAGE_CREATE.
    pub fn say(&self, channel: &str, user: &str, content: &str) -> String {
        self.shared.change(|s| {
            let id = s.snowflake();
            let message = Posted {
                id: id.clone(),
                channel: channel.to_owned(),
                author: user.to_owned(),
                from_bot: false,
                content: content.to_owned(),
                components: json!([]),
                history: Vec::new(),
                ephemeral_for: None,
                pinged: Vec::new(),
            };
            let mut event = s.message_json(&message);
            // Without the MESSAGE_CONTENT intent a bot sees the text only of messages
            // that mention it and of DMs.
            let is_dm = s.guild_of(channel).is_none();
            let mentioned = content.contains(&format!("<@{BOT_USER_ID}>"));
            if s.intents() & intents::MESSAGE_CONTENT == 0 && !is_dm && !mentioned {
                event["content"] = json!("");
            }
            let needed = if is_dm { intents::DIRECT_MESSAGES } else { intents::GUILD_MESSAGES };
            s.messages.push(message);
            if s.intents() & needed != 0 {
                s.dispatch("MESSAGE_CREATE", event);
            }
            id
        })
    }

    /// A message mentioning Nova, the way Discord writes mentions.
    pub fn mention(text: &str) -> String {
        format!("<@{BOT_USER_ID}> {text}")
    }

    /// A person starts typing; Nova gets TYPING_START if it asked for typing intents.
    pub fn start_typing(&self, channel: &str, user: &str) {
        self.shared.change(|s| {
            let guild = s.guild_of(channel);
            let needed = if guild.is_some() { intents::GUILD_MESSAGE_TYPING } else { intents::DIRECT_MESSAGE_TYPING };
            if s.intents() & needed == 0 {
                return;
            }
            let mut event = json!({"channel_id": channel, "user_id": user, "timestamp": now_secs()});
            if let Some(guild) = guild {
                event["guild_id"] = json!(guild);
                event["member"] = member_json(user);
            }
            s.dispatch("TYPING_START", event);
        });
    }

    /// A person clicks the button labelled `label` on `message`. Returns the HTTP
    /// status of Nova's endpoint (or 200 for the gateway) and the interaction id.
    pub async fn click(&self, user: &str, message: &Posted, label: &str) -> (u16, String) {
        let (_, custom_id, _) = message
            .buttons()
            .into_iter()
            .find(|(l, _, _)| l == label)
            .unwrap_or_else(|| panic!("no button `{label}` on {:?}", message.buttons()));
        let message_json = self.shared.server.lock().unwrap().message_json(message);
        let data = json!({"custom_id": custom_id, "component_type": 2});
        self.interact(3, user, &message.channel, data, Some((message.id.clone(), message_json))).await
    }

    /// A person submits the modal Nova opened with these field values.
    pub async fn submit_modal(&self, user: &str, modal: &OpenedModal, values: &[(&str, &str)]) -> (u16, String) {
        let rows: Vec<Value> = values
            .iter()
            .map(|(id, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]}))
            .collect();
        let data = json!({"custom_id": modal.data["custom_id"], "components": rows});
        self.interact(5, user, &modal.channel, data, None).await
    }

    /// A person runs `/nova <text>` (the command's one string option, `command`).
    pub async fn slash(&self, user: &str, channel: &str, text: &str) -> (u16, String) {
        let registered = self.commands().into_iter().find(|c| c["name"] == "nova").expect("/nova is registered");
        let mut data = json!({"id": registered["id"], "name": "nova", "type": 1});
        if !text.is_empty() {
            data["options"] = json!([{"name": "command", "type": 3, "value": text}]);
        }
        self.interact(2, user, channel, data, None).await
    }

    async fn interact(
        &self,
        kind: u8,
        user: &str,
        channel: &str,
        data: Value,
        message: Option<(String, Value)>,
    ) -> (u16, String) {
        let (id, payload) = self.shared.change(|s| {
            let id = s.snowflake();
            let token = format!("itoken-{}", uuid::Uuid::new_v4().simple());
            let mut payload = json!({
                "id": id, "application_id": APPLICATION_ID, "type": kind, "data": data,
                "channel_id": channel, "token": token, "version": 1, "locale": "en-US",
                "entitlements": [], "attachment_size_limit": 8_388_608, "app_permissions": "0",
            });
            match s.guild_of(channel) {
                Some(guild) => {
                    payload["guild_id"] = json!(guild);
                    payload["guild_locale"] = json!("en-US");
                    payload["member"] = member_json(user);
                }
                None => payload["user"] = user_json(user, false),
            }
            if let Some((_, message)) = &message {
                payload["message"] = message.clone();
            }
            let issued = IssuedInteraction {
                user: user.to_owned(),
                channel: channel.to_owned(),
                created: Instant::now(),
                message: message.map(|(id, _)| id),
                responded: false,
                original: None,
            };
            s.interactions.insert(token.clone(), (id.clone(), issued));
            (id, payload)
        });
        let delivery = self.shared.delivery.lock().unwrap().clone();
        match delivery {
            Delivery::Gateway => {
                self.shared.change(|s| s.dispatch("INTERACTION_CREATE", payload));
                (200, id)
            }
            Delivery::Endpoint => {
                let body = payload.to_string();
                let (status, answer) = self.post_signed(&body, None).await;
                if status == 200 {
                    let token = payload["token"].as_str().unwrap().to_owned();
                    let applied = apply_response(&self.shared, &token, &answer);
                    assert!(applied.is_ok(), "Discord would reject Nova's interaction response: {applied:?}");
                }
                (status, id)
            }
        }
    }

    /// POSTs a body to Nova's interactions endpoint signed with the app's key, or with
    /// `forged` headers (signature, timestamp) instead. Returns status and JSON answer.
    pub async fn post_signed(&self, body: &str, forged: Option<(&str, &str)>) -> (u16, Value) {
        let timestamp = now_secs().to_string();
        let signature = hex::encode(self.shared.signing.sign(format!("{timestamp}{body}").as_bytes()).to_bytes());
        let (signature, timestamp) = match forged {
            Some((signature, timestamp)) => (signature.to_owned(), timestamp.to_owned()),
            None => (signature, timestamp),
        };
        let response = self
            .http
            .post(self.shared.nova("/discord/interactions"))
            .header("x-signature-ed25519", signature)
            .header("x-signature-timestamp", timestamp)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("Nova answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs like Discord: hex Ed25519 signature over `timestamp + body`.
    pub fn sign(&self, timestamp: &str, body: &str) -> String {
        hex::encode(self.shared.signing.sign(format!("{timestamp}{body}").as_bytes()).to_bytes())
    }

    // ---- what tests read ------------------------------------------------------------

    pub fn messages(&self) -> Vec<Posted> {
        self.shared.server.lock().unwrap().messages.clone()
    }

    /// The messages of a channel or thread, oldest first, ephemerals excluded.
    pub fn channel_messages(&self, channel: &str) -> Vec<Posted> {
        self.messages().into_iter().filter(|m| m.channel == channel && m.ephemeral_for.is_none()).collect()
    }

    /// Messages only `user` sees.
    pub fn ephemerals(&self, user: &str) -> Vec<Posted> {
        self.messages().into_iter().filter(|m| m.ephemeral_for.as_deref() == Some(user)).collect()
    }

    pub fn channel(&self, id: &str) -> Option<Channel> {
        self.shared.server.lock().unwrap().channels.get(id).cloned()
    }

    /// Threads, in the order they were created.
    pub fn threads(&self) -> Vec<Channel> {
        let server = self.shared.server.lock().unwrap();
        let mut threads: Vec<Channel> =
            server.channels.values().filter(|c| matches!(c.kind, ChannelKind::Thread { .. })).cloned().collect();
        threads.sort_by(|a, b| a.id.cmp(&b.id));
        threads
    }

    pub fn modals(&self) -> Vec<OpenedModal> {
        self.shared.server.lock().unwrap().modals.clone()
    }

    /// Every response Nova gave to the interaction with this id.
    pub fn responses(&self, interaction: &str) -> Vec<Value> {
        let server = self.shared.server.lock().unwrap();
        server.responses.iter().filter(|(id, _)| id == interaction).map(|(_, r)| r.clone()).collect()
    }

    pub fn commands(&self) -> Vec<Value> {
        self.shared.server.lock().unwrap().commands.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.server.lock().unwrap().calls.clone()
    }

    /// The intents of the last IDENTIFY.
    pub fn intents(&self) -> u64 {
        self.shared.server.lock().unwrap().intents()
    }

    /// (IDENTIFYs, RESUMEs, heartbeats) the gateway has seen.
    pub fn gateway_counts(&self) -> (u32, u32, u32) {
        let s = self.shared.server.lock().unwrap();
        (s.identifies, s.resumes, s.heartbeats)
    }

    pub fn gateway_connected(&self) -> bool {
        self.shared.server.lock().unwrap().gateway.is_some()
    }

    /// A signal that fires on every change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Waits until `check` finds something, re-checking after every change; panics
    /// after a generous guard.
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&FakeDiscord) -> Option<T>) -> T {
        crate::wait_until(self.shared.changed.subscribe(), what, || check(self)).await
    }
}

// ---- REST --------------------------------------------------------------------------

fn error(status: StatusCode, code: u64, message: &str) -> (StatusCode, Value) {
    (status, json!({"code": code, "message": message}))
}

/// Routes whose calls can be rate-limited by [`FakeDiscord::rate_limit`].
fn is_write(method: &Method) -> bool {
    method == Method::POST || method == Method::PATCH || method == Method::PUT
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bot {}", shared.token));
    // Interaction callbacks and webhooks are authorized by their token, not the bot's.
    let by_token = path.starts_with("interactions/") || path.starts_with("webhooks/");
    let rate_limited = if is_write(&method) && !by_token { shared.change(|s| s.rate_limits.pop_front()) } else { None };
    let (status, answer, retry_after) = if let Some(retry_after) = rate_limited {
        let answer = json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false});
        (StatusCode::TOO_MANY_REQUESTS, answer, Some(retry_after))
    } else if !authorized && !by_token {
        let (status, answer) = error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
        (status, answer, None)
    } else {
        let (status, answer) = route(&shared, &method, &path, &query, &body);
        (status, answer, None)
    };
    shared.change(|s| {
        s.calls.push(Call { method: method.to_string(), path: path.clone(), body, status: status.as_u16() })
    });
    let mut response = (status, axum::Json(answer)).into_response();
    if let Some(retry_after) = retry_after {
        let headers = response.headers_mut();
        headers.insert("retry-after", (retry_after.ceil() as u64).to_string().parse().unwrap());
        headers.insert("x-ratelimit-reset-after", retry_after.to_string().parse().unwrap());
        headers.insert("x-ratelimit-scope", "user".parse().unwrap());
    }
    if status == StatusCode::NO_CONTENT {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => {
            let url = format!("{}/gateway", shared.base.replacen("http", "ws", 1));
            (StatusCode::OK, json!({"url": url}))
        }
        ("GET", ["users", "@me"]) => (StatusCode::OK, user_json(BOT_USER_ID, true)),
        ("GET", ["guilds", guild, "channels"]) => {
            if *guild != GUILD_ID {
                return error(StatusCode::NOT_FOUND, 10004, "Unknown Guild");
            }
            let server = shared.server.lock().unwrap();
            // Threads are not listed here, as on Discord.
            let channels: Vec<Value> = server
                .channels
                .values()
                .filter(|c| c.kind == ChannelKind::Text)
                .map(|c| server.channel_json(c))
                .collect();
            (StatusCode::OK, json!(channels))
        }
        ("GET", ["channels", channel]) => {
            let server = shared.server.lock().unwrap();
            match server.channels.get(*channel) {
                Some(found) => (StatusCode::OK, server.channel_json(found)),
                None => error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"),
            }
        }
        ("GET", ["channels", channel, "messages"]) => {
            let server = shared.server.lock().unwrap();
            if !server.channels.contains_key(*channel) {
                return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
            }
            let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50).min(100);
            let newest_first: Vec<Value> = server
                .messages
                .iter()
                .rev()
                .filter(|m| m.channel == *channel && m.ephemeral_for.is_none())
                .take(limit)
                .map(|m| server.message_json(m))
                .collect();
            (StatusCode::OK, json!(newest_first))
        }
        ("POST", ["channels", channel, "messages"]) => shared.change(|s| create_message(s, channel, body, None)),
        ("PATCH", ["channels", channel, "messages", message]) => shared.change(|s| {
            let Some(index) = s.messages.iter().position(|m| m.id == *message && m.channel == *channel) else {
                return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
            };
            if !s.messages[index].from_bot {
                return error(StatusCode::FORBIDDEN, 50005, "Cannot edit a message authored by another user");
            }
            if let Err(invalid) = validate_message(body, true) {
                return invalid;
            }
            edit_message(s, index, body)
        }),
        ("POST", ["channels", channel, "messages", message, "threads"]) => shared.change(|s| {
            let Some(starter) = s.messages.iter().find(|m| m.id == *message && m.channel == *channel) else {
                return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
            };
            if !matches!(s.channels.get(*channel).map(|c| &c.kind), Some(ChannelKind::Text)) {
                return error(StatusCode::BAD_REQUEST, 50024, "Cannot execute action on this channel type");
            }
            if s.channels.contains_key(&starter.id) {
                return error(StatusCode::BAD_REQUEST, 160004, "A thread has already been created for this message");
            }
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 100 {
                return invalid_form("name", "Must be between 1 and 100 in length.");
            }
            // A thread started from a message has that message's id.
            let thread = Channel {
                id: starter.id.clone(),
                name: name.to_owned(),
                kind: ChannelKind::Thread { parent: (*channel).to_owned() },
            };
            let answer = s.channel_json(&thread);
            s.channels.insert(thread.id.clone(), thread);
            s.dispatch("THREAD_CREATE", answer.clone());
            (StatusCode::CREATED, answer)
        }),
        ("PUT", ["applications", application, "commands"]) => {
            if *application != APPLICATION_ID {
                return error(StatusCode::FORBIDDEN, 50001, "Missing Access");
            }
            shared.change(|s| {
                let Some(list) = body.as_array() else {
                    return invalid_form("", "Expected a list of commands.");
                };
                let mut registered = Vec::new();
                for command in list {
                    let mut command = command.clone();
                    command["id"] = json!(s.snowflake());
                    command["application_id"] = json!(APPLICATION_ID);
                    command["version"] = json!(s.snowflake());
                    registered.push(command);
                }
                s.commands = registered.clone();
                (StatusCode::OK, json!(registered))
            })
        }
        ("POST", ["interactions", _id, token, "callback"]) => match apply_response(shared, token, body) {
            Ok(()) => (StatusCode::NO_CONTENT, Value::Null),
            Err(refused) => refused,
        },
        ("PATCH", ["webhooks", application, token, "messages", "@original"]) if *application == APPLICATION_ID => {
            shared.change(|s| {
                let Some((_, issued)) = s.interactions.get(*token).cloned() else {
                    return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
                };
                let Some(original) = issued.original.or(issued.message) else {
                    return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
                };
                let Some(index) = s.messages.iter().position(|m| m.id == original) else {
                    return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
                };
                edit_message(s, index, body)
            })
        }
        ("POST", ["webhooks", application, token]) if *application == APPLICATION_ID => shared.change(|s| {
            let Some((_, issued)) = s.interactions.get(*token).cloned() else {
                return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
            };
            if !issued.responded {
                return error(StatusCode::BAD_REQUEST, 40060, "Interaction has not been acknowledged");
            }
            let ephemeral = body["flags"].as_u64().unwrap_or_default() & EPHEMERAL != 0;
            create_message(s, &issued.channel, body, ephemeral.then_some(issued.user))
        }),
        _ => error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
    }
}

fn invalid_form(field: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": {field: {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": message}]}}}),
    )
}

/// Discord's limits on what a message may hold.
fn validate_message(body: &Value, edit: bool) -> Result<(), (StatusCode, Value)> {
    let content = body["content"].as_str().unwrap_or_default();
    if content.chars().count() > 2000 {
        return Err(invalid_form("content", "Must be 2000 or fewer in length."));
    }
    let rows = body["components"].as_array().cloned().unwrap_or_default();
    if rows.len() > 5 {
        return Err(invalid_form("components", "Must be 5 or fewer in length."));
    }
    for row in &rows {
        let components = row["components"].as_array().cloned().unwrap_or_default();
        if row["type"] != 1 || components.is_empty() || components.len() > 5 {
            return Err(invalid_form("components", "An action row holds 1 to 5 components."));
        }
        for component in components {
            let custom_id = component["custom_id"].as_str().unwrap_or_default();
            if component["type"] == 2 && (custom_id.is_empty() || custom_id.len() > 100) {
                return Err(invalid_form("custom_id", "Must be between 1 and 100 in length."));
            }
            if component["label"].as_str().is_some_and(|l| l.chars().count() > 80) {
                return Err(invalid_form("label", "Must be 80 or fewer in length."));
            }
        }
    }
    if !edit && content.is_empty() && rows.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

/// Whom a message notifies, by Discord's rules: without `allowed_mentions`, every
/// `@everyone`/`@here`, `<@user>` and `<@&role>` in its content; with it, only the kinds
/// named in `parse` and the ids listed in `users` and `roles`.
fn pings(content: &str, allowed: Option<&Value>) -> Vec<String> {
    let mut mentioned = Vec::new();
    for broadcast in ["everyone", "here"] {
        if content.contains(&format!("@{broadcast}")) {
            mentioned.push(("everyone", broadcast.to_owned()));
        }
    }
    for part in content.split("<@").skip(1) {
        let Some((inner, _)) = part.split_once('>') else { continue };
        let (kind, id) = match inner.strip_prefix('&') {
            Some(role) => ("roles", role),
            None => ("users", inner.trim_start_matches('!')),
        };
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            mentioned.push((kind, id.to_owned()));
        }
    }
    let notifies = |kind: &str, id: &str| match allowed {
        None => true,
        Some(allowed) => {
            let listed = |key: &str, value: &str| {
                allowed[key].as_array().is_some_and(|values| values.iter().any(|v| v.as_str() == Some(value)))
            };
            listed("parse", kind) || (kind != "everyone" && listed(kind, id))
        }
    };
    mentioned
        .into_iter()
        .filter(|(kind, id)| notifies(kind, id))
        .map(|(kind, id)| match kind {
            "everyone" => id,
            "roles" => format!("role:{id}"),
            _ => format!("user:{id}"),
        })
        .collect()
}

/// How long Discord remembers an enforced nonce ("a few minutes").
const NONCE_MEMORY: Duration = Duration::from_secs(5 * 60);

fn create_message(s: &mut Server, channel: &str, body: &Value, ephemeral_for: Option<String>) -> (StatusCode, Value) {
    if !s.channels.contains_key(channel) {
        return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    }
    if let Err(invalid) = validate_message(body, false) {
        return invalid;
    }
    let nonce = match &body["nonce"] {
        Value::String(nonce) => Some(nonce.clone()),
        Value::Number(nonce) => Some(nonce.to_string()),
        _ => None,
    };
    if nonce.as_ref().is_some_and(|nonce| nonce.len() > 25) {
        return invalid_form("nonce", "Must be 25 or fewer in length.");
    }
    let enforced = nonce.filter(|_| body["enforce_nonce"] == true).map(|nonce| (channel.to_owned(), nonce));
    if let Some(key) = &enforced
        && let Some((index, at)) = s.nonces.get(key)
        && at.elapsed() < NONCE_MEMORY
    {
        return (StatusCode::OK, s.message_json(&s.messages[*index].clone()));
    }
    let message = Posted {
        id: s.snowflake(),
        channel: channel.to_owned(),
        author: BOT_USER_ID.to_owned(),
        from_bot: true,
        content: body["content"].as_str().unwrap_or_default().to_owned(),
        components: body.get("components").cloned().unwrap_or(json!([])),
        history: Vec::new(),
        ephemeral_for,
        pinged: pings(body["content"].as_str().unwrap_or_default(), body.get("allowed_mentions")),
    };
    let answer = s.message_json(&message);
    let ephemeral = message.ephemeral_for.is_some();
    s.messages.push(message);
    if let Some(key) = enforced {
        s.nonces.insert(key, (s.messages.len() - 1, std::time::Instant::now()));
    }
    // Bots receive their own messages too (where self-reply loops come from).
    if !ephemeral {
        s.dispatch("MESSAGE_CREATE", answer.clone());
    }
    (StatusCode::OK, answer)
}

fn edit_message(s: &mut Server, index: usize, body: &Value) -> (StatusCode, Value) {
    let message = &mut s.messages[index];
    message.history.push((message.content.clone(), message.components.clone()));
    if let Some(content) = body["content"].as_str() {
        message.content = content.to_owned();
    }
    if let Some(components) = body.get("components") {
        message.components = components.clone();
    }
    let message = message.clone();
    let answer = s.message_json(&message);
    if message.ephemeral_for.is_none() {
        s.dispatch("MESSAGE_UPDATE", answer.clone());
    }
    (StatusCode::OK, answer)
}

/// Applies Nova's answer to an interaction, as Discord would, or says why Discord
/// would refuse it.
fn apply_response(shared: &Shared, token: &str, body: &Value) -> Result<(), (StatusCode, Value)> {
    shared.change(|s| {
        let Some((id, issued)) = s.interactions.get(token).cloned() else {
            return Err(error(StatusCode::NOT_FOUND, 10062, "Unknown interaction"));
        };
        if issued.created.elapsed() > INTERACTION_TTL {
            return Err(error(StatusCode::NOT_FOUND, 10062, "Unknown interaction"));
        }
        if issued.responded {
            return Err(error(StatusCode::BAD_REQUEST, 40060, "Interaction has already been acknowledged."));
        }
        let data = &body["data"];
        let mut original = None;
        match body["type"].as_u64() {
            // A reply: ephemeral ones only their user sees.
            Some(4) => {
                let ephemeral = data["flags"].as_u64().unwrap_or_default() & EPHEMERAL != 0;
                let (status, answer) = create_message(s, &issued.channel, data, ephemeral.then(|| issued.user.clone()));
                if !status.is_success() {
                    return Err((status, answer));
                }
                original = answer["id"].as_str().map(str::to_owned);
            }
            // "Thinking…", edited later through `@original`.
            Some(5) => {
                let ephemeral = data["flags"].as_u64().unwrap_or_default() & EPHEMERAL != 0;
                let placeholder = json!({"content": "Nova is thinking…"});
                let (_, answer) =
                    create_message(s, &issued.channel, &placeholder, ephemeral.then(|| issued.user.clone()));
                original = answer["id"].as_str().map(str::to_owned);
            }
            // Acknowledged; the message it came from may be edited later.
            Some(6) if issued.message.is_some() => {}
            Some(7) if issued.message.is_some() => {
                let message = issued.message.clone().unwrap_or_default();
                let Some(index) = s.messages.iter().position(|m| m.id == message) else {
                    return Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
                };
                edit_message(s, index, data);
            }
            Some(9) => {
                let fields = data["components"].as_array().map(Vec::len).unwrap_or_default();
                let title = data["title"].as_str().unwrap_or_default();
                if data["custom_id"].as_str().is_none_or(str::is_empty)
                    || title.is_empty()
                    || !(1..=5).contains(&fields)
                {
                    return Err(invalid_form("data", "A modal needs a custom_id, a title and 1 to 5 rows."));
                }
                s.modals.push(OpenedModal {
                    user: issued.user.clone(),
                    channel: issued.channel.clone(),
                    data: data.clone(),
                });
            }
            _ => return Err(invalid_form("type", "Not a valid interaction response type here.")),
        }
        let entry = s.interactions.get_mut(token).expect("present");
        entry.1.responded = true;
        entry.1.original = original;
        s.responses.push((id, body.clone()));
        Ok(())
    })
}

// ---- gateway -----------------------------------------------------------------------

async fn gateway(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| serve_gateway(shared, ws))
}

async fn serve_gateway(shared: Arc<Shared>, ws: WebSocket) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.heartbeat_interval_ms}, "s": null, "t": null});
    if sink.send(WsMessage::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Some(WsMessage::Close(frame)) => {
                    let _ = sink.send(WsMessage::Close(frame)).await;
                    break;
                }
                Some(frame) => {
                    if sink.send(frame).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                        let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 4002, reason: "decode error".into() }))).await;
                        break;
                    };
                    if !on_gateway_frame(&shared, &tx, frame) {
                        let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 4004, reason: "Authentication failed.".into() }))).await;
                        break;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.change(|s| {
        if s.gateway.as_ref().is_some_and(|g| g.same_channel(&tx)) {
            s.gateway = None;
        }
    });
}

/// Handles one frame from Nova; `false` closes the connection for bad credentials.
fn on_gateway_frame(shared: &Shared, tx: &mpsc::UnboundedSender<WsMessage>, frame: Value) -> bool {
    let token_ok = |d: &Value| {
        let token = d["token"].as_str().unwrap_or_default();
        token.trim_start_matches("Bot ") == shared.token
    };
    let d = &frame["d"];
    match frame["op"].as_u64() {
        Some(1) => {
            shared.change(|s| s.heartbeats += 1);
            let _ = tx.send(WsMessage::text(json!({"op": 11, "d": null, "s": null, "t": null}).to_string()));
        }
        Some(2) => {
            if !token_ok(d) {
                return false;
            }
            shared.change(|s| {
                s.identifies += 1;
                let session_id = uuid::Uuid::new_v4().simple().to_string();
                s.session = Some(Session {
                    id: session_id.clone(),
                    seq: 0,
                    log: Vec::new(),
                    intents: d["intents"].as_u64().unwrap_or_default(),
                });
                s.gateway = Some(tx.clone());
                let ready = json!({
                    "v": 10,
                    "user": user_json(BOT_USER_ID, true),
                    "guilds": [{"id": GUILD_ID, "unavailable": true}],
                    "session_id": session_id,
                    "resume_gateway_url": format!("{}/gateway", shared.base.replacen("http", "ws", 1)),
                    "shard": [0, 1],
                    "application": {"id": APPLICATION_ID, "flags": 0},
                });
                s.dispatch("READY", ready);
            });
        }
        Some(6) => {
            if !token_ok(d) {
                return false;
            }
            let resumed = shared.change(|s| {
                let Some(session) = s.session.as_ref().filter(|session| d["session_id"] == session.id.as_str()) else {
                    return false;
                };
                let after = d["seq"].as_u64().unwrap_or_default();
                for (_, frame) in session.log.iter().filter(|(seq, _)| *seq > after) {
                    let _ = tx.send(WsMessage::text(frame.to_string()));
                }
                s.resumes += 1;
                s.gateway = Some(tx.clone());
                s.dispatch("RESUMED", json!({}));
                true
            });
            if !resumed {
                // Not resumable: the client must IDENTIFY again.
                let _ = tx.send(WsMessage::text(json!({"op": 9, "d": false, "s": null, "t": null}).to_string()));
            }
        }
        _ => {}
    }
    true
}

// ---- shapes ------------------------------------------------------------------------

fn user_json(id: &str, bot: bool) -> Value {
    let name = if bot { "nova".to_owned() } else { format!("user{}", &id[id.len().saturating_sub(4)..]) };
    json!({"id": id, "username": name, "discriminator": "0", "global_name": null, "avatar": null, "bot": bot})
}

fn member_json(user: &str) -> Value {
    json!({
        "user": user_json(user, false), "nick": null, "avatar": null, "roles": [],
        "joined_at": timestamp(), "deaf": false, "mute": false, "flags": 0, "pending": false,
    })
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_ping_unless_allowed_mentions_says_otherwise() {
        let content = "@everyone look, <@&42> and <@!7>";
        assert_eq!(pings(content, None), ["everyone", "role:42", "user:7"]);
        assert_eq!(pings(content, Some(&json!({"parse": []}))), Vec::<String>::new());
        assert_eq!(pings(content, Some(&json!({"parse": ["users"], "roles": ["42"]}))), ["role:42", "user:7"]);
        assert_eq!(pings("mail me at a@b.c <@x>", None), Vec::<String>::new());
    }
}
