//! Periodic jobs: housekeeping that runs on a timer in every process that
//! runs the mail worker (`serve` and `worker`), beside it but apart from the
//! queue. Today: deleting pending signatures whose confirmation time ran out
//! ([`sweeps`]), the one reminder of a pending signature ([`reminders`]),
//! starting scheduled alerts and expiring deliveries past their alert's
//! deadline ([`alerts`]), signing count snapshots ([`snapshots`]), and
//! supporter safety: retention and the deletion of past days' IP keys
//! ([`retention`]).
//!
//! A job owns its schedule and its logging; it never sends mail and never
//! answers a request. Each run is a few bounded statements, so a slow one
//! delays only the next run.

pub mod alerts;
pub mod reminders;
pub mod retention;
pub mod snapshots;
pub mod sweeps;

use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, Db};

/// How often pending signatures whose confirmation time ran out are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often scheduled alerts and deadlines are looked at: a scheduled
/// alert starts at most this late, a deadline is kept to about this (the
/// claim checks it too). Two indexed reads when nothing is due.
pub const ALERTS_EVERY: Duration = Duration::from_secs(1);

/// Runs the periodic jobs until `shutdown` turns true: each at once, then
/// on its schedule. `default_locale` is the language of supporters who
/// have none (an alert's language filter counts them in it);
/// `reminder_hours` is when a pending signature is reminded (0: never).
pub fn spawn(
    db: Db,
    default_locale: String,
    reminder_hours: u64,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut timing = tokio::time::interval(ALERTS_EVERY);
        timing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = sweep.tick() => {
                    sweeps::expired_signatures(&db).await;
                    reminders::send_reminders(&db, reminder_hours, db::now()).await;
                }
                _ = timing.tick() => {
                    let now = db::now();
                    alerts::start_scheduled(&db, &default_locale, now).await;
                    alerts::expire_past_deadline(&db, now).await;
                }
                _ = shutdown.changed() => {}
            }
        }
    })
}
