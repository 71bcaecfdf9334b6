//! Builds the application from settings: database, migrations, keys, the HTTP
//! server (bound, so port 0 works for tests) and, when asked, the mail worker
//! with the periodic jobs beside it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::campaign::{Context, Events};
use crate::config::Settings;
use crate::db::Db;
use crate::security::{generate_secret_key, key_file, Keys};
use crate::templates::Templates;
use crate::web::{self as routes, AppState};

/// Opens the database, applies migrations and settles the secret key: the
/// part every command shares.
pub async fn prepare(settings: &Settings) -> anyhow::Result<(Db, Keys)> {
    let url = settings.database_url.clone();
    let size = settings.database_pool_size;
    let db = crate::telemetry::spawn_blocking_with_tracing(move || Db::connect(&url, size))
        .await?
        .context("cannot open the database (CLARION_DATABASE_URL)")?;
    let applied = {
        let db = db.clone();
        crate::telemetry::spawn_blocking_with_tracing(move || db.migrate()).await??
    };
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    db.spawn_checkpointer();
    let secret = settle_secret_key(settings, &db).await?;
    let data_keys = settle_data_keys(settings, &db).await?;
    Ok((db.with_data_keys(data_keys), Keys::new(&secret)))
}

/// The data keys personal data is sealed under: `CLARION_DATA_KEY`, else
/// the key file (`Settings::data_key_file`), made on first start. A
/// database whose data is sealed under a key not held (copied without its
/// key file) is refused: a fresh key would open none of it, and the
/// service would seem to have lost everyone's data.
async fn settle_data_keys(
    settings: &Settings,
    db: &Db,
) -> anyhow::Result<Arc<crate::vault::DataKeys>> {
    use crate::vault::{DataKeys, Vault};
    // Keys registered but holding nothing (a database made by a command
    // run with another key folder, say) are retired, not a reason to refuse.
    let in_use = db
        .run(|c| {
            let mut used = Vec::new();
            for id in crate::db::sealing::live_key_ids(c)? {
                if crate::db::sealing::anything_under(c, &id)? {
                    used.push(id);
                } else {
                    crate::db::sealing::retire(c, &id, crate::db::now())?;
                }
            }
            Ok::<_, crate::db::DbError>(used)
        })
        .await?;
    let path = settings.data_key_file();
    let sealing = settings.encrypt_at_rest;
    let keys = match &settings.data_key {
        Some(text) => {
            let v = Vault::parse(text.expose_secret()).context("CLARION_DATA_KEY")?;
            DataKeys::fixed(if sealing { v } else { v.without_sealing() })
        }
        None => {
            let file = path.clone();
            let ids = in_use.clone();
            crate::telemetry::spawn_blocking_with_tracing(move || {
                if !ids.is_empty() && key_file::read(&file)?.is_none() {
                    anyhow::bail!(
                        "the database holds personal data sealed under data key {}, but the \
                         data key file {} does not exist: restore it from the backup (or set \
                         CLARION_DATA_KEY); without it that data cannot be read",
                        ids.join(", "),
                        file.display()
                    );
                }
                key_file::get_or_create(&file, Vault::generate_text)
                    .with_context(|| format!("cannot keep the data keys in {}", file.display()))?;
                Ok(DataKeys::from_file(file, sealing)?)
            })
            .await??
        }
    };
    let held = keys.vault().ids();
    let missing: Vec<String> = in_use.into_iter().filter(|k| !held.contains(k)).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "the database holds personal data sealed under data key {}, which {} does not hold: \
             restore the data key file from the backup; without it that data cannot be read",
            missing.join(", "),
            if settings.data_key.is_some() {
                "CLARION_DATA_KEY".to_string()
            } else {
                path.display().to_string()
            }
        );
    }
    let current = keys.vault().current_id().to_string();
    db.run(move |c| crate::db::sealing::register(c, &current, crate::db::now()))
        .await?;
    Ok(Arc::new(keys))
}

/// The secret key: `CLARION_SECRET_KEY`, else the key file
/// (`Settings::secret_key_file`), made on first start. A key an older version
/// kept in the database moves to the file first (the file, if there is one
/// already, wins) and its row is deleted, so links mailed before still work
/// and the database holds no key.
async fn settle_secret_key(settings: &Settings, db: &Db) -> anyhow::Result<String> {
    let legacy = db.run(crate::db::secrets::legacy_secret_key).await?;
    let path = settings.secret_key_file();
    let from_file = {
        let file = path.clone();
        let wanted = settings.secret_key.is_none() || legacy.is_some();
        let legacy = legacy.clone();
        crate::telemetry::spawn_blocking_with_tracing(move || {
            if !wanted {
                return Ok(None);
            }
            key_file::get_or_create(&file, || legacy.unwrap_or_else(generate_secret_key)).map(Some)
        })
        .await?
        .with_context(|| {
            format!(
                "cannot keep the secret key in {} (CLARION_KEY_DIR)",
                path.display()
            )
        })?
    };
    let removed = db.run(crate::db::secrets::delete_all).await?;
    if legacy.is_some() && removed > 0 {
        tracing::info!(
            key.file = %path.display(),
            "the secret key moved from the database to its key file"
        );
    }
    settings
        .secret_key
        .as_ref()
        .map(|k| k.expose_secret().to_string())
        .or(from_file)
        .context("no secret key")
}

/// [`prepare`], then the campaign layer's context for a process that serves
/// no pages (the CLI): its events wake nothing here.
pub async fn context(settings: &Settings) -> anyhow::Result<Context> {
    let (db, keys) = prepare(settings).await?;
    let templates = Templates::load(settings.templates_dir.as_deref())?;
    Ok(Context::new(
        db,
        Arc::new(settings.clone()),
        keys,
        templates,
    ))
}

/// The mail worker and the periodic jobs of one process, stopped together,
/// with (on PostgreSQL) the connection that listens for mail other
/// processes queue.
pub struct Background {
    stop: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    jobs: tokio::task::JoinHandle<()>,
    snapshots: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the mail worker and the periodic jobs on the current runtime. On
/// PostgreSQL the worker is also woken by every process's NOTIFY
/// ([`crate::db::listen`]), so a `clarion worker` of its own finds what a
/// `serve` node queued at once.
pub fn background(
    settings: &Settings,
    db: Db,
    templates: Templates,
    keys: Keys,
    wakeup: Arc<tokio::sync::Notify>,
) -> Background {
    let (stop, worker) = crate::mail::spawn_worker(
        settings,
        db.clone(),
        templates.clone(),
        keys.clone(),
        wakeup.clone(),
    );
    let listener = crate::db::listen::spawn(&settings.database_url, wakeup, stop.subscribe());
    let jobs = crate::jobs::spawn(
        db.clone(),
        settings.default_locale.clone(),
        settings.confirm_reminder_hours,
        stop.subscribe(),
    );
    let ctx = crate::campaign::Context::new(db, Arc::new(settings.clone()), keys, templates);
    let retention = crate::jobs::retention::spawn(ctx.clone(), stop.subscribe());
    let snapshots = crate::jobs::snapshots::spawn(ctx, stop.subscribe());
    Background {
        stop,
        worker,
        jobs,
        snapshots,
        retention,
        listener,
    }
}

impl Background {
    /// Stops both: the worker finishes the messages in flight and releases
    /// the rest. An error when either task panicked (logged here).
    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(true);
        if let Some(listener) = self.listener {
            // It stops on the signal; nothing of it needs finishing.
            let _ = listener.await;
        }
        let worker = self.worker.await;
        if let Err(e) = &worker {
            tracing::error!(error.cause_chain = ?e, "the mail worker task failed");
        }
        let jobs = self.jobs.await;
        if let Err(e) = &jobs {
            tracing::error!(error.cause_chain = ?e, "the periodic jobs task failed");
        }
        let snapshots = self.snapshots.await;
        if let Err(e) = &snapshots {
            tracing::error!(error.cause_chain = ?e, "the snapshots job failed");
        }
        let retention = self.retention.await;
        if let Err(e) = &retention {
            tracing::error!(error.cause_chain = ?e, "the retention job failed");
        }
        worker.and(jobs).and(snapshots).and(retention)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Seed the demo case into an empty database.
    pub demo: bool,
    /// Run the mail worker in this process (what `serve` does unless
    /// `serve_worker` is off).
    pub worker: bool,
}

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    worker: Option<Background>,
}

impl Application {
    pub async fn build(mut settings: Settings, options: Options) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.http_addr).with_context(|| {
            format!(
                "cannot listen on {} (CLARION_HTTP_ADDR)",
                settings.http_addr
            )
        })?;
        let bound = listener.local_addr()?;
        // With port 0 and no explicit base URL, links must name the real port.
        if settings.base_url == format!("http://{}", settings.http_addr) {
            settings.base_url = format!("http://{bound}");
        }
        let settings = Arc::new(settings);
        let (db, keys) = prepare(&settings).await?;
        if options.demo {
            let seeded = db.run(crate::demo::seed).await?;
            if seeded {
                tracing::info!("demo case and petition created");
            }
        }
        let prometheus = PrometheusMetricsBuilder::new("clarion")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        let metrics = Arc::new(routes::health::Metrics::new(prometheus.registry.clone()));
        let templates = Templates::load(settings.templates_dir.as_deref())?;
        let limit = crate::campaign::limits::SignLimit::start(&db, settings.sign_rate_per_ip);
        let public = routes::public::PublicState::new(&settings, limit);
        let events = {
            let public = public.clone();
            let events =
                Events::default().on_petitions_changed(move || public.petitions.invalidate());
            // On PostgreSQL every worker hears of mail queued here.
            match crate::db::listen::Publisher::start(&db) {
                Some(p) => events.on_mail_queued(move || p.mail_queued()),
                None => events,
            }
        };
        let ctx = Context::new(
            db.clone(),
            settings.clone(),
            keys.clone(),
            templates.clone(),
        )
        .with_events(events)
        .with_writers();
        // Past days' IP keys go at start too, not only with the worker.
        crate::jobs::retention::forget_old_ip_keys(&ctx);
        let state = AppState {
            ctx,
            db,
            settings: settings.clone(),
            keys,
            metrics,
            templates,
            public,
        };
        let port = bound.port();
        let data = actix_web::web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Innermost, so the metrics and the log see the real method.
                .wrap(from_fn(routes::head_as_get))
                .wrap(prometheus.clone())
                .wrap(from_fn(routes::request_id::middleware))
                .configure(routes::configure)
        })
        .listen(listener)?
        .run();
        let worker = (options.worker && settings.serve_worker).then(|| {
            background(
                &settings,
                state.db.clone(),
                state.templates.clone(),
                state.keys.clone(),
                state.ctx.events.mail_wakeup(),
            )
        });
        Ok(Application {
            port,
            server,
            state,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM (actix-web's graceful shutdown), then
    /// stops the mail worker: it finishes the messages in flight and
    /// releases the rest.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let ip = self.state.settings.http_addr.ip();
        tracing::info!("listening on http://{}:{}", ip, self.port);
        let result = self.server.await;
        if let Some(background) = self.worker {
            // Logged there; the server's own result is what matters here.
            let _ = background.stop().await;
        }
        result
    }
}
