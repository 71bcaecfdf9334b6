//! Double opt-in: `/confirm/{token}`, and `/unsubscribe/{token}`.

use std::time::Duration;

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, spawn_app_with, Backend};
use crate::public_support::{form, form_with, header};

backend_tests!(
    the_confirmation_mail_is_written_in_the_language_the_person_signed_in,
    the_confirmation_mail_arrives_and_its_link_confirms_through_get_then_post,
    a_get_of_the_confirmation_link_changes_nothing_and_its_page_posts_itself,
    a_post_confirms_once_counts_once_and_records_consent,
    an_unknown_confirmation_token_is_404_on_get_and_post,
    an_expired_pending_signature_cannot_be_confirmed_and_signing_again_starts_over,
    counts_never_go_backwards_and_by_country_follows_confirmations,
    the_unsubscribe_page_shows_a_button_and_its_post_unsubscribes,
    one_click_unsubscribe_works_and_forged_tokens_are_404,
);

async fn a_get_of_the_confirmation_link_changes_nothing_and_its_page_posts_itself(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.sign("free-them", &form("ann@example.org")).await;
    let token = app.mailed_tokens(1).await.remove(0);
    for _ in 0..3 {
        let r = app.page(&format!("/confirm/{token}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "cache-control"), "no-store");
        let nonce = {
            let csp = header(&r, "content-security-policy");
            let s = csp.find("'nonce-").unwrap() + 7;
            csp[s..].split('\'').next().unwrap().to_string()
        };
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!(
            "<form method=\"post\" action=\"/confirm/{token}\""
        )));
        assert!(
            html.contains("<button type=\"submit\""),
            "a button where scripts are off"
        );
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(html.contains(".submit()"));
    }
    let head = app
        .client
        .head(format!("{}/confirm/{token}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        app.counters("free-them").await,
        (0, 1),
        "scanners confirm nothing"
    );
    assert_eq!(app.signatures().await[0].0, "pending");
}

async fn a_post_confirms_once_counts_once_and_records_consent(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.sign(
        "free-them",
        &form_with(
            "ann@example.org",
            &[("email_opt_in", "yes"), ("lang", "ru")],
        ),
    )
    .await;
    let token = app.mailed_tokens(1).await.remove(0);
    for _ in 0..2 {
        let r = app.post_empty(&format!("/confirm/{token}")).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("<html lang=\"ru\" dir=\"ltr\">"),
            "in the signer's language"
        );
        assert!(html.contains("Подпись подтверждена"));
        assert!(
            html.contains("mailto:?subject&#x3D;"),
            "the thanks page with share links"
        );
    }
    assert_eq!(app.counters("free-them").await, (1, 0));
    assert_eq!(app.counts_json("free-them").await["signatures"], 1);
    let (_, status, opt_in, wording) = app.supporter("ann@example.org").await.unwrap();
    assert_eq!(status, "active");
    assert!(opt_in);
    assert_eq!(
        wording.as_deref(),
        Some("Да, присылайте мне письма о срочных действиях в защиту прав человека. Я могу отписаться в любой момент."),
        "the wording the signer saw, in their language"
    );
    // Once confirmed, the link shows the thanks page again and changes nothing.
    let r = app.page(&format!("/confirm/{token}?lang=en")).await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your signature is confirmed"));
    assert_eq!(app.counters("free-them").await, (1, 0));
    // Signing again after confirming changes nothing either.
    app.sign("free-them", &form("ann@example.org")).await;
    assert_eq!(app.counters("free-them").await, (1, 0));
    assert_eq!(app.confirmation_count().await, 1);
}

async fn an_unknown_confirmation_token_is_404_on_get_and_post(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.sign("free-them", &form("ann@example.org")).await;
    let token = app.mailed_tokens(1).await.remove(0);
    let wrong = format!("{}x", &token[..token.len() - 1]);
    for t in [wrong.as_str(), "short", "<script>"] {
        let path = format!("/confirm/{}", urlencode(t));
        assert_eq!(app.page(&path).await.status(), 404, "GET {t}");
        assert_eq!(app.post_empty(&path).await.status(), 404, "POST {t}");
    }
    assert_eq!(app.counters("free-them").await, (0, 1));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn an_expired_pending_signature_cannot_be_confirmed_and_signing_again_starts_over(
    b: Backend,
) {
    let app = spawn_app_with(b, |raw| raw.pending_signature_ttl_hours = 0).await;
    app.open_petition("free-them", json!({})).await;
    app.sign("free-them", &form("ann@example.org")).await;
    let old = app.mailed_tokens(1).await.remove(0);
    let r = app.post_empty(&format!("/confirm/{old}")).await;
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("This link has expired"));
    assert_eq!(app.page(&format!("/confirm/{old}")).await.status(), 410);
    assert_eq!(app.counters("free-them").await, (0, 1));
    // Signing again replaces the expired signature: one signature, a new mail.
    app.sign("free-them", &form("ann@example.org")).await;
    assert_eq!(app.signature_count().await, 1);
    assert_eq!(app.confirmation_count().await, 2);
    assert_eq!(app.counters("free-them").await, (0, 1));
    assert_eq!(
        app.post_empty(&format!("/confirm/{old}")).await.status(),
        404
    );
}

async fn counts_never_go_backwards_and_by_country_follows_confirmations(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let countries = ["KG", "KG", "RU", "GB", "KG"];
    for (i, c) in countries.iter().enumerate() {
        app.sign(
            "free-them",
            &form_with(&format!("p{i}@example.org"), &[("country", c)]),
        )
        .await;
    }
    let mut last = -1;
    for token in app.mailed_tokens(5).await {
        assert_eq!(
            app.post_empty(&format!("/confirm/{token}")).await.status(),
            200
        );
        let n = app.counts_json("free-them").await["signatures"]
            .as_i64()
            .unwrap();
        assert!(n > last, "{n} after {last}");
        last = n;
    }
    let counts = app.counts_json("free-them").await;
    assert_eq!(counts["signatures"], 5);
    assert_eq!(counts["by_country"], json!({"GB": 1, "KG": 3, "RU": 1}));
    let html = app.page("/petitions/free-them").await.text().await.unwrap();
    assert!(html.contains("5 of 100 signatures"));
    assert!(html.contains("Kyrgyzstan: 3"));
}

async fn the_unsubscribe_page_shows_a_button_and_its_post_unsubscribes(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    app.sign(
        "free-them",
        &form_with("ann@example.org", &[("email_opt_in", "yes")]),
    )
    .await;
    let (id, _, _, _) = app.supporter("ann@example.org").await.unwrap();
    let token = app.keys().await.sign("unsubscribe", &id);
    let r = app.page(&format!("/unsubscribe/{token}")).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("action=\"/unsubscribe/{token}\"")));
    assert!(html.contains(">Unsubscribe</button>"));
    assert_eq!(
        app.supporter("ann@example.org").await.unwrap().1,
        "active",
        "GET changes nothing"
    );
    let r = app.post_empty(&format!("/unsubscribe/{token}")).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    let (_, status, opt_in, _) = app.supporter("ann@example.org").await.unwrap();
    assert_eq!(status, "unsubscribed");
    assert!(!opt_in);
    // Again: still fine, nothing changes.
    assert_eq!(
        app.post_empty(&format!("/unsubscribe/{token}"))
            .await
            .status(),
        200
    );
    assert!(app
        .page(&format!("/unsubscribe/{token}"))
        .await
        .text()
        .await
        .unwrap()
        .contains("You are unsubscribed"));
    assert_eq!(
        app.counts_json("free-them").await["signatures"],
        1,
        "signatures still count"
    );
}

async fn one_click_unsubscribe_works_and_forged_tokens_are_404(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    app.sign("free-them", &form("ann@example.org")).await;
    let (id, _, _, _) = app.supporter("ann@example.org").await.unwrap();
    let keys = app.keys().await;
    // RFC 8058: a mail provider POSTs this body, cross-site, without cookies.
    let r = app
        .client
        .post(format!(
            "{}/unsubscribe/{}",
            app.address,
            keys.sign("unsubscribe", &id)
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", "https://mail.example")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.supporter("ann@example.org").await.unwrap().1,
        "unsubscribed"
    );

    let forged = [
        keys.sign("confirm", &id),
        keys.sign("unsubscribe", "0190a000-0000-7000-8000-000000000000"),
        clarion::security::Keys::new("another-secret-0123456789abcdef0123")
            .sign("unsubscribe", &id),
        "garbage".to_string(),
    ];
    for t in forged {
        assert_eq!(
            app.page(&format!("/unsubscribe/{t}")).await.status(),
            404,
            "GET {t}"
        );
        assert_eq!(
            app.post_empty(&format!("/unsubscribe/{t}")).await.status(),
            404,
            "POST {t}"
        );
    }
}

async fn the_confirmation_mail_arrives_and_its_link_confirms_through_get_then_post(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"title": "Free them now"}))
        .await;
    let r = app.sign("free-them", &form("Ann@Example.org")).await;
    assert_eq!(r.status(), 303);
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to, vec!["ann@example.org".to_string()]);
    let text = mails[0]
        .text_parts()
        .into_iter()
        .find(|(t, _)| t == "text/plain")
        .expect("a text part")
        .1;
    let prefix = format!("{}/confirm/", app.settings.base_url);
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"))
        .to_string();
    // What a mail scanner does: fetch the link. Nothing is confirmed.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let path = &link[app.settings.base_url.len()..];
    assert!(html.contains(&format!("action=\"{path}\"")));
    assert_eq!(app.counts_json("free-them").await["signatures"], 0);
    // What the page's script (or its button) does: POST to itself.
    let r = app.client.post(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your signature is confirmed"));
    assert_eq!(app.counts_json("free-them").await["signatures"], 1);
    assert_eq!(app.counters("free-them").await, (1, 0));
}

async fn the_confirmation_mail_is_written_in_the_language_the_person_signed_in(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.sign(
        "free-them",
        &form_with("ann@example.org", &[("lang", "ru")]),
    )
    .await;
    app.sign("free-them", &form("bob@example.org")).await;
    let mails = app.smtp.wait_for(2, Duration::from_secs(20)).await;
    let text_of = |who: &str| {
        let m = mails.iter().find(|m| m.rcpt_to[0] == who).unwrap();
        let text = m
            .text_parts()
            .into_iter()
            .find(|(t, _)| t == "text/plain")
            .map(|(_, b)| b)
            .unwrap();
        (m.decoded_header("Subject").unwrap(), text)
    };
    let (subject, text) = text_of("ann@example.org");
    assert!(subject.starts_with("Подтвердите"), "{subject}");
    assert!(
        text.contains("Ваша подпись будет учтена после подтверждения"),
        "{text}"
    );
    assert!(text.contains("/confirm/"));
    let (subject, text) = text_of("bob@example.org");
    assert!(
        subject.starts_with("Please confirm your signature"),
        "{subject}"
    );
    assert!(
        text.contains("Your signature counts once you confirm it"),
        "{text}"
    );
    // Confirming is answered by the receipt mail, in the same language.
    let token = app
        .mailed_tokens_for(2, &["ann@example.org"])
        .await
        .remove(0);
    assert_eq!(
        app.post_empty(&format!("/confirm/{token}")).await.status(),
        200
    );
    app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let receipts = app.receipt_mails();
    assert_eq!(receipts.len(), 1);
    let (to, subject, text) = &receipts[0];
    assert_eq!(to, &["ann@example.org"]);
    assert!(subject.starts_with("Ваша подпись учтена"), "{subject}");
    assert!(text.contains("Код вашей квитанции"), "{text}");
}
