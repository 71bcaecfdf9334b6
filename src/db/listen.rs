//! Wake-ups for the mail workers across processes, on PostgreSQL: a
//! dedicated connection that `LISTEN`s on channel `clarion_mail` and turns
//! each notification into a wake-up of this process's worker; and the
//! [`Publisher`] that `NOTIFY`s there whenever an action of this process
//! queued mail (signing, an alert sent, a test copy, a resume). The
//! `nodes` migration's trigger also notifies when held deliveries are
//! queued again (a domain pause that ran out, say).
//!
//! Policy: a hint, never the only way mail is found. The worker still polls
//! (`worker_poll_ms`); when the connection drops this module reconnects,
//! with a growing pause, and wakes the worker once it listens again, for
//! whatever was queued meanwhile. It reads nothing from the queue itself and
//! never fails the process: a database it cannot listen to is logged, and
//! polling carries on. The pooled diesel connections cannot wait on a
//! socket, so this one is tokio-postgres's, driven on the async runtime.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{watch, Notify};
use tokio_postgres::AsyncMessage;

/// The channel the workers listen on.
pub const MAIL_CHANNEL: &str = "clarion_mail";

/// How long the publisher gathers further news before the next NOTIFY.
const COALESCE: Duration = Duration::from_millis(20);

/// The longest pause between two attempts to connect again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connection parameters tokio-postgres understands; others in the URL
/// (libpq's `gssencmode`, say) are left out of the listening connection.
const KNOWN_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// Tells every process's worker that mail was queued: a `NOTIFY` of its
/// own, in a transaction of its own, at most one in flight and then one
/// per [`COALESCE`] however much mail is queued. Not from a trigger in the
/// transactions that queue the mail: a committing transaction that has
/// notified holds PostgreSQL's notification lock, one database-wide, so
/// every signing batch that queued a confirmation would commit in single
/// file (bench/sign on PostgreSQL, mails queued: 5,800–6,400 sig/s before
/// triggers, 4,200–4,400 with one on each insert).
#[derive(Clone)]
pub struct Publisher {
    news: Arc<Notify>,
}

impl Publisher {
    /// On PostgreSQL, starts the publishing task on the current runtime;
    /// `None` on SQLite, where only this process sends.
    pub fn start(db: &super::Db) -> Option<Publisher> {
        if db.is_sqlite() {
            return None;
        }
        let news = Arc::new(Notify::new());
        let db = db.clone();
        let waiting = news.clone();
        tokio::spawn(async move {
            loop {
                waiting.notified().await;
                let sent = db
                    .run(|c| {
                        use diesel::connection::SimpleConnection;
                        c.batch_execute(&format!("NOTIFY {MAIL_CHANNEL}"))
                            .map_err(super::DbError::Query)
                    })
                    .await;
                match sent {
                    Err(super::DbError::Join(j)) if j.is_cancelled() => break,
                    // The workers poll; a missed hint only delays.
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot notify the workers of queued mail")
                    }
                    Ok(()) => {}
                }
                tokio::time::sleep(COALESCE).await;
            }
        });
        Some(Publisher { news })
    }

    /// Mail was queued (committed): NOTIFY soon.
    pub fn mail_queued(&self) {
        self.news.notify_one();
    }
}

/// On PostgreSQL, starts listening for queued mail on the current runtime
/// and calls `wakeup.notify_one()` for each notification, until `stop`
/// turns true. `None` on SQLite, where the serving process wakes its own
/// worker and no other process sends.
pub fn spawn(
    database_url: &str,
    wakeup: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let config = listen_config(database_url)?;
    Some(tokio::spawn(listen_loop(config, wakeup, stop)))
}

/// The listening connection's settings: the database URL's, less what
/// tokio-postgres does not know, with TCP keepalives so a connection that
/// silently died is noticed within a minute or so.
fn listen_config(database_url: &str) -> Option<tokio_postgres::Config> {
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return None;
    }
    let mut url = url::Url::parse(database_url).ok()?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| KNOWN_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    match url.as_str().parse::<tokio_postgres::Config>() {
        Ok(mut c) => {
            c.application_name("clarion-listen")
                .connect_timeout(Duration::from_secs(10))
                .keepalives_idle(Duration::from_secs(30));
            Some(c)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for queued mail (the database URL); polling only");
            None
        }
    }
}

async fn listen_loop(
    config: tokio_postgres::Config,
    wakeup: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        let listened = tokio::select! {
            r = listen_once(&config, &wakeup) => r,
            _ = stop.changed() => return,
        };
        match listened {
            // Listened a good while, then the connection ended (a restart
            // of the server, a terminated backend): again at once.
            Ok(()) if started.elapsed() >= MAX_BACKOFF => {
                tracing::warn!("the connection listening for queued mail closed; reconnecting");
                backoff = Duration::from_secs(1);
            }
            // It keeps ending soon after it starts: no faster than the
            // growing pause.
            Ok(()) => {
                tracing::warn!(
                    retry_in_secs = backoff.as_secs(),
                    "the connection listening for queued mail closed; reconnecting"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    retry_in_secs = backoff.as_secs(),
                    "cannot listen for queued mail; polling meanwhile"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection's life: connect, `LISTEN`, wake the worker once (mail
/// may have been queued while nobody listened), then once per notification
/// until the connection ends. `Err` when it never got to listen.
async fn listen_once(
    config: &tokio_postgres::Config,
    wakeup: &Arc<Notify>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    // The connection must be driven while LISTEN runs, and after it to
    // receive the notifications: this task does both.
    let driver = {
        let wakeup = wakeup.clone();
        async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => wakeup.notify_one(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the connection listening for queued mail failed");
                        break;
                    }
                }
            }
        }
    };
    let driver = tokio::spawn(driver);
    let listen = client
        .batch_execute(&format!("LISTEN {MAIL_CHANNEL}"))
        .await;
    if let Err(e) = listen {
        driver.abort();
        return Err(e);
    }
    tracing::info!(channel = MAIL_CHANNEL, "listening for queued mail");
    wakeup.notify_one();
    // Keep the client (dropping it closes the connection) until the
    // connection ends.
    let _ = driver.await;
    drop(client);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_has_no_listener_and_unknown_parameters_are_left_out() {
        assert!(listen_config("sqlite://data/clarion.db").is_none());
        let c = listen_config(
            "postgres://u@db.example:5433/clarion?gssencmode=disable&options=-csearch_path%3Dx",
        )
        .expect("a PostgreSQL URL");
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_dbname(), Some("clarion"));
        assert_eq!(c.get_options(), Some("-csearch_path=x"));
        assert_eq!(c.get_ports(), &[5433]);
    }
}
