//! `/unsubscribe/{token}`: leaving campaign mail with one click.
//!
//! The token is `keys.sign("unsubscribe", supporter_id)` (see
//! [`crate::campaign::subscriptions`]), the URL every
//! campaign mail carries, also in `List-Unsubscribe`. GET shows a button
//! (scanners fetch links; a GET changes nothing); POST unsubscribes, and
//! accepts RFC 8058's one-click body `List-Unsubscribe=One-Click` sent by
//! mail providers. No CSRF token is needed: the signed token is the
//! credential, and unsubscribing is harmless to repeat.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{Fail, Framing, Page};
use crate::campaign::subscriptions::{self, Standing};
use crate::campaign::Actor;
use crate::web::AppState;

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
        let standing = subscriptions::standing(&state.ctx, &token)
            .await?
            .ok_or(Fail::NotFound)?;
        if standing == Standing::Left {
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
    payload: web::Payload,
) -> HttpResponse {
    if let Err(refused) = super::read_small_body(&req, &state, payload).await {
        return refused;
    }
    let page = Page::new(&req, &state);
    let result = async {
        let found = subscriptions::unsubscribe(&state.ctx, &Actor::Public, &token).await?;
        if !found {
            return Err(Fail::NotFound);
        }
        Ok(done(&state, &page))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}
