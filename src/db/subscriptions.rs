//! A supporter's own choice about campaign mail: unsubscribing through the
//! signed link every campaign mail carries (`/unsubscribe/{token}`, RFC 8058
//! one-click included).

use diesel::prelude::*;

use super::schema::supporters;
use super::{now, DbConnection, DbResult};

/// The status of a supporter, or `None` if there is no such supporter.
pub fn status(conn: &mut DbConnection, supporter_id: &str) -> DbResult<Option<String>> {
    Ok(supporters::table
        .find(supporter_id)
        .select(supporters::status)
        .first(conn)
        .optional()?)
}

/// Unsubscribes a supporter: status `unsubscribed`, the time recorded and
/// the mail opt-in withdrawn. Idempotent: an already unsubscribed supporter
/// keeps the first time; an erased one is left as erased. Returns `false`
/// when there is no such supporter.
pub fn unsubscribe(conn: &mut DbConnection, supporter_id: &str) -> DbResult<bool> {
    let Some(current) = status(conn, supporter_id)? else {
        return Ok(false);
    };
    if current == "unsubscribed" || current == "erased" {
        return Ok(true);
    }
    let t = now();
    diesel::update(
        supporters::table
            .find(supporter_id)
            .filter(supporters::status.ne("erased"))
            .filter(supporters::status.ne("unsubscribed")),
    )
    .set((
        supporters::status.eq("unsubscribed"),
        supporters::unsubscribed_at.eq(t),
        supporters::email_opt_in.eq(false),
        supporters::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(true)
}
