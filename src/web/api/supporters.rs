//! `/api/v1/supporters`: finding a person, telling them everything held about
//! them (subject access), and erasing them.
//!
//! Erasure is admin-only and audited by who and when, never whom: the audit
//! entry has no target id, so the log itself does not keep the link.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Role};
use super::paging::{Page, PageQuery};
use crate::db;
use crate::db::supporters::Supporter;
use crate::domain::Email;
use crate::error::{ApiError, FieldError};
use crate::web::AppState;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

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
    pub bounced_at: Option<DateTime<Utc>>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Supporter> for SupporterView {
    fn from(s: Supporter) -> Self {
        SupporterView {
            id: s.id,
            email: s.email,
            first_name: s.first_name,
            last_name: s.last_name,
            country: s.country,
            postcode: s.postcode,
            locale: s.locale,
            status: s.status,
            email_opt_in: s.email_opt_in,
            consent_at: s.consent_at.map(utc),
            consent_source: s.consent_source,
            unsubscribed_at: s.unsubscribed_at.map(utc),
            bounced_at: s.bounced_at.map(utc),
            erased_at: s.erased_at.map(utc),
            created_at: utc(s.created_at),
            updated_at: utc(s.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SupporterQuery {
    /// Find the supporter with this address (normalised as everywhere).
    pub email: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/supporters", tag = "supporters", params(SupporterQuery),
    responses((status = 200, description = "{items: [Supporter], next_cursor}; with ?email= at most one item"),
        (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<SupporterQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let q = q.into_inner();
    if let Some(email) = q.email.as_deref() {
        let email = Email::parse(email)
            .map_err(|e| ApiError::Validation(vec![FieldError::new("email", e.to_string())]))?;
        let found = state
            .db
            .run(move |c| db::supporters::get_by_email(c, email.as_str()))
            .await
            .map_err(ApiError::from)?;
        let page: Page<SupporterView> = Page {
            items: found.into_iter().map(SupporterView::from).collect(),
            next_cursor: None,
        };
        return Ok(HttpResponse::Ok().json(page));
    }
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let limit = page.limit;
    let rows = state
        .db
        .run(move |c| db::supporters::page(c, page.after.as_deref(), limit + 1))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |s| s.id.clone(),
        SupporterView::from,
    )))
}

#[utoipa::path(get, path = "/api/v1/supporters/{id}", tag = "supporters",
    responses((status = 200, body = SupporterView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = id.into_inner();
    let s = state
        .db
        .run(move |c| db::supporters::get(c, &id))
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound("supporter"))?;
    Ok(HttpResponse::Ok().json(SupporterView::from(s)))
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

#[utoipa::path(get, path = "/api/v1/supporters/{id}/export", tag = "supporters",
    responses((status = 200, body = SubjectAccess), (status = 404)), security(("bearer" = [])))]
pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let doc = subject_access(&state, caller.audit_name(), id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store, private"))
        .json(doc))
}

/// Everything held about supporter `id`; the look itself is audited.
pub async fn subject_access(
    state: &AppState,
    actor: String,
    id: String,
) -> Result<SubjectAccess, ApiError> {
    state
        .db
        .run(move |c| {
            let s = db::supporters::get(c, &id)?.ok_or(ApiError::NotFound("supporter"))?;
            let lists = db::lists::for_supporter(c, &id)?;
            let sid = crate::domain::SupporterId::parse(&id)
                .map_err(|_| ApiError::NotFound("supporter"))?;
            let signatures = db::signature_reports::for_supporter(c, &sid)?;
            let deliveries = db::deliveries::for_supporter(c, &id)?;
            // Who looked at a person's data is itself worth keeping.
            db::audit::record(c, &actor, "supporter.export", "supporter", Some(&id), None)?;
            Ok::<_, ApiError>(SubjectAccess {
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
                        list_id: l.id,
                        list_name: l.name,
                        added_at: utc(at),
                    })
                    .collect(),
                signatures: signatures
                    .into_iter()
                    .map(|g| SignatureHeld {
                        id: g.id.into(),
                        petition_id: g.petition_id.into(),
                        petition_slug: g.petition_slug,
                        petition_title: g.petition_title,
                        status: g.status.as_str().to_string(),
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
                        id: d.id,
                        kind: d.kind,
                        alert_id: d.alert_id,
                        signature_id: d.signature_id,
                        status: d.status,
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

#[utoipa::path(delete, path = "/api/v1/supporters/{id}", tag = "supporters",
    responses((status = 204, description = "erased (again: nothing more to do)"), (status = 401),
        (status = 403, description = "only admins erase"), (status = 404)),
    security(("bearer" = [])))]
pub async fn erase(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    erase_supporter(&state, caller.audit_name(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases supporter `id` (again: nothing more to do). The caller checks
/// that only admins get here.
pub async fn erase_supporter(state: &AppState, actor: String, id: String) -> Result<(), ApiError> {
    let erased = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let Some(s) = db::supporters::get(conn, &id)? else {
                    return Err(ApiError::NotFound("supporter"));
                };
                if s.erased_at.is_some() {
                    return Ok(None);
                }
                let done = db::supporters::erase(conn, &id, db::now())?;
                // Who and when, not whom: no target id, no detail naming them.
                db::audit::record(conn, &actor, "supporter.erase", "supporter", None, None)?;
                Ok::<_, ApiError>(done)
            })
        })
        .await?;
    if let Some(e) = erased {
        tracing::info!(
            erasure.signatures = e.signatures,
            erasure.memberships = e.memberships,
            erasure.deliveries_cancelled = e.deliveries_cancelled,
            "supporter erased"
        );
    }
    Ok(())
}
