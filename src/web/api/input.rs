//! Reading request bodies: only after the caller is known, and field by
//! field, so that a 422 names every bad field at once rather than the first
//! one serde trips on. The field reader is the campaign layer's
//! ([`Fields`]); the API adds its 400 for a body that is not a JSON object.
//!
//! Policy: a handler takes a [`Body`] (the payload, unread) and reads it
//! with [`Body::json`] after `caller.require(…)`. actix polls a handler's
//! extractors together, so a `web::Json` argument would read up to
//! [`super::JSON_LIMIT`] while the token is still being looked up; a
//! request with a bad token, or a role without the right, must cost us no
//! more than its headers. A body that is cut off, malformed (broken chunked
//! encoding) or not JSON is the client's 400, never our 500.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::Value;

pub use crate::campaign::input::Fields;
use crate::error::ApiError;

/// The body's fields, or 400 when it is not a JSON object.
pub fn fields(body: Value) -> Result<Fields, ApiError> {
    match body {
        Value::Object(map) => Ok(Fields::new(map)),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
    }
}

/// A request body, not yet read (see the module policy).
pub struct Body {
    req: HttpRequest,
    payload: Payload,
}

impl FromRequest for Body {
    type Error = actix_web::Error;
    type Future = Ready<Result<Body, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(Body {
            req: req.clone(),
            payload: payload.take(),
        }))
    }
}

impl Body {
    /// The body as JSON, at most [`super::JSON_LIMIT`] bytes (a larger
    /// declared length is refused before a byte is read): 415 when it is
    /// not `application/json`, 413 when too large, 400 when cut off or not
    /// JSON.
    pub async fn json(mut self) -> Result<Value, ApiError> {
        web::JsonBody::<Value>::new(&self.req, &mut self.payload, None, true)
            .limit(super::JSON_LIMIT)
            .await
            .map_err(|e| json_error(&e))
    }

    /// As [`Body::json`] for a route whose body is optional: a request that
    /// declares no body (no `Content-Length` or `0`, and no
    /// `Transfer-Encoding`) reads as `{}`; anything else must be good JSON.
    pub async fn json_or_empty(self) -> Result<Value, ApiError> {
        if declares_no_body(&self.req) {
            return Ok(Value::Object(Default::default()));
        }
        self.json().await
    }
}

fn declares_no_body(req: &HttpRequest) -> bool {
    let h = req.headers();
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    !h.contains_key(header::TRANSFER_ENCODING) && matches!(length, None | Some("0"))
}

/// A JSON body's failure as the API reports it.
pub fn json_error(e: &JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::Overflow { .. }
        | JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge,
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("send the body as application/json".into())
        }
        JsonPayloadError::Payload(e) => {
            ApiError::BadRequest(format!("The body could not be read whole: {e}"))
        }
        other => ApiError::BadRequest(format!("The body is not valid JSON: {other}")),
    }
}
