//! Who may try a console password now: failed sign-ins counted per address
//! (a keyed hash of it, whether or not anyone has that address), per
//! address and client, and per client.
//!
//! The rules, in the order they are checked:
//! - a client with [`IP_FAILURES`] failures in [`IP_WINDOW_MINUTES`] is
//!   refused whatever address it tries (password spraying);
//! - an address with [`PAIR_FAILURES`] failures in a row from one client is
//!   locked for that client, for [`LOCK_MINUTES`] and doubling each further
//!   run: one attacker locks only themself out, as django-axes does by
//!   default, and the person at another address goes on signing in;
//! - an address with [`ADDRESS_FAILURES`] failures in a row from any clients
//!   is locked for everyone for [`LOCK_MINUTES`] (a distributed guess),
//!   never longer: nobody can lock an admin out for hours.
//!
//! Known and unknown addresses go through the same records, so the answers
//! (and their delays) never tell who has an account. The records are kept
//! in memory, per process: they forget on restart, and with several nodes
//! each node counts for itself, which multiplies an attacker's budget by the
//! node count, not beyond. This module never sees a password and never
//! stores an address or a client address in the clear.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::security::Keys;

/// Failures from one client within [`IP_WINDOW_MINUTES`] before it is refused.
pub const IP_FAILURES: u32 = 30;
pub const IP_WINDOW_MINUTES: i64 = 15;
/// Failures in a row for one address from one client before that client is
/// locked out of it.
pub const PAIR_FAILURES: u32 = 5;
/// Failures in a row for one address, from any clients, before it is locked.
pub const ADDRESS_FAILURES: u32 = 20;
/// How long a lock lasts; a client's lock doubles with each further run, up
/// to [`MAX_PAIR_LOCK_MINUTES`].
pub const LOCK_MINUTES: i64 = 15;
pub const MAX_PAIR_LOCK_MINUTES: i64 = 4 * 60;
/// Above this many records, the ones with nothing to hold are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// What a sign-in attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try the password; `failures` in a row so far for this address from
    /// this client (to slow the next guess).
    Try { failures: u32 },
    /// Refused without trying: too many failures.
    Locked,
}

#[derive(Default)]
struct Pair {
    in_a_row: u32,
    locked_until: Option<NaiveDateTime>,
}

#[derive(Default)]
struct Address {
    in_a_row: u32,
    locked_until: Option<NaiveDateTime>,
    clients: HashMap<String, Pair>,
}

struct Client {
    failures: u32,
    window_start: NaiveDateTime,
}

#[derive(Default)]
struct Records {
    addresses: HashMap<String, Address>,
    clients: HashMap<String, Client>,
}

/// The records of one process.
pub struct SignInGuard {
    keys: Keys,
    records: Mutex<Records>,
}

impl SignInGuard {
    pub fn new(keys: Keys) -> SignInGuard {
        SignInGuard {
            keys,
            records: Mutex::default(),
        }
    }

    fn address_key(&self, email: &str) -> String {
        self.keys
            .memory_hash(&format!("console-sign-in\u{0}{email}"))
    }

    fn client_key(&self, client: &str) -> String {
        self.keys.memory_hash(client)
    }

    /// Whether `client` may try a password for `email` at `now`.
    pub fn check(&self, email: &str, client: &str, now: NaiveDateTime) -> Verdict {
        let (a, c) = (self.address_key(email), self.client_key(client));
        let r = self.records.lock().expect("sign-in records");
        if let Some(cl) = r.clients.get(&c) {
            if cl.failures >= IP_FAILURES
                && now < cl.window_start + Duration::minutes(IP_WINDOW_MINUTES)
            {
                return Verdict::Locked;
            }
        }
        let Some(addr) = r.addresses.get(&a) else {
            return Verdict::Try { failures: 0 };
        };
        if addr.locked_until.is_some_and(|t| now < t) {
            return Verdict::Locked;
        }
        match addr.clients.get(&c) {
            Some(p) if p.locked_until.is_some_and(|t| now < t) => Verdict::Locked,
            Some(p) => Verdict::Try {
                failures: p.in_a_row,
            },
            None => Verdict::Try { failures: 0 },
        }
    }

    /// Counts a failed attempt; returns the failures in a row for this
    /// address from this client.
    pub fn failed(&self, email: &str, client: &str, now: NaiveDateTime) -> u32 {
        let (a, c) = (self.address_key(email), self.client_key(client));
        let mut r = self.records.lock().expect("sign-in records");
        if r.addresses.len() + r.clients.len() > PRUNE_ABOVE {
            prune(&mut r, now);
        }
        let cl = r.clients.entry(c.clone()).or_insert(Client {
            failures: 0,
            window_start: now,
        });
        if now >= cl.window_start + Duration::minutes(IP_WINDOW_MINUTES) {
            cl.failures = 0;
            cl.window_start = now;
        }
        cl.failures += 1;
        let addr = r.addresses.entry(a).or_default();
        addr.in_a_row += 1;
        if addr.in_a_row.is_multiple_of(ADDRESS_FAILURES) {
            addr.locked_until = Some(now + Duration::minutes(LOCK_MINUTES));
        }
        let pair = addr.clients.entry(c).or_default();
        pair.in_a_row += 1;
        if pair.in_a_row.is_multiple_of(PAIR_FAILURES) {
            let runs = (pair.in_a_row / PAIR_FAILURES - 1).min(8);
            let minutes = (LOCK_MINUTES << runs).min(MAX_PAIR_LOCK_MINUTES);
            pair.locked_until = Some(now + Duration::minutes(minutes));
        }
        pair.in_a_row
    }

    /// The right password: this address starts afresh from this client.
    pub fn succeeded(&self, email: &str, client: &str) {
        let (a, c) = (self.address_key(email), self.client_key(client));
        let mut r = self.records.lock().expect("sign-in records");
        if let Some(addr) = r.addresses.get_mut(&a) {
            addr.in_a_row = 0;
            addr.clients.remove(&c);
        }
    }

    /// Whether `email` is locked for every client at `now`.
    pub fn address_locked(&self, email: &str, now: NaiveDateTime) -> bool {
        let a = self.address_key(email);
        let r = self.records.lock().expect("sign-in records");
        r.addresses
            .get(&a)
            .and_then(|addr| addr.locked_until)
            .is_some_and(|t| now < t)
    }

    /// Forgets every record of `email`: an admin set a new password.
    pub fn forget(&self, email: &str) {
        let a = self.address_key(email);
        self.records
            .lock()
            .expect("sign-in records")
            .addresses
            .remove(&a);
    }
}

/// Drops what holds nothing any more: windows and locks that have passed.
fn prune(r: &mut Records, now: NaiveDateTime) {
    let window = Duration::minutes(IP_WINDOW_MINUTES);
    r.clients.retain(|_, c| now < c.window_start + window);
    r.addresses.retain(|_, a| {
        a.clients
            .retain(|_, p| p.locked_until.is_some_and(|t| now < t));
        a.locked_until.is_some_and(|t| now < t) || !a.clients.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> SignInGuard {
        SignInGuard::new(Keys::new("k".repeat(32).as_str()))
    }

    fn t(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
            + Duration::minutes(minutes)
    }

    #[test]
    fn five_failures_lock_one_client_out_of_one_address_only() {
        let g = guard();
        for n in 1..=PAIR_FAILURES {
            assert_eq!(g.failed("a@x.org", "1.1.1.1", t(0)), n);
        }
        assert_eq!(g.check("a@x.org", "1.1.1.1", t(1)), Verdict::Locked);
        assert_eq!(
            g.check("a@x.org", "2.2.2.2", t(1)),
            Verdict::Try { failures: 0 }
        );
        assert_eq!(
            g.check("b@x.org", "1.1.1.1", t(1)),
            Verdict::Try { failures: 0 }
        );
        assert_eq!(
            g.check("a@x.org", "1.1.1.1", t(LOCK_MINUTES)),
            Verdict::Try { failures: 5 }
        );
    }

    #[test]
    fn a_client_spraying_many_addresses_is_refused_for_all() {
        let g = guard();
        for i in 0..IP_FAILURES {
            g.failed(&format!("u{i}@x.org"), "1.1.1.1", t(0));
        }
        assert_eq!(g.check("new@x.org", "1.1.1.1", t(1)), Verdict::Locked);
        assert_eq!(
            g.check("new@x.org", "1.1.1.1", t(IP_WINDOW_MINUTES)),
            Verdict::Try { failures: 0 }
        );
    }

    #[test]
    fn many_clients_lock_an_address_for_a_while_never_for_hours() {
        let g = guard();
        for i in 0..ADDRESS_FAILURES {
            g.failed("a@x.org", &format!("10.0.0.{i}"), t(0));
        }
        assert_eq!(g.check("a@x.org", "9.9.9.9", t(1)), Verdict::Locked);
        assert_eq!(
            g.check("a@x.org", "9.9.9.9", t(LOCK_MINUTES)),
            Verdict::Try { failures: 0 }
        );
    }

    #[test]
    fn success_and_a_new_password_start_afresh() {
        let g = guard();
        for _ in 0..4 {
            g.failed("a@x.org", "1.1.1.1", t(0));
        }
        g.succeeded("a@x.org", "1.1.1.1");
        assert_eq!(
            g.check("a@x.org", "1.1.1.1", t(0)),
            Verdict::Try { failures: 0 }
        );
        for _ in 0..5 {
            g.failed("a@x.org", "1.1.1.1", t(0));
        }
        g.forget("a@x.org");
        assert_eq!(
            g.check("a@x.org", "1.1.1.1", t(0)),
            Verdict::Try { failures: 0 }
        );
    }
}
