//! Console session cookies: the cookie holds a random session id, signed
//! with the process keys (HMAC-SHA256) so a forged one is refused before the
//! database is asked, `HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Secure`
//! when the base URL is https. The id is only half of a session: the other
//! half is the server-side record (`campaign::users`, holding a hash of the
//! id), checked on every request, so signing out, disabling or deleting a
//! user, a role change or a new password voids every copy of the cookie.
//! CSRF tokens are an HMAC of the session id under their own purpose, so a
//! token from one session fails in another.
//!
//! This module only makes and reads cookies; what starts and ends sessions
//! is `campaign::users`.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;

use crate::security::Keys;

pub const COOKIE: &str = "clarion_session";
/// Holds the random value the sign-in form's CSRF token is made from.
pub const LOGIN_COOKIE: &str = "clarion_login";
pub use crate::campaign::users::SESSION_HOURS;

const SESSION_PURPOSE: &str = "console-session";
const CSRF_PURPOSE: &str = "console-csrf";
const LOGIN_PURPOSE: &str = "console-login";

/// The session id of the request's cookie, when the cookie is genuine. Its
/// server-side record is still to be checked (`campaign::users::for_session`).
pub fn read(req: &HttpRequest, keys: &Keys) -> Option<String> {
    let cookie = req.cookie(COOKIE)?;
    keys.verify(SESSION_PURPOSE, cookie.value())
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

/// The cookie for a session the campaign layer started.
pub fn start(keys: &Keys, base_url: &str, session_id: &str) -> Cookie<'static> {
    let value = keys.sign(SESSION_PURPOSE, session_id);
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
