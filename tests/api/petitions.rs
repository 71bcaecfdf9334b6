//! The petitions API.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};

backend_tests!(
    a_petition_is_created_open_with_confirmation_on_by_default,
    a_petition_needs_an_existing_case,
    petition_validation_names_every_bad_field,
    a_petition_can_be_closed_and_its_slug_is_unique,
    petitions_page_with_a_cursor,
);

async fn a_petition_is_created_open_with_confirmation_on_by_default(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "the-case").await;
    let p = app
        .create_petition(&token, case["id"].as_str().unwrap(), "free-them", json!({}))
        .await;
    assert_eq!(p["status"], "open");
    assert_eq!(p["require_confirmation"], true);
    assert_eq!(p["goal"], 100);
    assert_eq!(p["signatures"], 0);
    assert!(p["url"].as_str().unwrap().ends_with("/petitions/free-them"));
    let id = p["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/petitions/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["slug"], "free-them");
    assert_eq!(got["case_id"], case["id"]);
}

async fn a_petition_needs_an_existing_case(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/petitions",
            &token,
            json!({"case_id": "0190a000-0000-7000-8000-000000000000", "slug": "orphan", "title": "t", "target": "x", "body": "b"}),
        )
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "case_id");
}

async fn petition_validation_names_every_bad_field(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/petitions",
            &token,
            json!({"slug": "-x-", "title": 5, "goal": -3, "status": "published", "require_confirmation": "yes"}),
        )
        .await;
    let body = assert_problem(r, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "case_id",
        "slug",
        "title",
        "target",
        "body",
        "goal",
        "status",
        "require_confirmation",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
}

async fn a_petition_can_be_closed_and_its_slug_is_unique(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "case-c").await;
    let case_id = case["id"].as_str().unwrap();
    let p = app
        .create_petition(&token, case_id, "only-once", json!({"status": "draft"}))
        .await;
    assert_eq!(p["status"], "draft");
    let r = app
        .post("/api/v1/petitions", &token, json!({"case_id": case_id, "slug": "only-once", "title": "t", "target": "x", "body": "b"}))
        .await;
    assert_problem(r, 409).await;
    let id = p["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/petitions/{id}"),
            &token,
            json!({"status": "closed", "require_confirmation": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["status"], "closed");
    assert_eq!(p["require_confirmation"], false);
    assert_problem(
        app.patch(
            "/api/v1/petitions/0190a000-0000-7000-8000-000000000000",
            &token,
            json!({"title": "x"}),
        )
        .await,
        404,
    )
    .await;
}

async fn petitions_page_with_a_cursor(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "many").await;
    for i in 0..5 {
        app.create_petition(
            &token,
            case["id"].as_str().unwrap(),
            &format!("p-{i}"),
            json!({}),
        )
        .await;
    }
    let first: Value = app
        .get("/api/v1/petitions?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let c = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("/api/v1/petitions?limit=4&cursor={c}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["p-2", "p-3", "p-4"]);
    assert!(second["next_cursor"].is_null());
}
