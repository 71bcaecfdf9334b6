//! The audit log: who did what to which kind of thing, and when. It records
//! actors (token or user names) and target ids, never a supporter's personal
//! data.
//!
//! Storage only: which action records what, under which actor name, is the
//! campaign layer's to decide (`Actor::audit_name`).

use diesel::prelude::*;

use super::schema::audit_log;
use super::{now, DbConnection, DbResult};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub detail: Option<String>,
}

pub fn record(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: Option<&str>,
    detail: Option<&str>,
) -> DbResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(now()),
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::target_type.eq(target_type),
            audit_log::target_id.eq(target_id),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn recent(conn: &mut DbConnection, limit: i64) -> DbResult<Vec<AuditEntry>> {
    Ok(audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?)
}
