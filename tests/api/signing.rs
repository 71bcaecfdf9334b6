//! `POST /petitions/{slug}/signatures`: every answer of contract §3.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, spawn_app_with, Backend};
use crate::public_support::{form, form_with, header, location};

backend_tests!(
    a_valid_signature_is_pending_and_its_confirmation_mail_is_queued,
    the_same_email_again_gets_the_same_303_and_no_second_signature,
    an_invalid_form_is_422_with_a_message_beside_each_bad_field_and_every_value_kept,
    a_filled_honeypot_gets_the_same_303_and_nothing_is_stored,
    a_cross_site_post_is_403_while_same_origin_and_header_less_posts_are_accepted,
    a_closed_petition_answers_410_and_a_draft_404,
    a_body_over_16_kib_is_413,
    over_the_per_ip_rate_the_answer_is_429_with_retry_after,
    x_forwarded_for_is_believed_only_from_a_trusted_proxy,
    xss_payloads_come_out_escaped_wherever_they_are_shown,
    two_hundred_concurrent_submissions_with_150_distinct_emails_store_150_signatures,
    without_confirmation_a_signature_counts_at_once_with_consent_recorded,
    an_unsubscribed_supporter_who_signs_is_recorded_and_stays_unsubscribed,
    a_russian_form_answers_in_russian_and_keeps_the_language,
);

async fn a_valid_signature_is_pending_and_its_confirmation_mail_is_queued(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let r = app.sign("free-them", &form("ann@example.org")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/petitions/free-them/thanks");
    let sigs = app.signatures().await;
    assert_eq!(sigs.len(), 1);
    let (status, country, opt_in, ip_hash) = &sigs[0];
    assert_eq!(status, "pending");
    assert_eq!(country, "KG");
    assert!(!opt_in);
    let ip_hash = ip_hash.as_deref().expect("an IP hash is kept");
    assert!(
        !ip_hash.contains("127.0.0.1") && ip_hash.len() == 32,
        "{ip_hash}"
    );
    assert_eq!(app.confirmation_count().await, 1);
    assert_eq!(app.counters("free-them").await, (0, 1));
    assert_eq!(app.counts_json("free-them").await["signatures"], 0);
    let (_, status, opt_in, _) = app
        .supporter("ann@example.org")
        .await
        .expect("supporter created");
    assert_eq!(status, "active");
    assert!(!opt_in, "consent is recorded only once confirmed");
    // The thanks page asks the signer to check their mail.
    let thanks = app.page("/petitions/free-them/thanks").await;
    assert_eq!(thanks.status(), 200);
    assert!(thanks
        .text()
        .await
        .unwrap()
        .contains("Open the link in it to confirm"));
}

async fn the_same_email_again_gets_the_same_303_and_no_second_signature(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let first = app.sign("free-them", &form("ann@example.org")).await;
    for variant in ["ann@example.org", "  ANN@Example.ORG ", "Ann@example.org\t"] {
        let r = app.sign("free-them", &form(variant)).await;
        assert_eq!(r.status(), first.status());
        assert_eq!(location(&r), location(&first));
        assert_eq!(r.text().await.unwrap(), "");
    }
    assert_eq!(app.signature_count().await, 1);
    assert_eq!(app.supporter_count().await, 1);
    assert_eq!(
        app.confirmation_count().await,
        1,
        "no second mail within minutes of the first"
    );
    assert_eq!(app.counters("free-them").await, (0, 1));
}

async fn an_invalid_form_is_422_with_a_message_beside_each_bad_field_and_every_value_kept(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let long_comment = "x".repeat(1001);
    let r = app
        .sign(
            "free-them",
            &[
                ("first_name".into(), "Ann http://spam.example".into()),
                ("last_name".into(), "".into()),
                ("email".into(), "ann@@example".into()),
                ("country".into(), "XX".into()),
                ("postcode".into(), "12#4".into()),
                ("comment".into(), long_comment.clone()),
                ("email_opt_in".into(), "yes".into()),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error-summary\""));
    for id in [
        "f-first-name",
        "f-last-name",
        "f-email",
        "f-country",
        "f-postcode",
        "f-comment",
    ] {
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "summary links to {id}"
        );
        assert!(
            html.contains(&format!("id=\"{id}-error\"")),
            "message beside {id}"
        );
    }
    assert_eq!(html.matches("aria-invalid=\"true\"").count(), 6);
    assert!(html.contains("value=\"Ann http://spam.example\""));
    assert!(html.contains("value=\"ann@@example\""));
    assert!(html.contains("value=\"12#4\""));
    assert!(html.contains(&long_comment));
    assert!(html.contains("name=\"email_opt_in\" value=\"yes\" checked"));
    assert!(html.contains("Enter an email address like name@example.org"));
    assert!(html.contains("Use at most 1000 characters"));
    assert_eq!(app.signature_count().await, 0);

    // A valid country is kept selected.
    let r = app
        .sign(
            "free-them",
            &form_with("not-an-email", &[("country", "kg")]),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<option value=\"KG\" selected>"));
}

async fn a_filled_honeypot_gets_the_same_303_and_nothing_is_stored(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let r = app
        .sign(
            "free-them",
            &form_with("bot@example.org", &[("website", "http://spam.example")]),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/petitions/free-them/thanks");
    assert_eq!(app.signature_count().await, 0);
    assert_eq!(app.supporter_count().await, 0);
    assert!(app.confirmation_count().await == 0);
}

async fn a_cross_site_post_is_403_while_same_origin_and_header_less_posts_are_accepted(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let url = format!("{}/petitions/free-them/signatures", app.address);
    let post = |email: &str| app.client.post(&url).form(&form(email));
    let r = post("a@example.org")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post("b@example.org")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post("c@example.org")
        .header("Origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.signature_count().await, 0);

    let r = post("d@example.org")
        .header("Origin", app.settings.base_url.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = post("e@example.org").send().await.unwrap();
    assert_eq!(r.status(), 303, "scripts and curl send neither header");
    assert_eq!(app.signature_count().await, 2);
}

async fn a_closed_petition_answers_410_and_a_draft_404(b: Backend) {
    let app = spawn_app(b).await;
    let closed = app.open_petition("closed-one", json!({})).await;
    app.set_petition_status(closed["id"].as_str().unwrap(), "closed")
        .await;
    let r = app.sign("closed-one", &form("ann@example.org")).await;
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("This petition is closed"));

    app.open_petition("draft-one", json!({"status": "draft"}))
        .await;
    let r = app.sign("draft-one", &form("ann@example.org")).await;
    assert_eq!(r.status(), 404);
    let r = app.sign("no-such-petition", &form("ann@example.org")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.signature_count().await, 0);
}

async fn a_body_over_16_kib_is_413(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let big = "x".repeat(16 * 1024);
    let r = app
        .sign(
            "free-them",
            &form_with("ann@example.org", &[("comment", &big)]),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(app.signature_count().await, 0);
    // Just under the limit is read (and refused for the comment's length).
    let r = app
        .sign(
            "free-them",
            &form_with("ann@example.org", &[("comment", &"x".repeat(15_000))]),
        )
        .await;
    assert_eq!(r.status(), 422);
}

async fn over_the_per_ip_rate_the_answer_is_429_with_retry_after(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.sign_rate_per_ip = 5).await;
    app.open_petition("free-them", json!({})).await;
    for i in 0..5 {
        let r = app
            .sign("free-them", &form(&format!("p{i}@example.org")))
            .await;
        assert_eq!(r.status(), 303, "signature {i} is within the limit");
    }
    let r = app.sign("free-them", &form("p5@example.org")).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    assert_eq!(app.signature_count().await, 5);
}

async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy(b: Backend) {
    let post = |app: &crate::helpers::TestApp, ip: &str, email: &str| {
        app.client
            .post(format!("{}/petitions/free-them/signatures", app.address))
            .header("X-Forwarded-For", format!("203.0.113.9, {ip}"))
            .form(&form(email))
            .send()
    };
    let trusted = spawn_app_with(b.clone(), |raw| {
        raw.sign_rate_per_ip = 2;
        raw.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    trusted.open_petition("free-them", json!({})).await;
    assert_eq!(
        post(&trusted, "198.51.100.1", "a@example.org")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post(&trusted, "198.51.100.1", "b@example.org")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post(&trusted, "198.51.100.1", "c@example.org")
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        post(&trusted, "198.51.100.2", "d@example.org")
            .await
            .unwrap()
            .status(),
        303
    );

    let untrusted = spawn_app_with(b, |raw| raw.sign_rate_per_ip = 2).await;
    untrusted.open_petition("free-them", json!({})).await;
    assert_eq!(
        post(&untrusted, "198.51.100.1", "a@example.org")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post(&untrusted, "198.51.100.2", "b@example.org")
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post(&untrusted, "198.51.100.3", "c@example.org")
            .await
            .unwrap()
            .status(),
        429,
        "a client cannot dodge the limit by inventing X-Forwarded-For"
    );
}

const XSS: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";

fn assert_escaped(html: &str, what: &str) {
    assert!(!html.contains("<script>alert(1)"), "raw script in {what}");
    assert!(!html.contains("<img src=x"), "raw img in {what}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped payload in {what}"
    );
}

async fn xss_payloads_come_out_escaped_wherever_they_are_shown(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"slug": "xss-case", "title": format!("Case {XSS}"), "summary": format!("Summary {XSS}"), "body": XSS}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let case: serde_json::Value = r.json().await.unwrap();
    app.create_petition(
        &token,
        case["id"].as_str().unwrap(),
        "xss",
        json!({"title": format!("Title {XSS}"), "target": format!("Target {XSS}"), "body": XSS}),
    )
    .await;
    for path in [
        "/",
        "/cases/xss-case",
        "/petitions/xss",
        "/petitions/xss/thanks",
        "/petitions/xss/embed",
    ] {
        let r = app.page(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_escaped(&r.text().await.unwrap(), path);
    }
    // Every form field comes back escaped on a 422.
    let fields: Vec<(String, String)> = [
        "first_name",
        "last_name",
        "email",
        "country",
        "postcode",
        "comment",
    ]
    .iter()
    .map(|f| (f.to_string(), XSS.to_string()))
    .collect();
    let r = app.sign("xss", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert_escaped(&html, "the 422 form");
    assert!(!html.contains("value=\"<"), "attribute values are escaped");
    // A comment with markup is a valid comment: stored as typed, shown nowhere raw.
    let r = app
        .sign("xss", &form_with("ann@example.org", &[("comment", XSS)]))
        .await;
    assert_eq!(r.status(), 303);
    let tokens = app.mailed_tokens(1).await;
    let r = app.post_empty(&format!("/confirm/{}", tokens[0])).await;
    assert_eq!(r.status(), 200);
    assert_escaped(&r.text().await.unwrap(), "the confirmation thanks page");
    // ?lang= is never echoed unescaped.
    let r = app
        .page("/petitions/xss?lang=%22%3E%3Cscript%3Ealert(3)%3C/script%3E")
        .await;
    assert!(!r.text().await.unwrap().contains("<script>alert(3)"));
}

async fn two_hundred_concurrent_submissions_with_150_distinct_emails_store_150_signatures(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    let mut emails: Vec<String> = (0..150).map(|i| format!("person{i}@example.org")).collect();
    // 50 more that differ from one of the first only in case and spaces.
    for i in 0..50 {
        emails.push(format!("  PERSON{}@Example.Org ", i * 3));
    }
    let url = format!("{}/petitions/free-them/signatures", app.address);
    let requests = emails.iter().map(|e| {
        let client = app.client.clone();
        let url = url.clone();
        let body = form(e);
        async move {
            client
                .post(url)
                .form(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    assert_eq!(app.signature_count().await, 150);
    assert_eq!(app.supporter_count().await, 150);
    assert_eq!(app.counters("free-them").await, (150, 0));
    let counts = app.counts_json("free-them").await;
    assert_eq!(counts["signatures"], 150);
    assert_eq!(counts["by_country"]["KG"], 150);
}

async fn without_confirmation_a_signature_counts_at_once_with_consent_recorded(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition(
        "instant",
        json!({"require_confirmation": false, "goal": 10}),
    )
    .await;
    let r = app
        .sign(
            "instant",
            &form_with(
                "ann@example.org",
                &[("email_opt_in", "yes"), ("country", "RU")],
            ),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.confirmation_count().await == 0, "no confirmation mail");
    let counts = app.counts_json("instant").await;
    assert_eq!(
        counts,
        json!({"petition": "instant", "signatures": 1, "goal": 10, "by_country": {"RU": 1}})
    );
    let (_, status, opt_in, wording) = app.supporter("ann@example.org").await.unwrap();
    assert_eq!(status, "active");
    assert!(opt_in);
    assert_eq!(
        wording.as_deref(),
        Some("Yes, email me about urgent actions for human rights. I can unsubscribe at any time.")
    );
    let html = app.page("/petitions/instant").await.text().await.unwrap();
    assert!(html.contains("1 of 10 signatures"));
    let thanks = app
        .page("/petitions/instant/thanks")
        .await
        .text()
        .await
        .unwrap();
    assert!(thanks.contains("Your signature counts"));
}

async fn an_unsubscribed_supporter_who_signs_is_recorded_and_stays_unsubscribed(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("first", json!({"require_confirmation": false}))
        .await;
    app.open_petition("second", json!({"require_confirmation": false}))
        .await;
    app.sign("first", &form("ann@example.org")).await;
    let (id, _, _, _) = app.supporter("ann@example.org").await.unwrap();
    let token = app.keys().await.sign("unsubscribe", &id);
    assert_eq!(
        app.post_empty(&format!("/unsubscribe/{token}"))
            .await
            .status(),
        200
    );
    let r = app
        .sign(
            "second",
            &form_with("ann@example.org", &[("email_opt_in", "yes")]),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.signature_count().await, 2);
    let (_, status, opt_in, _) = app.supporter("ann@example.org").await.unwrap();
    assert_eq!(status, "unsubscribed");
    assert!(!opt_in, "signing does not re-subscribe");
}

async fn a_russian_form_answers_in_russian_and_keeps_the_language(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let html = app
        .page("/petitions/free-them?lang=ru")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"ru\" dir=\"ltr\">"));
    assert!(html.contains("name=\"lang\" value=\"ru\""));
    assert!(html.contains("Кыргызстан"));
    let r = app
        .sign("free-them", &form_with("bad", &[("lang", "ru")]))
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"ru\" dir=\"ltr\">") && html.contains("Введите адрес вида"));
    let r = app
        .sign(
            "free-them",
            &form_with("ann@example.org", &[("lang", "ru")]),
        )
        .await;
    assert_eq!(location(&r), "/petitions/free-them/thanks?lang=ru");
    // Accept-Language picks Russian too.
    let r = app
        .client
        .get(format!("{}/petitions/free-them", app.address))
        .header("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Подпишите петицию"));
}
