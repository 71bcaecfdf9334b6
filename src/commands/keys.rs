//! `clarion keys show|rotate`: the public halves of the snapshot signing
//! keys, and replacing the current key (old snapshots stay verifiable: the
//! retired keys stay listed).

use clap::Subcommand;

use super::reason;
use crate::campaign::{evidence, Actor};
use crate::config::Settings;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List the snapshot signing keys: key id, algorithm, public key (base64url), created, retired.
    Show,
    /// Make a new snapshot signing key; the current one is retired but stays listed.
    Rotate,
}

pub async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::startup::context(settings).await?;
    match command {
        KeysCommand::Show => {
            let keys = evidence::keys(&ctx).await.map_err(reason)?;
            println!("key_id\talg\tpublic_key\tcreated\tretired");
            for k in keys {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.key_id,
                    k.alg,
                    k.public_key,
                    k.created,
                    k.retired.as_deref().unwrap_or("-")
                );
            }
        }
        KeysCommand::Rotate => {
            let r = evidence::rotate_key(&ctx, &Actor::Cli)
                .await
                .map_err(reason)?;
            println!(
                "new signing key {} ({}); retired: {}",
                r.current.key_id,
                r.current.public_key,
                if r.retired.is_empty() {
                    "none".to_string()
                } else {
                    r.retired.join(", ")
                }
            );
        }
    }
    Ok(())
}
