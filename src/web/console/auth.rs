//! Signing in and out, and the admins' users page: the console's face of
//! `campaign::users`, which holds the rules (password length, lockout, who
//! may change whom) and records every step in the audit log.
//!
//! Failed sign-ins are slowed here (each answer waits longer, up to 2 s);
//! who is locked out of what, and for how long, is
//! [`crate::campaign::sign_in_guard`]'s: per client, per address and client,
//! and per address, alike for known and unknown addresses, so no answer tells
//! who has an account.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{see_other, session, Console, Outcome, Posted, Role};
use crate::campaign::users::{self, NewUser, Password, SignIn};
use crate::campaign::CampaignError;
use crate::domain::{Email, UserId};
use crate::error::FieldError;
use crate::web::public::{Fail, Framing, Page};
use crate::web::AppState;

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path inside the console: never an absolute or protocol-relative
/// URL, and never one holding a control character (a line break would make
/// the `Location` header invalid).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/admin".into(),
    }
}

/// Largest sign-in form read: an email, a password, a CSRF token and a
/// path fit many times over. Anyone may post here, so the body is refused
/// (413) before it is read when it says it is larger, and as soon as it
/// grows larger when it does not say.
pub const LOGIN_LIMIT: usize = 16 * 1024;

/// The sign-in body, at most [`LOGIN_LIMIT`] bytes: `413` past it, `400`
/// when the body is cut short or broken off.
async fn login_body(
    req: &HttpRequest,
    state: &AppState,
    mut payload: web::Payload,
) -> Result<web::Bytes, HttpResponse> {
    use futures_util::StreamExt;
    let too_large = || Page::new(req, state).error(state, Fail::TooLarge);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > LOGIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "sign-in body broken off");
            HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body("The request body was cut short.")
        })?;
        if body.len() + chunk.len() > LOGIN_LIMIT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn login_form(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<&str>,
) -> HttpResponse {
    let page = Page::new(req, state);
    let (cookie, token) = session::login_csrf(req, &state.keys, &state.settings.base_url);
    let mut r = page.render(
        state,
        status,
        "pages/admin/login.html",
        page.t("admin_login_title"),
        json!({"email": email, "next": next, "csrf": token, "error": error}),
        Framing::Nobody,
    );
    let _ = r.add_cookie(&cookie);
    r
}

pub async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> HttpResponse {
    if let Some(sid) = session::read(&req, &state.keys) {
        if let Ok(Some(_)) = users::for_session(&state.ctx, &sid).await {
            return see_other(&safe_next(q.next.as_deref()));
        }
    }
    login_form(
        &req,
        &state,
        StatusCode::OK,
        "",
        &safe_next(q.next.as_deref()),
        None,
    )
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match login_body(&req, &state, payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form = super::Form::urlencoded(&body);
    let next = safe_next(form.get("next"));
    let email_in = form.get("email").unwrap_or("").trim().to_string();
    let token_ok = form
        .get("csrf")
        .is_some_and(|t| session::login_csrf_ok(&req, &state.keys, t));
    let page = Page::new(&req, &state);
    if !token_ok || crate::web::public::is_cross_site(&req, &state.public.base_origin) {
        return page.error(&state, Fail::Forbidden);
    }
    let password = form.get("password").unwrap_or("").to_string();
    let wrong = page.t("admin_login_wrong");
    let Ok(email) = Email::parse(&email_in) else {
        return login_form(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            &email_in,
            &next,
            Some(wrong),
        );
    };
    let client = crate::web::public::client_ip(&req, &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    match users::sign_in(&state.ctx, &email, password, &client).await {
        Ok(SignIn::Welcome { session_id, .. }) => {
            let mut r = see_other(&next);
            let _ = r.add_cookie(&session::start(
                &state.keys,
                &state.settings.base_url,
                &session_id,
            ));
            let _ = r.add_removal_cookie(
                &actix_web::cookie::Cookie::build(session::LOGIN_COOKIE, "")
                    .path("/admin")
                    .finish(),
            );
            r
        }
        Ok(SignIn::Wrong { failures }) => {
            // Slows guessing: 250 ms per failure in a row, at most 2 s.
            let delay = (failures.clamp(1, 8) as u64) * 250;
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            login_form(
                &req,
                &state,
                StatusCode::UNAUTHORIZED,
                email.as_str(),
                &next,
                Some(wrong),
            )
        }
        Ok(SignIn::Locked) => login_form(
            &req,
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            email.as_str(),
            &next,
            Some(page.t("admin_login_locked")),
        ),
        Err(e) => page.error(&state, Fail::Internal(e.into())),
    }
}

pub async fn logout(p: Posted) -> HttpResponse {
    let c = &p.c;
    if let Err(e) = users::sign_out(&c.state.ctx, &c.actor(), &c.sid).await {
        return c.fail(c.campaign_fail(e));
    }
    let mut r = see_other("/admin/login");
    let _ = r.add_cookie(&session::end(&c.state.settings.base_url));
    r
}

/// The role picker's options, `selected` marking `current`.
fn role_options(c: &Console, current: Option<&str>) -> Vec<Value> {
    Role::ALL
        .iter()
        .map(|r| {
            json!({
                "value": r.as_str(),
                "label": c.t(&format!("admin_role_{r}")),
                "selected": current == Some(r.as_str()),
            })
        })
        .collect()
}

async fn users_page(
    c: &Console,
    status: StatusCode,
    form: Value,
    errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    c.require(Role::Admin)?;
    let all = users::list(&c.state.ctx, &c.actor())
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let now = c.state.ctx.now();
    let rows: Vec<Value> = all
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "role_name": c.t(&format!("admin_role_{}", u.role)),
                "last_login": u.last_login_at.map(super::when),
                "locked": users::is_locked(&c.state.ctx, u, now),
                "roles": role_options(c, Some(u.role.as_str())),
                "is_me": u.id == c.user.id,
                "disabled": u.disabled_at.is_some(),
            })
        })
        .collect();
    let tokens: Vec<Value> = crate::campaign::tokens::list(&c.state.ctx, &c.actor())
        .await
        .map_err(|e| c.campaign_fail(e))?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "role_name": c.t(&format!("admin_role_{}", t.role)),
                "created": super::when(t.created_at),
                "last_used": t.last_used_at.map(super::when),
                "expires": t.expires_at.map(super::when),
                "revoked": t.revoked_at.is_some(),
                "live": t.live,
            })
        })
        .collect();
    let roles = role_options(c, form.get("role").and_then(Value::as_str));
    Ok(c.render_status(
        status,
        "users",
        c.t("admin_users_title"),
        json!({"users": rows, "tokens": tokens, "roles": roles, "form": form, "errors": super::errors_map(errors)}),
    ))
}

pub async fn users(c: Console) -> HttpResponse {
    let r = users_page(&c, StatusCode::OK, json!({"email": ""}), &[]).await;
    c.finish(r)
}

pub async fn create_user(p: Posted) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Admin)?;
        let email_in = form.get("email").unwrap_or("").trim().to_string();
        let role_in = form.get("role").unwrap_or("").to_string();
        let password = form.get("password").unwrap_or("").to_string();
        let mut errors = vec![];
        let email = Email::parse(&email_in);
        if email.is_err() {
            errors.push(FieldError::new("email", c.t("admin_users_bad_email")));
        }
        let role = Role::parse(&role_in);
        if role.is_err() {
            errors.push(FieldError::new("role", c.t("admin_users_bad_role")));
        }
        let password = Password::new(password);
        if password.is_err() {
            errors.push(FieldError::new(
                "password",
                c.t("admin_users_short_password"),
            ));
        }
        let form_back = json!({"email": email_in, "role": role_in});
        let (Ok(email), Ok(role), Ok(password)) = (email, role, password) else {
            return users_page(&c, StatusCode::UNPROCESSABLE_ENTITY, form_back, &errors).await;
        };
        let input = NewUser {
            email,
            role,
            password,
        };
        let errors = match users::create(&c.state.ctx, &c.actor(), input).await {
            Ok(_) => return Ok(see_other("/admin/users")),
            Err(CampaignError::UserEmailTaken) => {
                vec![FieldError::new("email", c.t("admin_users_exists"))]
            }
            Err(e) => match c.outcome(e) {
                Outcome::Fields(v) => v,
                Outcome::Fail(f) => return Err(f),
            },
        };
        users_page(&c, StatusCode::UNPROCESSABLE_ENTITY, form_back, &errors).await
    }
    .await;
    c.finish(r)
}

/// A user named in a path: one that does not parse is one that is not there.
fn user_id(id: web::Path<String>) -> Result<UserId, Fail> {
    UserId::parse(&id).map_err(|_| Fail::NotFound)
}

pub async fn change_role(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Admin)?;
        let role = Role::parse(form.get("role").unwrap_or("")).map_err(|_| Fail::NotFound)?;
        let id = user_id(id)?;
        // campaign::users refuses an admin's own role change (Forbidden).
        users::change_role(&c.state.ctx, &c.actor(), &id, role)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}

/// An admin sets a user's password: the account is unlocked and every
/// session of that user ends.
pub async fn set_password(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Admin)?;
        let Ok(password) = Password::new(form.get("password").unwrap_or("")) else {
            let errors = [FieldError::new("reset", c.t("admin_users_short_password"))];
            return users_page(
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"email": ""}),
                &errors,
            )
            .await;
        };
        let id = user_id(id)?;
        users::set_password(&c.state.ctx, &c.actor(), &id, password)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}

/// Disabling or deleting a user ends every session of theirs at once.
async fn user_access(p: Posted, id: web::Path<String>, what: &'static str) -> HttpResponse {
    let Posted { c, .. } = p;
    let r = async {
        c.require(Role::Admin)?;
        let who = users::UserRef::Id(user_id(id)?);
        let (ctx, actor) = (&c.state.ctx, c.actor());
        match what {
            "disable" => users::disable(ctx, &actor, who).await,
            "enable" => users::enable(ctx, &actor, who).await,
            _ => users::delete(ctx, &actor, who).await,
        }
        .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}

pub async fn disable_user(p: Posted, id: web::Path<String>) -> HttpResponse {
    user_access(p, id, "disable").await
}

pub async fn enable_user(p: Posted, id: web::Path<String>) -> HttpResponse {
    user_access(p, id, "enable").await
}

pub async fn delete_user(p: Posted, id: web::Path<String>) -> HttpResponse {
    user_access(p, id, "delete").await
}

/// An admin revokes an API token from the users page.
pub async fn revoke_token(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, .. } = p;
    let r = async {
        c.require(Role::Admin)?;
        let id = crate::domain::TokenId::parse(&id).map_err(|_| Fail::NotFound)?;
        crate::campaign::tokens::revoke(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}
