//! `serve --demo` and the process's logs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use clarion::config::Settings;
use clarion::startup::{Application, Options};

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, test_settings, Backend};

backend_tests!(the_demo_case_is_seeded_once_into_an_empty_database_only);

async fn the_demo_case_is_seeded_once_into_an_empty_database_only(b: Backend) {
    let (url, dir) = fresh_database(&b).await;
    for _ in 0..2 {
        let settings = Settings::from_raw(test_settings(&url, "", &dir)).unwrap();
        let app = Application::build(
            settings,
            Options {
                demo: true,
                worker: false,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("build failed: {e:#}"));
        let port = app.port();
        let db = app.state().db.clone();
        let server = tokio::spawn(app.run_until_stopped());
        let page = reqwest::get(format!(
            "http://127.0.0.1:{port}/petitions/free-azimjan-askarov"
        ))
        .await
        .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Azimjan Askarov"));
        let (cases, petitions) = db
            .run(|c| {
                use clarion::db::schema::{cases, petitions};
                use diesel::prelude::*;
                let a: i64 = cases::table.count().get_result(c)?;
                let b: i64 = petitions::table.count().get_result(c)?;
                Ok::<_, clarion::db::DbError>((a, b))
            })
            .await
            .unwrap();
        assert_eq!((cases, petitions), (1, 1));
        server.abort();
    }
}

#[test]
fn json_logs_are_one_object_per_line_and_name_the_listening_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(clarion_bin())
        .args(["serve", "--demo"])
        .env(
            "CLARION_DATABASE_URL",
            format!("sqlite://{}/c.db", dir.path().display()),
        )
        .env("CLARION_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("CLARION_OUTBOX_DIR", dir.path().join("outbox"))
        .env("CLARION_LOG_FORMAT", "json")
        .env_remove("CLARION_SMTP_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut found = false;
    for line in BufReader::new(stderr).lines().take(50) {
        let line = line.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("listening on http://127.0.0.1:{port}")))
        {
            found = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(found, "no 'listening on' line");
}
