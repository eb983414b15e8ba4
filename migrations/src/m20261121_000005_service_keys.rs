use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each office's service key id (`hsk_<id>`): stable across rotations of its secret.
#[derive(DeriveIden)]
enum Offices {
    Table,
    ServiceKeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Offices::Table)
                    .add_column(ColumnDef::new(Offices::ServiceKeyId).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Offices::Table).drop_column(Offices::ServiceKeyId).to_owned()).await
    }
}
