//! What the console's dashboard and the operator's health checks read: open
//! cases and petitions with their counts, signatures per day, the latest
//! alerts' progress, whether the database answers, the mail queue's depth
//! and the connection pool's figures.
//!
//! Reads only: nothing here changes anything or is audited.

use std::collections::BTreeMap;

use super::{Actor, CampaignResult, Context};
use crate::db;
use crate::domain::{CaseStatus, DeliveryStatus, PetitionStatus, Role, SignatureStatus};

pub use crate::db::alerts::{Alert, AlertCounts};
pub use crate::db::cases::Case;
pub use crate::db::petitions::Petition;

/// Most cases and petitions the dashboard looks through.
const DASHBOARD_ROWS: i64 = 1000;
/// Latest alerts shown with their progress.
const DASHBOARD_ALERTS: i64 = 5;

/// The dashboard's figures.
#[derive(Debug)]
pub struct Dashboard {
    /// Open cases.
    pub cases: Vec<Case>,
    /// Petitions not closed, with their counts.
    pub petitions: Vec<Petition>,
    /// Signatures (pending or confirmed) of those petitions per UTC day
    /// (`YYYY-MM-DD`); days without any are absent.
    pub signatures_per_day: BTreeMap<String, i64>,
    /// The latest alerts, newest first, with their delivery counts.
    pub alerts: Vec<(Alert, AlertCounts)>,
}

pub async fn dashboard(ctx: &Context, actor: &Actor) -> CampaignResult<Dashboard> {
    actor.require(Role::Organiser)?;
    ctx.run(|conn| {
        let cases: Vec<Case> = db::cases::page(conn, None, DASHBOARD_ROWS)?
            .into_iter()
            .filter(|c| c.status.as_str() == CaseStatus::Open.as_str())
            .collect();
        let petitions: Vec<Petition> = db::petitions::page(conn, None, DASHBOARD_ROWS)?
            .into_iter()
            .filter(|p| p.status.as_str() != PetitionStatus::Closed.as_str())
            .collect();
        let mut signatures_per_day: BTreeMap<String, i64> = BTreeMap::new();
        for p in &petitions {
            for (status, day, n) in db::signature_reports::by_day(conn, &p.id)? {
                if matches!(
                    SignatureStatus::parse(status.as_str()),
                    Ok(SignatureStatus::Confirmed | SignatureStatus::Pending)
                ) {
                    *signatures_per_day.entry(day).or_default() += n;
                }
            }
        }
        let mut alerts = vec![];
        for a in db::alerts::recent(conn, DASHBOARD_ALERTS)? {
            let counts = db::alerts::counts(conn, &a.id)?;
            alerts.push((a, counts));
        }
        Ok(Dashboard {
            cases,
            petitions,
            signatures_per_day,
            alerts,
        })
    })
    .await
}

/// Whether the database answers a query (the readiness check).
pub async fn database_answers(ctx: &Context) -> CampaignResult<()> {
    ctx.run(|c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute("SELECT 1")?;
        Ok(())
    })
    .await
}

/// Deliveries in each status, every status listed (zero when none).
pub async fn queue_depth(ctx: &Context) -> CampaignResult<Vec<(DeliveryStatus, i64)>> {
    let rows = ctx.run(|c| Ok(db::deliveries::depth(c)?)).await?;
    Ok(DeliveryStatus::ALL
        .iter()
        .map(|status| {
            let n = rows
                .iter()
                .find(|(s, _)| s.as_str() == status.as_str())
                .map_or(0, |(_, n)| *n);
            (*status, n)
        })
        .collect())
}

/// Deliveries by the class of their last reply (contract §8), every class
/// listed (zero when none).
pub async fn deliveries_by_class(
    ctx: &Context,
) -> CampaignResult<Vec<(crate::mail::reply::ReplyClass, i64)>> {
    let rows = ctx.run(|c| Ok(db::deliveries::by_reply_class(c)?)).await?;
    Ok(crate::mail::reply::ReplyClass::ALL
        .iter()
        .map(|class| {
            let n = rows
                .iter()
                .find(|(s, _)| s == class.as_str())
                .map_or(0, |(_, n)| *n);
            (*class, n)
        })
        .collect())
}

/// The database pool's figures.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

pub fn pool(ctx: &Context) -> Pool {
    let state = ctx.db.state();
    Pool {
        connections: state.connections,
        idle: state.idle_connections,
        max: ctx.db.max_size(),
    }
}
