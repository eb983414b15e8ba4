//! Slack's settings: from the environment (`SLACK_*`), never from nova.toml, so that
//! tokens stay out of files people commit.

use std::time::Duration;

pub const DEFAULT_API_URL: &str = "https://slack.com/api";

#[derive(Clone)]
pub struct SlackSettings {
    pub signing_secret: String,
    pub bot_token: String,
    /// Socket Mode: Nova connects out to Slack instead of receiving HTTP requests.
    pub app_token: Option<String>,
    pub api_url: String,
    /// The shortest time between two edits of one progress message; edits in between
    /// are coalesced into the next (Slack allows about one write a second per channel).
    pub edit_interval: Duration,
}

impl std::fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSettings")
            .field("api_url", &self.api_url)
            .field("socket_mode", &self.app_token.is_some())
            .field("edit_interval", &self.edit_interval)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is set but {1} is not: Slack needs both (see README, \"Slack\")")]
    Incomplete(&'static str, &'static str),
    #[error("SLACK_APP_TOKEN must be an app-level token (xapp-…)")]
    NotAnAppToken,
    #[error("SLACK_BOT_TOKEN must be a bot token (xoxb-…)")]
    NotABotToken,
    #[error("SLACK_API_URL must start with http:// or https://")]
    BadUrl,
}

impl SlackSettings {
    /// Reads `SLACK_SIGNING_SECRET`, `SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN` and
    /// `SLACK_API_URL` through `var`. `Ok(None)`: Slack is not configured.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let secret = var("SLACK_SIGNING_SECRET");
        let bot_token = var("SLACK_BOT_TOKEN");
        let app_token = var("SLACK_APP_TOKEN");
        let (signing_secret, bot_token) = match (secret, bot_token) {
            (None, None) if app_token.is_none() => return Ok(None),
            (Some(secret), Some(token)) => (secret, token),
            (None, Some(token)) if app_token.is_some() => (String::new(), token),
            (Some(_), None) | (None, None) => {
                return Err(SettingsError::Incomplete("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"));
            }
            (None, Some(_)) => return Err(SettingsError::Incomplete("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")),
        };
        if !bot_token.starts_with("xoxb-") {
            return Err(SettingsError::NotABotToken);
        }
        if app_token.as_deref().is_some_and(|t| !t.starts_with("xapp-")) {
            return Err(SettingsError::NotAnAppToken);
        }
        let api_url = var("SLACK_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        if !api_url.starts_with("http://") && !api_url.starts_with("https://") {
            return Err(SettingsError::BadUrl);
        }
        Ok(Some(Self { signing_secret, bot_token, app_token, api_url, edit_interval: Duration::from_secs(1) }))
    }

    /// Whether HTTP requests to `/slack/*` can be verified (Socket Mode alone has no
    /// signing secret, and then those routes refuse everything).
    pub fn verifies_http(&self) -> bool {
        !self.signing_secret.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<SlackSettings>, SettingsError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SlackSettings::from_env(|k| env.get(k).cloned())
    }

    #[test]
    fn nothing_set_means_no_slack() {
        assert!(read(&[]).unwrap().is_none());
    }

    #[test]
    fn events_api_needs_a_secret_and_a_bot_token() {
        let settings = read(&[("SLACK_SIGNING_SECRET", "s"), ("SLACK_BOT_TOKEN", "xoxb-1")]).unwrap().unwrap();
        assert_eq!(settings.api_url, DEFAULT_API_URL);
        assert!(settings.verifies_http());
        assert_eq!(
            read(&[("SLACK_SIGNING_SECRET", "s")]).unwrap_err().to_string(),
            "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not: Slack needs both (see README, \"Slack\")"
        );
        assert!(read(&[("SLACK_BOT_TOKEN", "xoxb-1")]).is_err());
    }

    #[test]
    fn socket_mode_needs_no_signing_secret() {
        let settings = read(&[("SLACK_APP_TOKEN", "xapp-1"), ("SLACK_BOT_TOKEN", "xoxb-1")]).unwrap().unwrap();
        assert!(!settings.verifies_http());
        assert!(read(&[("SLACK_APP_TOKEN", "xapp-1")]).is_err());
    }

    #[test]
    fn tokens_and_urls_are_checked() {
        let base = [("SLACK_SIGNING_SECRET", "s")];
        assert_eq!(read(&[base[0], ("SLACK_BOT_TOKEN", "xoxp-user")]).unwrap_err(), SettingsError::NotABotToken);
        assert_eq!(
            read(&[base[0], ("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_APP_TOKEN", "xoxb-2")]).unwrap_err(),
            SettingsError::NotAnAppToken
        );
        assert_eq!(
            read(&[base[0], ("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_API_URL", "slack.internal")]).unwrap_err(),
            SettingsError::BadUrl
        );
    }

    #[test]
    fn the_manifest_subscribes_to_what_nova_handles() {
        let manifest = include_str!("../../../deploy/slack-app-manifest.yaml");
        for needed in [
            "/slack/events",
            "/slack/interactivity",
            "/slack/commands",
            "command: /nova",
            "- app_mention\n",
            "- message.channels",
            "- message.im",
            "- chat:write ",
            "- channels:read ",
            "- channels:history ",
            "- commands ",
        ] {
            assert!(manifest.contains(needed), "the Slack app manifest lacks {needed:?}");
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings = read(&[("SLACK_SIGNING_SECRET", "sekrit"), ("SLACK_BOT_TOKEN", "xoxb-tok")]).unwrap().unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sekrit") && !shown.contains("xoxb-tok"), "{shown}");
    }
}
