//! The batching writer: tasks that store what many requests ask for in one
//! transaction, the mechanism behind signing ([`super::signing`]) and
//! confirming ([`super::confirmations`]).
//!
//! Why: one SQLite write transaction committed per request tops out near
//! 9,000 a second on a small machine, and the commit (not the statements)
//! is the cost; the signature log adds a locked chain head per petition to
//! every confirmation, which one transaction per batch takes once. Requests
//! queue on a channel; a task takes everything waiting (up to
//! [`MAX_BATCH`]) and stores it in one transaction; while that commits the
//! next batch gathers. Under light load a batch is one request and nothing
//! waits; under heavy load batches grow and commits stay few. Each request
//! is answered only after its batch has committed, so a signer told "thank
//! you" always has a stored signature. One writer also means two
//! submissions of one address never race each other inside this process.
//!
//! Policy: one writer per kind of request per process, started with the
//! process, on threads of its own (on SQLite marked urgent: the process's
//! other writers stand aside for it, see [`crate::db::gate`]); it stores
//! and answers, and fires no side effects (the action
//! does, once per request). A batch that fails is retried one request at a
//! time, so one bad request (or a race with another process) never fails
//! the others.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, DbConnection, DbError, DbResult, ScopedConn};

/// Largest batch committed at once.
pub const MAX_BATCH: usize = 512;
/// Writer tasks on PostgreSQL. Two, not more: every batch ends by adding
/// to its petition's counts, so batches for one petition (the urgent one,
/// in a surge) hold that row's lock from that update to their commit, one
/// after another. Two writers overlap one batch's inserts with the other's
/// commit; four queued on the lock (1.1 ms a wait, `pg_stat_statements`)
/// and each took a quarter of the waiting requests. bench/sign on
/// PostgreSQL, 2026-12-07, builds alternating: mails queued 6,069–6,393
/// sig/s with four, 8,391–8,854 with two, 6,142–6,340 with one; p99 69–105
/// ms with four, 13–18 ms with two.
pub const PG_WRITERS: usize = 2;
/// Requests waiting beyond this make senders wait (back-pressure).
const CHANNEL: usize = 8192;

/// Why the writer did not store a request. Every one of them is our fault,
/// not the requester's.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Storing failed (also when retried on its own).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The batch never reached the database (no connection, or the writer
    /// panicked storing it); the cause is logged once for the whole batch.
    #[error("the batch could not run: {0}")]
    Unavailable(String),
    /// The writer tasks are gone: the process is shutting down.
    #[error("the writer has stopped")]
    Stopped,
}

/// How a writer stores: a whole batch in one transaction, and one request
/// on its own (the retry after a failed batch).
pub trait Store: Send + Sync + 'static {
    type Request: Send + 'static;
    type Outcome: Send + 'static;
    /// What the log lines call a request ("signature", "confirmation").
    const WHAT: &'static str;
    fn batch(
        &self,
        conn: &mut DbConnection,
        batch: &[Self::Request],
    ) -> DbResult<Vec<Self::Outcome>>;
    fn one(&self, conn: &mut DbConnection, request: &Self::Request) -> DbResult<Self::Outcome>;
}

type Reply<O> = oneshot::Sender<Result<O, WriteError>>;
type Queue<S> = Arc<Mutex<mpsc::Receiver<(<S as Store>::Request, Reply<<S as Store>::Outcome>)>>>;

pub struct Writer<S: Store> {
    tx: mpsc::Sender<(S::Request, Reply<S::Outcome>)>,
}

impl<S: Store> Clone for Writer<S> {
    fn clone(&self) -> Self {
        Writer {
            tx: self.tx.clone(),
        }
    }
}

impl<S: Store> Writer<S> {
    /// Starts the writers, each on a thread of its own holding its
    /// connection while it stores a batch: one on SQLite (one writer at a
    /// time is all SQLite allows), [`PG_WRITERS`] on PostgreSQL, where a
    /// transaction's round trips, not the commit, are the cost, so batches
    /// overlap. Two batches racing on one row end in a unique violation or
    /// a status guard, and the losing batch is retried one request at a
    /// time.
    ///
    /// Threads, not tasks: a writer is busy nearly all the time in a surge
    /// (measured: 95 % of the wall clock under bench/sign), so each hop a
    /// batch took between the runtime and the blocking pool, and the pool
    /// connection taken per batch, was time every waiting request lost:
    /// 0.7 ms of a 2.1 ms batch.
    pub fn start(db: Db, store: S) -> Writer<S> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let writers = if db.is_sqlite() { 1 } else { PG_WRITERS };
        let rx: Queue<S> = Arc::new(Mutex::new(rx));
        let store = Arc::new(store);
        for n in 0..writers {
            let (db, rx, store) = (db.clone(), rx.clone(), store.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{}-writer-{n}", S::WHAT))
                .spawn(move || run(db, rx, store));
            if let Err(e) = spawned {
                // With no writer at all, requests are answered `Stopped`.
                tracing::error!(error = %e, what = S::WHAT, "could not start a writer thread");
            }
        }
        Writer { tx }
    }

    /// Stores one request; returns once its batch has committed.
    pub async fn write(&self, request: S::Request) -> Result<S::Outcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((request, reply))
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

fn run<S: Store>(db: Db, rx: Queue<S>, store: Arc<S>) {
    // Requests wait on this thread's writes: on SQLite the process's other
    // writers (the mail worker's) stand aside for them.
    crate::db::gate::urgent();
    let mut buf = Vec::with_capacity(MAX_BATCH);
    // The connection, kept from one batch to the next while requests are
    // waiting (no checkout, ping or settings per batch in a surge), given
    // back to the pool before this writer sleeps.
    let mut held: Option<ScopedConn> = None;
    loop {
        // Hold the queue only while taking a batch, not while storing it:
        // wait for one request, then take whatever else is waiting.
        {
            let mut rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.try_recv() {
                Ok(first) => buf.push(first),
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {
                    held = None;
                    match rx.blocking_recv() {
                        Some(first) => buf.push(first),
                        None => return,
                    }
                }
            }
            while buf.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => buf.push(next),
                    Err(_) => break,
                }
            }
        }
        let (batch, replies): (Vec<S::Request>, Vec<Reply<S::Outcome>>) =
            std::mem::take(&mut buf).into_iter().unzip();
        let n = batch.len();
        crate::pressure::stored(n);
        let stored = std::panic::catch_unwind(AssertUnwindSafe(|| {
            store_batch(&db, &*store, &batch, &mut held)
        }));
        let results = match stored {
            Ok(r) => r,
            Err(_) => {
                held = None;
                Err(WriteError::Unavailable("the writer panicked".into()))
            }
        };
        match results {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r.map_err(WriteError::Db));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = n, what = S::WHAT, "batch could not run");
                let cause = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(WriteError::Unavailable(cause.clone())));
                }
            }
        }
        buf = Vec::with_capacity(MAX_BATCH);
    }
}

/// One batch in one transaction, or, when that fails, each request on its
/// own; `Err` only when no connection could be had. `held` is the writer's
/// connection, taken from the pool if it has none; after a failure it is
/// replaced (the connection may be what failed), and dropped if a request
/// failed on the fresh one too.
fn store_batch<S: Store>(
    db: &Db,
    store: &S,
    batch: &[S::Request],
    held: &mut Option<ScopedConn>,
) -> Result<Vec<DbResult<S::Outcome>>, WriteError> {
    let conn = match held {
        Some(conn) => conn,
        None => held.insert(db.get_for_writer().map_err(WriteError::Db)?),
    };
    let e = match store.batch(conn, batch) {
        Ok(v) => return Ok(v.into_iter().map(Ok).collect()),
        Err(e) => e,
    };
    if batch.len() > 1 {
        tracing::warn!(error = %e, size = batch.len(), what = S::WHAT, "batch failed; storing one by one");
    }
    *held = None;
    let conn = held.insert(db.get_for_writer().map_err(WriteError::Db)?);
    let results: Vec<_> = batch.iter().map(|r| store.one(conn, r)).collect();
    if results.iter().any(Result::is_err) {
        *held = None;
    }
    Ok(results)
}
