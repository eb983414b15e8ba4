use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Schedules: recurring prompts for an office, made in a thread (where each run's
/// result is posted), listed, paused and removed by chat.
#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    Office,
    /// As the orchestration contract writes it: `30m`, `weekday 09:00`, cron text.
    Every,
    Prompt,
    ThreadId,
    CreatedBy,
    CreatedAt,
    /// When it runs next (ms since the epoch); a paused schedule keeps it.
    NextAt,
    Paused,
    /// The run of its last tick: while that run is still going, a tick is skipped.
    LastRunId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(ColumnDef::new(Schedules::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Schedules::Office).string().not_null())
                    .col(ColumnDef::new(Schedules::Every).string().not_null())
                    .col(ColumnDef::new(Schedules::Prompt).text().not_null())
                    .col(ColumnDef::new(Schedules::ThreadId).string().not_null())
                    .col(ColumnDef::new(Schedules::CreatedBy).string().not_null())
                    .col(ColumnDef::new(Schedules::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Schedules::NextAt).big_integer().not_null())
                    .col(ColumnDef::new(Schedules::Paused).boolean().not_null().default(false))
                    .col(ColumnDef::new(Schedules::LastRunId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("schedules_by_next")
                    .table(Schedules::Table)
                    .col(Schedules::Paused)
                    .col(Schedules::NextAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("schedules_by_next").table(Schedules::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Schedules::Table).to_owned()).await
    }
}
