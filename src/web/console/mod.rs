//! The web console under `/admin`: campaigners' and organisers' face of the
//! API, server-rendered with the public pages' machinery ([`Page`]: locale,
//! CSP nonce, security headers, error pages).
//!
//! Policy: every route but the sign-in page takes a [`Console`] (a signed-in
//! user, else a redirect to `/admin/login`), and every POST a [`Posted`],
//! which also checks the form's CSRF token; a handler cannot forget either.
//! Roles are the API's ([`Role`]): organisers read and export, campaigners
//! also write and send, admins also erase and manage users. Writes go through
//! the same functions as the API handlers and are recorded in the audit log
//! as `user:EMAIL`.

pub mod alerts;
pub mod auth;
pub mod cases;
pub mod dashboard;
pub mod people;
pub mod petitions;
pub mod session;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::public::{Fail, Framing, Page};
use super::AppState;
use crate::campaign::{Actor, CampaignError};
use crate::db::users::User;
use crate::domain::UserId;
use crate::error::{ApiError, FieldError};
pub use crate::web::api::auth::Role;

/// Largest form body: the CSV upload is the big one, read whole into
/// memory; larger files go through the streaming API route or the CLI.
/// Bodies are read only after the session is checked.
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
            .route("/cases", web::get().to(cases::list))
            .route("/cases/new", web::get().to(cases::new))
            .route("/cases", web::post().to(cases::create))
            .route("/cases/{id}", web::get().to(cases::edit))
            .route("/cases/{id}", web::post().to(cases::update))
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
            .route("/lists", web::get().to(people::lists))
            .route("/lists", web::post().to(people::create_list))
            .route("/lists/{id}/import", web::post().to(people::import))
            .route("/supporters", web::get().to(people::supporters))
            .route(
                "/supporters/{id}/export.json",
                web::get().to(people::subject_access),
            )
            .route(
                "/supporters/{id}/erase",
                web::get().to(people::erase_confirm),
            )
            .route("/supporters/{id}/erase", web::post().to(people::erase))
            .route("/alerts", web::get().to(alerts::list))
            .route("/alerts/new", web::get().to(alerts::compose))
            .route("/alerts", web::post().to(alerts::create))
            .route("/alerts/{id}", web::get().to(alerts::show))
            .route("/alerts/{id}", web::post().to(alerts::update))
            .route("/alerts/{id}/preview", web::get().to(alerts::preview_saved))
            .route("/alerts/{id}/preview", web::post().to(alerts::preview))
            .route("/alerts/{id}/test", web::post().to(alerts::test_send))
            .route("/alerts/{id}/send", web::get().to(alerts::confirm_send))
            .route("/alerts/{id}/send", web::post().to(alerts::send))
            .route("/alerts/{id}/cancel", web::post().to(alerts::cancel))
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
            let s = session::read(&req, &state.keys).ok_or_else(signed_out)?;
            let uid = s.user_id.clone();
            let user = state
                .db
                .run(move |c| crate::db::users::get(c, &uid))
                .await
                .map_err(actix_web::error::ErrorInternalServerError)?
                .ok_or_else(signed_out)?;
            if !s.still_valid_for(user.updated_at) {
                return Err(signed_out());
            }
            let role = Role::parse(&user.role).map_err(|_| signed_out())?;
            tracing::Span::current().record("auth.user", user.email.as_str());
            Ok(Console {
                page: Page::new(&req, &state),
                state,
                user,
                role,
                sid: s.sid,
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
        let body = web::Bytes::from_request(req, payload);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let cross_site = super::public::is_cross_site(
            req,
            &req.app_data::<web::Data<AppState>>()
                .map(|s| s.public.base_origin.clone())
                .unwrap_or_default(),
        );
        Box::pin(async move {
            let c = console.await?;
            let body = body.await?;
            let form = Form::parse(&content_type, &body);
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

/// Fields of a submitted form (a name may repeat: checkboxes), and files of
/// a multipart one.
#[derive(Debug, Default)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Form {
    pub fn parse(content_type: &str, body: &[u8]) -> Form {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("multipart/form-data") {
            return multipart(content_type, body);
        }
        Form {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
            files: vec![],
        }
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

/// A small multipart/form-data reader (RFC 7578): enough for a form with
/// text fields and one file, all in memory (the body is capped by
/// [`FORM_LIMIT`]).
fn multipart(content_type: &str, body: &[u8]) -> Form {
    let mut form = Form::default();
    let Some(boundary) = content_type.split(';').find_map(|p| {
        p.trim()
            .strip_prefix("boundary=")
            .map(|b| b.trim_matches('"').to_string())
    }) else {
        return form;
    };
    let delimiter = format!("--{boundary}").into_bytes();
    for part in split_bytes(body, &delimiter).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]);
        let mut content = &part[head_end + 4..];
        content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{key}="))
                    .map(|v| v.trim_matches('"').to_string())
            })
        };
        let Some(name) = param("name") else { continue };
        if param("filename").is_some() {
            form.files.push((name, content.to_vec()));
        } else {
            form.fields
                .push((name, String::from_utf8_lossy(content).into_owned()));
        }
    }
    form
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut hay: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = vec![];
    while let Some(i) = find(hay, delim) {
        out.push(&hay[..i]);
        hay = &hay[i + delim.len()..];
    }
    out.push(hay);
    out
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
            // User ids are the UUIDs this service made.
            id: UserId::parse(&self.user.id).unwrap_or_default(),
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

impl From<ApiError> for Outcome {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Validation(v) => Outcome::Fields(v),
            ApiError::Conflict(m) | ApiError::BadRequest(m) => {
                Outcome::Fields(vec![FieldError::new("slug", m)])
            }
            ApiError::NotFound(_) => Outcome::Fail(Fail::NotFound),
            ApiError::Forbidden | ApiError::Unauthorized => Outcome::Fail(Fail::Forbidden),
            other => Outcome::Fail(Fail::Internal(anyhow::anyhow!(other))),
        }
    }
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

pub fn api_fail(e: ApiError) -> Fail {
    match Outcome::from(e) {
        Outcome::Fail(f) => f,
        Outcome::Fields(v) => Fail::Internal(anyhow::anyhow!("unexpected field errors: {v:?}")),
    }
}

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

    #[test]
    fn a_multipart_form_gives_its_fields_and_file_bytes_exactly() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok.en\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n\
email\r\na@example.org\r\n\r\n--XyZ--\r\n";
        let f = Form::parse("multipart/form-data; boundary=XyZ", body);
        assert_eq!(f.get("csrf"), Some("tok.en"));
        assert_eq!(f.file("file"), Some(&b"email\r\na@example.org\r\n"[..]));
        let none = Form::parse("multipart/form-data", body);
        assert!(none.fields.is_empty() && none.files.is_empty());
    }

    #[test]
    fn url_encoded_forms_keep_repeated_names() {
        let f = Form::parse(
            "application/x-www-form-urlencoded",
            b"list_ids=a&list_ids=b&subject=+Hi+there+&empty=",
        );
        assert_eq!(f.all("list_ids"), vec!["a", "b"]);
        assert_eq!(f.value("subject").as_deref(), Some("Hi there"));
        assert_eq!(f.value("empty"), None);
        assert_eq!(
            f.json(&["subject", "empty"]),
            json!({"subject": "Hi there"})
        );
    }
}
