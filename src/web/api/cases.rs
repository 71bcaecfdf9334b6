//! `/api/v1/cases`: the people and situations campaigns are about. Thin:
//! parse, authorise, call one `campaign::cases` action, render.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::{Caller, Role};
use super::input;
use super::paging::{Listing, PageQuery};
use crate::campaign::cases::{self, Case, CaseChanges, NewCase};
use crate::domain::{CaseId, CaseStatus};
use crate::error::ApiError;
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    #[schema(value_type = String)]
    pub id: CaseId,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub subject_name: Option<String>,
    pub country: Option<String>,
    pub body: Option<String>,
    /// open, resolved or closed
    #[schema(value_type = String)]
    pub status: CaseStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Days after the case is resolved or closed when its signers' data
    /// that nothing else holds is erased; null keeps it.
    pub retention_days: Option<i64>,
    /// When the case was resolved or closed (null while open).
    pub ended_at: Option<DateTime<Utc>>,
    /// When retention erases its signers' data (null: never, or not yet
    /// ended).
    pub erase_after: Option<DateTime<Utc>>,
}

impl From<Case> for CaseView {
    fn from(c: Case) -> Self {
        CaseView {
            erase_after: c.erase_after().map(|t| t.and_utc()),
            retention_days: c.retention_days,
            ended_at: c.ended_at.map(|t| t.and_utc()),
            id: c.id,
            slug: c.slug,
            title: c.title,
            summary: c.summary,
            subject_name: c.subject_name,
            country: c.country,
            body: c.body,
            status: c.status,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        }
    }
}

/// Request body of POST and PATCH (every field optional on PATCH).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CaseInput {
    slug: String,
    title: String,
    summary: String,
    subject_name: Option<String>,
    country: Option<String>,
    body: Option<String>,
    status: Option<String>,
    retention_days: Option<i64>,
}

/// The body as the JSON object the campaign layer reads fields from.
pub(super) fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = CaseInput,
    responses((status = 201, body = CaseView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    // The role first: a caller who may not write learns nothing of the body.
    caller.require(Role::Campaigner)?;
    let input = NewCase::parse(object(body.json().await?)?)?;
    let case = cases::create(&state.ctx, &caller.actor(), input).await?;
    Ok(HttpResponse::Created().json(CaseView::from(case)))
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(PageQuery),
    responses((status = 200, description = "{items: [Case], next_cursor}")), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let page = q.parse()?;
    let limit = page.limit;
    let rows = cases::list(&state.ctx, &caller.actor(), page.after, limit + 1).await?;
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        limit,
        |c| c.id.to_string(),
        CaseView::from,
    )))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    responses((status = 200, body = CaseView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = cases::id(&id)?;
    let case = cases::get(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}

#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", request_body = CaseInput,
    responses((status = 200, body = CaseView), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    // The body's errors come before an unknown id's 404, as they always have.
    let changes = CaseChanges::parse(object(body.json().await?)?)?;
    let id = cases::id(&id)?;
    let case = cases::update(&state.ctx, &caller.actor(), &id, changes).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}
