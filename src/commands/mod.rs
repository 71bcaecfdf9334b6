//! The data commands of the CLI: `clarion import …` and `clarion export …`.
//! They call the same code as the API routes (`crate::import`,
//! `crate::export`), so a file imported or exported either way is treated
//! the same.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Settings;
use crate::db::{self, Db};
use crate::export::{self, CountBy, StatusFilter};
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

/// Shortest console password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// `clarion user create`: a console user with an argon2id password hash.
pub async fn user_create(
    settings: &Settings,
    email: &str,
    role: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = crate::domain::Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let password = if password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Password again: ").context("cannot read the password")?;
        if first != again {
            anyhow::bail!("the passwords differ");
        }
        first
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    let hash = crate::security::hash_password(&password)?;
    let (db, _) = crate::startup::prepare(settings).await?;
    let (e, r) = (email.as_str().to_string(), role.to_string());
    let created = db
        .run(move |c| {
            db::write_tx(c, |c| {
                if db::users::get_by_email(c, &e)?.is_some() {
                    return Ok::<_, db::DbError>(None);
                }
                let id = db::users::create(c, &e, &r, &hash)?;
                db::audit::record(c, "cli", "user.create", "user", Some(&id), Some(&r))?;
                Ok(Some(id))
            })
        })
        .await?;
    match created {
        Some(_) => {
            println!("Created {role} {}; sign in at /admin/login", email.as_str());
            Ok(())
        }
        None => anyhow::bail!("a user with the email {} already exists", email.as_str()),
    }
}
