//! Warm pools in the store: claims are conditional updates, so two replicas (or two
//! wakes in one) never get the same VM; and a lease names the one replica that
//! reconciles the pools.

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Lane, Store, leases, warm_vms};

pub const WARM: &str = "warm";
pub const CLAIMED: &str = "claimed";

impl Store {
    pub async fn add_warm_vm(&self, vm: warm_vms::Model) -> anyhow::Result<()> {
        warm_vms::Entity::insert(warm_vms::ActiveModel {
            name: Set(vm.name),
            tier: Set(vm.tier),
            image: Set(vm.image),
            zone: Set(vm.zone),
            state: Set(vm.state),
            office: Set(vm.office),
            created_at: Set(vm.created_at),
            claimed_at: Set(vm.claimed_at),
            expires_at: Set(vm.expires_at),
        })
        .on_conflict(OnConflict::column(warm_vms::Column::Name).do_nothing().to_owned())
        .exec_without_returning(&*self.writer(Lane::Background).await)
        .await?;
        Ok(())
    }

    /// Claims the oldest unexpired warm VM of (tier, image) for `office`; `None` when
    /// the pool is empty. Atomic: a VM is claimed by exactly one caller.
    pub async fn claim_warm_vm(
        &self,
        tier: i32,
        image: &str,
        office: &str,
        now: i64,
    ) -> anyhow::Result<Option<warm_vms::Model>> {
        loop {
            let candidates = warm_vms::Entity::find()
                .filter(warm_vms::Column::State.eq(WARM))
                .filter(warm_vms::Column::Tier.eq(tier))
                .filter(warm_vms::Column::Image.eq(image))
                .filter(warm_vms::Column::ExpiresAt.gt(now))
                .order_by_asc(warm_vms::Column::CreatedAt)
                .limit(4)
                .all(&self.db)
                .await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            for candidate in candidates {
                let claimed = warm_vms::Entity::update_many()
                    .col_expr(warm_vms::Column::State, Expr::value(CLAIMED))
                    .col_expr(warm_vms::Column::Office, Expr::value(office))
                    .col_expr(warm_vms::Column::ClaimedAt, Expr::value(now))
                    .filter(warm_vms::Column::Name.eq(&candidate.name))
                    .filter(warm_vms::Column::State.eq(WARM))
                    .exec(&*self.writer(Lane::Background).await)
                    .await?;
                if claimed.rows_affected == 1 {
                    return Ok(Some(warm_vms::Model {
                        state: CLAIMED.to_owned(),
                        office: Some(office.to_owned()),
                        claimed_at: Some(now),
                        ..candidate
                    }));
                }
                // Someone else took it a moment ago: try the next.
            }
        }
    }

    /// Warm (unclaimed) VMs of one (tier, image).
    pub async fn count_warm_vms(&self, tier: i32, image: &str) -> anyhow::Result<u64> {
        Ok(warm_vms::Entity::find()
            .filter(warm_vms::Column::State.eq(WARM))
            .filter(warm_vms::Column::Tier.eq(tier))
            .filter(warm_vms::Column::Image.eq(image))
            .count(&self.db)
            .await?)
    }

    /// Warm VMs to take out: expired ones, and ones of another image than `image`.
    pub async fn stale_warm_vms(&self, image: &str, now: i64) -> anyhow::Result<Vec<warm_vms::Model>> {
        Ok(warm_vms::Entity::find()
            .filter(warm_vms::Column::State.eq(WARM))
            .filter(warm_vms::Column::ExpiresAt.lte(now).or(warm_vms::Column::Image.ne(image)))
            .order_by_asc(warm_vms::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Removes a warm VM's row, unless someone claimed it meanwhile (a claimed VM is
    /// never retired). `true`: it was removed and its VM may be deleted.
    pub async fn retire_warm_vm(&self, name: &str) -> anyhow::Result<bool> {
        let removed = warm_vms::Entity::delete_many()
            .filter(warm_vms::Column::Name.eq(name))
            .filter(warm_vms::Column::State.eq(WARM))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(removed.rows_affected == 1)
    }

    /// Whether a pool VM (warm or claimed) is on record.
    /// The pool VM `office` claimed, if it still has one.
    pub async fn claimed_vm_of(&self, office: &str) -> anyhow::Result<Option<warm_vms::Model>> {
        Ok(warm_vms::Entity::find()
            .filter(warm_vms::Column::Office.eq(office))
            .filter(warm_vms::Column::State.eq(CLAIMED))
            .order_by_desc(warm_vms::Column::ClaimedAt)
            .one(&self.db)
            .await?)
    }

    pub async fn warm_vm(&self, name: &str) -> anyhow::Result<Option<warm_vms::Model>> {
        Ok(warm_vms::Entity::find_by_id(name.to_owned()).one(&self.db).await?)
    }

    /// Forgets a claimed VM (its office deleted it on sleep).
    pub async fn forget_claimed_vm(&self, name: &str) -> anyhow::Result<()> {
        warm_vms::Entity::delete_many()
            .filter(warm_vms::Column::Name.eq(name))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// Takes or keeps the lease `name` for `holder` until `until`; `false` while
    /// another holder's lease runs.
    pub async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> anyhow::Result<bool> {
        leases::Entity::insert(leases::ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            until: Set(until),
        })
        .on_conflict(OnConflict::column(leases::Column::Name).do_nothing().to_owned())
        .exec_without_returning(&*self.writer(Lane::Background).await)
        .await?;
        let taken = leases::Entity::update_many()
            .col_expr(leases::Column::Holder, Expr::value(holder))
            .col_expr(leases::Column::Until, Expr::value(until))
            .filter(leases::Column::Name.eq(name))
            .filter(leases::Column::Holder.eq(holder).or(leases::Column::Until.lt(now)))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(taken.rows_affected == 1)
    }
}
