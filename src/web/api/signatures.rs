//! Signatures of a petition for organisers: the paged listing, the CSV export
//! (streamed) and counts by country or day. Read-only; every organiser may
//! use them. Thin: parse, authorise, call one `campaign::petitions` action,
//! render.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Role};
use super::paging::{Listing, PageQuery};
use crate::campaign::petitions::{
    self, CountBy, CountsView, CsvOptions, SignatureRow, StatusFilter,
};
use crate::domain::{SignatureId, SignatureStatus, SupporterId};
use crate::error::{ApiError, FieldError};
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignatureView {
    #[schema(value_type = String)]
    pub id: SignatureId,
    #[schema(value_type = String)]
    pub supporter_id: SupporterId,
    /// confirmed or pending
    #[schema(value_type = String)]
    pub status: SignatureStatus,
    pub signed_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
}

impl From<SignatureRow> for SignatureView {
    fn from(r: SignatureRow) -> Self {
        SignatureView {
            id: r.id,
            supporter_id: r.supporter_id,
            status: r.status,
            signed_at: r.signed_at.and_utc(),
            confirmed_at: r.confirmed_at.map(|t| t.and_utc()),
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            country: r.country,
            postcode: r.postcode,
            comment: r.comment,
            email_opt_in: r.email_opt_in,
        }
    }
}

fn bad_status(allowed: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "status",
        format!("Must be one of: {allowed}."),
    )])
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SignatureQuery {
    /// confirmed (default) or pending
    pub status: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/petitions/{id}/signatures", tag = "signatures", params(SignatureQuery),
    responses((status = 200, description = "{items: [Signature], next_cursor}"), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<SignatureQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None | Some("") => SignatureStatus::Confirmed,
        Some(s) => SignatureStatus::parse(s).map_err(|_| bad_status("confirmed, pending"))?,
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let id = petitions::id(&id)?;
    let limit = page.limit;
    let rows = petitions::signatures(
        &state.ctx,
        &caller.actor(),
        &id,
        status,
        page.after,
        limit + 1,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        SignatureView::from,
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CsvQuery {
    /// confirmed (default), pending or all
    pub status: Option<String>,
    /// Start with a UTF-8 byte-order mark so spreadsheets read the file as
    /// UTF-8 (default true).
    pub bom: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/petitions/{id}/signatures.csv", tag = "signatures", params(CsvQuery),
    responses((status = 200, content_type = "text/csv",
        description = "header signed_at,confirmed_at,first_name,last_name,email,country,postcode,comment,email_opt_in"),
        (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn csv(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<CsvQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let status = match q.status.as_deref() {
        None | Some("") => StatusFilter::Confirmed,
        Some(s) => StatusFilter::parse(s).ok_or_else(|| bad_status("confirmed, pending, all"))?,
    };
    let options = CsvOptions {
        status,
        bom: q.bom.unwrap_or(true),
        audit: false,
    };
    let id = petitions::id(&id)?;
    let export = petitions::signatures_csv(&state.ctx, &caller.actor(), &id, options).await?;
    Ok(crate::web::csv_download(export))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CountsQuery {
    /// country (ISO code) or day (UTC day of signing, YYYY-MM-DD)
    pub by: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/petitions/{id}/counts", tag = "signatures", params(CountsQuery),
    responses((status = 200, body = CountsView), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn counts_route(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<CountsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let by = match q.by.as_deref() {
        None | Some("") => CountBy::Country,
        Some(s) => CountBy::parse(s).ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new("by", "Must be one of: country, day.")])
        })?,
    };
    let id = petitions::id(&id)?;
    let view = petitions::counts(&state.ctx, &caller.actor(), &id, by).await?;
    Ok(HttpResponse::Ok().json(view))
}
