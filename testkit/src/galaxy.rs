//! A stand-in for the Scalar Galaxy API (`testkit/specs/scalar-galaxy-3.1.yaml`), the
//! API a generated skill calls in the tests: planets listed a page at a time
//! (`limit`/`offset`, with `meta`), created, fetched and deleted, behind a bearer token.
//! It answers the way the spec says, errors included (401 without the token, 400 for a
//! body without a name, 404 for a planet that is not there), and records every request.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub authorization: Option<String>,
    pub body: String,
}

struct World {
    token: String,
    planets: Vec<Value>,
    next_id: u64,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct FakeGalaxy {
    /// The API base, e.g. `http://127.0.0.1:PORT`.
    pub base_url: String,
    world: Arc<Mutex<World>>,
}

impl FakeGalaxy {
    /// A galaxy with Mars and Venus, that lets in requests bearing `token`.
    pub async fn start(token: &str) -> anyhow::Result<Self> {
        let planets = vec![
            json!({"id": 1, "name": "Mars", "description": "The red planet", "type": "terrestrial"}),
            json!({"id": 2, "name": "Venus", "description": null, "type": "terrestrial"}),
        ];
        let world = Arc::new(Mutex::new(World { token: token.to_owned(), planets, next_id: 3, received: Vec::new() }));
        let app = axum::Router::new()
            .route("/planets", get(list).post(create))
            .route("/planets/{id}", get(fetch).delete(remove))
            .layer(axum::middleware::from_fn_with_state(world.clone(), record))
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { base_url, world })
    }

    /// Every request received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.world.lock().unwrap().received.clone()
    }

    /// The planets there are now.
    pub fn planets(&self) -> Vec<Value> {
        self.world.lock().unwrap().planets.clone()
    }
}

/// Records the request, then lets it in only with the bearer token.
async fn record(
    State(world): State<Arc<Mutex<World>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let allowed = {
        let mut world = world.lock().unwrap();
        world.received.push(Received {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            authorization: authorization.clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
        authorization.as_deref() == Some(format!("Bearer {}", world.token).as_str())
    };
    if !allowed {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized", "A valid bearer token is required.");
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// An error as the Galaxy API writes one (RFC 7807 problem details).
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (status, Json(json!({"type": "https://example.com/errors/generic", "title": title, "status": status.as_u16(), "detail": detail})))
        .into_response()
}

async fn list(State(world): State<Arc<Mutex<World>>>, Query(page): Query<Vec<(String, String)>>) -> Response {
    let number = |name: &str, default: usize| -> Result<usize, String> {
        match page.iter().find(|(key, _)| key == name) {
            None => Ok(default),
            Some((_, value)) => value.parse().map_err(|_| format!("`{name}` must be a non-negative integer")),
        }
    };
    let (limit, offset) = match (number("limit", 10), number("offset", 0)) {
        (Ok(limit), Ok(offset)) => (limit.clamp(1, 100), offset),
        (Err(message), _) | (_, Err(message)) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &message),
    };
    let world = world.lock().unwrap();
    let data: Vec<Value> = world.planets.iter().skip(offset).take(limit).cloned().collect();
    let total = world.planets.len();
    let next = (offset + limit < total).then(|| format!("/planets?limit={limit}&offset={}", offset + limit));
    Json(json!({"data": data, "meta": {"limit": limit, "offset": offset, "total": total, "next": next}}))
        .into_response()
}

async fn create(State(world): State<Arc<Mutex<World>>>, headers: HeaderMap, body: String) -> Response {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type", "Send application/json.");
    }
    let Ok(mut planet) = serde_json::from_str::<Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "The body is not JSON.");
    };
    if planet["name"].as_str().is_none_or(str::is_empty) {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "A planet needs a `name`.");
    }
    let mut world = world.lock().unwrap();
    planet["id"] = json!(world.next_id);
    world.next_id += 1;
    world.planets.push(planet.clone());
    (StatusCode::CREATED, Json(planet)).into_response()
}

async fn fetch(State(world): State<Arc<Mutex<World>>>, Path(id): Path<String>) -> Response {
    let world = world.lock().unwrap();
    match world.planets.iter().find(|p| p["id"].as_u64() == id.parse().ok()) {
        Some(planet) => Json(planet.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, "Not Found", &format!("No planet {id}.")),
    }
}

async fn remove(State(world): State<Arc<Mutex<World>>>, Path(id): Path<String>) -> Response {
    let mut world = world.lock().unwrap();
    let before = world.planets.len();
    world.planets.retain(|p| p["id"].as_u64() != id.parse().ok());
    if world.planets.len() == before {
        return problem(StatusCode::NOT_FOUND, "Not Found", &format!("No planet {id}."));
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_pages_creates_and_refuses_like_the_api() {
        let galaxy = FakeGalaxy::start("t0k").await.unwrap();
        let http = reqwest::Client::new();
        let url = |path: &str| format!("{}{path}", galaxy.base_url);
        let unauthorized = http.get(url("/planets")).send().await.unwrap();
        assert_eq!(unauthorized.status(), 401);
        let page: Value =
            http.get(url("/planets?limit=1&offset=1")).bearer_auth("t0k").send().await.unwrap().json().await.unwrap();
        assert_eq!(page["data"][0]["name"], "Venus");
        assert_eq!(page["meta"], json!({"limit": 1, "offset": 1, "total": 2, "next": null}));
        let nameless =
            http.post(url("/planets")).bearer_auth("t0k").json(&json!({"type": "gas"})).send().await.unwrap();
        assert_eq!(nameless.status(), 400);
        let made = http.post(url("/planets")).bearer_auth("t0k").json(&json!({"name": "Hoth"})).send().await.unwrap();
        assert_eq!(made.status(), 201);
        assert_eq!(http.get(url("/planets/3")).bearer_auth("t0k").send().await.unwrap().status(), 200);
        assert_eq!(http.delete(url("/planets/9")).bearer_auth("t0k").send().await.unwrap().status(), 404);
        assert_eq!(galaxy.planets().len(), 3);
        assert_eq!(galaxy.received().len(), 6);
    }
}
