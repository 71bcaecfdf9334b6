//! Cases: the people and situations campaigns are about. Creating, reading,
//! listing and changing them, behind the API's `/cases`, the console's case
//! pages and the demo seed alike.
//!
//! Policy: campaigners write, organisers read. A change to a case is audited
//! (`case.create`, `case.update`) in the same transaction, and an update
//! empties the public pages' petition cache, since those pages show the
//! case. A case that becomes `resolved` or `closed` cancels the
//! undelivered messages of its alerts in the same transaction (contract
//! §9): nothing about a case that has ended goes out after it ends. This
//! module never renders anything: the edges do.

use serde_json::{Map, Value};

use super::input::Fields;
use super::paging::{PageRequest, Paged};
use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db::{self, is_unique_violation};
use crate::domain::{text, CaseId, CaseStatus, CountryCode, Role, Slug};

pub use crate::db::cases::Case;

/// A case to create, every field already parsed.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub slug: Slug,
    pub title: String,
    pub summary: String,
    pub subject_name: Option<String>,
    pub country: Option<CountryCode>,
    pub body: Option<String>,
    pub status: CaseStatus,
    /// Days after the case ends when its signers' data that nothing else
    /// holds is erased (contract §11); `None` keeps it.
    pub retention_days: Option<i64>,
}

/// The fields an update changes; `None` leaves a field as it is, and
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct CaseChanges {
    pub slug: Option<Slug>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub subject_name: Option<Option<String>>,
    pub country: Option<Option<CountryCode>>,
    pub body: Option<Option<String>>,
    pub status: Option<CaseStatus>,
    pub retention_days: Option<Option<i64>>,
}

impl NewCase {
    /// A new case from a JSON object: the core fields are required, and
    /// every bad field is named at once.
    pub fn parse(body: Map<String, Value>) -> CampaignResult<NewCase> {
        let c = read(body, true)?;
        Ok(NewCase {
            // `read` refuses a create without a slug; this never answers.
            slug: c
                .slug
                .ok_or_else(|| CampaignError::invalid("slug", "This field is required."))?,
            title: c.title.unwrap_or_default(),
            summary: c.summary.unwrap_or_default(),
            subject_name: c.subject_name.flatten(),
            country: c.country.flatten(),
            body: c.body.flatten(),
            status: c.status.unwrap_or(CaseStatus::Open),
            retention_days: c.retention_days.flatten(),
        })
    }
}

impl CaseChanges {
    /// The fields present in a JSON object, each parsed as on create; an
    /// optional field given as `null` or blank is cleared.
    pub fn parse(body: Map<String, Value>) -> CampaignResult<CaseChanges> {
        read(body, false)
    }
}

fn read(body: Map<String, Value>, create: bool) -> CampaignResult<CaseChanges> {
    let mut f = Fields::new(body);
    let changes = CaseChanges {
        slug: f.string("slug", create, Slug::parse),
        title: f.string("title", create, |s| text::single_line(s, "title", 200)),
        summary: f.string("summary", create, |s| text::multi_line(s, "summary", 2000)),
        subject_name: f.clearable_string("subject_name", |s| {
            text::single_line(s, "subject_name", 200)
        }),
        country: f.clearable_string("country", CountryCode::parse),
        body: f.clearable_string("body", |s| text::multi_line(s, "body", 50_000)),
        status: f.string("status", false, CaseStatus::parse),
        retention_days: f.clearable_integer("retention_days", 0, MAX_RETENTION_DAYS),
    };
    f.finish()?;
    Ok(changes)
}

/// The longest retention a case may carry (a hundred years: "keep" is
/// `null`, not a large number).
pub const MAX_RETENTION_DAYS: i64 = 36_500;

/// The id in a path: one that cannot name a case names none. Only the
/// canonical text names one, as when ids were looked up as text.
pub fn id(s: &str) -> CampaignResult<CaseId> {
    canonical(s).ok_or_else(|| CampaignError::not_found("case"))
}

/// `s` as a case id if it is one in the form ids are stored in.
pub(super) fn canonical(s: &str) -> Option<CaseId> {
    CaseId::parse(s).ok().filter(|id| id.as_str() == s)
}

/// Whether a case in `status` has ended (its retention clock runs).
fn ends(status: CaseStatus) -> bool {
    matches!(status, CaseStatus::Resolved | CaseStatus::Closed)
}

fn slug_taken(slug: &str) -> CampaignError {
    CampaignError::SlugTaken {
        what: "case",
        slug: slug.to_string(),
    }
}

pub async fn create(ctx: &Context, actor: &Actor, input: NewCase) -> CampaignResult<Case> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    let case = Case {
        id: CaseId::new(),
        slug: input.slug.into(),
        title: input.title,
        summary: input.summary,
        subject_name: input.subject_name,
        country: input.country.map(|c| c.as_str().to_string()),
        body: input.body,
        status: input.status,
        created_at: now,
        updated_at: now,
        retention_days: input.retention_days,
        ended_at: ends(input.status).then_some(now),
        retention_done_at: None,
    };
    ctx.write(move |c| {
        match db::cases::insert(c, &case) {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(slug_taken(&case.slug)),
            Err(e) => return Err(e.into()),
        }
        db::audit::record(
            c,
            &actor_name,
            "case.create",
            "case",
            Some(case.id.as_str()),
            None,
        )?;
        Ok(case)
    })
    .await
}

/// Up to `limit` cases in creation order, after the cursor `after`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<Case>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| Ok(db::cases::page(c, after.as_deref(), limit)?))
        .await
}

/// Every case in creation order (the petition form's menu offers each).
pub async fn all(ctx: &Context, actor: &Actor) -> CampaignResult<Vec<Case>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| Ok(db::cases::all(c)?)).await
}

/// One numbered page of cases in creation order (the console's listing).
pub async fn list_page(
    ctx: &Context,
    actor: &Actor,
    page: PageRequest,
) -> CampaignResult<Paged<Case>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let rows = db::cases::page_at(c, page.offset(), page.fetch())?;
        Ok(Paged::from_rows(rows, page))
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, id: &CaseId) -> CampaignResult<Case> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| db::cases::get(c, &id)?.ok_or(CampaignError::not_found("case")))
        .await
}

/// Applies `changes` to case `id`.
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    id: &CaseId,
    changes: CaseChanges,
) -> CampaignResult<Case> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let id = id.clone();
    let now = ctx.now();
    let ending = changes.status.is_some_and(ends);
    let reopening = changes.status == Some(CaseStatus::Open);
    let retention_changes = changes.retention_days.is_some();
    let mut changes = db::cases::CaseChanges {
        slug: changes.slug.map(String::from),
        title: changes.title,
        summary: changes.summary,
        subject_name: changes.subject_name,
        country: changes.country.map(|c| c.map(|c| c.as_str().to_string())),
        body: changes.body,
        status: changes.status,
        updated_at: Some(ctx.now()),
        retention_days: changes.retention_days,
        ended_at: None,
        retention_done_at: None,
    };
    let case = ctx
        .write(move |c| {
            let Some(before) = db::cases::get(c, &id)? else {
                return Err(CampaignError::not_found("case"));
            };
            // Retention counts from when the case first ended; reopening
            // it stops the clock, and a new retention is looked at afresh.
            if ending && before.ended_at.is_none() {
                changes.ended_at = Some(Some(now));
            }
            if reopening {
                changes.ended_at = Some(None);
            }
            if reopening || retention_changes || ending {
                changes.retention_done_at = Some(None);
            }
            match db::cases::update(c, &id, &changes) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(slug_taken(changes.slug.as_deref().unwrap_or("")))
                }
                Err(e) => return Err(e.into()),
            }
            db::audit::record(
                c,
                &actor_name,
                "case.update",
                "case",
                Some(id.as_str()),
                None,
            )?;
            if ending {
                super::alerts::cancel_for_ended_case(c, &actor_name, &id, now)?;
            }
            db::cases::get(c, &id)?.ok_or(CampaignError::not_found("case"))
        })
        .await?;
    // The public pages cache cases and petitions briefly; show the change now.
    ctx.events.petitions_changed();
    Ok(case)
}

/// Supporters erased per transaction by a retention pass: each batch is
/// one short write, so signing never waits long behind it.
pub const RETENTION_BATCH: i64 = 200;

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPass {
    /// Cases whose retention was due.
    pub cases: usize,
    /// Supporters erased.
    pub erased: usize,
}

/// Retention (contract §11): for every case resolved or closed at least
/// `retention_days` ago, erases the signers whom nothing else holds (no
/// list, no signature on a petition of a case not yet due) exactly as
/// `DELETE /supporters/{id}` does — the log's erase entries included, the
/// counts untouched — in batches of [`RETENTION_BATCH`]. Each batch is
/// audited as `case.retention` with counts only, never whom. A case found
/// with nobody left is marked done and skipped until reopened or its
/// retention changes. The service itself runs it (the worker's periodic
/// jobs); admins may too.
pub async fn apply_retention(ctx: &Context, actor: &Actor) -> CampaignResult<RetentionPass> {
    actor.require(Role::Admin)?;
    let who = actor.audit_name();
    let now = ctx.now();
    let due = ctx
        .run(move |c| Ok(db::cases::retention_due(c, now)?))
        .await?;
    let due_ids: Vec<CaseId> = due.iter().map(|c| c.id.clone()).collect();
    let mut pass = RetentionPass {
        cases: due.len(),
        erased: 0,
    };
    for case in due {
        loop {
            let (id, ids, who) = (case.id.clone(), due_ids.clone(), who.clone());
            let erased = ctx
                .write(move |c| {
                    let signers = db::cases::retention_signers(c, &id, &ids, RETENTION_BATCH)?;
                    if signers.is_empty() {
                        db::cases::retention_done(c, &id, now)?;
                        return Ok(0);
                    }
                    let mut erased = 0usize;
                    for s in &signers {
                        erased += usize::from(super::supporters::erase_in(c, s, now)?.is_some());
                    }
                    // Counts only: the entry never says whom.
                    db::audit::record(
                        c,
                        &who,
                        "case.retention",
                        "case",
                        Some(id.as_str()),
                        Some(&format!("{erased} supporters erased")),
                    )?;
                    Ok(erased)
                })
                .await?;
            if erased == 0 {
                break;
            }
            pass.erased += erased;
        }
    }
    if pass.erased > 0 {
        tracing::info!(
            retention.cases = pass.cases,
            retention.erased = pass.erased,
            "retention erased signers' data"
        );
        super::supporters::after_erasure(ctx).await;
    }
    Ok(pass)
}

/// What safety mode sets on each petition of the case: countries with
/// fewer confirmed signatures are not named in public (contract §11).
pub const SAFETY_MIN_COUNT: i64 = 10;

/// The retention safety mode offers unless told otherwise.
pub const SAFETY_RETENTION_DAYS: i64 = 90;

/// A case's supporter safety, as the console shows it.
#[derive(Debug, Clone)]
pub struct Safety {
    /// A retention is set and every petition hides small numbers.
    pub on: bool,
    pub retention_days: Option<i64>,
    /// The lowest threshold among the case's petitions (0 without any).
    pub min_count: i64,
    /// When retention erases the signers' data (the case has ended).
    pub erase_after: Option<chrono::NaiveDateTime>,
}

fn safety_of(case: &Case, petitions: &[db::petitions::Petition]) -> Safety {
    let min_count = petitions
        .iter()
        .map(|p| p.public_min_count)
        .min()
        .unwrap_or(0);
    Safety {
        on: case.retention_days.is_some()
            && petitions
                .iter()
                .all(|p| p.public_min_count >= SAFETY_MIN_COUNT),
        retention_days: case.retention_days,
        min_count,
        erase_after: case.erase_after(),
    }
}

/// The supporter safety of case `id`.
pub async fn safety(ctx: &Context, actor: &Actor, id: &CaseId) -> CampaignResult<Safety> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| {
        let case = db::cases::get(c, &id)?.ok_or(CampaignError::not_found("case"))?;
        let petitions = db::petitions::for_case(c, &id)?;
        Ok(safety_of(&case, &petitions))
    })
    .await
}

/// Turns safety mode on (every petition of the case hides countries under
/// [`SAFETY_MIN_COUNT`], and the case keeps its signers' data
/// `retention_days` after it ends) or off (every country shown, data kept).
/// Audited as `case.safety_mode`; the public pages show the change at once.
pub async fn set_safety_mode(
    ctx: &Context,
    actor: &Actor,
    id: &CaseId,
    on: bool,
    retention_days: Option<i64>,
) -> CampaignResult<Safety> {
    actor.require(Role::Campaigner)?;
    let days = match (on, retention_days) {
        (false, _) => None,
        (true, None) => Some(SAFETY_RETENTION_DAYS),
        (true, Some(d)) if (0..=MAX_RETENTION_DAYS).contains(&d) => Some(d),
        (true, Some(_)) => {
            return Err(CampaignError::invalid(
                "retention_days",
                format!("Must be a whole number from 0 to {MAX_RETENTION_DAYS}."),
            ))
        }
    };
    let min = if on { SAFETY_MIN_COUNT } else { 0 };
    let who = actor.audit_name();
    let id = id.clone();
    let now = ctx.now();
    let safety = ctx
        .write(move |c| {
            if db::cases::get(c, &id)?.is_none() {
                return Err(CampaignError::not_found("case"));
            }
            db::cases::update(
                c,
                &id,
                &db::cases::CaseChanges {
                    retention_days: Some(days),
                    retention_done_at: Some(None),
                    updated_at: Some(now),
                    ..Default::default()
                },
            )?;
            for p in db::petitions::for_case(c, &id)? {
                db::petitions::update(
                    c,
                    &p.id,
                    &db::petitions::PetitionChanges {
                        public_min_count: Some(min),
                        updated_at: Some(now),
                        ..Default::default()
                    },
                )?;
            }
            let detail = match days {
                Some(d) => format!(
                    "on: countries under {min} hidden, data erased {d} days after the case ends"
                ),
                None => "off".to_string(),
            };
            db::audit::record(
                c,
                &who,
                "case.safety_mode",
                "case",
                Some(id.as_str()),
                Some(&detail),
            )?;
            let case = db::cases::get(c, &id)?.ok_or(CampaignError::not_found("case"))?;
            Ok(safety_of(&case, &db::petitions::for_case(c, &id)?))
        })
        .await?;
    ctx.events.petitions_changed();
    Ok(safety)
}
