//! An alert in several languages (contract §9): each supporter gets the
//! variant of their language, greeting, footer and unsubscribe wording
//! included, everyone else the alert's own text with its fixed parts in the
//! alert's language; the preview per language; variants checked and
//! changed only while the alert is a draft; the console's variant editor.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{assert_problem, spawn_app, Backend, Person, TestApp};
use crate::smtp_sink::ReceivedMail;
use clarion::db::schema::supporters;

backend_tests!(
    each_supporter_gets_the_variant_of_their_language_with_its_fixed_parts_and_others_the_alerts_own_text,
    an_alert_in_another_language_writes_its_fixed_parts_in_that_language,
    the_preview_shows_the_copy_of_the_language_asked_for,
    bad_variants_are_refused_naming_every_bad_field,
    variants_change_only_while_the_alert_is_a_draft,
    in_the_console_a_campaigner_adds_a_language_and_previews_it,
    a_test_copy_comes_in_the_language_asked_for,
);

const FRENCH: &str = "Audience le 11 juillet";
const FRENCH_BODY: &str = "Agissez **maintenant**.";

fn french() -> Value {
    json!({"locale": "fr", "subject": FRENCH, "body_markdown": FRENCH_BODY})
}

async fn set_locale(app: &TestApp, email: &str, locale: Option<&str>) {
    let (email, locale) = (email.to_string(), locale.map(String::from));
    app.db
        .run(move |c| {
            // Addresses are sealed: found by their keyed hash.
            let id = clarion::db::supporters::id_by_email(c, &email)?.expect("a supporter");
            diesel::update(supporters::table.find(id.as_str()))
                .set(supporters::locale.eq(locale))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
}

/// A case and a draft to `list` with the fields of `extra`.
async fn draft(app: &TestApp, token: &str, list: &str, extra: Value) -> Value {
    let case = app.create_case(token, "askarov").await;
    let mut body = json!({"case_id": case["id"], "list_ids": [list],
        "subject": "Hearing on 11 July", "body_markdown": "Please act now."});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/alerts", token, body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn to(mails: &[ReceivedMail], email: &str) -> ReceivedMail {
    mails
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == email))
        .unwrap_or_else(|| panic!("a message to {email}"))
        .clone()
}

/// Subject, text part and HTML part of a message, decoded.
fn read(m: &ReceivedMail) -> (String, String, String) {
    let parts = m.text_parts();
    let part = |t: &str| {
        parts
            .iter()
            .find(|(mime, _)| mime == t)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("a {t} part"))
    };
    (
        m.decoded_header("Subject").expect("a subject"),
        part("text/plain"),
        part("text/html"),
    )
}

async fn each_supporter_gets_the_variant_of_their_language_with_its_fixed_parts_and_others_the_alerts_own_text(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app
        .seed_list(
            "everyone",
            &[
                Person::active("anne@example.org", "Anne"),
                Person::active("dana@example.org", "Dana"),
                Person::active("boris@example.org", "Boris"),
                Person::active("cam@example.org", "Cam"),
            ],
        )
        .await;
    set_locale(&app, "anne@example.org", Some("fr")).await;
    set_locale(&app, "dana@example.org", Some("fr-CA")).await;
    set_locale(&app, "boris@example.org", Some("ru")).await;
    let a = draft(&app, &token, &list, json!({"variants": [french()]})).await;
    assert_eq!(a["variants"], json!([french()]));
    assert_eq!(a["locale"], Value::Null);
    let id = a["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let mails = app.smtp.wait_for(4, Duration::from_secs(20)).await;
    for (email, name) in [("anne@example.org", "Anne"), ("dana@example.org", "Dana")] {
        let (subject, text, html) = read(&to(&mails, email));
        assert_eq!(subject, FRENCH, "{email}");
        assert!(text.contains(&format!("Bonjour {name},")), "{text}");
        assert!(text.contains("Agissez maintenant."), "{text}");
        assert!(text.contains("Se désabonner\u{a0}: http"), "{text}");
        assert!(
            text.contains("les actions urgentes de"),
            "French footer: {text}"
        );
        assert!(!text.contains("Please act now"), "{text}");
        assert!(html.contains("<html lang=\"fr\""), "{html}");
        assert!(html.contains("<strong>maintenant</strong>"), "{html}");
        assert!(html.contains(">Se désabonner</a>"), "{html}");
        assert!(html.contains("Action urgente"), "{html}");
    }
    // No Russian variant: the alert's own text, its fixed parts in the
    // alert's language (the default, English), as for Cam who has none.
    for (email, name) in [("boris@example.org", "Boris"), ("cam@example.org", "Cam")] {
        let (subject, text, html) = read(&to(&mails, email));
        assert_eq!(subject, "Hearing on 11 July", "{email}");
        assert!(text.contains(&format!("Dear {name},")), "{text}");
        assert!(text.contains("Please act now."), "{text}");
        assert!(text.contains("Unsubscribe: http"), "{text}");
        assert!(!text.contains("Bonjour"), "{text}");
        assert!(html.contains("<html lang=\"en\""), "{html}");
        assert!(html.contains(">Unsubscribe</a>"), "{html}");
    }
    let done = app.wait_alert_done(&token, id).await;
    assert_eq!(done["sent"], 4);
}

async fn an_alert_in_another_language_writes_its_fixed_parts_in_that_language(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app
        .seed_list(
            "everyone",
            &[
                Person::active("lucia@example.org", "Lucía"),
                Person::active("anne@example.org", "Anne"),
                Person::active("omar@example.org", ""),
            ],
        )
        .await;
    set_locale(&app, "anne@example.org", Some("fr")).await;
    set_locale(&app, "omar@example.org", Some("ar")).await;
    let a = draft(
        &app,
        &token,
        &list,
        json!({"locale": "es", "subject": "Audiencia el 11 de julio",
            "body_markdown": "Actúa ahora.", "variants": [french(),
            {"locale": "ar", "subject": "جلسة في 11 يوليو", "body_markdown": "تحرّك الآن."}]}),
    )
    .await;
    assert_eq!(a["locale"], "es");
    let id = a["id"].as_str().unwrap();
    app.post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    let mails = app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let (subject, text, _) = read(&to(&mails, "lucia@example.org"));
    assert_eq!(subject, "Audiencia el 11 de julio");
    assert!(text.contains("Hola, Lucía:"), "{text}");
    assert!(text.contains("Darse de baja: http"), "{text}");
    let (subject, text, _) = read(&to(&mails, "anne@example.org"));
    assert_eq!(subject, FRENCH);
    assert!(text.contains("Bonjour Anne,"), "{text}");
    // Arabic, right to left, greeting a person with no first name in Arabic.
    let (subject, text, html) = read(&to(&mails, "omar@example.org"));
    assert_eq!(subject, "جلسة في 11 يوليو");
    assert!(text.contains("مرحبًا بك،"), "{text}");
    assert!(html.contains("dir=\"rtl\""), "{html}");
    assert!(html.contains("إلغاء الاشتراك"), "{html}");
}

async fn the_preview_shows_the_copy_of_the_language_asked_for(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("organiser").await;
    let campaigner = app.token("campaigner").await;
    let list = app
        .seed_list("everyone", &[Person::active("anne@example.org", "Anne")])
        .await;
    set_locale(&app, "anne@example.org", Some("fr")).await;
    let a = draft(&app, &campaigner, &list, json!({"variants": [french()]})).await;
    let id = a["id"].as_str().unwrap();
    let path = format!("/api/v1/alerts/{id}/preview");
    let preview = |body: Value| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let r = app.post(path, token, body).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let fr = preview(json!({"locale": "fr"})).await;
    assert_eq!(fr["subject"], FRENCH);
    assert!(fr["text"].as_str().unwrap().contains("Bonjour Alex,"));
    assert!(fr["html"].as_str().unwrap().contains("lang=\"fr\""));
    // A language without a variant: the alert's own text, in English.
    let ru = preview(json!({"locale": "ru"})).await;
    assert_eq!(ru["subject"], "Hearing on 11 July");
    assert!(ru["text"].as_str().unwrap().contains("Dear Alex,"));
    let own = preview(json!({})).await;
    assert_eq!(own["subject"], "Hearing on 11 July");
    // A supporter is shown the copy of their own language.
    let anne: String = {
        let db = app.db.clone();
        db.run(|c| {
            clarion::db::supporters::id_by_email(c, "anne@example.org")
                .map(|id| id.expect("anne").as_str().to_string())
        })
        .await
        .unwrap()
    };
    let theirs = preview(json!({"supporter_id": anne})).await;
    assert_eq!(theirs["subject"], FRENCH);
    assert!(theirs["text"].as_str().unwrap().contains("Bonjour Anne,"));
    let r = app.post(&path, &token, json!({"locale": "de"})).await;
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "locale");
}

async fn bad_variants_are_refused_naming_every_bad_field(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app.seed_list("everyone", &[]).await;
    let case = app.create_case(&token, "askarov").await;
    let body = |extra: Value| {
        let mut b = json!({"case_id": case["id"], "list_ids": [list],
            "subject": "Hearing", "body_markdown": "Act."});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let fields = |p: &Value| -> Vec<String> {
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            body(json!({"locale": "klingon", "variants": [
                {"locale": "de", "subject": "Anhörung", "body_markdown": "Handeln."},
                {"locale": "fr", "subject": "deux\nlignes", "body_markdown": "Agir."},
                {"locale": "FR", "subject": "Encore", "body_markdown": "Agir."},
                {"locale": "es", "subject": "x".repeat(201)},
            ]})),
        )
        .await;
    let p = assert_problem(r, 422).await;
    assert_eq!(
        fields(&p),
        [
            "locale",
            "variants[0].locale",
            "variants[1].subject",
            "variants[2].locale",
            "variants[3].subject",
            "variants[3].body_markdown",
        ]
    );
    for shape in [json!("fr"), json!(["fr"]), json!([{"locale": 3}])] {
        let r = app
            .post("/api/v1/alerts", &token, body(json!({"variants": shape})))
            .await;
        let p = assert_problem(r, 422).await;
        let f = fields(&p);
        assert!(
            f == ["variants"] || f.iter().all(|f| f.starts_with("variants[0].")),
            "{shape}: {f:?}"
        );
    }
    let r = app.get("/api/v1/alerts", &token).await;
    let listed: Value = r.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "nothing stored");
}

async fn variants_change_only_while_the_alert_is_a_draft(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app
        .seed_list("everyone", &[Person::active("anne@example.org", "Anne")])
        .await;
    let a = draft(&app, &token, &list, json!({})).await;
    assert_eq!(a["variants"], json!([]));
    let id = a["id"].as_str().unwrap();
    let path = format!("/api/v1/alerts/{id}");
    let r = app
        .patch(
            &path,
            &token,
            json!({"variants": [french()], "locale": "en"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["variants"], json!([french()]));
    assert_eq!(a["locale"], "en");
    // A PATCH that leaves them out keeps them.
    let r = app.patch(&path, &token, json!({"subject": "New"})).await;
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["variants"], json!([french()]));
    let r = app.patch(&path, &token, json!({"variants": []})).await;
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["variants"], json!([]));
    app.patch(&path, &token, json!({"variants": [french()]}))
        .await;
    app.post(&format!("{path}/send"), &token, json!({})).await;
    let r = app
        .patch(
            &path,
            &token,
            json!({"variants": [{"locale": "ru", "subject": "Слушание", "body_markdown": "Действуйте."}]}),
        )
        .await;
    assert_problem(r, 409).await;
    assert_eq!(app.alert(&token, id).await["variants"], json!([french()]));
}

async fn in_the_console_a_campaigner_adds_a_language_and_previews_it(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app
        .seed_list("everyone", &[Person::active("anne@example.org", "Anne")])
        .await;
    let case = app.create_case(&token, "askarov").await;
    let case_id = case["id"].as_str().unwrap();
    let br = signed_in(&app, "campaigner").await;
    let compose = br.page("/admin/alerts/new").await;
    assert!(
        compose.contains("name=\"variant_locale_0\""),
        "an add-a-language row"
    );
    let base = [
        ("case_id", case_id),
        ("list_ids", list.as_str()),
        ("subject", "Hearing on 11 July"),
        ("body_markdown", "Please act now."),
        ("locale", ""),
    ];
    // A language whose text is missing is named beside its field.
    let mut fields = base.to_vec();
    fields.extend([("variant_locale_0", "fr"), ("variant_subject_0", FRENCH)]);
    let r = br
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("field-error"), "{html}");
    assert!(
        html.contains(&format!("value=\"{FRENCH}\"")),
        "kept as typed"
    );
    // Now complete: saved with its variant.
    fields.push(("variant_body_0", FRENCH_BODY));
    let r = br
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    assert_eq!(r.status(), 303);
    let page = location(&r);
    let id = page.rsplit('/').next().unwrap().to_string();
    assert_eq!(app.alert(&token, &id).await["variants"], json!([french()]));
    let html = br.page(&page).await;
    assert!(
        html.contains(&format!("href=\"/admin/alerts/{id}/preview?locale=fr\"")),
        "a preview link for French"
    );
    assert!(html.contains("Aperçu en Français") || html.contains("Preview in Français"));
    let preview = br
        .page(&format!("/admin/alerts/{id}/preview?locale=fr"))
        .await;
    assert!(preview.contains("lang=\"fr\""), "{preview}");
    assert!(preview.contains("Bonjour Alex,"), "{preview}");
    assert!(preview.contains("<strong>maintenant</strong>"), "{preview}");
    // Add a language and see its preview before saving it: each row has a
    // "Preview this language" button posting the form into the frame.
    let html = br.page(&page).await;
    for i in [0, 1] {
        assert!(
            html.contains(&format!("name=\"preview_variant\" value=\"{i}\"")),
            "row {i} has a preview button: {html}"
        );
    }
    let preview_path = format!("/admin/alerts/{id}/preview");
    let mut unsaved = base.to_vec();
    unsaved.extend([
        ("variant_locale_0", "fr"),
        ("variant_subject_0", FRENCH),
        ("variant_body_0", FRENCH_BODY),
        ("variant_locale_1", "es"),
        ("variant_subject_1", "Audiencia"),
        ("variant_body_1", "Actúa **hoy**."),
        ("preview_variant", "1"),
    ]);
    let r = br.submit(&page, &preview_path, &unsaved).await;
    assert_eq!(r.status(), 200);
    let es = r.text().await.unwrap();
    assert!(es.contains("<html lang=\"es\""), "{es}");
    assert!(es.contains("Hola, Alex:"), "Spanish greeting: {es}");
    assert!(es.contains("Actúa <strong>hoy</strong>."), "{es}");
    assert!(es.contains(">Darse de baja</a>"), "{es}");
    assert!(!es.contains("Please act now"), "{es}");
    // Nothing was saved by previewing.
    assert_eq!(app.alert(&token, &id).await["variants"], json!([french()]));
    // A saved language's row previews its unsaved edits.
    unsaved.retain(|(k, _)| *k != "preview_variant");
    let mut edited = unsaved.clone();
    edited.retain(|(k, _)| *k != "variant_body_0");
    edited.extend([
        ("variant_body_0", "Agissez *demain*."),
        ("preview_variant", "0"),
    ]);
    let fr = br
        .submit(&page, &preview_path, &edited)
        .await
        .text()
        .await
        .unwrap();
    assert!(fr.contains("<html lang=\"fr\""), "{fr}");
    assert!(fr.contains("<em>demain</em>"), "{fr}");
    // A row with no language yet says what is missing, in the frame.
    let mut nameless = unsaved.clone();
    nameless.retain(|(k, _)| *k != "variant_locale_1");
    nameless.push(("preview_variant", "1"));
    let r = br.submit(&page, &preview_path, &nameless).await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Choose the language of this text"));
    // Add Spanish beside French, then remove French.
    let mut edit = base.to_vec();
    edit.extend([
        ("variant_locale_0", "fr"),
        ("variant_subject_0", FRENCH),
        ("variant_body_0", FRENCH_BODY),
        ("variant_locale_1", "es"),
        ("variant_subject_1", "Audiencia"),
        ("variant_body_1", "Actúa."),
    ]);
    let r = br.submit(&page, &page, &edit).await;
    assert_eq!(r.status(), 303);
    let a = app.alert(&token, &id).await;
    let langs: Vec<&str> = a["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["locale"].as_str().unwrap())
        .collect();
    assert_eq!(langs, ["es", "fr"]);
    edit.push(("variant_remove_0", "yes"));
    let r = br.submit(&page, &page, &edit).await;
    assert_eq!(r.status(), 303);
    let a = app.alert(&token, &id).await;
    assert_eq!(a["variants"][0]["locale"], "es");
    assert_eq!(a["variants"].as_array().unwrap().len(), 1);
}

async fn a_test_copy_comes_in_the_language_asked_for(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = app
        .seed_list("everyone", &[Person::active("anne@example.org", "Anne")])
        .await;
    let a = draft(&app, &token, &list, json!({"variants": [french()]})).await;
    let id = a["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/alerts/{id}/test");
    let test = |locale: &str| {
        let body = json!({"email": "me@example.org", "locale": locale});
        app.post(&path, &token, body)
    };
    let p = assert_problem(test("de").await, 422).await;
    assert_eq!(p["errors"][0]["field"], "locale");
    // The API: the French copy, fixed parts in French.
    assert_eq!(test("fr").await.status(), 202);
    let mails = app.smtp.wait_for(1, Duration::from_secs(20)).await;
    let (subject, text, html) = read(&to(&mails, "me@example.org"));
    assert_eq!(subject, format!("[TEST] {FRENCH}"));
    assert!(text.contains("Agissez maintenant."), "{text}");
    assert!(html.contains("<html lang=\"fr\""), "{html}");
    assert!(html.contains(">Se désabonner</a>"), "{html}");

    // The console offers the alert's own text and each saved language; the
    // console's own language is chosen when the alert has it.
    let br = signed_in(&app, "campaigner").await;
    let page = format!("/admin/alerts/{id}");
    let html = br.page(&page).await;
    assert!(html.contains("id=\"test-locale\""), "{html}");
    assert!(html.contains("<option value=\"\" selected>"), "{html}");
    assert!(
        html.contains("<option value=\"fr\">Français</option>"),
        "{html}"
    );
    let fr_console = br.page(&format!("{page}?lang=fr")).await;
    assert!(
        fr_console.contains("<option value=\"fr\" selected>Français</option>"),
        "{fr_console}"
    );
    for locale in ["fr", ""] {
        let r = br
            .submit(&page, &format!("{page}/test"), &[("locale", locale)])
            .await;
        assert_eq!(r.status(), 303, "a test copy in {locale:?}");
    }
    let mails = app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let mine: Vec<(String, String, String)> = mails
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == "campaigner@example.org"))
        .map(read)
        .collect();
    let subjects: Vec<&str> = mine.iter().map(|m| m.0.as_str()).collect();
    assert!(
        subjects.contains(&format!("[TEST] {FRENCH}").as_str()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"[TEST] Hearing on 11 July"),
        "{subjects:?}"
    );
    let own = mine.iter().find(|m| m.0.contains("Hearing")).unwrap();
    assert!(own.2.contains("<html lang=\"en\""), "{}", own.2);
}
