//! Evidence for a count in the API (contract §10): a snapshot on demand
//! (campaigners) and the dossier for an authority (organisers). Thin: parse,
//! authorise, call one `campaign::evidence` action, render.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::{Caller, Role};
use crate::campaign::{evidence, petitions};
use crate::error::{ApiError, FieldError};
use crate::web::AppState;

#[utoipa::path(post, path = "/api/v1/petitions/{id}/snapshots", tag = "evidence",
    responses((status = 201, description = "The signed snapshot made now"), (status = 404)),
    security(("bearer" = [])))]
pub async fn create_snapshot(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = petitions::id(&id)?;
    let s = evidence::make_snapshot(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Created().json(s))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DossierQuery {
    /// true: add signatures.csv (first name, last name, country, confirmed_at; no address)
    pub names: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/petitions/{id}/dossier", tag = "evidence", params(DossierQuery),
    responses((status = 200, description = "The dossier (application/zip)"), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn dossier(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<DossierQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let names = match q.names.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "names",
                "Must be true or false.",
            )]))
        }
    };
    let id = petitions::id(&id)?;
    let d = evidence::dossier(&state.ctx, &caller.actor(), &id, names).await?;
    Ok(crate::web::dossier_download(d))
}
