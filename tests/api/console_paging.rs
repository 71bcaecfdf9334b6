//! The console's edit forms and listings: an emptied optional field clears
//! its value (it used to keep the old one), and every listing pages
//! (`?page=N`, previous/next, filters kept) instead of stopping at 1,000
//! rows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::signers::{create_list, post_csv};

backend_tests!(
    emptying_an_optional_field_on_a_console_edit_form_clears_it,
    the_api_clears_an_optional_field_given_as_null_and_keeps_an_absent_one,
    the_supporters_listing_pages_past_a_thousand_rows_and_keeps_its_filter_in_the_links,
    cases_petitions_lists_and_alerts_page_with_previous_and_next_links,
    a_case_past_the_thousandth_can_be_chosen_on_the_petition_and_alert_forms,
);

async fn emptying_an_optional_field_on_a_console_edit_form_clears_it(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let r = app
        .patch(
            &format!("/api/v1/cases/{case_id}"),
            &token,
            json!({"subject_name": "Aziz", "country": "KG", "body": "The long story."}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let petition = app
        .create_petition(&token, &case_id, "free-them", json!({"goal": 500}))
        .await;
    let petition_id = petition["id"].as_str().unwrap().to_string();

    let br = signed_in(&app, "campaigner").await;
    // The case: subject, country and body emptied, the rest as it was.
    let edit = format!("/admin/cases/{case_id}");
    let form = br.page(&edit).await;
    assert!(form.contains("value=\"KG\""), "the form shows the country");
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "A case"),
                ("slug", "free-aziz"),
                ("summary", "Why it matters."),
                ("subject_name", ""),
                ("country", "  "),
                ("body", ""),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let got: Value = app
        .get(&format!("/api/v1/cases/{case_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["subject_name"], Value::Null, "{got}");
    assert_eq!(got["country"], Value::Null, "{got}");
    assert_eq!(got["body"], Value::Null, "{got}");
    assert_eq!(got["summary"], "Why it matters.");
    let form = br.page(&edit).await;
    assert!(
        !form.contains("value=\"KG\""),
        "the form no longer shows KG"
    );

    // The petition: goal emptied.
    let edit = format!("/admin/petitions/{petition_id}");
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", ""),
                ("status", "open"),
                ("require_confirmation", "true"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), edit);
    let got: Value = app
        .get(&format!("/api/v1/petitions/{petition_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], Value::Null, "{got}");
    assert_eq!(got["title"], "Free them");
    // The public page shows no goal any more.
    let page = app
        .client
        .get(format!("{}/petitions/free-them", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<progress"), "no goal, no progress bar");

    // A goal typed again is kept; a bad one is still refused beside it.
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", "0"),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = br
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Free them"),
                ("slug", "free-them"),
                ("target", "The authorities"),
                ("body", "We ask you to act."),
                ("goal", "250"),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got: Value = app
        .get(&format!("/api/v1/petitions/{petition_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], 250);
}

async fn the_api_clears_an_optional_field_given_as_null_and_keeps_an_absent_one(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/cases/{case_id}");
    let r = app
        .patch(
            &path,
            &token,
            json!({"subject_name": "Aziz", "country": "KG"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Absent: kept.
    let got: Value = app
        .patch(&path, &token, json!({"title": "Renamed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["country"], "KG");
    assert_eq!(got["subject_name"], "Aziz");
    // null (or a blank string): cleared.
    let got: Value = app
        .patch(&path, &token, json!({"country": null, "subject_name": ""}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["country"], Value::Null, "{got}");
    assert_eq!(got["subject_name"], Value::Null, "{got}");
    assert_eq!(got["title"], "Renamed");

    let petition = app
        .create_petition(&token, &case_id, "free-them", json!({"goal": 500}))
        .await;
    let path = format!("/api/v1/petitions/{}", petition["id"].as_str().unwrap());
    let got: Value = app
        .patch(&path, &token, json!({"goal": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["goal"], Value::Null, "{got}");
}

/// Every distinct `{prefix}NNNN` in `html`, in page order.
fn marked(html: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in html.split(prefix).skip(1) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let tag = format!("{prefix}{digits}");
        if !digits.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// The `href` of the link marked `rel="{rel}"` (prev or next), unescaped.
fn link(html: &str, rel: &str) -> Option<String> {
    let end = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..end].rfind("href=\"")? + 6;
    Some(
        html[start..end]
            .trim_end()
            .trim_end_matches('"')
            .replace("&#x3D;", "=")
            .replace("&amp;", "&"),
    )
}

async fn the_supporters_listing_pages_past_a_thousand_rows_and_keeps_its_filter_in_the_links(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let list = create_list(&app, &token, "Everyone").await;
    let mut csv = String::from("email,first_name,last_name,country\n");
    for i in 0..1050 {
        csv.push_str(&format!("p{i:04}@example.org,Ann,Lee,KG\n"));
    }
    let r = post_csv(&app, &format!("/api/v1/lists/{list}/import"), &token, &csv).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The last fifty unsubscribe (their status is the listing's filter).
    app.db
        .run(|c| {
            use clarion::db::schema::supporters;
            use diesel::prelude::*;
            // Addresses are sealed: the fifty are found by their hashes.
            let hashes: Vec<String> = (1000..1050)
                .map(|i| {
                    clarion::db::supporters::email_hash(&format!("p{i:04}@example.org")).unwrap()
                })
                .collect();
            diesel::update(supporters::table.filter(supporters::email_hash.eq_any(hashes)))
                .set(supporters::status.eq(clarion::domain::SupporterStatus::Unsubscribed))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();

    let br = signed_in(&app, "organiser").await;
    let first = br.page("/admin/supporters").await;
    let rows = marked(&first, ">p");
    assert_eq!(rows.len(), 100, "page 1 holds 100 rows");
    assert_eq!(link(&first, "prev"), None);
    assert_eq!(
        link(&first, "next").as_deref(),
        Some("/admin/supporters?page=2")
    );
    assert!(first.contains("Next page") && first.contains("Page 1: rows 1–100"));

    // Walk every page by its next link: all 1,050 once, in order.
    let mut seen = rows;
    let mut at = link(&first, "next");
    let mut pages = 1;
    while let Some(href) = at {
        let html = br.page(&href).await;
        pages += 1;
        seen.extend(marked(&html, ">p"));
        at = link(&html, "next");
        if at.is_none() {
            assert_eq!(href, "/admin/supporters?page=11");
            assert_eq!(
                link(&html, "prev").as_deref(),
                Some("/admin/supporters?page=10")
            );
            assert!(html.contains("p1049@example.org"));
            assert!(
                html.contains("rows 1,001–1,050"),
                "the last page says which rows"
            );
        }
    }
    assert_eq!(pages, 11);
    let expected: Vec<String> = (0..1050).map(|i| format!(">p{i:04}")).collect();
    assert_eq!(seen, expected, "every supporter once, in order");

    // The status filter, with a smaller page, stays in both links.
    let html = br
        .page("/admin/supporters?status=unsubscribed&per_page=20")
        .await;
    let rows = marked(&html, ">p");
    assert_eq!(rows.first().map(String::as_str), Some(">p1000"));
    assert_eq!(rows.len(), 20);
    assert!(html.contains("<option value=\"unsubscribed\" selected>"));
    assert_eq!(
        link(&html, "next").as_deref(),
        Some("/admin/supporters?status=unsubscribed&page=2&per_page=20")
    );
    let last = br
        .page("/admin/supporters?status=unsubscribed&page=3&per_page=20")
        .await;
    assert_eq!(marked(&last, ">p").len(), 10);
    assert_eq!(link(&last, "next"), None);
    assert_eq!(
        link(&last, "prev").as_deref(),
        Some("/admin/supporters?status=unsubscribed&page=2&per_page=20")
    );
    // A page that is not a number is page 1; one past the end is empty,
    // with a way back; neither is an error.
    let html = br.page("/admin/supporters?page=abc&status=bogus").await;
    assert_eq!(marked(&html, ">p").len(), 100);
    let r = br.get("/admin/supporters?page=99").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(marked(&html, ">p").is_empty());
    assert_eq!(
        link(&html, "prev").as_deref(),
        Some("/admin/supporters?page=98")
    );
    // An email search still shows that one person, without the listing.
    let html = br.page("/admin/supporters?email=p0500%40example.org").await;
    assert!(html.contains("id=\"supporter\""));
    assert!(!html.contains("id=\"supporter-rows\""));
}

/// Follows the next links from `start`, gathering the `prefix`-marked rows.
async fn walk(br: &crate::console::Browser, start: &str, prefix: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut at = Some(start.to_string());
    let mut pages = 0;
    while let Some(href) = at {
        let html = br.page(&href).await;
        pages += 1;
        seen.extend(marked(&html, prefix));
        at = link(&html, "next");
        assert!(pages < 10, "the pages end");
    }
    (seen, pages)
}

async fn seed_campaigns(app: &TestApp, token: &str, n: usize) {
    let mut lists = Vec::new();
    for i in 0..n {
        let case = app.create_case(token, &format!("case-{i:04}")).await;
        let case_id = case["id"].as_str().unwrap();
        let r = app
            .patch(
                &format!("/api/v1/cases/{case_id}"),
                token,
                json!({"title": format!("Case K{i:04}")}),
            )
            .await;
        assert_eq!(r.status(), 200);
        app.create_petition(
            token,
            case_id,
            &format!("petition-{i:04}"),
            json!({"title": format!("Petition P{i:04}")}),
        )
        .await;
        lists.push(create_list(app, token, &format!("List L{i:04}")).await);
        let r = app
            .post(
                "/api/v1/alerts",
                token,
                json!({"case_id": case_id, "list_ids": [lists[i]],
                       "subject": format!("Alert A{i:04}"), "body_markdown": "Act now."}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
}

async fn cases_petitions_lists_and_alerts_page_with_previous_and_next_links(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    seed_campaigns(&app, &token, 12).await;
    let br = signed_in(&app, "campaigner").await;
    let in_order: Vec<String> = (0..12).map(|i| format!("{i:04}")).collect();
    for (path, prefix, newest_first) in [
        ("/admin/cases", "Case K", false),
        ("/admin/petitions", "Petition P", false),
        ("/admin/lists", "List L", false),
        ("/admin/alerts", "Alert A", true),
    ] {
        let first = br.page(&format!("{path}?per_page=5")).await;
        assert_eq!(marked(&first, prefix).len(), 5, "{path}: 5 rows on page 1");
        assert_eq!(link(&first, "prev"), None, "{path}");
        assert_eq!(
            link(&first, "next"),
            Some(format!("{path}?page=2&per_page=5")),
            "{path}"
        );
        let (seen, pages) = walk(&br, &format!("{path}?per_page=5"), prefix).await;
        assert_eq!(pages, 3, "{path}: 5 + 5 + 2");
        let mut expected: Vec<String> = in_order.iter().map(|n| format!("{prefix}{n}")).collect();
        if newest_first {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{path}: every row once, in order");
        let last = br.page(&format!("{path}?page=3&per_page=5")).await;
        assert_eq!(
            link(&last, "prev"),
            Some(format!("{path}?page=2&per_page=5")),
            "{path}"
        );
        // At the default size all twelve fit: no navigation at all.
        let all = br.page(path).await;
        assert_eq!(marked(&all, prefix).len(), 12, "{path}");
        assert!(!all.contains("class=\"pager\""), "{path}");
    }
    // The navigation speaks the console's language.
    let ru = br.page("/admin/cases?per_page=5&lang=ru").await;
    assert!(ru.contains("Следующая страница"), "{ru}");
    assert!(ru.contains("Страница 1: строки 1–5"));
    assert_eq!(
        link(&ru, "next").as_deref(),
        Some("/admin/cases?lang=ru&page=2&per_page=5"),
        "the language stays in the links"
    );
}

async fn a_case_past_the_thousandth_can_be_chosen_on_the_petition_and_alert_forms(b: Backend) {
    let app = spawn_app(b).await;
    // 1,005 cases straight into the database, in one transaction: the
    // menus once stopped at 1,000.
    app.db
        .run(|c| {
            use diesel::Connection;
            c.transaction(|c| {
                let now = chrono::Utc::now().naive_utc();
                for i in 0..1005 {
                    let case = clarion::db::cases::Case {
                        id: clarion::domain::CaseId::new(),
                        slug: format!("case-{i:04}"),
                        title: format!("Case K{i:04}"),
                        summary: "Why it matters.".into(),
                        subject_name: None,
                        country: None,
                        body: None,
                        status: clarion::domain::CaseStatus::Open,
                        created_at: now,
                        updated_at: now,
                        retention_days: None,
                        ended_at: None,
                        retention_done_at: None,
                    };
                    clarion::db::cases::insert(c, &case)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let br = signed_in(&app, "campaigner").await;
    for form in ["/admin/petitions/new", "/admin/alerts/new"] {
        let html = br.page(form).await;
        assert_eq!(
            marked(&html, "Case K").len(),
            1005,
            "{form} offers every case"
        );
    }
    // The listing pages through them: 11 pages of 100 at most.
    let last = br.page("/admin/cases?page=11").await;
    assert_eq!(
        marked(&last, "Case K"),
        [
            "Case K1000",
            "Case K1001",
            "Case K1002",
            "Case K1003",
            "Case K1004"
        ]
    );
}
