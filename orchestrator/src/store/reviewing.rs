//! Reviews in the store: one per thread and repo, a revision per change an office
//! reports, the decisions on each. Leaving `open` for `merging` is one conditional
//! update, so of two approvals at once exactly one starts the merge.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Lane, ReviewState, Store, Verdict, now_ms, review_decisions, review_revisions, reviews};

/// A change an office reported, with what Nova computed from the repo.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub thread_id: String,
    pub office: String,
    pub repo: String,
    pub branch: String,
    pub base: String,
    pub requester: String,
    pub head: String,
    pub base_commit: String,
    pub summary: String,
    pub tests: String,
    pub files: String,
    pub diff: String,
    pub run_id: String,
}

impl Store {
    /// Records a revision: a new review for the thread and repo, or the next revision of
    /// its review, which opens it again. `None` when the head is the one already under
    /// review (a repeated report), or the review is past reviewing.
    pub async fn add_review_revision(&self, new: NewRevision) -> anyhow::Result<Option<reviews::Model>> {
        let now = now_ms();
        let existing = self.review_for(&new.thread_id, &new.repo).await?;
        let review = match existing {
            Some(review) if review.head == new.head || !review.state.is_reviewable() => return Ok(None),
            Some(review) => {
                let next = review.revision + 1;
                let moved = reviews::Entity::update_many()
                    .col_expr(reviews::Column::Revision, Expr::value(next))
                    .col_expr(reviews::Column::Head, Expr::value(new.head.clone()))
                    .col_expr(reviews::Column::State, Expr::value(ReviewState::Open.as_str()))
                    .col_expr(reviews::Column::UpdatedAt, Expr::value(now))
                    .filter(reviews::Column::Id.eq(review.id))
                    .filter(reviews::Column::Revision.eq(review.revision))
                    .exec(&*self.writer(Lane::Background).await)
                    .await?;
                if moved.rows_affected == 0 {
                    return Ok(None);
                }
                reviews::Model { revision: next, head: new.head.clone(), state: ReviewState::Open, ..review }
            }
            None => {
                let row = reviews::ActiveModel {
                    id: NotSet,
                    thread_id: Set(new.thread_id.clone()),
                    office: Set(new.office.clone()),
                    repo: Set(new.repo.clone()),
                    branch: Set(new.branch.clone()),
                    base: Set(new.base.clone()),
                    requester: Set(new.requester.clone()),
                    state: Set(ReviewState::Open),
                    revision: Set(1),
                    head: Set(new.head.clone()),
                    message_id: Set(None),
                    outcome: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    pull_request: Set(None),
                };
                reviews::Entity::insert(row).exec_with_returning(&*self.writer(Lane::Background).await).await?
            }
        };
        review_revisions::Entity::insert(review_revisions::ActiveModel {
            review_id: Set(review.id),
            revision: Set(review.revision),
            head: Set(new.head),
            base_commit: Set(new.base_commit),
            summary: Set(new.summary),
            tests: Set(new.tests),
            files: Set(new.files),
            diff: Set(new.diff),
            run_id: Set(new.run_id),
            created_at: Set(now),
        })
        .exec_without_returning(&*self.writer(Lane::Background).await)
        .await?;
        Ok(Some(review))
    }

    pub async fn review_for(&self, thread_id: &str, repo: &str) -> anyhow::Result<Option<reviews::Model>> {
        Ok(reviews::Entity::find()
            .filter(reviews::Column::ThreadId.eq(thread_id))
            .filter(reviews::Column::Repo.eq(repo))
            .one(self.db())
            .await?)
    }

    pub async fn review(&self, id: i64) -> anyhow::Result<Option<reviews::Model>> {
        Ok(reviews::Entity::find_by_id(id).one(self.db()).await?)
    }

    /// Reviews, newest first; only those still waiting for reviewers when `waiting`.
    pub async fn reviews(&self, waiting: bool) -> anyhow::Result<Vec<reviews::Model>> {
        let mut query = reviews::Entity::find().order_by_desc(reviews::Column::Id);
        if waiting {
            query = query.filter(reviews::Column::State.eq(ReviewState::Open));
        }
        Ok(query.all(self.db()).await?)
    }

    pub async fn review_revision(&self, id: i64, revision: i32) -> anyhow::Result<Option<review_revisions::Model>> {
        Ok(review_revisions::Entity::find_by_id((id, revision)).one(self.db()).await?)
    }

    pub async fn set_review_card(&self, id: i64, message_id: i64) -> anyhow::Result<()> {
        reviews::Entity::update_many()
            .col_expr(reviews::Column::MessageId, Expr::value(message_id))
            .filter(reviews::Column::Id.eq(id))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// Moves a review from `from` to `to` if it is still in `from` at `revision`: whether
    /// this call moved it.
    pub async fn move_review(
        &self,
        id: i64,
        revision: i32,
        from: &[ReviewState],
        to: ReviewState,
        outcome: Option<&str>,
    ) -> anyhow::Result<bool> {
        let mut update = reviews::Entity::update_many()
            .col_expr(reviews::Column::State, Expr::value(to.as_str()))
            .col_expr(reviews::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(reviews::Column::Id.eq(id))
            .filter(reviews::Column::Revision.eq(revision))
            .filter(reviews::Column::State.is_in(from.iter().map(|s| s.as_str())));
        if let Some(outcome) = outcome {
            update = update.col_expr(reviews::Column::Outcome, Expr::value(outcome));
        }
        Ok(update.exec(&*self.writer(Lane::Background).await).await?.rows_affected == 1)
    }

    /// Records a decision; `None` when one with the same `external_id` (GitHub's id for
    /// it) is already recorded: a delivery made twice counts once.
    pub async fn add_review_decision(
        &self,
        review: &reviews::Model,
        author: &str,
        verdict: Verdict,
        body: &str,
        at: Option<(&str, i32)>,
        external_id: Option<&str>,
    ) -> anyhow::Result<Option<review_decisions::Model>> {
        let recorded = |external_id: &str| {
            review_decisions::Entity::find().filter(review_decisions::Column::ExternalId.eq(external_id)).one(self.db())
        };
        if let Some(external_id) = external_id
            && recorded(external_id).await?.is_some()
        {
            return Ok(None);
        }
        let inserted = review_decisions::Entity::insert(review_decisions::ActiveModel {
            id: NotSet,
            review_id: Set(review.id),
            revision: Set(review.revision),
            author: Set(author.to_owned()),
            verdict: Set(verdict),
            body: Set(body.to_owned()),
            path: Set(at.map(|(path, _)| path.to_owned())),
            line: Set(at.map(|(_, line)| line)),
            created_at: Set(now_ms()),
            external_id: Set(external_id.map(str::to_owned)),
        })
        .exec_with_returning(&*self.writer(Lane::Background).await)
        .await;
        match (inserted, external_id) {
            (Ok(decision), _) => Ok(Some(decision)),
            // The same delivery, recorded by another request in between (the unique index).
            (Err(_), Some(external_id)) if recorded(external_id).await?.is_some() => Ok(None),
            (Err(error), _) => Err(error.into()),
        }
    }

    /// Notes the pull request a review has on its repo's code host.
    pub async fn set_review_pull_request(&self, id: i64, number: i64) -> anyhow::Result<()> {
        reviews::Entity::update_many()
            .col_expr(reviews::Column::PullRequest, Expr::value(number))
            .filter(reviews::Column::Id.eq(id))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// The reviews of changes asked for in a thread that still take decisions.
    pub async fn reviewable_in_thread(&self, thread_id: &str) -> anyhow::Result<Vec<reviews::Model>> {
        let open = reviews::Entity::find()
            .filter(reviews::Column::ThreadId.eq(thread_id))
            .order_by_asc(reviews::Column::Id)
            .all(self.db())
            .await?;
        Ok(open.into_iter().filter(|review| review.state.is_reviewable()).collect())
    }

    /// The review whose pull request is `number` on `repo`'s code host.
    pub async fn review_by_pull_request(&self, repo: &str, number: i64) -> anyhow::Result<Option<reviews::Model>> {
        Ok(reviews::Entity::find()
            .filter(reviews::Column::Repo.eq(repo))
            .filter(reviews::Column::PullRequest.eq(number))
            .one(self.db())
            .await?)
    }

    /// The decisions on one revision, oldest first.
    pub async fn review_decisions(&self, id: i64, revision: i32) -> anyhow::Result<Vec<review_decisions::Model>> {
        Ok(review_decisions::Entity::find()
            .filter(review_decisions::Column::ReviewId.eq(id))
            .filter(review_decisions::Column::Revision.eq(revision))
            .order_by_asc(review_decisions::Column::Id)
            .all(self.db())
            .await?)
    }
}
