//! The office daemon (`nova-office serve`): runs inside the office's machine, takes
//! prompts from Nova, runs the configured agent runtime on each in the workspace with a
//! clean environment, and relays what the runtime reports back to Nova.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex, mpsc};

use crate::protocol::{
    ContextFiles, EventEnvelope, Health, LISTENING_PREFIX, RUN_ID_HEADER, RunEvent, RunRequest, parse_runtime_line,
    secrets_match,
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

struct Office {
    args: ServeArgs,
    token: String,
    queue: mpsc::UnboundedSender<RunRequest>,
    accepted: Mutex<HashSet<String>>,
}

/// Runs the daemon until stdin closes (with `--exit-with-stdin`) or the process is
/// stopped. The token comes from `NOVA_OFFICE_TOKEN`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = std::env::var("NOVA_OFFICE_TOKEN").context("NOVA_OFFICE_TOKEN is not set")?;
    std::fs::create_dir_all(&args.workspace).with_context(|| format!("cannot create {}", args.workspace.display()))?;
    let (queue, runs) = mpsc::unbounded_channel();
    let office =
        Arc::new(Office { args: args.clone(), token: token.clone(), queue, accepted: Mutex::new(HashSet::new()) });
    let sink = EventSink::new(&args, token);
    tokio::spawn(run_queue(runs, args.clone(), sink));

    let app = Router::new()
        .route("/healthz", get(health))
        .route("/context", post(write_context))
        .route("/runs", post(accept_run))
        .with_state(office);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("{LISTENING_PREFIX}{}", listener.local_addr()?);
    if args.exit_with_stdin {
        tokio::spawn(async {
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = stdin.next_line().await {}
            std::process::exit(0);
        });
    }
    axum::serve(listener, app).await.context("office server failed")
}

fn authorized(office: &Office, headers: &HeaderMap) -> Result<(), StatusCode> {
    let expected = format!("Bearer {}", office.token);
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let same = secrets_match(given.as_bytes(), expected.as_bytes());
    if same { Ok(()) } else { Err(StatusCode::UNAUTHORIZED) }
}

async fn health(State(office): State<Arc<Office>>) -> Json<Health> {
    Json(Health {
        office: office.args.office.clone(),
        generation: office.args.generation,
        version: crate::RUNTIME_VERSION.to_owned(),
    })
}

async fn write_context(
    State(office): State<Arc<Office>>,
    headers: HeaderMap,
    Json(context): Json<ContextFiles>,
) -> Result<StatusCode, (StatusCode, String)> {
    authorized(&office, &headers).map_err(|s| (s, "bad token".to_owned()))?;
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
    Ok(StatusCode::NO_CONTENT)
}

/// A path inside the workspace: relative, with no `..`.
fn safe_relative(path: &str) -> Option<&Path> {
    let path = Path::new(path);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && !path.as_os_str().is_empty()).then_some(path)
}

async fn accept_run(
    State(office): State<Arc<Office>>,
    headers: HeaderMap,
    Json(run): Json<RunRequest>,
) -> Result<StatusCode, StatusCode> {
    authorized(&office, &headers)?;
    if !office.accepted.lock().await.insert(run.run_id.clone()) {
        return Ok(StatusCode::OK);
    }
    office.queue.send(run).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(StatusCode::ACCEPTED)
}

/// Runs prompts one at a time, in the order Nova sent them.
async fn run_queue(mut runs: mpsc::UnboundedReceiver<RunRequest>, args: ServeArgs, sink: EventSink) {
    while let Some(run) = runs.recv().await {
        let mut emitter = Emitter { sink: &sink, run_id: &run.run_id, seq: 0 };
        emitter.emit(RunEvent::Started).await;
        if let Err(error) = execute(&run, &args, &mut emitter).await {
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

async fn execute(run: &RunRequest, args: &ServeArgs, emitter: &mut Emitter<'_>) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the office executable")?;
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

    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .current_dir(&args.workspace)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &args.workspace)
        .env("LANG", "C.UTF-8")
        .envs(&run.runtime.env)
        .env("NOVA_PROMPT", &run.prompt)
        .env("NOVA_RUN_ID", &run.run_id)
        .env("NOVA_AUTHOR", &run.author)
        .env("NOVA_THREAD_ID", &run.thread_id)
        .env("NOVA_OFFICE", &args.office)
        .env("NOVA_WORKSPACE", &args.workspace)
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
}
