//! Supporters in the console: every supporter a page at a time (filtered
//! by status), search by email, the subject-access download, and erasure
//! for admins behind a confirmation page.
//!
//! Thin: read the request, call one [`crate::campaign::supporters`] action,
//! render.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::paging::{nav, PageQuery};
use super::{see_other, Console, Role};
use crate::campaign::supporters as action;
use crate::domain::{Email, SupporterStatus};
use crate::web::public::Fail;

#[derive(serde::Deserialize)]
pub struct Search {
    email: Option<String>,
    done: Option<String>,
    status: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// The listing under the search: a page of supporters, only those in the
/// chosen status (an unknown one is no filter), links keeping the filter.
async fn listing(c: &Console, q: &Search) -> Result<(Value, Value), Fail> {
    let status = q
        .status
        .as_deref()
        .and_then(|s| SupporterStatus::parse(s.trim()).ok());
    let at = PageQuery {
        page: q.page.clone(),
        per_page: q.per_page.clone(),
    }
    .request();
    let paged = action::list_page(&c.state.ctx, &c.actor(), status, at)
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let label = |s: SupporterStatus| c.t(&format!("admin_supporter_status_{s}"));
    let rows: Vec<Value> = paged
        .items
        .iter()
        .map(|s| {
            // An erased supporter has no address left to look up.
            let href = s.email.as_deref().map(|e| {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("email", e)
                    .finish();
                format!("/admin/supporters?{q}")
            });
            json!({
                "id": s.id, "email": s.email, "href": href,
                "name": full_name(s.first_name.as_deref(), s.last_name.as_deref()),
                "country": s.country, "status": label(s.status),
            })
        })
        .collect();
    let current = status.map(SupporterStatus::as_str).unwrap_or("");
    let statuses: Vec<Value> = SupporterStatus::ALL
        .iter()
        .map(
            |s| json!({"value": s.as_str(), "label": label(*s), "selected": s.as_str() == current}),
        )
        .collect();
    let pager = nav(c, "/admin/supporters", &[("status", current)], &paged);
    Ok((json!({"rows": rows, "statuses": statuses}), pager))
}

fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    format!("{} {}", first.unwrap_or_default(), last.unwrap_or_default())
        .trim()
        .to_string()
}

pub async fn search(c: Console, q: web::Query<Search>) -> HttpResponse {
    let r = async {
        let email = q.email.clone().unwrap_or_default().trim().to_string();
        let found = if email.is_empty() {
            None
        } else {
            // Stored addresses are all normalised: one that does not parse
            // is held by nobody.
            Some(match Email::parse(&email) {
                Ok(key) => action::find_by_email(&c.state.ctx, &c.actor(), key)
                    .await
                    .map_err(|e| c.campaign_fail(e))?,
                Err(_) => None,
            })
        };
        let result = found.map(|s| {
            s.map(|s| {
                json!({
                    "id": s.id, "email": s.email,
                    "name": full_name(s.first_name.as_deref(), s.last_name.as_deref()),
                    "country": s.country, "status": s.status,
                    "erasable": s.erased_at.is_none(),
                })
            })
        });
        let notice = (q.done.as_deref() == Some("erased")).then(|| c.t("admin_erased"));
        let (listing, pager) = if email.is_empty() {
            listing(&c, &q).await?
        } else {
            (Value::Null, Value::Null)
        };
        Ok(c.render(
            "supporters",
            c.t("admin_supporters_title"),
            json!({
                "email": email, "searched": result.is_some(),
                "supporter": result.flatten(), "notice": notice, "listing": listing, "pager": pager,
            }),
        ))
    }
    .await;
    c.finish(r)
}

/// Everything held about one person, as a JSON download.
pub async fn subject_access(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        let id = action::supporter_id(&id).map_err(|e| c.campaign_fail(e))?;
        let doc = action::subject_access(&c.state.ctx, &c.actor(), id.clone())
            .await
            .map_err(|e| c.campaign_fail(e))?;
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
        let id = action::supporter_id(&id).map_err(|e| c.campaign_fail(e))?;
        let s = action::get(&c.state.ctx, &c.actor(), id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
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

pub async fn erase(p: super::Posted, id: web::Path<String>) -> HttpResponse {
    let super::Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Admin)?;
        let id = action::supporter_id(&id).map_err(|e| c.campaign_fail(e))?;
        action::erase(&c.state.ctx, &c.actor(), id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/supporters?done=erased"))
    }
    .await;
    c.finish(r)
}
