//! Every text Nova shows a person, and the cards. Pure functions, snapshot-tested, so a
//! wording change is a reviewed diff.

use provisioner::protocol::Objective;
use serde::{Deserialize, Serialize};

use crate::config::Office;
use crate::router::{RepoChoice, Route};

/// A card: a message with structured content that surfaces render with buttons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Card {
    /// "Which office should take this?" with one button per likely office.
    Picker { options: Vec<PickOption>, resolved: Option<Resolution> },
    /// The live view of a run, edited in place.
    Progress { office: String, status: RunStatus, objectives: Vec<Objective>, lines: Vec<String> },
    /// An office asking before it acts; Approve / Reject until decided or expired.
    Approval {
        id: String,
        office: String,
        kind: String,
        action: String,
        details: String,
        risk: String,
        /// Empty: anyone but the requester.
        approvers: Vec<String>,
        expires_at: i64,
        state: String,
        decided_by: Option<String>,
        decided_at: Option<i64>,
    },
    /// An office asking for a credential; "Provide" opens a private form.
    Credential { id: String, office: String, name: String, why: String, state: String, provided_by: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickOption {
    pub office: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub by: String,
    pub choice: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Working,
    Done,
    Failed,
    Stopped,
}

/// How many progress lines a progress card keeps.
pub const PROGRESS_LINES: usize = 5;

impl Card {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("cards serialize")
    }

    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    pub fn picker(offices: &[&Office]) -> Self {
        Card::Picker {
            options: offices.iter().map(|o| PickOption { office: o.name.clone(), role: o.role.clone() }).collect(),
            resolved: None,
        }
    }

    /// The text a surface without rich rendering shows for this card.
    pub fn fallback_text(&self) -> String {
        match self {
            Card::Picker { resolved: None, .. } => picker_question(),
            Card::Picker { resolved: Some(r), .. } => picked(&r.by, &r.choice),
            Card::Progress { office, status, objectives, lines } => progress(office, *status, objectives, lines),
            Card::Approval {
                office,
                kind,
                action,
                details,
                risk,
                approvers,
                expires_at,
                state,
                decided_by,
                decided_at,
                ..
            } => {
                let by = decided_by.as_deref().unwrap_or("someone");
                let at = decided_at.map(clock).unwrap_or_default();
                match state.as_str() {
                    "approved" => format!("Approved by {by} at {at}: **{action}** (asked by **{office}**)."),
                    "rejected" => format!("Rejected by {by} at {at}: **{action}** (asked by **{office}**)."),
                    "expired" => format!(
                        "Expired at {} without a decision: **{action}** (asked by **{office}**).",
                        clock(*expires_at)
                    ),
                    _ => {
                        let who = if approvers.is_empty() {
                            "anyone but the requester".to_owned()
                        } else {
                            approvers.join(", ")
                        };
                        let details =
                            if details.trim().is_empty() { String::new() } else { format!("\n> {}", details.trim()) };
                        format!(
                            "**{office}** asks for approval to **{action}** ({kind}, risk: {risk}).{details}\nWho may decide: {who}. Expires at {}.",
                            clock(*expires_at)
                        )
                    }
                }
            }
            Card::Credential { office, name, why, state, provided_by, .. } => match state.as_str() {
                "provided" => format!(
                    "**{name}** was provided by {} and stored in the vault; **{office}** can use it now.",
                    provided_by.as_deref().unwrap_or("someone")
                ),
                "expired" => format!("Nobody provided **{name}** in time; **{office}** has to ask again."),
                _ => format!(
                    "**{office}** needs the credential **{name}**: {why}\nIt goes straight into the vault: nobody in this thread sees it, and neither does the office."
                ),
            },
        }
    }
}

/// `HH:MM UTC` of a unix-milliseconds time.
fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%H:%M UTC").to_string()).unwrap_or_default()
}

pub fn routed(route: &Route, office_asleep: bool) -> String {
    let office = route.office.as_deref().unwrap_or("?");
    let repo = match &route.repo {
        RepoChoice::Named(name) => format!(" · repo `{name}`"),
        RepoChoice::None => String::new(),
        RepoChoice::Unknown => " · repo not named".to_owned(),
    };
    let wake = if office_asleep { " It is asleep; waking it up." } else { "" };
    format!("Routing to **{office}**{repo}.{wake}")
}

pub fn picker_question() -> String {
    "I'm not sure which office should take this. Pick one:".to_owned()
}

pub fn picked(by: &str, office: &str) -> String {
    format!("{by} picked **{office}**; this thread now goes there.")
}

pub fn no_runtime(office: &str) -> String {
    format!(
        "**{office}** has no runtime configured, so nothing ran. Give it one in nova.toml, for example:\n\n\
         ```toml\n[[offices]]\nname = \"{office}\"\n# …\n[offices.runtime]\ncommand = [\"your-agent-cli\", \"--prompt\", \"{{{{prompt}}}}\"]\n```\n\n\
         or set a workspace-wide `[runtime]`. Then send your message again."
    )
}

pub fn wake_failed(office: &str, reason: &str) -> String {
    format!(
        "**{office}** could not wake: {reason}\nYour message is kept and runs when the office wakes; Nova will try again shortly."
    )
}

pub fn run_failed(office: &str, error: &str) -> String {
    format!("**{office}** could not finish this: {error}")
}

pub fn run_stopped(office: &str, by: &str) -> String {
    format!("{by} stopped **{office}**. Its workspace keeps what it had done; say what to do next.")
}

pub fn stopped_before_start(office: &str, by: &str) -> String {
    format!("{by} stopped this before **{office}** started on it.")
}

pub fn handed_off(from: &str, to: &str, text: &str) -> String {
    format!("**{from}** hands work to **{to}**: {text}")
}

pub fn handoff_returned(from: &str, to: &str) -> String {
    format!("**{from}** is done with what **{to}** handed over; **{to}** takes it from here.")
}

/// What the office that handed work over is told when it comes back.
pub fn handoff_result(office: &str, outcome: &str) -> String {
    format!("{office} finished the work you handed over:\n\n{outcome}")
}

pub fn nothing_to_stop() -> String {
    "Nothing is running in this thread to stop.".to_owned()
}

/// Whether a message in a session's thread asks to stop its run: `stop`, `cancel`,
/// `stop it`, with or without a mention of Nova and punctuation.
pub fn is_stop_request(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|word| !(word.starts_with("<@") || word.starts_with('@')))
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|word| !word.is_empty())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["stop"] | ["cancel"] | ["stop", "it"] | ["stop", "please"] | ["please", "stop"] | ["nova", "stop"]
    )
}

/// A run interrupted by something other than the run itself, about to run again.
pub fn rerun(office: &str, why: &str) -> String {
    format!("**{office}** stopped while working on this ({why}); its workspace is kept and this runs again.")
}

/// The office's machine went with its workspace: it resumes from its last snapshot.
pub fn rerun_from_snapshot(office: &str, why: &str) -> String {
    format!(
        "**{office}** stopped while working on this ({why}). What it did since its last snapshot is lost; this runs again from that snapshot."
    )
}

pub fn progress(office: &str, status: RunStatus, objectives: &[Objective], lines: &[String]) -> String {
    let headline = match status {
        RunStatus::Queued => format!("**{office}** has this queued."),
        RunStatus::Working => format!("**{office}** is working on this…"),
        RunStatus::Done => format!("**{office}** finished."),
        RunStatus::Failed => format!("**{office}** stopped with an error."),
        RunStatus::Stopped => format!("**{office}** was stopped."),
    };
    let mut out = headline;
    if !objectives.is_empty() {
        out.push('\n');
        for objective in objectives {
            out.push_str(&format!("\n- [{}] {}", if objective.done { "x" } else { " " }, objective.text));
        }
    }
    if !lines.is_empty() {
        out.push('\n');
        for line in lines {
            out.push_str(&format!("\n> {line}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Stage;

    fn route(repo: RepoChoice) -> Route {
        Route { repo, office: Some("maker".into()), confidence: 0.8, alternatives: vec![], stage: Stage::Scorer }
    }

    #[test]
    fn routing_texts() {
        insta::assert_snapshot!(routed(&route(RepoChoice::Named("payments-api".into())), true), @"Routing to **maker** · repo `payments-api`. It is asleep; waking it up.");
        insta::assert_snapshot!(routed(&route(RepoChoice::None), false), @"Routing to **maker**.");
        insta::assert_snapshot!(routed(&route(RepoChoice::Unknown), false), @"Routing to **maker** · repo not named.");
    }

    #[test]
    fn picker_texts() {
        insta::assert_snapshot!(picker_question(), @"I'm not sure which office should take this. Pick one:");
        insta::assert_snapshot!(picked("alice", "writer"), @"alice picked **writer**; this thread now goes there.");
    }

    #[test]
    fn failure_texts() {
        insta::assert_snapshot!(no_runtime("maker"));
        insta::assert_snapshot!(wake_failed("maker", "office did not report its address within 60s"));
        insta::assert_snapshot!(run_failed("maker", "the runtime exited with exit status: 2"), @"**maker** could not finish this: the runtime exited with exit status: 2");
        insta::assert_snapshot!(rerun("maker", "its process exited"), @"**maker** stopped while working on this (its process exited); its workspace is kept and this runs again.");
        insta::assert_snapshot!(rerun_from_snapshot("maker", "Compute Engine stopped or deleted its VM nova-maker-g2"), @"**maker** stopped while working on this (Compute Engine stopped or deleted its VM nova-maker-g2). What it did since its last snapshot is lost; this runs again from that snapshot.");
    }

    #[test]
    fn progress_card_text() {
        let objectives = vec![
            Objective { text: "Read the request".into(), done: true },
            Objective { text: "Fix it".into(), done: false },
        ];
        insta::assert_snapshot!(progress("maker", RunStatus::Working, &objectives, &["Reading src/cart.ts".into()]), @r"
        **maker** is working on this…

        - [x] Read the request
        - [ ] Fix it

        > Reading src/cart.ts
        ");
        insta::assert_snapshot!(progress("maker", RunStatus::Queued, &[], &[]), @"**maker** has this queued.");
        insta::assert_snapshot!(progress("maker", RunStatus::Done, &[], &[]), @"**maker** finished.");
        insta::assert_snapshot!(progress("maker", RunStatus::Failed, &[], &[]), @"**maker** stopped with an error.");
        insta::assert_snapshot!(progress("maker", RunStatus::Stopped, &[], &[]), @"**maker** was stopped.");
    }

    #[test]
    fn stop_requests_are_short_and_unambiguous() {
        for text in ["stop", "Stop!", "<@U0NOVA> stop", "@Nova stop it", "cancel", "please stop"] {
            assert!(is_stop_request(text), "{text}");
        }
        for text in ["stop the deploy of the old cart", "don't stop", "nonstop", "", "stopping criteria are wrong"] {
            assert!(!is_stop_request(text), "{text}");
        }
    }

    #[test]
    fn stop_texts() {
        insta::assert_snapshot!(run_stopped("maker", "alice"), @"alice stopped **maker**. Its workspace keeps what it had done; say what to do next.");
        insta::assert_snapshot!(stopped_before_start("maker", "alice"), @"alice stopped this before **maker** started on it.");
        insta::assert_snapshot!(nothing_to_stop(), @"Nothing is running in this thread to stop.");
        insta::assert_snapshot!(handed_off("maker", "writer", "write the release notes"), @"**maker** hands work to **writer**: write the release notes");
        insta::assert_snapshot!(handoff_returned("writer", "maker"), @"**writer** is done with what **maker** handed over; **maker** takes it from here.");
        insta::assert_snapshot!(handoff_result("writer", "Release notes are in docs/."), @r"
        writer finished the work you handed over:

        Release notes are in docs/.
        ");
    }

    fn approval(state: &str) -> Card {
        Card::Approval {
            id: "a1".into(),
            office: "maker".into(),
            kind: "destructive".into(),
            action: "drop the table legacy_orders".into(),
            details: "It has had no reads in 90 days.".into(),
            risk: "high".into(),
            approvers: vec!["alice".into(), "carol".into()],
            expires_at: 1_763_762_400_000,
            state: state.into(),
            decided_by: (state != "pending" && state != "expired").then(|| "carol".into()),
            decided_at: Some(1_763_760_600_000),
        }
    }

    #[test]
    fn approval_card_texts() {
        insta::assert_snapshot!(approval("pending").fallback_text(), @r"
        **maker** asks for approval to **drop the table legacy_orders** (destructive, risk: high).
        > It has had no reads in 90 days.
        Who may decide: alice, carol. Expires at 22:00 UTC.
        ");
        insta::assert_snapshot!(approval("approved").fallback_text(), @"Approved by carol at 21:30 UTC: **drop the table legacy_orders** (asked by **maker**).");
        insta::assert_snapshot!(approval("rejected").fallback_text(), @"Rejected by carol at 21:30 UTC: **drop the table legacy_orders** (asked by **maker**).");
        insta::assert_snapshot!(approval("expired").fallback_text(), @"Expired at 22:00 UTC without a decision: **drop the table legacy_orders** (asked by **maker**).");
    }

    #[test]
    fn credential_card_texts() {
        let card = |state: &str| Card::Credential {
            id: "c1".into(),
            office: "maker".into(),
            name: "github_token".into(),
            why: "to open the pull request".into(),
            state: state.into(),
            provided_by: (state == "provided").then(|| "alice".into()),
        };
        insta::assert_snapshot!(card("pending").fallback_text(), @r"
        **maker** needs the credential **github_token**: to open the pull request
        It goes straight into the vault: nobody in this thread sees it, and neither does the office.
        ");
        insta::assert_snapshot!(card("provided").fallback_text(), @"**github_token** was provided by alice and stored in the vault; **maker** can use it now.");
        insta::assert_snapshot!(card("expired").fallback_text(), @"Nobody provided **github_token** in time; **maker** has to ask again.");
    }

    #[test]
    fn cards_round_trip_as_json() {
        let card = Card::Picker {
            options: vec![PickOption { office: "maker".into(), role: "Engineer".into() }],
            resolved: None,
        };
        insta::assert_snapshot!(card.to_json(), @r#"{"type":"picker","options":[{"office":"maker","role":"Engineer"}],"resolved":null}"#);
        assert_eq!(Card::from_json(&card.to_json()), Some(card));
    }
}
