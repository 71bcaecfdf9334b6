//! API tokens: creating, listing and revoking them, and finding a caller by
//! the secret they hold.
//!
//! A token's secret is made here, handed back once from [`create`], and
//! never stored, logged, listed or audited: only its SHA-256 hash is kept,
//! and [`authenticate`] looks a presented secret up by that hash. A revoked
//! or expired token authenticates nobody. Each use is recorded as the
//! token's last-used time, written at most once a minute per token
//! ([`db::tokens::LAST_USED_GRANULARITY_SECS`]) so the hot path stays a read.
//! Only admins (and the CLI) create, list and revoke; each is audited.

use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{Role, TokenId};

pub use crate::db::tokens::ApiToken;

/// Longest token name, in bytes.
pub const MAX_NAME_BYTES: usize = 100;
/// Longest lifetime `--expires-in` takes, in days (ten years).
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// A token to create: a name to recognise it by, its role and, optionally,
/// how many days it lives.
#[derive(Debug, Clone)]
pub struct NewToken {
    name: String,
    role: Role,
    expires_in_days: Option<u32>,
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
            expires_in_days: None,
        })
    }

    /// The token expires `days` (1 to [`MAX_EXPIRY_DAYS`]) after its creation.
    pub fn expiring_in(mut self, days: u32) -> CampaignResult<NewToken> {
        if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
            return Err(CampaignError::invalid(
                "expires_in",
                format!("must be 1 to {MAX_EXPIRY_DAYS} days"),
            ));
        }
        self.expires_in_days = Some(days);
        Ok(self)
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
    let expires_at = input
        .expires_in_days
        .map(|d| ctx.now() + chrono::Duration::days(i64::from(d)));
    let id = ctx
        .write(move |c| {
            let id = db::tokens::create_expiring(
                c,
                &input.name,
                input.role.as_str(),
                &hash,
                expires_at,
            )?;
            db::audit::record(
                c,
                &actor_name,
                "token.create",
                "api_token",
                Some(id.as_str()),
                Some(input.role.as_str()),
            )?;
            Ok(id)
        })
        .await?;
    Ok(CreatedToken { id, secret })
}

/// Every token (admins and the CLI only), oldest first, with revoked and
/// expired ones: never a secret, which is not kept.
pub async fn list(ctx: &Context, actor: &Actor) -> CampaignResult<Vec<TokenInfo>> {
    actor.require(Role::Admin)?;
    let now = ctx.now();
    let all = ctx.run(|c| Ok(db::tokens::all(c)?)).await?;
    Ok(all.into_iter().map(|t| TokenInfo::of(t, now)).collect())
}

/// Revokes a token (admins and the CLI only): from now on it answers 401.
/// Revoking a revoked token changes nothing; an unknown one is `NotFound`.
pub async fn revoke(ctx: &Context, actor: &Actor, id: &TokenId) -> CampaignResult<()> {
    actor.require(Role::Admin)?;
    let (id, actor_name, now) = (id.clone(), actor.audit_name(), ctx.now());
    ctx.write(move |c| {
        if !db::tokens::revoke(c, &id, now)? {
            return Err(CampaignError::not_found("token"));
        }
        db::audit::record(
            c,
            &actor_name,
            "token.revoke",
            "api_token",
            Some(id.as_str()),
            None,
        )?;
        Ok(())
    })
    .await
}

/// What may be shown of a token: everything but its hash.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
    pub expires_at: Option<chrono::NaiveDateTime>,
    pub revoked_at: Option<chrono::NaiveDateTime>,
    /// Neither revoked nor expired.
    pub live: bool,
}

impl TokenInfo {
    fn of(t: ApiToken, now: chrono::NaiveDateTime) -> TokenInfo {
        let live = t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now);
        TokenInfo {
            id: t.id,
            name: t.name,
            role: t.role,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            live,
        }
    }
}

/// The API caller holding `secret`, if it is a live token (neither revoked
/// nor expired). Its last-used time moves on when it is a minute old.
pub async fn authenticate(ctx: &Context, secret: &str) -> CampaignResult<Option<Actor>> {
    let hash = crate::security::hash_token(secret);
    let now = ctx.now();
    let found = ctx
        .run(move |c| {
            let found = db::tokens::find_live_by_hash(c, &hash, now)?;
            if let Some(t) = &found {
                if db::tokens::last_use_is_stale(t, now) {
                    db::tokens::touch(c, &t.id, now)?;
                }
            }
            Ok(found)
        })
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
