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
    let mut settings_with_base = settings.clone();
    let app = Application::build(settings.clone(), Options::default())
        .await
        .expect("application builds");
    let port = app.port();
    // Links in mails must point at the real port.
    if settings_with_base.base_url.ends_with(":0") {
        settings_with_base.base_url = format!("http://127.0.0.1:{port}");
    }
    let db = app.state().db.clone();
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
        settings: settings_with_base,
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
