//! The web console under `/admin`: campaigners' and organisers' face of the
//! API, server-rendered with the public pages' machinery ([`Page`]: locale,
//! CSP nonce, security headers, error pages).
//!
//! Policy: every route but the sign-in page takes a [`Console`] (a signed-in
//! user, else a redirect to `/admin/login`), and every POST a [`Posted`],
//! which also checks the form's CSRF token; a handler cannot forget either.
//! Roles are the API's ([`Role`]): organisers read and export, campaigners
//! also write and send, admins also erase and manage users. Pages call the
//! campaign layer's actions as [`Console::actor`] (the same actions as the
//! API and the CLI), which record them in the audit log as `user:EMAIL`; the
//! console never reaches the database itself.

pub mod alerts;
pub mod auth;
pub mod cases;
pub mod dashboard;
pub mod lists;
mod paging;
pub mod petitions;
pub mod reports;
pub mod session;
pub mod supporters;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::public::{Fail, Framing, Page};
use super::AppState;
use crate::campaign::users::User;
use crate::campaign::{Actor, CampaignError};
pub use crate::domain::Role;
use crate::error::FieldError;

/// Largest form body: the CSV upload is the big one, gathered into memory
/// as it streams in; larger files go through the streaming API route or the
/// CLI. Bodies are read only after the session is checked.
pub const FORM_LIMIT: usize = 64 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .app_data(web::PayloadConfig::new(FORM_LIMIT))
            .route("", web::get().to(dashboard::show))
            .route("/", web::get().to(dashboard::show))
            .route("/login", web::get().to(auth::login_page))
            .route("/login", web::post().to(auth::login))
            .route("/logout", web::post().to(auth::logout))
            .route("/users", web::get().to(auth::users))
            .route("/users", web::post().to(auth::create_user))
            .route("/users/{id}/role", web::post().to(auth::change_role))
            .route("/users/{id}/password", web::post().to(auth::set_password))
            .route("/users/{id}/disable", web::post().to(auth::disable_user))
            .route("/users/{id}/enable", web::post().to(auth::enable_user))
            .route("/users/{id}/delete", web::post().to(auth::delete_user))
            .route("/tokens/{id}/revoke", web::post().to(auth::revoke_token))
            .route("/cases", web::get().to(cases::list))
            .route("/cases/new", web::get().to(cases::new))
            .route("/cases", web::post().to(cases::create))
            .route("/cases/{id}", web::get().to(cases::edit))
            .route("/cases/{id}", web::post().to(cases::update))
            .route("/cases/{id}/safety", web::post().to(cases::safety))
            .route("/petitions", web::get().to(petitions::list))
            .route("/petitions/new", web::get().to(petitions::new))
            .route("/petitions", web::post().to(petitions::create))
            .route("/petitions/{id}", web::get().to(petitions::edit))
            .route("/petitions/{id}", web::post().to(petitions::update))
            .route(
                "/petitions/{id}/signatures.csv",
                web::get().to(petitions::signatures_csv),
            )
            .route(
                "/petitions/{id}/counts.csv",
                web::get().to(petitions::counts_csv),
            )
            .route(
                "/petitions/{id}/dossier.zip",
                web::get().to(petitions::dossier),
            )
            .route("/lists", web::get().to(lists::index))
            .route("/lists", web::post().to(lists::create))
            .route("/lists/{id}/import", web::post().to(lists::import))
            .route("/supporters", web::get().to(supporters::search))
            .route(
                "/supporters/{id}/export.json",
                web::get().to(supporters::subject_access),
            )
            .route(
                "/supporters/{id}/erase",
                web::get().to(supporters::erase_confirm),
            )
            .route("/supporters/{id}/erase", web::post().to(supporters::erase))
            .route("/alerts", web::get().to(alerts::list))
            .route("/alerts/new", web::get().to(alerts::compose))
            .route("/alerts", web::post().to(alerts::create))
            // Before `/alerts/{id}`, which would take it for an id.
            .route(
                "/alerts/audience.json",
                web::post().to(alerts::audience_count_new),
            )
            .route("/alerts/{id}", web::get().to(alerts::show))
            .route("/alerts/{id}", web::post().to(alerts::update))
            .route("/alerts/{id}/preview", web::get().to(alerts::preview_saved))
            .route("/alerts/{id}/preview", web::post().to(alerts::preview))
            .route("/alerts/{id}/test", web::post().to(alerts::test_send))
            .route("/alerts/{id}/send", web::get().to(alerts::confirm_send))
            .route("/alerts/{id}/send", web::post().to(alerts::send))
            .route("/alerts/{id}/cancel", web::post().to(alerts::cancel))
            .route(
                "/alerts/{id}/audience.json",
                web::post().to(alerts::audience_count_of),
            )
            .route("/alerts/{id}/schedule", web::post().to(alerts::schedule))
            .route("/alerts/{id}/approve", web::post().to(alerts::approve))
            .route("/alerts/{id}/resume", web::post().to(alerts::resume))
            .route("/reports", web::get().to(reports::list))
            .route("/reports/{id}/discard", web::post().to(reports::discard))
            .route(
                "/alerts/{id}/domains/{domain}/resume",
                web::post().to(alerts::resume_domain),
            )
            .route(
                "/alerts/{id}/progress.json",
                web::get().to(alerts::progress),
            )
            .route("/assets/console.js", web::get().to(console_js))
            .route("/assets/console.css", web::get().to(console_css))
            .default_service(web::to(not_found)),
    );
}

const CONSOLE_CSS: &str = include_str!("../../../assets/console.css");

async fn console_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CONSOLE_CSS)
}

const CONSOLE_JS: &str = include_str!("../../../assets/console.js");

async fn console_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CONSOLE_JS)
}

async fn not_found(c: Console) -> HttpResponse {
    c.fail(Fail::NotFound)
}

/// A signed-in user's request: who, with what role, and what a page needs.
pub struct Console {
    pub state: web::Data<AppState>,
    pub page: Page,
    pub user: User,
    pub role: Role,
    /// The session's id: what its CSRF token is made from.
    pub sid: String,
}

/// Why a console request has no [`Console`]: the visitor is signed out (or
/// the session is forged, expired, or its user gone).
#[derive(Debug)]
pub struct SignedOut {
    next: String,
}

impl std::fmt::Display for SignedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("signed out")
    }
}

impl actix_web::ResponseError for SignedOut {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }
    fn error_response(&self) -> HttpResponse {
        let next: String = url::form_urlencoded::byte_serialize(self.next.as_bytes()).collect();
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/admin/login?next={next}")))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }
}

impl FromRequest for Console {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Console, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;
            let next = if req.method() == actix_web::http::Method::GET {
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/admin".into())
            } else {
                "/admin".into()
            };
            let signed_out = || actix_web::Error::from(SignedOut { next: next.clone() });
            // A genuine cookie names a session; the session's server-side
            // record (live, its user enabled) is what lets the request in.
            let sid = session::read(&req, &state.keys).ok_or_else(signed_out)?;
            let user = crate::campaign::users::for_session(&state.ctx, &sid)
                .await
                .map_err(actix_web::error::ErrorInternalServerError)?
                .ok_or_else(signed_out)?;
            let role = user.role;
            tracing::Span::current().record("auth.user", user.email.as_str());
            Ok(Console {
                page: Page::new(&req, &state),
                state,
                user,
                role,
                sid,
            })
        })
    }
}

/// A console form post: the [`Console`] and the fields, with the CSRF token
/// already checked (403 otherwise). Takes url-encoded and multipart bodies.
pub struct Posted {
    pub c: Console,
    pub form: Form,
}

impl FromRequest for Posted {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Posted, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let console = Console::from_request(req, payload);
        // Neither body reader reads anything until polled, after the session
        // check below.
        let length = content_length(req);
        let body = if is_multipart(req) {
            Body::Multipart(length, Parts::new(req.headers(), payload.take()))
        } else {
            Body::UrlEncoded(length, payload.take())
        };
        let cross_site = super::public::is_cross_site(
            req,
            &req.app_data::<web::Data<AppState>>()
                .map(|s| s.public.base_origin.clone())
                .unwrap_or_default(),
        );
        Box::pin(async move {
            let c = console.await?;
            let limit = body_limit(&body);
            let read = match body {
                Body::UrlEncoded(Some(n), _) | Body::Multipart(Some(n), _) if n > limit => {
                    Err(actix_web::error::PayloadError::Overflow)
                }
                Body::UrlEncoded(_, payload) => read_limited(payload, URLENCODED_LIMIT)
                    .await
                    .map(|bytes| Form::urlencoded(&bytes)),
                Body::Multipart(length, parts) => Form::multipart(parts, FORM_LIMIT, length).await,
            };
            let form = match read {
                Ok(form) => form,
                Err(e) => return Err(body_refused(&c, e)),
            };
            let ok = !cross_site
                && form
                    .get("csrf")
                    .is_some_and(|t| session::csrf_ok(&c.state.keys, &c.sid, t));
            if !ok {
                tracing::warn!("console form refused: bad or missing CSRF token");
                let r = c.fail(Fail::Forbidden);
                return Err(actix_web::error::InternalError::from_response("csrf", r).into());
            }
            Ok(Posted { c, form })
        })
    }
}

/// Largest url-encoded console form: the alert composer's text, percent-
/// encoded (six bytes for each Cyrillic or Arabic letter), stays well
/// under it. Only file uploads (multipart) get [`FORM_LIMIT`].
pub const URLENCODED_LIMIT: usize = 4 * 1024 * 1024;

/// A form body, not yet read, with the length it declares, if any.
enum Body {
    UrlEncoded(Option<usize>, actix_web::dev::Payload),
    Multipart(Option<usize>, Parts),
}

/// A multipart reader that knows when its body has ended.
///
/// actix-multipart waits for more bytes when a body stops inside a part
/// within four bytes of a `\r` (it might be the start of a boundary), even
/// after the body has ended: with nothing left to wake it, such a request
/// would hang until the client gave up. Here, waiting once the body is over
/// is what it is: an incomplete body, the client's 400.
pub struct Parts {
    parts: actix_multipart::Multipart,
    ended: Rc<Cell<bool>>,
}

impl Parts {
    pub fn new<S>(headers: &header::HeaderMap, body: S) -> Parts
    where
        S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>
            + 'static,
    {
        use futures_util::StreamExt;
        let ended = Rc::new(Cell::new(false));
        let seen = ended.clone();
        let body = body.chain(futures_util::stream::poll_fn(move |_| {
            seen.set(true);
            std::task::Poll::Ready(None)
        }));
        // actix-multipart slices past the end of a short line when the
        // boundary is under four characters (`--\n` panics with boundary
        // `a`); such a body is read as not multipart at all. RFC 2046 allows
        // one character, but no browser sends fewer than 16.
        let short = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<actix_web::mime::Mime>().ok())
            .and_then(|m| {
                m.get_param(actix_web::mime::BOUNDARY)
                    .map(|b| b.as_str().len() < 4)
            })
            .unwrap_or(false);
        let none = header::HeaderMap::new();
        Parts {
            parts: actix_multipart::Multipart::new(if short { &none } else { headers }, body),
            ended,
        }
    }

    /// The next item of `stream` (the parts, or one part's bytes), or
    /// `Incomplete` where the reader would wait on a body that has ended.
    async fn next<T, S>(
        ended: &Cell<bool>,
        stream: &mut S,
    ) -> Option<Result<T, actix_multipart::MultipartError>>
    where
        S: futures_util::Stream<Item = Result<T, actix_multipart::MultipartError>> + Unpin,
    {
        use futures_util::StreamExt;
        use std::task::Poll;
        futures_util::future::poll_fn(|cx| match stream.poll_next_unpin(cx) {
            Poll::Pending if ended.get() => {
                Poll::Ready(Some(Err(actix_multipart::MultipartError::Incomplete)))
            }
            other => other,
        })
        .await
    }
}

fn body_limit(body: &Body) -> usize {
    match body {
        Body::UrlEncoded(..) => URLENCODED_LIMIT,
        Body::Multipart(..) => FORM_LIMIT,
    }
}

/// Reads a whole body of at most `limit` bytes.
async fn read_limited(
    mut payload: actix_web::dev::Payload,
    limit: usize,
) -> Result<web::Bytes, actix_web::error::PayloadError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(actix_web::error::PayloadError::Overflow);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A body too large (413, on a connection closed after the answer: the
/// client may still be sending) or cut off or badly framed (400: the
/// client's, not an error of ours to log), as a console page.
fn body_refused(c: &Console, e: actix_web::error::PayloadError) -> actix_web::Error {
    let r = match e {
        actix_web::error::PayloadError::Overflow => {
            let mut r = c.fail(Fail::TooLarge);
            r.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            r
        }
        e => {
            tracing::info!(error = %e, "console form: the body could not be read whole");
            c.fail(Fail::BadRequest)
        }
    };
    actix_web::error::InternalError::from_response("form body", r).into()
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"))
}

fn content_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Fields of a submitted form (a name may repeat: checkboxes), and files of
/// a multipart one.
#[derive(Debug, Default)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Form {
    /// An `application/x-www-form-urlencoded` body.
    pub fn urlencoded(body: &[u8]) -> Form {
        Form {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
            files: vec![],
        }
    }

    /// A `multipart/form-data` body (RFC 7578), read as it streams in: text
    /// fields, and each part with a file name as a file. More than `limit`
    /// bytes of content is `413` (as the url-encoded reader's limit is); a
    /// body that is not well-formed multipart gives no fields (so its CSRF
    /// check fails).
    ///
    /// `declared` (the body's Content-Length, if any) sizes each file's
    /// buffer once, so a file near the limit costs its size in memory, not
    /// twice that from the buffer doubling as it grows. (Pages not written
    /// to stay unmapped, so a length declared but never sent costs nothing.)
    pub async fn multipart(
        body: Parts,
        limit: usize,
        declared: Option<usize>,
    ) -> Result<Form, actix_web::error::PayloadError> {
        use futures_util::FutureExt;
        // A parser that panics on some body is a bug (one is worked around
        // in [`Parts::new`]); it must not take the worker down with it.
        std::panic::AssertUnwindSafe(Form::read_parts(body, limit, declared))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::warn!("console form: the multipart reader panicked; refused as malformed");
                Err(actix_web::error::PayloadError::Incomplete(None))
            })
    }

    async fn read_parts(
        body: Parts,
        limit: usize,
        declared: Option<usize>,
    ) -> Result<Form, actix_web::error::PayloadError> {
        use actix_multipart::MultipartError;

        let overflow = || actix_web::error::PayloadError::Overflow;
        let mut form = Form::default();
        let mut total = 0usize;
        let refused = |e: MultipartError| match e {
            // Cut off or badly framed underneath: the client's 400.
            MultipartError::Payload(p) => Err(p),
            MultipartError::Incomplete => Err(actix_web::error::PayloadError::Incomplete(None)),
            other => {
                tracing::debug!(error = %other, "console form: not well-formed multipart");
                Ok(Form::default())
            }
        };
        let Parts { mut parts, ended } = body;
        while let Some(part) = Parts::next(&ended, &mut parts).await {
            let mut part = match part {
                Ok(p) => p,
                Err(e) => return refused(e),
            };
            let disposition = part.content_disposition();
            let name = disposition.and_then(|d| d.get_name()).map(str::to_string);
            let is_file = disposition.is_some_and(|d| d.get_filename().is_some());
            let mut content = match declared {
                Some(n) if is_file => Vec::with_capacity(n.min(limit)),
                _ => Vec::new(),
            };
            while let Some(chunk) = Parts::next(&ended, &mut part).await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => return refused(e),
                };
                total += chunk.len();
                if total > limit {
                    return Err(overflow());
                }
                content.extend_from_slice(&chunk);
            }
            let Some(name) = name else { continue };
            if is_file {
                form.files.push((name, content));
            } else {
                form.fields
                    .push((name, String::from_utf8_lossy(&content).into_owned()));
            }
        }
        Ok(form)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn value(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Takes the file named `name` out of the form, without copying it.
    pub fn take_file(&mut self, name: &str) -> Option<Vec<u8>> {
        let at = self.files.iter().position(|(k, _)| k == name)?;
        Some(self.files.swap_remove(at).1)
    }

    /// The fields named in `names` as a JSON object of strings, blanks left
    /// out: the body the API's parsers take.
    pub fn json(&self, names: &[&str]) -> Value {
        let mut m = serde_json::Map::new();
        for n in names {
            if let Some(v) = self.value(n) {
                m.insert((*n).to_string(), Value::String(v));
            }
        }
        Value::Object(m)
    }
}

impl Console {
    pub fn t(&self, key: &str) -> &'static str {
        self.page.t(key)
    }

    /// How the user appears in the audit log.
    pub fn audit_name(&self) -> String {
        format!("user:{}", self.user.email)
    }

    /// The signed-in user as the campaign layer's actions take them.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user.id.clone(),
            email: self.user.email.clone(),
            role: self.role,
        }
    }

    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    /// `Err(Forbidden)` unless the user's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), Fail> {
        if self.can(role) {
            Ok(())
        } else {
            Err(Fail::Forbidden)
        }
    }

    pub fn csrf(&self) -> String {
        session::csrf_token(&self.state.keys, &self.sid)
    }

    /// Renders `pages/admin/{name}.html` in the console layout.
    pub fn render(&self, name: &str, title: &str, data: Value) -> HttpResponse {
        self.render_status(StatusCode::OK, name, title, data)
    }

    pub fn render_status(
        &self,
        status: StatusCode,
        name: &str,
        title: &str,
        mut data: Value,
    ) -> HttpResponse {
        let nav: Vec<Value> = [
            ("/admin", "admin_nav_dashboard", Role::Organiser),
            ("/admin/cases", "admin_nav_cases", Role::Organiser),
            ("/admin/petitions", "admin_nav_petitions", Role::Organiser),
            ("/admin/lists", "admin_nav_lists", Role::Organiser),
            ("/admin/supporters", "admin_nav_supporters", Role::Organiser),
            ("/admin/alerts", "admin_nav_alerts", Role::Organiser),
            ("/admin/reports", "admin_nav_reports", Role::Campaigner),
            ("/admin/users", "admin_nav_users", Role::Admin),
        ]
        .iter()
        .filter(|(_, _, r)| self.can(*r))
        .map(|(href, key, _)| {
            let current = if *href == "/admin" {
                self.page.path == "/admin" || self.page.path == "/admin/"
            } else {
                self.page.path.starts_with(href)
            };
            json!({"href": href, "label": self.t(key), "current": current})
        })
        .collect();
        if let Some(d) = data.as_object_mut() {
            d.insert(
                "me".into(),
                json!({"email": self.user.email, "role": self.t(&format!("admin_role_{}", self.role.as_str()))}),
            );
            d.insert("csrf".into(), json!(self.csrf()));
            d.insert("nav".into(), json!(nav));
            d.insert("can_write".into(), json!(self.can(Role::Campaigner)));
            d.insert("is_admin".into(), json!(self.can(Role::Admin)));
            d.entry("notice").or_insert(Value::Null);
            d.entry("refresh").or_insert(Value::Null);
        }
        let mut r = self.page.render(
            &self.state,
            status,
            &format!("pages/admin/{name}.html"),
            title,
            data,
            Framing::Nobody,
        );
        // The console's scripts fetch from the console (progress, preview).
        extend_csp(&mut r, "connect-src 'self'");
        r
    }

    pub fn fail(&self, fail: Fail) -> HttpResponse {
        if matches!(fail, Fail::Forbidden | Fail::NotFound) {
            let (status, key) = match fail {
                Fail::Forbidden => (StatusCode::FORBIDDEN, "403"),
                _ => (StatusCode::NOT_FOUND, "404"),
            };
            let title = self.t(&format!("error_{key}_title"));
            return self.render_status(
                status,
                "error",
                title,
                json!({"heading": title, "message": self.t(&format!("admin_error_{key}"))}),
            );
        }
        self.page.error(&self.state, fail)
    }

    /// The response for a handler's result.
    pub fn finish(&self, r: Result<HttpResponse, Fail>) -> HttpResponse {
        r.unwrap_or_else(|f| self.fail(f))
    }
}

/// Adds `directive` to a rendered page's Content-Security-Policy.
pub fn extend_csp(r: &mut HttpResponse, directive: &str) {
    let h = r.headers_mut();
    let Some(csp) = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if let Ok(v) = header::HeaderValue::from_str(&format!("{csp}; {directive}")) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A 303 to `to` (after a successful post).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// An API error as a console failure, or its field messages for the form.
pub enum Outcome {
    Fields(Vec<FieldError>),
    Fail(Fail),
}

impl Console {
    /// A campaign action's error as this page shows it: field errors beside
    /// their fields, an error about one field beside it in the page's
    /// language, an error about the whole form above it (`errors._form`),
    /// and the rest as the console's error pages.
    pub fn outcome(&self, e: CampaignError) -> Outcome {
        match e {
            CampaignError::Invalid(v) => Outcome::Fields(v),
            CampaignError::NotFound { .. } => Outcome::Fail(Fail::NotFound),
            CampaignError::Forbidden => Outcome::Fail(Fail::Forbidden),
            CampaignError::Internal(e) => Outcome::Fail(Fail::Internal(e)),
            e => {
                let key = format!("campaign_error_{}", e.code());
                let message = self
                    .page
                    .locale
                    .lookup(&key)
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                let field = e.field().unwrap_or(FORM_FIELD);
                Outcome::Fields(vec![FieldError::new(field, message)])
            }
        }
    }

    /// A campaign action's error on a page with no form to show it beside.
    pub fn campaign_fail(&self, e: CampaignError) -> Fail {
        match self.outcome(e) {
            Outcome::Fail(f) => f,
            Outcome::Fields(v) => Fail::Internal(anyhow::anyhow!("unexpected field errors: {v:?}")),
        }
    }
}

/// The pseudo-field of errors about a whole form, shown in its error summary.
pub const FORM_FIELD: &str = "_form";

/// Field errors keyed by field name, for templates (`errors.slug`).
pub fn errors_map(errors: &[FieldError]) -> Value {
    let mut m = serde_json::Map::new();
    for e in errors {
        m.entry(e.field.clone())
            .or_insert_with(|| Value::String(e.message.clone()));
    }
    Value::Object(m)
}

/// `2026-11-28 14:05 UTC`.
pub fn when(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(content_type: &str, body: &'static [u8]) -> Parts {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_str(content_type).unwrap(),
        );
        // In small pieces, as a network delivers it.
        let chunks = body
            .chunks(7)
            .map(|c| Ok::<_, actix_web::error::PayloadError>(web::Bytes::from_static(c)));
        Parts::new(&headers, futures_util::stream::iter(chunks))
    }

    const BODY: &[u8] = b"--XyZzy\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok.en\r\n\
--XyZzy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n\
email\r\na@example.org\r\n\r\n--XyZzy--\r\n";

    fn multipart_owned(body: Vec<u8>, piece: usize) -> Parts {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("multipart/form-data; boundary=XyZzy"),
        );
        let chunks: Vec<_> = body
            .chunks(piece.max(1))
            .map(|c| Ok::<_, actix_web::error::PayloadError>(web::Bytes::copy_from_slice(c)))
            .collect();
        Parts::new(&headers, futures_util::stream::iter(chunks))
    }

    /// Reads a form from a body that is all there: the reader must finish
    /// in one poll, as nothing more will ever arrive to wake it.
    fn read_now(body: Vec<u8>, piece: usize) -> Result<Form, actix_web::error::PayloadError> {
        use futures_util::FutureExt;
        Form::multipart(multipart_owned(body, piece), 256, None)
            .now_or_never()
            .expect("the multipart reader waits on a body that has ended")
    }

    #[test]
    fn a_body_that_ends_just_after_a_cr_inside_a_part_is_incomplete_not_a_hang() {
        let mut body = BODY[..BODY.len() - 20].to_vec();
        body.extend_from_slice(b"data\r\xb5\xf4");
        for piece in [1, 7, 19, body.len()] {
            let read = read_now(body.clone(), piece);
            assert!(
                matches!(read, Err(actix_web::error::PayloadError::Incomplete(_))),
                "{read:?}"
            );
        }
    }

    #[test]
    fn a_boundary_under_four_characters_is_not_read_as_multipart() {
        // actix-multipart panics on `--\n` with a boundary of one character.
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("multipart/form-data; boundary=a"),
        );
        let body = futures_util::stream::iter([Ok::<_, actix_web::error::PayloadError>(
            web::Bytes::from_static(b"--\n--a\r\n"),
        )]);
        use futures_util::FutureExt;
        let form = Form::multipart(Parts::new(&headers, body), 256, None)
            .now_or_never()
            .unwrap()
            .unwrap();
        assert!(form.fields.is_empty() && form.files.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever bytes arrive, in whatever pieces, reading the form ends
        /// at once (with fields or a refusal), never panics, and keeps to
        /// its limit.
        #[test]
        fn any_multipart_body_is_read_or_refused_within_its_limit(
            prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            cut in 0usize..400,
            piece in 1usize..64,
        ) {
            // A well-formed start often, so the parts reader gets past the
            // boundary and meets the arbitrary bytes inside a part.
            let mut body = if cut % 2 == 0 { BODY[..cut.min(BODY.len())].to_vec() } else { prefix };
            body.extend_from_slice(&tail);
            if let Ok(form) = read_now(body, piece) {
                let size: usize = form.fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                    + form.files.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                proptest::prop_assert!(size <= 256 + 64, "read {size} bytes past a limit of 256");
            }
        }
    }

    #[actix_web::test]
    async fn a_multipart_form_gives_its_fields_and_file_bytes_exactly() {
        let f = Form::multipart(
            multipart("multipart/form-data; boundary=XyZzy", BODY),
            1024,
            None,
        )
        .await
        .unwrap();
        assert_eq!(f.get("csrf"), Some("tok.en"));
        assert_eq!(f.file("file"), Some(&b"email\r\na@example.org\r\n"[..]));
        let none = Form::multipart(multipart("multipart/form-data", BODY), 1024, None)
            .await
            .unwrap();
        assert!(none.fields.is_empty() && none.files.is_empty());
    }

    #[actix_web::test]
    async fn a_multipart_form_over_the_limit_is_refused() {
        let e = Form::multipart(
            multipart("multipart/form-data; boundary=XyZzy", BODY),
            10,
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, actix_web::error::PayloadError::Overflow));
    }

    #[test]
    fn url_encoded_forms_keep_repeated_names() {
        let f = Form::urlencoded(b"list_ids=a&list_ids=b&subject=+Hi+there+&empty=");
        assert_eq!(f.all("list_ids"), vec!["a", "b"]);
        assert_eq!(f.value("subject").as_deref(), Some("Hi there"));
        assert_eq!(f.value("empty"), None);
        assert_eq!(
            f.json(&["subject", "empty"]),
            json!({"subject": "Hi there"})
        );
    }
}
