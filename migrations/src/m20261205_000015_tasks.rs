use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tasks: work with an owner office, a state, a priority, a parent and dependencies,
/// born in a thread. A claim is a conditional update on `generation`
/// (`… WHERE id = ? AND state = 'open' AND generation = ?`), so two claimers never both
/// win, on SQLite or Postgres.
#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Title,
    Body,
    /// The office it is for; none: any office may claim it.
    Owner,
    /// `open`, `claimed`, `done`, `failed`, `cancelled`.
    State,
    Priority,
    ParentId,
    /// The thread it came from, where its runs and outcome are said.
    ThreadId,
    CreatedBy,
    /// The run that made it, when an office did.
    CreatedRun,
    /// The office holding the claim, the run it holds it for, and how it got it
    /// (`dispatch`: Nova handed it to the office as a run; `office`: the office claimed it).
    Holder,
    HolderRun,
    ClaimedVia,
    /// A claim whose run is not alive is taken back once this has passed.
    LeaseUntil,
    /// Bumped by every claim and release: a late answer from an old claim is refused.
    Generation,
    Attempts,
    Result,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TaskDeps {
    Table,
    TaskId,
    DependsOn,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Tasks::Title).string().not_null())
                    .col(ColumnDef::new(Tasks::Body).text().not_null())
                    .col(ColumnDef::new(Tasks::Owner).string().null())
                    .col(ColumnDef::new(Tasks::State).string().not_null())
                    .col(ColumnDef::new(Tasks::Priority).integer().not_null())
                    .col(ColumnDef::new(Tasks::ParentId).big_integer().null())
                    .col(ColumnDef::new(Tasks::ThreadId).string().not_null())
                    .col(ColumnDef::new(Tasks::CreatedBy).string().not_null())
                    .col(ColumnDef::new(Tasks::CreatedRun).string().null())
                    .col(ColumnDef::new(Tasks::Holder).string().null())
                    .col(ColumnDef::new(Tasks::HolderRun).string().null())
                    .col(ColumnDef::new(Tasks::ClaimedVia).string().null())
                    .col(ColumnDef::new(Tasks::LeaseUntil).big_integer().null())
                    .col(ColumnDef::new(Tasks::Generation).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::Attempts).integer().not_null())
                    .col(ColumnDef::new(Tasks::Result).text().null())
                    .col(ColumnDef::new(Tasks::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_by_state")
                    .table(Tasks::Table)
                    .col(Tasks::State)
                    .col(Tasks::Owner)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("tasks_by_holder_run").table(Tasks::Table).col(Tasks::HolderRun).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskDeps::Table)
                    .col(ColumnDef::new(TaskDeps::TaskId).big_integer().not_null())
                    .col(ColumnDef::new(TaskDeps::DependsOn).big_integer().not_null())
                    .primary_key(Index::create().col(TaskDeps::TaskId).col(TaskDeps::DependsOn))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("task_deps_by_dependency")
                    .table(TaskDeps::Table)
                    .col(TaskDeps::DependsOn)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TaskDeps::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Tasks::Table).to_owned()).await
    }
}
