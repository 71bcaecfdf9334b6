//! The public evidence for a count (contract §10): a petition's signature
//! log (`log.json`), its signed snapshots (`snapshot.json`,
//! `snapshots.json`), the keys (`/.well-known/clarion-keys.json`), a
//! signer's receipt (`/receipts/{code}`, HTML or JSON) and the page that
//! explains how to check it all (`/petitions/{slug}/verify`).
//!
//! Everything here is public and read-only for the visitor; what it shows
//! comes from [`crate::campaign::evidence`], which never names a signer.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{Fail, Framing, Page};
use crate::campaign::{evidence, CampaignError};
use crate::web::AppState;

fn json_response(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(body)
}

/// A campaign error as this module's JSON: a missing petition is 404, and
/// anything else is ours (logged, 500).
fn json_error(e: CampaignError, what: &str) -> HttpResponse {
    match e {
        CampaignError::NotFound { .. } => {
            json_response(StatusCode::NOT_FOUND, json!({"error": "no such petition"}))
        }
        e => {
            tracing::error!(error.cause_chain = ?e, what, "evidence read failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "internal error", "request_id": crate::error::current_request_id()}),
            )
        }
    }
}

#[derive(serde::Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

/// `{"entries": [...], "next_after": SEQ | null}`.
pub async fn log_json(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<AfterQuery>,
) -> HttpResponse {
    let after = match query.after.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "after must be a whole number of 0 or more"}),
            )
        }
    };
    match evidence::log_page(&state.ctx, &slug, after).await {
        Ok(page) => json_response(StatusCode::OK, json!(page)),
        Err(e) => json_error(e, "log.json"),
    }
}

/// The current signed snapshot.
pub async fn snapshot_json(state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    match evidence::current_snapshot(&state.ctx, &slug).await {
        Ok(s) => json_response(StatusCode::OK, json!(s)),
        Err(e) => json_error(e, "snapshot.json"),
    }
}

/// `{"snapshots": [...]}`, oldest first.
pub async fn snapshots_json(state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    match evidence::snapshots(&state.ctx, &slug).await {
        Ok(all) => json_response(StatusCode::OK, json!({ "snapshots": all })),
        Err(e) => json_error(e, "snapshots.json"),
    }
}

/// `{"keys": [...]}`: current and retired.
pub async fn keys_json(state: web::Data<AppState>) -> HttpResponse {
    match evidence::keys(&state.ctx).await {
        Ok(keys) => json_response(StatusCode::OK, json!({ "keys": keys })),
        Err(e) => json_error(e, "clarion-keys.json"),
    }
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// A signer's receipt: which entry holds their signature and the first
/// snapshot that counts it.
pub async fn receipt(
    req: HttpRequest,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> HttpResponse {
    let found = evidence::receipt(&state.ctx, &code).await;
    if wants_json(&req) {
        return match found {
            Ok(Some(r)) => json_response(StatusCode::OK, json!(r)),
            Ok(None) => json_response(StatusCode::NOT_FOUND, json!({"error": "no such receipt"})),
            Err(e) => json_error(e, "receipt"),
        };
    }
    let page = Page::new(&req, &state);
    let r = match found {
        Ok(Some(r)) => r,
        Ok(None) => return page.error(&state, Fail::NotFound),
        Err(e) => return page.error(&state, e.into()),
    };
    let l = page.locale;
    let snapshot = r.snapshot.as_ref().map(|s| {
        json!({
            "text": l.format("receipt_snapshot", &[
                ("issued_at", &s.body.issued_at),
                ("confirmed", &l.number(s.body.confirmed)),
                ("seq", &s.body.log_seq.to_string()),
            ]),
        })
    });
    page.render(
        &state,
        StatusCode::OK,
        "pages/receipt.html",
        l.get("receipt_title"),
        json!({
            "petition": {
                "title": r.petition_title,
                "href": format!("/petitions/{}{}", r.petition, page.lang_query()),
                "verify_href": format!("/petitions/{}/verify{}", r.petition, page.lang_query()),
                "log_href": format!("/petitions/{}/log.json?after={}", r.petition, r.entry.body.seq - 1),
            },
            "entry_text": l.format("receipt_entry", &[("seq", &r.entry.body.seq.to_string()), ("at", &r.entry.body.at)]),
            "entry": r.entry,
            "salt": r.salt,
            "snapshot": snapshot,
        }),
        Framing::Nobody,
    )
}

/// The page that says what a snapshot proves and how to check it.
pub async fn verify_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let page = Page::new(&req, &state);
    let result = async {
        let data = super::pages::load_petition(&state, &slug).await?;
        let p = &data.petition;
        let base = format!("{}/petitions/{}", state.settings.base_url, p.slug);
        let script = format!(
            "import hashlib, json, urllib.request\n\
             get = lambda u: json.load(urllib.request.urlopen(u))\n\
             jcs = lambda o: json.dumps(o, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()\n\
             prev, confirmed, after = '0' * 64, 0, 0\n\
             while after is not None:\n\
             \x20   page = get('{base}/log.json?after=%d' % after)\n\
             \x20   for e in page['entries']:\n\
             \x20       body = {{k: v for k, v in e.items() if k != 'hash'}}\n\
             \x20       assert e['prev'] == prev and hashlib.sha256(jcs(body)).hexdigest() == e['hash'], e['seq']\n\
             \x20       prev, confirmed = e['hash'], confirmed + (e['kind'] == 'confirm')\n\
             \x20   after = page['next_after']\n\
             print(confirmed, 'confirmed; head', prev)"
        );
        Ok::<_, Fail>(page.render(
            &state,
            StatusCode::OK,
            "pages/verify.html",
            page.t("verify_title"),
            json!({
                "petition": {"title": p.title, "href": format!("/petitions/{}{}", p.slug, page.lang_query())},
                "snapshot_href": format!("/petitions/{}/snapshot.json", p.slug),
                "snapshots_href": format!("/petitions/{}/snapshots.json", p.slug),
                "log_href": format!("/petitions/{}/log.json", p.slug),
                "keys_href": "/.well-known/clarion-keys.json",
                "command": format!("clarion verify --url {base}"),
                "script": script,
            }),
            Framing::Nobody,
        ))
    }
    .await;
    result.unwrap_or_else(|f| page.error(&state, f))
}
