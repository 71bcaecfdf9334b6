//! `/api/v1/tokens`: admins list and revoke API tokens. Creating one stays
//! with the CLI (`clarion token create`), the one place a secret is shown.
//! A listing never carries a token's secret (it is not kept) nor its hash.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::{Caller, Role};
use crate::campaign::tokens::{self as action, TokenInfo};
use crate::domain::TokenId;
use crate::error::ApiError;
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.live {
            "active"
        } else {
            "expired"
        };
        TokenView {
            id: t.id.to_string(),
            name: t.name,
            role: t.role.as_str().to_string(),
            created_at: t.created_at.and_utc(),
            last_used_at: t.last_used_at.map(|t| t.and_utc()),
            expires_at: t.expires_at.map(|t| t.and_utc()),
            revoked_at: t.revoked_at.map(|t| t.and_utc()),
            state,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, description = "every token, oldest first: {items, next_cursor: null}"),
        (status = 401), (status = 403, description = "admins only")),
    security(("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let tokens = action::list(&state.ctx, &caller.actor()).await?;
    let items: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"items": items, "next_cursor": null})))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    responses((status = 204, description = "revoked (again: nothing more to do)"), (status = 401),
        (status = 403, description = "admins only"), (status = 404)),
    security(("bearer" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let id = TokenId::parse(&id).map_err(|_| ApiError::NotFound("token"))?;
    action::revoke(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
