//! Sweeps: deleting what has outlived its purpose, in bounded batches so no
//! transaction holds the writer for long.

use crate::db::{self, Db};

/// Pending signatures deleted per statement.
const BATCH: i64 = 1000;

/// Deletes pending signatures whose confirmation time ran out (and what
/// only they held: see `db::signatures::sweep_expired`), a batch at a time
/// until none is left.
pub async fn expired_signatures(db: &Db) {
    let mut total = 0;
    loop {
        let r = db
            .run(|c| db::signatures::sweep_expired(c, db::now(), BATCH))
            .await;
        match r {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "sweeping expired pending signatures failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(
            signatures = total,
            "deleted pending signatures whose confirmation time ran out"
        );
    }
}
