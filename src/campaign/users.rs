//! Console users: creating them, signing in and out, roles and passwords.
//!
//! The password rule ([`MIN_PASSWORD_CHARS`]) and the lockout
//! ([`LOCK_AFTER_FAILURES`], [`LOCK_MINUTES`]) are stated once, here and in
//! storage; the CLI's `user create` and the console's users page both create
//! users through [`create`]. Sessions themselves (the signed cookie) are the
//! console's business; what ends them is here: a sign-out, a role change and
//! a new password all move the user's `updated_at`, which voids every session
//! issued before it.
//!
//! Passwords are hashed (argon2id) on a blocking thread and only the hash is
//! stored; this module never logs or returns a password.

use chrono::NaiveDateTime;

use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{Email, Role, UserId};

pub use crate::db::users::{User, LOCK_AFTER_FAILURES, LOCK_MINUTES};

/// Shortest console password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A password that keeps the rule: at least [`MIN_PASSWORD_CHARS`]
/// characters. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The edges word the refusal themselves (the CLI in English, the console
    /// in the page's language, beside the field it came in).
    pub fn new(password: impl Into<String>) -> CampaignResult<Password> {
        let password = password.into();
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(CampaignError::invalid(
                "password",
                format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(Password(password))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A console user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub role: Role,
    pub password: Password,
}

/// Hashes off the async threads: argon2 is deliberately slow.
async fn hash(password: Password) -> CampaignResult<String> {
    let hash = crate::telemetry::spawn_blocking_with_tracing(move || {
        crate::security::hash_password(&password.0)
    })
    .await
    .map_err(anyhow::Error::new)??;
    Ok(hash)
}

/// Creates a user (admins and the CLI only). `UserEmailTaken` when the
/// address already has one.
pub async fn create(ctx: &Context, actor: &Actor, input: NewUser) -> CampaignResult<UserId> {
    actor.require(Role::Admin)?;
    let actor_name = actor.audit_name();
    let password_hash = hash(input.password).await?;
    let (email, role) = (input.email.as_str().to_string(), input.role);
    ctx.write(move |c| {
        if db::users::get_by_email(c, &email)?.is_some() {
            return Err(CampaignError::UserEmailTaken);
        }
        let id = db::users::create(c, &email, role.as_str(), &password_hash)?;
        db::audit::record(
            c,
            &actor_name,
            "user.create",
            "user",
            Some(id.as_str()),
            Some(role.as_str()),
        )?;
        Ok(id)
    })
    .await
}

/// Every user, by email (the admins' users page).
pub async fn list(ctx: &Context, actor: &Actor) -> CampaignResult<Vec<User>> {
    actor.require(Role::Admin)?;
    ctx.run(|c| Ok(db::users::all(c)?)).await
}

/// The user a console session names, if they still exist. Read before
/// there is an actor: it is how the console finds out who is acting.
pub async fn for_session(ctx: &Context, id: &UserId) -> CampaignResult<Option<User>> {
    let id = id.clone();
    ctx.run(move |c| Ok(db::users::get(c, &id)?)).await
}

/// Whether the user is locked out at `now`.
pub fn is_locked(user: &User, now: NaiveDateTime) -> bool {
    user.locked_until.is_some_and(|t| t > now)
}

/// How a sign-in went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The password is right and the account open: a session may start.
    Welcome(UserId),
    /// Wrong password or unknown address (told apart by no one): the
    /// failures in a row, to slow the next guess.
    Wrong { failures: i32 },
    /// Locked after too many failures, even against the right password.
    Locked,
}

/// Checks a password. An unknown address costs the same argon2 work as a
/// wrong password and is answered alike; failures are counted and, at
/// [`LOCK_AFTER_FAILURES`] in a row, lock the account. Every outcome for a
/// known address is audited as `user:EMAIL`.
pub async fn sign_in(ctx: &Context, email: &Email, password: String) -> CampaignResult<SignIn> {
    let email = email.as_str().to_string();
    let now = ctx.now();
    ctx.run(move |c| {
        let actor_name = format!("user:{email}");
        let Some(user) = db::users::get_by_email(c, &email)? else {
            crate::security::verify_password(&password, crate::security::dummy_password_hash());
            return Ok(SignIn::Wrong { failures: 1 });
        };
        if is_locked(&user, now) {
            db::audit::record(
                c,
                &actor_name,
                "user.login_locked",
                "user",
                Some(user.id.as_str()),
                None,
            )?;
            return Ok(SignIn::Locked);
        }
        if crate::security::verify_password(&password, &user.password_hash) {
            db::write_tx(c, |c| {
                db::users::record_success(c, &user.id, now)?;
                db::audit::record(
                    c,
                    &actor_name,
                    "user.login",
                    "user",
                    Some(user.id.as_str()),
                    None,
                )
            })?;
            Ok(SignIn::Welcome(user.id))
        } else {
            let failures = db::write_tx(c, |c| {
                let n = db::users::record_failure(c, &user.id, now)?;
                db::audit::record(
                    c,
                    &actor_name,
                    "user.login_failed",
                    "user",
                    Some(user.id.as_str()),
                    Some(&format!("{n} in a row")),
                )?;
                Ok::<_, CampaignError>(n)
            })?;
            Ok(SignIn::Wrong { failures })
        }
    })
    .await
}

/// The signed-in user signs out: every session of theirs ends, on every
/// device.
pub async fn sign_out(ctx: &Context, actor: &Actor) -> CampaignResult<()> {
    let Actor::User { id, .. } = actor else {
        return Err(CampaignError::Forbidden);
    };
    let (id, actor_name, now) = (id.clone(), actor.audit_name(), ctx.now());
    ctx.write(move |c| {
        db::users::revoke_sessions(c, &id, now)?;
        db::audit::record(
            c,
            &actor_name,
            "user.logout",
            "user",
            Some(id.as_str()),
            None,
        )?;
        Ok(())
    })
    .await
}

/// An admin gives a user another role; the user's sessions end. An admin
/// cannot change their own: the last admin would lock everyone out.
pub async fn change_role(
    ctx: &Context,
    actor: &Actor,
    id: &UserId,
    role: Role,
) -> CampaignResult<()> {
    actor.require(Role::Admin)?;
    if matches!(actor, Actor::User { id: me, .. } if me == id) {
        return Err(CampaignError::Forbidden);
    }
    let (id, actor_name) = (id.clone(), actor.audit_name());
    ctx.write(move |c| {
        if !db::users::set_role(c, &id, role)? {
            return Err(CampaignError::not_found("user"));
        }
        db::audit::record(
            c,
            &actor_name,
            "user.role",
            "user",
            Some(id.as_str()),
            Some(role.as_str()),
        )?;
        Ok(())
    })
    .await
}

/// An admin sets a user's password: the account is unlocked and every
/// session of that user ends.
pub async fn set_password(
    ctx: &Context,
    actor: &Actor,
    id: &UserId,
    password: Password,
) -> CampaignResult<()> {
    actor.require(Role::Admin)?;
    let password_hash = hash(password).await?;
    let (id, actor_name) = (id.clone(), actor.audit_name());
    ctx.write(move |c| {
        if !db::users::set_password(c, &id, &password_hash)? {
            return Err(CampaignError::not_found("user"));
        }
        db::audit::record(
            c,
            &actor_name,
            "user.password",
            "user",
            Some(id.as_str()),
            None,
        )?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_rule_counts_characters_not_bytes() {
        assert!(Password::new("é".repeat(MIN_PASSWORD_CHARS)).is_ok());
        assert!(Password::new("x".repeat(MIN_PASSWORD_CHARS - 1)).is_err());
        assert_eq!(
            format!("{:?}", Password::new("a secret password").unwrap()),
            "Password(..)"
        );
    }
}
