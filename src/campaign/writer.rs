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
//! process; it stores and answers, and fires no side effects (the action
//! does, once per request). A batch that fails is retried one request at a
//! time, so one bad request (or a race with another process) never fails
//! the others.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::{Db, DbConnection, DbError, DbResult};

/// Largest batch committed at once.
pub const MAX_BATCH: usize = 512;
/// Writer tasks on PostgreSQL.
pub const PG_WRITERS: usize = 4;
/// Requests waiting beyond this make senders wait (back-pressure).
const CHANNEL: usize = 8192;

/// Why the writer did not store a request. Every one of them is our fault,
/// not the requester's.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Storing failed (also when retried on its own).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The batch never reached the database (no connection, or the blocking
    /// task died); the cause is logged once for the whole batch.
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
    /// Starts the writer tasks on the current tokio runtime: one on SQLite
    /// (one writer at a time is all SQLite allows), [`PG_WRITERS`] on
    /// PostgreSQL, where a transaction's round trips, not the commit, are
    /// the cost, so batches overlap. Two batches racing on one row end in a
    /// unique violation or a status guard, and the losing batch is retried
    /// one request at a time.
    pub fn start(db: Db, store: S) -> Writer<S> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let writers = if db.is_sqlite() { 1 } else { PG_WRITERS };
        let rx: Queue<S> = Arc::new(Mutex::new(rx));
        let store = Arc::new(store);
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), rx.clone(), store.clone()));
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

async fn run<S: Store>(db: Db, rx: Queue<S>, store: Arc<S>) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    loop {
        // Hold the queue only while taking a batch, not while storing it.
        let got = rx.lock().await.recv_many(&mut buf, MAX_BATCH).await;
        if got == 0 {
            return;
        }
        let (batch, replies): (Vec<S::Request>, Vec<Reply<S::Outcome>>) =
            std::mem::take(&mut buf).into_iter().unzip();
        let n = batch.len();
        let store = store.clone();
        let results = db
            .run(move |conn| -> Result<Vec<DbResult<S::Outcome>>, DbError> {
                match store.batch(conn, &batch) {
                    Ok(v) => Ok(v.into_iter().map(Ok).collect()),
                    Err(e) => {
                        if batch.len() > 1 {
                            tracing::warn!(error = %e, size = batch.len(), what = S::WHAT, "batch failed; storing one by one");
                        }
                        Ok(batch.iter().map(|r| store.one(conn, r)).collect())
                    }
                }
            })
            .await;
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
