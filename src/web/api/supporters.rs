//! `/api/v1/supporters`: finding a person, telling them everything held about
//! them (subject access), and erasing them. Thin: parse, call one
//! [`crate::campaign::supporters`] action, render.
//!
//! Erasure is admin-only and audited by who and when, never whom (see the
//! action).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::{Caller, Role};
use super::paging::{Listing, PageQuery};
use crate::campaign::supporters as action;
use crate::domain::Email;
use crate::error::{ApiError, FieldError};
use crate::web::AppState;

pub use crate::campaign::supporters::{
    ConsentView, DeliveryHeld, MembershipView, SignatureHeld, SubjectAccess, SupporterView,
};

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
        let found = action::find_by_email(&state.ctx, &caller.actor(), email).await?;
        let page: Listing<SupporterView> = Listing {
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
    let rows = action::list(&state.ctx, &caller.actor(), page.after, limit + 1).await?;
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        limit,
        |s| s.id.to_string(),
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
    let id = action::supporter_id(&id)?;
    let s = action::get(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::Ok().json(SupporterView::from(s)))
}

#[utoipa::path(get, path = "/api/v1/supporters/{id}/export", tag = "supporters",
    responses((status = 200, body = SubjectAccess), (status = 404)), security(("bearer" = [])))]
pub async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = action::supporter_id(&id)?;
    let doc = action::subject_access(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store, private"))
        .json(doc))
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
    let id = action::supporter_id(&id)?;
    action::erase(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}
