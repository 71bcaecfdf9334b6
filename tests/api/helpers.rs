//! Test harness: `spawn_app` starts the real `Application` on a random port
//! with its own database (a temp SQLite file, or a fresh PostgreSQL schema)
//! and its own SMTP receiver. Logs only when `TEST_LOG` is set.

use std::sync::Once;

use clarion::config::{RawSettings, Settings};
use clarion::startup::{Application, Options};
use reqwest::{Method, Response};
use serde_json::Value;
use tempfile::TempDir;

use crate::smtp_sink::SmtpSink;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// The admin URL of a PostgreSQL server; each app gets a schema of its own.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend named by `CLARION_TEST_PG_URL`. Without it the
    /// PostgreSQL half of each test is skipped, loudly, unless
    /// `CLARION_TEST_REQUIRE_PG` is set (as in CI), where that is a failure.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("CLARION_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                if std::env::var("CLARION_TEST_REQUIRE_PG").is_ok() {
                    panic!("CLARION_TEST_REQUIRE_PG is set but CLARION_TEST_PG_URL is not");
                }
                eprintln!("!!! PostgreSQL SKIPPED: set CLARION_TEST_PG_URL to run this test on PostgreSQL");
                None
            }
        }
    }
}

/// Generates one `#[tokio::test]` per backend for each named test function
/// `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(b) = $crate::helpers::Backend::postgres() {
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}

static TRACING: Once = Once::new();

#[allow(dead_code)] // fields used by later feature tests
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub database_url: String,
    pub client: reqwest::Client,
    pub smtp: SmtpSink,
    pub settings: Settings,
    pub db: clarion::db::Db,
    pub dir: TempDir,
}

/// A fresh database URL for `backend`, and the temp folder that holds it.
pub async fn fresh_database(backend: &Backend) -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("clarion.db").display()),
        Backend::Postgres(admin) => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = admin.clone();
            let s = schema.clone();
            tokio::task::spawn_blocking(move || {
                use diesel::connection::SimpleConnection;
                use diesel::Connection;
                let mut c = diesel::pg::PgConnection::establish(&admin)
                    .expect("connect to test PostgreSQL");
                c.batch_execute(&format!("CREATE SCHEMA {s}"))
                    .expect("create schema");
            })
            .await
            .unwrap();
            let sep = if admin_has_query(backend) { '&' } else { '?' };
            format!("{}{sep}options=-csearch_path%3D{schema}", pg_admin(backend))
        }
    };
    (url, dir)
}

fn pg_admin(b: &Backend) -> &str {
    match b {
        Backend::Postgres(u) => u,
        Backend::Sqlite => unreachable!(),
    }
}

fn admin_has_query(b: &Backend) -> bool {
    pg_admin(b).contains('?')
}

/// Settings for a test app: random port, its own database and SMTP sink,
/// fast retries, no per-IP limit unless a test sets one.
pub fn test_settings(database_url: &str, smtp_url: &str, dir: &TempDir) -> RawSettings {
    let mut raw = Settings::defaults();
    raw.database_url = database_url.to_string();
    raw.http_addr = "127.0.0.1:0".into();
    raw.smtp_url = smtp_url.to_string();
    raw.outbox_dir = dir.path().join("outbox").display().to_string();
    // Each app's key file in its own folder (with PostgreSQL it would be
    // ./data/, shared by every test).
    raw.key_dir = dir.path().display().to_string();
    raw.retry_base_ms = 50;
    raw.sign_rate_per_ip = 0;
    raw.smtp_timeout_secs = 5;
    raw
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut RawSettings)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            clarion::telemetry::init("debug", clarion::config::LogFormat::Text);
        }
    });
    let smtp = SmtpSink::start().await;
    let (database_url, dir) = fresh_database(&backend).await;
    let mut raw = test_settings(&database_url, &smtp.url(), &dir);
    customise(&mut raw);
    let settings = Settings::from_raw(raw).expect("test settings are valid");
    let app = Application::build(
        settings.clone(),
        Options {
            demo: false,
            worker: true,
        },
    )
    .await
    .expect("application builds");
    let port = app.port();
    let db = app.state().db.clone();
    let settings = app.state().settings.as_ref().clone();
    assert_eq!(
        settings.base_url,
        format!("http://127.0.0.1:{port}"),
        "links name the bound port"
    );
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        smtp,
        settings,
        db,
        dir,
    }
}

impl TestApp {
    /// Creates an API token with `role` straight in the database.
    pub async fn token(&self, role: &str) -> String {
        let token = clarion::security::random_token();
        let hash = clarion::security::hash_token(&token);
        let role = role.to_string();
        self.db
            .run(move |c| clarion::db::tokens::create(c, "test", &role, &hash).map(|_| ()))
            .await
            .expect("token stored");
        token
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    /// Erases the supporter with address `email` (`DELETE /supporters/{id}`,
    /// an admin's token).
    pub async fn erase_supporter(&self, email: &str, admin: &str) {
        let r = self
            .get(&format!("/api/v1/supporters?email={email}"), admin)
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let id = v["items"][0]["id"]
            .as_str()
            .or(v["id"].as_str())
            .expect("a supporter with that address")
            .to_string();
        let r = self
            .request(
                Method::DELETE,
                &format!("/api/v1/supporters/{id}"),
                Some(admin),
                None,
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Creates a case and returns its JSON.
    pub async fn create_case(&self, token: &str, slug: &str) -> Value {
        let r = self
            .post(
                "/api/v1/cases",
                token,
                serde_json::json!({"slug": slug, "title": "A case", "summary": "Why it matters."}),
            )
            .await;
        assert_eq!(r.status(), 201, "case created");
        r.json().await.unwrap()
    }

    /// Creates a petition (open unless `extra` says otherwise) and returns its JSON.
    pub async fn create_petition(
        &self,
        token: &str,
        case_id: &str,
        slug: &str,
        extra: Value,
    ) -> Value {
        let mut body = serde_json::json!({
            "case_id": case_id, "slug": slug, "title": "Free them",
            "target": "The authorities", "body": "We ask you to act.", "goal": 100
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.post("/api/v1/petitions", token, body).await;
        assert_eq!(r.status(), 201, "petition created");
        r.json().await.unwrap()
    }
}

/// Asserts a problem+json answer with `status` and returns its body.
pub async fn assert_problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type was {ct:?}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"].as_u64(), Some(status as u64));
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// The path of the binary Cargo built for these tests.
pub fn clarion_bin() -> &'static str {
    env!("CARGO_BIN_EXE_clarion")
}

/// Polls `check` until it returns `Some`, failing after `timeout`. For
/// conditions that have no event to wait on (rows in a database).
pub async fn wait_until<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A supporter to seed straight into the database.
pub struct Person<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub status: &'a str,
}

impl<'a> Person<'a> {
    pub fn active(email: &'a str, first_name: &'a str) -> Person<'a> {
        Person {
            email,
            first_name,
            last_name: "Supporter",
            status: "active",
        }
    }
}

impl TestApp {
    /// Creates a list holding `people` (inserted as supporters when new) and
    /// returns its id. Goes straight to the database, so alert tests do not
    /// depend on the lists API.
    pub async fn seed_list(&self, name: &str, people: &[Person<'_>]) -> String {
        use clarion::db::schema::{list_members, lists, supporters};
        use diesel::prelude::*;
        let name = name.to_string();
        let people: Vec<(String, String, String, String)> = people
            .iter()
            .map(|p| {
                (
                    p.email.to_string(),
                    p.first_name.to_string(),
                    p.last_name.to_string(),
                    p.status.to_string(),
                )
            })
            .collect();
        self.db
            .run(move |c| {
                let now = clarion::db::now();
                let list_id = clarion::db::new_id();
                diesel::insert_into(lists::table)
                    .values((
                        lists::id.eq(&list_id),
                        lists::name.eq(&name),
                        lists::created_at.eq(now),
                    ))
                    .execute(c)?;
                for (email, first, last, status) in people {
                    let existing: Option<String> = supporters::table
                        .filter(
                            supporters::email_hash
                                .eq(clarion::db::supporters::email_hash(&email).unwrap()),
                        )
                        .select(supporters::id)
                        .first(c)
                        .optional()?;
                    let sid = match existing {
                        Some(id) => id,
                        None => {
                            let id = clarion::db::new_id();
                            diesel::insert_into(supporters::table)
                                .values((
                                    supporters::id.eq(&id),
                                    // Sealed and hashed as the service
                                    // stores them (contract §11).
                                    supporters::email.eq(clarion::vault::seal(&email)),
                                    supporters::email_hash
                                        .eq(clarion::db::supporters::email_hash(&email).unwrap()),
                                    supporters::email_domain
                                        .eq(email.split('@').nth(1).map(str::to_ascii_lowercase)),
                                    supporters::first_name.eq(clarion::vault::seal(&first)),
                                    supporters::last_name.eq(clarion::vault::seal(&last)),
                                    supporters::status.eq(&status),
                                    supporters::created_at.eq(now),
                                    supporters::updated_at.eq(now),
                                ))
                                .execute(c)?;
                            id
                        }
                    };
                    diesel::insert_into(list_members::table)
                        .values((
                            list_members::list_id.eq(&list_id),
                            list_members::supporter_id.eq(&sid),
                            list_members::added_at.eq(now),
                        ))
                        .execute(c)?;
                }
                Ok::<_, clarion::db::DbError>(list_id)
            })
            .await
            .expect("list seeded")
    }

    /// A stored value opened with this app's data keys (the database holds
    /// names and addresses sealed, contract §11).
    pub fn open(&self, v: Option<String>) -> Option<String> {
        clarion::vault::scope(self.db.data_keys(), || {
            clarion::vault::open_opt(v).expect("opens under the app's keys")
        })
    }

    pub async fn supporter_status(&self, email: &str) -> String {
        use clarion::db::schema::supporters;
        use diesel::prelude::*;
        let email = email.to_string();
        self.db
            .run(move |c| {
                // By hash, or by the plain address of a row written before
                // encryption (as some tests seed them).
                let id = clarion::db::supporters::id_by_email(c, &email)?
                    .ok_or(clarion::db::DbError::Query(diesel::result::Error::NotFound))?;
                supporters::table
                    .find(id)
                    .select(supporters::status)
                    .first::<String>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .expect("supporter exists")
    }

    /// The alert's JSON from the API.
    pub async fn alert(&self, token: &str, id: &str) -> Value {
        let r = self.get(&format!("/api/v1/alerts/{id}"), token).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Waits until the alert has no delivery waiting and returns it.
    pub async fn wait_alert_done(&self, token: &str, id: &str) -> Value {
        wait_until(
            "the alert to finish",
            std::time::Duration::from_secs(30),
            || async {
                let a = self.alert(token, id).await;
                (a["queued"] == 0 && a["status"] != "draft" && a["status"] != "sending")
                    .then_some(a)
            },
        )
        .await
    }
}

/// Seeds `n` active supporters `{prefix}{i}@example.org` into one new list
/// "everyone" straight into the database; returns the list id.
pub async fn seed_everyone(database_url: &str, n: usize, prefix: &str) -> String {
    let db = clarion::db::Db::connect(database_url, 1).unwrap();
    let prefix = prefix.to_string();
    db.run(move |c| {
        use clarion::db::schema::{list_members, lists, supporters};
        use diesel::prelude::*;
        clarion::db::write_tx(c, |c| {
            let now = clarion::db::now();
            let list_id = clarion::db::new_id();
            diesel::insert_into(lists::table)
                .values((
                    lists::id.eq(&list_id),
                    lists::name.eq("everyone"),
                    lists::created_at.eq(now),
                ))
                .execute(c)?;
            for i in 0..n {
                let id = clarion::db::new_id();
                diesel::insert_into(supporters::table)
                    .values((
                        supporters::id.eq(&id),
                        supporters::email.eq(format!("{prefix}{i}@example.org")),
                        supporters::first_name.eq("S"),
                        supporters::last_name.eq(format!("N{i}")),
                        supporters::status.eq("active"),
                        supporters::created_at.eq(now),
                        supporters::updated_at.eq(now),
                    ))
                    .execute(c)?;
                diesel::insert_into(list_members::table)
                    .values((
                        list_members::list_id.eq(&list_id),
                        list_members::supporter_id.eq(&id),
                        list_members::added_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok::<_, clarion::db::DbError>(list_id)
        })
    })
    .await
    .unwrap()
}
