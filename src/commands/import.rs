//! `clarion import supporters`: the same import action as the API's
//! `POST /lists/{id}/import` and the console's upload, with a progress bar on
//! a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use crate::campaign::lists::{self, ImportReport};
use crate::campaign::Actor;
use crate::config::Settings;

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import supporters from a CSV file into a list (created if missing).
    ///
    /// The header row names the columns: email, first_name, last_name,
    /// country, postcode, locale (others are ignored). Prints how many were
    /// imported, updated and rejected, with each rejected row's line number
    /// and reason. Unsubscribed, bounced and erased people are never
    /// re-subscribed; importing the same file again changes nothing.
    Supporters {
        /// The CSV file (UTF-8; `-` reads standard input).
        file: PathBuf,
        /// The list to add them to.
        #[arg(long)]
        list: String,
    },
}

pub async fn import(command: ImportCommand, settings: &Settings) -> anyhow::Result<()> {
    let ImportCommand::Supporters { file, list } = command;
    let name = crate::domain::text::single_line(&list, "list", 200)
        .map_err(|e| anyhow::anyhow!("--list: {e}"))?;
    let input: Box<dyn std::io::Read + Send> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?,
        )
    };
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let ctx = crate::startup::context(settings).await?;
    let actor = Actor::Cli;
    let one_line = |e: crate::campaign::CampaignError| anyhow::anyhow!(e.one_line());
    let list = lists::named(&ctx, &actor, name).await.map_err(one_line)?;
    let bar = progress_bar(size);
    let report = lists::import(
        &ctx,
        &actor,
        list.id,
        std::io::BufReader::with_capacity(1 << 20, input),
        progress(bar.clone()),
    )
    .await
    .map_err(one_line)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print_report(&report)?;
    Ok(())
}

/// A bar on a terminal; nothing (a line now and then instead) otherwise.
fn progress_bar(size: u64) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        if size == 0 {
            // Standard input: no length to measure against.
            return indicatif::ProgressBar::new_spinner();
        }
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

fn progress(bar: Option<indicatif::ProgressBar>) -> impl FnMut(&ImportReport, u64) + Send {
    let mut last_line = 0;
    move |r, bytes| {
        let rows = r.rows();
        match &bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{rows} rows"));
            }
            None if rows >= last_line + 100_000 => {
                last_line = rows;
                eprintln!(
                    "read {rows} rows: {} imported, {} updated, {} unchanged, {} rejected, {} skipped",
                    r.added, r.updated, r.unchanged, r.rejected_count, r.skipped_count
                );
            }
            None => {}
        }
    }
}

fn print_report(r: &ImportReport) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "imported {}, updated {}, unchanged {}, rejected {}, skipped {}",
        r.added, r.updated, r.unchanged, r.rejected_count, r.skipped_count
    )?;
    for p in &r.rejected {
        writeln!(out, "rejected line {}: {}", p.line.unwrap_or(0), p.reason)?;
    }
    if r.rejected_count > r.rejected.len() as u64 {
        writeln!(
            out,
            "… and {} more rejected rows",
            r.rejected_count - r.rejected.len() as u64
        )?;
    }
    for p in &r.skipped {
        writeln!(out, "skipped line {}: {}", p.line.unwrap_or(0), p.reason)?;
    }
    Ok(())
}
