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
use crate::helpers::{fresh_database, spawn_app_with, test_settings, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

backend_tests!(
    the_generated_key_is_a_private_file_beside_the_database_and_no_table_holds_it,
    key_dir_puts_the_key_file_elsewhere,
    an_old_key_in_the_database_moves_to_its_file_and_old_links_still_work,
    a_copied_session_cookie_fails_after_sign_out_and_after_a_role_change,
    the_sessions_table_holds_nothing_a_reader_could_present,
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
