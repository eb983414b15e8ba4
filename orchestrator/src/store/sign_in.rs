//! Console sign-in in the store: one-time login links and the sessions they open. A
//! token is 32 random bytes given to the person once; the store keeps its SHA-256.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::{Lane, Store, console_tokens, now_ms};

const LINK: &str = "link";
const SESSION: &str = "session";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Store {
    async fn issue(&self, kind: &str, person: &str, ttl: std::time::Duration) -> anyhow::Result<String> {
        let token = new_token();
        let now = now_ms();
        let row = console_tokens::Model {
            token_hash: hash(&token),
            kind: kind.to_owned(),
            person: person.to_owned(),
            expires_at: now + ttl.as_millis() as i64,
            used_at: None,
            created_at: now,
        };
        console_tokens::Entity::insert(console_tokens::ActiveModel::from(row))
            .exec_without_returning(&*self.writer(Lane::Route).await)
            .await?;
        Ok(token)
    }

    /// A one-time login link's token for `person`.
    pub async fn issue_login_link(&self, person: &str, ttl: std::time::Duration) -> anyhow::Result<String> {
        self.issue(LINK, person, ttl).await
    }

    /// Redeems a login link: the person it was issued to, once, before it expires.
    pub async fn redeem_login_link(&self, token: &str) -> anyhow::Result<Option<String>> {
        let now = now_ms();
        let token_hash = hash(token);
        let used = console_tokens::Entity::update_many()
            .col_expr(console_tokens::Column::UsedAt, Expr::value(now))
            .filter(console_tokens::Column::TokenHash.eq(&token_hash))
            .filter(console_tokens::Column::Kind.eq(LINK))
            .filter(console_tokens::Column::UsedAt.is_null())
            .filter(console_tokens::Column::ExpiresAt.gt(now))
            .exec(&*self.writer(Lane::Route).await)
            .await?;
        if used.rows_affected != 1 {
            return Ok(None);
        }
        Ok(console_tokens::Entity::find_by_id(token_hash).one(self.db()).await?.map(|row| row.person))
    }

    /// A console session's token for `person` (the cookie's value).
    pub async fn open_console_session(&self, person: &str, ttl: std::time::Duration) -> anyhow::Result<String> {
        self.issue(SESSION, person, ttl).await
    }

    /// Who holds this session token, while it lasts.
    pub async fn console_session(&self, token: &str) -> anyhow::Result<Option<String>> {
        let row = console_tokens::Entity::find_by_id(hash(token))
            .filter(console_tokens::Column::Kind.eq(SESSION))
            .filter(console_tokens::Column::ExpiresAt.gt(now_ms()))
            .one(self.db())
            .await?;
        Ok(row.map(|row| row.person))
    }

    /// Ends a session (signing out).
    pub async fn close_console_session(&self, token: &str) -> anyhow::Result<()> {
        console_tokens::Entity::delete_many()
            .filter(console_tokens::Column::TokenHash.eq(hash(token)))
            .filter(console_tokens::Column::Kind.eq(SESSION))
            .exec(&*self.writer(Lane::Route).await)
            .await?;
        Ok(())
    }

    /// Whether anyone ever signed in (the first run prints a login link until then).
    pub async fn anyone_signed_in(&self) -> anyhow::Result<bool> {
        let sessions =
            console_tokens::Entity::find().filter(console_tokens::Column::Kind.eq(SESSION)).count(self.db()).await?;
        Ok(sessions > 0)
    }
}
