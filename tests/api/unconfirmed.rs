//! Before a signature is confirmed: no stored token could confirm it for
//! someone else (the link is made from the signature id when the mail is
//! built), and signing changes nothing about the supporter behind the
//! address (contract §7).

use std::time::Duration;

use clarion::db::schema::signatures;
use diesel::prelude::*;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app_with, wait_until, Backend, TestApp};
use crate::public_support::form;

backend_tests!(
    no_row_holds_the_token_a_confirmation_mail_carries_and_its_link_confirms,
    a_link_mailed_with_a_stored_secret_before_the_change_still_confirms,
);

/// Every text the database holds: on SQLite the bytes of its files (main
/// and WAL), on PostgreSQL every row of every table of the app's schema.
async fn everything_stored(app: &TestApp) -> String {
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let mut all = String::new();
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        return all;
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    app.db
        .run(|c| {
            let clarion::db::DbConnection::Postgres(c) = c else {
                unreachable!("a postgres:// app")
            };
            let tables: Vec<Row> = diesel::sql_query(
                "SELECT table_name::text AS row FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .load(c)?;
            let mut all = String::new();
            for t in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS row FROM \"{}\" t",
                    t.row
                ))
                .load(c)?;
                for r in rows {
                    all.push_str(&r.row);
                    all.push('\n');
                }
            }
            Ok::<_, clarion::db::DbError>(all)
        })
        .await
        .unwrap()
}

/// An app whose failed sends are retried after half a second, so a test can
/// look at a queued confirmation between attempts.
async fn app(b: Backend) -> TestApp {
    spawn_app_with(b, |raw| raw.retry_base_ms = 500).await
}

async fn confirmation_attempts(app: &TestApp) -> i32 {
    use clarion::db::schema::deliveries;
    app.db
        .run(|c| {
            deliveries::table
                .filter(deliveries::kind.eq("confirmation"))
                .select(deliveries::attempts)
                .first::<i32>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

async fn no_row_holds_the_token_a_confirmation_mail_carries_and_its_link_confirms(b: Backend) {
    let app = app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.smtp.stop().await;
    assert_eq!(
        app.sign("free-them", &form("ann@example.org"))
            .await
            .status(),
        303
    );
    // SMTP is down: the mail waits in the queue after a failed attempt.
    wait_until("a failed attempt", Duration::from_secs(20), || async {
        (confirmation_attempts(&app).await > 0).then_some(())
    })
    .await;
    let waiting = everything_stored(&app).await;

    app.smtp.restart().await;
    let token = app.mailed_tokens(1).await.remove(0);
    let secret = &token[32..];
    let hash = clarion::security::hash_token(&token);
    let id = uuid::Uuid::try_parse(&token[..32])
        .unwrap()
        .hyphenated()
        .to_string();
    assert!(waiting.contains(&id), "the snapshot sees the signature");
    for (when, stored) in [("queued", waiting), ("sent", everything_stored(&app).await)] {
        assert!(
            !stored.contains(secret),
            "no row held the token while {when}"
        );
        assert!(!stored.contains(&hash), "nor its hash while {when}");
    }
    let (secret_hash, token_hash) = app
        .db
        .run(|c| {
            signatures::table
                .select((
                    signatures::confirm_secret_hash,
                    signatures::confirm_token_hash,
                ))
                .first::<(Option<String>, Option<String>)>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!((secret_hash, token_hash), (None, None));

    // The mailed link confirms, once.
    assert_eq!(app.page(&format!("/confirm/{token}")).await.status(), 200);
    for _ in 0..2 {
        let r = app.post_empty(&format!("/confirm/{token}")).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.counters("free-them").await, (1, 0));

    // Another signature's id with this MAC confirms nothing.
    assert_eq!(
        app.sign("free-them", &form("bo@example.org"))
            .await
            .status(),
        303
    );
    let other = app.mailed_tokens(2).await.remove(1);
    assert_ne!(other, token);
    let swapped = format!("{}{}", &other[..32], &token[32..]);
    assert_eq!(
        app.post_empty(&format!("/confirm/{swapped}"))
            .await
            .status(),
        404
    );
    assert_eq!(app.counters("free-them").await, (1, 1));
}

async fn a_link_mailed_with_a_stored_secret_before_the_change_still_confirms(b: Backend) {
    let app = app(b).await;
    app.open_petition("free-them", json!({})).await;
    assert_eq!(
        app.sign("free-them", &form("ann@example.org"))
            .await
            .status(),
        303
    );
    app.mailed_tokens(1).await;
    // A token as mailed before: the signature id, then a random secret whose
    // hash the signature keeps.
    let id: String = app
        .db
        .run(|c| {
            signatures::table
                .select(signatures::id)
                .first(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let old = format!(
        "{}{}",
        id.replace('-', ""),
        clarion::security::random_token()
    );
    let hash = clarion::security::hash_token(&old);
    app.db
        .run(move |c| {
            diesel::update(signatures::table.find(&id))
                .set(signatures::confirm_secret_hash.eq(Some(hash)))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let wrong = format!("{}{}", &old[..32], clarion::security::random_token());
    assert_eq!(
        app.post_empty(&format!("/confirm/{wrong}")).await.status(),
        404
    );
    assert_eq!(app.page(&format!("/confirm/{old}")).await.status(), 200);
    assert_eq!(
        app.post_empty(&format!("/confirm/{old}")).await.status(),
        200
    );
    assert_eq!(app.counters("free-them").await, (1, 0));
}
