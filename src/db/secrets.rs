//! Process-wide secrets kept in the database, so that every instance on one
//! database signs and checks tokens with the same key.
//!
//! Read once at start-up (`startup::prepare`); the values are never logged.

use diesel::prelude::*;

use super::schema::app_secrets;
use super::{now, DbConnection, DbResult};

/// Returns the secret named `name`, creating it with `generate` the first time.
/// Two instances racing here both end up with the first one's value.
pub fn get_or_create(
    conn: &mut DbConnection,
    name: &str,
    generate: impl FnOnce() -> String,
) -> DbResult<String> {
    let existing: Option<String> = app_secrets::table
        .find(name)
        .select(app_secrets::value)
        .first(conn)
        .optional()?;
    if let Some(v) = existing {
        return Ok(v);
    }
    let inserted = diesel::insert_into(app_secrets::table)
        .values((
            app_secrets::name.eq(name),
            app_secrets::value.eq(generate()),
            app_secrets::created_at.eq(now()),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(e) if super::is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(app_secrets::table
        .find(name)
        .select(app_secrets::value)
        .first(conn)?)
}
