//! The signature writer: the tasks that store signatures in batches, the
//! mechanism behind [`super::sign`].
//!
//! Why: one SQLite write transaction committed per request tops out near
//! 9,000 a second on a small machine, and the commit (not the inserts) is
//! the cost. Requests queue on a channel; a task takes everything waiting
//! (up to [`MAX_BATCH`]) and stores it in one transaction; while that commits
//! the next batch gathers. Under light load a batch is one signature and
//! nothing waits; under heavy load batches grow and commits stay few. Each
//! request is answered only after its batch has committed, so a signer told
//! "thank you" always has a stored signature. One writer also means two submissions of one
//! address never race each other inside this process.
//!
//! Policy: one writer per process, started with the process
//! ([`crate::campaign::Context::with_sign_writer`]); it stores and answers,
//! and fires no side effects (the action does, once per signature).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::signatures::{self, NewSignature, SignOutcome};
use crate::db::{Db, DbError};

/// Largest batch committed at once.
pub const MAX_BATCH: usize = 512;
/// Writer tasks on PostgreSQL.
pub const PG_WRITERS: usize = 4;
/// Submissions waiting beyond this make senders wait (back-pressure).
const CHANNEL: usize = 8192;

/// Why the writer did not store a signature. Every one of them is our
/// fault, not the signer's.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Storing failed (also when retried on its own).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The batch never reached the database (no connection, or the blocking
    /// task died); the cause is logged once for the whole batch.
    #[error("the signature batch could not run: {0}")]
    Unavailable(String),
    /// The writer tasks are gone: the process is shutting down.
    #[error("the signature writer has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<SignOutcome, WriteError>>;

#[derive(Clone)]
pub struct SignWriter {
    tx: mpsc::Sender<(NewSignature, Reply)>,
}

impl SignWriter {
    /// Starts the writer tasks on the current tokio runtime: one on SQLite
    /// (one writer at a time is all SQLite allows), [`PG_WRITERS`] on
    /// PostgreSQL, where a transaction's round trips, not the commit, are
    /// the cost, so batches overlap. Two batches racing on one address end
    /// in a unique violation, and the losing batch is retried one signature
    /// at a time.
    pub fn start(db: Db, pending_ttl: chrono::Duration) -> SignWriter {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let writers = if db.is_sqlite() { 1 } else { PG_WRITERS };
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), rx.clone(), pending_ttl));
        }
        SignWriter { tx }
    }

    /// Stores one signature; returns once its batch has committed.
    pub async fn sign(&self, s: NewSignature) -> Result<SignOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((s, reply))
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

type Queue = Arc<Mutex<mpsc::Receiver<(NewSignature, Reply)>>>;

async fn run(db: Db, rx: Queue, ttl: chrono::Duration) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    loop {
        // Hold the queue only while taking a batch, not while storing it.
        let got = rx.lock().await.recv_many(&mut buf, MAX_BATCH).await;
        if got == 0 {
            return;
        }
        let (batch, replies): (Vec<NewSignature>, Vec<Reply>) =
            std::mem::take(&mut buf).into_iter().unzip();
        let n = batch.len();
        let results = db
            .run(move |conn| -> Result<Vec<Result<SignOutcome, DbError>>, DbError> {
                match signatures::sign_batch(conn, &batch, ttl) {
                    Ok(v) => Ok(v.into_iter().map(Ok).collect()),
                    Err(e) => {
                        // One bad signature (or a race with another process)
                        // must not fail the others: retry them one by one.
                        if batch.len() > 1 {
                            tracing::warn!(error = %e, size = batch.len(), "signature batch failed; storing one by one");
                        }
                        Ok(batch
                            .iter()
                            .map(|s| signatures::sign(conn, s, ttl))
                            .collect())
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
                tracing::error!(error = %e, size = n, "signature batch could not run");
                let cause = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(WriteError::Unavailable(cause.clone())));
                }
            }
        }
        buf = Vec::with_capacity(MAX_BATCH);
    }
}
