//! API tokens: creating them and finding a caller by the secret they hold.
//!
//! A token's secret is made here, handed back once from [`create`], and
//! never stored, logged or audited: only its SHA-256 hash is kept, and
//! [`authenticate`] looks a presented secret up by that hash.

use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{Role, TokenId};

pub use crate::db::tokens::ApiToken;

/// Longest token name, in bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// A token to create: a name to recognise it by, and its role.
#[derive(Debug, Clone)]
pub struct NewToken {
    name: String,
    role: Role,
}

impl NewToken {
    /// The name is trimmed and must be 1 to [`MAX_NAME_BYTES`] printable
    /// characters.
    pub fn new(name: &str, role: Role) -> CampaignResult<NewToken> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
            return Err(CampaignError::invalid(
                "name",
                "must be 1 to 100 printable characters",
            ));
        }
        Ok(NewToken {
            name: name.to_string(),
            role,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role
    }
}

/// A token just made: its secret, shown this once.
#[derive(Debug)]
pub struct CreatedToken {
    pub id: TokenId,
    pub secret: String,
}

/// Creates a token (admins and the CLI only). The audit entry names the role,
/// never the secret.
pub async fn create(ctx: &Context, actor: &Actor, input: NewToken) -> CampaignResult<CreatedToken> {
    actor.require(Role::Admin)?;
    let actor_name = actor.audit_name();
    let secret = crate::security::random_token();
    let hash = crate::security::hash_token(&secret);
    let id = ctx
        .write(move |c| {
            let id = db::tokens::create(c, &input.name, input.role.as_str(), &hash)?;
            db::audit::record(
                c,
                &actor_name,
                "token.create",
                "api_token",
                None,
                Some(input.role.as_str()),
            )?;
            Ok(id)
        })
        .await?;
    Ok(CreatedToken { id, secret })
}

/// The API caller holding `secret`, if it is a live (unrevoked) token.
pub async fn authenticate(ctx: &Context, secret: &str) -> CampaignResult<Option<Actor>> {
    let hash = crate::security::hash_token(secret);
    let found = ctx
        .run(move |c| Ok(db::tokens::find_by_hash(c, &hash)?))
        .await?;
    Ok(found.map(|t| Actor::Token {
        id: t.id,
        name: t.name,
        role: t.role,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_trimmed_printable_and_short() {
        let t = NewToken::new("  ci script ", Role::Organiser).unwrap();
        assert_eq!(t.name(), "ci script");
        assert!(NewToken::new("   ", Role::Admin).is_err());
        assert!(NewToken::new("a\u{7}b", Role::Admin).is_err());
        assert!(NewToken::new(&"x".repeat(101), Role::Admin).is_err());
        assert!(NewToken::new(&"x".repeat(100), Role::Admin).is_ok());
    }
}
