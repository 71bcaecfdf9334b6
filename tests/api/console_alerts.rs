//! Alerts in the console: compose, preview, test-send, confirm with the exact
//! audience, send to the SMTP sink, progress, cancel; organisers cannot send.

use std::time::Duration;

use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{csrf_of, location, signed_in, Browser};
use crate::helpers::{spawn_app, spawn_app_with, Backend, Person, TestApp};

backend_tests!(
    a_campaigner_composes_previews_test_sends_and_sends_an_alert,
    an_organiser_cannot_reach_the_send_button_nor_post_the_send_route,
    compose_names_every_bad_field_and_keeps_the_values,
    a_campaigner_cancels_a_send_from_the_progress_page,
);

/// A case, a petition and two overlapping lists; returns (case id, petition
/// id, list ids).
async fn campaign(app: &TestApp) -> (String, String, Vec<String>) {
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let p = app
        .create_petition(&token, &case_id, "free-aziz-now", serde_json::json!({}))
        .await;
    let a = app
        .seed_list(
            "Members",
            &[
                Person::active("dana@example.org", "Dana"),
                Person::active("eli@example.org", "Eli"),
                Person {
                    email: "gone@example.org",
                    first_name: "Gone",
                    last_name: "Away",
                    status: "unsubscribed",
                },
            ],
        )
        .await;
    let b = app
        .seed_list(
            "Press",
            &[
                Person::active("eli@example.org", "Eli"),
                Person::active("fay@example.org", "Fay"),
            ],
        )
        .await;
    (case_id, p["id"].as_str().unwrap().to_string(), vec![a, b])
}

async fn compose(br: &Browser, case_id: &str, petition_id: &str, lists: &[String]) -> String {
    let mut fields = vec![
        ("case_id", case_id),
        ("petition_id", petition_id),
        ("subject", "Act now for Aziz"),
        (
            "body_markdown",
            "Aziz was **detained** on Monday.\n\nPlease sign.",
        ),
    ];
    for l in lists {
        fields.push(("list_ids", l.as_str()));
    }
    let r = br
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "alert created");
    location(&r)
}

async fn a_campaigner_composes_previews_test_sends_and_sends_an_alert(b: Backend) {
    let app = spawn_app(b).await;
    let (case_id, petition_id, lists) = campaign(&app).await;
    let br = signed_in(&app, "campaigner").await;
    let page = compose(&br, &case_id, &petition_id, &lists).await;
    let id = page.rsplit('/').next().unwrap().to_string();

    // The draft page: server-rendered preview for a sample supporter.
    let html = br.page(&page).await;
    assert!(html.contains("Act now for Aziz"));
    assert!(
        html.contains("Alex"),
        "text part greets the sample supporter"
    );
    assert!(html.contains("id=\"send-button\""));
    assert!(
        html.contains(">Aziz was **detained** on Monday.\n\nPlease sign.</textarea>"),
        "the Markdown comes back exactly as written"
    );
    let preview = br.get(&format!("{page}/preview")).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let csp = preview.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("sandbox"), "{csp}");
    let preview = preview.text().await.unwrap();
    assert!(preview.contains("<strong>detained</strong>"), "{preview}");
    // Live preview of unsaved edits, as JSON.
    let csrf = csrf_of(&html);
    let r = br
        .post_raw(
            &format!("{page}/preview"),
            &[
                ("csrf", &csrf),
                ("format", "json"),
                ("subject", "Edited"),
                ("body_markdown", "New *words*"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["subject"], "Edited");
    assert!(p["html"].as_str().unwrap().contains("<em>words</em>"));
    assert!(p["text"].as_str().unwrap().contains("Alex"));

    // Test send to the signed-in user.
    let r = br.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].rcpt_to, vec!["campaigner@example.org".to_string()]);
    assert!(mails[0].data.contains("[TEST]"));
    app.smtp.clear_messages();

    // Confirmation shows the exact audience: Dana, Eli once, Fay; not Gone.
    let confirm = br.page(&format!("{page}/send")).await;
    assert!(confirm.contains("data-audience=\"3\""), "{confirm}");
    let r = br
        .submit(&format!("{page}/send"), &format!("{page}/send"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mails = app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["dana@example.org", "eli@example.org", "fay@example.org"]
    );

    // Progress reaches every recipient.
    let done =
        crate::helpers::wait_until("progress to finish", Duration::from_secs(20), || async {
            let r = br.get(&format!("{page}/progress.json")).await;
            let p: serde_json::Value = r.json().await.unwrap();
            (p["sent"] == 3 && p["queued"] == 0).then_some(p)
        })
        .await;
    assert_eq!(done["recipients"], 3);
    let html = br.page(&page).await;
    assert!(!html.contains("id=\"send-button\""), "no second send");
    // Sending again does nothing more.
    let csrf = csrf_of(&html);
    let r = br
        .post_raw(&format!("{page}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.smtp.messages().len(), 3);
    let actions: Vec<String> = app
        .db
        .run(|c| clarion::db::audit::recent(c, 100))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "user:campaigner@example.org")
        .map(|e| e.action)
        .collect();
    for a in ["alert.create", "alert.test", "alert.send"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    let _ = id;
}

async fn an_organiser_cannot_reach_the_send_button_nor_post_the_send_route(b: Backend) {
    let app = spawn_app(b).await;
    let (case_id, petition_id, lists) = campaign(&app).await;
    let campaigner = signed_in(&app, "campaigner").await;
    let page = compose(&campaigner, &case_id, &petition_id, &lists).await;
    let organiser = signed_in(&app, "organiser").await;
    let html = organiser.page(&page).await;
    assert!(!html.contains("id=\"send-button\""));
    assert!(!html.contains(&format!("action=\"{page}/send\"")));
    assert!(!html.contains(&format!("action=\"{page}/test\"")));
    assert_eq!(
        organiser.get(&format!("{page}/send")).await.status(),
        StatusCode::FORBIDDEN
    );
    let csrf = csrf_of(&html);
    for route in ["send", "test", "cancel"] {
        let r = organiser
            .post_raw(&format!("{page}/{route}"), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{route}");
    }
    assert_eq!(
        organiser.get("/admin/alerts/new").await.status(),
        StatusCode::FORBIDDEN
    );
    // Organisers still read progress and previews.
    assert_eq!(
        organiser
            .get(&format!("{page}/progress.json"))
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.smtp.messages().is_empty(), "nothing was sent");
}

async fn compose_names_every_bad_field_and_keeps_the_values(b: Backend) {
    let app = spawn_app(b).await;
    let br = signed_in(&app, "campaigner").await;
    let r = br
        .submit(
            "/admin/alerts/new",
            "/admin/alerts",
            &[("subject", "Kept <subject>"), ("body_markdown", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"Kept &lt;subject&gt;\""),
        "value kept, escaped"
    );
    assert!(
        html.matches("class=\"error-message\"").count() >= 3,
        "{html}"
    );
}

async fn a_campaigner_cancels_a_send_from_the_progress_page(b: Backend) {
    let app = spawn_app_with(b, |raw| {
        raw.send_rate = 20;
        raw.send_concurrency = 2;
    })
    .await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "slow-case").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let emails: Vec<String> = (0..60).map(|i| format!("p{i}@example.org")).collect();
    let people: Vec<Person> = emails.iter().map(|e| Person::active(e, "P")).collect();
    let list = app.seed_list("many", &people).await;
    let br = signed_in(&app, "campaigner").await;
    let page = compose(&br, &case_id, "", &[list]).await;
    let r = br
        .submit(&format!("{page}/send"), &format!("{page}/send"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let html = br.page(&page).await;
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "refreshes itself without scripts"
    );
    assert!(html.contains(&format!("action=\"{page}/cancel\"")));
    let r = br.submit(&page, &format!("{page}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p = crate::helpers::wait_until("the send to stop", Duration::from_secs(20), || async {
        let p: serde_json::Value = br
            .get(&format!("{page}/progress.json"))
            .await
            .json()
            .await
            .unwrap();
        (p["queued"] == 0).then_some(p)
    })
    .await;
    assert_eq!(p["status"], "cancelled");
    let sent = p["sent"].as_i64().unwrap();
    assert!(sent < 60, "cancel stopped the send ({sent} sent)");
    assert_eq!(sent + p["cancelled"].as_i64().unwrap(), 60);
}
