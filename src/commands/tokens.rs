//! `clarion token …`: API tokens, made by `campaign::tokens::create`.

use crate::campaign::{self, tokens::NewToken, Actor, CampaignError};
use crate::config::Settings;
use crate::domain::Role;

/// `clarion token create`: prints the token alone as the last line.
pub async fn token_create(settings: &Settings, name: &str, role: Role) -> anyhow::Result<()> {
    // Checked before the database is opened.
    let input = NewToken::new(name, role)
        .map_err(|_| anyhow::anyhow!("--name must be 1 to 100 printable characters"))?;
    let name = input.name().to_string();
    let ctx = crate::startup::context(settings).await?;
    let token = campaign::tokens::create(&ctx, &Actor::Cli, input)
        .await
        .map_err(|e| match e {
            // Ours, not the operator's: keep the cause's chain for the one line.
            CampaignError::Internal(e) => e,
            e => anyhow::anyhow!(e.one_line()),
        })?;
    println!("Created {role} token {name:?}. It is shown only now; store it safely:");
    println!("{}", token.secret);
    Ok(())
}
