//! The mail worker: claims due deliveries from the queue with a lease
//! (`claim`), has each kind compose its message (`crate::mail::kinds`),
//! sends them over `send_concurrency` connections at no more than
//! `send_rate` (`send`), and records every outcome (`record`). Receiving
//! domains that throttle or refuse on policy grounds are tracked in
//! `domains`: a throttled domain waits while the others keep sending, a
//! run of policy refusals pauses that domain for the alert.
//!
//! Guarantees: a delivery is marked sent only after the server accepted it,
//! so a crash can repeat only the messages in flight at that moment, never
//! skip one (their lease runs out and they are claimed again). On shutdown
//! the worker stops claiming, finishes what is in flight and releases the
//! rest. A storm of temporary failures pauses claiming, so an outage burns
//! the attempts of the few messages in flight, not of the whole queue. A
//! send that panics is logged and its delivery put back for a later attempt;
//! the connection carries on with the next.
//!
//! An idle worker waits for a wake-up: from the actions of its own process,
//! and on PostgreSQL from any process's NOTIFY ([`crate::db::listen`]); it
//! looks at the queue every `worker_poll_ms` all the same.
//!
//! The web keeps priority: with `worker_nice` above 0 the worker runs on a
//! runtime of its own whose threads (its database calls' too) have that
//! nice value, so under load the pages and signing keep the cores and the
//! mail finishes later; idle cores it still takes whole.
//!
//! The worker only moves mail. Periodic jobs that are not about the queue
//! (expiring pending signatures) live in [`crate::jobs`].

mod claim;
mod domains;
mod record;
mod send;

pub use send::retry_at;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::compose::{AlertContent, Composer, Recipient};
use super::kinds::Mail;
use super::transport::Mailer;
use crate::db::deliveries::{Delivery, Outcome};
use crate::db::{self, Db, DbError};
use crate::domain::{AlertId, DeliveryId};

/// The longest a claim waits for the web while it is crowded
/// ([`crate::pressure`]): in a surge the mail keeps going, a claim of
/// [`WorkerConfig::claim_batch`] at least every quarter of a second.
const YIELD_AT_MOST: Duration = Duration::from_millis(250);

/// How the worker behaves; taken from `Settings`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    /// Messages per second at most; 0 = unlimited.
    pub rate: u32,
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub lease: Duration,
    /// How often to look for confirmations between the claims of a big
    /// send, and for cancelled alerts.
    pub poll: Duration,
    /// How long an idle worker waits for a wake-up before it looks at the
    /// queue anyway (`worker_poll_ms`): the fallback when no wake-up comes
    /// (a process that queued mail without one, a dropped `LISTEN`).
    pub idle_poll: Duration,
    /// Messages per second at most to each listed domain (`[mail.domain_rates]`).
    pub domain_rates: Vec<(String, u32)>,
    /// How long a domain paused after a run of policy refusals stays paused
    /// unless a campaigner resumes it sooner.
    pub domain_pause: Duration,
}

impl WorkerConfig {
    /// Deliveries claimed at once. A claimed delivery may wait for two
    /// batches (one in the channel, one being handed over) before it is
    /// sent, so with a rate limit the batch stays small enough for that wait
    /// to fit well inside the lease.
    /// A per-domain rate bounds it the same way: a batch may be all to the
    /// slowest paced domain.
    pub fn claim_batch(&self) -> i64 {
        let mut want = (self.concurrency * 16).max(32) as u64;
        let slowest = std::iter::once(self.rate)
            .chain(self.domain_rates.iter().map(|(_, r)| *r))
            .filter(|r| *r > 0)
            .min();
        if let Some(rate) = slowest {
            let fits = (rate as u64).saturating_mul(self.lease.as_secs()) / 4;
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
            idle_poll: Duration::from_millis(s.worker_poll_ms),
            domain_rates: s.domain_rates.clone(),
            domain_pause: Duration::from_secs(s.domain_pause_minutes.saturating_mul(60)),
        }
    }
}

/// Runs `work` on a runtime of its own, one thread per core plus its
/// blocking pool, every thread at nice `nice` (Linux keeps a nice value
/// per thread; elsewhere the threads keep the process's). With `nice` 0,
/// on the current runtime. The handle ends when `work` does, and with a
/// panic when it panicked.
pub fn spawn_niced<F>(nice: i32, work: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if nice <= 0 {
        return tokio::spawn(work);
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("clarion-mail")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "no runtime of its own for the mail worker; it runs beside the web");
            return tokio::spawn(work);
        }
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("clarion-mail-main".into())
        .spawn(move || {
            lower_priority(nice);
            runtime.block_on(work);
            let _ = done_tx.send(());
            // Waits for the blocking threads to finish their calls.
            drop(runtime);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the mail worker's thread");
    }
    tokio::spawn(async move {
        if done_rx.await.is_err() {
            panic!("the mail worker's thread ended without finishing (it panicked)");
        }
    })
}

/// Gives the calling thread nice value `nice` (Linux: per thread).
fn lower_priority(nice: i32) {
    // On failure the thread keeps the process's priority.
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::warn!(error = %e, "the mail worker's thread keeps the web's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// One prepared job: a claimed delivery, who it goes to and what it says.
struct Job {
    delivery: Delivery,
    recipient: Recipient,
    mail: Mail,
    /// The recipient's domain: the row's, or (rows queued before domains
    /// were kept) computed from the address.
    domain: String,
    /// The claim it came from, numbered: a domain paused in memory holds
    /// the jobs claimed before the pause reached the database.
    gen: u64,
}

/// What became of one delivery, on its way to the recorder, with the alert
/// it belongs to (whose end the recorder then looks for).
type Recorded = (DeliveryId, Option<AlertId>, Outcome);

pub struct Worker {
    db: Db,
    composer: Composer,
    mailer: Mailer,
    config: WorkerConfig,
    wakeup: Arc<Notify>,
    id: String,
    /// Alerts with claimed deliveries, whose cancellation senders must see.
    watched: Arc<std::sync::Mutex<HashSet<AlertId>>>,
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
        let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Recorded>(record::RECORD_BACKLOG);
        let shared = send::Shared::new(&self.config);
        let watcher = tokio::spawn(claim::watch_cancellations(
            self.db.clone(),
            self.watched.clone(),
            shared.cancelled.clone(),
            self.config.poll,
        ));

        let senders: Vec<_> = (0..self.config.concurrency)
            .map(|_| {
                tokio::spawn(
                    send::Sender {
                        jobs: job_rx.clone(),
                        outcomes: out_tx.clone(),
                        composer: self.composer.clone(),
                        mailer: self.mailer.clone(),
                        config: self.config.clone(),
                        shared: shared.clone(),
                    }
                    .run(),
                )
            })
            .collect();
        drop(out_tx);
        drop(job_rx);

        let recorder = tokio::spawn(record::record_loop(
            self.db.clone(),
            worker_id.clone(),
            out_rx,
        ));

        let mut alert_cache: HashMap<AlertId, Arc<AlertContent>> = HashMap::new();
        let mut last_reap = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut last_priority = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut gen: u64 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Some(until) = shared.paused_until() {
                if until > tokio::time::Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            // Deferrals and pauses the senders decided reach the database
            // before the next claim, which then skips them.
            gen += 1;
            self.write_domains(&shared, gen).await;
            if last_reap.elapsed() > claim::REAP_EVERY {
                last_reap = tokio::time::Instant::now();
                self.reap().await;
                self.release_paused_domains().await;
            }
            // Confirmations and test sends go first, but looking for them
            // scans past every queued alert delivery: during a big send, look
            // at most once per poll interval.
            let with_priority = last_priority.elapsed() >= self.config.poll;
            // The web first: while this process's writers are crowded (a
            // surge of signers), wait a moment before claiming more.
            crate::pressure::yield_to_web(YIELD_AT_MOST).await;
            if with_priority {
                last_priority = tokio::time::Instant::now();
            }
            let jobs = match self
                .claim_and_prepare(want, with_priority, &mut alert_cache, gen)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error.cause_chain = ?e, "claiming deliveries failed");
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
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
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
        shared.stop();
        job_tx.close();
        for s in senders {
            // A sender catches the panics of its sends; one that got here
            // died outside them, and its deliveries wait for the reaper.
            if let Err(e) = s.await {
                tracing::error!(error.cause_chain = ?e, "a mail sender task failed");
            }
        }
        if let Err(e) = recorder.await {
            // Unrecorded outcomes: those deliveries are sent again once
            // their lease runs out (a duplicate rather than a skip).
            tracing::error!(error.cause_chain = ?e, "the outcome recorder task failed");
        }
        watcher.abort();
        let id = worker_id.clone();
        match self
            .db
            .run(move |c| db::deliveries::release_all(c, &id))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(deliveries = n, "released leases at shutdown"),
            Ok(_) => {}
            Err(e) => tracing::error!(error.cause_chain = ?e, "releasing leases failed"),
        }
        tracing::info!(worker.id = %worker_id, "mail worker stopped");
    }
}

/// The alert preview's old way in; the content is
/// [`crate::mail::alert_content`] now. Kept while the preview moves.
pub fn load_alert_content(
    c: &mut db::DbConnection,
    alert_id: &str,
    base_url: &str,
) -> Result<Option<AlertContent>, DbError> {
    match AlertId::parse(alert_id) {
        Ok(id) => super::alert_content(c, &id, base_url),
        // Stored ids are UUIDs: anything else names no alert.
        Err(_) => Ok(None),
    }
}
