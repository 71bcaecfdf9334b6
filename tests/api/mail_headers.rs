//! What a receiver sees of a message beyond its text (contract §8): the
//! envelope sender (a VERP return path with `CLARION_BOUNCE_DOMAIN`, else
//! the From address) and the Feedback-ID of an alert. Each message is read
//! at the SMTP receiver and traced back to its delivery row.

use std::time::Duration;

use clarion::db::schema::deliveries;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{spawn_app_with, wait_until, Backend, Person, TestApp};
use crate::public_support::form;
use crate::smtp_sink::ReceivedMail;

backend_tests!(
    with_a_bounce_domain_every_message_has_a_return_path_naming_its_own_delivery,
    without_a_bounce_domain_the_envelope_sender_is_the_from_address,
    every_alert_carries_a_feedback_id_naming_the_alert_and_a_confirmation_none,
    to_a_server_that_announces_pipelining_every_message_goes_out_pipelined,
);

const BOUNCE_DOMAIN: &str = "bounces.example.org";

/// A draft alert of a new case and petition to `people`; its id.
pub async fn draft_alert(app: &TestApp, token: &str, people: &[Person<'_>]) -> String {
    let case = app.create_case(token, "askarov").await;
    let case_id = case["id"].as_str().unwrap();
    let petition = app
        .create_petition(token, case_id, "free-askarov", json!({}))
        .await;
    let list = app.seed_list("l", people).await;
    let r = app
        .post(
            "/api/v1/alerts",
            token,
            json!({"case_id": case_id, "petition_id": petition["id"], "list_ids": [list],
                   "subject": "Hearing on 11 July: act now",
                   "body_markdown": "The Supreme Court reviews the case **this week**.\n\nPlease [sign](https://example.org/x) now."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    a["id"].as_str().unwrap().to_string()
}

/// Sends alert `id` now.
pub async fn send_alert(app: &TestApp, token: &str, id: &str) {
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
}

/// Queues a `[TEST]` copy of alert `id` to `email`.
pub async fn send_test_copy(app: &TestApp, token: &str, id: &str, email: &str) {
    let r = app
        .post(
            &format!("/api/v1/alerts/{id}/test"),
            token,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(r.status(), 202);
}

/// An alert to two supporters, a test copy of it and a confirmation mail:
/// one message of each kind at the receiver (four in all), sorted by
/// recipient.
pub async fn one_of_each_kind(app: &TestApp) -> (String, Vec<ReceivedMail>) {
    let token = app.token("campaigner").await;
    let id = draft_alert(
        app,
        &token,
        &[
            Person::active("aida@example.org", "Aida"),
            Person::active("bek@example.net", "Bek"),
        ],
    )
    .await;
    send_alert(app, &token, &id).await;
    send_test_copy(app, &token, &id, "me@example.org").await;
    app.sign("free-askarov", &form("ann@example.org")).await;
    let mut mails = app.smtp.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 4);
    mails.sort_by(|a, b| a.rcpt_to.cmp(&b.rcpt_to));
    let to: Vec<&str> = mails.iter().map(|m| m.rcpt_to[0].as_str()).collect();
    assert_eq!(
        to,
        [
            "aida@example.org",
            "ann@example.org",
            "bek@example.net",
            "me@example.org"
        ]
    );
    (id, mails)
}

/// The delivery row (id, kind) that sent the message with `message_id`,
/// once the worker has recorded it (the receiver may have the message a
/// moment before).
async fn delivery_with_message_id(app: &TestApp, message_id: &str) -> (i64, String) {
    wait_until(
        "the message's delivery to be recorded",
        Duration::from_secs(20),
        || async {
            let message_id = message_id.to_string();
            app.db
                .run(move |c| {
                    deliveries::table
                        .filter(deliveries::message_id.eq(&message_id))
                        .select((deliveries::id, deliveries::kind))
                        .first::<(i64, String)>(c)
                        .optional()
                        .map_err(clarion::db::DbError::from)
                })
                .await
                .expect("deliveries readable")
        },
    )
    .await
}

async fn with_a_bounce_domain_every_message_has_a_return_path_naming_its_own_delivery(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.bounce_domain = BOUNCE_DOMAIN.into()).await;
    let (_, mails) = one_of_each_kind(&app).await;
    let keys = app.keys().await;
    let mut kinds = Vec::new();
    let mut senders = std::collections::HashSet::new();
    for m in &mails {
        let message_id = m.header("Message-ID").expect("a Message-ID");
        // The message's delivery, found by its Message-ID, not by the
        // envelope this test is about.
        let (id, kind) = delivery_with_message_id(&app, &message_id).await;
        let (local, domain) = m.mail_from.rsplit_once('@').expect("an address");
        assert_eq!(domain, BOUNCE_DOMAIN, "{}", m.mail_from);
        let tag = local
            .strip_prefix(&format!("bounces+{id}-"))
            .unwrap_or_else(|| panic!("{} does not name delivery {id}", m.mail_from));
        assert!(
            tag.len() == 12 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            m.mail_from
        );
        assert_eq!(
            clarion::mail::verp::delivery_of(&keys, &m.mail_from),
            Some(clarion::domain::DeliveryId(id)),
            "{} maps back to its delivery",
            m.mail_from
        );
        // Only the envelope: the From header stays the organisation's, and
        // the return path is the receiving MTA's to add.
        assert_eq!(
            m.header("From").unwrap(),
            app.settings.mail_from.to_string()
        );
        assert_eq!(m.header("Return-Path"), None);
        senders.insert(m.mail_from.clone());
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(kinds, ["alert", "alert", "confirmation", "test"]);
    assert_eq!(senders.len(), 4, "one return path per delivery");
}

async fn without_a_bounce_domain_the_envelope_sender_is_the_from_address(b: Backend) {
    let app = spawn_app_with(b, |_| {}).await;
    assert_eq!(app.settings.bounce_domain, None);
    let (_, mails) = one_of_each_kind(&app).await;
    for m in &mails {
        assert_eq!(
            m.mail_from,
            app.settings.mail_from.email.to_string(),
            "{:?}",
            m.rcpt_to
        );
    }
}

async fn every_alert_carries_a_feedback_id_naming_the_alert_and_a_confirmation_none(b: Backend) {
    let app = spawn_app_with(b, |_| {}).await;
    let (id, mails) = one_of_each_kind(&app).await;
    let feedback = |i: usize| mails[i].headers("Feedback-ID");
    // aida and bek: the alert itself, in the contract's exact form.
    assert_eq!(feedback(0), [format!("{id}:alert:clarion")]);
    assert_eq!(feedback(2), [format!("{id}:alert:clarion")]);
    // ann: the confirmation of her signature is no mailing.
    assert_eq!(feedback(1), Vec::<String>::new());
    // me: the campaigner's test copy, kept apart from the alert's figures.
    assert_eq!(feedback(3), [format!("{id}:test:clarion")]);
}

/// The receiver announces PIPELINING: each message's MAIL FROM, RCPT TO and
/// DATA reach it in one write (two round trips a message instead of four),
/// and every kind of mail still arrives whole.
async fn to_a_server_that_announces_pipelining_every_message_goes_out_pipelined(b: Backend) {
    let app = spawn_app_with(b, |_| {}).await;
    let (_, mails) = one_of_each_kind(&app).await;
    assert_eq!(mails.len(), 4);
    assert_eq!(app.smtp.pipelining(), (4, 4), "(MAIL FROM, pipelined)");
    for m in &mails {
        assert!(m.header("Message-ID").is_some(), "{:?}", m.rcpt_to);
        assert!(!m.body().is_empty(), "{:?}", m.rcpt_to);
    }
}
