//! Bearer tokens, roles and the problem+json shape of every error.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};

backend_tests!(
    a_request_without_a_token_is_401_problem_json,
    an_unknown_token_is_401,
    an_organiser_may_read_but_not_write,
    a_campaigner_may_write,
    a_malformed_json_body_is_400_and_an_oversized_one_413,
    an_unknown_api_route_is_a_404_problem,
    the_openapi_document_lists_every_route,
);

async fn a_request_without_a_token_is_401_problem_json(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.request(Method::GET, "/api/v1/cases", None, None).await;
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_problem(r, 401).await;
    let r = app
        .request(Method::POST, "/api/v1/petitions", None, Some(json!({})))
        .await;
    assert_problem(r, 401).await;
}

async fn an_unknown_token_is_401(b: Backend) {
    let app = spawn_app(b).await;
    assert_problem(app.get("/api/v1/cases", "not-a-real-token").await, 401).await;
    let r = app
        .client
        .get(format!("{}/api/v1/cases", app.address))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
}

async fn an_organiser_may_read_but_not_write(b: Backend) {
    let app = spawn_app(b).await;
    let organiser = app.token("organiser").await;
    let campaigner = app.token("campaigner").await;
    let case = app.create_case(&campaigner, "read-only-case").await;
    let id = case["id"].as_str().unwrap();

    assert_eq!(app.get("/api/v1/cases", &organiser).await.status(), 200);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), &organiser)
            .await
            .status(),
        200
    );
    let r = app
        .post(
            "/api/v1/cases",
            &organiser,
            json!({"slug": "nope", "title": "t", "summary": "s"}),
        )
        .await;
    assert_problem(r, 403).await;
    let r = app
        .patch(
            &format!("/api/v1/cases/{id}"),
            &organiser,
            json!({"title": "changed"}),
        )
        .await;
    assert_problem(r, 403).await;
    let r = app
        .post(
            "/api/v1/petitions",
            &organiser,
            json!({"case_id": id, "slug": "p-one", "title": "t", "target": "x", "body": "b"}),
        )
        .await;
    assert_problem(r, 403).await;
}

async fn a_campaigner_may_write(b: Backend) {
    let app = spawn_app(b).await;
    let campaigner = app.token("campaigner").await;
    let admin = app.token("admin").await;
    app.create_case(&campaigner, "by-campaigner").await;
    app.create_case(&admin, "by-admin").await;
}

async fn a_malformed_json_body_is_400_and_an_oversized_one_413(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .client
        .post(format!("{}/api/v1/cases", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"slug": "big", "title": "t", "summary": big}),
        )
        .await;
    assert_problem(r, 413).await;
    let r = app
        .post("/api/v1/cases", &token, json!(["an", "array"]))
        .await;
    assert_problem(r, 400).await;
}

async fn an_unknown_api_route_is_a_404_problem(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("organiser").await;
    assert_problem(app.get("/api/v1/nothing-here", &token).await, 404).await;
}

async fn the_openapi_document_lists_every_route(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .request(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/cases", "post"),
        ("/api/v1/cases", "get"),
        ("/api/v1/cases/{id}", "get"),
        ("/api/v1/cases/{id}", "patch"),
        ("/api/v1/petitions", "post"),
        ("/api/v1/petitions", "get"),
        ("/api/v1/petitions/{id}", "get"),
        ("/api/v1/petitions/{id}", "patch"),
        ("/api/v1/alerts", "post"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{id}", "get"),
        ("/api/v1/alerts/{id}/preview", "post"),
        ("/api/v1/alerts/{id}/test", "post"),
        ("/api/v1/alerts/{id}/send", "post"),
        ("/api/v1/alerts/{id}/cancel", "post"),
        ("/api/v1/petitions/{id}/signatures", "get"),
        ("/api/v1/petitions/{id}/signatures.csv", "get"),
        ("/api/v1/petitions/{id}/counts", "get"),
        ("/api/v1/lists", "post"),
        ("/api/v1/lists", "get"),
        ("/api/v1/lists/{id}", "get"),
        ("/api/v1/lists/{id}/members", "post"),
        ("/api/v1/lists/{id}/import", "post"),
        ("/api/v1/supporters", "get"),
        ("/api/v1/supporters/{id}", "get"),
        ("/api/v1/supporters/{id}/export", "get"),
        ("/api/v1/supporters/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
}
