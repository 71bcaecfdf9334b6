//! Cases, petitions and exports in the console.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{location, signed_in};
use crate::helpers::{spawn_app, Backend};
use crate::signers::{parse_csv, sign_all, Signer};

backend_tests!(
    a_campaigner_creates_edits_and_closes_a_case_and_a_petition,
    exports_download_the_signatures_and_counts_and_show_countries,
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
