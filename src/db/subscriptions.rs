//! A supporter's own choice about campaign mail: unsubscribing through the
//! signed link every campaign mail carries (`/unsubscribe/{token}`, RFC 8058
//! one-click included).
//!
//! Policy: storage only. Verifying the link's signature is the campaign
//! layer's (`campaign::subscriptions`); nothing here knows of tokens or mail.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::supporters;
use super::{DbConnection, DbResult};
use crate::domain::{SupporterId, SupporterStatus};

/// The status of a supporter, or `None` if there is no such supporter.
pub fn status(conn: &mut DbConnection, id: &SupporterId) -> DbResult<Option<SupporterStatus>> {
    Ok(supporters::table
        .find(id)
        .select(supporters::status)
        .first(conn)
        .optional()?)
}

/// Unsubscribes a supporter: status `unsubscribed`, the time recorded and
/// the mail opt-in withdrawn. Idempotent: an already unsubscribed supporter
/// keeps the first time; an erased one is left as erased. Returns `false`
/// when there is no such supporter.
pub fn unsubscribe(
    conn: &mut DbConnection,
    id: &SupporterId,
    now: NaiveDateTime,
) -> DbResult<bool> {
    let Some(current) = status(conn, id)? else {
        return Ok(false);
    };
    if matches!(
        current,
        SupporterStatus::Unsubscribed | SupporterStatus::Erased
    ) {
        return Ok(true);
    }
    diesel::update(
        supporters::table
            .find(id)
            .filter(supporters::status.ne(SupporterStatus::Erased))
            .filter(supporters::status.ne(SupporterStatus::Unsubscribed)),
    )
    .set((
        supporters::status.eq(SupporterStatus::Unsubscribed),
        supporters::unsubscribed_at.eq(now),
        supporters::email_opt_in.eq(false),
        supporters::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(true)
}
