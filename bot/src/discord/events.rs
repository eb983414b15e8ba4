//! Discord payloads turned into Nova's own types at the edge (from serenity's models),
//! the pure decision of what a message means to Nova, and thread keys.

use std::collections::HashMap;

use orchestrator::vault::SecretValue;
use serenity::all::{
    ActionRowComponent, ApplicationId, ChannelId, CommandDataOptionValue, Interaction, InteractionId, Message,
    MessageId, MessageType, UserId,
};

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A server text channel.
    Channel,
    /// A thread; `parent` is the channel it hangs off.
    Thread {
        parent: ChannelId,
    },
    Dm,
}

/// A message as Nova needs it.
#[derive(Debug, Clone)]
pub struct DiscordMessage {
    pub id: MessageId,
    pub channel: ChannelId,
    pub author: UserId,
    /// Written by a bot or a webhook.
    pub automated: bool,
    /// A regular message or a reply (not a join, pin, thread-created notice…).
    pub ordinary: bool,
    pub content: String,
    pub mentions: Vec<UserId>,
}

impl From<&Message> for DiscordMessage {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id,
            channel: message.channel_id,
            author: message.author.id,
            automated: message.author.bot || message.webhook_id.is_some(),
            ordinary: matches!(message.kind, MessageType::Regular | MessageType::InlineReply),
            content: message.content.clone(),
            mentions: message.mentions.iter().map(|u| u.id).collect(),
        }
    }
}

/// What Nova does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Ignore(&'static str),
    /// A new session (Nova opens a thread for it in a channel).
    Start,
    /// Another message in a session.
    FollowUp,
    /// A person talking where Nova listens but was not addressed (an unbound channel, a
    /// thread that is no session): not a prompt, but a hint of who may be asked soon.
    Chatter,
}

/// `session`: the message's thread (or DM) is already a Nova session. `bound`: the
/// channel (a thread's parent) is bound to a repo or office in nova.toml.
pub fn disposition(message: &DiscordMessage, place: Place, nova: UserId, session: bool, bound: bool) -> Disposition {
    if message.author == nova {
        return Disposition::Ignore("Nova's own message");
    }
    if message.automated {
        return Disposition::Ignore("a bot's message");
    }
    if !message.ordinary {
        return Disposition::Ignore("a system message");
    }
    if prompt_text(&message.content, nova).is_empty() {
        return Disposition::Ignore("no text (without the Message Content intent Nova sees only mentions and DMs)");
    }
    let mentioned = message.mentions.contains(&nova);
    match place {
        _ if session => Disposition::FollowUp,
        Place::Dm => Disposition::Start,
        Place::Thread { .. } if mentioned => Disposition::Start,
        Place::Thread { .. } => Disposition::Chatter,
        Place::Channel if mentioned || bound => Disposition::Start,
        Place::Channel => Disposition::Chatter,
    }
}

/// The prompt: the text without Nova's mention.
pub fn prompt_text(content: &str, nova: UserId) -> String {
    content.replace(&format!("<@{nova}>"), " ").replace(&format!("<@!{nova}>"), " ").trim().to_owned()
}

/// A session's thread id in the store. A session started in a channel lives in the
/// thread Nova opens from its first message, whose id Discord gives the thread; a
/// DM conversation is one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadKey {
    /// The thread started from message `root` in `parent` (the thread's id is `root`).
    Thread {
        parent: ChannelId,
        root: MessageId,
    },
    Dm {
        channel: ChannelId,
    },
}

impl ThreadKey {
    pub fn id(&self) -> String {
        match self {
            Self::Thread { parent, root } => format!("discord:{parent}:{root}"),
            Self::Dm { channel } => format!("discord:dm:{channel}"),
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        let rest = id.strip_prefix("discord:")?;
        let (first, second) = rest.split_once(':')?;
        let second: u64 = second.parse().ok().filter(|n| *n != 0)?;
        if first == "dm" {
            return Some(Self::Dm { channel: ChannelId::new(second) });
        }
        let parent: u64 = first.parse().ok().filter(|n| *n != 0)?;
        Some(Self::Thread { parent: ChannelId::new(parent), root: MessageId::new(second) })
    }

    /// Where Nova posts: the thread (whose id is its first message's) or the DM.
    pub fn channel(&self) -> ChannelId {
        match self {
            Self::Thread { root, .. } => ChannelId::new(root.get()),
            Self::Dm { channel } => *channel,
        }
    }

    /// The key of the session a message belongs to (or would start).
    pub fn of(message: &DiscordMessage, place: Place) -> Self {
        match place {
            Place::Channel => Self::Thread { parent: message.channel, root: message.id },
            Place::Thread { parent } => Self::Thread { parent, root: MessageId::new(message.channel.get()) },
            Place::Dm => Self::Dm { channel: message.channel },
        }
    }
}

/// Who clicked, where, and how to answer: what every interaction carries.
#[derive(Debug, Clone)]
pub struct Origin {
    pub id: InteractionId,
    pub application: ApplicationId,
    pub token: String,
    pub user: UserId,
    pub channel: ChannelId,
}

impl Origin {
    fn new(id: InteractionId, application: ApplicationId, token: String, user: UserId, channel: ChannelId) -> Self {
        Self { id, application, token, user, channel }
    }
}

/// An interaction as Nova needs it.
#[derive(Debug)]
pub enum DiscordInteraction {
    Ping,
    Button {
        origin: Origin,
        custom_id: String,
    },
    ModalSubmit {
        origin: Origin,
        custom_id: String,
        values: HashMap<String, SecretValue>,
    },
    /// A slash command with its options' text joined (`/nova wake maker` → `wake maker`).
    Command {
        origin: Origin,
        name: String,
        text: String,
    },
    Other(&'static str),
}

impl DiscordInteraction {
    /// Who to answer, for the interactions that have someone to answer.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Self::Button { origin, .. } | Self::ModalSubmit { origin, .. } | Self::Command { origin, .. } => {
                Some(origin)
            }
            Self::Ping | Self::Other(_) => None,
        }
    }
}

impl From<Interaction> for DiscordInteraction {
    fn from(interaction: Interaction) -> Self {
        match interaction {
            Interaction::Ping(_) => Self::Ping,
            Interaction::Component(c) => {
                let origin = Origin::new(c.id, c.application_id, c.token, c.user.id, c.channel_id);
                Self::Button { origin, custom_id: c.data.custom_id }
            }
            Interaction::Modal(m) => {
                let values = m
                    .data
                    .components
                    .into_iter()
                    .flat_map(|row| row.components)
                    .filter_map(|component| match component {
                        ActionRowComponent::InputText(input) => {
                            Some((input.custom_id, SecretValue::new(input.value.unwrap_or_default())))
                        }
                        _ => None,
                    })
                    .collect();
                let origin = Origin::new(m.id, m.application_id, m.token, m.user.id, m.channel_id);
                Self::ModalSubmit { origin, custom_id: m.data.custom_id, values }
            }
            Interaction::Command(c) => {
                let text: Vec<String> = c
                    .data
                    .options
                    .iter()
                    .filter_map(|option| match &option.value {
                        CommandDataOptionValue::String(text) => Some(text.clone()),
                        _ => None,
                    })
                    .collect();
                let origin = Origin::new(c.id, c.application_id, c.token, c.user.id, c.channel_id);
                Self::Command { origin, name: c.data.name, text: text.join(" ") }
            }
            Interaction::Autocomplete(_) => Self::Other("autocomplete"),
            _ => Self::Other("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOVA: UserId = UserId::new(2);
    const ALICE: UserId = UserId::new(101);

    fn message(content: &str) -> DiscordMessage {
        DiscordMessage {
            id: MessageId::new(500),
            channel: ChannelId::new(10),
            author: ALICE,
            automated: false,
            ordinary: true,
            content: content.to_owned(),
            mentions: if content.contains("<@2>") { vec![NOVA] } else { vec![] },
        }
    }

    fn decide(message: &DiscordMessage, place: Place, session: bool, bound: bool) -> Disposition {
        disposition(message, place, NOVA, session, bound)
    }

    #[test]
    fn what_nova_answers() {
        let thread = Place::Thread { parent: ChannelId::new(10) };
        let table = [
            (message("<@2> fix the cart"), Place::Channel, false, false, Disposition::Start),
            (message("fix the cart"), Place::Channel, false, true, Disposition::Start),
            (message("lunch?"), Place::Channel, false, false, Disposition::Chatter),
            (message("and the tests too"), thread, true, false, Disposition::FollowUp),
            (message("chatting"), thread, false, true, Disposition::Chatter),
            (message("<@2> summarise this"), thread, false, false, Disposition::Start),
            (message("hi"), Place::Dm, false, false, Disposition::Start),
            (message("more"), Place::Dm, true, false, Disposition::FollowUp),
        ];
        for (message, place, session, bound, expected) in table {
            assert_eq!(decide(&message, place, session, bound), expected, "{:?} in {place:?}", message.content);
        }
    }

    #[test]
    fn nova_never_answers_itself_bots_or_system_messages() {
        let mut own = message("<@2> loop?");
        own.author = NOVA;
        assert_eq!(decide(&own, Place::Channel, true, true), Disposition::Ignore("Nova's own message"));
        let mut bot = message("<@2> hello");
        bot.automated = true;
        assert_eq!(decide(&bot, Place::Channel, true, true), Disposition::Ignore("a bot's message"));
        let mut joined = message("joined");
        joined.ordinary = false;
        assert_eq!(decide(&joined, Place::Dm, true, true), Disposition::Ignore("a system message"));
    }

    #[test]
    fn empty_text_is_explained() {
        // Without the Message Content intent, Discord sends other messages empty.
        let Disposition::Ignore(why) = decide(&message(""), Place::Channel, false, true) else { panic!() };
        assert!(why.contains("Message Content"));
        assert!(matches!(decide(&message("<@2>"), Place::Channel, false, true), Disposition::Ignore(_)));
    }

    #[test]
    fn mentions_are_dropped_from_prompts() {
        assert_eq!(prompt_text("<@2> fix <@!2> it", NOVA), "fix   it");
        assert_eq!(prompt_text("ask <@101>", NOVA), "ask <@101>");
    }

    #[test]
    fn thread_keys() {
        let first = message("<@2> fix");
        let key = ThreadKey::of(&first, Place::Channel);
        assert_eq!(key.id(), "discord:10:500");
        assert_eq!(key.channel(), ChannelId::new(500));
        assert_eq!(ThreadKey::parse(&key.id()), Some(key.clone()));
        // A reply inside that thread (channel 500) belongs to the same session.
        let mut reply = message("more");
        reply.channel = ChannelId::new(500);
        assert_eq!(ThreadKey::of(&reply, Place::Thread { parent: ChannelId::new(10) }), key);
        let dm = ThreadKey::of(&message("hi"), Place::Dm);
        assert_eq!(dm.id(), "discord:dm:10");
        assert_eq!(ThreadKey::parse("discord:dm:10"), Some(dm));
        for bad in ["slack:C1:1.2", "discord:10", "discord:x:1", "discord:0:1", "discord:dm:0"] {
            assert_eq!(ThreadKey::parse(bad), None, "{bad}");
        }
    }
}
