//! `clarion export …`: the same CSV as the API's signature and count
//! exports.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Settings;
use crate::db::{self, Db};
use crate::export::{self, CountBy, StatusFilter};

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

async fn petition_id(db: &Db, slug: String) -> anyhow::Result<String> {
    let s = slug.clone();
    db.run(move |c| db::signature_reports::petition_id_by_slug(c, &s))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no petition has the slug {slug:?}"))
}

pub async fn export(command: ExportCommand, settings: &Settings) -> anyhow::Result<()> {
    let (db, _) = crate::startup::prepare(settings).await?;
    match command {
        ExportCommand::Signatures {
            petition,
            out,
            status,
            no_bom,
        } => {
            let filter = StatusFilter::parse(&status).context("--status")?;
            let id = petition_id(&db, petition).await?;
            let mut w = output(out)?;
            crate::telemetry::spawn_blocking_with_tracing(move || {
                export::signatures_csv(&db, &id, filter, !no_bom, |chunk| w.write_all(&chunk))?;
                w.flush()?;
                Ok::<_, anyhow::Error>(())
            })
            .await??;
        }
        ExportCommand::Counts { petition, by, out } => {
            let by = CountBy::parse(&by).context("--by")?;
            let id = petition_id(&db, petition).await?;
            let view = db.run(move |c| export::counts(c, &id, by)).await?;
            let rows: Vec<(String, i64)> = view.by.into_iter().collect();
            let mut w = output(out)?;
            w.write_all(&export::counts_csv(&rows)?)?;
            w.flush()?;
        }
    }
    Ok(())
}
