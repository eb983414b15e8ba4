//! GitHub as a repo's code host. A review of a repo that names a `github` repository gets
//! a pull request when it opens, updated with each revision; a decision made in the
//! thread is left on the pull request, and a review left on the pull request (reported
//! by GitHub's webhook) counts in the thread under the same policy and the same
//! permission check. The `merge` stage merges the pull request through GitHub at the
//! reviewed head, so a push after the approvals is never merged with them.

use super::reviews::{Reviewer, Source};
use super::*;
use crate::github::{GitHub, GithubError};
use crate::store::{ReviewState, Verdict, reviews};
use crate::texts::CODE_HOST_MARK;

/// What GitHub says happened on a pull request: typed at the edge from a webhook
/// delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeHostEvent {
    /// A review submitted on the pull request.
    Review { repo: String, number: i64, id: i64, login: String, verdict: Verdict, body: String, commit: String },
    /// A line comment of a review.
    LineComment { repo: String, number: i64, id: i64, login: String, path: String, line: i32, body: String },
    /// The pull request was merged on GitHub.
    Merged { repo: String, number: i64, login: String },
}

impl Engine {
    /// A client for GitHub with the token of `[github]`'s upstream, looked up in the
    /// vault as `office` would (an office may have a token of its own). `Err` says why
    /// there is none.
    async fn github(&self, office: &str) -> anyhow::Result<Result<GitHub, String>> {
        let config = self.config();
        let Some(settings) = &config.github else { return Ok(Err("no [github] in nova.toml".to_owned())) };
        let Some(upstream) = config.upstreams.iter().find(|u| u.name == settings.upstream) else {
            return Ok(Err(format!("no upstream `{}`", settings.upstream)));
        };
        let Some(secret) = &upstream.secret else { return Ok(Err("GitHub's upstream names no secret".to_owned())) };
        let Some(token) = self.resolve(office, secret).await? else {
            return Ok(Err(format!("the vault has no `{secret}`, which Nova needs to reach GitHub")));
        };
        let value = crate::vault::SecretValue::new(upstream.value.replace("{secret}", token.expose()));
        Ok(Ok(GitHub::new(&upstream.url, &upstream.header, value)?))
    }

    /// The secret GitHub signs webhook deliveries with, if one is configured and in the vault.
    pub async fn github_webhook_secret(&self) -> anyhow::Result<Option<crate::vault::SecretValue>> {
        let Some(name) = self.config().github.as_ref().and_then(|github| github.webhook_secret.clone()) else {
            return Ok(None);
        };
        self.resolve("", &name).await
    }

    /// Opens the review's pull request, or updates its description for a new revision.
    /// A code host that fails is logged and audited; the review goes on in chat, and the
    /// `pr` stage tries again once it is approved.
    pub(super) async fn sync_pull_request(&self, review: &reviews::Model) -> anyhow::Result<Option<i64>> {
        let Some(github_repo) = self.config().repo(&review.repo).and_then(|repo| repo.github.clone()) else {
            return Ok(None);
        };
        let card = self.review_card(review).await?;
        let body = texts::pull_request_body(&card);
        let synced = match self.github(&review.office).await? {
            Err(why) => Err(why),
            Ok(github) => match review.pull_request {
                Some(number) => github.update_pull(&github_repo, number, &body).await.map(|()| number),
                None => {
                    github
                        .open_pull(&github_repo, &review.branch, &review.base, &texts::pull_request_title(&card), &body)
                        .await
                }
            }
            .map_err(|error| error.to_string()),
        };
        match synced {
            Ok(number) => {
                if review.pull_request.is_none() {
                    self.store.set_review_pull_request(review.id, number).await?;
                    let details = serde_json::json!({"review": review.id, "pull_request": number, "repo": github_repo});
                    self.record("nova", &review.office, None, "pull_request_opened", details).await;
                    self.show_review(review.id).await?;
                }
                Ok(Some(number))
            }
            Err(why) => {
                tracing::warn!(review = review.id, "GitHub: {why}");
                let details = serde_json::json!({"review": review.id, "error": why});
                self.record("nova", &review.office, None, "code_host_failed", details).await;
                Ok(None)
            }
        }
    }

    /// Leaves a decision made in chat on the pull request, as a comment review (GitHub
    /// lets no one approve the pull request they opened, and Nova opened it; the
    /// approvals are counted by Nova). A line GitHub will not comment on (outside the
    /// diff) is named in the text instead.
    pub(super) async fn mirror_decision(
        &self,
        review: &reviews::Model,
        author: &str,
        verdict: Verdict,
        body: &str,
        at: Option<(&str, i32)>,
    ) -> anyhow::Result<()> {
        let (Some(number), Some(github_repo)) =
            (review.pull_request, self.config().repo(&review.repo).and_then(|repo| repo.github.clone()))
        else {
            return Ok(());
        };
        let github = match self.github(&review.office).await? {
            Ok(github) => github,
            Err(why) => {
                tracing::warn!(review = review.id, "GitHub: {why}");
                return Ok(());
            }
        };
        let at_text = at.map(|(path, line)| format!("{path}:{line}"));
        let text = texts::mirrored_decision(author, verdict, body, at_text.as_deref());
        let comments: Vec<_> = at.map(|(path, line)| (path.to_owned(), line, text.clone())).into_iter().collect();
        let mut left = github.review(&github_repo, number, "COMMENT", &text, &review.head, &comments).await;
        if matches!(left, Err(GithubError::Refused { status: 422, .. })) && !comments.is_empty() {
            left = github.review(&github_repo, number, "COMMENT", &text, &review.head, &[]).await;
        }
        if let Err(error) = left {
            tracing::warn!(review = review.id, "cannot leave the decision on GitHub: {error}");
            let details = serde_json::json!({"review": review.id, "error": error.to_string()});
            self.record("nova", &review.office, None, "code_host_failed", details).await;
        }
        Ok(())
    }

    /// Merges the review's pull request at the reviewed head; the merge commit, or why not.
    pub(super) async fn merge_pull_request(
        &self,
        review: &reviews::Model,
        title: &str,
    ) -> anyhow::Result<Result<String, String>> {
        let Some(github_repo) = self.config().repo(&review.repo).and_then(|repo| repo.github.clone()) else {
            return Ok(Err(format!("`{}` is not on GitHub", review.repo)));
        };
        let Some(number) = self.sync_pull_request(review).await? else {
            return Ok(Err("the pull request could not be opened (the audit trail says why)".to_owned()));
        };
        let github = match self.github(&review.office).await? {
            Ok(github) => github,
            Err(why) => return Ok(Err(why)),
        };
        Ok(github.merge(&github_repo, number, &review.head, title).await.map_err(|error| error.to_string()))
    }

    /// What GitHub reported. A review or line comment counts as the decision of the
    /// person whose GitHub login it is (`[people]`'s `github`), through the same check as
    /// a click in chat; what Nova itself left there is skipped; a delivery made twice
    /// counts once. `Ok(false)`: no review of Nova's has that pull request.
    pub async fn on_code_host_event(self: &Arc<Self>, event: CodeHostEvent) -> anyhow::Result<bool> {
        let (github_repo, number) = match &event {
            CodeHostEvent::Review { repo, number, .. }
            | CodeHostEvent::LineComment { repo, number, .. }
            | CodeHostEvent::Merged { repo, number, .. } => (repo.clone(), *number),
        };
        let config = self.config();
        let Some(repo) = config.repos.iter().find(|r| r.github.as_deref() == Some(github_repo.as_str())) else {
            return Ok(false);
        };
        let Some(review) = self.store.review_by_pull_request(&repo.name, number).await? else { return Ok(false) };
        let (review_id, thread_id) = (review.id, review.thread_id.clone());
        let author = match &event {
            CodeHostEvent::Review { login, .. } | CodeHostEvent::LineComment { login, .. } => login.clone(),
            CodeHostEvent::Merged { login, .. } => login.clone(),
        };
        let decided = match event {
            CodeHostEvent::Review { body, .. } | CodeHostEvent::LineComment { body, .. }
                if body.contains(CODE_HOST_MARK) =>
            {
                return Ok(true);
            }
            CodeHostEvent::Review { id, login, verdict, body, commit, .. } => {
                // A verdict on an earlier revision's commit is a comment on this one.
                let verdict = if commit == review.head { verdict } else { Verdict::Comment };
                if verdict == Verdict::Comment && body.trim().is_empty() {
                    return Ok(true);
                }
                let source = Source::CodeHost(format!("github:review:{id}"));
                self.decide_on(review, Reviewer::Person(&login), verdict, &body, None, source).await?
            }
            CodeHostEvent::LineComment { id, login, path, line, body, .. } => {
                let source = Source::CodeHost(format!("github:comment:{id}"));
                self.decide_on(review, Reviewer::Person(&login), Verdict::Comment, &body, Some((&path, line)), source)
                    .await?
            }
            CodeHostEvent::Merged { login, .. } => {
                let from = [ReviewState::Open, ReviewState::ChangesRequested];
                let outcome = format!("merged on GitHub by {login}, outside the review");
                if self
                    .store
                    .move_review(review.id, review.revision, &from, ReviewState::Merged, Some(&outcome))
                    .await?
                {
                    let details = serde_json::json!({"review": review.id, "by": login});
                    self.record(&login, &review.office, None, "review_merged_elsewhere", details).await;
                    self.show_review(review.id).await?;
                }
                return Ok(true);
            }
        };
        // Said in the thread: GitHub shows the review as given, so people need to know.
        if let Err(refusal) = decided {
            tracing::info!(review = review_id, "a review on GitHub does not count here: {refusal}");
            let text = texts::code_host_review_refused(&author, "GitHub", &refusal.to_string());
            self.post(&thread_id, MessageKind::Text, &text, None, None).await?;
        }
        Ok(true)
    }
}
