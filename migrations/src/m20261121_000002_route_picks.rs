use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Which office people picked for unclear messages, per channel: a routing prior.
#[derive(DeriveIden)]
enum RoutePicks {
    Table,
    Surface,
    Channel,
    Office,
    Count,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoutePicks::Table)
                    .col(ColumnDef::new(RoutePicks::Surface).string().not_null())
                    .col(ColumnDef::new(RoutePicks::Channel).string().not_null())
                    .col(ColumnDef::new(RoutePicks::Office).string().not_null())
                    .col(ColumnDef::new(RoutePicks::Count).big_integer().not_null())
                    .col(ColumnDef::new(RoutePicks::UpdatedAt).big_integer().not_null())
                    .primary_key(
                        Index::create().col(RoutePicks::Surface).col(RoutePicks::Channel).col(RoutePicks::Office),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RoutePicks::Table).to_owned()).await
    }
}
