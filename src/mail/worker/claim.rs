//! Claiming: leases due deliveries (confirmations and test sends first),
//! loads in the same blocking call everything the batch needs (recipients,
//! signatures, alert statuses, the content of alerts not seen yet), and lets
//! each kind turn its deliveries into jobs or reasons not to send. Also the
//! queue's own upkeep: the reaper of expired leases and the watch for
//! alerts cancelled while their deliveries wait.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::{record, Job, Worker};
use crate::db::deliveries::Outcome;
use crate::db::{self, Db, DbConnection, DbError, DbResult};
use crate::domain::{AlertId, AlertStatus, DeliveryId, DeliveryKind};
use crate::mail::compose::AlertContent;
use crate::mail::kinds::{self, Batch};

/// How often the reaper puts back deliveries whose worker died. It runs on
/// the claiming loop, before a claim, so a restarted worker takes back what
/// it lost before anything newer.
pub(super) const REAP_EVERY: Duration = Duration::from_secs(5);

/// The statuses of `ids`, typed, and the deadlines (`send_by`) of those
/// that have one. `db::alerts` hands them out as text.
#[allow(clippy::type_complexity)]
fn alert_states(
    c: &mut DbConnection,
    ids: &[AlertId],
) -> DbResult<(
    HashMap<AlertId, AlertStatus>,
    HashMap<AlertId, chrono::NaiveDateTime>,
)> {
    let asked: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
    let mut statuses = HashMap::new();
    let mut deadlines = HashMap::new();
    for (id, status, send_by) in db::alerts::statuses(c, &asked)? {
        let (Ok(id), Ok(status)) = (AlertId::parse(&id), AlertStatus::parse(&status)) else {
            continue;
        };
        if let Some(by) = send_by {
            deadlines.insert(id.clone(), by);
        }
        statuses.insert(id, status);
    }
    Ok((statuses, deadlines))
}

/// The statuses of `ids`, typed.
fn alert_statuses(
    c: &mut DbConnection,
    ids: &[AlertId],
) -> DbResult<HashMap<AlertId, AlertStatus>> {
    Ok(alert_states(c, ids)?.0)
}

impl Worker {
    /// Puts back deliveries whose lease ran out, and settles any alert left
    /// `sending` with nothing waiting (a worker that died between recording
    /// and checking).
    pub(super) async fn reap(&self) {
        match self.db.run(db::alerts::sending_ids).await {
            Ok(ids) => {
                let ids = ids
                    .iter()
                    .filter_map(|id| AlertId::parse(id).ok())
                    .collect();
                record::finish_alerts(&self.db, ids).await;
            }
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "looking up the alerts being sent failed");
            }
        }
        match self
            .db
            .run(|c| db::deliveries::reap_expired(c, db::now()))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::warn!(deliveries = n, "reclaimed deliveries whose lease expired");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error.cause_chain = ?e, "reaping expired leases failed"),
        }
    }

    /// Claims due deliveries (confirmations first: a supporter is waiting
    /// for that mail) and loads what sending them needs, in one blocking call.
    pub(super) async fn claim_and_prepare(
        &self,
        want: i64,
        with_priority: bool,
        alert_cache: &mut HashMap<AlertId, Arc<AlertContent>>,
        gen: u64,
    ) -> Result<Vec<Job>, DbError> {
        let worker = self.id.clone();
        let lease =
            chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(120));
        let cached: HashSet<AlertId> = alert_cache.keys().cloned().collect();
        let base_url = self.composer.base_url().to_string();
        let (claimed, recipients, signatures, (alert_status, deadlines), new_alerts, paused, now) =
            self.db
                .run(move |c| {
                    let now = db::now();
                    let mut claimed = Vec::new();
                    let kinds: &[DeliveryKind] = if with_priority {
                        &[
                            DeliveryKind::Confirmation,
                            DeliveryKind::Receipt,
                            DeliveryKind::Test,
                            DeliveryKind::Alert,
                        ]
                    } else {
                        &[DeliveryKind::Alert]
                    };
                    for &kind in kinds {
                        let left = want - claimed.len() as i64;
                        if left <= 0 {
                            break;
                        }
                        claimed.extend(db::backend::claim(
                            c,
                            kind,
                            &worker,
                            now,
                            now + lease,
                            left,
                        )?);
                    }
                    let supporter_ids: Vec<_> = claimed
                        .iter()
                        .filter_map(|d| d.supporter_id.clone())
                        .collect();
                    let recipients = db::deliveries::recipients(c, &supporter_ids)?;
                    let signature_ids: Vec<_> = claimed
                        .iter()
                        .filter_map(|d| d.signature_id.clone())
                        .collect();
                    let signatures = db::deliveries::confirmation_petitions(c, &signature_ids)?;
                    let alert_ids: Vec<AlertId> = claimed
                        .iter()
                        .filter_map(|d| d.alert_id.clone())
                        .collect::<HashSet<_>>()
                        .into_iter()
                        .collect();
                    let alert_status = alert_states(c, &alert_ids)?;
                    let paused: HashSet<(AlertId, String)> =
                        db::domain_pauses::paused_among(c, &alert_ids)?
                            .into_iter()
                            .collect();
                    let mut new_alerts = Vec::new();
                    for id in alert_ids.iter().filter(|id| !cached.contains(*id)) {
                        if let Some(content) = kinds::alert::alert_content(c, id, &base_url)? {
                            new_alerts.push(content);
                        }
                    }
                    Ok::<_, DbError>((
                        claimed,
                        recipients,
                        signatures,
                        alert_status,
                        new_alerts,
                        paused,
                        now,
                    ))
                })
                .await?;
        for content in new_alerts {
            alert_cache.insert(content.alert_id.clone(), Arc::new(content));
        }
        self.watched.lock().expect("watched lock").extend(
            alert_status
                .iter()
                .filter(|(_, s)| **s == AlertStatus::Sending)
                .map(|(id, _)| id.clone()),
        );
        let batch = Batch {
            recipients: recipients.into_iter().map(|r| (r.id.clone(), r)).collect(),
            signatures: signatures
                .into_iter()
                .map(|row| (row.signature_id.clone(), row))
                .collect(),
            alert_status,
            alerts: alert_cache,
        };

        let mut jobs = Vec::new();
        let mut skipped: Vec<(DeliveryId, Option<AlertId>, Outcome)> = Vec::new();
        for d in claimed {
            // Past its alert's send_by: never made (contract §9).
            let past_deadline = d.kind == DeliveryKind::Alert
                && d.alert_id
                    .as_ref()
                    .and_then(|a| deadlines.get(a))
                    .is_some_and(|by| *by <= now);
            if past_deadline {
                skipped.push((d.id, d.alert_id, Outcome::Expired));
                continue;
            }
            let paused_domain = d.kind == DeliveryKind::Alert
                && d.alert_id
                    .as_ref()
                    .zip(d.domain.as_ref())
                    .is_some_and(|(a, dom)| paused.contains(&(a.clone(), dom.clone())));
            // An alert that paused itself (complaints) between its hold and
            // this claim: its deliveries wait with the rest.
            let paused_alert = d.kind == DeliveryKind::Alert
                && d.alert_id
                    .as_ref()
                    .and_then(|a| batch.alert_status.get(a))
                    .is_some_and(|s| *s == AlertStatus::Paused);
            if paused_domain || paused_alert {
                skipped.push((d.id, d.alert_id, Outcome::Held));
                continue;
            }
            match kinds::prepare(&d, &batch) {
                Ok((recipient, mail)) => {
                    let domain = d
                        .domain
                        .clone()
                        .or_else(|| db::deliveries::domain_of(&recipient.email))
                        .unwrap_or_default();
                    jobs.push(Job {
                        delivery: d,
                        recipient,
                        mail,
                        domain,
                        gen,
                    })
                }
                Err(reason) => skipped.push((d.id, d.alert_id, Outcome::Cancelled { reason })),
            }
        }
        let Batch { alert_status, .. } = batch;
        if !skipped.is_empty() {
            let worker = self.id.clone();
            let alert_ids: HashSet<AlertId> =
                skipped.iter().filter_map(|(_, a, _)| a.clone()).collect();
            let outcomes: Vec<(DeliveryId, Outcome)> =
                skipped.into_iter().map(|(id, _, o)| (id, o)).collect();
            self.db
                .run(move |c| db::deliveries::record_atomically(c, &worker, &outcomes))
                .await?;
            record::finish_alerts(&self.db, alert_ids).await;
        }
        // Forget alerts that are no longer sending, so edits to a draft are
        // seen by its next test send.
        alert_cache.retain(|id, _| alert_status.get(id) == Some(&AlertStatus::Sending));
        Ok(jobs)
    }
}

impl Worker {
    /// Writes what the senders decided about domains since the last claim:
    /// a throttled domain's queued deliveries wait (one statement per
    /// domain), a domain paused for an alert gets its pause and its queued
    /// deliveries held. Claims from generation `gen` on see it all in the
    /// database. What fails to be written is tried again before the next.
    pub(super) async fn write_domains(&self, shared: &super::send::Shared, gen: u64) {
        let writes = shared.domains.take_writes();
        if writes.is_empty() {
            return;
        }
        let pause_for = chrono::Duration::from_std(self.config.domain_pause)
            .unwrap_or(chrono::Duration::minutes(30));
        let (defer, pause) = (writes.defer.clone(), writes.pause.clone());
        let r = self
            .db
            .run(move |c| {
                db::write_tx(c, |c| {
                    for (domain, until) in &defer {
                        db::deliveries::defer_domain(c, domain, *until)?;
                    }
                    let mut new = Vec::new();
                    for (alert, domain, reply, since) in &pause {
                        if db::domain_pauses::pause(
                            c,
                            alert,
                            domain,
                            reply,
                            *since,
                            *since + pause_for,
                        )? {
                            new.push((alert.clone(), domain.clone()));
                        }
                    }
                    Ok::<_, DbError>(new)
                })
            })
            .await;
        match r {
            Ok(new) => {
                for (alert, domain) in new {
                    tracing::warn!(alert.id = %alert, mail.domain = %domain, "receiving domain paused for this alert after a run of policy refusals");
                }
                shared.domains.written(&writes, gen);
            }
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "recording deferred or paused domains failed; trying again");
                shared.domains.retry_writes(writes);
            }
        }
    }

    /// Ends the domain pauses whose time is up and queues again what
    /// nothing holds any more.
    pub(super) async fn release_paused_domains(&self) {
        match self
            .db
            .run(|c| db::write_tx(c, |c| db::domain_pauses::release_due(c, db::now())))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(deliveries = n, "held deliveries queued again");
                self.wakeup.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error.cause_chain = ?e, "releasing paused domains failed"),
        }
    }
}

/// Every `poll`, looks up the alerts whose deliveries are claimed and
/// notes the cancelled ones, so a cancel stops the deliveries already claimed
/// and waiting for a connection too, not only those still queued.
pub(super) async fn watch_cancellations(
    db: Db,
    watched: Arc<std::sync::Mutex<HashSet<AlertId>>>,
    cancelled: Arc<std::sync::RwLock<HashSet<AlertId>>>,
    poll: Duration,
) {
    loop {
        tokio::time::sleep(poll).await;
        let ids: Vec<AlertId> = watched
            .lock()
            .expect("watched lock")
            .iter()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let asked = ids.clone();
        let statuses = match db.run(move |c| alert_statuses(c, &asked)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, "looking up alert statuses failed");
                continue;
            }
        };
        let mut w = watched.lock().expect("watched lock");
        for id in ids {
            match statuses.get(&id) {
                Some(AlertStatus::Sending | AlertStatus::Paused) => {}
                Some(AlertStatus::Cancelled) => {
                    cancelled
                        .write()
                        .expect("cancelled lock")
                        .insert(id.clone());
                    w.remove(&id);
                }
                Some(
                    AlertStatus::Draft
                    | AlertStatus::AwaitingApproval
                    | AlertStatus::Scheduled
                    | AlertStatus::Sent,
                )
                | None => {
                    w.remove(&id);
                }
            }
        }
    }
}
