//! Supporters: lookup, subject access and erasure.

use clarion::db::schema::{audit_log, deliveries, signatures, supporters};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::signers::{create_list, parse_csv, petition, query, sign_all, Signer};

backend_tests!(
    a_supporter_is_found_by_email_however_it_is_spelt,
    subject_access_holds_profile_consent_lists_signatures_and_deliveries,
    erasure_keeps_every_count_and_removes_the_person_from_exports_lists_and_mail,
    erasing_twice_is_harmless_and_an_unknown_supporter_is_404,
);

/// A confirmation mail queued for tomorrow, so the running worker leaves it
/// alone while the test looks at it.
async fn queue_later(app: &crate::helpers::TestApp, supporter_id: &str, signature_id: &str) {
    let (s, g) = (supporter_id.to_string(), signature_id.to_string());
    query(app, move |c| {
        let t = clarion::db::now();
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::kind.eq("confirmation"),
                deliveries::signature_id.eq(&g),
                deliveries::supporter_id.eq(&s),
                deliveries::payload.eq("token"),
                deliveries::status.eq("queued"),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(t + chrono::Duration::days(1)),
                deliveries::created_at.eq(t),
            ))
            .execute(c)
    })
    .await;
}

async fn a_supporter_is_found_by_email_however_it_is_spelt(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let list = create_list(&app, &t, "L").await;
    app.post(
        &format!("/api/v1/lists/{list}/members"),
        &t,
        json!([{"email": "ann@example.org", "first_name": "Ann"}]),
    )
    .await;
    let r = app
        .get("/api/v1/supporters?email=%20ANN@Example.org%20", &organiser)
        .await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "ann@example.org");
    assert_eq!(items[0]["status"], "active");
    let id = items[0]["id"].as_str().unwrap();

    let one: Value = app
        .get(&format!("/api/v1/supporters/{id}"), &organiser)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["first_name"], "Ann");

    let none: Value = app
        .get("/api/v1/supporters?email=nobody@example.org", &organiser)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let r = app
        .get("/api/v1/supporters?email=nonsense", &organiser)
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");

    let all: Value = app
        .get("/api/v1/supporters", &organiser)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

async fn subject_access_holds_profile_consent_lists_signatures_and_deliveries(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let p = petition(&app, &t, "free-aigul").await;
    let ids = sign_all(
        &app,
        p["id"].as_str().unwrap(),
        vec![Signer::new("aigul@example.org", "Айгуль", "Бекова", "KG")
            .postcode("720001")
            .comment("Free her now")],
    )
    .await;
    let (supporter_id, signature_id) = ids[0].clone();
    let list = create_list(&app, &t, "Bishkek").await;
    app.post(
        &format!("/api/v1/lists/{list}/members"),
        &t,
        json!([{"email": "aigul@example.org"}]),
    )
    .await;
    queue_later(&app, &supporter_id, &signature_id).await;

    let r = app
        .get(
            &format!("/api/v1/supporters/{supporter_id}/export"),
            &organiser,
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["supporter"]["id"], supporter_id.as_str());
    assert_eq!(doc["supporter"]["email"], "aigul@example.org");
    assert_eq!(doc["supporter"]["first_name"], "Айгуль");
    assert_eq!(doc["supporter"]["postcode"], "720001");
    assert_eq!(
        doc["consent"]["wording"],
        "Keep me informed about this case."
    );
    assert_eq!(doc["consent"]["given_at"], "2026-11-20T10:00:00Z");
    assert_eq!(doc["consent"]["source"], "petition");
    assert_eq!(doc["lists"][0]["list_name"], "Bishkek");
    assert_eq!(doc["signatures"][0]["id"], signature_id.as_str());
    assert_eq!(doc["signatures"][0]["petition_slug"], "free-aigul");
    assert_eq!(doc["signatures"][0]["comment"], "Free her now");
    assert_eq!(doc["signatures"][0]["status"], "confirmed");
    assert_eq!(doc["deliveries"][0]["kind"], "confirmation");
    assert_eq!(doc["deliveries"][0]["signature_id"], signature_id.as_str());
    assert!(doc["exported_at"].as_str().unwrap().ends_with('Z'));
    assert_problem(
        app.get(
            &format!("/api/v1/supporters/{}/export", uuid::Uuid::now_v7()),
            &organiser,
        )
        .await,
        404,
    )
    .await;
}

/// comment, postcode, ip_hash, country, status
type AnonymousSignature = (
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

async fn erasure_keeps_every_count_and_removes_the_person_from_exports_lists_and_mail(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let p = petition(&app, &t, "count-me").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let ids = sign_all(
        &app,
        &pid,
        vec![
            Signer::new("keep@example.org", "Keep", "Me", "GB"),
            Signer::new("erase@example.org", "Erase", "Me", "KG")
                .postcode("720001")
                .comment("My private words"),
            Signer::new("pending@example.org", "Pen", "Ding", "KG").pending(),
        ],
    )
    .await;
    let victim = ids[1].0.clone();
    let list = create_list(&app, &t, "Alerts").await;
    app.post(
        &format!("/api/v1/lists/{list}/members"),
        &t,
        json!([{"email": "keep@example.org"}, {"email": "erase@example.org"}]),
    )
    .await;
    queue_later(&app, &victim, &ids[1].1).await;

    let counts = |by: &'static str| {
        let app = &app;
        let pid = pid.clone();
        let t = t.clone();
        async move {
            app.get(&format!("/api/v1/petitions/{pid}/counts?by={by}"), &t)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let before = (counts("country").await, counts("day").await);
    let csv_before = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv?status=all"),
            &t,
        )
        .await
        .bytes()
        .await
        .unwrap();

    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/supporters/{victim}"),
            Some(&t),
            None,
        )
        .await;
    assert_problem(r, 403).await;
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/supporters/{victim}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);

    assert_eq!((counts("country").await, counts("day").await), before);
    assert_eq!(before.0["by"], json!({"GB": 1, "KG": 1}));
    let csv_after = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv?status=all"),
            &t,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let (rows_before, rows_after) = (parse_csv(&csv_before), parse_csv(&csv_after));
    assert_eq!(rows_before.len(), rows_after.len());
    let text = String::from_utf8(csv_after.to_vec()).unwrap();
    for gone in ["erase@example.org", "Erase", "My private words", "720001"] {
        assert!(!text.contains(gone), "{gone} still exported:\n{text}");
    }
    let anonymous = &rows_after[2];
    assert_eq!(anonymous[2..8], ["", "", "", "KG", "", ""]);

    let person: Value = app
        .get(&format!("/api/v1/supporters/{victim}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(person["status"], "erased");
    assert!(person["erased_at"].is_string());
    for f in [
        "email",
        "first_name",
        "last_name",
        "country",
        "postcode",
        "consent_at",
    ] {
        assert!(person[f].is_null(), "{f} kept: {person}");
    }
    let v = victim.clone();
    let (wording, sig): (Option<String>, AnonymousSignature) = query(&app, move |c| {
        let w = supporters::table
            .find(&v)
            .select(supporters::consent_wording)
            .first(c)?;
        let s = signatures::table
            .filter(signatures::supporter_id.eq(&v))
            .select((
                signatures::comment,
                signatures::postcode,
                signatures::ip_hash,
                signatures::country,
                signatures::status,
            ))
            .first(c)?;
        Ok((w, s))
    })
    .await;
    assert_eq!(wording, None);
    assert_eq!(sig, (None, None, None, "KG".into(), "confirmed".into()));

    let l: Value = app
        .get(&format!("/api/v1/lists/{list}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["member_count"], 1, "no future alerts through a list");
    let v = victim.clone();
    let mail: Vec<(String, Option<String>)> = query(&app, move |c| {
        deliveries::table
            .filter(deliveries::supporter_id.eq(&v))
            .select((deliveries::status, deliveries::payload))
            .load(c)
    })
    .await;
    assert_eq!(mail, vec![("cancelled".to_string(), None)]);

    let audit: Vec<(String, String, Option<String>, Option<String>)> = query(&app, |c| {
        audit_log::table
            .filter(audit_log::action.eq("supporter.erase"))
            .select((
                audit_log::actor,
                audit_log::target_type,
                audit_log::target_id,
                audit_log::detail,
            ))
            .load(c)
    })
    .await;
    assert_eq!(
        audit,
        vec![("token:test".into(), "supporter".into(), None, None)]
    );

    // A later alert to the list reaches only the person who stayed.
    let r = app
        .post(
            "/api/v1/alerts",
            &t,
            json!({"case_id": p["case_id"], "petition_id": pid, "list_ids": [list],
                   "subject": "Act now", "body_markdown": "Please sign."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let alert: Value = r.json().await.unwrap();
    let r = app
        .post(
            &format!("/api/v1/alerts/{}/send", alert["id"].as_str().unwrap()),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["recipients"], 1, "{sent}");
    let v = victim.clone();
    let alert_mail: i64 = query(&app, move |c| {
        deliveries::table
            .filter(deliveries::supporter_id.eq(&v))
            .filter(deliveries::kind.eq("alert"))
            .count()
            .get_result(c)
    })
    .await;
    assert_eq!(alert_mail, 0);

    let found: Value = app
        .get("/api/v1/supporters?email=erase@example.org", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
    let doc: Value = app
        .get(&format!("/api/v1/supporters/{victim}/export"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(!doc.to_string().contains("private words"));
}

async fn erasing_twice_is_harmless_and_an_unknown_supporter_is_404(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let p = petition(&app, &t, "twice").await;
    let ids = sign_all(
        &app,
        p["id"].as_str().unwrap(),
        vec![Signer::new("x@example.org", "X", "Y", "FR")],
    )
    .await;
    let path = format!("/api/v1/supporters/{}", ids[0].0);
    for _ in 0..2 {
        let r = app.request(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!(r.status(), 204);
    }
    let erasures: i64 = query(&app, |c| {
        audit_log::table
            .filter(audit_log::action.eq("supporter.erase"))
            .count()
            .get_result(c)
    })
    .await;
    assert_eq!(erasures, 1);
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/supporters/{}", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(r, 404).await;
}
