//! Several nodes (contract §12), with the real binary on one PostgreSQL
//! database: a `clarion worker` alone woken by NOTIFY, and two `clarion
//! serve` nodes and a worker behind Debian's nginx running
//! `deploy/nginx/clarion.conf`, checked through the proxy. PostgreSQL only:
//! on SQLite one process serves and sends. nginx is required when
//! `CLARION_TEST_REQUIRE_NGINX=1` (as in CI), else skipped with a message.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, spawn_app_with, wait_until, Backend};
use crate::public_support::form;
use crate::smtp_sink::SmtpSink;

const NGINX: &str = "/usr/sbin/nginx";
const SECRET: &str = "0123456789abcdef0123456789abcdef-nodes";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, passed or failed.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The environment every process of the service shares.
struct Service {
    env: Vec<(String, String)>,
    dir: PathBuf,
}

impl Service {
    fn new(database_url: &str, smtp_url: &str, dir: &Path, extra: &[(&str, String)]) -> Service {
        let mut env: Vec<(String, String)> = vec![
            ("CLARION_DATABASE_URL".into(), database_url.into()),
            ("CLARION_SMTP_URL".into(), smtp_url.into()),
            ("CLARION_SECRET_KEY".into(), SECRET.into()),
            ("CLARION_KEY_DIR".into(), dir.display().to_string()),
            ("CLARION_LOG".into(), "warn,clarion::db::listen=info".into()),
            ("CLARION_RETRY_BASE_MS".into(), "50".into()),
            ("CLARION_DATABASE_POOL_SIZE".into(), "4".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Service {
            env,
            dir: dir.to_path_buf(),
        }
    }

    fn spawn(&self, args: &[&str], extra: &[(&str, String)], log: &str) -> Proc {
        let log = std::fs::File::create(self.dir.join(log)).unwrap();
        Proc(
            Command::new(clarion_bin())
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
                .env_remove("CLARION_CONFIG")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("clarion starts"),
        )
    }

    fn token(&self) -> String {
        let out = Command::new(clarion_bin())
            .args(["token", "create", "--name", "nodes", "--role", "campaigner"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("CLARION_CONFIG")
            .output()
            .unwrap();
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
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

async fn wait_healthy(port: u16) {
    let client = reqwest::Client::new();
    wait_until("a node to answer", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
}

/// A client of the public site from its own loopback address (127.0.0.N),
/// which nginx passes on as X-Forwarded-For.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn api(client: &reqwest::Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// `clarion_http_requests_total` of one node for `endpoint`, by status.
async fn requests_by_status(port: u16, endpoint: &str) -> HashMap<String, f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut by = HashMap::new();
    let needle = format!("endpoint=\"{endpoint}\"");
    for line in text.lines() {
        if !line.starts_with("clarion_http_requests_total{") || !line.contains(&needle) {
            continue;
        }
        let status = line
            .split("status=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *by.entry(status).or_insert(0.0) += n;
    }
    by
}

/// The confirmation tokens mailed to `email` (one per mail).
fn tokens_for(sink: &SmtpSink, base_url: &str) -> HashMap<String, Vec<String>> {
    let prefix = format!("{base_url}/confirm/");
    let mut by = HashMap::<String, Vec<String>>::new();
    for m in sink.messages() {
        let Some(token) = m
            .text_parts()
            .into_iter()
            .find(|(t, _)| t == "text/plain")
            .and_then(|(_, text)| {
                text.split_whitespace()
                    .find_map(|w| w.strip_prefix(&prefix))
                    .map(str::to_string)
            })
        else {
            continue;
        };
        for r in &m.rcpt_to {
            by.entry(r.clone()).or_default().push(token.clone());
        }
    }
    by
}

fn per_recipient(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for mail in sink.messages() {
        for r in mail.rcpt_to {
            *m.entry(r).or_insert(0) += 1;
        }
    }
    m
}

/// Emails of the signatures stored for petition `slug`.
/// `key_dir` holds the service's data keys (addresses are sealed at rest).
async fn stored_emails(
    database_url: &str,
    key_dir: &std::path::Path,
    slug: &str,
) -> HashSet<String> {
    let keys = clarion::vault::DataKeys::from_file(key_dir.join("data.key"), true).unwrap();
    let db = clarion::db::Db::connect(database_url, 1)
        .unwrap()
        .with_data_keys(std::sync::Arc::new(keys));
    let slug = slug.to_string();
    db.run(move |c| {
        use clarion::db::schema::{petitions, signatures, supporters};
        use diesel::prelude::*;
        signatures::table
            .inner_join(petitions::table)
            .inner_join(supporters::table)
            .filter(petitions::slug.eq(slug))
            .select(supporters::email)
            .load::<Option<String>>(c)?
            .into_iter()
            .map(clarion::vault::open_opt)
            .collect::<Result<Vec<_>, _>>()
            .map_err(clarion::db::DbError::from)
    })
    .await
    .unwrap()
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------

backend_tests!(two_processes_on_one_database_share_the_signing_limit_only_on_postgresql);

/// Two applications on one database, a client alternating between them:
/// on PostgreSQL they admit `sign_rate_per_ip` between them; on SQLite
/// (one process per database by design) each keeps its own count.
async fn two_processes_on_one_database_share_the_signing_limit_only_on_postgresql(b: Backend) {
    let per_minute = 3;
    let (admitted, refused, stored) =
        sign_alternating(b.clone(), per_minute, per_minute * 2 + 2).await;
    let expected = match b {
        Backend::Postgres(_) => per_minute,
        Backend::Sqlite => per_minute * 2,
    };
    assert_eq!(admitted, expected, "refused with waits {refused:?}");
    assert!(refused.iter().all(|w| (1..=120).contains(w)), "{refused:?}");
    assert_eq!(stored, i64::from(expected));
}

/// With a limit of 64 a minute each process takes blocks of up to four
/// signatures ahead (leases): between them they never admit more than the
/// limit, and lose at most what each holds unspent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_taking_leases_never_admit_more_than_the_limit_between_them() {
    let Some(b) = Backend::postgres() else {
        eprintln!("!!! nodes: PostgreSQL only (on SQLite one process keeps its limit)");
        return;
    };
    let per_minute = 64;
    let (admitted, refused, stored) = sign_alternating(b, per_minute, 100).await;
    // A block is at most per_minute / 16 = 4; each process holds at most one.
    assert!(
        (per_minute - 2 * 4..=per_minute).contains(&admitted),
        "admitted {admitted} of a limit of {per_minute}"
    );
    assert_eq!(refused.len() as u32, 100 - admitted);
    assert!(refused.iter().all(|w| (1..=120).contains(w)), "{refused:?}");
    assert_eq!(
        stored,
        i64::from(admitted),
        "each admitted signature stored once"
    );
}

/// Starts two processes on one database with a limit of `per_minute` and
/// signs `n` times from one client, alternating between them. Returns how
/// many were admitted, the waits of those refused, and the signatures stored.
async fn sign_alternating(b: Backend, per_minute: u32, n: u32) -> (u32, Vec<u64>, i64) {
    let first = spawn_app_with(b, |raw| raw.sign_rate_per_ip = per_minute).await;
    first.open_petition("free-them", json!({})).await;
    let mut settings = first.settings.clone();
    settings.http_addr = "127.0.0.1:0".parse().unwrap();
    let second = clarion::startup::Application::build(
        settings,
        clarion::startup::Options {
            demo: false,
            worker: false,
        },
    )
    .await
    .expect("a second process on the same database");
    let second_address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());

    let mut admitted = 0;
    let mut refused = vec![];
    for i in 0..n {
        let base = if i % 2 == 0 {
            &first.address
        } else {
            &second_address
        };
        let r = first
            .client
            .post(format!("{base}/petitions/free-them/signatures"))
            .form(&form(&format!("p{i}@example.org")))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            303 => admitted += 1,
            429 => refused.push(
                crate::public_support::header(&r, "retry-after")
                    .parse::<u64>()
                    .expect("Retry-After in seconds"),
            ),
            other => panic!("signature {i}: {other}"),
        }
    }
    (admitted, refused, first.signature_count().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_alone_wakes_at_once_for_mail_a_serve_node_queues() {
    let Some(b) = Backend::postgres() else {
        eprintln!("!!! nodes: PostgreSQL only (on SQLite one process serves and sends)");
        return;
    };
    let sink = SmtpSink::start().await;
    let (url, dir) = fresh_database(&b).await;
    let port = free_port();
    let service = Service::new(&url, &sink.url(), dir.path(), &[]);
    // The web node sends nothing itself; the worker looks at the queue on
    // its own only once a minute.
    let _serve = service.spawn(
        &["serve"],
        &[
            ("CLARION_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("CLARION_SERVE_WORKER", "false".into()),
        ],
        "serve.log",
    );
    wait_healthy(port).await;
    let poll = Duration::from_secs(60);
    let _worker = service.spawn(
        &["worker"],
        &[("CLARION_WORKER_POLL_MS", poll.as_millis().to_string())],
        "worker.log",
    );
    let listening = |n: usize| {
        let service = &service;
        async move {
            wait_until("the worker to listen", Duration::from_secs(30), || async {
                (service
                    .log("worker.log")
                    .matches("listening for queued mail")
                    .count()
                    >= n)
                    .then_some(())
            })
            .await
        }
    };
    listening(1).await;

    let base = format!("http://127.0.0.1:{port}");
    let token = service.token();
    let client = client_from("127.0.0.1");
    let case = api(
        &client,
        &base,
        &token,
        "/api/v1/cases",
        json!({"slug": "wake", "title": "A case", "summary": "Why."}),
    )
    .await;
    api(
        &client,
        &base,
        &token,
        "/api/v1/petitions",
        json!({"case_id": case["id"], "slug": "wake", "title": "Wake", "target": "T", "body": "B"}),
    )
    .await;

    let mut waits = vec![];
    for round in 0..2 {
        if round == 1 {
            // The listening connection drops: the worker connects again.
            let db = clarion::db::Db::connect(&url, 1).unwrap();
            db.run(|c| {
                use diesel::connection::SimpleConnection;
                c.batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = 'clarion-listen' AND pid <> pg_backend_pid()",
                )
                .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap();
            listening(2).await;
        }
        let started = Instant::now();
        let r = client
            .post(format!("{base}/petitions/wake/signatures"))
            .form(&form(&format!("wake{round}@example.org")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        sink.wait_for(round + 1, poll).await;
        waits.push(started.elapsed());
    }
    // Both mails came long before the worker would have looked by itself
    // (the second after its listening connection was cut).
    for w in &waits {
        assert!(
            *w < poll / 6,
            "mail waited {w:?} (poll {poll:?})\n{}",
            service.log("worker.log")
        );
    }
}

/// nginx with `deploy/nginx/clarion.conf`, its ports templated: its own
/// prefix, configuration and logs in `dir`.
struct Nginx {
    _proc: Proc,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, listen: u16, nodes: [u16; 2]) -> Nginx {
        let site = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/nginx/clarion.conf"
        ))
        .unwrap();
        let mut replaced = site.clone();
        for (from, to) in [
            ("listen 80;", format!("listen 127.0.0.1:{listen};")),
            (
                "server 127.0.0.1:8081 ",
                format!("server 127.0.0.1:{} ", nodes[0]),
            ),
            (
                "server 127.0.0.1:8082 ",
                format!("server 127.0.0.1:{} ", nodes[1]),
            ),
        ] {
            assert!(
                replaced.contains(from),
                "deploy/nginx/clarion.conf has `{from}`"
            );
            replaced = replaced.replace(from, &to);
        }
        let d = dir.display();
        std::fs::write(dir.join("clarion.conf"), replaced).unwrap();
        // As root, nginx's workers would run as nobody, who cannot write
        // the temp folders in a private test directory.
        let user = if is_root() { "user root;\n" } else { "" };
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn;\nevents {{ worker_connections 512; }}\n\
                 http {{\n  access_log {d}/access.log;\n\
                 client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n  include {d}/clarion.conf;\n}}\n"
            ),
        )
        .unwrap();
        let args = |extra: &[&str]| {
            let mut a = vec![
                "-p".to_string(),
                format!("{d}/"),
                "-c".into(),
                format!("{d}/nginx.conf"),
                "-e".into(),
                format!("{d}/error.log"),
            ];
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        let check = Command::new(NGINX).args(args(&["-t"])).output().unwrap();
        assert!(
            check.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let proc = Proc(
            Command::new(NGINX)
                .args(args(&[]))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts"),
        );
        Nginx {
            _proc: proc,
            dir: dir.to_path_buf(),
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// nginx present, or why not (a failure where it is required).
fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    if std::env::var("CLARION_TEST_REQUIRE_NGINX").is_ok_and(|v| v == "1") {
        panic!("CLARION_TEST_REQUIRE_NGINX=1 but {NGINX} is missing (apt-get install nginx)");
    }
    eprintln!("!!! nginx SKIPPED: {NGINX} not found (apt-get install nginx)");
    false
}

/// Signs petition `slug` through the proxy as `signers` clients of their
/// own addresses (127.0.0.`first_ip` …), `each` times each, all at once;
/// returns (email, status) of every answer.
async fn sign_through(
    proxy: String,
    slug: &str,
    first_ip: u8,
    signers: u8,
    each: usize,
) -> Vec<(String, u16)> {
    let mut tasks = vec![];
    for s in 0..signers {
        let ip = format!("127.0.0.{}", first_ip + s);
        let url = format!("{proxy}/petitions/{slug}/signatures");
        let slug = slug.to_string();
        tasks.push(tokio::spawn(async move {
            let client = client_from(&ip);
            let mut out = vec![];
            for i in 0..each {
                let email = format!("{slug}-{ip}-{i}@example.org");
                let status = match client.post(&url).form(&form(&email)).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                out.push((email, status));
            }
            out
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_nodes_and_a_worker_behind_nginx_behave_as_one_service() {
    let Some(b) = Backend::postgres() else {
        eprintln!("!!! nodes: PostgreSQL only (on SQLite one process serves and sends)");
        return;
    };
    if !nginx_available() {
        return;
    }
    let sink = SmtpSink::start().await;
    let (url, dir) = fresh_database(&b).await;
    let nginx_dir = tempfile::tempdir().unwrap();
    let (p1, p2, pn) = (free_port(), free_port(), free_port());
    let proxy = format!("http://127.0.0.1:{pn}");
    let per_minute = 5;
    let service = Service::new(
        &url,
        &sink.url(),
        dir.path(),
        &[
            ("CLARION_BASE_URL", proxy.clone()),
            ("CLARION_TRUSTED_PROXIES", "[\"127.0.0.1\"]".into()),
            ("CLARION_SIGN_RATE_PER_IP", per_minute.to_string()),
            // A killed node's claimed deliveries come back quickly.
            ("CLARION_LEASE_SECS", "2".into()),
            ("CLARION_SEND_CONCURRENCY", "2".into()),
            ("CLARION_SEND_RATE", "100".into()),
        ],
    );
    let node = |port: u16, log: &str| {
        service.spawn(
            &["serve"],
            &[("CLARION_HTTP_ADDR", format!("127.0.0.1:{port}"))],
            log,
        )
    };
    let mut node1 = node(p1, "node-1.log");
    wait_healthy(p1).await;
    let _node2 = node(p2, "node-2.log");
    let _worker = service.spawn(&["worker"], &[], "worker.log");
    wait_healthy(p2).await;
    let nginx = Nginx::start(nginx_dir.path(), pn, [p1, p2]);
    wait_until("nginx to answer", Duration::from_secs(20), || async {
        let r = reqwest::get(format!("{proxy}/healthz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let logs = || {
        format!(
            "--- node 1\n{}\n--- node 2\n{}\n--- worker\n{}\n--- nginx\n{}",
            service.log("node-1.log"),
            service.log("node-2.log"),
            service.log("worker.log"),
            nginx.error_log()
        )
    };

    // /metrics is not public; each node still serves it on its own port.
    let r = reqwest::get(format!("{proxy}/metrics")).await.unwrap();
    assert_eq!(r.status(), 404, "/metrics through the proxy");

    let token = service.token();
    let admin = client_from("127.0.0.2");
    let case = api(
        &admin,
        &proxy,
        &token,
        "/api/v1/cases",
        json!({"slug": "nodes", "title": "A case", "summary": "Why."}),
    )
    .await;
    for slug in ["many", "limit", "crash"] {
        api(
            &admin,
            &proxy,
            &token,
            "/api/v1/petitions",
            json!({"case_id": case["id"], "slug": slug, "title": "Free them", "target": "T", "body": "B"}),
        )
        .await;
    }

    // 1. Signing and confirming across both nodes: exact counts.
    let (signers, each) = (30u8, per_minute as usize);
    let answers = sign_through(proxy.clone(), "many", 10, signers, each).await;
    let n = signers as usize * each;
    assert!(
        answers.iter().all(|(_, s)| *s == 303),
        "every signature within the limit: {:?}\n{}",
        answers
            .iter()
            .filter(|(_, s)| *s != 303)
            .collect::<Vec<_>>(),
        logs()
    );
    sink.wait_for(n, Duration::from_secs(60)).await;
    let tokens = tokens_for(&sink, &proxy);
    assert_eq!(tokens.len(), n, "a confirmation mail for every signer");
    assert!(
        tokens.values().all(|t| t.len() == 1),
        "each confirmation mail went out once"
    );
    let confirmer = client_from("127.0.0.3");
    for t in tokens.values() {
        let r = confirmer
            .post(format!("{proxy}/confirm/{}", t[0]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "confirmed through the proxy");
    }
    wait_until(
        "the count to show every confirmation",
        Duration::from_secs(20),
        || async {
            let c: Value = reqwest::get(format!("{proxy}/petitions/many/counts.json"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (c["signatures"] == n as i64).then_some(())
        },
    )
    .await;
    for port in [p1, p2] {
        let by = requests_by_status(port, "/petitions/{slug}/signatures").await;
        assert!(
            by.get("303").copied().unwrap_or(0.0) > 0.0,
            "node {port} took signatures: {by:?}"
        );
    }

    // 2. The limit is shared: one client gets per_minute signatures in,
    // however its requests are spread over the nodes, and inventing an
    // X-Forwarded-For of its own does not help (nginx replaces it).
    let limited = client_from("127.0.0.200");
    let mut statuses = vec![];
    for i in 0..12 {
        let r = limited
            .post(format!("{proxy}/petitions/limit/signatures"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .form(&form(&format!("limited{i}@example.org")))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        per_minute as usize,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 429),
        "{statuses:?}"
    );
    for port in [p1, p2] {
        let by = requests_by_status(port, "/petitions/{slug}/signatures").await;
        assert!(
            by.get("429").copied().unwrap_or(0.0) > 0.0,
            "node {port} refused the client too: {by:?}"
        );
    }

    // 3. An alert to 150 people, sent by three processes: each once.
    let people = 150;
    let list_id = crate::helpers::seed_everyone(&url, people, "alert").await;
    let alert = api(
        &admin,
        &proxy,
        &token,
        "/api/v1/alerts",
        json!({"case_id": case["id"], "list_ids": [list_id], "subject": "Act now", "body_markdown": "Please act."}),
    )
    .await;
    let alert_id = alert["id"].as_str().unwrap().to_string();
    api(
        &admin,
        &proxy,
        &token,
        &format!("/api/v1/alerts/{alert_id}/send"),
        json!({}),
    )
    .await;
    let alerted = |sink: &SmtpSink| {
        per_recipient(sink)
            .into_iter()
            .filter(|(r, _)| r.starts_with("alert"))
            .collect::<HashMap<_, _>>()
    };
    wait_until("every alert message", Duration::from_secs(60), || async {
        (alerted(&sink).len() == people).then_some(())
    })
    .await;
    let status = wait_until("the alert to finish", Duration::from_secs(30), || async {
        let a: Value = admin
            .get(format!("{proxy}/api/v1/alerts/{alert_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (a["status"] == "sent").then_some(a)
    })
    .await;
    assert_eq!(status["sent"], people as i64);
    let counts = alerted(&sink);
    assert!(
        counts.values().all(|c| *c == 1),
        "every alert message went out exactly once: {:?}",
        counts.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );

    // 4. A node killed mid-run loses nothing: every signature answered 303
    // is stored, and every stored signer gets the confirmation mail.
    let load = tokio::spawn(sign_through(proxy.clone(), "crash", 50, 20, 5));
    wait_until("signing under way", Duration::from_secs(30), || async {
        let by = requests_by_status(p1, "/petitions/{slug}/signatures").await;
        let done = stored_emails(&url, dir.path(), "crash").await.len();
        (done >= 20 && by.get("303").copied().unwrap_or(0.0) > 0.0).then_some(())
    })
    .await;
    node1.0.kill().unwrap(); // SIGKILL
    node1.0.wait().unwrap();
    let at_kill = stored_emails(&url, dir.path(), "crash").await.len();
    assert!(
        at_kill < 100,
        "the node died mid-run ({at_kill} of 100 stored)"
    );
    let answers = load.await.unwrap();
    let accepted: HashSet<String> = answers
        .iter()
        .filter(|(_, s)| *s == 303)
        .map(|(e, _)| e.clone())
        .collect();
    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, s)| *s != 303 && *s != 502)
        .collect();
    assert!(
        failed.is_empty(),
        "only requests in flight at the kill may fail: {failed:?}"
    );
    // Requests in flight on the killed node, or sent on nginx's kept-alive
    // connections to it, get 502 (a POST that reached a node is never sent
    // twice); after that the proxy sends everything to the live node.
    let after = sign_through(proxy.clone(), "crash", 80, 10, 2).await;
    assert!(
        after.iter().all(|(_, s)| *s == 303),
        "after the kill every signature goes to the live node: {after:?}"
    );
    let accepted: HashSet<String> = accepted
        .into_iter()
        .chain(after.into_iter().map(|(e, _)| e))
        .collect();
    let stored = stored_emails(&url, dir.path(), "crash").await;
    let lost: Vec<_> = accepted.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "signatures answered 303 but not stored: {lost:?}"
    );
    wait_until(
        "a confirmation mail for every stored signature",
        Duration::from_secs(60),
        || async {
            let mailed = tokens_for(&sink, &proxy);
            stored.iter().all(|e| mailed.contains_key(e)).then_some(())
        },
    )
    .await;
}

/// `systemd-analyze verify` accepts deploy/systemd's units (an instance of
/// the template, the binary path pointed at the one under test). Skipped
/// with a message where systemd-analyze is missing.
#[test]
fn the_service_units_pass_systemd_analyze_verify() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(analyze) = analyze else {
        eprintln!("!!! systemd-analyze SKIPPED: not installed (apt-get install systemd)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    let mut paths = vec![];
    for (from, to) in [
        ("clarion@.service", "clarion@8081.service"),
        ("clarion-worker.service", "clarion-worker.service"),
    ] {
        let text = std::fs::read_to_string(units.join(from)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/clarion "), "{from}");
        let text = text.replace("/usr/local/bin/clarion", clarion_bin());
        let path = dir.path().join(to);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let out = Command::new(analyze)
        .arg("verify")
        .args(&paths)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    // It also warns without failing (unknown keys, bad values): none here.
    let about_ours: Vec<&str> = said.lines().filter(|l| l.contains("clarion")).collect();
    assert!(about_ours.is_empty(), "systemd-analyze verify: {said}");
}
