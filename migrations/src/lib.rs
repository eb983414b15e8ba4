//! The one schema Nova runs on, for SQLite and Postgres alike.
//!
//! Migrations are append-only: never edit one that has shipped; add a new one.
//! Timestamps are unix milliseconds in `BIGINT` columns so that both backends
//! compare and index them the same way.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_init;
mod m20261121_000002_route_picks;
mod m20261121_000003_audit;
mod m20261121_000004_approvals_secrets;
mod m20261121_000005_service_keys;
mod m20261121_000006_surface_posts;
mod m20261121_000007_prewarm;
mod m20261121_000008_warm_pools;
mod m20261130_000009_throughput;
mod m20261201_000010_sign_in;
mod m20261202_000011_handoffs;
mod m20261203_000012_schedules;
mod m20261203_000013_outbox_revision;
mod m20261204_000014_fleet_changes;
mod m20261205_000015_tasks;
mod m20261205_000016_skill_revisions;
mod m20261205_000017_reviews;
mod m20261205_000018_pull_requests;
mod m20261206_000019_prompt_times;
mod m20261206_000020_thread_lookups;
mod m20261206_000021_habit_wakes;
mod m20261208_000022_schedule_zones;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_init::Migration),
            Box::new(m20261121_000002_route_picks::Migration),
            Box::new(m20261121_000003_audit::Migration),
            Box::new(m20261121_000004_approvals_secrets::Migration),
            Box::new(m20261121_000005_service_keys::Migration),
            Box::new(m20261121_000006_surface_posts::Migration),
            Box::new(m20261121_000007_prewarm::Migration),
            Box::new(m20261121_000008_warm_pools::Migration),
            Box::new(m20261130_000009_throughput::Migration),
            Box::new(m20261201_000010_sign_in::Migration),
            Box::new(m20261202_000011_handoffs::Migration),
            Box::new(m20261203_000012_schedules::Migration),
            Box::new(m20261203_000013_outbox_revision::Migration),
            Box::new(m20261204_000014_fleet_changes::Migration),
            Box::new(m20261205_000015_tasks::Migration),
            Box::new(m20261205_000016_skill_revisions::Migration),
            Box::new(m20261205_000017_reviews::Migration),
            Box::new(m20261205_000018_pull_requests::Migration),
            Box::new(m20261206_000019_prompt_times::Migration),
            Box::new(m20261206_000020_thread_lookups::Migration),
            Box::new(m20261206_000021_habit_wakes::Migration),
            Box::new(m20261208_000022_schedule_zones::Migration),
        ]
    }
}
