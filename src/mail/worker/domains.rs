//! Receiving domains as one worker sees them (contract §8), in memory and
//! shared by its senders:
//!
//! - **Throttling.** A throttling reply (`421 4.7.28`, `451 4.7.650`) defers
//!   its domain until `deferred_until`, with a delay that starts at the
//!   retry base, doubles with each throttle after the last deferral ended,
//!   is capped at [`MAX_DEFERRAL`] and resets after a message to that domain
//!   is accepted. Other domains keep sending.
//! - **Policy runs.** Ten policy refusals (5.7.x) from one domain among its
//!   last 200 outcomes (so also ten in a row; ten of 200 is the contract's
//!   5%) pause that domain for the alert of the refusal that tripped it.
//!
//! What has to outlive this process (the deferred rows' due time, the
//! pause and its held rows) is handed to the claim loop, which writes it
//! before its next claim ([`Domains::take_writes`]); jobs claimed before
//! that write are held or deferred here, by the senders, instead of being
//! sent. This module never sends and never touches the database.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::time::Instant;

use crate::db;
use crate::domain::AlertId;
use crate::mail::reply::ReplyClass;

/// The longest a throttled domain waits.
pub(super) const MAX_DEFERRAL: Duration = Duration::from_secs(15 * 60);
/// Outcomes per domain looked at for a run of policy refusals.
const WINDOW: usize = 200;
/// Policy refusals within [`WINDOW`] that pause a domain: 5% of 200, which
/// also covers ten in a row.
const POLICY_LIMIT: usize = 10;

/// One domain's throttling and recent outcomes. Kept only while it says
/// something (a deferral, or a policy refusal among the recent outcomes).
#[derive(Default)]
struct DomainState {
    /// Until when the domain waits, as an instant and as a row time.
    deferred_until: Option<(Instant, NaiveDateTime)>,
    /// The delay of the last deferral; `None` once a message got through.
    delay: Option<Duration>,
    /// The last outcomes, newest last: `true` for a policy refusal.
    recent: VecDeque<bool>,
}

impl DomainState {
    fn policy_refusals(&self) -> usize {
        self.recent.iter().filter(|p| **p).count()
    }

    fn push(&mut self, policy: bool) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(policy);
    }

    fn idle(&self, now: Instant) -> bool {
        self.deferred_until.is_none_or(|(until, _)| until <= now)
            && self.delay.is_none()
            && self.policy_refusals() == 0
    }
}

/// A domain paused for an alert by this worker.
struct Pause {
    reply: String,
    since: NaiveDateTime,
    /// The claim generation from which claims see the pause in the
    /// database; `None` until it is written there. Jobs claimed earlier are
    /// held by the senders.
    written: Option<(u64, Instant)>,
}

#[derive(Default)]
struct State {
    domains: HashMap<String, DomainState>,
    /// Deferrals not yet written: domain → until.
    to_defer: HashMap<String, NaiveDateTime>,
    pauses: HashMap<(AlertId, String), Pause>,
}

/// What the claim loop must write before its next claim.
#[derive(Debug, Clone, Default)]
pub(super) struct Writes {
    /// Push the queued deliveries of each domain back to its time.
    pub(super) defer: Vec<(String, NaiveDateTime)>,
    /// Pause each (alert, domain): the refusal and since when.
    pub(super) pause: Vec<(AlertId, String, String, NaiveDateTime)>,
}

impl Writes {
    pub(super) fn is_empty(&self) -> bool {
        self.defer.is_empty() && self.pause.is_empty()
    }
}

/// What a sender is to do with a job before sending it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Send,
    /// Its domain waits: back to the queue until then, no attempt spent.
    Defer(NaiveDateTime),
    /// Its domain is paused for its alert: held.
    Hold,
}

pub(super) struct Domains {
    state: Mutex<State>,
    base: Duration,
    /// Written pauses are forgotten after this (no job claimed before the
    /// write can still be waiting: its lease has run out).
    lease: Duration,
}

impl Domains {
    pub(super) fn new(retry_base: Duration, lease: Duration) -> Domains {
        Domains {
            state: Mutex::default(),
            base: retry_base.max(Duration::from_millis(1)),
            lease,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("domains lock")
    }

    /// Whether a job to `domain` of `alert`, claimed in generation `gen`,
    /// may be sent now.
    pub(super) fn verdict(&self, domain: &str, alert: Option<&AlertId>, gen: u64) -> Verdict {
        let state = self.lock();
        // The common case, every domain well: no key to build.
        if state.pauses.is_empty() && state.domains.is_empty() {
            return Verdict::Send;
        }
        if let Some(alert) = alert {
            if let Some(p) = state.pauses.get(&(alert.clone(), domain.to_string())) {
                if p.written.is_none_or(|(from, _)| gen < from) {
                    return Verdict::Hold;
                }
            }
        }
        match state.domains.get(domain).and_then(|d| d.deferred_until) {
            Some((until, at)) if until > Instant::now() => Verdict::Defer(at),
            _ => Verdict::Send,
        }
    }

    /// A message to `domain` was accepted: its throttling delay starts over.
    pub(super) fn accepted(&self, domain: &str) {
        let mut state = self.lock();
        if state.domains.is_empty() {
            return;
        }
        if let Some(d) = state.domains.get_mut(domain) {
            d.delay = None;
            d.push(false);
            if d.idle(Instant::now()) {
                state.domains.remove(domain);
            }
        }
    }

    /// `domain` throttled us: until when it waits. Replies that arrive
    /// while it already waits (messages that were in flight) do not lengthen
    /// the wait; the first throttle after a wait doubles the delay.
    pub(super) fn throttled(&self, domain: &str) -> NaiveDateTime {
        let mut state = self.lock();
        let now = Instant::now();
        let d = state.domains.entry(domain.to_string()).or_default();
        if let Some((until, at)) = d.deferred_until {
            if until > now {
                return at;
            }
        }
        let delay = match d.delay {
            Some(last) => last.saturating_mul(2).min(MAX_DEFERRAL),
            None => self.base.min(MAX_DEFERRAL),
        };
        d.delay = Some(delay);
        let at = db::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        d.deferred_until = Some((now + delay, at));
        state.to_defer.insert(domain.to_string(), at);
        at
    }

    /// Any other final reply from `domain` for a delivery of `alert`.
    /// Returns whether it paused the domain for that alert (a policy
    /// refusal that completed a run).
    pub(super) fn refused(
        &self,
        domain: &str,
        alert: Option<&AlertId>,
        class: ReplyClass,
        reply: &str,
    ) -> bool {
        let policy = class == ReplyClass::Policy;
        let mut state = self.lock();
        if !policy && !state.domains.contains_key(domain) {
            return false;
        }
        let d = state.domains.entry(domain.to_string()).or_default();
        d.push(policy);
        let run = d.policy_refusals() >= POLICY_LIMIT;
        let Some(alert) = alert.filter(|_| run) else {
            return false;
        };
        // The run is spent on this pause: the next one needs ten more.
        d.recent.clear();
        let key = (alert.clone(), domain.to_string());
        if state.pauses.get(&key).is_some_and(|p| p.written.is_none()) {
            return false;
        }
        state.pauses.insert(
            key,
            Pause {
                reply: reply.to_string(),
                since: db::now(),
                written: None,
            },
        );
        true
    }

    /// The deferrals and pauses to write before claim generation `gen`.
    /// Once written, call [`Domains::written`] with the same `gen`.
    pub(super) fn take_writes(&self) -> Writes {
        let mut state = self.lock();
        let now = Instant::now();
        let lease = self.lease;
        state.pauses.retain(|_, p| {
            p.written
                .is_none_or(|(_, at)| now.duration_since(at) < lease)
        });
        state.domains.retain(|_, d| !d.idle(now));
        Writes {
            defer: state.to_defer.drain().collect(),
            pause: state
                .pauses
                .iter()
                .filter(|(_, p)| p.written.is_none())
                .map(|((a, d), p)| (a.clone(), d.clone(), p.reply.clone(), p.since))
                .collect(),
        }
    }

    /// The pauses of `writes` are in the database from claim generation
    /// `gen` on; deferrals that failed to be written are kept for the next
    /// try by the caller putting them back with [`Domains::retry_writes`].
    pub(super) fn written(&self, writes: &Writes, gen: u64) {
        let mut state = self.lock();
        let now = Instant::now();
        for (a, d, _, _) in &writes.pause {
            if let Some(p) = state.pauses.get_mut(&(a.clone(), d.clone())) {
                p.written = Some((gen, now));
            }
        }
    }

    /// Writes that failed go back, to be tried before the next claim.
    pub(super) fn retry_writes(&self, writes: Writes) {
        let mut state = self.lock();
        for (d, at) in writes.defer {
            let e = state.to_defer.entry(d).or_insert(at);
            *e = (*e).max(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Domains {
        Domains::new(Duration::from_secs(60), Duration::from_secs(300))
    }

    #[tokio::test]
    async fn a_throttled_domain_waits_with_doubling_delay_and_others_do_not() {
        let d = domains();
        let first = d.throttled("slow.example");
        assert_eq!(d.throttled("slow.example"), first, "in-flight replies");
        assert!(matches!(
            d.verdict("slow.example", None, 0),
            Verdict::Defer(at) if at == first
        ));
        assert_eq!(d.verdict("fast.example", None, 0), Verdict::Send);
        let w = d.take_writes();
        assert_eq!(w.defer, vec![("slow.example".to_string(), first)]);
        assert!(d.take_writes().defer.is_empty(), "written once");
        // The wait ends; the next throttle doubles it.
        d.lock()
            .domains
            .get_mut("slow.example")
            .unwrap()
            .deferred_until = None;
        let second = d.throttled("slow.example");
        let gap = (second - db::now()).num_seconds();
        assert!((110..=120).contains(&gap), "{gap}");
        // A message gets through: the delay starts over.
        d.lock()
            .domains
            .get_mut("slow.example")
            .unwrap()
            .deferred_until = None;
        d.accepted("slow.example");
        let third = d.throttled("slow.example");
        let gap = (third - db::now()).num_seconds();
        assert!((50..=60).contains(&gap), "{gap}");
    }

    #[test]
    fn the_delay_stops_at_its_cap() {
        let d = Domains::new(Duration::from_secs(600), Duration::from_secs(300));
        d.throttled("x.example");
        for _ in 0..5 {
            d.lock()
                .domains
                .get_mut("x.example")
                .unwrap()
                .deferred_until = None;
            d.throttled("x.example");
        }
        assert_eq!(
            d.lock().domains["x.example"].delay,
            Some(MAX_DEFERRAL),
            "capped"
        );
    }

    #[test]
    fn ten_policy_refusals_among_the_last_two_hundred_pause_the_domain_of_the_alert() {
        let d = domains();
        let alert = AlertId::new();
        let policy = ReplyClass::Policy;
        for i in 0..9 {
            assert!(!d.refused("block.example", Some(&alert), policy, "550 5.7.1"));
            // Successes in between do not reset the count within the window.
            for _ in 0..i {
                d.accepted("block.example");
            }
        }
        assert_eq!(d.verdict("block.example", Some(&alert), 0), Verdict::Send);
        assert!(d.refused("block.example", Some(&alert), policy, "550 5.7.1 no"));
        assert_eq!(d.verdict("block.example", Some(&alert), 0), Verdict::Hold);
        assert_eq!(
            d.verdict("block.example", Some(&AlertId::new()), 0),
            Verdict::Send,
            "another alert"
        );
        assert_eq!(d.verdict("other.example", Some(&alert), 0), Verdict::Send);
        let w = d.take_writes();
        assert_eq!(w.pause.len(), 1);
        assert_eq!(w.pause[0].1, "block.example");
        assert_eq!(w.pause[0].2, "550 5.7.1 no");
        d.written(&w, 7);
        assert_eq!(d.verdict("block.example", Some(&alert), 6), Verdict::Hold);
        assert_eq!(
            d.verdict("block.example", Some(&alert), 7),
            Verdict::Send,
            "claimed after the write: the database decides"
        );
        assert!(d.take_writes().pause.is_empty());
    }

    #[test]
    fn refusals_spread_thinner_than_five_percent_pause_nothing() {
        let d = domains();
        let alert = AlertId::new();
        // One in 25 (4%): at most eight in any 200.
        for _ in 0..50 {
            assert!(!d.refused("x.example", Some(&alert), ReplyClass::Policy, "5.7.1"));
            for _ in 0..24 {
                d.accepted("x.example");
            }
        }
        assert!(d.lock().domains["x.example"].policy_refusals() < POLICY_LIMIT);
    }

    #[test]
    fn other_refusals_and_unknown_domains_keep_no_state() {
        let d = domains();
        assert!(!d.refused("x.example", None, ReplyClass::MailboxGone, "550"));
        d.accepted("y.example");
        assert!(d.lock().domains.is_empty());
    }
}
