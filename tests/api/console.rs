//! The web console under /admin, driven over HTTP like a browser would:
//! a cookie-keeping client, forms with their CSRF tokens.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};

use crate::backend_tests;
use crate::helpers::{clarion_bin, spawn_app, Backend, Person, TestApp};

backend_tests!(
    a_signed_out_visitor_is_sent_to_the_login_page,
    a_user_signs_in_sees_the_dashboard_and_signs_out,
    a_wrong_password_fails_and_repeated_failures_lock_the_account,
    a_form_without_its_csrf_token_is_refused,
    only_admins_manage_users_and_every_action_is_audited,
    user_create_cli_makes_a_user_who_can_sign_in,
);

pub const PASSWORD: &str = "correct horse battery";

/// A browser: keeps cookies, does not follow redirects.
pub struct Browser {
    pub client: Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy the app trusts, which names `ip` as the
    /// client in `X-Forwarded-For`.
    pub fn from_ip(app: &TestApp, ip: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().unwrap());
        Browser::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Browser {
        Browser {
            client: Client::builder()
                .default_headers(headers)
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.unwrap()
    }

    /// Posts `fields` with the CSRF token of the page at `form_page`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.page(form_page).await;
        let csrf = csrf_of(&html);
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    pub async fn post_raw(&self, action: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{action}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.submit(
            "/admin/login",
            "/admin/login",
            &[("email", email), ("password", password), ("next", "/admin")],
        )
        .await
    }
}

/// The value of the first `name="csrf"` input of a page.
pub fn csrf_of(html: &str) -> String {
    let i = html
        .find("name=\"csrf\" value=\"")
        .expect("page has a csrf field");
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub async fn create_user(app: &TestApp, email: &str, role: &str) {
    let hash = clarion::security::hash_password(PASSWORD).unwrap();
    let (email, role) = (email.to_string(), role.to_string());
    app.db
        .run(move |c| clarion::db::users::create(c, &email, &role, &hash).map(|_| ()))
        .await
        .unwrap();
}

/// A signed-in browser for a new user with `role`.
pub async fn signed_in(app: &TestApp, role: &str) -> Browser {
    let email = format!("{role}@example.org");
    create_user(app, &email, role).await;
    let b = Browser::new(app);
    let r = b.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{role} signs in");
    b
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    app.db
        .run(|c| clarion::db::audit::recent(c, 200))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

async fn a_signed_out_visitor_is_sent_to_the_login_page(b: Backend) {
    let app = spawn_app(b).await;
    let br = Browser::new(&app);
    for path in ["/admin", "/admin/alerts", "/admin/users", "/admin/lists"] {
        let r = br.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/admin/login?next="), "{path}");
    }
    // A post without a session does nothing either.
    let r = br
        .post_raw("/admin/users", &[("email", "x@example.org")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A forged cookie is no session.
    let r = br
        .client
        .get(format!("{}/admin", app.address))
        .header("cookie", "clarion_session=dXNlcnxzaWR8OTk5OTk5OTk5OTk.AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = br.get("/admin/login").await;
    assert_eq!(login.status(), StatusCode::OK);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = login.text().await.unwrap();
    assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));
    assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"));
}

async fn a_user_signs_in_sees_the_dashboard_and_signs_out(b: Backend) {
    let app = spawn_app(b).await;
    create_user(&app, "ana@example.org", "campaigner").await;
    let br = Browser::new(&app);
    let r = br.login("  Ana@Example.org ", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("clarion_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    let html = br.page("/admin").await;
    assert!(html.contains("ana@example.org"));
    assert!(html.contains("Signatures per day"));
    assert!(html.contains("<svg"), "chart drawn on the server");
    // Russian through the same locale machinery.
    let ru = br.page("/admin?lang=ru").await;
    assert!(ru.contains("<html lang=\"ru\" dir=\"ltr\">") && ru.contains("Подписи по дням"));
    // Sign out, then the dashboard is closed again, even to a copy of the
    // old cookie.
    let old_cookie = cookie.split(';').next().unwrap().to_string();
    let r = br.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(br.get("/admin").await.status(), StatusCode::SEE_OTHER);
    let copied = app
        .client
        .get(format!("{}/admin", app.address))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.status(),
        StatusCode::SEE_OTHER,
        "a copied cookie dies with the sign-out"
    );
    assert_eq!(
        br.get("/admin/login").await.status(),
        StatusCode::OK,
        "no redirect loop"
    );
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&("user:ana@example.org".into(), "user.login".into())));
    assert!(actions.contains(&("user:ana@example.org".into(), "user.logout".into())));
}

async fn a_wrong_password_fails_and_repeated_failures_lock_the_account(b: Backend) {
    let app = spawn_app(b).await;
    create_user(&app, "bo@example.org", "organiser").await;
    let br = Browser::new(&app);
    let r = br.login("nobody@example.org", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("The email address or password is wrong."));
    for _ in 0..5 {
        let r = br.login("bo@example.org", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked now: even the right password is refused.
    let r = br.login("bo@example.org", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("locked"));
    assert_eq!(br.get("/admin").await.status(), StatusCode::SEE_OTHER);
    let user = app
        .db
        .run(|c| clarion::db::users::get_by_email(c, "bo@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.failed_logins, 5);
    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|(_, a)| a == "user.login_locked"));
    assert_eq!(
        actions
            .iter()
            .filter(|(_, a)| a == "user.login_failed")
            .count(),
        5
    );
    // An admin sets a new password, which unlocks the account.
    let admin = signed_in(&app, "admin").await;
    let path = format!("/admin/users/{}/password", user.id);
    let r = admin
        .submit("/admin/users", &path, &[("password", "short")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .submit(
            "/admin/users",
            &path,
            &[("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        br.login("bo@example.org", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = br.login("bo@example.org", "a brand new passphrase").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "unlocked, new password works"
    );
}

async fn a_form_without_its_csrf_token_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let br = signed_in(&app, "admin").await;
    let fields = [
        ("email", "new@example.org"),
        ("role", "organiser"),
        ("password", PASSWORD),
    ];
    let r = br.post_raw("/admin/users", &fields).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut forged = vec![("csrf", "forged.token")];
    forged.extend_from_slice(&fields);
    assert_eq!(
        br.post_raw("/admin/users", &forged).await.status(),
        StatusCode::FORBIDDEN
    );
    // Another session's token is worthless here.
    let other = signed_in(&app, "campaigner").await;
    let theirs = csrf_of(&other.page("/admin").await);
    let mut stolen = vec![("csrf", theirs.as_str())];
    stolen.extend_from_slice(&fields);
    assert_eq!(
        br.post_raw("/admin/users", &stolen).await.status(),
        StatusCode::FORBIDDEN
    );
    // A cross-site post is refused even with the token.
    let mine = csrf_of(&br.page("/admin/users").await);
    let mut all = vec![("csrf", mine.as_str())];
    all.extend_from_slice(&fields);
    let r = br
        .client
        .post(format!("{}/admin/users", app.address))
        .header("origin", "https://evil.example")
        .form(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Login without the token is refused too.
    let fresh = Browser::new(&app);
    let r = fresh
        .post_raw(
            "/admin/login",
            &[("email", "admin@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let none = app
        .db
        .run(|c| clarion::db::users::get_by_email(c, "new@example.org"))
        .await
        .unwrap();
    assert!(none.is_none());
}

async fn only_admins_manage_users_and_every_action_is_audited(b: Backend) {
    let app = spawn_app(b).await;
    let campaigner = signed_in(&app, "campaigner").await;
    assert_eq!(
        campaigner.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(!campaigner
        .page("/admin")
        .await
        .contains("href=\"/admin/users\""));
    let csrf = csrf_of(&campaigner.page("/admin").await);
    let r = campaigner
        .post_raw(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "x@example.org"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let admin = signed_in(&app, "admin").await;
    let r = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("email", "short@example.org"),
                ("role", "organiser"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("email", "New@Example.org"),
                ("role", "organiser"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let user = app
        .db
        .run(|c| clarion::db::users::get_by_email(c, "new@example.org"))
        .await
        .unwrap()
        .expect("created");
    assert!(user.password_hash.starts_with("$argon2id$"));
    let r = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{}/role", user.id),
            &[("role", "campaigner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let role = app
        .db
        .run(move |c| clarion::db::users::get(c, &user.id))
        .await
        .unwrap()
        .unwrap()
        .role;
    assert_eq!(role, "campaigner");
    let newcomer = Browser::new(&app);
    assert_eq!(
        newcomer.login("new@example.org", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&("user:admin@example.org".into(), "user.create".into())));
    assert!(actions.contains(&("user:admin@example.org".into(), "user.role".into())));
}

async fn user_create_cli_makes_a_user_who_can_sign_in(b: Backend) {
    let app = spawn_app(b).await;
    let run = |email: &'static str, password: &'static str| {
        let url = app.database_url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut child = std::process::Command::new(clarion_bin())
                    .args([
                        "user",
                        "create",
                        "--email",
                        email,
                        "--role",
                        "admin",
                        "--password-stdin",
                    ])
                    .env("CLARION_DATABASE_URL", &url)
                    .env("CLARION_LOG", "warn")
                    .env_remove("CLARION_CONFIG")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{password}\n").as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run("root@example.org", PASSWORD).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = run("root@example.org", PASSWORD).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = run("short@example.org", "short").await;
    assert!(!short.status.success());
    let br = Browser::new(&app);
    assert_eq!(
        br.login("root@example.org", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(br.get("/admin/users").await.status(), StatusCode::OK);
    let _ = (Duration::from_secs(1), Person::active("x@example.org", "X"));
}
