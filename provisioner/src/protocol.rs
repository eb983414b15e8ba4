//! What Nova and an office say to each other over HTTP, and the JSON-lines protocol an
//! agent runtime speaks on stdout.

use serde::{Deserialize, Serialize};

/// One event of a run, from the runtime through nova-office to Nova.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunEvent {
    /// nova-office started the runtime.
    Started,
    Progress {
        text: String,
    },
    /// The run's checklist, replaced as a whole each time.
    Objectives {
        items: Vec<Objective>,
    },
    Result {
        text: String,
    },
    Failed {
        error: String,
    },
    /// What a model call cost: reported by the runtime after each call (or once per
    /// run), recorded with the run id and summed per run.
    Usage {
        model: String,
        #[serde(default)]
        input_tokens: u64,
        #[serde(default)]
        output_tokens: u64,
        /// In US dollars, where the runtime knows the price.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// Someone stopped the run: nova-office ended the runtime's process group.
    Stopped {
        by: String,
    },
}

impl RunEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Result { .. } | Self::Failed { .. } | Self::Stopped { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub text: String,
    #[serde(default)]
    pub done: bool,
}

/// A line of runtime stdout: a JSON event (`progress`, `objectives`, `result`), or
/// plain text, which counts as progress. `None` for blank lines.
pub fn parse_runtime_line(line: &str) -> Option<RunEvent> {
    let line = line.trim_end();
    if line.trim().is_empty() {
        return None;
    }
    if line.trim_start().starts_with('{')
        && let Ok(event) = serde_json::from_str::<RunEvent>(line)
        && !matches!(event, RunEvent::Started | RunEvent::Failed { .. } | RunEvent::Stopped { .. })
    {
        return Some(event);
    }
    Some(RunEvent::Progress { text: line.to_owned() })
}

/// What nova-office posts to Nova for each event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub office: String,
    pub generation: i64,
    pub run_id: String,
    /// 0, 1, 2… per run, so Nova can drop a redelivered event.
    pub seq: u64,
    pub event: RunEvent,
}

/// Nova → office: run this prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub run_id: String,
    pub prompt: String,
    pub author: String,
    pub thread_id: String,
    /// A short, path-safe name for the thread's session: the branch is `nova/{session}`
    /// and the built-in agent keeps the session's conversation under it.
    #[serde(default)]
    pub session: String,
    /// The repo the thread is about, if it has one.
    #[serde(default)]
    pub repo: Option<RepoContext>,
    /// The thread so far, oldest first, ending with this prompt: people, Nova and
    /// offices, each with its author. Earlier results of the session are in it.
    #[serde(default)]
    pub transcript: Vec<TranscriptEntry>,
    pub runtime: RuntimeSpec,
}

/// The repo a run works on: nova-office clones or fetches it into
/// `repos/{name}` and checks out the session's branch before the runtime starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoContext {
    pub name: String,
    /// Where to clone from; `None`: the repo has no url in nova.toml (the run goes
    /// on without a checkout, and says so).
    pub url: Option<String>,
    pub default_branch: String,
    /// The upstream (see [`Upstream`]) git goes through, so its credential is
    /// injected by the office's proxy and never enters the runtime or `.git/config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// Nova → office: stop this run (`POST /runs/{run_id}/stop`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// Who stopped it, as the thread shows them.
    pub by: String,
}

/// Who said what in the thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptEntry {
    pub author: String,
    pub role: Speaker,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Person,
    Nova,
    Office,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeSpec {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    pub timeout_secs: u64,
    #[serde(default)]
    pub sandbox: crate::sandbox::SandboxSpec,
    /// How to read the runtime's stdout: Nova's JSON lines, or an agent CLI's own stream.
    #[serde(default)]
    pub output: crate::presets::OutputFormat,
    /// How many sessions the office runs at once (a session's own runs are always one
    /// after another). Above 1, each session works in a git worktree of its own.
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn one() -> u32 {
    1
}

/// Nova → office on every wake: files rendered from live config (SOUL.md, AGENTS.md)
/// and the upstreams its secrets proxy may reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextFiles {
    pub files: Vec<ContextFile>,
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
}

/// A service the office's secrets proxy forwards to, injecting a credential:
/// `http://127.0.0.1:PORT/proxy/{name}/…` → `{url}/…` with `{header}: {value}`, where
/// `{secret}` in `value` is the vault secret `secret` (office → workspace → platform).
/// Without `secret` (a model server on the office's own network that takes no key),
/// the proxy forwards without a credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub name: String,
    pub url: String,
    #[serde(default = "authorization")]
    pub header: String,
    #[serde(default = "bearer")]
    pub value: String,
    #[serde(default)]
    pub secret: Option<String>,
}

fn authorization() -> String {
    "Authorization".to_owned()
}

fn bearer() -> String {
    "Bearer {secret}".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextFile {
    /// Relative to the workspace; `..` and absolute paths are refused.
    pub path: String,
    pub content: String,
}

/// What `/healthz` answers. A pool VM's daemon that no office has been assigned to
/// yet answers with an empty `office` and generation 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub office: String,
    pub generation: i64,
    pub version: String,
}

/// Nova → the daemon of a pool VM (`nova office pool`): become this office's
/// generation. Nova then pushes the workspace's snapshot (`/restore`) and, at sleep,
/// takes a new one (`/snapshot`): the VM itself holds no storage credential. No
/// `Debug`: it carries the office's token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub office: String,
    pub generation: i64,
    /// Where the office posts its events.
    pub nova_url: String,
    /// The office's credential for Nova's API, and Nova's for this daemon from now on.
    pub token: String,
    /// The zstd level of the archive `/snapshot` answers with.
    pub compression: i32,
}

/// On the archive a pool VM's `/snapshot` answers with: what it holds, uncompressed.
pub const SNAPSHOT_SOURCE_BYTES_HEADER: &str = "x-nova-source-bytes";
/// On the archive a pool VM's `/snapshot` answers with: how many files it holds.
pub const SNAPSHOT_FILES_HEADER: &str = "x-nova-files";

/// The instance metadata key of the token that lets Nova assign a pool VM to an office.
/// Nova sets it when it creates the VM; the VM's startup script hands it to the daemon
/// as `NOVA_ASSIGN_TOKEN`.
pub const ASSIGN_TOKEN_METADATA: &str = "nova-assign-token";

/// The line a local office prints first on stdout, with the address it listens on.
pub const LISTENING_PREFIX: &str = "NOVA_OFFICE_LISTENING ";

/// Compares two secrets in constant time: as long whatever their first difference.
pub fn secrets_match(given: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    given.ct_eq(expected).into()
}

/// The header that carries the run id on every office → Nova call.
pub const RUN_ID_HEADER: &str = "x-nova-run-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_become_events() {
        assert_eq!(
            parse_runtime_line(r#"{"type":"result","text":"done"}"#),
            Some(RunEvent::Result { text: "done".into() })
        );
        assert_eq!(
            parse_runtime_line(r#"{"type":"objectives","items":[{"text":"read","done":true},{"text":"write"}]}"#),
            Some(RunEvent::Objectives {
                items: vec![
                    Objective { text: "read".into(), done: true },
                    Objective { text: "write".into(), done: false }
                ]
            })
        );
    }

    #[test]
    fn plain_text_and_unknown_json_are_progress() {
        assert_eq!(parse_runtime_line("compiling…"), Some(RunEvent::Progress { text: "compiling…".into() }));
        assert_eq!(
            parse_runtime_line(r#"{"level":"info"}"#),
            Some(RunEvent::Progress { text: r#"{"level":"info"}"#.into() })
        );
        assert_eq!(parse_runtime_line("   "), None);
    }

    #[test]
    fn a_runtime_cannot_forge_nova_office_events() {
        assert_eq!(
            parse_runtime_line(r#"{"type":"failed","error":"x"}"#),
            Some(RunEvent::Progress { text: r#"{"type":"failed","error":"x"}"#.into() })
        );
    }
}
