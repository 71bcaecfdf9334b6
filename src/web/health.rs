//! Liveness, readiness and Prometheus metrics.

use actix_web::{web, HttpResponse};
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::AppState;

/// Gauges refreshed at each scrape; request counts and latencies come from
/// the actix-web-prom middleware sharing the same registry.
pub struct Metrics {
    pub registry: Registry,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    pub queue_depth: IntGaugeVec,
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
        Metrics {
            registry,
            pool_connections,
            pool_idle,
            pool_max,
            queue_depth,
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
    let r = state
        .db
        .run(|c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SELECT 1")
                .map_err(crate::db::DbError::from)
        })
        .await;
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
    let pool = state.db.state();
    m.pool_connections.set(pool.connections as i64);
    m.pool_idle.set(pool.idle_connections as i64);
    m.pool_max.set(state.db.max_size() as i64);
    match state.db.run(crate::db::deliveries::depth).await {
        Ok(rows) => {
            for status in crate::domain::DeliveryStatus::ALL {
                let n = rows
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                m.queue_depth.with_label_values(&[status.as_str()]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue depth unavailable"),
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
