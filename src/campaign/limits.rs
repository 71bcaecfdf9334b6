//! The per-client signing limit: `sign_rate_per_ip` signatures a minute per
//! keyed IP hash, a full minute's worth allowed at once.
//!
//! # Policy
//!
//! * **SQLite** (one process serves): the limit is kept in this process's
//!   memory (GCRA, the token bucket without a timer); a restart forgets.
//! * **PostgreSQL** (any number of `serve` nodes): the limit is shared
//!   through the database, so a signer cannot multiply it by the node
//!   count. Checks are batched: a task per process gathers every check
//!   waiting and sends them in one round trip (a few batches may be out
//!   at once)
//!   (`db::limits::take`, a sliding minute counted by the database's
//!   clock), so the cost does not grow with the signing rate. A client
//!   refused is remembered here until its wait is over and refused again
//!   without asking. When the database cannot answer, the in-memory limit
//!   decides (the signature itself then fails anyway).
//! * **Leases** (PostgreSQL): a node asking for a client that keeps signing
//!   takes more than it has requests waiting, a block of the client's
//!   minute, and admits the rest from memory until the minute it was
//!   counted in ends (by the database's clock). It asks for as many more
//!   as it was granted in that minute so far (each ask of a lone request
//!   twice the one before: 1, 2, 4, 8 …), at most `per_minute / 16` more,
//!   so a client signing once costs one signature, a
//!   client signing thousands of times a minute costs a round trip per
//!   doubling, and what a node holds unspent when the minute ends (lost,
//!   never given twice) is at most a sixteenth of the limit. Every block
//!   is counted in the table when it is taken: the total across nodes never
//!   exceeds the limit. Below 16 a minute there are no blocks.
//! * Only signatures that go ahead are counted; a refused attempt costs the
//!   client nothing but the wait.
//!
//! Never: HTTP (the 429 and its `Retry-After` are the web's), or which
//! address a client is known by (the web hashes what it believes).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::db::{self, Db};

/// In-memory tables are pruned once they hold this many clients.
const PRUNE_AT: usize = 100_000;

/// Checks sent to the database in one round trip at most.
const MAX_BATCH: usize = 4096;

/// Batches out to the database at once, per process. Each is its own
/// transaction that locks its clients' rows in key order, so two never
/// deadlock; they only queue on a client both hold.
const IN_FLIGHT: usize = 4;

/// How often the shared counters of past minutes are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A lease is at most this share of the limit (`per_minute / LEASE_SHARE`).
const LEASE_SHARE: u32 = 16;

/// `Ok` if the client may sign now (and it is counted), else the whole
/// seconds to wait, at least 1.
pub type Verdict = Result<(), u64>;

/// The signing limit of one process; cheap to clone.
#[derive(Clone)]
pub struct SignLimit {
    inner: Arc<Inner>,
}

enum Inner {
    Off,
    Local(Gcra),
    Shared(Shared),
}

impl SignLimit {
    /// The limit for `per_minute` signatures a minute (0: none): shared
    /// through the database on PostgreSQL, in memory on SQLite. Must be
    /// called on the tokio runtime (the shared limit's batching task
    /// runs there).
    pub fn start(db: &Db, per_minute: u32) -> SignLimit {
        let inner = if per_minute == 0 {
            Inner::Off
        } else if db.is_sqlite() {
            Inner::Local(Gcra::new(per_minute))
        } else {
            Inner::Shared(Shared::start(db.clone(), per_minute))
        };
        SignLimit {
            inner: Arc::new(inner),
        }
    }

    /// The in-memory limit alone, whatever the database.
    pub fn local(per_minute: u32) -> SignLimit {
        let inner = match per_minute {
            0 => Inner::Off,
            n => Inner::Local(Gcra::new(n)),
        };
        SignLimit {
            inner: Arc::new(inner),
        }
    }

    /// May the client known by every one of `keys` sign now? Asked key by
    /// key, in order, stopping at the first refusal, so a refused client is
    /// counted under none of the keys after it. Around midnight a client is
    /// known by yesterday's hash and today's (`DayKeys::limit_hashes`):
    /// yesterday's carries the minute before midnight, and today's is
    /// counted from midnight on, so the limit holds across the day change.
    pub async fn check_all(&self, keys: &[String]) -> Verdict {
        for key in keys {
            self.check(key).await?;
        }
        Ok(())
    }

    /// May the client known by `key` sign now? Counts it if so.
    pub async fn check(&self, key: &str) -> Verdict {
        match &*self.inner {
            Inner::Off => Ok(()),
            Inner::Local(g) => g.check(key),
            Inner::Shared(s) => s.check(key).await,
        }
    }
}

/// The limit shared through the database: a refused-client cache in front
/// of a batching task.
struct Shared {
    checks: mpsc::UnboundedSender<(String, oneshot::Sender<Verdict>)>,
    refused: Arc<Mutex<HashMap<String, Instant>>>,
    /// What this node holds of each client's minute.
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    /// Decides when the database cannot.
    fallback: Arc<Gcra>,
}

impl Shared {
    fn start(db: Db, per_minute: u32) -> Shared {
        let (tx, rx) = mpsc::unbounded_channel();
        let refused = Arc::new(Mutex::new(HashMap::new()));
        let leases = Arc::new(Mutex::new(HashMap::new()));
        let fallback = Arc::new(Gcra::new(per_minute));
        tokio::spawn(batch_loop(
            db,
            per_minute,
            rx,
            Tables {
                refused: refused.clone(),
                leases: leases.clone(),
                fallback: fallback.clone(),
            },
        ));
        Shared {
            checks: tx,
            refused,
            leases,
            fallback,
        }
    }

    async fn check(&self, key: &str) -> Verdict {
        let now = Instant::now();
        if let Some(lease) = lock(&self.leases).get_mut(key) {
            if lease.spend(now) {
                return Ok(());
            }
        }
        if let Some(until) = lock(&self.refused).get(key) {
            if *until > now {
                return Err(whole_secs(*until - now));
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.checks.send((key.to_string(), tx)).is_err() {
            // The batching task is gone (the runtime is shutting down).
            return self.fallback.check(key);
        }
        match rx.await {
            Ok(v) => v,
            Err(_) => self.fallback.check(key),
        }
    }
}

/// What the batching task shares with `Shared::check`.
#[derive(Clone)]
struct Tables {
    refused: Arc<Mutex<HashMap<String, Instant>>>,
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    fallback: Arc<Gcra>,
}

/// Takes every check waiting, asks the database about all of them at once
/// (with a lease's block more for clients that keep signing), answers each;
/// again, until the process ends.
async fn batch_loop(
    db: Db,
    per_minute: u32,
    mut checks: mpsc::UnboundedReceiver<(String, oneshot::Sender<Verdict>)>,
    tables: Tables,
) {
    let cap = per_minute / LEASE_SHARE;
    let per_minute = i32::try_from(per_minute).unwrap_or(i32::MAX);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut last_prune = Instant::now();
    loop {
        // Up to IN_FLIGHT batches at once: a check waits for one round
        // trip, not for the one before it as well. A turn first, then
        // every check waiting by then.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = checks.recv().await else {
            return;
        };
        let mut waiting: BTreeMap<String, Vec<oneshot::Sender<Verdict>>> = BTreeMap::new();
        waiting.entry(first.0).or_default().push(first.1);
        let mut taken = 1;
        while taken < MAX_BATCH {
            match checks.try_recv() {
                Ok((key, tx)) => {
                    waiting.entry(key).or_default().push(tx);
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        // Sorted by key (a BTreeMap): nodes lock the rows in one order.
        let now = Instant::now();
        let batch: Vec<(String, i32)> = {
            let leases = lock(&tables.leases);
            waiting
                .iter()
                .map(|(k, v)| {
                    let extra = leases.get(k).map_or(0, |l| l.extra(now, cap));
                    let want = u32::try_from(v.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(extra);
                    (k.clone(), i32::try_from(want).unwrap_or(i32::MAX))
                })
                .collect()
        };
        let prune = last_prune.elapsed() >= PRUNE_EVERY;
        if prune {
            last_prune = Instant::now();
        }
        let (db, tables) = (db.clone(), tables.clone());
        tokio::spawn(async move {
            let _permit = permit;
            answer_batch(db, batch, per_minute, prune, waiting, tables).await;
        });
    }
}

/// One round trip for one batch, and every check of it answered.
async fn answer_batch(
    db: Db,
    batch: Vec<(String, i32)>,
    per_minute: i32,
    prune: bool,
    mut waiting: BTreeMap<String, Vec<oneshot::Sender<Verdict>>>,
    tables: Tables,
) {
    // Before the round trip: the minute ends no sooner than this plus what
    // the database reports is left of it.
    let asked = Instant::now();
    let answer = db
        .run(move |c| {
            if prune {
                if let Err(e) = db::limits::prune(c) {
                    tracing::warn!(error.cause_chain = ?e, "pruning the signing limit's counters failed");
                }
            }
            db::limits::take(c, &batch, per_minute)
        })
        .await;
    match answer {
        Ok(granted) => {
            let now = Instant::now();
            let mut refused = lock(&tables.refused);
            if refused.len() >= PRUNE_AT {
                refused.retain(|_, until| *until > now);
            }
            let mut leases = lock(&tables.leases);
            if leases.len() >= PRUNE_AT {
                leases.retain(|_, l| l.live(now));
            }
            for g in granted {
                let Some(senders) = waiting.remove(&g.k) else {
                    continue;
                };
                let until = asked + Duration::from_millis(u64::try_from(g.window_ms).unwrap_or(0));
                let admitted = leases.entry(g.k.clone()).or_default().grant(
                    u32::try_from(senders.len()).unwrap_or(u32::MAX),
                    u32::try_from(g.admitted).unwrap_or(0),
                    until,
                    now,
                );
                let admitted = admitted as usize;
                let wait = u64::try_from(g.retry_secs).unwrap_or(1).max(1);
                if admitted < senders.len() {
                    refused.insert(g.k.clone(), now + Duration::from_secs(wait));
                }
                for (i, tx) in senders.into_iter().enumerate() {
                    let _ = tx.send(if i < admitted { Ok(()) } else { Err(wait) });
                }
            }
        }
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "the shared signing limit failed; this process's own limit decides");
        }
    }
    // Whatever the database did not answer for.
    for (key, senders) in waiting {
        for tx in senders {
            let _ = tx.send(tables.fallback.check(&key));
        }
    }
}

/// What one node holds of one client's minute on the shared limit: the
/// arithmetic of leases, apart from the database and the clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Lease {
    /// Granted to this node and not yet admitted.
    left: u32,
    /// Granted to this node in the lease's minute, spent or not.
    granted: u32,
    /// When that minute ends, as seen from here (never later than by the
    /// database's clock); `None` before the first grant.
    until: Option<Instant>,
}

impl Lease {
    /// Is the minute it was counted in still running?
    fn live(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Admits one signature from what is left, if any is and its minute
    /// has not ended.
    fn spend(&mut self, now: Instant) -> bool {
        if self.live(now) && self.left > 0 {
            self.left -= 1;
            true
        } else {
            false
        }
    }

    /// How many to ask for beyond the requests waiting: as many as were
    /// granted in this minute so far (so the block doubles), at most `cap`;
    /// none for a client new this minute.
    fn extra(&self, now: Instant, cap: u32) -> u32 {
        if self.live(now) {
            self.granted.min(cap)
        } else {
            0
        }
    }

    /// Records that the database granted `admitted` for `waiting` requests,
    /// counted in a minute that ends at `until`. Returns how many of the
    /// waiting go ahead; the rest of the grant is kept to spend later. What
    /// is left of an earlier minute is dropped, never carried over.
    fn grant(&mut self, waiting: u32, admitted: u32, until: Instant, now: Instant) -> u32 {
        let same_minute = self.live(now)
            && self.until.is_some_and(|u| {
                let apart = if u > until { u - until } else { until - u };
                apart < Duration::from_secs(1)
            });
        if !same_minute {
            *self = Lease {
                until: Some(until),
                ..Lease::default()
            };
        } else if let Some(u) = self.until {
            self.until = Some(u.min(until));
        }
        let go = admitted.min(waiting);
        self.granted = self.granted.saturating_add(admitted);
        self.left = self.left.saturating_add(admitted - go);
        go
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The in-memory limit: GCRA, keyed by the client's key.
struct Gcra {
    /// Time between two signatures at the sustained rate.
    interval: Duration,
    /// How far ahead of now a client's theoretical arrival time may run.
    tolerance: Duration,
    clients: Mutex<HashMap<String, Instant>>,
}

impl Gcra {
    fn new(per_minute: u32) -> Gcra {
        let per_minute = per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        Gcra {
            interval,
            tolerance: interval * (per_minute - 1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key: &str) -> Verdict {
        let now = Instant::now();
        let mut clients = lock(&self.clients);
        if clients.len() >= PRUNE_AT {
            clients.retain(|_, tat| *tat > now);
        }
        let tat = clients.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(whole_secs(ahead - self.tolerance));
        }
        clients.insert(key.to_string(), tat + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_minutes_worth_passes_then_the_next_waits() {
        let l = SignLimit::local(5);
        for _ in 0..5 {
            assert_eq!(l.check("a").await, Ok(()));
        }
        let wait = l.check("a").await.unwrap_err();
        assert!((1..=12).contains(&wait), "{wait}");
        assert_eq!(l.check("b").await, Ok(()), "other clients are not affected");
    }

    #[test]
    fn a_lease_doubles_within_a_minute_up_to_its_cap_and_spends_only_what_was_granted() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(30);
        let cap = 100_000 / LEASE_SHARE;
        let mut l = Lease::default();
        assert_eq!(
            l.extra(t0, cap),
            0,
            "a client new this minute asks for itself alone"
        );
        assert!(!l.spend(t0), "nothing held before a grant");
        // One request waiting, granted exactly: nothing left over.
        assert_eq!(l.grant(1, 1, end, t0), 1);
        assert!(!l.spend(t0));
        // Each ask, the request waiting included, twice the one before.
        let mut asked = vec![];
        for _ in 0..5 {
            let extra = l.extra(t0, cap);
            asked.push(1 + extra);
            assert_eq!(l.grant(1, 1 + extra, end, t0), 1);
            for _ in 0..extra {
                assert!(l.spend(t0), "each signature granted is admitted once");
            }
            assert!(!l.spend(t0), "and no more");
        }
        assert_eq!(asked, [2, 4, 8, 16, 32], "each ask twice the one before");
        assert_eq!(l.granted, 63);
        let mut capped = Lease {
            granted: 1_000_000,
            ..l
        };
        assert_eq!(
            capped.extra(t0, cap),
            cap,
            "at most a sixteenth of the limit"
        );
        assert_eq!(capped.extra(t0, 0), 0, "no blocks below 16 a minute");
        assert!(!capped.spend(t0));
    }

    #[test]
    fn a_lease_is_not_spent_after_its_minute_and_a_short_grant_refuses_the_rest() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(10);
        let mut l = Lease::default();
        // Five waiting, eight granted: five go, three held.
        assert_eq!(l.grant(5, 8, end, t0), 5);
        assert!(l.spend(t0 + Duration::from_secs(9)));
        assert!(!l.spend(end), "the minute it was counted in is over");
        assert_eq!(l.extra(end, 1000), 0, "a new minute starts from nothing");
        // The next minute's grant drops what was left of the last one.
        let next = end + Duration::from_secs(60);
        assert_eq!(l.grant(1, 3, next, end), 1);
        assert_eq!((l.left, l.granted), (2, 3));
        // The database granted fewer than were waiting: only those go.
        assert_eq!(l.grant(4, 1, next, end), 1);
        assert_eq!(l.left, 2, "nothing more to hold");
        assert_eq!(l.grant(4, 0, next, end), 0);
    }

    #[tokio::test]
    async fn the_limit_holds_across_midnight_when_the_ip_key_changes() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::security::DayKeys::new(dir.path());
        let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let l = SignLimit::local(5);
        let before = keys
            .limit_hashes("192.0.2.1", t("2026-12-01 23:59:50"))
            .unwrap();
        assert_eq!(before.len(), 1);
        for _ in 0..5 {
            assert_eq!(l.check_all(&before).await, Ok(()));
        }
        let after = keys
            .limit_hashes("192.0.2.1", t("2026-12-02 00:00:05"))
            .unwrap();
        assert_eq!(after.len(), 2, "yesterday's hash and today's");
        assert_ne!(after[1], before[0], "today's key is another");
        assert!(
            l.check_all(&after).await.is_err(),
            "midnight gives no new allowance"
        );
        // What the limit would have done with today's hash alone.
        assert_eq!(l.check(&after[1]).await, Ok(()));
        // Once the grace is over, today's hash alone carries the count,
        // which it has held since midnight.
        let later = keys
            .limit_hashes("192.0.2.1", t("2026-12-02 00:02:05"))
            .unwrap();
        assert_eq!(later, vec![after[1].clone()]);
    }

    #[tokio::test]
    async fn zero_means_no_limit() {
        let l = SignLimit::local(0);
        for _ in 0..1000 {
            assert_eq!(l.check("a").await, Ok(()));
        }
    }
}
