//! Nova's messages and cards as Slack Block Kit. Built as JSON (what Slack documents
//! and what the snapshots show), then handed to slack-morphism's typed models.

use orchestrator::store::{ApprovalState, CredentialState};
use orchestrator::texts::{Card, RunStatus};
use serde_json::{Value, json};
use slack_morphism::prelude::{SlackBlock, SlackView};

/// Action ids of the buttons Nova puts on cards; the interactivity handler matches them.
pub const PICK: &str = "nova_pick";
pub const APPROVE: &str = "nova_approve";
pub const REJECT: &str = "nova_reject";
pub const PROVIDE: &str = "nova_provide";
/// Stop the run of a progress card; the value is the card's message id.
pub const STOP: &str = "nova_stop";
/// A review card's Approve and Request changes; the value is the card's message id.
pub const REVIEW_APPROVE: &str = "nova_review_approve";
pub const REVIEW_CHANGES: &str = "nova_review_changes";
/// The request-changes modal: its callback id (the card's id is its metadata) and inputs.
pub const REVIEW_VIEW: &str = "nova_review";
pub const REVIEW_COMMENT: &str = "review_comment.value";
pub const REVIEW_AT: &str = "review_at.value";
/// The credential modal: its callback id and the input's block / action ids.
pub const CREDENTIAL_VIEW: &str = "nova_credential";
pub const CREDENTIAL_INPUT: &str = "credential.value";

/// Slack allows 3000 characters in a section's text.
const SECTION_LIMIT: usize = 3000;

/// Converts the Markdown of Nova's texts to Slack mrkdwn: `**bold**` → `*bold*`,
/// checklists → emoji, `&<>` escaped, fenced-code languages dropped.
pub fn mrkdwn(markdown: &str) -> String {
    let escaped = markdown.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut out = Vec::new();
    for line in escaped.lines() {
        let line = if let Some(rest) = line.strip_prefix("- [x] ") {
            format!(":white_check_mark: {rest}")
        } else if let Some(rest) = line.strip_prefix("- [ ] ") {
            format!(":white_large_square: {rest}")
        } else if let Some(rest) = line.strip_prefix("&gt; ") {
            format!("> {rest}")
        } else if line.starts_with("```") {
            "```".to_owned()
        } else {
            line.to_owned()
        };
        out.push(line.replace("**", "*"));
    }
    out.join("\n")
}

fn section(text: &str) -> Value {
    let mut text = mrkdwn(text);
    if text.chars().count() > SECTION_LIMIT {
        text = text.chars().take(SECTION_LIMIT - 1).collect::<String>() + "…";
    }
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn button(text: &str, action_id: &str, value: &str) -> Value {
    json!({"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value})
}

/// The `block_id` of a Nova message's first block: how a mirror that took over a post
/// finds the one an earlier attempt made (see [`crate::mirror::Writer::find_post`]).
pub fn message_block_id(message_id: i64) -> String {
    format!("nova_message_{message_id}")
}

/// The blocks of a Nova message: its text (carrying [`message_block_id`]), and the
/// buttons its card needs.
pub fn blocks(message_id: i64, body: &str, card: Option<&Card>) -> Vec<Value> {
    let mut blocks = card_blocks(message_id, body, card);
    blocks[0]["block_id"] = json!(message_block_id(message_id));
    blocks
}

fn card_blocks(message_id: i64, body: &str, card: Option<&Card>) -> Vec<Value> {
    match card {
        Some(Card::Picker { options, resolved: None }) => {
            let buttons: Vec<Value> = options
                .iter()
                .enumerate()
                .map(|(i, option)| {
                    let mut button =
                        button(&option.office, &format!("{PICK}_{i}"), &format!("{message_id}:{}", option.office));
                    if i == 0 {
                        button["style"] = json!("primary");
                    }
                    button
                })
                .collect();
            let roles: Vec<String> = options.iter().map(|o| format!("*{}* — {}", o.office, o.role)).collect();
            vec![
                section(body),
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(&roles.join("\n"))}]}),
                json!({"type": "actions", "block_id": "nova_picker", "elements": buttons}),
            ]
        }
        Some(Card::Approval { id, action, office, kind, state: ApprovalState::Pending, .. }) => {
            let mut approve = button("Approve", APPROVE, id);
            approve["style"] = json!("primary");
            approve["confirm"] = json!({
                "title": {"type": "plain_text", "text": "Approve this?"},
                "text": {"type": "mrkdwn", "text": mrkdwn(&orchestrator::texts::approval_consequence(office, kind, action))},
                "confirm": {"type": "plain_text", "text": "Approve"},
                "deny": {"type": "plain_text", "text": "Cancel"}
            });
            let mut reject = button("Reject", REJECT, id);
            reject["style"] = json!("danger");
            vec![section(body), json!({"type": "actions", "block_id": "nova_approval", "elements": [approve, reject]})]
        }
        Some(Card::Credential { id, state: CredentialState::Pending, .. }) => {
            let mut provide = button("Provide", PROVIDE, id);
            provide["style"] = json!("primary");
            vec![section(body), json!({"type": "actions", "block_id": "nova_credential", "elements": [provide]})]
        }
        Some(Card::Review(review)) if review.state.is_reviewable() => {
            let mut approve = button("Approve", REVIEW_APPROVE, &message_id.to_string());
            approve["style"] = json!("primary");
            let changes = button("Request changes", REVIEW_CHANGES, &message_id.to_string());
            vec![section(body), json!({"type": "actions", "block_id": "nova_review", "elements": [approve, changes]})]
        }
        Some(Card::Progress { status: RunStatus::Queued | RunStatus::Working, .. }) => {
            let mut stop = button("Stop", STOP, &message_id.to_string());
            stop["style"] = json!("danger");
            vec![section(body), json!({"type": "actions", "block_id": "nova_progress", "elements": [stop]})]
        }
        _ => vec![section(body)],
    }
}

/// The modal behind a review card's "Request changes": what should change, and the
/// line it is about (optional, `path:line`).
pub fn review_modal(message_id: i64, review: i64, office: &str) -> Value {
    let input = |id: &str, label: &str, multiline: bool, optional: bool| {
        let (block, action) = id.split_once('.').expect("block.action");
        json!({
            "type": "input",
            "block_id": block,
            "optional": optional,
            "label": {"type": "plain_text", "text": label},
            "element": {"type": "plain_text_input", "action_id": action, "multiline": multiline}
        })
    };
    json!({
        "type": "modal",
        "callback_id": REVIEW_VIEW,
        "private_metadata": message_id.to_string(),
        "title": {"type": "plain_text", "text": "Request changes"},
        "submit": {"type": "plain_text", "text": "Send to the office"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(&format!("Review #{review}: what should **{office}** change?")),
            input(REVIEW_COMMENT, "What should change", true, false),
            input(REVIEW_AT, "On a line (path:line)", false, true),
        ]
    })
}

/// The modal behind a credential card's "Provide": one input, never echoed back.
pub fn credential_modal(request_id: &str, office: &str, name: &str, why: &str) -> Value {
    let (block, action) = CREDENTIAL_INPUT.split_once('.').expect("block.action");
    json!({
        "type": "modal",
        "callback_id": CREDENTIAL_VIEW,
        "private_metadata": request_id,
        "title": {"type": "plain_text", "text": "Provide a credential"},
        "submit": {"type": "plain_text", "text": "Store in vault"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(&format!("**{office}** needs **{name}**: {why}")),
            {
                "type": "input",
                "block_id": block,
                "label": {"type": "plain_text", "text": name},
                "element": {"type": "plain_text_input", "action_id": action},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "It goes straight into Nova's vault, encrypted. Nobody in the thread sees it, and neither does the office: its proxy adds it to requests."}]},
        ],
    })
}

/// Hands JSON blocks to slack-morphism's typed model.
pub fn typed_blocks(blocks: Vec<Value>) -> anyhow::Result<Vec<SlackBlock>> {
    Ok(serde_json::from_value(Value::Array(blocks))?)
}

pub fn typed_view(view: Value) -> anyhow::Result<SlackView> {
    Ok(serde_json::from_value(view)?)
}

#[cfg(test)]
mod tests {
    use orchestrator::texts::{PickOption, RunStatus};
    use provisioner::protocol::Objective;

    use super::*;

    fn round_trips(blocks: Vec<Value>) -> Vec<Value> {
        let typed = typed_blocks(blocks.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), Value::Array(blocks.clone()), "slack-morphism drops nothing");
        blocks
    }

    #[test]
    fn converts_markdown_to_mrkdwn() {
        insta::assert_snapshot!(
            mrkdwn("**maker** is working on this…\n\n- [x] read the code\n- [ ] fix <the> bug & test\n\n> compiling\n```toml\nx = 1\n```"),
            @r"
        *maker* is working on this…

        :white_check_mark: read the code
        :white_large_square: fix &lt;the&gt; bug &amp; test

        > compiling
        ```
        x = 1
        ```
        "
        );
    }

    #[test]
    fn picker_card() {
        let card = Card::Picker {
            options: vec![
                PickOption { office: "maker".into(), role: "Software engineer".into() },
                PickOption { office: "support".into(), role: "Customer support".into() },
            ],
            resolved: None,
        };
        insta::assert_json_snapshot!(round_trips(blocks(7, &card.fallback_text(), Some(&card))));
    }

    #[test]
    fn approval_card_with_a_confirm_dialog() {
        let card = Card::Approval {
            id: "a1".into(),
            office: "maker".into(),
            kind: "destructive".into(),
            action: "drop the staging table".into(),
            details: "it is 40 GB".into(),
            risk: "high".into(),
            approvers: vec!["dba".into()],
            expires_at: 1_800_000_000_000,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            time_zone: None,
        };
        insta::assert_json_snapshot!(round_trips(blocks(8, &card.fallback_text(), Some(&card))));
    }

    #[test]
    fn credential_card_and_modal() {
        let card = Card::Credential {
            id: "c1".into(),
            office: "maker".into(),
            name: "stripe_key".into(),
            why: "to refund the order".into(),
            state: CredentialState::Pending,
            provided_by: None,
        };
        insta::assert_json_snapshot!(round_trips(blocks(9, &card.fallback_text(), Some(&card))));
        let modal = credential_modal("c1", "maker", "stripe_key", "to refund the order");
        let typed = typed_view(modal.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), modal, "slack-morphism drops nothing");
        insta::assert_json_snapshot!(modal);
    }

    #[test]
    fn review_card_and_its_request_changes_modal() {
        let card = Card::Review(Box::new(orchestrator::texts::ReviewCard {
            id: 3,
            office: "maker".into(),
            repo: "payments-api".into(),
            branch: "nova/s-1".into(),
            base: "main".into(),
            revision: 1,
            summary: "Accept 6 to 12 characters.".into(),
            files: vec![orchestrator::texts::FileStat { path: "coupons.sh".into(), added: 1, removed: 1 }],
            excerpt: "-a\n+b".into(),
            tests: vec![],
            since_last: None,
            state: orchestrator::store::ReviewState::Open,
            approved_by: vec![],
            changes_requested_by: vec![],
            comments: vec![],
            needed: 1,
            approvers: vec![],
            outcome: None,
            pull_request: None,
        }));
        insta::assert_json_snapshot!(round_trips(blocks(12, &card.fallback_text(), Some(&card))));
        let modal = review_modal(12, 3, "maker");
        let typed = typed_view(modal.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), modal, "slack-morphism drops nothing");
        insta::assert_json_snapshot!(modal);
    }

    #[test]
    fn a_running_progress_card_has_a_stop_button() {
        let objectives =
            vec![Objective { text: "reproduce".into(), done: true }, Objective { text: "fix".into(), done: false }];
        let card = Card::Progress {
            office: "maker".into(),
            status: RunStatus::Working,
            objectives,
            lines: vec!["running tests".into()],
        };
        insta::assert_json_snapshot!(round_trips(blocks(10, &card.fallback_text(), Some(&card))));
    }

    #[test]
    fn a_finished_progress_card_has_no_stop_button() {
        for status in [RunStatus::Done, RunStatus::Failed, RunStatus::Stopped] {
            let card = Card::Progress { office: "maker".into(), status, objectives: vec![], lines: vec![] };
            assert_eq!(blocks(10, &card.fallback_text(), Some(&card)).len(), 1);
        }
    }

    #[test]
    fn a_decided_card_loses_its_buttons() {
        let card = Card::Credential {
            id: "c1".into(),
            office: "maker".into(),
            name: "stripe_key".into(),
            why: "x".into(),
            state: CredentialState::Provided,
            provided_by: Some("U1".into()),
        };
        let blocks = blocks(9, &card.fallback_text(), Some(&card));
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0]["type"], "section");
    }

    #[test]
    fn long_texts_fit_in_a_section() {
        let long = "x".repeat(5000);
        let blocks = blocks(1, &long, None);
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), SECTION_LIMIT);
    }
}
