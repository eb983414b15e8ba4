//! How Discord shows Nova's messages (see [`crate::mirror`]). A session started in a
//! channel gets a public thread, opened from the person's message on Nova's first
//! reply; a DM session is the DM itself. Cards are buttons.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use orchestrator::Engine;
use orchestrator::store::{Surface, messages};
use orchestrator::texts::Card;
use serenity::all::{AutoArchiveDuration, CreateMessage, CreateThread, EditMessage, MessageId, Nonce};

use super::api::DiscordApi;
use super::components;
use super::events::ThreadKey;
use crate::mirror::Writer;

/// Discord's error when a message already has a thread: the one Nova wants exists.
const THREAD_ALREADY_EXISTS: i64 = 160004;

pub struct DiscordWriter {
    engine: Arc<Engine>,
    api: Arc<DiscordApi>,
    /// Sessions whose Discord thread this process knows is open.
    open: Mutex<HashSet<String>>,
}

impl DiscordWriter {
    pub fn new(engine: Arc<Engine>, api: Arc<DiscordApi>) -> Self {
        Self { engine, api, open: Mutex::new(HashSet::new()) }
    }

    /// Opens the session's thread from its first message, unless it is open already.
    async fn open_thread(&self, thread_id: &str, key: &ThreadKey) -> anyhow::Result<()> {
        let ThreadKey::Thread { parent, root } = key else {
            return Ok(());
        };
        if self.open.lock().expect("open threads").contains(thread_id) {
            return Ok(());
        }
        let title = self.engine.thread(thread_id).await?.map(|t| t.title).unwrap_or_default();
        let thread =
            CreateThread::new(components::thread_name(&title)).auto_archive_duration(AutoArchiveDuration::OneDay);
        match self.api.start_thread(*parent, *root, thread).await {
            Ok(_) => {}
            Err(error) if error.code() == Some(THREAD_ALREADY_EXISTS) => {}
            Err(error) => return Err(error).context("cannot open a thread for the session"),
        }
        self.open.lock().expect("open threads").insert(thread_id.to_owned());
        Ok(())
    }
}

fn key(thread_id: &str) -> anyhow::Result<ThreadKey> {
    ThreadKey::parse(thread_id).ok_or_else(|| anyhow::anyhow!("thread id `{thread_id}` is not a Discord thread"))
}

impl Writer for DiscordWriter {
    const SURFACE: Surface = super::SURFACE;

    async fn post(&self, thread_id: &str, message: &messages::Model, card: Option<&Card>) -> anyhow::Result<String> {
        let key = key(thread_id)?;
        self.open_thread(thread_id, &key).await?;
        let (content, rows) = components::message(message.id, &message.body, card);
        // Posting the same message again (a mirror that stopped between the post and its
        // bookkeeping, then took it up after a restart) gets the first one back.
        let create = CreateMessage::new()
            .content(content)
            .components(rows)
            .nonce(Nonce::String(format!("nova-{}", message.id)))
            .enforce_nonce(true);
        let posted = self.api.send(key.channel(), create).await?;
        Ok(posted.id.to_string())
    }

    /// Never needed: posting again gets the first post back (the nonce, above).
    async fn find_post(&self, _thread_id: &str, _message: &messages::Model) -> anyhow::Result<Option<String>> {
        Ok(None)
    }

    async fn edit(
        &self,
        thread_id: &str,
        external_id: &str,
        message: &messages::Model,
        card: Option<&Card>,
    ) -> anyhow::Result<()> {
        let key = key(thread_id)?;
        let id: u64 = external_id.parse().context("a Discord message id is a number")?;
        let (content, rows) = components::message(message.id, &message.body, card);
        self.api.edit(key.channel(), MessageId::new(id), EditMessage::new().content(content).components(rows)).await?;
        Ok(())
    }
}
