//! Approvals, credential requests and vault entries in the store. Every state change
//! is a conditional update on the state it expects, so a decision happens once.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{ApprovalState, CredentialState, Lane, Store, approvals, credential_requests, now_ms, offices, secrets};

impl Store {
    pub async fn office_by_service_key(&self, id: &str) -> anyhow::Result<Option<offices::Model>> {
        Ok(offices::Entity::find().filter(offices::Column::ServiceKeyId.eq(id)).one(self.db()).await?)
    }

    /// Gives an office (created before service keys existed) its key id.
    pub async fn assign_service_key_id(&self, office: &str) -> anyhow::Result<String> {
        let id = format!("{:016x}", rand::random::<u64>());
        offices::Entity::update_many()
            .col_expr(offices::Column::ServiceKeyId, Expr::value(id.clone()))
            .filter(offices::Column::Name.eq(office))
            .filter(offices::Column::ServiceKeyId.is_null())
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        let office = offices::Entity::find_by_id(office.to_owned()).one(self.db()).await?;
        Ok(office.and_then(|o| o.service_key_id).unwrap_or(id))
    }

    pub async fn insert_approval(&self, approval: approvals::Model) -> anyhow::Result<()> {
        approvals::Entity::insert(approvals::ActiveModel::from(approval))
            .exec_without_returning(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// The run's earlier ask for the same action, unless it expired: a run that is
    /// re-run (its office was lost) finds the answer it was waiting for.
    pub async fn earlier_approval(
        &self,
        run_id: &str,
        kind: &str,
        action: &str,
    ) -> anyhow::Result<Option<approvals::Model>> {
        Ok(approvals::Entity::find()
            .filter(approvals::Column::RunId.eq(run_id))
            .filter(approvals::Column::Kind.eq(kind))
            .filter(approvals::Column::Action.eq(action))
            .filter(approvals::Column::State.ne(ApprovalState::Expired))
            .one(self.db())
            .await?)
    }

    pub async fn earlier_credential_request(
        &self,
        run_id: &str,
        name: &str,
    ) -> anyhow::Result<Option<credential_requests::Model>> {
        Ok(credential_requests::Entity::find()
            .filter(credential_requests::Column::RunId.eq(run_id))
            .filter(credential_requests::Column::Name.eq(name))
            .one(self.db())
            .await?)
    }

    pub async fn approval(&self, id: &str) -> anyhow::Result<Option<approvals::Model>> {
        Ok(approvals::Entity::find_by_id(id.to_owned()).one(self.db()).await?)
    }

    pub async fn set_approval_card(&self, id: &str, message_id: i64) -> anyhow::Result<()> {
        approvals::Entity::update_many()
            .col_expr(approvals::Column::MessageId, Expr::value(message_id))
            .filter(approvals::Column::Id.eq(id))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// `pending → approved|rejected`, only while pending and unexpired; `true` if this
    /// call decided it.
    pub async fn decide_approval(&self, id: &str, state: ApprovalState, by: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let result = approvals::Entity::update_many()
            .col_expr(approvals::Column::State, Expr::value(state.as_str()))
            .col_expr(approvals::Column::DecidedBy, Expr::value(by))
            .col_expr(approvals::Column::DecidedAt, Expr::value(now))
            .filter(approvals::Column::Id.eq(id))
            .filter(approvals::Column::State.eq(ApprovalState::Pending))
            .filter(approvals::Column::ExpiresAt.gt(now))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Pending approvals whose time is up, each marked expired by this call.
    pub async fn expire_approvals(&self) -> anyhow::Result<Vec<approvals::Model>> {
        let now = now_ms();
        let due = approvals::Entity::find()
            .filter(approvals::Column::State.eq(ApprovalState::Pending))
            .filter(approvals::Column::ExpiresAt.lte(now))
            .all(self.db())
            .await?;
        let mut expired = Vec::new();
        for approval in due {
            let moved = approvals::Entity::update_many()
                .col_expr(approvals::Column::State, Expr::value(ApprovalState::Expired.as_str()))
                .filter(approvals::Column::Id.eq(&approval.id))
                .filter(approvals::Column::State.eq(ApprovalState::Pending))
                .exec(&*self.writer(Lane::Background).await)
                .await?;
            if moved.rows_affected == 1 {
                expired.push(approvals::Model { state: ApprovalState::Expired, ..approval });
            }
        }
        Ok(expired)
    }

    /// An office's approvals of one kind (in one thread, or any), made since `since`.
    pub async fn approvals_of_kind(
        &self,
        office: &str,
        kind: &str,
        thread_id: Option<&str>,
        since: i64,
    ) -> anyhow::Result<Vec<approvals::Model>> {
        let mut query = approvals::Entity::find().filter(approvals::Column::Office.eq(office));
        if let Some(thread_id) = thread_id {
            query = query.filter(approvals::Column::ThreadId.eq(thread_id));
        }
        Ok(query
            .filter(approvals::Column::Kind.eq(kind))
            .filter(approvals::Column::CreatedAt.gte(since))
            .all(self.db())
            .await?)
    }

    pub async fn approvals_in_state(&self, state: ApprovalState) -> anyhow::Result<Vec<approvals::Model>> {
        Ok(approvals::Entity::find()
            .filter(approvals::Column::State.eq(state))
            .order_by_asc(approvals::Column::CreatedAt)
            .all(self.db())
            .await?)
    }

    pub async fn insert_credential_request(&self, request: credential_requests::Model) -> anyhow::Result<()> {
        credential_requests::Entity::insert(credential_requests::ActiveModel::from(request))
            .exec_without_returning(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    pub async fn credential_request(&self, id: &str) -> anyhow::Result<Option<credential_requests::Model>> {
        Ok(credential_requests::Entity::find_by_id(id.to_owned()).one(self.db()).await?)
    }

    pub async fn set_credential_card(&self, id: &str, message_id: i64) -> anyhow::Result<()> {
        credential_requests::Entity::update_many()
            .col_expr(credential_requests::Column::MessageId, Expr::value(message_id))
            .filter(credential_requests::Column::Id.eq(id))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(())
    }

    /// `pending → provided`; `true` if this call did it.
    pub async fn mark_credential_provided(&self, id: &str, by: &str) -> anyhow::Result<bool> {
        let result = credential_requests::Entity::update_many()
            .col_expr(credential_requests::Column::State, Expr::value(CredentialState::Provided.as_str()))
            .col_expr(credential_requests::Column::ProvidedBy, Expr::value(by))
            .col_expr(credential_requests::Column::ProvidedAt, Expr::value(now_ms()))
            .filter(credential_requests::Column::Id.eq(id))
            .filter(credential_requests::Column::State.eq(CredentialState::Pending))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Moves pending credential requests created before `created_before` to `expired`;
    /// returns those it moved.
    pub async fn expire_credential_requests(
        &self,
        created_before: i64,
    ) -> anyhow::Result<Vec<credential_requests::Model>> {
        let due = credential_requests::Entity::find()
            .filter(credential_requests::Column::State.eq(CredentialState::Pending))
            .filter(credential_requests::Column::CreatedAt.lte(created_before))
            .all(self.db())
            .await?;
        let mut expired = Vec::new();
        for mut request in due {
            let moved = credential_requests::Entity::update_many()
                .col_expr(credential_requests::Column::State, Expr::value(CredentialState::Expired.as_str()))
                .filter(credential_requests::Column::Id.eq(&request.id))
                .filter(credential_requests::Column::State.eq(CredentialState::Pending))
                .exec(&*self.writer(Lane::Background).await)
                .await?;
            if moved.rows_affected == 1 {
                request.state = CredentialState::Expired;
                expired.push(request);
            }
        }
        Ok(expired)
    }

    /// Removes a secret from a vault slot; whether there was one.
    pub async fn delete_secret(&self, scope: &str, name: &str) -> anyhow::Result<bool> {
        let deleted = secrets::Entity::delete_many()
            .filter(secrets::Column::Scope.eq(scope))
            .filter(secrets::Column::Name.eq(name))
            .exec(&*self.writer(Lane::Background).await)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Stores a sealed value (never a plaintext) in a vault slot.
    pub async fn put_secret(
        &self,
        scope: &str,
        name: &str,
        sealed: &str,
        key_id: &str,
        by: &str,
    ) -> anyhow::Result<()> {
        secrets::Entity::insert(secrets::ActiveModel {
            scope: Set(scope.to_owned()),
            name: Set(name.to_owned()),
            sealed: Set(sealed.to_owned()),
            key_id: Set(key_id.to_owned()),
            updated_by: Set(by.to_owned()),
            updated_at: Set(now_ms()),
        })
        .on_conflict(
            OnConflict::columns([secrets::Column::Scope, secrets::Column::Name])
                .update_columns([
                    secrets::Column::Sealed,
                    secrets::Column::KeyId,
                    secrets::Column::UpdatedBy,
                    secrets::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*self.writer(Lane::Background).await)
        .await?;
        Ok(())
    }

    pub async fn secret(&self, scope: &str, name: &str) -> anyhow::Result<Option<secrets::Model>> {
        Ok(secrets::Entity::find_by_id((scope.to_owned(), name.to_owned())).one(self.db()).await?)
    }

    pub async fn all_secrets(&self) -> anyhow::Result<Vec<secrets::Model>> {
        Ok(secrets::Entity::find().all(self.db()).await?)
    }
}
