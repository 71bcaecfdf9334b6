//! The public pages: petition, home, case, thanks, embed, counts.json, the
//! friendly error pages and the security headers of every page.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, spawn_app_with, Backend};
use crate::public_support::header;

backend_tests!(
    the_petition_page_shows_title_target_case_count_goal_and_an_accessible_form,
    a_draft_petition_is_404_and_a_closed_one_is_200_without_a_form,
    every_page_carries_a_strict_csp_whose_nonce_is_the_scripts_nonce,
    only_the_embed_page_may_be_framed_and_only_by_configured_origins,
    the_home_page_lists_open_petitions_and_the_case_page_its_petitions,
    unknown_pages_get_a_friendly_404_page,
    counts_json_has_the_contract_shape_and_hides_drafts,
    pages_speak_russian_by_lang_then_accept_language_then_the_default,
    a_petition_closed_through_the_api_shows_closed_at_once_despite_the_page_cache,
    the_cached_petition_page_gets_a_fresh_nonce_per_response_per_language_and_a_new_count,
);

async fn the_petition_page_shows_title_target_case_count_goal_and_an_accessible_form(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"goal": 500})).await;
    let r = app.page("/petitions/free-them").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let html = r.text().await.unwrap();
    for needle in [
        "<html lang=\"en\" dir=\"ltr\">",
        "Free them",
        "The authorities",
        "We ask you to act.",
        "Why it matters.",
        "0 of 500 signatures",
        "<progress max=\"500\" value=\"0\"",
        "action=\"/petitions/free-them/signatures\"",
        "name=\"website\"",
        "name=\"email_opt_in\" value=\"yes\">",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    for (id, name) in [
        ("f-first-name", "first_name"),
        ("f-last-name", "last_name"),
        ("f-email", "email"),
        ("f-country", "country"),
        ("f-postcode", "postcode"),
        ("f-comment", "comment"),
        ("f-email-opt-in", "email_opt_in"),
    ] {
        assert!(
            html.contains(&format!("<label for=\"{id}\">")),
            "label for {id}"
        );
        assert!(
            html.contains(&format!("id=\"{id}\" name=\"{name}\"")),
            "input {name}"
        );
    }
    assert!(!html.contains(" checked"), "opt-in unchecked by default");
    assert!(html.contains("<option value=\"KG\">Kyrgyzstan</option>"));
}

async fn a_draft_petition_is_404_and_a_closed_one_is_200_without_a_form(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("draft-one", json!({"status": "draft"}))
        .await;
    for path in [
        "/petitions/draft-one",
        "/petitions/draft-one/thanks",
        "/petitions/draft-one/embed",
        "/petitions/draft-one/counts.json",
    ] {
        assert_eq!(app.page(path).await.status(), 404, "{path}");
    }
    let p = app.open_petition("closed-one", json!({})).await;
    app.set_petition_status(p["id"].as_str().unwrap(), "closed")
        .await;
    let r = app.page("/petitions/closed-one").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("This petition is closed"));
    assert!(!html.contains("<form"));
}

fn csp_nonce(csp: &str) -> String {
    let start = csp.find("'nonce-").expect("a nonce in script-src") + 7;
    csp[start..].split('\'').next().unwrap().to_string()
}

async fn every_page_carries_a_strict_csp_whose_nonce_is_the_scripts_nonce(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let mut nonces = Vec::new();
    for path in [
        "/",
        "/cases/case-free-them",
        "/petitions/free-them",
        "/petitions/free-them/thanks",
        "/nope",
    ] {
        let r = app.page(path).await;
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        let nonce = csp_nonce(&csp);
        let html = r.text().await.unwrap();
        for (i, _) in html.match_indices("<script") {
            assert!(
                html[i..].starts_with(&format!("<script nonce=\"{nonce}\">")),
                "{path}: every script carries the nonce"
            );
        }
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 5, "a fresh nonce per response");
    let css = app.page("/assets/site.css").await;
    assert_eq!(css.status(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));
}

async fn only_the_embed_page_may_be_framed_and_only_by_configured_origins(b: Backend) {
    let app = spawn_app_with(b, |raw| {
        raw.embed_allowed_origins = vec!["https://partner.example".into()]
    })
    .await;
    app.open_petition("free-them", json!({})).await;
    let r = app.page("/petitions/free-them/embed").await;
    assert_eq!(r.status(), 200);
    let csp = header(&r, "content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'self' https://partner.example"),
        "{csp}"
    );
    assert_eq!(header(&r, "x-frame-options"), "");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("action=\"/petitions/free-them/signatures\""),
        "posts same-origin"
    );
    assert!(html.contains("name=\"embed\" value=\"1\""));
    assert!(!html.contains("site-header"), "the form alone");
    // After signing in the frame, the thanks page may show in the frame too.
    let r = app
        .sign(
            "free-them",
            &crate::public_support::form_with("ann@example.org", &[("embed", "1")]),
        )
        .await;
    let thanks = crate::public_support::location(&r);
    assert_eq!(thanks, "/petitions/free-them/thanks?embed=1");
    let r = app.page(&thanks).await;
    assert!(header(&r, "content-security-policy").contains("https://partner.example"));
}

async fn the_home_page_lists_open_petitions_and_the_case_page_its_petitions(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "the-case").await;
    let case_id = case["id"].as_str().unwrap();
    app.create_petition(
        &token,
        case_id,
        "open-one",
        json!({"title": "Open petition"}),
    )
    .await;
    app.create_petition(
        &token,
        case_id,
        "draft-one",
        json!({"title": "Draft petition", "status": "draft"}),
    )
    .await;
    let closed = app
        .create_petition(
            &token,
            case_id,
            "closed-one",
            json!({"title": "Closed petition"}),
        )
        .await;
    app.set_petition_status(closed["id"].as_str().unwrap(), "closed")
        .await;
    let home = app.page("/").await.text().await.unwrap();
    assert!(home.contains("Open petition") && home.contains("href=\"/petitions/open-one\""));
    assert!(home.contains("0 of 100 signatures"));
    assert!(!home.contains("Draft petition") && !home.contains("Closed petition"));
    let r = app.page("/cases/the-case").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("A case") && html.contains("Why it matters."));
    assert!(html.contains("Open petition") && html.contains("Closed petition"));
    assert!(!html.contains("Draft petition"));
    assert_eq!(app.page("/cases/no-such-case").await.status(), 404);
}

async fn unknown_pages_get_a_friendly_404_page(b: Backend) {
    let app = spawn_app(b).await;
    for path in [
        "/no/such/page",
        "/petitions/nothing",
        "/confirm/unknown-token",
    ] {
        let r = app.page(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(header(&r, "content-type").starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Page not found") && html.contains("href=\"/\""),
            "{path}"
        );
    }
    // The API keeps its problem+json 404.
    let r = app.page("/api/v1/nothing").await;
    assert!(header(&r, "content-type").starts_with("application/problem+json"));
}

async fn counts_json_has_the_contract_shape_and_hides_drafts(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"goal": 1000})).await;
    let r = app.page("/petitions/free-them/counts.json").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("application/json"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"petition": "free-them", "signatures": 0, "goal": 1000, "by_country": {}})
    );
    app.open_petition("no-goal", json!({"goal": null})).await;
    assert_eq!(
        app.counts_json("no-goal").await["goal"],
        serde_json::Value::Null
    );
    assert_eq!(
        app.page("/petitions/nothing/counts.json").await.status(),
        404
    );
}

async fn pages_speak_russian_by_lang_then_accept_language_then_the_default(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.default_locale = "ru".into()).await;
    app.open_petition("free-them", json!({})).await;
    let get = |lang: Option<&str>, accept: Option<&str>| {
        let mut url = format!("{}/petitions/free-them", app.address);
        if let Some(l) = lang {
            url.push_str(&format!("?lang={l}"));
        }
        let mut req = app.client.get(url);
        if let Some(a) = accept {
            req = req.header("Accept-Language", a);
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        get(None, None)
            .await
            .contains("<html lang=\"ru\" dir=\"ltr\">"),
        "default"
    );
    assert!(get(None, Some("en-GB,en;q=0.8"))
        .await
        .contains("<html lang=\"en\" dir=\"ltr\">"));
    assert!(get(Some("en"), Some("ru"))
        .await
        .contains("<html lang=\"en\" dir=\"ltr\">"));
    let ru = get(Some("ru"), Some("en")).await;
    assert!(ru.contains("Подписать петицию") && ru.contains("Выберите страну"));
    assert!(
        ru.contains("href=\"/?lang&#x3D;ru\""),
        "links keep the chosen language"
    );
}

async fn a_petition_closed_through_the_api_shows_closed_at_once_despite_the_page_cache(b: Backend) {
    let app = spawn_app(b).await;
    let p = app.open_petition("free-them", json!({})).await;
    assert!(app
        .page("/petitions/free-them")
        .await
        .text()
        .await
        .unwrap()
        .contains("<form"));
    app.set_petition_status(p["id"].as_str().unwrap(), "closed")
        .await;
    let html = app.page("/petitions/free-them").await.text().await.unwrap();
    assert!(html.contains("This petition is closed") && !html.contains("<form"));
    let r = app
        .sign("free-them", &crate::public_support::form("ann@example.org"))
        .await;
    assert_eq!(r.status(), 410);
}

async fn the_cached_petition_page_gets_a_fresh_nonce_per_response_per_language_and_a_new_count(
    b: Backend,
) {
    // A petition page with nonce'd scripts, to see the nonce in the markup.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pages")).unwrap();
    std::fs::write(
        dir.path().join("pages/petition.html.hbs"),
        "<html lang=\"{{lang}}\"><p>{{petition.count_text}}</p>\
         <script nonce=\"{{nonce}}\">a()</script><script nonce=\"{{nonce}}\">b()</script></html>",
    )
    .unwrap();
    let templates = dir.path().to_string_lossy().to_string();
    let app = spawn_app_with(b, |raw| raw.templates_dir = templates).await;
    app.open_petition(
        "free-them",
        json!({"goal": 500, "require_confirmation": false}),
    )
    .await;
    let get = |query: &'static str, accept: Option<&'static str>| {
        let mut req = app
            .client
            .get(format!("{}/petitions/free-them{query}", app.address));
        if let Some(a) = accept {
            req = req.header("Accept-Language", a);
        }
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let nonce = csp_nonce(&header(&r, "content-security-policy"));
            let html = r.text().await.unwrap();
            let in_markup: Vec<&str> = html
                .match_indices("nonce=\"")
                .map(|(i, _)| html[i + 7..].split('"').next().unwrap())
                .collect();
            assert_eq!(in_markup, [nonce.as_str(), nonce.as_str()], "{html}");
            (nonce, html)
        }
    };
    let mut nonces = Vec::new();
    for _ in 0..3 {
        for (query, accept, lang) in [
            ("", None, "en"),
            ("?lang=ru", None, "ru"),
            ("", Some("ru-RU"), "ru"),
            ("?lang=en", Some("ru"), "en"),
        ] {
            let (nonce, html) = get(query, accept).await;
            assert!(
                html.contains(&format!("<html lang=\"{lang}\">")),
                "{query} {accept:?}: {html}"
            );
            let count = if lang == "ru" {
                "0 из 500"
            } else {
                "0 of 500"
            };
            assert!(html.contains(count), "{html}");
            nonces.push(nonce);
        }
    }
    let n = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), n, "a fresh nonce per response");
    let r = app
        .sign(
            "free-them",
            &crate::public_support::form("cached@example.org"),
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = get("", None).await;
    assert!(html.contains("1 of 500"), "the new count at once: {html}");
    let (_, html) = get("?lang=ru", None).await;
    assert!(
        html.contains("<html lang=\"ru\">") && html.contains("1 из 500"),
        "{html}"
    );
}
