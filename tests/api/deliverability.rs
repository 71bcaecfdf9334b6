//! What receivers say (contract §8) through the real worker and a real SMTP
//! receiver: reply classes, a throttled domain waiting while others send,
//! a run of policy refusals pausing one domain of an alert until resumed,
//! per-domain rates, deliveries by class on /metrics, and the warnings on
//! the alert and in the send answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clarion::db::schema::{deliveries, supporters};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::signed_in;
use crate::helpers::{
    assert_problem, spawn_app, spawn_app_with, wait_until, Backend, Person, TestApp,
};
use crate::signers::{create_list, post_csv};
use crate::smtp_sink::Behaviour;

backend_tests!(
    replies_are_classed_only_a_refused_address_bounces_and_metrics_count_the_classes,
    a_throttled_domain_waits_while_another_domain_gets_all_its_mail,
    ten_policy_refusals_pause_the_domain_until_resumed_and_other_domains_continue,
    a_domain_rate_paces_the_mail_to_that_domain,
    the_send_answer_warns_about_a_big_send_without_dkim_and_small_sends_carry_no_warning,
);

const WAIT: Duration = Duration::from_secs(60);

async fn alert_for(app: &TestApp, token: &str, lists: &[&str]) -> String {
    let case = app.create_case(token, "deliverability").await;
    let r = app
        .post(
            "/api/v1/alerts",
            token,
            json!({"case_id": case["id"], "list_ids": lists, "subject": "Act now",
                   "body_markdown": "Please write to the authorities."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    a["id"].as_str().unwrap().to_string()
}

async fn send(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

/// One alert delivery as stored, by recipient address.
#[derive(Debug, Clone)]
struct Row {
    status: String,
    reply_class: Option<String>,
    last_error: Option<String>,
    attempts: i32,
    domain: Option<String>,
}

/// email, status, reply_class, last_error, attempts, domain
type StoredRow = (
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i32,
    Option<String>,
);

async fn rows(app: &TestApp, alert: &str) -> HashMap<String, Row> {
    let alert = alert.to_string();
    app.db
        .run(move |c| {
            let rows: Vec<StoredRow> = deliveries::table
                .inner_join(
                    supporters::table.on(supporters::id.nullable().eq(deliveries::supporter_id)),
                )
                .filter(deliveries::alert_id.eq(&alert))
                .select((
                    supporters::email,
                    deliveries::status,
                    deliveries::reply_class,
                    deliveries::last_error,
                    deliveries::attempts,
                    deliveries::domain,
                ))
                .load(c)?;
            Ok::<_, clarion::db::DbError>(
                rows.into_iter()
                    .map(|(e, status, reply_class, last_error, attempts, domain)| {
                        (
                            clarion::vault::open_opt(e).unwrap().unwrap_or_default(),
                            Row {
                                status,
                                reply_class,
                                last_error,
                                attempts,
                                domain,
                            },
                        )
                    })
                    .collect(),
            )
        })
        .await
        .unwrap()
}

/// How many messages each address received.
fn received(app: &TestApp) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for m in app.smtp.messages() {
        for r in m.rcpt_to {
            *n.entry(r.to_lowercase()).or_insert(0) += 1;
        }
    }
    n
}

async fn replies_are_classed_only_a_refused_address_bounces_and_metrics_count_the_classes(
    b: Backend,
) {
    let app = spawn_app_with(b, |raw| raw.max_attempts = 3).await;
    app.smtp.set_behaviour(Behaviour::Replies(vec![
        (
            "policy@".into(),
            "550 5.7.1 <{addr}>: Our system has detected that this message is likely unsolicited mail".into(),
        ),
        ("gone@".into(), "550 5.1.1 <{addr}>: Recipient address rejected: User unknown".into()),
        ("bare@".into(), "550 mailbox unavailable".into()),
        ("full@".into(), "452 4.2.2 <{addr}>: The email account that you tried to reach is over quota".into()),
    ]));
    let token = app.token("campaigner").await;
    let people = [
        "policy@example.org",
        "gone@example.org",
        "bare@example.org",
        "full@example.org",
        "fine@Example.ORG",
    ];
    let l = app
        .seed_list(
            "l",
            &people
                .iter()
                .map(|e| Person::active(e, "P"))
                .collect::<Vec<_>>(),
        )
        .await;
    let id = alert_for(&app, &token, &[&l]).await;
    send(&app, &token, &id).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(1), Some(4))
    );

    // A policy refusal says nothing about the address; a full mailbox is
    // tried again; only a refused address (5.1.1, or a bare 550) bounces.
    assert_eq!(app.supporter_status("policy@example.org").await, "active");
    assert_eq!(app.supporter_status("full@example.org").await, "active");
    assert_eq!(app.supporter_status("gone@example.org").await, "bounced");
    assert_eq!(app.supporter_status("bare@example.org").await, "bounced");
    assert_eq!(app.smtp.refusals("policy@example.org"), 1, "not retried");
    assert_eq!(
        app.smtp.refusals("full@example.org"),
        3,
        "retried to the last attempt"
    );

    let rows = rows(&app, &id).await;
    let class = |e: &str| rows[e].reply_class.clone();
    assert_eq!(class("policy@example.org").as_deref(), Some("policy"));
    assert_eq!(class("gone@example.org").as_deref(), Some("mailbox_gone"));
    assert_eq!(class("bare@example.org").as_deref(), Some("mailbox_gone"));
    assert_eq!(class("full@example.org").as_deref(), Some("mailbox_full"));
    assert_eq!(class("fine@Example.ORG"), None, "accepted");
    // Each delivery knows its domain, lower-cased.
    assert!(
        rows.values()
            .all(|r| r.domain.as_deref() == Some("example.org")),
        "{rows:?}"
    );
    // The reply is kept, its address masked.
    let policy = rows["policy@example.org"].last_error.clone().unwrap();
    assert!(
        policy.contains("5.7.1") && policy.contains("likely unsolicited"),
        "{policy}"
    );
    for (email, r) in &rows {
        let e = r.last_error.clone().unwrap_or_default();
        assert!(!e.to_lowercase().contains(&email.to_lowercase()), "{e}");
    }

    let text = app
        .request(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    for line in [
        "clarion_deliveries_by_class{class=\"policy\"} 1",
        "clarion_deliveries_by_class{class=\"mailbox_gone\"} 2",
        "clarion_deliveries_by_class{class=\"mailbox_full\"} 1",
        "clarion_deliveries_by_class{class=\"throttled\"} 0",
        "clarion_mail_queue_depth{status=\"sent\"} 1",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

async fn a_throttled_domain_waits_while_another_domain_gets_all_its_mail(b: Backend) {
    // Two attempts at most: a throttled delivery that spent one per
    // throttle would fail long before the domain lets it through.
    let app = spawn_app_with(b, |raw| raw.max_attempts = 2).await;
    app.smtp.set_behaviour(Behaviour::Replies(vec![(
        "@slow.test".into(),
        "421 4.7.28 <{addr}>: Our system has detected an unusual rate of unsolicited mail".into(),
    )]));
    let token = app.token("campaigner").await;
    let slow: Vec<String> = (0..3).map(|i| format!("s{i}@slow.test")).collect();
    let fast: Vec<String> = (0..20).map(|i| format!("f{i}@fast.test")).collect();
    let people: Vec<Person> = slow
        .iter()
        .chain(&fast)
        .map(|e| Person::active(e, "P"))
        .collect();
    let l = app.seed_list("l", &people).await;
    let id = alert_for(&app, &token, &[&l]).await;
    send(&app, &token, &id).await;

    // Every message to the other domain arrives while the throttled one waits.
    app.smtp.wait_for(fast.len(), WAIT).await;
    let got = received(&app);
    assert!(fast.iter().all(|e| got.get(e) == Some(&1)), "{got:?}");
    assert!(slow.iter().all(|e| !got.contains_key(e)), "{got:?}");
    // It is asked again and again, more often than the attempts allow.
    wait_until(
        "the throttled domain to be asked three times",
        WAIT,
        || async { slow.iter().any(|e| app.smtp.refusals(e) >= 3).then_some(()) },
    )
    .await;
    let a = app.alert(&token, &id).await;
    assert_eq!(a["status"], "sending");
    assert_eq!(a["failed"], 0, "{a}");
    let waiting = rows(&app, &id).await;
    assert_eq!(
        waiting[&slow[0]].reply_class.as_deref(),
        Some("throttled"),
        "{waiting:?}"
    );

    // The domain lets mail through again: each message arrives once.
    app.smtp.set_behaviour(Behaviour::Accept);
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(23), Some(0))
    );
    let got = received(&app);
    assert_eq!(got.len(), 23);
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    let rows = rows(&app, &id).await;
    for e in &slow {
        assert_eq!(
            rows[e].attempts, 1,
            "throttles spend no attempt: {:?}",
            rows[e]
        );
    }
}

async fn ten_policy_refusals_pause_the_domain_until_resumed_and_other_domains_continue(b: Backend) {
    let app = spawn_app(b).await;
    app.smtp.set_behaviour(Behaviour::Replies(vec![(
        "@block.test".into(),
        "550 5.7.1 <{addr}>: Our system has detected that this message is likely unsolicited mail"
            .into(),
    )]));
    let token = app.token("campaigner").await;
    let blocked: Vec<String> = (0..40).map(|i| format!("b{i}@block.test")).collect();
    let others: Vec<String> = (0..10).map(|i| format!("o{i}@other.test")).collect();
    let people: Vec<Person> = blocked
        .iter()
        .chain(&others)
        .map(|e| Person::active(e, "P"))
        .collect();
    let l = app.seed_list("l", &people).await;
    let id = alert_for(&app, &token, &[&l]).await;
    let answer = send(&app, &token, &id).await;
    assert_eq!(answer["warnings"], json!([]));

    // The run of refusals pauses block.test and says so on the alert.
    let a = wait_until("a warning on the alert", WAIT, || async {
        let a = app.alert(&token, &id).await;
        (a["warnings"].as_array().is_some_and(|w| !w.is_empty())).then_some(a)
    })
    .await;
    let w = &a["warnings"][0];
    assert_eq!(w["kind"], "domain_paused");
    assert_eq!(w["domain"], "block.test");
    let reply = w["reply"].as_str().unwrap();
    assert!(reply.contains("5.7.1"), "{reply}");
    assert!(
        !blocked.iter().any(|e| reply.contains(e.as_str())),
        "masked: {reply}"
    );
    chrono::DateTime::parse_from_rfc3339(w["since"].as_str().unwrap()).expect("RFC 3339");

    // The other domain gets all its mail; block.test's rest is held.
    app.smtp.wait_for(others.len(), WAIT).await;
    let settled = wait_until("block.test's deliveries to settle", WAIT, || async {
        let rows = rows(&app, &id).await;
        let settled = blocked
            .iter()
            .all(|e| matches!(rows[e].status.as_str(), "failed" | "held"))
            && others.iter().all(|e| rows[e].status == "sent");
        settled.then_some(rows)
    })
    .await;
    let failed: Vec<&String> = blocked
        .iter()
        .filter(|e| settled[*e].status == "failed")
        .collect();
    let held: Vec<&String> = blocked
        .iter()
        .filter(|e| settled[*e].status == "held")
        .collect();
    // Ten trip the pause; at most the other connections' messages in flight
    // then are refused too.
    assert!((10..=17).contains(&failed.len()), "{}", failed.len());
    assert!(!held.is_empty());
    for e in &failed {
        assert_eq!(app.supporter_status(e).await, "active");
    }
    let a = app.alert(&token, &id).await;
    assert_eq!(a["status"], "sending", "held deliveries are not finished");
    assert_eq!(a["queued"].as_i64(), Some(held.len() as i64));

    // The console shows the warning with its resume button, and the table
    // by domain.
    let br = signed_in(&app, "campaigner").await;
    let html = br.page(&format!("/admin/alerts/{id}")).await;
    assert!(html.contains("data-warning=\"domain_paused\""), "{html}");
    assert!(
        html.contains(&format!(
            "action=\"/admin/alerts/{id}/domains/block.test/resume\""
        )),
        "{html}"
    );
    let table = &html[html.find("id=\"domains\"").expect("a table by domain")..];
    let table = &table[..table.find("</table>").unwrap()];
    let block_row = format!(
        "<th scope=\"row\">block.test</th><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        failed.len(),
        held.len()
    );
    assert!(table.contains(&block_row), "{table}");
    assert!(
        table.contains("<th scope=\"row\">other.test</th><td class=\"num\">10</td>"),
        "{table}"
    );

    // Who may resume, and what is not paused.
    let path = format!("/api/v1/alerts/{id}/domains/block.test/resume");
    let organiser = app.token("organiser").await;
    assert_problem(app.post(&path, &organiser, json!({})).await, 403).await;
    let unknown = format!(
        "/api/v1/alerts/{}/domains/block.test/resume",
        uuid::Uuid::new_v4()
    );
    assert_problem(app.post(&unknown, &token, json!({})).await, 404).await;
    let other = format!("/api/v1/alerts/{id}/domains/other.test/resume");
    assert_problem(app.post(&other, &token, json!({})).await, 404).await;

    // Resumed: the held messages go, each once; the refused ones do not.
    app.smtp.set_behaviour(Behaviour::Accept);
    let r = app.post(&path, &token, json!({})).await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["warnings"], json!([]));
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (
            Some((others.len() + held.len()) as i64),
            Some(failed.len() as i64)
        )
    );
    let got = received(&app);
    assert!(held.iter().all(|e| got.get(*e) == Some(&1)), "{got:?}");
    assert!(failed.iter().all(|e| !got.contains_key(*e)), "{got:?}");
    assert_eq!(got.values().sum::<usize>(), others.len() + held.len());
    assert_problem(app.post(&path, &token, json!({})).await, 404).await;

    // The resume is in the audit log.
    let actions: Vec<(String, Option<String>)> = app
        .db
        .run(|c| {
            use clarion::db::schema::audit_log;
            audit_log::table
                .select((audit_log::action, audit_log::detail))
                .load(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(
        actions.contains(&("alert.resume_domain".into(), Some("block.test".into()))),
        "{actions:?}"
    );
}

async fn a_domain_rate_paces_the_mail_to_that_domain(b: Backend) {
    let app = spawn_app_with(b, |raw| {
        raw.mail.domain_rates.insert("paced.test".into(), 5);
    })
    .await;
    let token = app.token("campaigner").await;
    let paced: Vec<String> = (0..11).map(|i| format!("p{i}@paced.test")).collect();
    let people: Vec<Person> = paced.iter().map(|e| Person::active(e, "P")).collect();
    let l = app.seed_list("l", &people).await;
    let id = alert_for(&app, &token, &[&l]).await;
    let started = Instant::now();
    send(&app, &token, &id).await;
    app.smtp.wait_for(paced.len(), WAIT).await;
    // Eleven sends at five a second take ten intervals of 200 ms after the
    // first, which cannot start before the send did.
    let last = *app.smtp.arrival_times().iter().max().unwrap();
    let took = last.duration_since(started);
    assert!(took >= Duration::from_millis(1990), "{took:?}");
    app.wait_alert_done(&token, &id).await;
}

async fn the_send_answer_warns_about_a_big_send_without_dkim_and_small_sends_carry_no_warning(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let small = app
        .seed_list("small", &[Person::active("one@example.org", "O")])
        .await;
    let id = alert_for(&app, &token, &[&small]).await;
    assert_eq!(app.alert(&token, &id).await["warnings"], json!([]));
    let br = signed_in(&app, "campaigner").await;
    let confirm = br.page(&format!("/admin/alerts/{id}/send")).await;
    assert!(!confirm.contains("no-dkim-warning"), "{confirm}");
    assert_eq!(send(&app, &token, &id).await["warnings"], json!([]));

    // 5,000 people, no DKIM configured: the answer says so.
    let big = create_list(&app, &token, "big").await;
    let mut csv = String::from("email,first_name\n");
    for i in 0..clarion::campaign::alerts::NO_DKIM_WARNING_AT {
        csv.push_str(&format!("p{i}@many.test,P\n"));
    }
    let r = post_csv(&app, &format!("/api/v1/lists/{big}/import"), &token, &csv).await;
    assert_eq!(r.status(), 200);
    let case = app.create_case(&token, "big-send").await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [big], "subject": "Act",
                   "body_markdown": "Now."}),
        )
        .await;
    let big_alert: Value = r.json().await.unwrap();
    let big_id = big_alert["id"].as_str().unwrap();
    let confirm = br.page(&format!("/admin/alerts/{big_id}/send")).await;
    assert!(confirm.contains("id=\"no-dkim-warning\""), "{confirm}");
    assert!(confirm.contains("DKIM"), "{confirm}");
    let answer = send(&app, &token, big_id).await;
    assert_eq!(answer["recipients"], 5000);
    let w = answer["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{answer}");
    assert_eq!(w[0]["kind"], "no_dkim");
    assert!(w[0]["message"].as_str().unwrap().contains("DKIM"), "{w:?}");
    let r = app
        .post(
            &format!("/api/v1/alerts/{big_id}/cancel"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
}
