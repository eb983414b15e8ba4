//! The chat surfaces, the HTTP server and the `nova` CLI. Every platform payload is
//! verified and turned into a typed orchestrator event here, at the edge.

pub mod ask_cmd;
pub mod bench;
pub mod cases;
pub mod config_watch;
pub mod console;
pub mod discord;
pub mod github;
pub mod http_error;
pub mod metrics;
pub mod mirror;
pub mod office_api;
pub mod route_cmd;
pub mod server;
pub mod sign_in;
#[cfg(feature = "lab")]
pub mod simulate;
pub mod slack;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use orchestrator::config::Config;
use orchestrator::store::{Store, database_url};
use orchestrator::{Engine, EngineOptions};

/// How to start Nova.
pub struct Options {
    pub config: Config,
    /// The file `config` came from: its changes are picked up while Nova runs.
    pub config_path: Option<PathBuf>,
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// How to start an office daemon (see [`office_program`]).
    pub office_program: Vec<String>,
    /// Overrides the database URL (tests give each run a fresh database).
    pub database_url: Option<String>,
    /// Run the engine. Off, Nova only records and acknowledges: the state right after
    /// a crash that followed an acknowledgement.
    pub run_engine: bool,
    /// Slack, if configured (see [`slack::settings::SlackSettings::from_env`]).
    pub slack: Option<slack::settings::SlackSettings>,
    /// Discord, if configured (see [`discord::settings::DiscordSettings::from_env`]).
    pub discord: Option<discord::settings::DiscordSettings>,
    /// GCE, if configured (see [`gce_from_env`]); used by `backend = "gce"`.
    pub gce: Option<orchestrator::engine::GceSetup>,
}

/// How long stopping Nova waits for a mirror pass still sending (one a platform is
/// rate-limiting may take longer; its messages are then sent again after a restart).
const MIRROR_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A running Nova: the HTTP server and the engine.
pub struct Running {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    server: tokio::task::JoinHandle<()>,
    engine_task: Option<tokio::task::JoinHandle<()>>,
    /// Surface workers (mirrors, Socket Mode, the Discord gateway) and the config watcher.
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// The mirrors' passes in flight, finished before Nova stops.
    mirror_passes: mirror::Passes,
    discord: Option<Arc<discord::Discord>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server, the engine and every office process it started.
    pub async fn stop(self) {
        self.server.abort();
        if let Some(discord) = &self.discord {
            discord.shutdown().await;
        }
        for worker in self.workers {
            worker.abort();
            let _ = worker.await;
        }
        mirror::drain(&self.mirror_passes, MIRROR_DRAIN).await;
        if let Some(task) = self.engine_task {
            task.abort();
            let _ = task.await;
        }
        let _ = self.server.await;
        self.engine.shutdown().await;
    }
}

/// The office program of this executable: `nova office`.
pub fn office_program() -> anyhow::Result<Vec<String>> {
    let exe: PathBuf = std::env::current_exe().context("cannot find the nova executable")?;
    Ok(vec![exe.display().to_string(), "office".to_owned()])
}

/// GCE settings from `GCE_*` and credentials from `GOOGLE_APPLICATION_CREDENTIALS` (a
/// service-account key file) or, without it, the machine's own service account (Nova
/// on a GCE VM). `None`: `GCE_PROJECT` is not set.
pub async fn gce_from_env() -> anyhow::Result<Option<orchestrator::engine::GceSetup>> {
    let Some(settings) = provisioner::gce::GceSettings::from_env(|name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    let tokens: Arc<dyn gcp_auth::TokenProvider> =
        match std::env::var("GOOGLE_APPLICATION_CREDENTIALS").ok().filter(|v| !v.is_empty()) {
            Some(key) => Arc::new(
                gcp_auth::CustomServiceAccount::from_file(&key)
                    .with_context(|| format!("cannot read the service-account key {key}"))?,
            ),
            None => gcp_auth::provider().await.context(
                "no GCE credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, \
                 or run Nova on a GCE VM with a service account",
            )?,
        };
    Ok(Some(orchestrator::engine::GceSetup { settings, tokens }))
}

pub async fn start(options: Options) -> anyhow::Result<Running> {
    // Two rustls crypto providers end up in the dependency tree; rustls then needs to
    // be told which one to use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Arc::new(options.config);
    orchestrator::store::ensure_private_dir(&config.store.data_dir)?;
    let url = options
        .database_url
        .unwrap_or_else(|| database_url(config.store.database_url.as_deref(), &config.store.data_dir));
    let store = Store::connect(&url).await?;
    let listen = options.listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let nova_url = config.server.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let engine_options = EngineOptions { office_program: options.office_program, nova_url, gce: options.gce };
    let loaded = Arc::clone(&config.source);
    let engine = Engine::new(config, store, engine_options).await?;
    let slack = match options.slack {
        Some(settings) => Some(slack::Slack::start(Arc::clone(&engine), settings).await?),
        None => None,
    };
    let discord = match options.discord {
        Some(settings) => Some(discord::Discord::start(Arc::clone(&engine), settings).await?),
        None => None,
    };
    let mirror_passes = mirror::Passes::default();
    let mut workers = slack.as_ref().map(|slack| slack.spawn_workers(&mirror_passes)).unwrap_or_default();
    workers.extend(discord.as_ref().map(|discord| discord.spawn_workers(&mirror_passes)).unwrap_or_default());
    let hosts = sign_in::AllowedHosts::for_config(&engine.config(), addr);
    let app = server::router(Arc::clone(&engine), metrics::handle(), slack, discord.clone(), hosts);
    let server = tokio::spawn(async move {
        // Acks and small JSON answers go out at once, not after the peer's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!("HTTP server stopped: {error}");
        }
    });
    let engine_task = options.run_engine.then(|| tokio::spawn(Arc::clone(&engine).run()));
    if let Some(path) = options.config_path {
        workers.push(tokio::spawn(config_watch::watch(Arc::clone(&engine), path, loaded)));
    }
    Ok(Running { addr, engine, server, engine_task, workers, mirror_passes, discord })
}
