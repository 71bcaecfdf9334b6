//! Lists and supporters in the console: lists with member counts, list
//! creation, CSV upload (the API's importer; its report shown), supporter
//! search by email, subject-access download, and erasure for admins behind
//! a confirmation page.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::{api_fail, errors_map, see_other, Console, Outcome, Posted, Role};
use crate::db::{self, DbError};
use crate::error::{ApiError, FieldError};
use crate::web::api::{lists as lists_api, supporters as supporters_api};
use crate::web::public::Fail;

async fn lists_page(
    c: &Console,
    status: StatusCode,
    form: Value,
    errors: &[FieldError],
    report: Option<Value>,
) -> Result<HttpResponse, Fail> {
    let (lists, counts) = c
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            let lists = db::lists::page(conn, None, 1000)?;
            let ids: Vec<String> = lists.iter().map(|l| l.id.clone()).collect();
            let counts = db::lists::member_counts(conn, &ids)?;
            Ok((lists, counts))
        })
        .await?;
    let loc = c.page.locale;
    let rows: Vec<Value> = lists
        .iter()
        .map(|l| {
            let n = counts.get(&l.id).copied().unwrap_or_default();
            json!({
                "id": l.id, "name": l.name, "description": l.description,
                "members": loc.number(n.members), "active": loc.number(n.active),
            })
        })
        .collect();
    Ok(c.render_status(
        status,
        "lists",
        c.t("admin_lists_title"),
        json!({
            "lists": rows, "form": form, "errors": errors_map(errors),
            "has_errors": !errors.is_empty(), "report": report,
        }),
    ))
}

pub async fn lists(c: Console) -> HttpResponse {
    let r = lists_page(
        &c,
        StatusCode::OK,
        json!({"name": "", "description": ""}),
        &[],
        None,
    )
    .await;
    c.finish(r)
}

pub async fn create_list(p: Posted) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = form.json(&["name", "description"]);
        match lists_api::create_list(&c.state, c.audit_name(), body).await {
            Ok(_) => Ok(see_other("/admin/lists")),
            Err(e) => {
                let errors = match e {
                    ApiError::Conflict(m) => vec![FieldError::new("name", m)],
                    other => match Outcome::from(other) {
                        Outcome::Fields(v) => v,
                        Outcome::Fail(f) => return Err(f),
                    },
                };
                let back = json!({"name": form.get("name").unwrap_or(""), "description": form.get("description").unwrap_or("")});
                lists_page(&c, StatusCode::UNPROCESSABLE_ENTITY, back, &errors, None).await
            }
        }
    }
    .await;
    c.finish(r)
}

/// The multipart upload: the file goes through the API's importer whole,
/// and the lists page comes back with the report.
pub async fn import(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let empty = json!({"name": "", "description": ""});
        let file = form.file("file").filter(|f| !f.is_empty());
        let Some(file) = file else {
            let errors = [FieldError::new("file", c.t("admin_import_no_file"))];
            return lists_page(&c, StatusCode::UNPROCESSABLE_ENTITY, empty, &errors, None).await;
        };
        let id = id.into_inner();
        let i = id.clone();
        let name = c
            .state
            .db
            .run(move |conn| db::lists::get(conn, &i))
            .await?
            .ok_or(Fail::NotFound)?
            .name;
        match lists_api::import_file(&c.state, c.audit_name(), id, file.to_vec()).await {
            Ok(report) => {
                let rejected: Vec<Value> = report
                    .rejected
                    .iter()
                    .map(|p| json!({"line": p.line, "reason": p.reason}))
                    .collect();
                let report = json!({
                    "list": name, "added": report.added, "updated": report.updated,
                    "unchanged": report.unchanged, "rejected_count": report.rejected_count,
                    "skipped_count": report.skipped_count, "rejected": rejected,
                });
                lists_page(&c, StatusCode::OK, empty, &[], Some(report)).await
            }
            Err(e) => {
                let message = match e {
                    ApiError::Validation(v) => v
                        .into_iter()
                        .map(|f| f.message)
                        .collect::<Vec<_>>()
                        .join(" "),
                    ApiError::BadRequest(m) => m,
                    ApiError::PayloadTooLarge => e.to_string(),
                    other => return Err(api_fail(other)),
                };
                let errors = [FieldError::new("file", message)];
                lists_page(&c, StatusCode::UNPROCESSABLE_ENTITY, empty, &errors, None).await
            }
        }
    }
    .await;
    c.finish(r)
}

#[derive(serde::Deserialize)]
pub struct Search {
    email: Option<String>,
    done: Option<String>,
}

pub async fn supporters(c: Console, q: web::Query<Search>) -> HttpResponse {
    let r = async {
        let email = q.email.clone().unwrap_or_default().trim().to_string();
        let found = if email.is_empty() {
            None
        } else {
            let key = crate::domain::Email::parse(&email)
                .map(|e| e.as_str().to_string())
                .unwrap_or_else(|_| email.to_lowercase());
            Some(
                c.state
                    .db
                    .run(move |conn| db::supporters::get_by_email(conn, &key))
                    .await?,
            )
        };
        let result = found.map(|s| {
            s.map(|s| {
                json!({
                    "id": s.id, "email": s.email,
                    "name": format!("{} {}", s.first_name.unwrap_or_default(), s.last_name.unwrap_or_default()).trim().to_string(),
                    "country": s.country, "status": s.status,
                    "erasable": s.erased_at.is_none(),
                })
            })
        });
        let notice = (q.done.as_deref() == Some("erased")).then(|| c.t("admin_erased"));
        Ok(c.render(
            "supporters",
            c.t("admin_supporters_title"),
            json!({
                "email": email, "searched": result.is_some(),
                "supporter": result.flatten(), "notice": notice,
            }),
        ))
    }
    .await;
    c.finish(r)
}

/// Everything held about one person, as a JSON download.
pub async fn subject_access(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        let id = id.into_inner();
        let doc = supporters_api::subject_access(&c.state, c.audit_name(), id.clone())
            .await
            .map_err(api_fail)?;
        Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store, private"))
            .insert_header((
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"supporter-{id}.json\""),
            ))
            .json(doc))
    }
    .await;
    c.finish(r)
}

pub async fn erase_confirm(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        c.require(Role::Admin)?;
        let id = id.into_inner();
        let s = c
            .state
            .db
            .run(move |conn| db::supporters::get(conn, &id))
            .await?
            .ok_or(Fail::NotFound)?;
        if s.erased_at.is_some() {
            return Ok(see_other("/admin/supporters?done=erased"));
        }
        Ok(c.render(
            "erase",
            c.t("admin_erase_title"),
            json!({"supporter": {"id": s.id, "email": s.email}}),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn erase(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Admin)?;
        supporters_api::erase_supporter(&c.state, c.audit_name(), id.into_inner())
            .await
            .map_err(api_fail)?;
        Ok(see_other("/admin/supporters?done=erased"))
    }
    .await;
    c.finish(r)
}
