//! What a chat-platform mirror needs: which Nova messages a platform does not show yet
//! (or shows in an older revision), and where each one lives there.
//!
//! The messages table is the truth; a mirror reads the latest state of each message and
//! sends that, so edits made while the platform was rate-limiting coalesce into one.
//! The outbox names the messages to look at, so a pass costs what is pending, not the
//! size of the history.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Lane, Store, messages, now_ms, outbox, surface_posts};

/// A message the platform does not show in its latest revision, with where it is.
#[derive(Debug, Clone)]
pub struct Unsynced {
    pub message: messages::Model,
    pub post: Option<surface_posts::Model>,
    /// Claimed by a mirror (maybe another replica) or waiting out a retry: not for this
    /// pass. A held first post still holds back the later first posts of its thread.
    pub held: bool,
}

impl Store {
    /// Nova's messages in `surface` threads that the platform does not show in their
    /// latest revision, oldest first, read from the outbox. Messages claimed by a mirror
    /// (or waiting to be retried) come marked `held`: they are not to be sent now, but
    /// they still keep their place in their thread's order.
    pub async fn unsynced_messages(&self, surface: &str, limit: u64) -> anyhow::Result<Vec<Unsynced>> {
        let queued: Vec<i64> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::MessageId)
            .filter(outbox::Column::Surface.eq(surface))
            .order_by_asc(outbox::Column::MessageId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if queued.is_empty() {
            return Ok(Vec::new());
        }
        let found = messages::Entity::find().filter(messages::Column::Id.is_in(queued.clone())).all(&self.db).await?;
        let mut posts =
            surface_posts::Entity::find().filter(surface_posts::Column::MessageId.is_in(queued)).all(&self.db).await?;
        let now = now_ms();
        let mut out = Vec::new();
        for message in found {
            let post = posts.iter().position(|p| p.message_id == message.id).map(|i| posts.swap_remove(i));
            if let Some(post) = &post
                && post.synced_revision >= message.revision
            {
                // Shown already (the row outlived a race with a concurrent edit).
                dequeue(&*self.writer(Lane::Background).await, message.id, message.revision).await?;
                continue;
            }
            let held = post.as_ref().is_some_and(|p| p.claimed_until.is_some_and(|until| until >= now));
            out.push(Unsynced { message, post, held });
        }
        out.sort_by_key(|u| u.message.id);
        Ok(out)
    }

    /// Claims the first posts of messages for `hold_ms`, so that of several mirrors
    /// (replicas) exactly one posts each; returns the ids this call claimed.
    pub async fn claim_posts(&self, message_ids: &[i64], surface: &str, hold_ms: i64) -> anyhow::Result<Vec<i64>> {
        let now = now_ms();
        let surface = surface.to_owned();
        let claims = self
            .write_each(Lane::Route, message_ids, |txn, &message_id| {
                let surface = surface.clone();
                Box::pin(async move {
                    let inserted = surface_posts::Entity::insert(surface_posts::ActiveModel {
                        message_id: Set(message_id),
                        surface: Set(surface),
                        external_id: Set(None),
                        synced_revision: Set(-1),
                        claimed_until: Set(Some(now + hold_ms)),
                        attempts: Set(0),
                        last_error: Set(None),
                        updated_at: Set(now),
                    })
                    .on_conflict(OnConflict::column(surface_posts::Column::MessageId).do_nothing().to_owned())
                    .exec_without_returning(txn)
                    .await?;
                    if inserted == 1 {
                        return Ok(true);
                    }
                    // A claim whose holder died (or gave up) expires; take it over.
                    let taken = surface_posts::Entity::update_many()
                        .col_expr(surface_posts::Column::ClaimedUntil, Expr::value(now + hold_ms))
                        .col_expr(surface_posts::Column::UpdatedAt, Expr::value(now))
                        .filter(surface_posts::Column::MessageId.eq(message_id))
                        .filter(surface_posts::Column::ExternalId.is_null())
                        .filter(
                            surface_posts::Column::ClaimedUntil
                                .is_null()
                                .or(surface_posts::Column::ClaimedUntil.lt(now)),
                        )
                        .exec(txn)
                        .await?;
                    Ok(taken.rows_affected == 1)
                })
            })
            .await;
        let mut claimed = Vec::new();
        for (&message_id, claim) in message_ids.iter().zip(claims) {
            if claim? {
                claimed.push(message_id);
            }
        }
        Ok(claimed)
    }

    /// Gives back claims this mirror took but did not use (a message behind one that
    /// failed waits for it), so the next pass, this mirror's or another's, may post them
    /// at once instead of after the claim runs out.
    pub async fn release_post_claims(&self, message_ids: &[i64]) -> anyhow::Result<()> {
        if message_ids.is_empty() {
            return Ok(());
        }
        surface_posts::Entity::update_many()
            .col_expr(surface_posts::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
            .filter(surface_posts::Column::MessageId.is_in(message_ids.iter().copied()))
            .filter(surface_posts::Column::ExternalId.is_null())
            .exec(&*self.writer(Lane::Route).await)
            .await?;
        Ok(())
    }

    /// Records that the platform shows each `(message, external id, revision)`, and
    /// takes what is fully shown off the outbox.
    pub async fn mark_synced(&self, synced: &[(i64, String, i64)]) -> anyhow::Result<()> {
        let marked = self
            .write_each(Lane::Route, synced, |txn, (message_id, external_id, revision)| {
                Box::pin(async move {
                    surface_posts::Entity::update_many()
                        .col_expr(surface_posts::Column::ExternalId, Expr::value(external_id))
                        .col_expr(surface_posts::Column::SyncedRevision, Expr::value(*revision))
                        .col_expr(surface_posts::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
                        .col_expr(surface_posts::Column::Attempts, Expr::value(0))
                        .col_expr(surface_posts::Column::LastError, Expr::value(Option::<String>::None))
                        .col_expr(surface_posts::Column::UpdatedAt, Expr::value(now_ms()))
                        .filter(surface_posts::Column::MessageId.eq(*message_id))
                        .filter(surface_posts::Column::SyncedRevision.lt(*revision))
                        .exec(txn)
                        .await?;
                    dequeue(txn, *message_id, *revision).await
                })
            })
            .await;
        marked.into_iter().collect()
    }

    /// Records a failed attempt; the message is retried no sooner than `retry_in_ms`.
    /// After `give_up_after` attempts the revision counts as sent, so one message the
    /// platform refuses (a deleted channel) cannot block its thread forever.
    pub async fn mark_sync_failed(
        &self,
        message_id: i64,
        revision: i64,
        error: &str,
        retry_in_ms: i64,
        give_up_after: i32,
    ) -> anyhow::Result<()> {
        let Some(post) = surface_posts::Entity::find_by_id(message_id).one(&self.db).await? else {
            return Ok(());
        };
        let attempts = post.attempts + 1;
        let now = now_ms();
        let gave_up = attempts >= give_up_after;
        surface_posts::Entity::update_many()
            .col_expr(surface_posts::Column::Attempts, Expr::value(if gave_up { 0 } else { attempts }))
            .col_expr(surface_posts::Column::LastError, Expr::value(error))
            .col_expr(
                surface_posts::Column::SyncedRevision,
                Expr::value(if gave_up { revision } else { post.synced_revision }),
            )
            .col_expr(surface_posts::Column::ClaimedUntil, Expr::value(Some(now + retry_in_ms)))
            .col_expr(surface_posts::Column::UpdatedAt, Expr::value(now))
            .filter(surface_posts::Column::MessageId.eq(message_id))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        if gave_up {
            tracing::error!(message = message_id, attempts, "giving up mirroring a message: {error}");
            dequeue(&*self.writer(Lane::Background).await, message_id, revision).await?;
        }
        Ok(())
    }

    /// The Nova message a platform message is, by the platform's id.
    pub async fn message_by_external_id(
        &self,
        surface: &str,
        external_id: &str,
    ) -> anyhow::Result<Option<messages::Model>> {
        let Some(post) = surface_posts::Entity::find()
            .filter(surface_posts::Column::Surface.eq(surface))
            .filter(surface_posts::Column::ExternalId.eq(external_id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.message(post.message_id).await
    }
}

/// Takes a message off the outbox if the platform shows `revision` and no newer edit
/// came since. The check is on the outbox row itself (an edit sets its revision), so on
/// Postgres a concurrent edit either commits first and the row stays, or waits for this
/// delete and queues the message again.
async fn dequeue(db: &impl ConnectionTrait, message_id: i64, revision: i64) -> anyhow::Result<()> {
    outbox::Entity::delete_many()
        .filter(outbox::Column::MessageId.eq(message_id))
        .filter(outbox::Column::Revision.lte(revision))
        .exec(db)
        .await?;
    Ok(())
}
