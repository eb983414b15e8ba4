use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Reads by thread that had no index and so read whole tables: a thread's prompts (read
/// as each of its runs starts and ends: under a burst on Postgres this was the engine's
/// costliest read) and a thread's inbound events (escalations).
#[derive(DeriveIden)]
enum Prompts {
    Table,
    ThreadId,
    Id,
}

#[derive(DeriveIden)]
enum Inbound {
    Table,
    ThreadId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let indexes = [
            Index::create()
                .name("idx_prompts_thread")
                .table(Prompts::Table)
                .col(Prompts::ThreadId)
                .col(Prompts::Id)
                .to_owned(),
            Index::create().name("idx_inbound_thread").table(Inbound::Table).col(Inbound::ThreadId).to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_inbound_thread").table(Inbound::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_prompts_thread").table(Prompts::Table).to_owned()).await
    }
}
