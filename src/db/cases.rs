//! Queries on `cases`. Rows in, rows out: no rules about who may change a
//! case or what follows from it (that is `campaign::cases`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::cases;
use super::{DbConnection, DbResult};
use crate::domain::{CaseId, CaseStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases)]
pub struct Case {
    pub id: CaseId,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub subject_name: Option<String>,
    pub country: Option<String>,
    pub body: Option<String>,
    pub status: CaseStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The columns an update sets; `None` leaves a column as it is and
/// `Some(None)` sets a nullable one to NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = cases)]
pub struct CaseChanges {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub subject_name: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub body: Option<Option<String>>,
    pub status: Option<CaseStatus>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, case: &Case) -> QueryResult<()> {
    diesel::insert_into(cases::table)
        .values(case)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &CaseId) -> DbResult<Option<Case>> {
    Ok(cases::table
        .find(id)
        .select(Case::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_slug(conn: &mut DbConnection, slug: &str) -> DbResult<Option<Case>> {
    Ok(cases::table
        .filter(cases::slug.eq(slug))
        .select(Case::as_select())
        .first(conn)
        .optional()?)
}

/// A page of cases in creation order, after the cursor (an id's text; a
/// cursor is opaque to clients, so it need not name a case that exists).
pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<Case>> {
    let mut q = cases::table.select(Case::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(cases::id.gt(after.to_string()));
    }
    Ok(q.order(cases::id.asc()).limit(limit).load(conn)?)
}

/// Every case in creation order: the choices of a form's menu,
/// which must offer each one, however many there are.
pub fn all(conn: &mut DbConnection) -> DbResult<Vec<Case>> {
    Ok(cases::table
        .select(Case::as_select())
        .order(cases::id.asc())
        .load(conn)?)
}

/// `limit` cases in creation order (ids are UUID v7) from row `offset`:
/// the console's numbered pages.
pub fn page_at(conn: &mut DbConnection, offset: i64, limit: i64) -> DbResult<Vec<Case>> {
    Ok(cases::table
        .select(Case::as_select())
        .order(cases::id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

pub fn count(conn: &mut DbConnection) -> DbResult<i64> {
    Ok(cases::table.count().get_result(conn)?)
}

pub fn update(conn: &mut DbConnection, id: &CaseId, changes: &CaseChanges) -> QueryResult<usize> {
    diesel::update(cases::table.find(id))
        .set(changes)
        .execute(conn)
}
