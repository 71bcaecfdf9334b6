//! The one place where SQL differs between SQLite and PostgreSQL. Everything
//! else in `db` is written once against `DbConnection`.

use super::DbConnection;

/// Which backend a connection talks to, for the few queries that must differ.
pub fn name(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Sqlite(_) => "sqlite",
        DbConnection::Postgres(_) => "postgres",
    }
}
