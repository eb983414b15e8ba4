use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Handoffs: a prompt one office hands another names the run it came from, so that
/// its result goes back to that office's session.
#[derive(DeriveIden)]
enum Prompts {
    Table,
    HandoffFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Prompts::Table)
                    .add_column(ColumnDef::new(Prompts::HandoffFrom).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("prompts_by_handoff").table(Prompts::Table).col(Prompts::HandoffFrom).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("prompts_by_handoff").table(Prompts::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Prompts::Table).drop_column(Prompts::HandoffFrom).to_owned()).await
    }
}
