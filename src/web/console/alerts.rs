//! Alerts in the console: compose a draft, preview its HTML and text parts
//! for a sample supporter, test-send it to yourself, send it behind a
//! confirmation that shows the exact audience, watch its progress, cancel.
//!
//! Every write calls the API's own functions (`web::api::alerts`), so the
//! rules (validation, one send only, audience snapshot) are the same.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::{api_fail, errors_map, see_other, Console, Outcome, Posted, Role};
use crate::db::{self, DbError};
use crate::domain::Email;
use crate::error::FieldError;
use crate::web::api::alerts as api;
use crate::web::public::Fail;

const FIELDS: [&str; 4] = ["case_id", "petition_id", "subject", "body_markdown"];

/// The alert fields of a console form as the API's JSON body.
fn body_of(form: &super::Form) -> Value {
    let mut v = form.json(&FIELDS);
    v["list_ids"] = json!(form.all("list_ids"));
    // Markdown keeps its spacing; only the surrounding blank lines go.
    if let Some(b) = form.get("body_markdown") {
        if !b.trim().is_empty() {
            v["body_markdown"] = json!(b.trim_matches(['\r', '\n']));
        }
    }
    v
}

/// The choices of the compose form, with `values` selected.
async fn options(c: &Console, values: &Value) -> Result<Value, Fail> {
    let (cases, petitions, lists, counts) = c
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            let cases = db::cases::page(conn, None, 1000)?;
            let petitions = db::petitions::page(conn, None, 1000)?;
            let lists = db::lists::page(conn, None, 1000)?;
            let ids: Vec<String> = lists.iter().map(|l| l.id.clone()).collect();
            let counts = db::lists::member_counts(conn, &ids)?;
            Ok((cases, petitions, lists, counts))
        })
        .await?;
    let sel = |k: &str| {
        values
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let chosen: Vec<String> = values
        .get("list_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let loc = c.page.locale;
    Ok(json!({
        "cases": cases.iter().map(|k| json!({"id": k.id, "title": k.title, "selected": k.id.as_str() == sel("case_id")})).collect::<Vec<_>>(),
        "petitions": petitions.iter().map(|p| json!({"id": p.id, "title": p.title, "selected": p.id.as_str() == sel("petition_id")})).collect::<Vec<_>>(),
        "lists": lists.iter().map(|l| json!({
            "id": l.id, "name": l.name,
            "active": loc.number(counts.get(&l.id).map(|n| n.active).unwrap_or(0)),
            "checked": chosen.contains(&l.id),
        })).collect::<Vec<_>>(),
    }))
}

fn form_values(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    json!({"subject": s("subject"), "body_markdown": s("body_markdown")})
}

async fn compose_page(
    c: &Console,
    status: StatusCode,
    values: Value,
    errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    let opts = options(c, &values).await?;
    Ok(c.render_status(
        status,
        "alert_new",
        c.t("admin_alert_compose"),
        json!({
            "options": opts, "form": form_values(&values), "errors": errors_map(errors),
            "has_errors": !errors.is_empty(), "action": "/admin/alerts", "preview_action": false,
        }),
    ))
}

pub async fn list(c: Console) -> HttpResponse {
    let r = async {
        let rows = c
            .state
            .db
            .run(|conn| -> Result<_, DbError> {
                let mut out = vec![];
                for a in db::alerts::recent(conn, 200)? {
                    let n = db::alerts::counts(conn, &a.id)?;
                    out.push((a, n));
                }
                Ok(out)
            })
            .await?;
        let alerts: Vec<Value> = rows
            .iter()
            .map(|(a, n)| super::dashboard::alert_row(&c, a, n))
            .collect();
        Ok(c.render(
            "alerts",
            c.t("admin_alerts_title"),
            json!({"alerts": alerts}),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn compose(c: Console) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        compose_page(&c, StatusCode::OK, json!({}), &[]).await
    }
    .await;
    c.finish(r)
}

pub async fn create(p: Posted) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = body_of(&form);
        match api::create_alert(&c.state, c.audit_name(), body.clone()).await {
            Ok(view) => Ok(see_other(&format!("/admin/alerts/{}", view.id))),
            Err(e) => match Outcome::from(e) {
                Outcome::Fields(errors) => {
                    compose_page(&c, StatusCode::UNPROCESSABLE_ENTITY, body, &errors).await
                }
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn alert_page(
    c: &Console,
    id: String,
    status: StatusCode,
    edited: Option<(Value, Vec<FieldError>)>,
    done: Option<&str>,
) -> Result<HttpResponse, Fail> {
    let i = id.clone();
    let view = c
        .state
        .db
        .run(move |conn| api::load_view(conn, &i))
        .await
        .map_err(api_fail)?;
    let preview = api::preview_alert(&c.state, id.clone(), None, |_| {})
        .await
        .map_err(api_fail)?;
    let is_draft = view.status == "draft";
    let values = match &edited {
        Some((v, _)) => v.clone(),
        None => json!({
            "case_id": view.case_id, "petition_id": view.petition_id,
            "list_ids": view.list_ids, "subject": view.subject, "body_markdown": view.body_markdown,
        }),
    };
    let errors = edited.map(|e| e.1).unwrap_or_default();
    let opts = options(c, &values).await?;
    let notice = match done {
        Some("test") => Some(
            c.page
                .locale
                .format("admin_test_sent", &[("email", &c.user.email)]),
        ),
        Some("saved") => Some(c.t("admin_saved").to_string()),
        _ => None,
    };
    let done_count = view.sent + view.failed + view.cancelled;
    let loc = c.page.locale;
    let mut r = c.render_status(
        status,
        "alert",
        &view.subject,
        json!({
            "alert": {
                "id": view.id, "subject": view.subject,
                "status": c.t(&format!("admin_alert_status_{}", view.status)),
                "is_draft": is_draft, "is_sending": view.status == "sending",
                "recipients": view.recipients, "queued": view.queued, "sent": view.sent,
                "failed": view.failed, "done": done_count, "max": view.recipients.max(done_count).max(1),
            },
            "editable": is_draft && c.can(Role::Campaigner),
            "action": format!("/admin/alerts/{}", view.id),
            "preview_action": format!("/admin/alerts/{}/preview", view.id),
            "can_send": is_draft && c.can(Role::Campaigner),
            "can_cancel": view.status == "sending" && c.can(Role::Campaigner),
            "options": opts,
            "form": form_values(&values),
            "errors": errors_map(&errors),
            "has_errors": !errors.is_empty(),
            "preview": {"subject": preview.subject, "text": preview.text},
            "test_hint": loc.format("admin_test_send_hint", &[("email", &c.user.email)]),
            "notice": notice,
            "refresh": if view.status == "sending" { json!(5) } else { Value::Null },
        }),
    );
    // The page frames its own HTML preview, and nothing else.
    super::extend_csp(&mut r, "frame-src 'self'");
    Ok(r)
}

pub async fn show(c: Console, id: web::Path<String>, q: web::Query<Done>) -> HttpResponse {
    let r = alert_page(&c, id.into_inner(), StatusCode::OK, None, q.done.as_deref()).await;
    c.finish(r)
}

pub async fn update(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        let body = body_of(&form);
        match api::update_draft(&c.state, c.audit_name(), id.clone(), body.clone()).await {
            Ok(_) => Ok(see_other(&format!("/admin/alerts/{id}?done=saved"))),
            Err(e) => match Outcome::from(e) {
                Outcome::Fields(errors) => {
                    alert_page(
                        &c,
                        id,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some((body, errors)),
                        None,
                    )
                    .await
                }
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}

/// The HTML part in its own document: the email's inline styles allowed,
/// no script, framed only by the console.
fn email_document(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
             frame-ancestors 'self'; sandbox",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// GET: the saved alert's HTML part. POST: the form's unsaved subject and
/// body, as that HTML part, or with `format=json` as `{subject, html, text}`
/// (for the live preview).
pub async fn preview_saved(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        let p = api::preview_alert(&c.state, id.into_inner(), None, |_| {})
            .await
            .map_err(api_fail)?;
        Ok(email_document(p.html))
    }
    .await;
    c.finish(r)
}

pub async fn preview(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        let subject = form.value("subject");
        let body = form.get("body_markdown").map(str::to_string);
        let p = api::preview_alert(&c.state, id.into_inner(), None, move |content| {
            if let Some(s) = subject {
                content.subject = s.replace(['\r', '\n'], " ");
            }
            if let Some(b) = body {
                content.body_html = crate::mail::markdown::to_html(&b);
                content.body_text = crate::mail::markdown::to_text(&b);
            }
        })
        .await
        .map_err(api_fail)?;
        if form.get("format") == Some("json") {
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"subject": p.subject, "html": p.html, "text": p.text})));
        }
        Ok(email_document(p.html))
    }
    .await;
    c.finish(r)
}

pub async fn test_send(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        let email = Email::parse(&c.user.email)
            .map_err(|e| Fail::Internal(anyhow::anyhow!("user email: {e}")))?;
        api::queue_test(&c.state, c.audit_name(), id.clone(), email)
            .await
            .map_err(api_fail)?;
        Ok(see_other(&format!("/admin/alerts/{id}?done=test")))
    }
    .await;
    c.finish(r)
}

pub async fn confirm_send(c: Console, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        let i = id.clone();
        let (alert, audience) = c
            .state
            .db
            .run(move |conn| -> Result<_, DbError> {
                let a = db::alerts::get(conn, &i)?;
                let n = db::alerts::audience_size(conn, &i)?;
                Ok((a, n))
            })
            .await?;
        let alert = alert.ok_or(Fail::NotFound)?;
        if alert.status != "draft" {
            return Ok(see_other(&format!("/admin/alerts/{id}")));
        }
        let loc = c.page.locale;
        let count = loc.number(audience);
        Ok(c.render(
            "alert_send",
            c.t("admin_send_confirm_title"),
            json!({
                "alert": {"id": alert.id, "subject": alert.subject},
                "audience": audience,
                "text": loc.format("admin_send_confirm_text", &[("subject", &alert.subject), ("count", &count)]),
                "button": loc.format("admin_send_now", &[("count", &count)]),
            }),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn send(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        api::send_alert(&c.state, c.audit_name(), id.clone())
            .await
            .map_err(api_fail)?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

pub async fn cancel(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        api::cancel_alert(&c.state, c.audit_name(), id.clone())
            .await
            .map_err(api_fail)?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

/// `{status, recipients, queued, sent, failed, cancelled}` for the progress
/// script.
pub async fn progress(c: Console, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let r = async {
        let view = c
            .state
            .db
            .run(move |conn| api::load_view(conn, &id))
            .await
            .map_err(api_fail)?;
        Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "status": view.status,
                "status_label": c.t(&format!("admin_alert_status_{}", view.status)),
                "recipients": view.recipients, "queued": view.queued, "sent": view.sent,
                "failed": view.failed, "cancelled": view.cancelled,
                "done": view.sent + view.failed + view.cancelled,
            })))
    }
    .await;
    c.finish(r)
}
