//! Contract §11 "At rest": supporters' addresses, names, postcodes and
//! comments, and the kept late reports that quote them, are sealed in the
//! database, found by a keyed hash, readable through the service, and
//! unreadable without the data key file. The salts behind the signature
//! log's commitments are sealed too: with one in the clear, a copy of the
//! database could test a guessed address against the public log.

use std::collections::HashSet;

use clarion::db::schema::{signature_salts, supporters};
use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::evidence::{receipt_code_on, receipt_json, sign_and_confirm};
use crate::helpers::{clarion_bin, spawn_app, spawn_app_with, Backend, TestApp};
use crate::late_reports::{dsn, ingest_api};
use crate::public_support::form_with;
use crate::signers::create_list;

backend_tests!(
    nothing_personal_is_in_the_clear_in_the_database_yet_the_service_shows_it,
    a_database_written_in_the_clear_is_sealed_by_migrate_and_a_rotation_leaves_no_old_key,
    erasing_a_supporter_deletes_the_sealed_and_the_older_plain_reports_that_name_them,
    no_salt_in_the_database_ties_an_address_to_the_log_yet_the_signers_receipt_verifies,
    a_salt_kept_in_the_clear_is_sealed_by_migrate_resealed_by_a_rotation_and_erased_with_its_signer,
);

/// What the tests sign and import with: every one must stay out of the
/// database's files.
const SECRETS: [&str; 8] = [
    "zorvath.q@example.org",
    "Zorvathine",
    "Quillimore",
    "ZX-4471",
    "a comment only Zorvath would write",
    "merwinkle.p@example.org",
    "Merwinkleton",
    "MW-9913",
];

fn signing_form() -> Vec<(String, String)> {
    form_with(
        SECRETS[0],
        &[
            ("first_name", SECRETS[1]),
            ("last_name", SECRETS[2]),
            ("postcode", SECRETS[3]),
            ("comment", SECRETS[4]),
        ],
    )
}

async fn import(app: &TestApp, token: &str) -> String {
    let list = create_list(app, token, "Imported").await;
    let csv = format!(
        "email,first_name,last_name,country,postcode\n{},{},Ray,KG,{}\n",
        SECRETS[5], SECRETS[6], SECRETS[7]
    );
    let r = app
        .client
        .post(format!("{}/api/v1/lists/{list}/import", app.address))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    list
}

/// A bounce for `to` that names no delivery of ours (so it is kept whole),
/// quoting the address and the name the message was sent to.
fn unmatched_bounce(to: &str, name: &str) -> String {
    dsn(
        to,
        "<lost.1@elsewhere.example>",
        "5.1.1",
        &format!("550 5.1.1 <{to}>: Recipient address rejected"),
    )
    .replace("To: Someone <", &format!("To: {name} <"))
}

/// Hands `message` in; it must be kept as unmatched.
async fn keep_report(app: &TestApp, message: String) {
    let admin = app.token("admin").await;
    assert_eq!(ingest_api(app, &admin, message).await["unmatched"], 1);
}

/// The kept reports' messages, as the API hands them out.
async fn kept_messages(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/mail/unmatched?limit=100", token).await;
    assert_eq!(r.status(), 200);
    let listed: Value = r.json().await.unwrap();
    let mut out = Vec::new();
    for item in listed["items"].as_array().unwrap() {
        let id = item["id"].as_i64().unwrap();
        let r = app
            .get(&format!("/api/v1/mail/unmatched/{id}"), token)
            .await;
        assert_eq!(r.status(), 200);
        out.push(r.text().await.unwrap());
    }
    out
}

/// Every needle found in `text`.
pub(crate) fn found_in(text: &[u8], needles: &[&str]) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    needles
        .iter()
        .filter(|n| {
            let n = n.to_ascii_lowercase().into_bytes();
            lower.windows(n.len()).any(|w| w == n.as_slice())
        })
        .map(|n| n.to_string())
        .collect()
}

/// The raw bytes of the database: the SQLite file, its WAL and shared
/// memory, or a `pg_dump` of the test's schema.
pub(crate) async fn raw_database(app: &TestApp) -> Vec<u8> {
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        // Read by another process: closing a file of our own on the
        // database would drop every POSIX lock this process's connections
        // hold on it (fcntl locks belong to the process), and they would
        // go on reading an old snapshot of the WAL.
        let mut out = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if std::path::Path::new(&file).exists() {
                let cat = std::process::Command::new("cat")
                    .arg(&file)
                    .output()
                    .unwrap();
                out.extend(cat.stdout);
            }
        }
        return out;
    }
    let url = app.database_url.clone();
    let (base, schema) = url.split_once("options=-csearch_path%3D").unwrap();
    let base = base.trim_end_matches(['?', '&']).to_string();
    let schema = schema.to_string();
    tokio::task::spawn_blocking(move || {
        let bin = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
            .into_iter()
            .find(|b| std::path::Path::new(b).exists())
            .unwrap_or("pg_dump");
        let out = std::process::Command::new(bin)
            .args(["--schema", &schema, "--data-only", &base])
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
        out.stdout
    })
    .await
    .unwrap()
}

async fn cli(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let url = app.database_url.clone();
    let keys = app.settings.key_dir.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(clarion_bin())
            .args(&args)
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_KEY_DIR", &keys)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .env_remove("CLARION_DATA_KEY")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Everything the API shows of the supporters, as text.
async fn shown(app: &TestApp, token: &str, petition: &str) -> String {
    let people = app.get("/api/v1/supporters?limit=100", token).await;
    assert_eq!(people.status(), 200);
    let people: Value = people.json().await.unwrap();
    let signed = app
        .get(&format!("/api/v1/petitions/{petition}/signatures"), token)
        .await;
    assert_eq!(signed.status(), 200);
    let signed: Value = signed.json().await.unwrap();
    format!("{people} {signed}")
}

async fn nothing_personal_is_in_the_clear_in_the_database_yet_the_service_shows_it(b: Backend) {
    let app = spawn_app(b).await;
    let organiser = app.token("organiser").await;
    let p = app
        .open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    let petition = p["id"].as_str().unwrap().to_string();
    assert_eq!(app.sign("free-them", &signing_form()).await.status(), 303);
    // The same address in other letters is the same person.
    let again = form_with(&SECRETS[0].to_uppercase(), &[]);
    assert_eq!(app.sign("free-them", &again).await.status(), 303);
    import(&app, &app.token("campaigner").await).await;
    keep_report(&app, unmatched_bounce(SECRETS[0], "Zorvathine Quillimore")).await;
    let n: i64 = app
        .db
        .run(|c| {
            supporters::table
                .count()
                .get_result(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(n, 2, "one supporter per address");
    assert_eq!(app.signature_count().await, 1, "one signature per address");

    let text = shown(&app, &organiser, &petition).await;
    assert!(
        found_in(text.as_bytes(), &SECRETS).len() == SECRETS.len(),
        "{text}"
    );
    let kept = kept_messages(&app, &app.token("campaigner").await).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(
        found_in(kept[0].as_bytes(), &SECRETS[..3]).len(),
        3,
        "the report reads back whole: {}",
        kept[0]
    );
    let found = found_in(&raw_database(&app).await, &SECRETS);
    assert!(found.is_empty(), "in the clear in the database: {found:?}");
}

async fn a_database_written_in_the_clear_is_sealed_by_migrate_and_a_rotation_leaves_no_old_key(
    b: Backend,
) {
    let app = spawn_app_with(b, |raw| raw.encrypt_at_rest = false).await;
    let organiser = app.token("organiser").await;
    let p = app
        .open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    let petition = p["id"].as_str().unwrap().to_string();
    assert_eq!(app.sign("free-them", &signing_form()).await.status(), 303);
    import(&app, &app.token("campaigner").await).await;
    let campaigner = app.token("campaigner").await;
    let report = unmatched_bounce(SECRETS[5], SECRETS[6]);
    keep_report(&app, report.clone()).await;
    assert!(
        !found_in(&raw_database(&app).await, &[SECRETS[5]]).is_empty(),
        "the report kept in the clear with encryption off"
    );
    let unsealed = || async { app.db.run(clarion::db::sealing::unsealed).await.unwrap() };
    assert!(
        unsealed().await > 0,
        "written in the clear with encryption off"
    );

    // Twice: the second run finds nothing left to do (a killed run is
    // the same as one that did part of the work).
    for _ in 0..2 {
        let out = cli(&app, &["migrate"], &[]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(unsealed().await, 0, "every value sealed");
    let text = shown(&app, &organiser, &petition).await;
    assert_eq!(
        found_in(text.as_bytes(), &SECRETS).len(),
        SECRETS.len(),
        "{text}"
    );
    assert_eq!(
        kept_messages(&app, &campaigner).await,
        std::slice::from_ref(&report)
    );

    // Rotation while the service runs.
    let file = app.settings.key_dir.join("data.key");
    let before = std::fs::read_to_string(&file).unwrap();
    let old: Vec<String> = clarion::vault::Vault::parse(&before).unwrap().ids();
    let out = cli(&app, &["keys", "rotate", "--data"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = clarion::vault::Vault::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(!old.contains(&after.current_id().to_string()));
    assert_eq!(after.ids().len(), 1, "the old key left the file");
    for id in old {
        let id2 = id.clone();
        let left = app
            .db
            .run(move |c| clarion::db::sealing::sealed_under(c, &id2))
            .await
            .unwrap();
        assert_eq!(left, 0, "nothing under the old key {id}");
    }
    // The running service picked the new key up and reads everything.
    let text = shown(&app, &organiser, &petition).await;
    assert_eq!(
        found_in(text.as_bytes(), &SECRETS).len(),
        SECRETS.len(),
        "{text}"
    );
    assert_eq!(kept_messages(&app, &campaigner).await, [report]);
    let again = form_with(SECRETS[0], &[]);
    assert_eq!(app.sign("free-them", &again).await.status(), 303);
    assert_eq!(app.signature_count().await, 1, "still found by its hash");

    // A copy of the database without the key file is refused.
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let copy = tempfile::tempdir().unwrap();
        let db = copy.path().join("clarion.db");
        assert!(app.db.truncate_wal().await.unwrap());
        std::fs::copy(path, &db).unwrap();
        let out = std::process::Command::new(clarion_bin())
            .args(["migrate"])
            .env("CLARION_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("CLARION_KEY_DIR", copy.path())
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .env_remove("CLARION_DATA_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("data key file"), "{err}");
    }
}

async fn erasing_a_supporter_deletes_the_sealed_and_the_older_plain_reports_that_name_them(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"require_confirmation": false}))
        .await;
    assert_eq!(app.sign("free-them", &signing_form()).await.status(), 303);
    // One report kept in the clear, as a database from before encryption
    // holds it; the others sealed as they arrive.
    let older = unmatched_bounce(SECRETS[0], "Zorvathine Quillimore").into_bytes();
    app.db
        .run(move |c| {
            use clarion::db::schema::inbound_reports;
            diesel::insert_into(inbound_reports::table)
                .values((
                    inbound_reports::received_at.eq(clarion::db::now()),
                    inbound_reports::kind.eq("unmatched"),
                    inbound_reports::raw.eq(older),
                ))
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    let newer = unmatched_bounce(&SECRETS[0].to_uppercase(), "Z. Quillimore");
    keep_report(&app, newer).await;
    let other = unmatched_bounce("someone.else@example.net", "Someone Else");
    keep_report(&app, other.clone()).await;
    let campaigner = app.token("campaigner").await;
    assert_eq!(kept_messages(&app, &campaigner).await.len(), 3);

    app.erase_supporter(SECRETS[0], &app.token("admin").await)
        .await;

    assert_eq!(
        kept_messages(&app, &campaigner).await,
        [other],
        "both reports naming the erased address are gone, the other stays"
    );
    let n: i64 = app
        .db
        .run(clarion::db::reports::unmatched_count)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // The plain report's bytes went with its row (secure_delete on SQLite).
    let found = found_in(&raw_database(&app).await, &SECRETS);
    assert!(found.is_empty(), "in the clear in the database: {found:?}");
}

/// The signers of the salt tests, as the log commits to them (normalised).
const SIGNERS: [&str; 2] = ["zorvath.q@example.org", "merwinkle.p@example.org"];

/// Every commitment in `slug`'s public log.
async fn commitments(app: &TestApp, slug: &str) -> HashSet<String> {
    let r = app.page(&format!("/petitions/{slug}/log.json")).await;
    assert_eq!(r.status(), 200);
    let log: Value = r.json().await.unwrap();
    assert_eq!(log["next_after"], Value::Null, "one page");
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["commitment"].as_str().unwrap().to_string())
        .collect()
}

/// Every run of 32 hex digits in `dump` (at any offset, so one that touches
/// other hex text counts too) that, taken as a salt with one of `emails`,
/// makes a commitment of the log: what a reader of a copy of the database
/// could test a guessed address with.
fn salts_that_test(dump: &[u8], emails: &[&str], commitments: &HashSet<String>) -> Vec<String> {
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let mut candidates: HashSet<&[u8]> = HashSet::new();
    let mut start = 0;
    while start < dump.len() {
        if !hex(&dump[start]) {
            start += 1;
            continue;
        }
        let end = start + dump[start..].iter().take_while(|b| hex(b)).count();
        for i in start..end.saturating_sub(31) {
            candidates.insert(&dump[i..i + 32]);
        }
        start = end;
    }
    let mut found: Vec<String> = candidates
        .into_iter()
        .filter(|salt| {
            emails.iter().any(|e| {
                let mut h = Sha256::new();
                h.update(salt);
                h.update(e.as_bytes());
                commitments.contains(&hex::encode(h.finalize()))
            })
        })
        .map(|salt| String::from_utf8(salt.to_vec()).unwrap())
        .collect();
    found.sort();
    found
}

/// The salts as `signature_salts` holds them.
async fn stored_salts(app: &TestApp) -> Vec<String> {
    app.db
        .run(|c| {
            signature_salts::table
                .select(signature_salts::salt)
                .load::<String>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

/// The salt the receipt `code` hands its signer `email`, checked against
/// the commitment of the receipt's entry as the signer would check it.
async fn receipt_salt(app: &TestApp, code: &str, email: &str) -> Option<String> {
    let receipt = receipt_json(app, code).await;
    let salt = receipt["salt"].as_str()?.to_string();
    assert_eq!(salt.len(), 32, "the salt opened: {salt}");
    assert_eq!(
        receipt["entry"]["commitment"].as_str().unwrap(),
        hex::encode(Sha256::digest(format!("{salt}{email}"))),
        "the salt verifies the signer's commitment"
    );
    Some(salt)
}

/// What the public and the authority are shown of `slug` (id `id`): the
/// public log's bytes, and the dossier's files but for the printable page.
async fn evidence_shown(app: &TestApp, id: &str, slug: &str) -> Vec<(String, String)> {
    use std::io::Read;
    let log = app.page(&format!("/petitions/{slug}/log.json")).await;
    assert_eq!(log.status(), 200);
    let mut shown = vec![("log.json".to_string(), log.text().await.unwrap())];
    let organiser = app.token("organiser").await;
    let r = app
        .get(&format!("/api/v1/petitions/{id}/dossier"), &organiser)
        .await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    for name in ["log.json", "snapshot.json", "keys.json"] {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        shown.push((format!("dossier/{name}"), text));
    }
    shown
}

/// The current data key in the app's key file.
fn current_data_key(app: &TestApp) -> String {
    let file = app.settings.key_dir.join("data.key");
    clarion::vault::Vault::parse(&std::fs::read_to_string(file).unwrap())
        .unwrap()
        .current_id()
        .to_string()
}

/// Every stored salt is sealed under `key`.
async fn assert_salts_sealed_under(app: &TestApp, key: &str) {
    let stored = stored_salts(app).await;
    assert!(!stored.is_empty());
    for s in &stored {
        assert_eq!(clarion::vault::key_id_of(s), Some(key), "{s}");
    }
}

async fn no_salt_in_the_database_ties_an_address_to_the_log_yet_the_signers_receipt_verifies(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let pages = sign_and_confirm(&app, "free-them", &SIGNERS).await;
    // And one counted at once, without a confirmation.
    app.open_petition("free-all", json!({"require_confirmation": false}))
        .await;
    assert_eq!(
        app.sign("free-all", &form_with(SIGNERS[0], &[]))
            .await
            .status(),
        303
    );
    let mut log = commitments(&app, "free-them").await;
    log.extend(commitments(&app, "free-all").await);
    assert_eq!(log.len(), 3);

    assert_eq!(stored_salts(&app).await.len(), 3);
    assert_salts_sealed_under(&app, &current_data_key(&app)).await;
    let dump = raw_database(&app).await;
    assert_eq!(salts_that_test(&dump, &SIGNERS, &log), Vec::<String>::new());

    for (page, email) in pages.iter().zip(SIGNERS) {
        let salt = receipt_salt(&app, &receipt_code_on(page), email)
            .await
            .expect("a salt on the receipt");
        assert!(found_in(&dump, &[&salt]).is_empty(), "{salt} in the clear");
    }
}

async fn a_salt_kept_in_the_clear_is_sealed_by_migrate_resealed_by_a_rotation_and_erased_with_its_signer(
    b: Backend,
) {
    let app = spawn_app_with(b, |raw| raw.encrypt_at_rest = false).await;
    let p = app.open_petition("free-them", json!({})).await;
    let petition = p["id"].as_str().unwrap().to_string();
    let pages = sign_and_confirm(&app, "free-them", &SIGNERS).await;
    let evidence = evidence_shown(&app, &petition, "free-them").await;
    let codes: Vec<String> = pages.iter().map(|p| receipt_code_on(p)).collect();
    let log = commitments(&app, "free-them").await;
    let mut salts = Vec::new();
    for (code, email) in codes.iter().zip(SIGNERS) {
        salts.push(receipt_salt(&app, code, email).await.unwrap());
    }
    salts.sort();
    // The check finds what it looks for: salts kept in the clear, as before
    // sealing, each tie an address to its entry.
    assert_eq!(
        salts_that_test(&raw_database(&app).await, &SIGNERS, &log),
        salts
    );
    let mut stored = stored_salts(&app).await;
    stored.sort();
    assert_eq!(stored, salts, "written in the clear with encryption off");

    let out = cli(&app, &["migrate"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.db.run(clarion::db::sealing::unsealed).await.unwrap(),
        0,
        "every value sealed"
    );
    assert_salts_sealed_under(&app, &current_data_key(&app)).await;
    // `migrate` truncates the WAL, where the pages held the clear salts.
    assert_eq!(
        salts_that_test(&raw_database(&app).await, &SIGNERS, &log),
        Vec::<String>::new()
    );
    for (code, email) in codes.iter().zip(SIGNERS) {
        let salt = receipt_salt(&app, code, email).await.unwrap();
        assert!(salts.contains(&salt), "the same salt, opened");
    }

    let before = current_data_key(&app);
    let out = cli(&app, &["keys", "rotate", "--data"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = current_data_key(&app);
    assert_ne!(before, after);
    assert_salts_sealed_under(&app, &after).await;
    assert_eq!(
        salts_that_test(&raw_database(&app).await, &SIGNERS, &log),
        Vec::<String>::new()
    );
    for (code, email) in codes.iter().zip(SIGNERS) {
        let salt = receipt_salt(&app, code, email).await.unwrap();
        assert!(salts.contains(&salt), "the same salt, under the new key");
    }
    // The log commits to the salts, not to how they are kept: what the
    // public and the authority see is unchanged, and verifies.
    assert_eq!(evidence_shown(&app, &petition, "free-them").await, evidence);
    let out = cli(&app, &["verify", "--petition", "free-them"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    app.erase_supporter(SIGNERS[0], &app.token("admin").await)
        .await;
    assert_eq!(
        stored_salts(&app).await.len(),
        1,
        "the erased signer's salt is gone"
    );
    assert_eq!(receipt_salt(&app, &codes[0], SIGNERS[0]).await, None);
    assert!(receipt_salt(&app, &codes[1], SIGNERS[1]).await.is_some());
}
