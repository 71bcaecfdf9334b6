//! Alerts in the console: compose a draft (with its translations, one row
//! per language and an empty one to add a language), preview its HTML and
//! text parts for a sample supporter (per saved language, and per language
//! row before it is saved), test-send it to yourself in one of its
//! languages, send it behind a
//! confirmation that shows the exact audience (and warns when a big send
//! goes out without DKIM), watch its progress by receiving domain, resume
//! a domain paused after policy refusals, cancel.
//!
//! Thin: every page calls the same actions as the API
//! ([`crate::campaign::alerts`]), so the rules (validation, one send only,
//! audience snapshot) are the same; this module only reads forms and renders.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::paging::{nav, PageQuery};
use super::{errors_map, see_other, Console, Outcome, Posted, Role};
use crate::campaign::alerts::{self, DraftForm, PreviewOf, Warning};
use crate::domain::{AlertId, AlertStatus, Email};
use crate::error::FieldError;
use crate::i18n::Locale;
use crate::web::public::Fail;

const FIELDS: [&str; 4] = ["case_id", "petition_id", "subject", "body_markdown"];

/// Words of a text field given as a list: `KG, KZ` or `ru en`.
fn words(form: &super::Form, name: &str) -> Value {
    json!(form
        .get(name)
        .unwrap_or("")
        .split([',', ' ', ';'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>())
}

/// A `datetime-local` value (`2026-12-01T09:00`, read as UTC, as the form
/// says) as RFC 3339; anything else as typed, for the action to judge.
fn utc_time(raw: &str) -> String {
    let raw = raw.trim();
    match raw.len() {
        16 if raw.as_bytes()[10] == b'T' => format!("{raw}:00Z"),
        19 if raw.as_bytes()[10] == b'T' => format!("{raw}Z"),
        _ => raw.to_string(),
    }
}

/// The alert fields of a console form as the API's JSON body.
fn body_of(form: &super::Form) -> Value {
    let mut v = form.json(&FIELDS);
    v["list_ids"] = json!(form.all("list_ids"));
    // "Leave out people who already signed" names the alert's petition.
    let petition = form.get("petition_id").map(str::trim).unwrap_or("");
    v["exclude_signers_of"] = if form.get("exclude_signers") == Some("yes") && !petition.is_empty()
    {
        json!([petition])
    } else {
        json!([])
    };
    v["exclude_signers"] = json!(form.get("exclude_signers") == Some("yes"));
    v["countries"] = words(form, "countries");
    v["locales"] = words(form, "locales");
    if let Some(t) = form.get("send_by").filter(|t| !t.trim().is_empty()) {
        v["send_by"] = json!(utc_time(t));
    }
    v["locale"] = json!(form.get("locale").map(str::trim).unwrap_or(""));
    v["variants"] = json!(variants_of(form));
    // Markdown keeps its spacing; only the surrounding blank lines go.
    if let Some(b) = form.get("body_markdown") {
        if !b.trim().is_empty() {
            v["body_markdown"] = json!(b.trim_matches(['\r', '\n']));
        }
    }
    v
}

/// Most variant rows a form carries: one per language and a blank one.
const VARIANT_ROWS: usize = 8;

/// The variant editor's rows (`variant_locale_I`, `variant_subject_I`,
/// `variant_body_I`, `variant_remove_I`) as the API's `variants`: a row
/// ticked for removal, and a blank one (the "add a language" row left
/// empty), are left out; a row with text but no language is kept, so the
/// action names what is missing.
fn variants_of(form: &super::Form) -> Vec<Value> {
    (0..VARIANT_ROWS)
        .filter(|i| form.get(&format!("variant_remove_{i}")) != Some("yes"))
        .filter_map(|i| {
            let get = |k: &str| form.get(&format!("variant_{k}_{i}")).unwrap_or("");
            let (locale, subject, body) = (get("locale").trim(), get("subject"), get("body"));
            if locale.is_empty() && subject.trim().is_empty() && body.trim().is_empty() {
                return None;
            }
            let opt =
                |t: &str| (!t.trim().is_empty()).then(|| t.trim_matches(['\r', '\n']).to_string());
            Some(
                json!({"locale": opt(locale), "subject": opt(subject), "body_markdown": opt(body)}),
            )
        })
        .collect()
}

/// The draft the form's fields (as [`body_of`] gave them) describe. A form
/// field is text or absent, never of another type.
fn draft_of(v: &Value) -> DraftForm {
    let text = |k: &str| Ok(v.get(k).and_then(Value::as_str).map(str::to_string));
    let strings = |k: &str| {
        Ok(v.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        }))
    };
    let variants = v.get("variants").and_then(Value::as_array).map(|rows| {
        rows.iter()
            .map(|r| {
                let field = |k: &str| Ok(r.get(k).and_then(Value::as_str).map(str::to_string));
                alerts::VariantForm {
                    locale: field("locale"),
                    subject: field("subject"),
                    body_markdown: field("body_markdown"),
                }
            })
            .collect()
    });
    DraftForm {
        exclude_signers_of: strings("exclude_signers_of"),
        countries: strings("countries"),
        locales: strings("locales"),
        send_by: text("send_by"),
        locale: text("locale"),
        variants: Ok(variants),
        ..DraftForm::new(
            text("case_id"),
            text("petition_id"),
            strings("list_ids"),
            text("subject"),
            text("body_markdown"),
        )
    }
}

/// A path's alert id: one that is not an id names no alert.
fn alert_id(raw: &str) -> Result<AlertId, Fail> {
    AlertId::parse(raw).map_err(|_| Fail::NotFound)
}

/// The choices of the compose form, with `values` selected.
async fn options(c: &Console, values: &Value) -> Result<Value, Fail> {
    let choices = alerts::choices(&c.state.ctx, &c.actor())
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let sel = |k: &str| {
        values
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let chosen: Vec<String> = values
        .get("list_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let loc = c.page.locale;
    Ok(json!({
        "cases": choices.cases.iter().map(|k| json!({"id": k.id, "title": k.title, "selected": k.id == sel("case_id")})).collect::<Vec<_>>(),
        "petitions": choices.petitions.iter().map(|p| json!({"id": p.id, "title": p.title, "selected": p.id == sel("petition_id")})).collect::<Vec<_>>(),
        "lists": choices.lists.iter().map(|l| json!({
            "id": l.id, "name": l.name,
            "active": loc.number(l.active),
            "checked": chosen.contains(&l.id),
        })).collect::<Vec<_>>(),
    }))
}

/// A list field (`countries`, `locales`) as the text input shows it.
fn joined(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The languages a `<select>` offers, `chosen` selected.
fn language_options(chosen: &str) -> Vec<Value> {
    Locale::all()
        .map(|l| json!({"code": l.code(), "name": l.name(), "selected": l.code() == chosen}))
        .collect()
}

/// The variant editor's rows: each variant of `v` (with its errors), then a
/// blank row to add a language.
fn variant_rows(c: &Console, v: &Value, errors: &[FieldError]) -> Vec<Value> {
    let given: Vec<Value> = v
        .get("variants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rows: Vec<Value> = given
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let error = |k: &str| {
                let field = format!("variants[{i}].{k}");
                errors
                    .iter()
                    .find(|e| e.field == field)
                    .map(|e| e.message.clone())
            };
            let locale = s("locale");
            let name = Locale::from_tag(&locale).map(|l| l.name()).unwrap_or("");
            json!({
                "index": i, "is_new": false, "locale": locale, "name": name,
                "preview_label": c.page.locale.format("admin_preview_in", &[("language", name)]),
                "subject": s("subject"), "body_markdown": s("body_markdown"),
                "languages": language_options(&locale),
                "errors": {"locale": error("locale"), "subject": error("subject"),
                    "body_markdown": error("body_markdown")},
            })
        })
        .collect();
    if rows.len() < VARIANT_ROWS {
        rows.push(json!({
            "index": rows.len(), "is_new": true, "locale": "", "name": "",
            "subject": "", "body_markdown": "", "languages": language_options(""),
            "errors": {},
        }));
    }
    rows
}

fn form_values(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // A `datetime-local` input shows minutes, without a zone (UTC, as its
    // label says).
    let send_by = s("send_by").get(..16).unwrap_or("").to_string();
    json!({
        "subject": s("subject"), "body_markdown": s("body_markdown"),
        "countries": joined(v, "countries"), "locales": joined(v, "locales"),
        "send_by": send_by,
        "locale": s("locale"),
        // "Leave out people who already signed" is ticked unless the
        // campaigner unticked it.
        "exclude_signers": v.get("exclude_signers").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// The live audience count of the compose form (or draft `id`'s form):
/// `{count, text}`, or `{errors}` while a field is wrong.
pub async fn audience_count(p: Posted, id: Option<web::Path<String>>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = match id {
            Some(raw) => Some(alert_id(&raw)?),
            None => None,
        };
        let body = body_of(&form);
        let answer = match alerts::count_draft(&c.state.ctx, &c.actor(), id.as_ref(), draft_of(&body))
            .await
        {
            Ok(n) => json!({
                "count": n,
                "text": c.page.locale.format("admin_audience_live", &[("count", &c.page.locale.number(n))]),
            }),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => json!({"errors": errors_map(&errors)}),
                Outcome::Fail(f) => return Err(f),
            },
        };
        Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(answer))
    }
    .await;
    c.finish(r)
}

pub async fn audience_count_new(p: Posted) -> HttpResponse {
    audience_count(p, None).await
}

pub async fn audience_count_of(p: Posted, id: web::Path<String>) -> HttpResponse {
    audience_count(p, Some(id)).await
}

/// Schedules the draft for the form's `send_at` (and `send_by`), read as UTC.
pub async fn schedule(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        let time = |k: &str| Ok(form.get(k).filter(|t| !t.trim().is_empty()).map(utc_time));
        let f = alerts::ScheduleForm {
            send_at: time("send_at"),
            send_by: time("send_by"),
        };
        match alerts::schedule(&c.state.ctx, &c.actor(), &id, f).await {
            Ok(_) => Ok(see_other(&format!("/admin/alerts/{id}"))),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => {
                    alert_page(
                        &c,
                        &id,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        None,
                        None,
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

/// Approves a send that waits for a second pair of eyes.
pub async fn approve(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        alerts::approve(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

async fn compose_page(
    c: &Console,
    status: StatusCode,
    values: Value,
    errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    let opts = options(c, &values).await?;
    Ok(c.render_status(
        status,
        "alert_new",
        c.t("admin_alert_compose"),
        json!({
            "options": opts, "form": form_values(&values), "errors": errors_map(errors),
            "has_errors": !errors.is_empty(), "action": "/admin/alerts", "preview_action": false,
            "audience_url": "/admin/alerts/audience.json",
            "languages": own_language_options(c, &values),
            "variants": variant_rows(c, &values, errors),
        }),
    ))
}

pub async fn list(c: Console, q: web::Query<PageQuery>) -> HttpResponse {
    let r = async {
        let paged = alerts::recent_page(&c.state.ctx, &c.actor(), q.request())
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let rows: Vec<Value> = paged
            .items
            .iter()
            .map(|(a, n)| super::dashboard::alert_row(&c, a, n))
            .collect();
        Ok(c.render(
            "alerts",
            c.t("admin_alerts_title"),
            json!({"alerts": rows, "pager": nav(&c, "/admin/alerts", &[], &paged)}),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn compose(c: Console) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        compose_page(&c, StatusCode::OK, json!({}), &[]).await
    }
    .await;
    c.finish(r)
}

pub async fn create(p: Posted) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let body = body_of(&form);
        match alerts::create(&c.state.ctx, &c.actor(), draft_of(&body)).await {
            Ok(d) => Ok(see_other(&format!("/admin/alerts/{}", d.alert.id))),
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => {
                    compose_page(&c, StatusCode::UNPROCESSABLE_ENTITY, body, &errors).await
                }
                Outcome::Fail(f) => Err(f),
            },
        }
    }
    .await;
    c.finish(r)
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn alert_page(
    c: &Console,
    id: &AlertId,
    status: StatusCode,
    edited: Option<(Value, Vec<FieldError>)>,
    done: Option<&str>,
    schedule_errors: &[FieldError],
) -> Result<HttpResponse, Fail> {
    let actor = c.actor();
    let detail = alerts::get(&c.state.ctx, &actor, id)
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let preview = alerts::preview(&c.state.ctx, &actor, id, PreviewOf::default())
        .await
        .map_err(|e| c.campaign_fail(e))?;
    let view = &detail.alert;
    let n = &detail.counts;
    let status_word = view.status.as_str();
    let is_draft = view.status == AlertStatus::Draft;
    let values = match &edited {
        Some((v, _)) => v.clone(),
        None => json!({
            "case_id": view.case_id, "petition_id": view.petition_id,
            "list_ids": detail.list_ids, "subject": view.subject, "body_markdown": view.body_markdown,
            "countries": detail.audience.countries, "locales": detail.audience.locales,
            "send_by": view.send_by.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()),
            "locale": detail.locale,
            "variants": detail.variants.iter().map(|v| json!({"locale": v.locale,
                "subject": v.subject, "body_markdown": v.body_markdown})).collect::<Vec<_>>(),
            "exclude_signers": view.petition_id.as_ref()
                .is_some_and(|p| detail.audience.exclude_signers_of.contains(p)),
        }),
    };
    let errors = edited.map(|e| e.1).unwrap_or_default();
    let opts = options(c, &values).await?;
    let notice = match done {
        Some("test") => Some(
            c.page
                .locale
                .format("admin_test_sent", &[("email", &c.user.email)]),
        ),
        Some("saved") => Some(c.t("admin_saved").to_string()),
        _ => None,
    };
    let done_count = n.sent + n.failed + n.cancelled + n.expired;
    let loc = c.page.locale;
    let can_resume = c.can(Role::Campaigner);
    let warnings: Vec<Value> = detail
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::DomainPaused {
                domain,
                reply,
                since,
            } => Some(json!({
                "text": loc.format("admin_domain_paused", &[
                    ("domain", domain), ("reply", reply), ("since", &super::when(*since)),
                ]),
                "button": loc.format("admin_domain_resume", &[("domain", domain)]),
                "action": format!("/admin/alerts/{}/domains/{}/resume", view.id, urlencoding(domain)),
                "can_resume": can_resume,
            })),
            // Shown beside the pace it follows from (see `late_text`).
            Warning::LateEta { .. } | Warning::NoDkim { .. } | Warning::Complaints { .. } => None,
        })
        .collect();
    let domains: Vec<Value> = if is_draft {
        vec![]
    } else {
        alerts::domains(&c.state.ctx, &actor, id)
            .await
            .map_err(|e| c.campaign_fail(e))?
            .into_iter()
            .map(|d| {
                json!({
                    "domain": d.domain.unwrap_or_else(|| c.t("admin_domain_other").to_string()),
                    "sent": loc.number(d.sent), "deferred": loc.number(d.deferred),
                    "failed": loc.number(d.failed), "paused": loc.number(d.paused),
                })
            })
            .collect()
    };
    let mut r = c.render_status(
        status,
        "alert",
        &view.subject,
        json!({
            "alert": {
                "id": view.id, "subject": view.subject,
                "status": c.t(&format!("admin_alert_status_{status_word}")),
                "is_draft": is_draft, "is_sending": view.status == AlertStatus::Sending,
                "send_at": view.send_at.map(super::when), "send_by": view.send_by.map(super::when),
                "approved_by": view.approved_by,
                "awaiting_approval": view.status == AlertStatus::AwaitingApproval,
                "expired": n.expired,
                "rate": loc.format("admin_alert_rate", &[("rate", &loc.decimal(detail.rate_per_s, 1))]),
                "eta": detail.eta.map(super::when),
                "late": late_text(c, detail.eta, view.send_by),
                "recipients": view.recipients, "queued": n.queued, "sent": n.sent,
                "failed": n.failed, "done": done_count, "max": view.recipients.max(done_count).max(1),
                // Late reports (contract §8): bounces, complaints, a pause.
                "bounced": detail.reports.bounced, "complaints": detail.reports.complaints,
                "paused_because": detail.reports.warnings.iter()
                    .filter_map(|w| match w {
                        Warning::Complaints { reason, .. } => {
                            Some(loc.format("admin_alert_paused", &[("reason", reason)]))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            },
            "can_resume": view.status == AlertStatus::Paused && c.can(Role::Campaigner),
            "editable": is_draft && c.can(Role::Campaigner),
            "action": format!("/admin/alerts/{}", view.id),
            "preview_action": format!("/admin/alerts/{}/preview", view.id),
            "can_send": is_draft && c.can(Role::Campaigner),
            "can_cancel": matches!(view.status, AlertStatus::Sending | AlertStatus::Paused
                | AlertStatus::Scheduled | AlertStatus::AwaitingApproval)
                && c.can(Role::Campaigner),
            "can_approve": alerts::may_approve(&actor, view),
            "schedule_errors": errors_map(schedule_errors),
            "four_eyes": c.state.ctx.settings.require_approval,
            "audience_url": format!("/admin/alerts/{}/audience.json", view.id),
            "options": opts,
            "form": form_values(&values),
            "languages": own_language_options(c, &values),
            "variants": variant_rows(c, &values, &errors),
            // Saved variants, each with a link to its preview.
            "saved_variants": detail.variants.iter().map(|v| {
                let name = Locale::from_tag(&v.locale).map(|l| l.name()).unwrap_or("");
                json!({"locale": v.locale,
                    "label": loc.format("admin_preview_in", &[("language", name)])})
            }).collect::<Vec<_>>(),
            "errors": errors_map(&errors),
            "has_errors": !errors.is_empty(),
            "warnings": warnings,
            "domains": domains,
            "preview": {"subject": preview.subject, "text": preview.text},
            "test_hint": loc.format("admin_test_send_hint", &[("email", &c.user.email)]),
            "test_languages": test_languages(c, detail.locale.as_deref(), &detail.variants),
            "notice": notice,
            "refresh": if view.status == AlertStatus::Sending { json!(5) } else { Value::Null },
        }),
    );
    // The page frames its own HTML preview, and nothing else.
    super::extend_csp(&mut r, "frame-src 'self'");
    Ok(r)
}

pub async fn show(c: Console, id: web::Path<String>, q: web::Query<Done>) -> HttpResponse {
    let r = async {
        let id = alert_id(&id)?;
        alert_page(&c, &id, StatusCode::OK, None, q.done.as_deref(), &[]).await
    }
    .await;
    c.finish(r)
}

pub async fn update(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        let body = body_of(&form);
        match alerts::update_draft(&c.state.ctx, &c.actor(), &id, draft_of(&body)).await {
            Ok(_) => Ok(see_other(&format!("/admin/alerts/{id}?done=saved"))),
            // An alert that has started sending says so above the page.
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => {
                    alert_page(
                        &c,
                        &id,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some((body, errors)),
                        None,
                        &[],
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

/// The HTML part in its own document: the email's inline styles allowed,
/// no script, framed only by the console.
fn email_document(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
             frame-ancestors 'self'; sandbox",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// `?locale=`: the copy a supporter of that language gets.
#[derive(serde::Deserialize)]
pub struct PreviewQuery {
    locale: Option<String>,
}

/// The warning of a send whose last message is expected (`eta`) after its
/// deadline, in the console's language.
fn late_text(
    c: &Console,
    eta: Option<chrono::NaiveDateTime>,
    send_by: Option<chrono::NaiveDateTime>,
) -> Option<String> {
    match alerts::eta_warning(eta, send_by)? {
        Warning::LateEta { eta, send_by } => Some(c.page.locale.format(
            "admin_alert_eta_late",
            &[
                ("eta", &super::when(eta)),
                ("send_by", &super::when(send_by)),
            ],
        )),
        _ => None,
    }
}

/// The languages a test copy may be written in: the alert's own text
/// (empty) and each saved variant; the variant in the console's language is
/// chosen when there is one, as that is the one its reader checks best.
fn test_languages(c: &Console, own: Option<&str>, variants: &[alerts::Variant]) -> Vec<Value> {
    let mine = c.page.locale.code();
    let own_name = own
        .and_then(Locale::from_tag)
        .or_else(|| Locale::from_tag(&c.state.ctx.settings.default_locale))
        .unwrap_or(Locale::EN)
        .name();
    let theirs = variants.iter().any(|v| v.locale == mine);
    let mut out = vec![json!({"code": "", "selected": !theirs,
        "name": c.page.locale.format("admin_test_own_text", &[("language", own_name)])})];
    out.extend(variants.iter().map(|v| {
        let name = Locale::from_tag(&v.locale).map(|l| l.name()).unwrap_or("");
        json!({"code": v.locale, "name": name, "selected": v.locale == mine})
    }));
    out
}

/// The select of the alert's own language: the default first (empty).
fn own_language_options(c: &Console, v: &Value) -> Vec<Value> {
    let chosen = v.get("locale").and_then(Value::as_str).unwrap_or("");
    let default = Locale::from_tag(&c.state.ctx.settings.default_locale).unwrap_or(Locale::EN);
    let mut out = vec![json!({"code": "", "selected": chosen.is_empty(),
        "name": c.page.locale.format("admin_locale_default", &[("language", default.name())])})];
    out.extend(language_options(chosen));
    out
}

/// GET: the saved alert's HTML part (`?locale=`: of that language's copy). POST: the form's unsaved subject and
/// body, as that HTML part, or with `format=json` as `{subject, html, text}`
/// (for the live preview).
pub async fn preview_saved(
    c: Console,
    id: web::Path<String>,
    q: web::Query<PreviewQuery>,
) -> HttpResponse {
    let r = async {
        let id = alert_id(&id)?;
        let of = PreviewOf {
            locale: q.into_inner().locale,
            ..PreviewOf::default()
        };
        let p = alerts::preview(&c.state.ctx, &c.actor(), &id, of)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(email_document(p.html))
    }
    .await;
    c.finish(r)
}

/// The form's text to preview: the language row named by `preview_variant`
/// (its "Preview this language" button), saved or not, else the alert's own.
/// `None`: that row names no language yet.
fn preview_of(form: &super::Form) -> Option<PreviewOf> {
    let row = form
        .get("preview_variant")
        .and_then(|i| i.trim().parse::<usize>().ok())
        .filter(|i| *i < VARIANT_ROWS);
    let (subject, body, locale) = match row {
        Some(i) => (
            format!("variant_subject_{i}"),
            format!("variant_body_{i}"),
            Some(form.value(&format!("variant_locale_{i}"))?),
        ),
        None => ("subject".into(), "body_markdown".into(), None),
    };
    Some(PreviewOf {
        supporter_id: None,
        subject: form.value(&subject),
        body_markdown: form.get(&body).map(str::to_string),
        locale,
    })
}

/// Why there is no preview, in the preview frame the button aimed at.
fn no_preview(c: &Console, messages: &[&str]) -> HttpResponse {
    let items: String = messages
        .iter()
        .map(|m| format!("<p>{}</p>", handlebars::html_escape(m)))
        .collect();
    let loc = c.page.locale;
    let mut r = email_document(format!(
        "<!DOCTYPE html><html lang=\"{}\" dir=\"{}\"><body>{items}</body></html>",
        loc.code(),
        loc.get("locale_dir"),
    ));
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

pub async fn preview(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        let id = alert_id(&id)?;
        let Some(of) = preview_of(&form) else {
            return Ok(no_preview(&c, &[c.t("admin_variant_choose_language")]));
        };
        let p = match alerts::preview(&c.state.ctx, &c.actor(), &id, of).await {
            Ok(p) => p,
            Err(e) => match c.outcome(e) {
                Outcome::Fields(errors) => {
                    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
                    return Ok(no_preview(&c, &messages));
                }
                Outcome::Fail(f) => return Err(f),
            },
        };
        if form.get("format") == Some("json") {
            return Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"subject": p.subject, "html": p.html, "text": p.text})));
        }
        Ok(email_document(p.html))
    }
    .await;
    c.finish(r)
}

pub async fn test_send(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let email = Email::parse(&c.user.email)
            .map_err(|e| Fail::Internal(anyhow::anyhow!("user email: {e}")))?;
        let id = alert_id(&id)?;
        let locale = form.get("locale").map(str::to_string);
        alerts::queue_test(&c.state.ctx, &c.actor(), &id, email, locale)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}?done=test")))
    }
    .await;
    c.finish(r)
}

pub async fn confirm_send(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        let alerts::Audience {
            alert,
            people: audience,
        } = alerts::audience(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        if alert.status != AlertStatus::Draft {
            return Ok(see_other(&format!("/admin/alerts/{id}")));
        }
        let loc = c.page.locale;
        let count = loc.number(audience);
        let no_dkim = alerts::send_warning(audience, c.state.ctx.settings.dkim.is_some())
            .map(|_| loc.format("admin_no_dkim_warning", &[("count", &count)]));
        Ok(c.render(
            "alert_send",
            c.t("admin_send_confirm_title"),
            json!({
                "alert": {"id": alert.id, "subject": alert.subject},
                "audience": audience,
                "no_dkim_warning": no_dkim,
                "text": loc.format("admin_send_confirm_text", &[("subject", &alert.subject), ("count", &count)]),
                "four_eyes": c.state.ctx.settings.require_approval.then(|| c.t("admin_four_eyes_hint")),
                "button": loc.format("admin_send_now", &[("count", &count)]),
            }),
        ))
    }
    .await;
    c.finish(r)
}

pub async fn send(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        alerts::send(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

/// A domain's name in a path segment: letters, digits, dots and hyphens
/// stand as they are, anything else is percent-encoded.
fn urlencoding(domain: &str) -> String {
    domain
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Resumes a receiving domain paused for this alert, then back to its page.
pub async fn resume_domain(p: Posted, path: web::Path<(String, String)>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let (id, domain) = path.into_inner();
        let id = alert_id(&id)?;
        alerts::resume_domain(&c.state.ctx, &c.actor(), &id, &domain)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

pub async fn cancel(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        alerts::cancel(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

pub async fn resume(p: Posted, id: web::Path<String>) -> HttpResponse {
    let Posted { c, form: _ } = p;
    let r = async {
        c.require(Role::Campaigner)?;
        let id = alert_id(&id)?;
        crate::campaign::reports::resume(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        Ok(see_other(&format!("/admin/alerts/{id}")))
    }
    .await;
    c.finish(r)
}

/// `{status, recipients, queued, sent, failed, cancelled}` for the progress
/// script.
pub async fn progress(c: Console, id: web::Path<String>) -> HttpResponse {
    let r = async {
        let id = alert_id(&id)?;
        let p = alerts::progress(&c.state.ctx, &c.actor(), &id)
            .await
            .map_err(|e| c.campaign_fail(e))?;
        let n = p.counts;
        Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "status": p.status,
                "status_label": c.t(&format!("admin_alert_status_{}", p.status.as_str())),
                "recipients": p.recipients, "queued": n.queued, "sent": n.sent,
                "failed": n.failed, "cancelled": n.cancelled, "expired": n.expired,
                "done": n.sent + n.failed + n.cancelled + n.expired,
                "rate_per_s": p.rate_per_s,
                "rate": c.page.locale.format("admin_alert_rate", &[("rate", &c.page.locale.decimal(p.rate_per_s, 1))]),
                "eta": p.eta.map(super::when),
                "late": alerts::eta_warning(p.eta, p.send_by).is_some(),
                "late_text": late_text(&c, p.eta, p.send_by),
            })))
    }
    .await;
    c.finish(r)
}
