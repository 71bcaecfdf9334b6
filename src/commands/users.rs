//! `clarion user …`: console users.

use std::io::IsTerminal;

use anyhow::Context;

use crate::config::Settings;
use crate::db;

/// Shortest console password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// `clarion user create`: a console user with an argon2id password hash.
pub async fn user_create(
    settings: &Settings,
    email: &str,
    role: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = crate::domain::Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let password = if password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Password again: ").context("cannot read the password")?;
        if first != again {
            anyhow::bail!("the passwords differ");
        }
        first
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    let hash = crate::security::hash_password(&password)?;
    let (db, _) = crate::startup::prepare(settings).await?;
    let (e, r) = (email.as_str().to_string(), role.to_string());
    let created = db
        .run(move |c| {
            db::write_tx(c, |c| {
                if db::users::get_by_email(c, &e)?.is_some() {
                    return Ok::<_, db::DbError>(None);
                }
                let id = db::users::create(c, &e, &r, &hash)?;
                db::audit::record(c, "cli", "user.create", "user", Some(&id), Some(&r))?;
                Ok(Some(id))
            })
        })
        .await?;
    match created {
        Some(_) => {
            println!("Created {role} {}; sign in at /admin/login", email.as_str());
            Ok(())
        }
        None => anyhow::bail!("a user with the email {} already exists", email.as_str()),
    }
}
