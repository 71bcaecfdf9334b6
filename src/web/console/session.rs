//! Console sessions: a cookie holding `user_id|session_id|issued|expiry`
//! (times in Unix milliseconds), signed
//! with the process keys (HMAC-SHA256), `HttpOnly`, `SameSite=Strict`,
//! `Path=/admin`, `Secure` when the base URL is https. Nothing is stored
//! server-side; the user row is read on every request, so a deleted user or a
//! changed role takes effect at once, and a session issued before the user's
//! `updated_at` is void: signing out (or a role change) ends every session
//! of that user, including a copied cookie. CSRF tokens are an HMAC of the session
//! id under their own purpose, so a token from one session fails in another.
//!
//! This module only makes and reads cookies; what ends sessions server-side
//! (moving the user's `updated_at`) is `campaign::users`.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;

use crate::domain::UserId;
use crate::security::Keys;

pub const COOKIE: &str = "clarion_session";
/// Holds the random value the sign-in form's CSRF token is made from.
pub const LOGIN_COOKIE: &str = "clarion_login";
/// How long a session lasts after sign-in.
pub const SESSION_HOURS: i64 = 8;

const SESSION_PURPOSE: &str = "console-session";
const CSRF_PURPOSE: &str = "console-csrf";
const LOGIN_PURPOSE: &str = "console-login";

pub struct Session {
    pub user_id: UserId,
    pub sid: String,
    /// When the session began, Unix milliseconds.
    pub issued_ms: i64,
}

impl Session {
    /// False when the user's record changed (sign-out, role) after the
    /// session began.
    pub fn still_valid_for(&self, user_updated_at: chrono::NaiveDateTime) -> bool {
        self.issued_ms >= user_updated_at.and_utc().timestamp_millis()
    }
}

/// The valid, unexpired session of the request, if any.
pub fn read(req: &HttpRequest, keys: &Keys) -> Option<Session> {
    let cookie = req.cookie(COOKIE)?;
    let payload = keys.verify(SESSION_PURPOSE, cookie.value())?;
    let mut parts = payload.split('|');
    let (user_id, sid) = (parts.next()?, parts.next()?);
    let issued_ms: i64 = parts.next()?.parse().ok()?;
    let exp_ms: i64 = parts.next()?.parse().ok()?;
    if exp_ms <= chrono::Utc::now().timestamp_millis() {
        return None;
    }
    Some(Session {
        user_id: UserId::parse(user_id).ok()?,
        sid: sid.to_string(),
        issued_ms,
    })
}

fn secure(base_url: &str) -> bool {
    base_url.starts_with("https://")
}

fn cookie<'a>(name: &'a str, value: String, base_url: &str, max_age: time::Duration) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(base_url))
        .max_age(max_age)
        .finish()
}

/// A new session cookie for `user_id`.
pub fn start(keys: &Keys, base_url: &str, user_id: &UserId) -> Cookie<'static> {
    let sid = crate::security::random_token();
    let now = chrono::Utc::now().timestamp_millis();
    let exp = now + SESSION_HOURS * 3600 * 1000;
    let value = keys.sign(SESSION_PURPOSE, &format!("{user_id}|{sid}|{now}|{exp}"));
    cookie(
        COOKIE,
        value,
        base_url,
        time::Duration::hours(SESSION_HOURS),
    )
}

/// The cookie that ends a session in the browser.
pub fn end(base_url: &str) -> Cookie<'static> {
    cookie(COOKIE, String::new(), base_url, time::Duration::ZERO)
}

pub fn csrf_token(keys: &Keys, sid: &str) -> String {
    keys.sign(CSRF_PURPOSE, sid)
}

pub fn csrf_ok(keys: &Keys, sid: &str, token: &str) -> bool {
    keys.verify(CSRF_PURPOSE, token).as_deref() == Some(sid)
}

/// The sign-in form's CSRF pair: the cookie's random value (kept if the
/// browser has one) and the token for the form.
pub fn login_csrf(req: &HttpRequest, keys: &Keys, base_url: &str) -> (Cookie<'static>, String) {
    let nonce = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32 && v.len() <= 64)
        .unwrap_or_else(crate::security::random_token);
    let token = keys.sign(LOGIN_PURPOSE, &nonce);
    (
        cookie(LOGIN_COOKIE, nonce, base_url, time::Duration::hours(2)),
        token,
    )
}

pub fn login_csrf_ok(req: &HttpRequest, keys: &Keys, token: &str) -> bool {
    match req.cookie(LOGIN_COOKIE) {
        Some(c) => keys.verify(LOGIN_PURPOSE, token).as_deref() == Some(c.value()),
        None => false,
    }
}
