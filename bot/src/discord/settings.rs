//! Discord's settings: from the environment (`DISCORD_*`), never from nova.toml, so
//! that the bot token stays out of files people commit.

use std::time::Duration;

#[derive(Clone)]
pub struct DiscordSettings {
    pub token: String,
    /// The application's Ed25519 public key (hex): needed for the HTTP interactions
    /// endpoint; without it `/discord/interactions` refuses everything.
    pub public_key: Option<String>,
    /// Where Discord's REST API and gateway discovery live. `None` is discord.com with
    /// serenity's own rate limiter; a URL (a stand-in or an API proxy) gets every call.
    pub api_url: Option<String>,
    /// The shortest time between two edits of one progress message; edits in between
    /// are coalesced into the next (Discord allows about 5 writes per 5 s per channel).
    pub edit_interval: Duration,
}

impl std::fmt::Debug for DiscordSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordSettings")
            .field("api_url", &self.api_url)
            .field("interactions_endpoint", &self.public_key.is_some())
            .field("edit_interval", &self.edit_interval)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "DISCORD_PUBLIC_KEY is set but DISCORD_TOKEN is not: Nova needs the bot token to answer (see README, \"Discord\")"
    )]
    NoToken,
    #[error("DISCORD_TOKEN looks like a URL or has spaces; paste the bot token from the Developer Portal's Bot page")]
    BadToken,
    #[error(
        "DISCORD_PUBLIC_KEY must be the 64 hex characters shown as \"Public Key\" on the app's General Information page"
    )]
    BadPublicKey,
    #[error("DISCORD_API_URL must start with http:// or https://")]
    BadUrl,
}

impl DiscordSettings {
    /// Reads `DISCORD_TOKEN`, `DISCORD_PUBLIC_KEY` and `DISCORD_API_URL` through `var`.
    /// `Ok(None)`: Discord is not configured.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let public_key = var("DISCORD_PUBLIC_KEY");
        let Some(token) = var("DISCORD_TOKEN") else {
            return match public_key {
                Some(_) => Err(SettingsError::NoToken),
                None => Ok(None),
            };
        };
        let token = token.strip_prefix("Bot ").unwrap_or(&token).to_owned();
        if token.contains(char::is_whitespace) || token.contains("://") {
            return Err(SettingsError::BadToken);
        }
        if let Some(key) = &public_key
            && (key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(SettingsError::BadPublicKey);
        }
        let api_url = var("DISCORD_API_URL").map(|url| url.trim_end_matches('/').to_owned());
        if api_url.as_deref().is_some_and(|url| !url.starts_with("http://") && !url.starts_with("https://")) {
            return Err(SettingsError::BadUrl);
        }
        Ok(Some(Self { token, public_key, api_url, edit_interval: Duration::from_secs(1) }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<DiscordSettings>, SettingsError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DiscordSettings::from_env(|k| env.get(k).cloned())
    }

    const KEY: &str = "e1a1f6a5b0c7d8e9f00112233445566778899aabbccddeeff001122334455667";

    #[test]
    fn nothing_set_means_no_discord() {
        assert!(read(&[]).unwrap().is_none());
        assert!(read(&[("DISCORD_TOKEN", "  ")]).unwrap().is_none());
    }

    #[test]
    fn a_token_alone_is_the_gateway() {
        let settings = read(&[("DISCORD_TOKEN", "MTEw.abc.def")]).unwrap().unwrap();
        assert_eq!(settings.token, "MTEw.abc.def");
        assert_eq!(settings.public_key, None);
        assert_eq!(settings.api_url, None);
    }

    #[test]
    fn a_pasted_bot_prefix_is_dropped() {
        assert_eq!(read(&[("DISCORD_TOKEN", "Bot MTEw.abc")]).unwrap().unwrap().token, "MTEw.abc");
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(read(&[("DISCORD_PUBLIC_KEY", KEY)]).unwrap_err(), SettingsError::NoToken);
        assert_eq!(read(&[("DISCORD_TOKEN", "https://discord.com")]).unwrap_err(), SettingsError::BadToken);
        let short = [("DISCORD_TOKEN", "t"), ("DISCORD_PUBLIC_KEY", "abc")];
        assert_eq!(read(&short).unwrap_err(), SettingsError::BadPublicKey);
        let url = [("DISCORD_TOKEN", "t"), ("DISCORD_API_URL", "discord.local")];
        assert_eq!(read(&url).unwrap_err(), SettingsError::BadUrl);
    }

    #[test]
    fn the_endpoint_key_and_url_are_kept() {
        let env = [("DISCORD_TOKEN", "t"), ("DISCORD_PUBLIC_KEY", KEY), ("DISCORD_API_URL", "http://127.0.0.1:9/")];
        let settings = read(&env).unwrap().unwrap();
        assert_eq!(settings.public_key.as_deref(), Some(KEY));
        assert_eq!(settings.api_url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn debug_shows_no_token() {
        let settings = read(&[("DISCORD_TOKEN", "MTEw.secret-part")]).unwrap().unwrap();
        assert!(!format!("{settings:?}").contains("secret-part"));
    }
}
