//! The one place where SQL differs between SQLite and PostgreSQL. Everything
//! else in `db` is written once against `DbConnection`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp};

use super::deliveries::Delivery;
use super::schema::{deliveries, list_members, signatures, supporters};
use super::supporters::Supporter;
use super::types::Stamp;
use super::{DbConnection, DbResult};
use crate::domain::{DeliveryKind, DeliveryStatus, SupporterStatus};

/// Whether supporter `id` is still there, holding it (PostgreSQL: `FOR KEY
/// SHARE`) until the transaction ends, so the sweep of expired signatures
/// cannot delete them under a signature being made for them. PostgreSQL
/// checks no signature's supporter by foreign key (migration 000021); SQLite
/// does, and runs one writer at a time.
pub fn hold_supporter(conn: &mut DbConnection, id: &str) -> DbResult<bool> {
    match conn {
        DbConnection::Sqlite(_) => Ok(true),
        DbConnection::Postgres(c) => Ok(supporters::table
            .find(id)
            .select(supporters::id)
            .for_key_share()
            .first::<String>(c)
            .optional()?
            .is_some()),
    }
}

/// Which of supporters `ids` this transaction may delete: on PostgreSQL
/// those it could lock `FOR UPDATE` at once, the others being in use (a
/// signing holds them, [`hold_supporter`], or a confirmation updates them)
/// and left for a later sweep; on SQLite, which runs one writer at a time,
/// all that are there. Locked first, a supporter cannot gain a signature
/// before the caller checks what holds them.
pub fn lock_supporters_to_delete(
    conn: &mut DbConnection,
    ids: &[&str],
) -> DbResult<std::collections::HashSet<String>> {
    let q = supporters::table
        .filter(supporters::id.eq_any(ids))
        .select(supporters::id)
        .order(supporters::id);
    Ok(match conn {
        DbConnection::Sqlite(c) => q.load::<String>(c)?,
        DbConnection::Postgres(c) => q.for_update().skip_locked().load::<String>(c)?,
    }
    .into_iter()
    .collect())
}

/// Which of signatures `ids` are still pending and expired at `now` and may
/// be deleted: on PostgreSQL locked `FOR UPDATE` (skipping any in use, left
/// for a later sweep) until the deleting transaction ends.
pub fn lock_expired_signatures(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
) -> DbResult<std::collections::HashSet<String>> {
    let q = signatures::table
        .filter(signatures::id.eq_any(ids))
        .filter(signatures::status.eq(crate::domain::SignatureStatus::Pending))
        .filter(signatures::expires_at.lt(now))
        .select(signatures::id)
        .order(signatures::id);
    Ok(match conn {
        DbConnection::Sqlite(c) => q.load::<String>(c)?,
        DbConnection::Postgres(c) => q.for_update().skip_locked().load::<String>(c)?,
    }
    .into_iter()
    .collect())
}

/// Which backend a connection talks to, for the few queries that must differ.
pub fn name(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Sqlite(_) => "sqlite",
        DbConnection::Postgres(_) => "postgres",
    }
}

const DELIVERY_COLUMNS: &str = "id, kind, alert_id, supporter_id, signature_id, to_email, payload, \
    status, attempts, next_attempt_at, locked_by, locked_until, last_error, message_id, created_at, sent_at, \
    domain, reply_class";

/// Claims up to `limit` due deliveries of `kind` for `worker`, leased until
/// `lease_until`. PostgreSQL skips rows other workers hold (SKIP LOCKED), so
/// several processes never claim the same row; SQLite serialises writers, so
/// the UPDATE … RETURNING is atomic there by itself.
pub fn claim(
    conn: &mut DbConnection,
    kind: DeliveryKind,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> DbResult<Vec<Delivery>> {
    let rows = match conn {
        DbConnection::Sqlite(c) => {
            // A write: it waits its turn among this process's writers.
            let _turn = super::gate::hold();
            diesel::sql_query(format!(
            "UPDATE deliveries SET status = 'sending', locked_by = ?, locked_until = ? \
             WHERE id IN (SELECT id FROM deliveries WHERE kind = ? AND status = 'queued' \
             AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(kind.as_str())
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Delivery>(c)?
        }
        // The CTE is evaluated once: an `IN (SELECT … LIMIT … SKIP LOCKED)`
        // subquery may be run again by the planner and claim more rows.
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "WITH picked AS (SELECT id FROM deliveries WHERE kind = $3 AND status = 'queued' \
             AND next_attempt_at <= $4 ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET status = 'sending', locked_by = $1, locked_until = $2 \
             FROM picked WHERE d.id = picked.id RETURNING {}",
            DELIVERY_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(kind.as_str())
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Delivery>(c)?,
    };
    let mut rows = rows
        .into_iter()
        .map(Delivery::opened)
        .collect::<DbResult<Vec<_>>>()?;
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
                 locked_until = NULL, last_error = NULL, reply_class = NULL \
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

/// An alert's deliveries counted, as PostgreSQL keeps them in
/// `alert_progress` (migration 000020: triggers append what each statement
/// changed, in its transaction, under the keys named here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptProgress {
    /// Queued, held or being sent (`waiting`).
    pub waiting: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub expired: i64,
    /// Reply class `mailbox_gone` (`reply:mailbox_gone`).
    pub bounced: i64,
    /// Reply class `complaint` (`reply:complaint`).
    pub complaints: i64,
}

/// Alert `alert_id`'s [`KeptProgress`]: a sum over a few rows. `None` on
/// SQLite, which counts the deliveries themselves, cheaply in-process.
pub fn alert_progress(conn: &mut DbConnection, alert_id: &str) -> DbResult<Option<KeptProgress>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        key: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let DbConnection::Postgres(c) = conn else {
        return Ok(None);
    };
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT key, CAST(SUM(n) AS BIGINT) AS n FROM alert_progress \
         WHERE alert_id = $1 GROUP BY key",
    )
    .bind::<Text, _>(alert_id)
    .load(c)?;
    let mut p = KeptProgress::default();
    for Row { key, n } in rows {
        let field = match key.as_str() {
            "waiting" => &mut p.waiting,
            "sent" => &mut p.sent,
            "failed" => &mut p.failed,
            "cancelled" => &mut p.cancelled,
            "expired" => &mut p.expired,
            "reply:mailbox_gone" => &mut p.bounced,
            "reply:complaint" => &mut p.complaints,
            _ => continue,
        };
        *field += n;
    }
    Ok(Some(p))
}

/// How many of an alert's deliveries were sent at or after `since`, to
/// the second, from `alert_progress` on PostgreSQL; `None` on SQLite.
pub fn alert_sent_since(
    conn: &mut DbConnection,
    alert_id: &str,
    since: NaiveDateTime,
) -> DbResult<Option<i64>> {
    match conn {
        DbConnection::Sqlite(_) => Ok(None),
        DbConnection::Postgres(c) => {
            let row: Count = diesel::sql_query(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM alert_progress \
                 WHERE alert_id = $1 AND key = 'sent' AND at >= date_trunc('second', $2)",
            )
            .bind::<Text, _>(alert_id)
            .bind::<Timestamp, _>(since)
            .get_result(c)?;
            Ok(Some(row.n))
        }
    }
}

/// Folds an alert's `alert_progress` rows together once there are more
/// than a few: one row per key, plus the sent counts per second from
/// `keep_since` on, which rate windows still read. Sums are unchanged;
/// rows appended meanwhile are not touched (the DELETE sees only what was
/// committed before it), so any number of workers may fold at once.
/// Nothing to do on SQLite.
pub fn compact_alert_progress(
    conn: &mut DbConnection,
    alert_id: &str,
    keep_since: NaiveDateTime,
) -> DbResult<()> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(
            "WITH gone AS (DELETE FROM alert_progress WHERE alert_id = $1 \
                 AND (SELECT COUNT(*) FROM alert_progress WHERE alert_id = $1) > 64 \
                 RETURNING key, at, n) \
             INSERT INTO alert_progress (alert_id, key, at, n) \
             SELECT $1, key, CASE WHEN at >= $2 THEN at END, SUM(n) FROM gone \
             GROUP BY key, CASE WHEN at >= $2 THEN at END HAVING SUM(n) <> 0",
        )
        .bind::<Text, _>(alert_id)
        .bind::<Timestamp, _>(keep_since)
        .execute(c)?;
    }
    Ok(())
}

/// "May be mailed" in SQL, for supporters under the alias `s`: a status
/// that [`SupporterStatus::mailable`] allows, written into the SQL as
/// literals (as the planner likes them), and an address. The one SQL
/// spelling of the rule `RecipientRow::mailable` checks again at claim time.
pub fn mailable_supporter(s: &str) -> String {
    let words: Vec<String> = SupporterStatus::ALL
        .iter()
        .filter(|st| st.mailable())
        .map(|st| format!("'{}'", st.as_str()))
        .collect();
    let status = match words.as_slice() {
        [one] => format!("{s}.status = {one}"),
        many => format!("{s}.status IN ({})", many.join(", ")),
    };
    format!("{status} AND {s}.email IS NOT NULL")
}

/// The receiving domain of `email` in SQL, as `deliveries::domain_of`
/// computes it in Rust: after the first `@`, lower-cased.
fn domain_sql(conn: &DbConnection, email: &str) -> String {
    match conn {
        DbConnection::Sqlite(_) => format!("lower(substr({email}, instr({email}, '@') + 1))"),
        DbConnection::Postgres(_) => {
            format!("lower(substring({email} from position('@' in {email}) + 1))")
        }
    }
}

/// Which parts of an alert's audience filter are set (`alerts::AudienceFilter`):
/// only those become SQL, so an unfiltered send runs the statement it
/// always ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudienceShape {
    pub exclude_signers: bool,
    pub countries: bool,
    pub locales: bool,
    /// The locale filter takes the default language, so people with no
    /// language of their own are in.
    pub unset_locale: bool,
}

/// `FROM … WHERE …` of an alert's audience, supporters as `s`, the alert
/// id as `{alert}`: the union of its lists, mailable people, and its
/// filters read from `alert_audience` inside the statement (one
/// set-based statement whatever the filter, no value spliced in).
fn audience_sql(shape: AudienceShape) -> String {
    let mut sql = format!(
        "FROM alert_lists al JOIN list_members m ON m.list_id = al.list_id \
         JOIN supporters s ON s.id = m.supporter_id \
         WHERE al.alert_id = {{alert}} AND {mailable}",
        mailable = mailable_supporter("s"),
    );
    let values = |kind: &str| {
        format!("SELECT f.value FROM alert_audience f WHERE f.alert_id = al.alert_id AND f.kind = '{kind}'")
    };
    if shape.countries {
        sql += &format!(" AND s.country IN ({})", values("country"));
    }
    if shape.locales {
        // `ru` takes `ru` and `ru-KG`; tags are compared in lower case.
        let unset = if shape.unset_locale {
            " OR s.locale IS NULL"
        } else {
            ""
        };
        sql += &format!(
            " AND (EXISTS (SELECT 1 FROM alert_audience f WHERE f.alert_id = al.alert_id \
             AND f.kind = 'locale' AND (lower(s.locale) = f.value \
             OR lower(s.locale) LIKE f.value || '-%')){unset})"
        );
    }
    if shape.exclude_signers {
        // Any signature left is pending or confirmed (expired ones are swept).
        sql += &format!(
            " AND NOT EXISTS (SELECT 1 FROM signatures sg WHERE sg.supporter_id = s.id \
             AND sg.petition_id IN ({}))",
            values("exclude_signers_of")
        );
    }
    sql
}

/// Queues one alert delivery per eligible person (see `alerts::start_send`),
/// each with its recipient's domain, in one statement.
pub fn snapshot_audience(
    conn: &mut DbConnection,
    alert_id: &str,
    now: NaiveDateTime,
    shape: AudienceShape,
) -> DbResult<usize> {
    // The kind and status are literals, like the rest of the statement.
    // In supporter order, the new index entries of (alert, supporter) go to
    // the end of that index and those of the supporter index in order: on
    // PostgreSQL, 100,000 rows in 1.03–1.10 s instead of 1.39–1.56 s (three
    // `EXPLAIN ANALYZE` runs each, alternating).
    let select = format!(
        "SELECT DISTINCT '{kind}', al.alert_id, s.id, '{queued}', 0, {{now}}, {{now}}, \
         COALESCE(s.email_domain, {domain}) {from} ORDER BY s.id",
        kind = DeliveryKind::Alert.as_str(),
        queued = DeliveryStatus::Queued.as_str(),
        domain = domain_sql(conn, "s.email"),
        from = audience_sql(shape),
    );
    const INSERT: &str = "INSERT INTO deliveries (kind, alert_id, supporter_id, status, attempts, \
        next_attempt_at, created_at, domain) ";
    Ok(match conn {
        DbConnection::Sqlite(c) => {
            let sql = format!(
                "{INSERT}{}",
                select.replace("{now}", "?1").replace("{alert}", "?2")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(alert_id)
                .execute(c)?
        }
        DbConnection::Postgres(c) => {
            let sql = format!(
                "{INSERT}{}",
                select.replace("{now}", "$1").replace("{alert}", "$2")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(alert_id)
                .execute(c)?
        }
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many people [`snapshot_audience`] would queue now: the same `FROM`
/// and `WHERE`, counted.
pub fn audience_count(
    conn: &mut DbConnection,
    alert_id: &str,
    shape: AudienceShape,
) -> DbResult<i64> {
    let sql = format!("SELECT COUNT(DISTINCT s.id) AS n {}", audience_sql(shape));
    let row: Count = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql.replace("{alert}", "?1"))
            .bind::<Text, _>(alert_id)
            .get_result(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(sql.replace("{alert}", "$1"))
            .bind::<Text, _>(alert_id)
            .get_result(c)?,
    };
    Ok(row.n)
}

/// Inserts a domain pause unless that domain of that alert is paused
/// already (`ON CONFLICT DO NOTHING`: two workers may trip it at once).
/// Returns whether a row was inserted.
pub fn insert_domain_pause(
    conn: &mut DbConnection,
    alert_id: &crate::domain::AlertId,
    domain: &str,
    reply: &str,
    since: NaiveDateTime,
    resume_at: NaiveDateTime,
) -> DbResult<bool> {
    const SQL: &str =
        "INSERT INTO alert_domain_pauses (alert_id, domain, reply, since, resume_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (alert_id, domain) DO NOTHING";
    let n = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(SQL.replace('$', "?"))
            .bind::<Text, _>(alert_id.as_str())
            .bind::<Text, _>(domain)
            .bind::<Text, _>(reply)
            .bind::<Timestamp, _>(since)
            .bind::<Timestamp, _>(resume_at)
            .execute(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(SQL)
            .bind::<Text, _>(alert_id.as_str())
            .bind::<Text, _>(domain)
            .bind::<Text, _>(reply)
            .bind::<Timestamp, _>(since)
            .bind::<Timestamp, _>(resume_at)
            .execute(c)?,
    };
    Ok(n > 0)
}

/// Queues again, due at `now`, the held alert deliveries nothing holds:
/// no pause of their (alert, domain), their alert not paused. One
/// statement; the partial index `deliveries_held` finds the held rows.
pub fn requeue_unheld(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<usize> {
    const SQL: &str = "UPDATE deliveries SET status = 'queued', next_attempt_at = $1 \
        WHERE status = 'held' AND kind = 'alert' \
        AND NOT EXISTS (SELECT 1 FROM alert_domain_pauses p \
            WHERE p.alert_id = deliveries.alert_id AND p.domain = deliveries.domain) \
        AND NOT EXISTS (SELECT 1 FROM alerts a \
            WHERE a.id = deliveries.alert_id AND a.status = 'paused')";
    Ok(match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(SQL.replace("$1", "?"))
            .bind::<Timestamp, _>(now)
            .execute(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(SQL)
            .bind::<Timestamp, _>(now)
            .execute(c)?,
    })
}

/// One receiving domain's deliveries of an alert, for the console.
#[derive(Debug, Clone, Default, diesel::QueryableByName)]
pub struct DomainCounts {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub domain: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub sent: i64,
    /// Queued after a failed attempt or a throttling reply, or not due yet.
    #[diesel(sql_type = BigInt)]
    pub deferred: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Held by a pause.
    #[diesel(sql_type = BigInt)]
    pub paused: i64,
}

/// An alert's deliveries by receiving domain, the busiest first: one
/// grouped statement.
pub fn alert_domain_counts(
    conn: &mut DbConnection,
    alert_id: &str,
    now: NaiveDateTime,
) -> DbResult<Vec<DomainCounts>> {
    const SQL: &str = "SELECT domain, COUNT(*) AS total, \
        SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent, \
        SUM(CASE WHEN status = 'queued' AND (attempts > 0 OR reply_class = 'throttled' \
            OR next_attempt_at > $2) THEN 1 ELSE 0 END) AS deferred, \
        SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, \
        SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END) AS paused \
        FROM deliveries WHERE alert_id = $1 AND kind = 'alert' \
        GROUP BY domain ORDER BY COUNT(*) DESC, domain";
    Ok(match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(SQL.replace("$1", "?1").replace("$2", "?2"))
            .bind::<Text, _>(alert_id)
            .bind::<Timestamp, _>(now)
            .load(c)?,
        // SUM of integers is numeric in PostgreSQL: cast back.
        DbConnection::Postgres(c) => diesel::sql_query(
            SQL.replace("SUM(", "CAST(SUM(")
                .replace(" END) AS", " END) AS BIGINT) AS"),
        )
        .bind::<Text, _>(alert_id)
        .bind::<Timestamp, _>(now)
        .load(c)?,
    })
}

#[derive(diesel::QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    day: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Signatures of a petition by status and UTC day of signing (`YYYY-MM-DD`).
/// Date truncation is spelled differently by each backend.
pub fn signatures_by_day(
    conn: &mut DbConnection,
    petition_id: &str,
) -> super::DbResult<Vec<(String, String, i64)>> {
    use diesel::sql_types::Text;
    const TAIL: &str =
        "FROM signatures WHERE petition_id = $1 GROUP BY status, day ORDER BY status, day";
    let rows: Vec<DayCount> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "SELECT status, date(signed_at) AS day, COUNT(*) AS n {}",
            TAIL.replace("$1", "?")
        ))
        .bind::<Text, _>(petition_id)
        .load(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "SELECT status, to_char(signed_at, 'YYYY-MM-DD') AS day, COUNT(*) AS n {TAIL}"
        ))
        .bind::<Text, _>(petition_id)
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| (r.status, r.day, r.n)).collect())
}

/// Inserts the slice `rows` into `table` with multi-row INSERTs of the
/// listed sizes, largest first, on the connection's own backend. diesel's
/// combined connection cannot build multi-row INSERTs, and bulk imports and
/// batched signing depend on them. Fixed sizes (`&[T; N]`) make statements
/// diesel prepares once per connection and reuses; a statement for each
/// exact batch length would be parsed anew every time.
macro_rules! insert_sized {
    ($conn:expr, $table:expr, $rows:expr, $($n:literal)+) => {{
        let mut rest = $rows;
        $(
            while rest.len() >= $n {
                let (head, tail) = rest.split_at($n);
                let head: &[_; $n] = head.try_into().expect("split at the size");
                let q = diesel::insert_into($table).values(head);
                match &mut *$conn {
                    DbConnection::Sqlite(c) => q.execute(c)?,
                    DbConnection::Postgres(c) => q.execute(c)?,
                };
                rest = tail;
            }
        )+
        Ok(())
    }};
}

/// Inserts supporters, sealed on the way in (`Supporter::sealed`).
pub fn insert_supporters(conn: &mut DbConnection, rows: &[Supporter]) -> DbResult<()> {
    let rows: Vec<_> = rows
        .iter()
        .map(Supporter::sealed)
        .collect::<DbResult<_>>()?;
    let rows = rows.as_slice();
    // 20 columns: 512 rows stay under SQLite's 32766 bound parameters.
    let r: QueryResult<()> =
        insert_sized!(conn, supporters::table, rows, 512 256 128 64 32 16 8 4 2 1);
    Ok(r?)
}

/// A signature row, for [`insert_signatures`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = signatures, treat_none_as_default_value = false)]
pub struct NewSignatureRow {
    pub id: String,
    pub petition_id: String,
    pub supporter_id: String,
    pub status: String,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
    pub ip_hash: Option<String>,
    pub confirm_token_hash: Option<String>,
    pub confirm_secret_hash: Option<String>,
    pub locale: Option<String>,
    pub signed_at: Stamp,
    pub confirmed_at: Option<Stamp>,
    pub expires_at: Option<Stamp>,
    /// The name as typed on the form (the supporter takes it on
    /// confirmation).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub fn insert_signatures(conn: &mut DbConnection, rows: &[NewSignatureRow]) -> QueryResult<()> {
    // 17 columns too: the same sizes stay under SQLite's bound.
    insert_sized!(conn, signatures::table, rows, 512 256 128 64 32 16 8 4 2 1)
}

/// A queued delivery with no alert, for [`insert_deliveries`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries, treat_none_as_default_value = false)]
pub struct NewDeliveryRow {
    pub kind: DeliveryKind,
    pub supporter_id: Option<String>,
    pub signature_id: Option<String>,
    pub payload: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Stamp,
    pub created_at: Stamp,
    /// The recipient's domain (`deliveries::domain_of`).
    pub domain: Option<String>,
}

pub fn insert_deliveries(conn: &mut DbConnection, rows: &[NewDeliveryRow]) -> QueryResult<()> {
    insert_sized!(conn, deliveries::table, rows, 512 256 128 64 32 16 8 4 2 1)
}

/// Stores a batch of first-time signers: their supporters (sealed on the
/// way in), signatures and confirmation mails. On PostgreSQL all three in one
/// statement ([`NewSigners`]), on SQLite as [`insert_supporters`],
/// [`insert_signatures`] and [`insert_deliveries`].
pub fn insert_new_signers(
    conn: &mut DbConnection,
    people: &[Supporter],
    signatures: &[NewSignatureRow],
    mails: &[NewDeliveryRow],
) -> DbResult<()> {
    let DbConnection::Postgres(c) = conn else {
        insert_supporters(conn, people)?;
        insert_signatures(conn, signatures)?;
        return Ok(insert_deliveries(conn, mails)?);
    };
    let people: Vec<_> = people
        .iter()
        .map(Supporter::sealed)
        .collect::<DbResult<_>>()?;
    NewSigners::new(&people, signatures, mails).execute(c)?;
    Ok(())
}

/// One column of the rows being inserted, bound as one array.
enum Column {
    Text(Vec<String>),
    OptText(Vec<Option<String>>),
    Bool(Vec<bool>),
    Int(Vec<i32>),
    Time(Vec<NaiveDateTime>),
    OptTime(Vec<Option<NaiveDateTime>>),
}

impl Column {
    fn walk_ast<'b>(
        &'b self,
        out: &mut diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Bool, Integer, Nullable};
        let cast = match self {
            Column::Text(v) => {
                out.push_bind_param::<Array<Text>, _>(v)?;
                "::text[]"
            }
            Column::OptText(v) => {
                out.push_bind_param::<Array<Nullable<Text>>, _>(v)?;
                "::text[]"
            }
            Column::Bool(v) => {
                out.push_bind_param::<Array<Bool>, _>(v)?;
                "::boolean[]"
            }
            Column::Int(v) => {
                out.push_bind_param::<Array<Integer>, _>(v)?;
                "::integer[]"
            }
            Column::Time(v) => {
                out.push_bind_param::<Array<Timestamp>, _>(v)?;
                "::timestamp[]"
            }
            Column::OptTime(v) => {
                out.push_bind_param::<Array<Nullable<Timestamp>>, _>(v)?;
                "::timestamp[]"
            }
        };
        out.push_sql(cast);
        Ok(())
    }
}

/// A column of `rows`: `field` of each row, as [`Column`] `kind`.
macro_rules! column {
    ($rows:expr, $kind:ident, |$r:ident| $field:expr) => {
        Column::$kind($rows.iter().map(|$r| $field).collect())
    };
}

/// A batch of first-time signers as one PostgreSQL statement: `WITH a AS
/// (INSERT INTO supporters … SELECT * FROM unnest($1, …)), b AS (INSERT INTO
/// signatures …) INSERT INTO deliveries …`, each column bound as an array.
/// Three multi-row INSERTs of power-of-two sizes were two to three statements
/// a table for a batch, each a round trip and an executor start; this is one
/// whatever the batch's size, and its text never changes, so it is prepared
/// once per connection and its plan kept (`Db::get_for_writer`). Nothing
/// checks a signature's supporter by foreign key (migration 000021), so the
/// order of the three does not matter.
struct NewSigners {
    tables: [(&'static str, Vec<(&'static str, Column)>); 3],
}

impl NewSigners {
    fn new(
        people: &[super::supporters::StoredSupporter],
        signatures: &[NewSignatureRow],
        mails: &[NewDeliveryRow],
    ) -> NewSigners {
        let time = |t: &Stamp| t.0;
        let opt_time = |t: &Option<Stamp>| t.map(|t| t.0);
        let p = people;
        let s = signatures;
        let m = mails;
        NewSigners {
            tables: [
                (
                    "supporters",
                    vec![
                        ("id", column!(p, Text, |r| r.id.as_str().to_owned())),
                        ("email", column!(p, OptText, |r| r.email.clone())),
                        ("email_hash", column!(p, OptText, |r| r.email_hash.clone())),
                        (
                            "email_domain",
                            column!(p, OptText, |r| r.email_domain.clone()),
                        ),
                        ("first_name", column!(p, OptText, |r| r.first_name.clone())),
                        ("last_name", column!(p, OptText, |r| r.last_name.clone())),
                        ("country", column!(p, OptText, |r| r.country.clone())),
                        ("postcode", column!(p, OptText, |r| r.postcode.clone())),
                        ("locale", column!(p, OptText, |r| r.locale.clone())),
                        ("status", column!(p, Text, |r| r.status.as_str().to_owned())),
                        ("email_opt_in", column!(p, Bool, |r| r.email_opt_in)),
                        (
                            "consent_at",
                            column!(p, OptTime, |r| opt_time(&r.consent_at)),
                        ),
                        (
                            "consent_wording",
                            column!(p, OptText, |r| r.consent_wording.clone()),
                        ),
                        (
                            "consent_source",
                            column!(p, OptText, |r| r.consent_source.clone()),
                        ),
                        (
                            "unsubscribed_at",
                            column!(p, OptTime, |r| opt_time(&r.unsubscribed_at)),
                        ),
                        (
                            "bounced_at",
                            column!(p, OptTime, |r| opt_time(&r.bounced_at)),
                        ),
                        ("erased_at", column!(p, OptTime, |r| opt_time(&r.erased_at))),
                        ("created_at", column!(p, Time, |r| time(&r.created_at))),
                        ("updated_at", column!(p, Time, |r| time(&r.updated_at))),
                        (
                            "unsubscribe_reason",
                            column!(p, OptText, |r| r.unsubscribe_reason.clone()),
                        ),
                    ],
                ),
                (
                    "signatures",
                    vec![
                        ("id", column!(s, Text, |r| r.id.clone())),
                        ("petition_id", column!(s, Text, |r| r.petition_id.clone())),
                        ("supporter_id", column!(s, Text, |r| r.supporter_id.clone())),
                        ("status", column!(s, Text, |r| r.status.clone())),
                        ("country", column!(s, Text, |r| r.country.clone())),
                        ("postcode", column!(s, OptText, |r| r.postcode.clone())),
                        ("comment", column!(s, OptText, |r| r.comment.clone())),
                        ("email_opt_in", column!(s, Bool, |r| r.email_opt_in)),
                        ("ip_hash", column!(s, OptText, |r| r.ip_hash.clone())),
                        (
                            "confirm_token_hash",
                            column!(s, OptText, |r| r.confirm_token_hash.clone()),
                        ),
                        (
                            "confirm_secret_hash",
                            column!(s, OptText, |r| r.confirm_secret_hash.clone()),
                        ),
                        ("locale", column!(s, OptText, |r| r.locale.clone())),
                        ("signed_at", column!(s, Time, |r| time(&r.signed_at))),
                        (
                            "confirmed_at",
                            column!(s, OptTime, |r| opt_time(&r.confirmed_at)),
                        ),
                        (
                            "expires_at",
                            column!(s, OptTime, |r| opt_time(&r.expires_at)),
                        ),
                        ("first_name", column!(s, OptText, |r| r.first_name.clone())),
                        ("last_name", column!(s, OptText, |r| r.last_name.clone())),
                    ],
                ),
                (
                    "deliveries",
                    vec![
                        ("kind", column!(m, Text, |r| r.kind.as_str().to_owned())),
                        (
                            "supporter_id",
                            column!(m, OptText, |r| r.supporter_id.clone()),
                        ),
                        (
                            "signature_id",
                            column!(m, OptText, |r| r.signature_id.clone()),
                        ),
                        ("payload", column!(m, OptText, |r| r.payload.clone())),
                        ("status", column!(m, Text, |r| r.status.as_str().to_owned())),
                        ("attempts", column!(m, Int, |r| r.attempts)),
                        (
                            "next_attempt_at",
                            column!(m, Time, |r| time(&r.next_attempt_at)),
                        ),
                        ("created_at", column!(m, Time, |r| time(&r.created_at))),
                        ("domain", column!(m, OptText, |r| r.domain.clone())),
                    ],
                ),
            ],
        }
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for NewSigners {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        let last = self.tables.len() - 1;
        for (i, (table, columns)) in self.tables.iter().enumerate() {
            if i < last {
                out.push_sql(if i == 0 { "WITH " } else { ", " });
                out.push_sql(["a", "b"][i]);
                out.push_sql(" AS (");
            }
            out.push_sql("INSERT INTO ");
            out.push_sql(table);
            out.push_sql(" (");
            for (j, (name, _)) in columns.iter().enumerate() {
                out.push_sql(if j == 0 { "" } else { ", " });
                out.push_sql(name);
            }
            out.push_sql(") SELECT * FROM unnest(");
            for (j, (_, column)) in columns.iter().enumerate() {
                out.push_sql(if j == 0 { "" } else { ", " });
                column.walk_ast(&mut out)?;
            }
            out.push_sql(")");
            if i < last {
                out.push_sql(")");
            }
            out.push_sql(" ");
        }
        Ok(())
    }
}

impl diesel::query_builder::QueryId for NewSigners {
    type QueryId = NewSigners;
    // The text is the same for every batch: one prepared statement.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl RunQueryDsl<diesel::pg::PgConnection> for NewSigners {}

pub fn insert_members(
    conn: &mut DbConnection,
    list_id: &str,
    supporter_ids: &[String],
    at: NaiveDateTime,
) -> QueryResult<()> {
    for chunk in supporter_ids.chunks(5000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|s| {
                (
                    list_members::list_id.eq(list_id),
                    list_members::supporter_id.eq(s),
                    list_members::added_at.eq(at),
                )
            })
            .collect();
        let q = diesel::insert_into(list_members::table).values(rows);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}

/// Signature log entries `(petition, seq, at, kind, signature, commitment,
/// prev, hash)`, many rows per statement.
#[allow(clippy::type_complexity)]
pub fn insert_log_entries(
    conn: &mut DbConnection,
    rows: &[(&str, i64, &str, &str, &str, &str, &str, &str)],
) -> QueryResult<()> {
    use super::schema::signature_log as l;
    for chunk in rows.chunks(100) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    l::petition_id.eq(r.0),
                    l::seq.eq(r.1),
                    l::at.eq(r.2),
                    l::kind.eq(r.3),
                    l::signature_id.eq(r.4),
                    l::commitment.eq(r.5),
                    l::prev.eq(r.6),
                    l::hash.eq(r.7),
                )
            })
            .collect();
        let q = diesel::insert_into(l::table).values(values);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}

/// Commitment salts `(signature, salt)`, many rows per statement.
pub fn insert_salts(conn: &mut DbConnection, rows: &[(String, String)]) -> QueryResult<()> {
    use super::schema::signature_salts as s;
    for chunk in rows.chunks(400) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(id, salt)| (s::signature_id.eq(id), s::salt.eq(salt)))
            .collect();
        let q = diesel::insert_into(s::table).values(values);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}

pub fn insert_import_seen(conn: &mut DbConnection, rows: &[(&str, i64)]) -> QueryResult<()> {
    use super::supporters::import_seen;
    for chunk in rows.chunks(5000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(e, l)| (import_seen::email.eq(*e), import_seen::line.eq(*l)))
            .collect();
        let q = diesel::insert_into(import_seen::table).values(values);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}

/// SQL giving a timestamp column as text `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC),
/// for [`super::signature_reports::rfc3339_from_text`]. SQLite stores
/// timestamps as that text already, so the CSV export reads them without
/// parsing a million dates; PostgreSQL renders its binary timestamps so.
pub fn timestamp_text_sql(conn: &DbConnection, column: &str) -> String {
    match conn {
        DbConnection::Sqlite(_) => column.to_string(),
        DbConnection::Postgres(_) => format!("to_char({column}, 'YYYY-MM-DD HH24:MI:SS')"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mailable_supporters_are_written_as_literals_the_planner_can_match() {
        assert_eq!(
            super::mailable_supporter("s"),
            "s.status = 'active' AND s.email IS NOT NULL"
        );
    }
}
