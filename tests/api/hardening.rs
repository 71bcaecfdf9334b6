//! Issue 11's hardening points, each held by a test that fails when it
//! regresses: names as people write them (contract §7), formula guards for
//! full-width signs, import line numbers whatever the line ends, logs without
//! terminal colour codes.

use std::process::{Command, Stdio};

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, spawn_app, Backend};
use crate::public_support::form_with;
use crate::signers::{create_list, post_csv};

backend_tests!(
    names_as_people_write_them_are_accepted_on_the_form_and_exported_as_written,
    names_that_reach_for_a_link_markup_or_a_header_are_still_refused,
    logs_written_to_a_pipe_carry_no_terminal_colour_codes,
    full_width_formula_signs_are_guarded_in_the_csv_like_ascii_ones,
    import_line_numbers_follow_the_file_whatever_its_line_ends,
);

async fn import_line_numbers_follow_the_file_whatever_its_line_ends(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    for (name, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let list = create_list(&app, &token, name).await;
        let csv = [
            "email,first_name",
            &format!("ann.{name}@example.org,Ann"),
            "not-an-email,Bob",
            &format!("cy.{name}@example.org,Cy"),
            "also-bad,Dee",
            "",
        ]
        .join(end);
        let r = post_csv(&app, &format!("/api/v1/lists/{list}/import"), &token, &csv).await;
        assert_eq!(r.status(), 200);
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(report["added"], 2, "{name}: {report}");
        let lines: Vec<u64> = report["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, vec![3, 5], "{name} line ends: {report}");
    }
}

async fn full_width_formula_signs_are_guarded_in_the_csv_like_ascii_ones(b: Backend) {
    let app = spawn_app(b).await;
    let petition = app.open_petition("free-them", json!({})).await;
    for (email, comment) in [
        ("a@example.org", "＝HYPERLINK(1)"),
        ("b@example.org", "=1+1"),
    ] {
        let r = app
            .sign("free-them", &form_with(email, &[("comment", comment)]))
            .await;
        assert_eq!(r.status(), 303);
    }
    let token = app.token("organiser").await;
    let id = petition["id"].as_str().unwrap();
    let csv = app
        .get(
            &format!("/api/v1/petitions/{id}/signatures.csv?status=all"),
            &token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",'＝HYPERLINK(1),"), "{csv}");
    assert!(csv.contains(",'=1+1,"), "{csv}");
}

async fn names_as_people_write_them_are_accepted_on_the_form_and_exported_as_written(b: Backend) {
    let app = spawn_app(b).await;
    let petition = app.open_petition("free-them", json!({})).await;
    let names = [
        ("a@example.org", "Smith, Jr.", "Lee"),
        ("b@example.org", "Ann-Marie \"Annie\"", "O'Neil"),
        ("c@example.org", "Louis 14", "Müller (geb. Schmidt)"),
    ];
    for (email, first, last) in names {
        let r = app
            .sign(
                "free-them",
                &form_with(email, &[("first_name", first), ("last_name", last)]),
            )
            .await;
        assert_eq!(r.status(), 303, "{first} {last}");
    }
    let token = app.token("organiser").await;
    let id = petition["id"].as_str().unwrap();
    let csv = app
        .get(
            &format!("/api/v1/petitions/{id}/signatures.csv?status=all"),
            &token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"Smith, Jr.\",Lee"), "{csv}");
    assert!(csv.contains("\"Ann-Marie \"\"Annie\"\"\",O'Neil"), "{csv}");
    assert!(csv.contains("Louis 14,Müller (geb. Schmidt)"), "{csv}");
}

async fn names_that_reach_for_a_link_markup_or_a_header_are_still_refused(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    for bad in [
        "Ann <b>",
        "www.example.org",
        "Ann@Lee",
        "=?utf-8?q?Ann?=",
        "Ann\u{202E}Lee",
        "Ann\u{200B}Lee",
        "Ann\nBcc: x",
        "Ann 😀",
    ] {
        let r = app
            .sign(
                "free-them",
                &form_with("a@example.org", &[("first_name", bad)]),
            )
            .await;
        assert_eq!(r.status(), 422, "{bad:?}");
    }
    assert_eq!(app.supporter_count().await, 0);
}

async fn logs_written_to_a_pipe_carry_no_terminal_colour_codes(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(clarion_bin())
            .arg("migrate")
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_LOG", "info")
            .env_remove("CLARION_CONFIG")
            .stderr(Stdio::piped())
            .output()
            .expect("clarion runs")
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("migrations applied"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape sequences in {log:?}");
}
