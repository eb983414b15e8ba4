//! The brain of Nova: config, store, router, sessions and dispatch, office lifecycle.
//! It never sees Slack or Discord JSON: surfaces hand it typed inbound events.

pub mod approvals;
pub mod ask;
pub mod commands;
pub mod config;
pub mod context;
pub mod demand;
pub mod engine;
pub mod fleet;
pub mod github;
pub mod metrics;
pub mod router;
pub mod schedule;
pub mod service_key;
pub mod store;
pub mod texts;
pub mod vault;

pub use engine::{Engine, EngineOptions, Update};
