use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Reviews of an office's change, in the thread that asked for it: one per thread and
/// repo, with a revision per change the office reports and every person's decision.
/// Moving to `merging` is a conditional update (`… WHERE state = 'open'`), so two
/// approvals at once make one merge.
#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    ThreadId,
    Office,
    Repo,
    Branch,
    Base,
    /// The person whose prompt started the work: they may not approve it.
    Requester,
    /// `open`, `changes_requested`, `merging`, `merged`, `approved`, `failed`.
    State,
    Revision,
    Head,
    /// The card in the thread, edited in place.
    MessageId,
    /// What a stage said (the merge commit, or why it failed).
    Outcome,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReviewRevisions {
    Table,
    ReviewId,
    Revision,
    Head,
    /// The commit the diff is from: where the branch left its base.
    BaseCommit,
    Summary,
    /// JSON: the tests the office says it ran, and their outcome.
    Tests,
    /// JSON: each file with its added and removed lines, as Nova computed them.
    Files,
    /// The whole diff, as Nova computed it from the repo.
    Diff,
    RunId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReviewDecisions {
    Table,
    Id,
    ReviewId,
    Revision,
    Author,
    /// `approve`, `request_changes`, `comment`.
    Verdict,
    Body,
    Path,
    Line,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reviews::Table)
                    .col(ColumnDef::new(Reviews::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Reviews::ThreadId).string().not_null())
                    .col(ColumnDef::new(Reviews::Office).string().not_null())
                    .col(ColumnDef::new(Reviews::Repo).string().not_null())
                    .col(ColumnDef::new(Reviews::Branch).string().not_null())
                    .col(ColumnDef::new(Reviews::Base).string().not_null())
                    .col(ColumnDef::new(Reviews::Requester).string().not_null())
                    .col(ColumnDef::new(Reviews::State).string().not_null())
                    .col(ColumnDef::new(Reviews::Revision).integer().not_null())
                    .col(ColumnDef::new(Reviews::Head).string().not_null())
                    .col(ColumnDef::new(Reviews::MessageId).big_integer().null())
                    .col(ColumnDef::new(Reviews::Outcome).text().null())
                    .col(ColumnDef::new(Reviews::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Reviews::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reviews_thread_repo")
                    .table(Reviews::Table)
                    .col(Reviews::ThreadId)
                    .col(Reviews::Repo)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewRevisions::Table)
                    .col(ColumnDef::new(ReviewRevisions::ReviewId).big_integer().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Revision).integer().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Head).string().not_null())
                    .col(ColumnDef::new(ReviewRevisions::BaseCommit).string().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Summary).text().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Tests).text().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Files).text().not_null())
                    .col(ColumnDef::new(ReviewRevisions::Diff).text().not_null())
                    .col(ColumnDef::new(ReviewRevisions::RunId).string().not_null())
                    .col(ColumnDef::new(ReviewRevisions::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(ReviewRevisions::ReviewId).col(ReviewRevisions::Revision))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewDecisions::Table)
                    .col(ColumnDef::new(ReviewDecisions::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(ReviewDecisions::ReviewId).big_integer().not_null())
                    .col(ColumnDef::new(ReviewDecisions::Revision).integer().not_null())
                    .col(ColumnDef::new(ReviewDecisions::Author).string().not_null())
                    .col(ColumnDef::new(ReviewDecisions::Verdict).string().not_null())
                    .col(ColumnDef::new(ReviewDecisions::Body).text().not_null())
                    .col(ColumnDef::new(ReviewDecisions::Path).string().null())
                    .col(ColumnDef::new(ReviewDecisions::Line).integer().null())
                    .col(ColumnDef::new(ReviewDecisions::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("review_decisions_review")
                    .table(ReviewDecisions::Table)
                    .col(ReviewDecisions::ReviewId)
                    .col(ReviewDecisions::Revision)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ReviewDecisions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ReviewRevisions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Reviews::Table).to_owned()).await
    }
}
