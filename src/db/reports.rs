//! Storage for late reports (contract §8): finding the delivery a report
//! names, what a report does to that delivery and its supporter, the
//! reports that named nothing (`inbound_reports`), and an alert's pause
//! for complaints.
//!
//! A kept report's message quotes addresses (the recipient it bounced
//! for), so it is sealed like a supporter's address (`vault`): written
//! sealed, opened when read, and searched only after opening.
//!
//! Storage only: which report does what is `campaign::reports`' decision;
//! nothing here reads a message. Run the writes inside one transaction per
//! report.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alerts, deliveries, inbound_reports, supporters};
use super::{DbConnection, DbResult};
use crate::domain::{AlertId, AlertStatus, DeliveryId, DeliveryKind, SupporterId, SupporterStatus};

/// What a report needs of the delivery it names.
#[derive(Debug, Clone, Queryable)]
pub struct Target {
    pub id: DeliveryId,
    pub kind: DeliveryKind,
    pub alert_id: Option<AlertId>,
    pub supporter_id: Option<SupporterId>,
    pub reply_class: Option<String>,
}

/// The columns of a [`Target`].
type TargetColumns = (
    deliveries::id,
    deliveries::kind,
    deliveries::alert_id,
    deliveries::supporter_id,
    deliveries::reply_class,
);

const TARGET: TargetColumns = (
    deliveries::id,
    deliveries::kind,
    deliveries::alert_id,
    deliveries::supporter_id,
    deliveries::reply_class,
);

/// The delivery numbered `id` (a VERP address names it), if there is one.
pub fn by_id(conn: &mut DbConnection, id: DeliveryId) -> DbResult<Option<Target>> {
    Ok(deliveries::table
        .filter(deliveries::id.eq(id))
        .select(TARGET)
        .first::<Target>(conn)
        .optional()?)
}

/// The delivery that was sent with `message_id` (given without angle
/// brackets; stored with them), if any.
pub fn by_message_id(conn: &mut DbConnection, message_id: &str) -> DbResult<Option<Target>> {
    // Ours start with the delivery's number (`mail::compose`): a key
    // lookup, then the whole id must match. Older ones need the scan.
    let named = message_id
        .split_once('.')
        .and_then(|(n, _)| n.parse::<i64>().ok());
    if let Some(n) = named {
        return Ok(deliveries::table
            .filter(deliveries::id.eq(DeliveryId(n)))
            .filter(deliveries::message_id.eq(format!("<{message_id}>")))
            .select(TARGET)
            .first::<Target>(conn)
            .optional()?);
    }
    Ok(deliveries::table
        .filter(deliveries::message_id.eq(format!("<{message_id}>")))
        .select(TARGET)
        .order(deliveries::id.asc())
        .first::<Target>(conn)
        .optional()?)
}

/// Records what a report said on the delivery: its reply class and, if
/// given, the (already masked) reply as its last error. The delivery's
/// status stays as it was: the relay did take the message.
pub fn record_reply(
    conn: &mut DbConnection,
    id: DeliveryId,
    reply_class: &str,
    last_error: Option<&str>,
) -> DbResult<()> {
    let q = deliveries::table.filter(deliveries::id.eq(id));
    match last_error {
        Some(e) => diesel::update(q)
            .set((
                deliveries::reply_class.eq(reply_class),
                deliveries::last_error.eq(e),
            ))
            .execute(conn)?,
        None => diesel::update(q)
            .set(deliveries::reply_class.eq(reply_class))
            .execute(conn)?,
    };
    Ok(())
}

/// Marks a supporter `bounced`, by the same rule as a bounce during the
/// SMTP conversation (`deliveries::record`): only an active or
/// unsubscribed supporter becomes bounced. Returns whether it changed.
pub fn bounce(conn: &mut DbConnection, id: &SupporterId, at: NaiveDateTime) -> DbResult<bool> {
    let n = diesel::update(supporters::table.filter(supporters::id.eq(id)).filter(
        supporters::status.eq_any([SupporterStatus::Active, SupporterStatus::Unsubscribed]),
    ))
    .set((
        supporters::status.eq(SupporterStatus::Bounced),
        supporters::bounced_at.eq(at),
        supporters::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Unsubscribes an active supporter because of a complaint: status
/// `unsubscribed`, `unsubscribe_reason` "complaint", the opt-in withdrawn.
/// Anyone else (already unsubscribed, bounced, erased) is left as they
/// are. Returns whether it changed.
pub fn unsubscribe_for_complaint(
    conn: &mut DbConnection,
    id: &SupporterId,
    at: NaiveDateTime,
) -> DbResult<bool> {
    let n = diesel::update(
        supporters::table
            .filter(supporters::id.eq(id))
            .filter(supporters::status.eq(SupporterStatus::Active)),
    )
    .set((
        supporters::status.eq(SupporterStatus::Unsubscribed),
        supporters::unsubscribed_at.eq(at),
        supporters::unsubscribe_reason.eq("complaint"),
        supporters::email_opt_in.eq(false),
        supporters::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Keeps a report that named no delivery, with its message (sealed).
pub fn keep_unmatched(conn: &mut DbConnection, at: NaiveDateTime, raw: &[u8]) -> DbResult<()> {
    diesel::insert_into(inbound_reports::table)
        .values((
            inbound_reports::received_at.eq(at),
            inbound_reports::kind.eq("unmatched"),
            inbound_reports::raw.eq(crate::vault::seal_bytes(raw)),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many unmatched reports are kept.
pub fn unmatched_count(conn: &mut DbConnection) -> DbResult<i64> {
    Ok(inbound_reports::table.count().get_result(conn)?)
}

/// Deletes the kept reports whose text holds `email` (case-insensitive):
/// part of an erasure. Reads the table in pages, opening each message, so
/// a large one costs no more memory than a page. Returns how many went.
pub fn erase_naming(conn: &mut DbConnection, email: &str) -> DbResult<usize> {
    let needle = email.to_ascii_lowercase().into_bytes();
    if needle.is_empty() {
        return Ok(0);
    }
    let mut after = 0i64;
    let mut doomed = Vec::new();
    loop {
        let page: Vec<(i64, Vec<u8>)> = inbound_reports::table
            .filter(inbound_reports::id.gt(after))
            .order(inbound_reports::id.asc())
            .select((inbound_reports::id, inbound_reports::raw))
            .limit(200)
            .load(conn)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        for (id, raw) in page {
            let lower = crate::vault::open_bytes(raw)?.to_ascii_lowercase();
            if lower.windows(needle.len()).any(|w| w == needle.as_slice()) {
                doomed.push(id);
            }
        }
    }
    let mut n = 0;
    for chunk in doomed.chunks(500) {
        n += diesel::delete(inbound_reports::table.filter(inbound_reports::id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(n)
}

/// An alert's deliveries whose supporter bounced through them
/// (`mailbox_gone`) and those complained about (`complaint`).
pub fn figures(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<(i64, i64)> {
    if let Some(p) = super::backend::alert_progress(conn, alert_id.as_str())? {
        return Ok((p.bounced, p.complaints));
    }
    let rows: Vec<(Option<String>, i64)> = deliveries::table
        .filter(deliveries::alert_id.eq(alert_id))
        .filter(deliveries::kind.eq(DeliveryKind::Alert))
        .filter(deliveries::reply_class.eq_any(["mailbox_gone", "complaint"]))
        .group_by(deliveries::reply_class)
        .select((deliveries::reply_class, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = (0, 0);
    for (class, n) in rows {
        match class.as_deref() {
            Some("mailbox_gone") => out.0 = n,
            Some("complaint") => out.1 = n,
            _ => {}
        }
    }
    Ok(out)
}

/// An alert's status, and why and since when it was paused if it was.
#[derive(Debug, Clone, Queryable)]
pub struct Pause {
    pub status: AlertStatus,
    pub reason: Option<String>,
    pub at: Option<NaiveDateTime>,
}

/// The status and pause of an alert, if there is such an alert.
pub fn pause_of(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<Option<Pause>> {
    Ok(alerts::table
        .find(alert_id)
        .select((alerts::status, alerts::paused_reason, alerts::paused_at))
        .first(conn)
        .optional()?)
}

/// Pauses a sending alert that has never been paused: status `paused`,
/// why and since when, its queued deliveries held. Returns whether it
/// paused (an alert resumed once is not paused again: a campaigner has
/// looked at it).
pub fn pause(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    reason: &str,
    at: NaiveDateTime,
) -> DbResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq(AlertStatus::Sending))
            .filter(alerts::paused_at.is_null()),
    )
    .set((
        alerts::status.eq(AlertStatus::Paused),
        alerts::paused_reason.eq(reason),
        alerts::paused_at.eq(at),
        alerts::updated_at.eq(at),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    super::deliveries::hold(conn, alert_id, None)?;
    Ok(true)
}

/// Resumes a paused alert: `sending` again, its held deliveries queued and
/// due now. Returns `false` when it was not paused. The pause's reason and
/// time stay as a record.
pub fn resume(conn: &mut DbConnection, alert_id: &AlertId, at: NaiveDateTime) -> DbResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq(AlertStatus::Paused)),
    )
    .set((
        alerts::status.eq(AlertStatus::Sending),
        alerts::updated_at.eq(at),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    super::deliveries::unhold(conn, alert_id, None)?;
    super::alerts::mark_finished(conn, alert_id, at)?;
    Ok(true)
}

/// One page of kept reports, oldest first, after the report numbered
/// `after`: (id, received_at, message opened).
pub fn unmatched_page(
    conn: &mut DbConnection,
    after: Option<i64>,
    limit: i64,
) -> DbResult<Vec<(i64, NaiveDateTime, Vec<u8>)>> {
    let rows: Vec<(i64, NaiveDateTime, Vec<u8>)> = inbound_reports::table
        .filter(inbound_reports::id.gt(after.unwrap_or(0)))
        .order(inbound_reports::id.asc())
        .limit(limit)
        .select((
            inbound_reports::id,
            inbound_reports::received_at,
            inbound_reports::raw,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, at, raw)| Ok((id, at, crate::vault::open_bytes(raw)?)))
        .collect()
}

/// One kept report's message, opened.
pub fn unmatched_message(conn: &mut DbConnection, id: i64) -> DbResult<Option<Vec<u8>>> {
    let raw: Option<Vec<u8>> = inbound_reports::table
        .filter(inbound_reports::id.eq(id))
        .select(inbound_reports::raw)
        .first(conn)
        .optional()?;
    Ok(raw.map(crate::vault::open_bytes).transpose()?)
}

/// Deletes one kept report (a campaigner has dealt with it); whether it was
/// there.
pub fn discard_unmatched(conn: &mut DbConnection, id: i64) -> DbResult<bool> {
    Ok(
        diesel::delete(inbound_reports::table.filter(inbound_reports::id.eq(id))).execute(conn)?
            > 0,
    )
}
