//! Office lifecycle machinery: compute backends, workspace snapshots, and the in-VM
//! daemon `nova-office`. The provisioner never sees chat; the orchestrator drives it.

pub mod agent;
pub mod checkout;
pub mod cli;
pub mod example_agent;
pub mod gce;
pub mod local;
pub mod office;
pub mod presets;
pub mod protocol;
pub mod sandbox;
pub mod snapshot;
pub mod tiers;
pub mod work;

/// The office runtime version: stamped into snapshots so an incompatible one is noticed.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");
