//! The write gate: SQLite write transactions of one process take turns in
//! memory, not through SQLite's busy handler.
//!
//! Why: SQLite lets one writer at a time, and a connection that finds the
//! lock taken sleeps in its busy handler, 1, 2, 5, 10 … ms, however soon
//! the lock is free again. With the signature writer, the confirmation
//! writer and the mail worker's claims and records all writing, every
//! collision cost the signature writer (and every request waiting on its
//! batch) milliseconds idle: measured under bench/surge, 225 such sleeps
//! of 6 ms on average in 4 s. Waiting here instead wakes the next writer
//! the moment the lock is released.
//!
//! Urgent writers first: the signature and confirmation writers, on whose
//! commits requests wait, mark their threads [`urgent`]; the others (the
//! mail worker's claims and records, the checkpointer) stand aside while
//! an urgent writer waits or has just written, up to [`DEFER`] each time,
//! so in a surge the mail goes out later, never not at all.
//!
//! Owns: one gate per SQLite file per process ([`for_file`]), entered on a
//! thread while it holds a pooled connection ([`enter`], done by
//! `Db::run` and `Db::get`), and held by [`super::write_tx`] from `BEGIN
//! IMMEDIATE` to `COMMIT`. Writers in other processes (the CLI beside a
//! server) still meet SQLite's busy handler, as before.
//!
//! Never: held across an await, or taken twice on one thread (a write
//! transaction opened while this thread holds the gate goes straight to
//! SQLite, which waits through its busy timeout as it always did), and
//! never waited for longer than that busy timeout: past it, the writer
//! goes on to SQLite's own lock, so a stuck gate slows writes, never
//! stops them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

/// As long as a writer waits for the gate before trying SQLite's lock
/// itself: the connections' busy timeout.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long a writer that is not [`urgent`] stands aside for one that
/// is, at most, before it takes the next turn anyway: the mail worker's
/// writes wait while the web's writers are busy, and are never starved.
pub const DEFER: Duration = Duration::from_millis(50);

/// After an urgent writer's turn, how long the gate is kept for its next
/// (it gathers its next batch in far less): without this, a writer that
/// was waiting would take the gate in that moment every time.
const GRACE: Duration = Duration::from_millis(1);

/// One SQLite file's turn to write.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    taken: bool,
    /// Urgent writers waiting for a turn.
    urgent_waiting: usize,
    /// When an urgent writer's last turn ended.
    urgent_done: Option<Instant>,
}

impl State {
    /// Whether a writer that is not urgent, waiting since `since`, stands
    /// aside now.
    fn defers(&self, since: Instant, now: Instant) -> bool {
        let urgent_busy = self.urgent_waiting > 0
            || self
                .urgent_done
                .is_some_and(|t| now.saturating_duration_since(t) < GRACE);
        urgent_busy && now.saturating_duration_since(since) < DEFER
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while the flag was held leaves a plain bool: still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The gate of `path` in this process: every `Db` opened on one file
/// shares it.
pub fn for_file(path: &str) -> Arc<Gate> {
    static GATES: Mutex<Option<HashMap<String, Weak<Gate>>>> = Mutex::new(None);
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    let gates = gates.get_or_insert_with(HashMap::new);
    if let Some(gate) = gates.get(path).and_then(Weak::upgrade) {
        return gate;
    }
    gates.retain(|_, g| g.strong_count() > 0);
    let gate = Arc::new(Gate::default());
    gates.insert(path.to_string(), Arc::downgrade(&gate));
    gate
}

thread_local! {
    static ENTERED: RefCell<Option<Arc<Gate>>> = const { RefCell::new(None) };
    static HOLDING: Cell<bool> = const { Cell::new(false) };
    static URGENT: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread's writes as urgent: requests wait on them (the
/// signature and confirmation writers), so other writers of the process
/// stand aside for them, up to [`DEFER`] each time.
pub fn urgent() {
    URGENT.with(|u| u.set(true));
}

/// Makes `gate` the one [`hold`] takes on this thread until the guard
/// drops (restoring the one before, so entries nest).
pub fn enter(gate: Option<&Arc<Gate>>) -> Entered {
    Entered {
        before: ENTERED.with(|e| e.replace(gate.cloned())),
        _not_send: std::marker::PhantomData,
    }
}

/// See [`enter`]; tied to its thread.
pub struct Entered {
    before: Option<Arc<Gate>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let before = self.before.take();
        ENTERED.with(|e| *e.borrow_mut() = before);
    }
}

/// Takes this thread's gate for a write transaction, waiting for the
/// writer before to finish (and, unless this thread is [`urgent`], for
/// urgent writers, up to [`DEFER`]); `None` when no gate is entered, this
/// thread holds it already, or the wait ran past [`PATIENCE`].
pub fn hold() -> Option<Held> {
    take(URGENT.with(Cell::get))
}

/// [`hold`] as an urgent writer, this once: the checkpointer's short turn
/// for the WAL's last frames, which must come before more are written.
pub fn hold_urgent() -> Option<Held> {
    take(true)
}

fn take(urgent: bool) -> Option<Held> {
    if HOLDING.with(Cell::get) {
        return None;
    }
    let gate = ENTERED.with(|e| e.borrow().clone())?;
    let since = Instant::now();
    let deadline = since + PATIENCE;
    {
        let mut state = lock(&gate.state);
        if urgent {
            state.urgent_waiting += 1;
        }
        loop {
            let now = Instant::now();
            let defers = !urgent && state.defers(since, now);
            if !state.taken && !defers {
                break;
            }
            if now >= deadline {
                if urgent {
                    state.urgent_waiting -= 1;
                }
                tracing::warn!(
                    waited_s = PATIENCE.as_secs(),
                    "a write waited its whole patience for another; it goes on to SQLite's lock"
                );
                return None;
            }
            // Standing aside with the gate free: look again when the
            // grace or the deferral ends, whichever is first.
            let until = if state.taken {
                deadline
            } else {
                (now + GRACE).min(since + DEFER).min(deadline)
            };
            state = gate
                .freed
                .wait_timeout(state, until.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if urgent {
            state.urgent_waiting -= 1;
        }
        state.taken = true;
    }
    HOLDING.with(|h| h.set(true));
    Some(Held {
        gate,
        urgent,
        _not_send: std::marker::PhantomData,
    })
}

/// The gate taken; the next writer's turn when it drops.
pub struct Held {
    gate: Arc<Gate>,
    urgent: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        HOLDING.with(|h| h.set(false));
        {
            let mut state = lock(&self.gate.state);
            state.taken = false;
            if self.urgent {
                state.urgent_done = Some(Instant::now());
            }
        }
        // All: an urgent writer may be waiting behind one that stands aside.
        self.gate.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_writer_at_a_time_and_every_one_gets_its_turn() {
        let gate = for_file("/gate-test/one-at-a-time.db");
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let turns = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (gate, inside, most, turns) =
                    (gate.clone(), inside.clone(), most.clone(), turns.clone());
                std::thread::spawn(move || {
                    let _e = enter(Some(&gate));
                    for _ in 0..200 {
                        let held = hold().expect("the gate is entered");
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        turns.fetch_add(1, Ordering::SeqCst);
                        drop(held);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(turns.load(Ordering::SeqCst), 800);
    }

    #[test]
    fn a_thread_holding_the_gate_is_not_made_to_wait_for_itself() {
        let gate = for_file("/gate-test/nested.db");
        let _e = enter(Some(&gate));
        let outer = hold();
        assert!(outer.is_some());
        assert!(hold().is_none(), "a nested write goes straight to SQLite");
        drop(outer);
        assert!(hold().is_some(), "released, the gate is taken again");
    }

    #[test]
    fn others_stand_aside_while_an_urgent_writer_is_busy_but_only_for_their_deferral() {
        let now = Instant::now();
        let waiting = State {
            urgent_waiting: 1,
            ..State::default()
        };
        assert!(waiting.defers(now, now));
        assert!(!waiting.defers(now - DEFER, now), "never starved");
        let just_wrote = State {
            urgent_done: Some(now - GRACE / 2),
            ..State::default()
        };
        assert!(just_wrote.defers(now, now));
        let wrote_a_while_ago = State {
            urgent_done: Some(now - GRACE * 5),
            ..State::default()
        };
        assert!(!wrote_a_while_ago.defers(now, now));
        assert!(!State::default().defers(now, now));
    }

    #[test]
    fn a_writer_that_is_not_urgent_gets_its_turn_while_an_urgent_one_keeps_writing() {
        let gate = for_file("/gate-test/urgent.db");
        let other_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started, has_started) = std::sync::mpsc::channel();
        let urgent_writer = {
            let (gate, other_done) = (gate.clone(), other_done.clone());
            std::thread::spawn(move || {
                let _e = enter(Some(&gate));
                urgent();
                let since = Instant::now();
                let mut turns = 0u32;
                // Writes, one short turn after another, until the other
                // writer has had its turn (or far longer than it may wait).
                while !other_done.load(Ordering::SeqCst) && since.elapsed() < PATIENCE {
                    let held = hold().expect("the gate is entered");
                    turns += 1;
                    if turns == 1 {
                        started.send(()).unwrap();
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    drop(held);
                }
                other_done.load(Ordering::SeqCst)
            })
        };
        has_started.recv().unwrap();
        let _e = enter(Some(&gate));
        let held = hold();
        assert!(held.is_some(), "its turn came before its patience ran out");
        other_done.store(true, Ordering::SeqCst);
        drop(held);
        assert!(
            urgent_writer.join().unwrap(),
            "the other writer had its turn while the urgent one was still writing"
        );
    }

    #[test]
    fn one_file_one_gate_and_none_entered_none_held() {
        let a = for_file("/gate-test/same.db");
        let b = for_file("/gate-test/same.db");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &for_file("/gate-test/other.db")));
        assert!(hold().is_none());
    }
}
