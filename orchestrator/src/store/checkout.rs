//! Tasks in the store. A claim is one conditional update on the task's generation, so
//! of two claimers exactly one wins (SQLite and Postgres alike); every release bumps the
//! generation again, so an answer from a claim that was taken back changes nothing.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::{ClaimVia, Lane, PromptState, Store, TaskState, now_ms, prompts, task_deps, tasks};

/// A task as it is asked for; the store checks nothing the engine has not.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub body: String,
    pub owner: Option<String>,
    pub priority: i32,
    pub parent_id: Option<i64>,
    pub depends_on: Vec<i64>,
    pub thread_id: String,
    pub created_by: String,
    /// The run that asks for it, when an office does.
    pub created_run: Option<String>,
}

/// A task as people and offices ask for it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAsk {
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// The office it is for; none: any office may claim it.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub parent: Option<i64>,
    #[serde(default)]
    pub depends_on: Vec<i64>,
}

/// What a claim came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Claimed(Box<tasks::Model>),
    /// Someone holds it: who, and for which run.
    Held {
        holder: String,
        run: String,
    },
    /// Its dependencies that are not done yet.
    Blocked(Vec<i64>),
    /// It is for another office.
    NotYours {
        owner: String,
    },
    Closed(TaskState),
    NotFound,
}

/// What a person made of a task (see [`Store::settle_task`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSettled {
    Cancelled {
        why: String,
    },
    /// Open again for this office.
    AssignedTo(String),
}

impl Store {
    /// Records a task and its dependencies together.
    pub async fn create_task(&self, task: NewTask) -> anyhow::Result<tasks::Model> {
        let now = now_ms();
        let writer = self.writer(Lane::Background).await;
        let txn = writer.begin().await?;
        let row = tasks::ActiveModel {
            id: NotSet,
            title: Set(task.title),
            body: Set(task.body),
            owner: Set(task.owner),
            state: Set(TaskState::Open),
            priority: Set(task.priority),
            parent_id: Set(task.parent_id),
            thread_id: Set(task.thread_id),
            created_by: Set(task.created_by),
            created_run: Set(task.created_run),
            holder: Set(None),
            holder_run: Set(None),
            claimed_via: Set(None),
            lease_until: Set(None),
            generation: Set(0),
            attempts: Set(0),
            result: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let inserted = tasks::Entity::insert(row).exec_with_returning(&txn).await?;
        let deps: HashSet<i64> = task.depends_on.into_iter().collect();
        if !deps.is_empty() {
            let rows = deps
                .into_iter()
                .map(|depends_on| task_deps::ActiveModel { task_id: Set(inserted.id), depends_on: Set(depends_on) });
            task_deps::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        Ok(inserted)
    }

    /// How many tasks a run has made.
    pub async fn tasks_created_by_run(&self, run: &str) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(tasks::Entity::find().filter(tasks::Column::CreatedRun.eq(run)).count(self.db()).await?)
    }

    pub async fn task(&self, id: i64) -> anyhow::Result<Option<tasks::Model>> {
        Ok(tasks::Entity::find_by_id(id).one(self.db()).await?)
    }

    /// Tasks, open ones first, then by priority (highest first) and age.
    pub async fn tasks(&self, owner: Option<&str>) -> anyhow::Result<Vec<tasks::Model>> {
        let mut query = tasks::Entity::find();
        if let Some(owner) = owner {
            query = query.filter(tasks::Column::Owner.eq(owner));
        }
        let mut rows =
            query.order_by_desc(tasks::Column::Priority).order_by_asc(tasks::Column::Id).all(self.db()).await?;
        rows.sort_by_key(|task| task.state.is_closed());
        Ok(rows)
    }

    /// What each task waits for: task → the tasks it depends on.
    pub async fn task_dependencies(&self, ids: &[i64]) -> anyhow::Result<HashMap<i64, Vec<i64>>> {
        let mut deps: HashMap<i64, Vec<i64>> = HashMap::new();
        if ids.is_empty() {
            return Ok(deps);
        }
        let rows = task_deps::Entity::find()
            .filter(task_deps::Column::TaskId.is_in(ids.iter().copied()))
            .order_by_asc(task_deps::Column::DependsOn)
            .all(self.db())
            .await?;
        for row in rows {
            deps.entry(row.task_id).or_default().push(row.depends_on);
        }
        Ok(deps)
    }

    /// Of `ids`, those not done yet.
    async fn unfinished(&self, ids: &[i64]) -> anyhow::Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let done: HashSet<i64> = tasks::Entity::find()
            .filter(tasks::Column::Id.is_in(ids.iter().copied()))
            .filter(tasks::Column::State.eq(TaskState::Done))
            .all(self.db())
            .await?
            .into_iter()
            .map(|task| task.id)
            .collect();
        Ok(ids.iter().copied().filter(|id| !done.contains(id)).collect())
    }

    /// Open tasks with an owner and every dependency done: what Nova hands out,
    /// highest priority first.
    pub async fn ready_tasks(&self) -> anyhow::Result<Vec<tasks::Model>> {
        let open = tasks::Entity::find()
            .filter(tasks::Column::State.eq(TaskState::Open))
            .filter(tasks::Column::Owner.is_not_null())
            .order_by_desc(tasks::Column::Priority)
            .order_by_asc(tasks::Column::Id)
            .all(self.db())
            .await?;
        let ids: Vec<i64> = open.iter().map(|task| task.id).collect();
        let deps = self.task_dependencies(&ids).await?;
        let all_deps: Vec<i64> = deps.values().flatten().copied().collect::<HashSet<_>>().into_iter().collect();
        let unfinished: HashSet<i64> = self.unfinished(&all_deps).await?.into_iter().collect();
        Ok(open
            .into_iter()
            .filter(|task| deps.get(&task.id).is_none_or(|d| d.iter().all(|dep| !unfinished.contains(dep))))
            .collect())
    }

    /// `office` claims task `id` for `run`: it wins only if the task is open, is for it
    /// (or for anyone), and waits for nothing. `via` says who asked.
    pub async fn claim_task(
        &self,
        id: i64,
        office: &str,
        run: &str,
        via: ClaimVia,
        lease_until: i64,
    ) -> anyhow::Result<Claim> {
        let Some(task) = self.task(id).await? else { return Ok(Claim::NotFound) };
        if let Some(refused) = self.claim_refused(&task, office).await? {
            return Ok(refused);
        }
        let claimed = tasks::Entity::update_many()
            .col_expr(tasks::Column::State, Expr::value(TaskState::Claimed.as_str()))
            .col_expr(tasks::Column::Holder, Expr::value(office))
            .col_expr(tasks::Column::HolderRun, Expr::value(run))
            .col_expr(tasks::Column::ClaimedVia, Expr::value(sea_orm::ActiveEnum::to_value(&via)))
            .col_expr(tasks::Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(tasks::Column::Generation, Expr::value(task.generation + 1))
            .col_expr(tasks::Column::Attempts, Expr::value(task.attempts + 1))
            .col_expr(tasks::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(tasks::Column::Id.eq(id))
            .filter(tasks::Column::State.eq(TaskState::Open))
            .filter(tasks::Column::Generation.eq(task.generation))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        let now = self.task(id).await?;
        match now {
            Some(now) if claimed.rows_affected == 1 => Ok(Claim::Claimed(Box::new(now))),
            // Someone else moved it between the read and the update.
            Some(now) => Ok(self.claim_refused(&now, office).await?.unwrap_or(Claim::Closed(now.state))),
            None => Ok(Claim::NotFound),
        }
    }

    /// Why `office` may not claim `task` as it stands, if it may not. Another office's
    /// task is refused as such first: that reason does not depend on how far its owner
    /// has got with it.
    async fn claim_refused(&self, task: &tasks::Model, office: &str) -> anyhow::Result<Option<Claim>> {
        if let Some(owner) = task.owner.as_deref().filter(|owner| *owner != office) {
            return Ok(Some(Claim::NotYours { owner: owner.to_owned() }));
        }
        if task.state.is_closed() {
            return Ok(Some(Claim::Closed(task.state)));
        }
        if task.state == TaskState::Claimed {
            return Ok(Some(Claim::Held {
                holder: task.holder.clone().unwrap_or_default(),
                run: task.holder_run.clone().unwrap_or_default(),
            }));
        }
        let deps = self.task_dependencies(&[task.id]).await?.remove(&task.id).unwrap_or_default();
        let waiting = self.unfinished(&deps).await?;
        Ok((!waiting.is_empty()).then_some(Claim::Blocked(waiting)))
    }

    /// The run holding task `id` ends it (`done` or `failed`, with what it said).
    /// `None` if that run does not hold it (any more).
    pub async fn finish_task(
        &self,
        id: i64,
        run: &str,
        state: TaskState,
        result: &str,
    ) -> anyhow::Result<Option<tasks::Model>> {
        let finished = tasks::Entity::update_many()
            .col_expr(tasks::Column::State, Expr::value(state.as_str()))
            .col_expr(tasks::Column::Result, Expr::value(result))
            .col_expr(tasks::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(tasks::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(tasks::Column::Id.eq(id))
            .filter(tasks::Column::State.eq(TaskState::Claimed))
            .filter(tasks::Column::HolderRun.eq(run))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        if finished.rows_affected == 0 {
            return Ok(None);
        }
        self.task(id).await
    }

    /// The tasks `run` holds.
    pub async fn tasks_held_by(&self, run: &str) -> anyhow::Result<Vec<tasks::Model>> {
        Ok(tasks::Entity::find()
            .filter(tasks::Column::State.eq(TaskState::Claimed))
            .filter(tasks::Column::HolderRun.eq(run))
            .all(self.db())
            .await?)
    }

    /// Takes a claim back (its run ended without finishing it, or it lapsed): the task
    /// is open again under a new generation, or `to` (`cancelled`, `failed`) with why.
    pub async fn release_task(
        &self,
        task: &tasks::Model,
        to: TaskState,
        why: Option<&str>,
    ) -> anyhow::Result<Option<tasks::Model>> {
        let mut update = without_claim(task).col_expr(tasks::Column::State, Expr::value(to.as_str()));
        if let Some(why) = why {
            update = update.col_expr(tasks::Column::Result, Expr::value(why));
        }
        self.update_task(task, update.filter(tasks::Column::State.eq(TaskState::Claimed))).await
    }

    /// A person's say over a task as they saw it (`task.generation`): cancelled with
    /// why, or open again for an office with its attempts counted afresh. Whoever holds
    /// it loses the claim, so an answer from that run changes nothing. A done task keeps
    /// its result. `None` if the task moved on meanwhile or is done.
    pub async fn settle_task(&self, task: &tasks::Model, settled: TaskSettled) -> anyhow::Result<Option<tasks::Model>> {
        let update = match settled {
            TaskSettled::Cancelled { why } => without_claim(task)
                .col_expr(tasks::Column::State, Expr::value(TaskState::Cancelled.as_str()))
                .col_expr(tasks::Column::Result, Expr::value(why)),
            TaskSettled::AssignedTo(office) => without_claim(task)
                .col_expr(tasks::Column::State, Expr::value(TaskState::Open.as_str()))
                .col_expr(tasks::Column::Owner, Expr::value(office))
                .col_expr(tasks::Column::Attempts, Expr::value(0)),
        };
        self.update_task(task, update.filter(tasks::Column::State.ne(TaskState::Done))).await
    }

    /// Carries out `update` of `task` if the task is still at the generation it was read
    /// at: the task now, or `None` if it moved on (or `update`'s own filter did not hold).
    async fn update_task(
        &self,
        task: &tasks::Model,
        update: sea_orm::UpdateMany<tasks::Entity>,
    ) -> anyhow::Result<Option<tasks::Model>> {
        let updated = update
            .filter(tasks::Column::Id.eq(task.id))
            .filter(tasks::Column::Generation.eq(task.generation))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        self.task(task.id).await
    }

    /// The tasks not closed yet that wait for task `id`.
    pub async fn tasks_waiting_for(&self, id: i64) -> anyhow::Result<Vec<tasks::Model>> {
        let waiting: Vec<i64> = task_deps::Entity::find()
            .filter(task_deps::Column::DependsOn.eq(id))
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| row.task_id)
            .collect();
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        let rows = tasks::Entity::find()
            .filter(tasks::Column::Id.is_in(waiting))
            .order_by_asc(tasks::Column::Id)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().filter(|task| !task.state.is_closed()).collect())
    }

    /// Claims whose lease has passed and whose run is not alive (held or running):
    /// the claimer died before its run started, or its run ended unseen.
    pub async fn lapsed_claims(&self, now: i64) -> anyhow::Result<Vec<tasks::Model>> {
        let due = tasks::Entity::find()
            .filter(tasks::Column::State.eq(TaskState::Claimed))
            .filter(Condition::any().add(tasks::Column::LeaseUntil.lt(now)).add(tasks::Column::LeaseUntil.is_null()))
            .all(self.db())
            .await?;
        let runs: Vec<String> = due.iter().filter_map(|task| task.holder_run.clone()).collect();
        let alive: HashSet<String> = if runs.is_empty() {
            HashSet::new()
        } else {
            prompts::Entity::find()
                .filter(prompts::Column::RunId.is_in(runs))
                .filter(prompts::Column::State.is_in([PromptState::Held, PromptState::Dispatched]))
                .all(self.db())
                .await?
                .into_iter()
                .map(|prompt| prompt.run_id)
                .collect()
        };
        Ok(due.into_iter().filter(|task| task.holder_run.as_ref().is_none_or(|run| !alive.contains(run))).collect())
    }
}

/// An update of `task` that takes its claim away under a new generation, so an answer
/// from the run that held it changes nothing.
fn without_claim(task: &tasks::Model) -> sea_orm::UpdateMany<tasks::Entity> {
    tasks::Entity::update_many()
        .col_expr(tasks::Column::Holder, Expr::value(Option::<String>::None))
        .col_expr(tasks::Column::HolderRun, Expr::value(Option::<String>::None))
        .col_expr(tasks::Column::ClaimedVia, Expr::value(Option::<String>::None))
        .col_expr(tasks::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(tasks::Column::Generation, Expr::value(task.generation + 1))
        .col_expr(tasks::Column::UpdatedAt, Expr::value(now_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task for `owner` in thread `t1`, asked for by `by`.
    fn task_for(owner: &str, title: &str, by: &str) -> NewTask {
        NewTask {
            title: title.to_owned(),
            body: String::new(),
            owner: Some(owner.to_owned()),
            priority: 0,
            parent_id: None,
            depends_on: Vec::new(),
            thread_id: "t1".to_owned(),
            created_by: by.to_owned(),
            created_run: None,
        }
    }

    /// An office asking for another office's task is told whose it is, however far
    /// the owner has got with it; the owner is told it is closed.
    #[tokio::test]
    async fn another_office_s_task_is_refused_as_theirs_even_once_it_is_done() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        let asked = NewTask { created_run: Some("r0".to_owned()), ..task_for("writer", "announce the fix", "maker") };
        let task = store.create_task(asked).await.unwrap();
        let lease = now_ms() + 60_000;
        let not_yours = Claim::NotYours { owner: "writer".to_owned() };
        assert_eq!(store.claim_task(task.id, "maker", "r1", ClaimVia::Office, lease).await.unwrap(), not_yours);
        let claimed = store.claim_task(task.id, "writer", "r2", ClaimVia::Office, lease).await.unwrap();
        assert!(matches!(claimed, Claim::Claimed(_)), "{claimed:?}");
        store.finish_task(task.id, "r2", TaskState::Done, "announced").await.unwrap().expect("finished");

        assert_eq!(store.claim_task(task.id, "maker", "r3", ClaimVia::Office, lease).await.unwrap(), not_yours);
        let again = store.claim_task(task.id, "writer", "r4", ClaimVia::Office, lease).await.unwrap();
        assert_eq!(again, Claim::Closed(TaskState::Done));
        database.cleanup().await.unwrap();
    }

    /// A person's change takes the claim away: the run that held the task cannot finish
    /// it any more, a change made on a stale read changes nothing, and done stays done.
    #[tokio::test]
    async fn a_task_given_to_another_office_is_no_longer_the_old_run_s_to_finish() {
        let database = testkit::TestDatabase::new().await.unwrap();
        let store = Store::connect(&database.url).await.unwrap();
        let task = store.create_task(task_for("maker", "update the pricing page", "alice")).await.unwrap();
        let lease = now_ms() + 60_000;
        let Claim::Claimed(held) = store.claim_task(task.id, "maker", "r1", ClaimVia::Dispatch, lease).await.unwrap()
        else {
            panic!("maker claims its task");
        };
        let given = store.settle_task(&held, TaskSettled::AssignedTo("writer".to_owned())).await.unwrap().unwrap();
        assert_eq!(
            (given.state, given.owner.as_deref(), given.holder_run.as_deref()),
            (TaskState::Open, Some("writer"), None)
        );
        assert_eq!(given.attempts, 0);
        assert_eq!(store.finish_task(task.id, "r1", TaskState::Done, "done anyway").await.unwrap(), None);
        let stale = TaskSettled::Cancelled { why: "on an old read".to_owned() };
        assert_eq!(store.settle_task(&held, stale).await.unwrap(), None);

        let claimed = store.claim_task(task.id, "writer", "r2", ClaimVia::Dispatch, lease).await.unwrap();
        assert!(matches!(claimed, Claim::Claimed(_)), "{claimed:?}");
        let done = store.finish_task(task.id, "r2", TaskState::Done, "updated").await.unwrap().unwrap();
        let late = TaskSettled::Cancelled { why: "too late".to_owned() };
        assert_eq!(store.settle_task(&done, late).await.unwrap(), None);
        assert_eq!(store.task(task.id).await.unwrap().unwrap().result.as_deref(), Some("updated"));
        database.cleanup().await.unwrap();
    }
}
