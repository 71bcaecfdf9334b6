//! Counts an authority cannot dismiss (contract §10): the hash-chained
//! signature log, signed snapshots, receipts, `clarion verify` from the
//! database, a URL and a dossier, and tampering each of them.
//!
//! The checks here recompute hashes and signatures independently of the
//! service's own verifier: canonical JSON by `serde_jcs`, SHA-256 by `sha2`,
//! Ed25519 by `ed25519-dalek`.

use std::collections::BTreeMap;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::helpers::{clarion_bin, spawn_app, Backend, TestApp};

use crate::public_support::form;

backend_tests!(
    confirmations_and_erasures_chain_into_a_public_log_that_holds_no_personal_data,
    snapshots_are_signed_kept_and_made_on_demand_and_rotated_keys_still_verify,
    a_receipt_names_the_entry_and_its_snapshot_and_nobody_else_can_make_one,
    verify_finds_an_edited_row_a_deleted_entry_a_false_count_and_a_forged_snapshot,
    the_dossier_holds_the_contracts_files_verifies_and_a_changed_one_fails,
    concurrent_confirmations_never_fork_the_chain_and_a_link_posted_twice_counts_once,
    the_verify_page_explains_the_check_and_log_paging_refuses_a_bad_cursor,
);

/// Signs `emails` on `slug` and confirms each; the confirmed pages' HTML.
pub(crate) async fn sign_and_confirm(app: &TestApp, slug: &str, emails: &[&str]) -> Vec<String> {
    let already = app.confirmation_mails();
    for e in emails {
        assert_eq!(app.sign(slug, &form(e)).await.status(), 303);
    }
    let tokens = app.mailed_tokens_for(already + emails.len(), emails).await;
    let mut pages = Vec::new();
    for t in &tokens {
        let r = app.post_empty(&format!("/confirm/{t}")).await;
        assert_eq!(r.status(), 200);
        pages.push(r.text().await.unwrap());
    }
    pages
}

/// The receipt code a confirmed page shows.
pub(crate) fn receipt_code_on(html: &str) -> String {
    let s = html
        .find("<code class=\"receipt-code\">")
        .expect("a receipt on the page")
        + 27;
    html[s..].split('<').next().unwrap().to_string()
}

/// The receipt `code` stands for, as JSON (it must be found).
pub(crate) async fn receipt_json(app: &TestApp, code: &str) -> Value {
    let r = app
        .client
        .get(format!("{}/receipts/{code}", app.address))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let r = app.page(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Checks the chain independently; returns the entries.
fn check_chain(entries: &[Value]) {
    let mut prev = "0".repeat(64);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], json!(i as i64 + 1));
        assert_eq!(e["prev"].as_str().unwrap(), prev, "entry {}", i + 1);
        let mut body = e.as_object().unwrap().clone();
        let hash = body.remove("hash").unwrap();
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["at", "commitment", "kind", "prev", "seq", "signature"],
            "an entry holds exactly these fields"
        );
        let digest = hex::encode(Sha256::digest(serde_jcs::to_vec(&body).unwrap()));
        assert_eq!(hash.as_str().unwrap(), digest, "entry {}", i + 1);
        prev = digest;
    }
}

/// Whether `snapshot` is signed by the key of its key_id in `keys`.
fn signature_holds(snapshot: &Value, keys: &Value) -> bool {
    let mut body = snapshot.as_object().unwrap().clone();
    let sig = body.remove("signature").unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == body["key_id"])
        .expect("the snapshot's key is listed");
    assert_eq!(key["alg"], "Ed25519");
    let pk: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig.as_str().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    use ed25519_dalek::Verifier;
    ed25519_dalek::VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify(&serde_jcs::to_vec(&body).unwrap(), &sig)
        .is_ok()
}

/// Runs the binary against the app's database and key folder.
async fn clarion(app: &TestApp, args: &[&str]) -> std::process::Output {
    let url = app.database_url.clone();
    let key_dir = app.settings.key_dir.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(clarion_bin())
            .args(&args)
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_KEY_DIR", &key_dir)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG")
            .output()
            .expect("clarion runs")
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn sql(app: &TestApp, statement: &str) -> usize {
    use diesel::RunQueryDsl;
    let s = statement.to_string();
    app.db
        .run(move |c| {
            diesel::sql_query(s)
                .execute(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

async fn confirmations_and_erasures_chain_into_a_public_log_that_holds_no_personal_data(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    sign_and_confirm(
        &app,
        "free-them",
        &["ann@example.org", "bob@example.org", "cat@example.org"],
    )
    .await;
    // Signed but never confirmed: not in the log.
    assert_eq!(
        app.sign("free-them", &form("dan@example.org"))
            .await
            .status(),
        303
    );

    let log = json_of(&app, "/petitions/free-them/log.json").await;
    let entries = log["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);
    assert_eq!(log["next_after"], Value::Null);
    assert!(entries.iter().all(|e| e["kind"] == "confirm"));
    check_chain(&entries);
    let raw = log.to_string();
    for needle in ["ann", "bob", "Ann", "example.org", "KG", "127.0.0.1"] {
        assert!(
            !raw.contains(needle),
            "the log names nobody: found {needle}"
        );
    }
    // Paging: after=1 gives entries 2 and 3.
    let rest = json_of(&app, "/petitions/free-them/log.json?after=1").await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 2);
    assert_eq!(rest["entries"][0], entries[1]);

    // Erasure appends an entry that repeats the confirmation's commitment.
    let (ann, ..) = app.supporter("ann@example.org").await.unwrap();
    let admin = app.token("admin").await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/supporters/{ann}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let log = json_of(&app, "/petitions/free-them/log.json").await;
    let entries = log["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 4);
    check_chain(&entries);
    assert_eq!(entries[3]["kind"], "erase");
    assert_eq!(entries[3]["signature"], entries[0]["signature"]);
    assert_eq!(entries[3]["commitment"], entries[0]["commitment"]);
    // The count did not move, and it still follows from the log.
    let snap = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(snap["confirmed"], 3);
    assert_eq!(snap["log_seq"], 4);
    assert_eq!(snap["log_head"], entries[3]["hash"]);
    // Erasing again logs nothing more.
    app.request(
        reqwest::Method::DELETE,
        &format!("/api/v1/supporters/{ann}"),
        Some(&admin),
        None,
    )
    .await;
    let again = json_of(&app, "/petitions/free-them/log.json").await;
    assert_eq!(again["entries"].as_array().unwrap().len(), 4);

    let out = clarion(&app, &["verify", "--petition", "free-them"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("OK: 4 entries (3 confirmations, 1 erasures)"));
    // A petition nobody knows is a clear error.
    let out = clarion(&app, &["verify", "--petition", "nope"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no petition has the slug"));
}

async fn snapshots_are_signed_kept_and_made_on_demand_and_rotated_keys_still_verify(b: Backend) {
    let app = spawn_app(b).await;
    let p = app.open_petition("free-them", json!({})).await;
    let id = p["id"].as_str().unwrap();
    sign_and_confirm(&app, "free-them", &["ann@example.org", "bob@example.org"]).await;

    let keys = json_of(&app, "/.well-known/clarion-keys.json").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["retired"], Value::Null);
    let first = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(first["petition"], "free-them");
    assert_eq!(first["confirmed"], 2);
    assert_eq!(first["by_country"], json!({"KG": 2}));
    assert_eq!(first["log_seq"], 2);
    assert!(signature_holds(&first, &keys));
    // Within the minute a moved count keeps the same public snapshot...
    sign_and_confirm(&app, "free-them", &["cat@example.org"]).await;
    let again = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(again, first, "at most one snapshot a minute");
    // ...and a campaigner can make one now; an organiser cannot.
    let organiser = app.token("organiser").await;
    let r = app
        .post(
            &format!("/api/v1/petitions/{id}/snapshots"),
            &organiser,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let campaigner = app.token("campaigner").await;
    let r = app
        .post(
            &format!("/api/v1/petitions/{id}/snapshots"),
            &campaigner,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["confirmed"], 3);
    assert!(signature_holds(&made, &keys));
    assert_eq!(
        json_of(&app, "/petitions/free-them/snapshot.json").await,
        made
    );

    // The key file lives outside the database, private.
    let key_file = app.settings.key_dir.join("signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "signing.key is 0600");
    }
    let secret = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(
        sql(
            &app,
            &format!(
                "UPDATE signing_keys SET key_id = key_id WHERE public_key = '{}'",
                secret.trim()
            )
        )
        .await,
        0,
        "the database holds the public half only"
    );

    // Rotation: a new key signs from now on, the old one stays listed.
    let out = clarion(&app, &["keys", "rotate"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), secret);
    let out = clarion(&app, &["keys", "show"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "a header and two keys"
    );
    let keys = json_of(&app, "/.well-known/clarion-keys.json").await;
    let listed = keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|k| k["retired"].is_null()).count(), 1);
    let r = app
        .post(
            &format!("/api/v1/petitions/{id}/snapshots"),
            &campaigner,
            json!({}),
        )
        .await;
    let rotated: Value = r.json().await.unwrap();
    assert_ne!(rotated["key_id"], made["key_id"]);
    assert!(signature_holds(&rotated, &keys));
    assert!(
        signature_holds(&made, &keys),
        "old snapshots stay verifiable"
    );

    let all = json_of(&app, "/petitions/free-them/snapshots.json").await;
    let all = all["snapshots"].as_array().unwrap();
    assert_eq!(all.len(), 3, "every snapshot is kept");
    assert!(all.iter().all(|s| signature_holds(s, &keys)));
    let out = clarion(&app, &["verify", "--petition", "free-them"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 signed snapshots"));
}

async fn a_receipt_names_the_entry_and_its_snapshot_and_nobody_else_can_make_one(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let pages = sign_and_confirm(&app, "free-them", &["ann@example.org", "bob@example.org"]).await;
    let bob = receipt_code_on(&pages[1]);
    assert_eq!(bob.len(), 52);

    // The confirmation is answered by a short mail with the same code.
    app.smtp
        .wait_for(4, std::time::Duration::from_secs(20))
        .await;
    let receipts = app.receipt_mails();
    assert_eq!(receipts.len(), 2, "one receipt per confirmation");
    let (_, subject, text) = receipts
        .iter()
        .find(|(to, ..)| to == &["bob@example.org"])
        .expect("bob's receipt");
    assert!(
        subject.starts_with("Your signature is counted"),
        "{subject}"
    );
    assert!(text.contains(&bob), "the code: {text}");
    assert!(text.contains(&format!("{}/receipts/{bob}", app.settings.base_url)));
    assert!(!text.contains("ann@"), "nobody else's receipt");

    let receipt = receipt_json(&app, &bob).await;
    assert_eq!(receipt["petition"], "free-them");
    assert_eq!(receipt["entry"]["seq"], 2);
    assert_eq!(
        receipt["snapshot"],
        Value::Null,
        "no snapshot counts it yet"
    );
    // The salt lets Bob, and only someone holding his receipt, tie the
    // commitment to his address.
    let salt = receipt["salt"].as_str().unwrap();
    assert_eq!(
        receipt["entry"]["commitment"].as_str().unwrap(),
        hex::encode(Sha256::digest(format!("{salt}bob@example.org")))
    );
    assert!(
        !receipt.to_string().contains("bob@"),
        "shows nobody's identity"
    );

    let snap = json_of(&app, "/petitions/free-them/snapshot.json").await;
    let receipt = receipt_json(&app, &bob).await;
    assert_eq!(
        receipt["snapshot"], snap,
        "the first snapshot that counts it"
    );

    let html = app.page(&format!("/receipts/{bob}")).await;
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap();
    assert!(html.contains("entry 2"));
    assert!(!html.contains("bob@example.org"));
    // Guessing: a code with another signature's id, or a changed tag.
    let mut forged = bob.clone();
    forged.replace_range(51.., if bob.ends_with('0') { "1" } else { "0" });
    assert_eq!(app.page(&format!("/receipts/{forged}")).await.status(), 404);
    assert_eq!(app.page("/receipts/not-a-code").await.status(), 404);
    // The confirmation link shows the same receipt again.
    let tokens = app.mailed_tokens_for(2, &["bob@example.org"]).await;
    let again = app
        .page(&format!("/confirm/{}", tokens[0]))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(receipt_code_on(&again), bob);
}

async fn verify_finds_an_edited_row_a_deleted_entry_a_false_count_and_a_forged_snapshot(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let p = app.open_petition("free-them", json!({})).await;
    let id = p["id"].as_str().unwrap().to_string();
    sign_and_confirm(
        &app,
        "free-them",
        &["a@example.org", "b@example.org", "c@example.org"],
    )
    .await;
    let campaigner = app.token("campaigner").await;
    let r = app
        .post(
            &format!("/api/v1/petitions/{id}/snapshots"),
            &campaigner,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let verify = || clarion(&app, &["verify", "--petition", "free-them"]);
    assert!(verify().await.status.success());

    // An edited row.
    let original: String = {
        let log = json_of(&app, "/petitions/free-them/log.json").await;
        log["entries"][1]["commitment"]
            .as_str()
            .unwrap()
            .to_string()
    };
    sql(
        &app,
        &format!(
            "UPDATE signature_log SET commitment = '{}' WHERE seq = 2",
            "0".repeat(64)
        ),
    )
    .await;
    let out = verify().await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("entry 2: its hash does not match"),
        "{}",
        text(&out.stderr)
    );
    sql(
        &app,
        &format!("UPDATE signature_log SET commitment = '{original}' WHERE seq = 2"),
    )
    .await;
    assert!(verify().await.status.success(), "restored");

    // A deleted entry in the middle, and then at the end.
    let keep: Value = json_of(&app, "/petitions/free-them/log.json").await;
    sql(&app, "DELETE FROM signature_log WHERE seq = 2").await;
    let out = verify().await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("entry 2 is missing"),
        "{}",
        text(&out.stderr)
    );
    sql(&app, "DELETE FROM signature_log WHERE seq = 3").await;
    let out = verify().await;
    assert!(!out.status.success());
    let e = keep["entries"][1].clone();
    sql(
        &app,
        &format!(
            "INSERT INTO signature_log (petition_id, seq, at, kind, signature_id, commitment, prev, hash) \
             VALUES ('{id}', 2, '{}', 'confirm', '{}', '{}', '{}', '{}')",
            e["at"].as_str().unwrap(),
            e["signature"].as_str().unwrap(),
            e["commitment"].as_str().unwrap(),
            e["prev"].as_str().unwrap(),
            e["hash"].as_str().unwrap()
        ),
    )
    .await;
    let out = verify().await;
    assert!(!out.status.success(), "the last entry is still gone");
    assert!(
        text(&out.stderr).contains("entries were deleted"),
        "{}",
        text(&out.stderr)
    );

    // A count that does not follow and a forged snapshot, on a fresh petition.
    let app = spawn_app(match &app.database_url {
        u if u.starts_with("sqlite") => Backend::Sqlite,
        _ => Backend::postgres().unwrap(),
    })
    .await;
    let p = app.open_petition("free-them", json!({})).await;
    let id = p["id"].as_str().unwrap().to_string();
    sign_and_confirm(&app, "free-them", &["a@example.org", "b@example.org"]).await;
    let campaigner = app.token("campaigner").await;
    app.post(
        &format!("/api/v1/petitions/{id}/snapshots"),
        &campaigner,
        json!({}),
    )
    .await;
    let verify = || clarion(&app, &["verify", "--petition", "free-them"]);
    assert!(verify().await.status.success());
    sql(
        &app,
        "UPDATE petition_snapshots SET body = REPLACE(body, '\"confirmed\":2', '\"confirmed\":20')",
    )
    .await;
    let out = verify().await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("its signature does not verify"),
        "{}",
        text(&out.stderr)
    );
    // A snapshot signed with the service's own key but claiming more than
    // the log holds: made by appending a confirmation the log never saw.
    sql(
        &app,
        "UPDATE petition_snapshots SET body = REPLACE(body, '\"confirmed\":20', '\"confirmed\":2')",
    )
    .await;
    assert!(verify().await.status.success());
    sql(
        &app,
        "UPDATE petitions SET confirmed_count = confirmed_count + 5",
    )
    .await;
    app.post(
        &format!("/api/v1/petitions/{id}/snapshots"),
        &campaigner,
        json!({}),
    )
    .await;
    let out = verify().await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("says 7 confirmed, but the log holds 2"),
        "{}",
        text(&out.stderr)
    );
}

async fn the_dossier_holds_the_contracts_files_verifies_and_a_changed_one_fails(b: Backend) {
    let app = spawn_app(b).await;
    let p = app.open_petition("free-them", json!({})).await;
    let id = p["id"].as_str().unwrap();
    sign_and_confirm(&app, "free-them", &["ann@example.org", "bob@example.org"]).await;

    let anonymous = app.page(&format!("/api/v1/petitions/{id}/dossier")).await;
    assert_eq!(anonymous.status(), 401);
    let organiser = app.token("organiser").await;
    let r = app
        .get(
            &format!("/api/v1/petitions/{id}/dossier?names=maybe"),
            &organiser,
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .get(&format!("/api/v1/petitions/{id}/dossier"), &organiser)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap().to_vec();
    let names = |bytes: &[u8]| {
        let z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut n: Vec<String> = z.file_names().map(str::to_string).collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&bytes),
        ["keys.json", "log.json", "petition.html", "snapshot.json"]
    );
    let read = |bytes: &[u8], name: &str| {
        use std::io::Read;
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut s = String::new();
        z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let html = read(&bytes, "petition.html");
    assert!(html.contains("<strong>2</strong> confirmed signatures"));
    assert!(html.contains("How to verify"));
    let snapshot: Value = serde_json::from_str(&read(&bytes, "snapshot.json")).unwrap();
    let keys: Value = serde_json::from_str(&read(&bytes, "keys.json")).unwrap();
    assert!(signature_holds(&snapshot, &keys));
    assert_eq!(snapshot["log_seq"], 2, "the snapshot covers the whole log");
    for f in ["petition.html", "snapshot.json", "log.json", "keys.json"] {
        assert!(
            !read(&bytes, f).contains("example.org"),
            "{f} holds no address"
        );
    }

    // With names: first name, last name, country, confirmed_at, no address.
    let r = app
        .get(
            &format!("/api/v1/petitions/{id}/dossier?names=true"),
            &organiser,
        )
        .await;
    let with_names = r.bytes().await.unwrap().to_vec();
    assert!(names(&with_names).contains(&"signatures.csv".to_string()));
    let csv = read(&with_names, "signatures.csv");
    assert!(csv
        .trim_start_matches('\u{feff}')
        .starts_with("first_name,last_name,country,confirmed_at"));
    assert_eq!(csv.lines().count(), 3);
    assert!(!csv.contains("example.org"));

    // The CLI writes the same kind of file, and verify reads it.
    let out_file = app.dir.path().join("d.zip");
    let out = clarion(
        &app,
        &[
            "export",
            "dossier",
            "--petition",
            "free-them",
            "--out",
            out_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = clarion(&app, &["verify", "--dossier", out_file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A dossier whose log was changed fails, naming the entry.
    let mut log: Value = serde_json::from_str(&read(&bytes, "log.json")).unwrap();
    log["entries"][0]["at"] = json!("2020-01-01T00:00:00.000000Z");
    let changed = app.dir.path().join("changed.zip");
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&changed).unwrap());
        for f in ["petition.html", "snapshot.json", "keys.json"] {
            z.start_file(f, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(read(&bytes, f).as_bytes()).unwrap();
        }
        z.start_file("log.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(log.to_string().as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let out = clarion(&app, &["verify", "--dossier", changed.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("entry 1: its hash does not match"),
        "{}",
        text(&out.stderr)
    );
    let out = clarion(&app, &["verify", "--dossier", "/nonexistent.zip"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read"));
}

async fn concurrent_confirmations_never_fork_the_chain_and_a_link_posted_twice_counts_once(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let emails: Vec<String> = (0..40).map(|i| format!("p{i}@example.org")).collect();
    for e in &emails {
        assert_eq!(app.sign("free-them", &form(e)).await.status(), 303);
    }
    let tokens = app.mailed_tokens(emails.len()).await;
    let paths: Vec<String> = tokens.iter().map(|t| format!("/confirm/{t}")).collect();
    // Each link twice at once: the batching writer often takes both into
    // one transaction, where the second must find the first's count.
    let confirms = paths.iter().chain(paths.iter()).map(|p| app.post_empty(p));
    for r in futures_util::future::join_all(confirms).await {
        assert_eq!(r.status(), 200);
    }
    let log = json_of(&app, "/petitions/free-them/log.json").await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 40);
    check_chain(entries);
    let distinct: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["signature"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), 40, "each confirmation once");
    assert_eq!(app.counters("free-them").await, (40, 0));
    // And from the outside, by URL.
    let url = format!("{}/petitions/free-them", app.address);
    let out = clarion(&app, &["verify", "--url", &url]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("40 confirmations"));
}

async fn the_verify_page_explains_the_check_and_log_paging_refuses_a_bad_cursor(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let en = app.page("/petitions/free-them/verify").await;
    assert_eq!(en.status(), 200);
    let en = en.text().await.unwrap();
    assert!(en.contains("How to check this petition"));
    assert!(en.contains("hashlib.sha256"), "the few lines of a script");
    assert!(en.contains("clarion verify --url"));
    let ru = app
        .page("/petitions/free-them/verify?lang=ru")
        .await
        .text()
        .await
        .unwrap();
    assert!(ru.contains("Как проверить"));
    for bad in ["abc", "-1", "1.5"] {
        let r = app
            .page(&format!("/petitions/free-them/log.json?after={bad}"))
            .await;
        assert_eq!(r.status(), 400, "after={bad}");
    }
    assert_eq!(app.page("/petitions/nope/log.json").await.status(), 404);
    assert_eq!(
        app.page("/petitions/nope/snapshot.json").await.status(),
        404
    );
    let empty = json_of(&app, "/petitions/free-them/snapshot.json").await;
    assert_eq!(empty["confirmed"], 0);
    assert_eq!(empty["log_head"], "0".repeat(64));
    let _: BTreeMap<String, Value> = serde_json::from_value(empty).unwrap();
}
