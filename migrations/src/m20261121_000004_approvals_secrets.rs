use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Vault entries: sealed values only, never plaintext.
#[derive(DeriveIden)]
enum Secrets {
    Table,
    Scope,
    Name,
    Sealed,
    KeyId,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    Office,
    RunId,
    ThreadId,
    MessageId,
    Requester,
    Kind,
    Action,
    Details,
    Risk,
    Approvers,
    State,
    ExpiresAt,
    DecidedBy,
    DecidedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CredentialRequests {
    Table,
    Id,
    Office,
    RunId,
    ThreadId,
    MessageId,
    Name,
    Why,
    Scope,
    State,
    ProvidedBy,
    ProvidedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Secrets::Table)
                    .col(ColumnDef::new(Secrets::Scope).string().not_null())
                    .col(ColumnDef::new(Secrets::Name).string().not_null())
                    .col(ColumnDef::new(Secrets::Sealed).text().not_null())
                    .col(ColumnDef::new(Secrets::KeyId).string().not_null())
                    .col(ColumnDef::new(Secrets::UpdatedBy).string().not_null())
                    .col(ColumnDef::new(Secrets::UpdatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(Secrets::Scope).col(Secrets::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(ColumnDef::new(Approvals::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Approvals::Office).string().not_null())
                    .col(ColumnDef::new(Approvals::RunId).string().not_null())
                    .col(ColumnDef::new(Approvals::ThreadId).string().not_null())
                    .col(ColumnDef::new(Approvals::MessageId).big_integer().null())
                    .col(ColumnDef::new(Approvals::Requester).string().not_null())
                    .col(ColumnDef::new(Approvals::Kind).string().not_null())
                    .col(ColumnDef::new(Approvals::Action).text().not_null())
                    .col(ColumnDef::new(Approvals::Details).text().not_null())
                    .col(ColumnDef::new(Approvals::Risk).string().not_null())
                    .col(ColumnDef::new(Approvals::Approvers).text().not_null())
                    .col(ColumnDef::new(Approvals::State).string().not_null())
                    .col(ColumnDef::new(Approvals::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(Approvals::DecidedBy).string().null())
                    .col(ColumnDef::new(Approvals::DecidedAt).big_integer().null())
                    .col(ColumnDef::new(Approvals::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_approvals_state")
                    .table(Approvals::Table)
                    .col(Approvals::State)
                    .col(Approvals::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CredentialRequests::Table)
                    .col(ColumnDef::new(CredentialRequests::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(CredentialRequests::Office).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::RunId).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::ThreadId).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::MessageId).big_integer().null())
                    .col(ColumnDef::new(CredentialRequests::Name).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::Why).text().not_null())
                    .col(ColumnDef::new(CredentialRequests::Scope).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::State).string().not_null())
                    .col(ColumnDef::new(CredentialRequests::ProvidedBy).string().null())
                    .col(ColumnDef::new(CredentialRequests::ProvidedAt).big_integer().null())
                    .col(ColumnDef::new(CredentialRequests::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CredentialRequests::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Approvals::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Secrets::Table).to_owned()).await
    }
}
