//! Cases, petitions and exports in the console.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::signers::{parse_csv, sign_all, Signer};

backend_tests!(
    a_campaigner_creates_edits_and_closes_a_case_and_a_petition,
    exports_download_the_signatures_and_counts_and_show_countries,
    the_petition_form_sets_how_few_signatures_keep_a_country_unnamed,
);

async fn a_campaigner_creates_edits_and_closes_a_case_and_a_petition(b: Backend) {
    let app = spawn_app(b).await;
    let br = signed_in(&app, "campaigner").await;
    // Bad fields come back named, values kept.
    let r = br
        .submit(
            "/admin/cases/new",
            "/admin/cases",
            &[("title", "Aziz"), ("slug", "Not A Slug!"), ("summary", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"Not A Slug!\""));
    assert!(html.contains("aria-invalid=\"true\""));
    let r = br
        .submit(
            "/admin/cases/new",
            "/admin/cases",
            &[
                ("title", "Free Aziz"),
                ("slug", "free-aziz"),
                ("summary", "Detained for a post."),
                ("country", "KG"),
                ("status", "open"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let cases = br.page("/admin/cases").await;
    assert!(cases.contains("Free Aziz"));
    let case_id = app
        .db
        .run(|c| clarion::db::cases::get_by_slug(c, "free-aziz"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = br
        .submit(
            "/admin/petitions/new",
            "/admin/petitions",
            &[
                ("case_id", &case_id),
                ("title", "Release Aziz"),
                ("slug", "release-aziz"),
                ("target", "The prosecutor"),
                ("body", "Release him."),
                ("goal", "500"),
                ("status", "open"),
                ("require_confirmation", "true"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    let html = br.page(&page).await;
    let link = format!("{}/petitions/release-aziz", app.address);
    assert!(html.contains(&format!("href=\"{link}\"")), "public link");
    assert!(
        html.contains(&format!("{}/petitions/release-aziz/embed", app.address)),
        "embed snippet"
    );
    assert!(html.contains("&lt;iframe"), "snippet shown as text");
    // The public page is live, then closing the petition closes it.
    let public = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains("name=\"email\""));
    let r = br
        .submit(
            &page,
            &page,
            &[
                ("title", "Release Aziz now"),
                ("slug", "release-aziz"),
                ("target", "The prosecutor"),
                ("body", "Release him."),
                ("goal", "500"),
                ("status", "closed"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p = app
        .db
        .run(|c| clarion::db::petitions::get_by_slug(c, "release-aziz"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, "closed");
    assert_eq!(p.title, "Release Aziz now");
    assert!(!p.require_confirmation, "unchecked box turns it off");
    let public = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!public.contains("name=\"email\""), "closed: no form");
    // Organisers read but do not write.
    let organiser = signed_in(&app, "organiser").await;
    assert_eq!(
        organiser.get("/admin/cases/new").await.status(),
        StatusCode::FORBIDDEN
    );
    let html = organiser.page(&page).await;
    assert!(!html.contains(&format!("action=\"{page}\"")));
    let csrf = crate::console::csrf_of(&html);
    let r = organiser
        .post_raw(&page, &[("csrf", &csrf), ("status", "open")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn exports_download_the_signatures_and_counts_and_show_countries(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "case-one").await;
    let p = app
        .create_petition(
            &token,
            case["id"].as_str().unwrap(),
            "petition-one",
            serde_json::json!({}),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    sign_all(
        &app,
        &pid,
        vec![
            Signer::new("a@example.org", "Ann", "One", "KG").at("2026-11-01 10:00:00"),
            Signer::new("b@example.org", "=Bob", "Two", "KG").at("2026-11-02 10:00:00"),
            Signer::new("c@example.org", "Cy", "Three", "GB").at("2026-11-02 11:00:00"),
            Signer::new("d@example.org", "Di", "Four", "GB").pending(),
        ],
    )
    .await;
    let br = signed_in(&app, "organiser").await;
    let page = format!("/admin/petitions/{pid}");
    let html = br.page(&page).await;
    for href in [
        "signatures.csv",
        "counts.csv?by=country",
        "counts.csv?by=day",
        "dossier.zip",
        "dossier.zip?names=true",
    ] {
        assert!(
            html.contains(&format!("href=\"{page}/{href}\"")),
            "{href} button"
        );
    }
    assert!(html.contains("Kyrgyzstan (KG)"), "by-country table");
    let r = br.get(&format!("{page}/signatures.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("petition-one-signatures.csv"));
    let rows = parse_csv(&r.bytes().await.unwrap());
    assert_eq!(rows[0][0].trim_start_matches('\u{feff}'), "signed_at");
    assert_eq!(rows.len(), 4, "header and three confirmed");
    assert!(
        rows.iter().any(|r| r.contains(&"'=Bob".to_string())),
        "formula defused"
    );
    let r = br.get(&format!("{page}/counts.csv?by=country")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "key,count\r\nGB,1\r\nKG,2\r\n");
    let r = br.get(&format!("{page}/counts.csv?by=day")).await;
    assert_eq!(
        r.text().await.unwrap(),
        "key,count\r\n2026-11-01,1\r\n2026-11-02,2\r\n"
    );
    // The dossier for an authority, with and without names.
    let r = br.get(&format!("{page}/dossier.zip")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("petition-one-dossier.zip"));
    let zip =
        zip::ZipArchive::new(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    assert!(zip.file_names().any(|n| n == "petition.html"));
    assert!(!zip.file_names().any(|n| n == "signatures.csv"));
    let r = br.get(&format!("{page}/dossier.zip?names=true")).await;
    let zip =
        zip::ZipArchive::new(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    assert!(zip.file_names().any(|n| n == "signatures.csv"));
    // Signed out: no export.
    let anon = crate::console::Browser::new(&app);
    assert_eq!(
        anon.get(&format!("{page}/dossier.zip")).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        anon.get(&format!("{page}/signatures.csv")).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// The `public_min_count` of petition `slug` as the API shows it.
async fn public_min_count(app: &TestApp, token: &str, slug: &str) -> serde_json::Value {
    let slug = slug.to_string();
    let id = app
        .db
        .run(move |c| clarion::db::petitions::get_by_slug(c, &slug))
        .await
        .unwrap()
        .expect("the petition")
        .id;
    let r = app.get(&format!("/api/v1/petitions/{id}"), token).await;
    assert_eq!(r.status(), 200);
    let p: serde_json::Value = r.json().await.unwrap();
    p["public_min_count"].clone()
}

/// A new petition's form, its threshold field holding `min`.
fn petition_fields<'a>(case: &'a str, slug: &'a str, min: &'a str) -> [(&'static str, &'a str); 7] {
    [
        ("case_id", case),
        ("title", "Release Aziz"),
        ("slug", slug),
        ("target", "The prosecutor"),
        ("body", "Release him."),
        ("status", "open"),
        ("public_min_count", min),
    ]
}

async fn the_petition_form_sets_how_few_signatures_keep_a_country_unnamed(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "free-aziz").await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let br = signed_in(&app, "campaigner").await;
    let form = br.page("/admin/petitions/new").await;
    assert!(form.contains("name=\"public_min_count\""), "{form}");
    assert!(form.contains("Fewest signatures for a country to be named"));
    assert!(form.contains("0 names every country; safety mode sets 10."));
    let new = "/admin/petitions/new";
    let (fields, case) = (petition_fields, case_id.as_str());
    // Not a whole number of 0 or more: refused beside the field, kept.
    for bad in ["-1", "ten", "2.5", "99999999999999999999"] {
        let r = br
            .submit(new, "/admin/petitions", &fields(case, "release-aziz", bad))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("id=\"public_min_count-error\">Enter a whole number: 0 or more.</p>"),
            "{bad}: {html}"
        );
        assert!(html.contains(&format!("value=\"{bad}\"")), "{bad}");
    }
    let r = br
        .submit(new, "/admin/petitions", &fields(case, "release-aziz", "7"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(public_min_count(&app, &token, "release-aziz").await, 7);
    // The edit form shows it and changes it.
    let page = location(&r);
    assert!(br.page(&page).await.contains("value=\"7\""));
    let r = br
        .submit(&page, &page, &fields(case, "release-aziz", "12")[1..])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(public_min_count(&app, &token, "release-aziz").await, 12);
    // Left empty, a new petition takes its case's threshold.
    let r = br
        .submit(
            new,
            "/admin/petitions",
            &fields(case, "release-aziz-now", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(public_min_count(&app, &token, "release-aziz-now").await, 12);
}
