use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Fleet changes made while Nova runs (chat, console, `/api`): the live fleet is
/// nova.toml with every change in force written in, in order. A change that waits for
/// an approval is in force once its approval is approved, so approving it is one
/// conditional update and a crash right after loses nothing.
#[derive(DeriveIden)]
enum FleetChanges {
    Table,
    Id,
    /// The change, as the orchestration contract writes an action (`{"action", "args"}`).
    Change,
    AskedBy,
    /// The thread it was asked in, where its outcome is said.
    ThreadId,
    /// The approval it waits for; none: in force at once.
    ApprovalId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FleetChanges::Table)
                    .col(ColumnDef::new(FleetChanges::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(FleetChanges::Change).text().not_null())
                    .col(ColumnDef::new(FleetChanges::AskedBy).string().not_null())
                    .col(ColumnDef::new(FleetChanges::ThreadId).string().null())
                    .col(ColumnDef::new(FleetChanges::ApprovalId).string().null().unique_key())
                    .col(ColumnDef::new(FleetChanges::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(FleetChanges::Table).to_owned()).await
    }
}
