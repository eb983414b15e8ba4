//! A stand-in for a git host over smart HTTP: `git http-backend` (git's own server, as
//! a CGI program) behind a bearer token, serving the bare repos in a directory. Fetches
//! and pushes work the way they do against a real host, and a request without the token
//! gets a 401.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use tokio::io::AsyncWriteExt as _;

struct Host {
    root: PathBuf,
    token: String,
}

pub struct FakeGitHost {
    /// The host's base URL: a repo `name.git` in the root is `{base_url}/name.git`.
    pub base_url: String,
}

impl FakeGitHost {
    /// Serves the bare repos in `root` to requests bearing `token`.
    pub async fn start(root: PathBuf, token: &str) -> anyhow::Result<Self> {
        let host = Arc::new(Host { root, token: token.to_owned() });
        let app = axum::Router::new().fallback(serve).with_state(host);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { base_url })
    }
}

async fn serve(State(host): State<Arc<Host>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(host.token.as_str()) {
        return (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer")], "authentication required").into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &host.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REMOTE_USER", "office")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot run git http-backend").into_response();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body).await;
    }
    let Ok(output) = child.wait_with_output().await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed").into_response();
    };
    cgi_response(&output.stdout)
}

/// A CGI program's output as an HTTP response: its headers (with `Status:`), a blank
/// line, its body.
fn cgi_response(out: &[u8]) -> Response {
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").map(|at| (at, 4));
    let split = split.or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2)));
    let Some((at, gap)) = split else {
        return (StatusCode::BAD_GATEWAY, "git http-backend wrote no headers").into_response();
    };
    let mut status = StatusCode::OK;
    let mut response = Response::builder();
    for line in String::from_utf8_lossy(&out[..at]).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value.split(' ').next().and_then(|code| code.parse().ok()).unwrap_or(StatusCode::BAD_GATEWAY);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response.status(status).body(axum::body::Body::from(out[at + gap..].to_vec())).unwrap_or_default().into_response()
}
