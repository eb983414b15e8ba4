//! A stand-in for Cloud Storage's XML API, as object_store's GCS client uses it:
//! objects put, read, checked and deleted under a bucket, with the headers GCS sends
//! (ETag, Last-Modified, `x-goog-generation`), GCS's XML errors, and bearer tokens
//! required (self-signed service-account JWTs, as object_store sends them).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::ListenerExt as _;

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub bytes: Bytes,
    pub generation: u64,
    pub updated: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Buckets {
    objects: BTreeMap<(String, String), StoredObject>,
    generation: u64,
    /// Writes to refuse with 503, for outage tests.
    failing_writes: usize,
    denied_writes: usize,
}

pub struct FakeGcs {
    /// What `store.snapshots_api_url` should be.
    pub api_url: String,
    buckets: Arc<Mutex<Buckets>>,
}

impl FakeGcs {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let buckets = Arc::new(Mutex::new(Buckets::default()));
        let app = axum::Router::new().route("/{bucket}/{*path}", any(object)).with_state(Arc::clone(&buckets));
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { api_url, buckets })
    }

    /// A service-account key file (JSON) object_store can sign its tokens with.
    pub fn service_account_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "private_key_id": "stand-in",
            "private_key": crate::gce::TEST_KEY,
            "client_email": "nova@nova-test.iam.gserviceaccount.com",
        })
        .to_string()
    }

    /// Objects in a bucket: name → object.
    pub fn objects(&self, bucket: &str) -> BTreeMap<String, StoredObject> {
        let buckets = self.buckets.lock().unwrap();
        buckets
            .objects
            .iter()
            .filter(|((b, _), _)| b == bucket)
            .map(|((_, name), o)| (name.clone(), o.clone()))
            .collect()
    }

    /// The next `count` writes fail with 503, as during an outage.
    pub fn fail_writes(&self, count: usize) {
        self.buckets.lock().unwrap().failing_writes = count;
    }

    /// The next `count` writes are refused with 403, as when the writer's access to the
    /// bucket was taken away (a client does not retry those).
    pub fn deny_writes(&self, count: usize) {
        self.buckets.lock().unwrap().denied_writes = count;
    }
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        format!("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// A bearer token shaped like object_store's self-signed JWT (header.claims.signature).
fn authorized(headers: &HeaderMap) -> bool {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    token.is_some_and(|t| t.split('.').count() == 3 && t.split('.').all(|part| !part.is_empty()))
}

async fn object(
    State(buckets): State<Arc<Mutex<Buckets>>>,
    method: Method,
    Path((bucket, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        return xml_error(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Authentication required.");
    }
    let mut state = buckets.lock().unwrap();
    let key = (bucket, name);
    match method {
        Method::PUT => {
            if state.denied_writes > 0 {
                state.denied_writes -= 1;
                return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access denied.");
            }
            if state.failing_writes > 0 {
                state.failing_writes -= 1;
                return xml_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "We encountered an internal error. Please try again.",
                );
            }
            state.generation += 1;
            let stored = StoredObject { bytes: body, generation: state.generation, updated: chrono::Utc::now() };
            let etag = format!("\"{:x}\"", stored.generation);
            let generation = stored.generation.to_string();
            state.objects.insert(key, stored);
            (StatusCode::OK, [(header::ETAG, etag), (header::HeaderName::from_static("x-goog-generation"), generation)])
                .into_response()
        }
        Method::GET | Method::HEAD => match state.objects.get(&key) {
            Some(stored) => {
                let headers = [
                    (header::ETAG, format!("\"{:x}\"", stored.generation)),
                    (header::LAST_MODIFIED, stored.updated.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
                    (header::CONTENT_LENGTH, stored.bytes.len().to_string()),
                    (header::HeaderName::from_static("x-goog-generation"), stored.generation.to_string()),
                ];
                let body = if method == Method::HEAD { Bytes::new() } else { stored.bytes.clone() };
                (StatusCode::OK, headers, body).into_response()
            }
            None => xml_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
        },
        Method::DELETE => match state.objects.remove(&key) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => xml_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
        },
        _ => xml_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed."),
    }
}
