//! Nova's messages and cards as Discord messages: Markdown content (Discord renders
//! it natively) and components built with serenity's builders. Custom ids carry what
//! a click needs, and [`Button::parse`] reads them back.

use orchestrator::store::{ApprovalState, CredentialState};
use orchestrator::texts::{Card, RunStatus};
use serenity::all::{
    ButtonStyle, CommandOptionType, CreateActionRow, CreateButton, CreateCommand, CreateCommandOption, CreateInputText,
    CreateModal, InputTextStyle,
};

/// Discord allows 2000 characters in a message.
const CONTENT_LIMIT: usize = 2000;
/// A thread name holds at most 100 characters.
const THREAD_NAME_LIMIT: usize = 100;
/// The text input of the credential modal.
pub const CREDENTIAL_INPUT: &str = "value";
/// The text inputs of the request-changes modal.
pub const REVIEW_COMMENT: &str = "comment";
pub const REVIEW_AT: &str = "at";

/// What a button or modal of Nova's means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// A picker choice: the picker message (in Nova's store) and the office.
    Pick {
        message_id: i64,
        office: String,
    },
    /// First click on Approve: Nova asks to confirm (Discord buttons have no dialog).
    Approve(String),
    ConfirmApprove(String),
    Reject(String),
    /// Opens the credential modal.
    Provide(String),
    /// The credential modal itself, submitted.
    CredentialForm(String),
    /// Stop the run of this progress card (a message in Nova's store).
    Stop(i64),
    /// A review card (a message in Nova's store): approve it, or open the form to ask
    /// for changes; and that form, submitted.
    ReviewApprove(i64),
    ReviewChanges(i64),
    ReviewForm(i64),
}

impl Button {
    pub fn custom_id(&self) -> String {
        match self {
            Self::Pick { message_id, office } => format!("nova:pick:{message_id}:{office}"),
            Self::Approve(id) => format!("nova:approve:{id}"),
            Self::ConfirmApprove(id) => format!("nova:confirm:{id}"),
            Self::Reject(id) => format!("nova:reject:{id}"),
            Self::Provide(id) => format!("nova:provide:{id}"),
            Self::CredentialForm(id) => format!("nova:credential:{id}"),
            Self::Stop(message_id) => format!("nova:stop:{message_id}"),
            Self::ReviewApprove(message_id) => format!("nova:review-approve:{message_id}"),
            Self::ReviewChanges(message_id) => format!("nova:review-changes:{message_id}"),
            Self::ReviewForm(message_id) => format!("nova:review-form:{message_id}"),
        }
    }

    /// `None` for custom ids that are not Nova's (or are damaged).
    pub fn parse(custom_id: &str) -> Option<Self> {
        let rest = custom_id.strip_prefix("nova:")?;
        let (kind, value) = rest.split_once(':')?;
        if value.is_empty() {
            return None;
        }
        let value = value.to_owned();
        Some(match kind {
            "pick" => {
                let (message, office) = value.split_once(':')?;
                Self::Pick { message_id: message.parse().ok()?, office: office.to_owned() }
            }
            "approve" => Self::Approve(value),
            "confirm" => Self::ConfirmApprove(value),
            "reject" => Self::Reject(value),
            "provide" => Self::Provide(value),
            "credential" => Self::CredentialForm(value),
            "stop" => Self::Stop(value.parse().ok()?),
            "review-approve" => Self::ReviewApprove(value.parse().ok()?),
            "review-changes" => Self::ReviewChanges(value.parse().ok()?),
            "review-form" => Self::ReviewForm(value.parse().ok()?),
            _ => return None,
        })
    }

    fn build(&self, label: &str, style: ButtonStyle) -> CreateButton {
        CreateButton::new(self.custom_id()).label(label).style(style)
    }
}

/// Nova's Markdown for Discord: checklists become check marks (Discord has no task
/// lists), and the text is cut to what a message holds.
pub fn content(markdown: &str) -> String {
    let lines: Vec<String> = markdown
        .lines()
        .map(|line| {
            if let Some(rest) = line.strip_prefix("- [x] ") {
                format!("✅ {rest}")
            } else if let Some(rest) = line.strip_prefix("- [ ] ") {
                format!("⬜ {rest}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    truncate(&lines.join("\n"), CONTENT_LIMIT)
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    text.chars().take(limit - 1).collect::<String>() + "…"
}

/// What a Nova message shows on Discord: its content and the buttons its card needs.
pub fn message(message_id: i64, body: &str, card: Option<&Card>) -> (String, Vec<CreateActionRow>) {
    let text = card.map(Card::fallback_text).unwrap_or_else(|| body.to_owned());
    let rows = match card {
        Some(Card::Picker { options, resolved: None }) => {
            let buttons: Vec<CreateButton> = options
                .iter()
                .take(5)
                .enumerate()
                .map(|(i, option)| {
                    let style = if i == 0 { ButtonStyle::Primary } else { ButtonStyle::Secondary };
                    Button::Pick { message_id, office: option.office.clone() }.build(&option.office, style)
                })
                .collect();
            let roles: Vec<String> = options.iter().map(|o| format!("**{}** — {}", o.office, o.role)).collect();
            return (content(&format!("{text}\n{}", roles.join("\n"))), vec![CreateActionRow::Buttons(buttons)]);
        }
        Some(Card::Approval { id, state: ApprovalState::Pending, .. }) => vec![CreateActionRow::Buttons(vec![
            Button::Approve(id.clone()).build("Approve…", ButtonStyle::Success),
            Button::Reject(id.clone()).build("Reject", ButtonStyle::Danger),
        ])],
        Some(Card::Credential { id, state: CredentialState::Pending, .. }) => {
            vec![CreateActionRow::Buttons(vec![Button::Provide(id.clone()).build("Provide", ButtonStyle::Primary)])]
        }
        Some(Card::Progress { status: RunStatus::Queued | RunStatus::Working, .. }) => {
            vec![CreateActionRow::Buttons(vec![Button::Stop(message_id).build("Stop", ButtonStyle::Danger)])]
        }
        Some(Card::Review(review)) if review.state.is_reviewable() => {
            vec![CreateActionRow::Buttons(vec![
                Button::ReviewApprove(message_id).build("Approve", ButtonStyle::Success),
                Button::ReviewChanges(message_id).build("Request changes", ButtonStyle::Secondary),
            ])]
        }
        // Decided cards and plain messages: no buttons left to click.
        _ => vec![],
    };
    (content(&text), rows)
}

/// The private confirmation a first click on Approve gets.
/// `consequence`: what approving does ([`orchestrator::texts::approval_consequence`]).
pub fn confirm_approval(approval_id: &str, consequence: &str) -> (String, Vec<CreateActionRow>) {
    let text = format!("Approve? {consequence} Only you see this.");
    let buttons = vec![Button::ConfirmApprove(approval_id.to_owned()).build("Yes, approve", ButtonStyle::Success)];
    (content(&text), vec![CreateActionRow::Buttons(buttons)])
}

/// The modal behind a credential card's "Provide": one input, never echoed back.
pub fn credential_modal(request_id: &str, name: &str) -> CreateModal {
    let label = truncate(name, 45);
    let input = CreateInputText::new(InputTextStyle::Short, label, CREDENTIAL_INPUT)
        .placeholder("Goes straight into Nova's vault; nobody sees it")
        .required(true);
    CreateModal::new(Button::CredentialForm(request_id.to_owned()).custom_id(), "Provide a credential")
        .components(vec![CreateActionRow::InputText(input)])
}

/// The modal behind a review card's "Request changes": what should change, and the line
/// it is about (optional, `path:line`).
pub fn review_modal(message_id: i64, review: i64) -> CreateModal {
    let comment = CreateInputText::new(InputTextStyle::Paragraph, "What should change", REVIEW_COMMENT).required(true);
    let at = CreateInputText::new(InputTextStyle::Short, "On a line (path:line)", REVIEW_AT).required(false);
    CreateModal::new(
        Button::ReviewForm(message_id).custom_id(),
        truncate(&format!("Request changes on review #{review}"), 45),
    )
    .components(vec![CreateActionRow::InputText(comment), CreateActionRow::InputText(at)])
}

/// The public thread a session gets: named after the request.
pub fn thread_name(title: &str) -> String {
    let line = title.lines().find(|l| !l.trim().is_empty()).unwrap_or("Nova").trim();
    truncate(line, THREAD_NAME_LIMIT)
}

/// `/nova`, registered globally at start: one optional free-text option, parsed by
/// the shared command parser (the same as Slack's `/nova …`).
pub fn nova_command() -> CreateCommand {
    CreateCommand::new("nova").description("Ask Nova about offices: help, status, wake, sleep, approvals").add_option(
        CreateCommandOption::new(
            CommandOptionType::String,
            "command",
            "help | status | wake <office> | sleep <office> | approvals",
        )
        .required(false),
    )
}

#[cfg(test)]
mod tests {
    use orchestrator::texts::{PickOption, RunStatus};
    use provisioner::protocol::Objective;

    use super::*;

    fn json(message: (String, Vec<CreateActionRow>)) -> serde_json::Value {
        serde_json::json!({"content": message.0, "components": message.1})
    }

    #[test]
    fn custom_ids_round_trip() {
        for button in [
            Button::Pick { message_id: 42, office: "maker".into() },
            Button::Approve("a1".into()),
            Button::ConfirmApprove("a1".into()),
            Button::ReviewApprove(12),
            Button::ReviewChanges(12),
            Button::ReviewForm(12),
            Button::Reject("a1".into()),
            Button::Provide("c1".into()),
            Button::CredentialForm("c1".into()),
        ] {
            assert_eq!(Button::parse(&button.custom_id()), Some(button));
        }
    }

    #[test]
    fn foreign_or_damaged_custom_ids_are_not_nova_s() {
        for id in ["", "pick:1:maker", "nova:", "nova:approve:", "nova:pick:x:maker", "nova:pick:1", "nova:launch:1"] {
            assert_eq!(Button::parse(id), None, "{id}");
        }
    }

    #[test]
    fn picker() {
        let card = Card::Picker {
            options: vec![
                PickOption { office: "maker".into(), role: "builds features".into() },
                PickOption { office: "payments".into(), role: "owns payments".into() },
            ],
            resolved: None,
        };
        insta::assert_json_snapshot!(json(message(7, "", Some(&card))));
    }

    #[test]
    fn approval_pending_then_decided() {
        let mut card = Card::Approval {
            id: "ap1".into(),
            office: "maker".into(),
            kind: "deploy".into(),
            action: "deploy storefront to production".into(),
            details: "v2.3.1".into(),
            risk: "high".into(),
            approvers: vec![],
            expires_at: 1_700_000_000_000,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            time_zone: None,
        };
        insta::assert_json_snapshot!("approval_pending", json(message(8, "", Some(&card))));
        if let Card::Approval { state, decided_by, decided_at, .. } = &mut card {
            *state = ApprovalState::Approved;
            *decided_by = Some("carol".into());
            *decided_at = Some(1_700_000_060_000);
        }
        insta::assert_json_snapshot!("approval_decided", json(message(8, "", Some(&card))));
        insta::assert_json_snapshot!(
            "approval_confirm",
            json(confirm_approval(
                "ap1",
                &orchestrator::texts::approval_consequence("maker", "deploy", "deploy storefront")
            ))
        );
    }

    #[test]
    fn credential_card_and_modal() {
        let card = Card::Credential {
            id: "cr1".into(),
            office: "maker".into(),
            name: "STRIPE_KEY".into(),
            why: "to test refunds".into(),
            state: CredentialState::Pending,
            provided_by: None,
        };
        insta::assert_json_snapshot!("credential_card", json(message(9, "", Some(&card))));
        insta::assert_json_snapshot!("credential_modal", credential_modal("cr1", "STRIPE_KEY"));
    }

    #[test]
    fn a_running_progress_card_has_a_stop_button() {
        let card = Card::Progress {
            office: "maker".into(),
            status: RunStatus::Working,
            objectives: vec![
                Objective { text: "Read the code".into(), done: true },
                Objective { text: "Fix the bug".into(), done: false },
            ],
            lines: vec!["running tests".into()],
        };
        insta::assert_json_snapshot!(json(message(10, "", Some(&card))));
    }

    #[test]
    fn long_texts_fit_discord() {
        let (text, rows) = message(1, &"x".repeat(5000), None);
        assert_eq!(text.chars().count(), 2000);
        assert!(rows.is_empty());
        assert_eq!(thread_name(&format!("\n  {}\nsecond line", "y".repeat(300))).chars().count(), 100);
        assert_eq!(thread_name("fix the cart\nmore"), "fix the cart");
    }

    #[test]
    fn the_slash_command() {
        insta::assert_json_snapshot!(nova_command());
    }
}
