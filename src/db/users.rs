//! Console users: people who sign in at `/admin`. Passwords are stored only
//! as argon2id PHC strings ([`crate::security::hash_password`]); failed
//! sign-ins are counted here so repeated guessing is slowed, then locked out.
//!
//! Storage only: rows in, rows out. The rules (password length, who may
//! change whom, what is audited) live in `campaign::users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::{now, DbConnection, DbResult};
use crate::domain::{Role, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set while an admin has disabled the user: no sign-in, no session.
    pub disabled_at: Option<NaiveDateTime>,
}

/// Creates a user; the email must already be normalised (lower case) and
/// `role` a [`Role`]'s word ([`Role::as_str`]; test fixtures pass it as
/// text).
pub fn create(
    conn: &mut DbConnection,
    email: &str,
    role: &str,
    password_hash: &str,
) -> DbResult<UserId> {
    let id = UserId::new();
    let t = now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::email.eq(email),
            users::role.eq(role),
            users::password_hash.eq(password_hash),
            users::failed_logins.eq(0),
            users::created_at.eq(t),
            users::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn get(conn: &mut DbConnection, id: &UserId) -> DbResult<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_email(conn: &mut DbConnection, email: &str) -> DbResult<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn all(conn: &mut DbConnection) -> DbResult<Vec<User>> {
    Ok(users::table
        .order(users::email.asc())
        .select(User::as_select())
        .load(conn)?)
}

/// The caller ends the user's sessions (`db::sessions`).
pub fn set_role(conn: &mut DbConnection, id: &UserId, role: Role) -> DbResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((users::role.eq(role), users::updated_at.eq(now())))
        .execute(conn)?;
    Ok(n == 1)
}

/// Counts a failed sign-in, for the Users page and the audit; who may try
/// again when is `campaign::sign_in_guard`'s, which treats known and unknown
/// addresses alike. Returns the new count.
pub fn record_failure(conn: &mut DbConnection, id: &UserId) -> DbResult<i32> {
    let current: i32 = users::table
        .find(id)
        .select(users::failed_logins)
        .first(conn)?;
    let failures = current + 1;
    diesel::update(users::table.find(id))
        .set(users::failed_logins.eq(failures))
        .execute(conn)?;
    Ok(failures)
}

/// Disables the user (`Some(at)`) or enables them again (`None`).
pub fn set_disabled(
    conn: &mut DbConnection,
    id: &UserId,
    at: Option<NaiveDateTime>,
) -> DbResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((users::disabled_at.eq(at), users::updated_at.eq(now())))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes the user; their sessions go with them (`ON DELETE CASCADE`).
pub fn delete(conn: &mut DbConnection, id: &UserId) -> DbResult<bool> {
    Ok(diesel::delete(users::table.find(id)).execute(conn)? == 1)
}

/// Sets a new password hash and clears any lock (the caller ends the
/// user's sessions).
pub fn set_password(conn: &mut DbConnection, id: &UserId, password_hash: &str) -> DbResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// A successful sign-in: the failure count and any lock are cleared.
pub fn record_success(conn: &mut DbConnection, id: &UserId, at: NaiveDateTime) -> DbResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::last_login_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
