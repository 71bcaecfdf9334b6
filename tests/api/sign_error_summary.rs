//! The signing page after a mistake: the error summary stands first in the
//! main content (above the petition's text, so a phone's first screen shows
//! it), takes focus, and each of its messages links to its field's id. The
//! browser test (tests/browser/sign.mjs) checks the same at 360 px.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend};

backend_tests!(
    the_error_summary_comes_first_in_the_page_and_links_each_message_to_its_field,
    the_embedded_form_keeps_its_error_summary_above_the_form,
);

/// The `href="#…"` targets of the links inside the summary.
fn summary_links(summary: &str) -> Vec<String> {
    summary
        .split("href=\"#")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

/// The element with `id="{id}"`, from its tag's name to the id.
fn tag_with_id<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!(" id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    Some(&html[open..at])
}

async fn the_error_summary_comes_first_in_the_page_and_links_each_message_to_its_field(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let r = app
        .sign(
            "free-them",
            &[
                ("first_name".into(), "Ann".into()),
                ("last_name".into(), "".into()),
                ("email".into(), "not-an-address".into()),
                ("country".into(), "".into()),
                ("postcode".into(), "12#4".into()),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();

    // Exactly one summary, first in <main>: before the heading, the
    // petition's text and the form.
    assert_eq!(html.matches("id=\"error-summary\"").count(), 1);
    let main = &html[html.find("<main").unwrap()..];
    let summary_at = main.find("id=\"error-summary\"").unwrap();
    for later in ["<h1", "class=\"columns\"", "class=\"col-text\"", "<form"] {
        let at = main
            .find(later)
            .unwrap_or_else(|| panic!("{later} in the page"));
        assert!(summary_at < at, "the summary comes before {later}");
    }
    let summary = &main[main[..summary_at].rfind('<').unwrap()..];
    let summary = &summary[..summary.find("</div>").unwrap()];
    // Focusable and focused on load, scripts or not.
    assert!(summary.contains("tabindex=\"-1\""), "{summary}");
    assert!(summary.contains("autofocus"), "{summary}");
    assert!(html.contains("document.getElementById('error-summary').focus()"));

    // One link per bad field, in form order, each to a field that exists.
    let links = summary_links(summary);
    assert_eq!(links, ["f-last-name", "f-email", "f-country", "f-postcode"]);
    for id in &links {
        let tag = tag_with_id(&html, id).unwrap_or_else(|| panic!("no element #{id}"));
        assert!(
            ["<input", "<select", "<textarea"]
                .iter()
                .any(|t| tag.starts_with(t)),
            "#{id} is a form field: {tag}"
        );
        assert_eq!(html.matches(&format!(" id=\"{id}\"")).count(), 1, "#{id}");
    }
}

async fn the_embedded_form_keeps_its_error_summary_above_the_form(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let r = app
        .sign(
            "free-them",
            &[
                ("first_name".into(), "".into()),
                ("last_name".into(), "Lee".into()),
                ("email".into(), "ann@example.org".into()),
                ("country".into(), "KG".into()),
                ("embed".into(), "1".into()),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("id=\"error-summary\"").count(), 1);
    let summary_at = html.find("id=\"error-summary\"").unwrap();
    assert!(summary_at < html.find("<form").unwrap());
    let links = summary_links(&html[summary_at..html.find("<form").unwrap()]);
    assert_eq!(links, ["f-first-name"]);
    assert!(tag_with_id(&html, "f-first-name")
        .unwrap()
        .starts_with("<input"));
}
