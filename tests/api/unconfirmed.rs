//! Before a signature is confirmed: no stored token could confirm it for
//! someone else (the link is made from the signature id when the mail is
//! built), and signing changes nothing about the supporter behind the
//! address (contract §7).

use std::time::Duration;

use clarion::db::schema::signatures;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{spawn_app, spawn_app_with, wait_until, Backend, TestApp};
use crate::public_support::{form, form_with};
use crate::signers::{create_list, parse_csv};
use crate::smtp_sink::ReceivedMail;

backend_tests!(
    no_row_holds_the_token_a_confirmation_mail_carries_and_its_link_confirms,
    a_link_mailed_with_a_stored_secret_before_the_change_still_confirms,
    an_unconfirmed_signature_leaves_an_imported_supporter_as_they_were_until_the_link_is_used,
    an_unconfirmed_signature_does_not_rename_a_supporter_and_a_confirmed_one_does,
    a_new_signer_is_a_bare_address_until_confirmed_and_erasure_clears_the_signed_names,
    a_petition_without_confirmation_gives_nothing_to_a_supporter_who_was_there_before,
);

/// Every text the database holds: on SQLite the bytes of its files (main
/// and WAL), on PostgreSQL every row of every table of the app's schema.
async fn everything_stored(app: &TestApp) -> String {
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let mut all = String::new();
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        return all;
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    app.db
        .run(|c| {
            let clarion::db::DbConnection::Postgres(c) = c else {
                unreachable!("a postgres:// app")
            };
            let tables: Vec<Row> = diesel::sql_query(
                "SELECT table_name::text AS row FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .load(c)?;
            let mut all = String::new();
            for t in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS row FROM \"{}\" t",
                    t.row
                ))
                .load(c)?;
                for r in rows {
                    all.push_str(&r.row);
                    all.push('\n');
                }
            }
            Ok::<_, clarion::db::DbError>(all)
        })
        .await
        .unwrap()
}

/// An app whose failed sends are retried after half a second, so a test can
/// look at a queued confirmation between attempts.
async fn app(b: Backend) -> TestApp {
    spawn_app_with(b, |raw| raw.retry_base_ms = 500).await
}

async fn confirmation_attempts(app: &TestApp) -> i32 {
    use clarion::db::schema::deliveries;
    app.db
        .run(|c| {
            deliveries::table
                .filter(deliveries::kind.eq("confirmation"))
                .select(deliveries::attempts)
                .first::<i32>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

async fn no_row_holds_the_token_a_confirmation_mail_carries_and_its_link_confirms(b: Backend) {
    let app = app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.smtp.stop().await;
    assert_eq!(
        app.sign("free-them", &form("ann@example.org"))
            .await
            .status(),
        303
    );
    // SMTP is down: the mail waits in the queue after a failed attempt.
    wait_until("a failed attempt", Duration::from_secs(20), || async {
        (confirmation_attempts(&app).await > 0).then_some(())
    })
    .await;
    let waiting = everything_stored(&app).await;

    app.smtp.restart().await;
    let token = app.mailed_tokens(1).await.remove(0);
    let secret = &token[32..];
    let hash = clarion::security::hash_token(&token);
    let id = uuid::Uuid::try_parse(&token[..32])
        .unwrap()
        .hyphenated()
        .to_string();
    assert!(waiting.contains(&id), "the snapshot sees the signature");
    for (when, stored) in [("queued", waiting), ("sent", everything_stored(&app).await)] {
        assert!(
            !stored.contains(secret),
            "no row held the token while {when}"
        );
        assert!(!stored.contains(&hash), "nor its hash while {when}");
    }
    let (secret_hash, token_hash) = app
        .db
        .run(|c| {
            signatures::table
                .select((
                    signatures::confirm_secret_hash,
                    signatures::confirm_token_hash,
                ))
                .first::<(Option<String>, Option<String>)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!((secret_hash, token_hash), (None, None));

    // The mailed link confirms, once.
    assert_eq!(app.page(&format!("/confirm/{token}")).await.status(), 200);
    for _ in 0..2 {
        let r = app.post_empty(&format!("/confirm/{token}")).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.counters("free-them").await, (1, 0));

    // Another signature's id with this MAC confirms nothing.
    assert_eq!(
        app.sign("free-them", &form("bo@example.org"))
            .await
            .status(),
        303
    );
    let other = app.mailed_tokens(2).await.remove(1);
    assert_ne!(other, token);
    let swapped = format!("{}{}", &other[..32], &token[32..]);
    assert_eq!(
        app.post_empty(&format!("/confirm/{swapped}"))
            .await
            .status(),
        404
    );
    assert_eq!(app.counters("free-them").await, (1, 1));
}

async fn a_link_mailed_with_a_stored_secret_before_the_change_still_confirms(b: Backend) {
    let app = app(b).await;
    app.open_petition("free-them", json!({})).await;
    assert_eq!(
        app.sign("free-them", &form("ann@example.org"))
            .await
            .status(),
        303
    );
    app.mailed_tokens(1).await;
    // A token as mailed before: the signature id, then a random secret whose
    // hash the signature keeps.
    let id: String = app
        .db
        .run(|c| {
            signatures::table
                .select(signatures::id)
                .first(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let old = format!(
        "{}{}",
        id.replace('-', ""),
        clarion::security::random_token()
    );
    let hash = clarion::security::hash_token(&old);
    app.db
        .run(move |c| {
            diesel::update(signatures::table.find(&id))
                .set(signatures::confirm_secret_hash.eq(Some(hash)))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let wrong = format!("{}{}", &old[..32], clarion::security::random_token());
    assert_eq!(
        app.post_empty(&format!("/confirm/{wrong}")).await.status(),
        404
    );
    assert_eq!(app.page(&format!("/confirm/{old}")).await.status(), 200);
    assert_eq!(
        app.post_empty(&format!("/confirm/{old}")).await.status(),
        200
    );
    assert_eq!(app.counters("free-them").await, (1, 0));
}

/// The supporter with `email` as the API shows them.
async fn supporter(app: &TestApp, email: &str) -> Value {
    let t = app.token("organiser").await;
    let page: Value = app
        .get(&format!("/api/v1/supporters?email={email}"), &t)
        .await
        .json()
        .await
        .unwrap();
    page["items"][0].clone()
}

/// (first_name, last_name, country, postcode, locale) of a supporter.
fn details(s: &Value) -> [Value; 5] {
    ["first_name", "last_name", "country", "postcode", "locale"].map(|k| s[k].clone())
}

fn text_of(m: &ReceivedMail) -> String {
    m.text_parts()
        .into_iter()
        .find(|(t, _)| t == "text/plain")
        .expect("a text part")
        .1
}

/// The mails so far whose subject contains `subject`.
async fn mails_about(app: &TestApp, n: usize, subject: &str) -> Vec<ReceivedMail> {
    app.smtp
        .wait_for(n, Duration::from_secs(20))
        .await
        .into_iter()
        .filter(|m| {
            m.decoded_header("Subject")
                .unwrap_or_default()
                .contains(subject)
        })
        .collect()
}

/// Sends an alert to `list` and returns the text its copy to `email` says.
async fn alert_text(app: &TestApp, petition: &Value, list: &str, n: usize, email: &str) -> String {
    let t = app.token("campaigner").await;
    let r = app
        .post(
            "/api/v1/alerts",
            &t,
            json!({"case_id": petition["case_id"], "petition_id": petition["id"],
                   "list_ids": [list], "subject": format!("Act now {n}"),
                   "body_markdown": "The hearing is **this week**."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), &t, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    app.wait_alert_done(&t, &id).await;
    let copies = wait_until("the alert's copy", Duration::from_secs(20), || async {
        let all = app.smtp.messages();
        let copies: Vec<ReceivedMail> = all
            .into_iter()
            .filter(|m| {
                m.decoded_header("Subject").unwrap_or_default() == format!("Act now {n}")
                    && m.rcpt_to.iter().any(|r| r == email)
            })
            .collect();
        (!copies.is_empty()).then_some(copies)
    })
    .await;
    assert_eq!(copies.len(), 1);
    let to = copies[0].decoded_header("To").unwrap();
    format!("To: {to}\n{}", text_of(&copies[0]))
}

/// A list holding `email` as an import would put them there.
async fn list_with(app: &TestApp, member: Value) -> String {
    let t = app.token("campaigner").await;
    let list = create_list(app, &t, "members").await;
    let r = app
        .post(
            &format!("/api/v1/lists/{list}/members"),
            &t,
            json!([member]),
        )
        .await;
    assert_eq!(r.status(), 200);
    list
}

/// The pending signatures' CSV export, as rows.
async fn pending_export(app: &TestApp, petition: &Value) -> Vec<Vec<String>> {
    let t = app.token("organiser").await;
    let pid = petition["id"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv?status=all&bom=false"),
            &t,
        )
        .await;
    assert_eq!(r.status(), 200);
    parse_csv(&r.bytes().await.unwrap())
}

fn the_form() -> Vec<(String, String)> {
    form_with(
        "aigul@example.org",
        &[
            ("first_name", "Айгуль"),
            ("last_name", "Садыкова"),
            ("country", "RU"),
            ("postcode", "101000"),
            ("lang", "ru"),
            ("email_opt_in", "yes"),
        ],
    )
}

async fn an_unconfirmed_signature_leaves_an_imported_supporter_as_they_were_until_the_link_is_used(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let petition = app.open_petition("free-them", json!({})).await;
    let list = list_with(&app, json!({"email": "aigul@example.org"})).await;
    let before = supporter(&app, "aigul@example.org").await;
    assert_eq!(
        details(&before),
        [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );

    // Someone signs with her address, in Russian, and never confirms.
    assert_eq!(app.sign("free-them", &the_form()).await.status(), 303);
    let mail = mails_about(&app, 1, "").await.remove(0);
    // The confirmation goes to the address's owner, greeted by the name
    // on the form.
    assert!(
        text_of(&mail).contains("Здравствуйте, Айгуль!"),
        "{}",
        text_of(&mail)
    );
    assert!(mail
        .decoded_header("To")
        .unwrap()
        .contains("Айгуль Садыкова"));

    let after = supporter(&app, "aigul@example.org").await;
    assert_eq!(
        details(&after),
        details(&before),
        "nothing about her changed"
    );
    assert_eq!(after["email_opt_in"], before["email_opt_in"]);
    assert_eq!(after["consent_source"], before["consent_source"]);
    // The signature keeps what the form said: the export shows it as signed.
    let rows = pending_export(&app, &petition).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[1][2..4],
        ["Айгуль".to_string(), "Садыкова".to_string()]
    );
    assert_eq!(rows[1][5..7], ["RU".to_string(), "101000".to_string()]);

    // Her next alert greets her as it always did: generically, in English.
    let text = alert_text(&app, &petition, &list, 1, "aigul@example.org").await;
    assert!(text.contains("Dear friend,"), "{text}");
    assert!(
        !text.contains("Айгуль") && !text.contains("Здравствуйте"),
        "{text}"
    );

    // The link is used: the address is proven hers, and the form's details
    // with it.
    let prefix = format!("{}/confirm/", app.settings.base_url);
    let text = text_of(&mail);
    let token = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .expect("the confirmation link");
    assert_eq!(
        app.post_empty(&format!("/confirm/{token}")).await.status(),
        200
    );
    let confirmed = supporter(&app, "aigul@example.org").await;
    assert_eq!(
        details(&confirmed),
        [
            json!("Айгуль"),
            json!("Садыкова"),
            json!("RU"),
            json!("101000"),
            json!("ru")
        ]
    );
    assert_eq!(confirmed["consent_source"], "petition:free-them");
    let text = alert_text(&app, &petition, &list, 2, "aigul@example.org").await;
    assert!(text.contains("Айгуль"), "{text}");
}

async fn an_unconfirmed_signature_does_not_rename_a_supporter_and_a_confirmed_one_does(b: Backend) {
    let app = spawn_app(b).await;
    let petition = app.open_petition("free-them", json!({})).await;
    let list = list_with(
        &app,
        json!({"email": "aigul@example.org", "first_name": "Aigul", "last_name": "S",
               "country": "KG", "postcode": "720000", "locale": "en"}),
    )
    .await;
    let before = supporter(&app, "aigul@example.org").await;
    assert_eq!(app.sign("free-them", &the_form()).await.status(), 303);
    let token = app.mailed_tokens(1).await.remove(0);
    assert_eq!(
        details(&supporter(&app, "aigul@example.org").await),
        details(&before),
        "no rename, no move, no new language"
    );
    let text = alert_text(&app, &petition, &list, 1, "aigul@example.org").await;
    assert!(
        text.contains("Dear Aigul,") && text.contains("Aigul S"),
        "{text}"
    );

    // Confirmed: the name and country she typed replace the stored ones; a
    // language set on purpose stays.
    assert_eq!(
        app.post_empty(&format!("/confirm/{token}")).await.status(),
        200
    );
    assert_eq!(
        details(&supporter(&app, "aigul@example.org").await),
        [
            json!("Айгуль"),
            json!("Садыкова"),
            json!("RU"),
            json!("101000"),
            json!("en")
        ]
    );
}

async fn a_new_signer_is_a_bare_address_until_confirmed_and_erasure_clears_the_signed_names(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let petition = app.open_petition("free-them", json!({})).await;
    assert_eq!(app.sign("free-them", &the_form()).await.status(), 303);
    let token = app.mailed_tokens(1).await.remove(0);
    let s = supporter(&app, "aigul@example.org").await;
    assert_eq!(
        details(&s),
        [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(
        app.post_empty(&format!("/confirm/{token}")).await.status(),
        200
    );
    let s = supporter(&app, "aigul@example.org").await;
    assert_eq!(
        details(&s),
        [
            json!("Айгуль"),
            json!("Садыкова"),
            json!("RU"),
            json!("101000"),
            json!("ru")
        ]
    );
    // Subject access shows the names as signed, too.
    let organiser = app.token("organiser").await;
    let id = s["id"].as_str().unwrap();
    let doc: Value = app
        .get(&format!("/api/v1/supporters/{id}/export"), &organiser)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["signatures"][0]["first_name"], "Айгуль");

    // Erasure forgets the names the signature kept.
    let admin = app.token("admin").await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/supporters/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let names = app
        .db
        .run(|c| {
            signatures::table
                .select((signatures::first_name, signatures::last_name))
                .load::<(Option<String>, Option<String>)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(names, vec![(None, None)]);
    let rows = pending_export(&app, &petition).await;
    assert_eq!(
        rows[1][2..5],
        ["".to_string(), "".to_string(), "".to_string()]
    );
}

async fn a_petition_without_confirmation_gives_nothing_to_a_supporter_who_was_there_before(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("instant", json!({"require_confirmation": false}))
        .await;
    list_with(
        &app,
        json!({"email": "aigul@example.org", "first_name": "Aigul"}),
    )
    .await;
    let before = supporter(&app, "aigul@example.org").await;
    let r = app
        .sign(
            "instant",
            &form_with("aigul@example.org", &[("first_name", "Stranger")]),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.counters("instant").await,
        (1, 0),
        "the signature counts"
    );
    let after = supporter(&app, "aigul@example.org").await;
    assert_eq!(details(&after), details(&before));
    assert_eq!(after["email_opt_in"], before["email_opt_in"]);
    assert_eq!(after["consent_source"], before["consent_source"]);
    // A supporter it creates takes the form's details: nobody else's data
    // is at stake.
    let _ = app
        .sign(
            "instant",
            &form_with("new@example.org", &[("first_name", "Nurlan")]),
        )
        .await;
    assert_eq!(
        supporter(&app, "new@example.org").await["first_name"],
        "Nurlan"
    );
}
