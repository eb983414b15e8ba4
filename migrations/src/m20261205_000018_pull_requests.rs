use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Reviews of repos on GitHub: each has a pull request there, and the reviews left on it
/// count in the thread. A decision that came from GitHub carries GitHub's id for it, so
/// a delivery GitHub makes twice is recorded once.
#[derive(DeriveIden)]
enum Reviews {
    Table,
    /// The pull request's number on the repo's GitHub repository.
    PullRequest,
}

#[derive(DeriveIden)]
enum ReviewDecisions {
    Table,
    /// `github:review:<id>` or `github:comment:<id>`; none for a decision made in Nova.
    ExternalId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reviews::Table)
                    .add_column(ColumnDef::new(Reviews::PullRequest).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ReviewDecisions::Table)
                    .add_column(ColumnDef::new(ReviewDecisions::ExternalId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("review_decisions_external")
                    .table(ReviewDecisions::Table)
                    .col(ReviewDecisions::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("review_decisions_external").table(ReviewDecisions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(ReviewDecisions::Table).drop_column(ReviewDecisions::ExternalId).to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table(Reviews::Table).drop_column(Reviews::PullRequest).to_owned()).await
    }
}
