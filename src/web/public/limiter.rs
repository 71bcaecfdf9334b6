//! Per-client signing limit: `sign_rate_per_ip` signatures a minute, a full
//! minute's worth allowed in a burst (GCRA, the token bucket without a
//! timer). Keyed by the keyed IP hash; held in memory only, so each process
//! limits on its own and a restart forgets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries are pruned once the table holds this many clients.
const PRUNE_AT: usize = 100_000;

pub struct RateLimiter {
    /// Time between two requests at the sustained rate; `None` = no limit.
    interval: Option<Duration>,
    /// How far ahead of now a client's theoretical arrival time may run.
    tolerance: Duration,
    clients: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        let interval = (per_minute > 0).then(|| Duration::from_secs(60) / per_minute);
        let tolerance = interval
            .map(|i| i * per_minute.saturating_sub(1))
            .unwrap_or_default();
        RateLimiter {
            interval,
            tolerance,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` if `key` may sign now (and counts it), else the whole seconds to
    /// wait, at least 1.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= PRUNE_AT {
            clients.retain(|_, tat| *tat > now);
        }
        let tat = clients.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        clients.insert(key.to_string(), tat + interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_worth_passes_then_the_next_waits() {
        let l = RateLimiter::new(5);
        for _ in 0..5 {
            assert_eq!(l.check("a"), Ok(()));
        }
        let wait = l.check("a").unwrap_err();
        assert!((1..=12).contains(&wait), "{wait}");
        assert_eq!(l.check("b"), Ok(()), "other clients are not affected");
    }

    #[test]
    fn zero_means_no_limit() {
        let l = RateLimiter::new(0);
        for _ in 0..1000 {
            assert_eq!(l.check("a"), Ok(()));
        }
    }
}
