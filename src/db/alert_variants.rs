//! Queries on `alert_variants` and on `alerts.locale`: an alert's own
//! language and its translations (contract §9). The campaign layer checks
//! what is stored; this module only reads and writes it.

use diesel::prelude::*;

use super::schema::{alert_variants, alerts};
use super::{DbConnection, DbResult};
use crate::domain::AlertId;

/// One translation of an alert: the text a supporter of `locale` gets.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Variant {
    /// A shipped locale's tag (`fr`).
    pub locale: String,
    pub subject: String,
    pub body_markdown: String,
}

/// Replaces alert `id`'s variants and its own language.
pub fn set(
    conn: &mut DbConnection,
    id: &AlertId,
    locale: Option<&str>,
    variants: &[Variant],
) -> DbResult<()> {
    diesel::update(alerts::table.find(id))
        .set(alerts::locale.eq(locale))
        .execute(conn)?;
    diesel::delete(alert_variants::table.filter(alert_variants::alert_id.eq(id.as_str())))
        .execute(conn)?;
    for v in variants {
        diesel::insert_into(alert_variants::table)
            .values((
                alert_variants::alert_id.eq(id.as_str()),
                alert_variants::locale.eq(&v.locale),
                alert_variants::subject.eq(&v.subject),
                alert_variants::body_markdown.eq(&v.body_markdown),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Alert `id`'s variants by locale tag.
pub fn of(conn: &mut DbConnection, id: &AlertId) -> DbResult<Vec<Variant>> {
    Ok(alert_variants::table
        .filter(alert_variants::alert_id.eq(id.as_str()))
        .select((
            alert_variants::locale,
            alert_variants::subject,
            alert_variants::body_markdown,
        ))
        .order(alert_variants::locale.asc())
        .load(conn)?)
}

/// The language of alert `id`'s own text, when it names one.
pub fn locale_of(conn: &mut DbConnection, id: &AlertId) -> DbResult<Option<String>> {
    Ok(alerts::table
        .find(id)
        .select(alerts::locale)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
