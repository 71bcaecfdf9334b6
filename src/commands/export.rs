//! `clarion export …`: the same CSV as the API's signature and count
//! exports, through the same `campaign::petitions` actions, acting as the
//! operator ([`Actor::Cli`]).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::reason;
use crate::campaign::petitions::{self, CountBy, CsvOptions, Petition, StatusFilter};
use crate::campaign::{Actor, CampaignError, Context};
use crate::config::Settings;

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// The signatures of a petition as CSV (the API's signatures.csv).
    Signatures {
        /// The petition's slug.
        #[arg(long)]
        petition: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which signatures.
        #[arg(long, default_value = "confirmed", value_parser = ["confirmed", "pending", "all"])]
        status: String,
        /// Leave out the UTF-8 byte-order mark (spreadsheets want it, some scripts do not).
        #[arg(long)]
        no_bom: bool,
    },
    /// Confirmed signatures of a petition counted by country or day, as CSV `key,count`.
    Counts {
        /// The petition's slug.
        #[arg(long)]
        petition: String,
        /// country (ISO code) or day (UTC day of signing, YYYY-MM-DD).
        #[arg(long, value_parser = ["country", "day"])]
        by: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The dossier for an authority: one ZIP with petition.html, snapshot.json, log.json, keys.json.
    Dossier {
        /// The petition's slug.
        #[arg(long)]
        petition: String,
        /// Add signatures.csv: first name, last name, country, confirmed_at (no address).
        #[arg(long)]
        names: bool,
        /// Write here (default: SLUG-dossier.zip in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn output(out: Option<PathBuf>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

async fn petition(ctx: &Context, slug: &str) -> anyhow::Result<Petition> {
    match petitions::by_slug(ctx, &Actor::Cli, slug).await {
        Ok(p) => Ok(p),
        Err(CampaignError::NotFound { .. }) => {
            anyhow::bail!("no petition has the slug {slug:?}")
        }
        Err(e) => Err(reason(e)),
    }
}

pub async fn export(command: ExportCommand, settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::startup::context(settings).await?;
    match command {
        ExportCommand::Signatures {
            petition: slug,
            out,
            status,
            no_bom,
        } => {
            let status = StatusFilter::parse(&status).context("--status")?;
            let p = petition(&ctx, &slug).await?;
            let options = CsvOptions {
                status,
                bom: !no_bom,
                audit: false,
            };
            petitions::write_signatures_csv(&ctx, &Actor::Cli, &p.id, options, output(out)?)
                .await
                .map_err(reason)?;
        }
        ExportCommand::Counts {
            petition: slug,
            by,
            out,
        } => {
            let by = CountBy::parse(&by).context("--by")?;
            let p = petition(&ctx, &slug).await?;
            let (_, csv) = petitions::counts_csv(&ctx, &Actor::Cli, &p.id, by, false)
                .await
                .map_err(reason)?;
            let mut w = output(out)?;
            w.write_all(&csv)?;
            w.flush()?;
        }
        ExportCommand::Dossier {
            petition: slug,
            names,
            out,
        } => {
            let p = petition(&ctx, &slug).await?;
            let d = crate::campaign::evidence::dossier(&ctx, &Actor::Cli, &p.id, names)
                .await
                .map_err(reason)?;
            let path = out.unwrap_or_else(|| PathBuf::from(&d.filename));
            std::fs::write(&path, &d.bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), d.bytes.len());
        }
    }
    Ok(())
}
