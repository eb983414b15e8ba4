use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Lookups the engine makes on every run event, dispatch and step, which scanned whole
/// tables before: a run's prompt and its progress message by run id, held prompts by
/// state, offices by state.
#[derive(DeriveIden)]
enum Prompts {
    Table,
    RunId,
    State,
    Office,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    RunId,
}

#[derive(DeriveIden)]
enum Offices {
    Table,
    State,
}

/// Nova messages a chat platform does not show in their latest revision yet: a mirror
/// reads this short list instead of comparing every message with `surface_posts`.
/// A row is added when a Nova message in a platform thread is posted or edited, and
/// removed once the platform shows its latest revision.
#[derive(DeriveIden)]
enum Outbox {
    Table,
    MessageId,
    Surface,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let indexes = [
            Index::create().name("idx_prompts_run").table(Prompts::Table).col(Prompts::RunId).to_owned(),
            Index::create()
                .name("idx_prompts_state")
                .table(Prompts::Table)
                .col(Prompts::State)
                .col(Prompts::Office)
                .to_owned(),
            Index::create().name("idx_messages_run").table(Messages::Table).col(Messages::RunId).to_owned(),
            Index::create().name("idx_offices_state").table(Offices::Table).col(Offices::State).to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::MessageId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(Outbox::Surface).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_surface")
                    .table(Outbox::Table)
                    .col(Outbox::Surface)
                    .col(Outbox::MessageId)
                    .to_owned(),
            )
            .await?;
        // What the mirrors had not sent yet when this Nova stopped.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO outbox (message_id, surface) \
                 SELECT m.id, t.surface FROM messages m \
                 JOIN threads t ON t.id = m.thread_id \
                 LEFT JOIN surface_posts p ON p.message_id = m.id \
                 WHERE m.from_nova = TRUE AND t.surface <> 'console' \
                 AND (p.message_id IS NULL OR p.synced_revision < m.revision)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_prompts_run").table(Prompts::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_prompts_state").table(Prompts::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_messages_run").table(Messages::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_offices_state").table(Offices::Table).to_owned()).await?;
        Ok(())
    }
}
