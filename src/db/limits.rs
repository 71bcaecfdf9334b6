//! Storage of the signing limit that `serve` nodes share on PostgreSQL: the
//! `sign_limits` table (unlogged, one counter per keyed IP hash and minute)
//! and the `clarion_sign_lease` function (migrations `nodes` and
//! `sign_leases`), which checks and counts a whole batch of clients in one
//! round trip and says how long what it granted stays in its minute.
//!
//! Policy lives in `campaign::limits` (how many a minute, batching, what is
//! remembered in memory); this module only takes and answers. It never
//! decides a limit, and on SQLite it has nothing to do: there each process
//! keeps its own limit in memory.

use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel::RunQueryDsl;

use super::{DbConnection, DbResult};

/// What the database granted one client of a batch.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Granted {
    /// The keyed IP hash asked for.
    #[diesel(sql_type = Text)]
    pub k: String,
    /// How many of the signatures asked for may go ahead (and were counted).
    #[diesel(sql_type = Integer)]
    pub admitted: i32,
    /// When not all were admitted: whole seconds until the next may be.
    #[diesel(sql_type = Integer)]
    pub retry_secs: i32,
    /// Milliseconds left, by the database's clock, in the minute the
    /// admitted were counted in: how long a node may keep those it has not
    /// spent yet (its lease).
    #[diesel(sql_type = Integer)]
    pub window_ms: i32,
}

/// Asks for `want` signatures for each client of `batch` at once, under
/// `per_minute`. `batch` must be sorted by key, so that two nodes taking
/// overlapping batches lock their rows in the same order. PostgreSQL only:
/// on SQLite it answers that every signature may go ahead.
pub fn take(
    conn: &mut DbConnection,
    batch: &[(String, i32)],
    per_minute: i32,
) -> DbResult<Vec<Granted>> {
    match conn {
        DbConnection::Postgres(c) => {
            let (keys, wants): (Vec<&str>, Vec<i32>) =
                batch.iter().map(|(k, n)| (k.as_str(), *n)).unzip();
            Ok(diesel::sql_query(
                "SELECT k, admitted, retry_secs, window_ms FROM clarion_sign_lease($1, $2, $3)",
            )
            .bind::<Array<Text>, _>(keys)
            .bind::<Array<Integer>, _>(wants)
            .bind::<Integer, _>(per_minute)
            .load(c)?)
        }
        DbConnection::Sqlite(_) => Ok(batch
            .iter()
            .map(|(k, n)| Granted {
                k: k.clone(),
                admitted: *n,
                retry_secs: 0,
                window_ms: 60_000,
            })
            .collect()),
    }
}

/// Deletes the counters of minutes that no longer count (all but this one
/// and the last, by the database's clock). Returns how many rows went.
pub fn prune(conn: &mut DbConnection) -> DbResult<usize> {
    match conn {
        DbConnection::Postgres(c) => Ok(diesel::sql_query(
            "DELETE FROM sign_limits \
             WHERE window_start < floor(extract(epoch FROM clock_timestamp()) / 60)::BIGINT - $1",
        )
        .bind::<BigInt, _>(1i64)
        .execute(c)?),
        DbConnection::Sqlite(_) => Ok(0),
    }
}
