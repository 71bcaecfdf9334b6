//! Recording: outcomes are written in small batches, each in one write
//! transaction, guarded by the lease (see `db::deliveries::record`); after
//! each commit the recorder looks whether the alerts involved are finished.

use std::collections::HashSet;
use std::time::Duration;

use super::Recorded;
use crate::db::deliveries::Outcome;
use crate::db::{self, Db, DbError};
use crate::domain::{AlertId, DeliveryId};

/// Outcomes sent but not yet recorded, at most.
pub(super) const RECORD_BACKLOG: usize = 2000;

/// How often, at most, the recorder looks whether its alerts are finished
/// while outcomes keep coming; it also looks whenever they pause.
const FINISH_CHECK_EVERY: Duration = Duration::from_millis(250);
const FINISH_CHECK_IDLE: Duration = Duration::from_millis(20);

/// Writes outcomes in small batches: one transaction per batch keeps the
/// database from being the bottleneck at thousands of messages a second.
pub(super) async fn record_loop(
    db: Db,
    worker: String,
    mut rx: tokio::sync::mpsc::Receiver<Recorded>,
) {
    let mut buf = Vec::new();
    // Alerts with outcomes recorded since the last look at whether they are
    // finished. Looking costs a query that grows with the alert (PostgreSQL
    // walks the index entries of every row already sent), so during a big
    // send it runs a few times a second rather than after every batch.
    let mut unchecked: HashSet<AlertId> = HashSet::new();
    let mut last_check = tokio::time::Instant::now();
    loop {
        let next = if unchecked.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(FINISH_CHECK_IDLE, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    finish_alerts(&db, std::mem::take(&mut unchecked)).await;
                    last_check = tokio::time::Instant::now();
                    continue;
                }
            }
        };
        let Some(first) = next else { break };
        buf.push(first);
        // Gather what else is already waiting, up to a batch.
        while buf.len() < 500 {
            match rx.try_recv() {
                Ok(x) => buf.push(x),
                Err(_) => break,
            }
        }
        if buf.len() < 100 {
            // Give a moment for more to arrive, without holding results
            // long: each batch costs its statement's overhead (on
            // PostgreSQL a round trip and the progress trigger's run).
            tokio::time::sleep(Duration::from_millis(10)).await;
            while buf.len() < 500 {
                match rx.try_recv() {
                    Ok(x) => buf.push(x),
                    Err(_) => break,
                }
            }
        }
        let batch = std::mem::take(&mut buf);
        let alert_ids: HashSet<AlertId> = batch.iter().filter_map(|(_, a, _)| a.clone()).collect();
        let outcomes: Vec<(DeliveryId, Outcome)> =
            batch.into_iter().map(|(id, _, o)| (id, o)).collect();
        let w = worker.clone();
        let mut attempt = 0;
        loop {
            let (o, w2) = (outcomes.clone(), w.clone());
            let r = db
                .run(move |c| db::deliveries::record_atomically(c, &w2, &o))
                .await;
            match r {
                Ok(()) => {
                    unchecked.extend(alert_ids.iter().cloned());
                    if last_check.elapsed() >= FINISH_CHECK_EVERY {
                        finish_alerts(&db, std::mem::take(&mut unchecked)).await;
                        last_check = tokio::time::Instant::now();
                    }
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    tracing::error!(error.cause_chain = ?e, attempt, "recording delivery outcomes failed; retrying");
                    if attempt >= 30 {
                        // The leases will expire and the deliveries be sent
                        // again: a duplicate rather than a skip.
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }
    finish_alerts(&db, unchecked).await;
}

/// Marks alerts `sent` once none of their deliveries waits. Run after the
/// outcomes are committed, never inside that transaction: with several
/// workers on PostgreSQL, two transactions committing their last outcomes at
/// once would each still see the other's rows as waiting, and neither would
/// finish the alert. After commit, the later of the two checks sees both.
pub(super) async fn finish_alerts(db: &Db, alert_ids: HashSet<AlertId>) {
    if alert_ids.is_empty() {
        return;
    }
    let r = db
        .run(move |c| {
            for id in &alert_ids {
                db::alerts::mark_finished(c, id, db::now())?;
            }
            Ok::<_, DbError>(())
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error.cause_chain = ?e, "checking whether alerts finished failed");
    }
}
