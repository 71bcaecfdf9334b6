//! The one mail queue: every outgoing message (alert, signature confirmation,
//! test send) is a row here, written in the same transaction as the domain
//! change that causes it, and claimed by workers with a lease.
//!
//! Kinds and what the worker needs of each row:
//! - `confirmation`: `signature_id`, `supporter_id`, `payload` = the plaintext
//!   confirmation token (cleared once the mail is sent; the signature keeps
//!   only its hash);
//! - `alert`: `alert_id`, `supporter_id`;
//! - `test`: `alert_id`, `to_email`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::deliveries;
use super::{now, DbConnection, DbResult};

pub const KIND_CONFIRMATION: &str = "confirmation";
pub const KIND_ALERT: &str = "alert";
pub const KIND_TEST: &str = "test";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: i64,
    pub kind: String,
    pub alert_id: Option<String>,
    pub supporter_id: Option<String>,
    pub signature_id: Option<String>,
    pub to_email: Option<String>,
    pub payload: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Queues the confirmation mail of a pending signature. Call inside the
/// transaction that stores the signature.
pub fn enqueue_confirmation(
    conn: &mut DbConnection,
    signature_id: &str,
    supporter_id: &str,
    token: &str,
) -> DbResult<()> {
    let t = now();
    diesel::insert_into(deliveries::table)
        .values((
            deliveries::kind.eq(KIND_CONFIRMATION),
            deliveries::signature_id.eq(signature_id),
            deliveries::supporter_id.eq(supporter_id),
            deliveries::payload.eq(token),
            deliveries::status.eq("queued"),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(t),
            deliveries::created_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues a test copy of an alert to one address.
pub fn enqueue_test(conn: &mut DbConnection, alert_id: &str, to_email: &str) -> DbResult<()> {
    let t = now();
    diesel::insert_into(deliveries::table)
        .values((
            deliveries::kind.eq(KIND_TEST),
            deliveries::alert_id.eq(alert_id),
            deliveries::to_email.eq(to_email),
            deliveries::status.eq("queued"),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(t),
            deliveries::created_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deliveries by status, for /metrics and the console.
pub fn depth(conn: &mut DbConnection) -> DbResult<Vec<(String, i64)>> {
    Ok(deliveries::table
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Every delivery made to one supporter (subject access).
pub fn for_supporter(conn: &mut DbConnection, supporter_id: &str) -> DbResult<Vec<Delivery>> {
    Ok(deliveries::table
        .filter(deliveries::supporter_id.eq(supporter_id))
        .order(deliveries::id.asc())
        .select(Delivery::as_select())
        .load(conn)?)
}
