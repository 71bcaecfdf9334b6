//! `clarion keys show|rotate`: the public halves of the snapshot signing
//! keys, and replacing the current signing key (old snapshots stay
//! verifiable: the retired keys stay listed) and the data key supporters'
//! personal data is sealed under (everything re-sealed while the service
//! runs). Also `clarion migrate`, which seals what a database still holds
//! in the clear.

use std::io::IsTerminal;

use clap::Subcommand;

use super::reason;
use crate::campaign::{at_rest, evidence, Actor};
use crate::config::Settings;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List the snapshot signing keys: key id, algorithm, public key (base64url), created, retired.
    Show,
    /// Make a new snapshot signing key (the current one is retired but stays listed) and a new
    /// data key (every supporter's data re-sealed under it while the service runs, then the old
    /// key dropped). Both unless --signing or --data is given.
    Rotate {
        /// Only the snapshot signing key.
        #[arg(long, conflicts_with = "data")]
        signing: bool,
        /// Only the data key.
        #[arg(long)]
        data: bool,
    },
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
        KeysCommand::Rotate { signing, data } => {
            if !data {
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
            if !signing {
                let bar = Progress::new("re-sealing");
                let r = at_rest::rotate_data_key(&ctx, &Actor::Cli, &|n, t| bar.show(n, t))
                    .await
                    .map_err(reason)?;
                bar.finish();
                println!(
                    "new data key {}; {} rows re-sealed; retired: {}",
                    r.current,
                    r.resealed,
                    if r.retired.is_empty() {
                        "none".to_string()
                    } else {
                        r.retired.join(", ")
                    }
                );
            }
        }
    }
    Ok(())
}

/// `clarion migrate`: schema migrations (every command applies them), then
/// one pass sealing whatever is still in the clear, in batches, resumable.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::startup::context(settings).await?;
    println!("migrations are up to date");
    if !settings.encrypt_at_rest {
        println!("encryption at rest is off (encrypt_at_rest = false): nothing sealed");
        return Ok(());
    }
    let bar = Progress::new("sealing");
    let done = at_rest::seal_all(&ctx, &|n, t| bar.show(n, t))
        .await
        .map_err(reason)?;
    bar.finish();
    println!(
        "personal data sealed: {} rows read, {} sealed now",
        done.walked, done.sealed
    );
    Ok(())
}

/// A progress line on stderr when it is a terminal; nothing otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(what: &'static str) -> Progress {
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{what} {{bar:30}} {{pos}}/{{len}} rows ({{per_sec}}, {{eta}} left)"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        }))
    }

    fn show(&self, n: u64, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
            b.set_position(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
