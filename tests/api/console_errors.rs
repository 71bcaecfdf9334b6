//! The console puts a campaign action's refusal where the person looks:
//! beside the field it concerns, or above the form when it concerns the
//! whole form — never a bare "please correct the marked fields" with no
//! field marked (issue 10's review finding).

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::console::signed_in;
use crate::helpers::{spawn_app, Backend, Person};

backend_tests!(
    editing_an_alert_that_has_started_sending_says_why_above_the_form,
    a_taken_slug_is_named_beside_the_slug_field,
);

async fn editing_an_alert_that_has_started_sending_says_why_above_the_form(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let list = app
        .seed_list("Members", &[Person::active("dana@example.org", "Dana")])
        .await;
    let alert = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case_id, "list_ids": [list], "subject": "Act now", "body_markdown": "Please act."}),
        )
        .await;
    assert_eq!(alert.status(), 201);
    let id = alert.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = app
        .post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    assert_eq!(sent.status(), 202);

    let br = signed_in(&app, "campaigner").await;
    let r = br
        .submit(
            "/admin/alerts",
            &format!("/admin/alerts/{id}"),
            &[
                ("case_id", case_id.as_str()),
                ("list_ids", list.as_str()),
                ("subject", "Changed after sending"),
                ("body_markdown", "Too late."),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let summary = html
        .split("class=\"error-summary\"")
        .nth(1)
        .expect("an error summary is shown");
    assert!(
        summary.contains("has already been sent or cancelled, so it can no longer be changed"),
        "{summary}"
    );
    let stored = app.alert(&token, &id).await;
    assert_eq!(stored["subject"], "Act now", "nothing changed");
}

async fn a_taken_slug_is_named_beside_the_slug_field(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    app.create_case(&token, "free-aziz").await;
    let br = signed_in(&app, "campaigner").await;
    let r = br
        .submit(
            "/admin/cases/new",
            "/admin/cases",
            &[
                ("title", "Another case"),
                ("slug", "free-aziz"),
                ("summary", "A summary."),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let slug_field = html
        .split("name=\"slug\"")
        .next()
        .and_then(|before| before.rsplit("<div class=\"field").next())
        .expect("the slug field is on the page");
    assert!(
        slug_field.contains("This short name is already in use"),
        "the message stands beside the slug field: {slug_field}"
    );
}
