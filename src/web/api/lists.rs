//! `/api/v1/lists`: named groups of supporters that alerts go to, and the
//! routes that fill them (JSON members, CSV import). Thin: parse, call one
//! [`crate::campaign::lists`] action, render; the CSV import is the same
//! action as the console's upload and `clarion import supporters`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input;
use super::paging::{Listing, PageQuery};
use crate::campaign::lists::{
    self as action, ImportReport, InputTooLarge, ListSummary, Member, NewList,
};
use crate::error::ApiError;
use crate::web::AppState;

pub use crate::campaign::lists::IMPORT_LIMIT;
/// Most entries in one `POST /lists/{id}/members` array.
pub const MEMBERS_LIMIT: usize = 10_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Everyone on the list.
    pub member_count: i64,
    /// Members who may be mailed (not unsubscribed, bounced or erased).
    pub active_count: i64,
    pub created_at: DateTime<Utc>,
}

impl From<ListSummary> for ListView {
    fn from(ListSummary { list: l, counts }: ListSummary) -> Self {
        ListView {
            id: l.id.into(),
            name: l.name,
            description: l.description,
            member_count: counts.members,
            active_count: counts.active,
            created_at: l.created_at.and_utc(),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ListInput {
    name: String,
    description: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MemberInput {
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    country: Option<String>,
    postcode: Option<String>,
    locale: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/lists", tag = "lists", request_body = ListInput,
    responses((status = 201, body = ListView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let mut f = input::fields(body.json().await?)?;
    let name = f.string("name", true, action::name);
    let description = f.string("description", false, action::description);
    f.finish()?;
    let input = NewList {
        name: name.unwrap_or_default(),
        description,
    };
    let list = action::create(&state.ctx, &caller.actor(), input).await?;
    Ok(HttpResponse::Created().json(ListView::from(ListSummary {
        list,
        counts: Default::default(),
    })))
}

#[utoipa::path(get, path = "/api/v1/lists", tag = "lists", params(PageQuery),
    responses((status = 200, description = "{items: [List], next_cursor}")), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let page = q.parse()?;
    let limit = page.limit;
    let rows = action::list(&state.ctx, &caller.actor(), page.after, limit + 1).await?;
    Ok(HttpResponse::Ok().json(Listing::from_rows(
        rows,
        limit,
        |l| l.list.id.to_string(),
        ListView::from,
    )))
}

#[utoipa::path(get, path = "/api/v1/lists/{id}", tag = "lists",
    responses((status = 200, body = ListView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = action::list_id(&id)?;
    let list = action::get(&state.ctx, &caller.actor(), id).await?;
    Ok(HttpResponse::Ok().json(ListView::from(list)))
}

fn json_row(v: &Value) -> Result<Member, String> {
    let Value::Object(m) = v else {
        return Err("each member must be a JSON object".into());
    };
    let mut bad = Vec::new();
    let mut field = |name: &'static str| match m.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            bad.push(format!("{name}: Must be a string"));
            None
        }
    };
    let row = Member {
        email: field("email"),
        first_name: field("first_name"),
        last_name: field("last_name"),
        country: field("country"),
        postcode: field("postcode"),
        locale: field("locale"),
    };
    if bad.is_empty() {
        Ok(row)
    } else {
        Err(bad.join("; "))
    }
}

#[utoipa::path(post, path = "/api/v1/lists/{id}/members", tag = "lists", request_body = Vec<MemberInput>,
    responses((status = 200, body = ImportReport, description = "rejected rows carry their index"),
        (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn add_members(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let Value::Array(items) = body.json().await? else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON array of members".into(),
        ));
    };
    if items.len() > MEMBERS_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "At most {MEMBERS_LIMIT} members at once; use the CSV import for more."
        )));
    }
    let id = action::list_id(&id)?;
    let members = items.iter().map(json_row).collect();
    let report = action::add_members(&state.ctx, &caller.actor(), id, members).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A `Read` over request body chunks arriving on a channel, so the CSV
/// parser (synchronous, on a blocking thread) consumes the body as it comes.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    chunk: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[utoipa::path(post, path = "/api/v1/lists/{id}/import", tag = "lists",
    request_body(content = String, content_type = "text/csv",
        description = "header row; columns email, first_name, last_name, country, postcode, locale (others ignored)"),
    responses((status = 200, body = ImportReport, description = "rejected rows carry their line number (the header is line 1)"),
        (status = 401), (status = 403), (status = 404), (status = 413), (status = 415), (status = 422)),
    security(("bearer" = [])))]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "text/csv" && mime != "application/csv" {
        return Err(ApiError::UnsupportedMediaType(
            "send the file as text/csv".into(),
        ));
    }
    let id = action::list_id(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let reader = ChannelReader {
        rx,
        chunk: Bytes::new(),
    };
    let ctx = state.ctx.clone();
    let actor = caller.actor();
    let list_id = id.clone();
    let job = async move { action::import(&ctx, &actor, list_id, reader, |_, _| {}).await };
    // The body is fed to the import as it arrives, while the import runs.
    let feed = async move {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(b) => {
                    total += b.len();
                    if total > IMPORT_LIMIT {
                        Err(std::io::Error::other(InputTooLarge))
                    } else {
                        Ok(b)
                    }
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let stop = item.is_err();
            // A closed channel means the import already stopped (its error
            // is in the job's result); the rest of the body is not needed.
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
        // `tx` goes here: the reader sees the end of the file.
    };
    let (report, ()) = futures_util::future::join(job, feed).await;
    let report: ImportReport = report?;
    tracing::info!(
        list.id = %id,
        import.added = report.added,
        import.updated = report.updated,
        import.rejected = report.rejected_count,
        "list import finished"
    );
    Ok(HttpResponse::Ok().json(report))
}
