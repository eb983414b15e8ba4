use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A prewarm started by the office's habits rather than a typing signal: it does not
/// count against `max_prewarms` (which caps what people's typing can wake), and its hits
/// and misses are told apart in the audit trail and metrics.
#[derive(DeriveIden)]
enum Offices {
    Table,
    PrewarmHabit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Offices::Table)
                    .add_column(ColumnDef::new(Offices::PrewarmHabit).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Offices::Table).drop_column(Offices::PrewarmHabit).to_owned()).await
    }
}
