//! Alert timing (contract §9): scheduled alerts start at their `send_at`,
//! and deliveries not made by their alert's `send_by` expire.
//!
//! Runs every [`super::ALERTS_EVERY`] and once at start, so a scheduled
//! alert whose time passed while the service was down is handled on start:
//! sent if its deadline has not passed, cancelled (and audited) if it has.
//! Each alert is one transaction, its status moved with a guard on the old
//! one, so several processes against one PostgreSQL never start it twice.
//! Never sends mail itself: the worker polls the queue and finds the
//! deliveries queued here.

use chrono::NaiveDateTime;

use crate::db::{self, Db, DbError};
use crate::domain::AlertStatus;

/// Starts the scheduled alerts whose time has come: their audience is
/// taken now. One whose `send_by` has already passed is cancelled instead:
/// everything it would queue would only expire. Returns how many started.
pub async fn start_scheduled(db: &Db, default_locale: &str, now: NaiveDateTime) -> usize {
    let locale = default_locale.to_string();
    let r = db
        .run(move |c| {
            let due = db::alerts::due_scheduled(c, now)?;
            let mut started = 0;
            for a in due {
                let locale = locale.clone();
                db::write_tx(c, |c| {
                    if a.send_by.is_some_and(|by| by <= now) {
                        if db::alerts::cancel(c, &a.id, now)? {
                            db::audit::record(
                                c,
                                "system",
                                "alert.expire",
                                "alert",
                                Some(a.id.as_str()),
                                Some("its send_by passed before its send_at came"),
                            )?;
                            tracing::warn!(alert.id = %a.id, "scheduled alert not sent: its send_by has passed");
                        }
                    } else if let Some(n) =
                        db::alerts::start_send(c, &a.id, &[AlertStatus::Scheduled], &locale, now)?
                    {
                        let what = format!("{n} recipients (scheduled)");
                        db::audit::record(
                            c,
                            "system",
                            "alert.send",
                            "alert",
                            Some(a.id.as_str()),
                            Some(&what),
                        )?;
                        tracing::info!(alert.id = %a.id, recipients = n, "scheduled alert started");
                        started += 1;
                    }
                    Ok::<_, DbError>(())
                })?;
            }
            Ok::<_, DbError>(started)
        })
        .await;
    match r {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "starting scheduled alerts failed");
            0
        }
    }
}

/// Expires the undelivered messages of alerts whose `send_by` has passed
/// (one statement per alert) and marks those alerts finished. Deliveries a
/// worker claims after the deadline expire at the claim. Returns how many
/// expired.
pub async fn expire_past_deadline(db: &Db, now: NaiveDateTime) -> usize {
    let r = db
        .run(move |c| {
            let mut total = 0;
            for id in db::alerts::past_deadline(c, now)? {
                total += db::write_tx(c, |c| {
                    let n = db::deliveries::expire_alert(c, &id)?;
                    db::alerts::finish_past_deadline(c, &id, now)?;
                    Ok::<_, DbError>(n)
                })?;
            }
            Ok::<_, DbError>(total)
        })
        .await;
    match r {
        Ok(n) => {
            if n > 0 {
                tracing::info!(
                    deliveries = n,
                    "deliveries expired at their alert's send_by"
                );
            }
            n
        }
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "expiring deliveries past their deadline failed");
            0
        }
    }
}
