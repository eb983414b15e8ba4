use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The audit trail: one append-only row per state change, with actor, office and run.
#[derive(DeriveIden)]
enum Audit {
    Table,
    Id,
    At,
    Actor,
    Office,
    RunId,
    Action,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Audit::Table)
                    .col(ColumnDef::new(Audit::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Audit::At).big_integer().not_null())
                    .col(ColumnDef::new(Audit::Actor).string().not_null())
                    .col(ColumnDef::new(Audit::Office).string().null())
                    .col(ColumnDef::new(Audit::RunId).string().null())
                    .col(ColumnDef::new(Audit::Action).string().not_null())
                    .col(ColumnDef::new(Audit::Details).text().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("idx_audit_office", Audit::Office), ("idx_audit_run", Audit::RunId), ("idx_audit_at", Audit::At)]
        {
            manager.create_index(Index::create().name(name).table(Audit::Table).col(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Audit::Table).to_owned()).await
    }
}
