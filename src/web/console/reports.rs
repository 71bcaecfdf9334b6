//! Kept reports in the console: the bounces, complaints and other mail that
//! came back and named no delivery, for a campaigner to read and discard
//! (the same actions as `/api/v1/mail/unmatched`).
//!
//! Thin: call one [`crate::campaign::reports`] action, render. The messages
//! are shown as text, escaped like everything else on the page.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::{see_other, Console, Posted, Role};
use crate::campaign::reports;
use crate::web::public::Fail;

/// At most this many kept reports on the page, oldest first: discarding
/// them shows the next.
pub const SHOWN: i64 = 100;

pub async fn list(c: Console) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        let rows = reports::unmatched(&c.state.ctx, &c.actor(), None, SHOWN)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let items: Vec<Value> = rows
            .into_iter()
            .map(|(r, raw)| {
                json!({
                    "id": r.id,
                    "received_at": r.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    "from": r.from,
                    "subject": r.subject,
                    "size": c.page.locale.number(r.size as i64),
                    "text": String::from_utf8_lossy(&raw[..raw.len().min(64 * 1024)]),
                })
            })
            .collect();
        Ok::<_, Fail>(c.render(
            "reports",
            c.t("admin_reports_title"),
            json!({"reports": items, "shown": SHOWN}),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn discard(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = id
            .parse::<i64>()
            .map_err(|_| c.campaign_fail(crate::campaign::CampaignError::not_found("report")))?;
        reports::discard_unmatched(&c.state.ctx, &c.actor(), id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/reports"))
    }
    .await;
    c.finish(r)
}
