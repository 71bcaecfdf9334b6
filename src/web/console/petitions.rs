//! Petitions in the console: list, create, edit, open and close (the status
//! field), and a petition's public link, embed snippet, exports and
//! by-country table. Thin: every read and write is a `campaign::petitions`
//! action, the same the API calls; errors appear beside their fields.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::cases::{statuses, text};
use super::paging::{nav, PageQuery};
use super::{errors_map, see_other, Console, Form, Outcome, Posted, Role};
use crate::campaign::petitions::{
    self, CountBy, CsvOptions, NewPetition, PetitionChanges, StatusFilter,
};
use crate::campaign::{cases, CampaignResult};
use crate::domain::PetitionStatus;
use crate::error::FieldError;
use crate::web::public::Fail;

const PETITION_FIELDS: [&str; 6] = ["case_id", "slug", "title", "target", "body", "status"];

pub async fn list(c: Console, q: web::Query<PageQuery>) -> HttpResponse {
    let r = async {
        let paged = petitions::list_page(&c.state.ctx, &c.actor(), q.request())
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let loc = c.page.locale;
        let rows: Vec<Value> = paged
            .items
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
            json!({"petitions": rows, "pager": nav(&c, "/admin/petitions", &[], &paged)}),
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
    let actor = c.actor();
    let ctx = &c.state.ctx;
    let loaded: CampaignResult<_> = async {
        let cases = cases::all(ctx, &actor).await?;
        let existing = match id {
            Some(i) => {
                let id = petitions::id(i)?;
                let p = petitions::get(ctx, &actor, &id).await?;
                let counts = petitions::counts(ctx, &actor, &id, CountBy::Country).await?;
                let reminders = crate::campaign::reminders::for_petition(ctx, &actor, &id).await?;
                Some((p, (counts, reminders)))
            }
            None => None,
        };
        Ok((cases, existing))
    }
    .await;
    let (cases, existing) = loaded.map_err(|e| c.campaign_fail(e))?;
    let mut form: serde_json::Map<String, Value> = PETITION_FIELDS
        .iter()
        .map(|k| (k.to_string(), json!(text(values, k))))
        .collect();
    form.insert("goal".into(), json!(text(values, "goal")));
    form.insert(
        "public_min_count".into(),
        json!(text(values, "public_min_count")),
    );
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
    let details = existing.map(|(p, (by_country, reminders))| {
        let base = &c.state.settings.base_url;
        let link = format!("{base}/petitions/{}", p.slug);
        let embed = format!(
            "<iframe src=\"{base}/petitions/{}/embed\" title=\"{}\" width=\"100%\" height=\"640\" style=\"border:0\" loading=\"lazy\"></iframe>",
            p.slug,
            handlebars::html_escape(&p.title)
        );
        let mut rows: Vec<(&String, &i64)> = by_country.by.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let countries: Vec<Value> = rows
            .iter()
            .map(|(k, n)| {
                let name = crate::domain::CountryCode::parse(k)
                    .map(|cc| loc.country_name(&cc).to_string())
                    .unwrap_or_else(|_| (*k).clone());
                json!({"code": k, "name": name, "count": loc.number(**n)})
            })
            .collect();
        json!({
            "id": p.id, "link": link, "embed": embed, "countries": countries,
            "confirmed": loc.number(p.confirmed_count), "pending": loc.number(p.pending_count),
            "reminders_sent": loc.number(reminders.counts.reminded),
            "confirmed_after_reminder": loc.number(reminders.counts.confirmed_after),
            // Whole per cent: a rate is read at a glance.
            "confirmation_rate": reminders
                .confirmation_rate
                .map(|r| loc.percent((r * 100.0).round() as i64)),
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
            "cases": cases.iter().map(|k| json!({"id": k.id, "title": k.title, "selected": k.id.as_str() == selected_case})).collect::<Vec<_>>(),
            "statuses": statuses(c, PetitionStatus::ALL.iter().map(|s| s.as_str()), if current.is_empty() { "open" } else { &current }),
            "errors": errors_map(errors), "has_errors": !errors.is_empty(),
            "details": details,
        }),
    ))
}

pub async fn new(c: Console) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        petition_page(&c, StatusCode::OK, None, &json!({}), &[]).await
    }
    .await;
    c.finish(r)
}

/// Organisers see this page too (for the link, the exports and the counts);
/// its form is only for campaigners.
pub async fn edit(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        let pid = petitions::id(&id).map_err(|e| c.campaign_fail(e))?;
        let p = petitions::get(&c.state.ctx, &c.actor(), &pid)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let values = json!({
            "case_id": p.case_id, "slug": p.slug, "title": p.title, "target": p.target,
            "body": p.body, "goal": p.goal, "status": p.status,
            "require_confirmation": p.require_confirmation,
            "public_min_count": p.public_min_count,
        });
        petition_page(&c, StatusCode::OK, Some(pid.as_str()), &values, &[]).await
    }
    .await;
    c.finish(r)
}

/// The petition fields of a form as the JSON object the actions read.
fn petition_body(form: &Form, create: bool) -> Value {
    let mut fields: Vec<&str> = PETITION_FIELDS.to_vec();
    if !create {
        fields.retain(|f| *f != "case_id");
    }
    // An emptied goal clears it (the petition then has none).
    let mut v = super::cases::form_body(form, &fields, &["goal"]);
    if let Some(g) = form.value("goal") {
        v["goal"] = g.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(g));
    }
    v["require_confirmation"] = json!(form.get("require_confirmation") == Some("true"));
    // Left empty it is not sent: a new petition then takes its case's
    // threshold (the highest of its siblings, so safety mode holds), an
    // edited one keeps its own. Text that is not a number goes on as text,
    // for the action to refuse beside the field.
    if let Some(n) = form.value("public_min_count") {
        v["public_min_count"] = n.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(n));
    }
    v
}

async fn save(p: Posted, id: Option<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = petition_body(&form, id.is_none());
        let map = body.as_object().cloned().unwrap_or_default();
        let actor = c.actor();
        let saved = async {
            match &id {
                Some(i) => {
                    let changes = PetitionChanges::parse(map)?;
                    petitions::update(&c.state.ctx, &actor, &petitions::id(i)?, changes).await
                }
                None => petitions::create(&c.state.ctx, &actor, NewPetition::parse(map)?).await,
            }
        }
        .await;
        match saved {
            Ok(p) => Ok(see_other(&format!("/admin/petitions/{}", p.id))),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(mut errors) => {
                    for e in errors.iter_mut().filter(|e| e.field == "public_min_count") {
                        e.message = c.t("admin_public_min_count_invalid").to_string();
                    }
                    let mut values = form.json(&PETITION_FIELDS);
                    values["goal"] = json!(form.get("goal").unwrap_or(""));
                    values["public_min_count"] = json!(form.get("public_min_count").unwrap_or(""));
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

pub async fn create(p: Posted) -> HttpResponse {
    save(p, None).await
}

pub async fn update(p: Posted, id: web::Path<String>) -> HttpResponse {
    save(p, Some(id.into_inner())).await
}

#[derive(serde::Deserialize)]
pub struct ExportQuery {
    status: Option<String>,
    by: Option<String>,
}

/// The signatures CSV (the API's export), as a download, audited.
pub async fn signatures_csv(
    c: Console,
    id: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> HttpResponse {
    let r = async {
        let options = CsvOptions {
            // A status the console does not offer falls back to its default.
            status: q
                .status
                .as_deref()
                .and_then(StatusFilter::parse)
                .unwrap_or(StatusFilter::Confirmed),
            bom: true,
            audit: true,
        };
        let export = async {
            let id = petitions::id(&id)?;
            petitions::signatures_csv(&c.state.ctx, &c.actor(), &id, options).await
        }
        .await
        .map_err(|e| c.campaign_fail(e))?;
        Ok(crate::web::csv_download(export))
    }
    .await;
    c.finish(r)
}

/// Confirmed counts by country or day as `key,count` CSV, audited.
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
        let (p, csv) = async {
            let id = petitions::id(&id)?;
            petitions::counts_csv(&c.state.ctx, &c.actor(), &id, by, true).await
        }
        .await
        .map_err(|e| c.campaign_fail(e))?;
        let name = match by {
            CountBy::Country => "country",
            CountBy::Day => "day",
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

#[derive(serde::Deserialize)]
pub struct DossierQuery {
    names: Option<String>,
}

/// The dossier for an authority (see `campaign::evidence::dossier`).
pub async fn dossier(
    c: Console,
    id: web::Path<String>,
    q: web::Query<DossierQuery>,
) -> HttpResponse {
    let r = async {
        let names = match q.names.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(Fail::NotFound),
        };
        let d = async {
            let id = petitions::id(&id)?;
            crate::campaign::evidence::dossier(&c.state.ctx, &c.actor(), &id, names).await
        }
        .await
        .map_err(|e| c.campaign_fail(e))?;
        Ok(crate::web::dossier_download(d))
    }
    .await;
    c.finish(r)
}
