//! Lists, members by JSON and CSV imports through the API.

use clarion::db::schema::{list_members, supporters};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::signers::{create_list, post_csv, query};

backend_tests!(
    a_campaigner_creates_a_list_and_the_listing_counts_its_members,
    a_second_list_with_the_same_name_is_a_conflict,
    members_are_upserted_by_normalised_email_and_bad_entries_reported_by_index,
    a_csv_import_reports_every_kind_of_bad_row_with_its_line_number,
    importing_the_same_file_again_changes_nothing,
    an_import_never_resubscribes_unsubscribed_bounced_or_erased_people,
    an_import_needs_an_email_column_and_a_csv_body,
    an_import_into_an_unknown_list_is_404,
    a_duplicate_far_down_a_long_file_is_found_and_names_the_first_line,
);

async fn a_campaigner_creates_a_list_and_the_listing_counts_its_members(b: Backend) {
    let app = spawn_app(b).await;
    let campaigner = app.token("campaigner").await;
    let organiser = app.token("organiser").await;
    let r = app
        .post(
            "/api/v1/lists",
            &campaigner,
            json!({"name": "Bishkek group", "description": "Local supporters"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["name"], "Bishkek group");
    assert_eq!(list["member_count"], 0);
    let id = list["id"].as_str().unwrap();
    let empty = create_list(&app, &campaigner, "Empty").await;

    let r = app
        .post(
            &format!("/api/v1/lists/{id}/members"),
            &campaigner,
            json!([{"email": "ann@example.org"}, {"email": "bob@example.org"}]),
        )
        .await;
    assert_eq!(r.status(), 200);

    let r = app.get("/api/v1/lists", &organiser).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let count_of = |id: &str| {
        items.iter().find(|l| l["id"] == id).unwrap()["member_count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(count_of(id), 2);
    assert_eq!(count_of(&empty), 0);
    assert!(page["next_cursor"].is_null());

    let r = app.get("/api/v1/lists?limit=1", &organiser).await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/lists?limit=1&cursor={cursor}"),
            &organiser,
        )
        .await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"][0]["id"], empty.as_str());

    let one: Value = app
        .get(&format!("/api/v1/lists/{id}"), &organiser)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["member_count"], 2);
    assert_eq!(one["active_count"], 2);
}

async fn a_second_list_with_the_same_name_is_a_conflict(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    create_list(&app, &t, "Press").await;
    let r = app
        .post("/api/v1/lists", &t, json!({"name": "Press"}))
        .await;
    assert_problem(r, 409).await;
    let r = app.post("/api/v1/lists", &t, json!({"name": ""})).await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "name");
}

async fn members_are_upserted_by_normalised_email_and_bad_entries_reported_by_index(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let list = create_list(&app, &t, "Members").await;
    let path = format!("/api/v1/lists/{list}/members");
    let r = app
        .post(
            &path,
            &t,
            json!([
                {"email": " Ann@Example.ORG ", "first_name": "Ann", "country": "kg"},
                {"email": "ann@example.org"},
                {"email": "not an email"},
                {"email": "bob@example.org", "country": "XX"},
                {"email": 5},
                "just a string",
                {"first_name": "No Email"},
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 1, "{report}");
    assert_eq!(report["updated"], 0);
    let rejected = report["rejected"].as_array().unwrap();
    let indices: Vec<i64> = rejected
        .iter()
        .map(|p| p["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indices, vec![1, 2, 3, 4, 5, 6], "{report}");
    let reason = |i: usize| rejected[i]["reason"].as_str().unwrap().to_string();
    assert!(reason(0).contains("duplicate") && reason(0).contains("index 0"));
    assert!(reason(1).starts_with("email:"));
    assert!(reason(2).starts_with("country:"));
    assert!(reason(3).contains("email"));
    assert!(reason(4).contains("object"));
    assert!(reason(5).contains("email: This field is required"));

    // The same person again, differently spelt, with a new name: updated.
    let r = app
        .post(
            &path,
            &t,
            json!([{"email": "ANN@example.org", "first_name": "Anna"}]),
        )
        .await;
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        (report["added"].as_i64(), report["updated"].as_i64()),
        (Some(0), Some(1))
    );
    let rows: Vec<(Option<String>, Option<String>, Option<String>)> = query(&app, |c| {
        supporters::table
            .select((
                supporters::email,
                supporters::first_name,
                supporters::country,
            ))
            .load(c)
    })
    .await;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(e, f, c)| (app.open(e), app.open(f), c))
        .collect();
    assert_eq!(
        rows,
        vec![(
            Some("ann@example.org".to_string()),
            Some("Anna".to_string()),
            Some("KG".to_string())
        )]
    );
}

async fn a_csv_import_reports_every_kind_of_bad_row_with_its_line_number(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let list = create_list(&app, &t, "Imported").await;
    let long_name = "A".repeat(101);
    let csv = format!(
        "\u{feff}Email,First_Name,last_name,country,postcode,locale,notes\n\
         ann@example.org,Ann,Smith,KG,720000,ru,\"a note\nover two lines\"\n\
         not-an-email,Bob,Jones,GB,,,\n\
         carol@example.org,Carol,,ZZ,,,\n\
         dan@example.org,{long_name},,,,,\n\
         ANN@example.org,Ann,Again,,,,\n\
         eve@example.org,Eve,,,SW1A 1AA,en-GB,\n\
         ,Nobody,,,,,\n\
         frank@example.org,Frank,,,!!!,,\n\
         gina@example.org,Gina,,,,not a locale,\n"
    );
    let r = post_csv(&app, &format!("/api/v1/lists/{list}/import"), &t, &csv).await;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 2, "{report}");
    assert_eq!(report["rejected_count"], 7, "{report}");
    let rejected: Vec<(i64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_i64().unwrap(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Line 2's quoted note spans two lines, so the next row starts on line 4.
    let lines: Vec<i64> = rejected.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 9, 10, 11], "{rejected:?}");
    assert!(
        rejected[0].1.starts_with("email: Enter an email address"),
        "{rejected:?}"
    );
    assert!(rejected[1].1.starts_with("country:"), "{rejected:?}");
    assert!(
        rejected[2].1.contains("at most 100 characters"),
        "{rejected:?}"
    );
    assert!(
        rejected[3].1.contains("duplicate") && rejected[3].1.contains("line 2"),
        "{rejected:?}"
    );
    assert!(rejected[4].1.contains("required"), "{rejected:?}");
    assert!(rejected[5].1.starts_with("postcode:"), "{rejected:?}");
    assert!(rejected[6].1.starts_with("locale:"), "{rejected:?}");

    let members: i64 = query(&app, move |c| {
        list_members::table
            .filter(list_members::list_id.eq(list))
            .count()
            .get_result(c)
    })
    .await;
    assert_eq!(members, 2);
    let eve: (Option<String>, Option<String>) = query(&app, |c| {
        supporters::table
            .filter(
                supporters::email_hash
                    .eq(clarion::db::supporters::email_hash("eve@example.org").unwrap()),
            )
            .select((supporters::postcode, supporters::locale))
            .first(c)
    })
    .await;
    let eve = (app.open(eve.0), eve.1);
    assert_eq!(eve, (Some("SW1A 1AA".into()), Some("en-GB".into())));
}

type SupporterRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    chrono::NaiveDateTime,
);

async fn snapshot(
    app: &crate::helpers::TestApp,
) -> (
    Vec<SupporterRow>,
    Vec<(String, String, chrono::NaiveDateTime)>,
) {
    query(app, |c| {
        let s = supporters::table
            .order(supporters::id)
            .select((
                supporters::id,
                supporters::email,
                supporters::first_name,
                supporters::country,
                supporters::status,
                supporters::updated_at,
            ))
            .load(c)?;
        let m = list_members::table
            .order((list_members::list_id, list_members::supporter_id))
            .select((
                list_members::list_id,
                list_members::supporter_id,
                list_members::added_at,
            ))
            .load(c)?;
        Ok((s, m))
    })
    .await
}

async fn importing_the_same_file_again_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let list = create_list(&app, &t, "Twice").await;
    let csv = "email,first_name,country\nann@example.org,Ann,KG\nbob@example.org,Bob,\nbad,,\n";
    let path = format!("/api/v1/lists/{list}/import");
    let first: Value = post_csv(&app, &path, &t, csv).await.json().await.unwrap();
    assert_eq!(first["added"], 2);
    let before = snapshot(&app).await;
    let second: Value = post_csv(&app, &path, &t, csv).await.json().await.unwrap();
    assert_eq!(second["added"], 0, "{second}");
    assert_eq!(second["updated"], 0, "{second}");
    assert_eq!(second["unchanged"], 2, "{second}");
    assert_eq!(second["rejected_count"], 1);
    assert_eq!(snapshot(&app).await, before);
}

async fn an_import_never_resubscribes_unsubscribed_bounced_or_erased_people(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let list = create_list(&app, &t, "Old list").await;
    let path = format!("/api/v1/lists/{list}/import");
    let csv =
        "email,first_name\nunsub@example.org,Una\nbounce@example.org,Bo\ngone@example.org,Gone\n";
    post_csv(&app, &path, &t, csv).await;
    query(&app, |c| {
        diesel::update(
            supporters::table.filter(
                supporters::email_hash
                    .eq(clarion::db::supporters::email_hash("unsub@example.org").unwrap()),
            ),
        )
        .set(supporters::status.eq("unsubscribed"))
        .execute(c)?;
        diesel::update(
            supporters::table.filter(
                supporters::email_hash
                    .eq(clarion::db::supporters::email_hash("bounce@example.org").unwrap()),
            ),
        )
        .set(supporters::status.eq("bounced"))
        .execute(c)
    })
    .await;
    let gone: Value = app
        .get("/api/v1/supporters?email=gone@example.org", &t)
        .await
        .json()
        .await
        .unwrap();
    let gone_id = gone["items"][0]["id"].as_str().unwrap();
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/supporters/{gone_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);

    let other = create_list(&app, &t, "New list").await;
    let csv2 = "email,first_name\nUNSUB@example.org,Changed\nbounce@example.org,Changed\nGone@Example.org,Back\n";
    let r = post_csv(&app, &format!("/api/v1/lists/{other}/import"), &t, csv2).await;
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 0, "{report}");
    assert_eq!(report["updated"], 0, "{report}");
    assert_eq!(report["skipped_count"], 3, "{report}");
    let reasons: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].starts_with("unsubscribed"));
    assert!(reasons[1].starts_with("bounced"));
    assert!(reasons[2].starts_with("erased"));

    let rows: Vec<(Option<String>, Option<String>, String)> = query(&app, |c| {
        supporters::table
            .order(supporters::id)
            .select((
                supporters::email,
                supporters::first_name,
                supporters::status,
            ))
            .load(c)
    })
    .await;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(e, f, st)| (app.open(e), app.open(f), st))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                Some("unsub@example.org".into()),
                Some("Una".into()),
                "unsubscribed".into()
            ),
            (
                Some("bounce@example.org".into()),
                Some("Bo".into()),
                "bounced".into()
            ),
            (None, None, "erased".into()),
        ]
    );
    let on_new: i64 = query(&app, move |c| {
        list_members::table
            .filter(list_members::list_id.eq(other))
            .count()
            .get_result(c)
    })
    .await;
    assert_eq!(on_new, 0);
}

async fn an_import_needs_an_email_column_and_a_csv_body(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let list = create_list(&app, &t, "Strict").await;
    let path = format!("/api/v1/lists/{list}/import");
    let r = post_csv(&app, &path, &t, "name,country\nAnn,KG\n").await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");
    let r = app.post(&path, &t, json!({"email": "a@example.org"})).await;
    assert_problem(r, 415).await;
    let r = app
        .post(
            &format!("/api/v1/lists/{list}/members"),
            &t,
            json!({"email": "a@example.org"}),
        )
        .await;
    assert_problem(r, 400).await;
}

async fn an_import_into_an_unknown_list_is_404(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let missing = uuid::Uuid::now_v7();
    let r = post_csv(
        &app,
        &format!("/api/v1/lists/{missing}/import"),
        &t,
        "email\na@example.org\n",
    )
    .await;
    assert_problem(r, 404).await;
    let r = app
        .post(&format!("/api/v1/lists/{missing}/members"), &t, json!([]))
        .await;
    assert_problem(r, 404).await;
}

async fn a_duplicate_far_down_a_long_file_is_found_and_names_the_first_line(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("campaigner").await;
    let list = create_list(&app, &t, "Long").await;
    let n = clarion::import::BATCH_ROWS + 10;
    let mut csv = String::from("email\n");
    for i in 0..n {
        csv.push_str(&format!("p{i}@example.org\n"));
    }
    // Lines: header 1, p0 on 2 … the repeats come after every batch boundary.
    csv.push_str("P0@Example.org\n");
    csv.push_str(&format!("p{}@example.org\n", n - 1));
    let r = post_csv(&app, &format!("/api/v1/lists/{list}/import"), &t, &csv).await;
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        report["added"].as_u64(),
        Some(n as u64),
        "{}",
        report["rejected"]
    );
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last = n as u64 + 1;
    assert_eq!(
        rejected,
        vec![
            (last + 1, "duplicate: the same email as line 2".to_string()),
            (
                last + 2,
                format!("duplicate: the same email as line {last}")
            ),
        ]
    );
}
