//! Queries on `alerts` and `alert_lists`, the audience snapshot and live
//! delivery counts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_lists, alerts, deliveries};
use super::{DbConnection, DbResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: String,
    pub case_id: String,
    pub petition_id: Option<String>,
    pub subject: String,
    pub body_markdown: String,
    pub status: String,
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

pub fn insert(conn: &mut DbConnection, alert: &Alert, list_ids: &[String]) -> QueryResult<()> {
    diesel::insert_into(alerts::table)
        .values(alert)
        .execute(conn)?;
    for list_id in list_ids {
        diesel::insert_into(alert_lists::table)
            .values((
                alert_lists::alert_id.eq(&alert.id),
                alert_lists::list_id.eq(list_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &str) -> DbResult<Option<Alert>> {
    Ok(alerts::table
        .find(id)
        .select(Alert::as_select())
        .first(conn)
        .optional()?)
}

pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<Alert>> {
    let mut q = alerts::table.select(Alert::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(alerts::id.gt(after.to_string()));
    }
    Ok(q.order(alerts::id.asc()).limit(limit).load(conn)?)
}

pub fn list_ids(conn: &mut DbConnection, alert_id: &str) -> DbResult<Vec<String>> {
    Ok(alert_lists::table
        .filter(alert_lists::alert_id.eq(alert_id))
        .select(alert_lists::list_id)
        .order(alert_lists::list_id.asc())
        .load(conn)?)
}

pub fn counts(conn: &mut DbConnection, alert_id: &str) -> DbResult<AlertCounts> {
    let rows: Vec<(String, i64)> = deliveries::table
        .filter(deliveries::alert_id.eq(alert_id))
        .filter(deliveries::kind.eq(crate::domain::DeliveryKind::Alert))
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(conn)?;
    let mut c = AlertCounts::default();
    for (status, n) in rows {
        match status.as_str() {
            "queued" | "sending" => c.queued += n,
            "sent" => c.sent += n,
            "failed" => c.failed += n,
            _ => c.cancelled += n,
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
    alert_id: &str,
    now: NaiveDateTime,
) -> DbResult<Option<i64>> {
    let flipped = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq("draft")),
    )
    .set((
        alerts::status.eq("sending"),
        alerts::send_started_at.eq(now),
        alerts::updated_at.eq(now),
    ))
    .execute(conn)?;
    if flipped == 0 {
        return Ok(None);
    }
    let queued = super::backend::snapshot_audience(conn, alert_id, now)?;
    diesel::update(alerts::table.find(alert_id))
        .set(alerts::recipients.eq(queued as i64))
        .execute(conn)?;
    if queued == 0 {
        mark_finished(conn, alert_id, now)?;
    }
    Ok(Some(queued as i64))
}

/// Cancels an alert: every delivery not yet made is cancelled. Messages a
/// worker is sending at this instant still go.
pub fn cancel(conn: &mut DbConnection, alert_id: &str, now: NaiveDateTime) -> DbResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq_any(["draft", "sending"])),
    )
    .set((
        alerts::status.eq("cancelled"),
        alerts::updated_at.eq(now),
        alerts::finished_at.eq(now),
    ))
    .execute(conn)?;
    diesel::update(
        deliveries::table
            .filter(deliveries::alert_id.eq(alert_id))
            .filter(deliveries::kind.eq(crate::domain::DeliveryKind::Alert))
            .filter(deliveries::status.eq("queued")),
    )
    .set(deliveries::status.eq("cancelled"))
    .execute(conn)?;
    Ok(n > 0)
}

/// Marks a sending alert `sent` once none of its deliveries is waiting.
pub fn mark_finished(conn: &mut DbConnection, alert_id: &str, now: NaiveDateTime) -> DbResult<()> {
    // Every stored alert id is a UUID: another string names no alert.
    let Ok(typed) = crate::domain::AlertId::parse(alert_id) else {
        return Ok(());
    };
    if !super::deliveries::alert_has_waiting(conn, &typed)? {
        diesel::update(
            alerts::table
                .filter(alerts::id.eq(alert_id))
                .filter(alerts::status.eq("sending")),
        )
        .set((
            alerts::status.eq("sent"),
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

/// Replaces the content and lists of a draft; `false` when the alert is no
/// longer a draft (sending has started) and nothing changed.
pub fn update_draft(conn: &mut DbConnection, alert: &Alert, list_ids: &[String]) -> DbResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::id.eq(&alert.id))
            .filter(alerts::status.eq("draft")),
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
    for list_id in list_ids {
        diesel::insert_into(alert_lists::table)
            .values((
                alert_lists::alert_id.eq(&alert.id),
                alert_lists::list_id.eq(list_id),
            ))
            .execute(conn)?;
    }
    Ok(true)
}

/// How many people a send would reach now: the union of the alert's lists,
/// each person once, active and with an address (as the send snapshot).
pub fn audience_size(conn: &mut DbConnection, alert_id: &str) -> DbResult<i64> {
    use super::schema::{list_members, supporters};
    let lists = alert_lists::table
        .filter(alert_lists::alert_id.eq(alert_id))
        .select(alert_lists::list_id);
    let members = list_members::table
        .filter(list_members::list_id.eq_any(lists))
        .select(list_members::supporter_id);
    Ok(supporters::table
        .filter(supporters::id.eq_any(members))
        .filter(supporters::status.eq("active"))
        .filter(supporters::email.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Alerts whose send is under way.
pub fn sending_ids(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    Ok(alerts::table
        .filter(alerts::status.eq("sending"))
        .select(alerts::id)
        .load(conn)?)
}
