use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every edit of a message bumps its revision, so a surface mirror can tell which
/// messages changed since it last sent them (timestamps can collide within a millisecond).
#[derive(DeriveIden)]
enum Messages {
    Table,
    Revision,
}

/// Where a Nova message lives on a chat platform (Slack's `ts`, Discord's message id),
/// and which revision of it the platform shows.
#[derive(DeriveIden)]
enum SurfacePosts {
    Table,
    MessageId,
    Surface,
    ExternalId,
    SyncedRevision,
    ClaimedUntil,
    Attempts,
    LastError,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(ColumnDef::new(Messages::Revision).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SurfacePosts::Table)
                    .col(ColumnDef::new(SurfacePosts::MessageId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(SurfacePosts::Surface).string().not_null())
                    .col(ColumnDef::new(SurfacePosts::ExternalId).string().null())
                    .col(ColumnDef::new(SurfacePosts::SyncedRevision).big_integer().not_null())
                    .col(ColumnDef::new(SurfacePosts::ClaimedUntil).big_integer().null())
                    .col(ColumnDef::new(SurfacePosts::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(SurfacePosts::LastError).text().null())
                    .col(ColumnDef::new(SurfacePosts::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("surface_posts_external")
                    .table(SurfacePosts::Table)
                    .col(SurfacePosts::Surface)
                    .col(SurfacePosts::ExternalId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SurfacePosts::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::Revision).to_owned()).await
    }
}
