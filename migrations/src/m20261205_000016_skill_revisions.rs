use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every skill text an office was handed, by its revision: a run's audit names the
/// revisions it had, and `nova skill diff` shows what changed between two.
#[derive(DeriveIden)]
enum SkillRevisions {
    Table,
    Revision,
    Name,
    Text,
    FirstSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SkillRevisions::Table)
                    .col(ColumnDef::new(SkillRevisions::Revision).string().not_null().primary_key())
                    .col(ColumnDef::new(SkillRevisions::Name).string().not_null())
                    .col(ColumnDef::new(SkillRevisions::Text).text().not_null())
                    .col(ColumnDef::new(SkillRevisions::FirstSeen).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SkillRevisions::Table).to_owned()).await
    }
}
