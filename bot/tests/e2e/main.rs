//! End-to-end user stories against the real server, real office processes and a fresh
//! database (SQLite, or Postgres with NOVA_TEST_POSTGRES_URL).

mod ask_sets;
mod asks;
mod browser;
mod discord;
mod fleet;
mod gce;
mod harness;
mod reviews;
mod routing_sets;
#[cfg(feature = "lab")]
mod simulate;
mod skills;
mod slack;
mod stories;
mod tasks;
mod trust;
mod work;
