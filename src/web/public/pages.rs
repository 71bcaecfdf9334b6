//! Read-only pages: home, case, petition, thanks, embed, counts.json.
//! What they show comes from the campaign layer's public reads
//! ([`crate::campaign::public`]: drafts are never among them), through the
//! short [`super::cache`] where a page is read often.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::signing::{form_context, FormValues};
use super::{paragraphs, Fail, Framing, Page};
use std::sync::Arc;

use super::cache::PageKey;
use crate::campaign::public::{self, is_open, Petition, PublicPetition};
use crate::i18n::Locale;
use crate::web::AppState;

/// A public petition with its case and country counts, by slug, from the
/// short cache or the campaign layer.
pub async fn load_petition(state: &AppState, slug: &str) -> Result<Arc<PublicPetition>, Fail> {
    let cache = &state.public.petitions;
    match cache.get(slug) {
        Some(d) => Ok(d),
        None => {
            let found = public::petition(&state.ctx, slug)
                .await?
                .ok_or(Fail::NotFound)?;
            Ok(cache.put(slug, found))
        }
    }
}

/// "1,234 of 10,000 signatures" or "1,234 signatures".
pub fn count_text(locale: Locale, count: i64, goal: Option<i64>) -> String {
    match goal {
        Some(g) => locale.format(
            "count_of_goal",
            &[
                ("count", &locale.number(count)),
                ("goal", &locale.number(g)),
            ],
        ),
        None => locale.format("count_only", &[("count", &locale.number(count))]),
    }
}

fn petition_summary(page: &Page, p: &Petition) -> Value {
    json!({
        "slug": p.slug,
        "title": p.title,
        "target": p.target,
        "href": format!("/petitions/{}{}", p.slug, page.lang_query()),
        "is_open": is_open(p),
        "count_text": count_text(page.locale, p.confirmed_count, p.goal),
        "goal": p.goal,
        "progress_max": p.goal.unwrap_or(0),
        "progress_value": p.confirmed_count.min(p.goal.unwrap_or(0)),
    })
}

pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = Page::new(&req, &state);
    match public::open_petitions(&state.ctx).await {
        Ok(list) => {
            let items: Vec<Value> = list.iter().map(|p| petition_summary(&page, p)).collect();
            page.render(
                &state,
                StatusCode::OK,
                "pages/home.html",
                page.t("home_title"),
                json!({"petitions": items}),
                Framing::Nobody,
            )
        }
        Err(e) => page.error(&state, e.into()),
    }
}

pub async fn case(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let slug = slug.into_inner();
    let found = public::case(&state.ctx, &slug).await;
    match found {
        Ok(Some((case, list))) => {
            let items: Vec<Value> = list.iter().map(|p| petition_summary(&page, p)).collect();
            page.render(
                &state,
                StatusCode::OK,
                "pages/case.html",
                &case.title,
                json!({
                    "case": {
                        "title": case.title,
                        "summary": case.summary,
                        "body": paragraphs(case.body.as_deref().unwrap_or("")),
                    },
                    "petitions": items,
                }),
                Framing::Nobody,
            )
        }
        Ok(None) => page.error(&state, Fail::NotFound),
        Err(e) => page.error(&state, e.into()),
    }
}

/// The data of the petition page (and of the signing form's 422 answer).
pub fn petition_context(page: &Page, data: &PublicPetition, form: Option<Value>) -> Value {
    let (p, case) = (&data.petition, &data.case);
    // Small numbers are already summed into "other" (campaign::public);
    // it comes last, after the ten largest countries.
    let (mut by_country, other): (Vec<_>, Vec<_>) = data
        .by_country
        .iter()
        .cloned()
        .partition(|(code, _)| code != public::OTHER);
    by_country.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let countries: Vec<Value> = by_country
        .iter()
        .take(10)
        .map(|(code, n)| {
            let name = crate::domain::CountryCode::parse(code)
                .map(|c| page.locale.country_name(&c))
                .unwrap_or("?");
            (name, *n)
        })
        .chain(
            other
                .iter()
                .map(|(_, n)| (page.t("safety_other_countries"), *n)),
        )
        .map(|(name, n)| json!({"name": name, "count": page.locale.number(n)}))
        .collect();
    let mut summary = petition_summary(page, p);
    summary["body"] = json!(paragraphs(&p.body));
    json!({
        "petition": summary,
        "case": {
            "title": case.title,
            "summary": case.summary,
            "href": format!("/cases/{}{}", case.slug, page.lang_query()),
        },
        "by_country": countries,
        "form": form.unwrap_or(Value::Null),
    })
}

/// A petition or embed page (status 200) from the page cache, else
/// rendered with the nonce placeholder and cached. `context` builds the
/// template data; it runs only on a miss.
fn cached_page(
    state: &AppState,
    page: &Page,
    data: &Arc<PublicPetition>,
    template: &'static str,
    framing: Framing,
    context: impl FnOnce(&Page) -> Value,
) -> HttpResponse {
    let cache = &state.public.petitions;
    let key = PageKey {
        path: page.path.clone(),
        template,
        locale: page.locale,
        lang_in_query: page.lang_in_query,
    };
    if let Some(body) = cache.page(&key, data, &page.nonce) {
        return super::respond(state, StatusCode::OK, &page.nonce, framing, body);
    }
    let placeholder = page.with_nonce(cache.nonce_placeholder());
    let ctx = context(&placeholder);
    match placeholder.render_html(state, template, &data.petition.title, ctx) {
        Ok(html) => {
            let body = cache.put_page(key, data.clone(), html, &page.nonce);
            super::respond(state, StatusCode::OK, &page.nonce, framing, body)
        }
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, template, "page rendering failed");
            page.error(state, Fail::Internal(e))
        }
    }
}

pub async fn petition(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let data = load_petition(&state, &slug).await?;
        Ok::<_, Fail>(cached_page(
            &state,
            &page,
            &data,
            "pages/petition.html",
            Framing::Nobody,
            |page| {
                let p = &data.petition;
                let form =
                    is_open(p).then(|| form_context(page, p, &FormValues::default(), &[], false));
                petition_context(page, &data, form)
            },
        ))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}

pub async fn embed(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let data = load_petition(&state, &slug).await?;
        Ok::<_, Fail>(cached_page(
            &state,
            &page,
            &data,
            "pages/embed.html",
            Framing::Partners,
            |page| {
                let p = &data.petition;
                let form = is_open(p)
                    .then(|| form_context(page, p, &FormValues::default(), &[], true));
                json!({
                    "petition": petition_summary(page, p),
                    "form": form.unwrap_or(Value::Null),
                    "full_href": format!("{}/petitions/{}{}", state.settings.base_url, p.slug, page.lang_query()),
                })
            },
        ))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn thanks(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let data = load_petition(&state, &slug).await?;
        let mut r = thanks_page(&state, &page, &data.petition, None);
        // After the embedded form, the thanks page shows inside the partner's frame.
        if req.query_string().split('&').any(|kv| kv == "embed=1") {
            r = super::reframe(&state, r, &page.nonce);
        }
        Ok::<_, Fail>(r)
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}

/// The thanks page; a `receipt` says the visitor just confirmed (or had
/// confirmed) their signature, so there is no "check your email" but their
/// receipt code.
pub fn thanks_page(
    state: &AppState,
    page: &Page,
    p: &Petition,
    receipt: Option<&str>,
) -> HttpResponse {
    let url = format!("{}/petitions/{}", state.settings.base_url, p.slug);
    let l = page.locale;
    let text = l.format("share_text", &[("title", &p.title)]);
    let subject = l.format("share_email_subject", &[("title", &p.title)]);
    let body = l.format("share_email_body", &[("url", &url)]);
    let share = vec![
        json!({"label": l.get("share_x"), "href": format!("https://x.com/intent/post?text={}&url={}", enc(&text), enc(&url))}),
        json!({"label": l.get("share_facebook"), "href": format!("https://www.facebook.com/sharer/sharer.php?u={}", enc(&url))}),
        json!({"label": l.get("share_whatsapp"), "href": format!("https://wa.me/?text={}", enc(&format!("{text} {url}")))}),
        json!({"label": l.get("share_telegram"), "href": format!("https://t.me/share/url?url={}&text={}", enc(&url), enc(&text))}),
        json!({"label": l.get("share_vk"), "href": format!("https://vk.com/share.php?url={}&title={}", enc(&url), enc(&p.title))}),
    ];
    // mailto: wants %20 for spaces, not '+'.
    let mailto = format!(
        "mailto:?subject={}&body={}",
        enc(&subject).replace('+', "%20"),
        enc(&body).replace('+', "%20")
    );
    let (title, message) = match receipt {
        Some(_) => (
            l.get("confirmed_title").to_string(),
            l.format("confirmed_body", &[("title", &p.title)]),
        ),
        _ if p.require_confirmation => (
            l.get("thanks_title").into(),
            l.get("thanks_check_email").into(),
        ),
        _ => (l.get("thanks_title").into(), l.get("thanks_counted").into()),
    };
    page.render(
        state,
        StatusCode::OK,
        "pages/thanks.html",
        &title,
        json!({
            "heading": title,
            "message": message,
            "petition": petition_summary(page, p),
            "share_url": url,
            "share_links": share,
            "mailto": mailto,
            "receipt": receipt.map(|code| json!({
                "code": code,
                "href": format!("/receipts/{code}{}", page.lang_query()),
            })),
        }),
        Framing::Nobody,
    )
}

/// `{"petition", "signatures", "goal", "by_country"}`: confirmed signatures
/// only, from the counter caches. Public data, so any site may read it.
pub async fn counts(state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    let slug = slug.into_inner();
    let found = public::counts(&state.ctx, &slug).await;
    let json_headers = |b: &mut actix_web::HttpResponseBuilder| {
        b.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "no-cache"));
    };
    match found {
        Ok(Some((p, by))) => {
            let by_country: serde_json::Map<String, Value> =
                by.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let mut b = HttpResponse::Ok();
            json_headers(&mut b);
            b.json(json!({
                "petition": p.slug,
                "signatures": p.confirmed_count,
                "goal": p.goal,
                "by_country": by_country,
            }))
        }
        Ok(None) => {
            let mut b = HttpResponse::NotFound();
            json_headers(&mut b);
            b.json(json!({"error": "no such petition"}))
        }
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "counts failed");
            let mut b = HttpResponse::InternalServerError();
            json_headers(&mut b);
            b.json(json!({"error": "internal error", "request_id": crate::error::current_request_id()}))
        }
    }
}
