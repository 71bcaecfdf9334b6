//! Liveness, readiness and Prometheus metrics. What they report is read
//! through `campaign::overview`; this module only serves it.

use actix_web::{web, HttpResponse};
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::AppState;
use crate::campaign::overview;

/// Gauges refreshed at each scrape; request counts and latencies come from
/// the actix-web-prom middleware sharing the same registry.
pub struct Metrics {
    pub registry: Registry,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    pub queue_depth: IntGaugeVec,
    /// Deliveries by the class of their last reply (mailbox_gone, policy…).
    pub by_class: IntGaugeVec,
    /// Pending signatures reminded to confirm, and those confirmed since.
    reminders_sent: IntGauge,
    confirmed_after_reminder: IntGauge,
}

impl Metrics {
    pub fn new(registry: Registry) -> Metrics {
        let g = |name: &str, help: &str| {
            let g = IntGauge::with_opts(Opts::new(name, help).namespace("clarion"))
                .expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique gauge");
            g
        };
        let pool_connections = g("db_pool_connections", "Database connections open");
        let pool_idle = g("db_pool_idle", "Database connections idle");
        let pool_max = g("db_pool_max", "Database pool size");
        let queue_depth = IntGaugeVec::new(
            Opts::new("mail_queue_depth", "Deliveries by status").namespace("clarion"),
            &["status"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(queue_depth.clone()))
            .expect("unique gauge");
        let by_class = IntGaugeVec::new(
            Opts::new(
                "deliveries_by_class",
                "Deliveries by the class of their last reply",
            )
            .namespace("clarion"),
            &["class"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(by_class.clone()))
            .expect("unique gauge");
        let reminders_sent = g(
            "confirmation_reminders_sent",
            "Signatures whose confirmation reminder was sent (of those still held)",
        );
        let confirmed_after_reminder = g(
            "confirmations_after_reminder",
            "Reminded signatures that were confirmed since",
        );
        Metrics {
            registry,
            pool_connections,
            pool_idle,
            pool_max,
            queue_depth,
            by_class,
            reminders_sent,
            confirmed_after_reminder,
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let r = overview::database_answers(&state.ctx).await;
    match r {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable\n")
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let pool = overview::pool(&state.ctx);
    m.pool_connections.set(pool.connections as i64);
    m.pool_idle.set(pool.idle as i64);
    m.pool_max.set(pool.max as i64);
    match overview::queue_depth(&state.ctx).await {
        Ok(rows) => {
            for (status, n) in rows {
                m.queue_depth.with_label_values(&[status.as_str()]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue depth unavailable"),
    }
    match overview::deliveries_by_class(&state.ctx).await {
        Ok(rows) => {
            for (class, n) in rows {
                m.by_class.with_label_values(&[class.as_str()]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "deliveries by class unavailable"),
    }
    match crate::campaign::reminders::totals(&state.ctx).await {
        Ok(r) => {
            m.reminders_sent.set(r.reminded);
            m.confirmed_after_reminder.set(r.confirmed_after);
        }
        Err(e) => tracing::warn!(error = %e, "reminder counts unavailable"),
    }
    let mut out = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(&m.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics encoding failed");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}
