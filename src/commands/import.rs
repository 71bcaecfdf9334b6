//! `clarion import supporters`: the same import as the API's
//! `POST /lists/{id}/import`, with a progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Settings;
use crate::db::{self, Db};
use crate::import::{ImportReport, Importer, Provenance};

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
    let (db, _) = crate::startup::prepare(settings).await?;
    let report = crate::telemetry::spawn_blocking_with_tracing(move || {
        import_blocking(
            &db,
            &name,
            std::io::BufReader::with_capacity(1 << 20, input),
            size,
        )
    })
    .await??;
    print_report(&report)?;
    Ok(())
}

fn import_blocking(
    db: &Db,
    list_name: &str,
    input: impl std::io::Read,
    size: u64,
) -> anyhow::Result<ImportReport> {
    let mut conn = db.get()?;
    let list = db::write_tx(&mut conn, |c| {
        if let Some(l) = db::lists::get_by_name(c, list_name)? {
            return Ok::<_, db::DbError>(l);
        }
        let l = db::lists::List {
            id: db::new_id(),
            name: list_name.to_string(),
            description: None,
            created_at: db::now(),
        };
        db::lists::insert(c, &l)?;
        db::audit::record(c, "cli", "list.create", "list", Some(&l.id), None)?;
        Ok(l)
    })?;
    let provenance = Provenance {
        source: "import",
        actor: "cli".into(),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
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
    });
    let mut importer = Importer::new(&mut conn, &list, &provenance)?;
    let mut last_line = 0;
    importer.read_csv(input, |r, bytes| {
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
    })?;
    let report = importer.finish()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let detail = format!(
        "added={} updated={} unchanged={} rejected={} skipped={}",
        report.added, report.updated, report.unchanged, report.rejected_count, report.skipped_count
    );
    db::audit::record(
        &mut conn,
        "cli",
        "list.import",
        "list",
        Some(&list.id),
        Some(&detail),
    )?;
    Ok(report)
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
