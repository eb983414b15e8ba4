//! `/nova` commands, the same on every surface: a pure parser, then one handler per
//! command. Privileged commands check permission first, through [`may_operate`].

use std::fmt::Write as _;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::store::{ApprovalState, OfficeState, PromptState};

/// The role that may wake and put offices to sleep. Without it in `[roles]`, anyone may.
pub const OPERATOR_ROLE: &str = "operator";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Status,
    Wake {
        office: String,
    },
    Sleep {
        office: String,
    },
    Approvals,
    /// A one-time console sign-in link, for the person the platform says is asking.
    Login,
    /// Stop the run the person asked for (when it is the only one going).
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command `{0}`")]
    Unknown(String),
    #[error("`{0}` needs an office name, e.g. `/nova {0} maker`")]
    MissingOffice(&'static str),
    #[error("`{command}` takes no arguments beyond {expected}; got `{extra}`")]
    Extra { command: &'static str, expected: &'static str, extra: String },
}

/// Parses the text after `/nova`. An empty text is `help`.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Help);
    };
    let command = first.to_lowercase();
    let rest: Vec<&str> = words.collect();
    let no_args = |name: &'static str, command: Command| {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(ParseError::Extra { command: name, expected: "the command", extra: rest.join(" ") })
        }
    };
    let office_arg = |name: &'static str| -> Result<String, ParseError> {
        match rest.as_slice() {
            [] => Err(ParseError::MissingOffice(name)),
            [office] => Ok(office.trim_start_matches('@').to_lowercase()),
            [_, extra @ ..] => {
                Err(ParseError::Extra { command: name, expected: "one office name", extra: extra.join(" ") })
            }
        }
    };
    match command.as_str() {
        "help" | "?" => no_args("help", Command::Help),
        "status" => no_args("status", Command::Status),
        "approvals" => no_args("approvals", Command::Approvals),
        "login" => no_args("login", Command::Login),
        "stop" | "cancel" => no_args("stop", Command::Stop),
        "wake" => Ok(Command::Wake { office: office_arg("wake")? }),
        "sleep" => Ok(Command::Sleep { office: office_arg("sleep")? }),
        other => Err(ParseError::Unknown(other.to_owned())),
    }
}

/// Whether `user` may wake offices and put them to sleep.
pub fn may_operate(config: &Config, user: &str) -> Result<(), String> {
    match config.roles.get(OPERATOR_ROLE) {
        None => Ok(()),
        Some(_) if config.holds_role(user, OPERATOR_ROLE) => Ok(()),
        Some(_) => Err(format!("Only people with the `{OPERATOR_ROLE}` role may do that.")),
    }
}

/// What a command answers: the text, and whether only the person who asked sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub private: bool,
}

impl Answer {
    fn private(text: String) -> Self {
        Self { text, private: true }
    }
}

pub fn help_text() -> String {
    "**Nova** — mention me or write in a channel bound to an office, and I route the work to an office.\n\
     `/nova status` — every office and what it is doing\n\
     `/nova wake <office>` — start an office now, so it is ready when you ask\n\
     `/nova sleep <office>` — snapshot an idle office and stop its machine\n\
     `/nova approvals` — what waits for a decision\n\
     `/nova login` — a link, only for you, that signs you in to the console\n\
     `/nova stop` — stop the run you asked for (or press Stop on its progress card)\n\
     `/nova help` — this text\n\
     Or ask in plain words, in any thread: “what is maker doing?”, “put the analyst to sleep”, “stop”, “let operator take it from here”, “what can you do?”"
        .to_owned()
}

/// Runs a parsed command for `user`.
pub async fn execute(engine: &Arc<Engine>, user: &str, command: Command) -> anyhow::Result<Answer> {
    match command {
        Command::Help => Ok(Answer::private(help_text())),
        Command::Status => fleet_status(engine).await.map(Answer::private),
        Command::Approvals => pending_approvals(engine).await.map(Answer::private),
        Command::Login => login(engine, user).await.map(Answer::private),
        Command::Stop => stop(engine, user).await.map(Answer::private),
        Command::Wake { office } => {
            if let Err(refusal) = may_operate(&engine.config(), user) {
                return Ok(Answer::private(refusal));
            }
            wake(engine, user, &office).await
        }
        Command::Sleep { office } => {
            if let Err(refusal) = may_operate(&engine.config(), user) {
                return Ok(Answer::private(refusal));
            }
            sleep(engine, user, &office).await
        }
    }
}

/// Parses and runs the text after `/nova`; a parse error answers with help.
pub async fn run(engine: &Arc<Engine>, user: &str, text: &str) -> anyhow::Result<Answer> {
    match parse(text) {
        Ok(command) => execute(engine, user, command).await,
        Err(error) => Ok(Answer::private(format!("{error}.\n\n{}", help_text()))),
    }
}

/// The platform vouches for `user` (a signed request): the link signs them in as the
/// person `[people]` says they are, or as their chat id while nobody is listed.
async fn login(engine: &Arc<Engine>, user: &str) -> anyhow::Result<String> {
    let name = engine.config().person(user).unwrap_or(user).to_owned();
    Ok(match engine.issue_login_link(Some(&name)).await? {
        Ok((person, token)) => login_text(&person, &crate::engine::people::login_url(engine.people_url(), &token)),
        Err(_) => {
            format!("You are not in this workspace's [people], so I cannot sign you in; ask an operator to add {user}.")
        }
    })
}

/// Stops the one run `user` has going; with several, says how to pick.
async fn stop(engine: &Arc<Engine>, user: &str) -> anyhow::Result<String> {
    let identities = engine.config().identities(user);
    let runs = engine.store().active_prompts_by(&identities).await?;
    Ok(match runs.as_slice() {
        [] => "Nothing you asked for is running.".to_owned(),
        [run] => match engine.stop_run(&run.run_id, user).await? {
            Ok(()) => format!("Stopping **{}** on “{}”.", run.office, crate::texts::one_line(&run.text, 60)),
            Err(refusal) => format!("Nothing changed: {refusal}."),
        },
        several => {
            let mut out = format!(
                "You have {} runs going; press Stop on the progress card of the one to end, or write `stop` in its thread:\n",
                several.len()
            );
            for run in several {
                let _ = writeln!(out, "• **{}**: “{}”", run.office, crate::texts::one_line(&run.text, 60));
            }
            out.trim_end().to_owned()
        }
    })
}

fn login_text(person: &str, url: &str) -> String {
    format!(
        "Sign in to the console as **{person}**: {url}\nThe link works once, within 15 minutes, and only you see it."
    )
}

/// Every office and what it is doing.
pub async fn fleet_status(engine: &Engine) -> anyhow::Result<String> {
    let mut out = String::from("**Offices**\n");
    for view in engine.offices().await? {
        let held = engine.store().count_prompts(&view.name, &[PromptState::Held]).await?;
        let running = engine.store().count_prompts(&view.name, &[PromptState::Dispatched]).await?;
        let _ = write!(out, "• **{}** — {}", view.name, view.state);
        if view.prewarmed {
            let _ = write!(out, " (warming up: someone is typing)");
        }
        if running > 0 || held > 0 {
            let _ = write!(out, " ({running} running, {held} waiting)");
        }
        if let Some(failure) = &view.failure {
            let _ = write!(out, " — {failure}");
        }
        out.push('\n');
    }
    Ok(out.trim_end().to_owned())
}

/// What waits for a person's decision.
pub async fn pending_approvals(engine: &Engine) -> anyhow::Result<String> {
    let pending = engine.approvals_in_state(ApprovalState::Pending).await?;
    if pending.is_empty() {
        return Ok("Nothing waits for a decision.".to_owned());
    }
    let mut out = format!("**{} approval(s) waiting**\n", pending.len());
    for approval in pending {
        let _ = writeln!(
            out,
            "• **{}** asks to **{}** ({}, risk: {}), requested by {}",
            approval.office, approval.action, approval.kind, approval.risk, approval.requester
        );
    }
    Ok(out.trim_end().to_owned())
}

async fn wake(engine: &Arc<Engine>, user: &str, office: &str) -> anyhow::Result<Answer> {
    if engine.config().office(office).is_none() {
        return Ok(Answer::private(crate::texts::no_such_office(&engine.config(), office)));
    }
    Ok(match engine.wake_office(office, user).await? {
        Some(generation) => {
            Answer { text: format!("{user} is waking **{office}** (generation {generation})."), private: false }
        }
        None => {
            let state = engine.store().office(office).await?.map_or(OfficeState::Asleep, |o| o.state);
            Answer::private(format!("**{office}** is {state}: there is nothing to wake."))
        }
    })
}

async fn sleep(engine: &Arc<Engine>, user: &str, office: &str) -> anyhow::Result<Answer> {
    if engine.config().office(office).is_none() {
        return Ok(Answer::private(crate::texts::no_such_office(&engine.config(), office)));
    }
    let busy = engine.store().count_prompts(office, &[PromptState::Held, PromptState::Dispatched]).await?;
    if busy > 0 {
        return Ok(Answer::private(format!(
            "**{office}** has {busy} prompt(s) running or waiting; it sleeps on its own once idle."
        )));
    }
    Ok(if engine.sleep_office(office, user).await? {
        Answer {
            text: format!("{user} put **{office}** to sleep: its workspace is being snapshotted."),
            private: false,
        }
    } else {
        let state = engine.store().office(office).await?.map_or(OfficeState::Asleep, |o| o.state);
        let hint = if state == OfficeState::Waking { " Try again once it is ready." } else { "" };
        Answer::private(format!("**{office}** is {state}: it cannot be put to sleep now.{hint}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(parse(""), Ok(Command::Help));
        assert_eq!(parse("  help "), Ok(Command::Help));
        assert_eq!(parse("STATUS"), Ok(Command::Status));
        assert_eq!(parse("approvals"), Ok(Command::Approvals));
        assert_eq!(parse("wake maker"), Ok(Command::Wake { office: "maker".into() }));
        assert_eq!(parse("wake @Maker"), Ok(Command::Wake { office: "maker".into() }));
        assert_eq!(parse("sleep support"), Ok(Command::Sleep { office: "support".into() }));
        assert_eq!(parse("login"), Ok(Command::Login));
        assert_eq!(parse("stop"), Ok(Command::Stop));
        assert_eq!(parse("Cancel"), Ok(Command::Stop));
    }

    #[test]
    fn the_login_answer_says_who_and_how_long() {
        insta::assert_snapshot!(login_text("alice", "https://nova.example.com/login?token=t"), @r"
        Sign in to the console as **alice**: https://nova.example.com/login?token=t
        The link works once, within 15 minutes, and only you see it.
        ");
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        insta::assert_snapshot!(parse("deploy prod").unwrap_err(), @"unknown command `deploy`");
        insta::assert_snapshot!(parse("wake").unwrap_err(), @"`wake` needs an office name, e.g. `/nova wake maker`");
        insta::assert_snapshot!(parse("wake maker now").unwrap_err(), @"`wake` takes no arguments beyond one office name; got `now`");
        insta::assert_snapshot!(parse("status please").unwrap_err(), @"`status` takes no arguments beyond the command; got `please`");
    }

    #[test]
    fn operators_are_whoever_holds_the_role_or_everyone_without_it() {
        let mut config = Config::demo();
        config.roles.remove(OPERATOR_ROLE);
        assert!(may_operate(&config, "anyone").is_ok());
        config.roles.insert(OPERATOR_ROLE.to_owned(), vec!["U_OPS".to_owned()]);
        assert!(may_operate(&config, "U_OPS").is_ok());
        insta::assert_snapshot!(may_operate(&config, "U_OTHER").unwrap_err(), @"Only people with the `operator` role may do that.");
    }

    #[test]
    fn help_text() {
        insta::assert_snapshot!(super::help_text());
    }
}
