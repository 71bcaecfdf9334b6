//! `/api/v1/petitions`: what supporters sign, each tied to a case. Thin:
//! parse, authorise, call one `campaign::petitions` action, render.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::{Caller, Role};
use super::cases::object;
use super::input;
use super::paging::{Listing, PageQuery};
use crate::campaign::petitions::{self, NewPetition, Petition, PetitionChanges};
use crate::domain::{CaseId, PetitionId, PetitionStatus};
use crate::error::ApiError;
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PetitionView {
    #[schema(value_type = String)]
    pub id: PetitionId,
    #[schema(value_type = String)]
    pub case_id: CaseId,
    pub slug: String,
    pub title: String,
    pub target: String,
    pub body: String,
    pub goal: Option<i64>,
    /// draft, open or closed
    #[schema(value_type = String)]
    pub status: PetitionStatus,
    pub require_confirmation: bool,
    /// Countries with fewer confirmed signatures are summed into "other"
    /// on the public page, counts.json and snapshots (0: none hidden).
    pub public_min_count: i64,
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
            public_min_count: p.public_min_count,
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
    public_min_count: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/petitions", tag = "petitions", request_body = PetitionInput,
    responses((status = 201, body = PetitionView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    // The role first: a caller who may not write learns nothing of the body.
    caller.require(Role::Campaigner)?;
    let input = NewPetition::parse(object(body.json().await?)?)?;
    let p = petitions::create(&state.ctx, &caller.actor(), input).await?;
    Ok(HttpResponse::Created().json(PetitionView::new(p, &state.settings.base_url)))
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
    let rows = petitions::list(&state.ctx, &caller.actor(), page.after, limit + 1).await?;
    let base = state.settings.base_url.clone();
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        limit,
        |p| p.id.to_string(),
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
    let id = petitions::id(&id)?;
    let p = petitions::get(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(PetitionView::new(p, &state.settings.base_url)))
}

#[utoipa::path(patch, path = "/api/v1/petitions/{id}", tag = "petitions", request_body = PetitionInput,
    responses((status = 200, body = PetitionView), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    // The body's errors come before an unknown id's 404, as they always have.
    let changes = PetitionChanges::parse(object(body.json().await?)?)?;
    let id = petitions::id(&id)?;
    let p = petitions::update(&state.ctx, &caller.actor(), &id, changes).await?;
    Ok(HttpResponse::Ok().json(PetitionView::new(p, &state.settings.base_url)))
}
