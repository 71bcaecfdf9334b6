//! The public pages: what supporters see and sign (contract §3).
//!
//! Policy: every page is server-rendered from `templates/pages/` with strict,
//! HTML-escaping handlebars, in the locale chosen by [`crate::i18n`], and
//! carries the security headers of [`respond`]: a Content-Security-Policy
//! whose only scripts are the page's own nonce'd inline ones, no framing
//! (except the embed page, for configured origins), `nosniff` and a
//! same-origin referrer.
//!
//! Handlers parse the request, call one action or read of the campaign
//! layer ([`crate::campaign::signing`], [`crate::campaign::confirmations`],
//! [`crate::campaign::subscriptions`], [`crate::campaign::public`]) and
//! render its answer. What stays here is the web's own: the per-IP signing
//! [`limiter`], the short [`cache`] of petitions and rendered pages, and the
//! request checks (body size, cross-site, honeypot). Nothing here touches
//! the database itself.

pub mod cache;
pub mod confirm;
pub mod evidence;
pub mod limiter;
pub mod pages;
pub mod signing;
pub mod unsubscribe;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::AppState;
use crate::campaign::limits::SignLimit;
use crate::campaign::CampaignError;
use crate::config::Settings;
use crate::i18n::Locale;

/// Shared state of the public pages, one per process (not per HTTP worker):
/// the per-IP signing limiter and the petition cache. (The batching
/// signature writer is the signing action's: it lives in the campaign
/// context.)
pub struct PublicState {
    pub limiter: limiter::RateLimiter,
    /// Petitions with their cases by slug, for a moment (see [`cache`]).
    pub petitions: cache::PetitionCache,
    /// `scheme://host[:port]` of the base URL: the only `Origin` the
    /// signing form accepts.
    pub base_origin: String,
}

impl PublicState {
    pub fn new(settings: &Settings, limit: SignLimit) -> Arc<PublicState> {
        let base_origin = url::Url::parse(&settings.base_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Arc::new(PublicState {
            limiter: limiter::RateLimiter::new(limit),
            base_origin,
            petitions: cache::PetitionCache::default(),
        })
    }
}

const SITE_CSS: &str = include_str!("../../../assets/site.css");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home))
        .route("/assets/site.css", web::get().to(site_css))
        .route("/cases/{slug}", web::get().to(pages::case))
        .route("/petitions/{slug}", web::get().to(pages::petition))
        .route(
            "/petitions/{slug}/signatures",
            web::post().to(signing::sign),
        )
        .route("/petitions/{slug}/thanks", web::get().to(pages::thanks))
        .route(
            "/petitions/{slug}/counts.json",
            web::get().to(pages::counts),
        )
        .route("/petitions/{slug}/embed", web::get().to(pages::embed))
        .route(
            "/petitions/{slug}/log.json",
            web::get().to(evidence::log_json),
        )
        .route(
            "/petitions/{slug}/snapshot.json",
            web::get().to(evidence::snapshot_json),
        )
        .route(
            "/petitions/{slug}/snapshots.json",
            web::get().to(evidence::snapshots_json),
        )
        .route(
            "/petitions/{slug}/verify",
            web::get().to(evidence::verify_page),
        )
        .route(
            "/.well-known/clarion-keys.json",
            web::get().to(evidence::keys_json),
        )
        .route("/receipts/{code}", web::get().to(evidence::receipt))
        .route("/confirm/{token}", web::get().to(confirm::show))
        .route("/confirm/{token}", web::post().to(confirm::confirm))
        .route("/unsubscribe/{token}", web::get().to(unsubscribe::show))
        .route(
            "/unsubscribe/{token}",
            web::post().to(unsubscribe::unsubscribe),
        )
        .default_service(web::to(not_found));
}

async fn site_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(SITE_CSS)
}

async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = Page::new(&req, &state);
    page.error(&state, Fail::NotFound)
}

/// Why a public request did not get its page.
#[derive(Debug)]
pub enum Fail {
    /// The request itself is broken: a body cut off or malformed (broken
    /// chunked encoding). The client's fault, not an error of ours to log.
    BadRequest,
    NotFound,
    Gone,
    Forbidden,
    TooLarge,
    TooMany {
        retry_after_secs: u64,
    },
    Internal(anyhow::Error),
}

/// A campaign action's error as a public page: the public pages send no
/// input an action could call invalid, so anything but "not found" (and
/// the two request checks) is ours to log.
impl From<CampaignError> for Fail {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::NotFound { .. } => Fail::NotFound,
            CampaignError::Forbidden => Fail::Forbidden,
            CampaignError::TooLarge => Fail::TooLarge,
            e => Fail::Internal(e.into()),
        }
    }
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Internal(e)
    }
}

/// Who may frame a page (CSP `frame-ancestors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Nobody,
    /// The embed page: the configured partner origins.
    Partners,
}

/// What every page render needs from the request: its locale, whether the
/// locale came from `?lang=` (then links keep it), and a fresh CSP nonce.
pub struct Page {
    pub locale: Locale,
    pub lang_in_query: bool,
    pub nonce: String,
    pub path: String,
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl Page {
    pub fn new(req: &HttpRequest, state: &AppState) -> Page {
        let q = web::Query::<LangQuery>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().lang);
        Page::with_lang(req, state, q.as_deref())
    }

    /// As [`Page::new`] with an explicit `lang` (the signing form carries it
    /// as a field).
    pub fn with_lang(req: &HttpRequest, state: &AppState, lang: Option<&str>) -> Page {
        let from_query = lang.and_then(Locale::from_tag);
        let accept = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let default = Locale::from_tag(&state.settings.default_locale).unwrap_or(Locale::EN);
        Page {
            locale: Locale::negotiate(from_query.map(Locale::code), accept, default),
            lang_in_query: from_query.is_some(),
            nonce: crate::security::random_token(),
            path: same_site_path(req.path()),
        }
    }

    /// `?lang=xx` when the locale was chosen in the URL, else empty: appended
    /// to internal links so a chosen language sticks.
    pub fn lang_query(&self) -> String {
        if self.lang_in_query {
            format!("?lang={}", self.locale.code())
        } else {
            String::new()
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.locale.get(key)
    }

    /// The template data every page shares, merged under `data`.
    fn context(&self, state: &AppState, title: &str, mut data: Value) -> Value {
        let langs: Vec<Value> = Locale::all()
            .map(|l| {
                json!({
                    "code": l.code(),
                    "name": l.name(),
                    "href": format!("{}?lang={}", self.path, l.code()),
                    "current": l == self.locale,
                })
            })
            .collect();
        let common = json!({
            "lang": self.locale.code(),
            "t": self.locale.strings(),
            "nonce": self.nonce,
            "page_title": title,
            "lang_query": self.lang_query(),
            "langs": langs,
            "base_url": state.settings.base_url,
        });
        if let (Some(d), Value::Object(c)) = (data.as_object_mut(), common) {
            for (k, v) in c {
                d.entry(k).or_insert(v);
            }
        }
        data
    }

    /// Renders `template` (`pages/…`) with the shared context and the
    /// security headers.
    pub fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        template: &str,
        title: &str,
        data: Value,
        framing: Framing,
    ) -> HttpResponse {
        match self.render_html(state, template, title, data) {
            Ok(html) => respond(state, status, &self.nonce, framing, html),
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, template, "page rendering failed");
                self.server_error(state)
            }
        }
    }

    /// The HTML of `template` with the shared context, without headers.
    pub fn render_html(
        &self,
        state: &AppState,
        template: &str,
        title: &str,
        data: Value,
    ) -> anyhow::Result<String> {
        let ctx = self.context(state, title, data);
        state.templates.render(template, &ctx)
    }

    /// The same page for another nonce (a cached page's placeholder).
    pub fn with_nonce(&self, nonce: &str) -> Page {
        Page {
            locale: self.locale,
            lang_in_query: self.lang_in_query,
            nonce: nonce.to_string(),
            path: self.path.clone(),
        }
    }

    /// The friendly error page for `fail`.
    pub fn error(&self, state: &AppState, fail: Fail) -> HttpResponse {
        let (status, key) = match &fail {
            Fail::BadRequest => (StatusCode::BAD_REQUEST, "400"),
            Fail::NotFound => (StatusCode::NOT_FOUND, "404"),
            Fail::Gone => (StatusCode::GONE, "410"),
            Fail::Forbidden => (StatusCode::FORBIDDEN, "403"),
            Fail::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "413"),
            Fail::TooMany { .. } => (StatusCode::TOO_MANY_REQUESTS, "429"),
            Fail::Internal(e) => {
                tracing::error!(
                    request_id = crate::error::current_request_id().unwrap_or_default(),
                    error.cause_chain = ?e,
                    error.message = %e,
                    "request failed"
                );
                return self.server_error(state);
            }
        };
        let title = self.t(&format!("error_{key}_title"));
        let body = match &fail {
            Fail::TooMany { retry_after_secs } => self.locale.format(
                "error_429_body",
                &[("seconds", &retry_after_secs.to_string())],
            ),
            _ => self.t(&format!("error_{key}_body")).to_string(),
        };
        let mut r = self.render(
            state,
            status,
            "pages/error.html",
            title,
            json!({"heading": title, "message": body}),
            Framing::Nobody,
        );
        if let Fail::TooMany { retry_after_secs } = fail {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after_secs.to_string())
                    .expect("digits are a valid header"),
            );
        }
        r
    }

    /// The 500 page; rendered without the template engine's help if that
    /// is what failed.
    fn server_error(&self, state: &AppState) -> HttpResponse {
        let id = crate::error::current_request_id().unwrap_or_default();
        let title = self.t("error_500_title");
        let body = self.locale.format("error_500_body", &[("request_id", &id)]);
        let ctx = self.context(state, title, json!({"heading": title, "message": body}));
        let html = state
            .templates
            .render("pages/error.html", &ctx)
            .unwrap_or_else(|_| {
                format!(
                    "<!doctype html><html lang=\"{}\" dir=\"{}\"><title>{}</title><p>{}</p></html>",
                    self.locale.code(),
                    self.locale.dir(),
                    escape(title),
                    escape(&body)
                )
            });
        respond(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            &self.nonce,
            Framing::Nobody,
            html,
        )
    }
}

/// `path` as a link that stays on this site: the leading run of slashes
/// (and backslashes, which browsers read as slashes) collapsed to one, so
/// that `GET //evil.example/x` links to `/evil.example/x`, never to the
/// scheme-relative `//evil.example/x`.
pub fn same_site_path(path: &str) -> String {
    let rest = path.trim_start_matches(['/', '\\']);
    format!("/{rest}")
}

/// The body length a request declares, if it declares one.
pub fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads a public form's body (these routes know nothing of who is
/// asking, so every one of them has a small `limit`): a larger declared
/// length is refused before a byte is read (413), as is a body that grows
/// past it; a body cut off or badly framed (a broken chunked encoding) is
/// the client's 400, not an error of ours.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, Fail> {
    use futures_util::StreamExt;
    let declared = declared_length(req);
    if declared.is_some_and(|n| n > limit) {
        return Err(Fail::TooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => Fail::TooLarge,
            e => {
                tracing::info!(error = %e, "a public form's body could not be read whole");
                Fail::BadRequest
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(Fail::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A 413 is sent before the body is read; closing the connection stops the
/// client from sending the rest into a reused connection.
pub fn close_connection(mut r: HttpResponse) -> HttpResponse {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        r.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    r
}

/// Largest body of a POST that needs none (confirm; unsubscribe, whose RFC
/// 8058 one-click body is `List-Unsubscribe=One-Click`).
pub const SMALL_BODY: usize = 1024;

/// For the routes that act on their path alone: their (small) body is read
/// before anything is done, so a request cut off or badly framed changes
/// nothing and is a 400, and one too large a 413.
pub async fn read_small_body(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<(), HttpResponse> {
    match read_body(req, payload, SMALL_BODY).await {
        Ok(_) => Ok(()),
        Err(f) => Err(close_connection(Page::new(req, state).error(state, f))),
    }
}

fn escape(s: &str) -> String {
    handlebars::html_escape(s)
}

/// The Content-Security-Policy of a page: only the page's own nonce'd
/// scripts, styles from our stylesheet, forms posting to us, framing as asked.
fn csp(state: &AppState, nonce: &str, framing: Framing) -> String {
    let ancestors = match framing {
        Framing::Nobody => "'none'".to_string(),
        Framing::Partners if state.settings.embed_allowed_origins.is_empty() => "'self'".into(),
        Framing::Partners => {
            let mut v = vec!["'self'".to_string()];
            v.extend(state.settings.embed_allowed_origins.iter().cloned());
            v.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// An HTML response with Clarion's security headers.
pub fn respond(
    state: &AppState,
    status: StatusCode,
    nonce: &str,
    framing: Framing,
    html: impl actix_web::body::MessageBody + 'static,
) -> HttpResponse {
    let csp = csp(state, nonce, framing);
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if framing == Framing::Nobody {
        // For browsers older than CSP frame-ancestors.
        b.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    b.body(html)
}

/// Lets configured partners frame an already rendered page.
pub fn reframe(state: &AppState, mut r: HttpResponse, nonce: &str) -> HttpResponse {
    let h = r.headers_mut();
    h.remove(header::X_FRAME_OPTIONS);
    if let Ok(v) = HeaderValue::from_str(&csp(state, nonce, Framing::Partners)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The client's IP: the peer, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy
/// (entries further left are whatever the client claimed).
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .or(forwarded.first())
        .copied()
        .or(Some(peer))
}

/// True for a browser request made from another site: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` other than the base URL's. Requests with
/// neither header (scripts, curl) are not cross-site.
pub fn is_cross_site(req: &HttpRequest, base_origin: &str) -> bool {
    let h = req.headers();
    if h.get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return true;
    }
    match h.get(header::ORIGIN) {
        Some(o) => o.to_str().map(|o| o != base_origin).unwrap_or(true),
        None => false,
    }
}

/// Splits plain text into paragraphs at blank lines, for `<p>` elements.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}
