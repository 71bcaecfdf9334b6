//! Periodic jobs: housekeeping that runs on a timer in every process that
//! runs the mail worker (`serve` and `worker`), beside it but apart from the
//! queue. Today: deleting pending signatures whose confirmation time ran out
//! ([`sweeps`]) and signing count snapshots ([`snapshots`]); the retention
//! job that is coming belongs here.
//!
//! A job owns its schedule and its logging; it never sends mail and never
//! answers a request. Each run is a few bounded statements, so a slow one
//! delays only the next run.

pub mod snapshots;
pub mod sweeps;

use std::time::Duration;

use tokio::sync::watch;

use crate::db::Db;

/// How often pending signatures whose confirmation time ran out are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs the periodic jobs until `shutdown` turns true: each at once, then
/// on its schedule.
pub fn spawn(db: Db, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = sweep.tick() => sweeps::expired_signatures(&db).await,
                _ = shutdown.changed() => {}
            }
        }
    })
}
