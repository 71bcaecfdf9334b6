//! The mail worker: claims due deliveries from the queue with a lease, sends
//! them over `send_concurrency` connections at no more than `send_rate`, and
//! records every outcome.
//!
//! Guarantees: a delivery is marked sent only after the server accepted it,
//! so a crash can repeat only the messages in flight at that moment, never
//! skip one (their lease runs out and they are claimed again). On shutdown
//! the worker stops claiming, finishes what is in flight and releases the
//! rest. A storm of temporary failures pauses claiming, so an outage burns
//! the attempts of the few messages in flight, not of the whole queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::{watch, Mutex, Notify};

use super::compose::{AlertContent, Composer, Recipient};
use super::transport::{Mailer, SendError};
use crate::db::deliveries::{Delivery, Outcome, KIND_ALERT, KIND_CONFIRMATION, KIND_TEST};
use crate::db::{self, Db, DbError};

/// How the worker behaves; taken from `Settings`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    /// Messages per second at most; 0 = unlimited.
    pub rate: u32,
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub lease: Duration,
    /// How often to look for due work when nobody wakes the worker.
    pub poll: Duration,
}

impl WorkerConfig {
    /// Deliveries claimed at once. A claimed delivery may wait for two
    /// batches (one in the channel, one being handed over) before it is
    /// sent, so with a rate limit the batch stays small enough for that wait
    /// to fit well inside the lease.
    pub fn claim_batch(&self) -> i64 {
        let mut want = (self.concurrency * 16).max(32) as u64;
        if self.rate > 0 {
            let fits = (self.rate as u64).saturating_mul(self.lease.as_secs()) / 4;
            want = want.min(fits.max(1));
        }
        want as i64
    }

    pub fn from_settings(s: &crate::config::Settings) -> WorkerConfig {
        WorkerConfig {
            concurrency: s.send_concurrency as usize,
            rate: s.send_rate,
            retry_base: Duration::from_millis(s.retry_base_ms),
            max_attempts: s.max_attempts,
            lease: Duration::from_secs(s.lease_secs),
            poll: Duration::from_millis(250),
        }
    }
}

/// One prepared job: a claimed delivery and what it takes to send it.
struct Job {
    delivery: Delivery,
    recipient: Recipient,
    kind: JobKind,
}

enum JobKind {
    Alert(Arc<AlertContent>),
    Test(Arc<AlertContent>),
    Confirmation {
        petition_title: String,
        token: String,
        locale: crate::i18n::Locale,
    },
}

pub struct Worker {
    db: Db,
    composer: Composer,
    mailer: Mailer,
    config: WorkerConfig,
    wakeup: Arc<Notify>,
    id: String,
    /// Alerts with claimed deliveries, whose cancellation senders must see.
    watched: Arc<std::sync::Mutex<HashSet<String>>>,
}

/// Paces sends to at most `rate` per second across all connections.
struct Pacer {
    interval: Option<Duration>,
    next: Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        Pacer {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Shared between the senders and the claimer: consecutive temporary
/// failures and the pause they impose.
#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    paused_until: Option<tokio::time::Instant>,
}

impl Worker {
    pub fn new(
        db: Db,
        composer: Composer,
        mailer: Mailer,
        config: WorkerConfig,
        wakeup: Arc<Notify>,
    ) -> Worker {
        Worker {
            db,
            composer,
            mailer,
            config,
            wakeup,
            id: format!("worker-{}", uuid::Uuid::new_v4()),
            watched: Arc::default(),
        }
    }

    /// Runs until `shutdown` turns true, then finishes the messages in
    /// flight and releases every lease it still holds.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let worker_id = self.id.clone();
        tracing::info!(worker.id = %worker_id, concurrency = self.config.concurrency, rate = self.config.rate, "mail worker started");
        // One claimed batch waits in the channel while the next is claimed,
        // so the connections never stand idle during a claim.
        let want = self.config.claim_batch();
        let (job_tx, job_rx) = async_channel::bounded::<Job>(want as usize);
        // Outcomes wait here to be recorded. Bounded: a message sent but not
        // yet recorded is sent again after a crash, so when the database
        // falls behind the senders wait rather than pile up outcomes.
        let (out_tx, out_rx) =
            tokio::sync::mpsc::channel::<(i64, Option<String>, Outcome)>(RECORD_BACKLOG);
        let pacer = Arc::new(Pacer::new(self.config.rate));
        let health = Arc::new(std::sync::Mutex::new(Health::default()));
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Alerts cancelled while their deliveries sit claimed in the channel:
        // senders skip those instead of sending them.
        let cancelled: Arc<std::sync::RwLock<HashSet<String>>> = Arc::default();
        let watcher = tokio::spawn(watch_cancellations(
            self.db.clone(),
            self.watched.clone(),
            cancelled.clone(),
            self.config.poll,
        ));

        let mut senders = Vec::new();
        for _ in 0..self.config.concurrency {
            let rx = job_rx.clone();
            let tx = out_tx.clone();
            let composer = self.composer.clone();
            let mut session = self.mailer.session();
            let pacer = pacer.clone();
            let config = self.config.clone();
            // Stop short of the lease's end: sending and recording take time,
            // and a reaper may requeue the row the moment the lease ends.
            let lease_margin = chrono::Duration::from_std(self.config.lease / 5)
                .unwrap_or(chrono::Duration::seconds(1));
            let health = health.clone();
            let stopping = stopping.clone();
            let cancelled = cancelled.clone();
            senders.push(tokio::spawn(async move {
                while let Ok(job) = rx.recv().await {
                    let alert_id = job.delivery.alert_id.clone();
                    if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = tx
                            .send((job.delivery.id, alert_id, Outcome::Released))
                            .await;
                        continue;
                    }
                    pacer.wait().await;
                    if job
                        .delivery
                        .locked_until
                        .is_some_and(|until| until - lease_margin <= db::now())
                    {
                        // The lease ran out while the job waited: the row is
                        // the reaper's (or another worker's) now. Sending it
                        // could duplicate it; recording anything could undo
                        // a newer claim. Leave it be.
                        tracing::warn!(
                            delivery.id = job.delivery.id,
                            "lease expired before sending; left for the reaper"
                        );
                        continue;
                    }
                    if let JobKind::Alert(content) = &job.kind {
                        let gone = cancelled
                            .read()
                            .expect("cancelled lock")
                            .contains(&content.alert_id);
                        if gone {
                            let skipped = Outcome::Skipped {
                                reason: "alert cancelled".into(),
                            };
                            let _ = tx.send((job.delivery.id, alert_id, skipped)).await;
                            continue;
                        }
                    }
                    let outcome = send_one(&composer, &mut session, &job, &config, &health).await;
                    let _ = tx.send((job.delivery.id, alert_id, outcome)).await;
                }
                session.close().await;
            }));
        }
        drop(out_tx);
        drop(job_rx);

        let recorder = tokio::spawn(record_loop(self.db.clone(), worker_id.clone(), out_rx));

        let mut alert_cache: HashMap<String, Arc<AlertContent>> = HashMap::new();
        let mut last_reap = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut last_sweep = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut last_priority = tokio::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let paused = health.lock().expect("health lock").paused_until;
            if let Some(until) = paused {
                if until > tokio::time::Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            if last_sweep.elapsed() > SWEEP_EVERY {
                last_sweep = tokio::time::Instant::now();
                sweep_expired_signatures(&self.db).await;
            }
            if last_reap.elapsed() > Duration::from_secs(5) {
                last_reap = tokio::time::Instant::now();
                // Also settles any alert left `sending` with nothing waiting
                // (a worker that died between recording and checking).
                if let Ok(ids) = self.db.run(db::alerts::sending_ids).await {
                    finish_alerts(&self.db, ids.into_iter().collect()).await;
                }
                match self
                    .db
                    .run(|c| db::deliveries::reap_expired(c, db::now()))
                    .await
                {
                    Ok(n) if n > 0 => {
                        tracing::warn!(deliveries = n, "reclaimed deliveries whose lease expired")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reaping expired leases failed"),
                }
            }
            // Confirmations and test sends go first, but looking for them
            // scans past every queued alert delivery: during a big send, look
            // at most once per poll interval.
            let with_priority = last_priority.elapsed() >= self.config.poll;
            if with_priority {
                last_priority = tokio::time::Instant::now();
            }
            let jobs = match self
                .claim_and_prepare(want, with_priority, &mut alert_cache)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = ?e, "claiming deliveries failed");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                if !with_priority {
                    // Nothing for alerts: look for the other kinds at once.
                    last_priority = tokio::time::Instant::now() - self.config.poll;
                    continue;
                }
                tokio::select! {
                    _ = self.wakeup.notified() => {}
                    _ = tokio::time::sleep(self.config.poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for job in jobs {
                if job_tx.send(job).await.is_err() {
                    break;
                }
            }
        }
        // Shutdown: senders finish the message in hand; jobs still queued in
        // the channel are released untouched.
        stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        job_tx.close();
        for s in senders {
            let _ = s.await;
        }
        let _ = recorder.await;
        watcher.abort();
        let id = worker_id.clone();
        match self
            .db
            .run(move |c| db::deliveries::release_all(c, &id))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(deliveries = n, "released leases at shutdown"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "releasing leases failed"),
        }
        tracing::info!(worker.id = %worker_id, "mail worker stopped");
    }

    /// Claims due deliveries (confirmations first: a supporter is waiting
    /// for that mail) and loads what sending them needs, in one blocking call.
    async fn claim_and_prepare(
        &self,
        want: i64,
        with_priority: bool,
        alert_cache: &mut HashMap<String, Arc<AlertContent>>,
    ) -> Result<Vec<Job>, DbError> {
        let worker = self.id.clone();
        let lease =
            chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(120));
        let cached: HashSet<String> = alert_cache.keys().cloned().collect();
        let base_url = self.composer_base();
        let (claimed, recipients, petitions, alert_status, new_alerts) = self
            .db
            .run(move |c| {
                let now = db::now();
                let mut claimed = Vec::new();
                let kinds: &[&str] = if with_priority {
                    &[KIND_CONFIRMATION, KIND_TEST, KIND_ALERT]
                } else {
                    &[KIND_ALERT]
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
                let supporter_ids: Vec<String> = claimed
                    .iter()
                    .filter_map(|d| d.supporter_id.clone())
                    .collect();
                let recipients = db::deliveries::recipients(c, &supporter_ids)?;
                let signature_ids: Vec<String> = claimed
                    .iter()
                    .filter_map(|d| d.signature_id.clone())
                    .collect();
                let petitions = db::deliveries::confirmation_petitions(c, &signature_ids)?;
                let alert_ids: Vec<String> = claimed
                    .iter()
                    .filter_map(|d| d.alert_id.clone())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let alert_status = db::alerts::statuses(c, &alert_ids)?;
                let mut new_alerts = Vec::new();
                for id in alert_ids.iter().filter(|id| !cached.contains(*id)) {
                    if let Some(content) = load_alert_content(c, id, &base_url)? {
                        new_alerts.push(content);
                    }
                }
                Ok::<_, DbError>((claimed, recipients, petitions, alert_status, new_alerts))
            })
            .await?;
        for content in new_alerts {
            alert_cache.insert(content.alert_id.clone(), Arc::new(content));
        }
        let recipients: HashMap<String, db::deliveries::RecipientRow> =
            recipients.into_iter().map(|r| (r.id.clone(), r)).collect();
        let petitions: HashMap<String, (String, String, Option<String>)> = petitions
            .into_iter()
            .map(|(sig, title, status, locale)| (sig, (title, status, locale)))
            .collect();
        let alert_status: HashMap<String, String> = alert_status.into_iter().collect();
        self.watched.lock().expect("watched lock").extend(
            alert_status
                .iter()
                .filter(|(_, s)| *s == "sending")
                .map(|(id, _)| id.clone()),
        );

        let mut jobs = Vec::new();
        let mut skipped = Vec::new();
        for d in claimed {
            let skip = |reason: &str| {
                (
                    d.id,
                    d.alert_id.clone(),
                    Outcome::Skipped {
                        reason: reason.into(),
                    },
                )
            };
            let job = match d.kind.as_str() {
                KIND_TEST => {
                    let content = d
                        .alert_id
                        .as_ref()
                        .and_then(|a| alert_cache.get(a))
                        .cloned();
                    match (content, d.to_email.clone()) {
                        (Some(content), Some(email)) => Some(Job {
                            recipient: Recipient {
                                supporter_id: None,
                                email,
                                first_name: String::new(),
                                last_name: String::new(),
                            },
                            kind: JobKind::Test(content),
                            delivery: d,
                        }),
                        _ => {
                            skipped.push(skip("the alert or address is gone"));
                            None
                        }
                    }
                }
                KIND_ALERT => {
                    let alert_id = d.alert_id.clone().unwrap_or_default();
                    let status = alert_status.get(&alert_id).map(String::as_str);
                    let person = d.supporter_id.as_ref().and_then(|s| recipients.get(s));
                    match (status, person, alert_cache.get(&alert_id)) {
                        (Some("cancelled"), _, _) => {
                            skipped.push(skip("alert cancelled"));
                            None
                        }
                        (_, Some(p), Some(content))
                            if p.status == "active" && p.email.is_some() =>
                        {
                            Some(Job {
                                recipient: p.recipient(),
                                kind: JobKind::Alert(content.clone()),
                                delivery: d,
                            })
                        }
                        (_, Some(p), _) => {
                            skipped.push(skip(&format!("supporter is {}", p.status)));
                            None
                        }
                        _ => {
                            skipped.push(skip("supporter or alert not found"));
                            None
                        }
                    }
                }
                KIND_CONFIRMATION => {
                    let person = d.supporter_id.as_ref().and_then(|s| recipients.get(s));
                    let petition = d.signature_id.as_ref().and_then(|s| petitions.get(s));
                    match (person, petition, d.payload.clone()) {
                        (Some(p), Some((title, sig_status, locale)), Some(token))
                            if p.email.is_some() && sig_status == "pending" =>
                        {
                            Some(Job {
                                recipient: p.recipient(),
                                kind: JobKind::Confirmation {
                                    petition_title: title.clone(),
                                    token,
                                    locale: locale
                                        .as_deref()
                                        .and_then(crate::i18n::Locale::from_tag)
                                        .unwrap_or(crate::i18n::Locale::En),
                                },
                                delivery: d,
                            })
                        }
                        _ => {
                            skipped
                                .push(skip("signature already confirmed, or the person is gone"));
                            None
                        }
                    }
                }
                other => {
                    skipped.push(skip(&format!("unknown kind {other}")));
                    None
                }
            };
            if let Some(job) = job {
                jobs.push(job);
            }
        }
        if !skipped.is_empty() {
            let worker = self.id.clone();
            let alert_ids: HashSet<String> =
                skipped.iter().filter_map(|(_, a, _)| a.clone()).collect();
            let outcomes: Vec<(i64, Outcome)> =
                skipped.into_iter().map(|(id, _, o)| (id, o)).collect();
            self.db
                .run(move |c| db::write_tx(c, |c| db::deliveries::record(c, &worker, &outcomes)))
                .await?;
            finish_alerts(&self.db, alert_ids).await;
        }
        // Forget alerts that are no longer sending, so edits to a draft are
        // seen by its next test send.
        alert_cache.retain(|id, _| alert_status.get(id).is_some_and(|s| s == "sending"));
        Ok(jobs)
    }

    fn composer_base(&self) -> String {
        self.composer.base_url().to_string()
    }
}

/// The content of an alert, rendered once: Markdown to sanitised HTML and
/// to text, the case, and the petition link.
pub fn load_alert_content(
    c: &mut db::DbConnection,
    alert_id: &str,
    base_url: &str,
) -> Result<Option<AlertContent>, DbError> {
    let Some(alert) = db::alerts::get(c, alert_id)? else {
        return Ok(None);
    };
    let case = match crate::domain::CaseId::parse(&alert.case_id) {
        Ok(id) => db::cases::get(c, &id)?,
        Err(_) => None,
    };
    let petition = match alert
        .petition_id
        .as_deref()
        .map(crate::domain::PetitionId::parse)
    {
        Some(Ok(p)) => db::petitions::get(c, &p)?,
        _ => None,
    };
    Ok(Some(AlertContent {
        alert_id: alert.id,
        subject: alert.subject,
        body_html: super::markdown::to_html(&alert.body_markdown),
        body_text: super::markdown::to_text(&alert.body_markdown),
        case_title: case.as_ref().map(|c| c.title.clone()).unwrap_or_default(),
        case_summary: case.map(|c| c.summary).unwrap_or_default(),
        petition_url: petition.map(|p| format!("{base_url}/petitions/{}", p.slug)),
        frame: Default::default(),
    }))
}

async fn send_one(
    composer: &Composer,
    session: &mut super::transport::Session,
    job: &Job,
    config: &WorkerConfig,
    health: &std::sync::Mutex<Health>,
) -> Outcome {
    let built = match &job.kind {
        JobKind::Alert(content) => composer.alert(content, &job.recipient, false),
        JobKind::Test(content) => composer.alert(content, &job.recipient, true),
        JobKind::Confirmation {
            petition_title,
            token,
            locale,
        } => composer.confirmation(petition_title, token, &job.recipient, *locale),
    };
    let out = match built {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(delivery.id = job.delivery.id, error = %e, "message could not be built");
            return Outcome::Failed {
                error: e.to_string(),
                bounced_supporter: None,
            };
        }
    };
    let to = super::mask(&job.recipient.email);
    match session.send(&out).await {
        Ok(()) => {
            health.lock().expect("health lock").consecutive_failures = 0;
            tracing::debug!(delivery.id = job.delivery.id, mail.message_id = %out.message_id, mail.to = %to, "sent");
            Outcome::Sent {
                message_id: out.message_id,
            }
        }
        Err(SendError::Permanent {
            message,
            mailbox_unknown,
        }) => {
            tracing::warn!(delivery.id = job.delivery.id, mail.to = %to, error = %message, "permanent failure");
            Outcome::Failed {
                error: message,
                bounced_supporter: if mailbox_unknown {
                    job.recipient.supporter_id.clone()
                } else {
                    None
                },
            }
        }
        Err(SendError::Temporary(message)) => {
            let attempts = job.delivery.attempts as u32 + 1;
            {
                // Several connections failing in a row means the server is in
                // trouble: pause claiming for a while, doubling up to a minute.
                let mut h = health.lock().expect("health lock");
                h.consecutive_failures += 1;
                if h.consecutive_failures >= config.concurrency as u32 {
                    let steps = (h.consecutive_failures / config.concurrency as u32).min(8);
                    let pause = config
                        .retry_base
                        .saturating_mul(1 << (steps - 1))
                        .min(Duration::from_secs(60));
                    h.paused_until = Some(tokio::time::Instant::now() + pause);
                }
            }
            tracing::warn!(delivery.id = job.delivery.id, mail.to = %to, attempts, error = %message, "temporary failure");
            if attempts >= config.max_attempts {
                Outcome::Failed {
                    error: message,
                    bounced_supporter: None,
                }
            } else {
                Outcome::Retry {
                    next_attempt_at: retry_at(config.retry_base, attempts),
                    error: message,
                }
            }
        }
    }
}

/// Every `poll`, looks up the alerts whose deliveries are claimed and
/// notes the cancelled ones, so a cancel stops the deliveries already claimed
/// and waiting for a connection too, not only those still queued.
async fn watch_cancellations(
    db: Db,
    watched: Arc<std::sync::Mutex<HashSet<String>>>,
    cancelled: Arc<std::sync::RwLock<HashSet<String>>>,
    poll: Duration,
) {
    loop {
        tokio::time::sleep(poll).await;
        let ids: Vec<String> = watched
            .lock()
            .expect("watched lock")
            .iter()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let asked = ids.clone();
        let statuses = match db.run(move |c| db::alerts::statuses(c, &asked)).await {
            Ok(s) => s.into_iter().collect::<HashMap<String, String>>(),
            Err(e) => {
                tracing::warn!(error = %e, "looking up alert statuses failed");
                continue;
            }
        };
        let mut w = watched.lock().expect("watched lock");
        for id in ids {
            match statuses.get(&id).map(String::as_str) {
                Some("sending") => {}
                Some("cancelled") => {
                    cancelled
                        .write()
                        .expect("cancelled lock")
                        .insert(id.clone());
                    w.remove(&id);
                }
                _ => {
                    w.remove(&id);
                }
            }
        }
    }
}

/// The time of the next attempt after `attempts` failures: the base delay,
/// doubled for each earlier failure.
pub fn retry_at(base: Duration, attempts: u32) -> NaiveDateTime {
    let factor = 1u32 << (attempts.saturating_sub(1)).min(20);
    let delay = base.saturating_mul(factor);
    db::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1))
}

/// How often the worker deletes pending signatures whose confirmation time
/// ran out.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

async fn sweep_expired_signatures(db: &Db) {
    let mut total = 0;
    loop {
        let r = db
            .run(|c| db::signatures::sweep_expired(c, db::now(), 1000))
            .await;
        match r {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                tracing::error!(error = %e, "sweeping expired pending signatures failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(
            signatures = total,
            "deleted pending signatures whose confirmation time ran out"
        );
    }
}

/// Outcomes sent but not yet recorded, at most.
const RECORD_BACKLOG: usize = 2000;

/// How often, at most, the recorder looks whether its alerts are finished
/// while outcomes keep coming; it also looks whenever they pause.
const FINISH_CHECK_EVERY: Duration = Duration::from_millis(250);
const FINISH_CHECK_IDLE: Duration = Duration::from_millis(20);

/// Writes outcomes in small batches: one transaction per batch keeps the
/// database from being the bottleneck at thousands of messages a second.
async fn record_loop(
    db: Db,
    worker: String,
    mut rx: tokio::sync::mpsc::Receiver<(i64, Option<String>, Outcome)>,
) {
    let mut buf = Vec::new();
    // Alerts with outcomes recorded since the last look at whether they are
    // finished. Looking costs a query that grows with the alert (PostgreSQL
    // walks the index entries of every row already sent), so during a big
    // send it runs a few times a second rather than after every batch.
    let mut unchecked: HashSet<String> = HashSet::new();
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
        if buf.len() < 50 {
            // Give a moment for more to arrive, without holding results long.
            tokio::time::sleep(Duration::from_millis(5)).await;
            while buf.len() < 500 {
                match rx.try_recv() {
                    Ok(x) => buf.push(x),
                    Err(_) => break,
                }
            }
        }
        let batch = std::mem::take(&mut buf);
        let alert_ids: HashSet<String> = batch.iter().filter_map(|(_, a, _)| a.clone()).collect();
        let outcomes: Vec<(i64, Outcome)> = batch.into_iter().map(|(id, _, o)| (id, o)).collect();
        let w = worker.clone();
        let mut attempt = 0;
        loop {
            let (o, w2) = (outcomes.clone(), w.clone());
            let r = db
                .run(move |c| db::write_tx(c, |c| db::deliveries::record(c, &w2, &o)))
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
                    tracing::error!(error = %e, attempt, "recording delivery outcomes failed; retrying");
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
async fn finish_alerts(db: &Db, alert_ids: HashSet<String>) {
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
        tracing::error!(error = %e, "checking whether alerts finished failed");
    }
}
