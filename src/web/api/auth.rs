//! Bearer-token authentication and roles. A token's plaintext is handed to
//! `campaign::tokens::authenticate`, which looks it up by its hash; the
//! plaintext is never stored or logged. This module only reads the header
//! and turns the answer into a [`Caller`].

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use crate::campaign::{self, Actor};
pub use crate::domain::Role;
use crate::domain::TokenId;
use crate::error::ApiError;
use crate::web::AppState;

/// The authenticated caller of an API route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: TokenId,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// How the caller appears in the audit log.
    pub fn audit_name(&self) -> String {
        format!("token:{}", self.name)
    }

    /// The caller as the campaign layer's actions take it.
    pub fn actor(&self) -> Actor {
        Actor::Token {
            id: self.token_id.clone(),
            name: self.name.clone(),
            role: self.role,
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty() && token.len() <= 256).then(|| token.to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let found = campaign::tokens::authenticate(&state.ctx, &token).await?;
            let Some(Actor::Token { id, name, role }) = found else {
                return Err(ApiError::Unauthorized);
            };
            tracing::Span::current().record("auth.token", name.as_str());
            Ok(Caller {
                token_id: id,
                name,
                role,
            })
        })
    }
}
