//! Mail hardening: no address in the server's log even when the SMTP server
//! quotes it back, the `To:` header of names as people write them, and an
//! erasure that leaves nothing readable in the SQLite files.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clarion::db::schema::deliveries;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, spawn_app, spawn_app_with, wait_until, Backend};
use crate::public_support::form_with;
use crate::signers::create_list;
use crate::smtp_sink::{Behaviour, SmtpSink};

backend_tests!(
    no_address_reaches_the_log_even_when_the_smtp_server_quotes_it_back,
    the_to_header_carries_names_as_written_and_stays_one_mailbox,
);

/// A `clarion serve` process, killed when the test ends, failed or not.
struct Server {
    child: Child,
    base: String,
    token: String,
    client: reqwest::Client,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the real binary on `database_url`, sending to `smtp`, logging
    /// at info into a file (not a terminal), and makes a campaigner token
    /// with the CLI.
    async fn start(database_url: &str, smtp: &SmtpSink, dir: &std::path::Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env = [
            ("CLARION_DATABASE_URL", database_url.to_string()),
            ("CLARION_SMTP_URL", smtp.url()),
            ("CLARION_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("CLARION_LOG", "info".to_string()),
            ("CLARION_RETRY_BASE_MS", "50".to_string()),
            ("CLARION_MAX_ATTEMPTS", "2".to_string()),
            ("CLARION_SIGN_RATE_PER_IP", "0".to_string()),
        ];
        let log = dir.join("serve.log");
        let cli_log = dir.join("cli.log");
        let (env2, cli_log2) = (env.clone(), cli_log.clone());
        let token = tokio::task::spawn_blocking(move || {
            let out = Command::new(clarion_bin())
                .args(["token", "create", "--name", "t", "--role", "admin"])
                .envs(env2.iter().map(|(k, v)| (*k, v.as_str())))
                .env_remove("CLARION_CONFIG")
                .output()
                .expect("clarion runs");
            std::fs::write(&cli_log2, &out.stderr).unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .to_string()
        })
        .await
        .unwrap();
        let child = Command::new(clarion_bin())
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("CLARION_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("clarion serve starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            log,
        };
        wait_until("the server to answer", Duration::from_secs(30), || async {
            let r = server
                .client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        server
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// The deliveries' statuses and last errors, read straight from the database.
async fn deliveries_of(database_url: &str) -> Vec<(String, Option<String>)> {
    let db = clarion::db::Db::connect(database_url, 1).unwrap();
    db.run(|c| {
        deliveries::table
            .select((deliveries::status, deliveries::last_error))
            .load::<(String, Option<String>)>(c)
            .map_err(clarion::db::DbError::from)
    })
    .await
    .unwrap()
}

/// The SMTP server refuses some recipients permanently and defers others,
/// each time quoting the address back as real servers do
/// (`550 5.1.1 <bob@example.org>: …`). The real binary, logging at info into
/// a file, sends an alert, a test copy and a confirmation through it: its
/// whole log, and every delivery's stored error, name none of the
/// addresses, while the failures are still logged with the domain.
async fn no_address_reaches_the_log_even_when_the_smtp_server_quotes_it_back(b: Backend) {
    let sink = SmtpSink::start().await;
    sink.set_behaviour(Behaviour::Replies(vec![
        (
            "refused.".into(),
            "550 5.1.1 <{addr}>: Recipient address rejected: User unknown".into(),
        ),
        (
            "deferred.".into(),
            "451 4.3.0 <{addr}>: temporarily deferred, try again".into(),
        ),
        (
            "policy.".into(),
            "550 5.7.1 {addr}... message likely unsolicited".into(),
        ),
    ]));
    let (url, dir) = fresh_database(&b).await;
    let server = Server::start(&url, &sink, dir.path()).await;

    let addresses = [
        "refused.alice@example.org",
        "deferred.bob@example.net",
        "policy.carol@example.com",
        "fine.dora@example.org",
        "refused.tess@example.org",
        "refused.signer@example.org",
    ];
    let case = server
        .post(
            "/api/v1/cases",
            json!({"slug": "masked", "title": "A case", "summary": "Why."}),
        )
        .await;
    server
        .post(
            "/api/v1/petitions",
            json!({"case_id": case["id"], "slug": "masked", "title": "Free them",
                   "target": "The authorities", "body": "Act.", "goal": 10}),
        )
        .await;
    let list = server
        .post("/api/v1/lists", json!({"name": "everyone"}))
        .await;
    let list_id = list["id"].as_str().unwrap();
    let members: Vec<Value> = addresses[..4]
        .iter()
        .map(|e| json!({"email": e, "first_name": "Pat"}))
        .collect();
    let added = server
        .post(
            &format!("/api/v1/lists/{list_id}/members"),
            Value::Array(members),
        )
        .await;
    assert_eq!(added["added"], 4, "{added}");
    let alert = server
        .post(
            "/api/v1/alerts",
            json!({"case_id": case["id"], "list_ids": [list_id], "subject": "Act now",
                   "body_markdown": "Please act."}),
        )
        .await;
    let alert_id = alert["id"].as_str().unwrap();
    server
        .post(
            &format!("/api/v1/alerts/{alert_id}/test"),
            json!({"email": addresses[4]}),
        )
        .await;
    server
        .post(&format!("/api/v1/alerts/{alert_id}/send"), json!({}))
        .await;
    let signed = server
        .client
        .post(format!("{}/petitions/masked/signatures", server.base))
        .form(&[
            ("first_name", "Sig"),
            ("last_name", "Ner"),
            ("email", addresses[5]),
            ("country", "KG"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);

    let a = wait_until("the alert to finish", Duration::from_secs(60), || async {
        let a = server.get(&format!("/api/v1/alerts/{alert_id}")).await;
        (a["status"] == "sent").then_some(a)
    })
    .await;
    assert_eq!(
        (a["sent"].as_i64(), a["failed"].as_i64()),
        (Some(1), Some(3)),
        "{a}"
    );
    let done = wait_until(
        "every delivery to be sent or failed",
        Duration::from_secs(60),
        || async {
            let d = deliveries_of(&url).await;
            (d.len() == 6 && d.iter().all(|(s, _)| s == "sent" || s == "failed")).then_some(d)
        },
    )
    .await;
    let errors: Vec<&str> = done.iter().filter_map(|(_, e)| e.as_deref()).collect();
    assert_eq!(errors.len(), 5, "{done:?}");
    let log = server.log();
    let cli_log = std::fs::read_to_string(dir.path().join("cli.log")).unwrap();
    for addr in addresses {
        let local = addr.split('@').next().unwrap();
        for (what, text) in [("serve log", log.as_str()), ("CLI log", &cli_log)] {
            assert!(!text.contains(local), "{what} names {addr}:\n{text}");
        }
        for e in &errors {
            assert!(
                !e.contains(local),
                "a delivery's last_error names {addr}: {e}"
            );
        }
    }
    // The failures are still there to read, with the refusing domain.
    assert!(
        log.contains("5.1.1 <r***@example.org>: Recipient address rejected"),
        "{log}"
    );
    assert!(log.contains("4.3.0 <d***@example.net>"), "{log}");
    assert!(log.contains("5.7.1 p***@example.com... message"), "{log}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("<r***@example.org>: Recipient address rejected")),
        "{errors:?}"
    );
}

/// The mailboxes lettre's own parser reads in a header value, as
/// (display name, address): a second reading, independent of the writer.
fn mailboxes(value: &str) -> Vec<(Option<String>, String)> {
    let boxes: lettre::message::Mailboxes = value.parse().expect("the To header parses");
    boxes
        .into_iter()
        .map(|m| (m.name, m.email.to_string()))
        .collect()
}

/// Contract §7: names as people write them stand in the To header as they
/// are: a comma or quotes in an ASCII name make an RFC 5322 quoted string
/// (`"John Smith, Jr." <…>`, quotes escaped inside), a plain name goes
/// unquoted, a name in another script goes as an RFC 2047 encoded word; each
/// header is one mailbox, and the envelope names the address alone.
async fn the_to_header_carries_names_as_written_and_stays_one_mailbox(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "names").await;
    let list = create_list(&app, &token, "names").await;
    let people = [
        ("jr@example.org", "John", "Smith, Jr."),
        ("annie@example.org", "Ann \"Annie\"", "O'Neil"),
        ("jana@example.org", "Jana", "Müller (geb. Schmidt)"),
        ("plain@example.org", "Ann", "Lee"),
    ];
    let members: Vec<Value> = people
        .iter()
        .map(|(e, f, l)| json!({"email": e, "first_name": f, "last_name": l}))
        .collect();
    let r = app
        .post(
            &format!("/api/v1/lists/{list}/members"),
            &token,
            Value::Array(members),
        )
        .await;
    assert_eq!(r.status(), 200);
    let alert: Value = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [list], "subject": "Act now",
                   "body_markdown": "Please act."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = alert["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let mails = app.smtp.wait_for(4, Duration::from_secs(30)).await;
    let to_of = |addr: &str| {
        let mail = mails
            .iter()
            .find(|m| m.rcpt_to == [addr.to_string()])
            .unwrap_or_else(|| panic!("no message for {addr} alone: {mails:?}"));
        let to = mail.headers("To");
        assert_eq!(to.len(), 1, "one To header: {to:?}");
        (to[0].clone(), mail.decoded_header("To").unwrap())
    };

    let (raw, _) = to_of("jr@example.org");
    assert_eq!(raw, r#""John Smith, Jr." <jr@example.org>"#);
    assert_eq!(
        mailboxes(&raw),
        vec![(
            Some("John Smith, Jr.".to_string()),
            "jr@example.org".to_string()
        )]
    );

    let (raw, _) = to_of("annie@example.org");
    assert_eq!(raw, r#""Ann \"Annie\" O'Neil" <annie@example.org>"#);
    assert_eq!(
        mailboxes(&raw),
        vec![(
            Some("Ann \"Annie\" O'Neil".to_string()),
            "annie@example.org".to_string()
        )]
    );

    let (raw, decoded) = to_of("jana@example.org");
    assert!(raw.starts_with("=?utf-8?"), "an encoded word: {raw}");
    assert!(raw.ends_with("?= <jana@example.org>"), "{raw}");
    assert!(!raw.contains(['(', ')', ',']), "nothing to misread: {raw}");
    assert_eq!(decoded, "Jana Müller (geb. Schmidt) <jana@example.org>");
    let boxes = mailboxes(&raw);
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    assert_eq!(boxes[0].1, "jana@example.org");

    let (raw, _) = to_of("plain@example.org");
    assert_eq!(raw, "Ann Lee <plain@example.org>");

    // The confirmation mail of the signing form says the same.
    app.open_petition("names", json!({})).await;
    app.smtp.clear_messages();
    let r = app
        .sign(
            "names",
            &form_with(
                "mary@example.org",
                &[("first_name", "Mary"), ("last_name", "Smith, Jr.")],
            ),
        )
        .await;
    assert_eq!(r.status(), 303);
    let mails = app.smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mails[0].rcpt_to, ["mary@example.org"]);
    assert_eq!(
        mails[0].headers("To"),
        [r#""Mary Smith, Jr." <mary@example.org>"#]
    );
}

/// Contract §4: after `DELETE /supporters/{id}` the personal data is gone,
/// and that means gone from the disk too, while the server runs: SQLite
/// keeps freed cells in the database file unless `secure_delete` is on, and
/// keeps the pages as they were before the erasure in the WAL until a
/// checkpoint truncates it. The raw bytes of the database, its `-wal` and
/// its `-shm` are searched for every distinctive string the person gave.
///
/// SQLite only: on PostgreSQL the server's files are not ours to read, and
/// old row versions are reclaimed by VACUUM, which is the operator's
/// schedule; the erasure itself is tested on both backends in
/// `supporters.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_leaves_nothing_readable_in_the_sqlite_files_while_the_server_runs() {
    // With encryption at rest nothing here is ever in the clear (see
    // at_rest.rs); written in the clear (a database from before encryption,
    // or sealing off), erasure must still leave nothing readable.
    let app = spawn_app_with(Backend::Sqlite, |raw| raw.encrypt_at_rest = false).await;
    let petition = app.open_petition("erase-all", json!({})).await;
    let secrets = [
        "quorbel.zyx@example.org",
        "Quorbelfirst",
        "Zyxquorlast",
        "QZ7 9XB",
        "Quorbelian words about the case",
    ];
    let r = app
        .sign(
            "erase-all",
            &form_with(
                secrets[0],
                &[
                    ("first_name", secrets[1]),
                    ("last_name", secrets[2]),
                    ("postcode", secrets[3]),
                    ("comment", secrets[4]),
                    ("email_opt_in", "yes"),
                ],
            ),
        )
        .await;
    assert_eq!(r.status(), 303);
    // A list membership too, so the list tables held them as well.
    let campaigner = app.token("campaigner").await;
    let list = create_list(&app, &campaigner, "erase-all").await;
    let r = app
        .post(
            &format!("/api/v1/lists/{list}/members"),
            &campaigner,
            json!([{"email": secrets[0], "first_name": secrets[1], "last_name": secrets[2],
                    "postcode": secrets[3]}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The confirmation mail went out, so its delivery is on record.
    app.smtp.wait_for(1, Duration::from_secs(30)).await;
    let organiser = app.token("organiser").await;
    let found: Value = app
        .get(
            &format!("/api/v1/supporters?email={}", secrets[0]),
            &organiser,
        )
        .await
        .json()
        .await
        .unwrap();
    let id = found["items"][0]["id"].as_str().unwrap().to_string();

    let db_path = app.dir.path().join("clarion.db");
    let files = ["", "-wal", "-shm"].map(|suffix| {
        let mut p = db_path.clone().into_os_string();
        p.push(suffix);
        std::path::PathBuf::from(p)
    });
    // The address is looked for by its local part: a freed cell partly
    // overwritten still shows `quorbel.zyx@example`.
    let needles = [
        "quorbel.zyx",
        secrets[1],
        secrets[2],
        secrets[3],
        secrets[4],
    ];
    let found_in_files = || {
        let mut found = Vec::new();
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_default();
            for s in needles {
                if bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                    found.push(format!("{s:?} in {}", f.display()));
                }
            }
        }
        found
    };
    // As the background checkpointer of a running server would, write the
    // WAL back first: the person's data is then in the database file
    // itself, where only secure_delete clears what an update frees.
    assert!(app.db.truncate_wal().await.unwrap());
    // The search sees them before: it is a real test of the files.
    let before = found_in_files();
    for s in needles {
        let in_db = format!("{s:?} in {}", files[0].display());
        assert!(
            before.contains(&in_db),
            "{s:?} not found in the database file before the erasure: {before:?}"
        );
    }

    let admin = app.token("admin").await;
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/supporters/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let after = found_in_files();
    assert!(after.is_empty(), "still on disk after erasure: {after:?}");

    // The server still runs and still counts the signature.
    let counts: Value = app
        .client
        .get(format!("{}/petitions/erase-all/counts.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["petition"], petition["slug"]);
}
