//! The JSON API under `/api/v1`: bearer tokens, roles, problem+json errors,
//! cursor paging, and its OpenAPI description.

pub mod alerts;
pub mod auth;
pub mod cases;
pub mod evidence;
pub mod input;
pub mod lists;
pub mod mail;
pub mod paging;
pub mod petitions;
pub mod signatures;
pub mod supporters;
pub mod tokens;

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{problem, ApiError, FieldError, Problem};

/// Largest JSON body the API reads; larger → 413.
pub const JSON_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Clarion API", description = "Cases, petitions, supporters, lists and urgent-action alerts."),
    paths(
        cases::create, cases::list, cases::get, cases::update,
        petitions::create, petitions::list, petitions::get, petitions::update,
        alerts::create, alerts::list, alerts::get, alerts::preview, alerts::test_send,
        alerts::send, alerts::cancel, alerts::resume, alerts::resume_domain,
        alerts::audience, alerts::schedule, alerts::approve, alerts::update,
        mail::inbound, mail::unmatched, mail::unmatched_message, mail::discard_unmatched,
        signatures::list, signatures::csv, signatures::counts_route,
        evidence::create_snapshot, evidence::dossier,
        lists::create, lists::list, lists::get, lists::add_members, lists::import,
        supporters::list, supporters::get, supporters::export, supporters::erase,
        tokens::list, tokens::revoke,
    ),
    components(schemas(Problem, FieldError, cases::CaseView, cases::CaseInput,
        petitions::PetitionView, petitions::PetitionInput,
        alerts::AlertView, alerts::WarningView, alerts::VariantView, alerts::AlertInput, alerts::PreviewView,
        alerts::ScheduleInput, alerts::AudienceView,
        crate::campaign::reports::IngestSummary,
        signatures::SignatureView, crate::campaign::petitions::CountsView,
        lists::ListView, lists::ListInput, lists::MemberInput,
        crate::import::ImportReport, crate::import::RowProblem,
        supporters::SupporterView, supporters::SubjectAccess, supporters::ConsentView,
        supporters::MembershipView, supporters::SignatureHeld, supporters::DeliveryHeld,
        tokens::TokenView)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// For any handler that still takes `web::Json` (prefer [`input::Body`]).
fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let response = actix_web::ResponseError::error_response(&input::json_error(&err));
    actix_web::error::InternalError::from_response(err, response).into()
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                let detail = format!("Bad query string: {err}");
                actix_web::error::InternalError::from_response(
                    err,
                    problem(StatusCode::BAD_REQUEST, &detail, None),
                )
                .into()
            }))
            .route("/openapi.json", web::get().to(openapi_json))
            .route("/cases", web::post().to(cases::create))
            .route("/cases", web::get().to(cases::list))
            .route("/cases/{id}", web::get().to(cases::get))
            .route("/cases/{id}", web::patch().to(cases::update))
            .route("/petitions", web::post().to(petitions::create))
            .route("/petitions", web::get().to(petitions::list))
            .route("/petitions/{id}", web::get().to(petitions::get))
            .route("/petitions/{id}", web::patch().to(petitions::update))
            .route("/alerts", web::post().to(alerts::create))
            .route("/alerts", web::get().to(alerts::list))
            .route("/alerts/{id}", web::get().to(alerts::get))
            .route("/alerts/{id}", web::patch().to(alerts::update))
            .route("/alerts/{id}/preview", web::post().to(alerts::preview))
            .route("/alerts/{id}/test", web::post().to(alerts::test_send))
            .route("/alerts/{id}/send", web::post().to(alerts::send))
            .route("/alerts/{id}/cancel", web::post().to(alerts::cancel))
            .route("/alerts/{id}/audience", web::post().to(alerts::audience))
            .route("/alerts/{id}/schedule", web::post().to(alerts::schedule))
            .route("/alerts/{id}/approve", web::post().to(alerts::approve))
            .route("/alerts/{id}/resume", web::post().to(alerts::resume))
            .route("/mail/inbound", web::post().to(mail::inbound))
            .route("/mail/unmatched", web::get().to(mail::unmatched))
            .route(
                "/mail/unmatched/{id}",
                web::get().to(mail::unmatched_message),
            )
            .route(
                "/mail/unmatched/{id}",
                web::delete().to(mail::discard_unmatched),
            )
            .route(
                "/alerts/{id}/domains/{domain}/resume",
                web::post().to(alerts::resume_domain),
            )
            .route(
                "/petitions/{id}/signatures",
                web::get().to(signatures::list),
            )
            .route(
                "/petitions/{id}/signatures.csv",
                web::get().to(signatures::csv),
            )
            .route(
                "/petitions/{id}/counts",
                web::get().to(signatures::counts_route),
            )
            .route(
                "/petitions/{id}/snapshots",
                web::post().to(evidence::create_snapshot),
            )
            .route("/petitions/{id}/dossier", web::get().to(evidence::dossier))
            .route("/lists", web::post().to(lists::create))
            .route("/lists", web::get().to(lists::list))
            .route("/lists/{id}", web::get().to(lists::get))
            .route("/lists/{id}/members", web::post().to(lists::add_members))
            .route("/lists/{id}/import", web::post().to(lists::import))
            .route("/supporters", web::get().to(supporters::list))
            .route("/supporters/{id}", web::get().to(supporters::get))
            .route("/supporters/{id}", web::delete().to(supporters::erase))
            .route("/supporters/{id}/export", web::get().to(supporters::export))
            .route("/tokens", web::get().to(tokens::list))
            .route("/tokens/{id}", web::delete().to(tokens::revoke))
            .default_service(web::to(not_found)),
    );
}
