//! What the console and the surfaces show live: thread messages and office states,
//! and the updates that announce their changes.

use super::*;
use crate::texts::ReviewCard;

/// A change the console (and later other surfaces) shows live.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    Message { channel: String, message: Box<MessageView> },
    Office { office: OfficeView },
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub thread_id: String,
    pub author: String,
    pub from_nova: bool,
    pub kind: MessageKind,
    pub body: String,
    pub card: Option<Card>,
    pub run_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<messages::Model> for MessageView {
    fn from(m: messages::Model) -> Self {
        Self {
            card: m.card.as_deref().and_then(Card::from_json),
            id: m.id,
            thread_id: m.thread_id,
            author: m.author,
            from_nova: m.from_nova,
            kind: m.kind,
            body: m.body,
            run_id: m.run_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OfficeView {
    pub name: String,
    pub role: String,
    pub state: OfficeState,
    pub generation: i64,
    pub failure: Option<String>,
    pub snapshot_bytes: Option<i64>,
    /// Up (or on its way) because someone is typing, not for a prompt yet.
    pub prewarmed: bool,
}

/// A session's thread, as surfaces and the console need it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadView {
    pub id: String,
    pub channel: String,
    pub title: String,
    pub office: Option<String>,
    pub repo: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<store::threads::Model> for ThreadView {
    fn from(t: store::threads::Model) -> Self {
        Self {
            id: t.id,
            channel: t.channel,
            title: t.title,
            office: t.office,
            repo: t.repo,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl Engine {
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    pub(super) fn publish_message(&self, channel: &str, message: messages::Model) {
        let _ = self.updates.send(Update::Message { channel: channel.to_owned(), message: Box::new(message.into()) });
    }

    pub(super) async fn publish_office(&self, name: &str) {
        if let Ok(Some(row)) = self.store.office(name).await {
            let _ = self.updates.send(Update::Office { office: self.office_view(row) });
        }
    }

    pub fn office_view(&self, row: offices::Model) -> OfficeView {
        OfficeView {
            role: self.config().office(&row.name).map(|o| o.role.clone()).unwrap_or_default(),
            name: row.name,
            state: row.state,
            generation: row.generation,
            failure: row.failure,
            snapshot_bytes: row.snapshot_bytes,
            prewarmed: row.prewarm_until.is_some(),
        }
    }

    pub async fn offices(&self) -> anyhow::Result<Vec<OfficeView>> {
        Ok(self
            .store
            .all_offices()
            .await?
            .into_iter()
            .filter(|o| self.config().office(&o.name).is_some())
            .map(|o| self.office_view(o))
            .collect())
    }

    /// Whether `thread_id` is a session Nova has on `surface` (its replies then join it).
    pub async fn is_session(&self, surface: Surface, thread_id: &str) -> anyhow::Result<bool> {
        Ok(self.store.thread(thread_id).await?.is_some_and(|t| t.surface == surface))
    }

    pub async fn thread(&self, id: &str) -> anyhow::Result<Option<ThreadView>> {
        Ok(self.store.thread(id).await?.map(ThreadView::from))
    }

    /// A thread's messages, oldest first; `None` for a thread Nova does not have.
    pub async fn thread_messages(&self, id: &str) -> anyhow::Result<Option<Vec<MessageView>>> {
        if self.store.thread(id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.store.thread_messages(id).await?.into_iter().map(MessageView::from).collect()))
    }

    /// A channel's sessions on `surface`, most recently active first.
    pub async fn threads_in_channel(&self, surface: Surface, channel: &str) -> anyhow::Result<Vec<ThreadView>> {
        Ok(self.store.threads_in_channel(surface, channel).await?.into_iter().map(ThreadView::from).collect())
    }

    /// `surface`'s sessions active since `since` (unix ms), most recent first.
    pub async fn sessions_since(&self, surface: Surface, since: i64, limit: u64) -> anyhow::Result<Vec<ThreadView>> {
        Ok(self.store.active_threads(surface, since, limit).await?.into_iter().map(ThreadView::from).collect())
    }

    /// The session on `surface` that a card (one of Nova's messages) is in.
    pub async fn card_thread(&self, surface: Surface, message_id: i64) -> anyhow::Result<Option<ThreadView>> {
        let Some(message) = self.store.message(message_id).await? else {
            return Ok(None);
        };
        Ok(self.store.thread(&message.thread_id).await?.filter(|t| t.surface == surface).map(ThreadView::from))
    }

    /// The card of message `message_id` in `thread_id`, if it is one there.
    pub async fn card_in_thread(&self, thread_id: &str, message_id: i64) -> anyhow::Result<Option<Card>> {
        let message = self.store.message(message_id).await?.filter(|m| m.thread_id == thread_id);
        Ok(message.and_then(|m| m.card).as_deref().and_then(Card::from_json))
    }

    /// The dedupe key of the newest event recorded from `surface`, if any.
    pub async fn latest_event_key(&self, surface: Surface) -> anyhow::Result<Option<String>> {
        self.store.latest_inbound_key(surface).await
    }

    /// The audit trail, oldest first, filtered by office, run and time.
    pub async fn audit_trail(&self, filter: &store::AuditFilter) -> anyhow::Result<Vec<store::audit::Model>> {
        self.store.audit_trail(filter).await
    }

    /// The reviews waiting for reviewers (or every one), as their cards show them.
    pub async fn review_cards(&self, all: bool) -> anyhow::Result<Vec<ReviewCardView>> {
        let mut shown = Vec::new();
        for review in self.store.reviews(false).await? {
            if all || review.state.is_reviewable() {
                let card = self.review_card(&review).await?;
                shown.push(ReviewCardView { thread_id: review.thread_id, message_id: review.message_id, card });
            }
        }
        Ok(shown)
    }

    /// One review with every revision's whole diff and every decision (what its card
    /// shows an excerpt of); `None` for a review Nova does not have.
    pub async fn review_detail(&self, id: i64) -> anyhow::Result<Option<ReviewDetail>> {
        let Some(review) = self.store.review(id).await? else {
            return Ok(None);
        };
        let mut revisions = Vec::new();
        for revision in 1..=review.revision {
            let Some(row) = self.store.review_revision(id, revision).await? else { continue };
            let decisions = self.store.review_decisions(id, revision).await?;
            revisions.push(RevisionView {
                revision,
                head: row.head,
                base_commit: row.base_commit,
                summary: row.summary,
                diff: row.diff,
                run_id: row.run_id,
                decisions,
            });
        }
        Ok(Some(ReviewDetail { review, revisions }))
    }

    /// Tasks (an office's, or all), each with the tasks it waits for.
    pub async fn task_views(&self, office: Option<&str>) -> anyhow::Result<Vec<TaskView>> {
        let tasks = self.store.tasks(office).await?;
        let ids: Vec<i64> = tasks.iter().map(|task| task.id).collect();
        let mut deps = self.store.task_dependencies(&ids).await?;
        Ok(tasks
            .into_iter()
            .map(|task| TaskView { depends_on: deps.remove(&task.id).unwrap_or_default(), task })
            .collect())
    }
}

/// A review as the console lists it: its card and where the card is.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewCardView {
    pub thread_id: String,
    pub message_id: Option<i64>,
    pub card: ReviewCard,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewDetail {
    pub review: store::reviews::Model,
    pub revisions: Vec<RevisionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevisionView {
    pub revision: i32,
    pub head: String,
    pub base_commit: String,
    pub summary: String,
    pub diff: String,
    pub run_id: String,
    pub decisions: Vec<store::review_decisions::Model>,
}

/// A task as the console and `/api` show it: with what it waits for.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: store::tasks::Model,
    pub depends_on: Vec<i64>,
}
