//! `clarion token …`: API tokens, made, listed and revoked through
//! `campaign::tokens`.

use super::reason as one_line;
use crate::campaign::{self, tokens::NewToken, Actor, CampaignError};
use crate::config::Settings;
use crate::domain::{Role, TokenId};

/// `clarion token create`: prints the token alone as the last line.
pub async fn token_create(
    settings: &Settings,
    name: &str,
    role: Role,
    expires_in_days: Option<u32>,
) -> anyhow::Result<()> {
    // Checked before the database is opened.
    let mut input = NewToken::new(name, role)
        .map_err(|_| anyhow::anyhow!("--name must be 1 to 100 printable characters"))?;
    if let Some(days) = expires_in_days {
        input = input.expiring_in(days).map_err(|_| {
            anyhow::anyhow!(
                "--expires-in must be 1 to {} days",
                campaign::tokens::MAX_EXPIRY_DAYS
            )
        })?;
    }
    let name = input.name().to_string();
    let ctx = crate::startup::context(settings).await?;
    let token = campaign::tokens::create(&ctx, &Actor::Cli, input)
        .await
        .map_err(one_line)?;
    match expires_in_days {
        Some(d) => println!(
            "Created {role} token {name:?} (id {}), valid for {d} days. It is shown only now; store it safely:",
            token.id
        ),
        None => println!(
            "Created {role} token {name:?} (id {}). It is shown only now; store it safely:",
            token.id
        ),
    }
    println!("{}", token.secret);
    Ok(())
}

fn when(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// `clarion token list`: one line per token, tab-separated under a header.
pub async fn token_list(settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::startup::context(settings).await?;
    let tokens = campaign::tokens::list(&ctx, &Actor::Cli)
        .await
        .map_err(one_line)?;
    println!("id\tname\trole\tcreated\tlast_used\texpires\tstate");
    for t in tokens {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.live {
            "active"
        } else {
            "expired"
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{state}",
            t.id,
            t.name,
            t.role,
            when(Some(t.created_at)),
            when(t.last_used_at),
            when(t.expires_at),
        );
    }
    Ok(())
}

/// `clarion token revoke ID`.
pub async fn token_revoke(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let id = TokenId::parse(id).map_err(|_| anyhow::anyhow!("no token with the id {id:?}"))?;
    let ctx = crate::startup::context(settings).await?;
    match campaign::tokens::revoke(&ctx, &Actor::Cli, &id).await {
        Ok(()) => {
            println!("Revoked token {id}");
            Ok(())
        }
        Err(CampaignError::NotFound { .. }) => anyhow::bail!("no token with the id {id}"),
        Err(e) => Err(one_line(e)),
    }
}
