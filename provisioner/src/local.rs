//! The `local` compute backend: each office is a nova-office process on this machine
//! with its own workspace directory. It plays the part a VM plays on GCE: started on
//! wake, stopped after its workspace is snapshotted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::protocol::LISTENING_PREFIX;

/// What a started office needs to know.
#[derive(Debug, Clone)]
pub struct StartSpec {
    pub office: String,
    pub generation: i64,
    /// Where the office posts its events.
    pub nova_url: String,
    /// The office's credential for Nova's API; passed in the environment, never argv.
    pub token: String,
}

pub struct LocalBackend {
    root: PathBuf,
    /// The program (and leading arguments) that runs the office daemon, e.g.
    /// `["/usr/bin/nova", "office"]` or `["/usr/bin/nova-office"]`.
    program: Vec<String>,
    children: Mutex<HashMap<String, Child>>,
}

impl LocalBackend {
    pub fn new(root: PathBuf, program: Vec<String>) -> Self {
        Self { root, program, children: Mutex::new(HashMap::new()) }
    }

    pub fn workspace(&self, office: &str) -> PathBuf {
        self.root.join(office).join("workspace")
    }

    /// Starts the office process and returns the URL it listens on.
    pub async fn start(&self, spec: &StartSpec, startup_timeout: Duration) -> anyhow::Result<String> {
        let workspace = self.workspace(&spec.office);
        std::fs::create_dir_all(&workspace).with_context(|| format!("cannot create {}", workspace.display()))?;
        let (program, leading) = self.program.split_first().context("no office program configured")?;
        let mut command = Command::new(program);
        command
            .args(leading)
            .arg("serve")
            .arg("--office")
            .arg(&spec.office)
            .arg("--generation")
            .arg(spec.generation.to_string())
            .arg("--workspace")
            .arg(&workspace)
            .arg("--nova-url")
            .arg(&spec.nova_url)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--exit-with-stdin")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NOVA_OFFICE_TOKEN", &spec.token)
            .env("RUST_LOG", std::env::var("NOVA_OFFICE_LOG").unwrap_or_else(|_| "info".to_owned()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("cannot start office program {program}"))?;
        let stdout = child.stdout.take().context("office stdout not captured")?;
        let stderr = child.stderr.take().context("office stderr not captured")?;
        let office = spec.office.clone();
        tokio::spawn(forward_lines(stderr, office.clone()));

        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(startup_timeout, lines.next_line()).await;
        let address = match first {
            Ok(Ok(Some(line))) => match line.strip_prefix(LISTENING_PREFIX) {
                Some(address) => address.trim().to_owned(),
                None => bail!("office printed {line:?} instead of its address"),
            },
            Ok(Ok(None)) => {
                let status = child.wait().await?;
                bail!("office process exited during start-up ({status})")
            }
            Ok(Err(e)) => return Err(e).context("cannot read office stdout"),
            Err(_) => bail!("office did not report its address within {startup_timeout:?}"),
        };
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(office = %office, "{line}");
            }
        });
        if let Some(mut old) = self.children.lock().await.insert(spec.office.clone(), child) {
            let _ = old.kill().await;
        }
        Ok(format!("http://{address}"))
    }

    /// Stops the office process: closing its stdin asks it to exit; it is killed if it
    /// has not after `grace`.
    pub async fn stop(&self, office: &str, grace: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.children.lock().await.remove(office) else {
            return Ok(());
        };
        drop(child.stdin.take());
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            child.kill().await.context("cannot kill office process")?;
        }
        Ok(())
    }

    /// Whether this backend has a live process for the office.
    pub async fn is_running(&self, office: &str) -> bool {
        match self.children.lock().await.get_mut(office) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// How many office processes this backend has started and not yet stopped.
    pub async fn running(&self) -> usize {
        let mut children = self.children.lock().await;
        children.retain(|_, c| matches!(c.try_wait(), Ok(None)));
        children.len()
    }
}

async fn forward_lines(stream: impl tokio::io::AsyncRead + Unpin, office: String) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(office = %office, "{line}");
    }
}
