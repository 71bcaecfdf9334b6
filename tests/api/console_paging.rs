//! The console's edit forms and listings: an emptied optional field clears
//! its value (it used to keep the old one), and every listing pages
//! (`?page=N`, previous/next, filters kept) instead of stopping at 1,000
//! rows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{spawn_app, Backend};

backend_tests!(
    emptying_an_optional_field_on_a_console_edit_form_clears_it,
    the_api_clears_an_optional_field_given_as_null_and_keeps_an_absent_one,
);

async fn emptying_an_optional_field_on_a_console_edit_form_clears_it(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let r = app
        .patch(
            &format!("/api/v1/cases/{case_id}"),
            &token,
            json!({"subject_name": "Aziz", "country": "KG", "body": "The long story."}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let petition = app
        .create_petition(&token, &case_id, "free-them", json!({"goal": 500}))
        .await;
    let petition_id = petition["id"].as_str().unwrap().to_string();

    let br = signed_in(&app, "campaigner").await;
    // The case: subject, country and body emptied, the rest as it was.
    let edit = format!("/admin/cases/{case_id}");
    let form = br.page(&edit).await;
    assert!(form.contains("value=\"KG\""), "the form shows the country");
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "A case"),
                ("slug", "free-aziz"),
                ("summary", "Why it matters."),
                ("subject_name", ""),
                ("country", "  "),
                ("body", ""),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let got: Value = app
        .get(&format!("/api/v1/cases/{case_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["subject_name"], Value::Null, "{got}");
    assert_eq!(got["country"], Value::Null, "{got}");
    assert_eq!(got["body"], Value::Null, "{got}");
    assert_eq!(got["summary"], "Why it matters.");
    let form = br.page(&edit).await;
    assert!(
        !form.contains("value=\"KG\""),
        "the form no longer shows KG"
    );

    // The petition: goal emptied.
    let edit = format!("/admin/petitions/{petition_id}");
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", ""),
                ("status", "open"),
                ("require_confirmation", "true"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), edit);
    let got: Value = app
        .get(&format!("/api/v1/petitions/{petition_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], Value::Null, "{got}");
    assert_eq!(got["title"], "Free them");
    // The public page shows no goal any more.
    let page = app
        .client
        .get(format!("{}/petitions/free-them", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<progress"), "no goal, no progress bar");

    // A goal typed again is kept; a bad one is still refused beside it.
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", "0"),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", "250"),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got: Value = app
        .get(&format!("/api/v1/petitions/{petition_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], 250);
}

async fn the_api_clears_an_optional_field_given_as_null_and_keeps_an_absent_one(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/cases/{case_id}");
    let r = app
        .patch(
            &path,
            &token,
            json!({"subject_name": "Aziz", "country": "KG"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Absent: kept.
    let got: Value = app
        .patch(&path, &token, json!({"title": "Renamed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["country"], "KG");
    assert_eq!(got["subject_name"], "Aziz");
    // null (or a blank string): cleared.
    let got: Value = app
        .patch(&path, &token, json!({"country": null, "subject_name": ""}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["country"], Value::Null, "{got}");
    assert_eq!(got["subject_name"], Value::Null, "{got}");
    assert_eq!(got["title"], "Renamed");

    let petition = app
        .create_petition(&token, &case_id, "free-them", json!({"goal": 500}))
        .await;
    let path = format!("/api/v1/petitions/{}", petition["id"].as_str().unwrap());
    let got: Value = app
        .patch(&path, &token, json!({"goal": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], Value::Null, "{got}");
}
