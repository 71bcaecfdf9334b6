//! Supporters in the console: search by email, the subject-access download,
//! and erasure for admins behind a confirmation page.
//!
//! Thin: read the request, call one [`crate::campaign::supporters`] action,
//! render.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{see_other, Console, Role};
use crate::campaign::supporters as action;
use crate::domain::Email;

#[derive(serde::Deserialize)]
pub struct Search {
    email: Option<String>,
    done: Option<String>,
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
