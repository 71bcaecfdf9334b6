//! Signing in and out, and the admins' users page.
//!
//! Failed sign-ins are slowed (each answer waits longer, up to 2 s) and, at
//! [`LOCK_AFTER_FAILURES`](crate::db::users::LOCK_AFTER_FAILURES) in a row,
//! lock the account for a while, even against the right password. An unknown
//! email is answered like a wrong password, after the same argon2 work.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{see_other, session, Console, Posted, Role};
use crate::db::{self, DbError};
use crate::domain::Email;
use crate::error::FieldError;
use crate::web::public::{Fail, Framing, Page};
use crate::web::AppState;

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path inside the console: never an absolute or protocol-relative URL.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/admin".into(),
    }
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
    if let Some(s) = session::read(&req, &state.keys) {
        let uid = s.user_id.clone();
        if let Ok(Some(u)) = state.db.run(move |c| db::users::get(c, &uid)).await {
            if s.still_valid_for(u.updated_at) {
                return see_other(&safe_next(q.next.as_deref()));
            }
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

enum Attempt {
    Ok(String),
    Wrong(i32),
    Locked,
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let form = super::Form::parse("application/x-www-form-urlencoded", &body);
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
    let email = match Email::parse(&email_in) {
        Ok(e) => e.as_str().to_string(),
        Err(_) => {
            return login_form(
                &req,
                &state,
                StatusCode::UNAUTHORIZED,
                &email_in,
                &next,
                Some(wrong),
            )
        }
    };
    let e = email.clone();
    let attempt = state
        .db
        .run(move |c| -> Result<Attempt, DbError> {
            let now = db::now();
            let user = db::users::get_by_email(c, &e)?;
            let Some(user) = user else {
                crate::security::verify_password(&password, crate::security::dummy_password_hash());
                return Ok(Attempt::Wrong(1));
            };
            if user.locked_until.is_some_and(|t| t > now) {
                db::audit::record(
                    c,
                    &format!("user:{e}"),
                    "user.login_locked",
                    "user",
                    Some(&user.id),
                    None,
                )?;
                return Ok(Attempt::Locked);
            }
            if crate::security::verify_password(&password, &user.password_hash) {
                db::write_tx(c, |c| {
                    db::users::record_success(c, &user.id, now)?;
                    db::audit::record(
                        c,
                        &format!("user:{e}"),
                        "user.login",
                        "user",
                        Some(&user.id),
                        None,
                    )
                })?;
                Ok(Attempt::Ok(user.id))
            } else {
                let n = db::write_tx(c, |c| {
                    let n = db::users::record_failure(c, &user.id, now)?;
                    db::audit::record(
                        c,
                        &format!("user:{e}"),
                        "user.login_failed",
                        "user",
                        Some(&user.id),
                        Some(&format!("{n} in a row")),
                    )?;
                    Ok::<_, DbError>(n)
                })?;
                Ok(Attempt::Wrong(n))
            }
        })
        .await;
    match attempt {
        Ok(Attempt::Ok(user_id)) => {
            let mut r = see_other(&next);
            let _ = r.add_cookie(&session::start(
                &state.keys,
                &state.settings.base_url,
                &user_id,
            ));
            let _ = r.add_removal_cookie(
                &actix_web::cookie::Cookie::build(session::LOGIN_COOKIE, "")
                    .path("/admin")
                    .finish(),
            );
            r
        }
        Ok(Attempt::Wrong(n)) => {
            // Slows guessing: 250 ms per failure in a row, at most 2 s.
            let delay = (n.clamp(1, 8) as u64) * 250;
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            login_form(
                &req,
                &state,
                StatusCode::UNAUTHORIZED,
                &email,
                &next,
                Some(wrong),
            )
        }
        Ok(Attempt::Locked) => login_form(
            &req,
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(page.t("admin_login_locked")),
        ),
        Err(e) => page.error(&state, Fail::Internal(e.into())),
    }
}

pub async fn logout(p: Posted) -> HttpResponse {
    let c = &p.c;
    let (actor, uid) = (c.audit_name(), c.user.id.clone());
    let done = c
        .state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                db::users::revoke_sessions(conn, &uid, db::now())?;
                db::audit::record(conn, &actor, "user.logout", "user", Some(&uid), None)
            })
        })
        .await;
    if let Err(e) = done {
        return c.fail(Fail::Internal(e.into()));
    }
    let mut r = see_other("/admin/login");
    let _ = r.add_cookie(&session::end(&c.state.settings.base_url));
    r
}

const ROLES: [&str; 3] = ["organiser", "campaigner", "admin"];

async fn users_page(
    c: &Console,
    status: StatusCode,
    form: Value,
    errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    c.require(Role::Admin)?;
    let users = c.state.db.run(db::users::all).await?;
    let rows: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "role_name": c.t(&format!("admin_role_{}", u.role)),
                "last_login": u.last_login_at.map(super::when),
                "locked": u.locked_until.is_some_and(|t| t > db::now()),
                "roles": ROLES.iter().map(|r| json!({"value": r, "label": c.t(&format!("admin_role_{r}")), "selected": *r == u.role})).collect::<Vec<_>>(),
                "is_me": u.id == c.user.id,
            })
        })
        .collect();
    let roles: Vec<Value> = ROLES
        .iter()
        .map(|r| json!({"value": r, "label": c.t(&format!("admin_role_{r}")), "selected": form.get("role").and_then(Value::as_str) == Some(r)}))
        .collect();
    Ok(c.render_status(
        status,
        "users",
        c.t("admin_users_title"),
        json!({"users": rows, "roles": roles, "form": form, "errors": super::errors_map(errors)}),
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
        let role = form.get("role").unwrap_or("").to_string();
        let password = form.get("password").unwrap_or("").to_string();
        let mut errors = vec![];
        let email = Email::parse(&email_in);
        if email.is_err() {
            errors.push(FieldError::new("email", c.t("admin_users_bad_email")));
        }
        if !ROLES.contains(&role.as_str()) {
            errors.push(FieldError::new("role", c.t("admin_users_bad_role")));
        }
        if password.chars().count() < crate::commands::MIN_PASSWORD_CHARS {
            errors.push(FieldError::new(
                "password",
                c.t("admin_users_short_password"),
            ));
        }
        let form_back = json!({"email": email_in, "role": role});
        if !errors.is_empty() {
            return users_page(&c, StatusCode::UNPROCESSABLE_ENTITY, form_back, &errors).await;
        }
        let email = email.expect("checked").as_str().to_string();
        let hash = crate::security::hash_password(&password)?;
        let actor = c.audit_name();
        let r2 = role.clone();
        let created = c
            .state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    if db::users::get_by_email(conn, &email)?.is_some() {
                        return Ok::<_, DbError>(false);
                    }
                    let id = db::users::create(conn, &email, &r2, &hash)?;
                    db::audit::record(conn, &actor, "user.create", "user", Some(&id), Some(&r2))?;
                    Ok(true)
                })
            })
            .await?;
        if !created {
            let errors = [FieldError::new("email", c.t("admin_users_exists"))];
            return users_page(&c, StatusCode::UNPROCESSABLE_ENTITY, form_back, &errors).await;
        }
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}

pub async fn change_role(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Admin)?;
        let role = form.get("role").unwrap_or("").to_string();
        if !ROLES.contains(&role.as_str()) {
            return Err(Fail::NotFound);
        }
        let id = id.into_inner();
        if id == c.user.id {
            // An admin cannot demote themselves: the last admin would lock everyone out.
            return Err(Fail::Forbidden);
        }
        let actor = c.audit_name();
        let found = c
            .state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    let ok = db::users::set_role(conn, &id, &role)?;
                    if ok {
                        db::audit::record(
                            conn,
                            &actor,
                            "user.role",
                            "user",
                            Some(&id),
                            Some(&role),
                        )?;
                    }
                    Ok::<_, DbError>(ok)
                })
            })
            .await?;
        if !found {
            return Err(Fail::NotFound);
        }
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
        let password = form.get("password").unwrap_or("").to_string();
        if password.chars().count() < crate::commands::MIN_PASSWORD_CHARS {
            let errors = [FieldError::new("reset", c.t("admin_users_short_password"))];
            return users_page(
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"email": ""}),
                &errors,
            )
            .await;
        }
        let hash = crate::security::hash_password(&password)?;
        let id = id.into_inner();
        let actor = c.audit_name();
        let found = c
            .state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    let ok = db::users::set_password(conn, &id, &hash)?;
                    if ok {
                        db::audit::record(conn, &actor, "user.password", "user", Some(&id), None)?;
                    }
                    Ok::<_, DbError>(ok)
                })
            })
            .await?;
        if !found {
            return Err(Fail::NotFound);
        }
        Ok(see_other("/admin/users"))
    }
    .await;
    c.finish(r)
}
