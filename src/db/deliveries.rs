//! The one mail queue: every outgoing message (alert, signature confirmation,
//! test send) is a row here, written in the same transaction as the domain
//! change that causes it, and claimed by workers with a lease.
//!
//! Kinds and what the worker needs of each row:
//! - `confirmation`: `signature_id`, `supporter_id` (the link's token is made
//!   from the signature id when the message is built: no row holds it);
//! - `receipt`: `signature_id`, `supporter_id` (the receipt code likewise);
//! - `alert`: `alert_id`, `supporter_id`;
//! - `test`: `alert_id`, `to_email`.
//!
//! Storage only: rows in, rows out. What a row becomes as a message is
//! `mail`'s business; nothing here knows a template or a recipient.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::deliveries;
use super::{now, DbConnection, DbResult};
use crate::domain::{
    AlertId, DeliveryId, DeliveryKind, DeliveryStatus, SignatureId, SignatureStatus, SupporterId,
    SupporterStatus,
};
use crate::vault::open_in;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: DeliveryId,
    pub kind: DeliveryKind,
    pub alert_id: Option<AlertId>,
    pub supporter_id: Option<SupporterId>,
    pub signature_id: Option<SignatureId>,
    pub to_email: Option<String>,
    pub payload: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The recipient's domain, lower-cased (deliveries are grouped by it).
    pub domain: Option<String>,
    /// The class of the last reply (`crate::mail::reply::ReplyClass`).
    pub reply_class: Option<String>,
}

impl Delivery {
    /// The row with its sealed address (a test send's) opened.
    pub fn opened(mut self) -> DbResult<Delivery> {
        open_in(&mut self.to_email)?;
        Ok(self)
    }
}

/// The receiving domain of an address, as deliveries are grouped by it:
/// everything after the first `@`, lower-cased (ASCII, as SQLite's
/// `lower()`; the alert snapshot computes the same in SQL, see
/// `backend::snapshot_audience`). `None` without an `@`.
pub fn domain_of(email: &str) -> Option<String> {
    let (_, domain) = email.split_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Queues a mail about a signature to its signer at `email`: the
/// confirmation mail of a pending signature (inside the transaction that
/// stores it), or the receipt of one just confirmed (inside the one that
/// confirms it).
pub fn enqueue_about_signature(
    conn: &mut DbConnection,
    kind: DeliveryKind,
    signature_id: &SignatureId,
    supporter_id: &SupporterId,
    email: &str,
) -> DbResult<()> {
    let t = now();
    diesel::insert_into(deliveries::table)
        .values((
            deliveries::kind.eq(kind),
            deliveries::signature_id.eq(signature_id),
            deliveries::supporter_id.eq(supporter_id),
            deliveries::domain.eq(domain_of(email)),
            deliveries::status.eq(DeliveryStatus::Queued),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(t),
            deliveries::created_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues a test copy of an alert to one address. Its `payload` is the
/// language it is written for (its variant and fixed parts), if one was
/// asked for.
pub fn enqueue_test(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    to_email: &str,
    locale: Option<&str>,
) -> DbResult<()> {
    let t = now();
    diesel::insert_into(deliveries::table)
        .values((
            deliveries::kind.eq(DeliveryKind::Test),
            deliveries::alert_id.eq(alert_id),
            deliveries::to_email.eq(crate::vault::seal(to_email)),
            deliveries::payload.eq(locale),
            deliveries::domain.eq(domain_of(to_email)),
            deliveries::status.eq(DeliveryStatus::Queued),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(t),
            deliveries::created_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deliveries by status, for /metrics and the console.
pub fn depth(conn: &mut DbConnection) -> DbResult<Vec<(DeliveryStatus, i64)>> {
    Ok(deliveries::table
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Every delivery made to one supporter (subject access).
pub fn for_supporter(
    conn: &mut DbConnection,
    supporter_id: &SupporterId,
) -> DbResult<Vec<Delivery>> {
    deliveries::table
        .filter(deliveries::supporter_id.eq(supporter_id))
        .order(deliveries::id.asc())
        .select(Delivery::as_select())
        .load::<Delivery>(conn)?
        .into_iter()
        .map(Delivery::opened)
        .collect()
}

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        message_id: String,
    },
    /// Try again at `next_attempt_at`; the attempt counts.
    Retry {
        next_attempt_at: NaiveDateTime,
        error: String,
        /// The class of the reply (`crate::mail::reply::ReplyClass`), if a
        /// server gave one.
        reply_class: Option<&'static str>,
    },
    /// Back to the queue until `next_attempt_at` without spending an
    /// attempt: its domain asked us to slow down (a throttling reply, or
    /// the delivery was claimed while its domain waits). `error` and
    /// `reply_class` replace the stored ones when given.
    Deferred {
        next_attempt_at: NaiveDateTime,
        error: Option<String>,
        reply_class: Option<&'static str>,
    },
    Failed {
        error: String,
        /// The address does not exist: the supporter becomes `bounced`.
        bounced_supporter: Option<SupporterId>,
        reply_class: Option<&'static str>,
    },
    /// Not sent and never will be, stored as `cancelled` with `reason` as
    /// its last error: the alert was cancelled, or the person unsubscribed,
    /// bounced or was erased after the snapshot, or the signature it asked
    /// to confirm is confirmed or gone.
    Cancelled {
        reason: String,
    },
    /// Not made by its alert's `send_by`, and so never made.
    Expired,
    /// Claimed but not attempted (shutting down): back to the queue as it was.
    Released,
    /// Claimed but not attempted because its alert or domain was paused
    /// meanwhile: held with the rest (see [`hold`]), no attempt counted.
    Held,
}

/// Records outcomes of deliveries claimed by `worker`. Each update is
/// guarded by the lease holder, so a worker that lost its lease records
/// nothing over another's work.
pub fn record(
    conn: &mut DbConnection,
    worker: &str,
    outcomes: &[(DeliveryId, Outcome)],
) -> DbResult<()> {
    use super::schema::supporters;
    let t = now();
    let mine = |id: DeliveryId| {
        deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::status.eq(DeliveryStatus::Sending))
            .filter(deliveries::locked_by.eq(worker.to_string()))
    };
    // The common case, many messages sent, in one statement where the
    // backend can (PostgreSQL: one round trip instead of one per message).
    let (sent_ids, sent_message_ids): (Vec<i64>, Vec<String>) = outcomes
        .iter()
        .filter_map(|(id, o)| match o {
            Outcome::Sent { message_id } => Some((id.0, message_id.clone())),
            _ => None,
        })
        .unzip();
    let sent_done = !sent_ids.is_empty()
        && super::backend::record_sent_many(conn, worker, t, sent_ids, sent_message_ids)?;
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Sent { .. } if sent_done => {}
            Outcome::Sent { message_id } => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Sent),
                        deliveries::sent_at.eq(t),
                        deliveries::message_id.eq(message_id),
                        deliveries::attempts.eq(deliveries::attempts + 1),
                        // The confirmation token has done its job.
                        deliveries::payload.eq(None::<String>),
                        // locked_by stays: it names the worker that sent it.
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                        deliveries::last_error.eq(None::<String>),
                        deliveries::reply_class.eq(None::<String>),
                    ))
                    .execute(conn)?;
            }
            Outcome::Retry {
                next_attempt_at,
                error,
                reply_class,
            } => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Queued),
                        deliveries::attempts.eq(deliveries::attempts + 1),
                        deliveries::next_attempt_at.eq(next_attempt_at),
                        deliveries::last_error.eq(error),
                        deliveries::reply_class.eq(reply_class),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            Outcome::Deferred {
                next_attempt_at,
                error,
                reply_class,
            } => {
                let back = (
                    deliveries::status.eq(DeliveryStatus::Queued),
                    deliveries::next_attempt_at.eq(next_attempt_at),
                    deliveries::locked_by.eq(None::<String>),
                    deliveries::locked_until.eq(None::<NaiveDateTime>),
                );
                match error {
                    Some(error) => diesel::update(mine(*id))
                        .set((
                            back,
                            deliveries::last_error.eq(error),
                            deliveries::reply_class.eq(reply_class),
                        ))
                        .execute(conn)?,
                    None => diesel::update(mine(*id)).set(back).execute(conn)?,
                };
            }
            Outcome::Failed {
                error,
                bounced_supporter,
                reply_class,
            } => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Failed),
                        deliveries::attempts.eq(deliveries::attempts + 1),
                        deliveries::last_error.eq(error),
                        deliveries::reply_class.eq(reply_class),
                        deliveries::payload.eq(None::<String>),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
                if let Some(sid) = bounced_supporter {
                    diesel::update(
                        supporters::table.filter(supporters::id.eq(sid)).filter(
                            supporters::status
                                .eq_any([SupporterStatus::Active, SupporterStatus::Unsubscribed]),
                        ),
                    )
                    .set((
                        supporters::status.eq(SupporterStatus::Bounced),
                        supporters::bounced_at.eq(t),
                        supporters::updated_at.eq(t),
                    ))
                    .execute(conn)?;
                }
            }
            Outcome::Cancelled { reason } => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Cancelled),
                        deliveries::last_error.eq(reason),
                        deliveries::payload.eq(None::<String>),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            Outcome::Expired => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Expired),
                        deliveries::last_error.eq("past the alert's send_by"),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            Outcome::Held => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Held),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            Outcome::Released => {
                diesel::update(mine(*id))
                    .set((
                        deliveries::status.eq(DeliveryStatus::Queued),
                        deliveries::locked_by.eq(None::<String>),
                        deliveries::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// [`record`] as one atomic write: in a write transaction of its own, or,
/// where a single statement does it all (PostgreSQL, every outcome a sent
/// message: `backend::record_sent_many`), as that statement alone, two
/// round trips fewer per batch than BEGIN and COMMIT around it.
pub fn record_atomically(
    conn: &mut DbConnection,
    worker: &str,
    outcomes: &[(DeliveryId, Outcome)],
) -> DbResult<()> {
    let one_statement = !conn.is_sqlite()
        && outcomes
            .iter()
            .all(|(_, o)| matches!(o, Outcome::Sent { .. }));
    if one_statement {
        record(conn, worker, outcomes)
    } else {
        super::write_tx(conn, |c| record(c, worker, outcomes))
    }
}

/// Whether any delivery of an alert still waits to be sent (queued, held
/// or being sent): one index probe on SQLite, unlike counting them.
pub fn alert_has_waiting(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<bool> {
    // PostgreSQL keeps the count: the probe would walk the index entries
    // every status change of the send left behind.
    if let Some(p) = super::backend::alert_progress(conn, alert_id.as_str())? {
        return Ok(p.waiting > 0);
    }
    Ok(diesel::select(diesel::dsl::exists(
        deliveries::table
            .filter(deliveries::alert_id.eq(alert_id))
            .filter(deliveries::kind.eq(DeliveryKind::Alert))
            .filter(deliveries::status.eq_any([
                DeliveryStatus::Queued,
                DeliveryStatus::Held,
                DeliveryStatus::Sending,
            ])),
    ))
    .get_result(conn)?)
}

/// Expires the deliveries of alert `id` not yet made (queued or held;
/// those a worker holds expire when it claims or records them): its
/// `send_by` has passed. One statement; returns how many.
pub fn expire_alert(conn: &mut DbConnection, alert_id: &AlertId) -> DbResult<usize> {
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::alert_id.eq(alert_id))
            .filter(deliveries::kind.eq(DeliveryKind::Alert))
            .filter(deliveries::status.eq_any([DeliveryStatus::Queued, DeliveryStatus::Held])),
    )
    .set((
        deliveries::status.eq(DeliveryStatus::Expired),
        deliveries::last_error.eq("past the alert's send_by"),
    ))
    .execute(conn)?)
}

/// Holds an alert's queued deliveries (those to `domain` only, if given):
/// they stay waiting but no worker claims them until [`unhold`]. Returns
/// how many. Deliveries already claimed are not touched here; a worker that
/// learns of the pause records them as held (`Outcome::Held`).
pub fn hold(conn: &mut DbConnection, alert_id: &AlertId, domain: Option<&str>) -> DbResult<usize> {
    let queued = deliveries::table
        .filter(deliveries::alert_id.eq(alert_id))
        .filter(deliveries::kind.eq(DeliveryKind::Alert))
        .filter(deliveries::status.eq(DeliveryStatus::Queued));
    let n = match domain {
        Some(d) => diesel::update(queued.filter(deliveries::domain.eq(d)))
            .set(deliveries::status.eq(DeliveryStatus::Held))
            .execute(conn)?,
        None => diesel::update(queued)
            .set(deliveries::status.eq(DeliveryStatus::Held))
            .execute(conn)?,
    };
    Ok(n)
}

/// Queues again, due now, what [`hold`] held (to `domain` only, if given).
/// Returns how many.
pub fn unhold(
    conn: &mut DbConnection,
    alert_id: &AlertId,
    domain: Option<&str>,
) -> DbResult<usize> {
    let held = deliveries::table
        .filter(deliveries::alert_id.eq(alert_id))
        .filter(deliveries::status.eq(DeliveryStatus::Held));
    let set = (
        deliveries::status.eq(DeliveryStatus::Queued),
        deliveries::next_attempt_at.eq(now()),
    );
    let n = match domain {
        Some(d) => diesel::update(held.filter(deliveries::domain.eq(d)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(held).set(set).execute(conn)?,
    };
    Ok(n)
}

/// Pushes the queued deliveries to `domain` due before `until` back to
/// `until` (a throttling reply: the whole domain waits, other domains keep
/// their place), in one statement. Returns how many. Their attempts are
/// not touched. Rows without a domain (queued before domains were kept)
/// are left: the worker defers those one by one as it claims them.
pub fn defer_domain(
    conn: &mut DbConnection,
    domain: &str,
    until: NaiveDateTime,
) -> DbResult<usize> {
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::status.eq(DeliveryStatus::Queued))
            .filter(deliveries::domain.eq(domain))
            .filter(deliveries::next_attempt_at.lt(until)),
    )
    .set(deliveries::next_attempt_at.eq(until))
    .execute(conn)?)
}

/// Deliveries by the class of their last reply, for /metrics.
pub fn by_reply_class(conn: &mut DbConnection) -> DbResult<Vec<(String, i64)>> {
    Ok(deliveries::table
        .filter(deliveries::reply_class.is_not_null())
        .group_by(deliveries::reply_class)
        .select((
            deliveries::reply_class.assume_not_null(),
            diesel::dsl::count_star(),
        ))
        .load(conn)?)
}

/// The rows that hold a lease, for the partial index `deliveries_leased`:
/// `status = 'sending'` written into the SQL rather than bound, as SQLite's
/// index is defined by it, and `locked_until IS NOT NULL`, PostgreSQL's
/// (migration 000020; the claim sets `locked_until`, every way out of
/// `sending` clears it, so the two say the same).
fn leased() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("deliveries.status = 'sending' AND deliveries.locked_until IS NOT NULL")
}

/// Puts back deliveries whose lease ran out (their worker died): they are
/// due again at once. Returns how many.
pub fn reap_expired(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<usize> {
    Ok(diesel::update(
        deliveries::table
            .filter(leased())
            .filter(deliveries::locked_until.lt(now)),
    )
    .set((
        deliveries::status.eq(DeliveryStatus::Queued),
        deliveries::locked_by.eq(None::<String>),
        deliveries::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// Releases every lease `worker` holds (shutdown).
pub fn release_all(conn: &mut DbConnection, worker: &str) -> DbResult<usize> {
    Ok(diesel::update(
        deliveries::table
            .filter(leased())
            .filter(deliveries::locked_by.eq(worker)),
    )
    .set((
        deliveries::status.eq(DeliveryStatus::Queued),
        deliveries::locked_by.eq(None::<String>),
        deliveries::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// What the worker needs of a supporter to address a message.
#[derive(Debug, Clone, Queryable)]
pub struct RecipientRow {
    pub id: SupporterId,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: SupporterStatus,
    /// Their language tag: an alert's variant in it reaches them.
    pub locale: Option<String>,
}

impl RecipientRow {
    /// Whether alerts may go to this person now: the status that allows it
    /// ([`SupporterStatus::mailable`]) and an address. The same rule as
    /// [`super::backend::mailable_supporter`], which picks an alert's
    /// audience; this is its claim-time check.
    pub fn mailable(&self) -> bool {
        self.status.mailable() && self.email.is_some()
    }
}

pub fn recipients(conn: &mut DbConnection, ids: &[SupporterId]) -> DbResult<Vec<RecipientRow>> {
    use super::schema::supporters;
    let mut out = Vec::with_capacity(ids.len());
    // Bounded IN lists: SQLite caps bound parameters per statement.
    for chunk in ids.chunks(500) {
        out.extend(
            supporters::table
                .filter(supporters::id.eq_any(chunk))
                .select((
                    supporters::id,
                    supporters::email,
                    supporters::first_name,
                    supporters::last_name,
                    supporters::status,
                    supporters::locale,
                ))
                .load::<RecipientRow>(conn)?,
        );
    }
    for r in &mut out {
        open_in(&mut r.email)?;
        open_in(&mut r.first_name)?;
        open_in(&mut r.last_name)?;
    }
    Ok(out)
}

/// What a confirmation mail needs of its signature.
#[derive(Debug, Clone, Queryable)]
pub struct ConfirmationRow {
    pub signature_id: SignatureId,
    pub petition_title: String,
    pub status: SignatureStatus,
    /// The language the person signed in.
    pub locale: Option<String>,
    /// When this signing happened: the link's token is made from it, so
    /// signing again after an expiry makes a new link.
    pub signed_at: NaiveDateTime,
    /// The name typed on the form: the mail greets by it (it goes to the
    /// address's owner either way), not by the supporter's stored name.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// What confirmation and receipt mails need of their signatures.
pub fn confirmation_petitions(
    conn: &mut DbConnection,
    signature_ids: &[SignatureId],
) -> DbResult<Vec<ConfirmationRow>> {
    use super::schema::{petitions, signatures};
    let mut out = Vec::new();
    for chunk in signature_ids.chunks(500) {
        out.extend(
            signatures::table
                .inner_join(petitions::table)
                .filter(signatures::id.eq_any(chunk))
                .select((
                    signatures::id,
                    petitions::title,
                    signatures::status,
                    signatures::locale,
                    signatures::signed_at,
                    signatures::first_name,
                    signatures::last_name,
                ))
                .load::<ConfirmationRow>(conn)?,
        );
    }
    for r in &mut out {
        open_in(&mut r.first_name)?;
        open_in(&mut r.last_name)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::domain_of;

    #[test]
    fn a_domain_is_what_follows_the_first_at_in_lower_case() {
        assert_eq!(domain_of("ann@Example.ORG").as_deref(), Some("example.org"));
        assert_eq!(domain_of("a@b@c.example").as_deref(), Some("b@c.example"));
        assert_eq!(domain_of("nobody"), None);
        assert_eq!(domain_of("nobody@"), None);
    }
}
