//! The count snapshots job: every `snapshot_every_secs`, a signed snapshot
//! of each petition whose count moved since its newest one (contract §10:
//! at most one a minute while the count moves). What a snapshot is and
//! when one is due is `campaign::evidence`'s; this job only keeps time.

use std::time::Duration;

use tokio::sync::watch;

use crate::campaign::{evidence, Context};

/// Runs until `shutdown` turns true.
pub fn spawn(ctx: Context, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(ctx.settings.snapshot_every_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = tick.tick() => match evidence::snapshot_moved(&ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(snapshots = n, "signed count snapshots made"),
                    Err(e) => tracing::error!(error.cause_chain = ?e, "making count snapshots failed"),
                },
                _ = shutdown.changed() => {}
            }
        }
    })
}
