//! The dashboard: open cases, petitions with their counts, signatures per
//! day as a server-drawn SVG bar chart (with the same numbers as a table),
//! and the latest alerts with their delivery progress.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use super::Console;
use crate::db::{self, DbError};
use crate::web::public::Fail;

/// Days shown on the chart.
const CHART_DAYS: i64 = 30;

pub async fn show(c: Console) -> HttpResponse {
    let r = render(&c).await;
    c.finish(r)
}

/// One bar of a chart, positioned for an SVG `viewBox` of
/// [`CHART_W`] × [`CHART_H`].
pub const CHART_W: i64 = 600;
pub const CHART_H: i64 = 200;

/// Bars for `days` (oldest first): heights scaled to the largest count.
pub fn bars(days: &[(String, i64)]) -> Value {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let n = days.len().max(1) as i64;
    let slot = CHART_W / n;
    let plot_h = CHART_H - 20;
    let bars: Vec<Value> = days
        .iter()
        .enumerate()
        .map(|(i, (day, count))| {
            let h = (count * plot_h) / max;
            json!({
                "x": i as i64 * slot + 1,
                "y": plot_h - h,
                "w": (slot - 2).max(1),
                "h": h,
                "day": day,
                "count": count,
            })
        })
        .collect();
    json!({
        "w": CHART_W, "h": CHART_H, "base": plot_h, "max": max,
        "bars": bars,
        "first": days.first().map(|d| d.0.clone()),
        "last": days.last().map(|d| d.0.clone()),
        "label_y": CHART_H - 4,
        "label_x_end": CHART_W,
    })
}

/// The last [`CHART_DAYS`] days up to `today`, with zero for a day without
/// signatures.
pub fn fill_days(counts: &BTreeMap<String, i64>, today: NaiveDate) -> Vec<(String, i64)> {
    (0..CHART_DAYS)
        .rev()
        .map(|back| {
            let d = (today - Duration::days(back))
                .format("%Y-%m-%d")
                .to_string();
            let n = counts.get(&d).copied().unwrap_or(0);
            (d, n)
        })
        .collect()
}

async fn render(c: &Console) -> Result<HttpResponse, Fail> {
    let (cases, petitions, per_day, alerts) = c
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            let cases: Vec<_> = db::cases::page(conn, None, 1000)?
                .into_iter()
                .filter(|c| c.status == "open")
                .collect();
            let petitions: Vec<_> = db::petitions::page(conn, None, 1000)?
                .into_iter()
                .filter(|p| p.status != "closed")
                .collect();
            let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
            for p in &petitions {
                // Pending and confirmed signatures both count here.
                for (_status, day, n) in db::signature_reports::by_day(conn, &p.id)? {
                    *per_day.entry(day).or_default() += n;
                }
            }
            let mut alerts = vec![];
            for a in db::alerts::recent(conn, 5)? {
                let counts = db::alerts::counts(conn, &a.id)?;
                alerts.push((a, counts));
            }
            Ok((cases, petitions, per_day, alerts))
        })
        .await?;
    let today = chrono::Utc::now().date_naive();
    let days = fill_days(&per_day, today);
    let total: i64 = days.iter().map(|d| d.1).sum();
    let case_title: BTreeMap<&str, &str> = cases
        .iter()
        .map(|k| (k.id.as_str(), k.title.as_str()))
        .collect();
    let loc = c.page.locale;
    Ok(c.render(
        "dashboard",
        c.t("admin_dashboard_title"),
        json!({
            "cases": cases.iter().map(|k| json!({"id": k.id, "title": k.title, "slug": k.slug})).collect::<Vec<_>>(),
            "petitions": petitions.iter().map(|p| json!({
                "id": p.id, "title": p.title, "status": c.t(&format!("admin_status_{}", p.status)),
                "case": case_title.get(p.case_id.as_str()).copied().unwrap_or(""),
                "confirmed": loc.number(p.confirmed_count), "pending": loc.number(p.pending_count),
            })).collect::<Vec<_>>(),
            "chart": bars(&days),
            "chart_summary": loc.format("admin_chart_summary", &[("total", &loc.number(total)), ("days", &CHART_DAYS.to_string())]),
            "days": days.iter().rev().map(|(d, n)| json!({"day": d, "count": loc.number(*n)})).collect::<Vec<_>>(),
            "alerts": alerts.iter().map(|(a, n)| alert_row(c, a, n)).collect::<Vec<_>>(),
        }),
    ))
}

/// An alert with its progress, for the dashboard and the alerts list.
pub fn alert_row(c: &Console, a: &db::alerts::Alert, n: &db::alerts::AlertCounts) -> Value {
    let done = n.sent + n.failed + n.cancelled;
    json!({
        "id": a.id, "subject": a.subject,
        "status": c.t(&format!("admin_alert_status_{}", a.status)),
        "recipients": a.recipients, "queued": n.queued, "sent": n.sent, "failed": n.failed,
        "done": done, "max": a.recipients.max(done).max(1),
        "created": super::when(a.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let mut m = BTreeMap::new();
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        m.insert("2026-11-28".to_string(), 10);
        m.insert("2026-11-27".to_string(), 5);
        let days = fill_days(&m, today);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29], ("2026-11-28".into(), 10));
        let chart = bars(&days);
        let b = chart["bars"].as_array().unwrap();
        assert_eq!(b[29]["h"], 180);
        assert_eq!(b[28]["h"], 90);
        assert_eq!(b[0]["h"], 0);
    }
}
