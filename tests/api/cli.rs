//! The binary itself: token creation, migrate, and config errors at start-up.

use std::process::Command;

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, spawn_app_with, Backend};

backend_tests!(
    token_create_prints_a_token_that_works_and_is_stored_only_hashed,
    migrate_applies_and_then_has_nothing_to_do,
);

fn clarion(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(clarion_bin())
        .args(args)
        .env("CLARION_DATABASE_URL", database_url)
        .env("CLARION_LOG", "warn")
        .env_remove("CLARION_CONFIG")
        .output()
        .expect("clarion runs")
}

async fn token_create_prints_a_token_that_works_and_is_stored_only_hashed(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    let u = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        clarion(
            &u,
            &[
                "token",
                "create",
                "--name",
                "ci-script",
                "--role",
                "campaigner",
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_string();
    assert!(token.len() >= 40, "{stdout}");

    let app = spawn_app_with(b.clone(), |raw| raw.database_url = url.clone()).await;
    let r = app.get("/api/v1/cases", &token).await;
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            serde_json::json!({"slug": "via-cli", "title": "t", "summary": "s"}),
        )
        .await;
    assert_eq!(r.status(), 201);

    // The plaintext is nowhere in the database, only its hash.
    let t = token.clone();
    let rows: Vec<(String, String, String)> = app
        .db
        .run(move |c| {
            use clarion::db::schema::api_tokens::dsl::*;
            use diesel::prelude::*;
            api_tokens
                .select((name, role, token_hash))
                .load::<(String, String, String)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(rows.iter().any(|(n, r, h)| n == "ci-script"
        && r == "campaigner"
        && *h == clarion::security::hash_token(&t)));
    for (n, r, h) in &rows {
        assert!(!n.contains(&token) && !r.contains(&token) && !h.contains(&token));
    }
    if let Backend::Sqlite = b {
        let path = url.trim_start_matches("sqlite://").to_string();
        for f in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&f) {
                let hay = String::from_utf8_lossy(&bytes);
                assert!(!hay.contains(&token), "plaintext token found in {f}");
            }
        }
    }
}

async fn migrate_applies_and_then_has_nothing_to_do(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    for _ in 0..2 {
        let u = url.clone();
        let out = tokio::task::spawn_blocking(move || clarion(&u, &["migrate"]))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(clarion_bin())
        .args(["serve"])
        .env(
            "CLARION_DATABASE_URL",
            format!("sqlite://{}/x.db", dir.path().display()),
        )
        .env("CLARION_HTTP_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CLARION_HTTP_ADDR"), "{stderr}");

    let out = Command::new(clarion_bin())
        .args(["migrate"])
        .env("CLARION_SEND_CONCURRENCY", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.to_uppercase().contains("SEND_CONCURRENCY"),
        "{stderr}"
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["migrate", "--help"],
        vec!["token", "create", "--help"],
    ] {
        let out = Command::new(clarion_bin()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
