//! Queries on `alerts` and `alert_lists`, the audience snapshot and live
//! delivery counts.
//!
//! Ids and statuses are typed here ([`AlertId`], [`CaseId`], [`PetitionId`],
//! [`ListId`], [`AlertStatus`]); the text stored is the same as ever. The
//! worker's own queries ([`statuses`], [`sending_ids`], [`mark_finished`])
//! still speak the delivery rows' text ids until those rows are typed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_lists, alerts, deliveries, lists};
use super::{DbConnection, DbResult};
use crate::domain::{
    AlertId, AlertStatus, CaseId, DeliveryKind, DeliveryStatus, ListId, PetitionId, SupporterStatus,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: AlertId,
    pub case_id: CaseId,
    pub petition_id: Option<PetitionId>,
    pub subject: String,
    pub body_markdown: String,
    pub status: AlertStatus,
    pub recipients: i64,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub send_started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
}

/// Deliveries of one alert by outcome.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct AlertCounts {
    /// Waiting or being sent.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Stopped by a cancel, or skipped because the person unsubscribed,
    /// bounced or was erased after the snapshot.
    pub cancelled: i64,
}

fn insert_lists(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    list_ids: &[ListId],
) -> QueryResult<()> {
    for list_id in list_ids {
        diesel::insert_into(alert_lists::table)
            .values((
                alert_lists::alert_id.eq(alert_id),
                alert_lists::list_id.eq(list_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConnection, alert: &Alert, list_ids: &[ListId]) -> QueryResult<()> {
    diesel::insert_into(alerts::table)
        .values(alert)
        .execute(conn)?;
    insert_lists(conn, &alert.id, list_ids)
}

pub fn get(conn: &mut DbConnection, id: &AlertId) -> DbResult<Option<Alert>> {
    Ok(alerts::table
        .find(id)
        .select(Alert::as_select())
        .first(conn)
        .optional()?)
}

/// A page of alerts in id order, after the cursor `after` (an id as the
/// paging cursor gave it back).
pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<Alert>> {
    let mut q = alerts::table.select(Alert::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(alerts::id.gt(after.to_string()));
    }
    Ok(q.order(alerts::id.asc()).limit(limit).load(conn)?)
}

pub fn list_ids(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<Vec<ListId>> {
    Ok(alert_lists::table
        .filter(alert_lists::alert_id.eq(alert_id))
        .select(alert_lists::list_id)
        .order(alert_lists::list_id.asc())
        .load(conn)?)
}

/// How many of `ids` name a list (each id counted once if `ids` are distinct).
pub fn lists_found(conn: &mut DbConnection, ids: &[ListId]) -> DbResult<i64> {
    Ok(lists::table
        .filter(lists::id.eq_any(ids))
        .count()
        .get_result(conn)?)
}

pub fn counts(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<AlertCounts> {
    let rows: Vec<(DeliveryStatus, i64)> = deliveries::table
        .filter(deliveries::alert_id.eq(alert_id))
        .filter(deliveries::kind.eq(DeliveryKind::Alert))
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(conn)?;
    let mut c = AlertCounts::default();
    for (status, n) in rows {
        match status {
            DeliveryStatus::Queued | DeliveryStatus::Held | DeliveryStatus::Sending => {
                c.queued += n
            }
            DeliveryStatus::Sent => c.sent += n,
            DeliveryStatus::Failed => c.failed += n,
            DeliveryStatus::Cancelled => c.cancelled += n,
        }
    }
    Ok(c)
}

/// Moves a draft to `sending` and queues one delivery per eligible person:
/// the union of the alert's lists, each person once, only `active` people.
/// Returns `None` when the alert was not a draft (already sent or
/// cancelled): a second send never queues anything.
pub fn start_send(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    now: NaiveDateTime,
) -> DbResult<Option<i64>> {
    let flipped = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq(AlertStatus::Draft)),
    )
    .set((
        alerts::status.eq(AlertStatus::Sending),
        alerts::send_started_at.eq(now),
        alerts::updated_at.eq(now),
    ))
    .execute(conn)?;
    if flipped == 0 {
        return Ok(None);
    }
    let queued = super::backend::snapshot_audience(conn, alert_id.as_str(), now)?;
    diesel::update(alerts::table.find(alert_id))
        .set(alerts::recipients.eq(queued as i64))
        .execute(conn)?;
    if queued == 0 {
        mark_finished(conn, alert_id, now)?;
    }
    Ok(Some(queued as i64))
}

/// Cancels an alert (a paused one too): every delivery not yet made, held
/// ones included, is cancelled, and its domain pauses end. Messages a
/// worker is sending at this instant still go.
pub fn cancel(conn: &mut DbConnection, alert_id: &AlertId, now: NaiveDateTime) -> DbResult<bool> {
    let n = diesel::update(alerts::table.filter(alerts::id.eq(alert_id)).filter(
        alerts::status.eq_any([
            AlertStatus::Draft,
            AlertStatus::Sending,
            AlertStatus::Paused,
        ]),
    ))
    .set((
        alerts::status.eq(AlertStatus::Cancelled),
        alerts::updated_at.eq(now),
        alerts::finished_at.eq(now),
    ))
    .execute(conn)?;
    diesel::update(
        deliveries::table
            .filter(deliveries::alert_id.eq(alert_id))
            .filter(deliveries::kind.eq(DeliveryKind::Alert))
            .filter(deliveries::status.eq_any([DeliveryStatus::Queued, DeliveryStatus::Held])),
    )
    .set(deliveries::status.eq(DeliveryStatus::Cancelled))
    .execute(conn)?;
    if n > 0 {
        use super::schema::alert_domain_pauses as pauses;
        diesel::delete(pauses::table.filter(pauses::alert_id.eq(alert_id.as_str())))
            .execute(conn)?;
    }
    Ok(n > 0)
}

/// Marks a sending alert `sent` once none of its deliveries is waiting.
pub fn mark_finished(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    now: NaiveDateTime,
) -> DbResult<()> {
    if !super::deliveries::alert_has_waiting(conn, alert_id)? {
        diesel::update(
            alerts::table
                .filter(alerts::id.eq(alert_id))
                .filter(alerts::status.eq(AlertStatus::Sending)),
        )
        .set((
            alerts::status.eq(AlertStatus::Sent),
            alerts::finished_at.eq(now),
            alerts::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Statuses of the given alerts (the worker skips deliveries of cancelled ones).
pub fn statuses(conn: &mut DbConnection, ids: &[String]) -> DbResult<Vec<(String, String)>> {
    Ok(alerts::table
        .filter(alerts::id.eq_any(ids))
        .select((alerts::id, alerts::status))
        .load(conn)?)
}

/// The newest alerts first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> DbResult<Vec<Alert>> {
    Ok(alerts::table
        .select(Alert::as_select())
        .order((alerts::created_at.desc(), alerts::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// `limit` alerts, newest first, from row `offset`: the console's
/// numbered pages.
pub fn recent_at(conn: &mut DbConnection, offset: i64, limit: i64) -> DbResult<Vec<Alert>> {
    Ok(alerts::table
        .select(Alert::as_select())
        .order((alerts::created_at.desc(), alerts::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// Replaces the content and lists of a draft; `false` when the alert is no
/// longer a draft (sending has started) and nothing changed.
pub fn update_draft(conn: &mut DbConnection, alert: &Alert, list_ids: &[ListId]) -> DbResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::id.eq(&alert.id))
            .filter(alerts::status.eq(AlertStatus::Draft)),
    )
    .set((
        alerts::case_id.eq(&alert.case_id),
        alerts::petition_id.eq(&alert.petition_id),
        alerts::subject.eq(&alert.subject),
        alerts::body_markdown.eq(&alert.body_markdown),
        alerts::updated_at.eq(alert.updated_at),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    diesel::delete(alert_lists::table.filter(alert_lists::alert_id.eq(&alert.id))).execute(conn)?;
    insert_lists(conn, &alert.id, list_ids)?;
    Ok(true)
}

/// How many people a send would reach now: the union of the alert's lists,
/// each person once, active and with an address (as the send snapshot).
pub fn audience_size(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<i64> {
    use super::schema::{list_members, supporters};
    let mailable: Vec<SupporterStatus> = SupporterStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.mailable())
        .collect();
    let lists = alert_lists::table
        .filter(alert_lists::alert_id.eq(alert_id))
        .select(alert_lists::list_id);
    let members = list_members::table
        .filter(list_members::list_id.eq_any(lists))
        .select(list_members::supporter_id);
    Ok(supporters::table
        .filter(supporters::id.eq_any(members))
        .filter(supporters::status.eq_any(mailable))
        .filter(supporters::email.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Alerts whose send is under way.
pub fn sending_ids(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    Ok(alerts::table
        .filter(alerts::status.eq(AlertStatus::Sending))
        .select(alerts::id)
        .load(conn)?)
}
