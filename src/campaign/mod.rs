//! The campaign layer: every action a campaigner, organiser, supporter or
//! the operator can take, one module per thing they talk about.
//!
//! # Policy
//!
//! * `web/` (the API and the console) and `commands/` (the CLI) parse input
//!   into [`crate::domain`] types, authorise, call **one** action here and
//!   render its typed answer. They never touch [`crate::db`] themselves,
//!   reads included.
//! * An action takes the [`Context`], the [`Actor`] and typed input, and
//!   returns typed output or a [`CampaignError`] with a stable code. It checks
//!   the actor's role itself, records itself in the audit log, and fires the
//!   side effects that follow from it ([`Events`]: the public pages' cache,
//!   the mail worker's wake-up), so no caller has to remember them.
//! * This layer knows nothing of HTTP, HTML or the command line: it never
//!   imports `web` or `commands`.

pub mod alerts;
pub mod at_rest;
pub mod cases;
pub mod confirmations;
mod error;
pub mod evidence;
pub mod input;
pub mod limits;
pub mod lists;
pub mod overview;
pub mod paging;
pub mod petitions;
pub mod public;
pub mod reminders;
pub mod reports;
pub mod sign_in_guard;
pub mod signing;
pub mod subscriptions;
pub mod supporters;
pub mod tokens;
pub mod users;
pub mod writer;

use std::sync::Arc;

use chrono::NaiveDateTime;

/// The pool handle, for whoever starts the service (the edges never query it).
pub use crate::db::Db;
pub use error::{CampaignError, CampaignResult, FieldError};

use crate::config::Settings;
use crate::db::DbConnection;
use crate::domain::{Role, TokenId, UserId};
use crate::security::Keys;
use crate::templates::Templates;

/// What every action may use. Cheap to clone; passed explicitly (there is no
/// global state).
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub keys: Keys,
    pub templates: Templates,
    pub events: Events,
    clock: Clock,
    /// The batching signature writer, in a process that serves the signing
    /// form (see [`Context::with_writers`]); without one,
    /// [`signing::sign`] stores each signature in its own transaction.
    signing: Option<signing::SignWriter>,
    /// The batching confirmation writer, beside the signature writer;
    /// without one, each confirmation is its own transaction.
    confirming: Option<confirmations::ConfirmWriter>,
    /// Turns for imports, which hold a connection for a whole file: a
    /// quarter of the pool at once, at least one (see [`lists::import`]).
    imports: Arc<tokio::sync::Semaphore>,
    /// Failed console sign-ins of this process (see [`sign_in_guard`]).
    pub sign_ins: Arc<sign_in_guard::SignInGuard>,
    /// The keys of the day client IPs are hashed with (in the key folder).
    pub ip_keys: Arc<crate::security::DayKeys>,
}

impl Context {
    pub fn new(db: Db, settings: Arc<Settings>, keys: Keys, templates: Templates) -> Context {
        let import_turns = (db.max_size() as usize / 4).max(1);
        Context {
            imports: Arc::new(tokio::sync::Semaphore::new(import_turns)),
            sign_ins: Arc::new(sign_in_guard::SignInGuard::new(keys.clone())),
            ip_keys: Arc::new(crate::security::DayKeys::new(settings.key_dir.clone())),
            db,
            settings,
            keys,
            templates,
            events: Events::default(),
            clock: Clock::system(),
            signing: None,
            confirming: None,
        }
    }

    /// Starts the batching writers (signatures, confirmations) on threads
    /// of their own. Once per process, in the one that serves the
    /// public pages: a writer's batches are only as large as the requests
    /// one writer sees.
    pub fn with_writers(mut self) -> Context {
        let pending_ttl = signing::pending_ttl(&self);
        self.signing = Some(writer::Writer::start(
            self.db.clone(),
            signing::Signatures { pending_ttl },
        ));
        self.confirming = Some(writer::Writer::start(
            self.db.clone(),
            confirmations::Confirmations::new(self.keys.clone()),
        ));
        self
    }

    pub fn with_events(mut self, events: Events) -> Context {
        self.events = events;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Context {
        self.clock = clock;
        self
    }

    /// The current time, as the database stores it (UTC, microseconds).
    pub fn now(&self) -> NaiveDateTime {
        (self.clock.0)()
    }

    /// The keys the signing limit knows client address `ip` by now, the
    /// first of them to be stored with a signature last (today's hash; see
    /// [`crate::security::DayKeys::limit_hashes`]).
    pub fn client_hashes(&self, ip: &str) -> CampaignResult<Vec<String>> {
        self.ip_keys.limit_hashes(ip, self.now()).map_err(|e| {
            CampaignError::Internal(anyhow::anyhow!(
                "cannot read or make the IP key of the day in {}: {e}",
                self.settings.key_dir.display()
            ))
        })
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> CampaignResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> CampaignResult<T> + Send + 'static,
    {
        self.db.run(f).await
    }

    /// As [`Context::run`], inside one write transaction.
    pub async fn write<T, F>(&self, f: F) -> CampaignResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> CampaignResult<T> + Send + 'static,
    {
        self.db.run(move |c| crate::db::write_tx(c, f)).await
    }
}

/// Where the time comes from: the system clock, or a fixed one in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> NaiveDateTime + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(crate::db::now))
    }

    pub fn fixed(at: NaiveDateTime) -> Clock {
        Clock(Arc::new(move || at))
    }
}

/// The side effects actions announce. A process that serves pages hooks its
/// cache in; one that runs the worker hands in its wake-up; the CLI keeps
/// the defaults, which do nothing (another process's worker polls).
#[derive(Clone)]
pub struct Events {
    mail: Arc<tokio::sync::Notify>,
    petitions_changed: Arc<dyn Fn() + Send + Sync>,
    /// Tells the other processes (PostgreSQL: a coalesced NOTIFY).
    mail_elsewhere: Arc<dyn Fn() + Send + Sync>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            mail: Arc::new(tokio::sync::Notify::new()),
            petitions_changed: Arc::new(|| {}),
            mail_elsewhere: Arc::new(|| {}),
        }
    }
}

impl Events {
    /// Mail was queued: wake the worker rather than wait for its next poll.
    pub fn mail_queued(&self) {
        self.mail.notify_one();
        (self.mail_elsewhere)();
    }

    /// A case or petition, or a petition's count, changed: what the public
    /// pages show of it must be read again.
    pub fn petitions_changed(&self) {
        (self.petitions_changed)();
    }

    /// What the worker waits on.
    pub fn mail_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.mail.clone()
    }

    /// Also tells other processes' workers when mail is queued (a process
    /// on PostgreSQL hands in [`crate::db::listen::Publisher::mail_queued`]).
    pub fn on_mail_queued(mut self, f: impl Fn() + Send + Sync + 'static) -> Events {
        self.mail_elsewhere = Arc::new(f);
        self
    }

    pub fn on_petitions_changed(mut self, f: impl Fn() + Send + Sync + 'static) -> Events {
        self.petitions_changed = Arc::new(f);
        self
    }
}

/// Who is acting: read for role checks and the audit log, and (later) for
/// four-eyes approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A caller of the API with a bearer token.
    Token {
        id: TokenId,
        name: String,
        role: Role,
    },
    /// A person signed in to the console.
    User {
        id: UserId,
        email: String,
        role: Role,
    },
    /// The operator at the command line: every power.
    Cli,
    /// A visitor of the public pages (signing, confirming, unsubscribing).
    Public,
    /// The service itself: the worker's periodic jobs, the demo seed.
    System,
}

impl Actor {
    /// The role this actor holds, if it is one of the three roles' holders.
    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Token { role, .. } | Actor::User { role, .. } => Some(*role),
            Actor::Cli | Actor::System => Some(Role::Admin),
            Actor::Public => None,
        }
    }

    /// `Forbidden` unless the actor holds at least `role`.
    pub fn require(&self, role: Role) -> CampaignResult<()> {
        match self.role() {
            Some(r) if r >= role => Ok(()),
            _ => Err(CampaignError::Forbidden),
        }
    }

    /// How the actor appears in the audit log: `token:NAME`, `user:EMAIL`,
    /// `cli`, `public`, `system`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Token { name, .. } => format!("token:{name}"),
            Actor::User { email, .. } => format!("user:{email}"),
            Actor::Cli => "cli".into(),
            Actor::Public => "public".into(),
            Actor::System => "system".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_gate_actions_and_the_public_holds_none() {
        let organiser = Actor::Token {
            id: TokenId::new(),
            name: "t".into(),
            role: Role::Organiser,
        };
        assert!(organiser.require(Role::Organiser).is_ok());
        assert!(matches!(
            organiser.require(Role::Campaigner),
            Err(CampaignError::Forbidden)
        ));
        assert!(Actor::Cli.require(Role::Admin).is_ok());
        assert!(Actor::Public.require(Role::Organiser).is_err());
        assert_eq!(organiser.audit_name(), "token:t");
    }
}
