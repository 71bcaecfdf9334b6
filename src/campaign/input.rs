//! Reading an action's input field by field from a JSON object (the API's
//! body, or the console's form turned into one), so a refusal names every
//! bad field at once rather than the first one serde trips on.
//!
//! The one reader of such input: the API's routes use it too (through
//! `web/api/input.rs`, which only adds the 400 for a body that is not an
//! object).

use serde_json::{Map, Value};

use super::{CampaignError, CampaignResult, FieldError};

pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Fields {
        Fields {
            map,
            errors: Vec::new(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn bad(&mut self, name: &str, message: impl Into<String>) {
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
            Some(Value::String(s)) => match parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    let message = e.to_string();
                    self.bad(name, message);
                    None
                }
            },
            Some(_) => {
                self.bad(name, "Must be a string.");
                None
            }
        }
    }

    /// An optional string field of an update: `None` when absent (the
    /// value stays as it is), `Some(None)` when `null` or blank (the value
    /// is cleared: an emptied field of a form means "no value", not "no
    /// change"), else parsed by `parse`, errors recorded as in
    /// [`Self::string`].
    pub fn clearable_string<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match self.map.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(_) => self.string(name, false, parse).map(Some),
        }
    }

    /// An optional whole number of an update, as [`Self::clearable_string`]:
    /// absent → `None`, `null` or a blank string → `Some(None)`.
    pub fn clearable_integer(&mut self, name: &str, min: i64, max: i64) -> Option<Option<i64>> {
        match self.map.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(_) => self.integer(name, min, max).map(Some),
        }
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

    /// `Invalid` with every error recorded so far, if any.
    pub fn finish(self) -> CampaignResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(CampaignError::Invalid(self.errors))
        }
    }
}
