//! Supporters: finding a person, telling them everything held about them
//! (subject access), and erasing them.
//!
//! Owns who may look (organisers and up) and who may erase (admins only),
//! and the audit entries `supporter.export` (who looked at whom) and
//! `supporter.erase` — who and when, never whom: that entry has no target
//! id, so the log itself does not keep the link. What erasure removes is
//! [`crate::db::supporters::erase`]'s; this module never decides it anew.
//! After an erasure it has the SQLite WAL written back and truncated, so no
//! copy of what was erased stays on disk while the server runs.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::campaign::paging::{PageRequest, Paged};
use crate::campaign::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{Email, Role, SupporterId, SupporterStatus};

pub use crate::db::supporters::Supporter;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A supporter id as it comes in a path: anything but an id this service
/// made names nobody.
pub fn supporter_id(raw: &str) -> CampaignResult<SupporterId> {
    SupporterId::parse(raw)
        .ok()
        // Stored ids are canonical; another spelling never matched one.
        .filter(|id| id.as_str() == raw)
        .ok_or(CampaignError::not_found("supporter"))
}

/// The supporter holding `email`, if anyone does.
pub async fn find_by_email(
    ctx: &Context,
    actor: &Actor,
    email: Email,
) -> CampaignResult<Option<Supporter>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| Ok(db::supporters::get_by_email(c, email.as_str())?))
        .await
}

/// A page of supporters in id (creation) order, after the id `after`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<Supporter>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| Ok(db::supporters::page(c, after.as_deref(), limit)?))
        .await
}

/// One numbered page of supporters in creation order, only those in
/// `status` if given (the console's listing).
pub async fn list_page(
    ctx: &Context,
    actor: &Actor,
    status: Option<SupporterStatus>,
    page: PageRequest,
) -> CampaignResult<Paged<Supporter>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let rows = db::supporters::page_at(c, status, page.offset(), page.fetch())?;
        Ok(Paged::from_rows(rows, page))
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, id: SupporterId) -> CampaignResult<Supporter> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| db::supporters::get(c, &id)?.ok_or(CampaignError::not_found("supporter")))
        .await
}

/// A supporter as the API and the subject-access document show them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupporterView {
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub locale: Option<String>,
    /// active, unsubscribed, bounced or erased
    pub status: String,
    pub email_opt_in: bool,
    pub consent_at: Option<DateTime<Utc>>,
    pub consent_source: Option<String>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// Why they left when it was not their own click: "complaint".
    pub unsubscribe_reason: Option<String>,
    pub bounced_at: Option<DateTime<Utc>>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Supporter> for SupporterView {
    fn from(s: Supporter) -> Self {
        SupporterView {
            id: s.id.into(),
            email: s.email,
            first_name: s.first_name,
            last_name: s.last_name,
            country: s.country,
            postcode: s.postcode,
            locale: s.locale,
            status: s.status.as_str().into(),
            email_opt_in: s.email_opt_in,
            consent_at: s.consent_at.map(utc),
            consent_source: s.consent_source,
            unsubscribed_at: s.unsubscribed_at.map(utc),
            unsubscribe_reason: s.unsubscribe_reason,
            bounced_at: s.bounced_at.map(utc),
            erased_at: s.erased_at.map(utc),
            created_at: utc(s.created_at),
            updated_at: utc(s.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    pub email_opt_in: bool,
    pub given_at: Option<DateTime<Utc>>,
    /// The words the person agreed to, as shown to them.
    pub wording: Option<String>,
    /// Where it was given: the signing form, an import, the API.
    pub source: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub list_id: String,
    pub list_name: String,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignatureHeld {
    pub id: String,
    pub petition_id: String,
    pub petition_slug: String,
    pub petition_title: String,
    pub status: String,
    /// The name as typed on the form.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
    pub locale: Option<String>,
    pub signed_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryHeld {
    pub id: i64,
    /// alert, confirmation or test
    pub kind: String,
    pub alert_id: Option<String>,
    pub signature_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Everything Clarion holds about one person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectAccess {
    pub exported_at: DateTime<Utc>,
    pub supporter: SupporterView,
    pub consent: ConsentView,
    pub lists: Vec<MembershipView>,
    pub signatures: Vec<SignatureHeld>,
    pub deliveries: Vec<DeliveryHeld>,
}

/// Everything held about supporter `id`; the look itself is audited.
pub async fn subject_access(
    ctx: &Context,
    actor: &Actor,
    id: SupporterId,
) -> CampaignResult<SubjectAccess> {
    actor.require(Role::Organiser)?;
    let actor_name = actor.audit_name();
    ctx.run(move |c| {
        let s = db::supporters::get(c, &id)?.ok_or(CampaignError::not_found("supporter"))?;
        let lists = db::lists::for_supporter(c, &id)?;
        let signatures = db::signature_reports::for_supporter(c, &id)?;
        let deliveries = db::deliveries::for_supporter(c, &id)?;
        // Who looked at a person's data is itself worth keeping.
        db::audit::record(
            c,
            &actor_name,
            "supporter.export",
            "supporter",
            Some(id.as_str()),
            None,
        )?;
        // `to_string()` on the signature and delivery fields: the text they
        // are stored as, whether those rows hold strings or typed values.
        Ok(SubjectAccess {
            exported_at: Utc::now(),
            consent: ConsentView {
                email_opt_in: s.email_opt_in,
                given_at: s.consent_at.map(utc),
                wording: s.consent_wording.clone(),
                source: s.consent_source.clone(),
            },
            supporter: s.into(),
            lists: lists
                .into_iter()
                .map(|(l, at)| MembershipView {
                    list_id: l.id.into(),
                    list_name: l.name,
                    added_at: utc(at),
                })
                .collect(),
            signatures: signatures
                .into_iter()
                .map(|g| SignatureHeld {
                    id: g.id.to_string(),
                    petition_id: g.petition_id.to_string(),
                    petition_slug: g.petition_slug,
                    petition_title: g.petition_title,
                    status: g.status.to_string(),
                    first_name: g.first_name,
                    last_name: g.last_name,
                    country: g.country,
                    postcode: g.postcode,
                    comment: g.comment,
                    email_opt_in: g.email_opt_in,
                    locale: g.locale,
                    signed_at: utc(g.signed_at),
                    confirmed_at: g.confirmed_at.map(utc),
                })
                .collect(),
            deliveries: deliveries
                .into_iter()
                .map(|d| DeliveryHeld {
                    id: d.id.0,
                    kind: d.kind.to_string(),
                    alert_id: d.alert_id.map(|a| a.to_string()),
                    signature_id: d.signature_id.map(|s| s.to_string()),
                    status: d.status.to_string(),
                    attempts: d.attempts,
                    message_id: d.message_id,
                    created_at: utc(d.created_at),
                    sent_at: d.sent_at.map(utc),
                })
                .collect(),
        })
    })
    .await
}

/// Erases supporter `id` — every personal field, as
/// [`db::supporters::erase`] describes; erasing again does nothing more.
/// Admins only.
pub async fn erase(ctx: &Context, actor: &Actor, id: SupporterId) -> CampaignResult<()> {
    actor.require(Role::Admin)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    let erased = ctx
        .write(move |c| {
            let done = erase_in(c, &id, now)?;
            if done.is_some() {
                // Who and when, not whom: no target id, no detail naming them.
                db::audit::record(c, &actor_name, "supporter.erase", "supporter", None, None)?;
            }
            Ok(done)
        })
        .await?;
    if let Some(e) = erased {
        tracing::info!(
            erasure.signatures = e.signatures,
            erasure.memberships = e.memberships,
            erasure.deliveries_cancelled = e.deliveries_cancelled,
            "supporter erased"
        );
        after_erasure(ctx).await;
    }
    Ok(())
}

/// The erasure itself, inside the caller's write transaction: `None` when
/// the supporter was erased already; not found when there is none. The
/// one way a supporter is erased, whoever asks (an admin, or a case's
/// retention).
pub(super) fn erase_in(
    c: &mut db::DbConnection,
    id: &SupporterId,
    now: NaiveDateTime,
) -> CampaignResult<Option<db::supporters::Erasure>> {
    let Some(s) = db::supporters::get(c, id)? else {
        return Err(CampaignError::not_found("supporter"));
    };
    if s.erased_at.is_some() {
        return Ok(None);
    }
    Ok(db::supporters::erase(c, id, now)?)
}

/// What follows a committed erasure. On SQLite the WAL still holds the
/// pages as they were before the erasure (secure_delete clears the
/// database file itself): write it back and truncate it now, not at the
/// next restart. The erasure is committed whatever happens here, so a
/// failure is logged, not answered.
pub(super) async fn after_erasure(ctx: &Context) {
    match ctx.db.truncate_wal().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "the WAL could not be truncated after an erasure; what was erased may stay in it until the server stops"
        ),
        Err(e) => tracing::error!(error.cause_chain = ?e, "truncating the WAL after an erasure failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_ids_name_a_supporter() {
        let id = SupporterId::new();
        assert_eq!(supporter_id(id.as_str()).unwrap(), id);
        assert!(supporter_id(&format!(" {id}")).is_err());
        assert!(matches!(
            supporter_id("nope"),
            Err(CampaignError::NotFound { what: "supporter" })
        ));
    }
}
