//! Late reports from a real mail server (contract §8): Debian's Postfix,
//! started by the test with a configuration directory of its own, relays
//! Clarion's alert to the test SMTP receiver, which refuses some
//! recipients; Postfix writes the bounces itself and delivers them to
//! `clarion bounces ingest -` through its pipe transport, as an operator
//! would wire it.
//!
//! Needs root (Postfix's master runs as root and its pipe runs the command
//! as `nobody`). Elsewhere it is skipped with a note, unless
//! `CLARION_TEST_REQUIRE_POSTFIX` is set (as in CI), where that fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{clarion_bin, spawn_app_with, Backend, Person, TestApp};
use crate::smtp_sink::Behaviour;

backend_tests!(postfix_bounces_refused_addresses_back_through_its_pipe_transport);

const POSTFIX: &str = "/usr/sbin/postfix";
/// The domain of Clarion's From address (where bounces go without VERP)…
const FROM_DOMAIN: &str = "clarion.test";
/// …and the bounce domain of the VERP return path.
const BOUNCE_DOMAIN: &str = "bounces.clarion.test";

/// Whether this test can run here; if not, why.
fn unavailable() -> Option<String> {
    if !Path::new(POSTFIX).exists() {
        return Some(format!(
            "{POSTFIX} is not installed (apt-get install postfix)"
        ));
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some("it must run as root (Postfix's master and its pipe user)".into());
    }
    None
}

/// A Postfix instance with its own configuration, queue and log, stopped
/// when dropped.
struct Postfix {
    dir: tempfile::TempDir,
}

impl Postfix {
    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.dir.path())
            .arg("stop")
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The configuration the README's Deliverability section quotes: relay to
/// `relay_port`, and hand mail for the bounce domain and the From domain to
/// `clarion bounces ingest -` through the pipe transport.
fn main_cf(dir: &Path, relay_port: u16) -> String {
    let d = dir.display();
    format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.{FROM_DOMAIN}
mydomain = {FROM_DOMAIN}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{relay_port}
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
transport_maps = inline:{{ {BOUNCE_DOMAIN}=clarionpipe: }}
clarionpipe_destination_recipient_limit = 1
delay_warning_time = 0
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
"
    )
}

/// Postfix's services, none chrooted, and the pipe to Clarion.
fn master_cf(smtpd_port: u16, clarion: &Path, database_url: &str, key_dir: &str) -> String {
    format!(
        "127.0.0.1:{smtpd_port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
clarionpipe unix - n n - - pipe flags=q user=nobody
  argv=/usr/bin/env CLARION_DATABASE_URL={database_url} CLARION_KEY_DIR={key_dir} CLARION_LOG=warn {} bounces ingest -
",
        clarion.display()
    )
}

/// Writes the configuration into a fresh folder and starts Postfix on it.
fn start_postfix(smtpd_port: u16, relay_port: u16, database_url: &str, key_dir: &str) -> Postfix {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // Postfix's daemons (user postfix) walk into the queue; the pipe
    // (user nobody) runs the binary: neither may depend on where this
    // checkout lives, so the binary is copied in.
    set_mode(&path, 0o755);
    std::fs::create_dir(path.join("queue")).unwrap();
    std::fs::create_dir(path.join("data")).unwrap();
    run(Command::new("chown").arg("postfix").arg(path.join("data")));
    let clarion: PathBuf = path.join("clarion");
    std::fs::copy(clarion_bin(), &clarion).unwrap();
    set_mode(&clarion, 0o755);
    std::fs::write(path.join("main.cf"), main_cf(&path, relay_port)).unwrap();
    std::fs::write(
        path.join("master.cf"),
        master_cf(smtpd_port, &clarion, database_url, key_dir),
    )
    .unwrap();
    let postfix = Postfix { dir };
    let out = Command::new(POSTFIX)
        .arg("-c")
        .arg(&path)
        .arg("start")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "postfix start failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        postfix.maillog()
    );
    postfix
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The reply class of the delivery to `email`.
async fn reply_class(app: &TestApp, email: &str) -> Option<String> {
    use clarion::db::schema::{deliveries, supporters};
    use diesel::prelude::*;
    let email = email.to_string();
    app.db
        .run(move |c| {
            supporters::table
                .inner_join(
                    deliveries::table.on(deliveries::supporter_id.eq(supporters::id.nullable())),
                )
                .filter(
                    supporters::email_hash.eq(clarion::db::supporters::email_hash(&email).unwrap()),
                )
                .select(deliveries::reply_class)
                .first::<Option<String>>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap()
}

async fn postfix_bounces_refused_addresses_back_through_its_pipe_transport(b: Backend) {
    if let Some(why) = unavailable() {
        if std::env::var("CLARION_TEST_REQUIRE_POSTFIX").is_ok() {
            panic!("CLARION_TEST_REQUIRE_POSTFIX is set but the Postfix test cannot run: {why}");
        }
        eprintln!("!!! Postfix test SKIPPED: {why}");
        return;
    }
    let smtpd_port = free_port();
    let mut relay_port = 0;
    let app = spawn_app_with(b, |raw| {
        relay_port = raw
            .smtp_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the receiver's port");
        raw.smtp_url = format!("smtp://127.0.0.1:{smtpd_port}");
        raw.mail_from = format!("Clarion <alerts@{FROM_DOMAIN}>");
        // With VERP (CLARION_BOUNCE_DOMAIN) the bounces come back to
        // bounces+…@BOUNCE_DOMAIN, and each names its delivery.
        raw.bounce_domain = BOUNCE_DOMAIN.to_string();
    })
    .await;
    assert_eq!(app.smtp.port(), relay_port);
    // The pipe runs as nobody: it must read the key and write the database.
    run(Command::new("chown")
        .arg("-R")
        .arg("nobody:nogroup")
        .arg(app.dir.path()));
    let key_dir = app.dir.path().display().to_string();
    let postfix = start_postfix(smtpd_port, relay_port, &app.database_url, &key_dir);
    app.smtp.set_behaviour(Behaviour::Replies(vec![
        (
            "gone".into(),
            "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local recipient table"
                .into(),
        ),
        (
            "blocked".into(),
            "550 5.7.1 Our system has detected that this message is likely unsolicited mail".into(),
        ),
    ]));
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "askarov").await;
    let list = app
        .seed_list(
            "l",
            &[
                Person::active("gone1@example.com", "G"),
                Person::active("gone2@example.net", "G"),
                Person::active("blocked@example.com", "B"),
                Person::active("fine@example.com", "F"),
            ],
        )
        .await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [list],
                   "subject": "Hearing on 11 July: act now", "body_markdown": "Please act."}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&format!("/api/v1/alerts/{id}/send"), &token, json!({}))
        .await;
    assert_eq!(r.status(), 202);
    // Postfix takes all four; the receiver refuses three; Postfix's
    // bounces come back through the pipe. A generous deadline, checked by
    // condition, not by speed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let done = app.supporter_status("gone1@example.com").await == "bounced"
            && app.supporter_status("gone2@example.net").await == "bounced"
            && reply_class(&app, "blocked@example.com").await.as_deref() == Some("policy");
        if done {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the bounces did not come back through the pipe; Postfix's log:\n{}",
                postfix.maillog()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.supporter_status("blocked@example.com").await, "active");
    assert_eq!(app.supporter_status("fine@example.com").await, "active");
    assert_eq!(
        reply_class(&app, "gone1@example.com").await.as_deref(),
        Some("mailbox_gone")
    );
    assert_eq!(reply_class(&app, "fine@example.com").await, None);
    let a = app.alert(&token, &id).await;
    assert_eq!(a["sent"], 4, "the relay took every message");
    assert_eq!(
        (a["bounced"].as_i64(), a["complaints"].as_i64()),
        (Some(2), Some(0))
    );
    let delivered: Vec<String> = app
        .smtp
        .messages()
        .iter()
        .map(|m| m.rcpt_to[0].clone())
        .collect();
    assert_eq!(delivered, ["fine@example.com"]);
    let sender = &app.smtp.messages()[0].mail_from;
    assert!(
        sender.starts_with("bounces+") && sender.ends_with(&format!("@{BOUNCE_DOMAIN}")),
        "the relay passed on the VERP return path: {sender}"
    );
    let log = postfix.maillog();
    assert!(
        log.contains("relay=clarionpipe") && log.contains("status=sent"),
        "the bounces went through the pipe: {log}"
    );
}
