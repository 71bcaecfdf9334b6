//! `clarion bounces ingest [FILE|-]`: late bounces and complaints handed in
//! by a mail server's pipe transport (or a person with a saved mbox),
//! through the same `campaign::reports::ingest` as
//! `POST /api/v1/mail/inbound`, acting as the operator ([`Actor::Cli`]).
//!
//! Exit status: 0 whenever the input was read and stored, unmatched
//! messages included (they are kept, not lost); 75 (`EX_TEMPFAIL`) when
//! the input cannot be read or the database cannot be reached, so that a
//! pipe transport keeps the message and tries again rather than bouncing
//! the bounce.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use crate::campaign::{reports, Actor, CampaignError};
use crate::config::Settings;

/// The exit status that asks a mail server to try the delivery again
/// later (sysexits.h `EX_TEMPFAIL`; Postfix's pipe defers on it).
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Subcommand, Debug)]
pub enum BouncesCommand {
    /// Read bounces (RFC 3464 delivery status notifications) and spam
    /// complaints (RFC 5965 feedback reports) and apply them: a mailbox
    /// that is gone marks its supporter bounced, a complaint unsubscribes
    /// them. Prints {"matched", "bounced", "complaints", "unmatched"}.
    ///
    /// The input is one message, or an mbox (a file starting with "From ").
    /// Meant for a mail server's pipe transport, e.g. in Postfix's
    /// master.cf: `clarion unix - n n - - pipe flags=q user=clarion
    /// argv=/usr/local/bin/clarion bounces ingest -`. Messages that are no
    /// report, or name no delivery, are kept for a person to look at and
    /// counted as unmatched; the exit status is still 0. It is 75
    /// (EX_TEMPFAIL) only when the input cannot be read or the database
    /// cannot be reached, so the mail server keeps the message and tries
    /// again.
    Ingest {
        /// A file to read, or `-` (the default) for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

/// A failure after which the mail server should try again (exit 75).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct TryAgain(anyhow::Error);

pub async fn bounces(command: BouncesCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        BouncesCommand::Ingest { file } => ingest(&file, settings).await,
    }
}

async fn ingest(file: &str, settings: &Settings) -> anyhow::Result<()> {
    let input = read_input(file).map_err(TryAgain)?;
    let ctx = crate::startup::context(settings).await.map_err(TryAgain)?;
    let summary = reports::ingest(&ctx, &Actor::Cli, input)
        .await
        .map_err(|e| match e {
            // The database failed under us: the message is not stored.
            CampaignError::Internal(e) => TryAgain(e),
            e => TryAgain(anyhow::anyhow!(e.one_line())),
        })?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn read_input(file: &str) -> anyhow::Result<Vec<u8>> {
    let mut input = Vec::new();
    if file == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut input)
            .context("cannot read standard input")?;
    } else {
        let path = PathBuf::from(file);
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut input))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(input)
}
