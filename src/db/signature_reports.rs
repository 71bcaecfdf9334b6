//! The read side of `signatures` for organisers: paged listings, the rows of
//! the CSV export, and counts. Signing itself lives elsewhere; this module
//! never writes.
//!
//! Every listing pages by id (UUIDv7, so creation order) within one petition
//! and status, served by the `signatures_petition_status_id` index, so a page
//! costs the same at the millionth row as at the first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{petitions, signatures, supporters};
use super::{DbConnection, DbResult};
use crate::domain::{PetitionId, SignatureId, SignatureStatus, SupporterId};
use crate::vault::Opener;

/// A signature with the signer's name as they signed, their address as it is
/// now (all empty once the signer is erased).
#[derive(Debug, Clone, Queryable)]
pub struct SignatureRow {
    pub id: SignatureId,
    pub status: SignatureStatus,
    pub signed_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
    pub supporter_id: SupporterId,
}

/// Up to `limit` signatures of `petition_id` with `status`, after `after`.
pub fn page(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
    status: SignatureStatus,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<SignatureRow>> {
    let mut q = signatures::table
        .inner_join(supporters::table)
        .filter(signatures::petition_id.eq(petition_id))
        .filter(signatures::status.eq(status))
        .select((
            signatures::id,
            signatures::status,
            signatures::signed_at,
            signatures::confirmed_at,
            signatures::first_name,
            signatures::last_name,
            supporters::email,
            signatures::country,
            signatures::postcode,
            signatures::comment,
            signatures::email_opt_in,
            signatures::supporter_id,
        ))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(signatures::id.gt(after.to_string()));
    }
    let mut rows: Vec<SignatureRow> = q.order(signatures::id.asc()).limit(limit).load(conn)?;
    let mut opener = Opener::new();
    for r in &mut rows {
        for v in [
            &mut r.first_name,
            &mut r.last_name,
            &mut r.email,
            &mut r.postcode,
            &mut r.comment,
        ] {
            opener.open_in(v)?;
        }
    }
    Ok(rows)
}

/// A signature as the CSV export needs it: times as RFC 3339 text.
#[derive(Debug, Clone, Queryable)]
pub struct CsvRow {
    /// The signature id's text, only the paging key here: reading it as a
    /// [`SignatureId`] would parse a UUID per row of an export that is
    /// measured in rows per second.
    pub id: String,
    pub signed_at: String,
    pub confirmed_at: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
}

/// Up to `limit` export rows of `petition_id` with `status`, after `after`.
pub fn csv_page(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
    status: SignatureStatus,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<CsvRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Text};
    let signed = super::backend::timestamp_text_sql(conn, "signatures.signed_at");
    let confirmed = super::backend::timestamp_text_sql(conn, "signatures.confirmed_at");
    let mut q = signatures::table
        .inner_join(supporters::table)
        .filter(signatures::petition_id.eq(petition_id))
        .filter(signatures::status.eq(status))
        .select((
            signatures::id,
            sql::<Text>(&signed),
            sql::<Nullable<Text>>(&confirmed),
            signatures::first_name,
            signatures::last_name,
            supporters::email,
            signatures::country,
            signatures::postcode,
            signatures::comment,
            signatures::email_opt_in,
        ))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(signatures::id.gt(after.to_string()));
    }
    let mut rows: Vec<CsvRow> = q.order(signatures::id.asc()).limit(limit).load(conn)?;
    // Opened as they stream: one page at a time, each value in its own
    // buffer.
    let mut opener = Opener::new();
    for r in &mut rows {
        for v in [
            &mut r.first_name,
            &mut r.last_name,
            &mut r.email,
            &mut r.postcode,
            &mut r.comment,
        ] {
            opener.open_in(v)?;
        }
        rfc3339_from_text(&mut r.signed_at);
        if let Some(t) = &mut r.confirmed_at {
            rfc3339_from_text(t);
        }
    }
    Ok(rows)
}

/// Turns `YYYY-MM-DD HH:MM:SS[.ffffff]` into RFC 3339 UTC to the second,
/// in place; text of any other shape is left as it is.
pub fn rfc3339_from_text(t: &mut String) {
    let b = t.as_bytes();
    if b.len() >= 19 && (b[10] == b' ' || b[10] == b'T') && t.is_char_boundary(19) {
        t.truncate(19);
        t.replace_range(10..11, "T");
        t.push('Z');
    }
}

/// Signatures of `petition_id` by status: (confirmed, pending), counted from
/// the rows themselves rather than the counter cache, so they match an export.
pub fn totals(conn: &mut DbConnection, petition_id: &PetitionId) -> DbResult<(i64, i64)> {
    let rows: Vec<(SignatureStatus, i64)> = signatures::table
        .filter(signatures::petition_id.eq(petition_id))
        .group_by(signatures::status)
        .select((signatures::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(split(rows))
}

fn split(rows: Vec<(SignatureStatus, i64)>) -> (i64, i64) {
    let get = |s: SignatureStatus| {
        rows.iter()
            .filter(|(k, _)| *k == s)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    (
        get(SignatureStatus::Confirmed),
        get(SignatureStatus::Pending),
    )
}

/// (status, key, count) grouped by country.
pub fn by_country(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
) -> DbResult<Vec<(SignatureStatus, String, i64)>> {
    Ok(signatures::table
        .filter(signatures::petition_id.eq(petition_id))
        .group_by((signatures::status, signatures::country))
        .select((
            signatures::status,
            signatures::country,
            diesel::dsl::count_star(),
        ))
        .order((signatures::status.asc(), signatures::country.asc()))
        .load(conn)?)
}

/// (status, UTC day `YYYY-MM-DD` of signing, count).
/// The backend-specific query answers the status as text; a word this
/// build does not know is left out, as the counts always left it out.
pub fn by_day(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
) -> DbResult<Vec<(SignatureStatus, String, i64)>> {
    Ok(super::backend::signatures_by_day(conn, petition_id)?
        .into_iter()
        .filter_map(|(status, day, n)| {
            SignatureStatus::parse(&status)
                .ok()
                .map(|status| (status, day, n))
        })
        .collect())
}

/// The petition id of `slug` (for the CLI, which names petitions by slug).
pub fn petition_id_by_slug(conn: &mut DbConnection, slug: &str) -> DbResult<Option<PetitionId>> {
    Ok(petitions::table
        .filter(petitions::slug.eq(slug))
        .select(petitions::id)
        .first(conn)
        .optional()?)
}

/// One supporter's signatures with their petitions (subject access).
pub fn for_supporter(
    conn: &mut DbConnection,
    supporter_id: &SupporterId,
) -> DbResult<Vec<SupporterSignature>> {
    let rows: Vec<SupporterSignature> = signatures::table
        .inner_join(petitions::table)
        .filter(signatures::supporter_id.eq(supporter_id))
        .order(signatures::id.asc())
        .select((
            signatures::id,
            signatures::petition_id,
            petitions::slug,
            petitions::title,
            signatures::status,
            signatures::country,
            signatures::postcode,
            signatures::comment,
            signatures::email_opt_in,
            signatures::locale,
            signatures::signed_at,
            signatures::confirmed_at,
            signatures::first_name,
            signatures::last_name,
        ))
        .load(conn)?;
    let mut opener = Opener::new();
    rows.into_iter()
        .map(|mut r| {
            for v in [
                &mut r.first_name,
                &mut r.last_name,
                &mut r.postcode,
                &mut r.comment,
            ] {
                opener.open_in(v)?;
            }
            Ok(r)
        })
        .collect()
}

#[derive(Debug, Clone, Queryable)]
pub struct SupporterSignature {
    pub id: SignatureId,
    pub petition_id: PetitionId,
    pub petition_slug: String,
    pub petition_title: String,
    pub status: SignatureStatus,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub email_opt_in: bool,
    pub locale: Option<String>,
    pub signed_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
    /// The name as typed on the form.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// `(first_name, last_name, country, confirmed_at)`.
pub type NamedRow = (
    Option<String>,
    Option<String>,
    String,
    Option<NaiveDateTime>,
);

/// Names and countries of a petition's confirmed signatures, in order of
/// confirmation: `(first_name, last_name, country, confirmed_at)`, no
/// address (the dossier's `signatures.csv`).
pub fn confirmed_names(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
) -> DbResult<Vec<NamedRow>> {
    let rows: Vec<NamedRow> = signatures::table
        .filter(signatures::petition_id.eq(petition_id))
        .filter(signatures::status.eq(SignatureStatus::Confirmed))
        .order((signatures::confirmed_at.asc(), signatures::id.asc()))
        .select((
            signatures::first_name,
            signatures::last_name,
            signatures::country,
            signatures::confirmed_at,
        ))
        .load(conn)?;
    let mut opener = Opener::new();
    rows.into_iter()
        .map(|(mut first, mut last, country, at)| {
            opener.open_in(&mut first)?;
            opener.open_in(&mut last)?;
            Ok((first, last, country, at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::rfc3339_from_text;

    #[test]
    fn stored_times_become_rfc3339_to_the_second() {
        for (stored, want) in [
            ("2026-11-28 16:05:00", "2026-11-28T16:05:00Z"),
            ("2026-11-28 16:05:00.123456", "2026-11-28T16:05:00Z"),
            ("2026-11-28T16:05:00", "2026-11-28T16:05:00Z"),
            ("odd", "odd"),
        ] {
            let mut t = stored.to_string();
            rfc3339_from_text(&mut t);
            assert_eq!(t, want);
        }
    }
}
