//! Cases in the console: list, create, edit, open, resolve and close (the
//! status field), and the case's supporter safety: the safety-mode switch,
//! said in plain words, and when its signers' data will be erased. Thin:
//! every read and write is a `campaign::cases` action, the same the API
//! calls; errors appear beside their fields.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::paging::{nav, PageQuery};
use super::{errors_map, see_other, Console, Form, Outcome, Posted, Role};
use crate::campaign::cases::{self, CaseChanges, NewCase};
use crate::domain::{CaseId, CaseStatus};
use crate::error::FieldError;

/// The case's optional fields: emptied on an edit form, they are cleared.
const CLEARABLE: [&str; 4] = ["subject_name", "country", "body", "retention_days"];

const CASE_FIELDS: [&str; 8] = [
    "slug",
    "title",
    "summary",
    "subject_name",
    "country",
    "body",
    "status",
    "retention_days",
];

/// When a case's signers' data goes, in the page's words.
fn erasure_text(c: &Console, k: &cases::Case) -> String {
    let l = c.page.locale;
    match (k.erase_after(), k.retention_days) {
        (Some(at), _) => l.format("safety_erased_on", &[("date", &super::when(at))]),
        (None, Some(days)) => l.format("safety_erased_after_end", &[("days", &days.to_string())]),
        (None, None) => l.get("safety_kept").to_string(),
    }
}

/// The status choices of a form, `current` selected.
pub(super) fn statuses<'a>(
    c: &Console,
    all: impl IntoIterator<Item = &'a str>,
    current: &str,
) -> Vec<Value> {
    all.into_iter()
        .map(|s| json!({"value": s, "label": c.t(&format!("admin_status_{s}")), "selected": s == current}))
        .collect()
}

/// The fields of `form` named in `names` as the JSON object the actions
/// read, with each of `clearable` that the form carries but left blank as
/// `null`: on an edit, an emptied optional field clears the value, where
/// leaving it out would keep the old one.
pub(super) fn form_body(form: &Form, names: &[&str], clearable: &[&str]) -> Value {
    let mut v = form.json(names);
    for k in clearable {
        if form.get(k).is_some() && form.value(k).is_none() {
            v[*k] = Value::Null;
        }
    }
    v
}

/// A form value as the text its field shows.
pub(super) fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub async fn list(c: Console, q: web::Query<PageQuery>) -> HttpResponse {
    let r = async {
        let paged = cases::list_page(&c.state.ctx, &c.actor(), q.request())
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let rows: Vec<Value> = paged
            .items
            .iter()
            .map(|k| json!({"id": k.id, "title": k.title, "slug": k.slug, "status": c.t(&format!("admin_status_{}", k.status)), "erasure": erasure_text(&c, k)}))
            .collect();
        let pager = nav(&c, "/admin/cases", &[], &paged);
        Ok(c.render(
            "cases",
            c.t("admin_cases_title"),
            json!({"cases": rows, "pager": pager}),
        ))
    }
    .await;
    c.finish(r)
}

fn case_page(
    c: &Console,
    status: StatusCode,
    id: Option<&str>,
    values: &Value,
    errors: &[FieldError],
) -> HttpResponse {
    case_page_with(c, status, id, values, errors, Value::Null)
}

fn case_page_with(
    c: &Console,
    status: StatusCode,
    id: Option<&str>,
    values: &Value,
    errors: &[FieldError],
    safety: Value,
) -> HttpResponse {
    let form: serde_json::Map<String, Value> = CASE_FIELDS
        .iter()
        .map(|k| (k.to_string(), json!(text(values, k))))
        .collect();
    let current = text(values, "status");
    let title = if id.is_some() {
        c.t("admin_case_edit")
    } else {
        c.t("admin_case_new")
    };
    c.render_status(
        status,
        "case",
        title,
        json!({
            "heading": title,
            "action": id.map(|i| format!("/admin/cases/{i}")).unwrap_or_else(|| "/admin/cases".into()),
            "form": form,
            "statuses": statuses(c, CaseStatus::ALL.iter().map(|s| s.as_str()), if current.is_empty() { "open" } else { &current }),
            "errors": errors_map(errors), "has_errors": !errors.is_empty(),
            "public_url": values.get("public_url").cloned().unwrap_or(Value::Null),
            "safety": safety,
        }),
    )
}

pub async fn new(c: Console) -> HttpResponse {
    let r = c
        .require(Role::Campaigner)
        .map(|_| case_page(&c, StatusCode::OK, None, &json!({}), &[]));
    c.finish(r)
}

pub async fn edit(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        let id = cases::id(&id).map_err(|e| c.campaign_fail(e))?;
        let k = cases::get(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let values = json!({
            "slug": k.slug, "title": k.title, "summary": k.summary, "subject_name": k.subject_name,
            "country": k.country, "body": k.body, "status": k.status,
            "retention_days": k.retention_days,
            "public_url": format!("{}/cases/{}", c.state.settings.base_url, k.slug),
        });
        let safety = cases::safety(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(case_page_with(
            &c,
            StatusCode::OK,
            Some(id.as_str()),
            &values,
            &[],
            safety_context(&c, &id, &k, &safety),
        ))
    }
    .await;
    c.finish(r)
}

async fn save(p: Posted, id: Option<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let mut body = form_body(&form, &CASE_FIELDS, &CLEARABLE);
        // A number, as the API takes it; what is not one is refused there.
        if let Some(d) = form.value("retention_days") {
            body["retention_days"] = d
                .trim()
                .parse::<i64>()
                .map(|n| json!(n))
                .unwrap_or(json!(d));
        }
        let map = body.as_object().cloned().unwrap_or_default();
        let actor = c.actor();
        let saved = async {
            match &id {
                Some(i) => {
                    let changes = CaseChanges::parse(map)?;
                    cases::update(&c.state.ctx, &actor, &cases::id(i)?, changes).await
                }
                None => cases::create(&c.state.ctx, &actor, NewCase::parse(map)?).await,
            }
        }
        .await;
        match saved {
            Ok(_) => Ok(see_other("/admin/cases")),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => Ok(case_page(
                    &c,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    id.as_deref(),
                    &body,
                    &errors,
                )),
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}

pub async fn create(p: Posted) -> HttpResponse {
    save(p, None).await
}

pub async fn update(p: Posted, id: web::Path<String>) -> HttpResponse {
    save(p, Some(id.into_inner())).await
}

/// The safety section of a case's page: the switch, what it does in plain
/// words, and when the signers' data goes.
fn safety_context(c: &Console, id: &CaseId, k: &cases::Case, s: &cases::Safety) -> Value {
    let l = c.page.locale;
    let min = cases::SAFETY_MIN_COUNT.to_string();
    let days = s
        .retention_days
        .unwrap_or(cases::SAFETY_RETENTION_DAYS)
        .to_string();
    json!({
        "action": format!("/admin/cases/{id}/safety"),
        "on": s.on,
        "state": if s.on { l.get("safety_state_on") } else { l.get("safety_state_off") },
        "explain": l.format("safety_explain", &[("min", &min), ("days", &days)]),
        "retention_days": days,
        "erasure": erasure_text(c, k),
        "hidden_under": (s.min_count > 0).then(|| l.format("safety_hidden_under", &[("min", &s.min_count.to_string())])),
    })
}

/// The safety-mode switch: `safety_mode=on` (with `retention_days`, 90 if
/// blank) turns it on, anything else off.
pub async fn safety(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = cases::id(&id).map_err(|e| c.campaign_fail(e))?;
        let on = form.value("safety_mode").as_deref() == Some("on");
        let days = match form.value("retention_days") {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| ()),
        };
        let result = match days {
            Ok(days) => cases::set_safety_mode(&c.state.ctx, &c.actor(), &id, on, days).await,
            Err(()) => Err(crate::campaign::CampaignError::invalid(
                "retention_days",
                format!(
                    "Must be a whole number from 0 to {}.",
                    cases::MAX_RETENTION_DAYS
                ),
            )),
        };
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/cases/{id}"))),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => {
                    let k = cases::get(&c.state.ctx, &c.actor(), &id)
                        .await
                        .map_err(|e| c.campaign_fail(e))?;
                    let s = cases::safety(&c.state.ctx, &c.actor(), &id)
                        .await
                        .map_err(|e| c.campaign_fail(e))?;
                    let values = json!({
                        "slug": k.slug, "title": k.title, "summary": k.summary, "subject_name": k.subject_name,
                        "country": k.country, "body": k.body, "status": k.status,
                        "retention_days": k.retention_days,
                    });
                    let mut safety = safety_context(&c, &id, &k, &s);
                    safety["error"] = json!(errors.first().map(|e| e.message.clone()));
                    Ok(case_page_with(
                        &c,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some(id.as_str()),
                        &values,
                        &errors,
                        safety,
                    ))
                }
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}
