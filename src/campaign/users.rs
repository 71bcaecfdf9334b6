//! Console users: creating them, signing in and out, roles and passwords.
//!
//! The password rule ([`MIN_PASSWORD_CHARS`]) is stated once, here; who may
//! try a password when is [`super::sign_in_guard`]'s; the CLI's `user create` and the console's users page both create
//! users through [`create`]. Sessions are server-side records (`db::sessions`,
//! a hash of the session id, the user, created, expires) that the console's
//! signed cookie names; every console request is checked against them
//! ([`for_session`]). They start at [`sign_in`] and end here: a sign-out ends
//! that session; a role change, a new password, disabling or deleting the
//! user end all of the user's sessions at once, every copy of every cookie.
//!
//! Passwords are hashed (argon2id) on a blocking thread and only the hash is
//! stored; this module never logs or returns a password.

use chrono::NaiveDateTime;

use super::sign_in_guard::Verdict;
use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{Email, Role, UserId};

pub use crate::db::users::User;

/// How long a session lasts after sign-in.
pub const SESSION_HOURS: i64 = 8;

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

/// The user of the live session `session_id` (the id the console's cookie
/// carries): the session's record exists and has not expired, and the user
/// exists and is not disabled. Read before there is an actor: it is how the
/// console finds out who is acting.
pub async fn for_session(ctx: &Context, session_id: &str) -> CampaignResult<Option<User>> {
    let hash = crate::security::hash_token(session_id);
    let now = ctx.now();
    ctx.run(move |c| {
        let Some(user_id) = db::sessions::user_of(c, &hash, now)? else {
            return Ok(None);
        };
        Ok(db::users::get(c, &user_id)?.filter(|u| u.disabled_at.is_none()))
    })
    .await
}

/// Starts a session for the user: the id for the cookie, of which only a
/// hash is stored. Expired sessions of everyone are forgotten on the way.
fn start_session(
    c: &mut db::DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> CampaignResult<String> {
    let session_id = crate::security::random_token();
    let hash = crate::security::hash_token(&session_id);
    db::sessions::delete_expired(c, now)?;
    db::sessions::create(
        c,
        &hash,
        user_id,
        now,
        now + chrono::Duration::hours(SESSION_HOURS),
    )?;
    Ok(session_id)
}

/// Whether the user's address is locked for everyone at `now` (after
/// failures from many clients; one client's own lock is not shown).
pub fn is_locked(ctx: &Context, user: &User, now: NaiveDateTime) -> bool {
    ctx.sign_ins.address_locked(&user.email, now)
}

/// How a sign-in went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The password is right and the account open: the session started, its
    /// id for the cookie.
    Welcome { user_id: UserId, session_id: String },
    /// Wrong password or unknown address (told apart by no one): the
    /// failures in a row, to slow the next guess.
    Wrong { failures: u32 },
    /// Locked after too many failures, even against the right password.
    Locked,
}

/// Checks a password from `client` (the client's address as the web saw
/// it). Known and unknown addresses go through the same failure records
/// ([`super::sign_in_guard`]) and the same argon2 work, so neither the answer
/// nor its delay tells who has an account. Every outcome for a known address
/// is audited as `user:EMAIL`.
pub async fn sign_in(
    ctx: &Context,
    email: &Email,
    password: String,
    client: &str,
) -> CampaignResult<SignIn> {
    let email = email.as_str().to_string();
    let now = ctx.now();
    let guard = ctx.sign_ins.clone();
    let client = client.to_string();
    ctx.run(move |c| {
        let actor_name = format!("user:{email}");
        let user = db::users::get_by_email(c, &email)?;
        if guard.check(&email, &client, now) == Verdict::Locked {
            if let Some(user) = &user {
                db::audit::record(
                    c,
                    &actor_name,
                    "user.login_locked",
                    "user",
                    Some(user.id.as_str()),
                    None,
                )?;
            }
            return Ok(SignIn::Locked);
        }
        let Some(user) = user else {
            crate::security::verify_password(&password, crate::security::dummy_password_hash());
            let failures = guard.failed(&email, &client, now);
            return Ok(SignIn::Wrong { failures });
        };
        let disabled = user.disabled_at.is_some();
        if crate::security::verify_password(&password, &user.password_hash) && !disabled {
            let session_id = db::write_tx(c, |c| {
                db::users::record_success(c, &user.id, now)?;
                db::audit::record(
                    c,
                    &actor_name,
                    "user.login",
                    "user",
                    Some(user.id.as_str()),
                    None,
                )?;
                start_session(c, &user.id, now)
            })?;
            guard.succeeded(&email, &client);
            Ok(SignIn::Welcome {
                user_id: user.id,
                session_id,
            })
        } else {
            let failures = guard.failed(&email, &client, now);
            db::write_tx(c, |c| {
                let n = db::users::record_failure(c, &user.id)?;
                db::audit::record(
                    c,
                    &actor_name,
                    "user.login_failed",
                    "user",
                    Some(user.id.as_str()),
                    Some(&format!("{n} in a row")),
                )?;
                Ok::<_, CampaignError>(())
            })?;
            Ok(SignIn::Wrong { failures })
        }
    })
    .await
}

/// The signed-in user signs out: the session `session_id` ends, and with it
/// every copy of its cookie. (Their sessions on other devices go on, as
/// with most services; an admin ends those by a new password or disabling.)
pub async fn sign_out(ctx: &Context, actor: &Actor, session_id: &str) -> CampaignResult<()> {
    let Actor::User { id, .. } = actor else {
        return Err(CampaignError::Forbidden);
    };
    let (id, actor_name) = (id.clone(), actor.audit_name());
    let hash = crate::security::hash_token(session_id);
    ctx.write(move |c| {
        db::sessions::delete(c, &hash)?;
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
        db::sessions::delete_for_user(c, &id)?;
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
    let guard = ctx.sign_ins.clone();
    ctx.write(move |c| {
        let user = db::users::get(c, &id)?.ok_or(CampaignError::not_found("user"))?;
        if !db::users::set_password(c, &id, &password_hash)? {
            return Err(CampaignError::not_found("user"));
        }
        // A new password starts afresh: whoever was locked out may try it.
        guard.forget(&user.email);
        db::sessions::delete_for_user(c, &id)?;
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

/// A user named by id (the console) or by address (the CLI).
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(UserId),
    Email(Email),
}

fn find(c: &mut db::DbConnection, who: &UserRef) -> CampaignResult<User> {
    let found = match who {
        UserRef::Id(id) => db::users::get(c, id)?,
        UserRef::Email(e) => db::users::get_by_email(c, e.as_str())?,
    };
    found.ok_or(CampaignError::not_found("user"))
}

/// An admin (or the CLI) disables a user: every session of theirs ends at
/// once and they cannot sign in until enabled again. An admin cannot
/// disable themself (the last admin would lock everyone out).
pub async fn disable(ctx: &Context, actor: &Actor, who: UserRef) -> CampaignResult<UserId> {
    set_disabled(ctx, actor, who, true).await
}

/// Undoes [`disable`]: the user may sign in again.
pub async fn enable(ctx: &Context, actor: &Actor, who: UserRef) -> CampaignResult<UserId> {
    set_disabled(ctx, actor, who, false).await
}

async fn set_disabled(
    ctx: &Context,
    actor: &Actor,
    who: UserRef,
    disabled: bool,
) -> CampaignResult<UserId> {
    actor.require(Role::Admin)?;
    let (actor_name, now, me) = (actor.audit_name(), ctx.now(), acting_user(actor));
    ctx.write(move |c| {
        let user = find(c, &who)?;
        if me.as_ref() == Some(&user.id) {
            return Err(CampaignError::Forbidden);
        }
        db::users::set_disabled(c, &user.id, disabled.then_some(now))?;
        let ended = db::sessions::delete_for_user(c, &user.id)?;
        db::audit::record(
            c,
            &actor_name,
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            "user",
            Some(user.id.as_str()),
            disabled
                .then(|| format!("{ended} sessions ended"))
                .as_deref(),
        )?;
        Ok(user.id)
    })
    .await
}

/// An admin (or the CLI) deletes a user: the account and every session of
/// theirs are gone at once; the audit log keeps what they did. An admin
/// cannot delete themself.
pub async fn delete(ctx: &Context, actor: &Actor, who: UserRef) -> CampaignResult<UserId> {
    actor.require(Role::Admin)?;
    let (actor_name, me) = (actor.audit_name(), acting_user(actor));
    ctx.write(move |c| {
        let user = find(c, &who)?;
        if me.as_ref() == Some(&user.id) {
            return Err(CampaignError::Forbidden);
        }
        let ended = db::sessions::delete_for_user(c, &user.id)?;
        db::users::delete(c, &user.id)?;
        db::audit::record(
            c,
            &actor_name,
            "user.delete",
            "user",
            Some(user.id.as_str()),
            Some(&format!("{ended} sessions ended")),
        )?;
        Ok(user.id)
    })
    .await
}

fn acting_user(actor: &Actor) -> Option<UserId> {
    match actor {
        Actor::User { id, .. } => Some(id.clone()),
        _ => None,
    }
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
