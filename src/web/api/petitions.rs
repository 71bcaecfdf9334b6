//! `/api/v1/petitions`: what supporters sign, each tied to a case.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input::Fields;
use super::paging::{Page, PageQuery};
use crate::db::petitions::{Petition, PetitionChanges};
use crate::db::{self, is_unique_violation, DbError};
use crate::domain::{text, Slug};
use crate::error::ApiError;
use crate::web::AppState;

pub const STATUSES: &[&str] = &["draft", "open", "closed"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PetitionView {
    pub id: String,
    pub case_id: String,
    pub slug: String,
    pub title: String,
    pub target: String,
    pub body: String,
    pub goal: Option<i64>,
    /// draft, open or closed
    pub status: String,
    pub require_confirmation: bool,
    /// Confirmed signatures.
    pub signatures: i64,
    /// Signatures waiting for their email confirmation.
    pub pending: i64,
    /// The public petition page.
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PetitionView {
    pub fn new(p: Petition, base_url: &str) -> Self {
        PetitionView {
            url: format!("{base_url}/petitions/{}", p.slug),
            id: p.id,
            case_id: p.case_id,
            slug: p.slug,
            title: p.title,
            target: p.target,
            body: p.body,
            goal: p.goal,
            status: p.status,
            require_confirmation: p.require_confirmation,
            signatures: p.confirmed_count,
            pending: p.pending_count,
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PetitionInput {
    case_id: String,
    slug: String,
    title: String,
    target: String,
    body: String,
    goal: Option<i64>,
    status: Option<String>,
    require_confirmation: Option<bool>,
}

struct Parsed {
    case_id: Option<String>,
    changes: PetitionChanges,
}

fn parse_petition(body: Value, create: bool) -> Result<Parsed, ApiError> {
    let mut f = Fields::new(body)?;
    let case_id = f.string("case_id", create, |s| Ok::<_, String>(s.trim().to_string()));
    if !create && f.has("case_id") {
        f.errors.push(crate::error::FieldError::new(
            "case_id",
            "A petition cannot move to another case.",
        ));
    }
    let changes = PetitionChanges {
        slug: f.string("slug", create, |s| {
            Slug::parse(s).map(|s| s.as_str().to_string())
        }),
        title: f.string("title", create, |s| text::single_line(s, "title", 200)),
        target: f.string("target", create, |s| text::single_line(s, "target", 300)),
        body: f.string("body", create, |s| text::multi_line(s, "body", 50_000)),
        goal: f.integer("goal", 1, 1_000_000_000),
        status: f.choice("status", STATUSES),
        require_confirmation: f.boolean("require_confirmation"),
        updated_at: Some(db::now()),
    };
    f.finish()?;
    Ok(Parsed { case_id, changes })
}

fn slug_conflict(slug: &str) -> ApiError {
    ApiError::Conflict(format!("A petition with the slug {slug:?} already exists."))
}

#[utoipa::path(post, path = "/api/v1/petitions", tag = "petitions", request_body = PetitionInput,
    responses((status = 201, body = PetitionView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let petition = create_petition(&state, caller.audit_name(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(PetitionView::new(petition, &state.settings.base_url)))
}

/// Validates and stores a new petition; shared by the API and the console.
pub async fn create_petition(
    state: &AppState,
    actor: String,
    body: Value,
) -> Result<Petition, ApiError> {
    let Parsed {
        case_id,
        changes: c,
    } = parse_petition(body, true)?;
    let now = db::now();
    let petition = Petition {
        id: db::new_id(),
        case_id: case_id.unwrap_or_default(),
        slug: c.slug.unwrap_or_default(),
        title: c.title.unwrap_or_default(),
        target: c.target.unwrap_or_default(),
        body: c.body.unwrap_or_default(),
        goal: c.goal,
        status: c.status.unwrap_or_else(|| "open".into()),
        require_confirmation: c.require_confirmation.unwrap_or(true),
        confirmed_count: 0,
        pending_count: 0,
        created_at: now,
        updated_at: now,
    };
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                if db::cases::get(conn, &petition.case_id)?.is_none() {
                    return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                        "case_id",
                        "No case has this id.",
                    )]));
                }
                match db::petitions::insert(conn, &petition) {
                    Ok(()) => {}
                    Err(e) if is_unique_violation(&e) => return Err(slug_conflict(&petition.slug)),
                    Err(e) => return Err(DbError::from(e).into()),
                }
                db::audit::record(
                    conn,
                    &actor,
                    "petition.create",
                    "petition",
                    Some(&petition.id),
                    None,
                )?;
                Ok::<_, ApiError>(petition)
            })
        })
        .await
}

#[utoipa::path(get, path = "/api/v1/petitions", tag = "petitions", params(PageQuery),
    responses((status = 200, description = "{items: [Petition], next_cursor}")), security(("bearer" = [])))]
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
        .run(move |c| db::petitions::page(c, page.after.as_deref(), limit + 1))
        .await
        .map_err(ApiError::from)?;
    let base = state.settings.base_url.clone();
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |p| p.id.clone(),
        |p| PetitionView::new(p, &base),
    )))
}

#[utoipa::path(get, path = "/api/v1/petitions/{id}", tag = "petitions",
    responses((status = 200, body = PetitionView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = id.into_inner();
    let p = state
        .db
        .run(move |c| db::petitions::get(c, &id))
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound("petition"))?;
    Ok(HttpResponse::Ok().json(PetitionView::new(p, &state.settings.base_url)))
}

#[utoipa::path(patch, path = "/api/v1/petitions/{id}", tag = "petitions", request_body = PetitionInput,
    responses((status = 200, body = PetitionView), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let p = update_petition(
        &state,
        caller.audit_name(),
        id.into_inner(),
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(PetitionView::new(p, &state.settings.base_url)))
}

/// Applies the fields present in `body` to petition `id`.
pub async fn update_petition(
    state: &AppState,
    actor: String,
    id: String,
    body: Value,
) -> Result<Petition, ApiError> {
    let Parsed { changes, .. } = parse_petition(body, false)?;
    let p = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                if db::petitions::get(conn, &id)?.is_none() {
                    return Err(ApiError::NotFound("petition"));
                }
                match db::petitions::update(conn, &id, &changes) {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(slug_conflict(changes.slug.as_deref().unwrap_or("")))
                    }
                    Err(e) => return Err(DbError::from(e).into()),
                }
                db::audit::record(conn, &actor, "petition.update", "petition", Some(&id), None)?;
                db::petitions::get(conn, &id)?.ok_or(ApiError::NotFound("petition"))
            })
        })
        .await?;
    // Public pages cache cases and petitions briefly; show the change now.
    state.public.petitions.invalidate();
    Ok(p)
}
