//! People signing in to the console. Nobody types a name any more: `nova login`, run on
//! the host, issues a one-time link for a person; opening it opens a session (a cookie).
//! Whoever can run `nova login` can already read Nova's database, so the link gives
//! nothing away; an office's runtime is sandboxed away from both.

use std::time::Duration;

use super::Engine;
use crate::config::Config;
use crate::store::Store;

/// How long a login link waits to be opened.
pub const LOGIN_LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a console session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Why no login link was issued; each says what would work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    #[error("`{name}` is not in [people]; name one of: {known}")]
    UnknownPerson { name: String, known: String },
    #[error("say who signs in with --as: one of {0}")]
    WhoSignsIn(String),
    #[error("a name is 1–64 characters")]
    BadName,
    /// What an author named like an office says is read as that office's words (never
    /// as a person's request), so no person signs in under an office's name.
    #[error("`{0}` is an office's name: a person signs in under a name of their own")]
    OfficeName(String),
}

/// Who a login link signs in: `wanted` if given (a person in `[people]`, when any are
/// configured), else the only person configured, else `fallback` (the host's user), as
/// `{fallback}-person` where an office has that name: what an author named like an
/// office says is read as that office's words, never as a person's request.
pub fn login_person(config: &Config, wanted: Option<&str>, fallback: &str) -> Result<String, LoginRefusal> {
    let known = || config.people.keys().cloned().collect::<Vec<_>>().join(", ");
    let name = match wanted.map(str::trim) {
        Some(name) if config.people.is_empty() || config.people.contains_key(name) => name.to_owned(),
        Some(name) => return Err(LoginRefusal::UnknownPerson { name: name.to_owned(), known: known() }),
        None => match config.people.len() {
            0 if config.office(fallback).is_some() => format!("{fallback}-person"),
            0 => fallback.to_owned(),
            1 => known(),
            _ => return Err(LoginRefusal::WhoSignsIn(known())),
        },
    };
    if name.is_empty() || name.chars().count() > 64 {
        return Err(LoginRefusal::BadName);
    }
    if config.office(&name).is_some() {
        return Err(LoginRefusal::OfficeName(name));
    }
    Ok(name)
}

/// Who runs Nova on this host: whom a login link signs in when no one is named.
pub fn host_user() -> String {
    ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.trim().is_empty()))
        .unwrap_or_else(|| "admin".to_owned())
}

/// The URL people reach Nova at, as a config says before Nova runs (`nova login`):
/// `public_url`, else the listen address. A running Nova knows better
/// ([`Engine::people_url`]).
pub fn configured_url(config: &Config) -> String {
    config.server.public_url.clone().unwrap_or_else(|| format!("http://{}", config.server.listen))
}

/// Where a login link's token is redeemed, under `base` (Nova's URL). A wildcard
/// listen address is no place for a browser: it becomes `localhost`.
pub fn login_url(base: &str, token: &str) -> String {
    let base = base.trim_end_matches('/').replace("//0.0.0.0:", "//localhost:").replace("//[::]:", "//localhost:");
    format!("{base}/login?token={token}")
}

/// Issues a login link for `wanted` (see [`login_person`]): `(person, token)`.
pub async fn issue_login_link(
    config: &Config,
    store: &Store,
    wanted: Option<&str>,
    fallback: &str,
) -> anyhow::Result<Result<(String, String), LoginRefusal>> {
    let person = match login_person(config, wanted, fallback) {
        Ok(person) => person,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let token = store.issue_login_link(&person, LOGIN_LINK_TTL).await?;
    Ok(Ok((person, token)))
}

/// A session just opened: who, and the cookie's token.
pub struct Session {
    pub person: String,
    pub token: String,
}

impl Engine {
    /// A login link for `wanted` (the host user's, when nobody is named).
    pub async fn issue_login_link(
        &self,
        wanted: Option<&str>,
    ) -> anyhow::Result<Result<(String, String), LoginRefusal>> {
        issue_login_link(&self.config(), &self.store, wanted, &host_user()).await
    }

    /// Opens a session for the person a login link names; `None` for a link that is
    /// unknown, used or expired.
    pub async fn sign_in(&self, link: &str) -> anyhow::Result<Option<Session>> {
        let Some(person) = self.store.redeem_login_link(link).await? else {
            return Ok(None);
        };
        if self.named_like_an_office(&person) {
            return Ok(None);
        }
        let token = self.store.open_console_session(&person, SESSION_TTL).await?;
        self.record_global(&person, "signed_in", serde_json::json!({})).await;
        Ok(Some(Session { person, token }))
    }

    /// The person a session belongs to, while it lasts.
    pub async fn signed_in(&self, session: &str) -> anyhow::Result<Option<String>> {
        let person = self.store.console_session(session).await?;
        Ok(person.filter(|person| !self.named_like_an_office(person)))
    }

    /// A link or session issued before an office took that name (or before names like
    /// offices' were refused) no longer signs anyone in: what its holder said would be
    /// read as the office's words.
    fn named_like_an_office(&self, person: &str) -> bool {
        self.config().office(person).is_some()
    }

    pub async fn sign_out(&self, session: &str) -> anyhow::Result<()> {
        self.store.close_console_session(session).await
    }

    /// Where people reach this Nova: `public_url`, else the address it listens on.
    pub fn people_url(&self) -> &str {
        &self.nova_url
    }

    /// Whether anyone ever signed in (until then, `nova serve` prints a login link).
    pub async fn anyone_signed_in(&self) -> anyhow::Result<bool> {
        self.store.anyone_signed_in().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_link_names_a_known_person() {
        let mut config = Config::demo();
        assert_eq!(login_person(&config, None, "ada"), Ok("ada".to_owned()));
        assert_eq!(login_person(&config, Some("grace"), "ada"), Ok("grace".to_owned()));
        config.people.insert("alice".into(), Default::default());
        assert_eq!(login_person(&config, None, "ada"), Ok("alice".to_owned()), "the only person");
        config.people.insert("bob".into(), Default::default());
        insta::assert_snapshot!(login_person(&config, None, "ada").unwrap_err(), @"say who signs in with --as: one of alice, bob");
        insta::assert_snapshot!(login_person(&config, Some("mallory"), "ada").unwrap_err(), @"`mallory` is not in [people]; name one of: alice, bob");
        assert_eq!(login_person(&Config::demo(), Some(" "), "ada"), Err(LoginRefusal::BadName));
        // A host user named like one of the demo's offices is not taken for that office.
        assert_eq!(login_person(&Config::demo(), None, "operator"), Ok("operator-person".to_owned()));
        // Nor does anyone sign in as an office by naming it.
        insta::assert_snapshot!(login_person(&Config::demo(), Some("maker"), "ada").unwrap_err(), @"`maker` is an office's name: a person signs in under a name of their own");
    }

    #[test]
    fn a_login_link_points_where_people_reach_nova() {
        let mut config = Config::demo();
        assert_eq!(login_url(&configured_url(&config), "t"), "http://127.0.0.1:8080/login?token=t");
        config.server.listen = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(login_url(&configured_url(&config), "t"), "http://localhost:9000/login?token=t");
        config.server.public_url = Some("https://nova.example.com/".into());
        assert_eq!(login_url(&configured_url(&config), "t"), "https://nova.example.com/login?token=t");
        assert_eq!(login_url("http://[::]:8080", "t"), "http://localhost:8080/login?token=t");
    }
}
