//! The states rows move through, stored as their lower-case names, and the one table
//! of moves an office's lifecycle allows.

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// Where a prompt is on its way from a thread to a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum PromptState {
    /// Waiting for a person to pick the office (picker card).
    #[sea_orm(string_value = "unrouted")]
    Unrouted,
    /// Waiting for its office to be ready, or for its turn there.
    #[sea_orm(string_value = "held")]
    Held,
    /// Handed to the office, which runs it.
    #[sea_orm(string_value = "dispatched")]
    Dispatched,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Someone stopped it, queued or running.
    #[sea_orm(string_value = "stopped")]
    Stopped,
}

impl PromptState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unrouted => "unrouted",
            Self::Held => "held",
            Self::Dispatched => "dispatched",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

/// An office's lifecycle: `asleep → waking → ready ⇄ idle → snapshotting → asleep`,
/// and `failed` with its reason. The moves are [`Transition`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum OfficeState {
    /// No machine; its workspace is its latest snapshot.
    #[sea_orm(string_value = "asleep")]
    Asleep,
    #[sea_orm(string_value = "waking")]
    Waking,
    /// Up and running prompts.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// Up with nothing to do; sleeps after its idle timeout.
    #[sea_orm(string_value = "idle")]
    Idle,
    #[sea_orm(string_value = "snapshotting")]
    Snapshotting,
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl OfficeState {
    pub const ALL: [Self; 6] = [Self::Asleep, Self::Waking, Self::Ready, Self::Idle, Self::Snapshotting, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asleep => "asleep",
            Self::Waking => "waking",
            Self::Ready => "ready",
            Self::Idle => "idle",
            Self::Snapshotting => "snapshotting",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for OfficeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for PromptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every move an office's lifecycle allows. Each is applied by one conditional update,
/// fenced by the office's generation and the states it may come from, so of two
/// replicas (or two tasks) racing, one moves and the other learns it lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum Transition {
    /// A wake this engine won; the generation moves on with it (`Store::begin_wake`).
    Wake,
    /// Restored, started, healthy and briefed.
    Ready,
    /// Nothing left to run.
    GoIdle,
    /// A prompt came for an idle office.
    Resume,
    /// Idle past its idle timeout.
    IdleOut,
    /// A person asked it to sleep, or its process broke and left its workspace behind.
    SleepNow,
    /// Its workspace is stored and its machine released.
    Slept,
    /// Its machine went, and the workspace with it: back to its last snapshot.
    Lost,
    WakeFailed,
    SnapshotFailed,
    /// The replica that ran it stopped renewing its lease.
    TakeOver,
    /// After a restart: a wake this replica left half done.
    RecoverWaking,
    /// After a restart: a workspace this replica left behind, to be stored.
    RecoverUp,
}

impl Transition {
    /// The states this move may start from.
    pub fn from(self) -> &'static [OfficeState] {
        use OfficeState::*;
        match self {
            Self::Wake => &[Asleep, Failed],
            Self::Ready | Self::WakeFailed | Self::RecoverWaking => &[Waking],
            Self::GoIdle => &[Ready],
            Self::Resume | Self::IdleOut => &[Idle],
            Self::SleepNow | Self::Lost => &[Ready, Idle],
            Self::Slept | Self::SnapshotFailed => &[Snapshotting],
            Self::TakeOver => &[Waking, Ready, Idle, Snapshotting],
            Self::RecoverUp => &[Ready, Idle, Snapshotting],
        }
    }

    /// The state it ends in.
    pub fn to(self) -> OfficeState {
        use OfficeState::*;
        match self {
            Self::Wake => Waking,
            Self::Ready | Self::Resume => Ready,
            Self::GoIdle => Idle,
            Self::IdleOut | Self::SleepNow | Self::RecoverUp => Snapshotting,
            Self::Slept | Self::Lost | Self::RecoverWaking => Asleep,
            Self::WakeFailed | Self::SnapshotFailed | Self::TakeOver => Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable as _;

    use super::*;

    /// The lifecycle as a table, so a change to it shows in review.
    #[test]
    fn the_lifecycle_in_one_table() {
        let table: Vec<String> = Transition::iter()
            .map(|t| {
                let from: Vec<&str> = t.from().iter().map(|s| s.as_str()).collect();
                format!("{t:?}: {} → {}", from.join("|"), t.to().as_str())
            })
            .collect();
        insta::assert_snapshot!(table.join("\n"));
    }

    #[test]
    fn every_state_is_reached_and_left_and_only_a_wake_leaves_asleep() {
        for state in OfficeState::ALL {
            assert!(Transition::iter().any(|t| t.to() == state), "{state:?} is never reached");
            assert!(Transition::iter().any(|t| t.from().contains(&state)), "{state:?} is never left");
        }
        let from_asleep: Vec<Transition> =
            Transition::iter().filter(|t| t.from().contains(&OfficeState::Asleep)).collect();
        assert_eq!(from_asleep, [Transition::Wake]);
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting to be claimed (or for its dependencies).
    #[sea_orm(string_value = "open")]
    Open,
    /// An office holds it, for one run.
    #[sea_orm(string_value = "claimed")]
    Claimed,
    #[sea_orm(string_value = "done")]
    Done,
    /// Failed as often as it may; escalated.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Someone stopped its run: it waits for a person, not for a retry.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Done, failed or cancelled: nothing happens to it any more.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

/// How a task's claim was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum ClaimVia {
    /// Nova handed the task to its owner as a run: the run's end closes the task.
    #[sea_orm(string_value = "dispatch")]
    Dispatch,
    /// The office claimed it itself (`task claim`): it closes it with `task done`.
    #[sea_orm(string_value = "office")]
    Office,
}

/// Where a review is: waiting for reviewers, sent back, merging, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Its latest revision waits for the approvals its policy needs.
    #[sea_orm(string_value = "open")]
    Open,
    /// A reviewer sent it back to the office; its next revision opens it again.
    #[sea_orm(string_value = "changes_requested")]
    ChangesRequested,
    /// Approved; its stages are running (one approval got here: the rest see it taken).
    #[sea_orm(string_value = "merging")]
    Merging,
    /// Approved and merged into its base.
    #[sea_orm(string_value = "merged")]
    Merged,
    /// Approved, with no stage to run.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// Approved, but a stage failed (the outcome says why).
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ChangesRequested => "changes_requested",
            Self::Merging => "merging",
            Self::Merged => "merged",
            Self::Approved => "approved",
            Self::Failed => "failed",
        }
    }

    /// Whether reviewers may still decide on it.
    pub fn is_reviewable(self) -> bool {
        matches!(self, Self::Open | Self::ChangesRequested)
    }
}

/// What a reviewer said about a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    #[sea_orm(string_value = "approve")]
    Approve,
    #[sea_orm(string_value = "request_changes")]
    RequestChanges,
    #[sea_orm(string_value = "comment")]
    Comment,
}

/// Where people talk to Nova. A thread, an inbound event and a mirrored post each belong
/// to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    #[sea_orm(string_value = "slack")]
    Slack,
    #[sea_orm(string_value = "discord")]
    Discord,
    /// Nova's own web console (and `/api`): no platform to mirror to.
    #[sea_orm(string_value = "console")]
    Console,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Console => "console",
        }
    }
}

impl std::fmt::Display for Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a platform event is: something a person said, or a click on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum InboundKind {
    #[sea_orm(string_value = "message")]
    Message,
    #[sea_orm(string_value = "action")]
    Action,
}

impl InboundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Action => "action",
        }
    }
}

/// What a thread's message is, which decides how surfaces show it and what an office
/// is told of the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A person's words, or Nova's plain reply.
    #[sea_orm(string_value = "text")]
    Text,
    /// An earlier message of a platform thread Nova joined midway.
    #[sea_orm(string_value = "context")]
    Context,
    /// A run's progress, edited in place while it runs (surfaces throttle its edits).
    #[sea_orm(string_value = "progress")]
    Progress,
    /// What a run said when it finished.
    #[sea_orm(string_value = "result")]
    Result,
    /// An approval, credential-request, picker or review card.
    #[sea_orm(string_value = "card")]
    Card,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Context => "context",
            Self::Progress => "progress",
            Self::Result => "result",
            Self::Card => "card",
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an office's request for approval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    /// Waiting for someone who may decide, until it expires.
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Nobody decided in time: the office has to ask again.
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

impl std::str::FromStr for ApprovalState {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        use sea_orm::Iterable as _;
        Self::iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| format!("unknown state `{name}`: pending, approved, rejected or expired"))
    }
}

impl std::fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an office's request for a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Waiting for someone to provide the value, until it expires.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Stored in the vault.
    #[sea_orm(string_value = "provided")]
    Provided,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl CredentialState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Provided => "provided",
            Self::Expired => "expired",
        }
    }
}
