//! Contract §11 and erasure: an erased person's address is remembered so
//! that no import brings them back, and only as a keyed hash — a copy of the
//! database alone cannot tell whether a guessed address once supported us.
//! Records from before the keyed hash (unkeyed SHA-256) keep working.

use clarion::db::schema::{erased_emails, supporters};
use clarion::db::supporters::{erased_email_hash, plain_erased_hash};
use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::at_rest::{found_in, raw_database};
use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::public_support::form_with;
use crate::signers::{create_list, post_csv};

backend_tests!(
    an_erased_address_is_kept_only_as_a_keyed_hash_that_still_keeps_it_from_imports,
    an_erasure_record_from_before_the_keyed_hash_still_keeps_its_address_from_imports,
);

const ERASED: &str = "ulvenra.t@example.org";

/// What the import and the members route say about `email` on a new list:
/// the reasons of the skipped rows, or the added count when none was.
async fn imported(app: &TestApp, token: &str, email: &str) -> Vec<String> {
    static LISTS: AtomicUsize = AtomicUsize::new(0);
    let n = LISTS.fetch_add(1, Ordering::Relaxed);
    let list = create_list(app, token, &format!("List {n}")).await;
    let csv = format!("email,first_name\n{email},Back\n");
    let r = post_csv(app, &format!("/api/v1/lists/{list}/import"), token, &csv).await;
    assert_eq!(r.status(), 200);
    let by_csv: Value = r.json().await.unwrap();
    let r = app
        .post(
            &format!("/api/v1/lists/{list}/members"),
            token,
            json!([{"email": email.to_uppercase(), "first_name": "Back"}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let by_json: Value = r.json().await.unwrap();
    [by_csv, by_json]
        .iter()
        .map(|report| match report["skipped"].as_array() {
            Some(s) if !s.is_empty() => s[0]["reason"].as_str().unwrap().to_string(),
            _ => format!("added {}", report["added"]),
        })
        .collect()
}

async fn erasure_records(app: &TestApp) -> Vec<String> {
    app.db
        .run(|c| {
            erased_emails::table
                .select(erased_emails::email_hash)
                .order(erased_emails::email_hash)
                .load::<String>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

/// The keyed record of `email` under the app's lookup key.
async fn keyed(app: &TestApp, email: &'static str) -> String {
    app.db.run(move |_| erased_email_hash(email)).await.unwrap()
}

/// The `email_hash` of the supporter holding `email`, if one does.
async fn supporter_hash(app: &TestApp, email: &'static str) -> Option<String> {
    app.db
        .run(move |c| {
            let h = clarion::db::supporters::email_hash(email)?;
            supporters::table
                .filter(supporters::email_hash.eq(&h))
                .select(supporters::email_hash)
                .first::<Option<String>>(c)
                .optional()
                .map(Option::flatten)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

fn erased(reasons: &[String]) -> bool {
    reasons.iter().all(|r| r.starts_with("erased"))
}

async fn an_erased_address_is_kept_only_as_a_keyed_hash_that_still_keeps_it_from_imports(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let campaigner = app.token("campaigner").await;
    let admin = app.token("admin").await;
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    let form = form_with(ERASED, &[("first_name", "Ulvenra")]);
    assert_eq!(app.sign("free-them", &form).await.status(), 303);
    app.erase_supporter(ERASED, &admin).await;

    let records = erasure_records(&app).await;
    assert_eq!(records, [keyed(&app, ERASED).await], "one keyed record");
    assert!(records[0].starts_with(clarion::vault::ERASED_PREFIX));
    let unkeyed = [
        plain_erased_hash(ERASED),
        hex::encode(Sha256::digest(ERASED.as_bytes())),
    ];
    let needles: Vec<&str> = unkeyed
        .iter()
        .map(String::as_str)
        .chain([ERASED, "Ulvenra"])
        .collect();
    let found = found_in(&raw_database(&app).await, &needles);
    assert!(found.is_empty(), "guessable from the database: {found:?}");

    assert!(
        erased(&imported(&app, &campaigner, &ERASED.to_uppercase()).await),
        "an import does not bring the erased person back"
    );
    assert_eq!(supporter_hash(&app, ERASED).await, None);

    // Signing is the person's own act and is recorded (a new supporter, as
    // before); their remembered erasure matches no supporter's hash, so the
    // two tables do not join.
    assert_eq!(app.sign("free-them", &form).await.status(), 303);
    let again = supporter_hash(&app, ERASED).await.expect("signed again");
    assert!(!records.contains(&again), "erasure joins supporters");
    app.erase_supporter(ERASED, &admin).await;
    assert_eq!(erasure_records(&app).await, records, "still one record");
    assert!(erased(&imported(&app, &campaigner, ERASED).await));
}

async fn an_erasure_record_from_before_the_keyed_hash_still_keeps_its_address_from_imports(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let campaigner = app.token("campaigner").await;
    let old = plain_erased_hash(ERASED);
    let row = old.clone();
    app.db
        .run(move |c| {
            diesel::insert_into(erased_emails::table)
                .values(erased_emails::email_hash.eq(row))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();

    assert!(
        erased(&imported(&app, &campaigner, ERASED).await),
        "an old record still keeps the address out"
    );
    assert_eq!(supporter_hash(&app, ERASED).await, None);
    assert_eq!(
        imported(&app, &campaigner, "someone.else@example.org").await,
        ["added 1", "added 0"],
        "other addresses come in"
    );

    // Erased again (they signed, then asked again): with the address at
    // hand the old record gives way to the keyed one.
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    assert_eq!(
        app.sign("free-them", &form_with(ERASED, &[]))
            .await
            .status(),
        303
    );
    app.erase_supporter(ERASED, &app.token("admin").await).await;
    assert_eq!(erasure_records(&app).await, [keyed(&app, ERASED).await]);
    assert!(erased(&imported(&app, &campaigner, ERASED).await));
    let found = found_in(&raw_database(&app).await, &[old.as_str()]);
    assert!(found.is_empty(), "the old record is still on disk");
}
