//! Fleet changes in the store (see [`crate::config::edit`]): recorded with the approval
//! they wait for in one transaction, and in force once it is approved.

use std::collections::HashSet;

use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::{Lane, Store, approvals, fleet_changes, now_ms};

impl Store {
    /// Records a change, and the approval it waits for (if it needs one), together.
    pub async fn insert_fleet_change(
        &self,
        change: &str,
        asked_by: &str,
        thread_id: Option<&str>,
        approval: Option<approvals::Model>,
    ) -> anyhow::Result<fleet_changes::Model> {
        let writer = self.writer(Lane::Background).await;
        let txn = writer.begin().await?;
        let approval_id = approval.as_ref().map(|a| a.id.clone());
        if let Some(approval) = approval {
            approvals::Entity::insert(approvals::ActiveModel::from(approval)).exec_without_returning(&txn).await?;
        }
        let row = fleet_changes::ActiveModel {
            id: NotSet,
            change: Set(change.to_owned()),
            asked_by: Set(asked_by.to_owned()),
            thread_id: Set(thread_id.map(str::to_owned)),
            approval_id: Set(approval_id),
            created_at: Set(now_ms()),
        };
        let inserted = fleet_changes::Entity::insert(row).exec_with_returning(&txn).await?;
        txn.commit().await?;
        Ok(inserted)
    }

    /// The changes in force, in the order they were made: those that needed no approval
    /// and those whose approval was approved.
    pub async fn fleet_changes_in_force(&self) -> anyhow::Result<Vec<fleet_changes::Model>> {
        let changes = fleet_changes::Entity::find().order_by_asc(fleet_changes::Column::Id).all(self.db()).await?;
        let waiting: Vec<String> = changes.iter().filter_map(|c| c.approval_id.clone()).collect();
        let approved: HashSet<String> = if waiting.is_empty() {
            HashSet::new()
        } else {
            approvals::Entity::find()
                .filter(approvals::Column::Id.is_in(waiting))
                .filter(approvals::Column::State.eq("approved"))
                .all(self.db())
                .await?
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        Ok(changes.into_iter().filter(|c| c.approval_id.as_ref().is_none_or(|id| approved.contains(id))).collect())
    }

    /// The change an approval is for.
    pub async fn fleet_change_for(&self, approval_id: &str) -> anyhow::Result<Option<fleet_changes::Model>> {
        Ok(fleet_changes::Entity::find()
            .filter(fleet_changes::Column::ApprovalId.eq(approval_id))
            .one(self.db())
            .await?)
    }
}
