//! How Slack shows Nova's messages (see [`crate::mirror`]): each thread is a Slack
//! thread, cards are Block Kit.

use orchestrator::store::{Surface, messages};
use orchestrator::texts::Card;

use super::api::{Content, SlackApi};
use super::thread_key::ThreadKey;
use crate::mirror::Writer;

fn key(thread_id: &str) -> anyhow::Result<ThreadKey> {
    ThreadKey::parse(thread_id).ok_or_else(|| anyhow::anyhow!("thread id `{thread_id}` is not a Slack thread"))
}

impl Writer for SlackApi {
    const SURFACE: Surface = super::SURFACE;

    async fn post(&self, thread_id: &str, message: &messages::Model, card: Option<&Card>) -> anyhow::Result<String> {
        let key = key(thread_id)?;
        let content = Content::new(message.id, &message.body, card)?;
        Ok(SlackApi::post(self, &key.channel, &key.thread_ts, content).await?)
    }

    async fn edit(
        &self,
        thread_id: &str,
        external_id: &str,
        message: &messages::Model,
        card: Option<&Card>,
    ) -> anyhow::Result<()> {
        let key = key(thread_id)?;
        let content = Content::new(message.id, &message.body, card)?;
        Ok(self.update(&key.channel, external_id, content).await?)
    }
}
