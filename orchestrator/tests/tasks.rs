//! Task checkout in the store, on SQLite and (with NOVA_TEST_POSTGRES_URL) on Postgres.

use std::sync::Arc;

use orchestrator::store::{Claim, ClaimVia, NewTask, Store, TaskState};
use testkit::TestDatabase;

async fn store() -> (Store, TestDatabase) {
    let db = TestDatabase::new().await.unwrap();
    (Store::connect(&db.url).await.unwrap(), db)
}

fn new_task(title: &str, owner: Option<&str>, depends_on: Vec<i64>) -> NewTask {
    NewTask {
        title: title.to_owned(),
        body: String::new(),
        owner: owner.map(str::to_owned),
        priority: 0,
        parent_id: None,
        depends_on,
        thread_id: "t1".to_owned(),
        created_by: "alice".to_owned(),
        created_run: None,
    }
}

#[tokio::test]
async fn of_eight_offices_claiming_one_task_at_once_exactly_one_wins() {
    let (store, db) = store().await;
    let store = Arc::new(store);
    let task = store.create_task(new_task("rotate the keys", None, vec![])).await.unwrap();
    let claims = (0..8).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            store.claim_task(task.id, &format!("office{n}"), &format!("run{n}"), ClaimVia::Office, i64::MAX).await
        })
    });
    let outcomes: Vec<Claim> =
        futures::future::join_all(claims).await.into_iter().map(|c| c.unwrap().unwrap()).collect();
    let winners: Vec<&Claim> = outcomes.iter().filter(|c| matches!(c, Claim::Claimed(_))).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let Claim::Claimed(won) = winners[0] else { unreachable!() };
    for outcome in outcomes.iter().filter(|c| !matches!(c, Claim::Claimed(_))) {
        assert_eq!(
            outcome,
            &Claim::Held { holder: won.holder.clone().unwrap(), run: won.holder_run.clone().unwrap() },
            "a loser learns who holds it"
        );
    }
    assert_eq!(store.task(task.id).await.unwrap().unwrap().generation, 1);
    drop(store);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_task_waits_for_its_dependencies_and_for_its_owner() {
    let (store, db) = store().await;
    let schema = store.create_task(new_task("schema", Some("maker"), vec![])).await.unwrap();
    let backfill = store.create_task(new_task("backfill", Some("maker"), vec![schema.id])).await.unwrap();
    let ready: Vec<i64> = store.ready_tasks().await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ready, [schema.id]);
    assert_eq!(
        store.claim_task(backfill.id, "maker", "r", ClaimVia::Office, 0).await.unwrap(),
        Claim::Blocked(vec![schema.id])
    );
    assert_eq!(
        store.claim_task(schema.id, "writer", "r", ClaimVia::Office, 0).await.unwrap(),
        Claim::NotYours { owner: "maker".into() }
    );
    let Claim::Claimed(_) = store.claim_task(schema.id, "maker", "r1", ClaimVia::Dispatch, 0).await.unwrap() else {
        panic!("maker may claim its own task");
    };
    assert!(store.finish_task(schema.id, "other-run", TaskState::Done, "x").await.unwrap().is_none());
    store.finish_task(schema.id, "r1", TaskState::Done, "migrated").await.unwrap().unwrap();
    let ready: Vec<i64> = store.ready_tasks().await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ready, [backfill.id]);
    assert_eq!(
        store.claim_task(schema.id, "maker", "r2", ClaimVia::Office, 0).await.unwrap(),
        Claim::Closed(TaskState::Done)
    );
    drop(store);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_lapsed_claim_is_taken_back_and_its_old_holder_can_no_longer_finish_it() {
    let (store, db) = store().await;
    let task = store.create_task(new_task("audit", None, vec![])).await.unwrap();
    let Claim::Claimed(held) = store.claim_task(task.id, "maker", "gone-run", ClaimVia::Office, 1_000).await.unwrap()
    else {
        panic!("open task");
    };
    assert!(store.lapsed_claims(999).await.unwrap().is_empty(), "the lease still runs");
    let lapsed = store.lapsed_claims(1_001).await.unwrap();
    assert_eq!(lapsed.len(), 1);
    let reopened = store.release_task(&lapsed[0], TaskState::Open, None).await.unwrap().unwrap();
    assert_eq!((reopened.state, reopened.generation), (TaskState::Open, held.generation + 1));
    // A second release of the same claim changes nothing.
    assert!(store.release_task(&lapsed[0], TaskState::Open, None).await.unwrap().is_none());
    assert!(store.finish_task(task.id, "gone-run", TaskState::Done, "late").await.unwrap().is_none());
    drop(store);
    db.cleanup().await.unwrap();
}
