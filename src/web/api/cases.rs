//! `/api/v1/cases`: the people and situations campaigns are about.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input::Fields;
use super::paging::{Page, PageQuery};
use crate::db::cases::{Case, CaseChanges};
use crate::db::{self, is_unique_violation, DbError};
use crate::domain::{text, CountryCode, Slug};
use crate::error::ApiError;
use crate::web::AppState;

pub const STATUSES: &[&str] = &["open", "resolved", "closed"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub subject_name: Option<String>,
    pub country: Option<String>,
    pub body: Option<String>,
    /// open, resolved or closed
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Case> for CaseView {
    fn from(c: Case) -> Self {
        CaseView {
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
}

/// Parses every field of a case body; on create the core fields are required.
fn parse_case(body: Value, create: bool) -> Result<CaseChanges, ApiError> {
    let mut f = Fields::new(body)?;
    let changes = CaseChanges {
        slug: f.string("slug", create, |s| {
            Slug::parse(s).map(|s| s.as_str().to_string())
        }),
        title: f.string("title", create, |s| text::single_line(s, "title", 200)),
        summary: f.string("summary", create, |s| text::multi_line(s, "summary", 2000)),
        subject_name: f.string("subject_name", false, |s| {
            text::single_line(s, "subject_name", 200)
        }),
        country: f.string("country", false, |s| {
            CountryCode::parse(s).map(|c| c.as_str().to_string())
        }),
        body: f.string("body", false, |s| text::multi_line(s, "body", 50_000)),
        status: f.choice("status", STATUSES),
        updated_at: Some(db::now()),
    };
    f.finish()?;
    Ok(changes)
}

fn slug_conflict(slug: &str) -> ApiError {
    ApiError::Conflict(format!("A case with the slug {slug:?} already exists."))
}

#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = CaseInput,
    responses((status = 201, body = CaseView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let case = create_case(&state, caller.audit_name(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(CaseView::from(case)))
}

/// Validates and stores a new case; shared by the API and the console.
pub async fn create_case(state: &AppState, actor: String, body: Value) -> Result<Case, ApiError> {
    let c = parse_case(body, true)?;
    let now = db::now();
    let case = Case {
        id: db::new_id(),
        slug: c.slug.unwrap_or_default(),
        title: c.title.unwrap_or_default(),
        summary: c.summary.unwrap_or_default(),
        subject_name: c.subject_name,
        country: c.country,
        body: c.body,
        status: c.status.unwrap_or_else(|| "open".into()),
        created_at: now,
        updated_at: now,
    };
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                match db::cases::insert(conn, &case) {
                    Ok(()) => {}
                    Err(e) if is_unique_violation(&e) => return Err(slug_conflict(&case.slug)),
                    Err(e) => return Err(DbError::from(e).into()),
                }
                db::audit::record(conn, &actor, "case.create", "case", Some(&case.id), None)?;
                Ok::<_, ApiError>(case)
            })
        })
        .await
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
    let rows = state
        .db
        .run(move |c| db::cases::page(c, page.after.as_deref(), limit + 1))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |c| c.id.clone(),
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
    let id = id.into_inner();
    let case = state
        .db
        .run(move |c| db::cases::get(c, &id))
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound("case"))?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}

#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", request_body = CaseInput,
    responses((status = 200, body = CaseView), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let case = update_case(
        &state,
        caller.audit_name(),
        id.into_inner(),
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}

/// Applies the fields present in `body` to case `id`.
pub async fn update_case(
    state: &AppState,
    actor: String,
    id: String,
    body: Value,
) -> Result<Case, ApiError> {
    let changes = parse_case(body, false)?;
    let case = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                if db::cases::get(conn, &id)?.is_none() {
                    return Err(ApiError::NotFound("case"));
                }
                match db::cases::update(conn, &id, &changes) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(slug_conflict(changes.slug.as_deref().unwrap_or("")))
                    }
                    Err(e) => return Err(DbError::from(e).into()),
                }
                db::audit::record(conn, &actor, "case.update", "case", Some(&id), None)?;
                db::cases::get(conn, &id)?.ok_or(ApiError::NotFound("case"))
            })
        })
        .await?;
    // Public pages cache cases and petitions briefly; show the change now.
    state.public.petitions.invalidate();
    Ok(case)
}
