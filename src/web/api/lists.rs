//! `/api/v1/lists`: named groups of supporters that alerts go to, and the
//! routes that fill them (JSON members, CSV import). Both fill routes go
//! through `crate::import`, the same code as `clarion import supporters`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input::Fields;
use super::paging::{Page, PageQuery};
use crate::db::lists::{List, MemberCounts};
use crate::db::{self, is_unique_violation, DbError};
use crate::domain::text;
use crate::error::ApiError;
use crate::import::{ImportError, ImportReport, Importer, Provenance, RawRow};
use crate::web::AppState;

/// Largest CSV body `POST /lists/{id}/import` reads (about 4 million rows of
/// typical width); the body is streamed, so this bounds time, not memory.
pub const IMPORT_LIMIT: usize = 512 * 1024 * 1024;
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

impl ListView {
    fn new(l: List, counts: MemberCounts) -> Self {
        ListView {
            id: l.id,
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
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let list = create_list(&state, caller.audit_name(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ListView::new(list, MemberCounts::default())))
}

/// Validates and stores a new list; shared by the API and the console.
pub async fn create_list(state: &AppState, actor: String, body: Value) -> Result<List, ApiError> {
    let mut f = Fields::new(body)?;
    let name = f.string("name", true, |s| text::single_line(s, "name", 200));
    let description = f.string("description", false, |s| {
        text::multi_line(s, "description", 2000)
    });
    f.finish()?;
    let list = List {
        id: db::new_id(),
        name: name.unwrap_or_default(),
        description,
        created_at: db::now(),
    };
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                match db::lists::insert(conn, &list) {
                    Ok(()) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(ApiError::Conflict(format!(
                            "A list named {:?} already exists.",
                            list.name
                        )))
                    }
                    Err(e) => return Err(DbError::from(e).into()),
                }
                db::audit::record(conn, &actor, "list.create", "list", Some(&list.id), None)?;
                Ok::<_, ApiError>(list)
            })
        })
        .await
}

/// Imports a whole CSV file already in memory (the console's upload) into
/// list `list_id`, with the same importer and audit record as the streamed
/// API route.
pub async fn import_file(
    state: &AppState,
    actor: String,
    list_id: String,
    csv: Vec<u8>,
) -> Result<ImportReport, ApiError> {
    if csv.len() > IMPORT_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    let list = state
        .db
        .run(move |c| db::lists::get(c, &list_id))
        .await?
        .ok_or(ApiError::NotFound("list"))?;
    let provenance = Provenance {
        source: "import",
        actor,
    };
    let db_handle = state.db.clone();
    crate::telemetry::spawn_blocking_with_tracing(move || {
        let mut conn = db_handle.get()?;
        let mut importer = Importer::new(&mut conn, &list, &provenance)?;
        importer.read_csv(csv.as_slice(), |_, _| {})?;
        let report = importer.finish()?;
        record_import(
            &mut conn,
            &provenance.actor,
            "list.import",
            &list.id,
            &report,
        )?;
        Ok::<_, ApiError>(report)
    })
    .await
    .map_err(DbError::from)?
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
    let (rows, counts) = state
        .db
        .run(move |c| {
            let rows = db::lists::page(c, page.after.as_deref(), limit + 1)?;
            let ids: Vec<String> = rows.iter().map(|l| l.id.clone()).collect();
            let counts = db::lists::member_counts(c, &ids)?;
            Ok::<_, DbError>((rows, counts))
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |l| l.id.clone(),
        |l| {
            let n = counts.get(&l.id).copied().unwrap_or_default();
            ListView::new(l, n)
        },
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
    let id = id.into_inner();
    let (list, counts) = state
        .db
        .run(move |c| {
            let Some(list) = db::lists::get(c, &id)? else {
                return Err(ApiError::NotFound("list"));
            };
            let counts = db::lists::member_counts(c, std::slice::from_ref(&list.id))?;
            Ok((list, counts))
        })
        .await?;
    let n = counts.get(&list.id).copied().unwrap_or_default();
    Ok(HttpResponse::Ok().json(ListView::new(list, n)))
}

fn json_row(v: &Value) -> Result<RawRow<'_>, String> {
    let Value::Object(m) = v else {
        return Err("each member must be a JSON object".into());
    };
    let mut bad = Vec::new();
    let mut field = |name: &'static str| match m.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            bad.push(format!("{name}: Must be a string"));
            None
        }
    };
    let row = RawRow {
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
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let Value::Array(items) = body.into_inner() else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON array of members".into(),
        ));
    };
    if items.len() > MEMBERS_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "At most {MEMBERS_LIMIT} members at once; use the CSV import for more."
        )));
    }
    let id = id.into_inner();
    let provenance = Provenance {
        source: "api",
        actor: caller.audit_name(),
    };
    let report = state
        .db
        .run(move |conn| {
            let list = db::lists::get(conn, &id)?.ok_or(ApiError::NotFound("list"))?;
            let mut importer = Importer::new(conn, &list, &provenance)?;
            importer.add_rows(items.iter().map(json_row))?;
            let report = importer.finish()?;
            record_import(conn, &provenance.actor, "list.members", &list.id, &report)?;
            Ok::<_, ApiError>(report)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

fn record_import(
    conn: &mut db::DbConnection,
    actor: &str,
    action: &str,
    list_id: &str,
    r: &ImportReport,
) -> Result<(), DbError> {
    let detail = format!(
        "added={} updated={} unchanged={} rejected={} skipped={}",
        r.added, r.updated, r.unchanged, r.rejected_count, r.skipped_count
    );
    db::audit::record(conn, actor, action, "list", Some(list_id), Some(&detail))
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::NoEmailColumn => {
                ApiError::Validation(vec![crate::error::FieldError::new("email", e.to_string())])
            }
            ImportError::Read(e) if is_too_large(&e) => ApiError::PayloadTooLarge,
            ImportError::Read(e) => ApiError::BadRequest(format!("cannot read the CSV: {e}")),
            ImportError::Db(e) => e.into(),
        }
    }
}

fn is_too_large(e: &csv::Error) -> bool {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().is_some_and(|i| i.is::<TooLarge>()),
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the CSV is larger than the import limit")]
struct TooLarge;

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
    let id = id.into_inner();
    let list = {
        let id = id.clone();
        state
            .db
            .run(move |c| db::lists::get(c, &id))
            .await?
            .ok_or(ApiError::NotFound("list"))?
    };
    let provenance = Provenance {
        source: "import",
        actor: caller.audit_name(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let db_handle = state.db.clone();
    let job = crate::telemetry::spawn_blocking_with_tracing(move || {
        let mut conn = db_handle.get()?;
        let mut importer = Importer::new(&mut conn, &list, &provenance)?;
        importer.read_csv(
            ChannelReader {
                rx,
                chunk: Bytes::new(),
            },
            |_, _| {},
        )?;
        let report = importer.finish()?;
        record_import(
            &mut conn,
            &provenance.actor,
            "list.import",
            &list.id,
            &report,
        )?;
        Ok::<_, ApiError>(report)
    });
    let mut total = 0usize;
    while let Some(chunk) = payload.next().await {
        let item = match chunk {
            Ok(b) => {
                total += b.len();
                if total > IMPORT_LIMIT {
                    Err(std::io::Error::other(TooLarge))
                } else {
                    Ok(b)
                }
            }
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let stop = item.is_err();
        // A closed channel means the import already stopped (its error is
        // in the job's result); the rest of the body is not needed.
        if tx.send(item).await.is_err() || stop {
            break;
        }
    }
    drop(tx);
    let report = job.await.map_err(DbError::from)??;
    tracing::info!(
        list.id = %id,
        import.added = report.added,
        import.updated = report.updated,
        import.rejected = report.rejected_count,
        "list import finished"
    );
    Ok(HttpResponse::Ok().json(report))
}
