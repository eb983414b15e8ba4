//! `nova.toml`: the workspace, its repos and offices, and optional settings.
//!
//! `[workspace]`, `[[repos]]` and `[[offices]]` are the contract of DESIGN.md §3; every
//! other section has an embedded default. Unknown keys are rejected by serde with the
//! key and its line; the checks serde cannot express (duplicate names, references to
//! unknown repos or offices) are done here, on spanned values, so they name the line too.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The built-in demo workspace `nova serve` runs when given no `--config`.
pub const DEMO_TOML: &str = include_str!("demo.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Syntax errors, unknown keys, missing fields and wrong types, as toml reports them
    /// (with line, column and the offending key).
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}, line {line}: {message}")]
    Invalid { origin: String, line: usize, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    workspace: Workspace,
    #[serde(default)]
    repos: Vec<RawRepo>,
    #[serde(default)]
    offices: Vec<RawOffice>,
    #[serde(default)]
    server: ServerSettings,
    #[serde(default)]
    store: StoreSettings,
    #[serde(default)]
    provisioner: ProvisionerSettings,
    #[serde(default)]
    router: RouterSettings,
    #[serde(default)]
    model: ModelFile,
    /// Role name → who holds it: people's names (`[people]`) or chat user ids.
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    /// Who is who across the console, Slack and Discord.
    #[serde(default)]
    people: BTreeMap<String, Person>,
    /// Who may provide the credentials offices ask for, and for how long they wait.
    #[serde(default)]
    credentials: CredentialPolicy,
    #[serde(default)]
    approvals: Vec<RawApprovalPolicy>,
    /// Services offices reach through their secrets proxy.
    #[serde(default)]
    upstreams: Vec<Spanned<provisioner::protocol::Upstream>>,
    /// The runtime offices use unless they name their own.
    runtime: Option<Runtime>,
    /// Model name → its price per million tokens.
    #[serde(default)]
    prices: BTreeMap<String, ModelPrice>,
    #[serde(default)]
    skills: RawSkills,
    /// Databases offices may query through Nova (the `database` skill).
    #[serde(default)]
    databases: Vec<Spanned<Database>>,
    /// Who reviews offices' changes, and what runs once they approve.
    #[serde(default)]
    reviews: Vec<Spanned<ReviewPolicy>>,
    /// GitHub as the code host of the repos that name a `github` repository.
    github: Option<Spanned<GithubSettings>>,
}

/// `[github]`: how Nova reaches GitHub for the repos that name a `github` repository:
/// their reviews get a pull request, and reviews are mirrored both ways.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    /// The upstream for GitHub's API: its URL and the token's vault secret. Nova calls it
    /// with the token; offices never see it.
    pub upstream: String,
    /// The vault secret GitHub signs webhook deliveries to `/github/webhook` with.
    pub webhook_secret: Option<String>,
}

/// `[[reviews]]`: for changes to `repos` (none named: every repo), how many approvals
/// are needed and from whom, and the stages that run once they are in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPolicy {
    #[serde(default)]
    pub repos: Vec<String>,
    #[serde(default = "one")]
    pub approvals: u32,
    /// Roles or people who may approve (none named: anyone but the requester).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// What runs once approved, in order: `pr` (leave the approved pull request for
    /// GitHub to merge), `merge` (through GitHub's pull request for a repo on GitHub,
    /// else the branch into its base, pushed).
    #[serde(default)]
    pub stages: Vec<ReviewStage>,
    /// Offices asked to review every revision (an agent reviewer); an office's approval
    /// counts like a person's.
    #[serde(default)]
    pub reviewers: Vec<String>,
}

fn one() -> u32 {
    1
}

impl Default for ReviewPolicy {
    /// A change to a repo no policy names: one approval by anyone but the requester,
    /// and nothing runs after it.
    fn default() -> Self {
        Self { repos: Vec::new(), approvals: 1, approvers: Vec::new(), stages: Vec::new(), reviewers: Vec::new() }
    }
}

/// What runs once a review's approvals are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStage {
    /// Leave the approved pull request for GitHub to merge (opening it if GitHub could
    /// not be reached before).
    Pr,
    /// Merge: through the pull request for a repo on GitHub, else the branch into its
    /// base, pushed.
    Merge,
}

/// `[[databases]]`: a database offices query through Nova (the `database` skill). Nova
/// holds the password (`secret`, from the vault) and runs each query itself, read-only
/// unless a person approved the write; offices never connect or see the password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    /// `postgres://user@host:5432/db` (the password is `secret`'s) or `sqlite:///path`.
    pub url: String,
    /// The vault secret holding the password.
    #[serde(default)]
    pub secret: Option<String>,
    /// The offices that may query it (none named: every office).
    #[serde(default)]
    pub offices: Vec<String>,
}

/// `[skills]`: where the workspace's packages are, and which every office gets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSkills {
    /// Directories of packages (`<dir>/<name>/SKILL.md`), later ones over earlier ones.
    #[serde(default)]
    dirs: Vec<Spanned<String>>,
    /// Skills every office gets (an office drops one with `"-name"`).
    #[serde(default)]
    workspace: Vec<Spanned<String>>,
    /// Git repositories of packages, after `dirs` (and over them).
    #[serde(default)]
    git: Vec<Spanned<GitSkills>>,
}

/// A git repository of skill packages, at a tag, commit or branch, the packages in
/// `path` (the repository's root by default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSkills {
    pub url: String,
    pub rev: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// What the whole fleet may spend in a calendar month, in USD (model use and machine
    /// time); none: no limit beyond each office's own.
    #[serde(default)]
    pub budget: Option<f64>,
    /// Where the team's clock is (a tz database name, `Europe/Paris`): schedules' times
    /// of day and calendar months (budgets, "this month") are read in it. UTC unless set.
    #[serde(default = "utc", deserialize_with = "time_zone")]
    pub time_zone: chrono_tz::Tz,
}

fn utc() -> chrono_tz::Tz {
    chrono_tz::Tz::UTC
}

/// A tz database name, or an error that says what one looks like.
fn time_zone<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{name}` is not a time zone: name one from the tz database, like `Europe/Paris`, `America/New_York` or `UTC`"
        ))
    })
}

/// What a model costs, in USD per million tokens: how usage a runtime reports without a
/// cost of its own is priced.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    name: Spanned<String>,
    description: String,
    #[serde(default)]
    hints: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
    url: Option<String>,
    /// The branch sessions start from.
    branch: Option<String>,
    /// The upstream git goes through, for a repo that needs a credential.
    upstream: Option<Spanned<String>>,
    /// Its repository on GitHub, `owner/name` (see `[github]`).
    github: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffice {
    name: Spanned<String>,
    role: String,
    #[serde(default)]
    repos: Vec<Spanned<String>>,
    #[serde(default)]
    channels: Vec<String>,
    tier: Option<Spanned<u8>>,
    soul: Option<String>,
    #[serde(default)]
    skills: Vec<Spanned<String>>,
    /// A directory of packages for this office only, over the workspace's.
    skills_dir: Option<Spanned<String>>,
    reports_to: Option<Spanned<String>>,
    budget: Option<Spanned<f64>>,
    runtime: Option<Runtime>,
    #[serde(default, with = "humantime_serde")]
    idle_timeout: Option<Duration>,
    /// How many sessions it works on at once (each in its own worktree).
    concurrency: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovalPolicy {
    kind: Spanned<String>,
    #[serde(default)]
    approvers: Vec<Spanned<String>>,
    #[serde(default, with = "humantime_serde")]
    expires: Option<Duration>,
    over_usd: Option<f64>,
}

/// Which kind of action needs a person's approval, whose, and for how long it waits.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPolicy {
    /// What the office says it is about to do: `destructive`, `deploy`, `spend`…
    pub kind: String,
    /// Roles whose members may decide; empty: anyone but the requester.
    pub approvers: Vec<String>,
    pub expires: Duration,
    /// For spending: at or below this amount no approval is needed.
    pub over_usd: Option<f64>,
}

/// How long an approval waits when its policy does not say.
pub const DEFAULT_APPROVAL_EXPIRY: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub name: String,
    pub description: String,
    pub hints: Vec<String>,
    pub channels: Vec<String>,
    /// Where offices clone it from.
    pub url: Option<String>,
    /// The branch each session's branch (`nova/…`) starts from.
    pub branch: String,
    /// The upstream whose proxy git goes through (it adds the credential).
    pub upstream: Option<String>,
    /// Its repository on GitHub (`owner/name`): reviews of it get a pull request there.
    pub github: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Office {
    pub name: String,
    pub role: String,
    pub repos: Vec<String>,
    pub channels: Vec<String>,
    /// 1 (shared quarter vCPU) to 8 (8 vCPU / 32 GB); see DESIGN.md §5.
    pub tier: u8,
    /// Extra identity text placed in the office's SOUL.md.
    pub soul: Option<String>,
    /// As nova.toml names them (`"-name"` drops a workspace skill).
    pub skills: Vec<String>,
    /// What it gets on every wake: `office`, the workspace's skills and its own, each
    /// from the package that wins for it.
    pub loaded_skills: Vec<skills::Skill>,
    pub reports_to: Option<String>,
    /// Monthly budget in USD, shown to the office in AGENTS.md.
    pub budget_usd: Option<f64>,
    pub runtime: Option<Runtime>,
    /// Idle this long, the office sleeps, if typing signals warn of its prompts …
    pub idle_timeout: Duration,
    /// … and this long if a prompt woke it unannounced: nothing will warn of the next
    /// one either, so staying up is what keeps its people from waiting.
    pub idle_timeout_without_signals: Duration,
    /// How many sessions it works on at once; 1 (the default) is one run at a time.
    /// Above 1, each session works in a worktree of its own.
    pub concurrency: u32,
}

impl Office {
    /// Gives the office its own idle timeout, which (as in nova.toml) holds whether or
    /// not signals announce its prompts.
    pub fn set_idle_timeout(&mut self, idle: Duration) {
        self.idle_timeout = idle;
        self.idle_timeout_without_signals = idle;
    }
}

/// How an office runs its agent: a command line run in the repo's checkout (or the
/// workspace) with a clean environment. Each argument and env value is a handlebars
/// template over `prompt`, `brief` (the thread, the repo and the ask, as text),
/// `run_id`, `author`, `office`, `session`, `workspace`, `repo_dir`, `proxy` (the
/// office's secrets proxy) and `office_exe` (the office daemon's own executable).
/// A `preset` (the built-in agent, or an agent CLI) fills in the command, the env and
/// the output format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    #[serde(default)]
    pub command: Vec<String>,
    pub preset: Option<provisioner::presets::Preset>,
    /// The model the preset asks for (the built-in agent needs one).
    pub model: Option<String>,
    /// The upstream (`[[upstreams]]`) the preset's model API goes through; each preset
    /// has a default name (`llm`, `anthropic`, `openai`, `gemini`).
    pub upstream: Option<String>,
    /// How nova-office reads the runtime's stdout (set by a preset).
    pub output: Option<provisioner::presets::OutputFormat>,
    /// Extra, non-secret environment variables for the runtime.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A run still going after this long is stopped and reported as failed.
    #[serde(default = "default_run_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How the runtime is confined (on by default; see the README's security section).
    #[serde(default)]
    pub sandbox: provisioner::sandbox::SandboxSpec,
}

/// Fills in a preset's command, env and output format; checks that the runtime can run.
fn resolve_runtime(
    mut runtime: Runtime,
    upstreams: &[Spanned<provisioner::protocol::Upstream>],
) -> Result<Runtime, String> {
    let Some(preset) = runtime.preset else {
        if runtime.command.is_empty() {
            return Err("its runtime has neither a command nor a preset".to_owned());
        }
        return Ok(runtime);
    };
    if preset.needs_model() && runtime.model.is_none() {
        return Err(format!("runtime preset `{}` needs a `model`", preset.name()));
    }
    if let Some(upstream) = runtime.upstream.as_deref().or(preset.default_upstream()) {
        if !upstreams.iter().any(|u| u.get_ref().name == upstream) {
            return Err(format!(
                "runtime preset `{}` reaches its model through the upstream `{upstream}`, which is not in [[upstreams]]",
                preset.name()
            ));
        }
        for (key, value) in preset.env(runtime.model.as_deref(), upstream) {
            runtime.env.entry(key).or_insert(value);
        }
    }
    if runtime.command.is_empty() {
        runtime.command = preset.command(runtime.model.as_deref());
    }
    runtime.output = runtime.output.or(Some(preset.output()));
    Ok(runtime)
}

fn default_run_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The URL offices use to reach Nova; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Host names the console answers to besides loopback and `public_url`'s host
    /// (any other `Host` is refused: a web page cannot rebind its name to Nova).
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// Who may provide a credential an office asks for, and how long the request waits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialPolicy {
    /// Roles whose members may provide credentials. Empty: whoever holds any role, or
    /// anyone while `[roles]` is empty (a workspace of one).
    #[serde(default)]
    pub providers: Vec<String>,
    /// A request nobody answered within this long expires.
    #[serde(default = "default_credential_expiry", with = "humantime_serde")]
    pub expires: Duration,
}

fn default_credential_expiry() -> Duration {
    Duration::from_secs(60 * 60)
}

impl Default for CredentialPolicy {
    fn default() -> Self {
        Self { providers: Vec::new(), expires: default_credential_expiry() }
    }
}

/// One person, whichever surface they use: roles and approver lists name them, and a
/// decision in the console counts as one in Slack or Discord.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Their Slack user id (`U…`).
    pub slack: Option<String>,
    /// Their Discord user id.
    pub discord: Option<String>,
    /// Their GitHub login: their reviews on a pull request count as theirs.
    pub github: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { listen: default_listen(), public_url: None, hosts: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Where the SQLite database, office workspaces and local snapshots live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Overrides the database; `NOVA_DATABASE_URL` overrides this in turn.
    pub database_url: Option<String>,
    /// Where workspace snapshots go: `gs://bucket/prefix` for Cloud Storage (credentials
    /// from `snapshots_credentials` or `GOOGLE_APPLICATION_CREDENTIALS`); by default a
    /// directory in the data dir.
    pub snapshots: Option<String>,
    /// A service-account key file for Cloud Storage.
    pub snapshots_credentials: Option<PathBuf>,
    /// Cloud Storage's endpoint, for a proxy or a stand-in.
    pub snapshots_api_url: Option<String>,
}

/// Where git repositories of skill packages are checked out.
pub fn skill_sources(data_dir: &Path) -> PathBuf {
    data_dir.join("skill-sources")
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".nova")
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            database_url: None,
            snapshots: None,
            snapshots_credentials: None,
            snapshots_api_url: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Each office is a `nova-office` process on this machine.
    Local,
    /// Each office generation is a Compute Engine VM (settings from the `GCE_*`
    /// environment; snapshots in Cloud Storage).
    Gce,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionerSettings {
    #[serde(default = "default_backend")]
    pub backend: Backend,
    /// How long an office sits idle before it is snapshotted and put to sleep, when
    /// typing signals announce its prompts (a prewarm can wake it before the next one).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The same, for an office a prompt woke with no signal before it (Slack sends
    /// none for plain messages): its next prompt will not be announced either, so it
    /// stays up longer rather than make that person wait for a wake.
    #[serde(default = "default_idle_timeout_without_signals", with = "humantime_serde")]
    pub idle_timeout_without_signals: Duration,
    /// An office whose sessions have lately begun more often than once in this long
    /// stays up between them past its idle timeout, while that rate (fading over two
    /// hours) holds: its people are likely back soon, so a wake for them is worth
    /// saving. `0s` turns this off (see `orchestrator::demand`).
    #[serde(default = "default_return_interval", with = "humantime_serde")]
    pub return_interval: Duration,
    /// An office asleep is woken a few minutes before a time its sessions began on at
    /// least this share of comparable earlier days (its people start with it around
    /// nine on most weekdays, say), and sleeps again an hour later if nobody came.
    /// Read from its own last two weeks of prompts; `0` turns this off (see
    /// `orchestrator::demand::next_habitual_wake`).
    #[serde(default = "default_habit_share")]
    pub habit_share: f64,
    /// How long a wake may take before the office is marked failed; unset, it follows
    /// the backend (see [`ProvisionerSettings::wake_timeout`]).
    #[serde(default, with = "humantime_serde")]
    pub wake_timeout: Option<Duration>,
    /// zstd level for workspace snapshots (1 fastest … 19 smallest).
    #[serde(default = "default_zstd_level")]
    pub snapshot_compression: i32,
    /// How long an office woken by a typing signal alone stays up waiting for the
    /// prompt before it goes back to sleep.
    #[serde(default = "default_prewarm_ttl", with = "humantime_serde")]
    pub prewarm_ttl: Duration,
    /// At most this many offices up on typing signals alone at once (0 turns prewarming off).
    #[serde(default = "default_max_prewarms")]
    pub max_prewarms: usize,
    /// GCE: warm VMs kept per tier in use, at least …
    #[serde(default = "default_pool_floor")]
    pub pool_floor: usize,
    /// … and at most, following the last 15 minutes' wakes in between.
    #[serde(default = "default_pool_ceiling")]
    pub pool_ceiling: usize,
    /// GCE: a warm VM nobody claims for this long is deleted, and a tier no typing
    /// signal came for in this long keeps no pool.
    #[serde(default = "default_pool_ttl", with = "humantime_serde")]
    pub pool_ttl: Duration,
    /// GCE: keep pools for tiers whose prompts come unannounced too. Their people then
    /// wait seconds instead of a fresh boot, for more VM-hours; by default those
    /// VM-hours go to `idle_timeout_without_signals` instead.
    #[serde(default)]
    pub pool_without_signals: bool,
    /// GCE: how often the environment image is rebuilt (0s: never; pools keep `GCE_IMAGE`).
    #[serde(default = "default_image_cadence", with = "humantime_serde")]
    pub image_cadence: Duration,
}

fn default_backend() -> Backend {
    Backend::Local
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_idle_timeout_without_signals() -> Duration {
    Duration::from_secs(90 * 60)
}
fn default_return_interval() -> Duration {
    Duration::from_secs(5 * 3600)
}
fn default_habit_share() -> f64 {
    0.5
}
fn default_zstd_level() -> i32 {
    3
}
fn default_prewarm_ttl() -> Duration {
    Duration::from_secs(90)
}
fn default_max_prewarms() -> usize {
    4
}
fn default_pool_floor() -> usize {
    1
}
fn default_pool_ceiling() -> usize {
    8
}
fn default_pool_ttl() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_image_cadence() -> Duration {
    Duration::from_secs(30 * 60)
}

impl ProvisionerSettings {
    /// How long a wake may take: as configured, else a minute for a local process and
    /// three on GCE, where a fresh VM boots and starts its daemon in 30–70 s and the
    /// slowest in about two minutes.
    pub fn wake_timeout(&self) -> Duration {
        self.wake_timeout.unwrap_or(match self.backend {
            Backend::Local => Duration::from_secs(60),
            Backend::Gce => Duration::from_secs(3 * 60),
        })
    }
}

impl Default for ProvisionerSettings {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            idle_timeout: default_idle_timeout(),
            idle_timeout_without_signals: default_idle_timeout_without_signals(),
            return_interval: default_return_interval(),
            habit_share: default_habit_share(),
            wake_timeout: None,
            snapshot_compression: default_zstd_level(),
            prewarm_ttl: default_prewarm_ttl(),
            max_prewarms: default_max_prewarms(),
            pool_floor: default_pool_floor(),
            pool_ceiling: default_pool_ceiling(),
            pool_ttl: default_pool_ttl(),
            pool_without_signals: false,
            image_cadence: default_image_cadence(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSettings {
    /// Below this confidence Nova asks with a picker card instead of guessing.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
}

fn default_min_confidence() -> f64 {
    0.5
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self { min_confidence: default_min_confidence() }
    }
}

/// `[model]`: the fast model the router asks when its offline answer is unsure.
/// The API key is never read from the file: only from `OPENAI_API_KEY`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The model name; `NOVA_ROUTER_MODEL` overrides it. Without one, no model is used.
    pub model: Option<String>,
    /// An OpenAI-compatible API base; `OPENAI_BASE_URL` overrides it.
    pub base_url: Option<String>,
    /// The whole call, retries included (429 and 5xx are retried at most 3 times).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Ask the model when the offline confidence is below this.
    pub below_confidence: Option<f64>,
}

/// The model stage, resolved from `[model]` and the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    pub model: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub below_confidence: f64,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub workspace: Workspace,
    pub repos: Vec<Repo>,
    pub offices: Vec<Office>,
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub provisioner: ProvisionerSettings,
    pub router: RouterSettings,
    pub model: ModelFile,
    pub roles: BTreeMap<String, Vec<String>>,
    pub people: BTreeMap<String, Person>,
    pub credentials: CredentialPolicy,
    pub approvals: Vec<ApprovalPolicy>,
    pub upstreams: Vec<provisioner::protocol::Upstream>,
    pub databases: Vec<Database>,
    pub reviews: Vec<ReviewPolicy>,
    pub github: Option<GithubSettings>,
    pub prices: BTreeMap<String, ModelPrice>,
    /// Where its skill packages come from (the workspace's directories, then offices'):
    /// a change there is a change of the config.
    pub skill_dirs: Vec<std::path::PathBuf>,
    /// Git repositories of packages (checked out under [`skill_sources`]).
    pub skill_git: Vec<GitSkills>,
    /// The text it was read from: nova.toml, with the fleet changes made while Nova runs
    /// written in (see [`edit`]).
    pub source: std::sync::Arc<str>,
}

impl Config {
    /// The review policy for changes to `repo`: the first that names it or names none.
    pub fn review_policy(&self, repo: &str) -> ReviewPolicy {
        self.reviews
            .iter()
            .find(|policy| policy.repos.is_empty() || policy.repos.iter().any(|r| r == repo))
            .cloned()
            .unwrap_or_default()
    }

    /// The model stage, if a model is named in `[model]` or `NOVA_ROUTER_MODEL`.
    /// `env` reads an environment variable (a parameter, so tests need not set any).
    pub fn model_settings(&self, env: impl Fn(&str) -> Option<String>) -> Option<ModelSettings> {
        let model = env("NOVA_ROUTER_MODEL").or_else(|| self.model.model.clone())?;
        Some(ModelSettings {
            model,
            base_url: env("OPENAI_BASE_URL")
                .or_else(|| self.model.base_url.clone())
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            api_key: env("OPENAI_API_KEY"),
            timeout: self.model.timeout.unwrap_or(Duration::from_secs(2)),
            below_confidence: self.model.below_confidence.unwrap_or(0.75),
        })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn demo() -> Self {
        Self::parse(DEMO_TOML, "built-in demo workspace").expect("the demo workspace is valid")
    }

    /// Parses and validates; `origin` names the source in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Validator { text, origin }.validate(raw)
    }

    /// The person a user is, by name or by a chat id `[people]` gives them.
    pub fn person(&self, user: &str) -> Option<&str> {
        self.people.iter().find_map(|(name, person)| {
            let known = name == user
                || [&person.slack, &person.discord, &person.github].iter().any(|id| id.as_deref() == Some(user));
            known.then_some(name.as_str())
        })
    }

    /// Every name `user` goes by: what was given and, for a person in `[people]`, their
    /// name and chat ids (the given one first). Roles, approver lists and requesters
    /// match on any of them.
    pub fn identities(&self, user: &str) -> Vec<String> {
        let mut names = vec![user.to_owned()];
        if let Some(name) = self.person(user) {
            let person = &self.people[name];
            let aliases = [Some(name.to_owned()), person.slack.clone(), person.discord.clone(), person.github.clone()];
            for alias in aliases.into_iter().flatten() {
                if !names.contains(&alias) {
                    names.push(alias);
                }
            }
        }
        names
    }

    /// Whether `user` (under any of their identities) holds `role`.
    pub fn holds_role(&self, user: &str, role: &str) -> bool {
        let members = self.roles.get(role).map(Vec::as_slice).unwrap_or_default();
        self.identities(user).iter().any(|identity| members.contains(identity))
    }

    /// The upstreams offices reach through their proxy: all but GitHub's API, which
    /// Nova alone calls (with it an office could merge its own pull request).
    pub fn office_upstreams(&self) -> impl Iterator<Item = &provisioner::protocol::Upstream> {
        let nova_only = self.github.as_ref().map(|github| github.upstream.as_str());
        self.upstreams.iter().filter(move |upstream| Some(upstream.name.as_str()) != nova_only)
    }

    pub fn office(&self, name: &str) -> Option<&Office> {
        self.offices.iter().find(|o| o.name == name)
    }

    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.name == name)
    }

    /// Every channel the config names, sorted, plus `general`.
    pub fn channels(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .repos
            .iter()
            .flat_map(|r| r.channels.iter())
            .chain(self.offices.iter().flat_map(|o| o.channels.iter()))
            .cloned()
            .chain(std::iter::once("general".to_owned()))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// What `nova check` prints: what this config would run.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "workspace {}: {} repos, {} offices; clock {} (schedules' times of day, calendar months)",
            self.workspace.name,
            self.repos.len(),
            self.offices.len(),
            self.workspace.time_zone.name()
        );
        for repo in &self.repos {
            let _ = writeln!(out, "  repo   {:<16} channels: {}", repo.name, list_or_dash(&repo.channels));
        }
        for office in &self.offices {
            let runtime = match &office.runtime {
                Some(r) => match (r.preset, &r.model) {
                    (Some(preset), Some(model)) => format!("{} ({model})", preset.name()),
                    (Some(preset), None) => preset.name().to_owned(),
                    (None, _) => r.command.join(" "),
                },
                None => "none (prompts are answered with setup instructions)".to_owned(),
            };
            let skills: Vec<String> =
                office.loaded_skills.iter().map(|s| format!("{}@{}", s.name, s.revision)).collect();
            let _ = writeln!(
                out,
                "  office {:<16} tier {} repos: {}; channels: {}; runtime: {}; skills: {}",
                office.name,
                office.tier,
                list_or_dash(&office.repos),
                list_or_dash(&office.channels),
                runtime,
                skills.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "provisioner: {:?} backend, idle timeout {} ({} when prompts come unannounced{}), data dir {}",
            self.provisioner.backend,
            humantime::format_duration(self.provisioner.idle_timeout),
            humantime::format_duration(self.provisioner.idle_timeout_without_signals),
            match self.provisioner.return_interval {
                interval if interval.is_zero() => String::new(),
                interval => format!(
                    "; longer while sessions begin more often than once in {}",
                    humantime::format_duration(interval)
                ),
            },
            self.store.data_dir.display()
        );
        let snapshots =
            self.store.snapshots.clone().unwrap_or_else(|| format!("{}/snapshots", self.store.data_dir.display()));
        let prewarm = match self.provisioner.max_prewarms {
            0 => "off".to_owned(),
            n => format!("up to {n} offices for {}", humantime::format_duration(self.provisioner.prewarm_ttl)),
        };
        let habits = match self.provisioner.habit_share {
            share if share <= 0.0 => "off".to_owned(),
            share => format!("woken for those kept on {:.0}% of days", share * 100.0),
        };
        let _ = writeln!(out, "snapshots: {snapshots}; prewarm on typing: {prewarm}; habits: {habits}");
        if self.provisioner.backend == Backend::Gce {
            let images = match self.provisioner.image_cadence {
                cadence if cadence.is_zero() => "never rebuilt".to_owned(),
                cadence => format!("rebuilt every {}", humantime::format_duration(cadence)),
            };
            let kept_for = if self.provisioner.pool_without_signals { "in use" } else { "people type to" };
            let _ = writeln!(
                out,
                "GCE: {}–{} warm VMs per tier {kept_for}, unclaimed for {} they go; image {images}",
                self.provisioner.pool_floor,
                self.provisioner.pool_ceiling,
                humantime::format_duration(self.provisioner.pool_ttl)
            );
        }
        let _ = writeln!(out, "listen: {}", self.server.listen);
        out
    }
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.join(", ") }
}

struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Validator<'_> {
    /// The bundled skills with the workspace's package directories over them.
    fn skill_library(
        &self,
        settings: &RawSkills,
        upstreams: &[&str],
        data_dir: &Path,
    ) -> Result<skills::Library, ConfigError> {
        let mut library = skills::Library::bundled();
        for dir in &settings.dirs {
            library.add(self.skill_packages(Path::new(dir.get_ref()), dir.span(), upstreams, "")?);
        }
        for source in &settings.git {
            let GitSkills { url, rev, path } = source.get_ref();
            let (checkout, _) = match skills::git::checkout(url, rev, &skill_sources(data_dir)) {
                Ok(found) => found,
                Err(error) => return self.error(source.span(), format!("skills from git: {error}")),
            };
            let dir = checkout.join(path.as_deref().unwrap_or(""));
            library.add(self.skill_packages(&dir, source.span(), upstreams, "")?);
        }
        Ok(library)
    }

    /// The packages in `dir`, each of whose HTTP tools calls an upstream the workspace has.
    fn skill_packages(
        &self,
        dir: &Path,
        span: std::ops::Range<usize>,
        upstreams: &[&str],
        whose: &str,
    ) -> Result<Vec<skills::Skill>, ConfigError> {
        let found = match skills::load_dir(dir) {
            Ok(found) => found,
            Err(error) => return self.error(span, format!("{whose}skill package {error}")),
        };
        for skill in &found {
            for tool in &skill.tools {
                if let Some(http) = tool.http.as_ref().filter(|http| !upstreams.contains(&http.upstream.as_str())) {
                    let file = dir.join(&skill.name).join(skills::tools::TOOLS_FILE);
                    let message = format!(
                        "{whose}skill package {}: tool `{}` calls the upstream `{}`, which is not in [[upstreams]]",
                        file.display(),
                        tool.name,
                        http.upstream
                    );
                    return self.error(span, message);
                }
            }
        }
        Ok(found)
    }

    /// What `office` gets on every wake: `office`, the workspace's skills, its own (from
    /// its `skills_dir` first), less those it drops with `"-name"`.
    fn office_skills(
        &self,
        name: &str,
        office: &RawOffice,
        workspace: &skills::Library,
        settings: &RawSkills,
        upstreams: &[&str],
    ) -> Result<Vec<skills::Skill>, ConfigError> {
        let mut library = workspace.clone();
        if let Some(dir) = &office.skills_dir {
            library.add(self.skill_packages(
                Path::new(dir.get_ref()),
                dir.span(),
                upstreams,
                &format!("office `{name}`: "),
            )?);
        }
        let dropped: Vec<&str> = office.skills.iter().filter_map(|s| s.get_ref().strip_prefix('-')).collect();
        if dropped.contains(&skills::OFFICE) {
            let span = office.skills.iter().find(|s| s.get_ref() == "-office").map_or(0..0, |s| s.span());
            return self
                .error(span, format!("office `{name}` cannot drop the `office` skill: it is how it talks to Nova"));
        }
        let wanted = std::iter::once((skills::OFFICE, 0..0))
            .chain(settings.workspace.iter().map(|s| (s.get_ref().as_str(), s.span())))
            .chain(
                office
                    .skills
                    .iter()
                    .filter(|s| !s.get_ref().starts_with('-'))
                    .map(|s| (s.get_ref().as_str(), s.span())),
            );
        let mut loaded: Vec<skills::Skill> = Vec::new();
        for (skill, span) in wanted {
            if dropped.contains(&skill) || loaded.iter().any(|s| s.name == skill) {
                continue;
            }
            match library.get(skill) {
                Some(found) => loaded.push(found.clone()),
                None => {
                    let message = format!(
                        "office `{name}` names unknown skill `{skill}` (known: {})",
                        library.names().join(", ")
                    );
                    return self.error(span, message);
                }
            }
        }
        Ok(loaded)
    }

    fn error<T>(&self, span: std::ops::Range<usize>, message: String) -> Result<T, ConfigError> {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        Err(ConfigError::Invalid { origin: self.origin.to_owned(), line, message })
    }

    fn name(&self, name: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
        let value = name.get_ref();
        let valid = !value.is_empty()
            && value.len() <= 63
            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
            && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !valid {
            return self.error(
                name.span(),
                format!("{what} name `{value}` must be 1–63 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"),
            );
        }
        Ok(value.clone())
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.provisioner.backend == Backend::Gce
            && !raw.store.snapshots.as_deref().is_some_and(|s| s.starts_with("gs://"))
        {
            let message =
                "[provisioner] backend = \"gce\" needs [store] snapshots = \"gs://bucket/prefix\": an office's VM \
                           is deleted when it sleeps, so its workspace must live in Cloud Storage"
                    .to_owned();
            return Err(ConfigError::Parse { origin: self.origin.to_owned(), message });
        }
        if !(0.0..=1.0).contains(&raw.provisioner.habit_share) {
            let message = format!(
                "[provisioner] habit_share is a share of days, from 0 (off) to 1, not {}",
                raw.provisioner.habit_share
            );
            return Err(ConfigError::Parse { origin: self.origin.to_owned(), message });
        }
        if raw.provisioner.pool_floor > raw.provisioner.pool_ceiling {
            let message = format!(
                "[provisioner] pool_floor ({}) is above pool_ceiling ({})",
                raw.provisioner.pool_floor, raw.provisioner.pool_ceiling
            );
            return Err(ConfigError::Parse { origin: self.origin.to_owned(), message });
        }
        let mut repo_names = HashSet::new();
        let mut repos = Vec::with_capacity(raw.repos.len());
        for repo in &raw.repos {
            let name = self.name(&repo.name, "repo")?;
            if !repo_names.insert(name.clone()) {
                return self.error(repo.name.span(), format!("duplicate repo name `{name}`"));
            }
            repos.push(Repo {
                name: name.clone(),
                description: repo.description.clone(),
                hints: repo.hints.clone(),
                channels: normalize_channels(&repo.channels),
                url: repo.url.clone(),
                branch: repo.branch.clone().unwrap_or_else(|| "main".to_owned()),
                upstream: match &repo.upstream {
                    Some(upstream) if !raw.upstreams.iter().any(|u| &u.get_ref().name == upstream.get_ref()) => {
                        let message = format!("repo `{name}` names unknown upstream `{}`", upstream.get_ref());
                        return self.error(upstream.span(), message);
                    }
                    Some(upstream) => Some(upstream.get_ref().clone()),
                    None => None,
                },
                github: match &repo.github {
                    Some(github) if raw.github.is_none() => {
                        let message = format!("repo `{name}` names a GitHub repository but there is no [github] table");
                        return self.error(github.span(), message);
                    }
                    Some(github) if !is_github_repo(github.get_ref()) => {
                        let message = format!("repo `{name}`: github is `owner/name`, not `{}`", github.get_ref());
                        return self.error(github.span(), message);
                    }
                    Some(github) => Some(github.get_ref().clone()),
                    None => None,
                },
            });
        }
        if let Some(github) = &raw.github {
            let upstream = raw.upstreams.iter().find(|u| u.get_ref().name == github.get_ref().upstream);
            match upstream {
                None => {
                    let message = format!("[github] names unknown upstream `{}`", github.get_ref().upstream);
                    return self.error(github.span(), message);
                }
                Some(upstream) if upstream.get_ref().secret.is_none() => {
                    let message = format!(
                        "[github]: upstream `{}` needs a `secret` (the vault secret holding GitHub's token)",
                        upstream.get_ref().name
                    );
                    return self.error(github.span(), message);
                }
                Some(_) => {}
            }
        }

        let mut office_names = HashSet::new();
        let mut vm_names: BTreeMap<String, String> = BTreeMap::new();
        for office in &raw.offices {
            let name = self.name(&office.name, "office")?;
            if !office_names.insert(name.clone()) {
                return self.error(office.name.span(), format!("duplicate office name `{name}`"));
            }
            // GCE names allow neither `_` nor `.`, and are short: two offices must not
            // come out as one VM name.
            let vm_name = provisioner::gce::vm_label(&name);
            if let Some(other) = vm_names.insert(vm_name.clone(), name.clone()) {
                let message = format!(
                    "offices `{other}` and `{name}` would share the VM name `nova-{vm_name}-…` on GCE: rename one"
                );
                return self.error(office.name.span(), message);
            }
        }

        // What an author named like an office says is read as that office's words.
        if let Some(name) = raw.people.keys().find(|name| office_names.contains(*name)) {
            let message = format!("[people.{name}]: `{name}` is an office's name; give the person another");
            return Err(ConfigError::Parse { origin: self.origin.to_owned(), message });
        }

        let upstream_names: Vec<&str> = raw.upstreams.iter().map(|u| u.get_ref().name.as_str()).collect();
        let library = self.skill_library(&raw.skills, &upstream_names, &raw.store.data_dir)?;
        let mut offices = Vec::with_capacity(raw.offices.len());
        for office in &raw.offices {
            let name = office.name.get_ref().clone();
            for repo in &office.repos {
                if !repo_names.contains(repo.get_ref()) {
                    return self.error(repo.span(), format!("office `{name}` names unknown repo `{}`", repo.get_ref()));
                }
            }
            if let Some(boss) = &office.reports_to {
                if !office_names.contains(boss.get_ref()) {
                    return self
                        .error(boss.span(), format!("office `{name}` reports to unknown office `{}`", boss.get_ref()));
                }
                if boss.get_ref() == &name {
                    return self.error(boss.span(), format!("office `{name}` cannot report to itself"));
                }
            }
            let loaded_skills = self.office_skills(&name, office, &library, &raw.skills, &upstream_names)?;
            if let Some(tier) = &office.tier
                && !(1..=8).contains(tier.get_ref())
            {
                return self
                    .error(tier.span(), format!("office `{name}` has tier {}, expected 1 to 8", tier.get_ref()));
            }
            if let Some(budget) = &office.budget
                && !(budget.get_ref().is_finite() && *budget.get_ref() >= 0.0)
            {
                return self.error(budget.span(), format!("office `{name}` has a negative or invalid budget"));
            }
            let runtime = match office.runtime.clone().or_else(|| raw.runtime.clone()) {
                Some(runtime) => match resolve_runtime(runtime, &raw.upstreams) {
                    Ok(runtime) => Some(runtime),
                    Err(message) => return self.error(office.name.span(), format!("office `{name}`: {message}")),
                },
                None => None,
            };
            if let Some(concurrency) = &office.concurrency
                && !(1..=16).contains(concurrency.get_ref())
            {
                let message = format!("office `{name}` has concurrency {}, expected 1 to 16", concurrency.get_ref());
                return self.error(concurrency.span(), message);
            }
            offices.push(Office {
                name,
                role: office.role.clone(),
                repos: office.repos.iter().map(|r| r.get_ref().clone()).collect(),
                channels: normalize_channels(&office.channels),
                tier: office.tier.as_ref().map_or(2, |t| *t.get_ref()),
                soul: office.soul.clone(),
                skills: office.skills.iter().map(|s| s.get_ref().clone()).collect(),
                loaded_skills,
                reports_to: office.reports_to.as_ref().map(|b| b.get_ref().clone()),
                budget_usd: office.budget.as_ref().map(|b| *b.get_ref()),
                runtime,
                // An office's own timeout holds whether or not signals come.
                idle_timeout: office.idle_timeout.unwrap_or(raw.provisioner.idle_timeout),
                idle_timeout_without_signals: office
                    .idle_timeout
                    .unwrap_or(raw.provisioner.idle_timeout_without_signals),
                concurrency: office.concurrency.as_ref().map_or(1, |c| *c.get_ref()),
            });
        }
        self.check_chain_of_command(&raw.offices)?;

        if let Some(role) = raw.credentials.providers.iter().find(|role| !raw.roles.contains_key(*role)) {
            let message = format!("[credentials] providers names unknown role `{role}`");
            return Err(ConfigError::Parse { origin: self.origin.to_owned(), message });
        }
        let mut approvals: Vec<ApprovalPolicy> = Vec::new();
        for policy in &raw.approvals {
            let kind = policy.kind.get_ref().clone();
            if approvals.iter().any(|p| p.kind == kind) {
                return self.error(policy.kind.span(), format!("duplicate approval policy for kind `{kind}`"));
            }
            for role in &policy.approvers {
                if !raw.roles.contains_key(role.get_ref()) {
                    return self.error(
                        role.span(),
                        format!("approval policy `{kind}` names unknown role `{}`", role.get_ref()),
                    );
                }
            }
            approvals.push(ApprovalPolicy {
                kind,
                approvers: policy.approvers.iter().map(|r| r.get_ref().clone()).collect(),
                expires: policy.expires.unwrap_or(DEFAULT_APPROVAL_EXPIRY),
                over_usd: policy.over_usd,
            });
        }
        let mut upstreams: Vec<provisioner::protocol::Upstream> = Vec::new();
        for spanned in &raw.upstreams {
            let upstream = spanned.get_ref();
            if upstreams.iter().any(|u| u.name == upstream.name) {
                return self.error(spanned.span(), format!("duplicate upstream `{}`", upstream.name));
            }
            if !(upstream.url.starts_with("https://") || upstream.url.starts_with("http://")) {
                return self.error(spanned.span(), format!("upstream `{}` needs an http(s) url", upstream.name));
            }
            if !upstream.value.contains("{secret}") {
                return self
                    .error(spanned.span(), format!("upstream `{}`: `value` must contain {{secret}}", upstream.name));
            }
            upstreams.push(upstream.clone());
        }
        let mut databases: Vec<Database> = Vec::new();
        for spanned in &raw.databases {
            let database = spanned.get_ref();
            let refuse =
                |message: String| self.error(spanned.span(), format!("database `{}`: {message}", database.name));
            if databases.iter().any(|d| d.name == database.name) {
                return refuse("defined twice".to_owned());
            }
            let Some((scheme, rest)) = database.url.split_once("://") else {
                return refuse("its url is `postgres://user@host/db` or `sqlite:///path`".to_owned());
            };
            if !["postgres", "postgresql", "sqlite"].contains(&scheme) {
                return refuse(format!("`{scheme}` is not a database Nova can query (postgres, sqlite)"));
            }
            if scheme == "sqlite" && database.secret.is_some() {
                return refuse("a SQLite file has no password: leave out `secret`".to_owned());
            }
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            if authority.split_once('@').is_some_and(|(user, _)| user.contains(':')) {
                return refuse(
                    "keep the password out of nova.toml: put it in the vault and name it in `secret`".to_owned(),
                );
            }
            if let Some(office) = database.offices.iter().find(|o| !office_names.contains(*o)) {
                return refuse(format!("names unknown office `{office}`"));
            }
            databases.push(database.clone());
        }
        let mut reviews = Vec::new();
        for spanned in &raw.reviews {
            let policy = spanned.get_ref();
            let refuse = |message: String| self.error(spanned.span(), format!("[[reviews]]: {message}"));
            if let Some(repo) = policy.repos.iter().find(|r| !repo_names.contains(*r)) {
                return refuse(format!("names unknown repo `{repo}`"));
            }
            if !(1..=10).contains(&policy.approvals) {
                return refuse(format!("`approvals` is 1 to 10, not {}", policy.approvals));
            }
            if let Some(office) = policy.reviewers.iter().find(|o| !office_names.contains(*o)) {
                return refuse(format!("`reviewers` names unknown office `{office}`"));
            }
            let covered = |repo: &&Repo| policy.repos.is_empty() || policy.repos.contains(&repo.name);
            if policy.stages.contains(&ReviewStage::Pr)
                && let Some(repo) = repos.iter().filter(covered).find(|repo| repo.github.is_none())
            {
                return refuse(format!(
                    "stage `pr` needs a pull request, and repo `{}` names no `github` repository",
                    repo.name
                ));
            }
            reviews.push(policy.clone());
        }
        if !(0.0..=1.0).contains(&raw.router.min_confidence) {
            return self.error(0..0, "router.min_confidence must be between 0 and 1".to_owned());
        }
        if raw.workspace.budget.is_some_and(|budget| !(budget.is_finite() && budget >= 0.0)) {
            return self.error(0..0, "workspace.budget must be a number of dollars, 0 or more".to_owned());
        }
        for (model, price) in &raw.prices {
            if ![price.input, price.output].iter().all(|p| p.is_finite() && *p >= 0.0) {
                return self.error(
                    0..0,
                    format!("prices.\"{model}\": input and output are USD per million tokens, 0 or more"),
                );
            }
        }
        Ok(Config {
            workspace: raw.workspace,
            repos,
            offices,
            server: raw.server,
            store: raw.store,
            provisioner: raw.provisioner,
            router: raw.router,
            model: raw.model,
            roles: raw.roles,
            people: raw.people,
            credentials: raw.credentials,
            approvals,
            upstreams,
            databases,
            reviews,
            github: raw.github.map(Spanned::into_inner),
            prices: raw.prices,
            skill_dirs: raw
                .skills
                .dirs
                .iter()
                .map(|d| d.get_ref())
                .chain(raw.offices.iter().filter_map(|o| o.skills_dir.as_ref()).map(|d| d.get_ref()))
                .map(std::path::PathBuf::from)
                .collect(),
            skill_git: raw.skills.git.iter().map(|g| g.get_ref().clone()).collect(),
            source: self.text.into(),
        })
    }

    /// `reports_to` must form a tree: a cycle would leave nobody at the top.
    fn check_chain_of_command(&self, offices: &[RawOffice]) -> Result<(), ConfigError> {
        for start in offices {
            let mut seen = HashSet::new();
            let mut current = start;
            while let Some(boss) = &current.reports_to {
                if !seen.insert(boss.get_ref().clone()) || boss.get_ref() == start.name.get_ref() {
                    return self.error(
                        start.name.span(),
                        format!("office `{}` is part of a reports_to cycle", start.name.get_ref()),
                    );
                }
                match offices.iter().find(|o| o.name.get_ref() == boss.get_ref()) {
                    Some(next) => current = next,
                    None => break,
                }
            }
        }
        Ok(())
    }
}

fn normalize_channels(channels: &[String]) -> Vec<String> {
    channels.iter().map(|c| c.trim().trim_start_matches('#').to_lowercase()).collect()
}

pub mod edit;
#[cfg(test)]
mod tests;

/// GitHub's `owner/name`: two names of letters, digits, `-`, `_` and `.`.
fn is_github_repo(full_name: &str) -> bool {
    let part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    full_name.split_once('/').is_some_and(|(owner, name)| part(owner) && part(name))
}
