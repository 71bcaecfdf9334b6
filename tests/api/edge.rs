//! Issue 11's HTTP edge: bodies read only after we know who is asking and
//! within limits, broken bodies as the client's 400 with no ERROR in the log,
//! `HEAD` as `GET` without a body on every page (contract §12), and links on
//! error pages that stay on this site.
//!
//! Broken and withheld bodies go over raw TCP: no HTTP client sends them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backend_tests;
use crate::console::{create_user, PASSWORD};
use crate::helpers::{assert_problem, clarion_bin, fresh_database, spawn_app, Backend};

backend_tests!(
    head_answers_as_get_without_a_body_on_every_page,
    links_on_error_pages_stay_on_this_site,
    an_alert_preview_with_a_malformed_or_oversize_body_is_refused_not_answered_for_someone_else,
    api_bodies_are_not_read_before_the_token_and_role_are_checked,
    public_and_console_bodies_over_their_limit_are_refused_before_they_are_read,
    broken_or_cut_off_bodies_are_a_400_on_every_body_reading_route_and_never_an_error_in_the_log,
    imports_beyond_their_share_of_the_pool_wait_their_turn_instead_of_starving_other_requests,
);

/// Writes `head` and `body` on a fresh connection, optionally closes our
/// sending side (the body then ends early), and reads the answer until the
/// server closes or `Connection: close` is honoured. Empty if none comes.
async fn raw(port: u16, head: &str, body: &[u8], close_write: bool) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    if close_write {
        s.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer within 20 s to {head:?}");
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends only the head of a request that declares a large body, and reads
/// the answer's head: it must come before any of the body is sent.
async fn head_only(port: u16, head: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "the server waited for the body of {head:?} instead of answering"
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// The start of a body of the kind `headers` announce, well-formed as far
/// as it goes, so what the route meets is the cut, not bad content.
fn cut_off_start(headers: &str) -> &'static [u8] {
    if headers.contains("multipart/form-data") {
        b"--XyZzy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\r\nann@exa"
    } else if headers.contains("text/csv") {
        b"email,first_name\r\nann@example.org,Ann\r\nbob@exa"
    } else if headers.contains("application/json") {
        b"{\"slug\": \"a-cas"
    } else {
        b"first_name=Ann&last_name=Lee&email=ann%40exa"
    }
}

/// A chunked body whose first chunk is good and whose second, sent a
/// moment later (when the handler is likely reading), is not.
async fn split_chunks(port: u16, head: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"4\r\nemai\r\n").await.unwrap();
    // Not a wait for a condition: the assertions hold whichever comes first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = s.write_all(b"zz\r\nnot hex\r\n0\r\n\r\n").await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer within 20 s to {head:?}");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// A request head; `extra` lines end with `\r\n`.
fn head(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

async fn head_answers_as_get_without_a_body_on_every_page(b: Backend) {
    let app = spawn_app(b).await;
    let token = app.token("admin").await;
    let petition = app.open_petition("free-them", json!({})).await;
    let pid = petition["id"].as_str().unwrap().to_string();
    let cid = petition["case_id"].as_str().unwrap().to_string();
    let browser = crate::console::signed_in(&app, "admin").await;
    let public = [
        "/",
        "/cases/case-free-them",
        "/petitions/free-them",
        "/petitions/free-them?lang=ru",
        "/petitions/free-them/thanks",
        "/petitions/free-them/counts.json",
        "/petitions/free-them/embed",
        "/assets/site.css",
        "/confirm/no-such-token",
        "/unsubscribe/no-such-token",
        "/no/such/page",
        "/healthz",
        "/readyz",
        "/admin",
        "/admin/login",
    ];
    for path in public {
        compare_head_with_get(&app.client, &app.address, path, None).await;
    }
    let console = [
        "/admin",
        "/admin/cases",
        "/admin/cases/new",
        "/admin/petitions",
        "/admin/lists",
        "/admin/supporters",
        "/admin/alerts",
        "/admin/alerts/new",
        "/admin/users",
        "/admin/no-such-page",
        "/admin/assets/console.css",
        "/admin/assets/console.js",
    ];
    for path in console {
        compare_head_with_get(&browser.client, &app.address, path, None).await;
    }
    let api = [
        "/api/v1/openapi.json".to_string(),
        "/api/v1/cases".into(),
        format!("/api/v1/cases/{cid}"),
        "/api/v1/petitions".into(),
        format!("/api/v1/petitions/{pid}"),
        format!("/api/v1/petitions/{pid}/signatures"),
        format!("/api/v1/petitions/{pid}/signatures.csv"),
        format!("/api/v1/petitions/{pid}/counts?by=country"),
        "/api/v1/lists".into(),
        "/api/v1/alerts".into(),
        "/api/v1/supporters?email=nobody@example.org".into(),
        "/api/v1/cases/not-an-id".into(),
        "/api/v1/no-such-route".into(),
    ];
    for path in &api {
        compare_head_with_get(&app.client, &app.address, path, Some(&token)).await;
    }
    // Without a token, HEAD is refused as GET is.
    compare_head_with_get(&app.client, &app.address, "/api/v1/cases", None).await;
    // Metrics change between two scrapes; the rest must match.
    let get = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    let head = app
        .client
        .head(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), get.status());
    assert_eq!(
        head.headers().get("content-type"),
        get.headers().get("content-type")
    );
    assert!(head.headers().contains_key("content-length"));
    assert!(head.bytes().await.unwrap().is_empty());
    // A HEAD changes nothing a GET would not: no signature from it.
    let r = app
        .client
        .head(format!("{}/petitions/free-them/signatures", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "HEAD of a POST-only route");
}

async fn compare_head_with_get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&str>,
) {
    let send = |method: Method| {
        let mut r = client.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let get = send(Method::GET).await.unwrap();
    let head = send(Method::HEAD).await.unwrap();
    assert_eq!(head.status(), get.status(), "HEAD {path}");
    for name in [
        "content-type",
        "content-length",
        "location",
        "cache-control",
    ] {
        assert_eq!(
            head.headers().get(name),
            get.headers().get(name),
            "HEAD {path}: {name}"
        );
    }
    let body = head.bytes().await.unwrap();
    assert!(body.is_empty(), "HEAD {path} sent a body");
}

async fn links_on_error_pages_stay_on_this_site(b: Backend) {
    let app = spawn_app(b).await;
    for (path, same_site) in [
        ("//evil.example/x", "/evil.example/x"),
        ("///evil.example/x", "/evil.example/x"),
        ("/\\evil.example/x", "/evil.example/x"),
        ("/\\/evil.example/x", "/evil.example/x"),
    ] {
        let answer = raw(
            app.port,
            &head("GET", path, "Connection: close\r\n"),
            b"",
            false,
        )
        .await;
        if path.contains('\\') && status_of(&answer) == 400 {
            // Refused as a malformed request target: no page, no links.
            continue;
        }
        assert_eq!(status_of(&answer), 404, "{path}");
        let hrefs: Vec<&str> = answer
            .split("href=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert!(!hrefs.is_empty(), "{answer}");
        for href in &hrefs {
            let unescaped = href.replace("&#x2F;", "/").replace("&#x3D;", "=");
            assert!(
                !unescaped.starts_with("//") && !unescaped.starts_with("/\\"),
                "{path}: a link off the site: {href}"
            );
        }
        let lang_link = format!("{same_site}?lang=en");
        assert!(
            hrefs
                .iter()
                .any(|h| h.replace("&#x2F;", "/").replace("&#x3D;", "=") == lang_link),
            "{path}: no language link to {lang_link} in {hrefs:?}"
        );
    }
}

async fn an_alert_preview_with_a_malformed_or_oversize_body_is_refused_not_answered_for_someone_else(
    b: Backend,
) {
    let app = spawn_app(b).await;
    let token = app.token("campaigner").await;
    let case = app.create_case(&token, "a-case").await;
    let list = crate::signers::create_list(&app, &token, "volunteers").await;
    let r = app
        .post(
            "/api/v1/alerts",
            &token,
            json!({"case_id": case["id"], "list_ids": [list], "subject": "Act now",
                   "body_markdown": "Write to them."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let alert: Value = r.json().await.unwrap();
    let url = format!(
        "{}/api/v1/alerts/{}/preview",
        app.address,
        alert["id"].as_str().unwrap()
    );
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // The cause of the old 200: any body that failed to parse was dropped
    // and the preview made for the sample supporter.
    for bad in [&b"{\"supporter_id\": \"x\""[..], b"{supporter_id}", b"[1,"] {
        let r = post(bad.to_vec(), "application/json").await.unwrap();
        assert_problem(r, 400).await;
    }
    let huge = format!("{{\"supporter_id\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = post(huge.into_bytes(), "application/json").await.unwrap();
    assert_problem(r, 413).await;
    let r = post(b"{}".to_vec(), "text/plain").await.unwrap();
    assert_problem(r, 415).await;
    // No body at all is still the sample preview, and `{}` the same.
    let r = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(b"{}".to_vec(), "application/json").await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn api_bodies_are_not_read_before_the_token_and_role_are_checked(b: Backend) {
    let app = spawn_app(b).await;
    let organiser = app.token("organiser").await;
    let campaigner = app.token("campaigner").await;
    let list = crate::signers::create_list(&app, &campaigner, "volunteers").await;
    let alert = uuid::Uuid::new_v4();
    let json_routes = [
        "/api/v1/cases".to_string(),
        "/api/v1/petitions".into(),
        "/api/v1/lists".into(),
        format!("/api/v1/lists/{list}/members"),
        "/api/v1/alerts".into(),
        format!("/api/v1/alerts/{alert}/preview"),
        format!("/api/v1/alerts/{alert}/test"),
    ];
    let large = "Content-Type: application/json\r\nContent-Length: 900000\r\n";
    for path in &json_routes {
        for (auth, status) in [
            (String::new(), 401),
            ("Authorization: Bearer not-a-token\r\n".to_string(), 401),
        ] {
            let answer = head_only(app.port, &head("POST", path, &format!("{auth}{large}"))).await;
            assert_eq!(status_of(&answer), status, "POST {path} with {auth:?}");
        }
    }
    // A role without the right learns nothing of the body either.
    for path in ["/api/v1/cases", "/api/v1/lists", "/api/v1/alerts"] {
        let auth = format!("Authorization: Bearer {organiser}\r\n");
        let answer = head_only(app.port, &head("POST", path, &format!("{auth}{large}"))).await;
        assert_eq!(status_of(&answer), 403, "POST {path} as organiser");
    }
    // The import is large by design, but only for a caller who may import.
    let csv = "Content-Type: text/csv\r\nContent-Length: 400000000\r\n";
    let import = format!("/api/v1/lists/{list}/import");
    for auth in [
        String::new(),
        "Authorization: Bearer not-a-token\r\n".into(),
    ] {
        let answer = head_only(app.port, &head("POST", &import, &format!("{auth}{csv}"))).await;
        assert_eq!(status_of(&answer), 401, "import with {auth:?}");
    }
    let auth = format!("Authorization: Bearer {organiser}\r\n");
    let answer = head_only(app.port, &head("POST", &import, &format!("{auth}{csv}"))).await;
    assert_eq!(status_of(&answer), 403, "import as organiser");
    // A JSON body declared over the limit is refused before it is read.
    let auth = format!("Authorization: Bearer {campaigner}\r\n");
    let over = "Content-Type: application/json\r\nContent-Length: 2000000\r\n";
    let answer = head_only(
        app.port,
        &head("POST", "/api/v1/cases", &format!("{auth}{over}")),
    )
    .await;
    assert_eq!(status_of(&answer), 413);
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("application/problem+json"),
        "{answer}"
    );
}

async fn public_and_console_bodies_over_their_limit_are_refused_before_they_are_read(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    for path in [
        "/petitions/free-them/signatures",
        "/confirm/some-token",
        "/unsubscribe/some-token",
    ] {
        let answer = head_only(
            app.port,
            &head("POST", path, &format!("{form}Content-Length: 20000\r\n")),
        )
        .await;
        assert_eq!(status_of(&answer), 413, "POST {path}");
    }
    // The RFC 8058 one-click body still unsubscribes as before (here: an
    // unknown token, so 404, not 413).
    let r = app
        .client
        .post(format!("{}/unsubscribe/some-token", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Signed out: the console's answer (to the sign-in page) comes before
    // any of the body, however large.
    for path in ["/admin/cases", "/admin/lists", "/admin/users"] {
        for length in [
            "Content-Length: 60000000\r\n",
            "Transfer-Encoding: chunked\r\n",
        ] {
            let answer = head_only(app.port, &head("POST", path, &format!("{form}{length}"))).await;
            assert_eq!(status_of(&answer), 303, "POST {path} signed out");
        }
    }
    // Signed in, a url-encoded form has a limit far below the upload's.
    create_user(&app, "admin@example.org", "admin").await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let cookie = sign_in(&app.address, &jar, "admin@example.org").await;
    let answer = head_only(
        app.port,
        &head(
            "POST",
            "/admin/cases",
            &format!("{form}Cookie: {cookie}\r\nContent-Length: 20000000\r\n"),
        ),
    )
    .await;
    assert_eq!(status_of(&answer), 413);
}

/// Signs in to the console with `jar` and returns its Cookie header.
async fn sign_in(base: &str, jar: &Arc<reqwest::cookie::Jar>, email: &str) -> String {
    use reqwest::cookie::CookieStore;
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = client
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::console::csrf_of(&html);
    let r = client
        .post(format!("{base}/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("next", "/admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    let url: reqwest::Url = format!("{base}/admin/cases").parse().unwrap();
    jar.cookies(&url)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string()
}

/// `clarion serve` as its own process, logging JSON lines to a file.
struct Served {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clarion(dir: &Path, url: &str) -> Command {
    let mut c = Command::new(clarion_bin());
    c.current_dir(dir)
        .env("CLARION_DATABASE_URL", url)
        .env("CLARION_HTTP_ADDR", "127.0.0.1:0")
        .env("CLARION_LOG", "info")
        .env("CLARION_LOG_FORMAT", "json")
        .env("CLARION_SIGN_RATE_PER_IP", "0")
        .env_remove("CLARION_CONFIG")
        .env_remove("CLARION_SMTP_URL");
    c
}

impl Served {
    async fn start(b: &Backend) -> (Served, String) {
        let (url, dir) = fresh_database(b).await;
        let token = {
            let out = clarion(dir.path(), &url)
                .args(["token", "create", "--name", "edge", "--role", "admin"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            stdout.lines().last().unwrap().trim().to_string()
        };
        let mut create = clarion(dir.path(), &url)
            .args([
                "user",
                "create",
                "--email",
                "admin@example.org",
                "--role",
                "admin",
            ])
            .arg("--password-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        create
            .stdin
            .take()
            .unwrap()
            .write_all_sync(format!("{PASSWORD}\n").as_bytes());
        assert!(create.wait().unwrap().success());
        let log = dir.path().join("serve.log");
        let child = clarion(dir.path(), &url)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let log_path = log.clone();
        let port =
            crate::helpers::wait_until("the server to listen", Duration::from_secs(60), || {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                async move {
                    let at = text.find("listening on http://127.0.0.1:")?;
                    let rest = &text[at + "listening on http://127.0.0.1:".len()..];
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u16>().ok()
                }
            })
            .await;
        (
            Served {
                child,
                port,
                log,
                _dir: dir,
            },
            token,
        )
    }

    fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The status the request with `id` was logged with, once it is.
    async fn logged_status(&self, id: &str) -> u64 {
        crate::helpers::wait_until(
            &format!("the log line of request {id}"),
            Duration::from_secs(20),
            || {
                let found = self.log_lines().into_iter().find_map(|l| {
                    let ours = l["message"] == "request"
                        && l.to_string().contains(&format!("\"request_id\":\"{id}\""));
                    ours.then(|| l["http.status"].as_u64()).flatten()
                });
                async move { found }
            },
        )
        .await
    }
}

trait WriteAllSync {
    fn write_all_sync(self, bytes: &[u8]);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self, bytes).unwrap();
    }
}

async fn broken_or_cut_off_bodies_are_a_400_on_every_body_reading_route_and_never_an_error_in_the_log(
    b: Backend,
) {
    let (served, token) = Served::start(&b).await;
    let base = format!("http://127.0.0.1:{}", served.port);
    let api = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        api.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let case: Value = post(
        "/api/v1/cases",
        json!({"slug": "a-case", "title": "A case", "summary": "Why."}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let r = post(
        "/api/v1/petitions",
        json!({"case_id": case["id"], "slug": "free-them", "title": "Free them",
               "target": "The authorities", "body": "Act."}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let list: Value = post("/api/v1/lists", json!({"name": "volunteers"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list["id"].as_str().unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let cookie = sign_in(&base, &jar, "admin@example.org").await;
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let json_type = "Content-Type: application/json\r\n";
    let form_type = "Content-Type: application/x-www-form-urlencoded\r\n";
    let routes: Vec<(String, String)> = vec![
        ("/petitions/free-them/signatures".into(), form_type.into()),
        ("/confirm/some-token".into(), form_type.into()),
        ("/unsubscribe/some-token".into(), form_type.into()),
        ("/api/v1/cases".into(), format!("{bearer}{json_type}")),
        (
            format!("/api/v1/alerts/{}/preview", uuid::Uuid::new_v4()),
            format!("{bearer}{json_type}"),
        ),
        (
            format!("/api/v1/lists/{list}/members"),
            format!("{bearer}{json_type}"),
        ),
        (
            format!("/api/v1/lists/{list}/import"),
            format!("{bearer}Content-Type: text/csv\r\n"),
        ),
        (
            "/admin/cases".into(),
            format!("Cookie: {cookie}\r\n{form_type}"),
        ),
        (
            format!("/admin/lists/{list}/import"),
            format!("Cookie: {cookie}\r\nContent-Type: multipart/form-data; boundary=XyZzy\r\n"),
        ),
    ];
    for (n, (path, headers)) in routes.iter().enumerate() {
        // Broken chunked encoding (a chunk size that is not hexadecimal),
        // all at once and after a first good chunk. actix-http drops the
        // connection on a framing error; a handler already reading the
        // body sees the error and answers 400. Either is right; an answer
        // other than 400 is not.
        let chunked = format!("{headers}Transfer-Encoding: chunked\r\n");
        let answer = raw(
            served.port,
            &head("POST", path, &chunked),
            b"4\r\nemai\r\nzz\r\nnot hex\r\n0\r\n\r\n",
            false,
        )
        .await;
        assert!(
            answer.is_empty() || status_of(&answer) == 400,
            "broken chunks to {path}: {answer}"
        );
        let answer = split_chunks(served.port, &head("POST", path, &chunked)).await;
        assert!(
            answer.is_empty() || status_of(&answer) == 400,
            "broken chunks after a good one to {path}: {answer}"
        );
        // A body shorter than its Content-Length, then the connection ends:
        // the handler reading it is told, and answers 400.
        let id = format!("edge-short-{n}");
        let answer = raw(
            served.port,
            &head(
                "POST",
                path,
                &format!("{headers}X-Request-Id: {id}\r\nContent-Length: 900\r\n"),
            ),
            cut_off_start(headers),
            true,
        )
        .await;
        assert_eq!(status_of(&answer), 400, "cut-off body to {path}: {answer}");
        assert_eq!(
            served.logged_status(&id).await,
            400,
            "cut-off body to {path}"
        );
    }
    // Two whole bodies the multipart parser underneath once could not
    // finish: one that ends just after a CR inside a part (it waited for
    // bytes that would never come, so the request hung), and a one-letter
    // boundary before a short line (it panicked). Both are answered.
    let import = format!("/admin/lists/{list}/import");
    for (boundary, body, status) in [
        (
            "XyZzy",
            &b"--XyZzy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\r\xb5\xf4"[..],
            400,
        ),
        ("a", &b"--\n--a\r\n"[..], 403),
    ] {
        let answer = raw(
            served.port,
            &head(
                "POST",
                &import,
                &format!(
                    "Cookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    body.len()
                ),
            ),
            body,
            false,
        )
        .await;
        assert_eq!(status_of(&answer), status, "boundary {boundary}: {answer}");
    }
    let errors: Vec<Value> = served
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "ERROR lines in the log: {errors:#?}");
}

/// Each import holds a database connection for its whole file, and an API
/// import streams its body: four imports whose bodies are still arriving
/// once held every connection of a pool of four, so every other request
/// failed with a 500 after the pool's timeout. They now queue for a quarter
/// of the pool, and the rest of the service keeps answering.
async fn imports_beyond_their_share_of_the_pool_wait_their_turn_instead_of_starving_other_requests(
    b: Backend,
) {
    let app = crate::helpers::spawn_app_with(b, |raw| raw.database_pool_size = 4).await;
    let token = app.token("campaigner").await;
    let list = crate::signers::create_list(&app, &token, "trickled").await;
    let head = format!(
        "POST /api/v1/lists/{list}/import HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    // Four imports send their header line and then wait.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(b"6\r\nemail\n\r\n").await.unwrap();
        held.push(s);
    }
    // Give the server the moment to start them all: the assertion below
    // holds whatever the order, it only fails when the pool is exhausted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = app.get("/api/v1/lists", &token).await;
    assert_eq!(
        r.status(),
        200,
        "other requests are served while imports hold their connections"
    );
    // Each import then finishes, one after another, all of them whole.
    for (i, s) in held.iter_mut().enumerate() {
        let row = format!("imp{i}@example.org\n");
        let chunk = format!("{:x}\r\n{row}\r\n0\r\n\r\n", row.len());
        s.write_all(chunk.as_bytes()).await.unwrap();
    }
    for mut s in held {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "an import answered");
        let answer = String::from_utf8_lossy(&out);
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(answer.contains("\"added\":1"), "{answer}");
    }
}
