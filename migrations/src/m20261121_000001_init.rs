use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Inbound {
    Table,
    Id,
    DedupeKey,
    Surface,
    Channel,
    ThreadId,
    Author,
    Kind,
    Body,
    ReceivedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum Threads {
    Table,
    Id,
    Surface,
    Channel,
    Title,
    Repo,
    Office,
    Confidence,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ThreadId,
    Author,
    FromNova,
    Kind,
    Body,
    Card,
    RunId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    Id,
    ThreadId,
    Office,
    Author,
    Text,
    State,
    RunId,
    InboundId,
    CreatedAt,
    DispatchedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Offices {
    Table,
    Name,
    State,
    Generation,
    LeaseOwner,
    LeaseUntil,
    Endpoint,
    TokenHash,
    SnapshotKey,
    SnapshotBytes,
    Failure,
    StateChangedAt,
    LastActiveAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Inbound::Table)
                    .col(ColumnDef::new(Inbound::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Inbound::DedupeKey).string().not_null().unique_key())
                    .col(ColumnDef::new(Inbound::Surface).string().not_null())
                    .col(ColumnDef::new(Inbound::Channel).string().not_null())
                    .col(ColumnDef::new(Inbound::ThreadId).string().not_null())
                    .col(ColumnDef::new(Inbound::Author).string().not_null())
                    .col(ColumnDef::new(Inbound::Kind).string().not_null())
                    .col(ColumnDef::new(Inbound::Body).text().not_null())
                    .col(ColumnDef::new(Inbound::ReceivedAt).big_integer().not_null())
                    .col(ColumnDef::new(Inbound::ProcessedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_inbound_pending")
                    .table(Inbound::Table)
                    .col(Inbound::ProcessedAt)
                    .col(Inbound::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Threads::Table)
                    .col(ColumnDef::new(Threads::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Threads::Surface).string().not_null())
                    .col(ColumnDef::new(Threads::Channel).string().not_null())
                    .col(ColumnDef::new(Threads::Title).text().not_null())
                    .col(ColumnDef::new(Threads::Repo).string().null())
                    .col(ColumnDef::new(Threads::Office).string().null())
                    .col(ColumnDef::new(Threads::Confidence).double().null())
                    .col(ColumnDef::new(Threads::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Threads::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_threads_channel")
                    .table(Threads::Table)
                    .col(Threads::Surface)
                    .col(Threads::Channel)
                    .col(Threads::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(ColumnDef::new(Messages::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Messages::ThreadId).string().not_null())
                    .col(ColumnDef::new(Messages::Author).string().not_null())
                    .col(ColumnDef::new(Messages::FromNova).boolean().not_null())
                    .col(ColumnDef::new(Messages::Kind).string().not_null())
                    .col(ColumnDef::new(Messages::Body).text().not_null())
                    .col(ColumnDef::new(Messages::Card).text().null())
                    .col(ColumnDef::new(Messages::RunId).string().null())
                    .col(ColumnDef::new(Messages::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Messages::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_thread")
                    .table(Messages::Table)
                    .col(Messages::ThreadId)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Prompts::Table)
                    .col(ColumnDef::new(Prompts::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Prompts::ThreadId).string().not_null())
                    .col(ColumnDef::new(Prompts::Office).string().not_null())
                    .col(ColumnDef::new(Prompts::Author).string().not_null())
                    .col(ColumnDef::new(Prompts::Text).text().not_null())
                    .col(ColumnDef::new(Prompts::State).string().not_null())
                    .col(ColumnDef::new(Prompts::RunId).string().not_null().unique_key())
                    .col(ColumnDef::new(Prompts::InboundId).big_integer().not_null().unique_key())
                    .col(ColumnDef::new(Prompts::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Prompts::DispatchedAt).big_integer().null())
                    .col(ColumnDef::new(Prompts::FinishedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_prompts_office_state")
                    .table(Prompts::Table)
                    .col(Prompts::Office)
                    .col(Prompts::State)
                    .col(Prompts::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Offices::Table)
                    .col(ColumnDef::new(Offices::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(Offices::State).string().not_null())
                    .col(ColumnDef::new(Offices::Generation).big_integer().not_null())
                    .col(ColumnDef::new(Offices::LeaseOwner).string().null())
                    .col(ColumnDef::new(Offices::LeaseUntil).big_integer().null())
                    .col(ColumnDef::new(Offices::Endpoint).string().null())
                    .col(ColumnDef::new(Offices::TokenHash).string().null())
                    .col(ColumnDef::new(Offices::SnapshotKey).string().null())
                    .col(ColumnDef::new(Offices::SnapshotBytes).big_integer().null())
                    .col(ColumnDef::new(Offices::Failure).text().null())
                    .col(ColumnDef::new(Offices::StateChangedAt).big_integer().not_null())
                    .col(ColumnDef::new(Offices::LastActiveAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Offices::Table.into_iden(),
            Prompts::Table.into_iden(),
            Messages::Table.into_iden(),
            Threads::Table.into_iden(),
            Inbound::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
