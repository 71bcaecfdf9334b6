//! Signatures of a petition for organisers: the paged listing, the CSV export
//! (streamed, see `crate::export`) and counts by country or day. Read-only;
//! every organiser may use them.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Role};
use super::paging::{Page, PageQuery};
use crate::db;
use crate::db::petitions::Petition;
use crate::db::signature_reports::{self, SignatureRow, CONFIRMED, PENDING};
use crate::error::{ApiError, FieldError};
use crate::export::{self, counts, CountBy, CountsView, StatusFilter};
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignatureView {
    pub id: String,
    pub supporter_id: String,
    /// confirmed or pending
    pub status: String,
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

async fn petition(state: &AppState, id: String) -> Result<Petition, ApiError> {
    state
        .db
        .run(move |c| db::petitions::get(c, &id))
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound("petition"))
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
        None | Some("") | Some("confirmed") => CONFIRMED,
        Some("pending") => PENDING,
        Some(_) => return Err(bad_status("confirmed, pending")),
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let p = petition(&state, id.into_inner()).await?;
    let limit = page.limit;
    let rows = state
        .db
        .run(move |c| signature_reports::page(c, &p.id, status, page.after.as_deref(), limit + 1))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
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
    let filter = match q.status.as_deref() {
        None | Some("") => StatusFilter::Confirmed,
        Some(s) => StatusFilter::parse(s).ok_or_else(|| bad_status("confirmed, pending, all"))?,
    };
    let bom = q.bom.unwrap_or(true);
    let p = petition(&state, id.into_inner()).await?;
    let filename = format!("{}-signatures.csv", p.slug);
    // A few chunks in flight at most: the database is read only as fast as
    // the client takes the bytes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    let petition_id = p.id.clone();
    crate::telemetry::spawn_blocking_with_tracing(move || {
        let result = export::signatures_csv(&db, &petition_id, filter, bom, |chunk| {
            tx.blocking_send(Ok(Bytes::from(chunk)))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client left"))
        });
        match result {
            Ok(rows) => {
                tracing::info!(petition.id = %petition_id, export.rows = rows, "signatures exported")
            }
            Err(export::ExportError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::info!(petition.id = %petition_id, "signature export abandoned by the client")
            }
            Err(e) => {
                tracing::error!(petition.id = %petition_id, error.cause_chain = ?e, "signature export failed");
                // Ends the response without its last chunk, so the client
                // sees a broken transfer rather than a short file.
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((CACHE_CONTROL, "no-store, private"))
        .streaming(body))
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
    let p = petition(&state, id.into_inner()).await?;
    let view = state
        .db
        .run(move |c| counts(c, &p.id, by))
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(view))
}
