//! API tokens. Only a SHA-256 hash of each token is stored; the plaintext is
//! printed once by `clarion token create` and never kept.
//!
//! Storage only; making and checking tokens is `campaign::tokens`.

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
}

/// Stores a token's hash; `role` is a [`Role`]'s word ([`Role::as_str`];
/// test fixtures pass it as text).
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    role: &str,
    token_hash: &str,
) -> DbResult<TokenId> {
    let id = TokenId::new();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(&id),
            api_tokens::name.eq(name),
            api_tokens::role.eq(role),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The live (not revoked) token with this hash.
pub fn find_by_hash(conn: &mut DbConnection, token_hash: &str) -> DbResult<Option<ApiToken>> {
    Ok(api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?)
}
