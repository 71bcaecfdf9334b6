//! Cases in the console: list, create, edit, open, resolve and close (the
//! status field). Thin: every read and write is a `campaign::cases` action,
//! the same the API calls; errors appear beside their fields.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::paging::{nav, PageQuery};
use super::{errors_map, see_other, Console, Form, Outcome, Posted, Role};
use crate::campaign::cases::{self, CaseChanges, NewCase};
use crate::domain::CaseStatus;
use crate::error::FieldError;

/// The case's optional fields: emptied on an edit form, they are cleared.
const CLEARABLE: [&str; 3] = ["subject_name", "country", "body"];

const CASE_FIELDS: [&str; 7] = [
    "slug",
    "title",
    "summary",
    "subject_name",
    "country",
    "body",
    "status",
];

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
            .map(|k| json!({"id": k.id, "title": k.title, "slug": k.slug, "status": c.t(&format!("admin_status_{}", k.status))}))
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
            "public_url": format!("{}/cases/{}", c.state.settings.base_url, k.slug),
        });
        Ok(case_page(
            &c,
            StatusCode::OK,
            Some(id.as_str()),
            &values,
            &[],
        ))
    }
    .await;
    c.finish(r)
}

async fn save(p: Posted, id: Option<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = form_body(&form, &CASE_FIELDS, &CLEARABLE);
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
