//! Every text Nova shows a person, and the cards. Pure functions, snapshot-tested, so a
//! wording change is a reviewed diff.

use provisioner::protocol::Objective;
use serde::{Deserialize, Serialize};

use crate::config::Office;
use crate::router::{RepoChoice, Route};
use crate::store::{ApprovalState, CredentialState, ReviewState};

/// A card: a message with structured content that surfaces render with buttons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Card {
    /// "Which office should take this?" with one button per likely office.
    Picker { options: Vec<PickOption>, resolved: Option<Resolution> },
    /// The live view of a run, edited in place.
    Progress { office: String, status: RunStatus, objectives: Vec<Objective>, lines: Vec<String> },
    /// An office asking before it acts; Approve / Reject until decided or expired.
    Approval {
        id: String,
        office: String,
        kind: String,
        action: String,
        details: String,
        risk: String,
        /// Empty: anyone but the requester.
        approvers: Vec<String>,
        expires_at: i64,
        state: ApprovalState,
        decided_by: Option<String>,
        decided_at: Option<i64>,
        /// The clock its times are shown on: the workspace's (a tz database name); none,
        /// as on cards made before there was one: UTC.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
    /// An office asking for a credential; "Provide" opens a private form.
    Credential {
        id: String,
        office: String,
        name: String,
        why: String,
        state: CredentialState,
        provided_by: Option<String>,
    },
    /// An office's change under review, edited in place as revisions and decisions come.
    Review(Box<ReviewCard>),
}

/// What a review card shows: the change as Nova computed it from the repo, the tests
/// the office ran, and where the review stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewCard {
    pub id: i64,
    pub office: String,
    pub repo: String,
    pub branch: String,
    pub base: String,
    pub revision: i32,
    pub summary: String,
    pub files: Vec<FileStat>,
    /// The first lines of the diff (the whole diff is in the console).
    pub excerpt: String,
    pub tests: Vec<TestRun>,
    /// The files that changed since the previous revision.
    pub since_last: Option<Vec<String>>,
    pub state: crate::store::ReviewState,
    pub approved_by: Vec<String>,
    pub changes_requested_by: Vec<String>,
    pub comments: Vec<ReviewComment>,
    pub needed: u32,
    /// Who may approve (empty: anyone but the requester).
    pub approvers: Vec<String>,
    pub outcome: Option<String>,
    /// Its pull request on the code host (`owner/name#12`), where there is one.
    #[serde(default)]
    pub pull_request: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub path: String,
    pub added: u32,
    pub removed: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub command: String,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewComment {
    pub author: String,
    pub body: String,
    /// `path:line`, for a line comment.
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickOption {
    pub office: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub by: String,
    pub choice: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Working,
    Done,
    Failed,
    Stopped,
}

/// How many progress lines a progress card keeps.
pub const PROGRESS_LINES: usize = 5;

impl Card {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("cards serialize")
    }

    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    pub fn picker(offices: &[&Office]) -> Self {
        Card::Picker {
            options: offices.iter().map(|o| PickOption { office: o.name.clone(), role: o.role.clone() }).collect(),
            resolved: None,
        }
    }

    /// The text a surface without rich rendering shows for this card.
    pub fn fallback_text(&self) -> String {
        match self {
            Card::Picker { resolved: None, .. } => picker_question(),
            Card::Picker { resolved: Some(r), .. } => picked(&r.by, &r.choice),
            Card::Progress { office, status, objectives, lines } => progress(office, *status, objectives, lines),
            Card::Approval {
                office,
                kind,
                action,
                details,
                risk,
                approvers,
                expires_at,
                state,
                decided_by,
                decided_at,
                time_zone,
                ..
            } => {
                let by = decided_by.as_deref().unwrap_or("someone");
                let zone = time_zone.as_deref();
                let at = decided_at.map(|at| clock(at, zone)).unwrap_or_default();
                match state {
                    ApprovalState::Approved => {
                        format!("Approved by {by} at {at}: **{action}** (asked by **{office}**).")
                    }
                    ApprovalState::Rejected => {
                        format!("Rejected by {by} at {at}: **{action}** (asked by **{office}**).")
                    }
                    ApprovalState::Expired => format!(
                        "Expired at {} without a decision: **{action}** (asked by **{office}**).",
                        clock(*expires_at, zone)
                    ),
                    ApprovalState::Pending => {
                        let who = if approvers.is_empty() {
                            "anyone but the requester".to_owned()
                        } else {
                            approvers.join(", ")
                        };
                        let details =
                            if details.trim().is_empty() { String::new() } else { format!("\n> {}", details.trim()) };
                        format!(
                            "**{office}** asks for approval to **{action}** ({kind}, risk: {risk}).{details}\nWho may decide: {who}. Expires at {}.",
                            clock(*expires_at, zone)
                        )
                    }
                }
            }
            Card::Credential { office, name, why, state, provided_by, .. } => match state {
                CredentialState::Provided => format!(
                    "**{name}** was provided by {} and stored in the vault; **{office}** can use it now.",
                    provided_by.as_deref().unwrap_or("someone")
                ),
                CredentialState::Expired => {
                    format!("Nobody provided **{name}** in time; **{office}** has to ask again.")
                }
                CredentialState::Pending => format!(
                    "**{office}** needs the credential **{name}**: {why}\nIt goes straight into the vault: nobody in this thread sees it, and neither does the office."
                ),
            },
            Card::Review(review) => review_text(review),
        }
    }
}

/// What goes back to the office when a reviewer asks for changes: every comment on the
/// revision, and what to do next. Addressed to the office, so it reaches it in its session.
pub fn changes_requested_prompt(review: i64, revision: i32, office: &str, comments: &[ReviewComment]) -> String {
    let mut text = format!(
        "@{office} changes requested on review #{review} (revision {revision}). Address every comment, commit, push \
         the branch and report the change again (`submit_change`) for the next revision:\n"
    );
    for comment in comments {
        let at = comment.at.as_deref().map(|at| format!(" on `{at}`")).unwrap_or_default();
        text.push_str(&format!("- {}{at}: {}\n", comment.author, comment.body));
    }
    text.trim_end().to_owned()
}

/// What a reviewer office is asked: the change, its whole diff (up to a size a model
/// reads), and how to decide.
pub fn review_request_prompt(reviewer: &str, card: &ReviewCard, diff: &str) -> String {
    const MAX_DIFF_CHARS: usize = 30_000;
    let diff = match diff.char_indices().nth(MAX_DIFF_CHARS) {
        Some((cut, _)) => format!("{}\n… (the rest is in the console)", &diff[..cut]),
        None => diff.to_owned(),
    };
    format!(
        "@{reviewer} please review #{id} (revision {revision}): **{office}**'s change to `{repo}` (`{branch}` into \
         `{base}`).\n{summary}\nTests: {tests}\n\n```diff\n{diff}\n```\n\nDecide with `review_decision` (review {id}): \
         `approve`, or `request_changes` with what should change (on a line: `path:line`). Judge the diff, not the summary.",
        id = card.id,
        revision = card.revision,
        office = card.office,
        repo = card.repo,
        branch = card.branch,
        base = card.base,
        summary = card.summary.trim(),
        tests = tests_line(&card.tests),
        diff = diff.trim_end()
    )
}

/// The tests an office says it ran, with their outcome, on one line.
fn tests_line(tests: &[TestRun]) -> String {
    let tests: Vec<String> =
        tests.iter().map(|t| format!("{} `{}`", if t.passed { "passed" } else { "FAILED" }, t.command)).collect();
    if tests.is_empty() { "none reported".to_owned() } else { tests.join(" · ") }
}

/// A review card's text: the change, its tests, its diff's first lines, and where the
/// review stands (who approved, who asked for changes, what is still needed).
pub fn review_text(r: &ReviewCard) -> String {
    let mut text = format!(
        "**Review #{}** of **{}**'s change to `{}` (`{}` into `{}`), revision {}\n{}\n",
        r.id,
        r.office,
        r.repo,
        r.branch,
        r.base,
        r.revision,
        r.summary.trim()
    );
    let files: Vec<String> = r.files.iter().map(|f| format!("`{}` +{} −{}", f.path, f.added, f.removed)).collect();
    text.push_str(&format!("Files: {}\n", if files.is_empty() { "none".to_owned() } else { files.join(" · ") }));
    if let Some(changed) = &r.since_last {
        let changed: Vec<String> = changed.iter().map(|path| format!("`{path}`")).collect();
        let changed = if changed.is_empty() { "nothing".to_owned() } else { changed.join(", ") };
        text.push_str(&format!("Since revision {}: {changed}\n", r.revision - 1));
    }
    text.push_str(&format!("Tests: {}\n", tests_line(&r.tests)));
    if let Some(pull_request) = &r.pull_request {
        text.push_str(&format!("Pull request: {pull_request} (reviews there count here)\n"));
    }
    if !r.excerpt.trim().is_empty() {
        text.push_str(&format!("```diff\n{}\n```\n", r.excerpt.trim_end()));
    }
    for comment in &r.comments {
        let at = comment.at.as_deref().map(|at| format!(" on `{at}`")).unwrap_or_default();
        text.push_str(&format!("> {}{at}: {}\n", comment.author, comment.body));
    }
    let approved = if r.approved_by.is_empty() { "nobody yet".to_owned() } else { r.approved_by.join(", ") };
    let status = match r.state {
        ReviewState::Merged => format!("Merged into `{}`: {}", r.base, r.outcome.as_deref().unwrap_or_default()),
        ReviewState::Approved => match &r.outcome {
            Some(outcome) if !outcome.is_empty() => format!("Approved: {outcome}"),
            _ => "Approved: nothing more runs for this repo.".to_owned(),
        },
        ReviewState::Merging => format!("Approved; merging into `{}`…", r.base),
        ReviewState::Failed => {
            format!("Approved, but the merge failed: {}", r.outcome.as_deref().unwrap_or("no reason given"))
        }
        ReviewState::ChangesRequested => {
            format!("Changes requested by {}; **{}** is revising.", r.changes_requested_by.join(", "), r.office)
        }
        ReviewState::Open => {
            let missing = r.needed.saturating_sub(r.approved_by.len() as u32);
            let who =
                if r.approvers.is_empty() { "anyone but the requester".to_owned() } else { r.approvers.join(", ") };
            format!("Waiting for {missing} more approval{} ({who}).", if missing == 1 { "" } else { "s" })
        }
    };
    text.push_str(&format!("Approved by: {approved}. {status}"));
    text
}

/// Marks what Nova writes on a code host, so that the webhook telling Nova about it is
/// not taken for a person's review.
pub const CODE_HOST_MARK: &str = "<!-- nova -->";

/// A pull request's title: the summary's first line, short.
pub fn pull_request_title(card: &ReviewCard) -> String {
    let first = card.summary.trim().lines().next().unwrap_or_default().trim_end_matches('.');
    let mut title: String = first.chars().take(72).collect();
    if title.chars().count() < first.chars().count() {
        title.push('…');
    }
    if title.is_empty() { format!("{}'s change to {}", card.office, card.repo) } else { title }
}

/// A pull request's description: the change, its tests, and that the review happens in
/// the thread and here alike.
pub fn pull_request_body(card: &ReviewCard) -> String {
    let who = if card.approvers.is_empty() { "anyone but the requester".to_owned() } else { card.approvers.join(", ") };
    format!(
        "{summary}\n\nTests: {tests}\n\n---\nNova review #{id}, revision {revision}: **{office}**'s change. It needs \
         {needed} approval{s} ({who}); reviews here and in the chat thread both count.\n\
         {CODE_HOST_MARK}",
        summary = card.summary.trim(),
        tests = tests_line(&card.tests),
        id = card.id,
        revision = card.revision,
        office = card.office,
        needed = card.needed,
        s = if card.needed == 1 { "" } else { "s" },
    )
}

/// A decision made in chat, as Nova leaves it on the pull request.
pub fn mirrored_decision(author: &str, verdict: crate::store::Verdict, body: &str, at: Option<&str>) -> String {
    use crate::store::Verdict;
    let what = match verdict {
        Verdict::Approve => "approved",
        Verdict::RequestChanges => "asked for changes",
        Verdict::Comment => "commented",
    };
    let at = at.map(|at| format!(" on `{at}`")).unwrap_or_default();
    let body = body.trim();
    let said = if body.is_empty() { ".".to_owned() } else { format!(": {body}") };
    format!("**{author}** {what}{at} in the chat thread{said}\n\n{CODE_HOST_MARK}")
}

/// `HH:MM` and the zone's abbreviation of a unix-milliseconds time, on `zone`'s clock
/// (a tz database name; UTC when none or unknown): "22:00 UTC", "17:00 EST".
fn clock(ms: i64, zone: Option<&str>) -> String {
    let zone: chrono_tz::Tz = zone.and_then(|zone| zone.parse().ok()).unwrap_or(chrono_tz::Tz::UTC);
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&zone).format("%H:%M %Z").to_string())
        .unwrap_or_default()
}

pub fn routed(route: &Route, office_asleep: bool) -> String {
    let office = route.office.as_deref().unwrap_or("?");
    let repo = match &route.repo {
        RepoChoice::Named(name) => format!(" · repo `{name}`"),
        RepoChoice::None => String::new(),
        RepoChoice::Unknown => " · repo not named".to_owned(),
    };
    let wake = if office_asleep { " It is asleep; waking it up." } else { "" };
    format!("Routing to **{office}**{repo}.{wake}")
}

pub fn picker_question() -> String {
    "I'm not sure which office should take this. Pick one:".to_owned()
}

pub fn picked(by: &str, office: &str) -> String {
    format!("{by} picked **{office}**; this thread now goes there.")
}

pub fn no_runtime(office: &str) -> String {
    format!(
        "**{office}** has no runtime configured, so nothing ran. Give it one in nova.toml, for example:\n\n\
         ```toml\n[[offices]]\nname = \"{office}\"\n# …\n[offices.runtime]\ncommand = [\"your-agent-cli\", \"--prompt\", \"{{{{prompt}}}}\"]\n```\n\n\
         or set a workspace-wide `[runtime]`. Then send your message again."
    )
}

pub fn wake_failed(office: &str, reason: &str) -> String {
    format!(
        "**{office}** could not wake: {reason}\nYour message is kept and runs when the office wakes; Nova will try again shortly."
    )
}

pub fn run_failed(office: &str, error: &str) -> String {
    format!("**{office}** could not finish this: {error}")
}

pub fn run_stopped(office: &str, by: &str) -> String {
    format!("{by} stopped **{office}**. Its workspace keeps what it had done; say what to do next.")
}

pub fn stopped_before_start(office: &str, by: &str) -> String {
    format!("{by} stopped this before **{office}** started on it.")
}

pub fn handed_off(from: &str, to: &str, text: &str) -> String {
    format!("**{from}** hands work to **{to}**: {text}")
}

pub fn handoff_returned(from: &str, to: &str) -> String {
    format!("**{from}** is done with what **{to}** handed over; **{to}** takes it from here.")
}

/// A task as the thread sees it: `#3 rotate the keys`.
fn task_label(id: i64, title: &str) -> String {
    format!("#{id} *{title}*")
}

/// The first line of `text`, cut at `limit` characters (with "…" when cut).
pub fn one_line(text: &str, limit: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > limit {
        format!("{}…", line.chars().take(limit).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// One task in a list.
pub struct TaskLine<'a> {
    pub id: i64,
    pub title: &'a str,
    pub owner: Option<&'a str>,
    pub state: &'a str,
    pub holder: Option<&'a str>,
}

/// The open tasks and those closed in the last day.
pub fn task_list(office: Option<&str>, tasks: &[TaskLine<'_>]) -> String {
    let whose = office.map_or_else(String::new, |o| format!(" for **{o}**"));
    if tasks.is_empty() {
        return format!("No tasks{whose} are open, and none closed in the last day.");
    }
    let mut out = format!("Tasks{whose}:");
    for task in tasks {
        let owner = task.owner.map_or_else(|| "any office".to_owned(), |o| format!("**{o}**"));
        let state = match (task.state, task.holder) {
            ("claimed", Some(holder)) => format!("{holder} is on it"),
            (state, _) => state.to_owned(),
        };
        out.push_str(&format!("\n• #{} {} — for {owner}, {state}", task.id, task.title));
    }
    out
}

/// Said in the thread when a review left on the code host does not count here.
pub fn code_host_review_refused(login: &str, host: &str, why: &str) -> String {
    format!("{login}'s review on {host} does not count toward review policy: {why}.")
}

/// The reviews waiting for reviewers: what each is, and what it still needs.
pub fn review_list(reviews: &[ReviewCard]) -> String {
    if reviews.is_empty() {
        return "No review is waiting.".to_owned();
    }
    let mut out = "Waiting for review:".to_owned();
    for r in reviews {
        let waiting = match r.state {
            ReviewState::ChangesRequested => format!("changes requested by {}", r.changes_requested_by.join(", ")),
            _ => {
                let missing = r.needed.saturating_sub(r.approved_by.len() as u32);
                let who =
                    if r.approvers.is_empty() { "anyone but the requester".to_owned() } else { r.approvers.join(", ") };
                format!("needs {missing} more approval{} ({who})", if missing == 1 { "" } else { "s" })
            }
        };
        out.push_str(&format!(
            "\n• #{} **{}**'s change to `{}`, revision {}: {} — {waiting}",
            r.id,
            r.office,
            r.repo,
            r.revision,
            r.summary.lines().next().unwrap_or_default()
        ));
    }
    out
}

/// A person's task ask, as its thread shows it.
pub fn task_asked(title: &str, owner: Option<&str>) -> String {
    match owner {
        Some(owner) => format!("New task for **{owner}**: {title}"),
        None => format!("New task for any office: {title}"),
    }
}

pub fn task_refused(why: &str) -> String {
    format!("No task made: {why}.")
}

pub fn task_created(id: i64, title: &str, owner: Option<&str>, waits_for: &[i64]) -> String {
    let whom = owner.map_or_else(|| "any office may claim it".to_owned(), |owner| format!("for **{owner}**"));
    let waits = if waits_for.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = waits_for.iter().map(|id| format!("#{id}")).collect();
        format!("; it waits for {}", ids.join(", "))
    };
    format!("Task {}: {whom}{waits}.", task_label(id, title))
}

pub fn task_taken(id: i64, title: &str, office: &str, attempt: i32, max: i32) -> String {
    let again = if attempt > 1 { format!(" (attempt {attempt} of {max})") } else { String::new() };
    format!("**{office}** takes task {}{again}.", task_label(id, title))
}

/// What the office is handed: the task, and what the tasks it waited for came to.
pub fn task_prompt(id: i64, title: &str, body: &str, before: &[(i64, String, String)]) -> String {
    let mut prompt = format!("Task #{id}: {title}");
    if !body.trim().is_empty() {
        prompt.push_str(&format!("\n\n{}", body.trim()));
    }
    for (dep, dep_title, result) in before {
        prompt.push_str(&format!("\n\nIt follows task #{dep} ({dep_title}), which came to:\n{}", result.trim()));
    }
    prompt.push_str("\n\nYour answer closes the task: say what you did, or fail the run if you could not.");
    prompt
}

pub fn task_done(id: i64, title: &str, office: &str) -> String {
    format!("Task {} is done by **{office}**.", task_label(id, title))
}

pub fn task_retried(id: i64, title: &str, office: &str, attempt: i32, max: i32) -> String {
    format!(
        "Task {} goes back to the queue: **{office}**'s run failed (attempt {attempt} of {max}).",
        task_label(id, title)
    )
}

pub fn task_escalated(id: i64, title: &str, office: &str, attempts: i32, manager: &str) -> String {
    format!(
        "Task {} failed {attempts} times; it goes up to **{manager}**, whom **{office}** reports to.",
        task_label(id, title)
    )
}

pub fn task_needs_a_person(id: i64, title: &str, office: &str, attempts: i32) -> String {
    format!(
        "Task {} failed {attempts} times and **{office}** reports to no office: it needs a person.",
        task_label(id, title)
    )
}

/// What the manager office is asked when work below it is stuck.
pub fn escalation_prompt(office: &str, reason: &str, history: &str) -> String {
    let mut prompt = format!("{office} reports to you and is stuck: {}", reason.trim());
    if !history.trim().is_empty() {
        prompt.push_str(&format!("\n\n{}", history.trim()));
    }
    prompt.push_str(
        "\n\nDecide what happens: do it yourself, hand it back with directions, or tell the people in this thread what you need.",
    );
    prompt
}

pub fn escalated(from: &str, to: &str, reason: &str) -> String {
    format!("**{from}** escalates to **{to}**: {reason}")
}

pub fn task_cancelled(id: i64, title: &str, office: &str) -> String {
    format!("Task {} is cancelled: **{office}**'s run on it was stopped.", task_label(id, title))
}

/// A person cancelled a task: the run on it (if one was) stops, and the tasks that
/// waited for it are named, since they now wait until someone gives it out again.
pub fn task_cancelled_by(id: i64, title: &str, by: &str, stopping: Option<&str>, waiting: &[i64]) -> String {
    let mut text = format!("Task {} is cancelled by {by}.", task_label(id, title));
    if let Some(office) = stopping {
        text.push_str(&format!(" **{office}**'s run on it is stopping."));
    }
    if !waiting.is_empty() {
        let ids: Vec<String> = waiting.iter().map(|id| format!("#{id}")).collect();
        let (them, wait) = if ids.len() == 1 { ("it", "waits") } else { ("them", "wait") };
        text.push_str(&format!(
            " {} {wait} for it and will not start: give #{id} to an office again, or cancel {them} too.",
            ids.join(", ")
        ));
    }
    text
}

/// A person gave a task to an office (or back to its own, to try again).
pub fn task_assigned(
    id: i64,
    title: &str,
    office: &str,
    by: &str,
    was: crate::store::TaskState,
    stopping: Option<&str>,
) -> String {
    use crate::store::TaskState;
    let mut text = format!("Task {} is for **{office}** now ({by} gave it).", task_label(id, title));
    if let Some(holder) = stopping {
        text.push_str(&format!(" **{holder}**'s run on it is stopping."));
    }
    match was {
        TaskState::Failed => text.push_str(" It had failed; it is open again, with its attempts counted afresh."),
        TaskState::Cancelled => text.push_str(" It was cancelled; it is open again."),
        TaskState::Open | TaskState::Claimed | TaskState::Done => {}
    }
    text
}

/// Why a person's change to a task changed nothing.
pub fn task_unchanged(why: &str) -> String {
    format!("Nothing changed: {why}.")
}

pub fn task_reopened(id: i64, title: &str, office: &str) -> String {
    format!("Task {} is open again: **{office}**'s run ended without finishing it.", task_label(id, title))
}

pub fn task_recovered(id: i64, title: &str, office: &str) -> String {
    format!("Task {} is open again: **{office}** held it for a run that is gone.", task_label(id, title))
}

/// What the office that handed work over is told when it comes back.
pub fn handoff_result(office: &str, outcome: &str) -> String {
    format!("{office} finished the work you handed over:\n\n{outcome}")
}

/// A stop that was carried out; the run's card says when it has ended.
pub fn stopping(office: &str) -> String {
    format!("Stopping **{office}**.")
}

/// A name in a request that is no office.
pub fn no_such_office(config: &crate::config::Config, office: &str) -> String {
    let names: Vec<&str> = config.offices.iter().map(|o| o.name.as_str()).collect();
    format!("There is no office `{office}`. Offices: {}.", names.join(", "))
}

/// What people can say to Nova, in their own words.
pub fn plain_language_help() -> String {
    "**Talking to Nova** — write as you would to a colleague; I route work to the right office and answer questions about the fleet:\n\
     • work: “the coupon field rejects valid codes, please fix” (or `@office …` to pick one)\n\
     • status: “what is maker doing?”, “is anyone on the refund bug?”, “which offices are awake?”\n\
     • control: “wake the analyst”, “put the writer to sleep”, “stop” (in a thread), “stop whatever operator is running”\n\
     • hand over: “let operator take it from here”\n\
     • decisions and history: “anything waiting on me?”, “what did operator do in the last 2 hours?”\n\
     • costs: “how much has maker spent this week?”\n\
     • schedules: “every weekday at 9 have the analyst post yesterday's signups”, “what's scheduled?”, “pause schedule 2”\n\
     • tasks: “make this a task for maker”, “what tasks are open?”, “cancel task 4”, “give task 4 to writer”, “retry task 4”\n\
     Slash commands do the same: `/nova help`."
        .to_owned()
}

/// A run an office is on, as a status answer shows it.
pub struct RunLine {
    /// Who asked, as people know them.
    pub who: String,
    pub text: String,
    pub running_ms: i64,
    /// As the run last reported them.
    pub objectives: Vec<Objective>,
}

/// One office, as a status answer shows it.
pub struct OfficeStatus<'a> {
    pub office: &'a str,
    pub state: &'a str,
    pub runs: &'a [RunLine],
    pub waiting: u64,
    /// `(how long ago, body)` of its last result.
    pub last_result: Option<(i64, &'a str)>,
    pub spent_month_usd: f64,
    pub budget_usd: Option<f64>,
}

/// "under a minute", "12 min", "3 h", "2 days".
fn how_long(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        ..1 => "under a minute".to_owned(),
        1..120 => format!("{minutes} min"),
        120..2880 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

impl std::fmt::Display for OfficeStatus<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "**{}** is {}", self.office, self.state)?;
        if self.runs.is_empty() {
            write!(f, ", with nothing running")?;
        }
        if self.waiting > 0 {
            write!(f, " and {} waiting", self.waiting)?;
        }
        write!(f, ".")?;
        for run in self.runs {
            write!(f, "\n• working for {} ({}): “{}”", run.who, how_long(run.running_ms), excerpt(&run.text, 80))?;
            if !run.objectives.is_empty() {
                let done = run.objectives.iter().filter(|o| o.done).count();
                write!(f, " — {done}/{} done", run.objectives.len())?;
                if let Some(next) = run.objectives.iter().find(|o| !o.done) {
                    write!(f, ", now: {}", excerpt(&next.text, 60))?;
                }
            }
        }
        if let Some((age, body)) = self.last_result {
            write!(f, "\nLast result ({} ago): {}", how_long(age), excerpt(body, 100))?;
        }
        match self.budget_usd {
            Some(budget) => {
                write!(f, "\nSpent ${:.2} of its ${budget:.0} budget this month.", self.spent_month_usd)
            }
            // A few seconds awake cost a fraction of a cent: not worth a line.
            None if self.spent_month_usd >= 0.005 => {
                write!(f, "\nSpent ${:.2} this month.", self.spent_month_usd)
            }
            None => Ok(()),
        }
    }
}

fn excerpt(text: &str, chars: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Model spend per office over a period: `office → (usd, runs, tokens)`.
pub fn spend(
    office: Option<&str>,
    period: crate::ask::when::Period,
    by_office: &std::collections::BTreeMap<String, crate::engine::Spend>,
    budget: impl Fn(&str) -> Option<f64>,
) -> String {
    use crate::ask::when::Period;
    let window = match period {
        Period::Day => "in the last day",
        Period::Today => "today",
        Period::Yesterday => "yesterday",
        Period::Week => "in the last 7 days",
        Period::Month => "this month",
        Period::LastMonth => "last month",
        Period::Year => "this year",
        Period::LastYear => "last year",
    };
    // Not `sum()`: an empty one is -0.0, which prints as "$-0.00".
    let total = by_office.values().map(crate::engine::Spend::total).fold(0.0, |sum, usd| sum + usd);
    let subject = office.map_or_else(|| "The fleet".to_owned(), |o| format!("**{o}**"));
    let mut out = format!("{subject} spent ${total:.2} {window}.");
    for (name, spend) in by_office {
        let cap = budget(name).map(|b| format!(", budget ${b:.0}/month")).unwrap_or_default();
        out.push_str(&format!(
            "\n• **{name}**: ${:.2} (models ${:.2} over {} run(s), {} tokens; machine ${:.2} for {:.1} h awake{}){cap}",
            spend.total(),
            spend.model_usd,
            spend.runs_reporting,
            spend.tokens,
            spend.machine_usd,
            spend.awake_hours,
            if spend.storage_usd >= 0.005 { format!("; snapshots ${:.2}", spend.storage_usd) } else { String::new() }
        ));
    }
    if by_office.is_empty() {
        out.push_str(" No office used a model or a machine then.");
    }
    out.push_str(
        "\n(Models at what runtimes report, else at `[prices]`; machines at their tier's hourly price; snapshots at $0.02 per GB-month.)",
    );
    out
}

/// One line of a history answer.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub office: Option<String>,
}

/// What happened in a window, newest first.
pub fn history(office: Option<&str>, window: &str, total: usize, entries: &[HistoryEntry]) -> String {
    let subject = office.map_or_else(|| "the fleet".to_owned(), |o| format!("**{o}**"));
    if entries.is_empty() {
        return format!("Nothing happened in {subject} in the last {window}.");
    }
    let mut out = format!("What happened in {subject} in the last {window} ({total} entries; newest first):");
    for entry in entries {
        let at = chrono::DateTime::from_timestamp_millis(entry.at).map(|t| t.format("%b %d %H:%M").to_string());
        let office = entry.office.as_deref().map(|o| format!(" · {o}")).unwrap_or_default();
        out.push_str(&format!("\n• {} — {} by {}{office}", at.unwrap_or_default(), entry.action, entry.actor));
    }
    out.push_str("\nThe whole trail: `nova audit` or the console.");
    out
}

/// The prompt an office gets when a person hands a thread's work to it.
pub fn handed_over_prompt(from: &str, text: &str) -> String {
    format!("(Handed over from {from}; the thread has what it did so far.)\n{text}")
}

pub fn handing_over(from: &str, to: &str, who: &str) -> String {
    format!("{who} handed this from **{from}** to **{to}**.")
}

/// A fleet change in words, as its approval card and its outcome say it.
pub fn fleet_change(action: &crate::ask::Action) -> String {
    use crate::ask::Action;
    let list = |items: &[String]| if items.is_empty() { "none".to_owned() } else { items.join(", ") };
    let channels = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", ")
        }
    };
    let money = |usd: f64| format!("${usd:.2} a month").replace(".00 a month", " a month");
    match action {
        Action::CreateOffice(new) => {
            let mut parts = vec![format!("“{}”", new.role.trim())];
            parts.extend(new.reports_to.as_ref().map(|boss| format!("reporting to {boss}")));
            parts.extend(new.tier.map(|tier| format!("tier {tier}")));
            parts.extend(new.budget_usd.map(|usd| format!("budget {}", money(usd))));
            parts.extend((!new.repos.is_empty()).then(|| format!("repos {}", list(&new.repos))));
            parts.extend((!new.channels.is_empty()).then(|| format!("channels {}", channels(&new.channels))));
            let name = new.name.as_deref().unwrap_or("(unnamed)");
            format!("create the office {name}: {}", parts.join("; "))
        }
        Action::UpdateOffice { office, changes } => {
            let mut parts = Vec::new();
            parts.extend(changes.role.as_ref().map(|role| format!("role “{}”", role.trim())));
            parts.extend(changes.repos.as_ref().map(|repos| format!("repos {}", list(repos))));
            parts.extend(changes.channels.as_ref().map(|c| format!("channels {}", channels(c))));
            parts.extend(changes.reports_to.as_ref().map(|boss| format!("reporting to {boss}")));
            parts.extend(changes.tier.map(|tier| format!("tier {tier}")));
            parts.extend(changes.budget_usd.map(|usd| format!("budget {}", money(usd))));
            parts.extend(changes.idle_timeout.as_ref().map(|idle| format!("idle timeout {idle}")));
            format!("change the office {office}: {}", parts.join("; "))
        }
        Action::RetireOffice { office } => {
            format!("retire the office {office} (it finishes what it has going, then sleeps for good)")
        }
        Action::AddRepo(repo) => {
            let mut parts = Vec::new();
            parts.extend(repo.description.as_ref().map(|d| format!("“{}”", d.trim())));
            parts.extend(repo.url.clone());
            parts.extend((!repo.channels.is_empty()).then(|| format!("channels {}", channels(&repo.channels))));
            if parts.is_empty() {
                format!("add the repo {}", repo.name)
            } else {
                format!("add the repo {}: {}", repo.name, parts.join("; "))
            }
        }
        other => other.name().to_owned(),
    }
}

/// What approving does, as a confirmation says it: the office goes ahead, or (for a
/// fleet change a person asked for) Nova makes the change.
pub fn approval_consequence(asker: &str, kind: &str, action: &str) -> String {
    if kind == crate::engine::LOOP_GUARD {
        format!("Nova will **{action}**.")
    } else if kind == crate::engine::FLEET_CHANGE {
        format!("Nova will **{action}**, as {asker} asked.")
    } else {
        format!("**{asker}** will **{action}**.")
    }
}

/// What approving a loop pause does.
pub fn loop_guard_action(office: &str, runs: u64) -> String {
    format!("let {office} go on: it has run {runs} times on work from offices with no person in between")
}

pub fn loop_guard_details(office: &str, from: &str) -> String {
    format!(
        "Work {from} gave {office} waits. {office} may be looping (making tasks for itself, handing work back and forth). \
         Approve to let it run as many times again; reject, or leave it, and that work waits."
    )
}

/// Why a prompt waits: its office has spent its budget.
/// Whose budget: `maker`'s, or the workspace's.
fn budget_of(office: &str, whose: &str) -> String {
    if whose == office { format!("**{office}** has spent") } else { format!("{whose} has spent") }
}

pub fn over_budget(office: &str, whose: &str, spent: f64, budget: f64) -> String {
    let raise = if whose == office {
        format!(
            "an operator can say “give {office} a budget of ${} a month”, which someone then approves",
            (budget * 2.0).ceil()
        )
    } else {
        "`budget` under `[workspace]` in nova.toml; Nova reads the edit at once".to_owned()
    };
    format!(
        "This waits: {} ${spent:.2} of its ${budget:.2} budget this month, so **{office}** starts nothing more until \
         the budget is raised ({raise}). Then this runs.",
        budget_of(office, whose)
    )
}

pub fn budget_raise_details(office: &str, budget: f64) -> String {
    format!(
        "{office} has spent its ${budget:.2} budget this month; its work waits. Approving doubles the budget and the work runs."
    )
}

pub fn budget_critical_only(office: &str, whose: &str, spent: f64, budget: f64) -> String {
    format!(
        "This waits: {} ${spent:.2} of its ${budget:.2} budget this month ({:.0}%), so **{office}** only starts work \
         marked urgent or critical until the month ends or the budget is raised. Ask again with “urgent” in it to run it now.",
        budget_of(office, whose),
        spent / budget * 100.0
    )
}

/// A fleet change that cannot be made as asked.
pub fn fleet_change_refused(what: &str, reason: &str) -> String {
    format!("Nothing changed: I cannot {what}, because {reason}.")
}

/// A fleet change now in force.
pub fn fleet_changed(what: &str) -> String {
    format!("Done: {what}. `nova export` writes the live fleet out as a config file.")
}

/// An approved fleet change that the fleet no longer takes (nova.toml changed meanwhile).
pub fn fleet_change_left_out(what: &str, reason: &str) -> String {
    format!("Approved, but nothing changed: the fleet no longer takes “{what}”, because {reason}.")
}

/// A schedule, as the list shows it.
pub struct ScheduleLine<'a> {
    pub id: i64,
    pub office: &'a str,
    /// The cadence in words ("weekdays at 09:00 UTC").
    pub when: String,
    pub prompt: &'a str,
    pub paused: bool,
    /// The next run, in words ("Mon 7 Dec 09:00 UTC").
    pub next: String,
}

/// `id` is the schedule's number, or [`crate::store::SCHEDULE_ID`] before it has one.
pub fn schedule_made(id: &str, office: &str, when: &str, prompt: &str, next: &str) -> String {
    format!(
        "Scheduled #{id}: **{office}** will “{prompt}” {when}, first on {next}. Each run's result comes to this thread; \
         a run still going when the next is due skips that one. “what's scheduled?” lists schedules, “pause schedule N” pauses one."
    )
}

pub fn schedule_refused(why: &str) -> String {
    format!("Nothing scheduled: {why}.")
}

pub fn schedules(lines: &[ScheduleLine<'_>], office: Option<&str>) -> String {
    if lines.is_empty() {
        return match office {
            Some(office) => format!("Nothing is scheduled for **{office}**."),
            None => "Nothing is scheduled.".to_owned(),
        };
    }
    let mut out = String::from("**Schedules**\n");
    for line in lines {
        let state = if line.paused { "paused".to_owned() } else { format!("next {}", line.next) };
        out.push_str(&format!("• #{} **{}** {}: “{}” ({state})\n", line.id, line.office, line.when, line.prompt));
    }
    out.trim_end().to_owned()
}

/// A schedule's tick, posted as its run is queued.
pub fn schedule_tick(id: i64, office: &str, when: &str, prompt: &str) -> String {
    format!("Schedule #{id} ({when}): **{office}**, “{prompt}”")
}

pub fn schedule_changed(id: i64, office: &str, change: crate::ask::ScheduleChange, by: &str, next: &str) -> String {
    use crate::ask::ScheduleChange::*;
    match change {
        Pause => format!("{by} paused schedule #{id} (**{office}**); “resume schedule {id}” starts it again."),
        Resume => format!("{by} resumed schedule #{id} (**{office}**); it runs next on {next}."),
        Remove => format!("{by} removed schedule #{id} (**{office}**)."),
    }
}

/// Which schedule a change is about, when the message did not say clearly.
pub fn which_schedule(office: Option<&str>, count: usize) -> String {
    match (office, count) {
        (Some(office), 0) => format!("**{office}** has no schedule."),
        (None, 0) => "There is no such schedule; “what's scheduled?” lists them.".to_owned(),
        (Some(office), _) => {
            format!("**{office}** has {count} schedules; say which by number (“what's scheduled?” lists them).")
        }
        (None, _) => "Say which schedule by number; “what's scheduled?” lists them.".to_owned(),
    }
}

pub fn nothing_to_stop() -> String {
    "Nothing is running in this thread to stop.".to_owned()
}

/// A run interrupted by something other than the run itself, about to run again.
pub fn rerun(office: &str, why: &str) -> String {
    format!("**{office}** stopped while working on this ({why}); its workspace is kept and this runs again.")
}

/// The office's machine went with its workspace: it resumes from its last snapshot.
pub fn rerun_from_snapshot(office: &str, why: &str) -> String {
    format!(
        "**{office}** stopped while working on this ({why}). What it did since its last snapshot is lost; this runs again from that snapshot."
    )
}

pub fn progress(office: &str, status: RunStatus, objectives: &[Objective], lines: &[String]) -> String {
    let headline = match status {
        RunStatus::Queued => format!("**{office}** has this queued."),
        RunStatus::Working => format!("**{office}** is working on this…"),
        RunStatus::Done => format!("**{office}** finished."),
        RunStatus::Failed => format!("**{office}** stopped with an error."),
        RunStatus::Stopped => format!("**{office}** was stopped."),
    };
    let mut out = headline;
    if !objectives.is_empty() {
        out.push('\n');
        for objective in objectives {
            out.push_str(&format!("\n- [{}] {}", if objective.done { "x" } else { " " }, objective.text));
        }
    }
    if !lines.is_empty() {
        out.push('\n');
        for line in lines {
            out.push_str(&format!("\n> {line}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Stage;

    fn route(repo: RepoChoice) -> Route {
        Route { repo, office: Some("maker".into()), confidence: 0.8, alternatives: vec![], stage: Stage::Scorer }
    }

    #[test]
    fn spend_texts_name_their_period() {
        use crate::ask::when::Period;
        let maker = crate::engine::Spend {
            model_usd: 3.25,
            machine_usd: 1.5,
            storage_usd: 0.0,
            awake_hours: 12.0,
            runs_reporting: 7,
            tokens: 120_000,
        };
        let by_office = std::collections::BTreeMap::from([("maker".to_owned(), maker)]);
        let budget = |name: &str| (name == "maker").then_some(40.0);
        insta::assert_snapshot!(spend(None, Period::Year, &by_office, budget), @r"
        The fleet spent $4.75 this year.
        • **maker**: $4.75 (models $3.25 over 7 run(s), 120000 tokens; machine $1.50 for 12.0 h awake), budget $40/month
        (Models at what runtimes report, else at `[prices]`; machines at their tier's hourly price; snapshots at $0.02 per GB-month.)
        ");
        insta::assert_snapshot!(spend(Some("maker"), Period::LastMonth, &Default::default(), budget), @r"
        **maker** spent $0.00 last month. No office used a model or a machine then.
        (Models at what runtimes report, else at `[prices]`; machines at their tier's hourly price; snapshots at $0.02 per GB-month.)
        ");
        let first_line = |period| spend(None, period, &by_office, budget).lines().next().unwrap().to_owned();
        insta::assert_snapshot!(first_line(Period::Yesterday), @"The fleet spent $4.75 yesterday.");
        insta::assert_snapshot!(first_line(Period::Today), @"The fleet spent $4.75 today.");
        insta::assert_snapshot!(first_line(Period::Day), @"The fleet spent $4.75 in the last day.");
    }

    #[test]
    fn office_status_texts() {
        let idle = OfficeStatus {
            office: "writer",
            state: "asleep",
            runs: &[],
            waiting: 0,
            last_result: None,
            spent_month_usd: 0.0,
            budget_usd: None,
        };
        insta::assert_snapshot!(idle.to_string(), @"**writer** is asleep, with nothing running.");
        let runs = [RunLine {
            who: "Alice".into(),
            text: "migrate the cart to the new design system\nand keep the old one behind a flag".into(),
            running_ms: 12 * 60_000,
            objectives: vec![
                Objective { text: "Read the cart code".into(), done: true },
                Objective { text: "Port the checkout page".into(), done: false },
                Objective { text: "Run the tests".into(), done: false },
            ],
        }];
        let busy = OfficeStatus {
            office: "maker",
            state: "busy",
            runs: &runs,
            waiting: 2,
            last_result: Some((3 * 3_600_000, "Renamed the checkout button; tests pass.")),
            spent_month_usd: 12.5,
            budget_usd: Some(50.0),
        };
        insta::assert_snapshot!(busy.to_string(), @r"
        **maker** is busy and 2 waiting.
        • working for Alice (12 min): “migrate the cart to the new design system” — 1/3 done, now: Port the checkout page
        Last result (3 h ago): Renamed the checkout button; tests pass.
        Spent $12.50 of its $50 budget this month.
        ");
    }

    #[test]
    fn schedule_texts() {
        insta::assert_snapshot!(schedule_made(
            "1",
            "analyst",
            "Mondays at 09:00 UTC",
            "post last week's signups",
            "Mon 7 Dec 09:00 UTC"
        ));
        insta::assert_snapshot!(schedule_refused("every 1 minutes is too often: the shortest schedule is every 5 minutes"), @"Nothing scheduled: every 1 minutes is too often: the shortest schedule is every 5 minutes.");
        let lines = [
            ScheduleLine {
                id: 1,
                office: "analyst",
                when: "Mondays at 09:00 UTC".into(),
                prompt: "post last week's signups",
                paused: false,
                next: "Mon 7 Dec 09:00 UTC".into(),
            },
            ScheduleLine {
                id: 4,
                office: "writer",
                when: "every 2 hours".into(),
                prompt: "check the docs build",
                paused: true,
                next: "Fri 4 Dec 12:00 UTC".into(),
            },
        ];
        insta::assert_snapshot!(schedules(&lines, None));
        insta::assert_snapshot!(schedules(&[], Some("writer")), @"Nothing is scheduled for **writer**.");
        insta::assert_snapshot!(schedule_tick(1, "analyst", "Mondays at 09:00 UTC", "post last week's signups"), @"Schedule #1 (Mondays at 09:00 UTC): **analyst**, “post last week's signups”");
        use crate::ask::ScheduleChange::*;
        insta::assert_snapshot!(schedule_changed(1, "analyst", Pause, "Alice", ""), @"Alice paused schedule #1 (**analyst**); “resume schedule 1” starts it again.");
        insta::assert_snapshot!(schedule_changed(1, "analyst", Resume, "Alice", "Mon 7 Dec 09:00 UTC"), @"Alice resumed schedule #1 (**analyst**); it runs next on Mon 7 Dec 09:00 UTC.");
        insta::assert_snapshot!(schedule_changed(1, "analyst", Remove, "Alice", ""), @"Alice removed schedule #1 (**analyst**).");
        insta::assert_snapshot!(which_schedule(Some("writer"), 2), @"**writer** has 2 schedules; say which by number (“what's scheduled?” lists them).");
    }

    #[test]
    fn routing_texts() {
        insta::assert_snapshot!(routed(&route(RepoChoice::Named("payments-api".into())), true), @"Routing to **maker** · repo `payments-api`. It is asleep; waking it up.");
        insta::assert_snapshot!(routed(&route(RepoChoice::None), false), @"Routing to **maker**.");
        insta::assert_snapshot!(routed(&route(RepoChoice::Unknown), false), @"Routing to **maker** · repo not named.");
    }

    #[test]
    fn picker_texts() {
        insta::assert_snapshot!(picker_question(), @"I'm not sure which office should take this. Pick one:");
        insta::assert_snapshot!(picked("alice", "writer"), @"alice picked **writer**; this thread now goes there.");
    }

    #[test]
    fn failure_texts() {
        insta::assert_snapshot!(no_runtime("maker"));
        insta::assert_snapshot!(wake_failed("maker", "office did not report its address within 60s"));
        insta::assert_snapshot!(run_failed("maker", "the runtime exited with exit status: 2"), @"**maker** could not finish this: the runtime exited with exit status: 2");
        insta::assert_snapshot!(rerun("maker", "its process exited"), @"**maker** stopped while working on this (its process exited); its workspace is kept and this runs again.");
        insta::assert_snapshot!(rerun_from_snapshot("maker", "Compute Engine stopped or deleted its VM nova-maker-g2"), @"**maker** stopped while working on this (Compute Engine stopped or deleted its VM nova-maker-g2). What it did since its last snapshot is lost; this runs again from that snapshot.");
    }

    #[test]
    fn progress_card_text() {
        let objectives = vec![
            Objective { text: "Read the request".into(), done: true },
            Objective { text: "Fix it".into(), done: false },
        ];
        insta::assert_snapshot!(progress("maker", RunStatus::Working, &objectives, &["Reading src/cart.ts".into()]), @r"
        **maker** is working on this…

        - [x] Read the request
        - [ ] Fix it

        > Reading src/cart.ts
        ");
        insta::assert_snapshot!(progress("maker", RunStatus::Queued, &[], &[]), @"**maker** has this queued.");
        insta::assert_snapshot!(progress("maker", RunStatus::Done, &[], &[]), @"**maker** finished.");
        insta::assert_snapshot!(progress("maker", RunStatus::Failed, &[], &[]), @"**maker** stopped with an error.");
        insta::assert_snapshot!(progress("maker", RunStatus::Stopped, &[], &[]), @"**maker** was stopped.");
    }

    #[test]
    fn stop_texts() {
        insta::assert_snapshot!(run_stopped("maker", "alice"), @"alice stopped **maker**. Its workspace keeps what it had done; say what to do next.");
        insta::assert_snapshot!(stopped_before_start("maker", "alice"), @"alice stopped this before **maker** started on it.");
        insta::assert_snapshot!(nothing_to_stop(), @"Nothing is running in this thread to stop.");
        insta::assert_snapshot!(handed_off("maker", "writer", "write the release notes"), @"**maker** hands work to **writer**: write the release notes");
        insta::assert_snapshot!(handoff_returned("writer", "maker"), @"**writer** is done with what **maker** handed over; **maker** takes it from here.");
        insta::assert_snapshot!(handoff_result("writer", "Release notes are in docs/."), @r"
        writer finished the work you handed over:

        Release notes are in docs/.
        ");
    }

    #[test]
    fn plain_language_help_names_what_people_can_ask() {
        insta::assert_snapshot!(plain_language_help());
    }

    #[test]
    fn task_texts() {
        use crate::store::TaskState;
        insta::assert_snapshot!(task_list(Some("maker"), &[]), @"No tasks for **maker** are open, and none closed in the last day.");
        insta::assert_snapshot!(task_asked("rotate the keys", Some("maker")), @"New task for **maker**: rotate the keys");
        insta::assert_snapshot!(task_asked("rotate the keys", None), @"New task for any office: rotate the keys");
        insta::assert_snapshot!(task_refused("no task #9"), @"No task made: no task #9.");
        insta::assert_snapshot!(task_created(3, "rotate the keys", Some("maker"), &[]), @"Task #3 *rotate the keys*: for **maker**.");
        insta::assert_snapshot!(task_created(4, "backfill", None, &[1, 2]), @"Task #4 *backfill*: any office may claim it; it waits for #1, #2.");
        insta::assert_snapshot!(task_taken(3, "rotate the keys", "maker", 1, 3), @"**maker** takes task #3 *rotate the keys*.");
        insta::assert_snapshot!(task_taken(3, "rotate the keys", "maker", 2, 3), @"**maker** takes task #3 *rotate the keys* (attempt 2 of 3).");
        let before = [(1, "schema".to_owned(), "Added the column.".to_owned())];
        insta::assert_snapshot!(task_prompt(4, "backfill", "Fill it from the orders table.", &before), @r"
            Task #4: backfill

            Fill it from the orders table.

            It follows task #1 (schema), which came to:
            Added the column.

            Your answer closes the task: say what you did, or fail the run if you could not.
            ");
        insta::assert_snapshot!(task_done(3, "rotate the keys", "maker"), @"Task #3 *rotate the keys* is done by **maker**.");
        insta::assert_snapshot!(task_retried(3, "rotate the keys", "maker", 1, 3), @"Task #3 *rotate the keys* goes back to the queue: **maker**'s run failed (attempt 1 of 3).");
        insta::assert_snapshot!(task_escalated(3, "rotate the keys", "maker", 3, "lead"), @"Task #3 *rotate the keys* failed 3 times; it goes up to **lead**, whom **maker** reports to.");
        insta::assert_snapshot!(task_needs_a_person(3, "rotate the keys", "maker", 3), @"Task #3 *rotate the keys* failed 3 times and **maker** reports to no office: it needs a person.");
        insta::assert_snapshot!(escalation_prompt("maker", "task #3 failed 3 times", "Last error: exit 2"), @r"
            maker reports to you and is stuck: task #3 failed 3 times

            Last error: exit 2

            Decide what happens: do it yourself, hand it back with directions, or tell the people in this thread what you need.
            ");
        insta::assert_snapshot!(escalated("maker", "lead", "task #3 failed 3 times"), @"**maker** escalates to **lead**: task #3 failed 3 times");
        insta::assert_snapshot!(task_cancelled(3, "rotate the keys", "maker"), @"Task #3 *rotate the keys* is cancelled: **maker**'s run on it was stopped.");
        insta::assert_snapshot!(task_cancelled_by(3, "rotate the keys", "Ann", None, &[]), @"Task #3 *rotate the keys* is cancelled by Ann.");
        insta::assert_snapshot!(task_cancelled_by(3, "rotate the keys", "Ann", Some("maker"), &[4]), @"Task #3 *rotate the keys* is cancelled by Ann. **maker**'s run on it is stopping. #4 waits for it and will not start: give #3 to an office again, or cancel it too.");
        insta::assert_snapshot!(task_cancelled_by(3, "rotate the keys", "Ann", None, &[4, 5]), @"Task #3 *rotate the keys* is cancelled by Ann. #4, #5 wait for it and will not start: give #3 to an office again, or cancel them too.");
        insta::assert_snapshot!(task_assigned(3, "rotate the keys", "writer", "Ann", TaskState::Open, None), @"Task #3 *rotate the keys* is for **writer** now (Ann gave it).");
        insta::assert_snapshot!(task_assigned(3, "rotate the keys", "writer", "Ann", TaskState::Claimed, Some("maker")), @"Task #3 *rotate the keys* is for **writer** now (Ann gave it). **maker**'s run on it is stopping.");
        insta::assert_snapshot!(task_assigned(3, "rotate the keys", "maker", "Ann", TaskState::Failed, None), @"Task #3 *rotate the keys* is for **maker** now (Ann gave it). It had failed; it is open again, with its attempts counted afresh.");
        insta::assert_snapshot!(task_assigned(3, "rotate the keys", "writer", "Ann", TaskState::Cancelled, None), @"Task #3 *rotate the keys* is for **writer** now (Ann gave it). It was cancelled; it is open again.");
        insta::assert_snapshot!(task_unchanged("task #3 is done"), @"Nothing changed: task #3 is done.");
        insta::assert_snapshot!(task_reopened(3, "rotate the keys", "maker"), @"Task #3 *rotate the keys* is open again: **maker**'s run ended without finishing it.");
        insta::assert_snapshot!(task_recovered(3, "rotate the keys", "maker"), @"Task #3 *rotate the keys* is open again: **maker** held it for a run that is gone.");
    }

    fn approval(state: ApprovalState) -> Card {
        Card::Approval {
            id: "a1".into(),
            office: "maker".into(),
            kind: "destructive".into(),
            action: "drop the table legacy_orders".into(),
            details: "It has had no reads in 90 days.".into(),
            risk: "high".into(),
            approvers: vec!["alice".into(), "carol".into()],
            expires_at: 1_763_762_400_000,
            state,
            decided_by: matches!(state, ApprovalState::Approved | ApprovalState::Rejected).then(|| "carol".into()),
            decided_at: Some(1_763_760_600_000),
            time_zone: None,
        }
    }

    #[test]
    fn over_budget_text() {
        insta::assert_snapshot!(over_budget("maker", "maker", 1.5, 1.0), @"This waits: **maker** has spent $1.50 of its $1.00 budget this month, so **maker** starts nothing more until the budget is raised (an operator can say “give maker a budget of $2 a month”, which someone then approves). Then this runs.");
        insta::assert_snapshot!(over_budget("maker", "the workspace", 500.0, 500.0), @"This waits: the workspace has spent $500.00 of its $500.00 budget this month, so **maker** starts nothing more until the budget is raised (`budget` under `[workspace]` in nova.toml; Nova reads the edit at once). Then this runs.");
        insta::assert_snapshot!(budget_raise_details("maker", 50.0), @"maker has spent its $50.00 budget this month; its work waits. Approving doubles the budget and the work runs.");
        insta::assert_snapshot!(budget_critical_only("maker", "maker", 41.0, 50.0), @"This waits: **maker** has spent $41.00 of its $50.00 budget this month (82%), so **maker** only starts work marked urgent or critical until the month ends or the budget is raised. Ask again with “urgent” in it to run it now.");
    }

    #[test]
    fn fleet_change_texts() {
        use crate::ask::{Action, NewOffice, NewRepo, OfficeChanges};
        let create = Action::CreateOffice(NewOffice {
            name: Some("scribe".into()),
            role: "release notes ".into(),
            repos: vec!["help-center".into()],
            channels: vec!["releases".into()],
            reports_to: Some("writer".into()),
            tier: Some(2),
            budget_usd: Some(40.0),
        });
        insta::assert_snapshot!(fleet_change(&create), @"create the office scribe: “release notes”; reporting to writer; tier 2; budget $40 a month; repos help-center; channels #releases");
        let update = Action::UpdateOffice {
            office: "writer".into(),
            changes: OfficeChanges { idle_timeout: Some("1h".into()), budget_usd: Some(12.5), ..Default::default() },
        };
        insta::assert_snapshot!(fleet_change(&update), @"change the office writer: budget $12.50 a month; idle timeout 1h");
        insta::assert_snapshot!(fleet_change(&Action::RetireOffice { office: "support".into() }), @"retire the office support (it finishes what it has going, then sleeps for good)");
        let repo = Action::AddRepo(NewRepo {
            name: "billing-jobs".into(),
            url: Some("https://git.example.com/billing-jobs".into()),
            ..Default::default()
        });
        insta::assert_snapshot!(fleet_change(&repo), @"add the repo billing-jobs: https://git.example.com/billing-jobs");
        insta::assert_snapshot!(fleet_change(&Action::AddRepo(NewRepo { name: "jobs".into(), ..Default::default() })), @"add the repo jobs");
        let what = fleet_change(&Action::RetireOffice { office: "support".into() });
        insta::assert_snapshot!(fleet_change_refused(&what, "there is no office named `support`"), @"Nothing changed: I cannot retire the office support (it finishes what it has going, then sleeps for good), because there is no office named `support`.");
        insta::assert_snapshot!(fleet_changed("add the repo jobs"), @"Done: add the repo jobs. `nova export` writes the live fleet out as a config file.");
        insta::assert_snapshot!(fleet_change_left_out("add the repo jobs", "there is already a repo named `jobs`"), @"Approved, but nothing changed: the fleet no longer takes “add the repo jobs”, because there is already a repo named `jobs`.");
        insta::assert_snapshot!(approval_consequence("alice", crate::engine::FLEET_CHANGE, "add the repo jobs"), @"Nova will **add the repo jobs**, as alice asked.");
        insta::assert_snapshot!(approval_consequence("maker", "deploy", "deploy storefront"), @"**maker** will **deploy storefront**.");
        let pause = loop_guard_action("maker", 10);
        insta::assert_snapshot!(approval_consequence("nova", crate::engine::LOOP_GUARD, &pause), @"Nova will **let maker go on: it has run 10 times on work from offices with no person in between**.");
        insta::assert_snapshot!(loop_guard_details("maker", "maker"), @"Work maker gave maker waits. maker may be looping (making tasks for itself, handing work back and forth). Approve to let it run as many times again; reject, or leave it, and that work waits.");
    }

    #[test]
    fn approval_card_texts() {
        insta::assert_snapshot!(approval(ApprovalState::Pending).fallback_text(), @r"
        **maker** asks for approval to **drop the table legacy_orders** (destructive, risk: high).
        > It has had no reads in 90 days.
        Who may decide: alice, carol. Expires at 22:00 UTC.
        ");
        insta::assert_snapshot!(approval(ApprovalState::Approved).fallback_text(), @"Approved by carol at 21:30 UTC: **drop the table legacy_orders** (asked by **maker**).");
        insta::assert_snapshot!(approval(ApprovalState::Rejected).fallback_text(), @"Rejected by carol at 21:30 UTC: **drop the table legacy_orders** (asked by **maker**).");
        insta::assert_snapshot!(approval(ApprovalState::Expired).fallback_text(), @"Expired at 22:00 UTC without a decision: **drop the table legacy_orders** (asked by **maker**).");
        // On the workspace's clock.
        let in_new_york = |state| {
            let mut card = approval(state);
            if let Card::Approval { time_zone, .. } = &mut card {
                *time_zone = Some("America/New_York".into());
            }
            card
        };
        let pending = in_new_york(ApprovalState::Pending).fallback_text();
        insta::assert_snapshot!(pending.lines().last().unwrap(), @"Who may decide: alice, carol. Expires at 17:00 EST.");
        insta::assert_snapshot!(in_new_york(ApprovalState::Approved).fallback_text(), @"Approved by carol at 16:30 EST: **drop the table legacy_orders** (asked by **maker**).");
        // A card stored before cards had a clock reads as before.
        let mut stored = serde_json::to_value(approval(ApprovalState::Expired)).unwrap();
        assert!(stored.get("time_zone").is_none());
        stored["time_zone"] = serde_json::Value::Null;
        let stored: Card = serde_json::from_value(stored).unwrap();
        assert!(stored.fallback_text().starts_with("Expired at 22:00 UTC"));
    }

    #[test]
    fn credential_card_texts() {
        let card = |state: CredentialState| Card::Credential {
            id: "c1".into(),
            office: "maker".into(),
            name: "github_token".into(),
            why: "to open the pull request".into(),
            state,
            provided_by: (state == CredentialState::Provided).then(|| "alice".into()),
        };
        insta::assert_snapshot!(card(CredentialState::Pending).fallback_text(), @r"
        **maker** needs the credential **github_token**: to open the pull request
        It goes straight into the vault: nobody in this thread sees it, and neither does the office.
        ");
        insta::assert_snapshot!(card(CredentialState::Provided).fallback_text(), @"**github_token** was provided by alice and stored in the vault; **maker** can use it now.");
        insta::assert_snapshot!(card(CredentialState::Expired).fallback_text(), @"Nobody provided **github_token** in time; **maker** has to ask again.");
    }

    fn review(state: ReviewState) -> Card {
        Card::Review(Box::new(ReviewCard {
            id: 3,
            office: "maker".into(),
            repo: "payments-api".into(),
            branch: "nova/s-1a2b3c".into(),
            base: "main".into(),
            revision: 2,
            summary: "Accept coupon codes of 6 to 12 characters.".into(),
            files: vec![FileStat { path: "coupons.sh".into(), added: 2, removed: 1 }],
            excerpt: "--- a/coupons.sh\n+++ b/coupons.sh\n@@ -1 +1,2 @@\n-valid() { [ ${#1} -eq 8 ]; }\n+# 6 to 12\n+valid() { [ ${#1} -ge 6 ]; }".into(),
            tests: vec![TestRun { command: "sh test.sh".into(), passed: true }, TestRun { command: "make lint".into(), passed: false }],
            since_last: Some(vec!["coupons.sh".into()]),
            state,
            approved_by: if state == ReviewState::Open { vec!["carol".into()] } else { vec!["carol".into(), "dave".into()] },
            changes_requested_by: if state == ReviewState::ChangesRequested { vec!["erin".into()] } else { vec![] },
            comments: vec![ReviewComment { author: "erin".into(), body: "why 12?".into(), at: Some("coupons.sh:1".into()) }],
            needed: 2,
            approvers: vec!["lead".into()],
            outcome: match state {
                ReviewState::Merged => Some("`9f2c1d04aa11`".into()),
                ReviewState::Failed => Some("the remote refused the push to `main`".into()),
                _ => None,
            },
            pull_request: None,
        }))
    }

    #[test]
    fn a_review_on_github_shows_its_pull_request_and_decisions_made_in_chat_are_mirrored_there() {
        let Card::Review(mut card) = review(ReviewState::Open) else { unreachable!() };
        card.pull_request = Some("acme/payments-api#7".into());
        let text = Card::Review(card.clone()).fallback_text();
        insta::assert_snapshot!(text.lines().find(|l| l.starts_with("Pull request")).unwrap(), @"Pull request: acme/payments-api#7 (reviews there count here)");
        insta::assert_snapshot!(pull_request_title(&card), @"Accept coupon codes of 6 to 12 characters");
        insta::assert_snapshot!(pull_request_body(&card), @r#"
            Accept coupon codes of 6 to 12 characters.

            Tests: passed `sh test.sh` · FAILED `make lint`

            ---
            Nova review #3, revision 2: **maker**'s change. It needs 2 approvals (lead); reviews here and in the chat thread both count.
            <!-- nova -->
            "#);
        insta::assert_snapshot!(mirrored_decision("carol", crate::store::Verdict::Approve, "", None), @r#"
            **carol** approved in the chat thread.

            <!-- nova -->
            "#);
        insta::assert_snapshot!(mirrored_decision("erin", crate::store::Verdict::RequestChanges, "why 12?", Some("coupons.sh:1")), @r#"
            **erin** asked for changes on `coupons.sh:1` in the chat thread: why 12?

            <!-- nova -->
            "#);
        card.state = ReviewState::Approved;
        card.outcome = Some("pull request acme/payments-api#7 waits to be merged on GitHub.".into());
        let text = Card::Review(card).fallback_text();
        insta::assert_snapshot!(text.lines().last().unwrap(), @"Approved by: carol. Approved: pull request acme/payments-api#7 waits to be merged on GitHub.");
        insta::assert_snapshot!(code_host_review_refused("alice-gh", "GitHub", "alice-gh asked for this work, so someone else has to review it"), @"alice-gh's review on GitHub does not count toward review policy: alice-gh asked for this work, so someone else has to review it.");
    }

    #[test]
    fn review_card_texts() {
        insta::assert_snapshot!(review(ReviewState::Open).fallback_text(), @r#"
            **Review #3** of **maker**'s change to `payments-api` (`nova/s-1a2b3c` into `main`), revision 2
            Accept coupon codes of 6 to 12 characters.
            Files: `coupons.sh` +2 −1
            Since revision 1: `coupons.sh`
            Tests: passed `sh test.sh` · FAILED `make lint`
            ```diff
            --- a/coupons.sh
            +++ b/coupons.sh
            @@ -1 +1,2 @@
            -valid() { [ ${#1} -eq 8 ]; }
            +# 6 to 12
            +valid() { [ ${#1} -ge 6 ]; }
            ```
            > erin on `coupons.sh:1`: why 12?
            Approved by: carol. Waiting for 1 more approval (lead).
        "#);
        let status = |state: ReviewState| review(state).fallback_text().lines().last().unwrap().to_owned();
        insta::assert_snapshot!(status(ReviewState::ChangesRequested), @r#"Approved by: carol, dave. Changes requested by erin; **maker** is revising."#);
        insta::assert_snapshot!(status(ReviewState::Merged), @r#"Approved by: carol, dave. Merged into `main`: `9f2c1d04aa11`"#);
        insta::assert_snapshot!(status(ReviewState::Failed), @r#"Approved by: carol, dave. Approved, but the merge failed: the remote refused the push to `main`"#);
        insta::assert_snapshot!(status(ReviewState::Approved), @r#"Approved by: carol, dave. Approved: nothing more runs for this repo."#);
        let comments = [
            ReviewComment { author: "carol".into(), body: "say why 12".into(), at: Some("coupons.sh:1".into()) },
            ReviewComment { author: "dave".into(), body: "and add a test for 13".into(), at: None },
        ];
        let waiting = |state: ReviewState| match review(state) {
            Card::Review(card) => *card,
            _ => unreachable!(),
        };
        insta::assert_snapshot!(review_list(&[waiting(ReviewState::Open), waiting(ReviewState::ChangesRequested)]), @r#"
            Waiting for review:
            • #3 **maker**'s change to `payments-api`, revision 2: Accept coupon codes of 6 to 12 characters. — needs 1 more approval (lead)
            • #3 **maker**'s change to `payments-api`, revision 2: Accept coupon codes of 6 to 12 characters. — changes requested by erin
        "#);
        insta::assert_snapshot!(review_list(&[]), @r#"No review is waiting."#);
        insta::assert_snapshot!(review_request_prompt("qa", &waiting(ReviewState::Open), "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"), @r#"
            @qa please review #3 (revision 2): **maker**'s change to `payments-api` (`nova/s-1a2b3c` into `main`).
            Accept coupon codes of 6 to 12 characters.
            Tests: passed `sh test.sh` · FAILED `make lint`

            ```diff
            --- a/x
            +++ b/x
            @@ -1 +1 @@
            -a
            +b
            ```

            Decide with `review_decision` (review 3): `approve`, or `request_changes` with what should change (on a line: `path:line`). Judge the diff, not the summary.
        "#);
        insta::assert_snapshot!(changes_requested_prompt(3, 1, "maker", &comments), @r#"
            @maker changes requested on review #3 (revision 1). Address every comment, commit, push the branch and report the change again (`submit_change`) for the next revision:
            - carol on `coupons.sh:1`: say why 12
            - dave: and add a test for 13
        "#);
    }

    #[test]
    fn cards_round_trip_as_json() {
        let card = Card::Picker {
            options: vec![PickOption { office: "maker".into(), role: "Engineer".into() }],
            resolved: None,
        };
        insta::assert_snapshot!(card.to_json(), @r#"{"type":"picker","options":[{"office":"maker","role":"Engineer"}],"resolved":null}"#);
        assert_eq!(Card::from_json(&card.to_json()), Some(card));
    }
}
