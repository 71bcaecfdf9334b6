//! Pressure: whether the web's batching writers are crowded right now, so
//! that background work of the same process (the mail worker's claims)
//! can stand aside for a moment and leave the cores and the database to
//! the people signing.
//!
//! Why: in a surge the signature writer is busy nearly all the time and
//! everything else in the process competes with it; measured under
//! bench/surge, a worker sending confirmation mails meanwhile cost signing
//! a quarter of its rate. The mail then goes out later, never not at all:
//! a caller waits at most the bound it gives.
//!
//! Owns: one process-wide mark, the moment a writer last stored a crowded
//! batch ([`crowded`]), and the wait that reads it ([`yield_to_web`]).
//!
//! Never: makes the web wait, or a caller wait past its bound; another
//! process (a worker node of its own) never sees this one's pressure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A batch of at least this many requests means requests are queueing.
pub const CROWDED_BATCH: usize = 4;

/// How long after a crowded batch the web counts as busy.
const BUSY_FOR: Duration = Duration::from_millis(20);

/// How often a waiting caller looks again.
const STEP: Duration = Duration::from_millis(5);

/// Microseconds from [`epoch`] to the last crowded batch, plus one (0:
/// none yet).
static LAST_CROWDED: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1
}

/// A writer stored a batch of `size` requests: at [`CROWDED_BATCH`] and
/// above, the web is busy for the next moment.
pub fn stored(size: usize) {
    if size >= CROWDED_BATCH {
        crowded();
    }
}

/// Marks the web busy from now.
pub fn crowded() {
    LAST_CROWDED.store(micros_since_epoch(), Ordering::Relaxed);
}

/// Whether a writer stored a crowded batch within the last moment.
pub fn is_busy() -> bool {
    busy_at(LAST_CROWDED.load(Ordering::Relaxed), micros_since_epoch())
}

/// Whether the web is busy at `now`, the last crowded batch at `last`
/// (both as [`LAST_CROWDED`] counts).
fn busy_at(last: u64, now: u64) -> bool {
    last != 0 && now.saturating_sub(last) < BUSY_FOR.as_micros() as u64
}

/// Waits while the web is busy, at most `most`; how long it waited.
pub async fn yield_to_web(most: Duration) -> Duration {
    let since = Instant::now();
    while is_busy() && since.elapsed() < most {
        tokio::time::sleep(STEP.min(most.saturating_sub(since.elapsed()))).await;
    }
    since.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the mark is process-wide, and tests run in parallel.
    #[tokio::test]
    async fn a_crowded_batch_makes_the_web_busy_for_a_moment_and_others_wait_within_their_bound() {
        let moment = BUSY_FOR.as_micros() as u64;
        assert!(!busy_at(0, 5), "no crowded batch yet");
        assert!(busy_at(1_000, 1_000 + moment - 1));
        assert!(!busy_at(1_000, 1_000 + moment), "the moment has passed");
        stored(CROWDED_BATCH);
        assert!(is_busy(), "a batch at the mark is a crowd");
        // Busy the whole time (marked a minute ahead), a caller still goes
        // on at its bound.
        LAST_CROWDED.store(micros_since_epoch() + 60_000_000, Ordering::Relaxed);
        let waited = yield_to_web(Duration::from_millis(30)).await;
        LAST_CROWDED.store(0, Ordering::Relaxed);
        assert!(
            waited >= Duration::from_millis(30),
            "it waited while busy: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(30),
            "and not past its bound: {waited:?}"
        );
    }
}
