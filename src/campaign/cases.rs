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
    };
    f.finish()?;
    Ok(changes)
}

/// The id in a path: one that cannot name a case names none. Only the
/// canonical text names one, as when ids were looked up as text.
pub fn id(s: &str) -> CampaignResult<CaseId> {
    canonical(s).ok_or_else(|| CampaignError::not_found("case"))
}

/// `s` as a case id if it is one in the form ids are stored in.
pub(super) fn canonical(s: &str) -> Option<CaseId> {
    CaseId::parse(s).ok().filter(|id| id.as_str() == s)
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
    let ends = matches!(
        changes.status,
        Some(CaseStatus::Resolved | CaseStatus::Closed)
    );
    let changes = db::cases::CaseChanges {
        slug: changes.slug.map(String::from),
        title: changes.title,
        summary: changes.summary,
        subject_name: changes.subject_name,
        country: changes.country.map(|c| c.map(|c| c.as_str().to_string())),
        body: changes.body,
        status: changes.status,
        updated_at: Some(ctx.now()),
    };
    let case = ctx
        .write(move |c| {
            if db::cases::get(c, &id)?.is_none() {
                return Err(CampaignError::not_found("case"));
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
            if ends {
                super::alerts::cancel_for_ended_case(c, &actor_name, &id, now)?;
            }
            db::cases::get(c, &id)?.ok_or(CampaignError::not_found("case"))
        })
        .await?;
    // The public pages cache cases and petitions briefly; show the change now.
    ctx.events.petitions_changed();
    Ok(case)
}
