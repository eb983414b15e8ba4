use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How people sign in to the console: one-time login links (`nova login`) and the
/// sessions they open. Only a SHA-256 of each token is stored, so a copy of the
/// database signs nobody in.
#[derive(DeriveIden)]
enum ConsoleTokens {
    Table,
    TokenHash,
    /// `link` (redeemed once) or `session` (the cookie's).
    Kind,
    Person,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleTokens::Table)
                    .col(ColumnDef::new(ConsoleTokens::TokenHash).string().not_null().primary_key())
                    .col(ColumnDef::new(ConsoleTokens::Kind).string().not_null())
                    .col(ColumnDef::new(ConsoleTokens::Person).string().not_null())
                    .col(ColumnDef::new(ConsoleTokens::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(ConsoleTokens::UsedAt).big_integer().null())
                    .col(ColumnDef::new(ConsoleTokens::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConsoleTokens::Table).to_owned()).await
    }
}
