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

    /// Looks in the thread for a post carrying the message's block id, from a little
    /// before the message was written (clocks differ by seconds at most).
    async fn find_post(&self, thread_id: &str, message: &messages::Model) -> anyhow::Result<Option<String>> {
        let key = key(thread_id)?;
        let oldest = format!("{}.000000", (message.created_at / 1000 - 60).max(0));
        let block_id = super::blocks::message_block_id(message.id);
        Ok(SlackApi::find_post(self, &key.channel, &key.thread_ts, &block_id, &oldest).await?)
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
