//! The one confirmation reminder (`CLARION_CONFIRM_REMINDER_HOURS`): a
//! pending signature gets a second mail with the same link once, never
//! when reminders are off, never once the petition is closed or the
//! signature's confirmation time has run out; what they achieved shows on
//! /metrics and on the petition's console page.
//!
//! The job is run by hand with a later `now` instead of waiting: the link
//! is made from the moment of signing, so that moment must stay as it is.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::signed_in;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::public_support::{form, form_with};
use crate::smtp_sink::ReceivedMail;
use clarion::jobs::reminders::send_reminders;

backend_tests!(
    a_pending_signature_is_reminded_once_with_the_same_link_that_confirms_it,
    no_reminder_goes_when_they_are_off_after_the_petition_closes_or_once_the_signature_expired,
);

fn hours_from_now(h: i64) -> chrono::NaiveDateTime {
    clarion::db::now() + chrono::Duration::hours(h)
}

fn text_of(m: &ReceivedMail) -> String {
    m.text_parts()
        .into_iter()
        .find(|(t, _)| t == "text/plain")
        .expect("a text part")
        .1
}

fn link_in(app: &TestApp, m: &ReceivedMail) -> String {
    let prefix = format!("{}/confirm/", app.settings.base_url);
    let text = text_of(m);
    text.split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string()
}

async fn metric(app: &TestApp, name: &str) -> i64 {
    let body = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

async fn a_pending_signature_is_reminded_once_with_the_same_link_that_confirms_it(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.confirm_reminder_hours = 24).await;
    let hours = app.settings.confirm_reminder_hours;
    let p: Value = app
        .open_petition("free-them", json!({"title": "Free them now"}))
        .await;
    app.sign("free-them", &form("ann@example.org")).await;
    app.sign(
        "free-them",
        &form_with("zoe@example.org", &[("lang", "fr")]),
    )
    .await;
    let first = app.smtp.wait_for(2, Duration::from_secs(20)).await;
    let to = |mails: &[ReceivedMail], who: &str| -> Vec<ReceivedMail> {
        mails
            .iter()
            .filter(|m| m.rcpt_to[0] == who)
            .cloned()
            .collect()
    };
    let ann_link = link_in(&app, &to(&first, "ann@example.org")[0]);
    let zoe_link = link_in(&app, &to(&first, "zoe@example.org")[0]);
    assert_eq!(metric(&app, "clarion_confirmation_reminders_sent").await, 0);

    // Not yet due an hour before the time.
    assert_eq!(send_reminders(&app.db, hours, hours_from_now(23)).await, 0);
    let due = hours_from_now(25);
    assert_eq!(send_reminders(&app.db, hours, due).await, 2);
    assert_eq!(send_reminders(&app.db, hours, due).await, 0, "once only");
    assert_eq!(
        send_reminders(&app.db, hours, hours_from_now(100)).await,
        0,
        "never a second reminder"
    );
    let all = app.smtp.wait_for(4, Duration::from_secs(20)).await;
    let ann = to(&all, "ann@example.org");
    assert_eq!(ann.len(), 2);
    let reminder = &ann[1];
    let subject = reminder.decoded_header("Subject").unwrap();
    assert_eq!(
        subject,
        "Reminder: please confirm your signature: Free them now"
    );
    assert!(
        text_of(reminder).contains("This is our only reminder."),
        "{}",
        text_of(reminder)
    );
    assert_eq!(link_in(&app, reminder), ann_link, "the same link");
    let zoe = to(&all, "zoe@example.org");
    assert_eq!(zoe.len(), 2);
    assert!(zoe[1]
        .decoded_header("Subject")
        .unwrap()
        .starts_with("Rappel\u{a0}: confirmez votre signature"));
    assert!(text_of(&zoe[1]).contains("Ceci est notre seul rappel."));
    assert_eq!(link_in(&app, &zoe[1]), zoe_link);

    // Confirming through the reminder's link works.
    let r = app.client.post(&ann_link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your signature is confirmed"));
    assert_eq!(app.counters("free-them").await, (1, 1));
    assert_eq!(metric(&app, "clarion_confirmation_reminders_sent").await, 2);
    assert_eq!(
        metric(&app, "clarion_confirmations_after_reminder").await,
        1
    );

    let br = signed_in(&app, "organiser").await;
    let page = br
        .page(&format!("/admin/petitions/{}", p["id"].as_str().unwrap()))
        .await;
    assert!(
        page.contains("<strong id=\"confirmation-rate\">50%</strong>"),
        "{page}"
    );
    assert!(page.contains("<strong id=\"reminders-sent\">2</strong>"));
    assert!(page.contains("<strong id=\"confirmed-after-reminder\">1</strong>"));
    // A per cent is written the French way on the French console.
    let fr = br
        .page(&format!(
            "/admin/petitions/{}?lang=fr",
            p["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        fr.contains("<strong id=\"confirmation-rate\">50\u{202f}%</strong>"),
        "{fr}"
    );
}

async fn no_reminder_goes_when_they_are_off_after_the_petition_closes_or_once_the_signature_expired(
    b: Backend,
) {
    let off = spawn_app_with(b.clone(), |raw| raw.confirm_reminder_hours = 0).await;
    off.open_petition("free-them", json!({})).await;
    off.sign("free-them", &form("ann@example.org")).await;
    off.smtp.wait_for(1, Duration::from_secs(20)).await;
    let hours = off.settings.confirm_reminder_hours;
    assert_eq!(hours, 0);
    assert_eq!(send_reminders(&off.db, hours, hours_from_now(25)).await, 0);

    let app = spawn_app_with(b, |raw| {
        raw.confirm_reminder_hours = 24;
        raw.pending_signature_ttl_hours = 48;
    })
    .await;
    let closed = app.open_petition("closed-soon", json!({})).await;
    app.open_petition("still-open", json!({})).await;
    app.sign("closed-soon", &form("ann@example.org")).await;
    app.sign("still-open", &form("bob@example.org")).await;
    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    app.set_petition_status(closed["id"].as_str().unwrap(), "closed")
        .await;
    // Past the signatures' confirmation time (48 hours): nothing.
    assert_eq!(send_reminders(&app.db, 24, hours_from_now(49)).await, 0);
    // In time: only the open petition's signer.
    assert_eq!(send_reminders(&app.db, 24, hours_from_now(25)).await, 1);
    let mails = app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let reminded: Vec<&str> = mails[2..].iter().map(|m| m.rcpt_to[0].as_str()).collect();
    assert_eq!(reminded, ["bob@example.org"]);
    assert_eq!(metric(&app, "clarion_confirmation_reminders_sent").await, 1);
    assert_eq!(metric(&off, "clarion_confirmation_reminders_sent").await, 0);
}
