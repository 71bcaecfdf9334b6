//! Credentials (contract §12): the secret key outside the database, console
//! sessions checked against a server-side record, revocable API tokens, and
//! disabling or deleting console users.

use std::path::Path;

use clarion::config::Settings;
use clarion::db::schema::{app_secrets, sessions, supporters};
use clarion::startup::{Application, Options};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{create_user, location, signed_in, Browser, PASSWORD};
use crate::helpers::{
    assert_problem, clarion_bin, fresh_database, spawn_app, spawn_app_with, test_settings, Backend,
    TestApp,
};
use crate::smtp_sink::SmtpSink;

backend_tests!(
    the_generated_key_is_a_private_file_beside_the_database_and_no_table_holds_it,
    key_dir_puts_the_key_file_elsewhere,
    an_old_key_in_the_database_moves_to_its_file_and_old_links_still_work,
    a_copied_session_cookie_fails_after_sign_out_and_after_a_role_change,
    the_sessions_table_holds_nothing_a_reader_could_present,
    admins_list_and_revoke_tokens_over_the_api_and_a_revoked_token_is_401,
    an_expired_token_is_401_and_use_is_recorded_once_a_minute,
    the_token_cli_creates_expiring_tokens_lists_them_and_revokes_them,
    disabling_or_deleting_a_user_ends_their_sessions_at_once,
    admins_revoke_tokens_and_disable_users_on_the_console_users_page,
    a_next_holding_a_line_break_falls_back_to_admin,
    a_sign_in_body_over_16_kib_is_413_and_a_cut_short_one_is_400,
    an_unknown_address_is_answered_and_locked_exactly_like_a_known_one,
    a_client_that_locks_itself_out_locks_nobody_else_out,
);

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn secret_rows(app: &TestApp) -> Vec<String> {
    app.db.run(clarion::db::secrets::names).await.unwrap()
}

/// Starts the app on a database prepared beforehand (`dir` holds it).
async fn start_on(
    database_url: String,
    dir: tempfile::TempDir,
    customise: impl FnOnce(&mut clarion::config::RawSettings),
) -> TestApp {
    let smtp = SmtpSink::start().await;
    let mut raw = test_settings(&database_url, &smtp.url(), &dir);
    customise(&mut raw);
    let settings = Settings::from_raw(raw).unwrap();
    let app = Application::build(
        settings,
        Options {
            demo: false,
            worker: true,
        },
    )
    .await
    .expect("application builds");
    let port = app.port();
    let db = app.state().db.clone();
    let settings = app.state().settings.as_ref().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        smtp,
        settings,
        db,
        dir,
    }
}

async fn the_generated_key_is_a_private_file_beside_the_database_and_no_table_holds_it(b: Backend) {
    let sqlite = matches!(b, Backend::Sqlite);
    // SQLite: the default place, beside the database file. PostgreSQL keeps
    // it in ./data by default, which tests share: point it at the temp dir.
    let app = spawn_app_with(b, |raw| {
        if sqlite {
            raw.key_dir = String::new();
        }
    })
    .await;
    let file = app.dir.path().join("secret.key");
    assert_eq!(app.settings.secret_key_file(), file);
    let key = std::fs::read_to_string(&file).expect("key file made");
    assert!(key.trim().len() >= 32, "a real key");
    #[cfg(unix)]
    assert_eq!(mode_of(&file), 0o600, "only the service's user reads it");
    assert!(secret_rows(&app).await.is_empty(), "no key in any table");
    // Links are signed with the file's key.
    let id = app
        .seed_list(
            "news",
            &[crate::helpers::Person::active("ann@example.org", "Ann")],
        )
        .await;
    assert!(!id.is_empty());
    let supporter: String = app
        .db
        .run(|c| {
            supporters::table
                .select(supporters::id)
                .first::<String>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let token = clarion::security::Keys::new(key.trim()).sign("unsubscribe", &supporter);
    let r = app.post_empty(&format!("/unsubscribe/{token}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.supporter_status("ann@example.org").await,
        "unsubscribed"
    );
}

async fn key_dir_puts_the_key_file_elsewhere(b: Backend) {
    let elsewhere = tempfile::tempdir().unwrap();
    let keys = elsewhere.path().join("keys");
    let dir = keys.display().to_string();
    let app = spawn_app_with(b, move |raw| raw.key_dir = dir).await;
    let file = keys.join("secret.key");
    assert!(file.is_file(), "made in CLARION_KEY_DIR (folder created)");
    #[cfg(unix)]
    assert_eq!(mode_of(&file), 0o600);
    assert!(
        !app.dir.path().join("secret.key").exists(),
        "not beside the database"
    );
    assert!(secret_rows(&app).await.is_empty());
}

async fn an_old_key_in_the_database_moves_to_its_file_and_old_links_still_work(b: Backend) {
    // An installation of the earlier kind: its key in app_secrets, and a
    // supporter who was mailed an unsubscribe link signed with it.
    let (url, dir) = fresh_database(&b).await;
    let old_key = clarion::security::generate_secret_key();
    let supporter = clarion::db::new_id();
    {
        let (url, old_key, supporter) = (url.clone(), old_key.clone(), supporter.clone());
        tokio::task::spawn_blocking(move || {
            let db = clarion::db::Db::connect(&url, 1).unwrap();
            db.migrate().unwrap();
            let mut c = db.get().unwrap();
            let now = clarion::db::now();
            diesel::insert_into(app_secrets::table)
                .values((
                    app_secrets::name.eq("secret_key"),
                    app_secrets::value.eq(&old_key),
                    app_secrets::created_at.eq(now),
                ))
                .execute(&mut *c)
                .unwrap();
            diesel::insert_into(supporters::table)
                .values((
                    supporters::id.eq(&supporter),
                    supporters::email.eq("ann@example.org"),
                    supporters::first_name.eq("Ann"),
                    supporters::last_name.eq("Lee"),
                    supporters::status.eq("active"),
                    supporters::created_at.eq(now),
                    supporters::updated_at.eq(now),
                ))
                .execute(&mut *c)
                .unwrap();
        })
        .await
        .unwrap();
    }
    let link = clarion::security::Keys::new(&old_key).sign("unsubscribe", &supporter);

    let app = start_on(url.clone(), dir, |_| {}).await;
    assert!(secret_rows(&app).await.is_empty(), "the row is gone");
    let file = app.settings.secret_key_file();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        old_key,
        "the file holds the same key"
    );
    #[cfg(unix)]
    assert_eq!(mode_of(&file), 0o600);
    let r = app.post_empty(&format!("/unsubscribe/{link}")).await;
    assert_eq!(r.status(), 200, "the link mailed before still works");
    assert_eq!(
        app.supporter_status("ann@example.org").await,
        "unsubscribed"
    );
}

/// The session cookie's `name=value` from a sign-in answer.
fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("clarion_session="))
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// GET /admin with exactly this cookie, as someone who copied it would.
async fn with_copied_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    app.client
        .get(format!("{}/admin", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_copied_session_cookie_fails_after_sign_out_and_after_a_role_change(b: Backend) {
    let app = spawn_app_with(b, |_| {}).await;
    create_user(&app, "cam@example.org", "campaigner").await;

    // Sign-out voids a copy of the cookie.
    let br = Browser::new(&app);
    let r = br.login("cam@example.org", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let copy = session_cookie(&r);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::OK);
    let r = br.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::SEE_OTHER);

    // A role change voids every session of that user.
    let br = Browser::new(&app);
    let r = br.login("cam@example.org", PASSWORD).await;
    let copy = session_cookie(&r);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::OK);
    let admin = signed_in(&app, "admin").await;
    let user = app
        .db
        .run(|c| clarion::db::users::get_by_email(c, "cam@example.org"))
        .await
        .unwrap()
        .unwrap();
    let r = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{}/role", user.id),
            &[("role", "organiser")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::SEE_OTHER);
    let r = br.get("/admin").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/admin/login"));
}

async fn the_sessions_table_holds_nothing_a_reader_could_present(b: Backend) {
    let app = spawn_app_with(b, |_| {}).await;
    create_user(&app, "ana@example.org", "admin").await;
    let br = Browser::new(&app);
    let r = br.login("ana@example.org", PASSWORD).await;
    let cookie = session_cookie(&r);
    let value = cookie.trim_start_matches("clarion_session=").to_string();
    let rows: Vec<(String, String)> = app
        .db
        .run(|c| {
            sessions::table
                .select((sessions::id_hash, sessions::user_id))
                .load(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one server-side record per sign-in");
    let (hash, _) = &rows[0];
    assert_eq!(hash.len(), 64, "a SHA-256, not the id");
    assert!(!value.contains(hash.as_str()) && !hash.contains(&value));
    // What the table holds, presented as a cookie, opens nothing: neither the
    // hash itself nor the hash signed with a guessed key.
    for forged in [hash.clone(), format!("{hash}.{hash}")] {
        let status = with_copied_cookie(&app, &format!("clarion_session={forged}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    assert!(
        secret_rows(&app).await.is_empty(),
        "and no key to sign with"
    );
}

/// Runs the binary against the app's database and key folder.
async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let url = app.database_url.clone();
    let keys = app.settings.key_dir.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(clarion_bin())
            .args(&args)
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_KEY_DIR", &keys)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .env_remove("CLARION_SECRET_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn token_list_json(app: &TestApp, admin: &str) -> Vec<serde_json::Value> {
    let r = app.get("/api/v1/tokens", admin).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["next_cursor"].is_null());
    body["items"].as_array().unwrap().clone()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.db
        .run(|c| clarion::db::audit::recent(c, 200))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn admins_list_and_revoke_tokens_over_the_api_and_a_revoked_token_is_401(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.token("admin").await;
    let campaigner = app.token("campaigner").await;
    assert_problem(app.get("/api/v1/tokens", &campaigner).await, 403).await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/tokens/00000000-0000-0000-0000-000000000000",
            Some(&campaigner),
            None,
        )
        .await;
    assert_problem(r, 403).await;
    assert_eq!(app.get("/api/v1/cases", &campaigner).await.status(), 200);

    let items = token_list_json(&app, &admin).await;
    assert_eq!(items.len(), 2);
    let text = serde_json::to_string(&items).unwrap();
    assert!(
        !text.contains(&campaigner) && !text.contains(&admin),
        "never a token"
    );
    assert!(!text.contains("hash"), "nor its hash");
    let theirs = items.iter().find(|t| t["role"] == "campaigner").unwrap();
    for field in ["id", "name", "created_at"] {
        assert!(theirs[field].is_string(), "{field}: {theirs}");
    }
    assert_eq!(theirs["state"], "active");
    assert!(theirs["expires_at"].is_null());
    let id = theirs["id"].as_str().unwrap().to_string();

    let path = format!("/api/v1/tokens/{id}");
    let r = app
        .request(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(app.get("/api/v1/cases", &campaigner).await, 401).await;
    let items = token_list_json(&app, &admin).await;
    let theirs = items.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(theirs["state"], "revoked");
    assert!(theirs["revoked_at"].is_string());
    // Again: nothing more to do. Unknown or malformed ids: 404.
    let r = app
        .request(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(r.status(), 204);
    for unknown in ["00000000-0000-0000-0000-000000000000", "not-an-id"] {
        let r = app
            .request(
                reqwest::Method::DELETE,
                &format!("/api/v1/tokens/{unknown}"),
                Some(&admin),
                None,
            )
            .await;
        assert_problem(r, 404).await;
    }
    assert!(audit_actions(&app)
        .await
        .contains(&"token.revoke".to_string()));
}

async fn an_expired_token_is_401_and_use_is_recorded_once_a_minute(b: Backend) {
    let app = spawn_app(b).await;
    let make = |expires: chrono::NaiveDateTime| {
        let secret = clarion::security::random_token();
        let hash = clarion::security::hash_token(&secret);
        let db = app.db.clone();
        async move {
            db.run(move |c| {
                clarion::db::tokens::create_expiring(c, "t", "organiser", &hash, Some(expires))
            })
            .await
            .unwrap();
            secret
        }
    };
    let now = clarion::db::now();
    let expired = make(now - chrono::Duration::seconds(1)).await;
    let fresh = make(now + chrono::Duration::days(1)).await;
    assert_problem(app.get("/api/v1/cases", &expired).await, 401).await;
    assert_eq!(app.get("/api/v1/cases", &fresh).await.status(), 200);
    let admin = app.token("admin").await;
    let last_used = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            db.run(clarion::db::tokens::all)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.expires_at, t.last_used_at))
                .collect::<Vec<_>>()
        }
    };
    let first = last_used(&app).await;
    let fresh_use = first
        .iter()
        .find(|(e, _)| e.is_some_and(|e| e > now))
        .and_then(|(_, u)| *u)
        .expect("the fresh token's use is recorded");
    assert!(
        first
            .iter()
            .any(|(e, u)| e.is_some_and(|e| e < now) && u.is_none()),
        "a refused token is not used"
    );
    // A second use within the minute writes nothing.
    assert_eq!(app.get("/api/v1/cases", &fresh).await.status(), 200);
    let again = last_used(&app).await;
    assert!(again.iter().any(|(_, u)| *u == Some(fresh_use)));
    let items = token_list_json(&app, &admin).await;
    assert!(items.iter().any(|t| t["state"] == "expired"));
}

async fn the_token_cli_creates_expiring_tokens_lists_them_and_revokes_them(b: Backend) {
    let app = spawn_app(b).await;
    let out = cli(
        &app,
        &[
            "token",
            "create",
            "--name",
            "ci job",
            "--role",
            "organiser",
            "--expires-in",
            "30",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(app.get("/api/v1/cases", &secret).await.status(), 200);

    let out = cli(&app, &["token", "list"]).await;
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(!listing.contains(&secret), "never the token");
    let header = listing.lines().next().unwrap();
    assert_eq!(header, "id\tname\trole\tcreated\tlast_used\texpires\tstate");
    let row = listing
        .lines()
        .find(|l| l.contains("ci job"))
        .expect("listed");
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(cols[2], "organiser");
    assert_ne!(cols[4], "-", "last used: {row}");
    assert_ne!(cols[5], "-", "expires: {row}");
    assert_eq!(cols[6], "active");
    let id = cols[0].to_string();

    for bad in [["--expires-in", "0"], ["--expires-in", "99999"]] {
        let out = cli(
            &app,
            &[
                "token", "create", "--name", "x", "--role", "admin", bad[0], bad[1],
            ],
        )
        .await;
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--expires-in"));
    }

    let out = cli(&app, &["token", "revoke", &id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_problem(app.get("/api/v1/cases", &secret).await, 401).await;
    let out = cli(
        &app,
        &["token", "revoke", "00000000-0000-0000-0000-000000000000"],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let listing = String::from_utf8(cli(&app, &["token", "list"]).await.stdout).unwrap();
    assert!(listing
        .lines()
        .any(|l| l.starts_with(&id) && l.ends_with("revoked")));
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"token.create".to_string()));
    assert!(actions.contains(&"token.revoke".to_string()));
}

async fn disabling_or_deleting_a_user_ends_their_sessions_at_once(b: Backend) {
    let app = spawn_app(b).await;
    create_user(&app, "cam@example.org", "campaigner").await;
    let br = Browser::new(&app);
    let copy = session_cookie(&br.login("cam@example.org", PASSWORD).await);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::OK);

    let out = cli(&app, &["user", "disable", "--email", "cam@example.org"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::SEE_OTHER);
    assert_eq!(br.get("/admin").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app)
            .login("cam@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot sign in"
    );
    let out = cli(&app, &["user", "enable", "--email", "cam@example.org"]).await;
    assert!(out.status.success());
    let br = Browser::new(&app);
    let copy = session_cookie(&br.login("cam@example.org", PASSWORD).await);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::OK);

    let out = cli(&app, &["user", "delete", "--email", "cam@example.org"]).await;
    assert!(out.status.success());
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app)
            .login("cam@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let out = cli(&app, &["user", "delete", "--email", "cam@example.org"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user"));
    let actions = audit_actions(&app).await;
    for a in ["user.disable", "user.enable", "user.delete"] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
}

async fn admins_revoke_tokens_and_disable_users_on_the_console_users_page(b: Backend) {
    let app = spawn_app(b).await;
    let script = app.token("organiser").await;
    create_user(&app, "org@example.org", "organiser").await;
    let user_browser = Browser::new(&app);
    let copy = session_cookie(&user_browser.login("org@example.org", PASSWORD).await);
    let admin = signed_in(&app, "admin").await;
    let html = admin.page("/admin/users").await;
    assert!(html.contains("API tokens"));
    let at = html.find("/admin/tokens/").expect("a revoke button");
    let action = html[at..].split('"').next().unwrap().to_string();
    assert!(action.ends_with("/revoke"), "{action}");
    assert!(!html.contains(&script), "never the token");

    // Only admins.
    let other = signed_in(&app, "campaigner").await;
    let csrf = crate::console::csrf_of(&other.page("/admin").await);
    let r = other.post_raw(&action, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/cases", &script).await.status(), 200);

    let r = admin.submit("/admin/users", &action, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_problem(app.get("/api/v1/cases", &script).await, 401).await;
    assert!(admin.page("/admin/users").await.contains("revoked"));

    let user = app
        .db
        .run(|c| clarion::db::users::get_by_email(c, "org@example.org"))
        .await
        .unwrap()
        .unwrap();
    let r = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{}/disable", user.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(with_copied_cookie(&app, &copy).await, StatusCode::SEE_OTHER);
    assert!(admin.page("/admin/users").await.contains("disabled"));
    let r = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{}/delete", user.id),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!admin.page("/admin/users").await.contains("org@example.org"));
}

async fn a_next_holding_a_line_break_falls_back_to_admin(b: Backend) {
    let app = spawn_app(b).await;
    create_user(&app, "ana@example.org", "admin").await;
    let br = Browser::new(&app);
    let r = br
        .get("/admin/login?next=/admin/cases%0D%0ASet-Cookie:%20x=1")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(!html.contains("Set-Cookie"), "the bad next is dropped");
    let r = br
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("email", "ana@example.org"),
                ("password", PASSWORD),
                ("next", "/admin/cases\nSet-Cookie: x=1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
    // A harmless next is still honoured.
    let br = Browser::new(&app);
    let r = br
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("email", "ana@example.org"),
                ("password", PASSWORD),
                ("next", "/admin/cases"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/cases");
}

async fn a_sign_in_body_over_16_kib_is_413_and_a_cut_short_one_is_400(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(b).await;
    let big = format!("email=a%40b.org&password={}", "x".repeat(17 * 1024));
    // (The same refusal without a declared length is the reader's limit.)
    let r = app
        .client
        .post(format!("{}/admin/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A body that says 1000 bytes and stops after 10.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    tcp.write_all(
        b"POST /admin/login HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 1000\r\n\r\nemail=a%40",
    )
    .await
    .unwrap();
    tcp.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "never a 5xx: {answer}"
    );
    // A small, complete one is read as before.
    let r = app
        .client
        .post(format!("{}/admin/login", app.address))
        .form(&[("email", "a@b.org"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token: refused");
}

/// The answers a client gets for `email`: five wrong passwords, then the
/// right one.
async fn answers(br: &Browser, email: &str) -> Vec<u16> {
    let mut out = vec![];
    for _ in 0..5 {
        out.push(br.login(email, "wrong password!").await.status().as_u16());
    }
    out.push(br.login(email, PASSWORD).await.status().as_u16());
    out
}

/// Once, five failures locked a real account with a 429 while an unknown
/// address kept answering 401: that told who has an account.
async fn an_unknown_address_is_answered_and_locked_exactly_like_a_known_one(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |raw| {
        raw.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    create_user(&app, "real@example.org", "admin").await;
    let known = answers(&Browser::from_ip(&app, "203.0.113.7"), "real@example.org").await;
    let unknown = answers(&Browser::from_ip(&app, "203.0.113.8"), "nobody@example.org").await;
    assert_eq!(known, vec![401, 401, 401, 401, 401, 429]);
    assert_eq!(unknown, known, "the same answers, account or not");
}

/// Five requests from one client used to lock the account for everyone:
/// now they lock that client out of that address, and the admin signs in
/// from elsewhere.
async fn a_client_that_locks_itself_out_locks_nobody_else_out(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |raw| {
        raw.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    create_user(&app, "admin@example.org", "admin").await;
    let attacker = Browser::from_ip(&app, "198.51.100.66");
    assert_eq!(
        answers(&attacker, "admin@example.org").await.last(),
        Some(&429)
    );
    let admin = Browser::from_ip(&app, "192.0.2.10");
    let r = admin.login("admin@example.org", PASSWORD).await;
    assert_eq!(r.status(), 303, "the admin signs in from their own address");
    assert_eq!(admin.get("/admin").await.status(), 200);
}
