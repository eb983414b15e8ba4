//! Load against the real server through the platform stand-ins (`nova bench slack`,
//! `nova bench burst`), with the `lab` feature.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orchestrator::config::Config;

use super::{percentile, start_nova, summary};

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
    let running = start_nova(config, None, run_engine, Some(slack_settings(&slack))).await?;
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

/// What `nova bench burst` measures on one store.
struct BurstFigures {
    acks: Vec<Duration>,
    first_answers: Vec<Duration>,
    unanswered: usize,
    backlog_cleared: Option<Duration>,
    answered_all: Option<Duration>,
    runs_done: usize,
    /// CPU time the whole process (Nova, the Slack stand-in and the people sending) used
    /// from the first mention to the last ack, and how long that was.
    burst_cpu: Duration,
    burst_wall: Duration,
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
        println!(
            "  CPU during the burst:     {:.1} s in {:.1} s ({:.0}% of a core, {:.2} ms a mention; this process: Nova, the Slack stand-in and the people sending)",
            figures.burst_cpu.as_secs_f64(),
            figures.burst_wall.as_secs_f64(),
            figures.burst_cpu.as_secs_f64() / figures.burst_wall.as_secs_f64() * 100.0,
            figures.burst_cpu.as_secs_f64() * 1000.0 / total as f64,
        );
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

/// Nova's Slack settings for the stand-in, with progress edited at most once a second.
fn slack_settings(slack: &testkit::slack::FakeSlack) -> crate::slack::settings::SlackSettings {
    crate::slack::settings::SlackSettings {
        signing_secret: slack.signing_secret.clone(),
        bot_token: slack.bot_token.clone(),
        app_token: None,
        api_url: slack.api_url.clone(),
        edit_interval: Duration::from_secs(1),
    }
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
    // Slack and the people sending are other machines: each on a thread of its own here,
    // so that their work is not counted as Nova's and Nova's does not slow them, and
    // Slack taking Nova's posts does not delay the people's requests or their timing.
    let outside = || tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let (slack_side, people) = (outside()?, outside()?);
    let named_ids = ids.clone();
    let slack = slack_side
        .spawn(async move {
            let named: Vec<(&str, &str)> = named_ids.iter().map(|(id, name)| (id.as_str(), name.as_str())).collect();
            FakeSlack::start(&named).await
        })
        .await??;
    slack.echo_own_posts(false);
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::parse(BURST_WORKSPACE, "burst workspace").context("the burst workspace is valid")?;
    config.store.data_dir = data_dir.path().to_owned();
    let running = start_nova(config, Some(database_url.to_owned()), true, Some(slack_settings(&slack))).await?;
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
    let secret = slack.signing_secret.clone();
    let (cpu_before, burst_start) = (process_cpu()?, Instant::now());
    let acked = people.spawn(async move { load(&client, &url, &secret, bodies, rate).await }).await??;
    let burst_end = Instant::now();
    let burst_cpu = process_cpu()?.saturating_sub(cpu_before);
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
    slack_side.shutdown_background();
    people.shutdown_background();
    Ok(BurstFigures {
        acks: acked.into_iter().map(|(latency, _)| latency).collect(),
        first_answers,
        unanswered,
        backlog_cleared,
        answered_all,
        runs_done,
        burst_cpu,
        burst_wall: burst_end - burst_start,
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
    let running = start_nova(config, None, true, None).await?;
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
