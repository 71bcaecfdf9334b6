//! Petitions: what supporters sign, each of one case. Creating, reading,
//! listing and changing them, and what organisers take away: the paged
//! signatures, the signatures CSV and the counts. Behind the API's
//! `/petitions`, the console's petition pages and `clarion export`.
//!
//! Policy: campaigners write, organisers read and export. A change is
//! audited (`petition.create`, `petition.update`) in its transaction, and an
//! update empties the public pages' petition cache. The CSV streams: rows are
//! read a chunk at a time ([`crate::export`], reached only from here) and
//! handed on as bytes, so memory does not grow with the petition. This module
//! renders no page and writes no response.

use std::io::Write;

use serde_json::{Map, Value};

use super::input::Fields;
use super::paging::{PageRequest, Paged};
use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db::{self, is_unique_violation};
use crate::domain::{text, CaseId, PetitionId, PetitionStatus, Role, SignatureStatus, Slug};
use crate::export::{self, ExportError};

pub use crate::db::petitions::Petition;
pub use crate::db::signature_reports::SignatureRow;
pub use crate::export::{CountBy, CountsView, StatusFilter};

/// A petition to create, every field already parsed.
#[derive(Debug, Clone)]
pub struct NewPetition {
    pub case_id: CaseId,
    pub slug: Slug,
    pub title: String,
    pub target: String,
    pub body: String,
    pub goal: Option<i64>,
    pub status: PetitionStatus,
    pub require_confirmation: bool,
    /// Countries with fewer confirmed signatures are summed into "other"
    /// on every public count (contract §11); 0 shows every country. Not
    /// given: the highest of the case's other petitions, so a petition
    /// added to a case in safety mode is protected too.
    pub public_min_count: Option<i64>,
}

/// The fields an update changes; `None` leaves a field as it is and
/// `Some(None)` clears the goal. A petition never moves to another case.
#[derive(Debug, Clone, Default)]
pub struct PetitionChanges {
    pub slug: Option<Slug>,
    pub title: Option<String>,
    pub target: Option<String>,
    pub body: Option<String>,
    pub goal: Option<Option<i64>>,
    pub status: Option<PetitionStatus>,
    pub require_confirmation: Option<bool>,
    pub public_min_count: Option<i64>,
}

impl NewPetition {
    /// A new petition from a JSON object: the core fields are required, and
    /// every bad field is named at once. A case id that names no case is
    /// refused like one that names a case that does not exist, after the
    /// other fields.
    pub fn parse(body: Map<String, Value>) -> CampaignResult<NewPetition> {
        let (case_id, c) = read(body, true)?;
        let case_id = case_id
            .as_deref()
            .and_then(super::cases::canonical)
            .ok_or_else(no_such_case)?;
        Ok(NewPetition {
            case_id,
            // `read` refuses a create without a slug; this never answers.
            slug: c
                .slug
                .ok_or_else(|| CampaignError::invalid("slug", "This field is required."))?,
            title: c.title.unwrap_or_default(),
            target: c.target.unwrap_or_default(),
            body: c.body.unwrap_or_default(),
            goal: c.goal.flatten(),
            status: c.status.unwrap_or(PetitionStatus::Open),
            require_confirmation: c.require_confirmation.unwrap_or(true),
            public_min_count: c.public_min_count,
        })
    }
}

impl PetitionChanges {
    /// The fields present in a JSON object, each parsed as on create.
    pub fn parse(body: Map<String, Value>) -> CampaignResult<PetitionChanges> {
        Ok(read(body, false)?.1)
    }
}

fn read(
    body: Map<String, Value>,
    create: bool,
) -> CampaignResult<(Option<String>, PetitionChanges)> {
    let mut f = Fields::new(body);
    let case_id = f.string("case_id", create, |s| Ok::<_, String>(s.trim().to_string()));
    if !create && f.has("case_id") {
        f.bad("case_id", "A petition cannot move to another case.");
    }
    let changes = PetitionChanges {
        slug: f.string("slug", create, Slug::parse),
        title: f.string("title", create, |s| text::single_line(s, "title", 200)),
        target: f.string("target", create, |s| text::single_line(s, "target", 300)),
        body: f.string("body", create, |s| text::multi_line(s, "body", 50_000)),
        goal: f.clearable_integer("goal", 1, 1_000_000_000),
        status: f.string("status", false, PetitionStatus::parse),
        require_confirmation: f.boolean("require_confirmation"),
        public_min_count: f.integer("public_min_count", 0, 1_000_000),
    };
    f.finish()?;
    Ok((case_id, changes))
}

fn no_such_case() -> CampaignError {
    CampaignError::invalid("case_id", "No case has this id.")
}

fn not_found() -> CampaignError {
    CampaignError::not_found("petition")
}

/// The id in a path: one that cannot name a petition names none. Only the
/// canonical text names one, as when ids were looked up as text.
pub fn id(s: &str) -> CampaignResult<PetitionId> {
    PetitionId::parse(s)
        .ok()
        .filter(|id| id.as_str() == s)
        .ok_or_else(not_found)
}

fn slug_taken(slug: &str) -> CampaignError {
    CampaignError::SlugTaken {
        what: "petition",
        slug: slug.to_string(),
    }
}

pub async fn create(ctx: &Context, actor: &Actor, input: NewPetition) -> CampaignResult<Petition> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    let petition = Petition {
        id: PetitionId::new(),
        case_id: input.case_id,
        slug: input.slug.into(),
        title: input.title,
        target: input.target,
        body: input.body,
        goal: input.goal,
        status: input.status,
        require_confirmation: input.require_confirmation,
        confirmed_count: 0,
        pending_count: 0,
        public_min_count: input.public_min_count.unwrap_or(0),
        created_at: now,
        updated_at: now,
    };
    let inherit = input.public_min_count.is_none();
    let mut petition = petition;
    ctx.write(move |c| {
        if db::cases::get(c, &petition.case_id)?.is_none() {
            return Err(no_such_case());
        }
        if inherit {
            petition.public_min_count = db::petitions::for_case(c, &petition.case_id)?
                .iter()
                .map(|p| p.public_min_count)
                .max()
                .unwrap_or(0);
        }
        match db::petitions::insert(c, &petition) {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(slug_taken(&petition.slug)),
            Err(e) => return Err(e.into()),
        }
        db::audit::record(
            c,
            &actor_name,
            "petition.create",
            "petition",
            Some(petition.id.as_str()),
            None,
        )?;
        Ok(petition)
    })
    .await
}

/// Up to `limit` petitions in creation order, after the cursor `after`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<Petition>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| Ok(db::petitions::page(c, after.as_deref(), limit)?))
        .await
}

/// One numbered page of petitions in creation order (the console's
/// listing).
pub async fn list_page(
    ctx: &Context,
    actor: &Actor,
    page: PageRequest,
) -> CampaignResult<Paged<Petition>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let rows = db::petitions::page_at(c, page.offset(), page.fetch())?;
        Ok(Paged::from_rows(rows, page))
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, id: &PetitionId) -> CampaignResult<Petition> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| db::petitions::get(c, &id)?.ok_or_else(not_found))
        .await
}

/// The petition with this slug (the CLI names petitions by slug).
pub async fn by_slug(ctx: &Context, actor: &Actor, slug: &str) -> CampaignResult<Petition> {
    actor.require(Role::Organiser)?;
    let slug = slug.to_string();
    ctx.run(move |c| db::petitions::get_by_slug(c, &slug)?.ok_or_else(not_found))
        .await
}

/// Applies `changes` to petition `id`.
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    changes: PetitionChanges,
) -> CampaignResult<Petition> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let id = id.clone();
    let changes = db::petitions::PetitionChanges {
        slug: changes.slug.map(String::from),
        title: changes.title,
        target: changes.target,
        body: changes.body,
        goal: changes.goal,
        status: changes.status,
        require_confirmation: changes.require_confirmation,
        public_min_count: changes.public_min_count,
        updated_at: Some(ctx.now()),
    };
    let petition = ctx
        .write(move |c| {
            if db::petitions::get(c, &id)?.is_none() {
                return Err(not_found());
            }
            match db::petitions::update(c, &id, &changes) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(slug_taken(changes.slug.as_deref().unwrap_or("")))
                }
                Err(e) => return Err(e.into()),
            }
            db::audit::record(
                c,
                &actor_name,
                "petition.update",
                "petition",
                Some(id.as_str()),
                None,
            )?;
            db::petitions::get(c, &id)?.ok_or_else(not_found)
        })
        .await?;
    // The public pages cache cases and petitions briefly; show the change now.
    ctx.events.petitions_changed();
    Ok(petition)
}

/// Up to `limit` signatures of petition `id` with `status`, in signing
/// order after the cursor `after`.
pub async fn signatures(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    status: SignatureStatus,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<SignatureRow>> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| {
        if db::petitions::get(c, &id)?.is_none() {
            return Err(not_found());
        }
        Ok(db::signature_reports::page(
            c,
            &id,
            status,
            after.as_deref(),
            limit,
        )?)
    })
    .await
}

/// Which signatures a CSV export holds, and how.
#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    pub status: StatusFilter,
    /// Start with a UTF-8 byte-order mark (what spreadsheets want).
    pub bom: bool,
    /// Record the export in the audit log (`signatures.export`): the
    /// console's download does; the API and the CLI never have.
    pub audit: bool,
}

/// A signatures CSV on its way: the petition it is of, and its bytes a
/// chunk at a time. An `Err` chunk means the export broke off: the reader
/// must not present what came before as the whole file.
pub struct SignaturesCsv {
    pub petition: Petition,
    pub chunks: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

impl SignaturesCsv {
    /// `SLUG-signatures.csv`.
    pub fn filename(&self) -> String {
        format!("{}-signatures.csv", self.petition.slug)
    }
}

/// The petition to export, after the role check; audited if asked.
async fn export_target(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    audit: Option<&'static str>,
) -> CampaignResult<Petition> {
    actor.require(Role::Organiser)?;
    let actor_name = actor.audit_name();
    let id = id.clone();
    ctx.run(move |c| {
        let p = db::petitions::get(c, &id)?.ok_or_else(not_found)?;
        if let Some(action) = audit {
            db::audit::record(
                c,
                &actor_name,
                action,
                "petition",
                Some(p.id.as_str()),
                None,
            )?;
        }
        Ok(p)
    })
    .await
}

/// The signatures CSV of petition `id`, streamed: a few chunks in flight at
/// most, so the database is read only as fast as the reader takes them.
pub async fn signatures_csv(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    options: CsvOptions,
) -> CampaignResult<SignaturesCsv> {
    let audit = options.audit.then_some("signatures.export");
    let petition = export_target(ctx, actor, id, audit).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let db = ctx.db.clone();
    let petition_id = petition.id.clone();
    crate::telemetry::spawn_blocking_with_tracing(move || {
        let result =
            export::signatures_csv(&db, &petition_id, options.status, options.bom, |chunk| {
                tx.blocking_send(Ok(chunk))
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader left"))
            });
        match result {
            Ok(rows) => {
                tracing::info!(petition.id = %petition_id, export.rows = rows, "signatures exported");
            }
            Err(ExportError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::info!(petition.id = %petition_id, "signature export abandoned by the client");
            }
            Err(e) => {
                tracing::error!(petition.id = %petition_id, error.cause_chain = ?e, "signature export failed");
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
            }
        }
    });
    Ok(SignaturesCsv {
        petition,
        chunks: rx,
    })
}

/// The signatures CSV of petition `id` written straight into `out` (the
/// CLI's file or standard output), flushed at the end. Returns the rows.
pub async fn write_signatures_csv(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    options: CsvOptions,
    mut out: Box<dyn Write + Send>,
) -> CampaignResult<u64> {
    let audit = options.audit.then_some("signatures.export");
    let petition = export_target(ctx, actor, id, audit).await?;
    let db = ctx.db.clone();
    crate::telemetry::spawn_blocking_with_tracing(move || {
        let rows = export::signatures_csv(&db, &petition.id, options.status, options.bom, |c| {
            out.write_all(&c)
        })?;
        out.flush()?;
        Ok::<_, anyhow::Error>(rows)
    })
    .await
    .map_err(anyhow::Error::new)?
    .map_err(CampaignError::Internal)
}

/// Signatures of petition `id` counted by status and by country or day,
/// from the signature rows themselves (so they match an export).
pub async fn counts(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    by: CountBy,
) -> CampaignResult<CountsView> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| {
        if db::petitions::get(c, &id)?.is_none() {
            return Err(not_found());
        }
        Ok(export::counts(c, &id, by)?)
    })
    .await
}

/// Confirmed signatures of petition `id` by country or day as `key,count`
/// CSV, with the petition it is of. `audit` records the export
/// (`counts.export`), as the console's download does.
pub async fn counts_csv(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
    by: CountBy,
    audit: bool,
) -> CampaignResult<(Petition, Vec<u8>)> {
    let petition = export_target(ctx, actor, id, audit.then_some("counts.export")).await?;
    let pid = petition.id.clone();
    let view = ctx.run(move |c| Ok(export::counts(c, &pid, by)?)).await?;
    let rows: Vec<(String, i64)> = view.by.into_iter().collect();
    let csv = export::counts_csv(&rows).map_err(anyhow::Error::new)?;
    Ok((petition, csv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn fields(e: CampaignError) -> Vec<String> {
        match e {
            CampaignError::Invalid(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn a_case_id_that_names_no_case_is_refused_only_after_the_other_fields() {
        let e = NewPetition::parse(body(json!({"case_id": "nope", "slug": "Bad Slug"})));
        assert_eq!(
            fields(e.unwrap_err()),
            ["slug", "title", "target", "body"],
            "shape errors first, every one"
        );
        let e = NewPetition::parse(body(json!({
            "case_id": "nope", "slug": "release-aziz", "title": "T", "target": "X", "body": "B",
        })));
        assert_eq!(fields(e.unwrap_err()), ["case_id"]);
        let upper = CaseId::new().as_str().to_uppercase();
        assert!(id(&upper).is_err(), "only an id's stored text names it");
    }

    #[test]
    fn an_update_cannot_move_a_petition_and_leaves_absent_fields_alone() {
        let e = PetitionChanges::parse(body(json!({"case_id": CaseId::new()})));
        assert_eq!(fields(e.unwrap_err()), ["case_id"]);
        let c = PetitionChanges::parse(body(json!({"status": "closed"}))).unwrap();
        assert_eq!(c.status, Some(PetitionStatus::Closed));
        assert!(c.slug.is_none() && c.require_confirmation.is_none());
    }
}
