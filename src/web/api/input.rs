//! Reading JSON bodies field by field, so that a 422 names every bad field at
//! once rather than the first one serde trips on.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

pub struct Fields {
    map: Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl Fields {
    pub fn new(body: Value) -> Result<Fields, ApiError> {
        match body {
            Value::Object(map) => Ok(Fields {
                map,
                errors: Vec::new(),
            }),
            _ => Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            )),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn bad(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// A string field parsed by `parse`; records an error and returns `None`
    /// when it is missing (if `required`), not a string, or rejected.
    pub fn string<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.bad(name, "This field is required.");
                }
                None
            }
            Some(Value::String(s)) => {
                let s = s.clone();
                match parse(&s) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.bad(name, e.to_string());
                        None
                    }
                }
            }
            Some(_) => {
                self.bad(name, "Must be a string.");
                None
            }
        }
    }

    /// One of `allowed`.
    pub fn choice(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        let msg = format!("Must be one of: {}.", allowed.join(", "));
        self.string(name, false, |s| {
            if allowed.contains(&s) {
                Ok(s.to_string())
            } else {
                Err(msg)
            }
        })
    }

    pub fn integer(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    self.bad(name, format!("Must be a whole number from {min} to {max}."));
                    None
                }
            },
            Some(_) => {
                self.bad(name, "Must be a number.");
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.bad(name, "Must be true or false.");
                None
            }
        }
    }

    pub fn string_list(&mut self, name: &str, required: bool) -> Option<Vec<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.bad(name, "This field is required.");
                }
                None
            }
            Some(Value::Array(items)) => {
                let out: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                if out.is_none() {
                    self.bad(name, "Must be a list of strings.");
                }
                out
            }
            Some(_) => {
                self.bad(name, "Must be a list of strings.");
                None
            }
        }
    }

    /// 422 with every error recorded so far, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
