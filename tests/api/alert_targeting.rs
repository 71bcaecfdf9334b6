//! Alerts that follow the case (contract §9): who gets them (signers left
//! out, countries, languages), when (scheduled, a send-by deadline, a case
//! that ends), four-eyes approval, and the rate and ETA of a send.
//!
//! Times that would otherwise need waiting are set in the database: an app
//! without its worker stands for a service that is down, and a second app
//! with its worker on the same database for the one that starts again.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::{create_user, csrf_of, location, signed_in, Browser, PASSWORD};
use crate::helpers::{
    assert_problem, fresh_database, spawn_app, spawn_app_with, test_settings, wait_until, Backend,
    Person, TestApp,
};
use crate::smtp_sink::SmtpSink;
use clarion::config::{RawSettings, Settings};
use clarion::db::schema::{alerts, audit_log, deliveries, signatures, supporters};
use clarion::startup::{Application, Options};

backend_tests!(
    the_audience_leaves_out_signers_and_keeps_only_the_chosen_countries_and_languages,
    audience_filters_are_checked_and_change_only_while_draft,
    with_four_eyes_the_author_cannot_approve_and_another_campaigner_can,
    a_scheduled_alert_takes_its_audience_at_send_at_and_can_be_cancelled_before,
    scheduling_refuses_past_times_and_a_deadline_before_the_send,
    deliveries_not_made_by_send_by_expire_and_are_counted,
    a_scheduled_alert_due_while_the_service_was_down_is_sent_on_start_only_before_its_send_by,
    a_case_that_is_resolved_cancels_its_alerts_undelivered_messages,
    progress_shows_the_rate_over_the_last_minute_and_warns_when_the_eta_is_after_send_by,
    the_console_counts_the_audience_live_and_leaves_out_signers_by_default,
    in_the_console_a_second_campaigner_approves_and_anyone_can_schedule,
    an_alerts_counts_follow_every_change_to_its_deliveries,
);

/// An app on `database_url` (made by `fresh_database`), with or without
/// its mail worker and periodic jobs: without them it is a service that
/// is down as far as sending goes.
async fn app_on(
    database_url: &str,
    worker: bool,
    customise: impl FnOnce(&mut RawSettings),
) -> TestApp {
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut raw = test_settings(database_url, &smtp.url(), &dir);
    // One key folder per database, as a real service keeps across
    // restarts: the supporters' data is sealed under its data key.
    raw.key_dir = match database_url.strip_prefix("sqlite://") {
        Some(path) => std::path::Path::new(path)
            .parent()
            .unwrap()
            .display()
            .to_string(),
        None => std::env::temp_dir()
            .join(format!(
                "clarion-test-keys-{}",
                database_url.rsplit("%3D").next().unwrap()
            ))
            .display()
            .to_string(),
    };
    customise(&mut raw);
    let settings = Settings::from_raw(raw).unwrap();
    let app = Application::build(
        settings,
        Options {
            demo: false,
            worker,
        },
    )
    .await
    .expect("application builds");
    let port = app.port();
    let db = app.state().db.clone();
    let settings = app.state().settings.as_ref().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url: database_url.to_string(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        smtp,
        settings,
        db,
        dir,
    }
}

async fn case_and_petition(app: &TestApp, token: &str) -> (String, String) {
    let case = app.create_case(token, "askarov").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let p = app
        .create_petition(token, &case_id, "free-askarov", json!({}))
        .await;
    (case_id, p["id"].as_str().unwrap().to_string())
}

/// A draft to `lists` with the extra fields of `extra`; its JSON.
async fn draft(app: &TestApp, token: &str, case_id: &str, lists: &[&str], extra: Value) -> Value {
    let mut body = json!({"case_id": case_id, "list_ids": lists,
        "subject": "Hearing on 11 July", "body_markdown": "Please act now."});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/alerts", token, body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn post_ok(app: &TestApp, token: &str, path: &str, body: Value, status: u16) -> Value {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status(), status, "{path}");
    r.json().await.unwrap()
}

/// Sets a supporter's country and language.
async fn place(app: &TestApp, email: &str, country: Option<&str>, locale: Option<&str>) {
    let (email, country, locale) = (
        email.to_string(),
        country.map(String::from),
        locale.map(String::from),
    );
    app.db
        .run(move |c| {
            diesel::update(supporters::table.filter(
                supporters::email_hash.eq(clarion::db::supporters::email_hash(&email).unwrap()),
            ))
            .set((
                supporters::country.eq(country),
                supporters::locale.eq(locale),
            ))
            .execute(c)
            .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
}

/// A signature by the supporter with `email` on `petition_id`.
async fn signed(app: &TestApp, email: &str, petition_id: &str, status: &str) {
    let (email, petition_id, status) = (
        email.to_string(),
        petition_id.to_string(),
        status.to_string(),
    );
    app.db
        .run(move |c| {
            let sid: String = supporters::table
                .filter(
                    supporters::email_hash.eq(clarion::db::supporters::email_hash(&email).unwrap()),
                )
                .select(supporters::id)
                .first(c)?;
            diesel::insert_into(signatures::table)
                .values((
                    signatures::id.eq(clarion::db::new_id()),
                    signatures::petition_id.eq(petition_id),
                    signatures::supporter_id.eq(sid),
                    signatures::status.eq(status),
                    signatures::country.eq("KG"),
                    signatures::email_opt_in.eq(false),
                    signatures::signed_at.eq(clarion::db::now()),
                ))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
}

fn recipients_of(app: &TestApp) -> HashSet<String> {
    app.smtp
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect()
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs `f` on the alerts row `id`.
async fn set_alert(
    app: &TestApp,
    id: &str,
    f: impl FnOnce(&mut clarion::db::DbConnection, &str) -> QueryResult<usize> + Send + 'static,
) {
    let id = id.to_string();
    app.db
        .run(move |c| f(c, &id).map_err(clarion::db::DbError::from))
        .await
        .unwrap();
}

async fn audit_actions(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let id = id.to_string();
    app.db
        .run(move |c| {
            audit_log::table
                .filter(audit_log::target_id.eq(id))
                .order(audit_log::id.asc())
                .select((audit_log::actor, audit_log::action))
                .load::<(String, String)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

fn ago(secs: i64) -> NaiveDateTime {
    clarion::db::now() - chrono::Duration::seconds(secs)
}

async fn the_audience_leaves_out_signers_and_keeps_only_the_chosen_countries_and_languages(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list(
            "everyone",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
                Person::active("cholpon@example.org", "Cholpon"),
                Person::active("dina@example.org", "Dina"),
                Person::active("erlan@example.org", "Erlan"),
                Person::active("farida@example.org", "Farida"),
            ],
        )
        .await;
    // Aida signed (confirmed), Bolot signed (pending): both left out.
    place(&app, "aida@example.org", Some("KG"), Some("ru")).await;
    place(&app, "bolot@example.org", Some("KG"), Some("ru")).await;
    signed(&app, "aida@example.org", &petition_id, "confirmed").await;
    signed(&app, "bolot@example.org", &petition_id, "pending").await;
    // Cholpon reads ru-KG: `ru` takes her. Dina has no language: the
    // default (en) is not asked for. Erlan is in Kazakhstan. Farida is in
    // Kyrgyzstan but reads English.
    place(&app, "cholpon@example.org", Some("KG"), Some("ru-KG")).await;
    place(&app, "dina@example.org", Some("KG"), None).await;
    place(&app, "erlan@example.org", Some("KZ"), Some("ru")).await;
    place(&app, "farida@example.org", Some("KG"), Some("en")).await;

    let unfiltered = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let id0 = unfiltered["id"].as_str().unwrap();
    let n = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id0}/audience"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(n["recipients"], 6, "no filter: the whole list");

    let a = draft(
        &app,
        &token,
        &case_id,
        &[&list],
        json!({"exclude_signers_of": [petition_id], "countries": ["kg"], "locales": ["RU"]}),
    )
    .await;
    assert_eq!(a["exclude_signers_of"], json!([petition_id]));
    assert_eq!(a["countries"], json!(["KG"]), "codes are upper-cased");
    assert_eq!(a["locales"], json!(["ru"]));
    let id = a["id"].as_str().unwrap();
    let n = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/audience"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(n["recipients"], 1, "only Cholpon");
    assert_eq!(n["status"], "draft", "counting sends nothing");
    assert_eq!(app.alert(&token, id).await["recipients"], 0);

    // With English too, Farida and Dina (no language: the default) come in.
    let r = app
        .patch(
            &format!("/api/v1/alerts/{id}"),
            &token,
            json!({"case_id": case_id, "list_ids": [list], "subject": "Hearing on 11 July",
                   "body_markdown": "Please act now.", "exclude_signers_of": [petition_id],
                   "countries": ["KG"], "locales": ["ru", "en"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let n = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/audience"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(n["recipients"], 3);

    let sent = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(sent["recipients"], 3, "the snapshot is what the count said");
    app.smtp.wait_for(3, Duration::from_secs(20)).await;
    let done = app.wait_alert_done(&token, id).await;
    assert_eq!(done["sent"], 3);
    let expected: HashSet<String> = [
        "cholpon@example.org",
        "dina@example.org",
        "farida@example.org",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(recipients_of(&app), expected);
}

async fn audience_filters_are_checked_and_change_only_while_draft(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, _) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case_id, "list_ids": [list], "subject": "S", "body_markdown": "B",
                   "exclude_signers_of": [uuid::Uuid::new_v4().to_string()],
                   "countries": ["Kyrgyzstan"], "locales": ["not a tag"], "send_by": "tomorrow"}),
        )
        .await;
    let p = assert_problem(r, 422).await;
    let fields: HashSet<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["exclude_signers_of", "countries", "locales", "send_by"]),
        "{p}"
    );
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case_id, "list_ids": [list], "subject": "S", "body_markdown": "B",
                   "countries": "KG"}),
        )
        .await;
    assert_problem(r, 422).await;

    let a = draft(
        &app,
        &token,
        &case_id,
        &[&list],
        json!({"countries": ["KG"]}),
    )
    .await;
    let id = a["id"].as_str().unwrap();
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    let r = app
        .patch(
            &format!("/api/v1/alerts/{id}"),
            &token,
            json!({"case_id": case_id, "list_ids": [list], "subject": "S", "body_markdown": "B"}),
        )
        .await;
    assert_problem(r, 409).await;
    // Even with a bad field or a deadline passed since: it is no longer a draft.
    let r = app
        .patch(
            &format!("/api/v1/alerts/{id}"),
            &token,
            json!({"countries": ["nowhere"]}),
        )
        .await;
    assert_problem(r, 409).await;
    assert_eq!(app.alert(&token, id).await["countries"], json!(["KG"]));
    let r = app
        .post(
            &format!("/api/v1/alerts/{}/audience", uuid::Uuid::new_v4()),
            &token,
            json!({}),
        )
        .await;
    assert_problem(r, 404).await;
}

async fn with_four_eyes_the_author_cannot_approve_and_another_campaigner_can(b: Backend) {
    let app = spawn_app_with(b, |s| s.require_approval = true).await;
    let author = app.token("campaigner").await;
    let second = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let (case_id, _) = case_and_petition(&app, &author).await;
    let list = app
        .seed_list(
            "l",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
            ],
        )
        .await;
    let a = draft(&app, &author, &case_id, &[&list], json!({})).await;
    let id = a["id"].as_str().unwrap();

    let asked = post_ok(
        &app,
        &author,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(asked["status"], "awaiting_approval");
    assert_eq!(asked["recipients"], 0, "no audience taken yet");
    let again = post_ok(
        &app,
        &author,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(again["status"], "awaiting_approval");

    let approve = format!("/api/v1/alerts/{id}/approve");
    assert_problem(app.post(&approve, &author, json!({})).await, 403).await;
    assert_problem(app.post(&approve, &organiser, json!({})).await, 403).await;
    assert_eq!(app.alert(&author, id).await["status"], "awaiting_approval");
    // Nothing was queued while it waited.
    assert_eq!(app.alert(&author, id).await["queued"], 0);

    let approved = post_ok(&app, &second, &approve, json!({}), 200).await;
    assert_eq!(approved["status"], "sending");
    assert_eq!(approved["recipients"], 2);
    assert_eq!(approved["approved_by"], "token:test");
    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(app.wait_alert_done(&author, id).await["sent"], 2);
    assert_problem(app.post(&approve, &second, json!({})).await, 409).await;

    let actions: Vec<String> = audit_actions(&app, id)
        .await
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        actions,
        ["alert.create", "alert.request_approval", "alert.approve"]
    );

    // Someone who did not write it may send it at once: they are the second pair of eyes.
    let other = draft(&app, &author, &case_id, &[&list], json!({})).await;
    let oid = other["id"].as_str().unwrap();
    let sent = post_ok(
        &app,
        &second,
        &format!("/api/v1/alerts/{oid}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(sent["status"], "sending");
    // An author who edited someone else's draft is one of its authors.
    let third = draft(&app, &second, &case_id, &[&list], json!({})).await;
    let tid = third["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/alerts/{tid}"),
            &author,
            json!({"case_id": case_id, "list_ids": [list], "subject": "Changed", "body_markdown": "B"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let asked = post_ok(
        &app,
        &author,
        &format!("/api/v1/alerts/{tid}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(asked["status"], "awaiting_approval");
}

async fn a_scheduled_alert_takes_its_audience_at_send_at_and_can_be_cancelled_before(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, _) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let soon = rfc3339(Utc::now() + chrono::Duration::seconds(2));

    // Cancelled before its time: never sent.
    let early = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let eid = early["id"].as_str().unwrap();
    let s = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{eid}/schedule"),
        json!({"send_at": soon}),
        200,
    )
    .await;
    assert_eq!(s["status"], "scheduled");
    let c = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{eid}/cancel"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(c["status"], "cancelled");

    let a = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let id = a["id"].as_str().unwrap();
    let s = post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/schedule"),
        json!({"send_at": soon}),
        200,
    )
    .await;
    assert_eq!(s["status"], "scheduled");
    assert_eq!(s["send_at"], json!(soon));
    assert_eq!(s["recipients"], 0, "no snapshot before send_at");
    // A scheduled alert is no longer a draft.
    assert_problem(
        app.post(
            &format!("/api/v1/alerts/{id}/schedule"),
            &token,
            json!({"send_at": soon}),
        )
        .await,
        409,
    )
    .await;
    // Someone who joins before send_at is in the snapshot.
    let joined = app
        .seed_list("l2", &[Person::active("bolot@example.org", "Bolot")])
        .await;
    app.db
        .run({
            let (list, joined) = (list.clone(), joined.clone());
            move |c| {
                use clarion::db::schema::list_members;
                let sid: String = list_members::table
                    .filter(list_members::list_id.eq(&joined))
                    .select(list_members::supporter_id)
                    .first(c)?;
                diesel::insert_into(list_members::table)
                    .values((
                        list_members::list_id.eq(list),
                        list_members::supporter_id.eq(sid),
                        list_members::added_at.eq(clarion::db::now()),
                    ))
                    .execute(c)
                    .map_err(clarion::db::DbError::from)
            }
        })
        .await
        .unwrap();

    app.smtp.wait_for(2, Duration::from_secs(20)).await;
    let done = app.wait_alert_done(&token, id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_i64()),
        (Some("sent"), Some(2))
    );
    assert_eq!(done["recipients"], 2);
    let started =
        chrono::DateTime::parse_from_rfc3339(done["send_started_at"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(&soon).unwrap();
    assert!(started >= at, "started {started}, scheduled for {at}");
    let e = app.alert(&token, eid).await;
    assert_eq!(
        (e["status"].as_str(), e["recipients"].as_i64()),
        (Some("cancelled"), Some(0))
    );
    assert_eq!(
        app.smtp.messages().len(),
        2,
        "the cancelled one sent nothing"
    );
    let actors = audit_actions(&app, id).await;
    assert!(
        actors.contains(&("system".into(), "alert.send".into())),
        "{actors:?}"
    );
}

async fn scheduling_refuses_past_times_and_a_deadline_before_the_send(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let (case_id, _) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let a = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let path = format!("/api/v1/alerts/{}/schedule", a["id"].as_str().unwrap());
    let past = rfc3339(Utc::now() - chrono::Duration::minutes(5));
    let later = rfc3339(Utc::now() + chrono::Duration::hours(2));
    let sooner = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let p = assert_problem(app.post(&path, &token, json!({"send_at": past})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "send_at");
    let p = assert_problem(app.post(&path, &token, json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "send_at");
    let p = assert_problem(
        app.post(&path, &token, json!({"send_at": later, "send_by": sooner}))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "send_by");
    assert_problem(
        app.post(&path, &organiser, json!({"send_at": later})).await,
        403,
    )
    .await;
    let s = post_ok(
        &app,
        &token,
        &path,
        json!({"send_at": sooner, "send_by": later}),
        200,
    )
    .await;
    assert_eq!(
        (s["status"].as_str(), s["send_by"].as_str()),
        (Some("scheduled"), Some(later.as_str()))
    );
    // A deadline that has passed refuses a send.
    let gone = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let gid = gone["id"].as_str().unwrap().to_string();
    set_alert(&app, &gid, |c, id| {
        diesel::update(alerts::table.find(id))
            .set(alerts::send_by.eq(ago(60)))
            .execute(c)
    })
    .await;
    let p = assert_problem(
        app.post(&format!("/api/v1/alerts/{gid}/send"), &token, json!({}))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "send_by");
}

async fn deliveries_not_made_by_send_by_expire_and_are_counted(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    // Down: the send is queued but nothing goes out.
    let down = app_on(&url, false, |_| {}).await;
    let token = down.token("campaigner").await;
    let (case_id, _) = case_and_petition(&down, &token).await;
    let list = down
        .seed_list(
            "l",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
                Person::active("cholpon@example.org", "Cholpon"),
            ],
        )
        .await;
    let by = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let a = draft(&down, &token, &case_id, &[&list], json!({"send_by": by})).await;
    assert_eq!(a["send_by"], json!(by));
    let id = a["id"].as_str().unwrap().to_string();
    let sent = post_ok(
        &down,
        &token,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(
        (sent["recipients"].as_i64(), sent["queued"].as_i64()),
        (Some(3), Some(3))
    );
    // The hearing is over before the service is back.
    set_alert(&down, &id, |c, id| {
        diesel::update(alerts::table.find(id))
            .set(alerts::send_by.eq(ago(1)))
            .execute(c)
    })
    .await;
    let up = app_on(&url, true, |_| {}).await;
    let done = wait_until(
        "the deliveries to expire",
        Duration::from_secs(20),
        || async {
            let a = up.alert(&token, &id).await;
            (a["queued"] == 0).then_some(a)
        },
    )
    .await;
    assert_eq!(done["expired"], 3, "{done}");
    assert_eq!(
        (done["sent"].as_i64(), done["status"].as_str()),
        (Some(0), Some("sent"))
    );
    assert!(up.smtp.messages().is_empty(), "nothing after the deadline");
    let statuses: Vec<String> = {
        let id = id.clone();
        up.db
            .run(move |c| {
                deliveries::table
                    .filter(deliveries::alert_id.eq(id))
                    .select(deliveries::status)
                    .load::<String>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    };
    assert_eq!(statuses, ["expired", "expired", "expired"]);
}

async fn a_scheduled_alert_due_while_the_service_was_down_is_sent_on_start_only_before_its_send_by(
    b: Backend,
) {
    let (url, _dir) = fresh_database(&b).await;
    let down = app_on(&url, false, |_| {}).await;
    let token = down.token("campaigner").await;
    let (case_id, _) = case_and_petition(&down, &token).await;
    let list = down
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let at = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let mut ids = vec![];
    for _ in 0..2 {
        let a = draft(&down, &token, &case_id, &[&list], json!({})).await;
        let id = a["id"].as_str().unwrap().to_string();
        post_ok(
            &down,
            &token,
            &format!("/api/v1/alerts/{id}/schedule"),
            json!({"send_at": at}),
            200,
        )
        .await;
        ids.push(id);
    }
    // Both came due while the service was down; the second's deadline passed too.
    set_alert(&down, &ids[0], |c, id| {
        diesel::update(alerts::table.find(id))
            .set((alerts::send_at.eq(ago(600)), alerts::send_by.eq(ago(-3600))))
            .execute(c)
    })
    .await;
    set_alert(&down, &ids[1], |c, id| {
        diesel::update(alerts::table.find(id))
            .set((alerts::send_at.eq(ago(600)), alerts::send_by.eq(ago(60))))
            .execute(c)
    })
    .await;
    assert_eq!(down.alert(&token, &ids[0]).await["status"], "scheduled");

    let up = app_on(&url, true, |_| {}).await;
    up.smtp.wait_for(1, Duration::from_secs(20)).await;
    let sent = up.wait_alert_done(&token, &ids[0]).await;
    assert_eq!(
        (sent["status"].as_str(), sent["sent"].as_i64()),
        (Some("sent"), Some(1))
    );
    let late = wait_until(
        "the late alert to be dropped",
        Duration::from_secs(20),
        || async {
            let a = up.alert(&token, &ids[1]).await;
            (a["status"] != "scheduled").then_some(a)
        },
    )
    .await;
    assert_eq!(
        (late["status"].as_str(), late["recipients"].as_i64()),
        (Some("cancelled"), Some(0))
    );
    assert_eq!(up.smtp.messages().len(), 1);
    let actions = audit_actions(&up, &ids[1]).await;
    assert!(
        actions.contains(&("system".into(), "alert.expire".into())),
        "{actions:?}"
    );
}

async fn a_case_that_is_resolved_cancels_its_alerts_undelivered_messages(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    let app = app_on(&url, false, |_| {}).await;
    let token = app.token("campaigner").await;
    let (case_id, _) = case_and_petition(&app, &token).await;
    let other_case = app.create_case(&token, "other").await;
    let other_case = other_case["id"].as_str().unwrap();
    let list = app
        .seed_list(
            "l",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
            ],
        )
        .await;
    let sending = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let sid = sending["id"].as_str().unwrap();
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{sid}/send"),
        json!({}),
        202,
    )
    .await;
    let scheduled = draft(&app, &token, &case_id, &[&list], json!({})).await;
    let kid = scheduled["id"].as_str().unwrap();
    let at = rfc3339(Utc::now() + chrono::Duration::hours(1));
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{kid}/schedule"),
        json!({"send_at": at}),
        200,
    )
    .await;
    let elsewhere = draft(&app, &token, other_case, &[&list], json!({})).await;
    let xid = elsewhere["id"].as_str().unwrap();
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{xid}/send"),
        json!({}),
        202,
    )
    .await;

    let r = app
        .patch(
            &format!("/api/v1/cases/{case_id}"),
            &token,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s = app.alert(&token, sid).await;
    assert_eq!(
        (
            s["status"].as_str(),
            s["queued"].as_i64(),
            s["cancelled"].as_i64()
        ),
        (Some("cancelled"), Some(0), Some(2))
    );
    assert_eq!(app.alert(&token, kid).await["status"], "cancelled");
    let x = app.alert(&token, xid).await;
    assert_eq!(
        (x["status"].as_str(), x["queued"].as_i64()),
        (Some("sending"), Some(2)),
        "another case's alert goes on"
    );
    let actions = audit_actions(&app, sid).await;
    assert!(
        actions.contains(&("token:test".into(), "alert.cancel".into())),
        "{actions:?}"
    );
}

/// An alert sent to a list of twelve people (by an app without its worker,
/// nothing goes out): its id and the send's answer.
async fn sent_to_twelve(app: &TestApp, token: &str) -> (String, Value) {
    let (case_id, _) = case_and_petition(app, token).await;
    let people: Vec<String> = (0..12).map(|i| format!("p{i}@example.org")).collect();
    let seeded: Vec<Person> = people.iter().map(|e| Person::active(e, "P")).collect();
    let list = app.seed_list("l", &seeded).await;
    let a = draft(app, token, &case_id, &[&list], json!({})).await;
    let id = a["id"].as_str().unwrap().to_string();
    let answer = post_ok(
        app,
        token,
        &format!("/api/v1/alerts/{id}/send"),
        json!({}),
        202,
    )
    .await;
    (id, answer)
}

async fn progress_shows_the_rate_over_the_last_minute_and_warns_when_the_eta_is_after_send_by(
    b: Backend,
) {
    let (url, _dir) = fresh_database(&b).await;
    let app = app_on(&url, false, |_| {}).await;
    let token = app.token("campaigner").await;
    let (id, fresh) = sent_to_twelve(&app, &token).await;
    assert_eq!(
        (fresh["rate_per_s"].as_f64(), fresh["eta"].clone()),
        (Some(0.0), Value::Null)
    );

    // The send began two minutes ago; 6 went out in the last minute, 2 before it.
    let id2 = id.clone();
    app.db
        .run(move |c| {
            diesel::update(alerts::table.find(&id2))
                .set((
                    alerts::send_started_at.eq(ago(120)),
                    alerts::send_by.eq(ago(-60)),
                ))
                .execute(c)?;
            let rows: Vec<i64> = deliveries::table
                .filter(deliveries::alert_id.eq(&id2))
                .order(deliveries::id.asc())
                .select(deliveries::id)
                .load(c)?;
            for (i, d) in rows.iter().take(8).enumerate() {
                let at = if i < 6 { ago(30) } else { ago(90) };
                diesel::update(deliveries::table.find(d))
                    .set((deliveries::status.eq("sent"), deliveries::sent_at.eq(at)))
                    .execute(c)?;
            }
            Ok::<_, clarion::db::DbError>(())
        })
        .await
        .unwrap();
    let before = Utc::now();
    let a = app.alert(&token, &id).await;
    assert_eq!(a["rate_per_s"], 0.1, "6 in 60 s");
    assert_eq!(
        (a["sent"].as_i64(), a["queued"].as_i64()),
        (Some(8), Some(4))
    );
    // 4 left at 0.1/s: the last in 40 s, before the deadline a minute away.
    let eta = chrono::DateTime::parse_from_rfc3339(a["eta"].as_str().unwrap()).unwrap();
    let secs = (eta.with_timezone(&Utc) - before).num_seconds();
    assert!((39..=45).contains(&secs), "eta in {secs} s");
    assert!(
        !a["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "eta_after_send_by"),
        "{a}"
    );
    let br = signed_in(&app, "campaigner").await;
    let page = br.page(&format!("/admin/alerts/{id}")).await;
    assert!(
        page.contains("id=\"eta-late\" data-warning=\"eta_after_send_by\" hidden>"),
        "no warning while the eta is before the deadline: {page}"
    );
    // A deadline 20 s away comes before the last delivery.
    let id3 = id.clone();
    set_alert(&app, &id3, |c, id| {
        diesel::update(alerts::table.find(id))
            .set(alerts::send_by.eq(ago(-20)))
            .execute(c)
    })
    .await;
    let a = app.alert(&token, &id).await;
    let w = a["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "eta_after_send_by")
        .unwrap_or_else(|| panic!("no eta warning: {a}"))
        .clone();
    assert_eq!(w["eta"], a["eta"]);
    assert_eq!(w["send_by"], a["send_by"]);
    assert!(w["message"].as_str().unwrap().contains("deadline"), "{w}");

    // The console's progress page shows the same pace, the deadline and the
    // warning, and its JSON (polled while sending) says it is late.
    let page = br.page(&format!("/admin/alerts/{id}")).await;
    assert!(
        page.contains(
            "<span data-count=\"rate\">0.1 messages a second over the last minute</span>"
        ),
        "{page}"
    );
    assert!(
        page.contains("Expected to finish: <strong data-count=\"eta\">"),
        "{page}"
    );
    assert!(page.contains("id=\"alert-send-by\""), "{page}");
    assert!(
        page.contains("data-warning=\"eta_after_send_by\"><p>At this rate the last messages"),
        "shown, not hidden: {page}"
    );
    assert!(page.contains("after the deadline"), "{page}");
    let p: Value = br
        .get(&format!("/admin/alerts/{id}/progress.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (p["rate_per_s"].as_f64(), p["late"].as_bool()),
        (Some(0.1), Some(true)),
        "{p}"
    );
    assert!(p["eta"].is_string(), "{p}");
    assert!(
        p["late_text"]
            .as_str()
            .unwrap()
            .contains("after the deadline"),
        "{p}"
    );
    // In French, a decimal comma.
    let fr = br.page(&format!("/admin/alerts/{id}?lang=fr")).await;
    assert!(fr.contains(": 0,1 par seconde</span>"), "{fr}");
}

async fn the_console_counts_the_audience_live_and_leaves_out_signers_by_default(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let (case_id, petition_id) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list(
            "l",
            &[
                Person::active("aida@example.org", "Aida"),
                Person::active("bolot@example.org", "Bolot"),
                Person::active("cholpon@example.org", "Cholpon"),
            ],
        )
        .await;
    signed(&app, "aida@example.org", &petition_id, "confirmed").await;
    place(&app, "cholpon@example.org", Some("KZ"), None).await;
    let br = signed_in(&app, "campaigner").await;
    let html = br.page("/admin/alerts/new").await;
    assert!(
        html.contains(r#"name="exclude_signers" value="yes" checked"#),
        "leave out signers is ticked"
    );
    assert!(html.contains(r#"data-count-url="/admin/alerts/audience.json""#));
    let csrf = csrf_of(&html);
    let count = |fields: Vec<(&'static str, String)>| {
        let (br, csrf) = (&br, csrf.clone());
        async move {
            let mut all: Vec<(&str, String)> = vec![("csrf", csrf)];
            all.extend(fields);
            let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = br.post_raw("/admin/alerts/audience.json", &all).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let base = vec![
        ("case_id", case_id.clone()),
        ("petition_id", petition_id.clone()),
        ("list_ids", list.clone()),
        ("subject", "S".to_string()),
        ("body_markdown", "B".to_string()),
    ];
    let all = count(base.clone()).await;
    assert_eq!(all["count"], 3, "{all}");
    let mut no_signers = base.clone();
    no_signers.push(("exclude_signers", "yes".into()));
    let n = count(no_signers.clone()).await;
    assert_eq!(n["count"], 2, "{n}");
    assert!(n["text"].as_str().unwrap().contains('2'));
    no_signers.push(("countries", "KG, kz".into()));
    assert_eq!(
        count(no_signers.clone()).await["count"],
        1,
        "Bolot has no country"
    );
    let mut bad = no_signers.clone();
    bad.push(("locales", "!!".into()));
    let e = count(bad).await;
    assert!(e["errors"]["locales"].is_string(), "{e}");

    // Saved as the form says, nothing from the counts kept.
    let mut fields: Vec<(&str, &str)> = no_signers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("send_by", "2099-01-01T09:30"));
    let r = br
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    assert_eq!(r.status(), 303);
    let page = location(&r);
    let id = page.rsplit('/').next().unwrap().to_string();
    let a = app.alert(&token, &id).await;
    assert_eq!(a["exclude_signers_of"], json!([petition_id]));
    assert_eq!(a["countries"], json!(["KG", "KZ"]));
    assert_eq!(a["send_by"], "2099-01-01T09:30:00Z");
    let listed = app.get("/api/v1/alerts?limit=100", &token).await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "the counts stored nothing"
    );
    let html = br.page(&page).await;
    assert!(html.contains(r#"name="exclude_signers" value="yes" checked"#));
    assert!(
        html.contains("2099-01-01 09:30 UTC"),
        "the deadline is shown"
    );
    assert!(html.contains(r#"value="2099-01-01T09:30""#));
}

async fn in_the_console_a_second_campaigner_approves_and_anyone_can_schedule(b: Backend) {
    let app = spawn_app_with(b, |s| s.require_approval = true).await;
    let token = app.token("campaigner").await;
    let (case_id, _) = case_and_petition(&app, &token).await;
    let list = app
        .seed_list("l", &[Person::active("aida@example.org", "Aida")])
        .await;
    let author = signed_in(&app, "campaigner").await;
    let fields = [
        ("case_id", case_id.as_str()),
        ("list_ids", list.as_str()),
        ("subject", "Act now"),
        ("body_markdown", "Please."),
    ];
    let r = author
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    let page = location(&r);
    let id = page.rsplit('/').next().unwrap().to_string();
    let confirm = author.page(&format!("{page}/send")).await;
    assert!(confirm.contains("id=\"four-eyes\""), "{confirm}");
    let r = author
        .submit(&format!("{page}/send"), &format!("{page}/send"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let html = author.page(&page).await;
    assert!(html.contains("id=\"awaiting-approval\""));
    assert!(
        !html.contains("id=\"approve-button\""),
        "the author gets no button"
    );
    let r = author.submit(&page, &format!("{page}/approve"), &[]).await;
    assert_eq!(r.status(), 403);

    create_user(&app, "second@example.org", "campaigner").await;
    let second = Browser::new(&app);
    assert_eq!(
        second.login("second@example.org", PASSWORD).await.status(),
        303
    );
    let html = second.page(&page).await;
    assert!(html.contains("id=\"approve-button\""));
    let r = second.submit(&page, &format!("{page}/approve"), &[]).await;
    assert_eq!(r.status(), 303);
    app.smtp.wait_for(1, Duration::from_secs(20)).await;
    let done = app.wait_alert_done(&token, &id).await;
    assert_eq!(done["approved_by"], "user:second@example.org");
    let html = second.page(&page).await;
    assert!(html.contains("user:second@example.org"));
    assert!(html.contains("messages a second"), "the rate is shown");

    // The second campaigner schedules the author's next draft: no approval needed.
    let r = author
        .submit("/admin/alerts/new", "/admin/alerts", &fields)
        .await;
    let page = location(&r);
    let id = page.rsplit('/').next().unwrap().to_string();
    let r = second
        .submit(
            &page,
            &format!("{page}/schedule"),
            &[("send_at", "2000-01-01T00:00")],
        )
        .await;
    assert_eq!(r.status(), 422, "a time that has passed");
    let r = second
        .submit(
            &page,
            &format!("{page}/schedule"),
            &[("send_at", "2099-01-01T08:00")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let a = app.alert(&token, &id).await;
    assert_eq!(
        (a["status"].as_str(), a["send_at"].as_str()),
        (Some("scheduled"), Some("2099-01-01T08:00:00Z"))
    );
    let html = second.page(&page).await;
    assert!(html.contains("2099-01-01 08:00 UTC"));
}

/// The counts of `GET /alerts/{id}` are the alert's deliveries counted,
/// whatever statement changed them (on PostgreSQL they are kept apart from
/// the rows, by triggers, and folded together by the worker's look at
/// whether the alert is finished).
async fn an_alerts_counts_follow_every_change_to_its_deliveries(b: Backend) {
    let (url, _dir) = fresh_database(&b).await;
    let app = app_on(&url, false, |_| {}).await;
    let token = app.token("campaigner").await;
    let (id, _) = sent_to_twelve(&app, &token).await;
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/test"),
        json!({"email": "tester@example.org"}),
        202,
    )
    .await;
    let figures = |a: &Value| {
        [
            "queued",
            "sent",
            "failed",
            "cancelled",
            "bounced",
            "complaints",
        ]
        .map(|k| a[k].as_i64().unwrap_or(-1))
    };
    assert_eq!(figures(&app.alert(&token, &id).await), [12, 0, 0, 0, 0, 0]);

    let id2 = id.clone();
    app.db
        .run(move |c| {
            let rows: Vec<i64> = deliveries::table
                .filter(deliveries::alert_id.eq(&id2))
                .filter(deliveries::kind.eq("alert"))
                .order(deliveries::id.asc())
                .select(deliveries::id)
                .load(c)?;
            let set = |c: &mut clarion::db::DbConnection, ids: &[i64], status: &str| {
                diesel::update(deliveries::table.filter(deliveries::id.eq_any(ids)))
                    .set((
                        deliveries::status.eq(status),
                        deliveries::sent_at.eq(ago(10)),
                    ))
                    .execute(c)
            };
            diesel::update(alerts::table.find(&id2))
                .set(alerts::send_started_at.eq(ago(120)))
                .execute(c)?;
            set(c, &rows[0..5], "sent")?;
            set(c, &rows[5..7], "failed")?;
            set(c, &rows[7..8], "held")?;
            diesel::update(deliveries::table.filter(deliveries::id.eq_any(&rows[0..2])))
                .set(deliveries::reply_class.eq("mailbox_gone"))
                .execute(c)?;
            diesel::update(deliveries::table.find(rows[2]))
                .set(deliveries::reply_class.eq("complaint"))
                .execute(c)?;
            // Many small changes that net to nothing: sent 70 s ago, then
            // 10 s ago again, one statement each.
            for i in 0..40 {
                let at = if i % 2 == 0 { ago(70) } else { ago(10) };
                diesel::update(deliveries::table.find(rows[3]))
                    .set(deliveries::sent_at.eq(at))
                    .execute(c)?;
            }
            diesel::delete(deliveries::table.find(rows[11])).execute(c)?;
            // Every test copy is sent: they are not the alert's deliveries.
            diesel::update(
                deliveries::table
                    .filter(deliveries::alert_id.eq(&id2))
                    .filter(deliveries::kind.eq("test")),
            )
            .set((
                deliveries::status.eq("sent"),
                deliveries::sent_at.eq(ago(5)),
            ))
            .execute(c)?;
            Ok::<_, clarion::db::DbError>(())
        })
        .await
        .unwrap();
    let a = app.alert(&token, &id).await;
    // 12 - 5 sent - 2 failed - 1 deleted; the held one still waits.
    assert_eq!(figures(&a), [4, 5, 2, 0, 2, 1], "{a}");
    assert_eq!(a["rate_per_s"], 0.08, "5 in the last minute: {a}");

    // The worker's look folds the kept counts together; they stay.
    let alert = clarion::domain::AlertId::parse(&id).unwrap();
    app.db
        .run(move |c| clarion::db::alerts::mark_finished(c, &alert, clarion::db::now()))
        .await
        .unwrap();
    post_ok(
        &app,
        &token,
        &format!("/api/v1/alerts/{id}/cancel"),
        json!({}),
        200,
    )
    .await;
    let a = app.alert(&token, &id).await;
    assert_eq!(figures(&a), [0, 5, 2, 4, 2, 1], "{a}");
    assert_eq!(a["rate_per_s"], 0.08, "{a}");
}
