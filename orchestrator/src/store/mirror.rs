//! What a chat-platform mirror needs: which Nova messages a platform does not show yet
//! (or shows in an older revision), and where each one lives there.
//!
//! The messages table is the truth; a mirror reads the latest state of each message and
//! sends that, so edits made while the platform was rate-limiting coalesce into one.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, StatementBuilder};

use super::{Store, messages, now_ms, surface_posts, threads};

/// A message the platform does not show in its latest revision, with where it is.
#[derive(Debug, Clone)]
pub struct Unsynced {
    pub message: messages::Model,
    pub post: Option<surface_posts::Model>,
}

impl Store {
    /// Nova's messages in `surface` threads that the platform does not show in their
    /// latest revision, oldest first. Messages claimed by another mirror are left out.
    pub async fn unsynced_messages(&self, surface: &str, limit: u64) -> anyhow::Result<Vec<Unsynced>> {
        let posts = Alias::new("p");
        let mut query = Query::select();
        query
            .column((messages::Entity, messages::Column::Id))
            .from(messages::Entity)
            .join(
                JoinType::InnerJoin,
                threads::Entity,
                Expr::col((threads::Entity, threads::Column::Id))
                    .equals((messages::Entity, messages::Column::ThreadId)),
            )
            .join_as(
                JoinType::LeftJoin,
                surface_posts::Entity,
                posts.clone(),
                Expr::col((posts.clone(), surface_posts::Column::MessageId))
                    .equals((messages::Entity, messages::Column::Id)),
            )
            .and_where(Expr::col((threads::Entity, threads::Column::Surface)).eq(surface))
            .and_where(Expr::col((messages::Entity, messages::Column::FromNova)).eq(true))
            .and_where(
                Expr::col((posts.clone(), surface_posts::Column::MessageId)).is_null().or(Expr::col((
                    posts.clone(),
                    surface_posts::Column::SyncedRevision,
                ))
                .lt(Expr::col((messages::Entity, messages::Column::Revision)))),
            )
            .and_where(
                Expr::col((posts.clone(), surface_posts::Column::ClaimedUntil)).is_null().or(Expr::col((
                    posts,
                    surface_posts::Column::ClaimedUntil,
                ))
                .lt(now_ms())),
            )
            .order_by((messages::Entity, messages::Column::Id), sea_orm::Order::Asc)
            .limit(limit);
        let statement = StatementBuilder::build(&query, &self.db.get_database_backend());
        #[derive(FromQueryResult)]
        struct Row {
            id: i64,
        }
        let ids: Vec<i64> = Row::find_by_statement(statement).all(&self.db).await?.into_iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = messages::Entity::find().filter(messages::Column::Id.is_in(ids.clone())).all(&self.db).await?;
        let mut posts =
            surface_posts::Entity::find().filter(surface_posts::Column::MessageId.is_in(ids)).all(&self.db).await?;
        let mut out: Vec<Unsynced> = found
            .into_iter()
            .map(|message| {
                let post = posts.iter().position(|p| p.message_id == message.id).map(|i| posts.swap_remove(i));
                Unsynced { message, post }
            })
            .collect();
        out.sort_by_key(|u| u.message.id);
        Ok(out)
    }

    /// Claims the first post of a message for `hold_ms`, so that of several mirrors
    /// (replicas) exactly one posts it. Returns false if another holds it.
    pub async fn claim_post(&self, message_id: i64, surface: &str, hold_ms: i64) -> anyhow::Result<bool> {
        let now = now_ms();
        let inserted = surface_posts::Entity::insert(surface_posts::ActiveModel {
            message_id: Set(message_id),
            surface: Set(surface.to_owned()),
            external_id: Set(None),
            synced_revision: Set(-1),
            claimed_until: Set(Some(now + hold_ms)),
            attempts: Set(0),
            last_error: Set(None),
            updated_at: Set(now),
        })
        .on_conflict(OnConflict::column(surface_posts::Column::MessageId).do_nothing().to_owned())
        .exec_without_returning(&self.db)
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
            .filter(surface_posts::Column::ClaimedUntil.is_null().or(surface_posts::Column::ClaimedUntil.lt(now)))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// Records that the platform shows `revision` of the message as `external_id`.
    pub async fn mark_synced(&self, message_id: i64, external_id: &str, revision: i64) -> anyhow::Result<()> {
        surface_posts::Entity::update_many()
            .col_expr(surface_posts::Column::ExternalId, Expr::value(external_id))
            .col_expr(surface_posts::Column::SyncedRevision, Expr::value(revision))
            .col_expr(surface_posts::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
            .col_expr(surface_posts::Column::Attempts, Expr::value(0))
            .col_expr(surface_posts::Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(surface_posts::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(surface_posts::Column::MessageId.eq(message_id))
            .filter(surface_posts::Column::SyncedRevision.lt(revision))
            .exec(&self.db)
            .await?;
        Ok(())
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
            .exec(&self.db)
            .await?;
        if gave_up {
            tracing::error!(message = message_id, attempts, "giving up mirroring a message: {error}");
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
