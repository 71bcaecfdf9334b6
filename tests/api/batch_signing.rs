//! `signatures::sign_batch`: the multi-row path for first-time signers and
//! the one-by-one path for everyone else give the same rows.

use clarion::db::schema::{deliveries, petitions, signatures, supporters};
use clarion::db::signatures::{sign_batch, NewSignature, SignOutcome};
use clarion::domain::{CountryCode, Email, PersonName};
use diesel::prelude::*;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, Person};
use crate::public_support::form;

backend_tests!(
    a_mixed_batch_stores_what_signing_one_by_one_would,
    the_sweep_deletes_expired_pending_signatures_and_what_only_they_held,
    a_token_proves_itself_and_links_mailed_before_the_token_change_still_work,
    the_writers_plan_settings_end_with_their_connection,
    a_supporter_written_before_encryption_who_signs_in_a_batch_is_found_by_the_address,
);

fn signature(petition_id: &str, slug: &str, email: &str, confirm: bool) -> NewSignature {
    NewSignature {
        petition_id: petition_id.into(),
        petition_slug: slug.into(),
        require_confirmation: confirm,
        email: Email::parse(email).unwrap(),
        first_name: PersonName::parse("Ann").unwrap(),
        last_name: PersonName::parse("Lee").unwrap(),
        country: CountryCode::parse("KG").unwrap(),
        postcode: None,
        comment: None,
        email_opt_in: true,
        consent_wording: "Keep me informed.".into(),
        ip_hash: Some("abc".into()),
        locale: "ru".into(),
    }
}

async fn a_mixed_batch_stores_what_signing_one_by_one_would(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "a-case").await;
    let case_id = case["id"].as_str().unwrap();
    let pending = app
        .create_petition(&token, case_id, "pending-one", json!({"status": "open"}))
        .await;
    let instant = app
        .create_petition(
            &token,
            case_id,
            "instant-one",
            json!({"status": "open", "require_confirmation": false}),
        )
        .await;
    let (p, i) = (
        pending["id"].as_str().unwrap().to_string(),
        instant["id"].as_str().unwrap().to_string(),
    );

    // Known before the batch: signed the instant petition already.
    let first = vec![signature(&i, "instant-one", "known@example.org", false)];
    let ttl = chrono::Duration::hours(48);
    let out = app
        .db
        .run(move |c| sign_batch(c, &first, ttl))
        .await
        .unwrap();
    assert_eq!(out, vec![SignOutcome::Confirmed]);

    let batch = vec![
        signature(&p, "pending-one", "new@example.org", true),
        signature(&p, "pending-one", "known@example.org", true),
        signature(&p, "pending-one", "twice@example.org", true),
        signature(&i, "instant-one", "fresh@example.org", false),
        signature(&p, "pending-one", "twice@example.org", true),
        signature(&i, "instant-one", "known@example.org", false),
    ];
    let out = app
        .db
        .run(move |c| sign_batch(c, &batch, ttl))
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            SignOutcome::Pending,
            SignOutcome::Pending,
            SignOutcome::Pending,
            SignOutcome::Confirmed,
            SignOutcome::Duplicate { mail_queued: false },
            SignOutcome::Duplicate { mail_queued: false },
        ]
    );

    let (p2, i2) = (p.clone(), i.clone());
    #[allow(clippy::type_complexity)]
    let (people, sigs, mails, counts): (
        Vec<(String, bool, Option<String>, Option<String>, Option<String>)>,
        Vec<(String, String, String, Option<String>, bool)>,
        Vec<(String, Option<String>)>,
        Vec<(String, i64, i64)>,
    ) = app
        .db
        .run(move |c| {
            let people = supporters::table
                .select((
                    supporters::email.assume_not_null(),
                    supporters::email_opt_in,
                    supporters::consent_source,
                    supporters::locale,
                    supporters::first_name,
                ))
                .load::<(String, bool, Option<String>, Option<String>, Option<String>)>(c)?;
            // Sealed at rest: opened and ordered here, not in SQL.
            let open = |v: String| clarion::vault::open(&v).unwrap();
            let mut people: Vec<_> = people
                .into_iter()
                .map(|(e, o, s, l, f)| (open(e), o, s, l, clarion::vault::open_opt(f).unwrap()))
                .collect();
            people.sort_by(|a, b| a.0.cmp(&b.0));
            let sigs = signatures::table
                .inner_join(supporters::table)
                .select((
                    supporters::email.assume_not_null(),
                    signatures::petition_id,
                    signatures::status,
                    signatures::confirm_secret_hash,
                    signatures::expires_at.is_not_null(),
                ))
                .load::<(String, String, String, Option<String>, bool)>(c)?;
            let mut sigs: Vec<_> = sigs
                .into_iter()
                .map(|(e, p, st, h, x)| (open(e), p, st, h, x))
                .collect();
            sigs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            let mails = deliveries::table
                .inner_join(
                    signatures::table.on(deliveries::signature_id.eq(signatures::id.nullable())),
                )
                .inner_join(supporters::table.on(signatures::supporter_id.eq(supporters::id)))
                .filter(deliveries::kind.eq("confirmation"))
                .select((
                    supporters::email.assume_not_null(),
                    deliveries::supporter_id,
                ))
                .order(deliveries::id)
                .load::<(String, Option<String>)>(c)?;
            let mut mails: Vec<_> = mails.into_iter().map(|(e, s)| (open(e), s)).collect();
            mails.sort_by(|a, b| a.0.cmp(&b.0));
            let counts = petitions::table
                .filter(petitions::id.eq_any([&p2, &i2]))
                .select((
                    petitions::slug,
                    petitions::pending_count,
                    petitions::confirmed_count,
                ))
                .order(petitions::slug)
                .load(c)?;
            Ok::<_, clarion::db::DbError>((people, sigs, mails, counts))
        })
        .await
        .unwrap();

    // Consent is recorded only where a signature counted at once; a new
    // supporter takes the language and name from the form only then (a
    // pending one holds the address alone until confirmed).
    let source = |s: &str| Some(format!("petition:{s}"));
    assert_eq!(
        people,
        vec![
            (
                "fresh@example.org".into(),
                true,
                source("instant-one"),
                Some("ru".into()),
                Some("Ann".into())
            ),
            (
                "known@example.org".into(),
                true,
                source("instant-one"),
                Some("ru".into()),
                Some("Ann".into())
            ),
            ("new@example.org".into(), false, None, None, None),
            ("twice@example.org".into(), false, None, None, None),
        ]
    );
    let status = |e: &str, pet: &str| {
        sigs.iter()
            .find(|s| s.0 == e && s.1 == pet)
            .map(|s| (s.2.clone(), s.3.is_some(), s.4))
    };
    let confirmed = Some(("confirmed".to_string(), false, false));
    // No token or secret is stored: the mail's link is made from the
    // signature when the message is built.
    let waiting = Some(("pending".to_string(), false, true));
    assert_eq!(sigs.len(), 5, "{sigs:?}");
    assert_eq!(status("known@example.org", &i), confirmed);
    assert_eq!(status("fresh@example.org", &i), confirmed);
    assert_eq!(status("new@example.org", &p), waiting);
    assert_eq!(status("known@example.org", &p), waiting);
    assert_eq!(status("twice@example.org", &p), waiting);
    // One confirmation mail per pending signature, to its signer.
    let mailed: Vec<&str> = mails.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        mailed,
        ["known@example.org", "new@example.org", "twice@example.org"]
    );
    assert!(mails.iter().all(|m| m.1.is_some()));
    assert_eq!(
        counts,
        vec![("instant-one".into(), 0, 2), ("pending-one".into(), 3, 0)]
    );
}

async fn the_sweep_deletes_expired_pending_signatures_and_what_only_they_held(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    app.seed_list("members", &[Person::active("listed@example.org", "Lia")])
        .await;
    for email in [
        "gone@example.org",
        "listed@example.org",
        "waiting@example.org",
    ] {
        assert_eq!(app.sign("free-them", &form(email)).await.status(), 303);
    }
    let tokens = app.mailed_tokens(3).await;
    assert_eq!(app.counters("free-them").await, (0, 3));

    // Two of the three ran out of time.
    let expired_at = clarion::db::now() - chrono::Duration::minutes(1);
    app.db
        .run(move |c| {
            let ids = supporters::table
                .filter(
                    supporters::email_hash.eq_any(
                        ["gone@example.org", "listed@example.org"]
                            .map(|e| clarion::db::supporters::email_hash(e).unwrap()),
                    ),
                )
                .select(supporters::id);
            diesel::update(signatures::table.filter(signatures::supporter_id.eq_any(ids)))
                .set(signatures::expires_at.eq(expired_at))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let swept = app
        .db
        .run(|c| clarion::db::signatures::sweep_expired(c, clarion::db::now(), 1000))
        .await
        .unwrap();
    assert_eq!(swept, 2);
    let again = app
        .db
        .run(|c| clarion::db::signatures::sweep_expired(c, clarion::db::now(), 1000))
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to sweep");

    assert_eq!(
        app.counters("free-them").await,
        (0, 1),
        "pending count follows"
    );
    assert_eq!(app.signature_count().await, 1);
    assert_eq!(app.confirmation_count().await, 1, "their mails went too");
    assert!(
        app.supporter("gone@example.org").await.is_none(),
        "a supporter only that signature held is deleted"
    );
    assert!(
        app.supporter("listed@example.org").await.is_some(),
        "a supporter on a list stays"
    );
    assert!(app.supporter("waiting@example.org").await.is_some());

    // The old link leads nowhere; the link still in time works.
    let mut gone = 0;
    for token in &tokens {
        let r = app.post_empty(&format!("/confirm/{token}")).await;
        match r.status().as_u16() {
            404 => gone += 1,
            s => assert!(s < 400, "the link in time confirms: {s}"),
        }
    }
    assert_eq!(gone, 2);
    assert_eq!(app.counters("free-them").await, (1, 0));

    // Signing again starts afresh.
    assert_eq!(
        app.sign("free-them", &form("gone@example.org"))
            .await
            .status(),
        303
    );
    assert_eq!(app.counters("free-them").await, (1, 1));
    assert_eq!(app.confirmation_count().await, 2);
}

async fn a_token_proves_itself_and_links_mailed_before_the_token_change_still_work(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    for email in ["new@example.org", "old@example.org"] {
        assert_eq!(app.sign("free-them", &form(email)).await.status(), 303);
    }
    let tokens = app.mailed_tokens(2).await;

    // The right signature id with a made-up secret confirms nothing.
    let forged = format!("{}{}", &tokens[0][..32], clarion::security::random_token());
    assert_eq!(
        app.post_empty(&format!("/confirm/{forged}")).await.status(),
        404
    );
    assert_eq!(app.page(&format!("/confirm/{forged}")).await.status(), 404);
    assert_eq!(app.counters("free-them").await, (0, 2));

    // A token of the old kind: random, found by the index of its hash.
    let legacy = clarion::security::random_token();
    let hash = clarion::security::hash_token(&legacy);
    // (On the signature the first mailed token is not for.)
    let first = uuid::Uuid::try_parse(&tokens[0][..32])
        .unwrap()
        .hyphenated()
        .to_string();
    app.db
        .run(move |c| {
            diesel::update(signatures::table.filter(signatures::id.ne(first)))
                .set((
                    signatures::confirm_token_hash.eq(Some(hash)),
                    signatures::confirm_secret_hash.eq(None::<String>),
                ))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    for token in [&tokens[0], &legacy] {
        assert_eq!(app.page(&format!("/confirm/{token}")).await.status(), 200);
        let r = app.post_empty(&format!("/confirm/{token}")).await;
        assert!(r.status().as_u16() < 400, "{}", r.status());
    }
    assert_eq!(app.counters("free-them").await, (2, 0));
}

/// `plan_cache_mode` and `enable_seqscan` of this connection (PostgreSQL).
fn plan_settings(c: &mut clarion::db::DbConnection) -> QueryResult<(String, String)> {
    use diesel::dsl::sql;
    use diesel::sql_types::Text;
    diesel::select((
        sql::<Text>("current_setting('plan_cache_mode')"),
        sql::<Text>("current_setting('enable_seqscan')"),
    ))
    .get_result(c)
}

/// The writers' plan settings (`Db::get_for_writer`, the connection a
/// batching writer holds) hold while the writer has the connection and end
/// when it goes back to the pool: the next holder plans every statement for
/// its parameters again, as every other connection does. On SQLite the
/// settings do not exist and the batch stores as before.
async fn the_writers_plan_settings_end_with_their_connection(b: Backend) {
    let postgres = matches!(b, Backend::Postgres(_));
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "plans").await;
    let petition = app
        .create_petition(
            &token,
            case["id"].as_str().unwrap(),
            "plans",
            json!({"status": "open"}),
        )
        .await;
    let id = petition["id"].as_str().unwrap().to_string();
    let batch = vec![
        signature(&id, "plans", "one@example.org", true),
        signature(&id, "plans", "two@example.org", true),
    ];
    let ttl = chrono::Duration::hours(48);
    // One connection: the one the writer gives back is the next one taken.
    let keys = app.db.data_keys().cloned().expect("the app's data keys");
    let db = clarion::db::Db::connect(&app.database_url, 1)
        .unwrap()
        .with_data_keys(keys);
    let (out, settings) = tokio::task::spawn_blocking(move || {
        let mut writer = db.get_for_writer()?;
        let out = sign_batch(&mut writer, &batch, ttl)?;
        if !postgres {
            return Ok::<_, clarion::db::DbError>((out, None));
        }
        let inside = plan_settings(&mut writer)?;
        drop(writer);
        let mut next = db.get()?;
        let after = plan_settings(&mut next)?;
        Ok((out, Some((inside, after))))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out, vec![SignOutcome::Pending; 2]);
    if let Some((inside, after)) = settings {
        assert_eq!(inside, ("auto".to_string(), "off".to_string()));
        assert_eq!(after, ("force_custom_plan".to_string(), "on".to_string()));
    }
    let stored: i64 = app
        .db
        .run(move |c| {
            signatures::table
                .filter(signatures::petition_id.eq(&id))
                .count()
                .get_result(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(stored, 2);
}

/// A row written before encryption has the plain address and no keyed hash;
/// a batch finds it by the address (in the same statement that looks for
/// the others' hashes), so that person signs as the supporter they are and
/// nobody new is made for them.
async fn a_supporter_written_before_encryption_who_signs_in_a_batch_is_found_by_the_address(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "legacy").await;
    let petition = app
        .create_petition(
            &token,
            case["id"].as_str().unwrap(),
            "legacy",
            json!({"status": "open"}),
        )
        .await;
    let id = petition["id"].as_str().unwrap().to_string();
    let now = clarion::db::now();
    app.db
        .run(move |c| {
            diesel::insert_into(supporters::table)
                .values((
                    supporters::id.eq("01900000-0000-7000-8000-0000000000aa"),
                    supporters::email.eq("old@example.org"),
                    supporters::status.eq("active"),
                    supporters::email_opt_in.eq(false),
                    supporters::created_at.eq(now),
                    supporters::updated_at.eq(now),
                ))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let batch = vec![
        signature(&id, "legacy", "new@example.org", true),
        signature(&id, "legacy", "old@example.org", true),
    ];
    let ttl = chrono::Duration::hours(48);
    let out = app
        .db
        .run(move |c| sign_batch(c, &batch, ttl))
        .await
        .unwrap();
    assert_eq!(out, vec![SignOutcome::Pending; 2]);
    let (people, signer): (i64, String) = app
        .db
        .run(move |c| {
            let people = supporters::table.count().get_result(c)?;
            let signer = signatures::table
                .inner_join(supporters::table)
                .filter(supporters::email_hash.is_null())
                .select(signatures::supporter_id)
                .first(c)?;
            Ok::<_, clarion::db::DbError>((people, signer))
        })
        .await
        .unwrap();
    assert_eq!(people, 2, "the legacy row and the new signer, nobody else");
    assert_eq!(signer, "01900000-0000-7000-8000-0000000000aa");
}

/// PostgreSQL checks no signature against its supporter by foreign key
/// (migration 000021); what the check guarded is held by row locks. A
/// signing that has found a known supporter holds them (`hold_supporter`,
/// `FOR KEY SHARE`) until it commits; a sweep of expired signatures meanwhile
/// leaves that person and their signature for a later sweep, without
/// waiting, and sweeps everyone else. Once the signing has committed, the
/// next sweep takes them (here nothing else holds them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_the_sweep_leaves_a_supporter_a_signing_holds_for_later() {
    let Some(b) = Backend::postgres() else { return };
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    for email in ["busy@example.org", "idle@example.org"] {
        assert_eq!(app.sign("free-them", &form(email)).await.status(), 303);
    }
    app.mailed_tokens(2).await;
    let expired_at = clarion::db::now() - chrono::Duration::minutes(1);
    let busy: String = app
        .db
        .run(move |c| {
            diesel::update(signatures::table)
                .set(signatures::expires_at.eq(expired_at))
                .execute(c)?;
            supporters::table
                .filter(
                    supporters::email_hash
                        .eq(clarion::db::supporters::email_hash("busy@example.org").unwrap()),
                )
                .select(supporters::id)
                .first(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();

    // A signing of busy@'s, holding them in its open transaction.
    let holder = clarion::db::Db::connect(&app.database_url, 1).unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let signing = std::thread::spawn(move || {
        let mut conn = holder.get().unwrap();
        clarion::db::write_tx(&mut conn, |c| {
            let there = clarion::db::backend::hold_supporter(c, &busy)?;
            held_tx.send(there).unwrap();
            release_rx.recv().unwrap();
            Ok::<_, clarion::db::DbError>(())
        })
        .unwrap();
    });
    assert!(held_rx.recv().unwrap(), "the supporter is there to hold");

    let sweep = || async {
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            app.db
                .run(|c| clarion::db::signatures::sweep_expired(c, clarion::db::now(), 1000)),
        )
        .await
        .expect("the sweep does not wait for a signing")
        .unwrap()
    };
    assert_eq!(sweep().await, 1, "idle@ swept, busy@ left while held");
    let left = || async {
        app.db
            .run(|c| {
                Ok::<_, clarion::db::DbError>((
                    signatures::table.count().get_result::<i64>(c)?,
                    supporters::table.count().get_result::<i64>(c)?,
                ))
            })
            .await
            .unwrap()
    };
    assert_eq!(left().await, (1, 1));

    release_tx.send(()).unwrap();
    signing.join().unwrap();
    assert_eq!(sweep().await, 1, "busy@ swept once nothing holds them");
    assert_eq!(left().await, (0, 0));
    assert_eq!(app.counters("free-them").await, (0, 0));
}
