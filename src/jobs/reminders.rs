//! The one confirmation reminder: a pending signature still unconfirmed
//! `CLARION_CONFIRM_REMINDER_HOURS` after signing gets a second
//! confirmation mail with the same link. Never more than one per signing
//! (the signature is marked in the transaction that queues the mail), never
//! once its petition is closed or its confirmation time has run out; 0
//! hours turns reminders off.

use chrono::NaiveDateTime;

use crate::db::{self, Db};

/// Signatures reminded per transaction.
const BATCH: i64 = 500;

/// Queues the reminders due at `now`, a batch at a time until none is
/// left; returns how many. Nothing when `after_hours` is 0.
pub async fn send_reminders(db: &Db, after_hours: u64, now: NaiveDateTime) -> usize {
    if after_hours == 0 {
        return 0;
    }
    let Ok(hours) = i64::try_from(after_hours) else {
        return 0;
    };
    let signed_before = now - chrono::Duration::hours(hours);
    let mut total = 0;
    loop {
        let r = db
            .run(move |c| db::signatures::queue_reminders(c, signed_before, now, BATCH))
            .await;
        match r {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "queueing confirmation reminders failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(signatures = total, "queued confirmation reminders");
    }
    total
}
