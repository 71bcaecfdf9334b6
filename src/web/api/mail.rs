//! `/api/v1/mail/inbound`: a late report (a bounce or a complaint) handed
//! in over HTTP, one message as `message/rfc822`, for mail servers that
//! post rather than pipe (see [`crate::campaign::reports`] for what it
//! does); `/api/v1/mail/unmatched`: the messages kept because they named
//! no delivery, for a campaigner to read and discard.
//!
//! Thin: admin only, checked before a byte of the body is read; the body
//! is read whole up to [`super::JSON_LIMIT`] (413 past it), then handed to
//! the one action. A message that is no report, or names no delivery, is
//! kept and counted in the 200 answer, never refused.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::auth::{Caller, Role};
use super::paging::{Listing, PageQuery};
use crate::campaign::reports::{self, IngestSummary, UnmatchedReport};
use crate::error::{ApiError, FieldError};
use crate::web::AppState;

#[utoipa::path(post, path = "/api/v1/mail/inbound", tag = "mail",
    request_body(content = String, content_type = "message/rfc822",
        description = "one message: a delivery status notification (RFC 3464), a feedback report (RFC 5965), or anything else (kept as unmatched)"),
    responses((status = 200, body = IngestSummary), (status = 401), (status = 403), (status = 413), (status = 415)),
    security(("bearer" = [])))]
pub async fn inbound(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let mime = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime != "message/rfc822" {
        return Err(ApiError::UnsupportedMediaType(
            "send the message as message/rfc822".into(),
        ));
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > super::JSON_LIMIT) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(super::JSON_LIMIT));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("The body could not be read whole: {e}")))?;
        if body.len() + chunk.len() > super::JSON_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let summary = reports::ingest(&state.ctx, &caller.actor(), body).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[utoipa::path(get, path = "/api/v1/mail/unmatched", tag = "mail", params(PageQuery),
    responses((status = 200, description = "{items: [UnmatchedReport], next_cursor}: kept reports that named no delivery, oldest first")),
    security(("bearer" = [])))]
pub async fn unmatched(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let page = q.parse()?;
    let after = match page.after.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "cursor",
                "Not a cursor this API gave out.",
            )]))
        }
    };
    let rows = reports::unmatched(&state.ctx, &caller.actor(), after, page.limit + 1).await?;
    let rows: Vec<UnmatchedReport> = rows.into_iter().map(|(report, _)| report).collect();
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        page.limit,
        |r: &UnmatchedReport| r.id.to_string(),
        |r| r,
    )))
}

#[utoipa::path(get, path = "/api/v1/mail/unmatched/{id}", tag = "mail",
    responses((status = 200, content_type = "message/rfc822", description = "the message as it arrived"), (status = 404)),
    security(("bearer" = [])))]
pub async fn unmatched_message(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = report_id(&id)?;
    let raw = reports::unmatched_message(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::Ok().content_type("message/rfc822").body(raw))
}

#[utoipa::path(delete, path = "/api/v1/mail/unmatched/{id}", tag = "mail",
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn discard_unmatched(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = report_id(&id)?;
    reports::discard_unmatched(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A kept report's number; anything else names none (404, as an unknown one).
fn report_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ApiError::NotFound("report"))
}
