//! `nova bench`: speed figures measured on the real program, printed, never asserted.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use orchestrator::Update;
use orchestrator::config::Config;
use orchestrator::engine::{InboundEvent, Incoming};
use orchestrator::texts::{Card, RunStatus};
use provisioner::snapshot::Snapshots;
use rand::RngCore;

/// Percentiles of a set of durations, in milliseconds.
pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
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
        office.idle_timeout = Duration::from_millis(100);
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
            thread_id: thread,
            author: "bench".to_owned(),
            dedupe_key: uuid::Uuid::new_v4().to_string(),
            event: InboundEvent::Message { text: text.to_owned() },
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
        if engine.store().office(name).await?.is_some_and(|o| o.state == state) {
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
    snapshots.restore(&info.key, &workspace).await?;
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
