//! The API's error type and its mapping to RFC 9457 problem+json.
//!
//! Clients see a title, a status and a detail written for them; internal
//! causes go to the log with the request id, never into a response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::campaign::CampaignError;
use crate::db::DbError;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware.
    pub static REQUEST_ID: String;
}

/// The current request's id, if called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

pub use crate::campaign::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or unknown API token")]
    Unauthorized,
    #[error("this token's role may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The campaign layer's errors as the API shows them.
impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::NotFound { what } => ApiError::NotFound(what),
            CampaignError::Forbidden => ApiError::Forbidden,
            CampaignError::Invalid(errors) => ApiError::Validation(errors),
            e @ (CampaignError::SlugTaken { .. }
            | CampaignError::ListNameTaken { .. }
            | CampaignError::UserEmailTaken
            | CampaignError::AlertNotDraft
            | CampaignError::AlertNotPaused
            | CampaignError::AlertNotAwaitingApproval) => ApiError::Conflict(e.to_string()),
            e @ CampaignError::UnreadableFile(_) => ApiError::BadRequest(e.to_string()),
            // The API names the missing column; the console puts it beside
            // the file field (`CampaignError::field`).
            e @ CampaignError::NoEmailColumn => {
                ApiError::Validation(vec![FieldError::new("email", e.to_string())])
            }
            CampaignError::TooLarge => ApiError::PayloadTooLarge,
            CampaignError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(diesel::result::Error::NotFound) => ApiError::NotFound("resource"),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A problem+json response; also used by extractor error handlers.
pub fn problem(status: StatusCode, detail: &str, errors: Option<Vec<FieldError>>) -> HttpResponse {
    let request_id = if status.is_server_error() {
        current_request_id()
    } else {
        None
    };
    let body = Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
        errors,
        request_id,
    };
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(body)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(e) => {
                tracing::error!(
                    request_id = current_request_id().unwrap_or_default(),
                    error.cause_chain = ?e,
                    error.message = %e,
                    "request failed"
                );
                let detail = match current_request_id() {
                    Some(id) => format!("Something went wrong on our side. Quote request id {id} when reporting it."),
                    None => "Something went wrong on our side.".to_string(),
                };
                problem(status, &detail, None)
            }
            ApiError::Unauthorized => {
                let mut r = problem(status, &self.to_string(), None);
                r.headers_mut().insert(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    actix_web::http::header::HeaderValue::from_static("Bearer"),
                );
                r
            }
            ApiError::PayloadTooLarge => {
                // Refused before the body is read: closing the connection
                // stops the client from sending the rest into it.
                let mut r = problem(status, &self.to_string(), None);
                r.head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
                r
            }
            ApiError::Validation(errors) => {
                problem(status, "Some fields are invalid.", Some(errors.clone()))
            }
            other => problem(status, &other.to_string(), None),
        }
    }
}
