//! Lists in the console: the lists with their member counts, creating one,
//! and uploading a CSV file into one (the same import action as the API and
//! the CLI), its report shown on the lists page.
//!
//! Thin: read the form, call one [`crate::campaign::lists`] action, render.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::paging::{nav, PageQuery};
use super::{errors_map, see_other, Console, Outcome, Posted, Role};
use crate::campaign::lists::{self as action, NewList, IMPORT_LIMIT};
use crate::campaign::paging::PageRequest;
use crate::campaign::CampaignError;
use crate::error::FieldError;
use crate::web::public::Fail;

/// The lists page: page 1 of the lists after a form was sent, `at` when
/// browsing.
async fn page(
    c: &Console,
    status: StatusCode,
    form: Value,
    errors: &[FieldError],
    report: Option<Value>,
) -> Result<HttpResponse, Fail> {
    page_at(c, status, form, errors, report, PageRequest::default()).await
}

async fn page_at(
    c: &Console,
    status: StatusCode,
    form: Value,
    errors: &[FieldError],
    report: Option<Value>,
    at: PageRequest,
) -> Result<HttpResponse, Fail> {
    let paged = action::list_page(&c.state.ctx, &c.actor(), at)
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let loc = c.page.locale;
    let rows: Vec<Value> = paged
        .items
        .iter()
        .map(|s| {
            let l = &s.list;
            json!({
                "id": l.id, "name": l.name, "description": l.description,
                "members": loc.number(s.counts.members), "active": loc.number(s.counts.active),
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
            "pager": nav(c, "/admin/lists", &[], &paged),
        }),
    ))
}

fn empty_form() -> Value {
    json!({"name": "", "description": ""})
}

pub async fn index(c: Console, q: web::Query<PageQuery>) -> HttpResponse {
    let r = page_at(&c, StatusCode::OK, empty_form(), &[], None, q.request()).await;
    c.finish(r)
}

pub async fn create(p: Posted) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let created = match NewList::parse(
            form.value("name").as_deref(),
            form.value("description").as_deref(),
        ) {
            Ok(input) => action::create(&c.state.ctx, &c.actor(), input).await,
            Err(e) => Err(e),
        };
        match created {
            Ok(_) => Ok(see_other("/admin/lists")),
            Err(e) => {
                let errors = match c.outcome(e) {
                    Outcome::Fields(v) => v,
                    Outcome::Fail(f) => return Err(f),
                };
                let back = json!({"name": form.get("name").unwrap_or(""), "description": form.get("description").unwrap_or("")});
                page(&c, StatusCode::UNPROCESSABLE_ENTITY, back, &errors, None).await
            }
        }
    }
    .await;
    c.finish(r)
}

/// The multipart upload: the file goes through the import action whole,
/// and the lists page comes back with the report.
pub async fn import(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, mut form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let file = form.take_file("file").filter(|f| !f.is_empty());
        let Some(file) = file else {
            let errors = [FieldError::new("file", c.t("admin_import_no_file"))];
            return page(
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                empty_form(),
                &errors,
                None,
            )
            .await;
        };
        let id = action::list_id(&id).map_err(|e| c.campaign_fail(e))?;
        let list = action::get(&c.state.ctx, &c.actor(), id.clone())
            .await
            .map_err(|e| c.campaign_fail(e))?
            .list;
        let imported = if file.len() > IMPORT_LIMIT {
            Err(CampaignError::TooLarge)
        } else {
            let csv = std::io::Cursor::new(file);
            action::import(&c.state.ctx, &c.actor(), id, csv, |_, _| {}).await
        };
        match imported {
            Ok(report) => {
                let rejected: Vec<Value> = report
                    .rejected
                    .iter()
                    .map(|p| json!({"line": p.line, "reason": p.reason}))
                    .collect();
                let report = json!({
                    "list": list.name, "added": report.added, "updated": report.updated,
                    "unchanged": report.unchanged, "rejected_count": report.rejected_count,
                    "skipped_count": report.skipped_count, "rejected": rejected,
                });
                page(&c, StatusCode::OK, empty_form(), &[], Some(report)).await
            }
            Err(e) => {
                // Whatever is wrong with the file is said beside the file.
                let message = match c.outcome(e) {
                    Outcome::Fields(v) => v
                        .into_iter()
                        .map(|f| f.message)
                        .collect::<Vec<_>>()
                        .join(" "),
                    Outcome::Fail(f) => return Err(f),
                };
                let errors = [FieldError::new("file", message)];
                page(
                    &c,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    empty_form(),
                    &errors,
                    None,
                )
                .await
            }
        }
    }
    .await;
    c.finish(r)
}
