use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Pre-booted VMs waiting to be claimed by an office, per (tier, image).
#[derive(DeriveIden)]
enum WarmVms {
    Table,
    Name,
    Tier,
    Image,
    Zone,
    /// `warm` (claimable), `claimed` (an office's now).
    State,
    Office,
    CreatedAt,
    ClaimedAt,
    ExpiresAt,
}

/// One holder at a time for work only one replica should do (the pool reconciler).
#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    Until,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WarmVms::Table)
                    .col(ColumnDef::new(WarmVms::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(WarmVms::Tier).integer().not_null())
                    .col(ColumnDef::new(WarmVms::Image).string().not_null())
                    .col(ColumnDef::new(WarmVms::Zone).string().not_null())
                    .col(ColumnDef::new(WarmVms::State).string().not_null())
                    .col(ColumnDef::new(WarmVms::Office).string().null())
                    .col(ColumnDef::new(WarmVms::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(WarmVms::ClaimedAt).big_integer().null())
                    .col(ColumnDef::new(WarmVms::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("warm_vms_claimable")
                    .table(WarmVms::Table)
                    .col(WarmVms::State)
                    .col(WarmVms::Tier)
                    .col(WarmVms::Image)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .col(ColumnDef::new(Leases::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(Leases::Holder).string().not_null())
                    .col(ColumnDef::new(Leases::Until).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Leases::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WarmVms::Table).to_owned()).await
    }
}
