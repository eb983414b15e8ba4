//! Schedules in the store: recurring prompts, what is due, and each tick taken once.
//! A tick is recorded as an inbound event (its dedupe key names the schedule and the
//! time it was due) before the schedule moves on, so a crash between the two repeats
//! nothing and loses nothing.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Lane, Store, now_ms, schedules};

/// A schedule to make, as chat or `/api` asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub office: String,
    pub every: String,
    pub prompt: String,
    pub thread_id: String,
    pub created_by: String,
    pub next_at: i64,
    /// The clock it was said on, when not the workspace's (a tz database name).
    pub time_zone: Option<String>,
}

impl Store {
    pub async fn schedule(&self, id: i64) -> anyhow::Result<Option<schedules::Model>> {
        Ok(schedules::Entity::find_by_id(id).one(self.db()).await?)
    }

    /// Every schedule (or one office's), oldest first.
    pub async fn schedules(&self, office: Option<&str>) -> anyhow::Result<Vec<schedules::Model>> {
        let mut query = schedules::Entity::find().order_by_asc(schedules::Column::Id);
        if let Some(office) = office {
            query = query.filter(schedules::Column::Office.eq(office));
        }
        Ok(query.all(self.db()).await?)
    }

    /// Schedules due at `now`, not paused, the most overdue first.
    pub async fn due_schedules(&self, now: i64, limit: u64) -> anyhow::Result<Vec<schedules::Model>> {
        Ok(schedules::Entity::find()
            .filter(schedules::Column::Paused.eq(false))
            .filter(schedules::Column::NextAt.lte(now))
            .order_by_asc(schedules::Column::NextAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// When the next schedule is due, if any is running.
    pub async fn next_schedule_at(&self) -> anyhow::Result<Option<i64>> {
        Ok(schedules::Entity::find()
            .select_only()
            .column_as(schedules::Column::NextAt.min(), "next_at")
            .filter(schedules::Column::Paused.eq(false))
            .into_tuple::<Option<i64>>()
            .one(self.db())
            .await?
            .flatten())
    }

    /// Moves a schedule on from the tick due at `due_at` to `next_at`; false when
    /// another replica (or an earlier pass) moved it already.
    pub async fn advance_schedule(&self, id: i64, due_at: i64, next_at: i64) -> anyhow::Result<bool> {
        let moved = schedules::Entity::update_many()
            .col_expr(schedules::Column::NextAt, Expr::value(next_at))
            .filter(schedules::Column::Id.eq(id))
            .filter(schedules::Column::NextAt.eq(due_at))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(moved.rows_affected == 1)
    }

    /// Pauses or resumes a schedule; a resumed one runs next at `next_at`. False: no such schedule.
    pub async fn set_schedule_paused(&self, id: i64, paused: bool, next_at: i64) -> anyhow::Result<bool> {
        let changed = schedules::Entity::update_many()
            .col_expr(schedules::Column::Paused, Expr::value(paused))
            .col_expr(schedules::Column::NextAt, Expr::value(next_at))
            .filter(schedules::Column::Id.eq(id))
            .exec(&*self.writer(Lane::Route).await)
            .await?;
        Ok(changed.rows_affected == 1)
    }

    /// False: no such schedule.
    pub async fn remove_schedule(&self, id: i64) -> anyhow::Result<bool> {
        let removed = schedules::Entity::delete_by_id(id).exec(&*self.writer(Lane::Route).await).await?;
        Ok(removed.rows_affected == 1)
    }
}

/// Writes a new schedule inside the transaction of the message that asked for it.
pub(super) async fn create(txn: &impl sea_orm::ConnectionTrait, new: &NewSchedule) -> anyhow::Result<i64> {
    let inserted = schedules::Entity::insert(schedules::ActiveModel {
        id: NotSet,
        office: Set(new.office.clone()),
        every: Set(new.every.clone()),
        prompt: Set(new.prompt.clone()),
        thread_id: Set(new.thread_id.clone()),
        created_by: Set(new.created_by.clone()),
        created_at: Set(now_ms()),
        next_at: Set(new.next_at),
        paused: Set(false),
        last_run_id: Set(None),
        time_zone: Set(new.time_zone.clone()),
    })
    .exec(txn)
    .await?;
    Ok(inserted.last_insert_id)
}

/// Records which run a tick started, inside the transaction that queues it.
pub(super) async fn ran(txn: &impl sea_orm::ConnectionTrait, id: i64, run_id: &str) -> anyhow::Result<()> {
    schedules::Entity::update_many()
        .col_expr(schedules::Column::LastRunId, Expr::value(run_id))
        .filter(schedules::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}
