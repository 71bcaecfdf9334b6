//! `/api/v1/alerts`: urgent-action emails. A draft is previewed and
//! test-sent, then sent once (see [`crate::campaign::alerts`] for the rules).
//!
//! Thin: each handler checks the caller's role (so a 403 comes before a
//! 422), reads the body, calls one action and renders its answer as JSON.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::auth::{Caller, Role};
use super::input;
use super::paging::{Listing, PageQuery};
use crate::campaign::alerts::{self, AlertDetail, DraftForm, PreviewOf, Warning};
use crate::domain::{AlertId, Email};
use crate::error::ApiError;
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: String,
    pub case_id: String,
    pub petition_id: Option<String>,
    pub list_ids: Vec<String>,
    pub subject: String,
    pub body_markdown: String,
    /// draft, awaiting_approval, scheduled, sending, paused, sent or cancelled
    pub status: String,
    /// Petitions whose signers (pending or confirmed) are left out.
    pub exclude_signers_of: Vec<String>,
    /// Only supporters in these countries; `[]`: every country.
    pub countries: Vec<String>,
    /// Only supporters with these languages (`ru` takes `ru-KG`; people
    /// with none count as the default language); `[]`: every language.
    pub locales: Vec<String>,
    /// The language of the alert's own text (en, ar, es, fr or ru); null:
    /// the configured default.
    pub locale: Option<String>,
    /// Translations: a supporter of a variant's language gets it, greeting
    /// and footer in that language too; everyone else the alert's own text.
    pub variants: Vec<VariantView>,
    /// When a scheduled alert takes its audience and starts sending.
    pub send_at: Option<DateTime<Utc>>,
    /// No delivery is made after this; those left are `expired`.
    pub send_by: Option<DateTime<Utc>>,
    /// Who approved the send (four eyes), and when.
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// People in the audience snapshot taken at send.
    pub recipients: i64,
    /// Deliveries waiting or being sent.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Not sent: cancelled, or the person left after the snapshot.
    pub cancelled: i64,
    /// Not sent by `send_by`, so never sent.
    pub expired: i64,
    /// Messages sent per second over the last minute.
    pub rate_per_s: f64,
    /// When the last delivery is expected at that rate; null when nothing
    /// waits or nothing is moving.
    pub eta: Option<DateTime<Utc>>,
    /// Deliveries whose supporter bounced through them (now or in a late report).
    pub bounced: i64,
    /// Deliveries a feedback report complained about.
    pub complaints: i64,
    /// What needs a person (why the alert paused itself, a paused
    /// receiving domain, a big send without DKIM); always present, `[]`
    /// when none.
    pub warnings: Vec<WarningView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub send_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One translation of an alert (contract §9).
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VariantView {
    /// en, ar, es, fr or ru: one variant per language.
    pub locale: String,
    pub subject: String,
    /// Markdown, as the alert's own body.
    pub body_markdown: String,
}

/// A warning on an alert, by `kind`: `complaints` (the alert paused
/// itself; `reply` says why, `since` when; `POST /alerts/{id}/resume`),
/// `domain_paused` (a receiving domain paused after a run of policy
/// refusals, with `domain`, `reply` (addresses masked) and `since`, until
/// `POST /alerts/{id}/domains/{domain}/resume`), `no_dkim` (in a send's
/// answer: a send to 5,000 people or more without DKIM), `eta_after_send_by`
/// (at the present rate the last messages would go out after `send_by`:
/// `eta` and `send_by`). Every warning has `message`, a sentence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarningView {
    /// complaints, domain_paused or no_dkim
    pub kind: String,
    /// The warning in a sentence.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_by: Option<DateTime<Utc>>,
}

impl From<Warning> for WarningView {
    fn from(w: Warning) -> Self {
        let (kind, message) = (w.kind().to_string(), w.message());
        let mut view = WarningView {
            kind,
            message,
            domain: None,
            reply: None,
            since: None,
            eta: None,
            send_by: None,
        };
        match w {
            Warning::DomainPaused {
                domain,
                reply,
                since,
            } => {
                view.domain = Some(domain);
                view.reply = Some(reply);
                view.since = Some(since.and_utc());
            }
            Warning::Complaints { reason, since } => {
                view.reply = Some(reason);
                view.since = since.map(|t| t.and_utc());
            }
            Warning::NoDkim { .. } => {}
            Warning::LateEta { eta, send_by } => {
                view.eta = Some(eta.and_utc());
                view.send_by = Some(send_by.and_utc());
            }
        }
        view
    }
}

impl From<AlertDetail> for AlertView {
    fn from(d: AlertDetail) -> Self {
        let AlertDetail {
            alert: a,
            list_ids,
            counts: c,
            reports,
            warnings,
            audience,
            locale,
            variants,
            rate_per_s,
            eta,
        } = d;
        AlertView {
            id: a.id.into(),
            case_id: a.case_id.into(),
            petition_id: a.petition_id.map(String::from),
            list_ids: list_ids.into_iter().map(String::from).collect(),
            subject: a.subject,
            body_markdown: a.body_markdown,
            status: a.status.as_str().to_string(),
            exclude_signers_of: audience
                .exclude_signers_of
                .into_iter()
                .map(String::from)
                .collect(),
            countries: audience.countries,
            locales: audience.locales,
            locale,
            variants: variants
                .into_iter()
                .map(|v| VariantView {
                    locale: v.locale,
                    subject: v.subject,
                    body_markdown: v.body_markdown,
                })
                .collect(),
            send_at: a.send_at.map(|t| t.and_utc()),
            send_by: a.send_by.map(|t| t.and_utc()),
            approved_by: a.approved_by,
            approved_at: a.approved_at.map(|t| t.and_utc()),
            recipients: a.recipients,
            queued: c.queued,
            sent: c.sent,
            failed: c.failed,
            cancelled: c.cancelled,
            expired: c.expired,
            rate_per_s,
            eta: eta.map(|t| t.and_utc()),
            bounced: reports.bounced,
            complaints: reports.complaints,
            warnings: reports
                .warnings
                .into_iter()
                .map(WarningView::from)
                .chain(warnings.into_iter().map(WarningView::from))
                .collect(),
            created_at: a.created_at.and_utc(),
            updated_at: a.updated_at.and_utc(),
            send_started_at: a.send_started_at.map(|t| t.and_utc()),
            finished_at: a.finished_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AlertInput {
    case_id: String,
    petition_id: Option<String>,
    list_ids: Vec<String>,
    subject: String,
    /// Markdown; rendered to sanitised HTML and to plain text.
    body_markdown: String,
    /// Petition ids: their signers (pending or confirmed) are left out.
    exclude_signers_of: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 codes; empty or absent: every country.
    countries: Option<Vec<String>>,
    /// Language tags (`ru` also takes `ru-KG`); empty or absent: every language.
    locales: Option<Vec<String>>,
    /// RFC 3339: deliveries not made by then are not made (`expired`).
    send_by: Option<String>,
    /// The language of `subject` and `body_markdown` (en, ar, es, fr, ru);
    /// absent: the configured default.
    locale: Option<String>,
    /// Translations, one per language other than the alert's own; a PATCH
    /// that gives them replaces them all. Only while a draft.
    variants: Option<Vec<VariantView>>,
}

/// `POST /alerts/{id}/schedule`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ScheduleInput {
    /// RFC 3339, in the future: the audience is taken and sending starts then.
    send_at: String,
    /// RFC 3339, after `send_at`; absent keeps the alert's own.
    send_by: Option<String>,
}

/// `POST /alerts/{id}/audience`: how many people a send would reach now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AudienceView {
    pub id: String,
    pub status: String,
    pub recipients: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A path's alert id: one that is not an id names no alert.
pub(crate) fn alert_id(raw: &str) -> Result<AlertId, ApiError> {
    AlertId::parse(raw).map_err(|_| ApiError::NotFound("alert"))
}

const VARIANTS_SHAPE: &str =
    "Must be a list of objects, each with locale, subject and body_markdown.";

/// A JSON body's alert draft fields, as read (the action checks them).
fn draft_form(body: Value) -> Result<DraftForm, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    let string = |name: &str| match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err("Must be a string.".to_string()),
    };
    let strings = |name: &str| match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| "Must be a list of strings.".to_string()),
        Some(_) => Err("Must be a list of strings.".to_string()),
    };
    let variants = match map.get("variants") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                let Value::Object(v) = v else {
                    return None;
                };
                let field = |name: &str| match v.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err("Must be a string.".to_string()),
                };
                Some(alerts::VariantForm {
                    locale: field("locale"),
                    subject: field("subject"),
                    body_markdown: field("body_markdown"),
                })
            })
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| VARIANTS_SHAPE.to_string()),
        Some(_) => Err(VARIANTS_SHAPE.to_string()),
    };
    Ok(DraftForm {
        locale: string("locale"),
        variants,
        exclude_signers_of: strings("exclude_signers_of"),
        countries: strings("countries"),
        locales: strings("locales"),
        send_by: string("send_by"),
        ..DraftForm::new(
            string("case_id"),
            string("petition_id"),
            strings("list_ids"),
            string("subject"),
            string("body_markdown"),
        )
    })
}

#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", request_body = AlertInput,
    responses((status = 201, body = AlertView), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let form = draft_form(body.json().await?)?;
    let detail = alerts::create(&state.ctx, &caller.actor(), form).await?;
    Ok(HttpResponse::Created().json(AlertView::from(detail)))
}

#[utoipa::path(patch, path = "/api/v1/alerts/{id}", tag = "alerts", request_body = AlertInput,
    responses((status = 200, body = AlertView), (status = 404), (status = 409, description = "no longer a draft"), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = alert_id(&id)?;
    let Value::Object(changes) = body.json().await? else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    // A field left out keeps its value: the draft as it stands, then the
    // fields given.
    let actor = caller.actor();
    let now = AlertView::from(alerts::get(&state.ctx, &actor, &id).await?);
    let mut merged = serde_json::json!({
        "case_id": now.case_id, "petition_id": now.petition_id, "list_ids": now.list_ids,
        "subject": now.subject, "body_markdown": now.body_markdown,
        "exclude_signers_of": now.exclude_signers_of, "countries": now.countries,
        "locales": now.locales,
        "send_by": now.send_by.map(|t| t.to_rfc3339()),
        "locale": now.locale, "variants": now.variants,
    });
    for (k, v) in changes {
        merged[k] = v;
    }
    let detail = alerts::update_draft(&state.ctx, &actor, &id, draft_form(merged)?).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(PageQuery),
    responses((status = 200, description = "{items: [Alert], next_cursor}")), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let page = q.parse()?;
    let limit = page.limit;
    let rows = alerts::list(&state.ctx, &caller.actor(), page.after, limit + 1).await?;
    let views: Vec<AlertView> = rows.into_iter().map(AlertView::from).collect();
    Ok(HttpResponse::Ok().json(Listing::from_rows(views, limit, |v| v.id.clone(), |v| v)))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = alert_id(&id)?;
    let detail = alerts::get(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/preview", tag = "alerts",
    request_body(content = Object, description = "{supporter_id?, locale?}: the copy that supporter, or a supporter of that language, gets"),
    responses((status = 200, body = PreviewView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    // No body is `{}`; a body that is there must be good JSON, or the
    // preview would silently be of someone else.
    let mut f = input::fields(body.json_or_empty().await?)?;
    let supporter_id = f.string("supporter_id", false, |s| {
        Ok::<_, String>(s.trim().to_string())
    });
    let locale = f.string("locale", false, |s| Ok::<_, String>(s.trim().to_string()));
    f.finish()?;
    let id = alert_id(&id)?;
    let of = PreviewOf {
        supporter_id,
        locale,
        ..PreviewOf::default()
    };
    let p = alerts::preview(&state.ctx, &caller.actor(), &id, of).await?;
    Ok(HttpResponse::Ok().json(PreviewView {
        subject: p.subject,
        html: p.html,
        text: p.text,
    }))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/test", tag = "alerts",
    request_body(content = Object, description = "{email, locale?}: one copy to that address, as a supporter of that language (else the alert's own text) gets it"),
    responses((status = 202), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn test_send(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let mut f = input::fields(body.json().await?)?;
    let email = f.string("email", true, Email::parse);
    let locale = f.string("locale", false, |s| Ok::<_, String>(s.trim().to_string()));
    f.finish()?;
    let email = email.expect("checked by finish");
    let id = alert_id(&id)?;
    alerts::queue_test(&state.ctx, &caller.actor(), &id, email, locale).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"queued": 1})))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/send", tag = "alerts",
    responses((status = 202, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = alert_id(&id)?;
    let detail = alerts::send(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Accepted().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/audience", tag = "alerts",
    responses((status = 200, body = AudienceView), (status = 404)), security(("bearer" = [])))]
pub async fn audience(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Organiser)?;
    let id = alert_id(&id)?;
    let a = alerts::audience(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(AudienceView {
        id: a.alert.id.into(),
        status: a.alert.status.as_str().to_string(),
        recipients: a.people,
    }))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/schedule", tag = "alerts", request_body = ScheduleInput,
    responses((status = 200, body = AlertView, description = "scheduled, or awaiting_approval when four eyes are required"),
        (status = 404), (status = 409, description = "not a draft"), (status = 422)),
    security(("bearer" = [])))]
pub async fn schedule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: input::Body,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let Value::Object(map) = body.json().await? else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    let string = |name: &str| match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err("Must be a string.".to_string()),
    };
    let form = alerts::ScheduleForm {
        send_at: string("send_at"),
        send_by: string("send_by"),
    };
    let id = alert_id(&id)?;
    let detail = alerts::schedule(&state.ctx, &caller.actor(), &id, form).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/approve", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 403, description = "the alert's author, or who asked for the send"),
        (status = 404), (status = 409, description = "not waiting for approval")),
    security(("bearer" = [])))]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = alert_id(&id)?;
    let detail = alerts::approve(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404)), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = alert_id(&id)?;
    let detail = alerts::cancel(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resume", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404), (status = 409, description = "the alert is not paused")),
    security(("bearer" = [])))]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let id = alert_id(&id)?;
    let detail = crate::campaign::reports::resume(&state.ctx, &caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/domains/{domain}/resume", tag = "alerts",
    responses((status = 200, body = AlertView), (status = 404, description = "no such alert, or that domain is not paused for it")),
    security(("bearer" = [])))]
pub async fn resume_domain(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Campaigner)?;
    let (id, domain) = path.into_inner();
    let id = alert_id(&id)?;
    let detail = alerts::resume_domain(&state.ctx, &caller.actor(), &id, &domain).await?;
    Ok(HttpResponse::Ok().json(AlertView::from(detail)))
}
