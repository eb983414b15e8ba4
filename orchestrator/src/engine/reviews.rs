//! Reviews in threads: an office reports the change its session branch holds, Nova
//! fetches the repo and computes the diff itself (the card shows what is really there,
//! not what the office says), and the people the repo's `[[reviews]]` policy names
//! approve it, ask for changes or comment, on the card. Changes asked for go back to the
//! same office in the same session with every comment; its next report is the next
//! revision. Once the approvals are in, the policy's stages run (`merge`: the branch
//! into its base, pushed), once, however many approve at the same moment.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::*;
use crate::config::{ReviewPolicy, ReviewStage};
use crate::store::{LineComment, NewRevision, ReviewState, Verdict, review_decisions, reviews};
use crate::texts::{FileStat, ReviewCard, ReviewComment, TestRun};

/// How many diff lines the card shows; the whole diff is in the console.
const EXCERPT_LINES: usize = 30;
/// The most of a diff Nova keeps per revision.
const MAX_DIFF_BYTES: usize = 1 << 20;
/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);
/// The most revisions a review takes: each costs Nova a fetch and the reviewers a look,
/// and an office going round in circles needs a person.
pub const MAX_REVISIONS: i32 = 20;

/// What an office reports: the repo its session branch changed, why, and the tests it ran.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeAsk {
    pub repo: String,
    pub summary: String,
    #[serde(default)]
    pub tests: Vec<TestRun>,
}

/// Why a change report or a decision was refused. Callers branch on it (HTTP statuses).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewRefusal {
    #[error("{0}")]
    BadKey(KeyError),
    #[error("run `{0}` is not running in this office")]
    UnknownRun(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no review #{0}")]
    Unknown(i64),
    #[error("{0} asked for this work, so someone else has to review it")]
    Requester(String),
    #[error("an office cannot review its own change")]
    OwnChange,
    #[error("{0} is not one of this repo's reviewers")]
    NotAReviewer(String),
    #[error("{user} may not approve this; it needs one of: {approvers}")]
    NotAnApprover { user: String, approvers: String },
    #[error("this review is {0}: there is nothing left to decide")]
    Closed(&'static str),
    #[error("the repo said: {0}")]
    Git(String),
}

/// Who decides: a person (on a card), or an office the policy asks to review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewer<'a> {
    Person(&'a str),
    Office(&'a str),
}

/// Where a decision was made: in Nova (a card, a form, an office's call), or on the
/// code host, with the host's id for it (a delivery made twice counts once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Nova,
    CodeHost(String),
}

/// The permission check, first thing in every decision: the requester and the office
/// that made the change never approve or send it back; a person's approval needs one of
/// the policy's approvers (roles or people), when it names any; an office decides only
/// if the policy names it a reviewer. Who may decide is checked before whether anything
/// is left to decide, so the answer to a decider does not depend on a race with the
/// other reviewers (the author asking after the merge began still hears "your own").
pub fn may_review(
    config: &Config,
    policy: &ReviewPolicy,
    review: &reviews::Model,
    who: Reviewer<'_>,
    verdict: Verdict,
) -> Result<(), ReviewRefusal> {
    // Whether `who` may give `verdict` at all, whatever the review's state.
    let may_decide = || {
        let user = match who {
            Reviewer::Office(office) if office == review.office => return Err(ReviewRefusal::OwnChange),
            Reviewer::Office(office) if policy.reviewers.iter().any(|r| r == office) => return Ok(()),
            Reviewer::Office(office) => return Err(ReviewRefusal::NotAReviewer(office.to_owned())),
            Reviewer::Person(user) => user,
        };
        if verdict == Verdict::Comment {
            return Ok(());
        }
        let identities = config.identities(user);
        if identities.contains(&review.office) || config.office(user).is_some() {
            return Err(ReviewRefusal::OwnChange);
        }
        if identities.contains(&review.requester) {
            return Err(ReviewRefusal::Requester(user.to_owned()));
        }
        let allowed = policy.approvers.is_empty()
            || policy.approvers.iter().any(|a| identities.contains(a) || config.holds_role(user, a));
        if verdict == Verdict::Approve && !allowed {
            return Err(ReviewRefusal::NotAnApprover { user: user.to_owned(), approvers: policy.approvers.join(", ") });
        }
        Ok(())
    };
    may_decide()?;
    if !review.state.is_reviewable() {
        return Err(ReviewRefusal::Closed(review.state.as_str()));
    }
    Ok(())
}

/// A line a comment is about, as people write it: `path:line`.
pub fn parse_at(at: &str) -> Option<(String, i32)> {
    let (path, line) = at.trim().trim_matches('`').rsplit_once(':')?;
    let line = line.parse::<i32>().ok().filter(|line| *line > 0)?;
    (!path.is_empty() && !path.contains(char::is_whitespace)).then(|| (path.to_owned(), line))
}

/// Every `path:line` a message quotes, however it is quoted or punctuated.
fn quoted_lines(text: &str) -> impl Iterator<Item = (String, i32)> + '_ {
    text.split_whitespace().map(|word| word.trim_matches(|c: char| "`'\"()[],;:.!?".contains(c))).filter_map(parse_at)
}

/// Who counts toward a revision's approvals and who holds it back: the last verdict of
/// each person (a comment changes neither).
fn standing(decisions: &[review_decisions::Model]) -> (Vec<String>, Vec<String>) {
    let mut last: Vec<(String, Verdict)> = Vec::new();
    for decision in decisions.iter().filter(|d| d.verdict != Verdict::Comment) {
        last.retain(|(author, _)| author != &decision.author);
        last.push((decision.author.clone(), decision.verdict));
    }
    let with = |verdict: Verdict| last.iter().filter(|(_, v)| *v == verdict).map(|(a, _)| a.clone()).collect();
    (with(Verdict::Approve), with(Verdict::RequestChanges))
}

impl From<RunRefusal> for ReviewRefusal {
    fn from(refusal: RunRefusal) -> Self {
        match refusal {
            RunRefusal::BadKey(error) => Self::BadKey(error),
            RunRefusal::UnknownRun(run) => Self::UnknownRun(run),
        }
    }
}

impl Engine {
    /// An office reports the change its session branch holds in `repo`: Nova fetches the
    /// branch, computes the diff against where it left its base, and shows (or updates)
    /// the review card in the run's thread.
    pub async fn office_submits_change(
        self: &Arc<Self>,
        token: &str,
        run_id: &str,
        ask: ChangeAsk,
    ) -> anyhow::Result<Result<reviews::Model, ReviewRefusal>> {
        let (office, prompt) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let config = self.config();
        let Some(repo) = config.repo(&ask.repo).filter(|_| config.office(&office.name).is_some()) else {
            return Ok(Err(ReviewRefusal::Invalid(format!("no repo `{}`", ask.repo))));
        };
        if !config.office(&office.name).is_some_and(|o| o.repos.contains(&repo.name)) {
            return Ok(Err(ReviewRefusal::Invalid(format!("{} does not work on `{}`", office.name, repo.name))));
        }
        let remote = match self.remote_of(repo, &office.name).await? {
            Ok(remote) => remote,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if ask.summary.trim().is_empty() || ask.summary.chars().count() > MAX_MESSAGE_CHARS {
            return Ok(Err(ReviewRefusal::Invalid("say what the change does and why".to_owned())));
        }
        if let Some(review) = self.store.review_for(&prompt.thread_id, &repo.name).await?
            && review.revision >= MAX_REVISIONS
        {
            let message =
                format!("review #{} has had {MAX_REVISIONS} revisions: ask a person in the thread", review.id);
            return Ok(Err(ReviewRefusal::Invalid(message)));
        }
        let branch = provisioner::checkout::session_branch(&session_name(&prompt.thread_id));
        let mirror = self.review_mirror(&repo.name);
        let diff = match compute_diff(&mirror, &remote, &repo.branch, &branch).await {
            Ok(diff) => diff,
            Err(error) => return Ok(Err(ReviewRefusal::Git(format!("{error:#}")))),
        };
        let new = NewRevision {
            thread_id: prompt.thread_id.clone(),
            office: office.name.clone(),
            repo: repo.name.clone(),
            branch: branch.clone(),
            base: repo.branch.clone(),
            requester: prompt.author.clone(),
            head: diff.head.clone(),
            base_commit: diff.base_commit.clone(),
            summary: ask.summary.trim().to_owned(),
            tests: serde_json::to_string(&ask.tests)?,
            files: serde_json::to_string(&diff.files)?,
            diff: diff.text,
            run_id: run_id.to_owned(),
        };
        let Some(review) = self.store.add_review_revision(new).await? else {
            return match self.store.review_for(&prompt.thread_id, &repo.name).await? {
                Some(review) if review.state.is_reviewable() => Ok(Ok(review)),
                Some(review) => Ok(Err(ReviewRefusal::Closed(review.state.as_str()))),
                None => Ok(Err(ReviewRefusal::Invalid("the change could not be recorded".to_owned()))),
            };
        };
        let details = serde_json::json!({"review": review.id, "revision": review.revision, "head": review.head, "files": diff.files.len()});
        self.record(&office.name, &office.name, Some(run_id), "review_revision", details).await;
        self.show_review(review.id).await?;
        self.sync_pull_request(&review).await?;
        self.ask_reviewers(&review).await?;
        Ok(Ok(review))
    }

    /// A person's decision on the review card `message_id` in `thread_id`.
    pub async fn decide_review(
        self: &Arc<Self>,
        thread_id: &str,
        message_id: i64,
        user: &str,
        verdict: Verdict,
        body: &str,
        at: Option<(&str, i32)>,
    ) -> anyhow::Result<Result<reviews::Model, ReviewRefusal>> {
        let Some(Card::Review(card)) = self.card_in_thread(thread_id, message_id).await? else {
            return Ok(Err(ReviewRefusal::Unknown(message_id)));
        };
        let Some(review) = self.store.review(card.id).await? else {
            return Ok(Err(ReviewRefusal::Unknown(card.id)));
        };
        self.decide_on(review, Reviewer::Person(user), verdict, body, at, Source::Nova).await
    }

    /// An office's decision on review `id`, for the run it is in: only an office the
    /// repo's policy names a reviewer, never the one that made the change.
    pub async fn office_decides_review(
        self: &Arc<Self>,
        token: &str,
        run_id: &str,
        id: i64,
        verdict: Verdict,
        body: &str,
        at: Option<(&str, i32)>,
    ) -> anyhow::Result<Result<reviews::Model, ReviewRefusal>> {
        let (office, _) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(review) = self.store.review(id).await? else {
            return Ok(Err(ReviewRefusal::Unknown(id)));
        };
        self.decide_on(review, Reviewer::Office(&office.name), verdict, body, at, Source::Nova).await
    }

    pub(super) async fn decide_on(
        self: &Arc<Self>,
        review: reviews::Model,
        who: Reviewer<'_>,
        verdict: Verdict,
        body: &str,
        at: Option<(&str, i32)>,
        source: Source,
    ) -> anyhow::Result<Result<reviews::Model, ReviewRefusal>> {
        let config = self.config();
        let policy = config.review_policy(&review.repo);
        if let Err(refusal) = may_review(&config, &policy, &review, who, verdict) {
            return Ok(Err(refusal));
        }
        if verdict != Verdict::Approve && body.trim().is_empty() {
            return Ok(Err(ReviewRefusal::Invalid("say what should change".to_owned())));
        }
        let who = match who {
            Reviewer::Person(user) => config.person(user).unwrap_or(user).to_owned(),
            Reviewer::Office(office) => office.to_owned(),
        };
        let external_id = match &source {
            Source::Nova => None,
            Source::CodeHost(id) => Some(id.as_str()),
        };
        if self.store.add_review_decision(&review, &who, verdict, body.trim(), at, external_id).await?.is_none() {
            return Ok(Ok(review));
        }
        if source == Source::Nova {
            self.mirror_decision(&review, &who, verdict, body, at).await?;
        }
        let run_id = self.store.review_revision(review.id, review.revision).await?.map(|r| r.run_id);
        let details = serde_json::json!({
            "review": review.id, "revision": review.revision, "verdict": verdict, "body": body.trim(),
            "at": at.map(|(path, line)| format!("{path}:{line}")), "from": external_id
        });
        self.record(&who, &review.office, run_id.as_deref(), "review_decision", details).await;
        let decisions = self.store.review_decisions(review.id, review.revision).await?;
        let (approved, held_back) = standing(&decisions);
        match verdict {
            Verdict::RequestChanges => {
                self.store
                    .move_review(review.id, review.revision, &[ReviewState::Open], ReviewState::ChangesRequested, None)
                    .await?;
                self.show_review(review.id).await?;
                self.send_back(&review, &who, &decisions).await?;
            }
            Verdict::Approve if approved.len() as u32 >= policy.approvals && held_back.is_empty() => {
                let from = [ReviewState::Open, ReviewState::ChangesRequested];
                if self.store.move_review(review.id, review.revision, &from, ReviewState::Merging, None).await? {
                    self.show_review(review.id).await?;
                    self.run_stages(&review, &policy, &approved, run_id.as_deref()).await?;
                }
            }
            Verdict::Approve | Verdict::Comment => self.show_review(review.id).await?,
        }
        Ok(Ok(self.store.review(review.id).await?.unwrap_or(review)))
    }

    /// Asks the policy's reviewer offices to review the revision, each in the thread (a
    /// run of its own, with the change and its whole diff).
    async fn ask_reviewers(self: &Arc<Self>, review: &reviews::Model) -> anyhow::Result<()> {
        let reviewers = self.config().review_policy(&review.repo).reviewers;
        if reviewers.iter().all(|r| r == &review.office) {
            return Ok(());
        }
        let Some(thread) = self.store.thread(&review.thread_id).await? else { return Ok(()) };
        let Some(revision) = self.store.review_revision(review.id, review.revision).await? else { return Ok(()) };
        let card = self.review_card(review).await?;
        for reviewer in reviewers.iter().filter(|r| *r != &review.office) {
            let text = texts::review_request_prompt(reviewer, &card, &revision.diff);
            let incoming = Incoming {
                surface: thread.surface,
                channel: thread.channel.clone(),
                thread: ThreadRef::Existing(thread.id.clone()),
                // Offices' work: the loop guard counts it.
                author: review.office.clone(),
                dedupe_key: format!("review:{}:{}:ask:{reviewer}", review.id, review.revision),
                event: InboundEvent::Message { text, context: Vec::new() },
            };
            if let Err(refusal) = self.accept(incoming).await? {
                tracing::warn!(review = review.id, reviewer, "the reviewer could not be asked: {refusal}");
            }
        }
        Ok(())
    }

    /// A decision from a platform's button or form on the review card `message_id` of a
    /// thread on `surface`, the line as people typed it (`path:line`): `Err` says why not.
    pub async fn decide_review_on(
        self: &Arc<Self>,
        surface: Surface,
        message_id: i64,
        user: &str,
        verdict: Verdict,
        comment: &str,
        at: Option<&str>,
    ) -> anyhow::Result<Result<reviews::Model, String>> {
        let Some(thread) = self.card_thread(surface, message_id).await? else {
            return Ok(Err("that card is no longer in a Nova thread".to_owned()));
        };
        let at = match at.filter(|at| !at.trim().is_empty()).map(parse_at) {
            None => None,
            Some(Some(at)) => Some(at),
            Some(None) => return Ok(Err("a line is `path:line`, like `src/app.rs:12`".to_owned())),
        };
        let at = at.as_ref().map(|(path, line)| (path.as_str(), *line));
        Ok(self.decide_review(&thread.id, message_id, user, verdict, comment, at).await?.map_err(|r| r.to_string()))
    }

    /// The line of a change under review in `thread_id` that `text` quotes (`path:line`,
    /// with a path the revision changed), with the text as the comment.
    pub(super) async fn quoted_line(&self, thread_id: &str, text: &str) -> anyhow::Result<Option<LineComment>> {
        // Most messages quote no line: no need to ask the store about reviews.
        if quoted_lines(text).next().is_none() {
            return Ok(None);
        }
        for review in self.store.reviewable_in_thread(thread_id).await? {
            let Some(revision) = self.store.review_revision(review.id, review.revision).await? else { continue };
            let files: Vec<FileStat> = serde_json::from_str(&revision.files).unwrap_or_default();
            let quoted = quoted_lines(text).find(|(path, _)| files.iter().any(|file| &file.path == path));
            if let Some((path, line)) = quoted {
                return Ok(Some(LineComment { review: review.id, path, line, body: text.trim().to_owned() }));
            }
        }
        Ok(None)
    }

    /// Records a quoted line comment on its review, as `author`'s comment.
    pub(super) async fn comment_on_line(
        self: &Arc<Self>,
        author: &str,
        comment: LineComment,
    ) -> anyhow::Result<Result<reviews::Model, ReviewRefusal>> {
        let Some(review) = self.store.review(comment.review).await? else {
            return Ok(Err(ReviewRefusal::Unknown(comment.review)));
        };
        let at = Some((comment.path.as_str(), comment.line));
        self.decide_on(review, Reviewer::Person(author), Verdict::Comment, &comment.body, at, Source::Nova).await
    }

    /// Changes asked for: a message in the thread, as the reviewer, which goes to the
    /// office that made the change, in its session, with every comment on the revision.
    async fn send_back(
        self: &Arc<Self>,
        review: &reviews::Model,
        reviewer: &str,
        decisions: &[review_decisions::Model],
    ) -> anyhow::Result<()> {
        let Some(thread) = self.store.thread(&review.thread_id).await? else { return Ok(()) };
        let text = texts::changes_requested_prompt(review.id, review.revision, &review.office, &comments(decisions));
        let incoming = Incoming {
            surface: thread.surface,
            channel: thread.channel,
            thread: ThreadRef::Existing(thread.id),
            author: reviewer.to_owned(),
            dedupe_key: format!("review:{}:{}:changes:{}", review.id, review.revision, decisions.len()),
            event: InboundEvent::Message { text, context: Vec::new() },
        };
        if let Err(refusal) = self.accept(incoming).await? {
            tracing::warn!(review = review.id, "changes asked for could not reach the office: {refusal}");
        }
        Ok(())
    }

    /// The policy's stages, in order, until one fails: `pr` (the pull request, opened if
    /// GitHub could not be reached before, is left approved for GitHub to merge), `merge`
    /// (through GitHub for a repo there, else the branch into its base, pushed). The
    /// review ends `merged`, `approved` or `failed` with why.
    async fn run_stages(
        &self,
        review: &reviews::Model,
        policy: &ReviewPolicy,
        approved: &[String],
        run_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut outcome = (ReviewState::Approved, String::new());
        let on_github = self.config().repo(&review.repo).is_some_and(|repo| repo.github.is_some());
        let message = format!("Merge review #{} ({}), approved by {}", review.id, review.branch, approved.join(", "));
        for stage in &policy.stages {
            if *stage == ReviewStage::Pr {
                outcome = match self.sync_pull_request(review).await? {
                    Some(number) => {
                        let github =
                            self.config().repo(&review.repo).and_then(|r| r.github.clone()).unwrap_or_default();
                        (ReviewState::Approved, format!("pull request {github}#{number} waits to be merged on GitHub."))
                    }
                    None => (
                        ReviewState::Failed,
                        "the pull request could not be opened (the audit trail says why)".to_owned(),
                    ),
                };
            } else if *stage == ReviewStage::Merge && on_github {
                outcome = match self.merge_pull_request(review, &message).await? {
                    Ok(commit) => (ReviewState::Merged, format!("`{}` on GitHub", &commit[..12.min(commit.len())])),
                    Err(why) => (ReviewState::Failed, why),
                };
            } else if *stage == ReviewStage::Merge {
                let config = self.config();
                let remote = match config.repo(&review.repo) {
                    Some(repo) => self.remote_of(repo, &review.office).await?.map_err(|r| anyhow::anyhow!("{r}")),
                    None => Err(anyhow::anyhow!("the repo `{}` is no longer in the workspace", review.repo)),
                };
                let mirror = self.review_mirror(&review.repo);
                let merged = match remote {
                    Ok(remote) => merge(&mirror, &remote, &review.base, &review.head, &message).await,
                    Err(error) => Err(error),
                };
                outcome = match merged {
                    Ok(commit) => (ReviewState::Merged, format!("`{}`", &commit[..12.min(commit.len())])),
                    Err(error) => (ReviewState::Failed, format!("{error:#}")),
                };
            }
            if outcome.0 == ReviewState::Failed {
                break;
            }
        }
        let (state, text) = outcome;
        self.store.move_review(review.id, review.revision, &[ReviewState::Merging], state, Some(&text)).await?;
        let details = serde_json::json!({"review": review.id, "revision": review.revision, "state": state.as_str(), "outcome": text, "approved_by": approved});
        self.record("nova", &review.office, run_id, "review_stage", details).await;
        self.show_review(review.id).await
    }

    /// Posts the review's card, or edits it in place.
    pub(super) async fn show_review(&self, id: i64) -> anyhow::Result<()> {
        let Some(review) = self.store.review(id).await? else { return Ok(()) };
        let card = Card::Review(Box::new(self.review_card(&review).await?));
        let channel = self.channel_of(&review.thread_id).await?;
        match review.message_id {
            Some(message_id) => {
                let edited = self.store.edit_message(message_id, &card.fallback_text(), Some(&card.to_json())).await?;
                self.publish_message(&channel, edited);
            }
            None => {
                let run = self.store.review_revision(id, review.revision).await?.map(|r| r.run_id);
                let message = self
                    .store
                    .post_message(
                        &review.thread_id,
                        MessageKind::Card,
                        &card.fallback_text(),
                        Some(&card.to_json()),
                        run.as_deref(),
                    )
                    .await?;
                self.store.set_review_card(id, message.id).await?;
                self.publish_message(&channel, message);
            }
        }
        Ok(())
    }

    pub async fn review_card(&self, review: &reviews::Model) -> anyhow::Result<ReviewCard> {
        let revision = self.store.review_revision(review.id, review.revision).await?;
        let files: Vec<FileStat> =
            revision.as_ref().and_then(|r| serde_json::from_str(&r.files).ok()).unwrap_or_default();
        let since_last = match review.revision {
            1 => None,
            n => match self.store.review_revision(review.id, n - 1).await? {
                Some(previous) => {
                    let mirror = self.review_mirror(&review.repo);
                    let changed = git(&mirror, &["diff", "--name-only", &previous.head, &review.head]).await;
                    Some(changed.map(|out| out.lines().map(str::to_owned).collect()).unwrap_or_default())
                }
                None => None,
            },
        };
        let decisions = self.store.review_decisions(review.id, review.revision).await?;
        let (approved_by, changes_requested_by) = standing(&decisions);
        let policy = self.config().review_policy(&review.repo);
        Ok(ReviewCard {
            id: review.id,
            office: review.office.clone(),
            repo: review.repo.clone(),
            branch: review.branch.clone(),
            base: review.base.clone(),
            revision: review.revision,
            summary: revision.as_ref().map(|r| r.summary.clone()).unwrap_or_default(),
            excerpt: revision.as_ref().map(|r| excerpt(&r.diff)).unwrap_or_default(),
            files,
            tests: revision.as_ref().and_then(|r| serde_json::from_str(&r.tests).ok()).unwrap_or_default(),
            since_last,
            state: review.state,
            approved_by,
            changes_requested_by,
            comments: comments(&decisions),
            needed: policy.approvals,
            approvers: policy.approvers,
            outcome: review.outcome.clone(),
            pull_request: review.pull_request.and_then(|number| {
                let github = self.config().repo(&review.repo)?.github.clone()?;
                Some(format!("{github}#{number}"))
            }),
        })
    }

    /// The reviews waiting for reviewers, as chat says them.
    pub(super) async fn review_list(&self) -> anyhow::Result<String> {
        let mut cards = Vec::new();
        for review in self.store.reviews(false).await?.into_iter().filter(|r| r.state.is_reviewable()) {
            cards.push(self.review_card(&review).await?);
        }
        Ok(texts::review_list(&cards))
    }

    /// Where Nova fetches `repo` from and pushes its merges to. For a repo behind an
    /// upstream, the upstream's header with the credential from the vault (looked up as
    /// `office` would), which git gets in its environment: never on a command line, in
    /// a config file, or in the office.
    async fn remote_of(
        &self,
        repo: &crate::config::Repo,
        office: &str,
    ) -> anyhow::Result<Result<Remote, ReviewRefusal>> {
        let Some(url) = repo.url.clone() else {
            return Ok(Err(ReviewRefusal::Invalid(format!("`{}` has no url to fetch the change from", repo.name))));
        };
        let config = self.config();
        let upstream = repo.upstream.as_ref().and_then(|name| config.upstreams.iter().find(|u| &u.name == name));
        let header = match upstream.and_then(|u| Some((u, u.secret.as_ref()?))) {
            None => None,
            Some((upstream, secret)) => match self.resolve(office, secret).await? {
                Some(value) => Some(crate::vault::SecretValue::new(format!(
                    "{}: {}",
                    upstream.header,
                    upstream.value.replace("{secret}", value.expose())
                ))),
                None => {
                    let message = format!("the vault has no `{secret}`, which Nova needs to fetch `{}`", repo.name);
                    return Ok(Err(ReviewRefusal::Invalid(message)));
                }
            },
        };
        Ok(Ok(Remote { url, header }))
    }

    fn review_mirror(&self, repo: &str) -> PathBuf {
        self.config().store.data_dir.join("reviews").join(format!("{repo}.git"))
    }
}

/// The comments and the reasons for changes on a revision.
fn comments(decisions: &[review_decisions::Model]) -> Vec<ReviewComment> {
    decisions
        .iter()
        .filter(|d| !d.body.is_empty())
        .map(|d| ReviewComment {
            author: d.author.clone(),
            body: d.body.clone(),
            at: d.path.as_ref().map(|path| format!("{path}:{}", d.line.unwrap_or(0))),
        })
        .collect()
}

/// The first lines of a diff that say what changed: hunks, not git's headers.
fn excerpt(diff: &str) -> String {
    diff.lines()
        .filter(|line| !(line.starts_with("diff --git") || line.starts_with("index ")))
        .take(EXCERPT_LINES)
        .collect::<Vec<_>>()
        .join("\n")
}

struct Diff {
    head: String,
    base_commit: String,
    files: Vec<FileStat>,
    text: String,
}

/// A repo's URL and, behind an upstream, the header that carries its credential.
struct Remote {
    url: String,
    header: Option<crate::vault::SecretValue>,
}

/// Fetches the repo into Nova's mirror and computes `branch`'s change against where it
/// left `base`.
async fn compute_diff(mirror: &Path, remote: &Remote, base: &str, branch: &str) -> anyhow::Result<Diff> {
    fetch(mirror, remote).await?;
    let head = git(mirror, &["rev-parse", "--verify", &format!("refs/heads/{branch}^{{commit}}")])
        .await
        .with_context(|| format!("the branch `{branch}` is not on the remote: push it first"))?;
    let base_commit = git(mirror, &["merge-base", &format!("refs/heads/{base}"), &head])
        .await
        .with_context(|| format!("`{branch}` shares no history with `{base}`"))?;
    if base_commit == head {
        anyhow::bail!("`{branch}` has no commits beyond `{base}`: commit and push the change first");
    }
    let numstat = git(mirror, &["diff", "--numstat", "-M", &base_commit, &head]).await?;
    let files = numstat
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let (added, removed, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some(FileStat {
                path: path.to_owned(),
                added: added.parse().unwrap_or(0),
                removed: removed.parse().unwrap_or(0),
            })
        })
        .collect();
    let mut text = git(mirror, &["diff", "-M", &base_commit, &head]).await?;
    if text.len() > MAX_DIFF_BYTES {
        let cut = (0..=MAX_DIFF_BYTES).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n… (the diff goes on)");
    }
    Ok(Diff { head, base_commit, files, text })
}

async fn fetch(mirror: &Path, remote: &Remote) -> anyhow::Result<()> {
    if !mirror.join("HEAD").exists() {
        std::fs::create_dir_all(mirror).with_context(|| format!("cannot create {}", mirror.display()))?;
        git(mirror, &["init", "--quiet", "--bare"]).await?;
    }
    let fetch = ["fetch", "--quiet", "--prune", "--no-tags", &remote.url, "+refs/heads/*:refs/heads/*"];
    git_with(mirror, &fetch, remote.header.as_ref()).await?;
    Ok(())
}

/// Merges `head` into `base` (a merge commit by Nova) and pushes `base`; the merge commit.
async fn merge(mirror: &Path, remote: &Remote, base: &str, head: &str, message: &str) -> anyhow::Result<String> {
    fetch(mirror, remote).await?;
    let work = tempfile::Builder::new().prefix("nova-merge").tempdir()?;
    let dir = work.path().join("tree");
    let dir_arg = dir.to_str().context("a temporary path that is not UTF-8")?;
    git(mirror, &["worktree", "add", "--quiet", "--detach", dir_arg, &format!("refs/heads/{base}")]).await?;
    let merged = async {
        let identity = ["-c", "user.name=Nova", "-c", "user.email=nova@nova.local"];
        let mut args: Vec<&str> = identity.to_vec();
        args.extend(["merge", "--quiet", "--no-ff", "-m", message, head]);
        if let Err(error) = git(&dir, &args).await {
            let _ = git(&dir, &["merge", "--abort"]).await;
            return Err(error.context(format!("`{head}` does not merge cleanly into `{base}`")));
        }
        let commit = git(&dir, &["rev-parse", "HEAD"]).await?;
        git_with(&dir, &["push", "--quiet", &remote.url, &format!("HEAD:refs/heads/{base}")], remote.header.as_ref())
            .await
            .with_context(|| format!("the remote refused the push to `{base}`"))?;
        Ok(commit)
    }
    .await;
    let _ = git(mirror, &["worktree", "remove", "--force", dir_arg]).await;
    merged
}

/// Runs git without prompts or the machine's config; its trimmed stdout, or its stderr.
async fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    git_with(dir, args, None).await
}

/// [`git`] with an HTTP header for the remote (its credential), in git's environment.
async fn git_with(dir: &Path, args: &[&str], header: Option<&crate::vault::SecretValue>) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(header) = header {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header.expose());
    }
    let output = tokio::time::timeout(GIT_TIMEOUT, command.output())
        .await
        .map_err(|_| anyhow::anyhow!("git {} took over {} s", args.first().unwrap_or(&""), GIT_TIMEOUT.as_secs()))??;
    if !output.status.success() {
        anyhow::bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(author: &str, verdict: Verdict) -> review_decisions::Model {
        review_decisions::Model {
            id: 0,
            review_id: 1,
            revision: 1,
            author: author.into(),
            verdict,
            body: String::new(),
            path: None,
            line: None,
            created_at: 0,
            external_id: None,
        }
    }

    #[test]
    fn lines_are_found_however_people_quote_them() {
        let found = |text: &str| quoted_lines(text).collect::<Vec<_>>();
        assert_eq!(found("`coupons.sh:1`: why 6?"), [("coupons.sh".to_owned(), 1)]);
        assert_eq!(
            found("see src/app.rs:12, and (lib/x.py:3)."),
            [("src/app.rs".to_owned(), 12), ("lib/x.py".to_owned(), 3)]
        );
        assert!(found("meet at 10:30? it's in ratio 3:2 or app.rs:0").iter().all(|(path, _)| path != "app.rs"));
        assert!(found("no lines here").is_empty());
    }

    #[test]
    fn each_reviewer_counts_by_their_last_verdict() {
        let decisions = [
            decision("carol", Verdict::RequestChanges),
            decision("dave", Verdict::Approve),
            decision("carol", Verdict::Comment),
            decision("carol", Verdict::Approve),
            decision("erin", Verdict::RequestChanges),
        ];
        assert_eq!(standing(&decisions), (vec!["dave".into(), "carol".into()], vec!["erin".into()]));
    }

    #[test]
    fn the_requester_and_the_office_never_approve_and_approvers_are_the_policy_s() {
        let config = Config::parse(
            "[workspace]\nname = \"w\"\n[roles]\nlead = [\"carol\"]\n[[repos]]\nname = \"api\"\ndescription = \"d\"\n[[offices]]\nname = \"maker\"\nrole = \"r\"\nrepos = [\"api\"]\n",
            "nova.toml",
        )
        .unwrap();
        let review = reviews::Model {
            id: 1,
            thread_id: "t".into(),
            office: "maker".into(),
            repo: "api".into(),
            branch: "nova/s".into(),
            base: "main".into(),
            requester: "alice".into(),
            state: ReviewState::Open,
            revision: 1,
            head: "abc".into(),
            message_id: None,
            outcome: None,
            created_at: 0,
            updated_at: 0,
            pull_request: None,
        };
        let leads = ReviewPolicy { approvers: vec!["lead".into()], ..ReviewPolicy::default() };
        assert_eq!(may_review(&config, &leads, &review, Reviewer::Person("carol"), Verdict::Approve), Ok(()));
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Person("alice"), Verdict::Approve),
            Err(ReviewRefusal::Requester("alice".into()))
        );
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Person("maker"), Verdict::Approve),
            Err(ReviewRefusal::OwnChange)
        );
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Person("dave"), Verdict::Approve).unwrap_err().to_string(),
            "dave may not approve this; it needs one of: lead"
        );
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Person("dave"), Verdict::RequestChanges),
            Ok(()),
            "anyone may ask"
        );
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Person("alice"), Verdict::Comment),
            Ok(()),
            "anyone may comment"
        );
        // Offices: only a reviewer the policy names, never the one that made the change.
        let qa = ReviewPolicy { reviewers: vec!["qa".into(), "maker".into()], ..leads.clone() };
        assert_eq!(may_review(&config, &qa, &review, Reviewer::Office("qa"), Verdict::Approve), Ok(()));
        assert_eq!(
            may_review(&config, &qa, &review, Reviewer::Office("maker"), Verdict::Approve),
            Err(ReviewRefusal::OwnChange)
        );
        assert_eq!(
            may_review(&config, &leads, &review, Reviewer::Office("qa"), Verdict::Comment),
            Err(ReviewRefusal::NotAReviewer("qa".into()))
        );
        let merged = reviews::Model { state: ReviewState::Merged, ..review };
        assert_eq!(
            may_review(&config, &leads, &merged, Reviewer::Person("carol"), Verdict::Approve),
            Err(ReviewRefusal::Closed("merged"))
        );
        // Who may decide comes first: the author hears "your own" even once the merge began.
        let merging = reviews::Model { state: ReviewState::Merging, ..merged };
        assert_eq!(
            may_review(&config, &qa, &merging, Reviewer::Office("maker"), Verdict::Approve),
            Err(ReviewRefusal::OwnChange)
        );
        assert_eq!(
            may_review(&config, &qa, &merging, Reviewer::Office("qa"), Verdict::Approve),
            Err(ReviewRefusal::Closed("merging"))
        );
    }
}
