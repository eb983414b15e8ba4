//! `nova`: the chat-ops bot and orchestrator.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orchestrator::config::Config;
use orchestrator::router::Router;
use orchestrator::store::ApprovalState;

#[derive(Parser)]
#[command(name = "nova", version, about = "Run a fleet of AI agents from chat")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Nova: the HTTP server, the console and the engine.
    Serve {
        /// The workspace config; without it Nova runs the built-in demo workspace.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides `server.listen` (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate a config and print what it would run.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Route JSON-lines cases (`id`, `channel`, `thread`, `text`) and print one answer each.
    Route {
        #[arg(long)]
        config: PathBuf,
        /// Cases to route; standard input when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Compare with each case's `expect` and print accuracy (to stderr).
        #[arg(long)]
        eval: bool,
        /// Add the evidence behind each answer (work concepts, office and repo scores).
        #[arg(long)]
        explain: bool,
        /// Ask the configured model (`[model]`, NOVA_ROUTER_MODEL, OPENAI_BASE_URL,
        /// OPENAI_API_KEY) when the offline answer is unsure.
        #[arg(long)]
        model: bool,
    },
    /// Read JSON-lines cases (`id`, `channel`, `author`, `thread`, `text`) as Nova reads
    /// chat: work for an office, a fleet request (action and arguments), or unknown.
    Ask {
        #[arg(long)]
        config: PathBuf,
        /// Cases to read; standard input when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Score each answer against the case's `expect` and print accuracy (to stderr).
        #[arg(long)]
        eval: bool,
        /// Add to each answer the rule that decided it and how sure it is.
        #[arg(long)]
        explain: bool,
    },
    /// Print the live fleet as a config file: nova.toml with the fleet changes made
    /// while Nova ran (from chat, the console, /api) written in. Valid for `--config`.
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print model spend per office against its budget (what chat's "how much has maker
    /// spent?" answers, and what budgets stop at).
    Spend {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        office: Option<String>,
        /// day or week (the last 1 or 7 days), month or year (the calendar month or year so
        /// far, UTC), last-month or last-year.
        #[arg(long, default_value = "month", value_parser = parse_period)]
        period: orchestrator::ask::when::Period,
    },
    /// Print the audit trail: who did what, to which office, in which run.
    Audit {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        office: Option<String>,
        #[arg(long)]
        run: Option<String>,
        /// A duration back from now (`2h`) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
    /// Print a one-time link that signs a person in to the console (15 minutes).
    Login {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Who signs in: a person in [people] (or any name, when none are configured).
        #[arg(long = "as")]
        person: Option<String>,
    },
    /// Skills: `diff A B` shows what changed between two revisions offices were handed
    /// (as a run's audit names them; a prefix will do); `from-openapi SPEC --upstream NAME`
    /// writes a package of tools from an OpenAPI 3 description.
    Skill {
        #[command(subcommand)]
        command: SkillCommand,
    },
    /// Reviews of offices' changes: those waiting for reviewers (or every one, `--all`).
    Reviews {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        all: bool,
    },
    /// List approvals waiting for a person (or in another state).
    Approvals {
        #[arg(long)]
        config: Option<PathBuf>,
        /// pending (default), approved, rejected or expired.
        #[arg(long, default_value = "pending")]
        state: ApprovalState,
    },
    /// The vault: `rotate` re-seals every secret under the newest NOVA_MASTER_KEY.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// The office daemon, as the local backend runs it (same as `nova-office`).
    Office {
        #[command(subcommand)]
        command: provisioner::cli::OfficeCommand,
    },
    /// The example office runtime: demonstrates the event protocol, does no real work.
    ExampleAgent,
    /// Measure and print speed figures.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Check a GCP project before relying on it: credentials, zones, image.
    Gce {
        #[command(subcommand)]
        what: GceCommand,
    },
    /// Run the GCE provisioner (warm pools, prewarm, scale to zero) against the GCE
    /// stand-in in accelerated time over a trace, and print what people would wait
    /// and what it would cost; or write a trace with --generate. (Feature `lab`.)
    #[cfg(feature = "lab")]
    Simulate {
        /// The trace to run (JSON lines; see --generate).
        #[arg(long, required_unless_present = "generate")]
        trace: Option<PathBuf>,
        /// Write a synthetic day to standard output instead: `discord` (typing precedes
        /// prompts) or `slack` (no typing signals), like the shipped days; or a day of
        /// another shape: `skewed`, `quiet`, `busy`, `global`, `untyped`, `chatty`, `storm`,
        /// `routine`, each changed by the flags below.
        #[arg(long)]
        generate: Option<String>,
        /// Popularity skew (Zipf exponent; 0: every office as busy) of a shaped day.
        #[arg(long)]
        skew: Option<f64>,
        /// The share of prompts typing announces, 0 to 1, in a shaped day.
        #[arg(long)]
        typing_share: Option<f64>,
        /// The share of the other prompts that chatter where Nova listens announces, 0 to 1,
        /// in a shaped day.
        #[arg(long)]
        chatter_share: Option<f64>,
        /// Where people work, as hours after the trace's start (`0,6`), in a shaped day.
        #[arg(long, value_delimiter = ',')]
        regions: Vec<f64>,
        /// An incident in a shaped day: `OFFICES/SECONDS` (`20/120`), or `none`.
        #[arg(long)]
        incident: Option<String>,
        /// Sessions per office per day, on average, in a shaped day.
        #[arg(long)]
        sessions: Option<f64>,
        /// Days of the fleet's past before a shaped day (its prompts, at negative times),
        /// for the policy to read offices' habits from.
        #[arg(long)]
        history_days: Option<usize>,
        /// The share of sessions that begin at their office's habitual times, 0 to 1, in a
        /// shaped day.
        #[arg(long)]
        habit: Option<f64>,
        /// Offices in the generated day (default: 100, or the shape's).
        #[arg(long)]
        offices: Option<usize>,
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Real seconds per simulated second (0.002: a day in about three minutes).
        #[arg(long, default_value_t = 0.002)]
        time_factor: f64,
        #[command(flatten)]
        tuning: Box<TuneArgs>,
        #[command(flatten)]
        policy: Box<PolicyArgs>,
    },
}

/// `nova simulate`: the policy to try, where it differs from a default `[provisioner]`.
#[cfg(feature = "lab")]
#[derive(clap::Args, Debug)]
struct PolicyArgs {
    /// An office with nothing to do sleeps after this (default: nova.toml's default) …
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// … or after this, if a prompt woke it with no typing signal first.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_timeout_without_signals: Option<std::time::Duration>,
    /// Offices whose sessions lately began more often than once in this long stay up
    /// between them (0s: never past their idle timeout).
    #[arg(long, value_parser = humantime::parse_duration)]
    return_interval: Option<std::time::Duration>,
    /// Offices asleep are woken ahead of times their sessions began on at least this
    /// share of comparable earlier days (0: never).
    #[arg(long)]
    habit_share: Option<f64>,
    /// A typing signal keeps an office up this long waiting for the prompt.
    #[arg(long, value_parser = humantime::parse_duration)]
    prewarm_ttl: Option<std::time::Duration>,
    /// At most this many offices up on typing alone (0: no prewarming).
    #[arg(long)]
    max_prewarms: Option<usize>,
    /// Warm VMs per tier in use, at least and at most (following demand between).
    #[arg(long)]
    pool_floor: Option<usize>,
    #[arg(long)]
    pool_ceiling: Option<usize>,
    /// A warm VM unclaimed this long is deleted; a tier with no wake this long keeps no pool.
    #[arg(long, value_parser = humantime::parse_duration)]
    pool_ttl: Option<std::time::Duration>,
}

/// `nova simulate --tune`: what a policy must achieve.
#[cfg(feature = "lab")]
#[derive(clap::Args, Debug)]
struct TuneArgs {
    /// Look for the cheapest policy that meets the targets on the trace, one knob at a
    /// time from the policy the other flags give (about eighteen runs of the trace).
    #[arg(long)]
    tune: bool,
    /// With --tune: the share of typed prompts that must find their office ready …
    #[arg(long, default_value_t = 0.97)]
    target_typed: f64,
    /// … of the others …
    #[arg(long, default_value_t = 0.85)]
    target_untyped: f64,
    /// … and the most VM-hours, as a share of always-on.
    #[arg(long, default_value_t = 0.20)]
    max_vm_share: f64,
}

#[derive(Subcommand)]
enum GceCommand {
    /// Reads GCE_PROJECT, GCE_ZONE, GCE_FALLBACK_ZONES, GCE_IMAGE, GCE_API_URL and
    /// GOOGLE_APPLICATION_CREDENTIALS, then lists each zone and looks up the image.
    Check,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Post → first office output, with the office up and with it asleep.
    Wake {
        #[arg(long, default_value_t = 20)]
        iterations: usize,
    },
    /// Offline routing latency and throughput on one core.
    Route {
        #[arg(long, default_value_t = 100)]
        repos: usize,
        #[arg(long, default_value_t = 50)]
        offices: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Slack Events API ack latency at a steady rate, against a bare axum handler.
    /// (Feature `lab`.)
    #[cfg(feature = "lab")]
    Slack {
        /// Signed events per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Only record and acknowledge (no routing, no offices): the ack path alone.
        #[arg(long)]
        without_engine: bool,
    },
    /// A burst of Slack mentions across channels: ack latency, time to each thread's
    /// first answer, backlog after the burst (SQLite, and Postgres with --postgres);
    /// then the engine's idle CPU with 2,000 offices. (Feature `lab`.)
    #[cfg(feature = "lab")]
    Burst {
        /// Mentions per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        #[arg(long, default_value_t = 20)]
        channels: usize,
        /// A Postgres server to run the same burst on (a fresh database is made there).
        #[arg(long, env = "NOVA_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Print what waits at each stage every half second (stderr).
        #[arg(long)]
        timeline: bool,
    },
    /// Snapshot and restore a workspace of the given size.
    Snapshot {
        #[arg(long, default_value_t = 100)]
        size_mb: usize,
        #[arg(long, default_value_t = 3)]
        level: i32,
    },
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Re-seal every secret under the first key of NOVA_MASTER_KEY (old keys must still
    /// be listed after it until this has run).
    Rotate,
    /// List the secrets in the vault: scope, name, who stored it and when (never a value).
    List,
    /// Put a secret in the vault, read from stdin (never from the command line).
    Set {
        name: String,
        /// `office:NAME`, `workspace` or `platform`.
        #[arg(long)]
        scope: String,
    },
    /// Remove a secret: offices can no longer use it.
    Revoke {
        name: String,
        /// `office:NAME`, `workspace` or `platform`.
        #[arg(long)]
        scope: String,
    },
}

/// The config given, or the built-in demo workspace; and its store.
#[derive(Subcommand)]
enum SkillCommand {
    Diff {
        #[arg(long)]
        config: Option<PathBuf>,
        from: String,
        to: String,
    },
    /// Fetch the `[skills] git` repositories again (a branch moves on; a tag or commit
    /// stays), and say which commit each is at.
    Sync {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// One tool per operation of an OpenAPI 3.0/3.1 spec (JSON or YAML), each calling the
    /// API through an upstream so the office never holds its key.
    FromOpenapi {
        spec: PathBuf,
        /// The `[[upstreams]]` entry the tools call through (its url: the API's base URL).
        #[arg(long)]
        upstream: String,
        /// Only the operations with one of these tags (comma-separated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The package's name (default: the upstream's).
        #[arg(long)]
        name: Option<String>,
        /// Where the package directory goes (a `[skills] dirs` entry).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// The one kept revision `prefix` names, or why not.
async fn skill_revision(
    store: &orchestrator::store::Store,
    prefix: &str,
) -> anyhow::Result<orchestrator::store::skill_revisions::Model> {
    let mut found = store.skill_revisions(prefix).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => anyhow::bail!(
            "no skill revision `{prefix}` was handed to an office (see `nova audit`: dispatch rows name them)"
        ),
        n => anyhow::bail!("`{prefix}` names {n} revisions: give more of it"),
    }
}

async fn config_and_store(config: Option<PathBuf>) -> anyhow::Result<(Config, orchestrator::store::Store)> {
    let config = match &config {
        Some(path) => load_config(path)?,
        None => Config::demo(),
    };
    let url = orchestrator::store::database_url(config.store.database_url.as_deref(), &config.store.data_dir);
    let store = orchestrator::store::Store::connect(&url).await?;
    Ok((config, store))
}

fn parse_period(text: &str) -> Result<orchestrator::ask::when::Period, String> {
    use orchestrator::ask::when::Period;
    match text {
        "day" => Ok(Period::Day),
        "today" => Ok(Period::Today),
        "yesterday" => Ok(Period::Yesterday),
        "week" => Ok(Period::Week),
        "month" => Ok(Period::Month),
        "last-month" => Ok(Period::LastMonth),
        "year" => Ok(Period::Year),
        "last-year" => Ok(Period::LastYear),
        other => Err(format!(
            "`{other}` is not a period: use day (the last 24 hours), today, yesterday, week, month, last-month, year or last-year"
        )),
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn main() -> std::process::ExitCode {
    // Called through its `nova-office` link (an office runtime's `$NOVA_OFFICE_CLI`),
    // `nova` is `nova office`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called_as = args.first().map(std::path::Path::new).and_then(|path| path.file_name());
    if called_as.is_some_and(|name| name == provisioner::office::OFFICE_EXE_NAME) {
        args.insert(1, "office".into());
    }
    let mut cli = Cli::parse_from(args);
    // The sandbox confines a single-threaded process (a user namespace needs one), so
    // it runs before any runtime thread starts, and then becomes the agent's runtime.
    if let Command::Office { command } = cli.command {
        match provisioner::cli::sandbox_first(command) {
            Ok(sandboxed) => return report(sandboxed),
            Err(command) => cli.command = Command::Office { command },
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(run_logged(cli)),
        Err(error) => report(Err(error.into())),
    }
}

fn report(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        std::process::ExitCode::FAILURE
    })
}

async fn run_logged(cli: Cli) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: an office runtime's stderr ends up in chat.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    report(run(cli).await)
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Serve { config, listen } => {
            let loaded = match &config {
                Some(path) => load_config(path)?,
                None => {
                    tracing::info!("no --config given: running the built-in demo workspace");
                    Config::demo()
                }
            };
            let running = bot::start(bot::Options {
                config: loaded,
                config_path: config,
                listen,
                office_program: bot::office_program()?,
                database_url: None,
                run_engine: true,
                slack: bot::slack::settings::SlackSettings::from_env(|name| std::env::var(name).ok())?,
                discord: bot::discord::settings::DiscordSettings::from_env(|name| std::env::var(name).ok())?,
                gce: bot::gce_from_env().await?,
            })
            .await?;
            tracing::info!("Nova is up: open {} for the console", running.url());
            if !running.engine.anyone_signed_in().await? {
                // To the terminal only, never the log: the link signs its opener in.
                match running.engine.issue_login_link(None).await? {
                    Ok((person, token)) => println!(
                        "Sign in to the console as {person} (once, within 15 minutes): {}\n\
                         Later, `nova login` prints a new link.",
                        orchestrator::engine::people::login_url(running.engine.people_url(), &token)
                    ),
                    Err(refusal) => println!("Sign in with `nova login --as NAME`: {refusal}"),
                }
            }
            tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
            tracing::info!("shutting down");
            running.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let config = load_config(&config)?;
            print!("{}", config.summary());
            let sandboxed = config.offices.iter().filter_map(|o| o.runtime.as_ref()).any(|r| r.sandbox.enabled);
            match provisioner::sandbox::landlock_abi() {
                Some(abi) => println!("runtime sandbox: Landlock ABI {abi} on this machine"),
                None if sandboxed => println!(
                    "runtime sandbox: this kernel has no Landlock, so local offices' runtimes will not start \
                     (set [runtime.sandbox] enabled = false to run them unconfined)"
                ),
                None => println!("runtime sandbox: off for every office"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Route { config, input, eval, explain, model } => {
            let config = load_config(&config)?;
            let router = Router::new(&config);
            let model = match model {
                false => None,
                true => {
                    let settings = config
                        .model_settings(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
                        .context("--model needs a model: set NOVA_ROUTER_MODEL or `model` in [model]")?;
                    Some(orchestrator::router::model::ModelRouter::new(&config, settings))
                }
            };
            let stdout = std::io::stdout().lock();
            let input = bot::cases::open(input.as_deref())?;
            let evaluation = bot::route_cmd::run(&router, model.as_ref(), input, stdout, explain).await?;
            if eval {
                eprint!("{}", evaluation.report());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask { config, input, eval, explain } => {
            let config = load_config(&config)?;
            let reader = orchestrator::ask::Reader::new(&config);
            let stdout = std::io::stdout().lock();
            let evaluation = bot::ask_cmd::run(&reader, bot::cases::open(input.as_deref())?, stdout, explain)?;
            if eval {
                eprint!("{}", evaluation.report());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reviews { config, all } => {
            let (_, store) = config_and_store(config).await?;
            let reviews: Vec<_> =
                store.reviews(false).await?.into_iter().filter(|r| all || r.state.is_reviewable()).collect();
            if reviews.is_empty() {
                println!("no review is waiting");
            }
            for r in reviews {
                println!(
                    "#{:<4} {:<17} {:<12} {} ({} into {}), revision {}, head {}  (thread {}, asked by {})",
                    r.id,
                    r.state.as_str(),
                    r.office,
                    r.repo,
                    r.branch,
                    r.base,
                    r.revision,
                    &r.head[..12.min(r.head.len())],
                    r.thread_id,
                    r.requester
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Approvals { config, state } => {
            let (_, store) = config_and_store(config).await?;
            let approvals = store.approvals_in_state(state).await?;
            if approvals.is_empty() {
                println!("no {state} approvals");
            }
            for a in approvals {
                let by = a.decided_by.map(|by| format!(" by {by}")).unwrap_or_default();
                println!(
                    "{}  {:<10} {:<12} {}{by}  (run {}, asked by {}, risk {})",
                    a.id, a.office, a.kind, a.action, a.run_id, a.requester, a.risk
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault { command: VaultCommand::Rotate, config } => {
            let (config, store) = config_and_store(config).await?;
            let vault = orchestrator::vault::Vault::from_env_or_data_dir(
                std::env::var("NOVA_MASTER_KEY").ok(),
                &config.store.data_dir,
            )?;
            let resealed = orchestrator::vault::rotate(&store, &vault).await?;
            println!("re-sealed {resealed} secret(s) under master key `{}`", vault.current_key_id());
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault { command: VaultCommand::List, config } => {
            let (_, store) = config_and_store(config).await?;
            for secret in store.all_secrets().await? {
                let at = chrono::DateTime::from_timestamp_millis(secret.updated_at).unwrap_or_default();
                println!(
                    "{:<20} {:<24} by {} at {}",
                    secret.scope,
                    secret.name,
                    secret.updated_by,
                    at.format("%Y-%m-%d %H:%M UTC")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault { command: VaultCommand::Set { name, scope }, config } => {
            let parsed = orchestrator::vault::Scope::parse(&scope)
                .context("a scope is `office:NAME`, `workspace` or `platform`")?;
            let (config, store) = config_and_store(config).await?;
            let vault = orchestrator::vault::Vault::from_env_or_data_dir(
                std::env::var("NOVA_MASTER_KEY").ok(),
                &config.store.data_dir,
            )?;
            let mut value = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut value).context("cannot read the value")?;
            let value = orchestrator::vault::SecretValue::new(value.trim_end_matches(['\r', '\n']).to_owned());
            anyhow::ensure!(!value.expose().trim().is_empty(), "the value on stdin is empty");
            let by = orchestrator::engine::people::host_user();
            orchestrator::vault::store(&store, &vault, &parsed, &name, &value, &by).await?;
            println!("stored `{name}` ({scope})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault { command: VaultCommand::Revoke { name, scope }, config } => {
            let (_, store) = config_and_store(config).await?;
            if !store.delete_secret(&scope, &name).await? {
                anyhow::bail!("there is no secret `{name}` in scope `{scope}` (see `nova vault list`)");
            }
            store
                .audit(orchestrator::store::AuditEntry {
                    actor: orchestrator::engine::people::host_user(),
                    office: scope.strip_prefix("office:").map(str::to_owned),
                    run_id: None,
                    action: "secret_revoked",
                    details: serde_json::json!({"name": name, "scope": scope}),
                })
                .await?;
            println!("revoked `{name}` ({scope})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Login { config, person } => {
            let (config, store) = config_and_store(config).await?;
            let fallback = orchestrator::engine::people::host_user();
            match orchestrator::engine::people::issue_login_link(&config, &store, person.as_deref(), &fallback).await? {
                Ok((person, token)) => {
                    println!("Sign in as {person} (once, within 15 minutes):");
                    let base = orchestrator::engine::people::configured_url(&config);
                    println!("{}", orchestrator::engine::people::login_url(&base, &token));
                    Ok(ExitCode::SUCCESS)
                }
                Err(refusal) => anyhow::bail!("{refusal}"),
            }
        }
        Command::Export { config } => {
            let (file, store) = config_and_store(config).await?;
            let live = orchestrator::engine::live_fleet(&store, &file).await?.config;
            print!("{}", live.source);
            Ok(ExitCode::SUCCESS)
        }
        Command::Spend { config, office, period } => {
            let (file, store) = config_and_store(config).await?;
            let live = orchestrator::engine::live_fleet(&store, &file).await?.config;
            let now = orchestrator::store::now_ms();
            let span = orchestrator::engine::period_span(period, now, live.workspace.time_zone);
            let mut by_office = orchestrator::engine::spend_between(&store, &live, span).await?;
            if let Some(office) = &office {
                by_office.retain(|name, _| name == office);
            }
            let budget = |name: &str| live.office(name).and_then(|o| o.budget_usd);
            println!("{}", orchestrator::texts::spend(office.as_deref(), period, &by_office, budget).replace("**", ""));
            Ok(ExitCode::SUCCESS)
        }
        Command::Skill { command: SkillCommand::Diff { config, from, to } } => {
            let (_, store) = config_and_store(config).await?;
            let (from, to) = (skill_revision(&store, &from).await?, skill_revision(&store, &to).await?);
            let diff = similar::TextDiff::from_lines(&from.text, &to.text);
            let header = (format!("{}@{}", from.name, from.revision), format!("{}@{}", to.name, to.revision));
            print!("{}", diff.unified_diff().header(&header.0, &header.1));
            Ok(ExitCode::SUCCESS)
        }
        Command::Skill { command: SkillCommand::Sync { config } } => {
            let path = config.unwrap_or_else(|| PathBuf::from("nova.toml"));
            let loaded = load_config(&path)?;
            let cache = orchestrator::config::skill_sources(&loaded.store.data_dir);
            for source in &loaded.skill_git {
                skills::git::forget(&source.url, &source.rev, &cache)?;
                let (dir, commit) =
                    skills::git::checkout(&source.url, &source.rev, &cache).map_err(anyhow::Error::msg)?;
                let packages = skills::load_dir(&dir.join(source.path.as_deref().unwrap_or("")))?;
                let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
                println!(
                    "{}@{}: commit {}, {}",
                    source.url,
                    source.rev,
                    &commit[..12.min(commit.len())],
                    names.join(", ")
                );
            }
            load_config(&path)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Skill { command: SkillCommand::FromOpenapi { spec, upstream, only, name, out } } => {
            let text = std::fs::read_to_string(&spec).with_context(|| format!("cannot read {}", spec.display()))?;
            let name = name.unwrap_or_else(|| upstream.to_lowercase());
            let options = skills::openapi::Options { name: &name, upstream: &upstream, only_tags: &only };
            let parsed = skills::openapi::parse(&text).with_context(|| spec.display().to_string())?;
            let generated = skills::openapi::generate(&parsed, &options).with_context(|| spec.display().to_string())?;
            skills::Skill::parse(&generated.skill_md).with_context(|| format!("`{name}` cannot name a skill"))?;
            let dir = out.join(&name);
            skills::openapi::write(&dir, &generated).with_context(|| format!("cannot write {}", dir.display()))?;
            println!("wrote {}: {} tools through the `{upstream}` upstream", dir.display(), generated.tools.len());
            for reason in &generated.left_out {
                println!("  left out {reason}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { config, office, run, since } => {
            let (_, store) = config_and_store(config).await?;
            let since = since
                .map(|s| orchestrator::store::parse_since(&s, orchestrator::store::now_ms()))
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?;
            let filter = orchestrator::store::AuditFilter { office, run_id: run, since, limit: None };
            for row in store.audit_trail(&filter).await? {
                println!("{}", orchestrator::store::format_audit(&row));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Office { command } => provisioner::cli::run(command).await,
        Command::ExampleAgent => done(provisioner::example_agent::run()),
        Command::Bench { what: BenchCommand::Wake { iterations } } => done(bot::bench::wake(iterations).await),
        #[cfg(feature = "lab")]
        Command::Bench { what: BenchCommand::Slack { rate, seconds, without_engine } } => {
            done(bot::bench::load::slack(rate, seconds, !without_engine).await)
        }
        #[cfg(feature = "lab")]
        Command::Bench { what: BenchCommand::Burst { rate, seconds, channels, postgres, timeline } } => {
            done(bot::bench::load::burst(rate, seconds, channels, postgres, timeline).await)
        }
        Command::Bench { what: BenchCommand::Snapshot { size_mb, level } } => {
            done(bot::bench::snapshot(size_mb, level).await)
        }
        Command::Gce { what: GceCommand::Check } => {
            let setup =
                bot::gce_from_env().await?.context("GCE_PROJECT is not set (see README, \"Offices on GCE\")")?;
            let backend = provisioner::gce::GceBackend::new(setup.settings, setup.tokens)?;
            let checks = backend.check().await;
            for check in &checks {
                match &check.outcome {
                    Ok(detail) => println!("ok    {}: {detail}", check.what),
                    Err(error) => println!("FAIL  {}: {error}", check.what),
                }
            }
            Ok(if checks.iter().all(|c| c.outcome.is_ok()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        #[cfg(feature = "lab")]
        Command::Simulate {
            generate: Some(kind),
            offices,
            hours,
            seed,
            skew,
            typing_share,
            chatter_share,
            regions,
            incident,
            sessions,
            history_days,
            habit,
            ..
        } => {
            let (header, events) = match kind.as_str() {
                "discord" | "slack" => bot::simulate::generate(&kind, offices.unwrap_or(100), hours, seed)?,
                shape => {
                    let mut shape = bot::simulate::DayShape::named(shape, seed)?;
                    shape.hours = hours;
                    shape.offices = offices.unwrap_or(shape.offices);
                    shape.skew = skew.unwrap_or(shape.skew);
                    shape.typing_share = typing_share.unwrap_or(shape.typing_share);
                    shape.chatter_share = chatter_share.unwrap_or(shape.chatter_share);
                    shape.sessions = sessions.unwrap_or(shape.sessions);
                    shape.history_days = history_days.unwrap_or(shape.history_days);
                    shape.habit = habit.unwrap_or(shape.habit);
                    if !regions.is_empty() {
                        shape.regions = regions;
                    }
                    shape.incident = match incident.as_deref() {
                        None => shape.incident,
                        Some("none") => None,
                        Some(spec) => {
                            let parsed =
                                spec.split_once('/').and_then(|(n, s)| Some((n.parse().ok()?, s.parse().ok()?)));
                            Some(parsed.context("--incident is OFFICES/SECONDS, like 20/120, or none")?)
                        }
                    };
                    bot::simulate::generate_shape(&shape)?
                }
            };
            bot::simulate::write_trace(&header, &events, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "lab")]
        Command::Simulate { trace, time_factor, policy: policy_args, tuning, .. } => {
            let PolicyArgs {
                idle_timeout,
                idle_timeout_without_signals,
                return_interval,
                habit_share,
                prewarm_ttl,
                max_prewarms,
                pool_floor,
                pool_ceiling,
                pool_ttl,
            } = *policy_args;
            let TuneArgs { tune, target_typed, target_untyped, max_vm_share } = *tuning;
            let trace = trace.context("--trace FILE or --generate KIND")?;
            if !(time_factor > 0.0 && time_factor <= 1.0) {
                anyhow::bail!("--time-factor must be in (0, 1]");
            }
            let (header, events) = bot::simulate::read_trace(&trace)?;
            // What a default nova.toml does, but for what the flags say.
            let mut policy = bot::simulate::Policy::default();
            policy.idle_timeout = idle_timeout.unwrap_or(policy.idle_timeout);
            policy.idle_timeout_without_signals =
                idle_timeout_without_signals.unwrap_or(policy.idle_timeout_without_signals);
            policy.return_interval = return_interval.unwrap_or(policy.return_interval);
            policy.habit_share = habit_share.unwrap_or(policy.habit_share);
            anyhow::ensure!((0.0..=1.0).contains(&policy.habit_share), "--habit-share is a share, between 0 and 1");
            policy.prewarm_ttl = prewarm_ttl.unwrap_or(policy.prewarm_ttl);
            policy.max_prewarms = max_prewarms.unwrap_or(policy.max_prewarms);
            policy.pool.floor = pool_floor.unwrap_or(policy.pool.floor);
            policy.pool.ceiling = pool_ceiling.unwrap_or(policy.pool.ceiling).max(policy.pool.floor);
            policy.pool.ttl = pool_ttl.unwrap_or(policy.pool.ttl);
            if tune {
                let targets =
                    bot::simulate::Targets { typed: target_typed, untyped: target_untyped, vm_share: max_vm_share };
                for (name, share) in [
                    ("--target-typed", target_typed),
                    ("--target-untyped", target_untyped),
                    ("--max-vm-share", max_vm_share),
                ] {
                    anyhow::ensure!((0.0..=1.0).contains(&share), "{name} is a share, between 0 and 1");
                }
                let knobs = bot::simulate::knobs();
                let best = bot::simulate::tune(&header, &events, time_factor, policy, targets, &knobs, |report| {
                    eprintln!("tried {}", bot::simulate::summary(report, &targets));
                })
                .await?;
                println!("{best}");
                println!("\nbest: {}", bot::simulate::summary(&best, &targets));
                print!("{}", bot::simulate::provisioner_toml(&best.policy));
                return Ok(ExitCode::SUCCESS);
            }
            let report = bot::simulate::run(header, events, time_factor, policy).await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchCommand::Route { repos, offices, rounds } } => {
            bot::bench::route(repos, offices, rounds);
            Ok(ExitCode::SUCCESS)
        }
    }
}
