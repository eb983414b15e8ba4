//! A routing round's effects, written a chunk of events at a time: each kind of row
//! (claims, thread routes, prompts, audit rows, replies, their outbox entries) as one
//! multi-row statement for the whole chunk, not one statement per event. Under a burst
//! that is six round trips per chunk instead of six per event: on SQLite each trip
//! holds the write gate an acknowledgement may be waiting for, and on Postgres each is
//! a wake-up of a server process on the CPUs the acknowledgements need.

use std::collections::HashSet;

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait};

use super::{InboundEffects, apply_one_inbound, audit, inbound, messages, now_ms, prompts, queue_for_mirror, threads};

/// What each event of a chunk posted or edited; `None` for an event another worker
/// applied first (it changes nothing).
pub(super) type Applied = Option<Vec<messages::Model>>;

/// Applies a chunk's effects in the caller's transaction, in the events' order. A chunk
/// in which every event only routes, queues and replies (almost all of them) is written
/// together; one with a card answer, a pick, a schedule or unrouted prompts is written
/// event by event, as those depend on what the events before them wrote.
pub(super) async fn apply_together(
    txn: &DatabaseTransaction,
    chunk: &[(i64, InboundEffects)],
) -> anyhow::Result<Vec<Applied>> {
    if chunk.len() == 1 || !chunk.iter().all(|(_, effects)| only_routes(effects)) {
        let mut applied = Vec::with_capacity(chunk.len());
        for (id, effects) in chunk {
            applied.push(apply_one_inbound(txn, *id, effects).await?);
        }
        return Ok(applied);
    }
    let now = now_ms();
    let claimed = claim(txn, chunk.iter().map(|(id, _)| *id), now).await?;
    let mine: Vec<&InboundEffects> =
        chunk.iter().filter(|(id, _)| claimed.contains(id)).map(|(_, effects)| effects).collect();
    route_threads(txn, &mine, now).await?;
    let new_prompts = chunk
        .iter()
        .filter(|(id, _)| claimed.contains(id))
        .filter_map(|(id, effects)| Some(effects.prompt.as_ref()?.row(*id, now)));
    prompts::Entity::insert_many(new_prompts).exec_without_returning(txn).await?;
    let audit_rows = mine.iter().flat_map(|effects| &effects.audit).map(|entry| audit::ActiveModel {
        id: NotSet,
        at: Set(now),
        actor: Set(entry.actor.clone()),
        office: Set(entry.office.clone()),
        run_id: Set(entry.run_id.clone()),
        action: Set(entry.action.to_owned()),
        details: Set(entry.details.to_string()),
    });
    audit::Entity::insert_many(audit_rows).exec_without_returning(txn).await?;
    let replies = mine.iter().flat_map(|effects| &effects.replies).map(|reply| messages::ActiveModel {
        id: NotSet,
        thread_id: Set(reply.thread_id.clone()),
        author: Set("nova".to_owned()),
        from_nova: Set(true),
        kind: Set(reply.kind.to_owned()),
        body: Set(reply.body.clone()),
        card: Set(reply.card.clone()),
        run_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        revision: Set(0),
    });
    let mut posted = messages::Entity::insert_many(replies).exec_with_returning(txn).await?;
    // One statement's rows take ids in the order of its values on both stores.
    posted.sort_by_key(|message| message.id);
    queue_for_mirror(txn, posted.iter().map(|message| message.id)).await?;
    let mut posted = posted.into_iter();
    Ok(chunk
        .iter()
        .map(|(id, effects)| {
            claimed.contains(id).then(|| posted.by_ref().take(effects.replies.len()).collect::<Vec<_>>())
        })
        .collect())
}

/// Whether an event's effects are only a route, a prompt, audit rows and replies.
fn only_routes(effects: &InboundEffects) -> bool {
    effects.resolve_card.is_none()
        && effects.record_pick.is_none()
        && effects.assign_unrouted.is_none()
        && effects.new_schedule.is_none()
        && effects.schedule_ran.is_none()
}

/// Marks the events processed; the ids of those this call claimed (not another worker).
async fn claim(txn: &DatabaseTransaction, ids: impl Iterator<Item = i64>, now: i64) -> anyhow::Result<HashSet<i64>> {
    let claim = Query::update()
        .table(inbound::Entity)
        .value(inbound::Column::ProcessedAt, now)
        .and_where(inbound::Column::Id.is_in(ids))
        .and_where(inbound::Column::ProcessedAt.is_null())
        .returning_col(inbound::Column::Id)
        .to_owned();
    let rows = txn.query_all(&claim).await?;
    rows.iter().map(|row| Ok(row.try_get::<i64>("", "id")?)).collect()
}

/// Sets each routed thread's repo, office and confidence in one `UPDATE … CASE`; a
/// thread routed twice in the chunk keeps the later route, as one event after the
/// other would leave it.
async fn route_threads(txn: &DatabaseTransaction, mine: &[&InboundEffects], now: i64) -> anyhow::Result<()> {
    let routes: Vec<_> = mine.iter().rev().filter_map(|effects| effects.thread_route.as_ref()).collect();
    if routes.is_empty() {
        return Ok(());
    }
    let by_thread = |value: &dyn Fn(&super::ThreadRoute) -> sea_orm::Value| {
        let mut case = CaseStatement::new();
        for route in &routes {
            case = case.case(Expr::col(threads::Column::Id).eq(route.thread_id.clone()), Expr::val(value(route)));
        }
        case
    };
    let update = Query::update()
        .table(threads::Entity)
        .value(threads::Column::Repo, by_thread(&|route| route.repo.clone().into()))
        .value(threads::Column::Office, by_thread(&|route| route.office.clone().into()))
        .value(threads::Column::Confidence, by_thread(&|route| route.confidence.into()))
        .value(threads::Column::UpdatedAt, now)
        .and_where(threads::Column::Id.is_in(routes.iter().map(|route| route.thread_id.clone())))
        .to_owned();
    txn.execute(&update).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, QueryFilter, QueryOrder};

    use super::super::{
        AuditEntry, InboundKind, MessageKind, NewInbound, NewPrompt, PromptState, Reply, Store, Surface, ThreadRoute,
    };
    use super::*;

    async fn receive(store: &Store, key: &str, surface: Surface, thread: &str) -> i64 {
        let new = NewInbound {
            dedupe_key: key.to_owned(),
            surface,
            channel: "eng".to_owned(),
            thread_id: thread.to_owned(),
            author: "alice".to_owned(),
            kind: InboundKind::Message,
            text: format!("fix bug {key}"),
            body: "{}".to_owned(),
            context: vec![],
        };
        store.record_inbound(new).await.unwrap().inbound.id
    }

    fn routed(thread: &str, office: &str, run: &str) -> InboundEffects {
        InboundEffects {
            thread_route: Some(ThreadRoute {
                thread_id: thread.to_owned(),
                repo: Some("shop".to_owned()),
                office: Some(office.to_owned()),
                confidence: 0.9,
            }),
            prompt: Some(NewPrompt {
                run_id: run.to_owned(),
                thread_id: thread.to_owned(),
                office: office.to_owned(),
                author: "alice".to_owned(),
                text: format!("work for {office}"),
                state: PromptState::Held,
                handoff_from: None,
            }),
            replies: vec![Reply {
                thread_id: thread.to_owned(),
                kind: MessageKind::Text,
                body: format!("Routing to {office}"),
                card: None,
            }],
            audit: vec![AuditEntry {
                actor: "alice".to_owned(),
                office: Some(office.to_owned()),
                run_id: Some(run.to_owned()),
                action: "route",
                details: serde_json::json!({}),
            }],
            ..InboundEffects::default()
        }
    }

    /// A chunk written together reads as its events written one after the other: each
    /// event's replies in order, a thread routed twice keeps the later route, an event
    /// another worker applied changes nothing, and only platform threads are mirrored.
    /// On the test's store (Postgres when `NOVA_TEST_POSTGRES_URL` is set).
    #[tokio::test]
    async fn a_chunk_written_together_reads_as_its_events_one_after_the_other() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        let first = receive(&store, "e1", Surface::Slack, "t1").await;
        let follow_up = receive(&store, "e2", Surface::Slack, "t1").await;
        let elsewhere = receive(&store, "e3", Surface::Console, "t2").await;
        let taken = receive(&store, "e4", Surface::Slack, "t3").await;
        let applied_first = store.apply_inbound(vec![(taken, routed("t3", "maker", "r0"))]).await;
        assert!(applied_first[0].as_ref().unwrap().is_some());

        let applied = store
            .apply_inbound(vec![
                (first, routed("t1", "maker", "r1")),
                (follow_up, routed("t1", "writer", "r2")),
                (elsewhere, routed("t2", "analyst", "r3")),
                (taken, routed("t3", "writer", "r4")),
            ])
            .await;
        let posted: Vec<Option<Vec<String>>> = applied
            .into_iter()
            .map(|a| a.unwrap().map(|messages| messages.into_iter().map(|m| m.body).collect()))
            .collect();
        assert_eq!(
            posted,
            [
                Some(vec!["Routing to maker".to_owned()]),
                Some(vec!["Routing to writer".to_owned()]),
                Some(vec!["Routing to analyst".to_owned()]),
                None,
            ]
        );
        assert_eq!(store.thread("t1").await.unwrap().unwrap().office.as_deref(), Some("writer"), "the later route");
        assert_eq!(store.thread("t3").await.unwrap().unwrap().office.as_deref(), Some("maker"), "applied once");
        let queued: Vec<(String, i64, String)> = prompts::Entity::find()
            .order_by_asc(prompts::Column::Id)
            .all(store.db())
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.run_id, p.inbound_id, p.office))
            .collect();
        let expected =
            [("r0", taken, "maker"), ("r1", first, "maker"), ("r2", follow_up, "writer"), ("r3", elsewhere, "analyst")];
        let expected: Vec<(String, i64, String)> =
            expected.iter().map(|(r, i, o)| (r.to_string(), *i, o.to_string())).collect();
        assert_eq!(queued, expected, "each claimed event's prompt, in order");
        let routes = audit::Entity::find().filter(audit::Column::Action.eq("route")).all(store.db()).await.unwrap();
        assert_eq!(routes.len(), 4);
        assert_eq!(store.outbox_by_surface().await.unwrap(), [(Surface::Slack, 3)], "console threads are not mirrored");
        assert_eq!(store.pending_inbound(10).await.unwrap().len(), 0);
        database.cleanup().await.unwrap();
    }

    /// The engine's "who has work waiting" reads: the offices with held prompts (one
    /// index seek per office, not a read of every prompt), and whether one office has any.
    #[tokio::test]
    async fn offices_with_work_waiting_are_found_without_counting_it() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        assert!(store.offices_with_held_prompts().await.unwrap().is_empty());
        let mut events = Vec::new();
        for (i, office) in ["writer", "maker", "maker", "maker", "analyst"].into_iter().enumerate() {
            let thread = format!("t{i}");
            let id = receive(&store, &format!("e{i}"), Surface::Console, &thread).await;
            events.push((id, routed(&thread, office, &format!("r{i}"))));
        }
        store.apply_inbound(events).await;
        let analysts = store.prompt_by_run("r4").await.unwrap().unwrap();
        assert!(store.move_prompt(analysts.id, PromptState::Held, PromptState::Dispatched).await.unwrap());

        assert_eq!(store.offices_with_held_prompts().await.unwrap(), ["maker", "writer"]);
        assert!(store.has_prompts("maker", &[PromptState::Held]).await.unwrap());
        assert!(!store.has_prompts("analyst", &[PromptState::Held]).await.unwrap());
        assert!(store.has_prompts("analyst", &[PromptState::Held, PromptState::Dispatched]).await.unwrap());
        assert!(!store.has_prompts("nobody", &[PromptState::Held, PromptState::Dispatched]).await.unwrap());
        database.cleanup().await.unwrap();
    }
}
