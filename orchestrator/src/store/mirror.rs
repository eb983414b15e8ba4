//! What a chat-platform mirror needs: which Nova messages a platform does not show yet
//! (or shows in an older revision), and where each one lives there.
//!
//! The messages table is the truth; a mirror reads the latest state of each message and
//! sends that, so edits made while the platform was rate-limiting coalesce into one.
//! The outbox names the messages to look at, so a pass costs what is pending, not the
//! size of the history.

use std::collections::HashSet;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Statement,
    TransactionTrait, Value,
};

use super::recorder::shift_parameters;
use super::{Lane, Store, Surface, messages, now_ms, outbox, surface_posts};

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
    pub async fn unsynced_messages(&self, surface: Surface, limit: u64) -> anyhow::Result<Vec<Unsynced>> {
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
                dequeue(&*self.writer(Lane::Background).await, &[(message.id, message.revision)]).await?;
                continue;
            }
            let held = post.as_ref().is_some_and(|p| p.claimed_until.is_some_and(|until| until >= now));
            out.push(Unsynced { message, post, held });
        }
        out.sort_by_key(|u| u.message.id);
        Ok(out)
    }

    /// Claims the first posts of messages for `hold_ms`, so that of several mirrors
    /// (replicas) exactly one posts each; returns the ids this call claimed. A pass's
    /// claims are two statements (new claims, then claims whose holder died or gave up),
    /// not one or two per message.
    pub async fn claim_posts(&self, message_ids: &[i64], surface: Surface, hold_ms: i64) -> anyhow::Result<Vec<i64>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let until = now + hold_ms;
        let writer = self.writer(Lane::Route).await;
        let txn = writer.begin().await?;
        let mut claimed = HashSet::new();
        for chunk in message_ids.chunks(ROWS_PER_STATEMENT) {
            let mut insert = Query::insert();
            insert.into_table(surface_posts::Entity).columns([
                surface_posts::Column::MessageId,
                surface_posts::Column::Surface,
                surface_posts::Column::SyncedRevision,
                surface_posts::Column::ClaimedUntil,
                surface_posts::Column::Attempts,
                surface_posts::Column::UpdatedAt,
            ]);
            for &message_id in chunk {
                insert.values_panic([
                    message_id.into(),
                    surface.as_str().into(),
                    (-1i64).into(),
                    until.into(),
                    0i32.into(),
                    now.into(),
                ]);
            }
            insert
                .on_conflict(OnConflict::column(surface_posts::Column::MessageId).do_nothing().to_owned())
                .returning_col(surface_posts::Column::MessageId);
            claimed.extend(claimed_ids(txn.query_all(&insert).await?)?);
            let held: Vec<i64> = chunk.iter().copied().filter(|id| !claimed.contains(id)).collect();
            if held.is_empty() {
                continue;
            }
            // A claim whose holder died (or gave up) expires; take it over.
            let take_over = Query::update()
                .table(surface_posts::Entity)
                .value(surface_posts::Column::ClaimedUntil, until)
                .value(surface_posts::Column::UpdatedAt, now)
                .and_where(Expr::col(surface_posts::Column::MessageId).is_in(held))
                .and_where(Expr::col(surface_posts::Column::ExternalId).is_null())
                .and_where(
                    Expr::col(surface_posts::Column::ClaimedUntil)
                        .is_null()
                        .or(Expr::col(surface_posts::Column::ClaimedUntil).lt(now)),
                )
                .returning_col(surface_posts::Column::MessageId)
                .to_owned();
            claimed.extend(claimed_ids(txn.query_all(&take_over).await?)?);
        }
        txn.commit().await?;
        Ok(message_ids.iter().copied().filter(|id| claimed.contains(id)).collect())
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
    /// takes what is fully shown off the outbox: two statements for a whole pass.
    pub async fn mark_synced(&self, synced: &[(i64, String, i64)]) -> anyhow::Result<()> {
        if synced.is_empty() {
            return Ok(());
        }
        let writer = self.writer(Lane::Route).await;
        let txn = writer.begin().await?;
        for chunk in synced.chunks(ROWS_PER_STATEMENT) {
            let shown = numbered_rows("(CAST($1 AS BIGINT), $2, CAST($3 AS BIGINT))", 3, chunk.len());
            let now_parameter = chunk.len() * 3 + 1;
            let mut values: Vec<Value> = Vec::with_capacity(now_parameter);
            for (message_id, external_id, revision) in chunk {
                values.extend([(*message_id).into(), external_id.clone().into(), (*revision).into()]);
            }
            values.push(now_ms().into());
            let mark = format!(
                "WITH shown (message_id, external_id, revision) AS (VALUES {shown}) \
                 UPDATE surface_posts SET external_id = shown.external_id, synced_revision = shown.revision, \
                 claimed_until = NULL, attempts = 0, last_error = NULL, updated_at = ${now_parameter} \
                 FROM shown WHERE surface_posts.message_id = shown.message_id \
                 AND surface_posts.synced_revision < shown.revision"
            );
            txn.execute_raw(Statement::from_sql_and_values(txn.get_database_backend(), mark, values)).await?;
            let shown: Vec<(i64, i64)> =
                chunk.iter().map(|(message_id, _, revision)| (*message_id, *revision)).collect();
            dequeue(&txn, &shown).await?;
        }
        txn.commit().await?;
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
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        if gave_up {
            tracing::error!(message = message_id, attempts, "giving up mirroring a message: {error}");
            dequeue(&*self.writer(Lane::Background).await, &[(message_id, revision)]).await?;
        }
        Ok(())
    }

    /// The Nova message a platform message is, by the platform's id.
    pub async fn message_by_external_id(
        &self,
        surface: Surface,
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

/// Rows per multi-row statement: well under both stores' limits on bound values.
const ROWS_PER_STATEMENT: usize = 200;

/// The message ids a `RETURNING message_id` statement gave back.
fn claimed_ids(rows: Vec<QueryResult>) -> anyhow::Result<Vec<i64>> {
    Ok(rows.into_iter().map(|row| row.try_get::<i64>("", "message_id")).collect::<Result<_, _>>()?)
}

/// `rows` copies of `row` (whose values are `$1` to `$width`) for a `VALUES` list, each
/// numbered after the one before: `numbered_rows("($1, $2)", 2, 2)` is `($1, $2), ($3, $4)`.
fn numbered_rows(row: &str, width: usize, rows: usize) -> String {
    (0..rows).map(|k| shift_parameters(row, k * width)).collect::<Vec<_>>().join(", ")
}

/// Takes each `(message, revision)` off the outbox if the platform shows that revision
/// and no newer edit came since. The check is on the outbox row itself (an edit sets its
/// revision), so on Postgres a concurrent edit either commits first and the row stays,
/// or waits for this delete and queues the message again.
async fn dequeue(db: &impl ConnectionTrait, shown: &[(i64, i64)]) -> anyhow::Result<()> {
    let rows = numbered_rows("(CAST($1 AS BIGINT), CAST($2 AS BIGINT))", 2, shown.len());
    let values: Vec<Value> =
        shown.iter().flat_map(|&(message_id, revision)| [message_id.into(), revision.into()]).collect();
    let take_off = format!(
        "WITH shown (message_id, revision) AS (VALUES {rows}) \
         DELETE FROM outbox WHERE EXISTS (SELECT 1 FROM shown \
         WHERE shown.message_id = outbox.message_id AND outbox.revision <= shown.revision)"
    );
    db.execute_raw(Statement::from_sql_and_values(db.get_database_backend(), take_off, values)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InboundKind, MessageKind, NewInbound};

    /// On the test's store (Postgres when `NOVA_TEST_POSTGRES_URL` is set): of two
    /// mirrors one claims each first post; a claim run out is taken over; a message
    /// edited after it was sent stays on the outbox with its post, the rest come off.
    #[tokio::test]
    async fn mirrors_claim_each_post_once_and_an_edit_after_sending_stays_queued() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        store
            .record_inbound(NewInbound {
                dedupe_key: "slack:C1:1.0".to_owned(),
                surface: Surface::Slack,
                channel: "eng".to_owned(),
                thread_id: "t1".to_owned(),
                author: "alice".to_owned(),
                kind: InboundKind::Message,
                text: "checkout fails".to_owned(),
                body: "{}".to_owned(),
                context: Vec::new(),
            })
            .await
            .unwrap();
        let mut ids = Vec::new();
        for body in ["Routing to maker", "Fixed it", "Also this"] {
            ids.push(store.post_message("t1", MessageKind::Text, body, None, None).await.unwrap().id);
        }
        let pending: Vec<i64> =
            store.unsynced_messages(Surface::Slack, 10).await.unwrap().iter().map(|u| u.message.id).collect();
        assert_eq!(pending, ids);

        let first_two = &ids[..2];
        let (a, b) = tokio::join!(
            store.claim_posts(first_two, Surface::Slack, 60_000),
            store.claim_posts(first_two, Surface::Slack, 60_000)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut both: Vec<i64> = a.iter().chain(&b).copied().collect();
        both.sort();
        assert_eq!(both, first_two, "each claimed by exactly one mirror");
        // A claim that ran out (its holder died) is another mirror's to take.
        assert_eq!(store.claim_posts(&ids[2..], Surface::Slack, -1).await.unwrap(), [ids[2]]);
        assert_eq!(store.claim_posts(&ids[2..], Surface::Slack, 60_000).await.unwrap(), [ids[2]]);
        assert_eq!(store.claim_posts(&ids[2..], Surface::Slack, 60_000).await.unwrap(), Vec::<i64>::new());

        // The second message is edited while its first revision is being sent.
        store.edit_message(ids[1], "Fixed it (edited)", None).await.unwrap();
        let sent: Vec<(i64, String, i64)> = ids.iter().map(|&id| (id, format!("ts-{id}"), 0)).collect();
        store.mark_synced(&sent).await.unwrap();
        let left = store.unsynced_messages(Surface::Slack, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message.id, ids[1]);
        assert_eq!(left[0].message.revision, 1);
        let post = left[0].post.as_ref().unwrap();
        assert_eq!((post.external_id.as_deref(), post.synced_revision), (Some(format!("ts-{}", ids[1]).as_str()), 0));
        assert_eq!(post.claimed_until, None, "a post shown is no longer claimed");
        store.mark_synced(&[(ids[1], format!("ts-{}", ids[1]), 1)]).await.unwrap();
        assert!(store.unsynced_messages(Surface::Slack, 10).await.unwrap().is_empty());
        database.cleanup().await.unwrap();
    }

    #[test]
    fn values_lists_number_their_parameters_in_order() {
        assert_eq!(numbered_rows("($1, $2)", 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(
            numbered_rows("(CAST($1 AS BIGINT), $2)", 2, 3),
            "(CAST($1 AS BIGINT), $2), (CAST($3 AS BIGINT), $4), (CAST($5 AS BIGINT), $6)"
        );
    }
}
