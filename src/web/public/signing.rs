//! `POST /petitions/{slug}/signatures`: the signing form (contract §3).
//!
//! Checks run cheapest and most general first: body size (413), cross-site
//! (403), the petition (404 draft or unknown, 410 closed), the per-IP limit
//! (429), the honeypot (the same 303, nothing stored), the fields (422 with
//! every value kept), then [`crate::campaign::signing::sign`] stores it and
//! the answer is `303` to the thanks page — the same whether the address
//! was new, had signed before, or tripped the honeypot.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::pages::{load_petition, petition_context};
use super::{client_ip, close_connection, is_cross_site, read_body, Fail, Framing, Page};
use crate::campaign::public::{is_open, Petition};
use crate::campaign::signing::{self, SignOutcome, SignatureForm};
use crate::campaign::Actor;
use crate::domain::{Comment, CountryCode, DomainError, Email, PersonName, Postcode};
use crate::i18n::Locale;
use crate::web::AppState;

/// Largest form body accepted; larger → 413. The biggest honest form (every
/// field at its limit, percent-encoded Cyrillic) stays under it.
pub const MAX_BODY: usize = 16 * 1024;

/// What the person typed, kept verbatim to fill the form again on a 422.
#[derive(Debug, Default, Clone)]
pub struct FormValues {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub country: String,
    pub postcode: String,
    pub comment: String,
    pub email_opt_in: bool,
    pub website: String,
    pub lang: Option<String>,
    pub embed: bool,
}

impl FormValues {
    pub fn parse(body: &[u8]) -> FormValues {
        let mut v = FormValues::default();
        for (k, val) in url::form_urlencoded::parse(body) {
            let val = val.into_owned();
            match k.as_ref() {
                "first_name" => v.first_name = val,
                "last_name" => v.last_name = val,
                "email" => v.email = val,
                "country" => v.country = val,
                "postcode" => v.postcode = val,
                "comment" => v.comment = val,
                "email_opt_in" => v.email_opt_in = val == "yes",
                "website" => v.website = val,
                "lang" => v.lang = Some(val),
                "embed" => v.embed = val == "1",
                _ => {}
            }
        }
        v
    }
}

/// The message for a domain error, in the page's language.
fn message(locale: Locale, e: &DomainError) -> String {
    match e {
        DomainError::Empty { .. } => locale.get("err_required").into(),
        DomainError::TooLong { max, .. } => {
            locale.format("err_too_long", &[("max", &max.to_string())])
        }
        DomainError::TooShort { min, .. } => {
            locale.format("err_too_short", &[("min", &min.to_string())])
        }
        DomainError::LineBreak { .. } => locale.get("err_line_break").into(),
        DomainError::ControlCharacter { .. } => locale.get("err_control").into(),
        DomainError::InvalidEmail => locale.get("err_email").into(),
        DomainError::InvalidCountry => locale.get("err_country").into(),
        DomainError::InvalidName { .. } => locale.get("err_name").into(),
        DomainError::LooksLikeLink { .. } => locale.get("err_link").into(),
        DomainError::InvalidPostcode => locale.get("err_postcode").into(),
        _ => locale.get("err_required").into(),
    }
}

/// The parsed fields of a valid form.
struct Valid {
    first_name: PersonName,
    last_name: PersonName,
    email: Email,
    country: CountryCode,
    postcode: Option<Postcode>,
    comment: Option<Comment>,
}

/// Parses every field; on failure, every bad field with its message, in
/// form order.
fn validate(v: &FormValues, locale: Locale) -> Result<Valid, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let mut check = |field: &'static str, r: Result<(), DomainError>| {
        if let Err(e) = r {
            errors.push((field, message(locale, &e)));
        }
    };
    let first_name = PersonName::parse(&v.first_name);
    check(
        "first_name",
        first_name.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let last_name = PersonName::parse(&v.last_name);
    check(
        "last_name",
        last_name.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let email = Email::parse(&v.email);
    check("email", email.as_ref().map(|_| ()).map_err(Clone::clone));
    let country = if v.country.trim().is_empty() {
        Err(DomainError::InvalidCountry)
    } else {
        CountryCode::parse(&v.country)
    };
    check(
        "country",
        country.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let postcode = Postcode::parse_optional(&v.postcode);
    check(
        "postcode",
        postcode.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let comment = Comment::parse_optional(&v.comment);
    check(
        "comment",
        comment.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Valid {
        first_name: first_name.expect("checked"),
        last_name: last_name.expect("checked"),
        email: email.expect("checked"),
        country: country.expect("checked"),
        postcode: postcode.expect("checked"),
        comment: comment.expect("checked"),
    })
}

/// The signing form's template data: values, per-field errors, the error
/// summary and the country list.
pub fn form_context(
    page: &Page,
    p: &Petition,
    v: &FormValues,
    errors: &[(&'static str, String)],
    embed: bool,
) -> Value {
    let error_of = |f: &str| {
        errors
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    let field = |name: &str, value: &str| {
        let error = error_of(name);
        json!({
            "id": format!("f-{}", name.replace('_', "-")),
            "name": name,
            "value": value,
            "error": error,
            "invalid": !error.is_empty(),
        })
    };
    let selected = CountryCode::parse(&v.country).ok().map(|c| c.as_str());
    let country_options = country_options(page.locale, selected);
    let summary: Vec<Value> = errors
        .iter()
        .map(|(f, m)| json!({"href": format!("#f-{}", f.replace('_', "-")), "message": m}))
        .collect();
    json!({
        "action": format!("/petitions/{}/signatures", p.slug),
        "lang": if page.lang_in_query { page.locale.code() } else { "" },
        "embed": embed,
        "errors": summary,
        "has_errors": !errors.is_empty(),
        "first_name": field("first_name", &v.first_name),
        "last_name": field("last_name", &v.last_name),
        "email": field("email", &v.email),
        "country": field("country", &v.country),
        "postcode": field("postcode", &v.postcode),
        "comment": field("comment", &v.comment),
        "email_opt_in": v.email_opt_in,
        "country_options": country_options,
        "email_hint": if p.require_confirmation { page.t("form_email_hint") } else { page.t("form_email_hint_instant") },
    })
}

/// The `<option>`s of the country list, HTML-escaped here because the
/// template inserts them raw: rendering 249 options through handlebars on
/// every page view cost more than everything else on the page together.
/// The list without a selection is built once per locale.
fn country_options(locale: Locale, selected: Option<&str>) -> std::borrow::Cow<'static, str> {
    use std::sync::OnceLock;
    fn build(locale: Locale, selected: Option<&str>) -> String {
        let mut out = String::with_capacity(12 * 1024);
        for (code, name) in locale.countries() {
            out.push_str("<option value=\"");
            out.push_str(code);
            out.push('"');
            if Some(code) == selected {
                out.push_str(" selected");
            }
            out.push('>');
            out.push_str(&handlebars::html_escape(name));
            out.push_str("</option>");
        }
        out
    }
    // The unselected list, rendered once per locale.
    static PLAIN: OnceLock<Vec<OnceLock<String>>> = OnceLock::new();
    match selected {
        Some(code) => std::borrow::Cow::Owned(build(locale, Some(code))),
        None => {
            let plain = PLAIN.get_or_init(|| Locale::all().map(|_| OnceLock::new()).collect());
            std::borrow::Cow::Borrowed(plain[locale.index()].get_or_init(|| build(locale, None)))
        }
    }
}

#[tracing::instrument(name = "sign", skip_all, fields(petition.slug = %slug))]
pub async fn sign(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let slug = slug.into_inner();
    // Until the form is read, errors are shown in the negotiated language.
    let early = Page::new(&req, &state);
    let body = match read_body(&req, payload, MAX_BODY).await {
        Ok(b) => b,
        Err(f) => return close_connection(early.error(&state, f)),
    };
    let values = FormValues::parse(&body);
    let page = Page::with_lang(&req, &state, values.lang.as_deref());
    match sign_inner(&req, &state, &slug, &page, values).await {
        Ok(r) => r,
        Err(f) => page.error(&state, f),
    }
}

async fn sign_inner(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    page: &Page,
    values: FormValues,
) -> Result<HttpResponse, Fail> {
    let public = &state.public;
    if is_cross_site(req, &public.base_origin) {
        return Err(Fail::Forbidden);
    }
    let data = load_petition(state, slug).await?;
    let petition = &data.petition;
    if !is_open(petition) {
        return Err(Fail::Gone);
    }
    // Hashed with the key of the day (contract §11); the last is today's,
    // the one stored with the signature.
    let hashes = match client_ip(req, &state.settings.trusted_proxies) {
        Some(ip) => state.ctx.client_hashes(&ip.to_string())?,
        None => vec!["unknown".to_string()],
    };
    let ip_hash = hashes.last().filter(|h| *h != "unknown").cloned();
    if let Err(retry_after_secs) = public.limiter.check_all(&hashes).await {
        return Err(Fail::TooMany { retry_after_secs });
    }
    let thanks = match (values.embed, page.lang_in_query) {
        (false, _) => format!("/petitions/{}/thanks{}", petition.slug, page.lang_query()),
        (true, false) => format!("/petitions/{}/thanks?embed=1", petition.slug),
        (true, true) => format!(
            "/petitions/{}/thanks?embed=1&lang={}",
            petition.slug,
            page.locale.code()
        ),
    };
    let see_thanks = || {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, thanks.clone()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    };
    if !values.website.trim().is_empty() {
        tracing::info!("honeypot filled; nothing stored");
        return Ok(see_thanks());
    }
    let valid = match validate(&values, page.locale) {
        Ok(v) => v,
        Err(errors) => {
            let form = form_context(page, petition, &values, &errors, values.embed);
            let title = format!("{}: {}", page.t("error_summary_title"), petition.title);
            if values.embed {
                return Ok(page.render(
                    state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "pages/embed.html",
                    &title,
                    json!({
                        "petition": {"title": petition.title, "is_open": true},
                        "form": form,
                        "full_href": format!("{}/petitions/{}{}", state.settings.base_url, petition.slug, page.lang_query()),
                    }),
                    Framing::Partners,
                ));
            }
            let ctx = petition_context(page, &data, Some(form));
            return Ok(page.render(
                state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "pages/petition.html",
                &title,
                ctx,
                Framing::Nobody,
            ));
        }
    };
    let form = SignatureForm {
        first_name: valid.first_name,
        last_name: valid.last_name,
        email: valid.email,
        country: valid.country,
        postcode: valid.postcode,
        comment: valid.comment,
        email_opt_in: values.email_opt_in,
        locale: page.locale,
        ip_hash,
    };
    let outcome = signing::sign(&state.ctx, &Actor::Public, petition, form).await?;
    if outcome == SignOutcome::Closed {
        return Err(Fail::Gone);
    }
    tracing::debug!(?outcome, "signature stored");
    Ok(see_thanks())
}
