//! Sending: each connection takes prepared jobs from the channel, paces
//! itself (the global rate, then its domain's rate if the config file sets
//! one), skips what was cancelled or whose lease ran out, defers or holds
//! what its receiving domain asks to wait ([`super::domains`]), has the
//! job's kind compose the message, sends it and hands the outcome to the
//! recorder, telling the domains what the server said.
//! A panic in one job is caught here, at the task boundary, so it costs that
//! delivery one attempt instead of the connection and the lease.
//!
//! Nothing here logs or records an address: the recipient appears masked
//! (`mail.to`), and every failure text has its addresses masked before it
//! is logged or kept as the delivery's `last_error` (the transport masks
//! server replies; compose errors and panics are masked here).

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::NaiveDateTime;
use futures_util::FutureExt;

use super::domains::{Domains, Verdict};
use super::{Job, Recorded, WorkerConfig};
use crate::db::{self, deliveries::Outcome};
use crate::domain::{mask_addresses, AlertId};
use crate::mail::compose::Composer;
use crate::mail::reply::ReplyClass;
use crate::mail::transport::{Mailer, SendError, Session};

/// Paces sends to at most `rate` per second across all connections (or
/// across the sends to one domain).
struct Pacer {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        Pacer {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
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

/// What every connection of one worker shares.
#[derive(Clone)]
pub(super) struct Shared {
    pacer: Arc<Pacer>,
    /// The per-domain rates of the config file, by domain.
    domain_pacers: Arc<HashMap<String, Pacer>>,
    /// Throttled and paused receiving domains.
    pub(super) domains: Arc<Domains>,
    health: Arc<Mutex<Health>>,
    stopping: Arc<AtomicBool>,
    /// Alerts cancelled while their deliveries sit claimed in the channel:
    /// senders skip those instead of sending them.
    pub(super) cancelled: Arc<RwLock<HashSet<AlertId>>>,
}

impl Shared {
    pub(super) fn new(config: &WorkerConfig) -> Shared {
        Shared {
            pacer: Arc::new(Pacer::new(config.rate)),
            domain_pacers: Arc::new(
                config
                    .domain_rates
                    .iter()
                    .filter(|(_, rate)| *rate > 0)
                    .map(|(domain, rate)| (domain.clone(), Pacer::new(*rate)))
                    .collect(),
            ),
            domains: Arc::new(Domains::new(config.retry_base, config.lease)),
            health: Arc::default(),
            stopping: Arc::default(),
            cancelled: Arc::default(),
        }
    }

    /// Until when claiming pauses after a storm of temporary failures.
    pub(super) fn paused_until(&self) -> Option<tokio::time::Instant> {
        self.health.lock().expect("health lock").paused_until
    }

    /// From now on, jobs still in the channel are released unsent.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// One connection's sending loop.
pub(super) struct Sender {
    pub(super) jobs: async_channel::Receiver<Job>,
    pub(super) outcomes: tokio::sync::mpsc::Sender<Recorded>,
    pub(super) composer: Composer,
    pub(super) mailer: Mailer,
    pub(super) config: WorkerConfig,
    pub(super) shared: Shared,
}

impl Sender {
    pub(super) async fn run(self) {
        let mut session = self.mailer.session();
        // Stop short of the lease's end: sending and recording take time,
        // and a reaper may requeue the row the moment the lease ends.
        let lease_margin = chrono::Duration::from_std(self.config.lease / 5)
            .unwrap_or(chrono::Duration::seconds(1));
        while let Ok(job) = self.jobs.recv().await {
            let (id, alert_id) = (job.delivery.id, job.delivery.alert_id.clone());
            let handled = AssertUnwindSafe(self.handle(&job, &mut session, lease_margin))
                .catch_unwind()
                .await;
            let outcome = match handled {
                Ok(Some(outcome)) => outcome,
                Ok(None) => continue,
                Err(panic) => {
                    // A panic's text may quote anything it was handed.
                    let message = mask_addresses(&panic_message(&*panic)).into_owned();
                    tracing::error!(delivery.id = id.0, panic = %message, "sending panicked; the delivery goes back to the queue");
                    // The connection may be mid-conversation: start afresh.
                    session = self.mailer.session();
                    self.after_panic(&job, message)
                }
            };
            let _ = self.outcomes.send((id, alert_id, outcome)).await;
        }
        session.close().await;
    }

    /// The outcome of one job, or `None` when nothing may be recorded.
    async fn handle(
        &self,
        job: &Job,
        session: &mut Session,
        lease_margin: chrono::Duration,
    ) -> Option<Outcome> {
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Some(Outcome::Released);
        }
        // A job whose domain waits or is paused takes no pacing slot.
        if let Some(outcome) = self.domain_says_wait(job) {
            return Some(outcome);
        }
        self.shared.pacer.wait().await;
        if let Some(pacer) = self.shared.domain_pacers.get(&job.domain) {
            pacer.wait().await;
        }
        if job
            .delivery
            .locked_until
            .is_some_and(|until| until - lease_margin <= db::now())
        {
            // The lease ran out while the job waited: the row is the
            // reaper's (or another worker's) now. Sending it could duplicate
            // it; recording anything could undo a newer claim. Leave it be.
            tracing::warn!(
                delivery.id = job.delivery.id.0,
                "lease expired before sending; left for the reaper"
            );
            return None;
        }
        if let Some(alert) = job.mail.stopped_by_cancelling() {
            let gone = self
                .shared
                .cancelled
                .read()
                .expect("cancelled lock")
                .contains(alert);
            if gone {
                return Some(Outcome::Cancelled {
                    reason: "alert cancelled".into(),
                });
            }
        }
        // Pacing took time: the domain may have throttled or paused since.
        if let Some(outcome) = self.domain_says_wait(job) {
            return Some(outcome);
        }
        Some(self.send_one(session, job).await)
    }

    /// The outcome of a job not to be sent now because of its domain: held
    /// while the domain is paused for its alert, deferred (no attempt
    /// spent) while the domain waits after a throttling reply.
    fn domain_says_wait(&self, job: &Job) -> Option<Outcome> {
        let alert = job.mail.stopped_by_cancelling();
        match self.shared.domains.verdict(&job.domain, alert, job.gen) {
            Verdict::Send => None,
            Verdict::Hold => Some(Outcome::Held),
            Verdict::Defer(next_attempt_at) => Some(Outcome::Deferred {
                next_attempt_at,
                error: None,
                reply_class: None,
            }),
        }
    }

    async fn send_one(&self, session: &mut Session, job: &Job) -> Outcome {
        let config = &self.config;
        let out = match job
            .mail
            .compose(&self.composer, &job.recipient, job.delivery.id)
        {
            Ok(out) => out,
            Err(e) => {
                let error = mask_addresses(&e.to_string()).into_owned();
                tracing::error!(delivery.id = job.delivery.id.0, error = %error, "message could not be built");
                return Outcome::Failed {
                    error,
                    bounced_supporter: None,
                    reply_class: None,
                };
            }
        };
        let to = crate::mail::mask(&job.recipient.email);
        match session.send(&out).await {
            Ok(()) => {
                self.shared
                    .health
                    .lock()
                    .expect("health lock")
                    .consecutive_failures = 0;
                self.shared.domains.accepted(&job.domain);
                tracing::debug!(delivery.id = job.delivery.id.0, mail.message_id = %out.message_id, mail.to = %to, "sent");
                Outcome::Sent {
                    message_id: out.message_id,
                }
            }
            Err(SendError::Permanent { message, class }) => {
                tracing::warn!(delivery.id = job.delivery.id.0, mail.to = %to, mail.domain = %job.domain, reply.class = %class, error = %message, "permanent failure");
                let alert = job.mail.stopped_by_cancelling();
                if self
                    .shared
                    .domains
                    .refused(&job.domain, alert, class, &message)
                {
                    tracing::warn!(alert.id = alert.map(|a| a.as_str()), mail.domain = %job.domain, "a run of policy refusals: the domain is paused for this alert");
                }
                Outcome::Failed {
                    error: message,
                    // Only a refused address makes the supporter bounced;
                    // a policy refusal says nothing about the address.
                    bounced_supporter: if class == ReplyClass::MailboxGone {
                        job.recipient.supporter_id.clone()
                    } else {
                        None
                    },
                    reply_class: Some(class.as_str()),
                }
            }
            Err(SendError::Temporary {
                message,
                class: ReplyClass::Throttled,
            }) => {
                // The domain asked us to slow down: it waits, this delivery
                // with it, and no attempt is spent. Not a sign of trouble
                // with our server, so the failure storm pause is left alone.
                let next_attempt_at = self.shared.domains.throttled(&job.domain);
                tracing::info!(delivery.id = job.delivery.id.0, mail.domain = %job.domain, until = %next_attempt_at, error = %message, "throttled: the domain waits");
                Outcome::Deferred {
                    next_attempt_at,
                    error: Some(message),
                    reply_class: Some(ReplyClass::Throttled.as_str()),
                }
            }
            Err(SendError::Temporary { message, class }) => {
                let attempts = job.delivery.attempts as u32 + 1;
                // A full mailbox is one person's; anything else temporary may
                // be our server's trouble.
                if class == ReplyClass::Temporary {
                    // Several connections failing in a row means the server
                    // is in trouble: pause claiming for a while, doubling up
                    // to a minute.
                    let mut h = self.shared.health.lock().expect("health lock");
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
                tracing::warn!(delivery.id = job.delivery.id.0, mail.to = %to, mail.domain = %job.domain, reply.class = %class, attempts, error = %message, "temporary failure");
                let alert = job.mail.stopped_by_cancelling();
                self.shared
                    .domains
                    .refused(&job.domain, alert, class, &message);
                self.attempt_failed(job, message, Some(class))
            }
        }
    }

    /// A failed attempt that may succeed later: retried after a backoff,
    /// failed for good once the attempts are used up.
    fn attempt_failed(&self, job: &Job, error: String, class: Option<ReplyClass>) -> Outcome {
        let attempts = job.delivery.attempts as u32 + 1;
        let reply_class = class.map(ReplyClass::as_str);
        if attempts >= self.config.max_attempts {
            Outcome::Failed {
                error,
                bounced_supporter: None,
                reply_class,
            }
        } else {
            Outcome::Retry {
                next_attempt_at: retry_at(self.config.retry_base, attempts),
                error,
                reply_class,
            }
        }
    }

    /// A panicking send counts as a failed attempt (not a release): a
    /// message that panics every time then ends as failed instead of being
    /// claimed again and again. It says nothing about the server, so the
    /// failure storm pause is left alone.
    fn after_panic(&self, job: &Job, message: String) -> Outcome {
        self.attempt_failed(job, format!("sending panicked: {message}"), None)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// The time of the next attempt after `attempts` failures: the base delay,
/// doubled for each earlier failure.
pub fn retry_at(base: Duration, attempts: u32) -> NaiveDateTime {
    let factor = 1u32 << (attempts.saturating_sub(1)).min(20);
    let delay = base.saturating_mul(factor);
    db::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1))
}
