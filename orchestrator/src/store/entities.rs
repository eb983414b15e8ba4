//! sea-orm entities, one module per table of `migrations/`.

pub mod inbound {
    use sea_orm::entity::prelude::*;

    /// A platform event as it arrived, written before it is acknowledged.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbound")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub dedupe_key: String,
        pub surface: crate::store::Surface,
        pub channel: String,
        pub thread_id: String,
        pub author: String,
        pub kind: crate::store::InboundKind,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub received_at: i64,
        pub processed_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod threads {
    use sea_orm::entity::prelude::*;

    /// A chat thread; one thread is one session.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "threads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub surface: crate::store::Surface,
        pub channel: String,
        #[sea_orm(column_type = "Text")]
        pub title: String,
        pub repo: Option<String>,
        pub office: Option<String>,
        pub confidence: Option<f64>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod messages {
    use sea_orm::entity::prelude::*;

    /// What a thread shows: people's messages and Nova's replies, progress and cards.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub thread_id: String,
        pub author: String,
        pub from_nova: bool,
        pub kind: crate::store::MessageKind,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub card: Option<String>,
        pub run_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        /// Bumped by every edit; surface mirrors compare it with what they sent.
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod prompts {
    use sea_orm::entity::prelude::*;

    /// A unit of work for an office: held until the office is ready, then dispatched.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "prompts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub thread_id: String,
        pub office: String,
        pub author: String,
        #[sea_orm(column_type = "Text")]
        pub text: String,
        pub state: super::super::PromptState,
        #[sea_orm(unique)]
        pub run_id: String,
        #[sea_orm(unique)]
        pub inbound_id: i64,
        pub created_at: i64,
        pub dispatched_at: Option<i64>,
        pub finished_at: Option<i64>,
        /// The run that handed this prompt over (another office's): its result goes back.
        pub handoff_from: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod offices {
    use sea_orm::entity::prelude::*;

    /// The lifecycle row of one office; `generation` fences every transition.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "offices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub state: super::super::OfficeState,
        pub generation: i64,
        pub lease_owner: Option<String>,
        pub lease_until: Option<i64>,
        pub endpoint: Option<String>,
        pub token_hash: Option<String>,
        pub snapshot_key: Option<String>,
        pub snapshot_bytes: Option<i64>,
        #[sea_orm(column_type = "Text", nullable)]
        pub failure: Option<String>,
        pub state_changed_at: i64,
        pub last_active_at: i64,
        /// The id half of the office's service key; `token_hash` is the SHA-256 of
        /// the secret half, which rotates on every wake.
        pub service_key_id: Option<String>,
        /// Set while the office is up on a typing signal alone (a soft prewarm): it
        /// sleeps again at this time unless a prompt arrives first.
        pub prewarm_until: Option<i64>,
        /// When the typing signal behind the current prewarm arrived.
        pub prewarmed_at: Option<i64>,
        /// The current prewarm is the office's habits', not a signal's
        /// ([`crate::demand::next_habitual_wake`]).
        pub prewarm_habit: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod route_picks {
    use sea_orm::entity::prelude::*;

    /// How often people picked an office for unclear messages in a channel.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "route_picks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub surface: crate::store::Surface,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub office: String,
        pub count: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    use sea_orm::entity::prelude::*;

    /// One state change: who did what, to which office, in which run. Never updated.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "audit")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub actor: String,
        pub office: Option<String>,
        pub run_id: Option<String>,
        pub action: String,
        #[sea_orm(column_type = "Text")]
        pub details: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod secrets {
    use sea_orm::entity::prelude::*;

    /// A vault entry: the sealed value (see `crate::vault`), never the plaintext.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub sealed: String,
        pub key_id: String,
        pub updated_by: String,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod approvals {
    use sea_orm::entity::prelude::*;

    /// An office asking before it does something consequential.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "approvals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub office: String,
        pub run_id: String,
        pub thread_id: String,
        pub message_id: Option<i64>,
        /// The person whose prompt started the run: they may not approve it.
        pub requester: String,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub action: String,
        #[sea_orm(column_type = "Text")]
        pub details: String,
        pub risk: String,
        /// JSON list of the people who may decide (empty: anyone but the requester).
        #[sea_orm(column_type = "Text")]
        pub approvers: String,
        pub state: crate::store::ApprovalState,
        pub expires_at: i64,
        pub decided_by: Option<String>,
        pub decided_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod credential_requests {
    use sea_orm::entity::prelude::*;

    /// An office asking for a credential it lacks.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "credential_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub office: String,
        pub run_id: String,
        pub thread_id: String,
        pub message_id: Option<i64>,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub why: String,
        /// `office` or `workspace`: where the provided value is stored.
        pub scope: String,
        pub state: crate::store::CredentialState,
        pub provided_by: Option<String>,
        pub provided_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod surface_posts {
    use sea_orm::entity::prelude::*;

    /// A Nova message mirrored to a chat platform: its id there and the revision it shows.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "surface_posts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: i64,
        pub surface: crate::store::Surface,
        /// The platform's id of the message (Slack `ts`); `None` until it is posted.
        pub external_id: Option<String>,
        /// The message revision the platform shows; -1 before the first post.
        pub synced_revision: i64,
        /// While set and in the future, one mirror is posting this message: others wait.
        pub claimed_until: Option<i64>,
        pub attempts: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    /// A Nova message a chat platform does not show in its latest revision yet.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: i64,
        pub surface: crate::store::Surface,
        /// The message's revision when it was last queued: sending that revision (or a
        /// later one) takes the row off.
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod console_tokens {
    use sea_orm::entity::prelude::*;

    /// A login link or a console session, by the SHA-256 of its token.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "console_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub kind: String,
        pub person: String,
        pub expires_at: i64,
        pub used_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod warm_vms {
    use sea_orm::entity::prelude::*;

    /// A pre-booted VM: `warm` until an office claims it (then `claimed`, its office set).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "warm_vms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub tier: i32,
        pub image: String,
        pub zone: String,
        pub state: String,
        pub office: Option<String>,
        pub created_at: i64,
        pub claimed_at: Option<i64>,
        /// Unclaimed past this, it is deleted (a warm VM costs money every minute).
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leases {
    use sea_orm::entity::prelude::*;

    /// Who does a replica-wide job (the pool reconciler) until when.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub until: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod schedules {
    use sea_orm::entity::prelude::*;

    /// A recurring prompt for an office; each run's result is posted in `thread_id`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedules")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub office: String,
        /// As the orchestration contract writes it (see [`crate::schedule::Cadence`]).
        pub every: String,
        #[sea_orm(column_type = "Text")]
        pub prompt: String,
        pub thread_id: String,
        pub created_by: String,
        pub created_at: i64,
        pub next_at: i64,
        pub paused: bool,
        /// The run of its last tick: while that run is still going, a tick is skipped.
        pub last_run_id: Option<String>,
        /// The clock its times of day are on, when it was said in a zone of its own (a tz
        /// database name); none: the workspace's.
        pub time_zone: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fleet_changes {
    use sea_orm::entity::prelude::*;

    /// A change to the fleet made while Nova runs, written over nova.toml in order
    /// (see [`crate::config::edit`]); in force at once, or once its approval is approved.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "fleet_changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The action, as the orchestration contract writes it (`{"action", "args"}`).
        #[sea_orm(column_type = "Text")]
        pub change: String,
        pub asked_by: String,
        pub thread_id: Option<String>,
        pub approval_id: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tasks {
    use sea_orm::entity::prelude::*;

    use crate::store::TaskState;

    /// Work with an owner office, born in a thread; see the `tasks` migration.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub owner: Option<String>,
        pub state: TaskState,
        pub priority: i32,
        pub parent_id: Option<i64>,
        pub thread_id: String,
        pub created_by: String,
        pub created_run: Option<String>,
        pub holder: Option<String>,
        pub holder_run: Option<String>,
        pub claimed_via: Option<crate::store::ClaimVia>,
        pub lease_until: Option<i64>,
        pub generation: i64,
        pub attempts: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub result: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task_deps {
    use sea_orm::entity::prelude::*;

    /// `task_id` cannot be claimed before `depends_on` is done.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_deps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub depends_on: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod skill_revisions {
    use sea_orm::entity::prelude::*;

    /// A skill's text as an office was handed it, by its revision.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "skill_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: String,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub text: String,
        pub first_seen: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reviews {
    use sea_orm::entity::prelude::*;

    /// A review of an office's change in the thread that asked for it; see the `reviews`
    /// migration.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "reviews")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub thread_id: String,
        pub office: String,
        pub repo: String,
        pub branch: String,
        pub base: String,
        pub requester: String,
        pub state: crate::store::ReviewState,
        pub revision: i32,
        pub head: String,
        pub message_id: Option<i64>,
        #[sea_orm(column_type = "Text", nullable)]
        pub outcome: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        /// Its pull request, for a repo on GitHub.
        pub pull_request: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod review_revisions {
    use sea_orm::entity::prelude::*;

    /// One change an office reported for review, with the diff Nova computed for it.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "review_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub review_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i32,
        pub head: String,
        pub base_commit: String,
        #[sea_orm(column_type = "Text")]
        pub summary: String,
        #[sea_orm(column_type = "Text")]
        pub tests: String,
        #[sea_orm(column_type = "Text")]
        pub files: String,
        #[sea_orm(column_type = "Text")]
        pub diff: String,
        pub run_id: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod review_decisions {
    use sea_orm::entity::prelude::*;

    /// A person's approval, request for changes or comment on one revision.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "review_decisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub review_id: i64,
        pub revision: i32,
        pub author: String,
        pub verdict: crate::store::Verdict,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub path: Option<String>,
        pub line: Option<i32>,
        pub created_at: i64,
        /// GitHub's id for a decision that came from there.
        #[serde(skip)]
        pub external_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
