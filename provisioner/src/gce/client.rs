//! A thin Compute Engine REST client: the handful of calls Nova needs, errors sorted
//! into what a caller acts on, and every wait bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const SCOPES: &[&str] = &["https://www.googleapis.com/auth/cloud-platform"];
/// Compute Engine's public endpoint (`GCE_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://compute.googleapis.com/compute/v1";

/// What went wrong, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GceError {
    /// The name exists: for an idempotent create, the VM is already there.
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    /// The per-minute API quota: wait and try again.
    #[error("API rate limit exceeded")]
    RateLimited,
    /// The zone has no capacity for this machine type: try another zone.
    #[error("zone {0} is out of capacity")]
    Stockout(String),
    /// A project quota (CPUs, instances): waiting will not help, people must.
    #[error("project quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("GCE refused the credentials: {0}")]
    Unauthorized(String),
    #[error("GCE answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("the operation failed: {code}: {message}")]
    OperationFailed { code: String, message: String },
    #[error("gave up waiting after {0:?}")]
    Timeout(Duration),
    #[error("cannot reach GCE: {0}")]
    Transport(String),
}

impl GceError {
    /// Worth retrying as is, later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited | Self::Transport(_) | Self::Api { status: 500..=599, .. })
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub machine_type: String,
    /// `projects/{p}/global/images/{image}`.
    pub image: String,
    pub labels: Vec<(String, String)>,
    /// Startup metadata (the office daemon's settings).
    pub metadata: Vec<(String, String)>,
    /// The service account the VM runs as, if any (none by default).
    pub service_account: Option<String>,
}

/// An operation as GCE reports it.
#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub zone: String,
    pub done: bool,
    /// A DONE operation's first error (`code`, `message`).
    pub error: Option<(String, String)>,
}

/// An instance as GCE reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    pub name: String,
    pub status: String,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

fn created(item: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = chrono::DateTime::parse_from_rfc3339(item["creationTimestamp"].as_str()?).ok()?;
    Some(at.with_timezone(&chrono::Utc))
}

pub struct GceClient {
    http: reqwest::Client,
    api_url: String,
    project: String,
    tokens: Arc<dyn gcp_auth::TokenProvider>,
}

impl GceClient {
    pub fn new(api_url: &str, project: &str, tokens: Arc<dyn gcp_auth::TokenProvider>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { http, api_url: api_url.trim_end_matches('/').to_owned(), project: project.to_owned(), tokens })
    }

    fn zone_url(&self, zone: &str, rest: &str) -> String {
        format!("{}/projects/{}/zones/{zone}/{rest}", self.api_url, self.project)
    }

    async fn call(&self, method: reqwest::Method, url: String, body: Option<Value>) -> Result<Value, GceError> {
        let token = self.tokens.token(SCOPES).await.map_err(|e| GceError::Unauthorized(e.to_string()))?;
        let mut request = self.http.request(method, url).bearer_auth(token.as_str());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| GceError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = answer["error"]["message"].as_str().unwrap_or("no message").to_owned();
        let reason = answer["error"]["errors"][0]["reason"].as_str().unwrap_or_default();
        metrics::counter!("nova_gce_errors_total", "status" => status.to_string()).increment(1);
        Err(match (status, reason) {
            (409, _) => GceError::AlreadyExists,
            (404, _) => GceError::NotFound,
            (403 | 429, "rateLimitExceeded" | "userRateLimitExceeded") | (429, _) => GceError::RateLimited,
            (403, "quotaExceeded") => GceError::QuotaExceeded(message),
            (401, _) => GceError::Unauthorized(message),
            _ => GceError::Api { status, message },
        })
    }

    fn operation(answer: &Value) -> Operation {
        let error = answer["error"]["errors"][0].as_object().map(|e| {
            let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            (field("code"), field("message"))
        });
        Operation {
            name: answer["name"].as_str().unwrap_or_default().to_owned(),
            zone: answer["zone"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned(),
            done: answer["status"] == "DONE",
            error,
        }
    }

    /// `instances.insert`. `request_id` makes a retried call a no-op on GCE's side.
    pub async fn insert(&self, zone: &str, spec: &InstanceSpec, request_id: &str) -> Result<Operation, GceError> {
        let project = &self.project;
        let labels: serde_json::Map<String, Value> = spec.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let metadata: Vec<Value> = spec.metadata.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let mut body = json!({
            "name": spec.name,
            "machineType": format!("zones/{zone}/machineTypes/{}", spec.machine_type),
            "labels": labels,
            "metadata": {"items": metadata},
            "disks": [{"boot": true, "autoDelete": true, "initializeParams": {"sourceImage": spec.image}}],
            "networkInterfaces": [{"network": format!("projects/{project}/global/networks/default")}],
            "scheduling": {"automaticRestart": false, "onHostMaintenance": "TERMINATE"},
        });
        // By default a VM runs with no service account: its metadata server has no token
        // to give (Nova reads and writes snapshots for it). One named on purpose may
        // write logs and metrics, nothing more.
        if let Some(email) = &spec.service_account {
            let scopes =
                ["https://www.googleapis.com/auth/logging.write", "https://www.googleapis.com/auth/monitoring.write"];
            body["serviceAccounts"] = json!([{"email": email, "scopes": scopes}]);
        }
        let url = self.zone_url(zone, &format!("instances?requestId={request_id}"));
        Ok(Self::operation(&self.call(reqwest::Method::POST, url, Some(body)).await?))
    }

    pub async fn get(&self, zone: &str, name: &str) -> Result<InstanceInfo, GceError> {
        let answer = self.call(reqwest::Method::GET, self.zone_url(zone, &format!("instances/{name}")), None).await?;
        Ok(InstanceInfo {
            name: answer["name"].as_str().unwrap_or_default().to_owned(),
            status: answer["status"].as_str().unwrap_or_default().to_owned(),
            created: created(&answer),
        })
    }

    /// The instances of a zone that Nova made (labelled `nova-owner`), with their owner
    /// as named in their metadata (a label mangles `_`, `.` and long names).
    pub async fn list_nova_instances(&self, zone: &str) -> Result<Vec<(InstanceInfo, String)>, GceError> {
        self.list_nova_instances_in_pages(zone, 500).await
    }

    /// Every page: a VM missing from the listing would look deleted.
    pub async fn list_nova_instances_in_pages(
        &self,
        zone: &str,
        page_size: usize,
    ) -> Result<Vec<(InstanceInfo, String)>, GceError> {
        let mut found = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = reqwest::Url::parse(&self.zone_url(zone, "instances"))
                .map_err(|error| GceError::Transport(format!("not a URL: {error}")))?;
            url.query_pairs_mut()
                .append_pair("filter", "labels.nova-owner:*")
                .append_pair("maxResults", &page_size.to_string())
                .extend_pairs(page_token.as_deref().map(|token| ("pageToken", token)));
            let answer = self.call(reqwest::Method::GET, url.to_string(), None).await?;
            found.extend(answer["items"].as_array().into_iter().flatten().filter_map(|item| {
                let label = item["labels"]["nova-owner"].as_str()?;
                let metadata = item["metadata"]["items"].as_array().into_iter().flatten();
                let named =
                    metadata.filter(|entry| entry["key"] == "nova-owner").find_map(|entry| entry["value"].as_str());
                let owner = named.unwrap_or(label).to_owned();
                let info = InstanceInfo {
                    name: item["name"].as_str()?.to_owned(),
                    status: item["status"].as_str().unwrap_or_default().to_owned(),
                    created: created(item),
                };
                Some((info, owner))
            }));
            match answer["nextPageToken"].as_str() {
                Some(token) if !token.is_empty() => page_token = Some(token.to_owned()),
                _ => return Ok(found),
            }
        }
    }

    pub async fn delete(&self, zone: &str, name: &str, request_id: &str) -> Result<Operation, GceError> {
        let url = self.zone_url(zone, &format!("instances/{name}?requestId={request_id}"));
        Ok(Self::operation(&self.call(reqwest::Method::DELETE, url, None).await?))
    }

    /// `instances.stop`: the VM shuts down and its disk stays.
    pub async fn stop(&self, zone: &str, name: &str, request_id: &str) -> Result<Operation, GceError> {
        let url = self.zone_url(zone, &format!("instances/{name}/stop?requestId={request_id}"));
        Ok(Self::operation(&self.call(reqwest::Method::POST, url, None).await?))
    }

    /// `images.insert` from a stopped VM's boot disk (which has the VM's name).
    pub async fn insert_image(
        &self,
        name: &str,
        family: &str,
        zone: &str,
        disk: &str,
        request_id: &str,
    ) -> Result<Operation, GceError> {
        let url = format!("{}/projects/{}/global/images?requestId={request_id}", self.api_url, self.project);
        let body = json!({"name": name, "family": family, "sourceDisk": format!("zones/{zone}/disks/{disk}")});
        Ok(Self::operation(&self.call(reqwest::Method::POST, url, Some(body)).await?))
    }

    /// An image's status: `PENDING`, `READY` or `FAILED`.
    pub async fn image_status(&self, name: &str) -> Result<String, GceError> {
        let url = format!("{}/projects/{}/global/images/{name}", self.api_url, self.project);
        Ok(self.call(reqwest::Method::GET, url, None).await?["status"].as_str().unwrap_or_default().to_owned())
    }

    /// Waits for an operation to be DONE, until `deadline`. A DONE operation that
    /// failed is returned as is: its error says what to do.
    pub async fn wait(&self, operation: &Operation, deadline: Instant) -> Result<Operation, GceError> {
        let mut current = operation.clone();
        loop {
            if current.done {
                return Ok(current);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(GceError::Timeout(deadline.saturating_duration_since(now)));
            }
            // `wait` returns at DONE or after about two minutes; bounded by our deadline too.
            let url = if current.zone.is_empty() {
                format!("{}/projects/{}/global/operations/{}/wait", self.api_url, self.project, current.name)
            } else {
                self.zone_url(&current.zone, &format!("operations/{}/wait", current.name))
            };
            let waited = tokio::time::timeout(deadline - now, self.call(reqwest::Method::POST, url, None)).await;
            current = match waited {
                Ok(answer) => Self::operation(&answer?),
                Err(_) => return Err(GceError::Timeout(deadline - now)),
            };
        }
    }
}
