//! A Slack thread as Nova names it: `slack:{channel}:{thread_ts}`. Deterministic, so a
//! redelivered event, a reply and a click all find the same session.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadKey {
    pub channel: String,
    pub thread_ts: String,
}

impl ThreadKey {
    pub fn new(channel: &str, thread_ts: &str) -> Self {
        Self { channel: channel.to_owned(), thread_ts: thread_ts.to_owned() }
    }

    pub fn id(&self) -> String {
        format!("slack:{}:{}", self.channel, self.thread_ts)
    }

    pub fn parse(id: &str) -> Option<Self> {
        let rest = id.strip_prefix("slack:")?;
        let (channel, thread_ts) = rest.split_once(':')?;
        (!channel.is_empty() && !thread_ts.is_empty()).then(|| Self::new(channel, thread_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let key = ThreadKey::new("C024BE91L", "1700000000.000100");
        assert_eq!(key.id(), "slack:C024BE91L:1700000000.000100");
        assert_eq!(ThreadKey::parse(&key.id()), Some(key));
    }

    #[test]
    fn refuses_other_ids() {
        assert_eq!(ThreadKey::parse("4b7c2d1e-console-thread"), None);
        assert_eq!(ThreadKey::parse("slack:C1"), None);
        assert_eq!(ThreadKey::parse("slack::1.2"), None);
    }
}
