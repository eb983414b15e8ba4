use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A soft wake started by a typing signal: the office stays up until `prewarm_until`
/// only if a prompt follows; otherwise it goes back to sleep then, not after the full
/// idle timeout. `prewarmed_at` is when the signal came, to measure how early it was.
#[derive(DeriveIden)]
enum Offices {
    Table,
    PrewarmUntil,
    PrewarmedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Offices::Table)
                    .add_column(ColumnDef::new(Offices::PrewarmUntil).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Offices::Table)
                    .add_column(ColumnDef::new(Offices::PrewarmedAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Offices::Table).drop_column(Offices::PrewarmedAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Offices::Table).drop_column(Offices::PrewarmUntil).to_owned()).await
    }
}
