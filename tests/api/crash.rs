//! The real binary under process-level faults: kill -9 mid-send, SIGTERM
//! mid-send, and several worker processes on one PostgreSQL database.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{clarion_bin, fresh_database, wait_until, Backend};
use crate::smtp_sink::SmtpSink;

backend_tests!(
    after_kill_9_mid_send_and_a_restart_nobody_is_skipped,
    sigterm_finishes_in_flight_messages_and_releases_the_rest,
);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One clarion process with its environment.
/// A clarion process that is killed when the test ends, failed or not, so
/// that a failed assertion leaves no server running.
struct Proc(Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Clarion {
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
}

impl Clarion {
    fn new(
        database_url: &str,
        smtp_url: &str,
        port: u16,
        dir: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Clarion {
        let mut env: Vec<(String, String)> = vec![
            ("CLARION_DATABASE_URL".into(), database_url.into()),
            ("CLARION_SMTP_URL".into(), smtp_url.into()),
            ("CLARION_HTTP_ADDR".into(), format!("127.0.0.1:{port}")),
            ("CLARION_LOG".into(), "warn".into()),
            ("CLARION_RETRY_BASE_MS".into(), "50".into()),
            (
                "CLARION_SECRET_KEY".into(),
                "0123456789abcdef0123456789abcdef-test".into(),
            ),
        ];
        for (k, v) in extra {
            env.push((k.to_string(), v.to_string()));
        }
        Clarion {
            env,
            dir: dir.to_path_buf(),
        }
    }

    fn spawn(&self, args: &[&str], log: &str) -> Proc {
        let log = std::fs::File::create(self.dir.join(log)).unwrap();
        Proc(
            Command::new(clarion_bin())
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env_remove("CLARION_CONFIG")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("clarion starts"),
        )
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(clarion_bin())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

async fn wait_healthy(port: u16) {
    let client = reqwest::Client::new();
    wait_until("the server to answer", Duration::from_secs(30), || {
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

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
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
        r.json().await.unwrap()
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
}

/// Seeds `n` supporters in one list straight into the database and creates a
/// draft alert to it through the API; returns the alert id.
async fn prepare_alert(database_url: &str, api: &Api, n: usize) -> String {
    let list_id = crate::helpers::seed_everyone(database_url, n, "s").await;
    let case = api
        .post(
            "/api/v1/cases",
            json!({"slug": "crash-case", "title": "A case", "summary": "Why."}),
        )
        .await;
    let alert = api
        .post(
            "/api/v1/alerts",
            json!({"case_id": case["id"], "list_ids": [list_id], "subject": "Act now", "body_markdown": "Please act."}),
        )
        .await;
    alert["id"].as_str().unwrap().to_string()
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

async fn setup(
    b: &Backend,
    extra: &[(&str, &str)],
) -> (Clarion, Api, SmtpSink, String, tempfile::TempDir, u16) {
    let sink = SmtpSink::start().await;
    let (url, dir) = fresh_database(b).await;
    let port = free_port();
    let clarion = Clarion::new(&url, &sink.url(), port, dir.path(), extra);
    let c2 = Clarion {
        env: clarion.env.clone(),
        dir: clarion.dir.clone(),
    };
    let out = tokio::task::spawn_blocking(move || {
        c2.run(&["token", "create", "--name", "t", "--role", "campaigner"])
    })
    .await
    .unwrap();
    let token = out.lines().last().unwrap().to_string();
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        token,
        client: reqwest::Client::new(),
    };
    (clarion, api, sink, url, dir, port)
}

async fn after_kill_9_mid_send_and_a_restart_nobody_is_skipped(b: Backend) {
    let n = 300;
    let concurrency = 2;
    let (clarion, api, sink, url, _dir, port) = setup(
        &b,
        &[
            ("CLARION_SEND_RATE", "150"),
            ("CLARION_SEND_CONCURRENCY", "2"),
            ("CLARION_LEASE_SECS", "1"),
        ],
    )
    .await;
    let mut child = clarion.spawn(&["serve"], "serve-1.log");
    wait_healthy(port).await;
    let id = prepare_alert(&url, &api, n).await;
    api.post(&format!("/api/v1/alerts/{id}/send"), json!({}))
        .await;
    sink.wait_for(60, Duration::from_secs(30)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = sink.messages().len();
    assert!(before < n, "the crash came mid-send ({before} of {n})");

    let mut child = clarion.spawn(&["serve"], "serve-2.log");
    wait_healthy(port).await;
    wait_until(
        "every recipient to get the alert",
        Duration::from_secs(60),
        || async { (per_recipient(&sink).len() == n).then_some(()) },
    )
    .await;
    let a = wait_until("the alert to finish", Duration::from_secs(30), || async {
        let a = api.get(&format!("/api/v1/alerts/{id}")).await;
        (a["status"] == "sent").then_some(a)
    })
    .await;
    assert_eq!(a["sent"], n as i64);
    let counts = per_recipient(&sink);
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    // Only messages in flight at the crash may repeat: at most one per
    // connection being written plus those accepted but not yet recorded.
    let logs = |f: &str| std::fs::read_to_string(_dir.path().join(f)).unwrap_or_default();
    assert!(
        duplicates <= concurrency * 4,
        "{duplicates} duplicates (sink had {before} before the restart)\n--- first run\n{}\n--- second run\n{}",
        logs("serve-1.log"),
        logs("serve-2.log")
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn sigterm_finishes_in_flight_messages_and_releases_the_rest(b: Backend) {
    let n = 200;
    let (clarion, api, sink, url, _dir, port) = setup(
        &b,
        &[
            ("CLARION_SEND_RATE", "100"),
            ("CLARION_SEND_CONCURRENCY", "2"),
        ],
    )
    .await;
    let mut child = clarion.spawn(&["serve"], "serve-1.log");
    wait_healthy(port).await;
    let id = prepare_alert(&url, &api, n).await;
    api.post(&format!("/api/v1/alerts/{id}/send"), json!({}))
        .await;
    sink.wait_for(20, Duration::from_secs(30)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");
    let delivered = sink.messages().len();
    assert!(delivered < n);

    // Every lease was released and every message sent was recorded.
    let db = clarion::db::Db::connect(&url, 1).unwrap();
    let (sending, sent): (i64, i64) = db
        .run(|c| {
            use clarion::db::schema::deliveries::dsl::*;
            use diesel::prelude::*;
            let sending: i64 = deliveries
                .filter(status.eq("sending"))
                .count()
                .get_result(c)?;
            let sent: i64 = deliveries.filter(status.eq("sent")).count().get_result(c)?;
            Ok::<_, clarion::db::DbError>((sending, sent))
        })
        .await
        .unwrap();
    assert_eq!(sending, 0, "no lease left behind");
    assert_eq!(sent as usize, delivered, "every accepted message recorded");

    let mut child = clarion.spawn(&["serve"], "serve-2.log");
    wait_healthy(port).await;
    wait_until(
        "the rest to be delivered",
        Duration::from_secs(60),
        || async { (sink.messages().len() >= n).then_some(()) },
    )
    .await;
    let counts = per_recipient(&sink);
    assert_eq!(counts.len(), n);
    assert!(
        counts.values().all(|c| *c == 1),
        "a graceful stop duplicates nothing"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_postgresql_deliver_each_message_once() {
    let Some(b) = Backend::postgres() else { return };
    let n = 400;
    // Paced, so that a busy machine starting one process late does not let
    // another send everything before it claims anything.
    let (clarion, api, sink, url, _dir, port) = setup(
        &b,
        &[
            ("CLARION_SEND_CONCURRENCY", "4"),
            ("CLARION_SEND_RATE", "150"),
        ],
    )
    .await;
    let mut serve = clarion.spawn(&["serve"], "serve.log");
    wait_healthy(port).await;
    let mut w1 = clarion.spawn(&["worker"], "worker-1.log");
    let mut w2 = clarion.spawn(&["worker"], "worker-2.log");
    let id = prepare_alert(&url, &api, n).await;
    api.post(&format!("/api/v1/alerts/{id}/send"), json!({}))
        .await;
    sink.wait_for(n, Duration::from_secs(60)).await;
    let a = wait_until("the alert to finish", Duration::from_secs(30), || async {
        let a = api.get(&format!("/api/v1/alerts/{id}")).await;
        (a["status"] == "sent").then_some(a)
    })
    .await;
    assert_eq!(a["sent"], n as i64);
    let counts = per_recipient(&sink);
    assert_eq!(counts.len(), n);
    assert!(
        counts.values().all(|c| *c == 1),
        "each message exactly once"
    );
    // More than one process did part of the work.
    let db = clarion::db::Db::connect(&url, 1).unwrap();
    let senders: Vec<Option<String>> = db
        .run(|c| {
            use clarion::db::schema::deliveries::dsl::*;
            use diesel::prelude::*;
            deliveries
                .filter(status.eq("sent"))
                .select(locked_by)
                .distinct()
                .load::<Option<String>>(c)
                .map_err(clarion::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(senders.len() >= 2, "work was shared: {senders:?}");
    for c in [&mut serve, &mut w1, &mut w2] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
