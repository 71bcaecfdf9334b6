//! Reading JSON bodies field by field, so that a 422 names every bad field at
//! once rather than the first one serde trips on. The reader is the campaign
//! layer's ([`Fields`]); the API only adds its 400 for a body that is not a
//! JSON object.

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
