//! The agent's commands for tasks and the chain of command (`nova-office task …`,
//! `nova-office escalate`), through the office's agent API: the office adds its token,
//! so the agent never holds one.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::protocol::RUN_ID_HEADER;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TaskCommand {
    /// The tasks this office may take (its own and those for anyone) and those it holds.
    List,
    /// Make a task: for another office (`--owner`), or for any office to claim.
    Create {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// A task that must be done first (repeat for several).
        #[arg(long = "depends-on")]
        depends_on: Vec<i64>,
    },
    /// Take a task for this run. Exit 3 if someone holds it (who is on stderr), 4 if it
    /// waits for other tasks or is not this office's.
    Claim { id: i64 },
    /// End a task this run holds, with what it came to.
    Done {
        id: i64,
        #[arg(long)]
        result: String,
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct EscalateArgs {
    /// Why you are stuck and what you need from the office you report to.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AskNovaArgs {
    /// The request, in plain language.
    pub text: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SqlArgs {
    /// One of the workspace's `[[databases]]`.
    #[arg(long)]
    pub database: String,
    /// One SQL statement. A write waits for a person's approval first.
    pub query: String,
}

/// Runs a query through Nova; a write that needs a person's approval asks for it, waits,
/// and runs once approved. The HTTP status and Nova's answer (or the decision, if not
/// approved).
pub(crate) async fn sql_call(database: &str, query: &str) -> anyhow::Result<(u16, Value)> {
    let ask = json!({"database": database, "query": query});
    let (status, answer) = call(reqwest::Method::POST, "/sql", Some(ask.clone())).await?;
    if status != 409 || !answer["needs_approval"].is_object() {
        return Ok((status, answer));
    }
    let decision = crate::office::ask_and_wait("approvals", answer["needs_approval"].clone()).await?;
    if decision.state != "approved" {
        return Ok((403, json!({"error": format!("the write was not run: it was {}", decision.printed())})));
    }
    call(reqwest::Method::POST, "/sql", Some(ask)).await
}

pub async fn sql(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let (status, answer) = sql_call(&args.database, &args.query).await?;
    Ok(answered(status, &answer))
}

#[derive(Debug, Clone, clap::Args)]
pub struct ChangeArgs {
    /// The repo whose session branch holds the change (pushed first).
    #[arg(long)]
    pub repo: String,
    /// What the change does and why.
    #[arg(long)]
    pub summary: String,
    /// A test you ran and how it went: `"sh test.sh=passed"` (or `=failed`); repeatable.
    #[arg(long = "test")]
    pub tests: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReviewDecisionArgs {
    /// The review's number (the card and the prompt name it).
    #[arg(long)]
    pub review: i64,
    /// `approve`, `request_changes` or `comment`.
    #[arg(long)]
    pub verdict: String,
    /// What should change, or the comment.
    #[arg(long, default_value = "")]
    pub comment: String,
    /// The line it is about: `path:line`.
    #[arg(long)]
    pub at: Option<String>,
}

/// A reviewer office's decision on a review it was asked to do.
pub(crate) async fn review_decision_call(review: i64, decision: Value) -> anyhow::Result<(u16, Value)> {
    call(reqwest::Method::POST, &format!("/reviews/{review}/decision"), Some(decision)).await
}

pub async fn review_decision(args: ReviewDecisionArgs) -> anyhow::Result<ExitCode> {
    let decision = json!({"verdict": args.verdict, "comment": args.comment, "at": args.at});
    let (status, body) = review_decision_call(args.review, decision).await?;
    Ok(answered(status, &body))
}

pub async fn submit_change(args: ChangeArgs) -> anyhow::Result<ExitCode> {
    let tests: Vec<Value> = args
        .tests
        .iter()
        .map(|test| match test.rsplit_once('=') {
            Some((command, outcome)) => json!({"command": command, "passed": outcome == "passed"}),
            None => json!({"command": test, "passed": true}),
        })
        .collect();
    let change = json!({"repo": args.repo, "summary": args.summary, "tests": tests});
    let (status, body) = call(reqwest::Method::POST, "/changes", Some(change)).await?;
    Ok(answered(status, &body))
}

/// Calls the office's agent API; the HTTP status and the JSON answer.
pub(crate) async fn call(method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
    let api = std::env::var("NOVA_OFFICE_API").context("NOVA_OFFICE_API is not set: run me from an office runtime")?;
    let run_id = std::env::var("NOVA_RUN_ID").context("NOVA_RUN_ID is not set")?;
    let mut request = reqwest::Client::new().request(method, format!("{api}{path}")).header(RUN_ID_HEADER, run_id);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.context("the office daemon did not answer")?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or_default()))
}

/// Prints what Nova answered; the exit status says how it went.
fn answered(status: u16, body: &Value) -> ExitCode {
    if (200..300).contains(&status) {
        println!("{body}");
        return ExitCode::SUCCESS;
    }
    eprintln!("Nova refused: {}", body["error"].as_str().unwrap_or("unknown error"));
    match status {
        409 => ExitCode::from(3),
        403 => ExitCode::from(4),
        _ => ExitCode::from(1),
    }
}

pub async fn task(command: TaskCommand) -> anyhow::Result<ExitCode> {
    let (status, body) = task_call(command).await?;
    Ok(answered(status, &body))
}

/// What a task command asks of Nova, and its answer.
pub(crate) async fn task_call(command: TaskCommand) -> anyhow::Result<(u16, Value)> {
    use reqwest::Method;
    Ok(match command {
        TaskCommand::List => call(Method::GET, "/tasks", None).await?,
        TaskCommand::Create { title, body, owner, priority, depends_on } => {
            let ask =
                json!({"title": title, "body": body, "owner": owner, "priority": priority, "depends_on": depends_on});
            call(Method::POST, "/tasks", Some(ask)).await?
        }
        TaskCommand::Claim { id } => call(Method::POST, &format!("/tasks/{id}/claim"), Some(json!({}))).await?,
        TaskCommand::Done { id, result, failed } => {
            call(Method::POST, &format!("/tasks/{id}/done"), Some(json!({"result": result, "failed": failed}))).await?
        }
    })
}

pub async fn ask_nova(args: AskNovaArgs) -> anyhow::Result<ExitCode> {
    let (status, body) = call(reqwest::Method::POST, "/commands", Some(json!({"text": args.text}))).await?;
    if (200..300).contains(&status) {
        println!("{}", body["answer"].as_str().unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    Ok(answered(status, &body))
}

pub async fn escalate(args: EscalateArgs) -> anyhow::Result<ExitCode> {
    let (status, body) = call(reqwest::Method::POST, "/escalations", Some(json!({"reason": args.reason}))).await?;
    Ok(answered(status, &body))
}
