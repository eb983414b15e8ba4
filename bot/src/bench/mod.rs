//! `nova bench`: speed figures measured on the real program, printed, never asserted.
//! The load benchmarks drive Nova through the platform stand-ins, so they live in
//! [`load`], built with the `lab` feature only: `nova serve` links no test code.

#[cfg(feature = "lab")]
pub mod load;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orchestrator::Update;
use orchestrator::config::Config;
use orchestrator::engine::{InboundEvent, Incoming, ThreadRef};
use orchestrator::store::Surface;
use orchestrator::texts::{Card, RunStatus};
use provisioner::snapshot::Snapshots;
use rand::RngCore;

/// Nova on a free loopback port, as `nova serve` would run it with `config`.
pub(crate) async fn start_nova(
    config: Config,
    database_url: Option<String>,
    run_engine: bool,
    slack: Option<crate::slack::settings::SlackSettings>,
) -> anyhow::Result<crate::Running> {
    crate::start(crate::Options {
        config,
        config_path: None,
        listen: Some("127.0.0.1:0".parse()?),
        office_program: crate::office_program()?,
        database_url,
        run_engine,
        slack,
        discord: None,
        gce: None,
    })
    .await
}

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
    let running = start_nova(config, None, true, None).await?;
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
            surface: Surface::Console,
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
    let routed = per_message(&messages, &channels, rounds, |message, channel| {
        std::hint::black_box(router.route(&orchestrator::router::RouteRequest {
            channel,
            text: message,
            ..Default::default()
        }));
    });
    // Every message is also read for a fleet request ("wake maker", "who is busy?") before
    // it is routed: the same messages through the plain-language reader.
    let reader = orchestrator::ask::Reader::new(&config);
    let read = per_message(&messages, &channels, rounds, |message, channel| {
        std::hint::black_box(reader.understand(&orchestrator::ask::Message { channel, text: message, thread: &[] }));
    });
    println!(
        "workspace: {repos} repos × {offices} offices (router built in {:.1} ms)",
        build_time.as_secs_f64() * 1000.0
    );
    println!("offline route, one core: {routed}");
    println!("plain-language read, one core: {read}");
}

/// Runs `work` on every message `rounds` times, timing each call: latency percentiles in
/// µs and throughput.
fn per_message(messages: &[String], channels: &[String], rounds: usize, work: impl Fn(&str, &str)) -> String {
    let mut samples = Vec::with_capacity(messages.len() * rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        for (message, channel) in messages.iter().zip(channels) {
            let one = Instant::now();
            work(message, channel);
            samples.push(one.elapsed());
        }
    }
    let total = started.elapsed();
    samples.sort();
    let count = samples.len();
    let at = |p: f64| percentile(&samples, p).as_secs_f64() * 1e6;
    format!(
        "n={count} p50={:.1} µs p99={:.1} µs max={:.1} µs, throughput {:.0} messages/s",
        at(0.5),
        at(0.99),
        at(1.0),
        count as f64 / total.as_secs_f64()
    )
}

/// The `p` percentile of sorted samples.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Duration {
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}
