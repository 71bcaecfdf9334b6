//! Queries on `petitions` and their counter caches. Rows in, rows out: no
//! rules about who may change a petition or what follows from it (that is
//! `campaign::petitions`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{petition_country_counts, petitions};
use super::{DbConnection, DbResult};
use crate::domain::{CaseId, PetitionId, PetitionStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = petitions)]
pub struct Petition {
    pub id: PetitionId,
    pub case_id: CaseId,
    pub slug: String,
    pub title: String,
    pub target: String,
    pub body: String,
    pub goal: Option<i64>,
    pub status: PetitionStatus,
    pub require_confirmation: bool,
    pub confirmed_count: i64,
    pub pending_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Countries with fewer confirmed signatures are summed into "other"
    /// wherever the public sees counts (0: none hidden).
    pub public_min_count: i64,
}

/// The columns an update sets; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = petitions)]
pub struct PetitionChanges {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub target: Option<String>,
    pub body: Option<String>,
    pub goal: Option<Option<i64>>,
    pub status: Option<PetitionStatus>,
    pub require_confirmation: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
    pub public_min_count: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, petition: &Petition) -> QueryResult<()> {
    diesel::insert_into(petitions::table)
        .values(petition)
        .execute(conn)?;
    // Its signature log starts empty, with the petition: appending then
    // only ever locks a row that exists.
    diesel::insert_into(super::schema::signature_log_heads::table)
        .values((
            super::schema::signature_log_heads::petition_id.eq(&petition.id),
            super::schema::signature_log_heads::seq.eq(0i64),
            super::schema::signature_log_heads::hash.eq(crate::domain::ledger::GENESIS),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &PetitionId) -> DbResult<Option<Petition>> {
    Ok(petitions::table
        .find(id)
        .select(Petition::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_slug(conn: &mut DbConnection, slug: &str) -> DbResult<Option<Petition>> {
    Ok(petitions::table
        .filter(petitions::slug.eq(slug))
        .select(Petition::as_select())
        .first(conn)
        .optional()?)
}

/// The petition a signature belongs to.
pub fn get_by_signature(conn: &mut DbConnection, signature_id: &str) -> DbResult<Option<Petition>> {
    use super::schema::signatures;
    Ok(petitions::table
        .inner_join(signatures::table)
        .filter(signatures::id.eq(signature_id))
        .select(Petition::as_select())
        .first(conn)
        .optional()?)
}

/// A page of petitions in creation order, after the cursor (an id's text).
pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<Petition>> {
    let mut q = petitions::table.select(Petition::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(petitions::id.gt(after.to_string()));
    }
    Ok(q.order(petitions::id.asc()).limit(limit).load(conn)?)
}

/// Every petition in creation order: the choices of a form's menu,
/// which must offer each one, however many there are.
pub fn all(conn: &mut DbConnection) -> DbResult<Vec<Petition>> {
    Ok(petitions::table
        .select(Petition::as_select())
        .order(petitions::id.asc())
        .load(conn)?)
}

/// `limit` petitions in creation order (ids are UUID v7) from row
/// `offset`: the console's numbered pages.
pub fn page_at(conn: &mut DbConnection, offset: i64, limit: i64) -> DbResult<Vec<Petition>> {
    Ok(petitions::table
        .select(Petition::as_select())
        .order(petitions::id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

pub fn for_case(conn: &mut DbConnection, case_id: &CaseId) -> DbResult<Vec<Petition>> {
    Ok(petitions::table
        .filter(petitions::case_id.eq(case_id))
        .order(petitions::id.asc())
        .select(Petition::as_select())
        .load(conn)?)
}

pub fn open(conn: &mut DbConnection) -> DbResult<Vec<Petition>> {
    Ok(petitions::table
        .filter(petitions::status.eq(PetitionStatus::Open))
        .order(petitions::id.asc())
        .select(Petition::as_select())
        .load(conn)?)
}

pub fn update(
    conn: &mut DbConnection,
    id: &PetitionId,
    changes: &PetitionChanges,
) -> QueryResult<usize> {
    diesel::update(petitions::table.find(id))
        .set(changes)
        .execute(conn)
}

/// Confirmed signatures per country, from the counter cache.
pub fn country_counts(
    conn: &mut DbConnection,
    petition_id: &PetitionId,
) -> DbResult<Vec<(String, i64)>> {
    Ok(petition_country_counts::table
        .filter(petition_country_counts::petition_id.eq(petition_id))
        .filter(petition_country_counts::confirmed.gt(0))
        .order(petition_country_counts::country.asc())
        .select((
            petition_country_counts::country,
            petition_country_counts::confirmed,
        ))
        .load(conn)?)
}
