//! Queries on `alert_domain_pauses`: one receiving domain paused for one
//! alert after a run of policy refusals (contract §8). While a pause
//! stands, that alert's deliveries to that domain are held
//! (`deliveries::hold`); resuming it, by hand or once `resume_at` passes,
//! queues them again.
//!
//! Storage only: when a run of refusals calls for a pause is the mail
//! worker's decision, who may resume one is `campaign`'s.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::alert_domain_pauses as pauses;
use super::{DbConnection, DbResult};
use crate::domain::AlertId;

/// One paused domain of an alert, as the alert's warnings show it.
#[derive(Debug, Clone, Queryable)]
pub struct DomainPause {
    pub domain: String,
    /// The refusal that tripped the pause, addresses masked.
    pub reply: String,
    pub since: NaiveDateTime,
    pub resume_at: NaiveDateTime,
}

/// Pauses `domain` for `alert_id` (nothing changes when it is paused
/// already) and holds its queued deliveries. Returns whether the pause is
/// new. Call inside a write transaction.
pub fn pause(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    domain: &str,
    reply: &str,
    since: NaiveDateTime,
    resume_at: NaiveDateTime,
) -> DbResult<bool> {
    let new = super::backend::insert_domain_pause(conn, alert_id, domain, reply, since, resume_at)?;
    super::deliveries::hold(conn, alert_id, Some(domain))?;
    Ok(new)
}

/// The paused domains of an alert, oldest first.
pub fn for_alert(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<Vec<DomainPause>> {
    Ok(pauses::table
        .filter(pauses::alert_id.eq(alert_id.as_str()))
        .order((pauses::since.asc(), pauses::domain.asc()))
        .select((
            pauses::domain,
            pauses::reply,
            pauses::since,
            pauses::resume_at,
        ))
        .load(conn)?)
}

/// The (alert, domain) pairs paused among `alert_ids`: the worker holds
/// what it claimed of them instead of sending it.
pub fn paused_among(
    conn: &mut DbConnection,
    alert_ids: &[AlertId],
) -> DbResult<Vec<(AlertId, String)>> {
    if alert_ids.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<&str> = alert_ids.iter().map(|a| a.as_str()).collect();
    let rows: Vec<(String, String)> = pauses::table
        .filter(pauses::alert_id.eq_any(ids))
        .select((pauses::alert_id, pauses::domain))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, d)| Some((AlertId::parse(&a).ok()?, d)))
        .collect())
}

/// Ends the pause of `domain` for `alert_id` and queues its held
/// deliveries again. `false` when that domain was not paused.
pub fn resume(conn: &mut DbConnection, alert_id: &AlertId, domain: &str) -> DbResult<bool> {
    let n = diesel::delete(
        pauses::table
            .filter(pauses::alert_id.eq(alert_id.as_str()))
            .filter(pauses::domain.eq(domain)),
    )
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    super::deliveries::unhold(conn, alert_id, Some(domain))?;
    Ok(true)
}

/// Ends every pause whose `resume_at` has passed, and queues again every
/// held alert delivery that nothing holds any more (no pause of its domain,
/// its alert not paused): the deliveries of the pauses just ended, and any
/// a worker recorded as held just after a campaigner resumed. Returns how
/// many deliveries were queued again.
pub fn release_due(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<usize> {
    diesel::delete(pauses::table.filter(pauses::resume_at.le(now))).execute(conn)?;
    super::backend::requeue_unheld(conn, now)
}
