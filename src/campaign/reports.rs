//! Late reports (contract §8): bounces and complaints that arrive by mail
//! after the relay took a message, through `clarion bounces ingest` or
//! `POST /api/v1/mail/inbound`; and what they add to an alert: its bounce
//! and complaint figures, its pause when complaints pass their limit, and
//! its resumption.
//!
//! # Policy
//!
//! * Each message is matched to its delivery by a VERP address with a
//!   genuine tag, else by the original `Message-ID`; each is handled in one
//!   transaction of its own.
//! * A failed DSN records its reply class and (address-masked) reply on the
//!   delivery; a mailbox-gone class also marks the supporter `bounced`, by
//!   the same rule as a bounce during the SMTP conversation. A policy class
//!   only records itself: the supporter stays `active`.
//! * A feedback report of type `abuse` marks the delivery `complaint` and
//!   unsubscribes an active supporter with the reason "complaint".
//! * Anything that is not such a report, or names no delivery, is kept in
//!   `inbound_reports` with its bytes and counted as unmatched: never
//!   dropped, never an error.
//! * An alert still sending pauses itself once its complaints reach
//!   [`COMPLAINT_LIMIT_PER_MILLE`] of its sent messages after at least
//!   [`COMPLAINTS_COUNT_FROM`] sent; a campaigner resumes it. It pauses
//!   once: after a resume the campaigner has taken the decision.
//! * Only admins ingest (the reports change supporters); campaigners resume.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::alerts::Warning;
use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db::{self, DbConnection};
use crate::domain::{mask_addresses, AlertId, AlertStatus, DeliveryKind, Role};
use crate::mail::inbound::{self, Inbound, ReportKind};
use crate::mail::reply::ReplyClass;
use crate::mail::verp;

/// Complaints at or above 3 per 1,000 sent (0.3%, the limit Gmail and
/// Yahoo set for bulk senders) pause an alert…
pub const COMPLAINT_LIMIT_PER_MILLE: i64 = 3;
/// …once at least this many were sent (below it, one complaint is a rate).
pub const COMPLAINTS_COUNT_FROM: i64 = 1000;

/// What one ingest did (`{"matched", "bounced", "complaints", "unmatched"}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IngestSummary {
    /// Reports that named a delivery.
    pub matched: u64,
    /// Of those, bounces that mean the address is gone.
    pub bounced: u64,
    /// Of those, spam complaints.
    pub complaints: u64,
    /// Messages kept for a person to look at: not a report, or naming no
    /// delivery.
    pub unmatched: u64,
}

/// An alert's figures from late reports, and its warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertReports {
    /// Deliveries whose supporter bounced through them.
    pub bounced: i64,
    /// Deliveries complained about.
    pub complaints: i64,
    /// Why it paused itself, if it did ([`Warning::Complaints`]).
    pub warnings: Vec<Warning>,
}

/// A kept report that named no delivery, as a campaigner sees it listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnmatchedReport {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    /// The message's size in bytes.
    pub size: usize,
    /// Its `From` and `Subject` headers, as far as they can be read.
    pub from: Option<String>,
    pub subject: Option<String>,
}

/// Kept reports, oldest first, `limit` after `after` (campaigner), each
/// with its message as it arrived.
pub async fn unmatched(
    ctx: &Context,
    actor: &Actor,
    after: Option<i64>,
    limit: i64,
) -> CampaignResult<Vec<(UnmatchedReport, Vec<u8>)>> {
    actor.require(Role::Campaigner)?;
    let rows = ctx
        .run(move |c| Ok(db::reports::unmatched_page(c, after, limit)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, raw)| {
            let (from, subject) = inbound::from_and_subject(&raw);
            let report = UnmatchedReport {
                id,
                received_at: at.and_utc(),
                size: raw.len(),
                from,
                subject,
            };
            (report, raw)
        })
        .collect())
}

/// One kept report's message, as it arrived (campaigner).
pub async fn unmatched_message(ctx: &Context, actor: &Actor, id: i64) -> CampaignResult<Vec<u8>> {
    actor.require(Role::Campaigner)?;
    ctx.run(move |c| {
        db::reports::unmatched_message(c, id)?.ok_or(CampaignError::not_found("report"))
    })
    .await
}

/// Deletes a kept report once a campaigner has dealt with it; audited.
pub async fn discard_unmatched(ctx: &Context, actor: &Actor, id: i64) -> CampaignResult<()> {
    actor.require(Role::Campaigner)?;
    let who = actor.audit_name();
    ctx.write(move |c| {
        if !db::reports::discard_unmatched(c, id)? {
            return Err(CampaignError::not_found("report"));
        }
        db::audit::record(
            c,
            &who,
            "report.discard",
            "report",
            Some(&id.to_string()),
            None,
        )?;
        Ok(())
    })
    .await
}

/// Reads `input` (one message, or an mbox) and applies each report in it.
pub async fn ingest(ctx: &Context, actor: &Actor, input: Vec<u8>) -> CampaignResult<IngestSummary> {
    actor.require(Role::Admin)?;
    let messages = inbound::read(&input);
    drop(input);
    let mut summary = IngestSummary::default();
    for message in messages {
        let keys = ctx.keys.clone();
        let now = ctx.now();
        let effect = ctx.write(move |c| apply(c, &keys, &message, now)).await?;
        match effect {
            Effect::Unmatched => summary.unmatched += 1,
            Effect::Matched => summary.matched += 1,
            Effect::Bounced => {
                summary.matched += 1;
                summary.bounced += 1;
            }
            Effect::Complaint { paused } => {
                summary.matched += 1;
                summary.complaints += 1;
                if let Some(alert) = paused {
                    tracing::warn!(alert.id = %alert, "alert paused: complaints reached their limit");
                }
            }
        }
    }
    tracing::info!(
        reports.matched = summary.matched,
        reports.bounced = summary.bounced,
        reports.complaints = summary.complaints,
        reports.unmatched = summary.unmatched,
        "late reports ingested"
    );
    Ok(summary)
}

enum Effect {
    Unmatched,
    Matched,
    Bounced,
    Complaint { paused: Option<AlertId> },
}

/// One message's effect, in the caller's transaction.
fn apply(
    c: &mut DbConnection,
    keys: &crate::security::Keys,
    message: &Inbound,
    now: NaiveDateTime,
) -> CampaignResult<Effect> {
    let target = match &message.kind {
        ReportKind::Other => None,
        ReportKind::DeliveryStatus(_) | ReportKind::Feedback { .. } => find(c, keys, message)?,
    };
    let Some(target) = target else {
        db::reports::keep_unmatched(c, now, &message.raw)?;
        return Ok(Effect::Unmatched);
    };
    match &message.kind {
        ReportKind::DeliveryStatus(recipients) => {
            let Some(failed) = recipients.iter().find(|r| r.failed()) else {
                return Ok(Effect::Matched);
            };
            let class = failed.class().unwrap_or(ReplyClass::Rejected);
            let reply = mask_addresses(&failed.reply_text()).into_owned();
            let reply: String = reply.chars().take(1000).collect();
            db::reports::record_reply(c, target.id, class.as_str(), Some(&reply))?;
            if class == ReplyClass::MailboxGone {
                if let Some(sid) = &target.supporter_id {
                    db::reports::bounce(c, sid, now)?;
                }
                return Ok(Effect::Bounced);
            }
            Ok(Effect::Matched)
        }
        ReportKind::Feedback { feedback_type } if feedback_type == "abuse" => {
            db::reports::record_reply(c, target.id, ReplyClass::Complaint.as_str(), None)?;
            if let Some(sid) = &target.supporter_id {
                db::reports::unsubscribe_for_complaint(c, sid, now)?;
            }
            let paused = match (&target.alert_id, target.kind) {
                (Some(alert), DeliveryKind::Alert) => {
                    pause_if_over_limit(c, alert, now)?.then(|| alert.clone())
                }
                _ => None,
            };
            Ok(Effect::Complaint { paused })
        }
        ReportKind::Feedback { .. } => Ok(Effect::Matched),
        ReportKind::Other => unreachable!("an Other message is never matched above"),
    }
}

/// The delivery a report names: a VERP address with a genuine tag first,
/// then the original `Message-ID`.
fn find(
    c: &mut DbConnection,
    keys: &crate::security::Keys,
    message: &Inbound,
) -> CampaignResult<Option<db::reports::Target>> {
    for address in &message.keys.verp {
        if let Some(id) = verp::delivery_of(keys, address) {
            if let Some(t) = db::reports::by_id(c, id)? {
                return Ok(Some(t));
            }
        }
    }
    for id in &message.keys.message_ids {
        if let Some(t) = db::reports::by_message_id(c, id)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Whether `complaints` of `sent` reach the limit.
pub fn over_limit(complaints: i64, sent: i64) -> bool {
    sent >= COMPLAINTS_COUNT_FROM && complaints * 1000 >= COMPLAINT_LIMIT_PER_MILLE * sent
}

/// "complaints reached 0.31% of sent (4 of 1,290)"
pub fn pause_reason(complaints: i64, sent: i64) -> String {
    let percent = if sent > 0 {
        complaints as f64 * 100.0 / sent as f64
    } else {
        0.0
    };
    format!(
        "complaints reached {percent:.2}% of sent ({} of {})",
        grouped(complaints),
        grouped(sent)
    )
}

/// 1290 → "1,290"
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn pause_if_over_limit(
    c: &mut DbConnection,
    alert: &AlertId,
    now: NaiveDateTime,
) -> CampaignResult<bool> {
    let sent = db::alerts::counts(c, alert)?.sent;
    let (_, complaints) = db::reports::figures(c, alert)?;
    if !over_limit(complaints, sent) {
        return Ok(false);
    }
    Ok(db::reports::pause(
        c,
        alert,
        &pause_reason(complaints, sent),
        now,
    )?)
}

/// Alert `id`'s bounce and complaint figures and its warnings, for the
/// alert's detail (inside the caller's read).
pub fn alert_reports(c: &mut DbConnection, id: &AlertId) -> CampaignResult<AlertReports> {
    let (bounced, complaints) = db::reports::figures(c, id)?;
    Ok(AlertReports {
        bounced,
        complaints,
        warnings: alert_warnings(c, id)?,
    })
}

/// Why alert `id` is paused, if it paused itself for complaints.
pub fn alert_warnings(c: &mut DbConnection, id: &AlertId) -> CampaignResult<Vec<Warning>> {
    Ok(match db::reports::pause_of(c, id)? {
        Some(db::reports::Pause {
            status: AlertStatus::Paused,
            reason,
            at,
        }) => vec![Warning::Complaints {
            reason: reason.unwrap_or_else(|| "paused".into()),
            since: at,
        }],
        _ => vec![],
    })
}

/// Resumes paused alert `id`: sending again, its held deliveries queued.
/// `AlertNotPaused` when it is not paused.
pub async fn resume(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
) -> CampaignResult<super::alerts::AlertDetail> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    let id = id.clone();
    let detail = ctx
        .write(move |c| {
            db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
            if !db::reports::resume(c, &id, now)? {
                return Err(CampaignError::AlertNotPaused);
            }
            db::audit::record(
                c,
                &actor_name,
                "alert.resume",
                "alert",
                Some(id.as_str()),
                None,
            )?;
            super::alerts::detail(c, &id, now)
        })
        .await?;
    ctx.events.mail_queued();
    Ok(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_three_in_a_thousand_from_a_thousand_sent() {
        assert!(!over_limit(3, 999), "too few sent to judge");
        assert!(over_limit(3, 1000));
        assert!(!over_limit(3, 1290));
        assert!(over_limit(4, 1290));
        assert!(!over_limit(0, 5000));
        assert_eq!(
            pause_reason(4, 1290),
            "complaints reached 0.31% of sent (4 of 1,290)"
        );
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(0), "0");
    }
}
