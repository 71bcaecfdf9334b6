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
    AlertId, AlertStatus, CaseId, DeliveryKind, DeliveryStatus, ListId, PetitionId,
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
    /// When a scheduled send takes its audience and starts.
    pub send_at: Option<NaiveDateTime>,
    /// No delivery is made after this (those left expire).
    pub send_by: Option<NaiveDateTime>,
    /// Who created it and who last changed it (`token:ID`, `user:ID`,
    /// `cli`): neither may approve its send.
    pub created_by_key: Option<String>,
    pub updated_by_key: Option<String>,
    /// Who asked for the send that waits for approval (same form).
    pub send_requested_by: Option<String>,
    /// Who approved the send (as the audit log names them), and when.
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
}

/// Who an alert goes to within the union of its lists (contract §9); an
/// empty filter filters nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudienceFilter {
    /// People with a pending or confirmed signature on any of these
    /// petitions are left out.
    pub exclude_signers_of: Vec<PetitionId>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<String>,
    /// Language tags, lower case (`ru` also takes `ru-kg`).
    pub locales: Vec<String>,
}

const EXCLUDE: &str = "exclude_signers_of";
const COUNTRY: &str = "country";
const LOCALE: &str = "locale";

/// Replaces the audience filter of alert `id`.
pub fn set_audience(conn: &mut DbConnection, id: &AlertId, f: &AudienceFilter) -> DbResult<()> {
    use super::schema::alert_audience as aa;
    diesel::delete(aa::table.filter(aa::alert_id.eq(id.as_str()))).execute(conn)?;
    let rows: Vec<_> = f
        .exclude_signers_of
        .iter()
        .map(|p| (EXCLUDE, p.as_str().to_string()))
        .chain(f.countries.iter().map(|c| (COUNTRY, c.clone())))
        .chain(f.locales.iter().map(|l| (LOCALE, l.clone())))
        .map(|(kind, value)| {
            (
                aa::alert_id.eq(id.as_str().to_string()),
                aa::kind.eq(kind),
                aa::value.eq(value),
            )
        })
        .collect();
    for row in rows {
        diesel::insert_into(aa::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The audience filter of alert `id`, each part sorted.
pub fn audience(conn: &mut DbConnection, id: &AlertId) -> DbResult<AudienceFilter> {
    use super::schema::alert_audience as aa;
    let rows: Vec<(String, String)> = aa::table
        .filter(aa::alert_id.eq(id.as_str()))
        .select((aa::kind, aa::value))
        .order((aa::kind.asc(), aa::value.asc()))
        .load(conn)?;
    let mut f = AudienceFilter::default();
    for (kind, value) in rows {
        match kind.as_str() {
            EXCLUDE => {
                if let Ok(p) = PetitionId::parse(&value) {
                    f.exclude_signers_of.push(p)
                }
            }
            COUNTRY => f.countries.push(value),
            LOCALE => f.locales.push(value),
            _ => {}
        }
    }
    Ok(f)
}

/// Which parts of alert `id`'s filter are set, as the snapshot's SQL
/// needs to know: only those become SQL, so an unfiltered send runs the
/// same statement as ever.
fn shape(
    conn: &mut DbConnection,
    id: &AlertId,
    default_locale: &str,
) -> DbResult<super::backend::AudienceShape> {
    let f = audience(conn, id)?;
    let default = default_locale.to_ascii_lowercase();
    Ok(super::backend::AudienceShape {
        exclude_signers: !f.exclude_signers_of.is_empty(),
        countries: !f.countries.is_empty(),
        locales: !f.locales.is_empty(),
        // A supporter with no language gets the default one.
        unset_locale: f.locales.iter().any(|l| {
            *l == default
                || default
                    .strip_prefix(l.as_str())
                    .is_some_and(|r| r.starts_with('-'))
        }),
    })
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
    /// Not made by the alert's `send_by`.
    pub expired: i64,
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
    if let Some(p) = super::backend::alert_progress(conn, alert_id.as_str())? {
        return Ok(AlertCounts {
            queued: p.waiting,
            sent: p.sent,
            failed: p.failed,
            cancelled: p.cancelled,
            expired: p.expired,
        });
    }
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
            DeliveryStatus::Expired => c.expired += n,
        }
    }
    Ok(c)
}

/// Moves an alert in one of the statuses `from` (a draft; one approved or
/// due) to `sending` and queues one delivery per eligible person: the
/// union of the alert's lists, each person once, only `active` people,
/// narrowed by its [`AudienceFilter`] (`default_locale` is the language of
/// people who have none). Returns `None` when the alert was in none of
/// those statuses (already sent or cancelled): a second send never queues
/// anything.
pub fn start_send(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    from: &[AlertStatus],
    default_locale: &str,
    now: NaiveDateTime,
) -> DbResult<Option<i64>> {
    let flipped = diesel::update(
        alerts::table
            .filter(alerts::id.eq(alert_id))
            .filter(alerts::status.eq_any(from.to_vec())),
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
    let shape = shape(conn, alert_id, default_locale)?;
    let queued = super::backend::snapshot_audience(conn, alert_id.as_str(), now, shape)?;
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
            AlertStatus::AwaitingApproval,
            AlertStatus::Scheduled,
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
    // The worker looks here a few times a second during a send: the place
    // to keep the alert's progress rows few (PostgreSQL). Sent counts of
    // the last rate windows keep their seconds.
    let keep_since = now - chrono::Duration::seconds(2 * 60);
    super::backend::compact_alert_progress(conn, alert_id.as_str(), keep_since)?;
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

/// Statuses and deadlines (`send_by`) of the given alerts: the worker
/// skips deliveries of cancelled ones and lets those past their deadline
/// expire.
#[allow(clippy::type_complexity)]
pub fn statuses(
    conn: &mut DbConnection,
    ids: &[String],
) -> DbResult<Vec<(String, String, Option<NaiveDateTime>)>> {
    Ok(alerts::table
        .filter(alerts::id.eq_any(ids))
        .select((alerts::id, alerts::status, alerts::send_by))
        .load(conn)?)
}

/// Moves alert `id` from one of the statuses `from` to `to`; `false` when
/// it was in none of them (nothing changed).
pub fn move_status(
    conn: &mut DbConnection,
    id: &AlertId,
    from: &[AlertStatus],
    to: AlertStatus,
    now: NaiveDateTime,
) -> DbResult<bool> {
    Ok(diesel::update(
        alerts::table
            .filter(alerts::id.eq(id))
            .filter(alerts::status.eq_any(from.to_vec())),
    )
    .set((alerts::status.eq(to), alerts::updated_at.eq(now)))
    .execute(conn)?
        > 0)
}

/// Sets when alert `id` is sent and by when its deliveries must be made.
pub fn set_times(
    conn: &mut DbConnection,
    id: &AlertId,
    send_at: Option<NaiveDateTime>,
    send_by: Option<NaiveDateTime>,
) -> DbResult<()> {
    diesel::update(alerts::table.find(id))
        .set((alerts::send_at.eq(send_at), alerts::send_by.eq(send_by)))
        .execute(conn)?;
    Ok(())
}

/// Notes who asked for the send of alert `id` (four eyes).
pub fn set_send_requested_by(conn: &mut DbConnection, id: &AlertId, key: &str) -> DbResult<()> {
    diesel::update(alerts::table.find(id))
        .set(alerts::send_requested_by.eq(key))
        .execute(conn)?;
    Ok(())
}

/// Notes who approved the send of alert `id`, and when.
pub fn set_approved(
    conn: &mut DbConnection,
    id: &AlertId,
    by: &str,
    at: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(alerts::table.find(id))
        .set((alerts::approved_by.eq(by), alerts::approved_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

/// Scheduled alerts whose `send_at` has come, the earliest first.
pub fn due_scheduled(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<Vec<Alert>> {
    Ok(alerts::table
        .filter(alerts::status.eq(AlertStatus::Scheduled))
        .filter(alerts::send_at.le(now))
        .order(alerts::send_at.asc())
        .select(Alert::as_select())
        .load(conn)?)
}

/// Alerts still sending (or paused) whose `send_by` has passed.
pub fn past_deadline(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<Vec<AlertId>> {
    Ok(alerts::table
        .filter(alerts::status.eq_any([AlertStatus::Sending, AlertStatus::Paused]))
        .filter(alerts::send_by.le(now))
        .select(alerts::id)
        .load(conn)?)
}

/// Marks alert `id`, sending or paused, `sent` once none of its deliveries
/// waits: what [`mark_finished`] does, for an alert whose deadline passed
/// while it was paused too.
pub fn finish_past_deadline(
    conn: &mut DbConnection,
    id: &AlertId,
    now: NaiveDateTime,
) -> DbResult<()> {
    if !super::deliveries::alert_has_waiting(conn, id)? {
        diesel::update(
            alerts::table
                .filter(alerts::id.eq(id))
                .filter(alerts::status.eq_any([AlertStatus::Sending, AlertStatus::Paused])),
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

/// Alerts of case `case` whose messages may still go out: sending,
/// paused, scheduled or waiting for approval.
pub fn undelivered_of_case(conn: &mut DbConnection, case: &CaseId) -> DbResult<Vec<AlertId>> {
    Ok(alerts::table
        .filter(alerts::case_id.eq(case))
        .filter(alerts::status.eq_any([
            AlertStatus::AwaitingApproval,
            AlertStatus::Scheduled,
            AlertStatus::Sending,
            AlertStatus::Paused,
        ]))
        .select(alerts::id)
        .load(conn)?)
}

/// Deliveries of alert `id` sent since `since`, for its rate (on
/// PostgreSQL counted to the second, see `backend::alert_sent_since`).
pub fn sent_since(conn: &mut DbConnection, id: &AlertId, since: NaiveDateTime) -> DbResult<i64> {
    if let Some(n) = super::backend::alert_sent_since(conn, id.as_str(), since)? {
        return Ok(n);
    }
    Ok(deliveries::table
        .filter(deliveries::alert_id.eq(id))
        .filter(deliveries::kind.eq(DeliveryKind::Alert))
        .filter(deliveries::status.eq(DeliveryStatus::Sent))
        .filter(deliveries::sent_at.ge(since))
        .count()
        .get_result(conn)?)
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
        alerts::updated_by_key.eq(&alert.updated_by_key),
        alerts::send_by.eq(alert.send_by),
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
/// each person once, active and with an address, narrowed by its filter
/// (the same SQL as the send's snapshot).
pub fn audience_size(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    default_locale: &str,
) -> DbResult<i64> {
    let shape = shape(conn, alert_id, default_locale)?;
    super::backend::audience_count(conn, alert_id.as_str(), shape)
}

/// Alerts whose send is under way.
pub fn sending_ids(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    Ok(alerts::table
        .filter(alerts::status.eq(AlertStatus::Sending))
        .select(alerts::id)
        .load(conn)?)
}
