//! The one end-to-end harness: the real server on a random port, a fresh database, real
//! office processes. Tests drive it like a person would and wait on the server's own
//! update stream, never on a clock.

use std::sync::Arc;
use std::time::Duration;

use bot::discord::settings::DiscordSettings;
use bot::slack::settings::SlackSettings;
use bot::{Options, Running};
use orchestrator::Engine;
use orchestrator::config::Config;
use orchestrator::engine::GceSetup;
use orchestrator::engine::{MessageView, Update};
use orchestrator::store::{MessageKind, offices, prompts};
use orchestrator::texts::Card;
use provisioner::gce::GceSettings;
use serde_json::{Value, json};
use testkit::TestDatabase;
use testkit::discord::FakeDiscord;
use testkit::gce::{AgentProgram, FakeGce, GceOptions};
use testkit::gcs::FakeGcs;
use testkit::slack::FakeSlack;
use tokio::sync::broadcast;

/// Who reads the API and posts when a test names nobody (a person, so not named like
/// the demo's `operator` office: nobody signs in under an office's name).
pub const OPERATOR: &str = "oscar";

/// How long any wait may take before the test fails (a guard, not a delay).
const PATIENCE: Duration = Duration::from_secs(60);
/// How often a wait looks again without news from Nova.
const RECHECK: Duration = Duration::from_millis(100);

pub struct Nova {
    running: Option<Running>,
    db: Option<TestDatabase>,
    pub data_dir: tempfile::TempDir,
    pub config: Config,
    http: reqwest::Client,
    /// Console session cookies, by person.
    sessions: std::sync::Mutex<std::collections::HashMap<String, String>>,
    updates: broadcast::Receiver<Update>,
    surfaces: Surfaces,
    /// The nova.toml Nova watches, when it was started from one.
    config_file: Option<std::path::PathBuf>,
}

/// The chat platforms (and the cloud) a test's Nova talks to: stand-ins.
#[derive(Clone, Default)]
struct Surfaces {
    slack: Option<SlackSettings>,
    discord: Option<DiscordSettings>,
    gce: Option<GceSetup>,
}

/// A cloud for offices on GCE: Compute Engine whose VMs run real office daemons, and
/// Cloud Storage for their snapshots. Zones: `europe-west1-b`, then `europe-west1-c`.
pub struct Cloud {
    pub gce: FakeGce,
    pub gcs: FakeGcs,
    /// The service-account key Cloud Storage accepts: Nova's (the VMs hold none).
    keys: tempfile::TempDir,
}

pub const ZONES: [&str; 2] = ["europe-west1-b", "europe-west1-c"];
pub const BUCKET: &str = "nova-snapshots";

impl Cloud {
    pub async fn start() -> Self {
        let gcs = FakeGcs::start().await.unwrap();
        let keys = tempfile::tempdir().unwrap();
        std::fs::write(keys.path().join("gcs.json"), gcs.service_account_json()).unwrap();
        // The VMs' daemons get no storage credential: Nova moves their snapshots.
        let agents =
            AgentProgram { program: vec![env!("CARGO_BIN_EXE_nova").to_owned(), "office".to_owned()], env: Vec::new() };
        let gce = FakeGce::start(GceOptions { agents: Some(agents), ..GceOptions::default() }).await.unwrap();
        Self { gce, gcs, keys }
    }

    /// What `nova serve` would read from `GCE_*` and `GOOGLE_APPLICATION_CREDENTIALS`.
    fn setup(&self) -> GceSetup {
        let zones = ZONES.iter().map(|z| z.to_string()).collect();
        let image = format!("projects/{}/global/images/nova-office-base", self.gce.project());
        let mut settings = GceSettings::new(&self.gce.api_url, self.gce.project(), zones, &image);
        settings.agent_url = self.gce.agent_url_template();
        // The stand-in's agents answer within milliseconds; one that has not in 5 s never will.
        settings.health_timeout = Duration::from_secs(5);
        // A VM lost under its office is noticed within a tenth of a second.
        settings.census_interval = Duration::from_millis(100);
        let tokens = gcp_auth::CustomServiceAccount::from_json(&self.gce.service_account_json()).unwrap();
        GceSetup { settings, tokens: Arc::new(tokens) }
    }

    /// Offices on this cloud: `backend = "gce"`, snapshots in the bucket, no warm pool
    /// (a test that wants one sets `pool_ceiling`), no image builds.
    fn configure(&self, config: &mut Config) {
        config.provisioner.backend = orchestrator::config::Backend::Gce;
        config.provisioner.pool_floor = 0;
        config.provisioner.pool_ceiling = 0;
        config.provisioner.image_cadence = Duration::ZERO;
        config.store.snapshots = Some(format!("gs://{BUCKET}/acme"));
        config.store.snapshots_api_url = Some(self.gcs.api_url.clone());
        config.store.snapshots_credentials = Some(self.keys.path().join("gcs.json"));
    }

    /// The VMs that exist now, by name.
    pub fn vms(&self) -> Vec<String> {
        self.gce.instances().into_iter().map(|i| i.name).collect()
    }

    /// The VMs created for an office's generation (not pool members), by name.
    pub fn office_vms(&self) -> Vec<String> {
        self.vms().into_iter().filter(|name| !name.starts_with("nova-pool-")).collect()
    }
}

/// The demo workspace, made quick for tests: no pacing in the example runtime and an
/// idle timeout long enough that offices stay up unless a test shortens it.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    // Written into the demo's text, not set on the parsed config, so the config is the
    // text it says it was read from: fleet changes are written over that text.
    let text = orchestrator::config::DEMO_TOML
        .replace(
            "[runtime]\npreset = \"example\"\n",
            &format!(
                "[store]\ndata_dir = {:?}\n\n[runtime]\npreset = \"example\"\nenv = {{ NOVA_EXAMPLE_STEP_MS = \"0\" }}\n",
                data_dir.display().to_string()
            ),
        )
        .replace("idle_timeout = \"30s\"\nidle_timeout_without_signals = \"30s\"", "idle_timeout = \"1h\"\nidle_timeout_without_signals = \"1h\"");
    let config = Config::parse(&text, "the test workspace").unwrap();
    assert_eq!(config.store.data_dir, data_dir, "the demo's text changed: update test_config");
    assert_eq!(
        config.offices[0].idle_timeout,
        Duration::from_secs(3600),
        "the demo's text changed: update test_config"
    );
    assert_eq!(
        config.offices[0].runtime.as_ref().unwrap().env.get("NOVA_EXAMPLE_STEP_MS").map(String::as_str),
        Some("0"),
        "the demo's text changed: update test_config"
    );
    config
}

/// Paces the example runtime's steps, so a run lasts long enough for a surface to show
/// its progress before it finishes (with no pacing a run can end before the first post,
/// and the progress message is then posted once, already final).
pub fn paced_steps(config: &mut Config) {
    for office in &mut config.offices {
        if let Some(runtime) = &mut office.runtime {
            runtime.env.insert("NOVA_EXAMPLE_STEP_MS".to_owned(), "100".to_owned());
        }
    }
}

impl Nova {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Self {
        Self::launch(edit, true).await
    }

    /// Nova that records and acknowledges but processes nothing: the state right after
    /// a crash that followed an acknowledgement.
    pub async fn start_without_engine() -> Self {
        Self::launch(|_| {}, false).await
    }

    /// Nova with Slack configured against `slack`, the stand-in (which learns Nova's URL).
    /// Socket Mode when `socket_mode`: then there is no signing secret, only the app token.
    pub async fn start_on_slack(slack: &FakeSlack, socket_mode: bool, edit: impl FnOnce(&mut Config)) -> Self {
        let settings = SlackSettings {
            signing_secret: if socket_mode { String::new() } else { slack.signing_secret.clone() },
            bot_token: slack.bot_token.clone(),
            app_token: socket_mode.then(|| slack.app_token.clone()),
            api_url: slack.api_url.clone(),
            edit_interval: Duration::from_millis(20),
        };
        let nova = Self::launch_with(edit, true, Surfaces { slack: Some(settings), ..Surfaces::default() }).await;
        slack.connect(&nova.url(""));
        nova
    }

    /// Nova with Discord configured against `discord`, the stand-in (which learns
    /// Nova's URL for interactions sent to the endpoint).
    pub async fn start_on_discord(discord: &FakeDiscord, edit: impl FnOnce(&mut Config)) -> Self {
        let settings = DiscordSettings {
            token: discord.token.clone(),
            public_key: Some(discord.public_key.clone()),
            api_url: Some(discord.api_url.clone()),
            edit_interval: Duration::from_millis(20),
        };
        let nova = Self::launch_with(edit, true, Surfaces { discord: Some(settings), ..Surfaces::default() }).await;
        discord.connect(&nova.url(""));
        nova
    }

    /// Nova whose offices run on `cloud`'s VMs (`backend = "gce"`).
    pub async fn start_on_gce(cloud: &Cloud, edit: impl FnOnce(&mut Config)) -> Self {
        let configure = |config: &mut Config| {
            cloud.configure(config);
            edit(config);
        };
        Self::launch_with(configure, true, Surfaces { gce: Some(cloud.setup()), ..Surfaces::default() }).await
    }

    async fn launch(edit: impl FnOnce(&mut Config), run_engine: bool) -> Self {
        Self::launch_with(edit, run_engine, Surfaces::default()).await
    }

    async fn launch_with(edit: impl FnOnce(&mut Config), run_engine: bool, surfaces: Surfaces) -> Self {
        capture_logs();
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        edit(&mut config);
        Self::boot(data_dir, config, None, run_engine, surfaces).await
    }

    /// Nova started on a nova.toml in its data dir, as `nova serve --config` starts it:
    /// it picks up the file's changes. `toml` is the file, with `{data_dir}` where the
    /// data dir goes.
    pub async fn start_from_file(toml: &str) -> Self {
        capture_logs();
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().join("nova.toml");
        std::fs::write(&path, toml.replace("{data_dir}", &data_dir.path().display().to_string())).unwrap();
        let config = Config::load(&path).unwrap();
        Self::boot(data_dir, config, Some(path), true, Surfaces::default()).await
    }

    async fn boot(
        data_dir: tempfile::TempDir,
        config: Config,
        config_file: Option<std::path::PathBuf>,
        run_engine: bool,
        surfaces: Surfaces,
    ) -> Self {
        let db = TestDatabase::new().await.unwrap();
        let running = run(&config, config_file.as_deref(), &db.url, run_engine, surfaces.clone()).await;
        let updates = running.engine.subscribe();
        Self {
            running: Some(running),
            db: Some(db),
            data_dir,
            config,
            http: reqwest::Client::new(),
            sessions: Default::default(),
            updates,
            surfaces,
            config_file,
        }
    }

    /// Writes Nova's nova.toml anew (see [`Nova::start_from_file`]).
    pub fn rewrite_config(&self, toml: &str) {
        let path = self.config_file.as_ref().expect("started from a file");
        std::fs::write(path, toml.replace("{data_dir}", &self.data_dir.path().display().to_string())).unwrap();
    }

    /// Stops Nova (and its offices) and starts it again on the same database and data dir.
    pub async fn restart(&mut self, edit: impl FnOnce(&mut Config)) {
        self.running.take().unwrap().stop().await;
        edit(&mut self.config);
        let file = self.config_file.as_deref();
        let running = run(&self.config, file, &self.db.as_ref().unwrap().url, true, self.surfaces.clone()).await;
        self.updates = running.engine.subscribe();
        self.running = Some(running);
    }

    /// The nova.toml Nova was started on (see [`Nova::start_from_file`]).
    pub fn config_file(&self) -> Option<&std::path::Path> {
        self.config_file.as_deref()
    }

    pub fn database_url(&self) -> &str {
        &self.db.as_ref().unwrap().url
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.running.as_ref().unwrap().engine
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.as_ref().unwrap().url())
    }

    /// A console session's cookie for `person`, signed in the way a person does: a
    /// login link (what `nova login` prints), opened.
    pub async fn session(&self, person: &str) -> String {
        if let Some(cookie) = self.sessions.lock().unwrap().get(person) {
            return cookie.clone();
        }
        let (_, token) = self.engine().issue_login_link(Some(person)).await.unwrap().unwrap();
        let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let opened = no_redirects.get(self.url(&format!("/login?token={token}"))).send().await.unwrap();
        assert_eq!(opened.status().as_u16(), 303, "a login link opens a session");
        let set_cookie = opened.headers()["set-cookie"].to_str().unwrap();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        self.sessions.lock().unwrap().insert(person.to_owned(), cookie.clone());
        cookie
    }

    /// Posts to the console API as a person: the body's `author` (taken out: the console
    /// knows who posts from the session), else the operator.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut body = body.clone();
        let author = body.as_object_mut().and_then(|fields| fields.remove("author"));
        let person = author.as_ref().and_then(Value::as_str).unwrap_or(OPERATOR);
        let cookie = self.session(person).await;
        let response = self.http.post(self.url(path)).header("cookie", cookie).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Reads the API as the operator.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let cookie = self.session(OPERATOR).await;
        let response = self.http.get(self.url(path)).header("cookie", cookie).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts a thread in `channel` and returns its id.
    pub async fn say(&self, channel: &str, author: &str, text: &str) -> String {
        let body =
            json!({"channel": channel, "author": author, "text": text, "client_id": uuid::Uuid::new_v4().to_string()});
        let (status, answer) = self.post_json("/api/console/messages", &body).await;
        assert_eq!(status, 202, "posting {text:?}: {answer}");
        answer["thread_id"].as_str().unwrap().to_owned()
    }

    pub async fn reply(&self, thread: &str, author: &str, text: &str) {
        let channel = self.engine().store().thread(thread).await.unwrap().unwrap().channel;
        let body = json!({"channel": channel, "thread_id": thread, "author": author, "text": text, "client_id": uuid::Uuid::new_v4().to_string()});
        let (status, answer) = self.post_json("/api/console/messages", &body).await;
        assert_eq!(status, 202, "replying {text:?}: {answer}");
    }

    pub async fn click_pick(&self, thread: &str, card: i64, author: &str, office: &str) -> (u16, Value) {
        let body = json!({"thread_id": thread, "message_id": card, "author": author, "action": "pick", "office": office, "client_id": uuid::Uuid::new_v4().to_string()});
        self.post_json("/api/console/actions", &body).await
    }

    /// Presses a card's button (`approve`, `reject`) in the console, as `user`.
    pub async fn click(&self, thread: &str, card: i64, user: &str, action: &str) -> (u16, Value) {
        let body = json!({"thread_id": thread, "message_id": card, "author": user, "action": action, "client_id": uuid::Uuid::new_v4().to_string()});
        self.post_json("/api/console/actions", &body).await
    }

    /// The thread's approval card, once it shows.
    pub async fn approval_card(&mut self, thread: &str) -> MessageView {
        self.eventually("an approval card", async |nova: &Nova| {
            nova.messages(thread).await.into_iter().find(|m| matches!(m.card, Some(Card::Approval { .. })))
        })
        .await
    }

    pub async fn messages(&self, thread: &str) -> Vec<MessageView> {
        self.engine().store().thread_messages(thread).await.unwrap().into_iter().map(MessageView::from).collect()
    }

    pub async fn prompts(&self, thread: &str) -> Vec<prompts::Model> {
        self.engine().store().thread_prompts(thread).await.unwrap()
    }

    pub async fn office(&self, name: &str) -> offices::Model {
        self.engine().store().office(name).await.unwrap().unwrap()
    }

    /// Waits until `check` returns something, re-checking after every update Nova
    /// publishes, and every [`RECHECK`] for what Nova does not publish (a file an agent
    /// wrote, a stand-in's state).
    pub async fn eventually<T>(&mut self, what: &str, check: impl AsyncFn(&Self) -> Option<T>) -> T {
        self.eventually_within(PATIENCE, what, check).await
    }

    /// [`Nova::eventually`] with a guard of its own: for a real model on a CPU.
    pub async fn eventually_within<T>(
        &mut self,
        patience: Duration,
        what: &str,
        check: impl AsyncFn(&Self) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(found) = check(self).await {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out waiting for {what}; {}", what_happened(self.engine()).await);
            }
            let _ =
                tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + RECHECK), self.updates.recv()).await;
        }
    }

    /// Waits until the thread shows `count` results and returns the thread.
    pub async fn results(&mut self, thread: &str, count: usize) -> Vec<MessageView> {
        self.eventually(&format!("{count} result(s) in the thread"), async |nova: &Self| {
            let messages = nova.messages(thread).await;
            (messages.iter().filter(|m| m.kind == MessageKind::Result).count() >= count).then_some(messages)
        })
        .await
    }

    pub async fn office_reaches(&mut self, name: &str, state: &str) -> offices::Model {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let office = self.office(name).await;
            if office.state.as_str() == state {
                return office;
            }
            if tokio::time::timeout_at(deadline, self.updates.recv()).await.is_err() {
                // Say what happened to the office instead, so a failure explains itself.
                let filter = orchestrator::store::AuditFilter { office: Some(name.to_owned()), ..Default::default() };
                let trail = self.engine().store().audit_trail(&filter).await.unwrap();
                let trail: Vec<String> = trail.iter().map(orchestrator::store::format_audit).collect();
                panic!("timed out waiting for {name} to be {state}; it is {office:?}\n{}", trail.join("\n"));
            }
        }
    }

    pub async fn finish(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await.unwrap();
        }
    }
}

/// Waits until `check` finds something, re-checking whenever a stand-in (`changes`)
/// or Nova's state changes; panics after a generous guard.
pub async fn until<S, T>(
    nova: &Nova,
    surface: &S,
    changes: tokio::sync::watch::Receiver<u64>,
    what: &str,
    check: impl AsyncFn(&Nova, &S) -> Option<T>,
) -> T {
    until_explained(nova, surface, changes, what, async |nova, surface| check(nova, surface).await.ok_or_default())
        .await
}

/// [`until`] whose check says why it is not satisfied yet (`Err`): the last reason is
/// in the panic message of a wait that timed out.
pub async fn until_explained<S, T>(
    nova: &Nova,
    surface: &S,
    mut changes: tokio::sync::watch::Receiver<u64>,
    what: &str,
    check: impl AsyncFn(&Nova, &S) -> Result<T, String>,
) -> T {
    let mut updates = nova.engine().subscribe();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let why = match check(nova, surface).await {
            Ok(found) => return found,
            Err(why) => why,
        };
        tokio::select! {
            _ = changes.changed() => {}
            _ = updates.recv() => {}
            _ = tokio::time::sleep(RECHECK) => {}
            _ = tokio::time::sleep_until(deadline) => {
                panic!("timed out waiting for {what}: {why}\n{}", what_happened(nova.engine()).await)
            }
        }
    }
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}

/// What Nova did lately (the audit trail's end) and what went wrong, so that a wait
/// that timed out explains itself.
async fn what_happened(engine: &Engine) -> String {
    let trail = engine.store().audit_trail(&Default::default()).await.unwrap();
    let trail: Vec<String> =
        trail[trail.len().saturating_sub(20)..].iter().map(orchestrator::store::format_audit).collect();
    format!(
        "the audit trail's end:\n{}\nwhat the mirrors have still to send:\n{}\nrecent warnings and errors:\n{}",
        trail.join("\n"),
        outbox(engine).await,
        recent_troubles()
    )
}

/// The outbox as a mirror sees it: each message a surface does not show yet, with its
/// claim and last error.
async fn outbox(engine: &Engine) -> String {
    use sea_orm::{ConnectionTrait as _, Statement};
    let db = engine.store().db();
    let query = "SELECT o.surface, o.message_id, m.kind, m.revision, p.external_id, p.synced_revision, \
                 p.claimed_until, p.attempts, p.last_error FROM outbox o JOIN messages m ON m.id = o.message_id \
                 LEFT JOIN surface_posts p ON p.message_id = o.message_id ORDER BY o.message_id";
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), query)).await.unwrap();
    let now = orchestrator::store::now_ms();
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let claimed: Option<i64> = row.try_get("", "claimed_until").unwrap();
            format!(
                "{} #{} {} rev {} shown {:?} (rev {:?}) claim {:?} ms attempts {:?} {:?}",
                row.try_get::<String>("", "surface").unwrap(),
                row.try_get::<i64>("", "message_id").unwrap(),
                row.try_get::<String>("", "kind").unwrap(),
                row.try_get::<i64>("", "revision").unwrap(),
                row.try_get::<Option<String>>("", "external_id").unwrap(),
                row.try_get::<Option<i64>>("", "synced_revision").unwrap(),
                claimed.map(|until| until - now),
                row.try_get::<Option<i32>>("", "attempts").unwrap(),
                row.try_get::<Option<String>>("", "last_error").unwrap(),
            )
        })
        .collect();
    lines.join("\n")
}

async fn run(
    config: &Config,
    config_file: Option<&std::path::Path>,
    database_url: &str,
    run_engine: bool,
    surfaces: Surfaces,
) -> Running {
    bot::start(Options {
        config: config.clone(),
        config_path: config_file.map(ToOwned::to_owned),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        office_program: vec![env!("CARGO_BIN_EXE_nova").to_owned(), "office".to_owned()],
        database_url: Some(database_url.to_owned()),
        run_engine,
        slack: surfaces.slack,
        discord: surfaces.discord,
        gce: surfaces.gce,
    })
    .await
    .unwrap()
}

/// What went wrong lately, to explain a timeout: warnings, errors and what offices
/// said on stderr (every test's: the log is shared).
fn recent_troubles() -> String {
    let logs = logs();
    let troubles: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("provisioner::local"))
        .filter(|l| !l.contains("NOVA_MASTER_KEY is not set"))
        .collect();
    troubles[troubles.len().saturating_sub(30)..].join("\n")
}

/// A thread as a person reads it, for snapshots: `author [kind]: body`, with run ids
/// (which differ every run) replaced.
pub fn transcript(messages: &[MessageView]) -> String {
    let mut out = String::new();
    for m in messages {
        let who = if m.from_nova { "nova".to_owned() } else { m.author.clone() };
        let body: Vec<String> =
            m.body.lines().map(|l| if l.is_empty() { String::new() } else { format!("    {l}") }).collect();
        out.push_str(&format!("{who} [{}]:\n{}\n", m.kind, body.join("\n")));
    }
    out
}

/// Everything Nova and its offices log during the tests of this binary, at debug level:
/// what a secret scan reads.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=debug,hyper=info,h2=info,reqwest=debug")
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The captured logs so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}
