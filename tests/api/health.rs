//! Liveness, readiness, metrics and request ids.

use reqwest::Method;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend};

backend_tests!(
    healthz_and_readyz_answer_200,
    metrics_count_requests_by_route_and_status,
    every_response_carries_a_request_id,
);

async fn healthz_and_readyz_answer_200(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status(), 200);
    let r = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), "ready");
}

async fn metrics_count_requests_by_route_and_status(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("organiser").await;
    app.get("/api/v1/cases", &token).await;
    app.get("/api/v1/cases/00000000-0000-0000-0000-000000000000", &token)
        .await;
    let r = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("clarion_http_requests_total"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("endpoint=\"/api/v1/cases/{id}\"") && l.contains("status=\"404\"")),
        "{text}"
    );
    assert!(text.contains("clarion_db_pool_max"), "{text}");
    assert!(
        text.contains("clarion_http_requests_duration_seconds"),
        "{text}"
    );
}

async fn every_response_carries_a_request_id(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.request(Method::GET, "/healthz", None, None).await;
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert!(!id.is_empty());
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap(), "abc-123");
}
