use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How often an office's people come back is read from its recent prompts' times when
/// it goes idle (`orchestrator::demand`): an index on (office, created_at) keeps that a
/// range read however long the office's history grows.
#[derive(DeriveIden)]
enum Prompts {
    Table,
    Office,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_prompts_office_created")
                    .table(Prompts::Table)
                    .col(Prompts::Office)
                    .col(Prompts::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_prompts_office_created").table(Prompts::Table).to_owned()).await
    }
}
