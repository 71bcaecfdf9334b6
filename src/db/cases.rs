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
    /// Days after the case ended when its signers' data that nothing else
    /// holds is erased; `None` keeps it.
    pub retention_days: Option<i64>,
    /// When the case was last resolved or closed; `None` while open.
    pub ended_at: Option<NaiveDateTime>,
    /// When retention last found nobody left to erase.
    pub retention_done_at: Option<NaiveDateTime>,
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
    pub retention_days: Option<Option<i64>>,
    pub ended_at: Option<Option<NaiveDateTime>>,
    pub retention_done_at: Option<Option<NaiveDateTime>>,
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

/// The cases whose retention is due at `now`: resolved or closed, with a
/// retention, ended at least that many days ago, and not yet found done.
/// The day arithmetic is done here, not in SQL, so both backends agree.
pub fn retention_due(conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<Vec<Case>> {
    let ended: Vec<Case> = cases::table
        .filter(cases::status.eq_any([CaseStatus::Resolved, CaseStatus::Closed]))
        .filter(cases::retention_days.is_not_null())
        .filter(cases::ended_at.is_not_null())
        .filter(cases::retention_done_at.is_null())
        .order(cases::id.asc())
        .select(Case::as_select())
        .load(conn)?;
    Ok(ended.into_iter().filter(|c| c.retention_due(now)).collect())
}

impl Case {
    /// When its signers' data is to be erased, if ever (ended, with a
    /// retention).
    pub fn erase_after(&self) -> Option<NaiveDateTime> {
        let ended = matches!(self.status, CaseStatus::Resolved | CaseStatus::Closed);
        match (ended, self.ended_at, self.retention_days) {
            (true, Some(at), Some(days)) => {
                Some(at + chrono::Duration::days(days.clamp(0, 365_000)))
            }
            _ => None,
        }
    }

    /// Whether retention is due at `now`.
    pub fn retention_due(&self, now: NaiveDateTime) -> bool {
        self.erase_after().is_some_and(|t| t <= now)
    }
}

/// Up to `limit` supporters, not yet erased, who signed a petition of case
/// `case_id` and whom nothing else holds: on no list, and with no signature
/// (pending or confirmed) on a petition of a case other than those in
/// `due` (the cases whose retention is due now, this one among them).
pub fn retention_signers(
    conn: &mut DbConnection,
    case_id: &CaseId,
    due: &[CaseId],
    limit: i64,
) -> DbResult<Vec<crate::domain::SupporterId>> {
    use super::schema::{list_members, petitions, signatures, supporters};
    use diesel::dsl::not;
    let of_case = petitions::table
        .filter(petitions::case_id.eq(case_id))
        .select(petitions::id);
    let held_petitions = petitions::table
        .filter(not(petitions::case_id.eq_any(due)))
        .select(petitions::id);
    let signers = signatures::table
        .filter(signatures::petition_id.eq_any(of_case))
        .select(signatures::supporter_id);
    let held_by_signature = signatures::table
        .filter(signatures::petition_id.eq_any(held_petitions))
        .select(signatures::supporter_id);
    let on_a_list = list_members::table.select(list_members::supporter_id);
    Ok(supporters::table
        .filter(supporters::erased_at.is_null())
        .filter(supporters::id.eq_any(signers))
        .filter(not(supporters::id.eq_any(on_a_list)))
        .filter(not(supporters::id.eq_any(held_by_signature)))
        .order(supporters::id.asc())
        .limit(limit)
        .select(supporters::id)
        .load(conn)?)
}

/// Marks case `id`'s retention done at `at` (nobody was left to erase).
pub fn retention_done(conn: &mut DbConnection, id: &CaseId, at: NaiveDateTime) -> DbResult<()> {
    diesel::update(cases::table.find(id))
        .set(cases::retention_done_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}
