//! The cases API: create, read, update, list with cursor paging, validation.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};

backend_tests!(
    a_created_case_answers_201_with_the_case,
    a_duplicate_slug_is_409,
    every_bad_field_is_named_in_one_422,
    patch_changes_only_the_given_fields,
    an_unknown_case_is_404,
    cases_page_across_several_pages_without_gaps_or_repeats,
    a_bad_limit_or_cursor_is_422,
);

async fn a_created_case_answers_201_with_the_case(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"slug": "azimjan-askarov", "title": "Azimjan Askarov", "summary": "Serving life.",
                   "subject_name": "Azimjan Askarov", "country": "kg", "status": "open"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let case: Value = r.json().await.unwrap();
    assert_eq!(case["slug"], "azimjan-askarov");
    assert_eq!(case["country"], "KG");
    assert_eq!(case["status"], "open");
    let id = case["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let created = case["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
        "{created}"
    );

    let got: Value = app
        .get(&format!("/api/v1/cases/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, case);
}

async fn a_duplicate_slug_is_409(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    app.create_case(&token, "same-slug").await;
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"slug": "same-slug", "title": "Again", "summary": "s"}),
        )
        .await;
    assert_problem(r, 409).await;
    let other = app.create_case(&token, "other-slug").await;
    let r = app
        .patch(
            &format!("/api/v1/cases/{}", other["id"].as_str().unwrap()),
            &token,
            json!({"slug": "same-slug"}),
        )
        .await;
    assert_problem(r, 409).await;
}

async fn every_bad_field_is_named_in_one_422(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"slug": "Bad Slug!", "title": "", "country": "XX", "status": "maybe", "subject_name": "a\nb"}),
        )
        .await;
    let body = assert_problem(r, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            e["field"].as_str().unwrap()
        })
        .collect();
    for f in [
        "slug",
        "title",
        "summary",
        "country",
        "status",
        "subject_name",
    ] {
        assert!(fields.contains(&f), "{f} not named in {fields:?}");
    }
    // Nothing was stored.
    let list: Value = app.get("/api/v1/cases", &token).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

async fn patch_changes_only_the_given_fields(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "patch-me").await;
    let id = case["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/cases/{id}"),
            &token,
            json!({"status": "resolved", "title": "Released"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["status"], "resolved");
    assert_eq!(updated["title"], "Released");
    assert_eq!(updated["summary"], case["summary"]);
    assert_eq!(updated["slug"], "patch-me");
    let r = app
        .patch(
            &format!("/api/v1/cases/{id}"),
            &token,
            json!({"status": "gone"}),
        )
        .await;
    assert_problem(r, 422).await;
}

async fn an_unknown_case_is_404(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let missing = "/api/v1/cases/0190a000-0000-7000-8000-000000000000";
    assert_problem(app.get(missing, &token).await, 404).await;
    assert_problem(app.patch(missing, &token, json!({"title": "x"})).await, 404).await;
}

async fn cases_page_across_several_pages_without_gaps_or_repeats(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_case(&token, &format!("case-{i:02}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/cases?limit=3&cursor={c}"),
            None => "/api/v1/cases?limit=3".to_string(),
        };
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

async fn a_bad_limit_or_cursor_is_422(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("organiser").await;
    let body = assert_problem(
        app.get("/api/v1/cases?limit=0&cursor=%%%", &token).await,
        422,
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["limit", "cursor"]);
    assert_problem(app.get("/api/v1/cases?limit=100000", &token).await, 422).await;
}
