//! What the console and the surfaces show live: thread messages and office states,
//! and the updates that announce their changes.

use super::*;

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
    pub kind: String,
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
            role: self.config.office(&row.name).map(|o| o.role.clone()).unwrap_or_default(),
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
            .filter(|o| self.config.office(&o.name).is_some())
            .map(|o| self.office_view(o))
            .collect())
    }
}
