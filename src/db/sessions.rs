//! Console sessions, server-side: one row per signed-in browser, holding
//! only a SHA-256 of the session id (the cookie carries the id itself), the
//! user, and when it began and ends. A copy of this table lets nobody
//! present a session.
//!
//! Storage only; when sessions start and end is `campaign::users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sessions;
use super::{DbConnection, DbResult};
use crate::domain::UserId;

/// Records a session whose id hashes to `id_hash`.
pub fn create(
    conn: &mut DbConnection,
    id_hash: &str,
    user_id: &UserId,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> DbResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(created_at),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user of the unexpired session whose id hashes to `id_hash`.
pub fn user_of(
    conn: &mut DbConnection,
    id_hash: &str,
    now: NaiveDateTime,
) -> DbResult<Option<UserId>> {
    Ok(sessions::table
        .find(id_hash)
        .filter(sessions::expires_at.gt(now))
        .select(sessions::user_id)
        .first(conn)
        .optional()?)
}

/// Ends one session.
pub fn delete(conn: &mut DbConnection, id_hash: &str) -> DbResult<()> {
    diesel::delete(sessions::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// Ends every session of the user; the number ended.
pub fn delete_for_user(conn: &mut DbConnection, user_id: &UserId) -> DbResult<usize> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

/// Forgets sessions that ended before `now`.
pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<usize> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?)
}

/// How many sessions the user has open (for tests and the users page).
pub fn count_for_user(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> DbResult<i64> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .count()
        .get_result(conn)?)
}
