//! **An example runtime**, not an agent: it shows the event protocol a real runtime
//! speaks and does no real work. It reports objectives and progress, writes the prompt
//! into `notes/` in the workspace (so the workspace visibly persists across sleep and
//! wake), and returns a result. Real deployments point `runtime.command` at an agent CLI.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

/// Runs the example on the prompt in `NOVA_PROMPT`. `NOVA_EXAMPLE_STEP_MS` paces the
/// steps (default 300 ms) so that a person watching the console sees progress stream.
pub fn run() -> anyhow::Result<()> {
    let prompt = std::env::var("NOVA_PROMPT").context("NOVA_PROMPT is not set: run me as an office runtime")?;
    let run_id = std::env::var("NOVA_RUN_ID").unwrap_or_else(|_| "manual".to_owned());
    let author = std::env::var("NOVA_AUTHOR").unwrap_or_else(|_| "someone".to_owned());
    let step =
        Duration::from_millis(std::env::var("NOVA_EXAMPLE_STEP_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(300));
    let mut out = std::io::stdout().lock();
    let mut say = |value: serde_json::Value| -> anyhow::Result<()> {
        writeln!(out, "{value}")?;
        out.flush()?;
        std::thread::sleep(step);
        Ok(())
    };
    let objectives = |done: usize| {
        let items: Vec<_> = ["Read the request", "Write it down in notes/", "Report back"]
            .iter()
            .enumerate()
            .map(|(i, text)| json!({"text": text, "done": i < done}))
            .collect();
        json!({"type": "objectives", "items": items})
    };

    say(objectives(0))?;
    say(json!({"type": "progress", "text": format!("Reading the request from {author}")}))?;
    say(objectives(1))?;
    std::fs::create_dir_all("notes").context("cannot create notes/")?;
    let short_id: String = run_id.chars().take(8).collect();
    let path = format!("notes/{short_id}.md");
    std::fs::write(&path, format!("# Request from {author}\n\n{prompt}\n"))
        .with_context(|| format!("cannot write {path}"))?;
    let notes = std::fs::read_dir("notes").map(|d| d.count()).unwrap_or(1);
    say(json!({"type": "progress", "text": format!("Wrote {path}")}))?;
    say(objectives(3))?;
    say(json!({
        "type": "result",
        "text": format!(
            "Example runtime: I saved your request to `{path}`; this workspace now holds {notes} note(s). \
             I am the protocol example, not an agent: set `runtime.command` to a real agent CLI to get work done."
        )
    }))?;
    Ok(())
}
