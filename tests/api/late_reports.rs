//! Late reports (contract §8): bounces (RFC 3464 delivery status
//! notifications) and complaints (RFC 5965 feedback reports) handed in
//! through `POST /api/v1/mail/inbound` and `clarion bounces ingest`, matched
//! to the deliveries of a real send through the SMTP receiver; and the
//! complaint pause of an alert.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, clarion_bin, spawn_app, spawn_app_with, wait_until, Backend, Person, TestApp,
};
use crate::smtp_sink::Behaviour;

backend_tests!(
    a_late_bounce_marks_the_supporter_bounced_and_a_policy_bounce_leaves_them_active,
    a_complaint_unsubscribes_with_the_reason_complaint_shown_in_subject_access,
    unmatched_reports_and_garbage_are_kept_and_counted_never_a_server_error,
    an_mbox_through_the_cli_applies_each_message,
    complaints_past_three_in_a_thousand_pause_the_alert_until_it_is_resumed,
    a_paused_alert_can_still_be_cancelled,
    the_console_shows_bounces_and_complaints_and_resumes_a_paused_alert,
    erasing_a_supporter_deletes_kept_reports_that_quote_their_address,
    a_report_to_a_verp_address_finds_its_delivery_and_a_forged_tag_finds_nothing,
    erasure_clears_the_domain_kept_on_a_supporters_deliveries,
    the_console_shows_kept_reports_as_text_and_discards_them,
);

/// A delivery status notification as Postfix writes one (RFC 3464
/// appendix B shape): one failed recipient, the original's headers
/// returned as `text/rfc822-headers`.
pub fn dsn(recipient: &str, message_id: &str, status: &str, reply: &str) -> String {
    format!(
        "Return-Path: <>\r\n\
Received: by mx.example.net (Postfix) id 4Z1XyZ0abc\r\n\
Date: Tue, 1 Dec 2026 10:00:00 +0000 (UTC)\r\n\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: alerts@example.org\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"4Z1XyZ0abc.1733047200/mx.example.net\"\r\n\
Message-Id: <20261201100000.4Z1XyZ0abc@mx.example.net>\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--4Z1XyZ0abc.1733047200/mx.example.net\r\n\
Content-Description: Notification\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
This is the mail system at host mx.example.net.\r\n\
\r\n\
I'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\
\r\n\
<{recipient}>: host mail.example.com[192.0.2.25] said: {reply}\r\n\
\r\n\
--4Z1XyZ0abc.1733047200/mx.example.net\r\n\
Content-Description: Delivery report\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.net\r\n\
X-Postfix-Queue-ID: 4Z1XyZ0abc\r\n\
X-Postfix-Sender: rfc822; alerts@example.org\r\n\
Arrival-Date: Tue,  1 Dec 2026 09:59:58 +0000 (UTC)\r\n\
\r\n\
Final-Recipient: rfc822; {recipient}\r\n\
Original-Recipient: rfc822;{recipient}\r\n\
Action: failed\r\n\
Status: {status}\r\n\
Remote-MTA: dns; mail.example.com\r\n\
Diagnostic-Code: smtp; {reply}\r\n\
\r\n\
--4Z1XyZ0abc.1733047200/mx.example.net\r\n\
Content-Description: Undelivered Message Headers\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
Return-Path: <alerts@example.org>\r\n\
From: Clarion <alerts@example.org>\r\n\
To: Someone <{recipient}>\r\n\
Subject: Hearing on 11 July: act now\r\n\
Message-ID: {message_id}\r\n\
\r\n\
--4Z1XyZ0abc.1733047200/mx.example.net--\r\n"
    )
}

/// A feedback report of type abuse (RFC 5965 appendix B shape), with the
/// original message returned whole.
pub fn arf(recipient: &str, message_id: &str) -> String {
    format!(
        "From: <staff@hotmail.example>\r\n\
Date: Thu, 3 Dec 2026 17:40:36 +0000\r\n\
Subject: complaint about message from 192.0.2.1\r\n\
To: <abuse@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report;\r\n\
\tboundary=\"part1_13d.2e68ed54_boundary\"\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n\
This is an email abuse report for an email message received from IP\r\n\
192.0.2.1 on Thu, 3 Dec 2026 14:00:00 +0000.\r\n\
For more information about this format please see\r\n\
http://www.mipassoc.org/arf/.\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: SomeGenerator/1.0\r\n\
Version: 1\r\n\
Original-Mail-From: <alerts@example.org>\r\n\
Original-Rcpt-To: <{recipient}>\r\n\
Arrival-Date: Thu, 3 Dec 2026 14:00:00 +0000\r\n\
Reporting-MTA: dns; mail.hotmail.example\r\n\
Source-IP: 192.0.2.1\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: inline\r\n\
\r\n\
From: Clarion <alerts@example.org>\r\n\
Received: from mailserver.example.org (mailserver.example.org [192.0.2.1])\r\n\
\tby mx.hotmail.example with ESMTP id M63d4137594e46;\r\n\
\tThu, 03 Dec 2026 14:00:00 +0000\r\n\
To: <{recipient}>\r\n\
Subject: Hearing on 11 July: act now\r\n\
MIME-Version: 1.0\r\n\
Content-type: text/plain\r\n\
Message-ID: {message_id}\r\n\
Date: Thu, 03 Dec 2026 13:59:00 +0000\r\n\
\r\n\
The Supreme Court reviews the case this week.\r\n\
--part1_13d.2e68ed54_boundary--\r\n"
    )
}

const AUTO_REPLY: &str = "From: Someone <someone@example.net>\r\n\
To: alerts@example.org\r\n\
Subject: Out of office: Hearing on 11 July: act now\r\n\
Auto-Submitted: auto-replied\r\n\
In-Reply-To: <nothing-of-ours@example.org>\r\n\
\r\n\
I am away until Monday.\r\n";

async fn inbound(app: &TestApp, token: &str, body: impl Into<Vec<u8>>) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/mail/inbound", app.address))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(body.into())
        .send()
        .await
        .unwrap()
}

pub async fn ingest_api(app: &TestApp, token: &str, body: impl Into<Vec<u8>>) -> Value {
    let r = inbound(app, token, body).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// `clarion bounces ingest -` with `input` on standard input: its exit
/// status and its summary (the last line of standard output).
pub async fn ingest_cli(app: &TestApp, input: &[u8]) -> (i32, Value) {
    let url = app.database_url.clone();
    let key_dir = app.dir.path().display().to_string();
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(clarion_bin())
            .args(["bounces", "ingest", "-"])
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_KEY_DIR", &key_dir)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("clarion runs");
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or("").to_string();
        let summary = serde_json::from_str(&last).unwrap_or_else(|_| {
            panic!(
                "no summary: {stdout} / {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), summary)
    })
    .await
    .unwrap()
}

/// A case, a list of `people` and an alert to them, sent and finished;
/// returns the alert id and the Message-ID each address got.
async fn sent_alert(
    app: &TestApp,
    token: &str,
    people: &[&str],
) -> (String, std::collections::HashMap<String, String>) {
    let case = app.create_case(token, "askarov").await;
    let persons: Vec<Person> = people.iter().map(|e| Person::active(e, "P")).collect();
    let list = app.seed_list("l", &persons).await;
    let r = app
        .post(
            "/api/v1/alerts",
            token,
            json!({"case_id": case["id"], "list_ids": [list],
                   "subject": "Hearing on 11 July: act now",
                   "body_markdown": "The Supreme Court reviews the case this week."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    app.wait_alert_done(token, &id).await;
    (id, message_ids(app))
}

/// The Message-ID each recipient's message arrived with.
fn message_ids(app: &TestApp) -> std::collections::HashMap<String, String> {
    app.smtp
        .messages()
        .into_iter()
        .map(|m| {
            (
                m.rcpt_to[0].to_lowercase(),
                m.header("Message-ID").expect("a Message-ID"),
            )
        })
        .collect()
}

async fn supporter_id(app: &TestApp, token: &str, email: &str) -> String {
    let r = app
        .get(&format!("/api/v1/supporters?email={email}"), token)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let item = if v["items"].is_array() {
        v["items"][0].clone()
    } else {
        v
    };
    item["id"].as_str().expect("a supporter").to_string()
}

/// The reply class and last error of the delivery to `email`.
async fn delivery_reply(app: &TestApp, email: &str) -> (Option<String>, Option<String>) {
    use clarion::db::schema::deliveries;
    use diesel::prelude::*;
    let email = email.to_string();
    app.db
        .run(move |c| {
            let sid: String = clarion::db::schema::supporters::table
                .filter(
                    clarion::db::schema::supporters::email_hash
                        .eq(clarion::db::supporters::email_hash(&email).unwrap()),
                )
                .select(clarion::db::schema::supporters::id)
                .first(c)?;
            deliveries::table
                .filter(deliveries::supporter_id.eq(sid))
                .select((deliveries::reply_class, deliveries::last_error))
                .first::<(Option<String>, Option<String>)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

/// The kept reports' messages, opened (they are stored sealed).
async fn kept_reports(app: &TestApp) -> Vec<Vec<u8>> {
    use clarion::db::schema::inbound_reports;
    use diesel::prelude::*;
    app.db
        .run(|c| {
            let sealed = inbound_reports::table
                .order(inbound_reports::id.asc())
                .select(inbound_reports::raw)
                .load::<Vec<u8>>(c)?;
            sealed
                .into_iter()
                .map(|raw| Ok(clarion::vault::open_bytes(raw)?))
                .collect::<Result<Vec<_>, clarion::db::DbError>>()
        })
        .await
        .unwrap()
}

async fn a_late_bounce_marks_the_supporter_bounced_and_a_policy_bounce_leaves_them_active(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let (alert, ids) = sent_alert(
        &app,
        &token,
        &["gone@example.com", "policy@example.com", "fine@example.com"],
    )
    .await;
    let gone = dsn(
        "gone@example.com",
        &ids["gone@example.com"],
        "5.1.1",
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown in local recipient table",
    );
    // Over the API…
    let s = ingest_api(&app, &admin, gone.clone()).await;
    assert_eq!(
        s,
        json!({"matched": 1, "bounced": 1, "complaints": 0, "unmatched": 0})
    );
    assert_eq!(app.supporter_status("gone@example.com").await, "bounced");
    let (class, error) = delivery_reply(&app, "gone@example.com").await;
    assert_eq!(class.as_deref(), Some("mailbox_gone"));
    let error = error.expect("the reply is kept");
    assert!(
        error.contains("5.1.1") && error.contains("User unknown"),
        "{error}"
    );
    assert!(!error.contains("gone@example.com"), "masked: {error}");
    // …and through the CLI.
    let policy = dsn(
        "policy@example.com",
        &ids["policy@example.com"],
        "5.7.1",
        "550 5.7.1 Our system has detected that this message is likely unsolicited mail",
    );
    let (code, s) = ingest_cli(&app, policy.as_bytes()).await;
    assert_eq!(code, 0);
    assert_eq!(
        s,
        json!({"matched": 1, "bounced": 0, "complaints": 0, "unmatched": 0})
    );
    assert_eq!(app.supporter_status("policy@example.com").await, "active");
    assert_eq!(
        delivery_reply(&app, "policy@example.com")
            .await
            .0
            .as_deref(),
        Some("policy")
    );
    assert_eq!(app.supporter_status("fine@example.com").await, "active");
    let a = app.alert(&token, &alert).await;
    assert_eq!(
        (a["bounced"].as_i64(), a["complaints"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(a["status"], "sent");
    assert_eq!(a["warnings"], json!([]));
    // The same bounce again changes nothing more.
    let s = ingest_api(&app, &admin, gone).await;
    assert_eq!(s["matched"], 1);
    assert_eq!(app.alert(&token, &alert).await["bounced"], 1);
    assert!(
        kept_reports(&app).await.is_empty(),
        "matched reports are not kept"
    );
}

async fn a_complaint_unsubscribes_with_the_reason_complaint_shown_in_subject_access(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let (alert, ids) = sent_alert(&app, &token, &["angry@example.com", "calm@example.com"]).await;
    let s = ingest_api(
        &app,
        &admin,
        arf("angry@example.com", &ids["angry@example.com"]),
    )
    .await;
    assert_eq!(
        s,
        json!({"matched": 1, "bounced": 0, "complaints": 1, "unmatched": 0})
    );
    let id = supporter_id(&app, &token, "angry@example.com").await;
    let r = app.get(&format!("/api/v1/supporters/{id}"), &token).await;
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["status"], "unsubscribed");
    assert_eq!(s["unsubscribe_reason"], "complaint");
    assert!(s["unsubscribed_at"].is_string());
    let r = app
        .get(&format!("/api/v1/supporters/{id}/export"), &token)
        .await;
    assert_eq!(r.status(), 200);
    let export: Value = r.json().await.unwrap();
    assert_eq!(export["supporter"]["status"], "unsubscribed");
    assert_eq!(export["supporter"]["unsubscribe_reason"], "complaint");
    assert_eq!(
        delivery_reply(&app, "angry@example.com").await.0.as_deref(),
        Some("complaint")
    );
    assert_eq!(app.supporter_status("calm@example.com").await, "active");
    let a = app.alert(&token, &alert).await;
    assert_eq!(
        (a["bounced"].as_i64(), a["complaints"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        a["status"], "sent",
        "one complaint in two sent pauses nothing"
    );
    // A later alert leaves them out.
    let list = app
        .seed_list("again", &[Person::active("angry@example.com", "A")])
        .await;
    let case = app.create_case(&token, "second").await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [list], "subject": "Again", "body_markdown": "x"}),
        )
        .await;
    let again = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&format!("/api/v1/alerts/{again}/send"), &token, json!({}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["recipients"], 0);
}

async fn unmatched_reports_and_garbage_are_kept_and_counted_never_a_server_error(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.token("admin").await;
    let campaigner = app.token("campaigner").await;
    let unknown = dsn(
        "stranger@example.com",
        "<not-ours@example.org>",
        "5.1.1",
        "550 5.1.1 user unknown",
    );
    let inputs: Vec<Vec<u8>> = vec![
        AUTO_REPLY.as_bytes().to_vec(),
        unknown.into_bytes(),
        b"\x00\xff\xfe\r\n\r\n--garbage".to_vec(),
        Vec::new(),
    ];
    for input in &inputs {
        let s = ingest_api(&app, &admin, input.clone()).await;
        assert_eq!(
            s,
            json!({"matched": 0, "bounced": 0, "complaints": 0, "unmatched": 1}),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(kept_reports(&app).await, inputs, "kept byte for byte");
    let (code, s) = ingest_cli(&app, b"\x01\x02 nothing at all").await;
    assert_eq!((code, s["unmatched"].as_i64()), (0, Some(1)));
    assert_eq!(kept_reports(&app).await.len(), 5);
    // The edges of the route.
    let r = app
        .client
        .post(format!("{}/api/v1/mail/inbound", app.address))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(AUTO_REPLY)
        .send()
        .await
        .unwrap();
    assert_problem(r, 415).await;
    assert_problem(inbound(&app, &campaigner, AUTO_REPLY).await, 403).await;
    let r = app
        .client
        .post(format!("{}/api/v1/mail/inbound", app.address))
        .header("content-type", "message/rfc822")
        .body(AUTO_REPLY)
        .send()
        .await
        .unwrap();
    assert_problem(r, 401).await;
    assert_problem(
        inbound(&app, &admin, vec![b'x'; 2 * 1024 * 1024]).await,
        413,
    )
    .await;
    assert_eq!(
        kept_reports(&app).await.len(),
        5,
        "refused bodies keep nothing"
    );
    // A file that cannot be read is the one failure: the pipe tries again.
    let out = Command::new(clarion_bin())
        .args(["bounces", "ingest", "/nonexistent/report.eml"])
        .env("CLARION_DATABASE_URL", &app.database_url)
        .env("CLARION_LOG", "warn")
        .env_remove("CLARION_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "EX_TEMPFAIL");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    // A campaigner reads the kept messages, two to a page, and discards one.
    let page = |cursor: Option<String>| {
        let url = match cursor {
            Some(c) => format!("/api/v1/mail/unmatched?limit=2&cursor={c}"),
            None => "/api/v1/mail/unmatched?limit=2".to_string(),
        };
        let app = &app;
        let campaigner = campaigner.clone();
        async move {
            let r = app.get(&url, &campaigner).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(cursor).await;
        listed.extend(p["items"].as_array().unwrap().iter().cloned());
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 5);
    assert_eq!(
        listed[0]["subject"],
        "Out of office: Hearing on 11 July: act now"
    );
    assert_eq!(listed[0]["from"], "someone@example.net");
    assert_eq!(listed[0]["size"], AUTO_REPLY.len());
    let first = listed[0]["id"].as_i64().unwrap();
    let r = app
        .get(&format!("/api/v1/mail/unmatched/{first}"), &campaigner)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "message/rfc822"
    );
    assert_eq!(r.bytes().await.unwrap(), AUTO_REPLY.as_bytes());
    let organiser = app.token("organiser").await;
    assert_problem(app.get("/api/v1/mail/unmatched", &organiser).await, 403).await;
    let discard = |id: String| {
        app.client
            .delete(format!("{}/api/v1/mail/unmatched/{id}", app.address))
            .bearer_auth(&campaigner)
            .send()
    };
    assert_eq!(discard(first.to_string()).await.unwrap().status(), 204);
    assert_problem(discard(first.to_string()).await.unwrap(), 404).await;
    assert_problem(discard("nope".into()).await.unwrap(), 404).await;
    assert_eq!(kept_reports(&app).await.len(), 4);
}

async fn an_mbox_through_the_cli_applies_each_message(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (_, ids) = sent_alert(&app, &token, &["gone@example.com", "angry@example.com"]).await;
    let mut mbox = String::new();
    for (from, m) in [
        (
            "MAILER-DAEMON",
            dsn(
                "gone@example.com",
                &ids["gone@example.com"],
                "5.1.1",
                "550 5.1.1 user unknown",
            ),
        ),
        (
            "staff@hotmail.example",
            arf("angry@example.com", &ids["angry@example.com"]),
        ),
        (
            "someone@example.net",
            format!("{AUTO_REPLY}From the desk of someone\r\n"),
        ),
    ] {
        mbox.push_str(&format!("From {from} Tue Dec  1 10:00:00 2026\n"));
        // mboxrd: a body line starting "From " is quoted.
        mbox.push_str(&m.replace("\r\n", "\n").replace("\nFrom ", "\n>From "));
        mbox.push('\n');
    }
    let (code, s) = ingest_cli(&app, mbox.as_bytes()).await;
    assert_eq!(code, 0);
    assert_eq!(
        s,
        json!({"matched": 2, "bounced": 1, "complaints": 1, "unmatched": 1})
    );
    assert_eq!(app.supporter_status("gone@example.com").await, "bounced");
    assert_eq!(
        app.supporter_status("angry@example.com").await,
        "unsubscribed"
    );
    let kept = kept_reports(&app).await;
    assert_eq!(kept.len(), 1);
    let text = String::from_utf8_lossy(&kept[0]);
    assert!(text.contains("\nFrom the desk"), "quoting undone: {text}");
}

async fn complaints_past_three_in_a_thousand_pause_the_alert_until_it_is_resumed(b: Backend) {
    // Five addresses are put off with a temporary refusal and a long retry
    // delay, so the alert is still sending when the complaints come (fewer
    // than the worker's connections: a run of as many temporary failures
    // as connections pauses the worker itself).
    let app = spawn_app_with(b, |raw| {
        raw.retry_base_ms = 600_000;
        raw.max_attempts = 20;
    })
    .await;
    app.smtp.set_behaviour(Behaviour::Replies(vec![(
        "@later.example.net".into(),
        "451 4.3.0 {addr}: try again later".into(),
    )]));
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let case = app.create_case(&token, "askarov").await;
    let emails: Vec<String> = (0..1295)
        .map(|i| format!("p{i:04}@example.org"))
        .chain((0..5).map(|i| format!("l{i}@later.example.net")))
        .collect();
    let people: Vec<Person> = emails.iter().map(|e| Person::active(e, "P")).collect();
    let list = app.seed_list("many", &people).await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [list], "subject": "Act", "body_markdown": "Now."}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    app.smtp.wait_for(1295, Duration::from_secs(120)).await;
    wait_until("1,295 sent", Duration::from_secs(60), || async {
        (app.alert(&token, &id).await["sent"] == 1295).then_some(())
    })
    .await;
    let ids = message_ids(&app);
    let complain = |n: usize| arf(&emails[n], &ids[&emails[n]]);
    for n in 0..3 {
        let s = ingest_api(&app, &admin, complain(n)).await;
        assert_eq!(s["complaints"], 1);
    }
    let a = app.alert(&token, &id).await;
    assert_eq!(a["complaints"], 3);
    assert_eq!(a["status"], "sending", "3 of 1,295 is under 0.3%");
    assert_eq!(
        assert_problem(
            app.post(&format!("/api/v1/alerts/{id}/resume"), &token, json!({}))
                .await,
            409
        )
        .await["status"],
        409,
        "only a paused alert resumes"
    );
    ingest_api(&app, &admin, complain(3)).await;
    let a = app.alert(&token, &id).await;
    assert_eq!(a["status"], "paused");
    assert_eq!(a["complaints"], 4);
    assert_eq!(a["queued"], 5, "held deliveries still wait");
    let w = &a["warnings"][0];
    assert_eq!(w["kind"], "complaints");
    assert_eq!(w["reply"], "complaints reached 0.31% of sent (4 of 1,295)");
    assert!(w["since"].is_string());
    for email in &emails[..4] {
        assert_eq!(app.supporter_status(email).await, "unsubscribed");
    }
    // Organisers may not resume; campaigners may.
    let organiser = app.token("organiser").await;
    assert_problem(
        app.post(
            &format!("/api/v1/alerts/{id}/resume"),
            &organiser,
            json!({}),
        )
        .await,
        403,
    )
    .await;
    app.smtp.set_behaviour(Behaviour::Accept);
    let r = app
        .post(&format!("/api/v1/alerts/{id}/resume"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "sending");
    assert_eq!(a["warnings"], json!([]));
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(1300), Some(0))
    );
    let got = app.smtp.wait_for(1300, Duration::from_secs(30)).await;
    let mut to: Vec<String> = got.iter().map(|m| m.rcpt_to[0].to_lowercase()).collect();
    to.sort();
    let n = to.len();
    to.dedup();
    assert_eq!((n, to.len()), (1300, 1300), "everyone once");
}

/// An alert to two people, one sent and one put off for ten minutes by a
/// temporary refusal, then paused as the complaint limit pauses one.
async fn paused_alert(app: &TestApp, token: &str) -> String {
    app.smtp.set_behaviour(Behaviour::Replies(vec![(
        "later".into(),
        "451 4.3.0 try again later".into(),
    )]));
    let case = app.create_case(token, "askarov").await;
    let list = app
        .seed_list(
            "l",
            &[
                Person::active("now@example.org", "N"),
                Person::active("later@example.org", "L"),
            ],
        )
        .await;
    let r = app
        .post(
            "/api/v1/alerts",
            token,
            json!({"case_id": case["id"], "list_ids": [list], "subject": "Act", "body_markdown": "Now."}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/api/v1/alerts/{id}/send"), token, json!({}))
        .await;
    wait_until("one sent, one put off", Duration::from_secs(30), || async {
        let a = app.alert(token, &id).await;
        (a["sent"] == 1 && app.smtp.attempts() >= 2).then_some(())
    })
    .await;
    let alert = clarion::domain::AlertId::parse(&id).unwrap();
    let paused = app
        .db
        .run(move |c| {
            clarion::db::reports::pause(
                c,
                &alert,
                "complaints reached 50.00% of sent (1 of 2)",
                clarion::db::now(),
            )
        })
        .await
        .unwrap();
    assert!(paused);
    assert_eq!(app.alert(token, &id).await["status"], "paused");
    id
}

async fn a_paused_alert_can_still_be_cancelled(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.retry_base_ms = 600_000).await;
    let token = app.token("campaigner").await;
    let id = paused_alert(&app, &token).await;
    let r = app
        .post(&format!("/api/v1/alerts/{id}/cancel"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "cancelled");
    assert_eq!(
        (a["queued"].as_i64(), a["cancelled"].as_i64()),
        (Some(0), Some(1))
    );
    assert_problem(
        app.post(&format!("/api/v1/alerts/{id}/resume"), &token, json!({}))
            .await,
        409,
    )
    .await;
}

async fn the_console_shows_bounces_and_complaints_and_resumes_a_paused_alert(b: Backend) {
    let app = spawn_app_with(b, |raw| raw.retry_base_ms = 600_000).await;
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let id = paused_alert(&app, &token).await;
    let ids = message_ids(&app);
    let s = ingest_api(
        &app,
        &admin,
        arf("now@example.org", &ids["now@example.org"]),
    )
    .await;
    assert_eq!(s["complaints"], 1);
    let organiser = crate::console::signed_in(&app, "organiser").await;
    let html = organiser.page(&format!("/admin/alerts/{id}")).await;
    assert!(
        html.contains("Spam complaints") && html.contains("Bounced"),
        "{html}"
    );
    assert!(
        html.contains("This alert paused itself: complaints reached 50.00% of sent (1 of 2)."),
        "{html}"
    );
    let resume = format!("/admin/alerts/{id}/resume");
    assert!(
        !html.contains(&resume),
        "an organiser gets no resume button"
    );
    let br = crate::console::signed_in(&app, "campaigner").await;
    let page = format!("/admin/alerts/{id}");
    let html = br.page(&page).await;
    assert!(html.contains(&format!("action=\"{resume}\"")), "{html}");
    assert!(html.contains("data-count=\"complaints\">1<"), "{html}");
    app.smtp.set_behaviour(Behaviour::Accept);
    let r = br.submit(&page, &resume, &[]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_i64()),
        (Some("sent"), Some(2))
    );
    let html = br.page(&page).await;
    assert!(
        !html.contains(&resume) && !html.contains("paused itself"),
        "{html}"
    );
}

async fn erasing_a_supporter_deletes_kept_reports_that_quote_their_address(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.token("admin").await;
    app.seed_list(
        "l",
        &[
            Person::active("leaving@example.org", "L"),
            Person::active("staying@example.org", "S"),
        ],
    )
    .await;
    for who in ["Leaving@Example.org", "staying@example.org"] {
        let reply = AUTO_REPLY.replace("someone@example.net", who);
        assert_eq!(ingest_api(&app, &admin, reply).await["unmatched"], 1);
    }
    assert_eq!(kept_reports(&app).await.len(), 2);
    app.erase_supporter("leaving@example.org", &admin).await;
    let kept = kept_reports(&app).await;
    assert_eq!(kept.len(), 1);
    assert!(String::from_utf8_lossy(&kept[0]).contains("staying@example.org"));
}

async fn a_report_to_a_verp_address_finds_its_delivery_and_a_forged_tag_finds_nothing(b: Backend) {
    const SECRET: &str = "a test secret that is long enough for the keys 0123456789";
    let app = spawn_app_with(b, |raw| raw.secret_key = SECRET.into()).await;
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    sent_alert(&app, &token, &["gone@example.com", "other@example.com"]).await;
    let delivery = {
        use clarion::db::schema::{deliveries, supporters};
        use diesel::prelude::*;
        app.db
            .run(|c| {
                deliveries::table
                    .inner_join(
                        supporters::table
                            .on(deliveries::supporter_id.eq(supporters::id.nullable())),
                    )
                    .filter(
                        supporters::email_hash
                            .eq(clarion::db::supporters::email_hash("gone@example.com").unwrap()),
                    )
                    .select(deliveries::id)
                    .first::<i64>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    };
    let keys = clarion::security::Keys::new(SECRET);
    let verp = clarion::mail::verp::return_path(
        &keys,
        clarion::domain::DeliveryId(delivery),
        "bounces.example.org",
    );
    // No Message-ID of ours in it: only the VERP address names the delivery.
    let report = |to: &str| {
        dsn(
            "gone@example.com",
            "<rewritten-by-a-relay@example.net>",
            "5.1.1",
            "550 5.1.1 user unknown",
        )
        .replace("To: alerts@example.org\r\n", &format!("To: {to}\r\n"))
    };
    let forged = verp.replacen(
        &format!("bounces+{delivery}-"),
        &format!("bounces+{}-", delivery + 1),
        1,
    );
    let s = ingest_api(&app, &admin, report(&forged)).await;
    assert_eq!(
        s["unmatched"], 1,
        "a tag made for another delivery names nothing"
    );
    assert_eq!(app.supporter_status("gone@example.com").await, "active");
    let s = ingest_api(&app, &admin, report(&verp)).await;
    assert_eq!(
        s,
        json!({"matched": 1, "bounced": 1, "complaints": 0, "unmatched": 0})
    );
    assert_eq!(app.supporter_status("gone@example.com").await, "bounced");
    assert_eq!(app.supporter_status("other@example.com").await, "active");
}

/// Returned mail that named no delivery waits on the console's page for a
/// campaigner, shown as text (markup in it stays text), until discarded.
async fn the_console_shows_kept_reports_as_text_and_discards_them(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.token("admin").await;
    let reply = "From: Ann <ann@example.net>\r\nSubject: Please remove me\r\n\r\n\
                 Stop writing to me. <script>alert(1)</script>\r\n";
    let s = ingest_api(&app, &admin, reply.as_bytes().to_vec()).await;
    assert_eq!(s["unmatched"], 1);
    let organiser = crate::console::signed_in(&app, "organiser").await;
    let r = organiser.get("/admin/reports").await;
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    assert!(
        !organiser.page("/admin").await.contains("/admin/reports"),
        "no link for organisers"
    );
    let br = crate::console::signed_in(&app, "campaigner").await;
    assert!(br.page("/admin").await.contains("href=\"/admin/reports\""));
    let html = br.page("/admin/reports").await;
    assert!(
        html.contains("Please remove me") && html.contains("ann@example.net"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            && !html.contains("<script>alert(1)"),
        "the message is shown as text: {html}"
    );
    let id = kept_ids(&app).await[0];
    let r = br
        .submit(
            "/admin/reports",
            &format!("/admin/reports/{id}/discard"),
            &[],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let html = br.page("/admin/reports").await;
    assert!(
        html.contains("id=\"no-reports\"") && !html.contains("Please remove me"),
        "{html}"
    );
    assert!(kept_reports(&app).await.is_empty());
}

async fn kept_ids(app: &TestApp) -> Vec<i64> {
    let r = app
        .get("/api/v1/mail/unmatched", &app.token("campaigner").await)
        .await;
    r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

/// A delivery keeps its recipient's domain; after an erasure it is gone (a
/// domain of one's own names its owner).
async fn erasure_clears_the_domain_kept_on_a_supporters_deliveries(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let admin = app.token("admin").await;
    sent_alert(&app, &token, &["ann@ann-lee.example", "other@example.com"]).await;
    let id = supporter_id(&app, &token, "ann@ann-lee.example").await;
    let kept = || {
        use clarion::db::schema::deliveries;
        use diesel::prelude::*;
        let id = id.clone();
        app.db.run(move |c| {
            deliveries::table
                .filter(deliveries::supporter_id.eq(id))
                .select(deliveries::domain)
                .load::<Option<String>>(c)
                .map_err(clarion::db::DbError::from)
        })
    };
    assert_eq!(kept().await.unwrap(), [Some("ann-lee.example".to_string())]);
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/supporters/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(kept().await.unwrap(), [None::<String>]);
}
