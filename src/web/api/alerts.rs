//! `/api/v1/alerts`: urgent-action emails. A draft is previewed and
//! test-sent, then sent once: the audience is snapshotted into the mail queue
//! in one transaction, and a second send never queues anything.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input::Fields;
use super::paging::{Page, PageQuery};
use crate::db::alerts::{Alert, AlertCounts};
use crate::db::{self, DbError};
use crate::domain::{text, Email};
use crate::error::{ApiError, FieldError};
use crate::mail::compose::{Recipient, Rendered};
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: String,
    pub case_id: String,
    pub petition_id: Option<String>,
    pub list_ids: Vec<String>,
    pub subject: String,
    pub body_markdown: String,
    /// draft, sending, sent or cancelled
    pub status: String,
    /// People in the audience snapshot taken at send.
    pub recipients: i64,
    /// Deliveries waiting or being sent.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Not sent: cancelled, or the person left after the snapshot.
    pub cancelled: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub send_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl AlertView {
    fn new(a: Alert, list_ids: Vec<String>, c: AlertCounts) -> Self {
        AlertView {
            id: a.id,
            case_id: a.case_id,
            petition_id: a.petition_id,
            list_ids,
            subject: a.subject,
            body_markdown: a.body_markdown,
            status: a.status,
            recipients: a.recipients,
            queued: c.queued,
            sent: c.sent,
            failed: c.failed,
            cancelled: c.cancelled,
            created_at: a.created_at.and_utc(),
            updated_at: a.updated_at.and_utc(),
            send_started_at: a.send_started_at.map(|t| t.and_utc()),
            finished_at: a.finished_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AlertInput {
    case_id: String,
    petition_id: Option<String>,
    list_ids: Vec<String>,
    subject: String,
    /// Markdown; rendered to sanitised HTML and to plain text.
    body_markdown: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    pub subject: String,
    pub html: String,
    pub text: String,
}

pub fn load_view(c: &mut db::DbConnection, id: &str) -> Result<AlertView, ApiError> {
    let alert = db::alerts::get(c, id)?.ok_or(ApiError::NotFound("alert"))?;
    let lists = db::alerts::list_ids(c, id)?;
    let counts = db::alerts::counts(c, id)?;
    Ok(AlertView::new(alert, lists, counts))
}

#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", request_body = AlertInput,
    responses((status = 201, body = AlertView), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let view = create_alert(&state, caller.audit_name(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Validates an alert body (every bad field at once) and stores the draft;
/// shared by the API and the console.
pub async fn create_alert(
    state: &AppState,
    actor: String,
    body: Value,
) -> Result<AlertView, ApiError> {
    save_alert(state, actor, None, body).await
}

/// As [`create_alert`] for an existing draft `id` (the console's edits).
/// An alert no longer a draft is a 409.
pub async fn update_draft(
    state: &AppState,
    actor: String,
    id: String,
    body: Value,
) -> Result<AlertView, ApiError> {
    save_alert(state, actor, Some(id), body).await
}

async fn save_alert(
    state: &AppState,
    actor: String,
    existing: Option<String>,
    body: Value,
) -> Result<AlertView, ApiError> {
    let mut f = Fields::new(body)?;
    let case_id = f.string("case_id", true, |s| Ok::<_, String>(s.trim().to_string()));
    let petition_id = f.string("petition_id", false, |s| {
        Ok::<_, String>(s.trim().to_string())
    });
    let list_ids = f.string_list("list_ids", true);
    if list_ids.as_ref().is_some_and(|l| l.is_empty()) {
        f.errors
            .push(FieldError::new("list_ids", "Choose at least one list."));
    }
    let subject = f.string("subject", true, |s| text::single_line(s, "subject", 200));
    let body = f.string("body_markdown", true, |s| {
        text::multi_line(s, "body_markdown", 100_000)
    });
    let mut errors = f.errors;
    let now = db::now();
    state
        .db
        .run(move |c| {
            db::write_tx(c, |c| {
                // Existence checks join the shape errors in one 422.
                let case = match &case_id {
                    // Only an id's stored text names it.
                    Some(id) => match crate::domain::CaseId::parse(id) {
                        Ok(cid) if cid.as_str() == id => db::cases::get(c, &cid)?,
                        _ => None,
                    },
                    None => None,
                };
                if case_id.is_some() && case.is_none() {
                    errors.push(FieldError::new("case_id", "No case has this id."));
                }
                if let Some(pid) = &petition_id {
                    let petition = match crate::domain::PetitionId::parse(pid) {
                        Ok(p) if p.as_str() == pid => db::petitions::get(c, &p)?,
                        _ => None,
                    };
                    match petition {
                        None => {
                            errors.push(FieldError::new("petition_id", "No petition has this id."))
                        }
                        Some(p) if case_id.as_deref().is_some_and(|cid| cid != &*p.case_id) => {
                            errors.push(FieldError::new(
                                "petition_id",
                                "This petition belongs to another case.",
                            ))
                        }
                        Some(_) => {}
                    }
                }
                let mut lists = list_ids.clone().unwrap_or_default();
                lists.sort();
                lists.dedup();
                if !lists.is_empty() {
                    use crate::db::schema::lists;
                    let found: i64 = lists::table
                        .filter(lists::id.eq_any(&lists))
                        .count()
                        .get_result(c)
                        .map_err(DbError::from)?;
                    if found != lists.len() as i64 {
                        errors.push(FieldError::new(
                            "list_ids",
                            "One or more lists do not exist.",
                        ));
                    }
                }
                let draft = match &existing {
                    Some(id) => Some(db::alerts::get(c, id)?.ok_or(ApiError::NotFound("alert"))?),
                    None => None,
                };
                if !errors.is_empty() {
                    return Err(ApiError::Validation(errors));
                }
                let alert = Alert {
                    id: draft
                        .as_ref()
                        .map(|d| d.id.clone())
                        .unwrap_or_else(db::new_id),
                    case_id: case_id.unwrap_or_default(),
                    petition_id,
                    subject: subject.unwrap_or_default(),
                    body_markdown: body.unwrap_or_default(),
                    status: "draft".into(),
                    recipients: 0,
                    created_by: Some(actor.clone()),
                    created_at: draft.as_ref().map(|d| d.created_at).unwrap_or(now),
                    updated_at: now,
                    send_started_at: None,
                    finished_at: None,
                };
                if draft.is_some() {
                    if !db::alerts::update_draft(c, &alert, &lists)? {
                        return Err(ApiError::Conflict(
                            "This alert is no longer a draft.".into(),
                        ));
                    }
                    db::audit::record(c, &actor, "alert.update", "alert", Some(&alert.id), None)?;
                } else {
                    db::alerts::insert(c, &alert, &lists).map_err(DbError::from)?;
                    db::audit::record(c, &actor, "alert.create", "alert", Some(&alert.id), None)?;
                }
                load_view(c, &alert.id)
            })
        })
        .await
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(PageQuery),
    responses((status = 200, description = "{items: [Alert], next_cursor}")), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let page = q.parse()?;
    let limit = page.limit;
    let views = state
        .db
        .run(move |c| {
            let rows = db::alerts::page(c, page.after.as_deref(), limit + 1)?;
            let mut out = Vec::with_capacity(rows.len());
            for a in rows {
                let lists = db::alerts::list_ids(c, &a.id)?;
                let counts = db::alerts::counts(c, &a.id)?;
                out.push(AlertView::new(a, lists, counts));
            }
            Ok::<_, ApiError>(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.clone(), |v| v)))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = id.into_inner();
    let view = state.db.run(move |c| load_view(c, &id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/preview", tag = "alerts",
    request_body(content = Object, description = "{supporter_id?}"),
    responses((status = 200, body = PreviewView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Option<web::Json<Value>>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let mut f = Fields::new(
        body.map(|b| b.into_inner())
            .unwrap_or(Value::Object(Default::default())),
    )?;
    let supporter_id = f.string("supporter_id", false, |s| {
        Ok::<_, String>(s.trim().to_string())
    });
    f.finish()?;
    let preview = preview_alert(&state, id.into_inner(), supporter_id, |_| {}).await?;
    Ok(HttpResponse::Ok().json(preview))
}

/// The alert as `supporter_id` (or a sample supporter) would get it;
/// `adjust` may change the stored content first (the console previews
/// unsaved edits).
pub async fn preview_alert(
    state: &AppState,
    id: String,
    supporter_id: Option<String>,
    adjust: impl FnOnce(&mut crate::mail::compose::AlertContent),
) -> Result<PreviewView, ApiError> {
    let base = state.settings.base_url.clone();
    let (mut content, recipient) = state
        .db
        .run(move |c| {
            let content = crate::mail::worker::load_alert_content(c, &id, &base)?
                .ok_or(ApiError::NotFound("alert"))?;
            let recipient = match supporter_id {
                Some(sid) => {
                    let rows = db::deliveries::recipients(c, std::slice::from_ref(&sid))?;
                    let row = rows.into_iter().next().ok_or_else(|| {
                        ApiError::Validation(vec![FieldError::new(
                            "supporter_id",
                            "No supporter has this id.",
                        )])
                    })?;
                    row.recipient()
                }
                None => Recipient {
                    supporter_id: Some("00000000-0000-0000-0000-000000000000".into()),
                    email: "alex.sample@example.org".into(),
                    first_name: "Alex".into(),
                    last_name: "Sample".into(),
                },
            };
            Ok::<_, ApiError>((content, recipient))
        })
        .await?;
    adjust(&mut content);
    let composer =
        crate::mail::composer(&state.settings, state.templates.clone(), state.keys.clone());
    let Rendered {
        subject,
        html,
        text,
    } = composer
        .render_alert(&content, &recipient, false)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(PreviewView {
        subject,
        html,
        text,
    })
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/test", tag = "alerts",
    request_body(content = Object, description = "{email}"),
    responses((status = 202), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn test_send(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let mut f = Fields::new(body.into_inner())?;
    let email = f.string("email", true, Email::parse);
    f.finish()?;
    let email = email.expect("checked by finish");
    queue_test(&state, caller.audit_name(), id.into_inner(), email).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"queued": 1})))
}

/// Queues one `[TEST]` copy of alert `id` to `email`.
pub async fn queue_test(
    state: &AppState,
    actor: String,
    id: String,
    email: Email,
) -> Result<(), ApiError> {
    state
        .db
        .run(move |c| {
            db::write_tx(c, |c| {
                db::alerts::get(c, &id)?.ok_or(ApiError::NotFound("alert"))?;
                db::deliveries::enqueue_test(c, &id, email.as_str())?;
                db::audit::record(c, &actor, "alert.test", "alert", Some(&id), None)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/send", tag = "alerts",
    responses((status = 202, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let view = send_alert(&state, caller.audit_name(), id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(view))
}

/// Snapshots the audience of alert `id` and queues it, once: a second call
/// queues nothing.
pub async fn send_alert(
    state: &AppState,
    actor: String,
    id: String,
) -> Result<AlertView, ApiError> {
    let view = state
        .db
        .run(move |c| {
            db::write_tx(c, |c| {
                db::alerts::get(c, &id)?.ok_or(ApiError::NotFound("alert"))?;
                if let Some(n) = db::alerts::start_send(c, &id, db::now())? {
                    let detail = format!("{n} recipients");
                    db::audit::record(c, &actor, "alert.send", "alert", Some(&id), Some(&detail))?;
                }
                load_view(c, &id)
            })
        })
        .await?;
    state.mail_wakeup.notify_one();
    Ok(view)
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let view = cancel_alert(&state, caller.audit_name(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Stops the deliveries of alert `id` not yet made.
pub async fn cancel_alert(
    state: &AppState,
    actor: String,
    id: String,
) -> Result<AlertView, ApiError> {
    state
        .db
        .run(move |c| {
            db::write_tx(c, |c| {
                db::alerts::get(c, &id)?.ok_or(ApiError::NotFound("alert"))?;
                if db::alerts::cancel(c, &id, db::now())? {
                    db::audit::record(c, &actor, "alert.cancel", "alert", Some(&id), None)?;
                }
                load_view(c, &id)
            })
        })
        .await
}
