//! `nova bench`: speed figures measured on the real program, printed, never asserted.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orchestrator::Update;
use orchestrator::config::Config;
use orchestrator::engine::{InboundEvent, Incoming, ThreadRef};
use orchestrator::texts::{Card, RunStatus};
use provisioner::snapshot::Snapshots;
use rand::RngCore;

/// Percentiles of a set of durations, in milliseconds.
pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |p: f64| percentile(samples, p).as_secs_f64() * 1000.0;
    format!(
        "n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// Time from a person's post being accepted to the office's first output in the
/// thread, for an office that is already up and for one that is asleep.
pub async fn wake(iterations: usize) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::demo();
    config.store.data_dir = data_dir.path().to_owned();
    for office in &mut config.offices {
        office.set_idle_timeout(Duration::from_millis(100));
        if let Some(runtime) = &mut office.runtime {
            runtime.env.insert("NOVA_EXAMPLE_STEP_MS".to_owned(), "0".to_owned());
        }
    }
    let running = crate::start(crate::Options {
        config,
        listen: Some("127.0.0.1:0".parse()?),
        office_program: crate::office_program()?,
        database_url: None,
        run_engine: true,
        slack: None,
        discord: None,
        gce: None,
    })
    .await?;
    let engine = running.engine.clone();
    let mut updates = engine.subscribe();
    let (mut asleep, mut warm) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // Asleep: wait for the office to be put to sleep, then post.
        wait_office(&mut updates, &engine, "maker", "asleep").await?;
        let thread = post(&engine, None, &format!("@maker task {i}")).await?;
        asleep.push(first_output(&mut updates, &thread.0, thread.1).await?);
        // Warm: post again in the same thread while the office is still up.
        let again = post(&engine, Some(thread.0.clone()), &format!("@maker follow-up {i}")).await?;
        warm.push(first_output(&mut updates, &again.0, again.1).await?);
    }
    println!(
        "post → first office output, office asleep (restore + start + health + context): {}",
        summary(&mut asleep)
    );
    println!("post → first office output, office up:                                          {}", summary(&mut warm));
    running.stop().await;
    Ok(())
}

async fn post(engine: &orchestrator::Engine, thread: Option<String>, text: &str) -> anyhow::Result<(String, Instant)> {
    let started = Instant::now();
    let recorded = engine
        .accept(Incoming {
            surface: "console".to_owned(),
            channel: "eng".to_owned(),
            thread: thread.map_or(ThreadRef::New, ThreadRef::Existing),
            author: "bench".to_owned(),
            dedupe_key: uuid::Uuid::new_v4().to_string(),
            event: InboundEvent::Message { text: text.to_owned(), context: Vec::new() },
        })
        .await?
        .map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    Ok((recorded.inbound.thread_id, started))
}

async fn first_output(
    updates: &mut tokio::sync::broadcast::Receiver<Update>,
    thread: &str,
    started: Instant,
) -> anyhow::Result<Duration> {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), updates.recv())
            .await
            .context("no office output within 60 s")?
        {
            Ok(Update::Message { message, .. }) if message.thread_id == thread => {
                if let Some(Card::Progress { status: RunStatus::Working, objectives, lines, .. }) = &message.card
                    && (!objectives.is_empty() || !lines.is_empty())
                {
                    return Ok(started.elapsed());
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => bail!("update stream closed: {error}"),
        }
    }
}

async fn wait_office(
    updates: &mut tokio::sync::broadcast::Receiver<Update>,
    engine: &orchestrator::Engine,
    name: &str,
    state: &str,
) -> anyhow::Result<()> {
    loop {
        if engine.store().office(name).await?.is_some_and(|o| o.state.as_str() == state) {
            return Ok(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), updates.recv())
            .await
            .context("office never reached the state")?;
    }
}

/// Snapshot and restore of a workspace of `size_mb`: half source-like text, half
/// incompressible bytes (build outputs, media), in files of 256 KiB.
pub async fn snapshot(size_mb: usize, level: i32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("workspace");
    let file_size = 256 * 1024;
    let files = size_mb * 4;
    let text: Vec<u8> =
        "fn handle(request: Request) -> Result<Response> { validate(&request)?; Ok(respond(request)) }\n"
            .bytes()
            .cycle()
            .take(file_size)
            .collect();
    let mut random = vec![0u8; file_size];
    for i in 0..files {
        let sub = workspace.join(format!("dir{:02}", i % 16));
        std::fs::create_dir_all(&sub)?;
        if i % 2 == 0 {
            std::fs::write(sub.join(format!("src{i}.rs")), &text)?;
        } else {
            rand::rng().fill_bytes(&mut random);
            std::fs::write(sub.join(format!("blob{i}.bin")), &random)?;
        }
    }
    let snapshots = Snapshots::local(&dir.path().join("snapshots"), level)?;
    let info = snapshots.save("bench", 1, &workspace).await?;
    let restore_started = Instant::now();
    snapshots.restore(&info.key, "bench", &workspace).await?;
    let restored = restore_started.elapsed();
    println!(
        "snapshot of {:.1} MB in {} files (zstd level {level}): {:.1} MB stored, save {:.0} ms ({:.0} MB/s), restore {:.0} ms",
        info.source_bytes as f64 / 1e6,
        info.files,
        info.bytes as f64 / 1e6,
        info.elapsed.as_secs_f64() * 1000.0,
        info.source_bytes as f64 / 1e6 / info.elapsed.as_secs_f64(),
        restored.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A synthetic workspace of `repos` repos and `offices` offices, with messages that
/// mix kinds of work and subjects the way chat does.
pub fn synthetic_workspace(repos: usize, offices: usize) -> (Config, Vec<String>) {
    const SUBJECTS: &[&str] = &[
        "billing",
        "invoices",
        "search",
        "checkout",
        "catalog",
        "shipping",
        "returns",
        "loyalty",
        "reviews",
        "pricing",
        "auth",
        "sessions",
        "notifications",
        "email",
        "sms",
        "reports",
        "exports",
        "imports",
        "webhooks",
        "scheduler",
        "inventory",
        "warehouse",
        "payroll",
        "ledger",
        "cards",
        "disputes",
        "onboarding",
        "kyc",
        "maps",
        "routing",
        "matchmaking",
        "chat",
        "video",
        "uploads",
        "thumbnails",
        "feeds",
        "ranking",
        "ads",
        "coupons",
        "subscriptions",
    ];
    const ROLES: &[&str] = &[
        "Software engineer: implements features, fixes bugs and opens pull requests.",
        "Site reliability engineer: deploys, rollbacks, incidents, on-call and monitoring.",
        "Data analyst: answers questions with SQL, builds metrics, dashboards and reports.",
        "Writer: help articles, documentation, blog posts and release notes.",
        "Customer support: triages tickets, answers customer questions, drafts replies.",
        "Designer: mockups, icons, layouts and style guides.",
        "Security engineer: audits, vulnerabilities, access reviews.",
        "Legal counsel: contracts, terms and policies.",
        "QA tester: test plans, reproducing bugs, regression passes.",
        "Finance: invoices, expenses, reconciliation.",
    ];
    let mut text = String::from("[workspace]\nname = \"bench\"\n");
    for r in 0..repos {
        let (a, b) = (SUBJECTS[r % SUBJECTS.len()], SUBJECTS[(r * 7 + 3) % SUBJECTS.len()]);
        text.push_str(&format!(
            "[[repos]]\nname = \"svc-{r}\"\ndescription = \"Service {r}: {a} and {b} for region {r}, with APIs, jobs and an admin UI.\"\nhints = [\"{a} {r}\", \"{b}-{r}\"]\nchannels = [\"team-{r}\"]\n"
        ));
    }
    for o in 0..offices {
        let served: Vec<String> =
            (0..repos).filter(|r| r % offices == o || (r + o) % 17 == 0).map(|r| format!("\"svc-{r}\"")).collect();
        text.push_str(&format!(
            "[[offices]]\nname = \"office-{o}\"\nrole = \"{}\"\nrepos = [{}]\nchannels = [\"desk-{o}\"]\n",
            ROLES[o % ROLES.len()],
            served.join(", ")
        ));
    }
    let config = Config::parse(&text, "synthetic workspace").expect("the synthetic workspace is valid");
    const ASKS: &[&str] = &[
        "the {a} page crashes when I open it, please fix",
        "deploy {a} to production tonight",
        "how many {a} did we process last month?",
        "write release notes for the new {a} flow",
        "customer says their {a} is wrong, draft a reply",
        "add a filter for {b} to the {a} admin",
        "roll back {a} to the previous release",
        "mock up a new {a} settings screen",
        "can someone look at this?",
        "{a} webhooks time out in prod right now",
    ];
    let messages = (0..1000)
        .map(|i| {
            let (a, b) = (SUBJECTS[i % SUBJECTS.len()], SUBJECTS[(i * 3 + 1) % SUBJECTS.len()]);
            ASKS[i % ASKS.len()].replace("{a}", a).replace("{b}", b)
        })
        .collect();
    (config, messages)
}

/// Offline routing latency and throughput on one core.
pub fn route(repos: usize, offices: usize, rounds: usize) {
    let (config, messages) = synthetic_workspace(repos, offices);
    let built = Instant::now();
    let router = orchestrator::router::Router::new(&config);
    let build_time = built.elapsed();
    let channels: Vec<String> = (0..messages.len()).map(|i| format!("team-{}", i % (repos + 20))).collect();
    let mut samples = Vec::with_capacity(messages.len() * rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        for (message, channel) in messages.iter().zip(&channels) {
            let request = orchestrator::router::RouteRequest { channel, text: message, ..Default::default() };
            let one = Instant::now();
            std::hint::black_box(router.route(&request));
            samples.push(one.elapsed());
        }
    }
    let total = started.elapsed();
    let count = samples.len();
    let mut micros: Vec<Duration> = samples;
    micros.sort();
    let at = |p: f64| micros[((count as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6;
    println!(
        "workspace: {repos} repos × {offices} offices (router built in {:.1} ms)",
        build_time.as_secs_f64() * 1000.0
    );
    println!(
        "offline route, one core: n={count} p50={:.1} µs p99={:.1} µs max={:.1} µs, throughput {:.0} messages/s",
        at(0.5),
        at(0.99),
        at(1.0),
        count as f64 / total.as_secs_f64()
    );
}

/// Slack Events API ack latency: signed `message` events in a bound channel (each a
/// new request, so each is recorded, routed and queued) at a steady rate against the
/// real server with its SQLite store on disk and the engine running, and, in the same
/// run, the same load against a bare axum handler that only reads the body.
pub async fn slack(rate: u32, seconds: u32, run_engine: bool) -> anyhow::Result<()> {
    use testkit::slack::FakeSlack;
    let total = (rate * seconds) as usize;
    let slack = FakeSlack::start(&[("C_ENG", "eng")]).await?;
    slack.echo_own_posts(false);
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::demo();
    config.store.data_dir = data_dir.path().to_owned();
    let running = crate::start(crate::Options {
        config,
        listen: Some("127.0.0.1:0".parse()?),
        office_program: crate::office_program()?,
        database_url: None,
        run_engine,
        slack: Some(crate::slack::settings::SlackSettings {
            signing_secret: slack.signing_secret.clone(),
            bot_token: slack.bot_token.clone(),
            app_token: None,
            api_url: slack.api_url.clone(),
            edit_interval: Duration::from_secs(1),
        }),
        discord: None,
        gce: None,
    })
    .await?;
    slack.connect(&running.url());

    let bare = axum::Router::new()
        .route("/bare", axum::routing::post(|body: bytes::Bytes| async move { body.len().to_string() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/bare", listener.local_addr()?);
    let bare_server = tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, bare).await;
    });

    // Build every event before the clock starts: the load generator only signs and sends.
    let mut warmup: Vec<Vec<u8>> = (0..total + 20)
        .map(|i| {
            let ts = slack.add_message(
                "C_ENG",
                None,
                &format!("U{:04}", i % 200),
                &format!("fix the flaky test number {i}"),
            );
            slack.events_for("C_ENG", &ts).remove(0).to_string().into_bytes()
        })
        .collect();
    let events = warmup.split_off(20);
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let secret = slack.signing_secret.clone();
    let nova_url = running.url() + "/slack/events";
    // Warm both servers (connections, the channel-name cache, page cache).
    load(&client, &bare_url, &secret, warmup.clone(), rate).await?;
    load(&client, &nova_url, &secret, warmup, rate).await?;
    let latencies = |acked: Vec<(Duration, Instant)>| acked.into_iter().map(|(latency, _)| latency).collect::<Vec<_>>();
    let mut bare_latencies = latencies(load(&client, &bare_url, &secret, events.clone(), rate).await?);
    let mut nova_latencies = latencies(load(&client, &nova_url, &secret, events, rate).await?);
    let recorded = running.engine.store().pending_inbound(1_000_000).await?.len();
    let engine = if run_engine { "engine running" } else { "engine off (record and ack only)" };
    println!("signed Slack events, {rate}/s for {seconds} s, SQLite on disk, {engine}:");
    println!("  bare axum handler: {}", summary(&mut bare_latencies));
    println!("  Nova /slack/events: {}", summary(&mut nova_latencies));
    println!(
        "  p50 ratio {:.2}×, p99 ratio {:.2}× (Nova / bare); events still waiting for the engine at the end: {recorded}",
        percentile(&nova_latencies, 0.5).as_secs_f64() / percentile(&bare_latencies, 0.5).as_secs_f64(),
        percentile(&nova_latencies, 0.99).as_secs_f64() / percentile(&bare_latencies, 0.99).as_secs_f64(),
    );
    bare_server.abort();
    running.stop().await;
    Ok(())
}

/// The `p` percentile of sorted samples.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

/// What `nova bench burst` measures on one store.
struct BurstFigures {
    acks: Vec<Duration>,
    first_answers: Vec<Duration>,
    unanswered: usize,
    backlog_cleared: Option<Duration>,
    answered_all: Option<Duration>,
    runs_done: usize,
}

/// A burst of signed Slack `app_mention`s (`@maker fix bug N`) at `rate` per second for
/// `seconds`, spread over `channels` channels, against the real server with the engine
/// running and one office whose runtime answers at once. Prints the ack latency, the
/// time from each ack to the thread's first answer in Slack, and how long after the
/// burst the backlog of unrouted events took to clear; on SQLite, and on Postgres when
/// `postgres` names a server (a fresh database is made on it). With `timeline`, what
/// waits at each stage every half second, on stderr.
pub async fn burst(
    rate: u32,
    seconds: u32,
    channels: usize,
    postgres: Option<String>,
    timeline: bool,
) -> anyhow::Result<()> {
    // First, while nothing else has run in this process.
    idle_cpu(2000, Duration::from_secs(20)).await?;
    let mut stores = vec![("SQLite".to_owned(), testkit::TestDatabase::sqlite()?)];
    if let Some(url) = postgres {
        stores.push(("Postgres".to_owned(), testkit::TestDatabase::postgres(&url).await?));
    }
    for (name, database) in stores {
        let figures = burst_on(&database.url, rate, seconds, channels, timeline).await;
        database.cleanup().await?;
        let mut figures = figures?;
        let total = figures.acks.len();
        println!("{name}: {total} signed app_mentions at {rate}/s for {seconds} s across {channels} channels");
        println!("  ack:                      {}", summary(&mut figures.acks));
        println!("  ack → first answer:       {}", summary(&mut figures.first_answers));
        let after =
            |d: Option<Duration>| d.map_or("not within 60 s".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        if name == "SQLite" {
            let rendered = crate::metrics::handle().render();
            for (what, metric) in
                [("waited", "nova_store_write_wait_seconds"), ("held", "nova_store_write_hold_seconds")]
            {
                let quantiles: Vec<String> = rendered
                    .lines()
                    .filter(|l| l.starts_with(metric) && l.contains("lane=") && l.contains("quantile=\"0.99\""))
                    .map(|l| l.replace(metric, "").replace(",quantile=\"0.99\"", ""))
                    .collect();
                println!("  SQLite writes {what} p99 (s): {}", quantiles.join(", "));
            }
        }
        println!(
            "  after the burst: backlog 0 in {}, every thread answered in {} ({} unanswered); runs finished so far: {}",
            after(figures.backlog_cleared),
            after(figures.answered_all),
            figures.unanswered,
            figures.runs_done
        );
    }
    Ok(())
}

/// Every half second: what waits at each stage (to see which one falls behind).
async fn print_timeline(store: orchestrator::store::Store) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (Ok(pending), Ok((_, prompts)), Ok(outbox)) =
            (store.count_pending_inbound().await, store.census().await, store.outbox_by_surface().await)
        else {
            continue;
        };
        eprintln!(
            "  {:>5.1} s: unrouted {pending}, prompts {prompts:?}, to mirror {outbox:?}",
            started.elapsed().as_secs_f64()
        );
    }
}

async fn burst_on(
    database_url: &str,
    rate: u32,
    seconds: u32,
    channels: usize,
    timeline: bool,
) -> anyhow::Result<BurstFigures> {
    use testkit::slack::{BOT_USER, FakeSlack};
    let total = (rate * seconds) as usize;
    let ids: Vec<(String, String)> = (0..channels).map(|c| (format!("C{c:03}"), format!("burst-{c}"))).collect();
    let named: Vec<(&str, &str)> = ids.iter().map(|(id, name)| (id.as_str(), name.as_str())).collect();
    let slack = FakeSlack::start(&named).await?;
    slack.echo_own_posts(false);
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::parse(BURST_WORKSPACE, "burst workspace").context("the burst workspace is valid")?;
    config.store.data_dir = data_dir.path().to_owned();
    let running = crate::start(crate::Options {
        config,
        listen: Some("127.0.0.1:0".parse()?),
        office_program: crate::office_program()?,
        database_url: Some(database_url.to_owned()),
        run_engine: true,
        slack: Some(crate::slack::settings::SlackSettings {
            signing_secret: slack.signing_secret.clone(),
            bot_token: slack.bot_token.clone(),
            app_token: None,
            api_url: slack.api_url.clone(),
            edit_interval: Duration::from_secs(1),
        }),
        discord: None,
        gce: None,
    })
    .await?;
    slack.connect(&running.url());
    // Build every event before the clock starts: the load generator only signs and sends.
    let events: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            let (channel, _) = &ids[i % channels];
            let ts = slack.add_message(
                channel,
                None,
                &format!("U{:04}", i % 300),
                &format!("<@{BOT_USER}> @maker fix bug {i}"),
            );
            let mention = slack.events_for(channel, &ts).pop().expect("a mention event");
            (ts, mention.to_string().into_bytes())
        })
        .collect();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let url = running.url() + "/slack/events";
    let (roots, bodies): (Vec<String>, Vec<Vec<u8>>) = events.into_iter().unzip();
    let timeline = timeline.then(|| tokio::spawn(print_timeline(running.engine.store().clone())));
    let acked = load(&client, &url, &slack.signing_secret, bodies, rate).await?;
    let burst_end = Instant::now();
    let store = running.engine.store().clone();
    let deadline = burst_end + Duration::from_secs(60);
    let mut backlog_cleared = None;
    let mut answered_all = None;
    while Instant::now() < deadline && (backlog_cleared.is_none() || answered_all.is_none()) {
        if backlog_cleared.is_none() && store.pending_inbound(1).await?.is_empty() {
            backlog_cleared = Some(burst_end.elapsed());
        }
        if answered_all.is_none() {
            let answered = slack.first_answers();
            if roots.iter().all(|root| answered.contains_key(root)) {
                answered_all = Some(burst_end.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = slack.first_answers();
    let mut first_answers = Vec::new();
    let mut unanswered = 0;
    for (root, (_, acked_at)) in roots.iter().zip(&acked) {
        match first.get(root) {
            Some(at) => first_answers.push(at.saturating_duration_since(*acked_at)),
            None => unanswered += 1,
        }
    }
    let runs_done = slack.messages().iter().filter(|m| m.from_bot && m.text.contains("fixed it")).count();
    if let Some(timeline) = timeline {
        timeline.abort();
    }
    running.stop().await;
    Ok(BurstFigures {
        acks: acked.into_iter().map(|(latency, _)| latency).collect(),
        first_answers,
        unanswered,
        backlog_cleared,
        answered_all,
        runs_done,
    })
}

/// One office whose runtime reports its result at once, and twenty channels nothing is
/// bound to: every mention names its office.
const BURST_WORKSPACE: &str = r#"
[workspace]
name = "burst"

[[repos]]
name = "app"
description = "The application."

[[offices]]
name = "maker"
role = "Software engineer: fixes bugs."
repos = ["app"]

[offices.runtime]
command = ["sh", "-c", "echo '{\"type\":\"result\",\"text\":\"fixed it\"}'"]
"#;

/// The engine's CPU use with `offices` offices configured, all asleep and none busy:
/// what Nova costs while nothing happens.
async fn idle_cpu(offices: usize, over: Duration) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut text =
        String::from("[workspace]\nname = \"idle\"\n[[repos]]\nname = \"app\"\ndescription = \"The app.\"\n");
    for o in 0..offices {
        text.push_str(&format!(
            "[[offices]]\nname = \"office-{o}\"\nrole = \"Software engineer.\"\nrepos = [\"app\"]\n[offices.runtime]\ncommand = [\"true\"]\n"
        ));
    }
    let mut config = Config::parse(&text, "idle workspace")?;
    config.store.data_dir = data_dir.path().to_owned();
    let running = crate::start(crate::Options {
        config,
        listen: Some("127.0.0.1:0".parse()?),
        office_program: crate::office_program()?,
        database_url: None,
        run_engine: true,
        slack: None,
        discord: None,
        gce: None,
    })
    .await?;
    // Let start-up work (migrations, 2,000 office rows, recovery, the WAL's first
    // checkpoint) settle first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu_before, wall_before) = (process_cpu()?, Instant::now());
    tokio::time::sleep(over).await;
    let cpu = process_cpu()? - cpu_before;
    let share = cpu.as_secs_f64() / wall_before.elapsed().as_secs_f64() * 100.0;
    println!("idle, {offices} offices asleep (SQLite): {share:.2}% of one core over {} s", over.as_secs());
    running.stop().await;
    Ok(())
}

/// CPU time this process has used (user + system), from `/proc/self/stat`.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').context("odd /proc/self/stat")?.1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // Linux reports in USER_HZ, 100 on every architecture Nova runs on.
    Ok(Duration::from_millis(ticks * 10))
}

/// Sends `bodies` signed, at `rate` per second on an open-loop schedule (a slow answer
/// does not delay the next request), and returns each request's latency and when it
/// was acknowledged, in the order sent. Any status but 200 is an error: the bench
/// measures acknowledgements, not refusals.
async fn load(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    bodies: Vec<Vec<u8>>,
    rate: u32,
) -> anyhow::Result<Vec<(Duration, Instant)>> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, body) in bodies.into_iter().enumerate() {
        ticker.tick().await;
        let timestamp = chrono::Utc::now().timestamp();
        let request = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", crate::slack::verify::sign(secret, timestamp, &body))
            .body(body);
        tasks.spawn(async move {
            let started = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            response.bytes().await?;
            if status != reqwest::StatusCode::OK {
                bail!("answered {status}");
            }
            Ok((index, started.elapsed(), Instant::now()))
        });
    }
    let mut out = vec![(Duration::ZERO, Instant::now()); tasks.len()];
    while let Some(result) = tasks.join_next().await {
        let (index, latency, at) = result.context("a request task panicked")??;
        out[index] = (latency, at);
    }
    Ok(out)
}
