use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The outbox row names the revision it was queued for. A mirror takes a row off only
/// up to the revision it sent, in the row itself: on Postgres an edit committed while
/// the mirror was marking the previous revision sent can then no longer be taken off
/// with it (a check on the messages table, seen from the mirror's older snapshot, let
/// that happen, and the edit never reached the platform).
#[derive(DeriveIden)]
enum Outbox {
    Table,
    Revision,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::Revision).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::Revision).to_owned()).await
    }
}
