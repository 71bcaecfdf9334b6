//! The signature writer: signatures stored in batches by the batching
//! [`crate::campaign::writer`], the mechanism behind [`super::sign`].
//!
//! Policy: one per process, started with the process
//! ([`crate::campaign::Context::with_writers`]); two submissions of one
//! address never race each other inside this process, and a batch that
//! races another process on one address (a unique violation) is stored
//! again one signature at a time.

use chrono::Duration;

use crate::campaign::writer::{Store, Writer};
use crate::db::signatures::{self, NewSignature, SignOutcome};
use crate::db::{DbConnection, DbResult};

/// How signatures are stored: [`signatures::sign_batch`], or one by one.
pub struct Signatures {
    /// How long a pending signature waits for its confirmation.
    pub pending_ttl: Duration,
}

impl Store for Signatures {
    type Request = NewSignature;
    type Outcome = SignOutcome;
    const WHAT: &'static str = "signature";

    fn batch(&self, conn: &mut DbConnection, batch: &[NewSignature]) -> DbResult<Vec<SignOutcome>> {
        signatures::sign_batch(conn, batch, self.pending_ttl)
    }

    fn one(&self, conn: &mut DbConnection, s: &NewSignature) -> DbResult<SignOutcome> {
        signatures::sign(conn, s, self.pending_ttl)
    }
}

pub type SignWriter = Writer<Signatures>;
