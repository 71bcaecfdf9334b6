//! Queries on `lists` and `list_members`: the named groups of supporters that
//! alerts are sent to. Membership says nothing about whether a person may be
//! mailed; the supporter's status decides that.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{list_members, lists, supporters};
use super::{DbConnection, DbResult};
use crate::domain::{ListId, SupporterId, SupporterStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lists)]
pub struct List {
    pub id: ListId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Members of a list: all of them, and those who may be mailed
/// ([`SupporterStatus::mailable`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberCounts {
    pub members: i64,
    pub active: i64,
}

pub fn insert(conn: &mut DbConnection, list: &List) -> QueryResult<()> {
    diesel::insert_into(lists::table)
        .values(list)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, id: &ListId) -> DbResult<Option<List>> {
    Ok(lists::table
        .find(id)
        .select(List::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_name(conn: &mut DbConnection, name: &str) -> DbResult<Option<List>> {
    Ok(lists::table
        .filter(lists::name.eq(name))
        .select(List::as_select())
        .first(conn)
        .optional()?)
}

pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<List>> {
    let mut q = lists::table.select(List::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(lists::id.gt(after.to_string()));
    }
    Ok(q.order(lists::id.asc()).limit(limit).load(conn)?)
}

/// Every list in creation order: the choices of a form's menu,
/// which must offer each one, however many there are.
pub fn all(conn: &mut DbConnection) -> DbResult<Vec<List>> {
    Ok(lists::table
        .select(List::as_select())
        .order(lists::id.asc())
        .load(conn)?)
}

/// `limit` lists in creation order (ids are UUID v7) from row `offset`:
/// the console's numbered pages.
pub fn page_at(conn: &mut DbConnection, offset: i64, limit: i64) -> DbResult<Vec<List>> {
    Ok(lists::table
        .select(List::as_select())
        .order(lists::id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// Member counts of each of `list_ids` (lists without members are absent).
pub fn member_counts(
    conn: &mut DbConnection,
    list_ids: &[ListId],
) -> DbResult<HashMap<ListId, MemberCounts>> {
    let mailable: Vec<SupporterStatus> = SupporterStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.mailable())
        .collect();
    let members: Vec<(ListId, i64)> = list_members::table
        .filter(list_members::list_id.eq_any(list_ids))
        .group_by(list_members::list_id)
        .select((list_members::list_id, diesel::dsl::count_star()))
        .load(conn)?;
    let active: Vec<(ListId, i64)> = list_members::table
        .inner_join(supporters::table)
        .filter(list_members::list_id.eq_any(list_ids))
        .filter(supporters::status.eq_any(mailable))
        .group_by(list_members::list_id)
        .select((list_members::list_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out: HashMap<ListId, MemberCounts> = HashMap::new();
    for (list_id, n) in members {
        out.entry(list_id).or_default().members = n;
    }
    for (list_id, n) in active {
        out.entry(list_id).or_default().active = n;
    }
    Ok(out)
}

/// Which of `supporter_ids` are already members of `list_id`.
pub fn members_among(
    conn: &mut DbConnection,
    list_id: &ListId,
    supporter_ids: &[SupporterId],
) -> DbResult<Vec<SupporterId>> {
    Ok(list_members::table
        .filter(list_members::list_id.eq(list_id))
        .filter(list_members::supporter_id.eq_any(supporter_ids))
        .select(list_members::supporter_id)
        .load(conn)?)
}

/// Adds memberships; the caller has checked that none exists yet.
pub fn add_members(
    conn: &mut DbConnection,
    list_id: &ListId,
    supporter_ids: &[SupporterId],
    at: NaiveDateTime,
) -> DbResult<()> {
    // The sized multi-row INSERT takes the stored text.
    let ids: Vec<String> = supporter_ids
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    super::backend::insert_members(conn, list_id.as_str(), &ids, at)?;
    Ok(())
}

/// The lists one supporter belongs to, with the time each membership began.
pub fn for_supporter(
    conn: &mut DbConnection,
    supporter_id: &SupporterId,
) -> DbResult<Vec<(List, NaiveDateTime)>> {
    Ok(list_members::table
        .inner_join(lists::table)
        .filter(list_members::supporter_id.eq(supporter_id))
        .order(lists::name.asc())
        .select((List::as_select(), list_members::added_at))
        .load(conn)?)
}

/// Removes a supporter from every list (erasure).
pub fn remove_supporter(conn: &mut DbConnection, supporter_id: &SupporterId) -> DbResult<usize> {
    Ok(
        diesel::delete(list_members::table.filter(list_members::supporter_id.eq(supporter_id)))
            .execute(conn)?,
    )
}
