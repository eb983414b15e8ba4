//! What offices ask of people: approvals before consequential actions, credentials
//! they lack. Asks arrive on the office API (authenticated by the office's token and
//! tied to a run), become cards in the run's thread, and are answered by people on a
//! surface. Offices poll for the answer, so waiting survives a sleep and a wake.

use serde::Deserialize;

use super::Engine;
use crate::approvals::{DecisionRefusal, Requirement, may_decide, requirement};
use crate::service_key::{KeyError, ServiceKey};
use crate::store::{
    ApprovalState, CredentialState, MessageKind, PromptState, approvals, credential_requests, now_ms, offices, prompts,
};
use crate::texts::Card;
use crate::vault::{Scope, SecretValue};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAsk {
    /// `destructive`, `deploy`, `spend`, `create_office`… (matched against policies).
    pub kind: String,
    pub action: String,
    #[serde(default)]
    pub details: String,
    #[serde(default = "medium")]
    pub risk: String,
    /// For spending: how much, so a threshold can apply.
    pub amount_usd: Option<f64>,
}

fn medium() -> String {
    "medium".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialAsk {
    pub name: String,
    pub why: String,
    /// `office` (default: only this office) or `workspace`.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Why an office's ask was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskRefusal {
    #[error("{0}")]
    BadKey(KeyError),
    #[error("run `{0}` is not running in this office")]
    UnknownRun(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no such request")]
    NotFound,
    #[error("`{0}` is not the credential of an upstream this office may use")]
    NotAnUpstreamSecret(String),
}

/// A secret as people may see it: where it is and who stored it, never its value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VaultEntry {
    pub scope: String,
    pub name: String,
    pub stored_by: String,
    pub stored_at: i64,
}

/// Why providing a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvideRefusal {
    #[error("no credential request `{0}`")]
    Unknown(String),
    #[error("`{name}` was already provided by {by}")]
    AlreadyProvided { name: String, by: String },
    #[error("the value is empty")]
    Empty,
    #[error("{0}")]
    Denied(#[from] crate::approvals::ProvideDenial),
}

/// Why an office's call for one of its runs is refused before anything else: each
/// caller's refusal type says it in its own words (`From`).
pub enum RunRefusal {
    BadKey(KeyError),
    UnknownRun(String),
}

impl Engine {
    /// The office whose current service key this is, or why the key is refused.
    pub async fn authenticate_office(&self, token: &str) -> anyhow::Result<Result<offices::Model, KeyError>> {
        let key = match ServiceKey::parse(token) {
            Ok(key) => key,
            Err(error) => return Ok(Err(error)),
        };
        let Some(office) = self.store.office_by_service_key(&key.id).await? else {
            return Ok(Err(KeyError::Unknown(key.id)));
        };
        match office.token_hash.as_deref().map(|hash| key.verify(hash)) {
            Some(Ok(())) => Ok(Ok(office)),
            Some(Err(error)) => Ok(Err(error)),
            // Asleep: no secret is valid until the next wake.
            None => Ok(Err(KeyError::Invalid(key.id))),
        }
    }

    /// The office whose key `token` is and its run `run_id`, if running: what every
    /// call an office makes for one of its runs checks first.
    pub(super) async fn office_run<R: From<RunRefusal>>(
        &self,
        token: &str,
        run_id: &str,
    ) -> anyhow::Result<Result<(offices::Model, prompts::Model), R>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(RunRefusal::BadKey(error).into())),
        };
        match self.running_prompt(&office, run_id).await? {
            Some(prompt) => Ok(Ok((office, prompt))),
            None => Ok(Err(RunRefusal::UnknownRun(run_id.to_owned()).into())),
        }
    }

    pub(super) async fn running_prompt(
        &self,
        office: &offices::Model,
        run_id: &str,
    ) -> anyhow::Result<Option<prompts::Model>> {
        Ok(self
            .store
            .prompt_by_run(run_id)
            .await?
            .filter(|p| p.office == office.name && p.state == PromptState::Dispatched))
    }

    pub async fn ask_approval(
        &self,
        token: &str,
        run_id: &str,
        ask: ApprovalAsk,
    ) -> anyhow::Result<Result<approvals::Model, AskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        let Some(prompt) = self.running_prompt(&office, run_id).await? else {
            return Ok(Err(AskRefusal::UnknownRun(run_id.to_owned())));
        };
        if ask.kind.trim().is_empty() || ask.action.trim().is_empty() {
            return Ok(Err(AskRefusal::Invalid("an approval needs a kind and an action".to_owned())));
        }
        // People's fleet changes and Nova's pauses only: an office's ask of such a kind
        // would show a card that reads as someone else's request.
        if is_asked_by_nova(ask.kind.trim()) {
            return Ok(Err(AskRefusal::Invalid(format!(
                "`{}` approvals are asked by people and Nova, not offices",
                ask.kind.trim()
            ))));
        }
        if ask.amount_usd.is_some_and(|amount| !amount.is_finite() || amount < 0.0) {
            return Ok(Err(AskRefusal::Invalid("an amount is a number of dollars, zero or more".to_owned())));
        }
        if let Some(earlier) = self.store.earlier_approval(run_id, &ask.kind, &ask.action).await? {
            return Ok(Ok(earlier));
        }
        let now = now_ms();
        let (people, expires, state, decided_by) = match requirement(&self.config(), &ask.kind, ask.amount_usd) {
            Requirement::NotNeeded => {
                (vec![], std::time::Duration::ZERO, ApprovalState::Approved, Some("policy".to_owned()))
            }
            Requirement::Needed { people, expires } => (people, expires, ApprovalState::Pending, None),
        };
        let approval = approvals::Model {
            id: uuid::Uuid::new_v4().to_string(),
            office: office.name.clone(),
            run_id: run_id.to_owned(),
            thread_id: prompt.thread_id.clone(),
            message_id: None,
            requester: prompt.author.clone(),
            kind: ask.kind.clone(),
            action: ask.action.clone(),
            details: ask.details.clone(),
            risk: ask.risk.clone(),
            approvers: serde_json::to_string(&people)?,
            state,
            expires_at: now + expires.as_millis() as i64,
            decided_at: decided_by.as_ref().map(|_| now),
            decided_by,
            created_at: now,
        };
        self.store.insert_approval(approval.clone()).await?;
        let details = serde_json::json!({"approval": approval.id, "kind": ask.kind, "action": ask.action, "risk": ask.risk, "state": state.as_str()});
        self.record(&office.name, &office.name, Some(run_id), "approval_requested", details).await;
        if state == ApprovalState::Pending {
            self.show_approval(&approval, Some(run_id)).await?;
        }
        Ok(Ok(self.store.approval(&approval.id).await?.unwrap_or(approval)))
    }

    /// An office reads the state of its own approval.
    pub async fn approval_for_office(
        &self,
        token: &str,
        id: &str,
    ) -> anyhow::Result<Result<approvals::Model, AskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        // A fleet change filed under this office is people's business, not the office's.
        Ok(self
            .store
            .approval(id)
            .await?
            .filter(|a| a.office == office.name && !is_asked_by_nova(&a.kind))
            .ok_or(AskRefusal::NotFound))
    }

    /// A person approves or rejects. The permission check comes first; the decision is
    /// a conditional update, so of two simultaneous clicks exactly one decides.
    pub async fn decide(
        &self,
        id: &str,
        user: &str,
        approve: bool,
    ) -> anyhow::Result<Result<approvals::Model, DecisionRefusal>> {
        let Some(approval) = self.store.approval(id).await? else {
            return Ok(Err(DecisionRefusal::Unknown(id.to_owned())));
        };
        let identities = self.config().identities(user);
        if let Err(refusal) = may_decide(&approval, &identities, now_ms()) {
            return Ok(Err(refusal));
        }
        let state = if approve { ApprovalState::Approved } else { ApprovalState::Rejected };
        if !self.store.decide_approval(id, state, user).await? {
            let now = self.store.approval(id).await?.unwrap_or(approval);
            return Ok(Err(may_decide(&now, &identities, now_ms()).err().unwrap_or(DecisionRefusal::Expired)));
        }
        let decided = self.store.approval(id).await?.unwrap_or(approval);
        let details = serde_json::json!({"approval": id, "state": state, "action": decided.action});
        self.record(user, &decided.office, Some(&decided.run_id), "approval_decided", details).await;
        self.refresh_approval_card(&decided).await?;
        match decided.kind.as_str() {
            super::FLEET_CHANGE => self.fleet_change_decided(&decided).await?,
            super::LOOP_GUARD => self.loop_guard_decided(&decided).await?,
            _ => {}
        }
        Ok(Ok(decided))
    }

    /// Credential requests nobody answered in time: their cards say so, and the office
    /// waiting on one learns it expired.
    pub(super) async fn expire_credential_requests(&self) -> anyhow::Result<()> {
        let created_before = now_ms() - self.config().credentials.expires.as_millis() as i64;
        for request in self.store.expire_credential_requests(created_before).await? {
            let details = serde_json::json!({"request": request.id, "name": request.name});
            self.record("nova", &request.office, Some(&request.run_id), "credential_expired", details).await;
            self.refresh_credential_card(&request).await?;
        }
        Ok(())
    }

    pub(super) async fn expire_approvals(&self) -> anyhow::Result<()> {
        for approval in self.store.expire_approvals().await? {
            let details = serde_json::json!({"approval": approval.id, "action": approval.action});
            self.record("nova", &approval.office, Some(&approval.run_id), "approval_expired", details).await;
            self.refresh_approval_card(&approval).await?;
        }
        Ok(())
    }

    /// An approval as its card shows it (state, office, action), for a surface's buttons.
    pub async fn approval_card(&self, id: &str) -> anyhow::Result<Option<Card>> {
        Ok(self.store.approval(id).await?.as_ref().map(|approval| approval_card(approval, self.zone())))
    }

    /// A credential request as its card shows it, for a surface's Provide button.
    pub async fn credential_card(&self, id: &str) -> anyhow::Result<Option<Card>> {
        Ok(self.store.credential_request(id).await?.as_ref().map(credential_card))
    }

    pub async fn approvals_in_state(&self, state: ApprovalState) -> anyhow::Result<Vec<approvals::Model>> {
        self.store.approvals_in_state(state).await
    }

    async fn refresh_credential_card(&self, request: &credential_requests::Model) -> anyhow::Result<()> {
        if let Some(message_id) = request.message_id {
            let card = credential_card(request);
            let edited = self.store.edit_message(message_id, &card.fallback_text(), Some(&card.to_json())).await?;
            let channel = self.channel_of(&request.thread_id).await?;
            self.publish_message(&channel, edited);
        }
        Ok(())
    }

    pub(super) async fn refresh_approval_card(&self, approval: &approvals::Model) -> anyhow::Result<()> {
        if let Some(message_id) = approval.message_id {
            let card = approval_card(approval, self.zone());
            let edited = self.store.edit_message(message_id, &card.fallback_text(), Some(&card.to_json())).await?;
            let channel = self.channel_of(&approval.thread_id).await?;
            self.publish_message(&channel, edited);
        }
        Ok(())
    }

    pub async fn ask_credential(
        &self,
        token: &str,
        run_id: &str,
        ask: CredentialAsk,
    ) -> anyhow::Result<Result<credential_requests::Model, AskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        let Some(prompt) = self.running_prompt(&office, run_id).await? else {
            return Ok(Err(AskRefusal::UnknownRun(run_id.to_owned())));
        };
        let valid_name = !ask.name.is_empty()
            && ask.name.len() <= 64
            && ask.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Ok(Err(AskRefusal::Invalid(
                "a credential name is 1–64 characters of a-z, 0-9, '_' and '-'".to_owned(),
            )));
        }
        if let Some(earlier) = self.store.earlier_credential_request(run_id, &ask.name).await? {
            return Ok(Ok(earlier));
        }
        let scope = match ask.scope.as_deref() {
            None | Some("office") => "office",
            Some("workspace") => "workspace",
            Some(other) => {
                return Ok(Err(AskRefusal::Invalid(format!("unknown scope `{other}`: use office or workspace"))));
            }
        };
        // Already in the vault for this office: nothing to ask.
        let known = self.resolve(&office.name, &ask.name).await?.is_some();
        let now = now_ms();
        let request = credential_requests::Model {
            id: uuid::Uuid::new_v4().to_string(),
            office: office.name.clone(),
            run_id: run_id.to_owned(),
            thread_id: prompt.thread_id.clone(),
            message_id: None,
            name: ask.name.clone(),
            why: ask.why.clone(),
            scope: scope.to_owned(),
            state: if known { CredentialState::Provided } else { CredentialState::Pending },
            provided_by: known.then(|| "vault".to_owned()),
            provided_at: known.then_some(now),
            created_at: now,
        };
        self.store.insert_credential_request(request.clone()).await?;
        let details =
            serde_json::json!({"request": request.id, "name": ask.name, "scope": scope, "already_known": known});
        self.record(&office.name, &office.name, Some(run_id), "credential_requested", details).await;
        if !known {
            let card = credential_card(&request);
            let message = self.post_card(&request.thread_id, &card, run_id).await?;
            self.store.set_credential_card(&request.id, message).await?;
            // As with approvals: a value provided before the card's id was recorded.
            if let Some(now) =
                self.store.credential_request(&request.id).await?.filter(|r| r.state != CredentialState::Pending)
            {
                self.refresh_credential_card(&now).await?;
            }
        }
        Ok(Ok(self.store.credential_request(&request.id).await?.unwrap_or(request)))
    }

    pub async fn credential_for_office(
        &self,
        token: &str,
        id: &str,
    ) -> anyhow::Result<Result<credential_requests::Model, AskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        Ok(self.store.credential_request(id).await?.filter(|r| r.office == office.name).ok_or(AskRefusal::NotFound))
    }

    /// A person provides a requested credential: sealed into the vault at once, never
    /// written anywhere in plaintext; the thread only learns that it was provided.
    pub async fn provide_credential(
        &self,
        id: &str,
        user: &str,
        value: SecretValue,
    ) -> anyhow::Result<Result<(), ProvideRefusal>> {
        let Some(request) = self.store.credential_request(id).await? else {
            return Ok(Err(ProvideRefusal::Unknown(id.to_owned())));
        };
        if request.state == CredentialState::Expired {
            return Ok(Err(crate::approvals::ProvideDenial::Expired.into()));
        }
        if request.state != CredentialState::Pending {
            let by = request.provided_by.clone().unwrap_or_else(|| "someone".to_owned());
            return Ok(Err(ProvideRefusal::AlreadyProvided { name: request.name, by }));
        }
        if let Err(denial) =
            crate::approvals::may_provide(&self.config(), &request, &self.config().identities(user), now_ms())
        {
            return Ok(Err(denial.into()));
        }
        if value.expose().trim().is_empty() {
            return Ok(Err(ProvideRefusal::Empty));
        }
        let scope = match request.scope.as_str() {
            "workspace" => Scope::Workspace,
            _ => Scope::Office(request.office.clone()),
        };
        if !self.store.mark_credential_provided(id, user).await? {
            let again = self.store.credential_request(id).await?.unwrap_or(request);
            let by = again.provided_by.clone().unwrap_or_else(|| "someone".to_owned());
            return Ok(Err(ProvideRefusal::AlreadyProvided { name: again.name, by }));
        }
        crate::vault::store(&self.store, &self.vault, &scope, &request.name, &value, user).await?;
        let details = serde_json::json!({"request": id, "name": request.name, "scope": scope.key()});
        self.record(user, &request.office, Some(&request.run_id), "credential_provided", details).await;
        let provided = self.store.credential_request(id).await?.unwrap_or(request);
        self.refresh_credential_card(&provided).await?;
        Ok(Ok(()))
    }

    /// What the vault holds, for someone who may operate the fleet: names, scopes, who
    /// stored each and when; never a value.
    pub async fn vault_entries(&self, user: &str) -> anyhow::Result<Result<Vec<VaultEntry>, String>> {
        if let Err(refusal) = crate::commands::may_operate(&self.config(), user) {
            return Ok(Err(refusal));
        }
        let entries = self.store.all_secrets().await?.into_iter().map(|secret| VaultEntry {
            scope: secret.scope,
            name: secret.name,
            stored_by: secret.updated_by,
            stored_at: secret.updated_at,
        });
        Ok(Ok(entries.collect()))
    }

    /// Puts a secret in the vault (a platform default, say), replacing what was there.
    /// Only someone who may operate the fleet; the value goes nowhere but the vault.
    pub async fn put_secret(
        &self,
        user: &str,
        scope: &Scope,
        name: &str,
        value: SecretValue,
    ) -> anyhow::Result<Result<(), String>> {
        if let Err(refusal) = crate::commands::may_operate(&self.config(), user) {
            return Ok(Err(refusal));
        }
        if value.expose().trim().is_empty() {
            return Ok(Err("the value is empty".to_owned()));
        }
        crate::vault::store(&self.store, &self.vault, scope, name, &value, user).await?;
        let details = serde_json::json!({"name": name, "scope": scope.key()});
        match scope {
            Scope::Office(office) => self.record(user, office, None, "secret_stored", details).await,
            _ => self.record_global(user, "secret_stored", details).await,
        }
        Ok(Ok(()))
    }

    /// Removes a secret from the vault (offices can no longer use it); whether there
    /// was one. Only someone who may operate the fleet.
    pub async fn revoke_secret(&self, user: &str, scope: &str, name: &str) -> anyhow::Result<Result<bool, String>> {
        if let Err(refusal) = crate::commands::may_operate(&self.config(), user) {
            return Ok(Err(refusal));
        }
        if !self.store.delete_secret(scope, name).await? {
            return Ok(Ok(false));
        }
        let details = serde_json::json!({"name": name, "scope": scope});
        match scope.strip_prefix("office:") {
            Some(office) => self.record(user, office, None, "secret_revoked", details).await,
            None => self.record_global(user, "secret_revoked", details).await,
        }
        Ok(Ok(true))
    }

    /// A secret for an office, most specific scope first (office → workspace → platform).
    pub(super) async fn resolve(&self, office: &str, name: &str) -> anyhow::Result<Option<SecretValue>> {
        for scope in Scope::lookup_order(office) {
            if let Some(row) = self.store.secret(&scope.key(), name).await? {
                return Ok(Some(self.vault.open(&scope, name, &row.sealed)?));
            }
        }
        Ok(None)
    }

    /// The office's secrets proxy asking for a credential it must inject upstream: only
    /// ever one that a configured upstream injects, so a stolen office token still reads
    /// no other secret in the vault.
    pub async fn secret_for_office(
        &self,
        token: &str,
        name: &str,
    ) -> anyhow::Result<Result<Option<SecretValue>, AskRefusal>> {
        let office = match self.authenticate_office(token).await? {
            Ok(office) => office,
            Err(error) => return Ok(Err(AskRefusal::BadKey(error))),
        };
        if !self.config().office_upstreams().any(|upstream| upstream.secret.as_deref() == Some(name)) {
            return Ok(Err(AskRefusal::NotAnUpstreamSecret(name.to_owned())));
        }
        Ok(Ok(self.resolve(&office.name, name).await?))
    }

    /// Shows a pending approval as its card in its thread (`run_id`: the run it holds up,
    /// if any). Someone may decide between the card showing and its id being recorded:
    /// that decision found no card to update, so it shows here.
    pub(super) async fn show_approval(&self, approval: &approvals::Model, run_id: Option<&str>) -> anyhow::Result<()> {
        let card = approval_card(approval, self.zone());
        let message = self
            .store
            .post_message(&approval.thread_id, MessageKind::Card, &card.fallback_text(), Some(&card.to_json()), run_id)
            .await?;
        self.store.set_approval_card(&approval.id, message.id).await?;
        let channel = self.channel_of(&approval.thread_id).await?;
        self.publish_message(&channel, message);
        if let Some(now) = self.store.approval(&approval.id).await?.filter(|a| a.state != ApprovalState::Pending) {
            self.refresh_approval_card(&now).await?;
        }
        Ok(())
    }

    async fn post_card(&self, thread_id: &str, card: &Card, run_id: &str) -> anyhow::Result<i64> {
        let message = self
            .store
            .post_message(thread_id, MessageKind::Card, &card.fallback_text(), Some(&card.to_json()), Some(run_id))
            .await?;
        let id = message.id;
        let channel = self.channel_of(thread_id).await?;
        self.publish_message(&channel, message);
        Ok(id)
    }
}

/// Kinds of approval people (fleet changes) and Nova (pauses) ask for, never offices.
pub fn is_asked_by_nova(kind: &str) -> bool {
    kind == super::FLEET_CHANGE || kind == super::LOOP_GUARD
}

/// An approval's card, its times on `zone`'s clock (the workspace's).
pub(super) fn approval_card(approval: &approvals::Model, zone: chrono_tz::Tz) -> Card {
    Card::Approval {
        id: approval.id.clone(),
        // The card names who asks: the office, or the person or Nova asking for the rest.
        office: if is_asked_by_nova(&approval.kind) { approval.requester.clone() } else { approval.office.clone() },
        kind: approval.kind.clone(),
        action: approval.action.clone(),
        details: approval.details.clone(),
        risk: approval.risk.clone(),
        approvers: serde_json::from_str(&approval.approvers).unwrap_or_default(),
        expires_at: approval.expires_at,
        state: approval.state,
        decided_by: approval.decided_by.clone(),
        decided_at: approval.decided_at,
        time_zone: Some(zone.name().to_owned()),
    }
}

fn credential_card(request: &credential_requests::Model) -> Card {
    Card::Credential {
        id: request.id.clone(),
        office: request.office.clone(),
        name: request.name.clone(),
        why: request.why.clone(),
        state: request.state,
        provided_by: request.provided_by.clone(),
    }
}
