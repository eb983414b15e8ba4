//! Agent CLIs as office runtimes: how to read each one's own streaming output as Nova's
//! run events (objectives, progress, result, usage).
//!
//! Each reader is a small state machine over the CLI's documented JSON-lines stream. A
//! line it does not understand becomes nothing (never an error): CLIs add event types
//! between releases, and a run must not fail because one appeared.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{Objective, RunEvent, parse_runtime_line};

/// How nova-office reads a runtime's stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// Nova's own JSON lines (`progress`, `objectives`, `result`, `usage`); plain text
    /// is progress.
    #[default]
    Nova,
    /// Claude Code's `--output-format stream-json --verbose`.
    ClaudeStreamJson,
    /// Codex's `codex exec --json`.
    CodexJson,
    /// Gemini CLI's `--output-format stream-json`.
    GeminiStreamJson,
}

/// A runtime by name (`runtime.preset`): the command line, environment and output
/// format of the built-in agent or an agent CLI, its API pointed at the office's proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Nova's built-in agent (`nova-office agent`), for any OpenAI-compatible endpoint.
    NovaAgent,
    /// Anthropic's Claude Code (`claude`).
    ClaudeCode,
    /// OpenAI's Codex CLI (`codex`).
    Codex,
    /// Google's Gemini CLI (`gemini`).
    GeminiCli,
    /// The example runtime: shows the event protocol, does no real work.
    Example,
}

/// What the CLIs are given as their API key: the office proxy replaces it with the
/// upstream's credential, so the real one never enters the office.
pub const PROXY_KEY: &str = "from-the-office-proxy";

impl Preset {
    pub const ALL: [Preset; 5] = [Self::NovaAgent, Self::ClaudeCode, Self::Codex, Self::GeminiCli, Self::Example];

    pub fn name(self) -> &'static str {
        match self {
            Self::NovaAgent => "nova-agent",
            Self::ClaudeCode => "claude-code",
            Self::Codex => "codex",
            Self::GeminiCli => "gemini-cli",
            Self::Example => "example",
        }
    }

    /// The upstream its model API is reached through, unless the config names another.
    pub fn default_upstream(self) -> Option<&'static str> {
        match self {
            Self::NovaAgent => Some("llm"),
            Self::ClaudeCode => Some("anthropic"),
            Self::Codex => Some("openai"),
            Self::GeminiCli => Some("gemini"),
            Self::Example => None,
        }
    }

    /// Whether the config must name the model (the built-in agent has no default).
    pub fn needs_model(self) -> bool {
        self == Self::NovaAgent
    }

    pub fn output(self) -> OutputFormat {
        match self {
            Self::NovaAgent | Self::Example => OutputFormat::Nova,
            Self::ClaudeCode => OutputFormat::ClaudeStreamJson,
            Self::Codex => OutputFormat::CodexJson,
            Self::GeminiCli => OutputFormat::GeminiStreamJson,
        }
    }

    /// The command line, as handlebars templates over the run (`brief`, `proxy`…).
    pub fn command(self, model: Option<&str>) -> Vec<String> {
        let mut command: Vec<&str> = match self {
            Self::NovaAgent => vec!["{{office_exe}}", "agent"],
            Self::Example => vec!["{{office_exe}}", "example-agent"],
            // The office's sandbox is what confines it, so it may act without asking;
            // consequential steps go through request-approval (AGENTS.md says how).
            Self::ClaudeCode => vec![
                "claude",
                "-p",
                "{{brief}}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--dangerously-skip-permissions",
            ],
            Self::Codex => vec!["codex", "exec", "--json", "--skip-git-repo-check", "--full-auto"],
            Self::GeminiCli => vec!["gemini", "-p", "{{brief}}", "--output-format", "stream-json", "--yolo"],
        };
        let model_flag = match self {
            Self::ClaudeCode => Some("--model"),
            Self::Codex | Self::GeminiCli => Some("-m"),
            Self::NovaAgent | Self::Example => None,
        };
        if let (Some(flag), Some(model)) = (model_flag, model) {
            command.extend([flag, model]);
        }
        if self == Self::Codex {
            command.push("{{brief}}");
        }
        command.into_iter().map(str::to_owned).collect()
    }

    /// The environment that points the CLI at the office's proxy.
    pub fn env(self, model: Option<&str>, upstream: &str) -> std::collections::BTreeMap<String, String> {
        let base = format!("{{{{proxy}}}}/{upstream}");
        let pairs: Vec<(&str, String)> = match self {
            Self::NovaAgent => {
                let mut pairs = vec![("NOVA_AGENT_UPSTREAM", upstream.to_owned())];
                pairs.extend(model.map(|model| ("NOVA_AGENT_MODEL", model.to_owned())));
                pairs
            }
            Self::ClaudeCode => vec![("ANTHROPIC_BASE_URL", base), ("ANTHROPIC_API_KEY", PROXY_KEY.to_owned())],
            Self::Codex => vec![("OPENAI_BASE_URL", base), ("OPENAI_API_KEY", PROXY_KEY.to_owned())],
            Self::GeminiCli => vec![("GOOGLE_GEMINI_BASE_URL", base), ("GEMINI_API_KEY", PROXY_KEY.to_owned())],
            Self::Example => vec![],
        };
        pairs.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
    }
}

/// Reads one run's stdout, line by line, into run events.
#[derive(Debug, Default)]
pub struct OutputReader {
    format: OutputFormat,
    /// The CLI's last words to the user: the run's result if the stream ends without one.
    last_message: Option<String>,
    /// Gemini streams its answer in deltas: gathered here.
    message: String,
    model: Option<String>,
}

impl OutputReader {
    pub fn new(format: OutputFormat) -> Self {
        Self { format, ..Self::default() }
    }

    /// What the line says, in order (a Claude Code message may hold a todo list, a
    /// tool call and text at once).
    pub fn read(&mut self, line: &str) -> Vec<RunEvent> {
        if self.format == OutputFormat::Nova {
            return parse_runtime_line(line).into_iter().collect();
        }
        let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
            // Not JSON: a CLI's stray diagnostic line.
            return parse_runtime_line(line).into_iter().collect();
        };
        match self.format {
            OutputFormat::Nova => unreachable!("handled above"),
            OutputFormat::ClaudeStreamJson => self.claude(&value),
            OutputFormat::CodexJson => self.codex(&value),
            OutputFormat::GeminiStreamJson => self.gemini(&value),
        }
    }

    /// The result to report when the CLI exited cleanly without a result event.
    pub fn last_message(&self) -> Option<&str> {
        self.last_message.as_deref()
    }

    fn claude(&mut self, value: &Value) -> Vec<RunEvent> {
        let mut events = Vec::new();
        match value["type"].as_str() {
            Some("system") if value["subtype"] == "init" => {
                self.model = value["model"].as_str().map(str::to_owned);
            }
            Some("assistant") => {
                for block in value["message"]["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str() {
                        Some("text") => {
                            if let Some(text) = block["text"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
                                self.last_message = Some(text.to_owned());
                                events.push(RunEvent::Progress { text: first_line(text) });
                            }
                        }
                        Some("tool_use") if block["name"] == "TodoWrite" => {
                            let items = block["input"]["todos"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|todo| {
                                    let text = todo["content"].as_str()?.to_owned();
                                    Some(Objective { text, done: todo["status"] == "completed" })
                                })
                                .collect();
                            events.push(RunEvent::Objectives { items });
                        }
                        Some("tool_use") => {
                            let name = block["name"].as_str().unwrap_or("a tool");
                            events.push(RunEvent::Progress { text: tool_line(name, &block["input"]) });
                        }
                        _ => {}
                    }
                }
            }
            Some("result") => {
                let usage = &value["usage"];
                let input = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
                    .iter()
                    .filter_map(|key| usage[key].as_u64())
                    .sum();
                events.push(RunEvent::Usage {
                    model: self.model.clone().unwrap_or_else(|| "claude".to_owned()),
                    input_tokens: input,
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                    cost_usd: value["total_cost_usd"].as_f64(),
                });
                let text = value["result"].as_str().unwrap_or("").trim().to_owned();
                if value["is_error"] == true || value["subtype"] != "success" {
                    let why =
                        if text.is_empty() { value["subtype"].as_str().unwrap_or("error").to_owned() } else { text };
                    events.push(RunEvent::Progress { text: format!("Claude Code stopped: {why}") });
                } else if !text.is_empty() {
                    events.push(RunEvent::Result { text });
                }
            }
            _ => {}
        }
        events
    }

    fn codex(&mut self, value: &Value) -> Vec<RunEvent> {
        let item = &value["item"];
        match (value["type"].as_str(), item["type"].as_str()) {
            (Some("item.started"), Some("command_execution")) => {
                vec![RunEvent::Progress { text: format!("$ {}", item["command"].as_str().unwrap_or("")) }]
            }
            (Some("item.started" | "item.updated" | "item.completed"), Some("todo_list")) => {
                let items = item["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|todo| {
                        Some(Objective { text: todo["text"].as_str()?.to_owned(), done: todo["completed"] == true })
                    })
                    .collect();
                vec![RunEvent::Objectives { items }]
            }
            (Some("item.completed"), Some("agent_message")) => {
                let text = item["text"].as_str().unwrap_or("").trim().to_owned();
                if text.is_empty() {
                    return vec![];
                }
                self.last_message = Some(text.clone());
                vec![RunEvent::Progress { text: first_line(&text) }]
            }
            (Some("item.completed"), Some("file_change")) => item["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|change| RunEvent::Progress {
                    text: format!(
                        "{} {}",
                        change["kind"].as_str().unwrap_or("edit"),
                        change["path"].as_str().unwrap_or("a file")
                    ),
                })
                .collect(),
            (Some("turn.completed"), _) => {
                let usage = &value["usage"];
                vec![RunEvent::Usage {
                    model: "codex".to_owned(),
                    input_tokens: usage["input_tokens"].as_u64().unwrap_or(0),
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                    cost_usd: None,
                }]
            }
            (Some("turn.failed"), _) => {
                let error = value["error"]["message"].as_str().unwrap_or("the turn failed");
                vec![RunEvent::Progress { text: format!("Codex stopped: {error}") }]
            }
            (Some("error"), _) => {
                vec![RunEvent::Progress { text: format!("Codex: {}", value["message"].as_str().unwrap_or("error")) }]
            }
            _ => vec![],
        }
    }

    fn gemini(&mut self, value: &Value) -> Vec<RunEvent> {
        match value["type"].as_str() {
            Some("init") => {
                self.model = value["model"].as_str().map(str::to_owned);
                vec![]
            }
            Some("message") if value["role"] == "assistant" => {
                let content = value["content"].as_str().unwrap_or("");
                if value["delta"] == true {
                    self.message.push_str(content);
                } else {
                    self.message = content.to_owned();
                }
                vec![]
            }
            Some("tool_use") => {
                let text = self.flush_message();
                let name = value["tool_name"].as_str().unwrap_or("a tool");
                text.into_iter().chain([RunEvent::Progress { text: tool_line(name, &value["parameters"]) }]).collect()
            }
            Some("result") => {
                let mut events: Vec<RunEvent> = Vec::new();
                let message = std::mem::take(&mut self.message).trim().to_owned();
                let stats = &value["stats"];
                events.push(RunEvent::Usage {
                    model: self.model.clone().unwrap_or_else(|| "gemini".to_owned()),
                    input_tokens: stats["input_tokens"].as_u64().unwrap_or(0),
                    output_tokens: stats["output_tokens"].as_u64().unwrap_or(0),
                    cost_usd: None,
                });
                if value["status"] == "success" && !message.is_empty() {
                    events.push(RunEvent::Result { text: message });
                } else if value["status"] != "success" {
                    let error = value["error"]["message"].as_str().unwrap_or("the run failed");
                    events.push(RunEvent::Progress { text: format!("Gemini CLI stopped: {error}") });
                }
                events
            }
            _ => vec![],
        }
    }

    /// Gemini's streamed answer so far, as progress, once a tool call ends it.
    fn flush_message(&mut self) -> Option<RunEvent> {
        let message = std::mem::take(&mut self.message);
        let text = message.trim();
        (!text.is_empty()).then(|| {
            self.last_message = Some(text.to_owned());
            RunEvent::Progress { text: first_line(text) }
        })
    }
}

/// One progress line for a tool call: its name and its most telling argument.
fn tool_line(name: &str, input: &Value) -> String {
    let detail = ["command", "pattern", "file_path", "path", "url", "description"]
        .iter()
        .find_map(|key| input[key].as_str())
        .map(|detail| format!(": {}", first_line(detail)))
        .unwrap_or_default();
    format!("{name}{detail}")
}

/// A text's first line, at most 200 characters: one progress line.
pub(crate) fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(format: OutputFormat, stream: &str) -> (Vec<RunEvent>, Option<String>) {
        let mut reader = OutputReader::new(format);
        let events = stream.lines().flat_map(|line| reader.read(line)).collect();
        (events, reader.last_message().map(str::to_owned))
    }

    #[test]
    fn claude_code_stream_json_becomes_objectives_progress_usage_and_a_result() {
        let (events, _) = read_all(OutputFormat::ClaudeStreamJson, include_str!("../tests/streams/claude-code.jsonl"));
        insta::assert_debug_snapshot!(events);
    }

    #[test]
    fn a_claude_code_error_result_is_not_a_result() {
        let line = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":30,"usage":{"input_tokens":10,"output_tokens":2},"total_cost_usd":0.5}"#;
        let (events, _) = read_all(OutputFormat::ClaudeStreamJson, line);
        assert!(!events.iter().any(RunEvent::is_terminal), "{events:?}");
        assert!(matches!(&events[0], RunEvent::Usage { cost_usd: Some(cost), .. } if *cost == 0.5));
    }

    #[test]
    fn codex_exec_json_becomes_objectives_progress_and_usage_and_its_last_message_is_the_answer() {
        let (events, last) = read_all(OutputFormat::CodexJson, include_str!("../tests/streams/codex.jsonl"));
        insta::assert_debug_snapshot!(events);
        assert_eq!(last.as_deref(), Some("Fixed: expired coupons are now rejected with a clear message. Tests pass."));
    }

    #[test]
    fn gemini_stream_json_gathers_deltas_into_the_result() {
        let (events, _) = read_all(OutputFormat::GeminiStreamJson, include_str!("../tests/streams/gemini.jsonl"));
        insta::assert_debug_snapshot!(events);
    }

    #[test]
    fn presets_point_each_cli_at_the_office_proxy() {
        let table: Vec<String> = Preset::ALL
            .iter()
            .map(|preset| {
                let upstream = preset.default_upstream().unwrap_or("-");
                format!(
                    "{}: {:?} env {:?} output {:?}",
                    preset.name(),
                    preset.command(Some("the-model")),
                    preset.env(Some("the-model"), upstream),
                    preset.output()
                )
            })
            .collect();
        insta::assert_debug_snapshot!(table);
    }

    #[test]
    fn unknown_event_types_and_stray_text_never_fail_a_run() {
        let (events, _) = read_all(OutputFormat::CodexJson, "{\"type\":\"brand.new\"}\nnot json at all");
        assert_eq!(events, vec![RunEvent::Progress { text: "not json at all".into() }]);
    }
}
