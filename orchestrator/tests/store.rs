//! The store's guarantees, on SQLite and (with NOVA_TEST_POSTGRES_URL) on Postgres.

use std::sync::Arc;
use std::time::Duration;

use orchestrator::store::{
    InboundEffects, InboundKind, NewInbound, NewPrompt, OfficeChange, PromptState, Store, Surface, Transition,
};
use testkit::TestDatabase;

async fn store() -> (Store, TestDatabase) {
    let db = TestDatabase::new().await.unwrap();
    (Store::connect(&db.url).await.unwrap(), db)
}

fn message(key: &str, thread: &str) -> NewInbound {
    NewInbound {
        dedupe_key: key.to_owned(),
        surface: Surface::Console,
        channel: "eng".to_owned(),
        thread_id: thread.to_owned(),
        author: "alice".to_owned(),
        kind: InboundKind::Message,
        text: "fix the cart".to_owned(),
        body: r#"{"kind":"message","text":"fix the cart"}"#.to_owned(),
        context: Vec::new(),
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (store, db) = store().await;
    drop(store);
    Store::connect(&db.url).await.expect("a second start runs no migration twice");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_redelivered_inbound_event_is_recorded_once() {
    let (store, db) = store().await;
    let first = store.record_inbound(message("k1", "t1")).await.unwrap();
    let again = store.record_inbound(message("k1", "t1")).await.unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(first.inbound.id, again.inbound.id);
    assert_eq!(store.pending_inbound(10).await.unwrap().len(), 1);
    assert_eq!(store.thread_messages("t1").await.unwrap().len(), 1, "the duplicate posted nothing");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_inbound_event_is_processed_once() {
    let (store, db) = store().await;
    let recorded = store.record_inbound(message("k1", "t1")).await.unwrap();
    let effects = || InboundEffects {
        prompt: Some(NewPrompt {
            run_id: "run-1".into(),
            thread_id: "t1".into(),
            office: "maker".into(),
            author: "alice".into(),
            text: "fix".into(),
            state: PromptState::Held,
            handoff_from: None,
        }),
        ..Default::default()
    };
    assert!(store.apply_inbound(vec![(recorded.inbound.id, effects())]).await.remove(0).unwrap().is_some());
    assert!(store.apply_inbound(vec![(recorded.inbound.id, effects())]).await.remove(0).unwrap().is_none());
    assert_eq!(store.prompts_in_state("maker", PromptState::Held).await.unwrap().len(), 1);
    assert!(store.pending_inbound(10).await.unwrap().is_empty());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn twenty_concurrent_wakes_yield_exactly_one_winner() {
    let (store, db) = store().await;
    store.ensure_offices(["maker"]).await.unwrap();
    let row = store.office("maker").await.unwrap().unwrap();
    let store = Arc::new(store);
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let (store, row) = (Arc::clone(&store), row.clone());
            tokio::spawn(async move {
                store.begin_wake(&row, &format!("replica-{i}"), Duration::from_secs(30)).await.unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        if let Some(generation) = attempt.await.unwrap() {
            winners.push(generation);
        }
    }
    assert_eq!(winners, vec![1]);
    let row = store.office("maker").await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.generation), ("waking", 1));
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_transition_from_an_old_generation_changes_nothing() {
    let (store, db) = store().await;
    store.ensure_offices(["maker"]).await.unwrap();
    let row = store.office("maker").await.unwrap().unwrap();
    store.begin_wake(&row, "a", Duration::from_secs(30)).await.unwrap().unwrap();
    // A late snapshot of generation 0 must not put generation 1 to sleep.
    let stale = store.transition("maker", 0, OfficeChange::new(Transition::RecoverWaking)).await.unwrap();
    assert!(!stale);
    assert!(store.transition("maker", 1, OfficeChange::new(Transition::Ready)).await.unwrap());
    assert_eq!(store.office("maker").await.unwrap().unwrap().state.as_str(), "ready");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_prewarm_mark_belongs_to_one_generation_and_counts_only_while_it_lasts() {
    let (store, db) = store().await;
    store.ensure_offices(["maker", "analyst"]).await.unwrap();
    let row = store.office("maker").await.unwrap().unwrap();
    let generation = store.begin_wake(&row, "a", Duration::from_secs(30)).await.unwrap().unwrap();
    let now = orchestrator::store::now_ms();
    store.set_prewarm("maker", generation, Some((now, now + 90_000))).await.unwrap();
    // A mark for an older generation (a late signal) changes nothing.
    store.set_prewarm("maker", generation - 1, None).await.unwrap();
    assert_eq!(store.office("maker").await.unwrap().unwrap().prewarm_until, Some(now + 90_000));
    assert_eq!(store.count_prewarmed(now).await.unwrap(), 1);
    assert_eq!(store.count_prewarmed(now + 90_000).await.unwrap(), 0, "a lapsed prewarm takes no place");
    // Asleep again (say, `/nova sleep`): no place taken, and the next wake starts unmarked.
    let asleep = OfficeChange::new(Transition::RecoverWaking);
    assert!(store.transition("maker", generation, asleep).await.unwrap());
    assert_eq!(store.count_prewarmed(now).await.unwrap(), 0);
    let row = store.office("maker").await.unwrap().unwrap();
    store.begin_wake(&row, "a", Duration::from_secs(30)).await.unwrap().unwrap();
    let woken = store.office("maker").await.unwrap().unwrap();
    assert_eq!((woken.prewarm_until, woken.prewarmed_at), (None, None));
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_prompt_moves_only_from_the_state_it_is_in() {
    let (store, db) = store().await;
    let recorded = store.record_inbound(message("k1", "t1")).await.unwrap();
    store
        .apply_inbound(vec![(
            recorded.inbound.id,
            InboundEffects {
                prompt: Some(NewPrompt {
                    run_id: "run-2".into(),
                    thread_id: "t1".into(),
                    office: "maker".into(),
                    author: "a".into(),
                    text: "x".into(),
                    state: PromptState::Held,
                    handoff_from: None,
                }),
                ..Default::default()
            },
        )])
        .await
        .remove(0)
        .unwrap();
    let prompt = store.prompts_in_state("maker", PromptState::Held).await.unwrap().remove(0);
    assert!(store.move_prompt(prompt.id, PromptState::Held, PromptState::Dispatched).await.unwrap());
    assert!(!store.move_prompt(prompt.id, PromptState::Held, PromptState::Dispatched).await.unwrap());
    assert_eq!(store.requeue_dispatched("maker").await.unwrap().len(), 1);
    assert_eq!(store.prompts_in_state("maker", PromptState::Held).await.unwrap().len(), 1);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn picks_are_counted_per_channel_and_office() {
    let (store, db) = store().await;
    for (key, office) in [("p1", "writer"), ("p2", "writer"), ("p3", "analyst")] {
        let recorded = store.record_inbound(message(key, key)).await.unwrap();
        let effects = InboundEffects {
            record_pick: Some((Surface::Console, "general".into(), office.into())),
            ..Default::default()
        };
        store.apply_inbound(vec![(recorded.inbound.id, effects)]).await.remove(0).unwrap();
    }
    let mut picks = store.channel_picks(Surface::Console, "general").await.unwrap();
    picks.sort();
    assert_eq!(picks, [("analyst".to_owned(), 1), ("writer".to_owned(), 2)]);
    assert!(store.channel_picks(Surface::Console, "eng").await.unwrap().is_empty());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn rotating_the_master_key_reseals_every_secret() {
    use orchestrator::vault::{Scope, SecretValue, Vault, rotate};
    let (store, db) = store().await;
    let old_key = "old:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let new_key = "new:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let old = Vault::from_spec(old_key).unwrap();
    for (scope, name) in [(Scope::Office("maker".into()), "github"), (Scope::Workspace, "openai")] {
        let sealed = old.seal(&scope, name, &SecretValue::new(format!("value-of-{name}")));
        store.put_secret(&scope.key(), name, &sealed, old.current_key_id(), "alice").await.unwrap();
    }
    let both = Vault::from_spec(&format!("{new_key},{old_key}")).unwrap();
    assert_eq!(rotate(&store, &both).await.unwrap(), 2);
    assert_eq!(rotate(&store, &both).await.unwrap(), 0, "nothing left to re-seal");

    let only_new = Vault::from_spec(new_key).unwrap();
    let row = store.secret("office:maker", "github").await.unwrap().unwrap();
    assert_eq!(row.key_id, "new");
    assert_eq!(
        only_new.open(&Scope::Office("maker".into()), "github", &row.sealed).unwrap().expose(),
        "value-of-github"
    );

    // A tampered entry stops the rotation and is named.
    store.put_secret("platform", "broken", "nova1:old:AAAA", "old", "mallory").await.unwrap();
    let error = rotate(&store, &both).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the secret `broken` cannot be opened: it was tampered with, or moved from another scope"
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_audit_query_with_a_huge_limit_returns_what_there_is() {
    let (store, db) = store().await;
    for action in ["route", "wake"] {
        let entry = orchestrator::store::AuditEntry {
            actor: "nova".to_owned(),
            office: Some("maker".to_owned()),
            run_id: None,
            action,
            details: serde_json::json!({}),
        };
        store.audit(entry).await.unwrap();
    }
    let filter = orchestrator::store::AuditFilter { limit: Some(u64::MAX), ..Default::default() };
    assert_eq!(store.audit_trail(&filter).await.unwrap().len(), 2);
    db.cleanup().await.unwrap();
}
