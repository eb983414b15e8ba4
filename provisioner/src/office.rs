//! The office daemon (`nova-office serve`): runs inside the office's machine, takes
//! prompts from Nova, runs the configured agent runtime on each in the workspace with a
//! clean environment, and relays what the runtime reports back to Nova.
//!
//! On a pool VM the daemon starts unassigned (`nova-office pool`): it boots ahead of
//! need, and Nova then assigns it an office (`POST /assign`) and hands it the office's
//! latest snapshot (`POST /restore`). When the office goes to sleep, Nova takes its
//! snapshot (`POST /snapshot` answers with the archive) and deletes the VM. The VM
//! never holds a storage credential: Nova reads and writes the bucket.

use std::collections::HashSet;
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

use crate::protocol::{
    Assignment, ContextFiles, EventEnvelope, Health, LISTENING_PREFIX, RUN_ID_HEADER, RunEvent, RunRequest, Upstream,
    parse_runtime_line, secrets_match,
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
async fn open_office(args: ServeArgs, token: String, compression: Option<i32>) -> anyhow::Result<Arc<Office>> {
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
        agent_api,
        agent_port,
        upstreams: Mutex::new(Vec::new()),
        // A redirect would carry the injected credential to wherever the upstream
        // points (reqwest drops only `Authorization` on a cross-host hop): never follow.
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        compression,
        sealed: false.into(),
    });
    let sink = EventSink::new(&args, token);
    tokio::spawn(run_queue(runs, office.clone(), sink));

    // The agent's API: loopback only, never on the address Nova reaches.
    let agent = Router::new()
        .route("/approvals", post(agent_ask))
        .route("/approvals/{id}", get(agent_answer))
        .route("/credentials", post(agent_ask))
        .route("/credentials/{id}", get(agent_answer))
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
        .route("/snapshot", post(snapshot))
        .route("/restore", post(restore))
        .with_state(Arc::new(daemon));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("{LISTENING_PREFIX}{}", listener.local_addr()?);
    if exit_with_stdin {
        tokio::spawn(async {
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = stdin.next_line().await {}
            std::process::exit(0);
        });
    }
    axum::serve(listener.tap_io(no_delay), app).await.context("office server failed")
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

/// Nova hands a newly assigned office its workspace: the body is the snapshot archive.
/// Only before the office's first run, so a late retry cannot roll back its work.
async fn restore(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, (StatusCode, String)> {
    use futures::StreamExt as _;
    use std::io::{Seek, SeekFrom, Write as _};
    let office = daemon.office()?;
    authorized(office, &headers).map_err(|s| (s, "bad token".to_owned()))?;
    if office.compression.is_none() {
        return Err((StatusCode::CONFLICT, "Nova restores this office's workspace where it runs".to_owned()));
    }
    if !office.accepted.lock().await.is_empty() {
        return Err((StatusCode::CONFLICT, "the office has started working: its workspace is newer".to_owned()));
    }
    let internal = |error: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"));
    let mut archive = tempfile::tempfile().map_err(|e| internal(e.into()))?;
    let (mut received, limit) = (0u64, crate::snapshot::DEFAULT_MAX_BYTES);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (StatusCode::BAD_REQUEST, format!("the archive did not arrive whole: {e}")))?;
        received += chunk.len() as u64;
        if received > limit {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("a snapshot may hold at most {limit} bytes")));
        }
        archive.write_all(&chunk).map_err(|e| internal(e.into()))?;
    }
    archive.seek(SeekFrom::Start(0)).map_err(|e| internal(e.into()))?;
    let (workspace, name) = (office.args.workspace.clone(), office.args.office.clone());
    tokio::task::spawn_blocking(move || crate::snapshot::unarchive(archive, &name, &workspace, limit))
        .await
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("restore task failed: {error}")))?
        .map_err(|error| (StatusCode::UNPROCESSABLE_ENTITY, format!("{error:#}")))?;
    Ok(StatusCode::NO_CONTENT)
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
    office.queue.send(run).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(StatusCode::ACCEPTED)
}

/// Runs prompts one at a time, in the order Nova sent them.
async fn run_queue(mut runs: mpsc::UnboundedReceiver<RunRequest>, office: Arc<Office>, sink: EventSink) {
    while let Some(run) = runs.recv().await {
        let mut emitter = Emitter { sink: &sink, run_id: &run.run_id, seq: 0 };
        emitter.emit(RunEvent::Started).await;
        if let Err(error) = execute(&run, &office, &mut emitter).await {
            emitter.emit(RunEvent::Failed { error: format!("{error:#}") }).await;
        }
    }
}

/// Runs the runtime for one prompt, emitting its events; the terminal event is
/// emitted here unless this returns an error.
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

async fn execute(run: &RunRequest, office: &Office, emitter: &mut Emitter<'_>) -> anyhow::Result<()> {
    let args = &office.args;
    let exe = std::env::current_exe().context("cannot find the office executable")?;
    // How the runtime calls this daemon's commands: `nova office …` or `nova-office …`.
    let cli = match std::env::args().nth(1).as_deref() {
        Some("office") => format!("{} office", exe.display()),
        _ => exe.display().to_string(),
    };
    let vars = serde_json::json!({
        "prompt": run.prompt,
        "run_id": run.run_id,
        "author": run.author,
        "office": args.office,
        "workspace": args.workspace,
        "office_exe": exe,
    });
    let mut templates = handlebars::Handlebars::new();
    templates.set_strict_mode(true);
    templates.register_escape_fn(handlebars::no_escape);
    let argv: Vec<String> = run
        .runtime
        .command
        .iter()
        .map(|arg| templates.render_template(arg, &vars))
        .collect::<Result<_, _>>()
        .context("the runtime command has a bad template")?;
    let (program, rest) = argv.split_first().context("the runtime command is empty")?;
    let scratch = crate::sandbox::scratch_dir(&args.workspace);
    std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let path = std::env::var_os("PATH").unwrap_or_default();

    let sandbox = &run.runtime.sandbox;
    let mut command = if sandbox.enabled {
        let mut command = tokio::process::Command::new(&exe);
        if cli.ends_with(" office") {
            command.arg("office");
        }
        command.arg("sandbox").arg("--workspace").arg(&args.workspace).arg("--scratch").arg(&scratch);
        let readable =
            sandbox.read.iter().cloned().chain([exe.clone()]).chain(crate::sandbox::program_path(program, Some(&path)));
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
        .current_dir(&args.workspace)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &args.workspace)
        .env("TMPDIR", &scratch)
        .env("LANG", "C.UTF-8")
        .envs(&run.runtime.env)
        .env("NOVA_PROMPT", &run.prompt)
        .env("NOVA_RUN_ID", &run.run_id)
        .env("NOVA_AUTHOR", &run.author)
        .env("NOVA_THREAD_ID", &run.thread_id)
        .env("NOVA_OFFICE", &args.office)
        .env("NOVA_WORKSPACE", &args.workspace)
        .env("NOVA_OFFICE_API", &office.agent_api)
        .env("NOVA_OFFICE_CLI", &cli)
        .env("NOVA_PROXY", format!("{}/proxy", office.agent_api))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("cannot start the runtime `{program}`"))?;
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
    let mut last_progress = None;
    let mut finished = false;
    let streamed = tokio::time::timeout(timeout, async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            let Some(event) = parse_runtime_line(&line) else {
                continue;
            };
            if finished {
                continue;
            }
            if let RunEvent::Progress { text } = &event {
                last_progress = Some(text.clone());
            }
            finished = event.is_terminal();
            emitter.emit(event).await;
        }
        child.wait().await
    })
    .await;
    let status = match streamed {
        Ok(status) => status.context("cannot wait for the runtime")?,
        Err(_) => {
            let _ = child.kill().await;
            anyhow::bail!("the runtime did not finish within {}", humanize(timeout));
        }
    };
    if finished {
        return Ok(());
    }
    let tail = stderr_tail.await.unwrap_or_default();
    if status.success() {
        let text = last_progress.unwrap_or_else(|| "The runtime finished without reporting anything.".to_owned());
        emitter.emit(RunEvent::Result { text }).await;
        Ok(())
    } else if tail.is_empty() {
        anyhow::bail!("the runtime exited with {status}")
    } else {
        anyhow::bail!("the runtime exited with {status}:\n{tail}")
    }
}

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
    let secret = office
        .http
        .get(format!("{}/api/office/secrets/{}", office.args.nova_url.trim_end_matches('/'), upstream.secret))
        .bearer_auth(&office.token)
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("Nova is unreachable: {e}")))?;
    // Fail closed: a request without its credential never goes out.
    match secret.status() {
        reqwest::StatusCode::NOT_FOUND => {
            let message = format!("no credential `{}` yet: ask for it with request-credential", upstream.secret);
            return Err((StatusCode::UNAUTHORIZED, message));
        }
        status if !status.is_success() => {
            let message = format!("Nova did not give the credential `{}` ({status})", upstream.secret);
            return Err((StatusCode::BAD_GATEWAY, message));
        }
        _ => {}
    }
    let secret: serde_json::Value = secret.json().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    let Some(secret) = secret["value"].as_str().filter(|value| !value.is_empty()) else {
        return Err((StatusCode::BAD_GATEWAY, format!("Nova gave no value for `{}`", upstream.secret)));
    };
    let value = upstream.value.replace("{secret}", secret);
    let url = upstream_url(&upstream.url, &rest, uri.query()).map_err(|refused| (StatusCode::BAD_REQUEST, refused))?;
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
    let response = request
        .header(upstream.header.as_str(), value)
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
    let state = ask_and_wait("approvals", body).await?;
    Ok(std::process::ExitCode::from(match state.as_str() {
        "approved" => 0,
        "rejected" => 3,
        _ => 4,
    }))
}

/// `request-credential`: asks, waits until a person provides it (into the vault). Exit
/// status 0 provided, 4 expired.
pub async fn request_credential(args: CredentialArgs) -> anyhow::Result<std::process::ExitCode> {
    let body = serde_json::json!({"name": args.name, "why": args.why, "scope": args.scope});
    let state = ask_and_wait("credentials", body).await?;
    Ok(std::process::ExitCode::from(if state == "provided" { 0 } else { 4 }))
}

/// Posts an ask to the office's agent API and polls until it is no longer pending.
/// Polling (not a held connection) is what lets the wait survive a sleep and a wake.
async fn ask_and_wait(kind: &str, body: serde_json::Value) -> anyhow::Result<String> {
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
            println!("{state}{}", answer["by"].as_str().map(|by| format!(" by {by}")).unwrap_or_default());
            return Ok(state);
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
