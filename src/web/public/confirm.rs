//! `/confirm/{token}`: double opt-in that link scanners cannot trigger.
//!
//! Mail filters fetch every link in a message (GET, sometimes HEAD) to look
//! for malware, so a GET must change nothing. The GET page confirms by
//! POSTing to itself: a small script with the page's CSP nonce submits the
//! form at once, so a person needs no extra click, and a button does the
//! same where scripts are off. POST is idempotent: confirming twice shows
//! the same thanks page and counts once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::pages::thanks_page;
use super::{Fail, Framing, Page};
use crate::db::signatures::{self, ConfirmOutcome};
use crate::i18n::Locale;
use crate::web::AppState;

fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn petition_by_id(
    state: &AppState,
    id: String,
) -> Result<crate::db::petitions::Petition, Fail> {
    state
        .db
        .run(move |c| match crate::domain::PetitionId::parse(&id) {
            Ok(id) => crate::db::petitions::get(c, &id),
            Err(_) => Ok(None),
        })
        .await?
        .ok_or(Fail::NotFound)
}

fn expired(state: &AppState, page: &Page) -> HttpResponse {
    page.render(
        state,
        StatusCode::GONE,
        "pages/error.html",
        page.t("expired_title"),
        json!({"heading": page.t("expired_title"), "message": page.t("expired_body")}),
        Framing::Nobody,
    )
}

/// The page speaks the signer's language unless the URL asks otherwise: the
/// link in the mail carries no `?lang=`.
fn page_for(req: &HttpRequest, state: &AppState, signer_locale: Option<&str>) -> Page {
    let mut page = Page::new(req, state);
    if !page.lang_in_query {
        if let Some(l) = signer_locale.and_then(Locale::from_tag) {
            page.locale = l;
        }
    }
    page
}

async fn signer_locale(state: &AppState, token: &str) -> Option<String> {
    if !plausible(token) {
        return None;
    }
    let t = token.to_string();
    state
        .db
        .run(move |c| signatures::find_by_token(c, &t, crate::db::now()))
        .await
        .ok()
        .flatten()
        .and_then(|t| t.locale)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut page = Page::new(&req, &state);
    let token = token.into_inner();
    let result = async {
        if !plausible(&token) {
            return Err(Fail::NotFound);
        }
        let t = token.clone();
        let target = state
            .db
            .run(move |c| signatures::find_by_token(c, &t, crate::db::now()))
            .await?
            .ok_or(Fail::NotFound)?;
        page = page_for(&req, &state, target.locale.as_deref());
        let petition = petition_by_id(&state, target.petition_id.clone()).await?;
        if target.status == "confirmed" {
            return Ok(thanks_page(&state, &page, &petition, Some(true)));
        }
        if target.expired {
            return Ok(expired(&state, &page));
        }
        Ok(page.render(
            &state,
            StatusCode::OK,
            "pages/confirm.html",
            page.t("confirm_title"),
            json!({
                "action": format!("/confirm/{token}{}", page.lang_query()),
                "intro": page.locale.format("confirm_intro", &[("title", &petition.title)]),
            }),
            Framing::Nobody,
        ))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}

pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let token = token.into_inner();
    let page = page_for(&req, &state, signer_locale(&state, &token).await.as_deref());
    let result = async {
        if !plausible(&token) {
            return Err(Fail::NotFound);
        }
        let outcome = state
            .db
            .run(move |c| {
                signatures::confirm(c, &token, &|locale| {
                    let l = locale.and_then(Locale::from_tag).unwrap_or(Locale::En);
                    l.get("form_opt_in").to_string()
                })
            })
            .await?;
        match outcome {
            ConfirmOutcome::Unknown => Err(Fail::NotFound),
            ConfirmOutcome::Expired { .. } => Ok(expired(&state, &page)),
            ConfirmOutcome::Confirmed { petition_id } => {
                state.public.petitions.invalidate();
                let petition = petition_by_id(&state, petition_id).await?;
                Ok(thanks_page(&state, &page, &petition, Some(true)))
            }
            ConfirmOutcome::AlreadyConfirmed { petition_id } => {
                let petition = petition_by_id(&state, petition_id).await?;
                Ok(thanks_page(&state, &page, &petition, Some(true)))
            }
        }
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}
