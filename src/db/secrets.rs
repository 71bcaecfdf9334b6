//! The `app_secrets` table, where generated secret keys were once kept.
//! Keys now live in a key file outside the database (`startup::prepare`,
//! [`crate::security::key_file`]): anyone who read a table could have
//! forged sessions and links. At start-up an old installation's key is read
//! from here, written to the key file (so links already mailed keep
//! working) and the rows are deleted. Nothing writes this table any more.
//!
//! The values are never logged.

use diesel::prelude::*;

use super::schema::app_secrets;
use super::{DbConnection, DbResult};

/// The name the secret key was stored under.
pub const LEGACY_SECRET_KEY: &str = "secret_key";

/// The secret key an older version left in the table, if any.
pub fn legacy_secret_key(conn: &mut DbConnection) -> DbResult<Option<String>> {
    Ok(app_secrets::table
        .find(LEGACY_SECRET_KEY)
        .select(app_secrets::value)
        .first(conn)
        .optional()?)
}

/// Deletes every row: once the key is in its file, the table holds nothing.
pub fn delete_all(conn: &mut DbConnection) -> DbResult<usize> {
    Ok(diesel::delete(app_secrets::table).execute(conn)?)
}

/// Every secret's name still in the table (tests: none after start-up).
pub fn names(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    Ok(app_secrets::table.select(app_secrets::name).load(conn)?)
}
