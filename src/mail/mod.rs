//! Outgoing mail: the kinds of mail, each its templates and context
//! (`kinds`), the MIME building they share (`compose`), Markdown for alert
//! bodies (`markdown`), the SMTP or outbox transport (`transport`) and the
//! worker that drains the one durable queue in the database (`worker`).
//!
//! Policy: every message goes through the queue and is recorded; headers are
//! built only from validated values; addresses are masked in logs. Storage
//! hands mail rows; turning them into messages happens here, never in `db`.

pub mod compose;
pub mod inbound;
pub mod kinds;
pub mod markdown;
pub mod reply;
pub mod transport;
pub mod verp;
pub mod worker;

pub use kinds::alert::alert_content;

use std::sync::Arc;

use tokio::sync::{watch, Notify};

use crate::config::Settings;
use crate::db::Db;
use crate::security::Keys;
use crate::templates::Templates;

/// `u***@e***.org`: enough to tell messages apart in a log, not enough to
/// learn who supports a case.
pub fn mask(email: &str) -> String {
    match crate::domain::Email::parse(email) {
        Ok(e) => e.mask(),
        Err(_) => "***".to_string(),
    }
}

pub fn composer(settings: &Settings, templates: Templates, keys: Keys) -> compose::Composer {
    let c = compose::Composer::new(
        templates,
        keys,
        &settings.base_url,
        settings.mail_from.clone(),
    )
    .with_bounce_domain(settings.bounce_domain.clone())
    .with_default_locale(
        crate::i18n::Locale::from_tag(&settings.default_locale).unwrap_or(crate::i18n::Locale::EN),
    );
    match settings.dkim.as_ref().map(compose::dkim_config) {
        Some(Ok(dkim)) => c.with_dkim(dkim),
        Some(Err(e)) => {
            // Settings::from_raw checked the key; this cannot happen.
            tracing::error!(error = %e, "DKIM key unusable; sending unsigned");
            c
        }
        None => c,
    }
}

/// Starts a worker, on threads of its own at nice `worker_nice` (on the
/// current runtime when that is 0); flip the returned sender to true to
/// stop it, then await the handle.
pub fn spawn_worker(
    settings: &Settings,
    db: Db,
    templates: Templates,
    keys: Keys,
    wakeup: Arc<Notify>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let worker = worker::Worker::new(
        db,
        composer(settings, templates, keys),
        transport::Mailer::from_settings(&settings.mail, settings.smtp_timeout_secs),
        worker::WorkerConfig::from_settings(settings),
        wakeup,
    );
    let handle = worker::spawn_niced(settings.worker_nice, worker.run(rx));
    (tx, handle)
}
