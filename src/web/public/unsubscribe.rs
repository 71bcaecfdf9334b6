//! `/unsubscribe/{token}`: leaving campaign mail with one click.
//!
//! The token is `keys.sign("unsubscribe", supporter_id)`, the URL every
//! campaign mail carries, also in `List-Unsubscribe`. GET shows a button
//! (scanners fetch links; a GET changes nothing); POST unsubscribes, and
//! accepts RFC 8058's one-click body `List-Unsubscribe=One-Click` sent by
//! mail providers. No CSRF token is needed: the signed token is the
//! credential, and unsubscribing is harmless to repeat.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{Fail, Framing, Page};
use crate::db::subscriptions;
use crate::web::AppState;

pub const PURPOSE: &str = "unsubscribe";

/// The supporter a token was made for, if it is genuine and they exist.
async fn supporter(state: &AppState, token: &str) -> Result<(String, String), Fail> {
    let id = state.keys.verify(PURPOSE, token).ok_or(Fail::NotFound)?;
    let lookup = id.clone();
    let status = state
        .db
        .run(move |c| subscriptions::status(c, &lookup))
        .await?
        .ok_or(Fail::NotFound)?;
    Ok((id, status))
}

fn done(state: &AppState, page: &Page) -> HttpResponse {
    page.render(
        state,
        StatusCode::OK,
        "pages/unsubscribe.html",
        page.t("unsub_done_title"),
        json!({"done": true, "action": ""}),
        Framing::Nobody,
    )
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let (_, status) = supporter(&state, &token).await?;
        if status == "unsubscribed" || status == "erased" {
            return Ok(done(&state, &page));
        }
        Ok(page.render(
            &state,
            StatusCode::OK,
            "pages/unsubscribe.html",
            page.t("unsub_title"),
            json!({"done": false, "action": format!("/unsubscribe/{}{}", token.as_str(), page.lang_query())}),
            Framing::Nobody,
        ))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}

pub async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let (id, _) = supporter(&state, &token).await?;
        let found = state
            .db
            .run(move |c| subscriptions::unsubscribe(c, &id))
            .await?;
        if !found {
            return Err(Fail::NotFound);
        }
        Ok(done(&state, &page))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}
