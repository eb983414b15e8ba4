//! SQL for offices (the `database` skill): an office sends a query for one of the
//! workspace's `[[databases]]`, and Nova runs it with the password from the vault, so
//! the office never connects or sees the password. A query runs in a read-only
//! transaction (Postgres) or on a query-only connection (SQLite), whatever the office
//! says it is; a write runs only once a person approved that exact statement for that
//! run, and only once. Every query is audited with its text and row count.

use futures::StreamExt as _;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait as _};
use serde_json::Value;

use super::*;
use crate::config::Database;
use crate::store::approvals;

/// The most rows a query answers with: enough to read, small enough for a model.
pub const MAX_ROWS: usize = 200;

/// How long one query may run.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// The approval kind a write waits for.
pub const WRITE_APPROVAL: &str = "database_write";

#[derive(Debug, Clone, Deserialize)]
pub struct SqlAsk {
    pub database: String,
    pub query: String,
}

/// What a query answered: its columns and rows (at most [`MAX_ROWS`]), or for a write,
/// the rows it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlAnswer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// More rows than [`MAX_ROWS`] matched.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
}

/// Why a query did not run. Callers branch on it (HTTP statuses).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlRefusal {
    #[error("{0}")]
    BadKey(KeyError),
    #[error("run `{0}` is not running in this office")]
    UnknownRun(String),
    #[error("no database `{name}` (databases: {known})")]
    NoDatabase { name: String, known: String },
    #[error("{office} may not query `{database}`")]
    NotYours { office: String, database: String },
    #[error("{0}")]
    Invalid(String),
    /// The statement writes: a person must approve it first, asked with exactly this
    /// approval (kind [`WRITE_APPROVAL`], this action, the statement as details).
    #[error(
        "this statement writes to `{database}`: ask a person to approve it (kind `{WRITE_APPROVAL}`, action \"{action}\") and send it again"
    )]
    NeedsApproval { database: String, action: String },
    #[error("the approval of this write was {0}")]
    NotApproved(ApprovalState),
    #[error("this approved write has run once already; a new one needs a new approval")]
    AlreadyRun,
    /// The database refused or failed the query: its own message.
    #[error("{0}")]
    Failed(String),
}

/// Whether a statement only reads, by its first word. Only decides whether a write's
/// approval is needed: a read runs in a read-only transaction, so a write that reads
/// like a read (`WITH … INSERT`) is refused by the database itself.
pub fn reads_only(query: &str) -> bool {
    let first = query.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or_default();
    ["select", "with", "explain", "show", "values", "table"].contains(&first.to_ascii_lowercase().as_str())
}

/// The approval's action for a write: short enough for a card, the statement in its
/// details.
pub fn write_action(database: &str, query: &str) -> String {
    let line = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = line.chars().take(120).collect();
    let ellipsis = if short.len() < line.len() { "…" } else { "" };
    format!("write to the `{database}` database: {short}{ellipsis}")
}

/// One statement, without a trailing `;`: a second statement is refused before the
/// database sees it (SQLite would run it).
fn one_statement(query: &str) -> Result<&str, SqlRefusal> {
    let query = query.trim().trim_end_matches(';').trim_end();
    if query.is_empty() {
        return Err(SqlRefusal::Invalid("the query is empty".to_owned()));
    }
    let (mut quote, mut outside) = (None::<char>, true);
    for c in query.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, ';') => outside = false,
            _ => {}
        }
    }
    if outside { Ok(query) } else { Err(SqlRefusal::Invalid("one statement at a time".to_owned())) }
}

impl From<RunRefusal> for SqlRefusal {
    fn from(refusal: RunRefusal) -> Self {
        match refusal {
            RunRefusal::BadKey(error) => Self::BadKey(error),
            RunRefusal::UnknownRun(run) => Self::UnknownRun(run),
        }
    }
}

impl Engine {
    /// Runs an office's query, for the run it is in: the rows, or why not.
    pub async fn office_sql(
        &self,
        token: &str,
        run_id: &str,
        ask: SqlAsk,
    ) -> anyhow::Result<Result<SqlAnswer, SqlRefusal>> {
        let (office, _) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let config = self.config();
        let Some(database) = config.databases.iter().find(|d| d.name == ask.database) else {
            let known = config.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ");
            return Ok(Err(SqlRefusal::NoDatabase { name: ask.database, known }));
        };
        if !(database.offices.is_empty() || database.offices.contains(&office.name)) {
            return Ok(Err(SqlRefusal::NotYours { office: office.name, database: database.name.clone() }));
        }
        let query = match one_statement(&ask.query) {
            Ok(query) => query,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let approval = if reads_only(query) {
            None
        } else {
            match self.approved_write(run_id, &database.name, query).await? {
                Ok(approval) => Some(approval),
                Err(refusal) => return Ok(Err(refusal)),
            }
        };
        let outcome = match self.run_sql(&office.name, database, query, approval.is_none()).await {
            Ok(answer) => Ok(answer),
            Err(error) => Err(SqlRefusal::Failed(format!("{error:#}"))),
        };
        let mut details = serde_json::json!({"database": database.name, "query": query});
        match &outcome {
            Ok(answer) => {
                details["rows"] = serde_json::json!(answer.rows_affected.unwrap_or(answer.rows.len() as u64));
                details["truncated"] = serde_json::json!(answer.truncated);
            }
            Err(refusal) => details["failed"] = serde_json::json!(refusal.to_string()),
        }
        let action = match &approval {
            Some(approval) => {
                details["approval"] = serde_json::json!(approval.id);
                details["approved_by"] = serde_json::json!(approval.decided_by);
                "database_write"
            }
            None => "database_query",
        };
        self.record(&office.name, &office.name, Some(run_id), action, details).await;
        Ok(outcome)
    }

    /// The person's approval of exactly this write in this run, not used before.
    async fn approved_write(
        &self,
        run_id: &str,
        database: &str,
        query: &str,
    ) -> anyhow::Result<Result<approvals::Model, SqlRefusal>> {
        let action = write_action(database, query);
        let Some(approval) = self.store.earlier_approval(run_id, WRITE_APPROVAL, &action).await? else {
            return Ok(Err(SqlRefusal::NeedsApproval { database: database.to_owned(), action }));
        };
        if approval.details.trim() != query {
            return Ok(Err(SqlRefusal::NeedsApproval { database: database.to_owned(), action }));
        }
        if approval.state != ApprovalState::Approved {
            return Ok(Err(SqlRefusal::NotApproved(approval.state)));
        }
        let filter = store::AuditFilter { run_id: Some(run_id.to_owned()), ..Default::default() };
        let used = self.store.audit_trail(&filter).await?.iter().any(|row| {
            row.action == "database_write"
                && serde_json::from_str::<Value>(&row.details).is_ok_and(|d| d["approval"] == approval.id.as_str())
        });
        Ok(if used { Err(SqlRefusal::AlreadyRun) } else { Ok(approval) })
    }

    /// Connects with the password from the vault and runs `query`: read-only unless it
    /// is an approved write.
    async fn run_sql(
        &self,
        office: &str,
        database: &Database,
        query: &str,
        read_only: bool,
    ) -> anyhow::Result<SqlAnswer> {
        let mut url = database.url.clone();
        if let Some(secret) = &database.secret {
            let password = self
                .resolve(office, secret)
                .await?
                .with_context(|| format!("the vault has no `{secret}`, the password of `{}`", database.name))?;
            url = with_password(&url, password.expose())?;
        }
        let mut options = ConnectOptions::new(url);
        options.max_connections(1).min_connections(0).connect_timeout(Duration::from_secs(5)).sqlx_logging(false);
        let connection = sea_orm::Database::connect(options).await.map_err(|error| {
            anyhow::anyhow!("cannot connect to `{}`: {}", database.name, without_secrets(&error.to_string()))
        })?;
        let answer =
            tokio::time::timeout(QUERY_TIMEOUT, query_on(&connection, query, read_only)).await.unwrap_or_else(|_| {
                Err(anyhow::anyhow!("the query ran past {} s and was stopped", QUERY_TIMEOUT.as_secs()))
            });
        let _ = connection.close().await;
        answer
    }
}

async fn query_on(connection: &DatabaseConnection, query: &str, read_only: bool) -> anyhow::Result<SqlAnswer> {
    let backend = connection.get_database_backend();
    let statement = Statement::from_string(backend, query.to_owned());
    if !read_only {
        let transaction = connection.begin().await?;
        let result = transaction.execute_raw(statement).await?;
        transaction.commit().await?;
        return Ok(SqlAnswer {
            columns: vec![],
            rows: vec![],
            truncated: false,
            rows_affected: Some(result.rows_affected()),
        });
    }
    match backend {
        DbBackend::Sqlite => {
            connection.execute_unprepared("PRAGMA query_only = ON").await?;
            read(connection, statement).await
        }
        _ => {
            let transaction = connection.begin().await?;
            transaction.execute_unprepared("SET TRANSACTION READ ONLY").await?;
            let timeout = format!("SET LOCAL statement_timeout = {}", QUERY_TIMEOUT.as_millis());
            transaction.execute_unprepared(&timeout).await?;
            let answer = read(&transaction, statement).await;
            transaction.rollback().await?;
            answer
        }
    }
}

/// The first [`MAX_ROWS`] rows of `statement`, streamed so a huge result is not loaded.
async fn read(connection: &impl sea_orm::StreamTrait, statement: Statement) -> anyhow::Result<SqlAnswer> {
    let stream = connection.stream_raw(statement).await?;
    let mut stream = std::pin::pin!(stream);
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    let mut truncated = false;
    while let Some(row) = stream.next().await {
        let row = row?;
        if rows.len() == MAX_ROWS {
            truncated = true;
            break;
        }
        if columns.is_empty() {
            columns = row.column_names();
        }
        rows.push((0..columns.len()).map(|index| value_at(&row, index)).collect());
    }
    Ok(SqlAnswer { columns, rows, truncated, rows_affected: None })
}

/// A column's value as JSON, trying the types a database returns; a type Nova cannot
/// show says so (cast it to text in the query).
fn value_at(row: &sea_orm::QueryResult, index: usize) -> Value {
    macro_rules! try_as {
        ($($kind:ty),*) => {$(
            if let Ok(value) = row.try_get_by_index::<Option<$kind>>(index) {
                return serde_json::to_value(value).unwrap_or(Value::Null);
            }
        )*};
    }
    try_as!(
        i64,
        i32,
        i16,
        f64,
        f32,
        bool,
        String,
        Value,
        chrono::DateTime<chrono::Utc>,
        chrono::NaiveDateTime,
        chrono::NaiveDate,
        uuid::Uuid,
        Vec<u8>
    );
    Value::String("(a value of a type Nova cannot show: cast it to text)".to_owned())
}

/// `url` with `password` in it (percent-encoded).
fn with_password(url: &str, password: &str) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).context("the database url is not a URL")?;
    parsed.set_password(Some(password)).map_err(|()| anyhow::anyhow!("the database url cannot take a password"))?;
    Ok(parsed.to_string())
}

/// A connection error without a URL's password in it.
fn without_secrets(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(scheme), Some(at)) if scheme < at => format!("{}://…{}", &message[..scheme], &message[at..]),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_read_or_write_by_its_first_word_and_runs_alone() {
        assert!(reads_only("  select * from orders"));
        assert!(reads_only("WITH t AS (SELECT 1) SELECT * FROM t"));
        assert!(!reads_only("update orders set paid = true"));
        assert!(!reads_only("DELETE FROM orders"));
        assert_eq!(one_statement("select 1;  "), Ok("select 1"));
        assert_eq!(one_statement("select ';' as semi"), Ok("select ';' as semi"));
        assert_eq!(
            one_statement("select 1; drop table orders"),
            Err(SqlRefusal::Invalid("one statement at a time".into()))
        );
        assert_eq!(one_statement(" ; "), Err(SqlRefusal::Invalid("the query is empty".into())));
    }

    #[test]
    fn a_write_s_approval_names_the_database_and_the_statement() {
        assert_eq!(
            write_action("shop", "UPDATE orders\n   SET paid = true\n WHERE id = 7"),
            "write to the `shop` database: UPDATE orders SET paid = true WHERE id = 7"
        );
        assert!(write_action("shop", &"x".repeat(300)).ends_with("x…"));
        assert_eq!(with_password("postgres://app@db:5432/shop", "p@ss").unwrap(), "postgres://app:p%40ss@db:5432/shop");
        assert_eq!(
            without_secrets("error connecting to postgres://app:pw@db/shop"),
            "error connecting to postgres://…@db/shop"
        );
    }
}
