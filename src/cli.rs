//! The `clarion` command line. Each command loads the settings once, reports
//! a bad one in a single line naming it, and exits non-zero on failure.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::Role;
use crate::startup::{self, Application};

#[derive(Parser, Debug)]
#[command(
    name = "clarion",
    version,
    about = "Action alerts and petitions for human-rights campaigning"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server and the mail worker in one process (applies pending migrations first).
    Serve {
        /// Load a demo case with an open petition when the database holds no case.
        #[arg(long)]
        demo: bool,
    },
    /// Run the mail worker alone (several may share one PostgreSQL database).
    Worker,
    /// Apply pending database migrations, seal personal data still held in the clear, and exit.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the web console's users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Bring supporters in from CSV files.
    Import {
        #[command(subcommand)]
        command: crate::commands::ImportCommand,
    },
    /// Write signatures and counts out as CSV.
    Export {
        #[command(subcommand)]
        command: crate::commands::ExportCommand,
    },
    /// The keys that sign count snapshots.
    Keys {
        #[command(subcommand)]
        command: crate::commands::keys::KeysCommand,
    },
    /// Check a petition's signature log and signed counts; exits non-zero naming the first broken entry.
    Verify {
        #[command(flatten)]
        source: crate::commands::verify::Source,
    },
    /// Late bounces and spam complaints that arrive by mail.
    Bounces {
        #[command(subcommand)]
        command: crate::commands::BouncesCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; prints the token alone as the last line of stdout.
    Create {
        /// A name to recognise the token by, e.g. the script or person using it.
        #[arg(long)]
        name: String,
        /// organiser (read, export), campaigner (also write and send) or admin (also erase).
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// The token stops working this many days from now (1 to 3650); without it, it lasts until revoked.
        #[arg(long, value_name = "DAYS")]
        expires_in: Option<u32>,
    },
    /// List API tokens: id, name, role, created, last used, expires, state. Never the token itself.
    List,
    /// Revoke an API token by its id (from `token list`): it answers 401 from now on.
    Revoke {
        /// The token's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user who signs in to the web console at /admin.
    ///
    /// The password is read from standard input with --password-stdin (its
    /// first line), otherwise prompted for twice without echo on a terminal.
    Create {
        /// The user's email address, used to sign in.
        #[arg(long)]
        email: String,
        /// organiser (read, export), campaigner (also write and send) or admin (also erase, manage users).
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: their console sessions end at once and they cannot sign in.
    Disable {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Delete a user: the account and its console sessions are gone at once.
    Delete {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
}

/// `--role`: the three words (listed in `--help` and in the error for any
/// other), read as a [`Role`].
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["admin", "campaigner", "organiser"])
        .try_map(|word| Role::parse(&word))
}

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A pipe transport must try a report again rather than lose it.
    let fails_with = match cli.command {
        Command::Bounces { .. } => crate::commands::bounces::EX_TEMPFAIL,
        _ => 2,
    };
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("clarion: {e}");
            return std::process::ExitCode::from(fails_with);
        }
    };
    crate::telemetry::init(&settings.log, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("clarion: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("clarion: {msg}");
            if e.is::<crate::commands::bounces::TryAgain>() {
                std::process::ExitCode::from(crate::commands::bounces::EX_TEMPFAIL)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            let app = Application::build(settings, startup::Options { demo, worker: true }).await?;
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Worker => {
            let (db, keys) = startup::prepare(&settings).await?;
            let templates = crate::templates::Templates::load(settings.templates_dir.as_deref())?;
            let wakeup = std::sync::Arc::new(tokio::sync::Notify::new());
            let background = startup::background(&settings, db, templates, keys, wakeup);
            shutdown_signal().await;
            tracing::info!("stopping: finishing messages in flight");
            background.stop().await?;
            Ok(())
        }
        Command::Migrate => crate::commands::keys::migrate(&settings).await,
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    role,
                    password_stdin,
                },
        } => crate::commands::user_create(&settings, &email, role, password_stdin).await,
        Command::User {
            command: UserCommand::Disable { email },
        } => crate::commands::users::user_access(&settings, &email, "disable").await,
        Command::User {
            command: UserCommand::Enable { email },
        } => crate::commands::users::user_access(&settings, &email, "enable").await,
        Command::User {
            command: UserCommand::Delete { email },
        } => crate::commands::users::user_access(&settings, &email, "delete").await,
        Command::Import { command } => crate::commands::import(command, &settings).await,
        Command::Export { command } => crate::commands::export(command, &settings).await,
        Command::Bounces { command } => crate::commands::bounces(command, &settings).await,
        Command::Keys { command } => crate::commands::keys::keys(command, &settings).await,
        Command::Verify { source } => crate::commands::verify::verify(source, &settings).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    name,
                    role,
                    expires_in,
                },
        } => crate::commands::token_create(&settings, &name, role, expires_in).await,
        Command::Token {
            command: TokenCommand::List,
        } => crate::commands::tokens::token_list(&settings).await,
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => crate::commands::tokens::token_revoke(&settings, &id).await,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
