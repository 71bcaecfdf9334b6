//! The supporter-safety job (contract §11): every [`EVERY`], a retention
//! pass ([`crate::campaign::cases::apply_retention`]: the signers of cases
//! ended long enough ago, whom nothing else holds, erased as an admin's
//! erasure would) and the deletion of the IP keys of days that are over
//! ([`crate::security::DayKeys::forget_old`]). What is erased, and when, is
//! the campaign layer's; this job only keeps time and logs.

use std::time::Duration;

use tokio::sync::watch;

use crate::campaign::{cases, Actor, Context};

/// How often the job runs: retention is counted in days, so a minute late
/// is nothing, and the IP keys of yesterday go within a minute of their
/// grace running out.
pub const EVERY: Duration = Duration::from_secs(60);

/// One run: retention, then old IP keys. Errors are logged, never fatal.
pub async fn run_once(ctx: &Context) {
    match cases::apply_retention(ctx, &Actor::System).await {
        Ok(p) if p.erased > 0 => {
            tracing::info!(
                retention.cases = p.cases,
                retention.erased = p.erased,
                "retention pass done"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error.cause_chain = ?e, "the retention pass failed"),
    }
    forget_old_ip_keys(ctx);
}

/// Deletes the IP keys of days that are over (also run at start).
pub fn forget_old_ip_keys(ctx: &Context) {
    match ctx.ip_keys.forget_old(ctx.now()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys = n, "IP keys of past days deleted"),
        Err(e) => tracing::error!(error.cause_chain = ?e, "deleting past days' IP keys failed"),
    }
}

/// Runs until `shutdown` turns true: at once, then every [`EVERY`].
pub fn spawn(ctx: Context, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = tick.tick() => run_once(&ctx).await,
                _ = shutdown.changed() => {}
            }
        }
    })
}
