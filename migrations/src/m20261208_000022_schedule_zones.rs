use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A schedule said in a time zone of its own ("every weekday at 9am Pacific") keeps it:
/// its times of day are on that clock, not the workspace's. Null: the workspace's.
#[derive(DeriveIden)]
enum Schedules {
    Table,
    TimeZone,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Schedules::Table)
                    .add_column(ColumnDef::new(Schedules::TimeZone).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Schedules::Table).drop_column(Schedules::TimeZone).to_owned()).await
    }
}
