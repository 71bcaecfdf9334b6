//! HTTP: the public pages, the JSON API under `/api/v1`, health and metrics.
//! Handlers parse input into `domain` types at the edge and call `db`.

pub mod api;
pub mod console;
pub mod health;
pub mod public;
pub mod request_id;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

use crate::config::Settings;
use crate::security::Keys;
use crate::templates::Templates;

/// What every handler may use. Passed explicitly; there is no global config.
#[derive(Clone)]
pub struct AppState {
    /// The campaign layer: every read and write goes through its actions.
    pub ctx: crate::campaign::Context,
    /// The pool behind `ctx`, for start-up and the tests' own checks;
    /// handlers never use it (`.ci/arch` holds them to that).
    pub db: crate::campaign::Db,
    pub settings: Arc<Settings>,
    pub keys: Keys,
    pub metrics: Arc<health::Metrics>,
    pub templates: Templates,
    /// The public pages' per-process state: signing limiter and writer.
    pub public: Arc<public::PublicState>,
}

/// Registers every route on an actix `App`.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    health::configure(cfg);
    api::configure(cfg);
    console::configure(cfg);
    // Last: it owns the catch-all 404 page.
    public::configure(cfg);
}

/// Contract §12: `HEAD` answers as `GET` without a body, on every page.
/// actix-web routes a HEAD only to routes that name it
/// (actix/actix-web#2702), so this middleware, wrapped around the whole
/// app, routes every HEAD as the GET it stands for. The HTTP/1 codec has
/// already noted that the request was a HEAD: it sends the GET answer's
/// status and headers, `Content-Length` included, and leaves out the body.
/// (The server speaks HTTP/1 only: `HttpServer::listen` without TLS.)
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// A streamed signatures CSV as a download, for the API and the console
/// alike. An `Err` chunk ends the response without its last chunk, so the
/// client sees a broken transfer rather than a short file.
/// A dossier as a ZIP download (API and console alike).
pub fn dossier_download(d: crate::campaign::evidence::Dossier) -> actix_web::HttpResponse {
    use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
    actix_web::HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", d.filename),
        ))
        .insert_header((CACHE_CONTROL, "no-store, private"))
        .body(d.bytes)
}

pub fn csv_download(export: crate::campaign::petitions::SignaturesCsv) -> actix_web::HttpResponse {
    use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
    let filename = export.filename();
    let mut chunks = export.chunks;
    let body = futures_util::stream::poll_fn(move |cx| {
        chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(actix_web::web::Bytes::from)))
    });
    actix_web::HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((CACHE_CONTROL, "no-store, private"))
        .streaming(body)
}
