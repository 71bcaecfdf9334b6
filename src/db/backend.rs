//! The one place where SQL differs between SQLite and PostgreSQL. Everything
//! else in `db` is written once against `DbConnection`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{list_members, supporters};
use super::supporters::Supporter;
use super::DbConnection;

/// Which backend a connection talks to, for the few queries that must differ.
pub fn name(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Sqlite(_) => "sqlite",
        DbConnection::Postgres(_) => "postgres",
    }
}

#[derive(diesel::QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    day: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Signatures of a petition by status and UTC day of signing (`YYYY-MM-DD`).
/// Date truncation is spelled differently by each backend.
pub fn signatures_by_day(
    conn: &mut DbConnection,
    petition_id: &str,
) -> super::DbResult<Vec<(String, String, i64)>> {
    use diesel::sql_types::Text;
    const TAIL: &str =
        "FROM signatures WHERE petition_id = $1 GROUP BY status, day ORDER BY status, day";
    let rows: Vec<DayCount> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "SELECT status, date(signed_at) AS day, COUNT(*) AS n {}",
            TAIL.replace("$1", "?")
        ))
        .bind::<Text, _>(petition_id)
        .load(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "SELECT status, to_char(signed_at, 'YYYY-MM-DD') AS day, COUNT(*) AS n {TAIL}"
        ))
        .bind::<Text, _>(petition_id)
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| (r.status, r.day, r.n)).collect())
}

/// Multi-row INSERTs, which diesel's combined connection cannot build; the
/// bulk imports depend on them for speed.
pub fn insert_supporters(conn: &mut DbConnection, rows: &[Supporter]) -> QueryResult<()> {
    // 17 columns: 1000 rows stay under SQLite's 32766 bound parameters.
    for chunk in rows.chunks(1000) {
        let q = diesel::insert_into(supporters::table).values(chunk);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}

pub fn insert_members(
    conn: &mut DbConnection,
    list_id: &str,
    supporter_ids: &[String],
    at: NaiveDateTime,
) -> QueryResult<()> {
    for chunk in supporter_ids.chunks(5000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|s| {
                (
                    list_members::list_id.eq(list_id),
                    list_members::supporter_id.eq(s),
                    list_members::added_at.eq(at),
                )
            })
            .collect();
        let q = diesel::insert_into(list_members::table).values(rows);
        match conn {
            DbConnection::Sqlite(c) => q.execute(c)?,
            DbConnection::Postgres(c) => q.execute(c)?,
        };
    }
    Ok(())
}
