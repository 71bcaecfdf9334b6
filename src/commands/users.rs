//! `clarion user …`: console users, created, disabled, enabled and deleted
//! through the same `campaign::users` actions as the console's users page.

use std::io::IsTerminal;

use anyhow::Context;

use crate::campaign::{self, users::MIN_PASSWORD_CHARS, Actor, CampaignError};
use crate::config::Settings;
use crate::domain::{Email, Role};

/// `clarion user create`: a console user with an argon2id password hash.
pub async fn user_create(
    settings: &Settings,
    email: &str,
    role: Role,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
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
    // Checked before the database is opened, so a short password is the
    // only complaint.
    let password = campaign::users::Password::new(password).map_err(|_| {
        anyhow::anyhow!("the password must have at least {MIN_PASSWORD_CHARS} characters")
    })?;
    let ctx = crate::startup::context(settings).await?;
    let input = campaign::users::NewUser {
        email: email.clone(),
        role,
        password,
    };
    match campaign::users::create(&ctx, &Actor::Cli, input).await {
        Ok(_) => {
            println!("Created {role} {}; sign in at /admin/login", email.as_str());
            Ok(())
        }
        Err(CampaignError::UserEmailTaken) => {
            anyhow::bail!("a user with the email {} already exists", email.as_str())
        }
        // Ours, not the operator's: keep the cause's chain for the one line.
        Err(CampaignError::Internal(e)) => Err(e),
        Err(e) => Err(anyhow::anyhow!(e.one_line())),
    }
}

/// `clarion user disable|enable|delete --email E`: disabling and deleting
/// end the user's sessions at once.
pub async fn user_access(settings: &Settings, email: &str, what: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let ctx = crate::startup::context(settings).await?;
    let who = campaign::users::UserRef::Email(email.clone());
    let done = match what {
        "disable" => campaign::users::disable(&ctx, &Actor::Cli, who).await,
        "enable" => campaign::users::enable(&ctx, &Actor::Cli, who).await,
        _ => campaign::users::delete(&ctx, &Actor::Cli, who).await,
    };
    match done {
        Ok(_) => {
            let past = match what {
                "disable" => "Disabled (signed out everywhere)",
                "enable" => "Enabled",
                _ => "Deleted (signed out everywhere)",
            };
            println!("{past}: {}", email.as_str());
            Ok(())
        }
        Err(CampaignError::NotFound { .. }) => {
            anyhow::bail!("no user with the email {}", email.as_str())
        }
        Err(CampaignError::Internal(e)) => Err(e),
        Err(e) => Err(anyhow::anyhow!(e.one_line())),
    }
}
