//! The one place where SQL differs between SQLite and PostgreSQL. Everything
//! else in `db` is written once against `DbConnection`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp};

use super::deliveries::Delivery;
use super::{DbConnection, DbResult};

/// Which backend a connection talks to, for the few queries that must differ.
pub fn name(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Sqlite(_) => "sqlite",
        DbConnection::Postgres(_) => "postgres",
    }
}

const DELIVERY_COLUMNS: &str = "id, kind, alert_id, supporter_id, signature_id, to_email, payload, \
    status, attempts, next_attempt_at, locked_by, locked_until, last_error, message_id, created_at, sent_at";

/// Claims up to `limit` due deliveries of `kind` for `worker`, leased until
/// `lease_until`. PostgreSQL skips rows other workers hold (SKIP LOCKED), so
/// several processes never claim the same row; SQLite serialises writers, so
/// the UPDATE … RETURNING is atomic there by itself.
pub fn claim(
    conn: &mut DbConnection,
    kind: &str,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> DbResult<Vec<Delivery>> {
    let rows = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE deliveries SET status = 'sending', locked_by = ?, locked_until = ? \
             WHERE id IN (SELECT id FROM deliveries WHERE kind = ? AND status = 'queued' \
             AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(kind)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Delivery>(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "UPDATE deliveries SET status = 'sending', locked_by = $1, locked_until = $2 \
             WHERE id IN (SELECT id FROM deliveries WHERE kind = $3 AND status = 'queued' \
             AND next_attempt_at <= $4 ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(kind)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Delivery>(c)?,
    };
    let mut rows = rows;
    rows.sort_by_key(|d| d.id);
    Ok(rows)
}

/// Marks sent, in one statement, the deliveries `worker` holds among `ids`
/// (`message_ids` in the same order), exactly as `deliveries::record` does
/// row by row. PostgreSQL only, where each statement is a round trip; returns
/// false on SQLite, whose per-row updates run in-process and stay as they are.
pub fn record_sent_many(
    conn: &mut DbConnection,
    worker: &str,
    sent_at: NaiveDateTime,
    ids: Vec<i64>,
    message_ids: Vec<String>,
) -> DbResult<bool> {
    match conn {
        DbConnection::Sqlite(_) => Ok(false),
        DbConnection::Postgres(c) => {
            diesel::sql_query(
                "UPDATE deliveries AS d SET status = 'sent', sent_at = $1, \
                 message_id = v.message_id, attempts = d.attempts + 1, payload = NULL, \
                 locked_until = NULL, last_error = NULL \
                 FROM unnest($2::bigint[], $3::text[]) AS v(id, message_id) \
                 WHERE d.id = v.id AND d.status = 'sending' AND d.locked_by = $4",
            )
            .bind::<Timestamp, _>(sent_at)
            .bind::<Array<BigInt>, _>(ids)
            .bind::<Array<Text>, _>(message_ids)
            .bind::<Text, _>(worker)
            .execute(c)?;
            Ok(true)
        }
    }
}

/// Queues one alert delivery per eligible person (see `alerts::start_send`).
pub fn snapshot_audience(
    conn: &mut DbConnection,
    alert_id: &str,
    now: NaiveDateTime,
) -> DbResult<usize> {
    const SELECT: &str = "SELECT DISTINCT 'alert', al.alert_id, s.id, 'queued', 0, {now}, {now} \
        FROM alert_lists al JOIN list_members m ON m.list_id = al.list_id \
        JOIN supporters s ON s.id = m.supporter_id \
        WHERE al.alert_id = {alert} AND s.status = 'active' AND s.email IS NOT NULL";
    const INSERT: &str = "INSERT INTO deliveries (kind, alert_id, supporter_id, status, attempts, \
        next_attempt_at, created_at) ";
    Ok(match conn {
        DbConnection::Sqlite(c) => {
            let sql = format!(
                "{INSERT}{}",
                SELECT.replace("{now}", "?1").replace("{alert}", "?2")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(alert_id)
                .execute(c)?
        }
        DbConnection::Postgres(c) => {
            let sql = format!(
                "{INSERT}{}",
                SELECT.replace("{now}", "$1").replace("{alert}", "$2")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(alert_id)
                .execute(c)?
        }
    })
}
