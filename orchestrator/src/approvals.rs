//! Approvals: which asks need a person, who may decide, and the one check every
//! decision passes first. Pure functions over the config and the approval row.

use std::time::Duration;

use crate::config::{Config, DEFAULT_APPROVAL_EXPIRY};
use crate::store::{ApprovalState, approvals};

#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// The policy lets the office go ahead (spending under the threshold).
    NotNeeded,
    /// `people` may decide (empty: anyone but the requester) within `expires`.
    Needed { people: Vec<String>, expires: Duration },
}

/// What an office's ask of `kind` (spending `amount_usd`) requires.
pub fn requirement(config: &Config, kind: &str, amount_usd: Option<f64>) -> Requirement {
    let members = |roles: &[String]| -> Vec<String> {
        let mut people: Vec<String> = roles.iter().filter_map(|r| config.roles.get(r)).flatten().cloned().collect();
        people.sort();
        people.dedup();
        people
    };
    match config.approvals.iter().find(|p| p.kind == kind) {
        Some(policy) => {
            // Only a real, non-negative amount can fall under the threshold.
            if let (Some(threshold), Some(amount)) = (policy.over_usd, amount_usd)
                && (0.0..=threshold).contains(&amount)
            {
                return Requirement::NotNeeded;
            }
            Requirement::Needed { people: members(&policy.approvers), expires: policy.expires }
        }
        // An ask no policy covers still needs a person: anyone holding a role.
        None => {
            let everyone: Vec<String> = config.roles.keys().cloned().collect();
            Requirement::Needed { people: members(&everyone), expires: DEFAULT_APPROVAL_EXPIRY }
        }
    }
}

/// Why a person's decision was refused; each says what would work instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefusal {
    #[error("this approval was already {state} by {by}")]
    AlreadyDecided { state: &'static str, by: String },
    #[error("this approval expired")]
    Expired,
    #[error("{0} asked for this work, so someone else has to approve it")]
    Requester(String),
    #[error("{user} may not decide this; it needs one of: {people}")]
    NotAnApprover { user: String, people: String },
    #[error("no approval `{0}`")]
    Unknown(String),
}

/// The permission check, first thing in every decision. `identities` are every name
/// the deciding person goes by ([`Config::identities`]): whether they click in Slack,
/// Discord or the console, they are the same person.
pub fn may_decide(approval: &approvals::Model, identities: &[String], now_ms: i64) -> Result<(), DecisionRefusal> {
    let user = identities.first().map(String::as_str).unwrap_or_default();
    match approval.state {
        ApprovalState::Pending if approval.expires_at <= now_ms => return Err(DecisionRefusal::Expired),
        ApprovalState::Pending => {}
        ApprovalState::Expired => return Err(DecisionRefusal::Expired),
        state @ (ApprovalState::Approved | ApprovalState::Rejected) => {
            return Err(DecisionRefusal::AlreadyDecided {
                state: state.as_str(),
                by: approval.decided_by.clone().unwrap_or_else(|| "someone".to_owned()),
            });
        }
    }
    if identities.contains(&approval.requester) {
        return Err(DecisionRefusal::Requester(user.to_owned()));
    }
    let people: Vec<String> = serde_json::from_str(&approval.approvers).unwrap_or_default();
    if !people.is_empty() && !people.iter().any(|p| identities.contains(p)) {
        return Err(DecisionRefusal::NotAnApprover { user: user.to_owned(), people: people.join(", ") });
    }
    Ok(())
}

/// The approval kind a workspace-wide credential needs: its value reaches every office.
pub const WORKSPACE_CREDENTIAL: &str = "workspace_credential";

/// Why a person may not provide a credential; each says who may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvideDenial {
    #[error("this request expired; the office has to ask again")]
    Expired,
    #[error("{user} may not provide credentials; it takes one of: {roles}")]
    NotAProvider { user: String, roles: String },
    #[error("a credential for every office needs one of: {people}")]
    WorkspaceNeedsApprover { people: String },
}

/// The permission check, first thing when someone provides a credential: a role the
/// credential policy names, a request that has not expired, and for a workspace-wide
/// credential someone who may approve that.
pub fn may_provide(
    config: &Config,
    request: &crate::store::credential_requests::Model,
    identities: &[String],
    now_ms: i64,
) -> Result<(), ProvideDenial> {
    let user = identities.first().map(String::as_str).unwrap_or_default();
    if request.created_at + config.credentials.expires.as_millis() as i64 <= now_ms {
        return Err(ProvideDenial::Expired);
    }
    let roles: Vec<&String> = match config.credentials.providers.as_slice() {
        [] => config.roles.keys().collect(),
        named => named.iter().collect(),
    };
    let holds = |role: &&String| identities.iter().any(|identity| config.roles[*role].contains(identity));
    if !roles.is_empty() && !roles.iter().any(holds) {
        let roles = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ProvideDenial::NotAProvider { user: user.to_owned(), roles });
    }
    if request.scope == "workspace"
        && let Requirement::Needed { people, .. } = requirement(config, WORKSPACE_CREDENTIAL, None)
        && !people.is_empty()
        && !people.iter().any(|p| identities.contains(p))
    {
        return Err(ProvideDenial::WorkspaceNeedsApprover { people: people.join(", ") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config::demo();
        config.roles.insert("dba".into(), vec!["carol".into(), "alice".into()]);
        config.roles.insert("finance".into(), vec!["frank".into()]);
        config.approvals.push(crate::config::ApprovalPolicy {
            kind: "destructive".into(),
            approvers: vec!["dba".into()],
            expires: Duration::from_secs(600),
            over_usd: None,
        });
        config.approvals.push(crate::config::ApprovalPolicy {
            kind: "spend".into(),
            approvers: vec!["finance".into()],
            expires: Duration::from_secs(600),
            over_usd: Some(100.0),
        });
        config
    }

    fn approval(state: ApprovalState, requester: &str, approvers: &[&str]) -> approvals::Model {
        approvals::Model {
            id: "a1".into(),
            office: "maker".into(),
            run_id: "r".into(),
            thread_id: "t".into(),
            message_id: Some(1),
            requester: requester.into(),
            kind: "destructive".into(),
            action: "drop table users".into(),
            details: String::new(),
            risk: "high".into(),
            approvers: serde_json::to_string(approvers).unwrap(),
            state,
            expires_at: 1_000,
            decided_by: (state != ApprovalState::Pending).then(|| "carol".into()),
            decided_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn policies_name_who_decides() {
        let config = config();
        assert_eq!(
            requirement(&config, "destructive", None),
            Requirement::Needed { people: vec!["alice".into(), "carol".into()], expires: Duration::from_secs(600) }
        );
        assert_eq!(requirement(&config, "spend", Some(40.0)), Requirement::NotNeeded);
        assert!(matches!(requirement(&config, "spend", Some(400.0)), Requirement::Needed { .. }));
        assert!(matches!(requirement(&config, "spend", Some(-400.0)), Requirement::Needed { .. }));
        assert!(matches!(requirement(&config, "spend", Some(f64::NAN)), Requirement::Needed { .. }));
        let Requirement::Needed { people, .. } = requirement(&config, "create_office", None) else { panic!() };
        assert_eq!(people, ["alice", "carol", "frank"], "an uncovered kind needs anyone holding a role");
    }

    #[test]
    fn only_an_approver_who_did_not_ask_may_decide() {
        let pending = approval(ApprovalState::Pending, "bob", &["alice", "carol"]);
        assert_eq!(may_decide(&pending, &ids("alice"), 0), Ok(()));
        insta::assert_snapshot!(may_decide(&pending, &ids("mallory"), 0).unwrap_err(), @"mallory may not decide this; it needs one of: alice, carol");
        let own = approval(ApprovalState::Pending, "alice", &["alice", "carol"]);
        insta::assert_snapshot!(may_decide(&own, &ids("alice"), 0).unwrap_err(), @"alice asked for this work, so someone else has to approve it");
        let open = approval(ApprovalState::Pending, "bob", &[]);
        assert_eq!(may_decide(&open, &ids("anyone"), 0), Ok(()));
    }

    fn ids(user: &str) -> Vec<String> {
        vec![user.to_owned()]
    }

    #[test]
    fn a_person_is_the_same_person_on_every_surface() {
        let mut config = config();
        config.people.insert(
            "alice".into(),
            crate::config::Person { slack: Some("U_ALICE".into()), discord: Some("1101".into()), github: None },
        );
        // Alice asked in Slack; in the console she is still the requester.
        let own = approval(ApprovalState::Pending, "U_ALICE", &["alice", "carol"]);
        assert!(matches!(may_decide(&own, &config.identities("alice"), 0), Err(DecisionRefusal::Requester(_))));
        // The dba role names her by name; her Discord click counts.
        let pending = approval(ApprovalState::Pending, "bob", &["alice", "carol"]);
        assert_eq!(may_decide(&pending, &config.identities("1101"), 0), Ok(()));
        assert!(config.holds_role("U_ALICE", "dba"));
        assert!(!config.holds_role("U_MALLORY", "dba"));
    }

    fn request(scope: &str, created_at: i64) -> crate::store::credential_requests::Model {
        crate::store::credential_requests::Model {
            id: "c1".into(),
            office: "maker".into(),
            run_id: "r1".into(),
            thread_id: "t1".into(),
            message_id: None,
            name: "github_token".into(),
            why: "to push".into(),
            scope: scope.into(),
            state: crate::store::CredentialState::Pending,
            provided_by: None,
            provided_at: None,
            created_at,
        }
    }

    #[test]
    fn only_a_provider_may_provide_and_only_in_time() {
        let mut config = config();
        let hour = 60 * 60 * 1000;
        assert_eq!(may_provide(&config, &request("office", 0), &ids("frank"), 1), Ok(()), "any role holder");
        insta::assert_snapshot!(may_provide(&config, &request("office", 0), &ids("mallory"), 1).unwrap_err(), @"mallory may not provide credentials; it takes one of: dba, finance");
        assert_eq!(may_provide(&config, &request("office", 0), &ids("frank"), hour), Err(ProvideDenial::Expired));
        config.credentials.providers = vec!["dba".into()];
        assert!(may_provide(&config, &request("office", 0), &ids("frank"), 1).is_err(), "finance is not named");
        // A workspace-wide credential needs whoever may approve that: anyone holding a
        // role, unless a policy names them.
        assert_eq!(may_provide(&config, &request("workspace", 0), &ids("alice"), 1), Ok(()));
        config.approvals.push(crate::config::ApprovalPolicy {
            kind: WORKSPACE_CREDENTIAL.into(),
            approvers: vec!["finance".into()],
            expires: Duration::from_secs(60),
            over_usd: None,
        });
        insta::assert_snapshot!(may_provide(&config, &request("workspace", 0), &ids("alice"), 1).unwrap_err(), @"a credential for every office needs one of: frank");
        let mut solo = Config::demo();
        solo.roles.clear();
        assert_eq!(may_provide(&solo, &request("workspace", 0), &ids("anyone"), 1), Ok(()), "a workspace of one");
    }

    #[test]
    fn decided_and_expired_approvals_stay_decided() {
        insta::assert_snapshot!(may_decide(&approval(ApprovalState::Approved, "bob", &[]), &ids("alice"), 0).unwrap_err(), @"this approval was already approved by carol");
        assert_eq!(
            may_decide(&approval(ApprovalState::Pending, "bob", &[]), &ids("alice"), 5_000),
            Err(DecisionRefusal::Expired)
        );
        assert_eq!(
            may_decide(&approval(ApprovalState::Expired, "bob", &[]), &ids("alice"), 0),
            Err(DecisionRefusal::Expired)
        );
    }
}
