//! Test support shared by every crate's tests: a fresh database per test (SQLite in a
//! temporary directory, or a new database on the Postgres server named by
//! `NOVA_TEST_POSTGRES_URL`). Stand-ins for Slack, Discord, models and GCE join here.

pub mod discord;
pub mod galaxy;
pub mod gce;
pub mod gcs;
pub mod git_http;
pub mod github;
pub mod openai;
pub mod slack;

use anyhow::Context as _;
use sea_orm::{ConnectionTrait, Database};

/// Which backend the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// For Postgres: the server URL and the database to drop afterwards.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Postgres when `NOVA_TEST_POSTGRES_URL` is set, SQLite otherwise.
    pub async fn new() -> anyhow::Result<Self> {
        match std::env::var("NOVA_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Self::postgres(&url).await,
            _ => Self::sqlite(),
        }
    }

    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("nova.db").display());
        Ok(Self { url, backend: Backend::Sqlite, postgres: None, _dir: Some(dir) })
    }

    /// Creates `nova_test_<random>` on the server `server_url` points at.
    pub async fn postgres(server_url: &str) -> anyhow::Result<Self> {
        let name = format!("nova_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            Database::connect(server_url).await.with_context(|| format!("cannot reach Postgres at {server_url}"))?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
        admin.close().await?;
        let url = match server_url.rsplit_once('/') {
            Some((base, _)) if base.contains("://") && base.len() > "postgres://".len() => {
                format!("{base}/{name}")
            }
            _ => format!("{}/{name}", server_url.trim_end_matches('/')),
        };
        Ok(Self { url, backend: Backend::Postgres, postgres: Some((server_url.to_owned(), name)), _dir: None })
    }

    /// Drops a Postgres test database (SQLite files go with their directory).
    pub async fn cleanup(self) -> anyhow::Result<()> {
        if let Some((server, name)) = &self.postgres {
            let admin = Database::connect(server.as_str()).await?;
            admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// Stand-ins answer at once, like the real services: without `TCP_NODELAY`, small
/// writes wait for the peer's delayed ACK (about 40 ms on Linux).
pub(crate) fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Guards every wait on a stand-in: a test that waits longer has failed.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until `check` finds something, re-checking after every change a stand-in
/// signals on `changed`; panics after [`PATIENCE`].
pub(crate) async fn wait_until<T>(
    mut changed: tokio::sync::watch::Receiver<u64>,
    what: &str,
    check: impl Fn() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check() {
            return found;
        }
        if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
            panic!("timed out waiting for {what}");
        }
    }
}
