//! Nova's built-in agent (`nova-office agent`): a tool-calling loop against any
//! OpenAI-compatible chat model (hosted, or llama.cpp server, Ollama, vLLM), reached
//! through the office's secrets proxy so the model's key never enters the office.
//!
//! It is an ordinary runtime: it reads the run from the environment nova-office sets,
//! speaks Nova's JSON lines on stdout, and runs inside the same sandbox as any other.
//! Its conversation is kept per session in the workspace, so a follow-up in the thread
//! continues it, across sleeps and wakes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestMessage, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequestArgs, FunctionObject,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::presets::first_line;
use crate::protocol::{Objective, RunEvent, TranscriptEntry};

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The model to ask, as the endpoint names it.
    #[arg(long, env = "NOVA_AGENT_MODEL")]
    pub model: String,
    /// The upstream (in nova.toml's `[[upstreams]]`) that serves the model.
    #[arg(long, env = "NOVA_AGENT_UPSTREAM", default_value = "llm")]
    pub upstream: String,
    /// At most this many model calls per run.
    #[arg(long, env = "NOVA_AGENT_MAX_STEPS", default_value_t = 40)]
    pub max_steps: u32,
    /// At most this many tokens (prompt and completion) per run.
    #[arg(long, env = "NOVA_AGENT_MAX_TOKENS", default_value_t = 400_000)]
    pub max_tokens: u64,
    /// At most this long per run, in seconds.
    #[arg(long, env = "NOVA_AGENT_MAX_SECONDS", default_value_t = 1800)]
    pub max_seconds: u64,
    /// At most this many tokens in one answer of the model (a small model may ramble on).
    #[arg(long, env = "NOVA_AGENT_MAX_ANSWER_TOKENS", default_value_t = 4096)]
    pub max_answer_tokens: u32,
    /// Price of a million prompt tokens in USD, to report the run's cost.
    #[arg(long, env = "NOVA_AGENT_INPUT_USD_PER_MTOK")]
    pub input_usd_per_mtok: Option<f64>,
    /// Price of a million completion tokens in USD.
    #[arg(long, env = "NOVA_AGENT_OUTPUT_USD_PER_MTOK")]
    pub output_usd_per_mtok: Option<f64>,
}

/// The process groups of the commands the agent is running: a stopped agent ends them
/// too (each runs in a group of its own, so that a timeout ends all it started).
static COMMANDS_RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// The largest tool output the model is shown: the head and tail of anything longer.
const OUTPUT_CAP: usize = 16 * 1024;
/// How long one `run` command may take unless the model asks for longer (at most
/// [`MAX_COMMAND_SECS`]).
const DEFAULT_COMMAND_SECS: u64 = 120;
const MAX_COMMAND_SECS: u64 = 900;

/// What the agent keeps of a session between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Conversation {
    messages: Vec<ChatCompletionRequestMessage>,
    /// How many transcript entries the conversation has already been told.
    seen: usize,
}

/// The run, as nova-office describes it in the environment.
struct Run {
    workspace: PathBuf,
    repo_dir: PathBuf,
    session: String,
    office: String,
    prompt: String,
    author: String,
    brief: String,
    transcript: Vec<TranscriptEntry>,
    proxy: String,
}

impl Run {
    fn from_env() -> anyhow::Result<Self> {
        let var =
            |name: &str| std::env::var(name).with_context(|| format!("{name} is not set: run me as an office runtime"));
        let transcript = match std::env::var("NOVA_TRANSCRIPT") {
            Ok(path) => serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("cannot read {path}"))?)
                .with_context(|| format!("{path} is not a transcript"))?,
            Err(_) => Vec::new(),
        };
        let brief = match std::env::var("NOVA_BRIEF") {
            Ok(path) => std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?,
            Err(_) => var("NOVA_PROMPT")?,
        };
        let workspace = PathBuf::from(var("NOVA_WORKSPACE")?);
        Ok(Self {
            repo_dir: std::env::var("NOVA_REPO_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace.clone()),
            workspace,
            session: std::env::var("NOVA_SESSION").or_else(|_| var("NOVA_RUN_ID"))?,
            office: var("NOVA_OFFICE")?,
            prompt: var("NOVA_PROMPT")?,
            author: std::env::var("NOVA_AUTHOR").unwrap_or_else(|_| "someone".to_owned()),
            brief,
            transcript,
            proxy: var("NOVA_PROXY")?,
        })
    }

    fn conversation_file(&self) -> PathBuf {
        let session: String = self
            .session
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        self.workspace.join(".nova").join("sessions").join(session).join("conversation.json")
    }
}

/// Tokens spent in a run, reported once at its end (however it ends).
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    input: u64,
    output: u64,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<std::process::ExitCode> {
    let run = Run::from_env()?;
    let started = Instant::now();
    let config = OpenAIConfig::new()
        .with_api_base(format!("{}/{}", run.proxy.trim_end_matches('/'), args.upstream))
        // The proxy replaces it with the real credential (or sends none).
        .with_api_key("from-the-office-proxy");
    let client = Client::with_config(config);
    let file = run.conversation_file();
    let mut conversation: Conversation = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => Conversation::default(),
    };
    let system = system_prompt(&run);
    let system: ChatCompletionRequestMessage = serde_json::from_value(json!({"role": "system", "content": system}))?;
    match conversation.messages.first_mut() {
        Some(first @ ChatCompletionRequestMessage::System(_)) => *first = system,
        _ => conversation.messages.insert(0, system),
    }
    let news = if conversation.seen == 0 { run.brief.clone() } else { follow_up(&run, conversation.seen) };
    conversation.messages.push(serde_json::from_value(json!({"role": "user", "content": news}))?);
    conversation.seen = run.transcript.len();

    let spent = Arc::new(std::sync::Mutex::new(Spent::default()));
    // Stopped (SIGTERM from nova-office): what the run spent so far is still reported.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        outcome = work(&args, &run, &client, &mut conversation, &spent, started) => outcome,
        _ = terminate.recv() => {
            for leader in COMMANDS_RUNNING.lock().expect("commands lock").drain(..) {
                crate::sandbox::signal_group(leader, libc::SIGKILL);
            }
            report_usage(&args, *spent.lock().expect("spent lock"));
            return Ok(std::process::ExitCode::from(143));
        }
    };
    save(&file, &conversation)?;
    report_usage(&args, *spent.lock().expect("spent lock"));
    match outcome {
        Ok(answer) => {
            say(&RunEvent::Result { text: answer });
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error:#}");
            Ok(std::process::ExitCode::from(2))
        }
    }
}

/// One `usage` event for the run: its tokens, and its cost where prices are set.
fn report_usage(args: &AgentArgs, spent: Spent) {
    let cost = match (args.input_usd_per_mtok, args.output_usd_per_mtok) {
        (None, None) => None,
        (input, output) => Some(
            (spent.input as f64 * input.unwrap_or(0.0) + spent.output as f64 * output.unwrap_or(0.0)) / 1_000_000.0,
        ),
    };
    say(&RunEvent::Usage {
        model: args.model.clone(),
        input_tokens: spent.input,
        output_tokens: spent.output,
        cost_usd: cost,
    });
}

/// The loop: ask the model, run the tools it calls, until it answers without one.
async fn work(
    args: &AgentArgs,
    run: &Run,
    client: &Client<OpenAIConfig>,
    conversation: &mut Conversation,
    spent: &std::sync::Mutex<Spent>,
    started: Instant,
) -> anyhow::Result<String> {
    // The tools of skills loaded earlier in this session stay at hand.
    let mut skill_tools = SkillTools::default();
    for skill in skills_loaded_before(conversation) {
        let _ = skill_tools.load(run, &skill);
    }
    for step in 1..=args.max_steps {
        let tools: Vec<ChatCompletionTools> = tool_definitions().into_iter().chain(skill_tools.definitions()).collect();
        if started.elapsed() > Duration::from_secs(args.max_seconds) {
            bail!("the agent stopped at its time limit ({} s) before finishing", args.max_seconds);
        }
        let so_far = *spent.lock().expect("spent lock");
        if so_far.input + so_far.output > args.max_tokens {
            bail!("the agent stopped at its token limit ({}) before finishing", args.max_tokens);
        }
        let request = CreateChatCompletionRequestArgs::default()
            .model(&args.model)
            .messages(conversation.messages.clone())
            .tools(tools)
            .max_completion_tokens(args.max_answer_tokens)
            .build()?;
        let response = client.chat().create(request).await.context("the model call failed")?;
        if let Some(usage) = &response.usage {
            let mut spent = spent.lock().expect("spent lock");
            spent.input += u64::from(usage.prompt_tokens);
            spent.output += u64::from(usage.completion_tokens);
        }
        let message = response.choices.into_iter().next().context("the model answered with no choice")?.message;
        let calls: Vec<_> = message
            .tool_calls
            .iter()
            .flatten()
            .filter_map(|call| match call {
                ChatCompletionMessageToolCalls::Function(call) => Some(call.clone()),
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        let text = message.content.clone().unwrap_or_default();
        let mut assistant = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            assistant["tool_calls"] = serde_json::to_value(&message.tool_calls)?;
        }
        conversation.messages.push(serde_json::from_value(assistant)?);
        if calls.is_empty() {
            let answer = text.trim();
            if answer.is_empty() {
                bail!("the model ended the run without an answer (step {step})");
            }
            return Ok(answer.to_owned());
        }
        if !text.trim().is_empty() {
            say(&RunEvent::Progress { text: first_line(&text) });
        }
        for call in calls {
            let output = match serde_json::from_str::<Value>(&call.function.arguments) {
                Ok(arguments) => call_tool(run, &mut skill_tools, &call.function.name, &arguments).await,
                Err(error) => format!("error: the arguments are not JSON ({error}); call the tool again"),
            };
            let tool = json!({"role": "tool", "tool_call_id": call.id, "content": cap(&output)});
            conversation.messages.push(serde_json::from_value(tool)?);
        }
    }
    bail!("the agent stopped at its step limit ({}) before finishing", args.max_steps)
}

fn save(file: &Path, conversation: &Conversation) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let partial = file.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec(conversation)?)?;
    std::fs::rename(&partial, file).with_context(|| format!("cannot save {}", file.display()))
}

/// Prints one of Nova's JSON lines.
fn say(event: &RunEvent) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(event).expect("events serialize"));
    let _ = out.flush();
}

/// Who the agent is and how it works: SOUL.md, AGENTS.md and the skills it can load.
fn system_prompt(run: &Run) -> String {
    let read = |name: &str| std::fs::read_to_string(run.workspace.join(name)).unwrap_or_default();
    let skills = skill_index(&run.workspace);
    let mut text = format!(
        "You are {office}, an office of Nova: an AI agent with your own workspace, working for people in a chat \
         thread. Work with the tools: read before you edit, run the tests, and keep people posted with `report` \
         (objectives as a checklist, progress in a few words). Ask with `request_approval` before anything \
         consequential (pushing, deploying, deleting, spending) and go on only if it is approved. When you are \
         done, answer with what you did and what changed, in a few sentences, without calling a tool.\n\
         Your working directory is {dir}.\n",
        office = run.office,
        dir = run.repo_dir.display()
    );
    for (name, content) in [("SOUL.md", read("SOUL.md")), ("AGENTS.md", read("AGENTS.md"))] {
        if !content.trim().is_empty() {
            text.push_str(&format!("\n# {name}\n{}\n", content.trim()));
        }
    }
    if !skills.is_empty() {
        text.push_str("\n# Skills (load one with `load_skill` before using it)\n");
        for (name, description) in skills {
            text.push_str(&format!("- {name}: {description}\n"));
        }
    }
    text
}

/// What the thread said since the agent last answered, and the new ask.
fn follow_up(run: &Run, seen: usize) -> String {
    let new = run.transcript.get(seen..).unwrap_or_default();
    let earlier: Vec<&TranscriptEntry> = match new.last() {
        Some(last) if last.text == run.prompt => new[..new.len() - 1].iter().collect(),
        _ => new.iter().collect(),
    };
    let mut text = String::new();
    if !earlier.is_empty() {
        text.push_str("New in the thread since your last answer:\n");
        for entry in earlier {
            text.push_str(&format!("- {}: {}\n", entry.author, entry.text));
        }
        text.push('\n');
    }
    text.push_str(&format!("{} now asks:\n{}", run.author, run.prompt));
    text
}

/// The skills in the workspace: `skills/{name}/SKILL.md`, with its `description:` line.
fn skill_index(workspace: &Path) -> Vec<(String, String)> {
    let Ok(dirs) = std::fs::read_dir(workspace.join("skills")) else { return vec![] };
    let mut skills: Vec<(String, String)> = dirs
        .filter_map(Result::ok)
        .filter_map(|dir| {
            let text = std::fs::read_to_string(dir.path().join("SKILL.md")).ok()?;
            let description = text
                .lines()
                .find_map(|line| line.strip_prefix("description:"))
                .map(|d| d.trim().trim_matches('"').to_owned())
                .unwrap_or_default();
            Some((dir.file_name().to_string_lossy().into_owned(), description))
        })
        .collect();
    skills.sort();
    skills
}

fn tool(name: &str, description: &str, parameters: Value) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            parameters: Some(parameters),
            strict: None,
        },
    })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn tool_definitions() -> Vec<ChatCompletionTools> {
    let string = |description: &str| json!({"type": "string", "description": description});
    vec![
        tool(
            "read_file",
            "Read a text file, with line numbers. Paths are relative to the working directory.",
            object(
                json!({"path": string("the file"), "offset": {"type": "integer", "description": "first line, from 1"}, "limit": {"type": "integer", "description": "how many lines"}}),
                &["path"],
            ),
        ),
        tool(
            "write_file",
            "Create or overwrite a file with this content.",
            object(
                json!({"path": string("the file"), "content": string("the whole new content")}),
                &["path", "content"],
            ),
        ),
        tool(
            "edit_file",
            "Replace text in a file: `old` must occur exactly once (or set replace_all).",
            object(
                json!({"path": string("the file"), "old": string("the exact text to replace"), "new": string("what replaces it"), "replace_all": {"type": "boolean"}}),
                &["path", "old", "new"],
            ),
        ),
        tool(
            "list_files",
            "List files matching a glob pattern, e.g. `src/**/*.rs`.",
            object(json!({"pattern": string("a glob, relative to the working directory")}), &["pattern"]),
        ),
        tool(
            "grep",
            "Search files for a regular expression; prints path:line:text.",
            object(
                json!({"pattern": string("a regular expression"), "glob": string("which files, default **/*")}),
                &["pattern"],
            ),
        ),
        tool(
            "run",
            "Run a shell command in the working directory; prints its exit code and output.",
            object(
                json!({"command": string("for sh -c"), "timeout_secs": {"type": "integer", "description": "default 120, at most 900"}}),
                &["command"],
            ),
        ),
        tool(
            "request_approval",
            "Ask a person to approve a consequential action and wait for the decision.",
            object(
                json!({
                    "kind": string("destructive, deploy, spend, push…"),
                    "action": string("what exactly, in a few words"),
                    "details": string("why, and what happens"),
                    "risk": {"type": "string", "enum": ["low", "medium", "high"]},
                    "amount_usd": {"type": "number"}
                }),
                &["kind", "action"],
            ),
        ),
        tool(
            "request_credential",
            "Ask a person for a credential you lack; it goes into the vault, never to you. Then call the upstream that uses it.",
            object(json!({"name": string("the secret's name"), "why": string("what it is for")}), &["name", "why"]),
        ),
        tool(
            "call_upstream",
            "Call a configured service through the office's proxy, which adds its credential.",
            object(
                json!({
                    "upstream": string("the upstream's name"),
                    "method": string("GET, POST…"),
                    "path": string("under the upstream's base URL"),
                    "body": string("the request body, if any (JSON as text)")
                }),
                &["upstream", "method", "path"],
            ),
        ),
        tool(
            "handoff",
            "Hand a piece of work to another office (see AGENTS.md). It does not wait: the other office's outcome comes back to you as a new message in this session.",
            object(
                json!({"to": string("the office"), "prompt": string("what it should do, with what it needs to know")}),
                &["to", "prompt"],
            ),
        ),
        tool(
            "tasks",
            "The tasks you may take (yours and those for any office) and those you hold.",
            object(json!({}), &[]),
        ),
        tool(
            "create_task",
            "Make a task: for another office (a piece of your work it should do) or for any office. It runs when what it depends on is done.",
            object(
                json!({
                    "title": string("what is to be done, in a line"),
                    "body": string("what the office needs to know"),
                    "owner": string("the office it is for; leave out for any office"),
                    "depends_on": {"type": "array", "items": {"type": "integer"}, "description": "task numbers that must be done first"}
                }),
                &["title"],
            ),
        ),
        tool(
            "claim_task",
            "Take a task for this run. If another office holds it, you are told who.",
            object(json!({"id": {"type": "integer"}}), &["id"]),
        ),
        tool(
            "finish_task",
            "End a task you hold with what it came to (failed: true if you could not do it).",
            object(
                json!({"id": {"type": "integer"}, "result": string("what it came to"), "failed": {"type": "boolean"}}),
                &["id", "result"],
            ),
        ),
        tool(
            "escalate",
            "Ask the office you report to for help when you are stuck; it answers in this thread.",
            object(json!({"reason": string("why you are stuck and what you need")}), &["reason"]),
        ),
        tool(
            "ask_nova",
            "Ask Nova about the fleet in plain language: an office's status, the open tasks, the schedules, your spend; or make a task for an office (\"make a task for writer: …\"). Nova answers; it will not change or stop the fleet for you.",
            object(json!({"text": string("the request")}), &["text"]),
        ),
        tool(
            "sql",
            "Run one SQL statement on one of the workspace's databases (see the `database` skill). Reads run read-only; a write asks a person to approve that exact statement and waits.",
            object(
                json!({"database": string("the database's name"), "query": string("one SQL statement")}),
                &["database", "query"],
            ),
        ),
        tool(
            "submit_change",
            "Put the change on your session branch up for review in this thread, once it is committed and pushed. Reviewers approve it or ask for changes; after changes, push again and submit again for the next revision.",
            object(
                json!({
                    "repo": string("the repo"),
                    "summary": string("what the change does and why"),
                    "tests": {"type": "array", "items": {"type": "object", "properties": {"command": {"type": "string"}, "passed": {"type": "boolean"}}, "required": ["command", "passed"]}, "description": "the tests you ran and how they went"}
                }),
                &["repo", "summary"],
            ),
        ),
        tool(
            "review_decision",
            "As a reviewer you were asked to be: approve a review, or ask for changes (say what, and on which line as path:line), or comment.",
            object(
                json!({
                    "review": {"type": "integer", "description": "the review's number"},
                    "verdict": {"type": "string", "enum": ["approve", "request_changes", "comment"]},
                    "comment": string("what should change, or the comment"),
                    "at": string("the line it is about, as path:line")
                }),
                &["review", "verdict"],
            ),
        ),
        tool("load_skill", "Read a skill's instructions.", object(json!({"name": string("the skill")}), &["name"])),
        tool(
            "report",
            "Keep the thread posted: the checklist of objectives (replaces the last one) and/or a progress line.",
            object(
                json!({
                    "objectives": {"type": "array", "items": object(json!({"text": string("the objective"), "done": {"type": "boolean"}}), &["text"])},
                    "progress": string("what you are doing now, in a few words")
                }),
                &[],
            ),
        ),
    ]
}

/// Runs one tool; its output, or `error: …` for the model to read and recover from.
async fn call_tool(run: &Run, skill_tools: &mut SkillTools, name: &str, arguments: &Value) -> String {
    let result = match name {
        "read_file" => read_file(run, arguments),
        "write_file" => write_file(run, arguments),
        "edit_file" => edit_file(run, arguments),
        "list_files" => list_files(run, arguments),
        "grep" => grep(run, arguments),
        "run" => run_command(run, arguments).await,
        "request_approval" => ask("approvals", arguments).await,
        "request_credential" => ask("credentials", arguments).await,
        "call_upstream" => call_upstream(run, arguments).await,
        "tasks" | "create_task" | "claim_task" | "finish_task" | "escalate" => task_tool(name, arguments).await,
        "load_skill" => load_skill(run, skill_tools, arguments),
        "ask_nova" => ask_nova(arguments).await,
        "sql" => sql(arguments).await,
        "submit_change" => submit_change(arguments).await,
        "review_decision" => review_decision(arguments).await,
        "handoff" => handoff(arguments).await,
        "report" => report(arguments),
        other => match skill_tools.get(other) {
            Some((skill, tool)) => call_skill_tool(run, skill, tool, arguments).await,
            None => Err(anyhow::anyhow!("there is no tool `{other}`")),
        },
    };
    result.unwrap_or_else(|error| format!("error: {error:#}"))
}

fn text_arg<'a>(arguments: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    arguments[name].as_str().with_context(|| format!("`{name}` is required"))
}

fn path_arg(run: &Run, arguments: &Value) -> anyhow::Result<PathBuf> {
    Ok(run.repo_dir.join(text_arg(arguments, "path")?))
}

fn read_file(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let path = path_arg(run, arguments)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let offset = arguments["offset"].as_u64().unwrap_or(1).max(1) as usize;
    let limit = arguments["limit"].as_u64().unwrap_or(2000) as usize;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .skip(offset - 1)
        .take(limit)
        .map(|(n, line)| format!("{:>5}  {line}", n + 1))
        .collect();
    Ok(if lines.is_empty() { "(empty)".to_owned() } else { lines.join("\n") })
}

fn write_file(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let path = path_arg(run, arguments)?;
    let content = text_arg(arguments, "content")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
    say(&RunEvent::Progress { text: format!("wrote {}", text_arg(arguments, "path")?) });
    Ok(format!("wrote {} bytes", content.len()))
}

fn edit_file(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let path = path_arg(run, arguments)?;
    let (old, new) = (text_arg(arguments, "old")?, text_arg(arguments, "new")?);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let count = text.matches(old).count();
    let replace_all = arguments["replace_all"].as_bool().unwrap_or(false);
    let edited = match count {
        0 => bail!("`old` does not occur in the file: read it again and copy the text exactly"),
        1 => text.replacen(old, new, 1),
        _ if replace_all => text.replace(old, new),
        n => bail!("`old` occurs {n} times: add surrounding lines to make it unique, or set replace_all"),
    };
    std::fs::write(&path, edited).with_context(|| format!("cannot write {}", path.display()))?;
    say(&RunEvent::Progress { text: format!("edited {}", text_arg(arguments, "path")?) });
    Ok(format!("replaced {} occurrence(s)", if replace_all { count } else { 1 }))
}

fn list_files(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let pattern = text_arg(arguments, "pattern")?;
    let full = run.repo_dir.join(pattern);
    let mut found: Vec<String> = glob::glob(&full.to_string_lossy())
        .context("not a glob pattern")?
        .filter_map(Result::ok)
        .filter(|path| !path.components().any(|c| c.as_os_str() == ".git"))
        .map(|path| path.strip_prefix(&run.repo_dir).unwrap_or(&path).display().to_string())
        .take(501)
        .collect();
    let more = found.len() > 500;
    found.truncate(500);
    if more {
        found.push("… (more: narrow the pattern)".to_owned());
    }
    Ok(if found.is_empty() { "no files match".to_owned() } else { found.join("\n") })
}

fn grep(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let pattern = regex::Regex::new(text_arg(arguments, "pattern")?).context("not a regular expression")?;
    let files = run.repo_dir.join(arguments["glob"].as_str().unwrap_or("**/*"));
    let mut hits = Vec::new();
    for path in glob::glob(&files.to_string_lossy()).context("not a glob pattern")?.filter_map(Result::ok) {
        if !path.is_file() || path.components().any(|c| c.as_os_str() == ".git") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let shown = path.strip_prefix(&run.repo_dir).unwrap_or(&path).display().to_string();
        for (n, line) in text.lines().enumerate().filter(|(_, line)| pattern.is_match(line)) {
            hits.push(format!("{shown}:{}:{line}", n + 1));
            if hits.len() == 200 {
                hits.push("… (more: narrow the search)".to_owned());
                return Ok(hits.join("\n"));
            }
        }
    }
    Ok(if hits.is_empty() { "no matches".to_owned() } else { hits.join("\n") })
}

async fn run_command(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let command = text_arg(arguments, "command")?;
    let timeout =
        Duration::from_secs(arguments["timeout_secs"].as_u64().unwrap_or(DEFAULT_COMMAND_SECS).min(MAX_COMMAND_SECS));
    say(&RunEvent::Progress { text: format!("$ {}", first_line(command)) });
    shell(run, command, timeout, None).await
}

/// A skill's command tool: where its package is, and the model's arguments (JSON).
struct ToolInput<'a> {
    skill_dir: PathBuf,
    arguments: &'a Value,
}

/// Runs `command` with `sh` in the working directory, in a process group of its own so
/// a timeout or a stop ends all it started. A skill's tool gets its arguments on stdin
/// and in `NOVA_TOOL_ARGS`, and its package's directory in `SKILL_DIR`.
async fn shell(run: &Run, command: &str, timeout: Duration, tool: Option<ToolInput<'_>>) -> anyhow::Result<String> {
    let mut shell = tokio::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(command)
        .current_dir(&run.repo_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let input = tool.map(|tool| {
        let arguments = tool.arguments.to_string();
        shell.env("SKILL_DIR", &tool.skill_dir).env("NOVA_TOOL_ARGS", &arguments).stdin(std::process::Stdio::piped());
        arguments
    });
    let mut child = shell.spawn().context("cannot start sh")?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt as _;
        // A command that does not read its stdin closes it: that is not an error.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let leader = child.id();
    COMMANDS_RUNNING.lock().expect("commands lock").extend(leader);
    let finished = tokio::time::timeout(timeout, child.wait_with_output()).await;
    COMMANDS_RUNNING.lock().expect("commands lock").retain(|running| Some(*running) != leader);
    match finished {
        Ok(output) => {
            let output = output?;
            let mut text = format!("exit code {}\n", output.status.code().unwrap_or(-1));
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            if !output.stderr.is_empty() {
                text.push_str("\n[stderr]\n");
                text.push_str(&String::from_utf8_lossy(&output.stderr));
            }
            Ok(text)
        }
        Err(_) => {
            if let Some(leader) = leader {
                crate::sandbox::signal_group(leader, libc::SIGKILL);
            }
            bail!("the command did not finish within {} s and was stopped", timeout.as_secs())
        }
    }
}

async fn ask(kind: &str, arguments: &Value) -> anyhow::Result<String> {
    let body = match kind {
        "approvals" => json!({
            "kind": text_arg(arguments, "kind")?, "action": text_arg(arguments, "action")?,
            "details": arguments["details"].as_str().unwrap_or(""), "risk": arguments["risk"].as_str().unwrap_or("medium"),
            "amount_usd": arguments["amount_usd"].as_f64()
        }),
        _ => json!({"name": text_arg(arguments, "name")?, "why": text_arg(arguments, "why")?}),
    };
    let answer = crate::office::ask_and_wait(kind, body).await?;
    Ok(answer.printed())
}

async fn call_upstream(run: &Run, arguments: &Value) -> anyhow::Result<String> {
    let request = skills::tools::Request {
        method: text_arg(arguments, "method")?.to_uppercase(),
        path: format!("/{}", text_arg(arguments, "path")?.trim_start_matches('/')),
        headers: Vec::new(),
        body: arguments["body"].as_str().map(|body| ("application/json", body.to_owned())),
    };
    through_proxy(run, text_arg(arguments, "upstream")?, request).await
}

/// Sends `request` to `upstream` through the office's proxy, which adds its credential;
/// the status and the body, for the model to read.
async fn through_proxy(run: &Run, upstream: &str, request: skills::tools::Request) -> anyhow::Result<String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).context("not an HTTP method")?;
    let url = format!("{}/{upstream}{}", run.proxy.trim_end_matches('/'), request.path);
    let mut call = reqwest::Client::new().request(method, url).timeout(Duration::from_secs(120));
    for (name, value) in &request.headers {
        call = call.header(name, value);
    }
    if let Some((content_type, body)) = request.body {
        call = call.header("content-type", content_type).body(body);
    }
    let response = call.send().await.context("the office proxy did not answer")?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok(format!("HTTP {status}\n{body}"))
}

async fn ask_nova(arguments: &Value) -> anyhow::Result<String> {
    let text = json!({"text": text_arg(arguments, "text")?});
    let (status, body) = crate::work::call(reqwest::Method::POST, "/commands", Some(text)).await?;
    Ok(match (body["answer"].as_str(), body["error"].as_str()) {
        (Some(answer), _) => answer.to_owned(),
        (None, Some(error)) => format!("refused (HTTP {status}): {error}"),
        (None, None) => format!("HTTP {status}: {body}"),
    })
}

async fn sql(arguments: &Value) -> anyhow::Result<String> {
    let (database, query) = (text_arg(arguments, "database")?, text_arg(arguments, "query")?);
    say(&RunEvent::Progress { text: format!("{database}: {}", first_line(query)) });
    let (status, answer) = crate::work::sql_call(database, query).await?;
    if !(200..300).contains(&status) {
        return Ok(format!("refused (HTTP {status}): {}", answer["error"].as_str().unwrap_or("unknown error")));
    }
    if let Some(changed) = answer["rows_affected"].as_u64() {
        return Ok(format!("done: {changed} rows changed"));
    }
    let mut text = format!("columns: {}\n", answer["columns"]);
    for row in answer["rows"].as_array().into_iter().flatten() {
        text.push_str(&format!("{row}\n"));
    }
    let rows = answer["rows"].as_array().map_or(0, Vec::len);
    text.push_str(&if answer["truncated"] == true {
        format!("(the first {rows} rows: narrow the query for the rest)")
    } else {
        format!("({rows} rows)")
    });
    Ok(text)
}

async fn review_decision(arguments: &Value) -> anyhow::Result<String> {
    let review = arguments["review"].as_i64().context("`review` is the review's number")?;
    let decision = json!({
        "verdict": text_arg(arguments, "verdict")?,
        "comment": arguments["comment"].as_str().unwrap_or_default(),
        "at": arguments["at"].as_str()
    });
    let (status, body) = crate::work::review_decision_call(review, decision).await?;
    Ok(match body["error"].as_str() {
        Some(error) => format!("refused (HTTP {status}): {error}"),
        None => format!("recorded: review #{review} is {}", body["state"].as_str().unwrap_or("updated")),
    })
}

async fn submit_change(arguments: &Value) -> anyhow::Result<String> {
    let change = json!({
        "repo": text_arg(arguments, "repo")?, "summary": text_arg(arguments, "summary")?,
        "tests": arguments.get("tests").cloned().unwrap_or(json!([]))
    });
    let (status, body) = crate::work::call(reqwest::Method::POST, "/changes", Some(change)).await?;
    Ok(match body["error"].as_str() {
        Some(error) => format!("refused (HTTP {status}): {error}"),
        None => format!(
            "review #{} is at revision {}: reviewers decide in the thread; changes they ask for come back to you",
            body["review"], body["revision"]
        ),
    })
}

async fn handoff(arguments: &Value) -> anyhow::Result<String> {
    let to = crate::office::post_handoff(text_arg(arguments, "to")?, text_arg(arguments, "prompt")?).await?;
    Ok(format!("handed to {to}; its outcome will come back to you as a new message"))
}

/// The tools for tasks and the chain of command, through the office's agent API.
async fn task_tool(name: &str, arguments: &Value) -> anyhow::Result<String> {
    use crate::work::TaskCommand;
    let id = || arguments["id"].as_i64().context("`id` is a task number");
    let (status, body) = match name {
        "tasks" => crate::work::task_call(TaskCommand::List).await?,
        "create_task" => {
            let depends_on =
                arguments["depends_on"].as_array().map(|ids| ids.iter().filter_map(Value::as_i64).collect());
            let command = TaskCommand::Create {
                title: text_arg(arguments, "title")?.to_owned(),
                body: arguments["body"].as_str().unwrap_or_default().to_owned(),
                owner: arguments["owner"].as_str().map(str::to_owned),
                priority: 0,
                depends_on: depends_on.unwrap_or_default(),
            };
            crate::work::task_call(command).await?
        }
        "claim_task" => crate::work::task_call(TaskCommand::Claim { id: id()? }).await?,
        "finish_task" => {
            let (result, failed) =
                (text_arg(arguments, "result")?.to_owned(), arguments["failed"].as_bool() == Some(true));
            crate::work::task_call(TaskCommand::Done { id: id()?, result, failed }).await?
        }
        _ => {
            let reason = json!({"reason": text_arg(arguments, "reason")?});
            crate::work::call(reqwest::Method::POST, "/escalations", Some(reason)).await?
        }
    };
    Ok(match body["error"].as_str() {
        Some(error) => format!("refused (HTTP {status}): {error}"),
        None => body.to_string(),
    })
}

fn load_skill(run: &Run, skill_tools: &mut SkillTools, arguments: &Value) -> anyhow::Result<String> {
    let name = text_arg(arguments, "name")?;
    let path = skill_dir(run, name)?.join("SKILL.md");
    let mut text = std::fs::read_to_string(&path).with_context(|| {
        let known: Vec<String> = skill_index(&run.workspace).into_iter().map(|(name, _)| name).collect();
        format!("there is no skill `{name}` (skills: {})", known.join(", "))
    })?;
    let added = skill_tools.load(run, name)?;
    if !added.is_empty() {
        text.push_str(&format!("\n\n(The skill's tools are yours to call now: {}.)", added.join(", ")));
    }
    Ok(text)
}

/// Where the package of skill `name` is in the workspace.
fn skill_dir(run: &Run, name: &str) -> anyhow::Result<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("`{name}` is not a skill name");
    }
    Ok(run.workspace.join("skills").join(name))
}

/// The tools of the skills loaded in this session, each with the skill it came from.
#[derive(Default)]
struct SkillTools(Vec<(String, skills::Tool)>);

impl SkillTools {
    /// Takes in the tools of skill `name` (its package's `tools.json`); the names of those
    /// it added. A name the agent already has keeps its first meaning.
    fn load(&mut self, run: &Run, name: &str) -> anyhow::Result<Vec<String>> {
        let file = skill_dir(run, name)?.join(skills::tools::TOOLS_FILE);
        let Ok(text) = std::fs::read_to_string(&file) else { return Ok(Vec::new()) };
        let tools = skills::tools::parse_tools(&text)
            .map_err(|(line, message)| anyhow::anyhow!("{}:{line}: {message}", file.display()))?;
        let built_in = tool_definitions();
        let mut added = Vec::new();
        for tool in tools {
            let taken = self.get(&tool.name).is_some()
                || built_in
                    .iter()
                    .any(|t| matches!(t, ChatCompletionTools::Function(f) if f.function.name == tool.name));
            if !taken {
                added.push(tool.name.clone());
                self.0.push((name.to_owned(), tool));
            }
        }
        Ok(added)
    }

    fn get(&self, name: &str) -> Option<&(String, skills::Tool)> {
        self.0.iter().find(|(_, tool)| tool.name == name)
    }

    fn definitions(&self) -> Vec<ChatCompletionTools> {
        self.0.iter().map(|(_, t)| tool(&t.name, &t.description, t.parameters.clone())).collect()
    }
}

/// The skills this session's conversation loaded before now, in order.
fn skills_loaded_before(conversation: &Conversation) -> Vec<String> {
    let mut skills = Vec::new();
    for message in &conversation.messages {
        let message = serde_json::to_value(message).unwrap_or_default();
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            if call["function"]["name"] == "load_skill"
                && let Ok(arguments) =
                    serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap_or(""))
                && let Some(name) = arguments["name"].as_str()
                && !skills.iter().any(|s| s == name)
            {
                skills.push(name.to_owned());
            }
        }
    }
    skills
}

/// Calls a skill's tool: its HTTP request through the office's proxy (which adds the
/// upstream's credential), or its command.
async fn call_skill_tool(run: &Run, skill: &str, tool: &skills::Tool, arguments: &Value) -> anyhow::Result<String> {
    if let Some(command) = &tool.command {
        say(&RunEvent::Progress { text: format!("{skill}: {}", tool.name) });
        let input = ToolInput { skill_dir: skill_dir(run, skill)?, arguments };
        return shell(run, command, Duration::from_secs(DEFAULT_COMMAND_SECS), Some(input)).await;
    }
    let http = tool.http.as_ref().context("the tool has neither a command nor an HTTP call")?;
    let request = http.request(arguments).map_err(|problem| anyhow::anyhow!(problem))?;
    say(&RunEvent::Progress { text: format!("{skill}: {} {}", request.method, first_line(&request.path)) });
    through_proxy(run, &http.upstream, request).await
}

fn report(arguments: &Value) -> anyhow::Result<String> {
    if let Some(items) = arguments["objectives"].as_array() {
        let items = items
            .iter()
            .filter_map(|item| {
                Some(Objective {
                    text: item["text"].as_str()?.to_owned(),
                    done: item["done"].as_bool().unwrap_or(false),
                })
            })
            .collect();
        say(&RunEvent::Objectives { items });
    }
    if let Some(text) = arguments["progress"].as_str().filter(|t| !t.trim().is_empty()) {
        say(&RunEvent::Progress { text: first_line(text) });
    }
    Ok("reported".to_owned())
}

/// The head and tail of a long tool output.
fn cap(text: &str) -> String {
    if text.len() <= OUTPUT_CAP {
        return text.to_owned();
    }
    let head = floor_char_boundary(text, OUTPUT_CAP / 2);
    let tail = ceil_char_boundary(text, text.len() - OUTPUT_CAP / 2);
    format!("{}\n… ({} bytes left out) …\n{}", &text[..head], tail - head, &text[tail..])
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_outputs_keep_their_head_and_tail() {
        let text = format!("{}{}", "a".repeat(20_000), "é".repeat(5_000));
        let capped = cap(&text);
        assert!(capped.len() < OUTPUT_CAP + 100);
        assert!(capped.starts_with("aaa") && capped.ends_with("éé"));
        assert_eq!(cap("short"), "short");
    }

    #[test]
    fn the_tools_are_described_to_the_model() {
        let names: Vec<String> = tool_definitions()
            .into_iter()
            .map(|tool| match tool {
                ChatCompletionTools::Function(tool) => tool.function.name,
                ChatCompletionTools::Custom(_) => unreachable!(),
            })
            .collect();
        insta::assert_debug_snapshot!(names);
    }
}
