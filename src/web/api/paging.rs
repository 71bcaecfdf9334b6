//! Cursor paging shared by every list route: `?limit=&cursor=` in,
//! `{"items": […], "next_cursor": … | null}` out. The cursor is the last
//! item's time-ordered id, base64url-encoded so clients treat it as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("Must be a whole number from 1 to {MAX_LIMIT}."),
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => match decode_cursor(c) {
                Some(id) => Some(id),
                None => {
                    errors.push(FieldError::new("cursor", "Not a cursor this API gave out."));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, after })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    (s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(s)
}

#[derive(Debug, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Listing<T> {
    /// Builds a page from up to `limit + 1` rows (the extra one tells whether
    /// there is a next page).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        id: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Listing<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&id(r)))
        } else {
            None
        };
        Listing {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}
