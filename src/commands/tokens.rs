//! `clarion token …`: API tokens.

use crate::config::Settings;

/// `clarion token create`: prints the token alone as the last line.
pub async fn token_create(settings: &Settings, name: &str, role: &str) -> anyhow::Result<()> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("--name must be 1 to 100 printable characters");
    }
    let (db, _) = crate::startup::prepare(settings).await?;
    let token = crate::security::random_token();
    let hash = crate::security::hash_token(&token);
    let (n, r) = (name.clone(), role.to_string());
    db.run(move |c| {
        crate::db::write_tx(c, |c| {
            crate::db::tokens::create(c, &n, &r, &hash)?;
            crate::db::audit::record(c, "cli", "token.create", "api_token", None, Some(&r))
        })
    })
    .await?;
    println!("Created {role} token {name:?}. It is shown only now; store it safely:");
    println!("{token}");
    Ok(())
}
