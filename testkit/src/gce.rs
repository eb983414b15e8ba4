//! A stateful stand-in for Compute Engine: instances that move through GCE's statuses
//! (PROVISIONING → STAGING → RUNNING, STOPPING → TERMINATED, deletion), operations that
//! go PENDING → RUNNING → DONE with errors inside DONE (stockouts, quota), 409 for a
//! name that exists, `requestId` dedupe, a per-minute API quota answered with 403
//! `rateLimitExceeded`, VMs whose agent never becomes reachable, and a token endpoint
//! for gcp_auth. Durations follow published GCE latencies (see shared/NOTES.md) scaled
//! by `time_factor`, so tests run in milliseconds and a simulator in realistic time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::serve::ListenerExt as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A throwaway RSA key made for this stand-in (it signs gcp_auth's JWTs in tests; it
/// belongs to no Google account).
pub(crate) const TEST_KEY: &str = include_str!("gce-test-key.pem");

/// How long things take at `time_factor = 1.0` (medians and 95th percentiles from
/// shared/NOTES.md); each draw is log-normal around them.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    /// create → RUNNING.
    pub boot: (Duration, Duration),
    /// RUNNING → the agent answers its health check.
    pub agent: (Duration, Duration),
    /// An operation on an existing VM (stop, delete).
    pub operation: (Duration, Duration),
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            boot: (Duration::from_secs(12), Duration::from_secs(30)),
            agent: (Duration::from_secs(18), Duration::from_secs(40)),
            operation: (Duration::from_secs(10), Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GceOptions {
    pub project: String,
    /// Multiplies every duration (0.001: a 12 s boot takes 12 ms).
    pub time_factor: f64,
    pub latencies: Latencies,
    /// Mutating calls allowed per (scaled) minute before 403 `rateLimitExceeded`.
    pub writes_per_minute: u32,
    pub seed: u64,
    /// Real office daemons on the VMs (else a VM's daemon only answers `/healthz`).
    pub agents: Option<AgentProgram>,
}

/// What runs on each VM: `program pool …`, started when the VM's agent would come up
/// and killed (its disk gone) when the VM is deleted. Nova reaches it through the
/// stand-in at `/vm/{zone}/{name}/…`, as it would reach a VM at its internal address.
#[derive(Debug, Clone)]
pub struct AgentProgram {
    /// The daemon program and its leading arguments (`["/…/nova", "office"]`).
    pub program: Vec<String>,
    /// The VM's environment (its service-account key for the snapshot bucket, say).
    pub env: Vec<(String, String)>,
}

impl Default for GceOptions {
    fn default() -> Self {
        Self {
            project: "nova-test".to_owned(),
            time_factor: 0.001,
            latencies: Latencies::default(),
            writes_per_minute: 10_000,
            seed: 7,
            agents: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub zone: String,
    pub machine_type: String,
    pub source_image: String,
    pub labels: Value,
    /// `metadata.items` as the insert gave them.
    pub metadata: Value,
    /// The service account it runs as (empty: none).
    pub service_account: String,
    pub created: Instant,
    pub running_at: Instant,
    /// When its agent answers health checks (`None`: never).
    pub healthy_at: Option<Instant>,
    pub deleting_at: Option<Instant>,
    pub deleted_at: Option<Instant>,
    /// When a stop finishes (the VM is TERMINATED from then on).
    pub stopped_at: Option<Instant>,
}

impl Instance {
    pub fn status(&self, now: Instant) -> &'static str {
        match (self.deleting_at, self.deleted_at) {
            (Some(_), Some(gone)) if now >= gone => "DELETED",
            (Some(_), _) => "STOPPING",
            _ if self.stopped_at.is_some_and(|at| now >= at) => "TERMINATED",
            _ if self.stopped_at.is_some() => "STOPPING",
            _ if now < self.created + (self.running_at - self.created) / 3 => "PROVISIONING",
            _ if now < self.running_at => "STAGING",
            _ => "RUNNING",
        }
    }
}

#[derive(Debug, Clone)]
struct Operation {
    name: String,
    zone: String,
    kind: &'static str,
    target: String,
    started: Instant,
    done_at: Instant,
    error: Option<(&'static str, String)>,
}

impl Operation {
    fn json(&self, base: &str, project: &str, now: Instant) -> Value {
        let status = if now >= self.done_at {
            "DONE"
        } else if now >= self.started + (self.done_at - self.started) / 10 {
            "RUNNING"
        } else {
            "PENDING"
        };
        let mut op = json!({
            "kind": "compute#operation",
            "name": self.name,
            "operationType": self.kind,
            "status": status,
            "progress": if status == "DONE" { 100 } else { 0 },
        });
        if self.zone.is_empty() {
            op["targetLink"] = json!(format!("{base}/projects/{project}/global/images/{}", self.target));
        } else {
            op["zone"] = json!(format!("{base}/projects/{project}/zones/{}", self.zone));
            op["targetLink"] =
                json!(format!("{base}/projects/{project}/zones/{}/instances/{}", self.zone, self.target));
        }
        if status == "DONE"
            && let Some((code, message)) = &self.error
        {
            op["error"] = json!({"errors": [{"code": code, "message": message}]});
            op["httpErrorStatusCode"] = json!(if *code == "QUOTA_EXCEEDED" { 403 } else { 503 });
        }
        op
    }
}

/// One API call as a client made it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The instance it concerns (from the path, or an insert's body).
    pub instance: Option<String>,
    pub status: u16,
    pub at: Instant,
}

/// An image made from a stopped VM's disk.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub source_disk: String,
    pub family: Option<String>,
    pub ready_at: Instant,
}

#[derive(Default)]
struct Cloud {
    instances: BTreeMap<(String, String), Instance>,
    images: BTreeMap<String, Image>,
    operations: HashMap<String, Operation>,
    request_ids: HashMap<String, String>,
    tokens: HashSet<String>,
    /// Zones out of capacity: every create there fails inside its operation.
    stockouts: HashSet<String>,
    /// Name prefixes of VMs whose agent never comes up.
    never_healthy: Vec<String>,
    /// VMs Compute Engine takes back the moment their daemon is sent a run.
    preempt_on_run: HashSet<String>,
    /// Start of the current quota window and the writes in it.
    window: Option<(Instant, u32)>,
    calls: Vec<Call>,
    next_op: u64,
    rng: Option<rand::rngs::StdRng>,
}

struct Shared {
    cloud: Mutex<Cloud>,
    changed: watch::Sender<u64>,
    options: GceOptions,
    base: String,
    /// The daemons running on VMs (with [`GceOptions::agents`]), by (zone, name).
    agents: tokio::sync::Mutex<HashMap<(String, String), Agent>>,
    /// The VMs' disks.
    disks: tempfile::TempDir,
    http: reqwest::Client,
}

/// A VM's daemon process; dropping it kills the process.
struct Agent {
    address: String,
    _process: tokio::process::Child,
}

impl Shared {
    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.options.time_factor)
    }

    /// A log-normal draw with the given median and 95th percentile, scaled.
    fn draw(&self, cloud: &mut Cloud, (p50, p95): (Duration, Duration)) -> Duration {
        let rng = cloud.rng.get_or_insert_with(|| rand::rngs::StdRng::seed_from_u64(self.options.seed));
        let sigma = ((p95.as_secs_f64() / p50.as_secs_f64()).ln() / 1.645).max(0.0);
        // Box–Muller: one standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        self.scaled(p50.mul_f64((sigma * z).exp()))
    }
}

/// The stand-in: Compute Engine's REST API under `/compute/v1`, OAuth tokens at `/token`.
pub struct FakeGce {
    /// What `GCE_API_URL` should be.
    pub api_url: String,
    shared: Arc<Shared>,
}

impl FakeGce {
    pub async fn start(options: GceOptions) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            cloud: Mutex::new(Cloud::default()),
            changed: watch::channel(0).0,
            options,
            base: base.clone(),
            agents: tokio::sync::Mutex::new(HashMap::new()),
            disks: tempfile::tempdir()?,
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .route("/token", post(token))
            .route("/compute/v1/{*path}", any(compute))
            .route("/vm/{zone}/{name}/{*rest}", any(vm))
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(listener.tap_io(crate::no_delay), app).await;
        });
        Ok(Self { api_url: format!("{base}/compute/v1"), shared })
    }

    pub fn project(&self) -> &str {
        &self.shared.options.project
    }

    /// A service-account key file (JSON) whose token endpoint is this stand-in, for
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": self.shared.options.project,
            "private_key_id": "stand-in",
            "private_key": TEST_KEY,
            "client_email": format!("nova@{}.iam.gserviceaccount.com", self.shared.options.project),
            "token_uri": format!("{}/token", self.shared.base),
        })
        .to_string()
    }

    /// Where this stand-in's VMs' daemons answer (`GCE_AGENT_URL`: `{zone}`, `{name}`).
    pub fn agent_url_template(&self) -> String {
        format!("{}/vm/{{zone}}/{{name}}", self.shared.base)
    }

    /// Ticks on every API call and state change, for tests that wait on the cloud.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// From now on, every create in `zone` fails with `ZONE_RESOURCE_POOL_EXHAUSTED`.
    pub fn stock_out(&self, zone: &str) {
        self.change(|c| c.stockouts.insert(zone.to_owned()));
    }

    /// VMs whose names start with `prefix` boot but their agent never answers.
    pub fn never_healthy(&self, prefix: &str) {
        self.change(|c| c.never_healthy.push(prefix.to_owned()));
    }

    /// Compute Engine takes a VM back on its own (a spot preemption, a host failure): it
    /// is TERMINATED from now on, and its daemon is gone with its memory. Nobody called
    /// the API, so nothing tells Nova.
    pub async fn preempt(&self, name: &str) {
        let now = Instant::now();
        let zone = self.change(|cloud| {
            let (key, instance) =
                cloud.instances.iter_mut().find(|(key, i)| key.1 == name && i.status(now) != "DELETED")?;
            instance.stopped_at = Some(now);
            Some(key.0.clone())
        });
        if let Some(zone) = zone {
            self.shared.agents.lock().await.remove(&(zone, name.to_owned()));
        }
    }

    /// Compute Engine takes the VM `name` back (it may not exist yet) the moment its
    /// daemon is sent a run: the run is never started and the call fails, as on a VM
    /// preempted just after it came up.
    pub fn preempt_when_sent_a_run(&self, name: &str) {
        self.change(|cloud| cloud.preempt_on_run.insert(name.to_owned()));
    }

    /// Every token issued so far stops working (a revoked or rotated key).
    pub fn revoke_tokens(&self) {
        self.change(|c| c.tokens.clear());
    }

    /// Instances that exist (not deleted), as (zone, name).
    pub fn instances(&self) -> Vec<Instance> {
        let now = Instant::now();
        let cloud = self.shared.cloud.lock().unwrap();
        cloud.instances.values().filter(|i| i.status(now) != "DELETED").cloned().collect()
    }

    /// The stand-in's clock: how long a VM has existed, scaled back to GCE time.
    pub fn time_factor(&self) -> f64 {
        self.shared.options.time_factor
    }

    /// Images, in name order.
    pub fn images(&self) -> Vec<Image> {
        self.shared.cloud.lock().unwrap().images.values().cloned().collect()
    }

    /// Every instance ever created, deleted ones included.
    pub fn all_instances(&self) -> Vec<Instance> {
        self.shared.cloud.lock().unwrap().instances.values().cloned().collect()
    }

    /// When the first write concerning `instance` (its insert) reached the stand-in.
    pub fn first_write_for(&self, instance: &str) -> Option<Instant> {
        let cloud = self.shared.cloud.lock().unwrap();
        cloud.calls.iter().find(|c| c.method != "GET" && c.instance.as_deref() == Some(instance)).map(|c| c.at)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.cloud.lock().unwrap().calls.clone()
    }

    fn change<T>(&self, f: impl FnOnce(&mut Cloud) -> T) -> T {
        let out = f(&mut self.shared.cloud.lock().unwrap());
        self.shared.changed.send_modify(|n| *n += 1);
        out
    }
}

async fn token(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let assertion = form.get("assertion").map(String::as_str).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some(jwt_bearer) || assertion.split('.').count() != 3 {
        let error = json!({"error": "invalid_grant", "error_description": "expected a signed JWT assertion"});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    let token = format!("ya29.stand-in-{}", uuid::Uuid::new_v4().simple());
    shared.cloud.lock().unwrap().tokens.insert(token.clone());
    axum::Json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

fn error(status: StatusCode, reason: &str, message: &str) -> (StatusCode, Value) {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "errors": [{"reason": reason, "message": message, "domain": "global"}]}});
    (status, body)
}

async fn compute(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    // `operations/{op}/wait` returns when the operation is DONE or after about two
    // minutes, whichever comes first.
    if method == Method::POST && path.ends_with("/wait") {
        let op = path.trim_end_matches("/wait").rsplit('/').next().unwrap_or_default().to_owned();
        let done_at = shared.cloud.lock().unwrap().operations.get(&op).map(|o| o.done_at);
        if let Some(done_at) = done_at {
            let cap = Instant::now() + shared.scaled(Duration::from_secs(120));
            tokio::time::sleep_until(done_at.min(cap).into()).await;
        }
    }
    let now = Instant::now();
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let (status, answer) = {
        let mut cloud = shared.cloud.lock().unwrap();
        let known = token.is_some_and(|t| cloud.tokens.contains(t));
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let instance = body["name"].as_str().map(str::to_owned).or_else(|| {
            let mut parts = path.split('/').skip_while(|p| *p != "instances");
            parts.nth(1).map(|name| name.split('?').next().unwrap_or(name).to_owned())
        });
        let result = if !known {
            error(StatusCode::UNAUTHORIZED, "authError", "Request had invalid authentication credentials.")
        } else if method != Method::GET && !within_quota(&shared, &mut cloud, now) {
            error(StatusCode::FORBIDDEN, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' per minute.")
        } else {
            route(&shared, &mut cloud, &method, &path, &query, &body, now)
        };
        let status = result.0.as_u16();
        cloud.calls.push(Call { method: method.to_string(), path: path.clone(), instance, status, at: now });
        result
    };
    shared.changed.send_modify(|n| *n += 1);
    // A deleted VM's daemon goes with it.
    if method == Method::DELETE
        && status.is_success()
        && let ["projects", _, "zones", zone, "instances", name] = path.split('/').collect::<Vec<_>>().as_slice()
    {
        shared.agents.lock().await.remove(&((*zone).to_owned(), (*name).to_owned()));
    }
    (status, axum::Json(answer)).into_response()
}

fn within_quota(shared: &Shared, cloud: &mut Cloud, now: Instant) -> bool {
    let minute = shared.scaled(Duration::from_secs(60));
    let (start, used) = cloud.window.get_or_insert((now, 0));
    if now.duration_since(*start) >= minute {
        *start = now;
        *used = 0;
    }
    *used += 1;
    *used <= shared.options.writes_per_minute
}

fn route(
    shared: &Shared,
    cloud: &mut Cloud,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
    now: Instant,
) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.split('/').collect();
    if let ["projects", project, "global", rest @ ..] = segments.as_slice() {
        if *project != shared.options.project {
            return error(StatusCode::FORBIDDEN, "forbidden", "Permission denied on the project");
        }
        return global(shared, cloud, method, project, rest, query, body, now);
    }
    let ["projects", project, "zones", zone, rest @ ..] = segments.as_slice() else {
        return error(StatusCode::NOT_FOUND, "notFound", "Unknown path");
    };
    if *project != shared.options.project {
        return error(StatusCode::FORBIDDEN, "forbidden", "Permission denied on the project");
    }
    let zone = (*zone).to_owned();
    let request_id = query.get("requestId").cloned();
    // A repeated requestId gets the first call's operation back.
    if let Some(id) = &request_id
        && let Some(op) = cloud.request_ids.get(id).and_then(|name| cloud.operations.get(name))
    {
        return (StatusCode::OK, op.json(&shared_api(shared), project, now));
    }
    let answer = match (method.as_str(), rest) {
        ("POST", ["instances"]) => insert(shared, cloud, &zone, body, now),
        ("GET", ["instances"]) => {
            // Pages of `maxResults` (at most 500, GCE's limit), in name order; the
            // page token is where the next page starts.
            let page = query.get("maxResults").and_then(|n| n.parse::<usize>().ok()).unwrap_or(500).clamp(1, 500);
            let start = query.get("pageToken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
            let mut instances: Vec<&Instance> =
                cloud.instances.values().filter(|i| i.zone == zone && i.status(now) != "DELETED").collect();
            instances.sort_by(|a, b| a.name.cmp(&b.name));
            let items: Vec<Value> =
                instances.iter().skip(start).take(page).map(|i| instance_json(shared, project, i, now)).collect();
            let mut answer = json!({"kind": "compute#instanceList", "items": items});
            if start + page < instances.len() {
                answer["nextPageToken"] = json!((start + page).to_string());
            }
            return (StatusCode::OK, answer);
        }
        ("GET", ["instances", name]) => match cloud.instances.get(&(zone.clone(), (*name).to_owned())) {
            Some(instance) if instance.status(now) != "DELETED" => {
                return (StatusCode::OK, instance_json(shared, project, instance, now));
            }
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    &format!("The resource 'instances/{name}' was not found"),
                );
            }
        },
        ("DELETE", ["instances", name]) => {
            let key = (zone.clone(), (*name).to_owned());
            let took = shared.draw(cloud, shared.options.latencies.operation);
            match cloud.instances.get_mut(&key) {
                Some(instance) if instance.status(now) != "DELETED" => {
                    if instance.deleting_at.is_none() {
                        instance.deleting_at = Some(now);
                        instance.deleted_at = Some(now + took);
                    }
                    let done = instance.deleted_at.unwrap_or(now);
                    Ok(new_operation(cloud, &zone, "delete", name, now, done, None))
                }
                _ => Err(error(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    &format!("The resource 'instances/{name}' was not found"),
                )),
            }
        }
        ("POST", ["instances", name, "stop"]) => {
            let key = (zone.clone(), (*name).to_owned());
            let took = shared.draw(cloud, shared.options.latencies.operation);
            match cloud.instances.get_mut(&key) {
                Some(instance) if instance.status(now) != "DELETED" => {
                    let done = *instance.stopped_at.get_or_insert(now + took);
                    Ok(new_operation(cloud, &zone, "stop", name, now, done, None))
                }
                _ => Err(error(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    &format!("The resource 'instances/{name}' was not found"),
                )),
            }
        }
        ("GET", ["operations", op]) | ("POST", ["operations", op, "wait"]) => {
            return match cloud.operations.get(*op) {
                Some(found) => (StatusCode::OK, found.json(&shared_api(shared), project, now)),
                None => {
                    error(StatusCode::NOT_FOUND, "notFound", &format!("The resource 'operations/{op}' was not found"))
                }
            };
        }
        _ => Err(error(StatusCode::NOT_FOUND, "notFound", "Unknown method")),
    };
    match answer {
        Ok(op_name) => {
            if let Some(id) = request_id {
                cloud.request_ids.insert(id, op_name.clone());
            }
            (StatusCode::OK, cloud.operations[&op_name].json(&shared_api(shared), project, now))
        }
        Err(refused) => refused,
    }
}

/// `projects/{p}/global/…`: images and their operations.
#[allow(clippy::too_many_arguments)]
fn global(
    shared: &Shared,
    cloud: &mut Cloud,
    method: &Method,
    project: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    body: &Value,
    now: Instant,
) -> (StatusCode, Value) {
    let api = shared_api(shared);
    if let Some(op) =
        query.get("requestId").and_then(|id| cloud.request_ids.get(id)).and_then(|n| cloud.operations.get(n))
    {
        return (StatusCode::OK, op.json(&api, project, now));
    }
    match (method.as_str(), rest) {
        ("POST", ["images"]) => {
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            if name.is_empty() {
                return error(StatusCode::BAD_REQUEST, "invalid", "Required field 'resource.name' not specified");
            }
            if cloud.images.contains_key(&name) {
                return error(
                    StatusCode::CONFLICT,
                    "alreadyExists",
                    &format!("The resource 'global/images/{name}' already exists"),
                );
            }
            // `zones/{zone}/disks/{disk}`: a VM's boot disk has the VM's name.
            let source = body["sourceDisk"].as_str().unwrap_or_default().to_owned();
            let parts: Vec<&str> = source.split('/').collect();
            let disk = match parts.as_slice() {
                [.., "zones", zone, "disks", disk] => cloud.instances.get(&((*zone).to_owned(), (*disk).to_owned())),
                _ => None,
            };
            match disk.map(|i| i.status(now)) {
                None | Some("DELETED") => {
                    return error(StatusCode::NOT_FOUND, "notFound", &format!("The resource '{source}' was not found"));
                }
                Some("TERMINATED") => {}
                Some(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "resourceInUseByAnotherResource",
                        &format!("The disk resource '{source}' is already being used by a running instance"),
                    );
                }
            }
            let took = shared.draw(cloud, (Duration::from_secs(60), Duration::from_secs(180)));
            cloud.images.insert(
                name.clone(),
                Image {
                    name: name.clone(),
                    source_disk: source,
                    family: body["family"].as_str().map(str::to_owned),
                    ready_at: now + took,
                },
            );
            let op = new_operation(cloud, "", "insert", &name, now, now + took, None);
            if let Some(id) = query.get("requestId") {
                cloud.request_ids.insert(id.clone(), op.clone());
            }
            (StatusCode::OK, cloud.operations[&op].json(&api, project, now))
        }
        ("GET", ["images", name]) => match cloud.images.get(*name) {
            Some(image) => {
                let status = if now >= image.ready_at { "READY" } else { "PENDING" };
                (
                    StatusCode::OK,
                    json!({"kind": "compute#image", "name": image.name, "status": status, "family": image.family, "sourceDisk": image.source_disk}),
                )
            }
            None => {
                error(StatusCode::NOT_FOUND, "notFound", &format!("The resource 'global/images/{name}' was not found"))
            }
        },
        ("GET", ["operations", op]) | ("POST", ["operations", op, "wait"]) => match cloud.operations.get(*op) {
            Some(found) => (StatusCode::OK, found.json(&api, project, now)),
            None => error(StatusCode::NOT_FOUND, "notFound", &format!("The resource 'operations/{op}' was not found")),
        },
        _ => error(StatusCode::NOT_FOUND, "notFound", "Unknown method"),
    }
}

fn shared_api(shared: &Shared) -> String {
    format!("{}/compute/v1", shared.base)
}

fn new_operation(
    cloud: &mut Cloud,
    zone: &str,
    kind: &'static str,
    target: &str,
    started: Instant,
    done_at: Instant,
    error: Option<(&'static str, String)>,
) -> String {
    cloud.next_op += 1;
    let name = format!("operation-{}-{:06}", started.elapsed().as_nanos() % 1000, cloud.next_op);
    cloud.operations.insert(
        name.clone(),
        Operation {
            name: name.clone(),
            zone: zone.to_owned(),
            kind,
            target: target.to_owned(),
            started,
            done_at,
            error,
        },
    );
    name
}

fn insert(
    shared: &Shared,
    cloud: &mut Cloud,
    zone: &str,
    body: &Value,
    now: Instant,
) -> Result<String, (StatusCode, Value)> {
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &format!("Invalid value for field 'resource.name': '{name}'"),
        ));
    }
    let key = (zone.to_owned(), name.clone());
    if cloud.instances.get(&key).is_some_and(|i| i.status(now) != "DELETED") {
        return Err(error(
            StatusCode::CONFLICT,
            "alreadyExists",
            &format!("The resource 'projects/{}/zones/{zone}/instances/{name}' already exists", shared.options.project),
        ));
    }
    let accepted = shared.draw(cloud, (Duration::from_millis(400), Duration::from_millis(1500)));
    if cloud.stockouts.contains(zone) {
        let message = format!("The zone '{zone}' does not have enough resources available to fulfill the request.");
        let failed = Some(("ZONE_RESOURCE_POOL_EXHAUSTED", message));
        return Ok(new_operation(cloud, zone, "insert", &name, now, now + accepted, failed));
    }
    let boot = shared.draw(cloud, shared.options.latencies.boot);
    let agent = shared.draw(cloud, shared.options.latencies.agent);
    let never = cloud.never_healthy.iter().any(|prefix| name.starts_with(prefix));
    let machine_type = body["machineType"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let source_image = body["disks"][0]["initializeParams"]["sourceImage"].as_str().unwrap_or_default();
    cloud.instances.insert(
        key,
        Instance {
            name: name.clone(),
            zone: zone.to_owned(),
            machine_type: machine_type.to_owned(),
            source_image: source_image.to_owned(),
            labels: body["labels"].clone(),
            metadata: body["metadata"]["items"].clone(),
            service_account: body["serviceAccounts"][0]["email"].as_str().unwrap_or_default().to_owned(),
            created: now,
            running_at: now + boot,
            healthy_at: (!never).then_some(now + boot + agent),
            deleting_at: None,
            deleted_at: None,
            stopped_at: None,
        },
    );
    Ok(new_operation(cloud, zone, "insert", &name, now, now + boot, None))
}

fn instance_json(shared: &Shared, project: &str, instance: &Instance, now: Instant) -> Value {
    let api = shared_api(shared);
    json!({
        "kind": "compute#instance",
        "name": instance.name,
        "zone": format!("{api}/projects/{project}/zones/{}", instance.zone),
        "machineType": format!("{api}/projects/{project}/zones/{}/machineTypes/{}", instance.zone, instance.machine_type),
        "status": instance.status(now),
        "creationTimestamp": (chrono::Utc::now() - now.saturating_duration_since(instance.created)).to_rfc3339(),
        "labels": instance.labels,
        "metadata": {"kind": "compute#metadata", "items": instance.metadata},
        "networkInterfaces": [{"networkIP": "127.0.0.1"}],
    })
}

/// A request to a VM's daemon. Until the VM runs and its agent is up, the port does not
/// answer (503). Without real daemons only `/healthz` answers; with them, the request is
/// passed to the VM's daemon, which is started the first time it is reached.
async fn vm(
    State(shared): State<Arc<Shared>>,
    Path((zone, name, rest)): Path<(String, String, String)>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = Instant::now();
    let taken_back = {
        let mut cloud = shared.cloud.lock().unwrap();
        let taken_back = rest == "runs" && cloud.preempt_on_run.remove(&name);
        if taken_back && let Some(instance) = cloud.instances.get_mut(&(zone.clone(), name.clone())) {
            instance.stopped_at = Some(now);
        }
        taken_back
    };
    if taken_back {
        shared.agents.lock().await.remove(&(zone, name));
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let metadata = {
        let cloud = shared.cloud.lock().unwrap();
        match cloud.instances.get(&(zone.clone(), name.clone())) {
            Some(i) if i.status(now) == "RUNNING" && i.healthy_at.is_some_and(|at| now >= at) => i.metadata.clone(),
            Some(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let Some(program) = &shared.options.agents else {
        return if rest == "healthz" { StatusCode::OK } else { StatusCode::NOT_FOUND }.into_response();
    };
    let address = {
        let mut agents = shared.agents.lock().await;
        let key = (zone.clone(), name.clone());
        match agents.get(&key) {
            Some(agent) => agent.address.clone(),
            None => match start_agent(&shared, program, &zone, &name, &metadata).await {
                Ok(agent) => agents.entry(key).or_insert(agent).address.clone(),
                Err(error) => {
                    return (StatusCode::BAD_GATEWAY, format!("the VM's daemon did not start: {error:#}"))
                        .into_response();
                }
            },
        }
    };
    let mut url = format!("http://{address}/{rest}");
    if let Some(query) = uri.query() {
        url = format!("{url}?{query}");
    }
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = shared.http.request(method, url).body(body);
    for header in ["authorization", "content-type"] {
        if let Some(value) = headers.get(header) {
            request = request.header(header, value.as_bytes());
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = response.headers().get("content-type").cloned();
            let body = response.bytes().await.unwrap_or_default();
            let mut answer = (status, body).into_response();
            if let Some(content_type) = content_type {
                answer.headers_mut().insert("content-type", content_type);
            }
            answer
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Boots a VM's daemon: `program pool` on its own disk, with the assignment token from
/// its metadata (as a startup script would read it from the metadata server).
async fn start_agent(
    shared: &Shared,
    program: &AgentProgram,
    zone: &str,
    name: &str,
    metadata: &Value,
) -> anyhow::Result<Agent> {
    use tokio::io::AsyncBufReadExt as _;
    let token = metadata
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["key"] == "nova-assign-token")
        .and_then(|item| item["value"].as_str())
        .unwrap_or("no assignment token in this VM's metadata")
        .to_owned();
    let (command, leading) = program.program.split_first().ok_or_else(|| anyhow::anyhow!("no agent program"))?;
    let disk = shared.disks.path().join(format!("{zone}-{name}"));
    let mut process = tokio::process::Command::new(command)
        .args(leading)
        .args(["pool", "--listen", "127.0.0.1:0", "--exit-with-stdin", "--workspace"])
        .arg(disk.join("workspace"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NOVA_ASSIGN_TOKEN", token)
        .env("RUST_LOG", std::env::var("NOVA_OFFICE_LOG").unwrap_or_else(|_| "warn".to_owned()))
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = process.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await??.unwrap_or_default();
    let address = first
        .strip_prefix("NOVA_OFFICE_LISTENING ")
        .ok_or_else(|| anyhow::anyhow!("the daemon printed {first:?} instead of its address"))?
        .trim()
        .to_owned();
    // Keep reading, so the daemon never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Agent { address, _process: process })
}
