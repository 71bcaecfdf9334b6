//! Supporter lists: creating them, reading them with their member counts,
//! and filling them — a JSON array of members (the API) or a CSV file (the
//! API, the console and `clarion import supporters`, through the one
//! [`import`] action).
//!
//! Owns the rules of a list's name and description, who may fill a list, the
//! audit entries `list.create`, `list.members` and `list.import`, and what a
//! new supporter's consent record says about where they came from. The
//! row-by-row work is [`crate::import`]'s; this module never parses HTTP,
//! forms or command lines, and never mails anyone.

use std::io::Read;

use crate::campaign::paging::{PageRequest, Paged};
use crate::campaign::{Actor, CampaignError, CampaignResult, Context, FieldError};
use crate::db::{self, DbConnection};
use crate::domain::{text, DomainError, ListId, Role};
use crate::import::{ImportError, Importer, Provenance, RawRow};

pub use crate::db::lists::{List, MemberCounts};
pub use crate::import::{ImportReport, RowProblem, BATCH_ROWS, COLUMNS};

/// Largest CSV file the web takes into one import (about 4 million rows of
/// typical width); the API streams it, so this bounds time, not memory. The
/// CLI reads files of any size.
pub const IMPORT_LIMIT: usize = 512 * 1024 * 1024;

/// A list's name: one line, at most 200 characters.
pub fn name(input: &str) -> Result<String, DomainError> {
    text::single_line(input, "name", 200)
}

/// A list's description: at most 2,000 characters.
pub fn description(input: &str) -> Result<String, DomainError> {
    text::multi_line(input, "description", 2000)
}

/// A list id as it comes in a path: anything but an id this service made
/// names no list.
pub fn list_id(raw: &str) -> CampaignResult<ListId> {
    ListId::parse(raw)
        .ok()
        // Stored ids are canonical; another spelling never matched one.
        .filter(|id| id.as_str() == raw)
        .ok_or(CampaignError::not_found("list"))
}

/// A new list, its fields already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewList {
    pub name: String,
    pub description: Option<String>,
}

impl NewList {
    /// From the submitted fields (`None`: absent or blank), every bad field
    /// at once.
    pub fn parse(name_in: Option<&str>, description_in: Option<&str>) -> CampaignResult<NewList> {
        let mut errors = Vec::new();
        let name = match name_in {
            None => {
                errors.push(FieldError::new("name", "This field is required."));
                None
            }
            Some(s) => name(s).map_err(|e| errors.push(e.into())).ok(),
        };
        let description =
            description_in.and_then(|s| description(s).map_err(|e| errors.push(e.into())).ok());
        match name {
            Some(name) if errors.is_empty() => Ok(NewList { name, description }),
            _ => Err(CampaignError::Invalid(errors)),
        }
    }
}

/// A list and how many are on it.
#[derive(Debug, Clone)]
pub struct ListSummary {
    pub list: List,
    pub counts: MemberCounts,
}

pub async fn create(ctx: &Context, actor: &Actor, input: NewList) -> CampaignResult<List> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let list = List {
        id: ListId::new(),
        name: input.name,
        description: input.description,
        created_at: ctx.now(),
    };
    ctx.write(move |c| {
        insert(c, &list)?;
        record(c, &actor_name, "list.create", &list.id, None)?;
        Ok(list)
    })
    .await
}

/// The list named `name`, created (and audited as `list.create`) when there
/// is none: what `clarion import supporters --list NAME` fills.
pub async fn named(ctx: &Context, actor: &Actor, name: String) -> CampaignResult<List> {
    actor.require(Role::Campaigner)?;
    let actor_name = actor.audit_name();
    let now = ctx.now();
    ctx.write(move |c| {
        if let Some(l) = db::lists::get_by_name(c, &name)? {
            return Ok(l);
        }
        let list = List {
            id: ListId::new(),
            name,
            description: None,
            created_at: now,
        };
        db::lists::insert(c, &list)?;
        record(c, &actor_name, "list.create", &list.id, None)?;
        Ok(list)
    })
    .await
}

fn insert(c: &mut DbConnection, list: &List) -> CampaignResult<()> {
    match db::lists::insert(c, list) {
        Ok(()) => Ok(()),
        Err(e) if db::is_unique_violation(&e) => Err(CampaignError::ListNameTaken {
            name: list.name.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// A page of lists in id (creation) order, after the id `after`, with their
/// counts.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<String>,
    limit: i64,
) -> CampaignResult<Vec<ListSummary>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let lists = db::lists::page(c, after.as_deref(), limit)?;
        let ids: Vec<ListId> = lists.iter().map(|l| l.id.clone()).collect();
        let counts = db::lists::member_counts(c, &ids)?;
        Ok(lists
            .into_iter()
            .map(|list| ListSummary {
                counts: counts.get(&list.id).copied().unwrap_or_default(),
                list,
            })
            .collect())
    })
    .await
}

/// One numbered page of lists in creation order with their counts (the
/// console's listing).
pub async fn list_page(
    ctx: &Context,
    actor: &Actor,
    page: PageRequest,
) -> CampaignResult<Paged<ListSummary>> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let lists = db::lists::page_at(c, page.offset(), page.fetch())?;
        let ids: Vec<ListId> = lists.iter().map(|l| l.id.clone()).collect();
        let counts = db::lists::member_counts(c, &ids)?;
        Ok(Paged::from_rows(lists, page).map(|list| ListSummary {
            counts: counts.get(&list.id).copied().unwrap_or_default(),
            list,
        }))
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, id: ListId) -> CampaignResult<ListSummary> {
    actor.require(Role::Organiser)?;
    ctx.run(move |c| {
        let list = db::lists::get(c, &id)?.ok_or(CampaignError::not_found("list"))?;
        let counts = db::lists::member_counts(c, std::slice::from_ref(&list.id))?;
        Ok(ListSummary {
            counts: counts.get(&list.id).copied().unwrap_or_default(),
            list,
        })
    })
    .await
}

/// One entry of a members array, its cells not yet parsed: the importer
/// parses them as it parses a CSV row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub locale: Option<String>,
}

impl Member {
    fn raw(&self) -> RawRow<'_> {
        RawRow {
            email: self.email.as_deref(),
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            country: self.country.as_deref(),
            postcode: self.postcode.as_deref(),
            locale: self.locale.as_deref(),
        }
    }
}

/// Adds `members` to list `id`, reported by index; an `Err` entry is a row
/// the caller could not read, rejected with its reason. Audited as
/// `list.members`.
pub async fn add_members(
    ctx: &Context,
    actor: &Actor,
    id: ListId,
    members: Vec<Result<Member, String>>,
) -> CampaignResult<ImportReport> {
    actor.require(Role::Campaigner)?;
    let provenance = Provenance {
        source: "api",
        actor: actor.audit_name(),
    };
    ctx.run(move |c| {
        let list = db::lists::get(c, &id)?.ok_or(CampaignError::not_found("list"))?;
        let mut importer = Importer::new(c, &list, &provenance)?;
        importer.add_rows(
            members
                .iter()
                .map(|m| m.as_ref().map(Member::raw).map_err(Clone::clone)),
        )?;
        let report = importer.finish()?;
        record_import(c, &provenance.actor, "list.members", &list.id, &report)?;
        Ok(report)
    })
    .await
}

/// What an import's `input` fails with to stop it as too large (the web's
/// [`IMPORT_LIMIT`]): `std::io::Error::other(InputTooLarge)`.
#[derive(Debug, thiserror::Error)]
#[error("the CSV is larger than the import limit")]
pub struct InputTooLarge;

/// Imports the CSV read from `input` (header row; [`COLUMNS`]) into list
/// `id`, reported by line. `progress` hears of the report so far and the
/// bytes read, every 10,000 rows and at the end. Runs on a blocking thread
/// with a connection of its own, so `input` may block (a request body
/// arriving, standard input); memory stays flat whatever the size. Audited
/// as `list.import`.
pub async fn import<R, P>(
    ctx: &Context,
    actor: &Actor,
    id: ListId,
    input: R,
    progress: P,
) -> CampaignResult<ImportReport>
where
    R: Read + Send + 'static,
    P: FnMut(&ImportReport, u64) + Send + 'static,
{
    actor.require(Role::Campaigner)?;
    // Each import holds a connection for its whole file: beyond a few at
    // once, the rest would starve every other request of the pool. They
    // wait their turn here instead (their bodies unread, as the API streams).
    let _turn = ctx
        .imports
        .acquire()
        .await
        .map_err(|e| CampaignError::Internal(e.into()))?;
    let provenance = Provenance {
        source: "import",
        actor: actor.audit_name(),
    };
    let db = ctx.db.clone();
    crate::telemetry::spawn_blocking_with_tracing(move || {
        // One connection for the whole file: the importer's table of
        // addresses met so far is private to it.
        let mut conn = db.get()?;
        let c: &mut DbConnection = &mut conn;
        let list = db::lists::get(c, &id)?.ok_or(CampaignError::not_found("list"))?;
        let mut importer = Importer::new(c, &list, &provenance)?;
        importer.read_csv(input, progress)?;
        let report = importer.finish()?;
        record_import(c, &provenance.actor, "list.import", &list.id, &report)?;
        Ok(report)
    })
    .await
    .map_err(|e| CampaignError::Internal(e.into()))?
}

fn record(
    c: &mut DbConnection,
    actor: &str,
    action: &str,
    list: &ListId,
    detail: Option<&str>,
) -> CampaignResult<()> {
    db::audit::record(c, actor, action, "list", Some(list.as_str()), detail)?;
    Ok(())
}

fn record_import(
    c: &mut DbConnection,
    actor: &str,
    action: &str,
    list: &ListId,
    r: &ImportReport,
) -> CampaignResult<()> {
    let detail = format!(
        "added={} updated={} unchanged={} rejected={} skipped={}",
        r.added, r.updated, r.unchanged, r.rejected_count, r.skipped_count
    );
    record(c, actor, action, list, Some(&detail))
}

impl From<ImportError> for CampaignError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::NoEmailColumn => CampaignError::NoEmailColumn,
            ImportError::Read(e) if is_too_large(&e) => CampaignError::TooLarge,
            ImportError::Read(e) => CampaignError::UnreadableFile(e.to_string()),
            ImportError::Db(e) => e.into(),
        }
    }
}

fn is_too_large(e: &csv::Error) -> bool {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().is_some_and(|i| i.is::<InputTooLarge>()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_list_names_every_bad_field() {
        let Err(CampaignError::Invalid(e)) = NewList::parse(None, Some("ok")) else {
            panic!("a list needs a name");
        };
        assert_eq!(e, vec![FieldError::new("name", "This field is required.")]);
        let Err(CampaignError::Invalid(e)) = NewList::parse(Some("a\nb"), Some("\u{7}")) else {
            panic!("bad fields");
        };
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "description"]);
        assert_eq!(
            NewList::parse(Some(" Volunteers "), None).unwrap(),
            NewList {
                name: "Volunteers".into(),
                description: None
            }
        );
    }

    #[test]
    fn only_canonical_ids_name_a_list() {
        let id = ListId::new();
        assert_eq!(list_id(id.as_str()).unwrap(), id);
        assert!(list_id(&id.as_str().to_uppercase()).is_err());
        assert!(list_id("nope").is_err());
    }
}
