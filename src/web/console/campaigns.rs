//! Cases and petitions in the console: list, create, edit, open and close
//! (the status field), a petition's public link, embed snippet, exports and
//! by-country table. Writes go through the API's `create_*`/`update_*`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::{errors_map, see_other, Console, Form, Outcome, Posted, Role};
use crate::db::{self, DbError};
use crate::error::FieldError;
use crate::export::{CountBy, StatusFilter};
use crate::web::api::{cases as cases_api, petitions as petitions_api};
use crate::web::public::Fail;

const CASE_FIELDS: [&str; 7] = [
    "slug",
    "title",
    "summary",
    "subject_name",
    "country",
    "body",
    "status",
];
const CASE_STATUSES: [&str; 3] = ["open", "resolved", "closed"];
const PETITION_FIELDS: [&str; 6] = ["case_id", "slug", "title", "target", "body", "status"];
const PETITION_STATUSES: [&str; 3] = ["draft", "open", "closed"];

fn statuses(c: &Console, all: &[&str], current: &str) -> Vec<Value> {
    all.iter()
        .map(|s| json!({"value": s, "label": c.t(&format!("admin_status_{s}")), "selected": *s == current}))
        .collect()
}

fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

// ---- cases ----

pub async fn cases(c: Console) -> HttpResponse {
    let r = async {
        let rows = c.state.db.run(|conn| db::cases::page(conn, None, 1000)).await?;
        let rows: Vec<Value> = rows
            .iter()
            .map(|k| json!({"id": k.id, "title": k.title, "slug": k.slug, "status": c.t(&format!("admin_status_{}", k.status))}))
            .collect();
        Ok(c.render("cases", c.t("admin_cases_title"), json!({"cases": rows})))
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
            "statuses": statuses(c, &CASE_STATUSES, if current.is_empty() { "open" } else { &current }),
            "errors": errors_map(errors), "has_errors": !errors.is_empty(),
            "public_url": values.get("public_url").cloned().unwrap_or(Value::Null),
        }),
    )
}

pub async fn new_case(c: Console) -> HttpResponse {
    let r = c
        .require(Role::Campaigner)
        .map(|_| case_page(&c, StatusCode::OK, None, &json!({}), &[]));
    c.finish(r)
}

pub async fn edit_case(c: Console, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let r = async {
        c.require(Role::Campaigner)?;
        let i = id.clone();
        let k = c
            .state
            .db
            .run(move |conn| db::cases::get(conn, &i))
            .await?
            .ok_or(Fail::NotFound)?;
        let values = json!({
            "slug": k.slug, "title": k.title, "summary": k.summary, "subject_name": k.subject_name,
            "country": k.country, "body": k.body, "status": k.status,
            "public_url": format!("{}/cases/{}", c.state.settings.base_url, k.slug),
        });
        Ok(case_page(&c, StatusCode::OK, Some(&id), &values, &[]))
    }
    .await;
    c.finish(r)
}

async fn save_case(p: Posted, id: Option<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = form.json(&CASE_FIELDS);
        let saved = match &id {
            Some(i) => {
                cases_api::update_case(&c.state, c.audit_name(), i.clone(), body.clone()).await
            }
            None => cases_api::create_case(&c.state, c.audit_name(), body.clone()).await,
        };
        match saved {
            Ok(_) => Ok(see_other("/admin/cases")),
            Err(e) => match Outcome::from(e) {
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

pub async fn create_case(p: Posted) -> HttpResponse {
    save_case(p, None).await
}

pub async fn update_case(p: Posted, id: web::Path<String>) -> HttpResponse {
    save_case(p, Some(id.into_inner())).await
}

// ---- petitions ----

pub async fn petitions(c: Console) -> HttpResponse {
    let r = async {
        let rows = c
            .state
            .db
            .run(|conn| db::petitions::page(conn, None, 1000))
            .await?;
        let loc = c.page.locale;
        let rows: Vec<Value> = rows
            .iter()
            .map(|p| json!({
                "id": p.id, "title": p.title, "slug": p.slug,
                "status": c.t(&format!("admin_status_{}", p.status)),
                "confirmed": loc.number(p.confirmed_count), "pending": loc.number(p.pending_count),
            }))
            .collect();
        Ok(c.render(
            "petitions",
            c.t("admin_petitions_title"),
            json!({"petitions": rows}),
        ))
    }
    .await;
    c.finish(r)
}

/// The petition's form, and for an existing one its link, embed snippet,
/// exports and counts by country.
async fn petition_page(
    c: &Console,
    status: StatusCode,
    id: Option<&str>,
    values: &Value,
    errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    let id_owned = id.map(str::to_string);
    let (cases, existing, by_country) = c
        .state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let cases = db::cases::page(conn, None, 1000)?;
            let (p, counts) = match &id_owned {
                Some(i) => {
                    let p = db::petitions::get(conn, i)?;
                    let counts = match &p {
                        Some(p) => Some(crate::export::counts(conn, &p.id, CountBy::Country)?),
                        None => None,
                    };
                    (p, counts)
                }
                None => (None, None),
            };
            Ok((cases, p, counts))
        })
        .await?;
    if id.is_some() && existing.is_none() {
        return Err(Fail::NotFound);
    }
    let mut form: serde_json::Map<String, Value> = PETITION_FIELDS
        .iter()
        .map(|k| (k.to_string(), json!(text(values, k))))
        .collect();
    form.insert("goal".into(), json!(text(values, "goal")));
    let require = values
        .get("require_confirmation")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    form.insert("require_confirmation".into(), json!(require));
    let current = text(values, "status");
    let selected_case = text(values, "case_id");
    let title = if id.is_some() {
        c.t("admin_petition_edit")
    } else {
        c.t("admin_petition_new")
    };
    let loc = c.page.locale;
    let details = existing.map(|p| {
        let base = &c.state.settings.base_url;
        let link = format!("{base}/petitions/{}", p.slug);
        let embed = format!(
            "<iframe src=\"{base}/petitions/{}/embed\" title=\"{}\" width=\"100%\" height=\"640\" style=\"border:0\" loading=\"lazy\"></iframe>",
            p.slug,
            handlebars::html_escape(&p.title)
        );
        let countries: Vec<Value> = by_country
            .as_ref()
            .map(|v| {
                let mut rows: Vec<(&String, &i64)> = v.by.iter().collect();
                rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                rows.iter()
                    .map(|(k, n)| {
                        let name = crate::domain::CountryCode::parse(k)
                            .map(|cc| loc.country_name(&cc).to_string())
                            .unwrap_or_else(|_| k.to_string());
                        json!({"code": k, "name": name, "count": loc.number(**n)})
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "id": p.id, "link": link, "embed": embed, "countries": countries,
            "confirmed": loc.number(p.confirmed_count), "pending": loc.number(p.pending_count),
        })
    });
    Ok(c.render_status(
        status,
        "petition",
        title,
        json!({
            "heading": title,
            "is_new": id.is_none(),
            "action": id.map(|i| format!("/admin/petitions/{i}")).unwrap_or_else(|| "/admin/petitions".into()),
            "form": form,
            "cases": cases.iter().map(|k| json!({"id": k.id, "title": k.title, "selected": k.id == selected_case})).collect::<Vec<_>>(),
            "statuses": statuses(c, &PETITION_STATUSES, if current.is_empty() { "open" } else { &current }),
            "errors": errors_map(errors), "has_errors": !errors.is_empty(),
            "details": details,
        }),
    ))
}

pub async fn new_petition(c: Console) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        petition_page(&c, StatusCode::OK, None, &json!({}), &[]).await
    }
    .await;
    c.finish(r)
}

/// Organisers see this page too (for the link, the exports and the counts);
/// its form is only for campaigners.
pub async fn edit_petition(c: Console, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let r = async {
        let i = id.clone();
        let p = c
            .state
            .db
            .run(move |conn| db::petitions::get(conn, &i))
            .await?
            .ok_or(Fail::NotFound)?;
        let values = json!({
            "case_id": p.case_id, "slug": p.slug, "title": p.title, "target": p.target,
            "body": p.body, "goal": p.goal, "status": p.status,
            "require_confirmation": p.require_confirmation,
        });
        petition_page(&c, StatusCode::OK, Some(&id), &values, &[]).await
    }
    .await;
    c.finish(r)
}

/// The petition fields of a form as the API's JSON body.
fn petition_body(form: &Form, create: bool) -> Value {
    let mut fields: Vec<&str> = PETITION_FIELDS.to_vec();
    if !create {
        fields.retain(|f| *f != "case_id");
    }
    let mut v = form.json(&fields);
    if let Some(g) = form.value("goal") {
        v["goal"] = g.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(g));
    }
    v["require_confirmation"] = json!(form.get("require_confirmation") == Some("true"));
    v
}

async fn save_petition(p: Posted, id: Option<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = petition_body(&form, id.is_none());
        let saved = match &id {
            Some(i) => {
                petitions_api::update_petition(&c.state, c.audit_name(), i.clone(), body.clone())
                    .await
            }
            None => petitions_api::create_petition(&c.state, c.audit_name(), body.clone()).await,
        };
        match saved {
            Ok(p) => Ok(see_other(&format!("/admin/petitions/{}", p.id))),
            Err(e) => match Outcome::from(e) {
                Outcome::Fields(errors) => {
                    let mut values = form.json(&PETITION_FIELDS);
                    values["goal"] = json!(form.get("goal").unwrap_or(""));
                    values["require_confirmation"] = body["require_confirmation"].clone();
                    petition_page(
                        &c,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        id.as_deref(),
                        &values,
                        &errors,
                    )
                    .await
                }
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}

pub async fn create_petition(p: Posted) -> HttpResponse {
    save_petition(p, None).await
}

pub async fn update_petition(p: Posted, id: web::Path<String>) -> HttpResponse {
    save_petition(p, Some(id.into_inner())).await
}

#[derive(serde::Deserialize)]
pub struct ExportQuery {
    status: Option<String>,
    by: Option<String>,
}

async fn load(c: &Console, id: String) -> Result<db::petitions::Petition, Fail> {
    c.state
        .db
        .run(move |conn| db::petitions::get(conn, &id))
        .await?
        .ok_or(Fail::NotFound)
}

/// The signatures CSV (the API's export), as a download.
pub async fn signatures_csv(
    c: Console,
    id: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> HttpResponse {
    let r = async {
        let filter = q
            .status
            .as_deref()
            .and_then(StatusFilter::parse)
            .unwrap_or(StatusFilter::Confirmed);
        let p = load(&c, id.into_inner()).await?;
        let (actor, pid) = (c.audit_name(), p.id.clone());
        c.state
            .db
            .run(move |conn| {
                db::audit::record(
                    conn,
                    &actor,
                    "signatures.export",
                    "petition",
                    Some(&pid),
                    None,
                )
            })
            .await?;
        Ok(crate::web::api::signatures::csv_response(
            &c.state, &p, filter, true,
        ))
    }
    .await;
    c.finish(r)
}

/// Confirmed counts by country or day as `key,count` CSV.
pub async fn counts_csv(
    c: Console,
    id: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> HttpResponse {
    let r = async {
        let by =
            q.by.as_deref()
                .and_then(CountBy::parse)
                .ok_or(Fail::NotFound)?;
        let p = load(&c, id.into_inner()).await?;
        let (pid, actor) = (p.id.clone(), c.audit_name());
        let view = c
            .state
            .db
            .run(move |conn| -> Result<_, DbError> {
                db::audit::record(conn, &actor, "counts.export", "petition", Some(&pid), None)?;
                crate::export::counts(conn, &pid, by)
            })
            .await?;
        let rows: Vec<(String, i64)> = view.by.into_iter().collect();
        let csv = crate::export::counts_csv(&rows).map_err(|e| Fail::Internal(e.into()))?;
        let name = if by == CountBy::Country {
            "country"
        } else {
            "day"
        };
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-counts-by-{name}.csv\"", p.slug),
            ))
            .insert_header((CACHE_CONTROL, "no-store, private"))
            .body(csv))
    }
    .await;
    c.finish(r)
}
