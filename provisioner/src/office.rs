//! The office daemon (`nova-office serve`): runs inside the office's machine, takes
//! prompts from Nova, runs the configured agent runtime on each in the workspace with a
//! clean environment, and relays what the runtime reports back to Nova.
//!
//! On a pool VM the daemon starts unassigned (`nova-office pool`): it boots ahead of
//! need, and Nova then assigns it an office (`POST /assign`) and hands it the office's
//! latest snapshot (`POST /restore`). When the office goes to sleep, Nova takes its
//! snapshot (`POST /snapshot` answers with the archive) and deletes the VM. The VM
//! never holds a storage credential: Nova reads and writes the bucket.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    Assignment, ContextFiles, EventEnvelope, Health, LISTENING_PREFIX, RUN_ID_HEADER, RunEvent, RunRequest,
    StopRequest, Upstream, secrets_match,
};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    pub office: String,
    #[arg(long)]
    pub generation: i64,
    #[arg(long)]
    pub workspace: PathBuf,
    /// Nova's base URL, for events.
    #[arg(long)]
    pub nova_url: String,
    #[arg(long, default_value = "0.0.0.0:7070")]
    pub listen: SocketAddr,
    /// Exit when stdin closes: a local office dies with the Nova that started it.
    #[arg(long)]
    pub exit_with_stdin: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PoolArgs {
    /// Where the assigned office's workspace goes.
    #[arg(long, default_value = "/var/lib/nova/workspace")]
    pub workspace: PathBuf,
    #[arg(long, default_value = "0.0.0.0:7878")]
    pub listen: SocketAddr,
    #[arg(long)]
    pub exit_with_stdin: bool,
}

/// The daemon's HTTP state: the office it serves, once it has one.
struct Daemon {
    office: std::sync::OnceLock<Arc<Office>>,
    /// On a pool VM: what assignment needs.
    pool: Option<Pool>,
}

struct Pool {
    workspace: PathBuf,
    /// Only Nova, which put it in the VM's metadata, knows it.
    assign_token: String,
    /// One assignment at a time: a retried `/assign` waits for the first, then agrees.
    assigning: Mutex<()>,
}

impl Daemon {
    fn office(&self) -> Result<&Arc<Office>, (StatusCode, String)> {
        self.office
            .get()
            .ok_or((StatusCode::CONFLICT, "this VM waits in a pool: no office is assigned to it yet".to_owned()))
    }
}

struct Office {
    args: ServeArgs,
    token: String,
    queue: mpsc::UnboundedSender<RunRequest>,
    accepted: Mutex<HashSet<String>>,
    /// Runs accepted and not yet finished, by run id: how a stop reaches them.
    controls: std::sync::Mutex<HashMap<String, RunControl>>,
    /// Where the agent reaches this daemon: loopback only, under a path only this
    /// office's runtime is told (`http://127.0.0.1:{port}/{key}`), so another office's
    /// runtime cannot use this office's proxy or asks.
    agent_api: String,
    agent_port: u16,
    upstreams: Mutex<Vec<Upstream>>,
    http: reqwest::Client,
    /// A pool VM's office: the zstd level of the archive `/snapshot` hands Nova (a local
    /// office is snapshotted by Nova on the same machine).
    compression: Option<i32>,
    /// Snapshotted: the office takes no more runs (its VM is about to go).
    sealed: std::sync::atomic::AtomicBool,
    /// Where run events go.
    sink: Arc<EventSink>,
    /// Held while a run's repo is cloned, fetched or checked out.
    git: Mutex<()>,
}

/// Runs the daemon until stdin closes (with `--exit-with-stdin`) or the process is
/// stopped. The token comes from `NOVA_OFFICE_TOKEN`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::sandbox::keep_memory_private()?;
    let token = std::env::var("NOVA_OFFICE_TOKEN").context("NOVA_OFFICE_TOKEN is not set")?;
    let (listen, exit_with_stdin) = (args.listen, args.exit_with_stdin);
    let office = open_office(args, token, None).await?;
    listen_until_stopped(Daemon { office: office.into(), pool: None }, listen, exit_with_stdin).await
}

/// Runs the daemon of a pool VM: unassigned until Nova assigns it an office. The
/// assignment token comes from `NOVA_ASSIGN_TOKEN`.
pub async fn pool(args: PoolArgs) -> anyhow::Result<()> {
    crate::sandbox::keep_memory_private()?;
    let assign_token = std::env::var("NOVA_ASSIGN_TOKEN").context("NOVA_ASSIGN_TOKEN is not set")?;
    let pool = Pool { workspace: args.workspace, assign_token, assigning: Mutex::new(()) };
    let daemon = Daemon { office: std::sync::OnceLock::new(), pool: Some(pool) };
    listen_until_stopped(daemon, args.listen, args.exit_with_stdin).await
}

/// Starts the office's run queue and its agent API (loopback only).
async fn open_office(mut args: ServeArgs, token: String, compression: Option<i32>) -> anyhow::Result<Arc<Office>> {
    // Absolute: runtimes run in the workspace (or a checkout), where a relative path to
    // the office's commands, given as `nova serve`'s `./.nova` is, leads nowhere.
    args.workspace = std::path::absolute(&args.workspace)
        .with_context(|| format!("cannot make {} absolute", args.workspace.display()))?;
    std::fs::create_dir_all(&args.workspace).with_context(|| format!("cannot create {}", args.workspace.display()))?;
    let (queue, runs) = mpsc::unbounded_channel();
    let agent_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot open the agent API")?;
    let agent_port = agent_listener.local_addr()?.port();
    let agent_key = uuid::Uuid::new_v4().simple().to_string();
    let agent_api = format!("http://127.0.0.1:{agent_port}/{agent_key}");
    let office = Arc::new(Office {
        args: args.clone(),
        token: token.clone(),
        queue,
        accepted: Mutex::new(HashSet::new()),
        controls: std::sync::Mutex::new(HashMap::new()),
        agent_api,
        agent_port,
        upstreams: Mutex::new(Vec::new()),
        // A redirect would carry the injected credential to wherever the upstream
        // points (reqwest drops only `Authorization` on a cross-host hop): never follow.
        // A model on a CPU may think for minutes before it answers: generous, but bounded.
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(PROXY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        compression,
        sealed: false.into(),
        sink: Arc::new(EventSink::new(&args, token.clone())),
        git: Mutex::new(()),
    });
    tokio::spawn(run_queue(runs, office.clone()));

    // The agent's API: loopback only, never on the address Nova reaches.
    let agent = Router::new()
        .route("/approvals", post(agent_ask))
        .route("/approvals/{id}", get(agent_answer))
        .route("/credentials", post(agent_ask))
        .route("/credentials/{id}", get(agent_answer))
        .route("/handoffs", post(agent_ask))
        .route("/tasks", post(agent_ask).get(agent_answer))
        .route("/tasks/{id}/claim", post(agent_ask))
        .route("/tasks/{id}/done", post(agent_ask))
        .route("/escalations", post(agent_ask))
        .route("/commands", post(agent_ask))
        .route("/sql", post(agent_ask))
        .route("/changes", post(agent_ask))
        .route("/reviews/{id}/decision", post(agent_ask))
        .route("/proxy/{upstream}/{*rest}", any(proxy))
        .with_state(office.clone());
    let agent = Router::new().nest(&format!("/{agent_key}"), agent);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(agent_listener.tap_io(no_delay), agent).await {
            eprintln!("agent API stopped: {error}");
        }
    });
    Ok(office)
}

async fn listen_until_stopped(daemon: Daemon, listen: SocketAddr, exit_with_stdin: bool) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(health))
        .route("/assign", post(assign))
        .route("/context", post(write_context))
        .route("/runs", post(accept_run))
        .route("/runs/{run_id}/stop", post(stop_run))
        .route("/snapshot", post(snapshot))
        .route("/restore", post(restore))
        .with_state(Arc::new(daemon));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("{LISTENING_PREFIX}{}", listener.local_addr()?);
    if exit_with_stdin {
        tokio::spawn(async {
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = stdin.next_line().await {}
            exit_ending_runtimes();
        });
    }
    // Stopped (Ctrl-C on `nova serve`, the VM shutting down): the runtimes, each in a
    // process group of its own, end with the daemon instead of running on unattended.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        exit_ending_runtimes();
    });
    axum::serve(listener.tap_io(no_delay), app).await.context("office server failed")
}

/// The process groups of the runtimes running now.
static RUNTIME_GROUPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// A runtime's process group, known to [`exit_ending_runtimes`] while the run lasts.
struct RuntimeGroup(Option<u32>);

impl RuntimeGroup {
    fn register(leader: Option<u32>) -> Self {
        RUNTIME_GROUPS.lock().expect("runtime groups lock").extend(leader);
        Self(leader)
    }
}

impl Drop for RuntimeGroup {
    fn drop(&mut self) {
        if let Ok(mut groups) = RUNTIME_GROUPS.lock() {
            groups.retain(|group| Some(*group) != self.0);
        }
    }
}

/// Ends every runtime's process group, then the daemon.
fn exit_ending_runtimes() -> ! {
    for leader in RUNTIME_GROUPS.lock().map(|groups| groups.clone()).unwrap_or_default() {
        crate::sandbox::signal_group(leader, libc::SIGKILL);
    }
    std::process::exit(0)
}

/// Nova and the agent wait on these answers: send them at once, not after the peer's delayed ACK.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Whether the request carries `Authorization: Bearer {secret}` (compared in constant time).
fn bearer_is(headers: &HeaderMap, secret: &str) -> bool {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    secrets_match(given.as_bytes(), format!("Bearer {secret}").as_bytes())
}

fn authorized(office: &Office, headers: &HeaderMap) -> Result<(), StatusCode> {
    if bearer_is(headers, &office.token) { Ok(()) } else { Err(StatusCode::UNAUTHORIZED) }
}

async fn health(State(daemon): State<Arc<Daemon>>) -> Json<Health> {
    let (office, generation) = match daemon.office.get() {
        Some(office) => (office.args.office.clone(), office.args.generation),
        None => (String::new(), 0),
    };
    Json(Health { office, generation, version: crate::RUNTIME_VERSION.to_owned() })
}

/// Nova assigns this pool VM to an office: restore its snapshot, then serve it. The
/// same assignment again (a retry) is answered as the first was; another is refused.
async fn assign(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    Json(assignment): Json<Assignment>,
) -> Result<Json<Health>, (StatusCode, String)> {
    let Some(pool) = &daemon.pool else {
        return Err((StatusCode::CONFLICT, "this daemon was started for one office; it cannot be assigned".to_owned()));
    };
    if !bearer_is(&headers, &pool.assign_token) {
        return Err((StatusCode::UNAUTHORIZED, "bad assignment token".to_owned()));
    }
    let _one_at_a_time = pool.assigning.lock().await;
    if let Some(office) = daemon.office.get() {
        let same = office.args.office == assignment.office && office.args.generation == assignment.generation;
        if !same {
            let message =
                format!("this VM already serves {} generation {}", office.args.office, office.args.generation);
            return Err((StatusCode::CONFLICT, message));
        }
        return Ok(health(State(daemon.clone())).await);
    }
    let internal = |error: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"));
    std::fs::create_dir_all(&pool.workspace)
        .with_context(|| format!("cannot create {}", pool.workspace.display()))
        .map_err(internal)?;
    let args = ServeArgs {
        office: assignment.office,
        generation: assignment.generation,
        workspace: pool.workspace.clone(),
        nova_url: assignment.nova_url,
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        exit_with_stdin: false,
    };
    let office = open_office(args, assignment.token, Some(assignment.compression)).await.map_err(internal)?;
    let _ = daemon.office.set(office);
    Ok(health(State(daemon.clone())).await)
}

/// Nova puts the office to sleep: the answer is the workspace's archive (Nova stores it
/// under this generation's key), and the office takes no more runs.
async fn snapshot(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
) -> Result<axum::response::Response, (StatusCode, String)> {
    use axum::response::IntoResponse;
    let office = daemon.office()?;
    // The office's token, or the VM's assignment token: a Nova that restarted has only that.
    if !daemon.pool.as_ref().is_some_and(|pool| bearer_is(&headers, &pool.assign_token)) {
        authorized(office, &headers).map_err(|s| (s, "bad token".to_owned()))?;
    }
    let Some(level) = office.compression else {
        let message = "this office keeps no snapshots: Nova snapshots its workspace where it runs".to_owned();
        return Err((StatusCode::CONFLICT, message));
    };
    office.sealed.store(true, std::sync::atomic::Ordering::SeqCst);
    let (workspace, name, generation) =
        (office.args.workspace.clone(), office.args.office.clone(), office.args.generation);
    let archived = tokio::task::spawn_blocking(move || {
        crate::snapshot::archive(&workspace, &name, generation, level, crate::snapshot::DEFAULT_MAX_BYTES)
    })
    .await
    .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot task failed: {error}")))?
    .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")))?;
    let body =
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archived.file)));
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/zstd".to_owned()),
        (axum::http::header::CONTENT_LENGTH, archived.bytes.to_string()),
    ];
    let counts = [
        (crate::protocol::SNAPSHOT_SOURCE_BYTES_HEADER, archived.source_bytes.to_string()),
        (crate::protocol::SNAPSHOT_FILES_HEADER, archived.files.to_string()),
    ];
    Ok((headers, counts, body).into_response())
}

/// Nova hands a newly assigned office its workspace: the body is the snapshot archive,
/// unpacked as it arrives (no copy on disk first; unpacking overlaps the transfer).
/// Only before the office's first run, so a late retry cannot roll back its work.
async fn restore(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, (StatusCode, String)> {
    use futures::StreamExt as _;
    let office = daemon.office()?;
    authorized(office, &headers).map_err(|s| (s, "bad token".to_owned()))?;
    if office.compression.is_none() {
        return Err((StatusCode::CONFLICT, "Nova restores this office's workspace where it runs".to_owned()));
    }
    if !office.accepted.lock().await.is_empty() {
        return Err((StatusCode::CONFLICT, "the office has started working: its workspace is newer".to_owned()));
    }
    let limit = crate::snapshot::DEFAULT_MAX_BYTES;
    // Why the body stopped, when it is the transfer's fault rather than the archive's.
    let cut_short: Arc<std::sync::Mutex<Option<(StatusCode, String)>>> = Arc::default();
    let noted = Arc::clone(&cut_short);
    let mut received = 0u64;
    let chunks = body.into_data_stream().map(move |chunk| {
        let refusal = match chunk {
            Err(error) => (StatusCode::BAD_REQUEST, format!("the archive did not arrive whole: {error}")),
            Ok(chunk) => {
                received += chunk.len() as u64;
                if received <= limit {
                    return Ok(chunk);
                }
                (StatusCode::PAYLOAD_TOO_LARGE, format!("a snapshot may hold at most {limit} bytes"))
            }
        };
        let error = std::io::Error::other(refusal.1.clone());
        *noted.lock().expect("restore refusal lock") = Some(refusal);
        Err(error)
    });
    let archive = crate::snapshot::Arriving::new(chunks);
    let (workspace, name) = (office.args.workspace.clone(), office.args.office.clone());
    let unpacked = tokio::task::spawn_blocking(move || crate::snapshot::unarchive(archive, &name, &workspace, limit))
        .await
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("restore task failed: {error}")))?;
    match unpacked {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(error) => Err(cut_short
            .lock()
            .expect("restore refusal lock")
            .take()
            .unwrap_or_else(|| (StatusCode::UNPROCESSABLE_ENTITY, format!("{error:#}")))),
    }
}

async fn write_context(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    Json(context): Json<ContextFiles>,
) -> Result<StatusCode, (StatusCode, String)> {
    let office = daemon.office()?;
    authorized(office, &headers).map_err(|s| (s, "bad token".to_owned()))?;
    for file in &context.files {
        let relative =
            safe_relative(&file.path).ok_or((StatusCode::BAD_REQUEST, format!("refused path {:?}", file.path)))?;
        let path = office.args.workspace.join(relative);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.content)
        };
        write().map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write {}: {e}", file.path)))?;
    }
    *office.upstreams.lock().await = context.upstreams;
    Ok(StatusCode::NO_CONTENT)
}

/// A path inside the workspace: relative, with no `..`.
fn safe_relative(path: &str) -> Option<&Path> {
    let path = Path::new(path);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && !path.as_os_str().is_empty()).then_some(path)
}

async fn accept_run(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    Json(run): Json<RunRequest>,
) -> Result<StatusCode, StatusCode> {
    let office = daemon.office().map_err(|(status, _)| status)?;
    authorized(office, &headers)?;
    if office.sealed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(StatusCode::CONFLICT);
    }
    if !office.accepted.lock().await.insert(run.run_id.clone()) {
        return Ok(StatusCode::OK);
    }
    let control = RunControl { session: run.session.clone(), ..RunControl::default() };
    office.controls.lock().expect("controls lock").insert(run.run_id.clone(), control);
    office.queue.send(run).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(StatusCode::ACCEPTED)
}

/// How a stop reaches a run: queued, it ends at once and never starts; running, its
/// process group ends.
#[derive(Clone, Default)]
struct RunControl {
    cancel: CancellationToken,
    /// Who stopped it, for the thread.
    by: Arc<std::sync::OnceLock<String>>,
    /// Taken by whichever comes first: the queue starting the run, or a stop ending it
    /// before it started.
    claimed: Arc<std::sync::atomic::AtomicBool>,
    /// The thread's session: its branch is the one branch the run may push.
    session: String,
}

impl RunControl {
    fn claim(&self) -> bool {
        !self.claimed.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

/// Nova stops a run on someone's word. A run that has already ended is no longer here:
/// 404, and Nova knows it finished on its own.
async fn stop_run(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    axum::extract::Path(run_id): axum::extract::Path<String>,
    Json(stop): Json<StopRequest>,
) -> Result<StatusCode, StatusCode> {
    let office = daemon.office().map_err(|(status, _)| status)?;
    authorized(office, &headers)?;
    let control = office.controls.lock().expect("controls lock").get(&run_id).cloned();
    let Some(control) = control else {
        return Err(StatusCode::NOT_FOUND);
    };
    let _ = control.by.set(stop.by.clone());
    control.cancel.cancel();
    if control.claim() {
        // Still queued: it ends now, not after the runs ahead of it.
        office.controls.lock().expect("controls lock").remove(&run_id);
        let sink = office.sink.clone();
        tokio::spawn(async move {
            let mut emitter = Emitter { sink: &sink, run_id: &run_id, seq: 0 };
            emitter.emit(RunEvent::Stopped { by: stop.by }).await;
        });
    }
    Ok(StatusCode::ACCEPTED)
}

/// Runs prompts in the order Nova sent them: a session's one after another, and as
/// many sessions at once as the office's concurrency allows (one, by default).
async fn run_queue(mut runs: mpsc::UnboundedReceiver<RunRequest>, office: Arc<Office>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(0));
    let mut granted = 0;
    // The sessions with a run going, and what waits behind it.
    let lanes: Arc<std::sync::Mutex<HashMap<String, std::collections::VecDeque<RunRequest>>>> = Arc::default();
    while let Some(run) = runs.recv().await {
        let wanted = run.runtime.concurrency.max(1) as usize;
        if wanted > granted {
            slots.add_permits(wanted - granted);
            granted = wanted;
        }
        let session = session_of(&run);
        {
            let mut lanes = lanes.lock().expect("lanes lock");
            if let Some(waiting) = lanes.get_mut(&session) {
                waiting.push_back(run);
                continue;
            }
            lanes.insert(session.clone(), std::collections::VecDeque::new());
        }
        let (office, slots, lanes) = (office.clone(), slots.clone(), lanes.clone());
        tokio::spawn(async move {
            let mut next = Some(run);
            while let Some(run) = next {
                {
                    let _slot = slots.acquire().await.expect("the slots are never closed");
                    run_one(&run, &office).await;
                }
                let mut lanes = lanes.lock().expect("lanes lock");
                next = lanes.get_mut(&session).and_then(|waiting| waiting.pop_front());
                if next.is_none() {
                    lanes.remove(&session);
                }
            }
        });
    }
}

fn session_of(run: &RunRequest) -> String {
    if run.session.is_empty() { run.run_id.clone() } else { run.session.clone() }
}

/// One run, start to end, reported to Nova.
async fn run_one(run: &RunRequest, office: &Arc<Office>) {
    let control = office.controls.lock().expect("controls lock").get(&run.run_id).cloned();
    let Some(control) = control.filter(RunControl::claim) else {
        return; // stopped while queued: already reported
    };
    let mut emitter = Emitter { sink: &office.sink, run_id: &run.run_id, seq: 0 };
    emitter.emit(RunEvent::Started).await;
    match execute(run, office, &control, &mut emitter).await {
        Ok(Ended::Reported) => {}
        Ok(Ended::Stopped) => {
            let by = control.by.get().cloned().unwrap_or_else(|| "someone".to_owned());
            emitter.emit(RunEvent::Stopped { by }).await;
        }
        Err(error) => emitter.emit(RunEvent::Failed { error: format!("{error:#}") }).await,
    }
    office.controls.lock().expect("controls lock").remove(&run.run_id);
    let _ = std::fs::remove_dir_all(crate::sandbox::scratch_dir(&office.args.workspace).join("runs").join(&run.run_id));
}

/// How a run ended, when nothing went wrong.
enum Ended {
    /// Its terminal event (the result) has been emitted.
    Reported,
    /// Someone stopped it: the runtime's process group has ended.
    Stopped,
}

/// Why a runtime was ended before it finished.
enum Interruption {
    Stopped,
    TimedOut,
}

/// Numbers one run's events as it sends them.
struct Emitter<'a> {
    sink: &'a EventSink,
    run_id: &'a str,
    seq: u64,
}

impl Emitter<'_> {
    async fn emit(&mut self, event: RunEvent) {
        self.sink.send(self.run_id, self.seq, event).await;
        self.seq += 1;
    }
}

/// How long one request through the secrets proxy (or one ask relayed to Nova) may take.
const PROXY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long a stopped runtime's process group has to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs the runtime for one prompt, emitting its events; the terminal event is
/// emitted here unless this returns an error or the run was stopped.
async fn execute(
    run: &RunRequest,
    office: &Office,
    control: &RunControl,
    emitter: &mut Emitter<'_>,
) -> anyhow::Result<Ended> {
    let args = &office.args;
    let exe = std::env::current_exe().context("cannot find the office executable")?;
    let scratch = crate::sandbox::scratch_dir(&args.workspace);
    std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let cli = office_cli(&exe, &args.workspace)?;

    let session = session_of(run);
    let checkout = match &run.repo {
        Some(repo) => {
            let proxied = match &repo.upstream {
                Some(name) => {
                    let upstreams = office.upstreams.lock().await;
                    let upstream = upstreams
                        .iter()
                        .find(|u| &u.name == name)
                        .with_context(|| format!("the repo's upstream `{name}` is not configured for this office"))?;
                    Some((format!("{}/proxy/{name}", office.agent_api), upstream.url.clone()))
                }
                None => None,
            };
            let isolated = run.runtime.concurrency > 1;
            let prepare = async {
                // One checkout at a time: sessions share the clone's refs and index.
                let _git = office.git.lock().await;
                crate::checkout::prepare(&args.workspace, &scratch, repo, &session, &args.office, proxied, isolated)
                    .await
            };
            let prepared = tokio::select! {
                prepared = prepare => prepared,
                () = control.cancel.cancelled() => return Ok(Ended::Stopped),
            };
            let prepared = prepared.with_context(|| format!("cannot check out {}", repo.name))?;
            match &prepared {
                Some(checkout) => {
                    let text = format!("Checked out {} on {}", repo.name, checkout.branch);
                    emitter.emit(RunEvent::Progress { text }).await;
                }
                // Said once a session, on its first run: the office has answered since.
                None if !run.transcript.iter().any(|entry| entry.role == crate::protocol::Speaker::Office) => {
                    let text = format!("{} has no url in nova.toml: working without a checkout", repo.name);
                    emitter.emit(RunEvent::Progress { text }).await;
                }
                None => {}
            }
            prepared
        }
        None => None,
    };
    let brief = crate::checkout::brief(
        &args.office,
        run.repo.as_ref(),
        checkout.as_ref(),
        &run.transcript,
        &run.prompt,
        &run.author,
    );
    // The thread, for runtimes that read files: outside the workspace, rewritten per run.
    let run_dir = scratch.join("runs").join(&run.run_id);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
    let transcript_file = run_dir.join("transcript.json");
    std::fs::write(&transcript_file, serde_json::to_vec_pretty(&run.transcript)?)
        .with_context(|| format!("cannot write {}", transcript_file.display()))?;
    let brief_file = run_dir.join("brief.md");
    std::fs::write(&brief_file, &brief).with_context(|| format!("cannot write {}", brief_file.display()))?;
    let workdir = checkout.as_ref().map_or(args.workspace.clone(), |c| c.dir.clone());
    let proxy = format!("{}/proxy", office.agent_api);

    let vars = serde_json::json!({
        "prompt": run.prompt,
        "brief": brief,
        "run_id": run.run_id,
        "author": run.author,
        "office": args.office,
        "session": session,
        "workspace": args.workspace,
        "repo_dir": workdir,
        "proxy": proxy,
        // The office's commands (`{{office_exe}} agent`), whichever way the daemon runs.
        "office_exe": cli,
    });
    let mut templates = handlebars::Handlebars::new();
    templates.set_strict_mode(true);
    templates.register_escape_fn(handlebars::no_escape);
    let render = |text: &String| templates.render_template(text, &vars);
    let argv: Vec<String> = run
        .runtime
        .command
        .iter()
        .map(render)
        .collect::<Result<_, _>>()
        .context("the runtime command has a bad template")?;
    let env: Vec<(&String, String)> = run
        .runtime
        .env
        .iter()
        .map(|(key, value)| Ok::<_, handlebars::RenderError>((key, render(value)?)))
        .collect::<Result<_, _>>()
        .context("the runtime's env has a bad template")?;
    let (program, rest) = argv.split_first().context("the runtime command is empty")?;
    // The office's commands come first on PATH, as `nova-office`.
    let cli_dir = cli.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(cli_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .context("PATH cannot hold the office's bin dir")?;

    let sandbox = &run.runtime.sandbox;
    let mut command = if sandbox.enabled {
        // The daemon's own executable, never a path the runtime could have swapped: the
        // wrapper runs with the daemon's rights until it has confined itself.
        let mut command = tokio::process::Command::new(&exe);
        if exe.file_name().is_none_or(|name| name != OFFICE_EXE_NAME) {
            command.arg("office");
        }
        command.arg("sandbox").arg("--workspace").arg(&args.workspace).arg("--scratch").arg(&scratch);
        let readable = sandbox
            .read
            .iter()
            .cloned()
            .chain([exe.clone(), crate::sandbox::bin_dir(&args.workspace)])
            .chain(crate::sandbox::program_path(program, Some(&path)));
        for read in readable {
            command.arg("--read").arg(read);
        }
        for port in sandbox.ports.iter().chain([&office.agent_port]) {
            command.arg("--port").arg(port.to_string());
        }
        command.arg("--").arg(program).args(rest);
        command
    } else {
        let mut command = tokio::process::Command::new(program);
        command.args(rest);
        command
    };
    command
        .current_dir(&workdir)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &args.workspace)
        .env("TMPDIR", &scratch)
        .env("LANG", "C.UTF-8")
        .envs(env)
        .env("NOVA_PROMPT", &run.prompt)
        .env("NOVA_RUN_ID", &run.run_id)
        .env("NOVA_AUTHOR", &run.author)
        .env("NOVA_THREAD_ID", &run.thread_id)
        .env("NOVA_SESSION", &session)
        .env("NOVA_OFFICE", &args.office)
        .env("NOVA_WORKSPACE", &args.workspace)
        .env("NOVA_REPO_DIR", &workdir)
        .env("NOVA_TRANSCRIPT", &transcript_file)
        .env("NOVA_BRIEF", &brief_file)
        .env("NOVA_OFFICE_API", &office.agent_api)
        .env("NOVA_OFFICE_CLI", &cli)
        .env("NOVA_PROXY", &proxy)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a stop or a timeout ends whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| match sandbox.enabled {
        // What failed to start is the wrapper (this executable), not yet the runtime.
        true => format!("cannot start the sandbox for the runtime `{program}` ({})", exe.display()),
        false => format!("cannot start the runtime `{program}`"),
    })?;
    let leader = child.id();
    let _registered = RuntimeGroup::register(leader);
    let stdout = child.stdout.take().context("runtime stdout not captured")?;
    let stderr = child.stderr.take().context("runtime stderr not captured")?;
    let stderr_tail = tokio::spawn(async move {
        let mut tail = std::collections::VecDeque::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tail.len() == 10 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        Vec::from(tail).join("\n")
    });

    let timeout = Duration::from_secs(run.runtime.timeout_secs);
    let mut reader = crate::presets::OutputReader::new(run.runtime.output);
    let mut last_progress = None;
    let mut finished = false;
    let mut lines = BufReader::new(stdout).lines();
    let deadline = tokio::time::Instant::now() + timeout;
    // Until the runtime closes its stdout, is stopped, or runs out of time.
    let interrupted = loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line.context("cannot read the runtime's output")? else { break None };
                for event in reader.read(&line) {
                    if finished {
                        continue;
                    }
                    if let RunEvent::Progress { text } = &event {
                        last_progress = Some(text.clone());
                    }
                    finished = event.is_terminal();
                    emitter.emit(event).await;
                }
            }
            () = control.cancel.cancelled() => break Some(Interruption::Stopped),
            () = tokio::time::sleep_until(deadline) => break Some(Interruption::TimedOut),
        }
    };
    if let Some(interruption) = interrupted {
        // What it says while it winds down (its usage, so a stopped run's spend is
        // counted) still counts; nothing else does.
        if let Some(leader) = leader {
            crate::sandbox::signal_group(leader, libc::SIGTERM);
        }
        let grace = tokio::time::Instant::now() + STOP_GRACE;
        while let Ok(Ok(Some(line))) = tokio::time::timeout_at(grace, lines.next_line()).await {
            for event in reader.read(&line).into_iter().filter(|e| matches!(e, RunEvent::Usage { .. })) {
                emitter.emit(event).await;
            }
        }
        end_group(leader).await;
        return match interruption {
            Interruption::Stopped => Ok(Ended::Stopped),
            Interruption::TimedOut => anyhow::bail!("the runtime did not finish within {}", humanize(timeout)),
        };
    }
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => status.context("cannot wait for the runtime")?,
        Err(_) => {
            end_group(leader).await;
            anyhow::bail!("the runtime did not finish within {}", humanize(timeout));
        }
    };
    // What it left running in its group does not outlive the run.
    end_group(leader).await;
    if finished {
        return Ok(Ended::Reported);
    }
    let tail = stderr_tail.await.unwrap_or_default();
    if status.success() {
        let text = reader
            .last_message()
            .map(str::to_owned)
            .or(last_progress)
            .unwrap_or_else(|| "The runtime finished without reporting anything.".to_owned());
        emitter.emit(RunEvent::Result { text }).await;
        Ok(Ended::Reported)
    } else if tail.is_empty() {
        anyhow::bail!("the runtime exited with {status}")
    } else {
        anyhow::bail!("the runtime exited with {status}:\n{tail}")
    }
}

/// Ends a runtime's process group: SIGTERM, then SIGKILL for whatever is left after
/// [`STOP_GRACE`].
async fn end_group(leader: Option<u32>) {
    let Some(leader) = leader else { return };
    crate::sandbox::signal_group(leader, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while tokio::time::Instant::now() < deadline && crate::sandbox::group_alive(leader) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crate::sandbox::signal_group(leader, libc::SIGKILL);
}

/// The office's commands as one executable path, so `"$NOVA_OFFICE_CLI" request-approval
/// …` works quoted: `nova-office` itself, or (when the daemon runs as `nova office`) a
/// link named `nova-office` to it, which `nova` answers as `nova office`. The link lives
/// beside the workspace, where a sandboxed runtime may read but not write.
fn office_cli(exe: &Path, workspace: &Path) -> anyhow::Result<PathBuf> {
    if exe.file_name().is_some_and(|name| name == OFFICE_EXE_NAME) {
        return Ok(exe.to_path_buf());
    }
    let bin = crate::sandbox::bin_dir(workspace);
    std::fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let link = bin.join(OFFICE_EXE_NAME);
    if std::fs::read_link(&link).ok().as_deref() != Some(exe) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(exe, &link).with_context(|| format!("cannot link {}", link.display()))?;
    }
    Ok(link)
}

/// The office daemon's name: as a binary, or as the link `nova` answers as `nova office`.
pub const OFFICE_EXE_NAME: &str = "nova-office";

/// Agent → office → Nova: an approval or credential ask, with the office's token.
async fn agent_ask(
    State(office): State<Arc<Office>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, (StatusCode, String)> {
    let run_id = headers
        .get(RUN_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or((StatusCode::BAD_REQUEST, "X-Nova-Run-Id is required (it is in NOVA_RUN_ID)".to_owned()))?;
    let request = office
        .http
        .post(format!("{}/api/office{}", office.args.nova_url.trim_end_matches('/'), uri.path()))
        .bearer_auth(&office.token)
        .header(RUN_ID_HEADER, run_id)
        .header("content-type", "application/json")
        .body(body);
    relay(request).await
}

/// Agent → office → Nova: the answer to an earlier ask.
async fn agent_answer(
    State(office): State<Arc<Office>>,
    uri: axum::http::Uri,
) -> Result<axum::response::Response, (StatusCode, String)> {
    let url = format!("{}/api/office{}", office.args.nova_url.trim_end_matches('/'), uri.path());
    relay(office.http.get(url).bearer_auth(&office.token)).await
}

async fn relay(request: reqwest::RequestBuilder) -> Result<axum::response::Response, (StatusCode, String)> {
    use axum::response::IntoResponse;
    let response = request.send().await.map_err(|e| (StatusCode::BAD_GATEWAY, format!("Nova is unreachable: {e}")))?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = response.bytes().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok((status, [("content-type", "application/json")], body).into_response())
}

/// The secrets proxy: `/proxy/{upstream}/{rest}` → the upstream's URL with its
/// credential injected. The agent never sees the credential; a name that is not a
/// configured upstream is refused.
async fn proxy(
    State(office): State<Arc<Office>>,
    axum::extract::Path((name, rest)): axum::extract::Path<(String, String)>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, (StatusCode, String)> {
    use axum::response::IntoResponse;
    let upstream = {
        let upstreams = office.upstreams.lock().await;
        upstreams.iter().find(|u| u.name == name).cloned().ok_or_else(|| {
            let known: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
            let message =
                format!("upstream `{name}` is not configured for this office (configured: {})", known.join(", "));
            (StatusCode::FORBIDDEN, message)
        })?
    };
    let credential = match &upstream.secret {
        Some(secret) => Some(upstream.value.replace("{secret}", &fetch_secret(&office, secret).await?)),
        None => None,
    };
    let url = upstream_url(&upstream.url, &rest, uri.query()).map_err(|refused| (StatusCode::BAD_REQUEST, refused))?;
    if rest.ends_with("git-receive-pack") && method == axum::http::Method::POST {
        let encoded = headers.get("content-encoding").is_some_and(|v| v.as_bytes() != b"identity");
        let controls = office.controls.lock().expect("controls lock");
        let pushable: Vec<String> =
            controls.values().map(|control| crate::checkout::session_branch(&control.session)).collect();
        drop(controls);
        session_branches_only(&body, encoded, &pushable).map_err(|refused| (StatusCode::FORBIDDEN, refused))?;
    }
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|_| (StatusCode::BAD_REQUEST, "bad method".to_owned()))?;
    let mut request = office.http.request(method, url).body(body);
    for (header, header_value) in &headers {
        let hop =
            ["host", "authorization", "connection", "content-length", "transfer-encoding"].contains(&header.as_str());
        if !hop && !header.as_str().eq_ignore_ascii_case(&upstream.header) {
            request = request.header(header.as_str(), header_value.as_bytes());
        }
    }
    if let Some(credential) = credential {
        request = request.header(upstream.header.as_str(), credential);
    }
    let response = request
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("upstream `{name}` is unreachable: {}", e.without_url())))?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body = response.bytes().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok((status, [("content-type", content_type)], body).into_response())
}

/// The value of an upstream's secret, from Nova. Fails closed: a request without its
/// credential never goes out.
async fn fetch_secret(office: &Office, name: &str) -> Result<String, (StatusCode, String)> {
    let secret = office
        .http
        .get(format!("{}/api/office/secrets/{name}", office.args.nova_url.trim_end_matches('/')))
        .bearer_auth(&office.token)
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("Nova is unreachable: {e}")))?;
    match secret.status() {
        reqwest::StatusCode::NOT_FOUND => {
            let message = format!("no credential `{name}` yet: ask for it with request-credential");
            return Err((StatusCode::UNAUTHORIZED, message));
        }
        status if !status.is_success() => {
            let message = format!("Nova did not give the credential `{name}` ({status})");
            return Err((StatusCode::BAD_GATEWAY, message));
        }
        _ => {}
    }
    let secret: serde_json::Value = secret.json().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    match secret["value"].as_str().filter(|value| !value.is_empty()) {
        Some(value) => Ok(value.to_owned()),
        None => Err((StatusCode::BAD_GATEWAY, format!("Nova gave no value for `{name}`"))),
    }
}

/// Refuses a `git push` (a smart-HTTP receive-pack request) that updates a ref other than
/// the branches of the sessions this office is running (`pushable`, as `nova/s-…`).
/// Everything else (the base branch, tags, other sessions' branches) reaches a repo only
/// through a review's merge, so a runtime with the office's push credential still cannot
/// land work unreviewed. Fails closed: a body that cannot be read is refused too.
fn session_branches_only(body: &[u8], encoded: bool, pushable: &[String]) -> Result<(), String> {
    if encoded {
        return Err("a compressed push cannot be checked, so it is refused".to_owned());
    }
    let mut rest = body;
    let mut updates = 0;
    loop {
        let length = rest
            .get(..4)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or("the push is not a git receive-pack request")?;
        if length == 0 {
            break;
        }
        let line = rest.get(4..length).ok_or("the push's command list is cut short")?;
        let command = line.split(|b| *b == 0).next().unwrap_or_default();
        let command = std::str::from_utf8(command).map_err(|_| "a ref name that is not UTF-8")?.trim_end();
        let refname = command.splitn(3, ' ').nth(2).ok_or("a push command without a ref")?;
        if !refname.strip_prefix("refs/heads/").is_some_and(|branch| pushable.iter().any(|p| p == branch)) {
            return Err(format!(
                "a run pushes only its session's branch ({}): `{refname}` changes through a review",
                pushable.join(", ")
            ));
        }
        updates += 1;
        rest = &rest[length..];
    }
    if updates == 0 {
        return Err("the push updates no ref".to_owned());
    }
    Ok(())
}

/// The upstream URL for a proxied path: `rest` (already percent-decoded) appended to the
/// upstream's base one segment at a time, each re-encoded, so the request stays under
/// the base: `.` and `..` segments are refused, and an encoded `/` is just a separator.
fn upstream_url(base: &str, rest: &str, query: Option<&str>) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("the upstream's URL is invalid: {e}"))?;
    let segments: Vec<&str> = rest.split(['/', '\\']).collect();
    if segments.iter().any(|segment| matches!(*segment, "." | "..")) {
        return Err("a proxied path stays under the upstream's base: `.` and `..` are refused".to_owned());
    }
    url.path_segments_mut()
        .map_err(|()| "the upstream's URL cannot take a path".to_owned())?
        .pop_if_empty()
        .extend(segments);
    url.set_query(query);
    Ok(url)
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApprovalArgs {
    /// What kind of action: destructive, deploy, spend, create_office… (policies match it).
    #[arg(long)]
    pub kind: String,
    /// What exactly, in a few words: "drop the table legacy_orders".
    #[arg(long)]
    pub action: String,
    #[arg(long, default_value = "")]
    pub details: String,
    #[arg(long, default_value = "medium")]
    pub risk: String,
    #[arg(long)]
    pub amount_usd: Option<f64>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct HandoffArgs {
    /// The office to hand the work to.
    #[arg(long)]
    pub to: String,
    /// What it should do, as you would ask a colleague.
    #[arg(long)]
    pub prompt: String,
}

/// `handoff`: hands work to another office. It does not wait: the other office's
/// outcome comes back to this session as a new message.
pub async fn hand_off(args: HandoffArgs) -> anyhow::Result<std::process::ExitCode> {
    let to = post_handoff(&args.to, &args.prompt).await?;
    println!("handed to {to}; its outcome comes back to this session as a new message");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Posts a handoff through the office's agent API; the office it went to.
pub(crate) async fn post_handoff(to: &str, prompt: &str) -> anyhow::Result<String> {
    let api = std::env::var("NOVA_OFFICE_API").context("NOVA_OFFICE_API is not set: run me from an office runtime")?;
    let run_id = std::env::var("NOVA_RUN_ID").context("NOVA_RUN_ID is not set")?;
    let response = reqwest::Client::new()
        .post(format!("{api}/handoffs"))
        .header(RUN_ID_HEADER, &run_id)
        .json(&serde_json::json!({"to": to, "prompt": prompt}))
        .send()
        .await
        .context("the office daemon did not answer")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("Nova refused the handoff: {}", body["error"].as_str().unwrap_or("unknown error"));
    }
    Ok(body["to"].as_str().unwrap_or(to).to_owned())
}

#[derive(Debug, Clone, clap::Args)]
pub struct CredentialArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub why: String,
    /// `office` (default) or `workspace`.
    #[arg(long)]
    pub scope: Option<String>,
}

/// `request-approval`: asks, waits for a person, prints the decision. Exit status 0
/// approved, 3 rejected, 4 expired.
pub async fn request_approval(args: ApprovalArgs) -> anyhow::Result<std::process::ExitCode> {
    let body = serde_json::json!({
        "kind": args.kind, "action": args.action, "details": args.details, "risk": args.risk, "amount_usd": args.amount_usd
    });
    let answer = ask_and_wait("approvals", body).await?;
    println!("{}", answer.printed());
    Ok(std::process::ExitCode::from(match answer.state.as_str() {
        "approved" => 0,
        "rejected" => 3,
        _ => 4,
    }))
}

/// `request-credential`: asks, waits until a person provides it (into the vault). Exit
/// status 0 provided, 4 expired.
pub async fn request_credential(args: CredentialArgs) -> anyhow::Result<std::process::ExitCode> {
    let body = serde_json::json!({"name": args.name, "why": args.why, "scope": args.scope});
    let answer = ask_and_wait("credentials", body).await?;
    println!("{}", answer.printed());
    Ok(std::process::ExitCode::from(if answer.state == "provided" { 0 } else { 4 }))
}

/// How a person answered an ask.
pub(crate) struct Answer {
    /// `approved`, `rejected`, `provided`, `expired`.
    pub state: String,
    pub by: Option<String>,
}

impl Answer {
    /// As the runtime is told: `approved by carol`.
    pub fn printed(&self) -> String {
        format!("{}{}", self.state, self.by.as_deref().map(|by| format!(" by {by}")).unwrap_or_default())
    }
}

/// Posts an ask to the office's agent API and polls until it is no longer pending.
/// Polling (not a held connection) is what lets the wait survive a sleep and a wake.
pub(crate) async fn ask_and_wait(kind: &str, body: serde_json::Value) -> anyhow::Result<Answer> {
    let api = std::env::var("NOVA_OFFICE_API").context("NOVA_OFFICE_API is not set: run me from an office runtime")?;
    let run_id = std::env::var("NOVA_RUN_ID").context("NOVA_RUN_ID is not set")?;
    let client = reqwest::Client::new();
    // An ask is idempotent (Nova answers a run's repeated ask with the first one), so a
    // failure on Nova's side or on the way is asked again; a refusal is final.
    let mut delay = Duration::from_millis(100);
    let response = loop {
        let sent = client.post(format!("{api}/{kind}")).header(RUN_ID_HEADER, &run_id).json(&body).send().await;
        match sent {
            Ok(response) if response.status().is_client_error() => {
                let error: serde_json::Value = response.json().await.unwrap_or_default();
                anyhow::bail!("Nova refused the ask: {}", error["error"].as_str().unwrap_or("unknown error"));
            }
            Ok(response) if response.status().is_success() => break response,
            Ok(response) if delay > Duration::from_secs(10) => {
                anyhow::bail!("Nova cannot take the ask: {}", response.status())
            }
            Err(error) if delay > Duration::from_secs(10) => anyhow::bail!("Nova cannot be reached: {error}"),
            _ => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    };
    let mut answer: serde_json::Value = response.json().await?;
    let id = answer["id"].as_str().context("Nova's answer has no id")?.to_owned();
    loop {
        let state = answer["state"].as_str().unwrap_or("pending").to_owned();
        if state != "pending" {
            return Ok(Answer { state, by: answer["by"].as_str().map(str::to_owned) });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        match client.get(format!("{api}/{kind}/{id}")).send().await {
            Ok(response) if response.status().is_success() => answer = response.json().await?,
            // The office may be asleep or waking: keep waiting.
            _ => {}
        }
    }
}

fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 { format!("{} min", secs / 60) } else { format!("{secs} s") }
}

/// Delivers events to Nova in order, retrying through Nova restarts.
struct EventSink {
    client: reqwest::Client,
    url: String,
    token: String,
    office: String,
    generation: i64,
}

impl EventSink {
    fn new(args: &ServeArgs, token: String) -> Self {
        Self {
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("a default HTTP client"),
            url: format!("{}/api/office/events", args.nova_url.trim_end_matches('/')),
            token,
            office: args.office.clone(),
            generation: args.generation,
        }
    }

    async fn send(&self, run_id: &str, seq: u64, event: RunEvent) {
        let envelope = EventEnvelope {
            office: self.office.clone(),
            generation: self.generation,
            run_id: run_id.to_owned(),
            seq,
            event,
        };
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=30 {
            let sent = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .header(RUN_ID_HEADER, run_id)
                .json(&envelope)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return,
                // Nova refused the event for good (a stale generation, a bad token).
                Ok(response) if response.status().is_client_error() => {
                    eprintln!("Nova refused event {seq} of run {run_id}: {}", response.status());
                    return;
                }
                Ok(response) => eprintln!("event {seq} of run {run_id}: attempt {attempt}: {}", response.status()),
                Err(error) => eprintln!("event {seq} of run {run_id}: attempt {attempt}: {error}"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        eprintln!("gave up delivering event {seq} of run {run_id}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_paths_stay_inside_the_workspace() {
        assert!(safe_relative("SOUL.md").is_some());
        assert!(safe_relative("skills/git/SKILL.md").is_some());
        assert!(safe_relative("../etc/passwd").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("a/../../b").is_none());
        assert!(safe_relative("").is_none());
    }

    #[test]
    fn a_push_through_the_proxy_may_update_session_branches_only() {
        let pkt = |line: &str| format!("{:04x}{line}", line.len() + 4);
        let (old, new) = ("0".repeat(40), "a".repeat(40));
        let push = |refs: &[&str]| {
            let mut body = String::new();
            for (i, name) in refs.iter().enumerate() {
                let caps = if i == 0 { "\0report-status side-band-64k" } else { "" };
                body.push_str(&pkt(&format!("{old} {new} {name}{caps}\n")));
            }
            body.push_str("0000PACK...");
            body.into_bytes()
        };
        let mine = ["nova/s-1a2b".to_owned()];
        let check = |body: &[u8], encoded: bool| session_branches_only(body, encoded, &mine);
        assert_eq!(check(&push(&["refs/heads/nova/s-1a2b"]), false), Ok(()));
        assert_eq!(
            check(&push(&["refs/heads/nova/s-1a2b", "refs/heads/main"]), false).unwrap_err(),
            "a run pushes only its session's branch (nova/s-1a2b): `refs/heads/main` changes through a review"
        );
        assert!(check(&push(&["refs/heads/nova/s-other"]), false).is_err(), "another session's branch");
        assert!(check(&push(&["refs/tags/v1"]), false).is_err());
        assert!(check(&push(&["refs/heads/nova/s-1a2b"]), true).is_err(), "compressed: refused");
        assert!(check(b"garbage", false).is_err());
        assert!(check(b"0000", false).is_err());
        assert!(check(b"00ffshort", false).is_err());
    }

    #[test]
    fn proxied_paths_stay_under_the_upstream_base() {
        let base = "https://api.example.com/v1/";
        let url = |rest: &str| upstream_url(base, rest, None).map(|url| url.to_string());
        assert_eq!(url("chat/completions").unwrap(), "https://api.example.com/v1/chat/completions");
        assert!(url("../admin").is_err());
        assert!(url("a/../../admin").is_err(), "decoded `..%2F..%2F` is refused");
        assert!(url("a\\..\\..\\admin").is_err());
        assert_eq!(url("a%2Fb/c?d").unwrap(), "https://api.example.com/v1/a%252Fb/c%3Fd", "no smuggled query");
        assert_eq!(upstream_url(base, "x", Some("q=1")).unwrap().as_str(), "https://api.example.com/v1/x?q=1");
    }
}
