//! Supporters an authority cannot find (contract §11): small numbers hidden
//! from every public count, retention after a case ends, the IP key of the
//! day, and the console's safety-mode switch.

use std::sync::Arc;

use clarion::db::schema::{audit_log, signatures, supporters};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{clarion_bin, spawn_app, Backend, Person, TestApp};
use crate::public_support::form_with;

backend_tests!(
    countries_under_the_threshold_are_other_in_public_and_complete_for_organisers,
    retention_erases_only_the_signers_nothing_else_holds_once_the_case_has_ended_long_enough,
    the_ip_key_of_a_past_day_is_deleted_and_a_new_day_hashes_differently,
    the_console_safety_switch_hides_small_numbers_sets_a_retention_and_says_so,
);

async fn json_of(app: &TestApp, path: &str) -> Value {
    let r = app.page(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn text_of(app: &TestApp, path: &str) -> String {
    let r = app.page(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

/// Signs `slug` once per `(email, country)`, confirmed at once.
async fn sign_all(app: &TestApp, slug: &str, who: &[(&str, &str)]) {
    for (email, country) in who {
        let r = app
            .sign(slug, &form_with(email, &[("country", country)]))
            .await;
        assert_eq!(r.status(), 303, "{email} signs");
    }
}

async fn verify(app: &TestApp, slug: &str) -> std::process::Output {
    let (url, key_dir, slug) = (
        app.database_url.clone(),
        app.settings.key_dir.clone(),
        slug.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(clarion_bin())
            .args(["verify", "--petition", &slug])
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_KEY_DIR", &key_dir)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .output()
            .expect("clarion runs")
    })
    .await
    .unwrap()
}

/// The campaign layer's context over the app's database and key folder,
/// at a fixed time: the periodic jobs run with it as they would then.
async fn context_at(app: &TestApp, at: chrono::NaiveDateTime) -> clarion::campaign::Context {
    clarion::campaign::Context::new(
        app.db.clone(),
        Arc::new(app.settings.clone()),
        app.keys().await,
        clarion::templates::Templates::load(None).unwrap(),
    )
    .with_clock(clarion::campaign::Clock::fixed(at))
}

/// The petition page's list of countries.
fn countries_list(page: &str) -> &str {
    let start = page
        .find("<ul class=\"countries\">")
        .expect("a country list")
        + 22;
    let end = start + page[start..].find("</ul>").unwrap();
    &page[start..end]
}

async fn countries_under_the_threshold_are_other_in_public_and_complete_for_organisers(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "a-case").await;
    let p = app
        .create_petition(
            &token,
            case["id"].as_str().unwrap(),
            "free-them",
            json!({"require_confirmation": false}),
        )
        .await;
    assert_eq!(p["public_min_count"], 0, "every country shown by default");
    let pid = p["id"].as_str().unwrap().to_string();
    sign_all(
        &app,
        "free-them",
        &[
            ("a@example.org", "KG"),
            ("b@example.org", "KG"),
            ("c@example.org", "KG"),
            ("d@example.org", "AM"),
            ("e@example.org", "TJ"),
        ],
    )
    .await;
    // Before the threshold: every country, in the snapshot too.
    let before = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(before["by_country"], json!({"AM": 1, "KG": 3, "TJ": 1}));

    let r = app
        .patch(
            &format!("/api/v1/petitions/{pid}"),
            &token,
            json!({"public_min_count": 3}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["public_min_count"], 3);

    let counts = json_of(&app, "/petitions/free-them/counts.json").await;
    assert_eq!(counts["signatures"], 5);
    assert_eq!(counts["by_country"], json!({"KG": 3, "other": 2}));
    // The page's country list (the signing form's menu names every country).
    let page = text_of(&app, "/petitions/free-them").await;
    let list = countries_list(&page);
    assert_eq!(list, "<li>Kyrgyzstan: 3</li><li>Other countries: 2</li>");
    let embed = text_of(&app, "/petitions/free-them/embed").await;
    assert!(!embed.contains("<li>Armenia") && !embed.contains("<li>Tajikistan"));
    // The current snapshot is a new one in the hidden form, its total whole.
    let snap = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(snap["by_country"], json!({"KG": 3, "other": 2}));
    assert_eq!(snap["confirmed"], 5);
    assert_ne!(snap["signature"], before["signature"]);
    let out = verify(&app, "free-them").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Organisers still see every country.
    let api: Value = app
        .get(
            &format!("/api/v1/petitions/{pid}/counts?by=country"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["by"], json!({"AM": 1, "KG": 3, "TJ": 1}));
    // The dossier is handed to the authority: its table hides them too, and says so.
    let r = app
        .get(&format!("/api/v1/petitions/{pid}/dossier"), &token)
        .await;
    assert_eq!(r.status(), 200);
    let mut z =
        zip::ZipArchive::new(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    let mut html = String::new();
    std::io::Read::read_to_string(&mut z.by_name("petition.html").unwrap(), &mut html).unwrap();
    assert!(
        html.contains("<td>Other countries</td><td class=\"n\">2</td>"),
        "{html}"
    );
    assert!(html.contains("fewer than 3 signatures"));
    assert!(!html.contains("<td>AM</td>") && !html.contains("<td>TJ</td>"));

    // Lowered again: shown again at once (the page cache was emptied).
    app.patch(
        &format!("/api/v1/petitions/{pid}"),
        &token,
        json!({"public_min_count": 1}),
    )
    .await;
    let counts = json_of(&app, "/petitions/free-them/counts.json").await;
    assert_eq!(counts["by_country"], json!({"AM": 1, "KG": 3, "TJ": 1}));
    let page = text_of(&app, "/petitions/free-them").await;
    assert_eq!(
        countries_list(&page),
        "<li>Kyrgyzstan: 3</li><li>Armenia: 1</li><li>Tajikistan: 1</li>"
    );
    let bad = app
        .patch(
            &format!("/api/v1/petitions/{pid}"),
            &token,
            json!({"public_min_count": -1}),
        )
        .await;
    crate::helpers::assert_problem(bad, 422).await;
}

async fn supporter_ids(app: &TestApp, emails: &[&str]) -> Vec<String> {
    let emails: Vec<String> = emails.iter().map(|e| e.to_string()).collect();
    app.db
        .run(move |c| {
            let mut out = Vec::new();
            for e in emails {
                // Addresses are sealed: found by their keyed hash.
                let id = clarion::db::supporters::id_by_email(c, &e)?.expect("a supporter");
                out.push(id.as_str().to_string());
            }
            Ok::<_, clarion::db::DbError>(out)
        })
        .await
        .unwrap()
}

async fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    let ids = ids.to_vec();
    app.db
        .run(move |c| {
            let mut out = Vec::new();
            for id in ids {
                out.push(
                    supporters::table
                        .find(&id)
                        .select(supporters::status)
                        .first::<String>(c)?,
                );
            }
            Ok::<_, clarion::db::DbError>(out)
        })
        .await
        .unwrap()
}

async fn retention_erases_only_the_signers_nothing_else_holds_once_the_case_has_ended_long_enough(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let ended = app.create_case(&token, "ended").await;
    let eid = ended["id"].as_str().unwrap().to_string();
    let r = app
        .patch(
            &format!("/api/v1/cases/{eid}"),
            &token,
            json!({"retention_days": 30}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["retention_days"], 30);
    let open = app.create_case(&token, "still-open").await;
    let no_confirm = json!({"require_confirmation": false});
    app.create_petition(&token, &eid, "ended-petition", no_confirm.clone())
        .await;
    app.create_petition(
        &token,
        open["id"].as_str().unwrap(),
        "open-petition",
        no_confirm,
    )
    .await;
    sign_all(
        &app,
        "ended-petition",
        &[
            ("ann@example.org", "KG"),
            ("bob@example.org", "KG"),
            ("cat@example.org", "AM"),
            ("dan@example.org", "KG"),
        ],
    )
    .await;
    // Bob also signed for a case still going on; Cat is on a list.
    sign_all(&app, "open-petition", &[("bob@example.org", "KG")]).await;
    app.seed_list("newsletter", &[Person::active("cat@example.org", "Cat")])
        .await;
    let ids = supporter_ids(
        &app,
        &[
            "ann@example.org",
            "bob@example.org",
            "cat@example.org",
            "dan@example.org",
        ],
    )
    .await;

    let r = app
        .patch(
            &format!("/api/v1/cases/{eid}"),
            &token,
            json!({"status": "resolved"}),
        )
        .await;
    let case: Value = r.json().await.unwrap();
    let ended_at: chrono::DateTime<chrono::Utc> =
        case["ended_at"].as_str().unwrap().parse().unwrap();
    let erase_after: chrono::DateTime<chrono::Utc> =
        case["erase_after"].as_str().unwrap().parse().unwrap();
    assert_eq!(erase_after - ended_at, chrono::Duration::days(30));

    // A day early: nobody.
    let early = context_at(&app, (erase_after - chrono::Duration::days(1)).naive_utc()).await;
    clarion::jobs::retention::run_once(&early).await;
    assert_eq!(
        statuses(&app, &ids).await,
        ["active", "active", "active", "active"]
    );

    let due = context_at(
        &app,
        (erase_after + chrono::Duration::minutes(1)).naive_utc(),
    )
    .await;
    clarion::jobs::retention::run_once(&due).await;
    assert_eq!(
        statuses(&app, &ids).await,
        ["erased", "active", "active", "erased"],
        "Ann and Dan erased; Bob (another open case) and Cat (a list) kept"
    );
    // Their personal data is gone, their signatures stay and count.
    let (names, kept) = {
        let ann = ids[0].clone();
        app.db
            .run(move |c| {
                let names: Vec<Option<String>> = signatures::table
                    .filter(signatures::supporter_id.eq(&ann))
                    .select(signatures::first_name)
                    .load(c)?;
                let email: Option<String> = supporters::table
                    .find(&ann)
                    .select(supporters::email)
                    .first(c)?;
                Ok::<_, clarion::db::DbError>((names, email))
            })
            .await
            .unwrap()
    };
    assert_eq!(names, vec![None]);
    assert_eq!(kept, None);
    let counts = json_of(&app, "/petitions/ended-petition/counts.json").await;
    assert_eq!(counts["signatures"], 4);
    let log = json_of(&app, "/petitions/ended-petition/log.json").await;
    let kinds: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["confirm", "confirm", "confirm", "confirm", "erase", "erase"]
    );
    let out = verify(&app, "ended-petition").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The audit log has counts, never whom.
    let audit: Vec<(String, Option<String>, Option<String>)> = app
        .db
        .run(|c| {
            audit_log::table
                .filter(audit_log::action.eq("case.retention"))
                .select((audit_log::actor, audit_log::target_id, audit_log::detail))
                .load(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(
        audit,
        vec![(
            "system".to_string(),
            Some(eid.clone()),
            Some("2 supporters erased".to_string())
        )]
    );
    // Again: nothing more to do.
    clarion::jobs::retention::run_once(&due).await;
    assert_eq!(
        statuses(&app, &ids).await,
        ["erased", "active", "active", "erased"]
    );
    let audits: i64 = app
        .db
        .run(|c| {
            audit_log::table
                .filter(audit_log::action.eq("case.retention"))
                .count()
                .get_result(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(audits, 1);
}

async fn the_ip_key_of_a_past_day_is_deleted_and_a_new_day_hashes_differently(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "a-case").await;
    app.create_petition(&token, case["id"].as_str().unwrap(), "free-them", json!({}))
        .await;
    let dir = std::path::PathBuf::from(&app.settings.key_dir);
    let old = dir.join("ip-2026-01-01.key");
    std::fs::write(&old, format!("{}\n", "ab".repeat(32))).unwrap();

    let r = app
        .sign("free-them", &form_with("ann@example.org", &[]))
        .await;
    assert_eq!(r.status(), 303);
    let stored: Option<String> = app
        .db
        .run(|c| {
            signatures::table
                .select(signatures::ip_hash)
                .first::<Option<String>>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let stored = stored.expect("the signature keeps a hash of its IP");
    assert!(!stored.contains("127.0.0.1"));
    // Hashed with today's key, kept in the key folder (a second reader of
    // the folder, as another node, gets the same hash).
    let now = chrono::Utc::now().naive_utc();
    let keys = clarion::security::DayKeys::new(&dir);
    assert!(keys.path(now.date()).exists());
    assert_eq!(keys.hash("127.0.0.1", now).unwrap(), stored);
    let tomorrow = now + chrono::Duration::days(1);
    assert_ne!(keys.hash("127.0.0.1", tomorrow).unwrap(), stored);

    let ctx = context_at(&app, now).await;
    clarion::jobs::retention::run_once(&ctx).await;
    assert!(!old.exists(), "a past day's key is deleted");
    assert!(keys.path(now.date()).exists(), "today's is kept");
    // The next day, today's goes too.
    let later = context_at(&app, tomorrow + chrono::Duration::minutes(5)).await;
    clarion::jobs::retention::run_once(&later).await;
    assert!(!keys.path(now.date()).exists());
}

async fn the_console_safety_switch_hides_small_numbers_sets_a_retention_and_says_so(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "a-case").await;
    let id = case["id"].as_str().unwrap().to_string();
    let p = app
        .create_petition(&token, &id, "free-them", json!({}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let br = signed_in(&app, "campaigner").await;
    let page_path = format!("/admin/cases/{id}");
    let page = br.page(&page_path).await;
    assert!(page.contains("Safety mode is off."), "{page}");
    assert!(page.contains("fewer than 10 signatures is not named"));
    assert!(page.contains("90 days after the case is resolved or closed"));

    let r = br
        .submit(
            &page_path,
            &format!("/admin/cases/{id}/safety"),
            &[("safety_mode", "on"), ("retention_days", "abc")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("whole number"));

    let r = br
        .submit(
            &page_path,
            &format!("/admin/cases/{id}/safety"),
            &[("safety_mode", "on"), ("retention_days", "60")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), page_path);
    let case: Value = app
        .get(&format!("/api/v1/cases/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["retention_days"], 60);
    let p: Value = app
        .get(&format!("/api/v1/petitions/{pid}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["public_min_count"], 10);
    // A petition added to the case later is protected too.
    let later = app.create_petition(&token, &id, "later", json!({})).await;
    assert_eq!(later["public_min_count"], 10);
    let page = br.page(&page_path).await;
    assert!(page.contains("Safety mode is on."), "{page}");
    assert!(page.contains("erased 60 days after the case is resolved or closed"));

    // Resolved: the console says when.
    app.patch(
        &format!("/api/v1/cases/{id}"),
        &token,
        json!({"status": "resolved"}),
    )
    .await;
    let when = (chrono::Utc::now() + chrono::Duration::days(60))
        .format("%Y-%m-%d")
        .to_string();
    let list = br.page("/admin/cases").await;
    assert!(
        list.contains(&format!("Signers&#x27; data will be erased on {when}"))
            || list.contains(&format!("Signers' data will be erased on {when}")),
        "{list}"
    );

    let r = br
        .submit(
            &page_path,
            &format!("/admin/cases/{id}/safety"),
            &[("safety_mode", "off")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let case: Value = app
        .get(&format!("/api/v1/cases/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["retention_days"], Value::Null);
    assert_eq!(case["erase_after"], Value::Null);
    let p: Value = app
        .get(&format!("/api/v1/petitions/{pid}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["public_min_count"], 0);
    let modes: Vec<Option<String>> = app
        .db
        .run(|c| {
            audit_log::table
                .filter(audit_log::action.eq("case.safety_mode"))
                .order(audit_log::id.asc())
                .select(audit_log::detail)
                .load(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(modes.len(), 2);
    assert_eq!(modes[1].as_deref(), Some("off"));
}
