//! Lists, CSV upload, supporter search, subject access and erasure in the
//! console.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{csrf_of, location, signed_in, Browser};
use crate::helpers::{spawn_app, Backend, Person};

backend_tests!(
    a_csv_upload_imports_the_list_and_shows_the_report,
    search_subject_access_and_erasure_only_for_admins,
);

/// A multipart body as a browser sends it for `<input type=file name=file>`.
async fn upload(br: &Browser, action: &str, csrf: &str, csv: &str) -> reqwest::Response {
    let boundary = "----clarionTestBoundary7MA4YWxk";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    br.client
        .post(format!("{}{action}", br.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn a_csv_upload_imports_the_list_and_shows_the_report(b: Backend) {
    let app = spawn_app(b).await;
    let br = signed_in(&app, "campaigner").await;
    let r = br
        .submit(
            "/admin/lists",
            "/admin/lists",
            &[("name", "Bishkek volunteers"), ("description", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/lists");
    let html = br.page("/admin/lists").await;
    assert!(html.contains("Bishkek volunteers"));
    let list_id = app
        .db
        .run(|c| clarion::db::lists::get_by_name(c, "Bishkek volunteers"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let action = format!("/admin/lists/{list_id}/import");
    assert!(html.contains(&format!("action=\"{action}\"")));
    let csv = "email,first_name,last_name,country\n\
               ann@example.org,Ann,One,KG\n\
               not-an-email,Bad,Row,KG\n\
               bob@example.org,Bob,Two,GB\n";
    let r = upload(&br, &action, &csrf_of(&html), csv).await;
    assert_eq!(r.status(), StatusCode::OK);
    let report = r.text().await.unwrap();
    assert!(
        report.contains("<strong data-report=\"added\">2</strong>"),
        "{report}"
    );
    assert!(report.contains("<strong data-report=\"rejected\">1</strong>"));
    assert!(report.contains("<td>3</td>"), "the bad row's line number");
    // Members counted on the page.
    let html = br.page("/admin/lists").await;
    assert!(html.contains("<td class=\"num\">2</td>"));
    // The same import again changes nothing.
    let r = upload(&br, &action, &csrf_of(&html), csv).await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<strong data-report=\"added\">0</strong>"));
    // Without the token: refused. Without a file: said so.
    let r = upload(&br, &action, "forged", csv).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = br.submit("/admin/lists", &action, &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Organisers do not import.
    let organiser = signed_in(&app, "organiser").await;
    let html = organiser.page("/admin/lists").await;
    assert!(!html.contains("type=\"file\""));
    let r = upload(&organiser, &action, &csrf_of(&html), csv).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn search_subject_access_and_erasure_only_for_admins(b: Backend) {
    let app = spawn_app(b).await;
    app.seed_list("Members", &[Person::active("zara@example.org", "Zara")])
        .await;
    let campaigner = signed_in(&app, "campaigner").await;
    let html = campaigner
        .page("/admin/supporters?email=ZARA@example.org")
        .await;
    assert!(html.contains("zara@example.org"));
    assert!(!html.contains("/erase\""), "no erase link for a campaigner");
    let id = app
        .db
        .run(|c| clarion::db::supporters::get_by_email(c, "zara@example.org"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = campaigner
        .get(&format!("/admin/supporters/{id}/export.json"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["supporter"]["email"], "zara@example.org");
    assert_eq!(doc["lists"][0]["list_name"], "Members");
    let erase = format!("/admin/supporters/{id}/erase");
    assert_eq!(campaigner.get(&erase).await.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_of(&html);
    assert_eq!(
        campaigner
            .post_raw(&erase, &[("csrf", &csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.supporter_status("zara@example.org").await, "active");

    let admin = signed_in(&app, "admin").await;
    let html = admin.page("/admin/supporters?email=zara@example.org").await;
    assert!(html.contains(&format!("href=\"{erase}\"")));
    let confirm = admin.page(&erase).await;
    assert!(confirm.contains("cannot be undone"));
    let r = admin.submit(&erase, &erase, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let s = app
        .db
        .run(move |c| clarion::db::supporters::get(c, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, "erased");
    assert!(s.email.is_none());
    let html = admin.page("/admin/supporters?email=zara@example.org").await;
    assert!(html.contains("No supporter has this email address."));
    let audit = app
        .db
        .run(|c| clarion::db::audit::recent(c, 50))
        .await
        .unwrap();
    assert!(audit
        .iter()
        .any(|e| e.actor == "user:admin@example.org" && e.action == "supporter.erase"));
    assert!(audit
        .iter()
        .any(|e| e.actor == "user:campaigner@example.org" && e.action == "supporter.export"));
}
