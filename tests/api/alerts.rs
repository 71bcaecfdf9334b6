//! Urgent-action alerts through the real mail queue and worker to a real SMTP
//! receiver.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, spawn_app, spawn_app_with, wait_until, Backend, Person, TestApp,
};
use crate::smtp_sink::Behaviour;

backend_tests!(
    an_alert_reaches_every_eligible_person_once_as_multipart_with_unsubscribe_headers,
    sending_twice_sends_once,
    a_cancel_mid_send_stops_the_deliveries_not_yet_made,
    temporary_failures_are_retried_until_delivered,
    an_unknown_mailbox_fails_the_delivery_and_marks_the_supporter_bounced,
    an_smtp_server_down_at_send_time_gets_every_message_once_it_is_back,
    a_name_with_crlf_and_bcc_injects_no_header_or_recipient,
    preview_renders_sanitised_html_and_text_for_a_sample_supporter,
    a_test_send_goes_to_one_address_with_test_in_the_subject,
    alert_validation_names_every_bad_field_and_organisers_cannot_send,
    queue_depth_is_on_metrics,
    messages_are_dkim_signed_when_a_key_is_configured,
    without_smtp_messages_are_written_to_the_outbox_folder,
    one_click_unsubscribe_through_the_received_url_stops_further_alerts,
    someone_who_unsubscribes_after_the_snapshot_is_skipped,
);

async fn case_and_petition(app: &TestApp, token: &str) -> (String, String) {
    let case = app.create_case(token, "askarov").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let p = app
        .create_petition(token, &case_id, "free-askarov", json!({}))
        .await;
    (case_id, p["id"].as_str().unwrap().to_string())
}

async fn create_alert(
    app: &TestApp,
    token: &str,
    case_id: &str,
    petition_id: &str,
    lists: &[&str],
) -> String {
    let r = app
        .post(
            "/api/v1/alerts",
            token,
            json!({"case_id": case_id, "petition_id": petition_id, "list_ids": lists,
                   "subject": "Hearing on 11 July: act now",
                   "body_markdown": "The Supreme Court reviews the case **this week**.\n\nPlease [sign](https://example.org/x) now."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "draft");
    a["id"].as_str().unwrap().to_string()
}

async fn send(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

async fn an_alert_reaches_every_eligible_person_once_as_multipart_with_unsubscribe_headers(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l1 = app
        .seed_list(
            "bishkek",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
                Person {
                    email: "gone@example.org",
                    first_name: "Gone",
                    last_name: "Away",
                    status: "unsubscribed",
                },
            ],
        )
        .await;
    let l2 = app
        .seed_list(
            "osh",
            &[
                Person::active("bolot@example.org", "Bolot"),
                Person::active("cholpon@example.org", "Чолпон"),
                Person {
                    email: "bounced@example.org",
                    first_name: "B",
                    last_name: "X",
                    status: "bounced",
                },
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l1, &l2]).await;
    let sent = send(&app, &token, &id).await;
    assert_eq!(sent["recipients"], 3);

    let mails = app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(app.smtp.messages().len(), 3, "nobody twice");

    let rcpts: HashSet<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    let expected: HashSet<String> = [
        "aida@example.org",
        "bolot@example.org",
        "cholpon@example.org",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(rcpts, expected);
    let ids: HashSet<String> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "unique Message-IDs");
    for m in &mails {
        assert_eq!(m.rcpt_to.len(), 1);
        assert!(m
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"));
        let unsub = m.header("List-Unsubscribe").unwrap();
        assert!(
            unsub.starts_with(&format!("<{}/unsubscribe/", app.settings.base_url)),
            "{unsub}"
        );
        assert_eq!(
            m.header("List-Unsubscribe-Post").unwrap(),
            "List-Unsubscribe=One-Click"
        );
        let parts = m.text_parts();
        let text = parts
            .iter()
            .find(|(t, _)| t == "text/plain")
            .map(|(_, b)| b.clone())
            .unwrap();
        let html = parts
            .iter()
            .find(|(t, _)| t == "text/html")
            .map(|(_, b)| b.clone())
            .unwrap();
        let petition_url = format!("{}/petitions/free-askarov", app.settings.base_url);
        assert!(text.contains(&petition_url) && html.contains(&petition_url));
        let unsub_url = unsub.trim_matches(|c| c == '<' || c == '>');
        assert!(text.contains(unsub_url) && html.contains(unsub_url));
        assert!(text.contains("Why it matters."), "case summary in body");
        assert!(html.contains("<strong>this week</strong>"));
        let to = m.decoded_header("To").unwrap();
        if to.contains("cholpon") {
            assert!(text.contains("Dear Чолпон,"), "{text}");
            assert!(to.contains("Чолпон Supporter"), "{to}");
        }
    }
}

async fn sending_twice_sends_once(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "all",
            &[
                Person::active("a@example.org", "A"),
                Person::active("b@example.org", "B"),
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    let (first, second) = tokio::join!(send(&app, &token, &id), send(&app, &token, &id));
    assert_eq!(first["recipients"], 2);
    assert_eq!(second["recipients"], 2);
    send(&app, &token, &id).await;
    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["sent"], 2);
    assert_eq!(app.smtp.messages().len(), 2);
}

async fn a_cancel_mid_send_stops_the_deliveries_not_yet_made(b: Backend) {
    let app = spawn_app_with(b, |raw| {
        raw.send_rate = 20;
        raw.send_concurrency = 2;
    })
    .await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let emails: Vec<String> = (0..60).map(|i| format!("p{i}@example.org")).collect();
    let people: Vec<Person> = emails.iter().map(|e| Person::active(e, "P")).collect();
    let l = app.seed_list("many", &people).await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let r = app
        .post(&format!("/api/v1/alerts/{id}/cancel"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["status"], "cancelled");
    let sent = done["sent"].as_i64().unwrap();
    assert!(sent < 60, "cancel stopped the send ({sent} sent)");
    assert_eq!(sent + done["cancelled"].as_i64().unwrap(), 60);
    // Nothing more arrives after the in-flight ones land.
    wait_until(
        "in-flight messages to land",
        Duration::from_secs(10),
        || async { (app.smtp.messages().len() as i64 == sent).then_some(()) },
    )
    .await;
}

async fn temporary_failures_are_retried_until_delivered(b: Backend) {
    let app = spawn_app(b).await;
    app.smtp.set_behaviour(Behaviour::TempFailFirst {
        times: 2,
        code: 451,
    });
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "l",
            &[
                Person::active("a@example.org", "A"),
                Person::active("b@example.org", "B"),
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    app.smtp.wait_for(2, Duration::from_secs(30)).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(2), Some(0))
    );
    assert!(app.smtp.attempts() >= 6, "two refusals each, then success");
    assert_eq!(app.smtp.messages().len(), 2);
}

async fn an_unknown_mailbox_fails_the_delivery_and_marks_the_supporter_bounced(b: Backend) {
    let app = spawn_app(b).await;
    app.smtp.set_behaviour(Behaviour::RejectRecipient {
        needle: "nobody".into(),
        code: 550,
    });
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "l",
            &[
                Person::active("nobody@example.org", "N"),
                Person::active("real@example.org", "R"),
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(app.supporter_status("nobody@example.org").await, "bounced");
    assert_eq!(app.supporter_status("real@example.org").await, "active");
    // A later alert skips the bounced person at the snapshot.
    let id2 = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    assert_eq!(send(&app, &token, &id2).await["recipients"], 1);
}

async fn an_smtp_server_down_at_send_time_gets_every_message_once_it_is_back(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let emails: Vec<String> = (0..12).map(|i| format!("d{i}@example.org")).collect();
    let people: Vec<Person> = emails.iter().map(|e| Person::active(e, "D")).collect();
    let l = app.seed_list("l", &people).await;
    app.smtp.stop().await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    // Wait until the worker has met the outage.
    let db = app.db.clone();
    wait_until("a failed attempt", Duration::from_secs(20), || {
        let db = db.clone();
        async move {
            use clarion::db::schema::deliveries;
            use diesel::prelude::*;
            let n: i64 = db
                .run(|c| {
                    deliveries::table
                        .filter(deliveries::attempts.gt(0))
                        .count()
                        .get_result(c)
                        .map_err(clarion::db::DbError::from)
                })
                .await
                .unwrap();
            (n > 0).then_some(())
        }
    })
    .await;
    app.smtp.restart().await;
    app.smtp.wait_for(12, Duration::from_secs(30)).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(12), Some(0))
    );
    let rcpts: HashSet<String> = app
        .smtp
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(rcpts.len(), 12);
    assert_eq!(app.smtp.messages().len(), 12);
}

async fn a_name_with_crlf_and_bcc_injects_no_header_or_recipient(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    // Straight into the database, as if bad data had slipped past the edge.
    let l = app
        .seed_list(
            "l",
            &[Person {
                email: "eve@example.org",
                first_name: "Eve\r\nBcc: victim@example.net\r\nX-Evil: 1",
                last_name: "=?utf-8?q?Mallory=0D=0ABcc:_x@example.net?=",
                status: "active",
            }],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    let m = &mails[0];
    assert_eq!(m.rcpt_to, vec!["eve@example.org".to_string()]);
    let names: Vec<String> = m
        .header_names()
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    assert!(!names.contains(&"bcc".to_string()), "{names:?}");
    assert!(!names.contains(&"x-evil".to_string()), "{names:?}");
    assert_eq!(m.headers("To").len(), 1);
    app.wait_alert_done(&token, &id).await;
    assert_eq!(app.smtp.messages().len(), 1);
}

async fn preview_renders_sanitised_html_and_text_for_a_sample_supporter(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case_id, "petition_id": petition_id, "list_ids": [l], "subject": "Act",
                   "body_markdown": "Hello <script>alert(1)</script> [x](javascript:alert(1)) **now**"}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            &format!("/api/v1/alerts/{id}/preview"),
            &organiser,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["subject"], "Act");
    let html = p["html"].as_str().unwrap();
    assert!(html.contains("Dear Alex,") && html.contains("<strong>now</strong>"));
    assert!(
        !html.contains("<script") && !html.contains("javascript:"),
        "{html}"
    );
    let text = p["text"].as_str().unwrap();
    assert!(text.contains("Dear Alex,") && !text.contains("<strong>"));
    assert!(text.contains("/petitions/free-askarov"));

    // A chosen supporter.
    let sid = {
        use clarion::db::schema::supporters;
        use diesel::prelude::*;
        app.db
            .run(|c| {
                supporters::table
                    .select(supporters::id)
                    .first::<String>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    };
    let p: Value = app
        .post(
            &format!("/api/v1/alerts/{id}/preview"),
            &organiser,
            json!({"supporter_id": sid}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(p["text"].as_str().unwrap().contains("Dear Aida,"));
    assert_problem(
        app.post(
            &format!("/api/v1/alerts/{id}/preview"),
            &organiser,
            json!({"supporter_id": "nope"}),
        )
        .await,
        422,
    )
    .await;
}

async fn a_test_send_goes_to_one_address_with_test_in_the_subject(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    let r = app
        .post(
            &format!("/api/v1/alerts/{id}/test"),
            &token,
            json!({"email": " Me@Example.org "}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].rcpt_to, vec!["me@example.org".to_string()]);
    let subject = mails[0].decoded_header("Subject").unwrap();
    assert!(subject.starts_with("[TEST] "), "{subject}");
    assert_eq!(app.alert(&token, &id).await["status"], "draft");
    assert_problem(
        app.post(
            &format!("/api/v1/alerts/{id}/test"),
            &token,
            json!({"email": "nope"}),
        )
        .await,
        422,
    )
    .await;
}

async fn alert_validation_names_every_bad_field_and_organisers_cannot_send(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": "missing", "list_ids": [], "subject": "two\nlines"}),
        )
        .await;
    let body = assert_problem(r, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["case_id", "list_ids", "subject", "body_markdown"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list("l", &[Person::active("a@example.org", "A")])
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    assert_problem(
        app.post(&format!("/api/v1/alerts/{id}/send"), &organiser, json!({}))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.post(
            &format!("/api/v1/alerts/{id}/cancel"),
            &organiser,
            json!({}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(app.post("/api/v1/alerts", &organiser, json!({})).await, 403).await;
    assert_eq!(
        app.get(&format!("/api/v1/alerts/{id}"), &organiser)
            .await
            .status(),
        200
    );
    assert_problem(
        app.post("/api/v1/alerts/nope/send", &token, json!({}))
            .await,
        404,
    )
    .await;
    assert_eq!(app.alert(&token, &id).await["status"], "draft");
}

async fn queue_depth_is_on_metrics(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list("l", &[Person::active("a@example.org", "A")])
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    app.wait_alert_done(&token, &id).await;
    let text = app
        .request(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("clarion_mail_queue_depth{status=\"sent\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("clarion_mail_queue_depth{status=\"queued\"} 0"),
        "{text}"
    );
}

async fn messages_are_dkim_signed_when_a_key_is_configured(b: Backend) {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dkim.key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    )
    .unwrap();
    let path = key_file.display().to_string();
    let app = spawn_app_with(b, move |raw| {
        raw.dkim_domain = "act.example.org".into();
        raw.dkim_selector = "clarion2026".into();
        raw.dkim_key_file = path;
    })
    .await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list("l", &[Person::active("a@example.org", "A")])
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    let sig = mails[0]
        .header("DKIM-Signature")
        .unwrap_or_else(|| panic!("not signed: {:?}", mails[0].header_names()));
    assert!(
        sig.contains("d=act.example.org") && sig.contains("s=clarion2026"),
        "{sig}"
    );
}

async fn without_smtp_messages_are_written_to_the_outbox_folder(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.smtp_url = String::new()).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "l",
            &[
                Person::active("a@example.org", "A"),
                Person::active("b@example.org", "B"),
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &id).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["sent"], 2);
    let outbox = app.dir.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 2);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains("List-Unsubscribe: <http://127.0.0.1:"),
        "{text}"
    );
    assert_eq!(app.smtp.messages().len(), 0);
}

async fn one_click_unsubscribe_through_the_received_url_stops_further_alerts(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "l",
            &[
                Person::active("leaver@example.org", "Lea"),
                Person::active("stayer@example.org", "Sam"),
            ],
        )
        .await;
    let first = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    send(&app, &token, &first).await;
    let mails = app.smtp.wait_for(2, Duration::from_secs(20)).await;
    let mail = mails
        .iter()
        .find(|m| m.rcpt_to[0] == "leaver@example.org")
        .unwrap();
    let url = mail.header("List-Unsubscribe").unwrap();
    let url = url.trim_matches(|c| c == '<' || c == '>');
    // RFC 8058: a POST with this body, no cookie, no CSRF token.
    let r = app
        .client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        app.supporter_status("leaver@example.org").await,
        "unsubscribed"
    );
    app.wait_alert_done(&token, &first).await;

    let second = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    assert_eq!(send(&app, &token, &second).await["recipients"], 1);
    app.wait_alert_done(&token, &second).await;
    let to_leaver = app
        .smtp
        .messages()
        .iter()
        .filter(|m| m.rcpt_to[0] == "leaver@example.org")
        .count();
    assert_eq!(to_leaver, 1, "no alert after unsubscribing");
}

async fn someone_who_unsubscribes_after_the_snapshot_is_skipped(b: Backend) {
    // A retry delay long enough that no attempt is under way while the person
    // leaves and the server comes back: the next attempt must see them gone.
    let app = spawn_app_with(b, |raw| raw.retry_base_ms = 1500).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let l = app
        .seed_list(
            "l",
            &[
                Person::active("late@example.org", "Late"),
                Person::active("keen@example.org", "Keen"),
            ],
        )
        .await;
    let id = create_alert(&app, &token, &case_id, &petition_id, &[&l]).await;
    app.smtp.stop().await;
    assert_eq!(send(&app, &token, &id).await["recipients"], 2);
    // Let the worker meet the outage first, so the person leaves while their
    // delivery is already queued for a retry.
    wait_until("a failed attempt", Duration::from_secs(20), || async {
        let a: i64 = app
            .db
            .run(|c| {
                use clarion::db::schema::deliveries;
                use diesel::prelude::*;
                deliveries::table
                    .filter(deliveries::attempts.gt(0))
                    .count()
                    .get_result(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap();
        (a >= 2).then_some(())
    })
    .await;
    app.db
        .run(|c| {
            use clarion::db::schema::supporters;
            use diesel::prelude::*;
            diesel::update(
                supporters::table.filter(
                    supporters::email_hash
                        .eq(clarion::db::supporters::email_hash("late@example.org").unwrap()),
                ),
            )
            .set(supporters::status.eq("unsubscribed"))
            .execute(c)
            .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    app.smtp.restart().await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["cancelled"].as_i64()),
        (Some(1), Some(1))
    );
    let rcpts: Vec<String> = app
        .smtp
        .messages()
        .iter()
        .map(|m| m.rcpt_to[0].clone())
        .collect();
    assert_eq!(rcpts, vec!["keen@example.org".to_string()]);
}
