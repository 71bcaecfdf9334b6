//! Urgent-action alerts: drafts, previews, test copies, who they go to,
//! sending once (now, at a set time, or once a second person approves),
//! deadlines, cancelling, and the progress of a send.
//!
//! # Policy
//!
//! * An alert's own text is in its `locale` (or the default); its variants
//!   are one per shipped language. Each recipient gets the variant of their
//!   language, else the own text (`crate::mail::kinds::alert` picks it).
//! * Only a draft's text, variants, lists, audience filter and deadline change. Once
//!   it has been sent, scheduled or put up for approval an edit is refused
//!   with [`CampaignError::AlertNotDraft`].
//! * The audience is the union of the lists, each person once, mailable
//!   people only, narrowed by the filter (signers of petitions left out,
//!   countries, languages). [`audience`] counts exactly what the snapshot
//!   would take, with the same SQL.
//! * A scheduled alert takes its audience at `send_at`, not before
//!   (`crate::jobs` starts it). A delivery not made by `send_by` expires.
//!   A case that ends cancels its alerts' undelivered messages.
//! * Four eyes (`require_approval`): a send or schedule by one of the
//!   alert's authors (its creator or last editor) waits for approval by
//!   anyone else with the campaigner role ([`approve`]); an author who
//!   approves is refused (403). Someone other than its authors who sends
//!   it is the second pair of eyes. Every step is in the audit log.
//! * `send` moves the draft to `sending` and snapshots the audience into the
//!   mail queue in the same transaction, so a second send never queues
//!   anything, and people who join a list later are not added.
//! * Test copies and sends wake the mail worker ([`super::Events::mail_queued`])
//!   here, so no caller has to.
//! * Organisers read and preview; campaigners write, test, send and cancel.
//! * Every bad field of a draft is reported at once, the checks that need the
//!   database (does the case exist?) together with those that do not.
//! * What receivers said shows on the alert as warnings: a receiving domain
//!   paused after a run of policy refusals (which, reply, since when) until a
//!   campaigner resumes it ([`resume_domain`]) or its pause runs out; and, in
//!   the answer to a send to [`NO_DKIM_WARNING_AT`] people or more, that
//!   the mail goes out unsigned.

use std::collections::HashMap;

use super::paging::{PageRequest, Paged};
use super::{Actor, CampaignError, CampaignResult, Context, FieldError};
use crate::db::{self, DbConnection};
use crate::domain::{
    text, AlertId, AlertStatus, CaseId, CountryCode, DomainError, Email, ListId, PetitionId, Role,
    SupporterId,
};

pub use crate::db::alerts::{Alert, AlertCounts};

/// A field as the edge read it: absent (`Ok(None)`), given, or not readable
/// as text at all (`Err` with the reason, e.g. "Must be a string.").
pub type Given<T> = Result<Option<T>, String>;

/// An alert draft as a campaigner submitted it, before any check. The
/// action checks each field in this order and answers every bad one at once.
#[derive(Debug, Clone)]
pub struct DraftForm {
    pub case_id: Given<String>,
    pub petition_id: Given<String>,
    pub list_ids: Given<Vec<String>>,
    pub subject: Given<String>,
    /// Markdown; rendered to sanitised HTML and to plain text when mailed.
    pub body_markdown: Given<String>,
    /// Petition ids whose signers are left out.
    pub exclude_signers_of: Given<Vec<String>>,
    /// Country codes; absent or empty: every country.
    pub countries: Given<Vec<String>>,
    /// Language tags; absent or empty: every language.
    pub locales: Given<Vec<String>>,
    /// RFC 3339: no delivery is made after it.
    pub send_by: Given<String>,
    /// The language of the alert's own text (a shipped locale's tag);
    /// absent or empty: the configured default.
    pub locale: Given<String>,
    /// Translations, one per language; absent: none.
    pub variants: Given<Vec<VariantForm>>,
}

/// One translation of a draft as submitted (contract §9): its recipients
/// are the supporters of that language.
#[derive(Debug, Clone)]
pub struct VariantForm {
    pub locale: Given<String>,
    pub subject: Given<String>,
    pub body_markdown: Given<String>,
}

pub use crate::db::alert_variants::Variant;

impl DraftForm {
    /// A form with only the fields every draft has; no filter, no deadline.
    pub fn new(
        case_id: Given<String>,
        petition_id: Given<String>,
        list_ids: Given<Vec<String>>,
        subject: Given<String>,
        body_markdown: Given<String>,
    ) -> DraftForm {
        DraftForm {
            case_id,
            petition_id,
            list_ids,
            subject,
            body_markdown,
            exclude_signers_of: Ok(None),
            countries: Ok(None),
            locales: Ok(None),
            send_by: Ok(None),
            locale: Ok(None),
            variants: Ok(None),
        }
    }
}

pub use crate::db::alerts::AudienceFilter;

/// When a scheduled alert is sent, and (if given) the deadline it carries.
#[derive(Debug, Clone)]
pub struct ScheduleForm {
    /// RFC 3339, in the future.
    pub send_at: Given<String>,
    /// RFC 3339, after `send_at`; absent keeps the draft's own.
    pub send_by: Given<String>,
}

/// An alert with its lists, its deliveries by outcome and its warnings.
#[derive(Debug, Clone)]
pub struct AlertDetail {
    pub alert: Alert,
    pub list_ids: Vec<ListId>,
    pub counts: AlertCounts,
    /// Bounces and complaints from late reports, and why it paused.
    pub reports: super::reports::AlertReports,
    /// Paused receiving domains (and, in a send's answer, a missing DKIM);
    /// the complaint pause is in `reports`.
    pub warnings: Vec<Warning>,
    /// Who it goes to within its lists.
    pub audience: AudienceFilter,
    /// The language of its own text; `None`: the configured default.
    pub locale: Option<String>,
    /// Its translations, by locale tag.
    pub variants: Vec<Variant>,
    /// Messages sent per second over the last minute.
    pub rate_per_s: f64,
    /// When the last delivery is expected at that rate; `None` when
    /// nothing waits or nothing is being sent.
    pub eta: Option<chrono::NaiveDateTime>,
}

/// Sends to this many people or more without DKIM are warned about: Gmail
/// and Yahoo require bulk senders to sign (contract §8).
pub const NO_DKIM_WARNING_AT: i64 = 5_000;

/// Something about an alert a campaigner should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A receiving domain paused for this alert after a run of policy
    /// refusals: its deliveries are held until resumed.
    DomainPaused {
        domain: String,
        /// The refusal, addresses masked.
        reply: String,
        since: chrono::NaiveDateTime,
    },
    /// The alert paused itself: its complaints reached their limit
    /// (`reason` says how far; [`super::reports`]).
    Complaints {
        reason: String,
        since: Option<chrono::NaiveDateTime>,
    },
    /// The send went to `recipients` people without a DKIM signature.
    NoDkim { recipients: i64 },
    /// At the present rate the last messages would go out after the
    /// alert's `send_by`: those would expire.
    LateEta {
        eta: chrono::NaiveDateTime,
        send_by: chrono::NaiveDateTime,
    },
}

impl Warning {
    /// Its kind, as the API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::DomainPaused { .. } => "domain_paused",
            Warning::Complaints { .. } => "complaints",
            Warning::NoDkim { .. } => "no_dkim",
            Warning::LateEta { .. } => "eta_after_send_by",
        }
    }

    /// In a sentence (English; the console words its own).
    pub fn message(&self) -> String {
        match self {
            Warning::DomainPaused { domain, reply, .. } => format!(
                "Mail to {domain} is paused for this alert after a run of policy refusals \
                 (last reply: {reply}); resume it once the cause is fixed."
            ),
            Warning::Complaints { reason, .. } => reason.clone(),
            Warning::NoDkim { recipients } => format!(
                "This alert goes to {recipients} people without a DKIM signature: Gmail and \
                 Yahoo expect bulk senders to sign their mail, so much of it may be refused \
                 or marked as spam. Configure dkim_domain, dkim_selector and dkim_key_file."
            ),
            Warning::LateEta { eta, send_by } => format!(
                "At the present rate the last messages go out at {} UTC, after this alert's \
                 deadline ({} UTC): those not sent by then will not be sent.",
                eta.format("%Y-%m-%d %H:%M"),
                send_by.format("%Y-%m-%d %H:%M")
            ),
        }
    }
}

/// The warning a send to `recipients` people deserves, if any, with DKIM
/// configured or not.
pub fn send_warning(recipients: i64, dkim: bool) -> Option<Warning> {
    (!dkim && recipients >= NO_DKIM_WARNING_AT).then_some(Warning::NoDkim { recipients })
}

/// One receiving domain's share of an alert, for the console's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRow {
    /// `None`: the other domains together (or deliveries with no domain).
    pub domain: Option<String>,
    pub sent: i64,
    /// Waiting after a failed attempt or a throttling reply.
    pub deferred: i64,
    pub failed: i64,
    /// Held by a pause.
    pub paused: i64,
}

/// Domains shown by name in the console's table; the rest are summed.
pub const TOP_DOMAINS: usize = 10;

/// Where a send stands, for the progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub status: AlertStatus,
    /// People in the audience snapshot taken at send.
    pub recipients: i64,
    pub counts: AlertCounts,
    /// Messages per second over the last minute.
    pub rate_per_s: f64,
    pub eta: Option<chrono::NaiveDateTime>,
    pub send_by: Option<chrono::NaiveDateTime>,
}

/// How far back the rate looks.
pub const RATE_WINDOW_SECS: i64 = 60;

/// The rate of a send over the last minute (or since it started, if
/// later) from the messages sent in that time, and the expected time of
/// the last delivery at that rate: `None` when nothing waits, nothing is
/// being sent, or the rate is zero.
pub fn pace(
    status: AlertStatus,
    started: Option<chrono::NaiveDateTime>,
    sent_in_window: i64,
    waiting: i64,
    now: chrono::NaiveDateTime,
) -> (f64, Option<chrono::NaiveDateTime>) {
    let Some(started) = started else {
        return (0.0, None);
    };
    let window_ms = (now - started)
        .num_milliseconds()
        .clamp(1_000, RATE_WINDOW_SECS * 1_000);
    let rate = sent_in_window as f64 * 1_000.0 / window_ms as f64;
    let eta = (status == AlertStatus::Sending && waiting > 0 && rate > 0.0).then(|| {
        let ms = (waiting as f64 / rate * 1_000.0).ceil() as i64;
        now + chrono::Duration::milliseconds(ms)
    });
    // Two decimals are all anyone reads of it.
    ((rate * 100.0).round() / 100.0, eta)
}

/// The warning a send whose last message is expected at `eta` deserves
/// with the deadline `send_by`.
pub fn eta_warning(
    eta: Option<chrono::NaiveDateTime>,
    send_by: Option<chrono::NaiveDateTime>,
) -> Option<Warning> {
    match (eta, send_by) {
        (Some(eta), Some(send_by)) if eta > send_by => Some(Warning::LateEta { eta, send_by }),
        _ => None,
    }
}

/// Who a preview is for and what it shows.
#[derive(Debug, Clone, Default)]
pub struct PreviewOf {
    /// A supporter's id as given (a malformed one is reported like an
    /// unknown one, once the alert is found); `None`: a sample supporter.
    pub supporter_id: Option<String>,
    /// Unsaved edits to show instead of the stored subject (of the text in
    /// `locale` when one is given: a language the alert has no text in yet
    /// is shown as the variant these edits would make once saved).
    pub subject: Option<String>,
    /// Unsaved edits to show instead of the stored body (Markdown), as
    /// `subject`.
    pub body_markdown: Option<String>,
    /// The language of the supporter it is shown to, as given (a shipped
    /// locale's tag): its variant and fixed parts. `None`: the supporter's
    /// own language, or the alert's own text for a sample supporter.
    pub locale: Option<String>,
}

/// An alert as one person would get it.
#[derive(Debug, Clone)]
pub struct Preview {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A draft about to be sent, and how many people the send would reach now.
#[derive(Debug, Clone)]
pub struct Audience {
    pub alert: Alert,
    pub people: i64,
}

/// A case or petition an alert may be about.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub title: String,
}

/// A list an alert may go to, with how many of its people may be mailed.
#[derive(Debug, Clone)]
pub struct ListChoice {
    pub id: String,
    pub name: String,
    pub active: i64,
}

/// What a draft may be about and go to: the compose form's choices.
#[derive(Debug, Clone)]
pub struct Choices {
    pub cases: Vec<Choice>,
    pub petitions: Vec<Choice>,
    pub lists: Vec<ListChoice>,
}

/// Field errors found without the database, and what parsed.
struct Checked {
    errors: Vec<FieldError>,
    case_id: Option<String>,
    petition_id: Option<String>,
    list_ids: Option<Vec<String>>,
    subject: Option<String>,
    body_markdown: Option<String>,
    exclude_signers_of: Vec<String>,
    countries: Vec<String>,
    locales: Vec<String>,
    send_by: Option<chrono::NaiveDateTime>,
    locale: Option<String>,
    variants: Vec<Variant>,
}

const REQUIRED: &str = "This field is required.";

fn check(form: DraftForm) -> Checked {
    let mut errors = Vec::new();
    let mut take = |name: &str, given: Given<String>, required: bool| match given {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            if required {
                errors.push(FieldError::new(name, REQUIRED));
            }
            None
        }
        Err(reason) => {
            errors.push(FieldError::new(name, reason));
            None
        }
    };
    let case_id = take("case_id", form.case_id, true).map(|s| s.trim().to_string());
    let petition_id = take("petition_id", form.petition_id, false).map(|s| s.trim().to_string());
    let list_ids = match form.list_ids {
        Ok(Some(l)) => {
            if l.is_empty() {
                errors.push(FieldError::new("list_ids", "Choose at least one list."));
            }
            Some(l)
        }
        Ok(None) => {
            errors.push(FieldError::new("list_ids", REQUIRED));
            None
        }
        Err(reason) => {
            errors.push(FieldError::new("list_ids", reason));
            None
        }
    };
    let mut parse = |name: &'static str,
                     given: Given<String>,
                     rule: &dyn Fn(&str) -> Result<String, DomainError>| {
        match given {
            Ok(Some(v)) => match rule(&v) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(FieldError::new(name, format!("{e}")));
                    None
                }
            },
            Ok(None) => {
                errors.push(FieldError::new(name, REQUIRED));
                None
            }
            Err(reason) => {
                errors.push(FieldError::new(name, reason));
                None
            }
        }
    };
    let subject = parse("subject", form.subject, &|s: &str| {
        text::single_line(s, "subject", SUBJECT_MAX)
    });
    let body_markdown = parse("body_markdown", form.body_markdown, &|s: &str| {
        text::multi_line(s, "body_markdown", BODY_MAX)
    });
    let mut list =
        |name: &str, given: Given<Vec<String>>, rule: &dyn Fn(&str) -> Result<String, String>| {
            let items = match given {
                Ok(items) => items.unwrap_or_default(),
                Err(reason) => {
                    errors.push(FieldError::new(name, reason));
                    return vec![];
                }
            };
            let mut out = Vec::new();
            let mut bad = Vec::new();
            for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                match rule(item) {
                    Ok(v) => out.push(v),
                    Err(e) => bad.push(e),
                }
            }
            if !bad.is_empty() {
                errors.push(FieldError::new(name, bad.join(" ")));
            }
            out.sort();
            out.dedup();
            out
        };
    let exclude_signers_of = list("exclude_signers_of", form.exclude_signers_of, &|s| {
        Ok(s.to_string())
    });
    let countries = list("countries", form.countries, &|s| {
        CountryCode::parse(s)
            .map(|c| c.as_str().to_string())
            .map_err(|_| format!("{s:?} is not an ISO 3166-1 alpha-2 country code."))
    });
    let locales = list("locales", form.locales, &|s| {
        language_tag(s).ok_or_else(|| format!("{s:?} is not a language tag such as en or ru-KG."))
    });
    let send_by = match form.send_by {
        Ok(Some(raw)) if raw.trim().is_empty() => None,
        Ok(Some(raw)) => match instant(&raw) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new("send_by", NOT_A_TIME));
                None
            }
        },
        Ok(None) => None,
        Err(reason) => {
            errors.push(FieldError::new("send_by", reason));
            None
        }
    };
    let locale = match form.locale {
        Ok(Some(raw)) if raw.trim().is_empty() => None,
        Ok(Some(raw)) => match shipped_locale(&raw) {
            Ok(l) => Some(l),
            Err(e) => {
                errors.push(FieldError::new("locale", e));
                None
            }
        },
        Ok(None) => None,
        Err(reason) => {
            errors.push(FieldError::new("locale", reason));
            None
        }
    };
    let variants = check_variants(form.variants, &mut errors);
    Checked {
        errors,
        case_id,
        petition_id,
        list_ids,
        subject,
        body_markdown,
        exclude_signers_of,
        countries,
        locales,
        send_by,
        locale,
        variants,
    }
}

/// The most an alert's subject and body may hold; a variant's too.
const SUBJECT_MAX: usize = 200;
const BODY_MAX: usize = 100_000;

/// A shipped locale's tag as given (`fr`, ` FR `), or why not.
fn shipped_locale(raw: &str) -> Result<String, String> {
    let tag = raw.trim().to_ascii_lowercase();
    crate::i18n::Locale::all()
        .find(|l| l.code() == tag)
        .map(|l| l.code().to_string())
        .ok_or_else(|| {
            let codes: Vec<&str> = crate::i18n::Locale::all().map(|l| l.code()).collect();
            format!(
                "{raw:?} is not a language Clarion writes mail in: use one of {}.",
                codes.join(", ")
            )
        })
}

/// A draft's variants, each field checked as the alert's own (errors as
/// `variants[I].FIELD`), one per language.
fn check_variants(given: Given<Vec<VariantForm>>, errors: &mut Vec<FieldError>) -> Vec<Variant> {
    let forms = match given {
        Ok(forms) => forms.unwrap_or_default(),
        Err(reason) => {
            errors.push(FieldError::new("variants", reason));
            return vec![];
        }
    };
    let mut out: Vec<Variant> = Vec::with_capacity(forms.len());
    let mut seen: Vec<String> = Vec::new();
    for (i, v) in forms.into_iter().enumerate() {
        let mut field =
            |name: &str, given: Given<String>, rule: &dyn Fn(&str) -> Result<String, String>| {
                let name = format!("variants[{i}].{name}");
                match given {
                    Ok(Some(raw)) => match rule(&raw) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.push(FieldError::new(&name, e));
                            None
                        }
                    },
                    Ok(None) => {
                        errors.push(FieldError::new(&name, REQUIRED));
                        None
                    }
                    Err(reason) => {
                        errors.push(FieldError::new(&name, reason));
                        None
                    }
                }
            };
        let locale = field("locale", v.locale, &shipped_locale);
        let subject = field("subject", v.subject, &|s| {
            text::single_line(s, "subject", SUBJECT_MAX).map_err(|e| e.to_string())
        });
        let body = field("body_markdown", v.body_markdown, &|s| {
            text::multi_line(s, "body_markdown", BODY_MAX).map_err(|e| e.to_string())
        });
        if let Some(l) = &locale {
            if seen.contains(l) {
                errors.push(FieldError::new(
                    format!("variants[{i}].locale"),
                    "Another variant is in this language: one per language.",
                ));
                continue;
            }
            seen.push(l.clone());
        }
        if let (Some(locale), Some(subject), Some(body_markdown)) = (locale, subject, body) {
            out.push(Variant {
                locale,
                subject,
                body_markdown,
            });
        }
    }
    out.sort_by(|a, b| a.locale.cmp(&b.locale));
    out
}

const NOT_A_TIME: &str = "Give a time in RFC 3339, e.g. 2026-12-01T09:00:00Z.";

/// An RFC 3339 time as stored (UTC, to the microsecond).
fn instant(raw: &str) -> Option<chrono::NaiveDateTime> {
    let t = chrono::DateTime::parse_from_rfc3339(raw.trim()).ok()?;
    let t = t.with_timezone(&chrono::Utc).naive_utc();
    // The database keeps microseconds.
    Some(t - chrono::Duration::nanoseconds(i64::from(t.and_utc().timestamp_subsec_nanos() % 1_000)))
}

/// A language tag as filters compare it: `en`, `ru-kg` (lower case, `_`
/// read as `-`), each part 1–8 letters or digits, the first letters only.
fn language_tag(s: &str) -> Option<String> {
    let tag = s.trim().replace('_', "-").to_ascii_lowercase();
    let mut parts = tag.split('-');
    let first = parts.next()?;
    let ok = tag.len() <= 35
        && (2..=8).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    ok.then_some(tag)
}

/// The actor as four eyes tell people apart: `token:ID`, `user:ID`,
/// `cli`, `system` (names may repeat; ids do not).
pub fn actor_key(actor: &Actor) -> String {
    match actor {
        Actor::Token { id, .. } => format!("token:{id}"),
        Actor::User { id, .. } => format!("user:{id}"),
        Actor::Cli => "cli".into(),
        Actor::Public => "public".into(),
        Actor::System => "system".into(),
    }
}

/// Whether `actor` may approve alert `a`'s send now: it waits for
/// approval, and `actor` is a campaigner who neither wrote it nor asked
/// for the send (what [`approve`] checks; the console shows its button by it).
pub fn may_approve(actor: &Actor, a: &Alert) -> bool {
    let key = actor_key(actor);
    a.status == AlertStatus::AwaitingApproval
        && actor.require(Role::Campaigner).is_ok()
        && !is_author(a, &key)
        && a.send_requested_by.as_deref() != Some(key.as_str())
}

/// Whether `key` wrote alert `a` (created it or changed it last).
fn is_author(a: &Alert, key: &str) -> bool {
    a.created_by_key.as_deref() == Some(key) || a.updated_by_key.as_deref() == Some(key)
}

/// Stores a new draft.
pub async fn create(ctx: &Context, actor: &Actor, form: DraftForm) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    save(ctx, actor, None, form).await
}

/// Replaces the text and lists of draft `id`; `AlertNotDraft` once sending
/// has started.
pub async fn update_draft(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
    form: DraftForm,
) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    save(ctx, actor, Some(id.clone()), form).await
}

async fn save(
    ctx: &Context,
    actor: &Actor,
    existing: Option<AlertId>,
    form: DraftForm,
) -> CampaignResult<AlertDetail> {
    let (checked, now) = checked_at(ctx, form);
    let (actor_name, key) = (actor.audit_name(), actor_key(actor));
    ctx.write(move |c| {
        let id = store(c, existing.as_ref(), checked, &actor_name, &key, now)?;
        detail(c, &id, now)
    })
    .await
}

/// The form's own checks, and the time it is checked at.
fn checked_at(ctx: &Context, form: DraftForm) -> (Checked, chrono::NaiveDateTime) {
    let mut checked = check(form);
    let now = ctx.now();
    if checked.send_by.is_some_and(|t| t <= now) {
        checked
            .errors
            .push(FieldError::new("send_by", "This time has passed."));
    }
    (checked, now)
}

/// How many people draft `existing` (or a new draft) would reach if `form`
/// were saved and sent now: the form is stored and counted with the
/// snapshot's own SQL inside a transaction that is then rolled back, so
/// nothing is kept. Bad fields are reported as a save reports them.
pub async fn count_draft(
    ctx: &Context,
    actor: &Actor,
    existing: Option<&AlertId>,
    form: DraftForm,
) -> CampaignResult<i64> {
    actor.require(Role::Campaigner)?;
    let (checked, now) = checked_at(ctx, form);
    let (actor_name, key) = (actor.audit_name(), actor_key(actor));
    let existing = existing.cloned();
    let default_locale = ctx.settings.default_locale.clone();
    /// Why the transaction ends: always rolled back.
    enum DryRun {
        Counted,
        Failed(CampaignError),
    }
    impl From<crate::db::DbError> for DryRun {
        fn from(e: crate::db::DbError) -> DryRun {
            DryRun::Failed(e.into())
        }
    }
    ctx.db
        .run(move |c| {
            let mut out = None;
            let r = db::write_tx(c, |c| {
                out = Some(
                    store(c, existing.as_ref(), checked, &actor_name, &key, now)
                        .and_then(|id| Ok(db::alerts::audience_size(c, &id, &default_locale)?)),
                );
                Err::<(), _>(DryRun::Counted)
            });
            match (r, out) {
                (Err(DryRun::Failed(e)), _) => Err(e),
                (_, Some(n)) => n,
                (_, None) => Err(CampaignError::Internal(anyhow::anyhow!("nothing counted"))),
            }
        })
        .await
}

/// Stores a checked draft (a new one, or `existing` while it is a draft)
/// with its audit entry; the database's own checks join the form's.
fn store(
    c: &mut DbConnection,
    existing: Option<&AlertId>,
    checked: Checked,
    actor_name: &str,
    key: &str,
    now: chrono::NaiveDateTime,
) -> CampaignResult<AlertId> {
    let Checked {
        mut errors,
        case_id,
        petition_id,
        list_ids,
        subject,
        body_markdown,
        exclude_signers_of,
        countries,
        locales,
        send_by,
        locale,
        variants,
    } = checked;
    // The checks that need the database join the others in one answer.
    let case = match &case_id {
        Some(raw) => match CaseId::parse(raw) {
            Ok(id) => db::cases::get(c, &id)?.map(|_| id),
            Err(_) => None,
        },
        None => None,
    };
    if case_id.is_some() && case.is_none() {
        errors.push(FieldError::new("case_id", "No case has this id."));
    }
    let petition = match &petition_id {
        Some(raw) => match PetitionId::parse(raw) {
            Ok(id) => db::petitions::get(c, &id)?.map(|p| (id, p)),
            Err(_) => None,
        },
        None => None,
    };
    match &petition {
        None if petition_id.is_some() => {
            errors.push(FieldError::new("petition_id", "No petition has this id."));
        }
        // A case id that names no case is never this petition's case.
        Some((_, p))
            if case_id.is_some()
                && case
                    .as_ref()
                    .is_none_or(|k| k.as_str() != p.case_id.as_str()) =>
        {
            errors.push(FieldError::new(
                "petition_id",
                "This petition belongs to another case.",
            ));
        }
        _ => {}
    }
    let lists = known_lists(c, list_ids.as_deref().unwrap_or_default(), &mut errors)?;
    let mut excluded = Vec::new();
    for raw in &exclude_signers_of {
        match PetitionId::parse(raw) {
            Ok(id) if db::petitions::get(c, &id)?.is_some() => excluded.push(id),
            _ => {
                errors.push(FieldError::new(
                    "exclude_signers_of",
                    "One or more petitions do not exist.",
                ));
                break;
            }
        }
    }
    let filter = AudienceFilter {
        exclude_signers_of: excluded,
        countries,
        locales,
    };
    let draft = match &existing {
        Some(id) => Some(db::alerts::get(c, id)?.ok_or(CampaignError::not_found("alert"))?),
        None => None,
    };
    // An alert that is no longer a draft says so before any field does
    // (its stored deadline may have passed since).
    if draft
        .as_ref()
        .is_some_and(|d| d.status != AlertStatus::Draft)
    {
        return Err(CampaignError::AlertNotDraft);
    }
    if !errors.is_empty() {
        return Err(CampaignError::Invalid(errors));
    }
    let (Some(case_id), Some(subject), Some(body_markdown)) = (case, subject, body_markdown) else {
        unreachable!("a missing field is an error above");
    };
    let alert = Alert {
        id: draft
            .as_ref()
            .map(|d| d.id.clone())
            .unwrap_or_else(AlertId::new),
        case_id,
        petition_id: petition.map(|(id, _)| id),
        subject,
        body_markdown,
        status: AlertStatus::Draft,
        recipients: 0,
        created_by: Some(actor_name.to_string()),
        created_at: draft.as_ref().map(|d| d.created_at).unwrap_or(now),
        updated_at: now,
        send_started_at: None,
        finished_at: None,
        send_at: None,
        send_by,
        created_by_key: draft
            .as_ref()
            .map_or_else(|| Some(key.to_string()), |d| d.created_by_key.clone()),
        updated_by_key: Some(key.to_string()),
        send_requested_by: None,
        approved_by: None,
        approved_at: None,
    };
    if draft.is_some() {
        if !db::alerts::update_draft(c, &alert, &lists)? {
            return Err(CampaignError::AlertNotDraft);
        }
        db::alerts::set_audience(c, &alert.id, &filter)?;
        db::alert_variants::set(c, &alert.id, locale.as_deref(), &variants)?;
        db::audit::record(
            c,
            actor_name,
            "alert.update",
            "alert",
            Some(alert.id.as_str()),
            None,
        )?;
    } else {
        db::alerts::insert(c, &alert, &lists)?;
        db::alerts::set_audience(c, &alert.id, &filter)?;
        db::alert_variants::set(c, &alert.id, locale.as_deref(), &variants)?;
        db::audit::record(
            c,
            actor_name,
            "alert.create",
            "alert",
            Some(alert.id.as_str()),
            None,
        )?;
    }
    Ok(alert.id)
}

/// The distinct lists named by `given`, sorted; "One or more lists do not
/// exist." in `errors` when one names no list.
fn known_lists(
    c: &mut DbConnection,
    given: &[String],
    errors: &mut Vec<FieldError>,
) -> CampaignResult<Vec<ListId>> {
    const MISSING: &str = "One or more lists do not exist.";
    let parsed: Result<Vec<ListId>, _> = given.iter().map(|s| ListId::parse(s)).collect();
    let Ok(mut lists) = parsed else {
        errors.push(FieldError::new("list_ids", MISSING));
        return Ok(vec![]);
    };
    lists.sort();
    lists.dedup();
    if !lists.is_empty() && db::alerts::lists_found(c, &lists)? != lists.len() as i64 {
        errors.push(FieldError::new("list_ids", MISSING));
    }
    Ok(lists)
}

pub(super) fn detail(
    c: &mut DbConnection,
    id: &AlertId,
    now: chrono::NaiveDateTime,
) -> CampaignResult<AlertDetail> {
    let alert = db::alerts::get(c, id)?.ok_or(CampaignError::not_found("alert"))?;
    with_details(c, alert, now)
}

/// The rate and expected end of alert `a`'s send at `now`.
fn pace_of(
    c: &mut DbConnection,
    a: &Alert,
    counts: &AlertCounts,
    now: chrono::NaiveDateTime,
) -> CampaignResult<(f64, Option<chrono::NaiveDateTime>)> {
    let sent = match a.send_started_at {
        Some(_) if counts.sent > 0 => {
            db::alerts::sent_since(c, &a.id, now - chrono::Duration::seconds(RATE_WINDOW_SECS))?
        }
        _ => 0,
    };
    Ok(pace(a.status, a.send_started_at, sent, counts.queued, now))
}

/// An alert with its lists, counts and standing warnings.
fn with_details(
    c: &mut DbConnection,
    alert: Alert,
    now: chrono::NaiveDateTime,
) -> CampaignResult<AlertDetail> {
    let list_ids = db::alerts::list_ids(c, &alert.id)?;
    let counts = db::alerts::counts(c, &alert.id)?;
    let audience = db::alerts::audience(c, &alert.id)?;
    let (rate_per_s, eta) = pace_of(c, &alert, &counts, now)?;
    let mut warnings: Vec<Warning> = db::domain_pauses::for_alert(c, &alert.id)?
        .into_iter()
        .map(|p| Warning::DomainPaused {
            domain: p.domain,
            reply: p.reply,
            since: p.since,
        })
        .collect();
    warnings.extend(eta_warning(eta, alert.send_by));
    let reports = super::reports::alert_reports(c, &alert.id)?;
    let locale = db::alert_variants::locale_of(c, &alert.id)?;
    let variants = db::alert_variants::of(c, &alert.id)?;
    Ok(AlertDetail {
        alert,
        list_ids,
        counts,
        reports,
        warnings,
        audience,
        locale,
        variants,
        rate_per_s,
        eta,
    })
}

/// Up to `limit` alerts in id order after the paging cursor `after`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<AlertDetail>> {
    actor.require(Role::Organiser)?;
    let now = ctx.now();
    ctx.run(move |c| {
        let rows = db::alerts::page(c, after.as_deref(), limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for alert in rows {
            out.push(with_details(c, alert, now)?);
        }
        Ok(out)
    })
    .await
}

/// The newest `limit` alerts with their counts, newest first.
pub async fn recent(
    ctx: &Context,
    actor: &Actor,
    limit: i64,
) -> CampaignResult<Vec<(Alert, AlertCounts)>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let mut out = vec![];
        for a in db::alerts::recent(c, limit)? {
            let n = db::alerts::counts(c, &a.id)?;
            out.push((a, n));
        }
        Ok(out)
    })
    .await
}

/// One numbered page of alerts, newest first, with their counts (the
/// console's listing).
pub async fn recent_page(
    ctx: &Context,
    actor: &Actor,
    page: PageRequest,
) -> CampaignResult<Paged<(Alert, AlertCounts)>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let rows = db::alerts::recent_at(c, page.offset(), page.fetch())?;
        let mut out = Vec::with_capacity(rows.len());
        for a in rows {
            let n = db::alerts::counts(c, &a.id)?;
            out.push((a, n));
        }
        Ok(Paged::from_rows(out, page))
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<AlertDetail> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    let now = ctx.now();
    ctx.run(move |c| detail(c, &id, now)).await
}

/// Where the send of alert `id` stands.
pub async fn progress(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<Progress> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    let now = ctx.now();
    ctx.run(move |c| {
        let alert = db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
        let counts = db::alerts::counts(c, &id)?;
        let (rate_per_s, eta) = pace_of(c, &alert, &counts, now)?;
        Ok(Progress {
            status: alert.status,
            recipients: alert.recipients,
            counts,
            rate_per_s,
            eta,
            send_by: alert.send_by,
        })
    })
    .await
}

/// The cases, petitions and lists a draft may name: all of them.
pub async fn choices(ctx: &Context, actor: &Actor) -> CampaignResult<Choices> {
    actor.require(Role::Organiser)?;
    ctx.run(|c| {
        let cases = db::cases::all(c)?
            .into_iter()
            .map(|k| Choice {
                id: k.id.to_string(),
                title: k.title,
            })
            .collect();
        let petitions = db::petitions::all(c)?
            .into_iter()
            .map(|p| Choice {
                id: p.id.to_string(),
                title: p.title,
            })
            .collect();
        let lists = db::lists::all(c)?;
        let ids: Vec<ListId> = lists.iter().map(|l| l.id.clone()).collect();
        let counts: HashMap<String, i64> = db::lists::member_counts(c, &ids)?
            .into_iter()
            .map(|(id, n)| (id.to_string(), n.active))
            .collect();
        let lists = lists
            .into_iter()
            .map(|l| {
                let id = l.id.to_string();
                ListChoice {
                    active: counts.get(&id).copied().unwrap_or(0),
                    id,
                    name: l.name,
                }
            })
            .collect();
        Ok(Choices {
            cases,
            petitions,
            lists,
        })
    })
    .await
}

/// Alert `id` as one person would get it: the supporter named in `of`, or a
/// sample supporter, with `of`'s unsaved edits in place of the stored text.
pub async fn preview(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
    of: PreviewOf,
) -> CampaignResult<Preview> {
    use crate::mail::compose::Recipient;

    actor.require(Role::Organiser)?;
    let base = ctx.settings.base_url.clone();
    let id = id.clone();
    let PreviewOf {
        supporter_id,
        subject,
        body_markdown,
        locale,
    } = of;
    let locale = match locale.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            shipped_locale(raw)
                .ok()
                .and_then(|l| crate::i18n::Locale::from_tag(&l))
                .ok_or_else(|| {
                    CampaignError::invalid("locale", shipped_locale(raw).err().unwrap_or_default())
                })?,
        ),
    };
    let (mut content, recipient, supporter_locale) = ctx
        .run(move |c| {
            let content = crate::mail::alert_content(c, &id, &base)?
                .ok_or(CampaignError::not_found("alert"))?;
            let recipient = match supporter_id {
                Some(raw) => {
                    let unknown =
                        || CampaignError::invalid("supporter_id", "No supporter has this id.");
                    let sid = SupporterId::parse(&raw).map_err(|_| unknown())?;
                    let rows = db::deliveries::recipients(c, &[sid])?;
                    let row = rows.into_iter().next().ok_or_else(unknown)?;
                    let locale = row
                        .locale
                        .as_deref()
                        .and_then(crate::i18n::Locale::from_tag);
                    (Recipient::from(&row), Some(locale))
                }
                None => (
                    Recipient {
                        supporter_id: SupporterId::parse("00000000-0000-0000-0000-000000000000")
                            .ok(),
                        email: "alex.sample@example.org".into(),
                        first_name: "Alex".into(),
                        last_name: "Sample".into(),
                    },
                    None,
                ),
            };
            Ok((content, recipient.0, recipient.1))
        })
        .await?;
    let default = crate::i18n::Locale::from_tag(&ctx.settings.default_locale)
        .unwrap_or(crate::i18n::Locale::EN);
    // A supporter reads their language's text, as the worker would send
    // it; a sample supporter with no language given, the alert's own.
    let edited = subject.is_some() || body_markdown.is_some();
    if let (Some(new), true) = (locale, edited) {
        // Unsaved text in a language the alert has none in yet (the
        // console's "add a language" row): shown as the variant it would be.
        if content.text_for(new, default).1 != new {
            let mut variant = content.texts[0].clone();
            variant.locale = Some(new);
            variant.is_variant = true;
            variant.frame = Default::default();
            content.texts.push(variant);
        }
    }
    let locale = locale.unwrap_or(match supporter_locale {
        Some(theirs) => theirs.unwrap_or(default),
        None => content.texts[0].locale.unwrap_or(default),
    });
    let (shown, _) = content.text_for(locale, default);
    if edited {
        let text = &mut content.texts[shown];
        if let Some(s) = subject {
            // A subject is one header line.
            text.subject = s.replace(['\r', '\n'], " ");
        }
        if let Some(b) = body_markdown {
            text.body_html = crate::mail::markdown::to_html(&b);
            text.body_text = crate::mail::markdown::to_text(&b);
        }
    }
    let composer = crate::mail::composer(&ctx.settings, ctx.templates.clone(), ctx.keys.clone());
    let rendered = composer
        .render_alert(&content, &recipient, Some(locale), false)
        .map_err(|e| CampaignError::Internal(anyhow::anyhow!(e)))?;
    Ok(Preview {
        subject: rendered.subject,
        html: rendered.html,
        text: rendered.text,
    })
}

/// Queues one `[TEST]` copy of alert `id` to `email` and wakes the worker:
/// the copy a supporter of `locale` (a shipped locale's tag, as given) gets,
/// or with none the alert's own text.
pub async fn queue_test(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
    email: Email,
    locale: Option<String>,
) -> CampaignResult<()> {
    actor.require(Role::Campaigner)?;
    let locale = match locale.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(shipped_locale(raw).map_err(|e| CampaignError::invalid("locale", e))?),
    };
    let actor_name = actor.audit_name();
    let id = id.clone();
    ctx.write(move |c| {
        db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
        db::deliveries::enqueue_test(c, &id, email.as_str(), locale.as_deref())?;
        db::audit::record(
            c,
            &actor_name,
            "alert.test",
            "alert",
            Some(id.as_str()),
            None,
        )?;
        Ok(())
    })
    .await?;
    ctx.events.mail_queued();
    Ok(())
}

/// The alert `id` and the number of people a send would reach now (the
/// send confirmation shows it; `POST /alerts/{id}/audience`): the same
/// statement as the snapshot, counted, nothing queued.
pub async fn audience(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<Audience> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    let default_locale = ctx.settings.default_locale.clone();
    ctx.run(move |c| {
        let alert = db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
        let people = db::alerts::audience_size(c, &id, &default_locale)?;
        Ok(Audience { alert, people })
    })
    .await
}

/// Refuses a send whose deadline has already passed: it would queue
/// messages that can only expire.
fn check_deadline(a: &Alert, now: chrono::NaiveDateTime) -> CampaignResult<()> {
    match a.send_by {
        Some(by) if by <= now => Err(CampaignError::invalid(
            "send_by",
            "This alert's deadline has passed; change it before sending.",
        )),
        _ => Ok(()),
    }
}

/// Snapshots the audience of alert `id` and queues it, once: a second call
/// queues nothing and answers the alert as it stands. With four eyes
/// required, a send by one of its authors waits for approval instead
/// (`awaiting_approval`). A send to [`NO_DKIM_WARNING_AT`] people or more
/// without DKIM carries a warning.
pub async fn send(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let key = actor_key(actor);
    let now = ctx.now();
    let four_eyes = ctx.settings.require_approval;
    let default_locale = ctx.settings.default_locale.clone();
    let id = id.clone();
    let detail = ctx
        .write(move |c| {
            let a = db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
            if a.status != AlertStatus::Draft {
                return detail(c, &id, now);
            }
            check_deadline(&a, now)?;
            if four_eyes && is_author(&a, &key) {
                if db::alerts::move_status(
                    c,
                    &id,
                    &[AlertStatus::Draft],
                    AlertStatus::AwaitingApproval,
                    now,
                )? {
                    db::alerts::set_send_requested_by(c, &id, &key)?;
                    db::audit::record(
                        c,
                        &actor_name,
                        "alert.request_approval",
                        "alert",
                        Some(id.as_str()),
                        None,
                    )?;
                }
                return detail(c, &id, now);
            }
            if let Some(n) =
                db::alerts::start_send(c, &id, &[AlertStatus::Draft], &default_locale, now)?
            {
                if four_eyes {
                    // Not its author: this send is the second pair of eyes.
                    db::alerts::set_approved(c, &id, &actor_name, now)?;
                }
                let what = format!("{n} recipients");
                db::audit::record(
                    c,
                    &actor_name,
                    "alert.send",
                    "alert",
                    Some(id.as_str()),
                    Some(&what),
                )?;
            }
            detail(c, &id, now)
        })
        .await?;
    ctx.events.mail_queued();
    let mut detail = detail;
    if detail.alert.status != AlertStatus::AwaitingApproval {
        if let Some(w) = send_warning(detail.alert.recipients, ctx.settings.dkim.is_some()) {
            detail.warnings.push(w);
        }
    }
    Ok(detail)
}

/// Schedules draft `id` for `send_at` (its audience is taken then, not
/// now), with `send_by` as its deadline if given. With four eyes
/// required, a schedule by one of its authors waits for approval first.
pub async fn schedule(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
    form: ScheduleForm,
) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    let now = ctx.now();
    let mut errors = Vec::new();
    let mut time = |name: &str, given: Given<String>, required: bool| match given {
        Ok(Some(raw)) if !raw.trim().is_empty() => match instant(&raw) {
            Some(t) if t <= now => {
                errors.push(FieldError::new(name, "This time has passed."));
                None
            }
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new(name, NOT_A_TIME));
                None
            }
        },
        Ok(_) => {
            if required {
                errors.push(FieldError::new(name, REQUIRED));
            }
            None
        }
        Err(reason) => {
            errors.push(FieldError::new(name, reason));
            None
        }
    };
    let send_at = time("send_at", form.send_at, true);
    let send_by = time("send_by", form.send_by, false);
    let actor_name = actor.audit_name();
    let key = actor_key(actor);
    let four_eyes = ctx.settings.require_approval;
    let id = id.clone();
    ctx.write(move |c| {
        let a = db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
        if !errors.is_empty() {
            return Err(CampaignError::Invalid(errors));
        }
        if a.status != AlertStatus::Draft {
            return Err(CampaignError::AlertNotDraft);
        }
        let send_at = send_at.expect("checked above");
        let send_by = send_by.or(a.send_by);
        if send_by.is_some_and(|by| by <= send_at) {
            return Err(CampaignError::invalid(
                "send_by",
                "The deadline must come after the time the alert is sent.",
            ));
        }
        let waits = four_eyes && is_author(&a, &key);
        let to = if waits {
            AlertStatus::AwaitingApproval
        } else {
            AlertStatus::Scheduled
        };
        if !db::alerts::move_status(c, &id, &[AlertStatus::Draft], to, now)? {
            return Err(CampaignError::AlertNotDraft);
        }
        db::alerts::set_times(c, &id, Some(send_at), send_by)?;
        if waits {
            db::alerts::set_send_requested_by(c, &id, &key)?;
        } else if four_eyes {
            db::alerts::set_approved(c, &id, &actor_name, now)?;
        }
        let what = format!("send_at {}", send_at.and_utc().to_rfc3339());
        db::audit::record(
            c,
            &actor_name,
            if waits {
                "alert.request_approval"
            } else {
                "alert.schedule"
            },
            "alert",
            Some(id.as_str()),
            Some(&what),
        )?;
        detail(c, &id, now)
    })
    .await
}

/// Approves the send of alert `id`, waiting for approval: its audience is
/// taken now (or, when it was scheduled for later, at its time). The
/// alert's authors and whoever asked for the send may not approve it
/// (`Forbidden`); an alert that waits for nothing is
/// `AlertNotAwaitingApproval`.
pub async fn approve(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let key = actor_key(actor);
    let now = ctx.now();
    let default_locale = ctx.settings.default_locale.clone();
    let id = id.clone();
    let detail = ctx
        .write(move |c| {
            let a = db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
            if a.status != AlertStatus::AwaitingApproval {
                return Err(CampaignError::AlertNotAwaitingApproval);
            }
            if is_author(&a, &key) || a.send_requested_by.as_deref() == Some(key.as_str()) {
                return Err(CampaignError::Forbidden);
            }
            check_deadline(&a, now)?;
            let later = a.send_at.is_some_and(|t| t > now);
            let done = if later {
                db::alerts::move_status(
                    c,
                    &id,
                    &[AlertStatus::AwaitingApproval],
                    AlertStatus::Scheduled,
                    now,
                )?
            } else {
                db::alerts::start_send(
                    c,
                    &id,
                    &[AlertStatus::AwaitingApproval],
                    &default_locale,
                    now,
                )?
                .is_some()
            };
            if done {
                db::alerts::set_approved(c, &id, &actor_name, now)?;
                db::audit::record(
                    c,
                    &actor_name,
                    "alert.approve",
                    "alert",
                    Some(id.as_str()),
                    a.send_requested_by.as_deref(),
                )?;
            }
            detail(c, &id, now)
        })
        .await?;
    ctx.events.mail_queued();
    let mut detail = detail;
    if detail.alert.status == AlertStatus::Sending {
        if let Some(w) = send_warning(detail.alert.recipients, ctx.settings.dkim.is_some()) {
            detail.warnings.push(w);
        }
    }
    Ok(detail)
}

/// Cancels the alerts of case `case`, which has just been resolved or
/// closed, whose messages may still go out (sending, paused, scheduled,
/// waiting for approval): their undelivered messages are cancelled. Runs in
/// the case update's transaction.
pub(super) fn cancel_for_ended_case(
    c: &mut DbConnection,
    actor_name: &str,
    case: &CaseId,
    now: chrono::NaiveDateTime,
) -> CampaignResult<usize> {
    let ids = db::alerts::undelivered_of_case(c, case)?;
    for id in &ids {
        if db::alerts::cancel(c, id, now)? {
            db::audit::record(
                c,
                actor_name,
                "alert.cancel",
                "alert",
                Some(id.as_str()),
                Some("the case ended"),
            )?;
        }
    }
    Ok(ids.len())
}

/// Resumes receiving domain `domain` of alert `id`, paused after a run of
/// policy refusals: its held deliveries are queued again (and the worker
/// woken). Not found when the alert is unknown or that domain is not
/// paused for it.
pub async fn resume_domain(
    ctx: &Context,
    actor: &Actor,
    id: &AlertId,
    domain: &str,
) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let id = id.clone();
    let now = ctx.now();
    let domain = domain.trim().to_ascii_lowercase();
    let detail = ctx
        .write(move |c| {
            db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
            if !db::domain_pauses::resume(c, &id, &domain)? {
                return Err(CampaignError::not_found("paused domain"));
            }
            db::audit::record(
                c,
                &actor_name,
                "alert.resume_domain",
                "alert",
                Some(id.as_str()),
                Some(&domain),
            )?;
            detail(c, &id, now)
        })
        .await?;
    ctx.events.mail_queued();
    Ok(detail)
}

/// Alert `id`'s deliveries by receiving domain: the [`TOP_DOMAINS`] with
/// the most deliveries by name, then the others together (when there are
/// any).
pub async fn domains(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<Vec<DomainRow>> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    let now = ctx.now();
    let rows = ctx
        .run(move |c| Ok(db::backend::alert_domain_counts(c, id.as_str(), now)?))
        .await?;
    let mut out: Vec<DomainRow> = Vec::new();
    let mut other = DomainRow::default();
    let mut has_other = false;
    for r in rows {
        let row = DomainRow {
            domain: r.domain.clone(),
            sent: r.sent,
            deferred: r.deferred,
            failed: r.failed,
            paused: r.paused,
        };
        if r.domain.is_some() && out.len() < TOP_DOMAINS {
            out.push(row);
        } else {
            has_other = true;
            other.sent += row.sent;
            other.deferred += row.deferred;
            other.failed += row.failed;
            other.paused += row.paused;
        }
    }
    if has_other {
        out.push(other);
    }
    Ok(out)
}

/// Stops the deliveries of alert `id` not yet made.
pub async fn cancel(ctx: &Context, actor: &Actor, id: &AlertId) -> CampaignResult<AlertDetail> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    let id = id.clone();
    ctx.write(move |c| {
        db::alerts::get(c, &id)?.ok_or(CampaignError::not_found("alert"))?;
        if db::alerts::cancel(c, &id, now)? {
            db::audit::record(
                c,
                &actor_name,
                "alert.cancel",
                "alert",
                Some(id.as_str()),
                None,
            )?;
        }
        detail(c, &id, now)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> DraftForm {
        DraftForm::new(
            Ok(Some(" c ".into())),
            Ok(None),
            Ok(Some(vec!["l".into()])),
            Ok(Some("Act now".into())),
            Ok(Some("Please sign.".into())),
        )
    }

    /// A context on a fresh SQLite file with one case and one empty list.
    async fn context(dir: &std::path::Path) -> (Context, String, String) {
        let mut raw = crate::config::Settings::defaults();
        raw.database_url = format!("sqlite://{}/t.db", dir.display());
        let settings = crate::config::Settings::from_raw(raw).unwrap();
        let db = crate::db::Db::connect(&settings.database_url, 2).unwrap();
        db.migrate().unwrap();
        let ctx = Context::new(
            db,
            std::sync::Arc::new(settings),
            crate::security::Keys::new("0123456789abcdef0123456789abcdef"),
            crate::templates::Templates::load(None).unwrap(),
        );
        let (case, list) = (CaseId::new().to_string(), ListId::new().to_string());
        let (k, l) = (case.clone(), list.clone());
        ctx.write(move |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "INSERT INTO cases (id, slug, title, summary, created_at, updated_at) \
                 VALUES ('{k}', 'c', 'C', 'S', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ))
            .execute(c)?;
            diesel::sql_query(format!(
                "INSERT INTO lists (id, name, created_at) VALUES ('{l}', 'L', '2026-01-01 00:00:00')"
            ))
            .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
        (ctx, case, list)
    }

    #[tokio::test]
    async fn an_alert_that_has_started_sending_can_no_longer_be_edited() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, case, list) = context(dir.path()).await;
        let f = || DraftForm {
            case_id: Ok(Some(case.clone())),
            list_ids: Ok(Some(vec![list.clone(), list.clone()])),
            ..form()
        };
        let organiser = Actor::Token {
            id: crate::domain::TokenId::new(),
            name: "o".into(),
            role: Role::Organiser,
        };
        assert!(matches!(
            create(&ctx, &organiser, f()).await,
            Err(CampaignError::Forbidden)
        ));
        let d = create(&ctx, &Actor::Cli, f()).await.unwrap();
        assert_eq!(d.alert.status, AlertStatus::Draft);
        assert_eq!(d.list_ids.len(), 1, "each list once");
        let sent = send(&ctx, &Actor::Cli, &d.alert.id).await.unwrap();
        assert_eq!(sent.alert.status, AlertStatus::Sent, "nobody to send to");
        assert!(matches!(
            update_draft(&ctx, &Actor::Cli, &d.alert.id, f()).await,
            Err(CampaignError::AlertNotDraft)
        ));
        let missing = DraftForm {
            case_id: Ok(Some(CaseId::new().to_string())),
            list_ids: Ok(Some(vec!["nope".into()])),
            ..form()
        };
        match create(&ctx, &Actor::Cli, missing).await {
            Err(CampaignError::Invalid(e)) => {
                let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["case_id", "list_ids"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rate_looks_at_the_last_minute_and_the_eta_at_what_waits() {
        let t = |s: i64| {
            chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
                .unwrap()
                .naive_utc()
        };
        // Started 10 s ago, 50 sent: 5/s; 100 waiting: 20 s to go.
        let (rate, eta) = pace(AlertStatus::Sending, Some(t(0)), 50, 100, t(10));
        assert_eq!((rate, eta), (5.0, Some(t(30))));
        // Started long ago: only the last minute counts.
        assert_eq!(
            pace(AlertStatus::Sending, Some(t(0)), 60, 0, t(600)),
            (1.0, None)
        );
        assert_eq!(pace(AlertStatus::Draft, None, 0, 0, t(0)), (0.0, None));
        assert_eq!(pace(AlertStatus::Sending, Some(t(0)), 0, 9, t(5)).1, None);
        assert_eq!(pace(AlertStatus::Paused, Some(t(0)), 5, 9, t(5)).1, None);
        assert!(eta_warning(Some(t(31)), Some(t(30))).is_some());
        assert!(eta_warning(Some(t(30)), Some(t(30))).is_none());
        assert!(eta_warning(None, Some(t(30))).is_none());
    }

    #[test]
    fn language_tags_are_compared_in_lower_case() {
        assert_eq!(language_tag("ru_KG").as_deref(), Some("ru-kg"));
        assert_eq!(language_tag(" EN ").as_deref(), Some("en"));
        assert_eq!(language_tag("x"), None);
        assert_eq!(language_tag("en gb"), None);
        assert_eq!(language_tag("1a"), None);
    }

    #[tokio::test]
    async fn scheduling_is_judged_by_the_contexts_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, case, list) = context(dir.path()).await;
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc();
        let ctx = ctx.with_clock(super::super::Clock::fixed(at("2030-01-01T12:00:00Z")));
        let f = DraftForm {
            case_id: Ok(Some(case.clone())),
            list_ids: Ok(Some(vec![list.clone()])),
            ..form()
        };
        let d = create(&ctx, &Actor::Cli, f).await.unwrap();
        let when = |send_at: &str| ScheduleForm {
            send_at: Ok(Some(send_at.into())),
            send_by: Ok(None),
        };
        match schedule(&ctx, &Actor::Cli, &d.alert.id, when("2030-01-01T11:59:59Z")).await {
            Err(CampaignError::Invalid(e)) => assert_eq!(e[0].field, "send_at"),
            other => panic!("{other:?}"),
        }
        let s = schedule(&ctx, &Actor::Cli, &d.alert.id, when("2030-01-01T12:00:01Z"))
            .await
            .unwrap();
        assert_eq!(s.alert.status, AlertStatus::Scheduled);
        assert_eq!(s.alert.send_at, Some(at("2030-01-01T12:00:01Z")));
    }

    #[test]
    fn only_a_big_send_without_dkim_is_warned_about() {
        assert_eq!(send_warning(NO_DKIM_WARNING_AT - 1, false), None);
        assert_eq!(
            send_warning(NO_DKIM_WARNING_AT, false),
            Some(Warning::NoDkim {
                recipients: NO_DKIM_WARNING_AT
            })
        );
        assert_eq!(send_warning(1_000_000, true), None);
        let w = send_warning(5_000, false).unwrap();
        assert_eq!(w.kind(), "no_dkim");
        assert!(w.message().contains("DKIM"), "{}", w.message());
    }

    #[test]
    fn a_draft_names_every_bad_field_in_form_order() {
        let f = DraftForm::new(
            Ok(None),
            Err("Must be a string.".into()),
            Ok(Some(vec![])),
            Ok(Some("two\nlines".into())),
            Ok(None),
        );
        let fields: Vec<String> = check(f).errors.into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "case_id",
                "petition_id",
                "list_ids",
                "subject",
                "body_markdown"
            ]
        );
        let ok = check(form());
        assert!(ok.errors.is_empty());
        assert_eq!(ok.case_id.as_deref(), Some("c"), "ids are trimmed");
    }
}
