//! API tokens. Only a SHA-256 hash of each token is stored; the plaintext is
//! printed once by `clarion token create` and never kept.
//!
//! Storage only; making and checking tokens is `campaign::tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_tokens;
use super::{now, DbConnection, DbResult};
use crate::domain::{Role, TokenId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub token_hash: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
    pub revoked_at: Option<chrono::NaiveDateTime>,
    pub expires_at: Option<chrono::NaiveDateTime>,
}

/// `last_used_at` is written at most this often per token, so a busy script
/// costs one small write a minute, not one per request.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Stores a token's hash; `role` is a [`Role`]'s word ([`Role::as_str`];
/// test fixtures pass it as text). It never expires.
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    role: &str,
    token_hash: &str,
) -> DbResult<TokenId> {
    create_expiring(conn, name, role, token_hash, None)
}

/// As [`create`], valid until `expires_at` when given.
pub fn create_expiring(
    conn: &mut DbConnection,
    name: &str,
    role: &str,
    token_hash: &str,
    expires_at: Option<NaiveDateTime>,
) -> DbResult<TokenId> {
    let id = TokenId::new();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(&id),
            api_tokens::name.eq(name),
            api_tokens::role.eq(role),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::created_at.eq(now()),
            api_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The live token with this hash: not revoked, not expired at `at`.
pub fn find_live_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    at: NaiveDateTime,
) -> DbResult<Option<ApiToken>> {
    Ok(api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(at)),
        )
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?)
}

/// True when the token's `last_used_at` is older than
/// [`LAST_USED_GRANULARITY_SECS`] before `at` (or unset).
pub fn last_use_is_stale(token: &ApiToken, at: NaiveDateTime) -> bool {
    token
        .last_used_at
        .is_none_or(|t| t < at - chrono::Duration::seconds(LAST_USED_GRANULARITY_SECS))
}

/// Records a use at `at`, unless another request did within the minute.
pub fn touch(conn: &mut DbConnection, id: &TokenId, at: NaiveDateTime) -> DbResult<()> {
    let stale = at - chrono::Duration::seconds(LAST_USED_GRANULARITY_SECS);
    diesel::update(
        api_tokens::table.find(id).filter(
            api_tokens::last_used_at
                .is_null()
                .or(api_tokens::last_used_at.lt(stale)),
        ),
    )
    .set(api_tokens::last_used_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// Every token, oldest first, revoked and expired ones included.
pub fn all(conn: &mut DbConnection) -> DbResult<Vec<ApiToken>> {
    Ok(api_tokens::table
        .order((api_tokens::created_at.asc(), api_tokens::id.asc()))
        .select(ApiToken::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut DbConnection, id: &TokenId) -> DbResult<Option<ApiToken>> {
    Ok(api_tokens::table
        .find(id)
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes the token at `at` (a revoked one keeps its first revocation
/// time). False when there is no such token.
pub fn revoke(conn: &mut DbConnection, id: &TokenId, at: NaiveDateTime) -> DbResult<bool> {
    if get(conn, id)?.is_none() {
        return Ok(false);
    }
    diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(at))
    .execute(conn)?;
    Ok(true)
}
