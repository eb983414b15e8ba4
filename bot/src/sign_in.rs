//! Who is at the console. A person signs in with a one-time link (`nova login`), which
//! opens a session held in an `HttpOnly; SameSite=Strict` cookie; every console and API
//! handler for people takes [`SignedIn`] first. The console answers only to the host
//! names it is reached at (loopback, `public_url`, `[server] hosts`), so a web page that
//! rebinds its own name to Nova's address gets nothing.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orchestrator::Engine;
use orchestrator::config::Config;
use orchestrator::engine::people::SESSION_TTL;
use serde_json::json;

use crate::http_error::{ApiError, ApiResult};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "nova_session";

/// The person a request comes from: the first thing every people-facing handler takes.
pub struct SignedIn(pub String);

impl FromRequestParts<Arc<Engine>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, engine: &Arc<Engine>) -> Result<Self, Self::Rejection> {
        let not_signed_in = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not signed in: run `nova login` on the Nova host and open the link it prints",
            )
        };
        let token = session_token(&parts.headers).ok_or_else(not_signed_in)?;
        engine.signed_in(&token).await?.map(SignedIn).ok_or_else(not_signed_in)
    }
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Signing in and out, and who is signed in.
pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/api/me", get(me))
        .route("/api/logout", post(logout))
        .with_state(engine)
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// Opens a login link: sets the session cookie and goes to the console.
async fn login(State(engine): State<Arc<Engine>>, Query(query): Query<LoginQuery>) -> ApiResult<Response> {
    let session = match query.token.as_deref().filter(|token| !token.is_empty()) {
        Some(token) => engine.sign_in(token).await?,
        None => None,
    };
    let Some(session) = session else {
        let page = "<!doctype html><title>Nova</title><p>This sign-in link is unknown, used or expired. \
                    Run <code>nova login</code> on the Nova host for a new one.</p>";
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    };
    let secure = engine.config().server.public_url.as_deref().is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        session.token,
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to("/").into_response();
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| anyhow::anyhow!("a session cookie: {e}"))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn me(person: SignedIn) -> Json<serde_json::Value> {
    Json(json!({"person": person.0}))
}

async fn logout(State(engine): State<Arc<Engine>>, _person: SignedIn, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_token(&headers) {
        engine.sign_out(&token).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response())
}

/// The host names the console answers to: loopback, the address it listens on,
/// `public_url`'s host and `[server] hosts`.
#[derive(Debug, Clone)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn for_config(config: &Config, listening_on: std::net::SocketAddr) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        if !listening_on.ip().is_unspecified() {
            hosts.push(match listening_on {
                std::net::SocketAddr::V4(v4) => v4.ip().to_string(),
                std::net::SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            });
        }
        let public = config.server.public_url.as_deref().and_then(|url| reqwest::Url::parse(url).ok());
        hosts.extend(public.and_then(|url| url.host_str().map(str::to_owned)));
        hosts.extend(config.server.hosts.iter().cloned());
        Self(hosts.into_iter().map(|host| host.to_ascii_lowercase()).collect())
    }

    /// Whether a `Host` header (with or without a port) names one of them.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            // `[::1]:8080` or `example.com:8080`; a bare `[::1]` has its colons inside brackets.
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
            _ => host.as_str(),
        };
        self.0.iter().any(|allowed| allowed == name)
    }
}

/// Refuses a request whose `Host` the console does not answer to.
pub async fn check_host(State(allowed): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !allowed.allows(host) {
        let message = format!("this console does not answer to `{host}`: add it to [server] hosts in nova.toml");
        return ApiError::new(StatusCode::MISDIRECTED_REQUEST, message).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_answers_to_its_own_names_only() {
        let mut config = Config::demo();
        config.server.public_url = Some("https://Nova.Example.com/".into());
        config.server.hosts = vec!["nova.internal".into()];
        let allowed = AllowedHosts::for_config(&config, "127.0.0.1:8080".parse().unwrap());
        for host in
            ["127.0.0.1:8080", "localhost:8080", "localhost", "[::1]:8080", "nova.example.com", "NOVA.INTERNAL:80"]
        {
            assert!(allowed.allows(host), "{host}");
        }
        for host in ["evil.example", "evil.example:8080", "", "127.0.0.2:8080", "nova.example.com.evil.example"] {
            assert!(!allowed.allows(host), "{host}");
        }
        let on_lan = AllowedHosts::for_config(&Config::demo(), "10.0.0.5:8080".parse().unwrap());
        assert!(on_lan.allows("10.0.0.5:8080"));
        let everywhere = AllowedHosts::for_config(&Config::demo(), "0.0.0.0:8080".parse().unwrap());
        assert!(!everywhere.allows("0.0.0.0:8080"));
    }

    #[test]
    fn the_session_comes_from_its_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; nova_session=abc123; other=1"));
        assert_eq!(session_token(&headers), Some("abc123".to_owned()));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }
}
