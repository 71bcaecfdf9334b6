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
use crate::campaign::confirmations::{self, Confirmation};
use crate::campaign::evidence;
use crate::campaign::public::{self, Petition};
use crate::campaign::Actor;
use crate::domain::{PetitionId, SignatureStatus};
use crate::i18n::Locale;
use crate::web::AppState;

async fn petition_by_id(state: &AppState, id: &PetitionId) -> Result<Petition, Fail> {
    public::petition_by_id(&state.ctx, id)
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

/// The signer's language for the page, if the token finds one. A failed
/// look-up only costs the page its language (the confirmation after it
/// reports its own errors), so it is logged, not shown.
async fn signer_locale(state: &AppState, token: &str) -> Option<String> {
    match confirmations::find(&state.ctx, token).await {
        Ok(target) => target.and_then(|t| t.locale),
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "looking up the signer's language failed");
            None
        }
    }
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut page = Page::new(&req, &state);
    let token = token.into_inner();
    let result = async {
        let target = confirmations::find(&state.ctx, &token)
            .await?
            .ok_or(Fail::NotFound)?;
        page = page_for(&req, &state, target.locale.as_deref());
        let petition = petition_by_id(&state, &target.petition_id).await?;
        if target.status == SignatureStatus::Confirmed {
            let receipt = evidence::receipt_code(&state.ctx, &target.signature_id);
            return Ok(thanks_page(&state, &page, &petition, Some(&receipt)));
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
    payload: web::Payload,
) -> HttpResponse {
    if let Err(refused) = super::read_small_body(&req, &state, payload).await {
        return refused;
    }
    let token = token.into_inner();
    let page = page_for(&req, &state, signer_locale(&state, &token).await.as_deref());
    let result = async {
        match confirmations::confirm(&state.ctx, &Actor::Public, &token).await? {
            Confirmation::Unknown => Err(Fail::NotFound),
            Confirmation::Expired => Ok(expired(&state, &page)),
            Confirmation::Confirmed(petition, receipt)
            | Confirmation::AlreadyConfirmed(petition, receipt) => {
                Ok(thanks_page(&state, &page, &petition, Some(&receipt)))
            }
        }
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}
