//! What the public pages read: the open petitions, a case with its
//! petitions, a petition with its case and counts.
//!
//! Owns the rule that drafts are not public: nothing a read here returns is
//! a draft petition, except by id for a confirmation link, whose signature
//! proves the petition was once open. Counts come from the petitions'
//! counter caches, never from counting rows.
//!
//! Everything here is public: no actor, no role check, no writes. Caching
//! what these reads return is the web layer's (`web::public::cache`).

use crate::db::{cases as case_rows, petitions as petition_rows};
use crate::domain::{PetitionId, PetitionStatus};

pub use crate::db::cases::Case;
pub use crate::db::petitions::Petition;

use super::{CampaignResult, Context};

/// What the public pages need of a petition.
#[derive(Debug, Clone)]
pub struct PublicPetition {
    pub petition: Petition,
    pub case: Case,
    /// Confirmed signatures per country, from the counter cache.
    pub by_country: Vec<(String, i64)>,
}

/// Whether the public may see `p` at all.
pub fn is_public(p: &Petition) -> bool {
    p.status.as_str() != PetitionStatus::Draft.as_str()
}

/// Whether `p` takes signatures.
pub fn is_open(p: &Petition) -> bool {
    p.status.as_str() == PetitionStatus::Open.as_str()
}

/// The open petitions, oldest first (the home page).
pub async fn open_petitions(ctx: &Context) -> CampaignResult<Vec<Petition>> {
    ctx.run(|c| Ok(petition_rows::open(c)?)).await
}

/// A case by slug with its public petitions, oldest first.
pub async fn case(ctx: &Context, slug: &str) -> CampaignResult<Option<(Case, Vec<Petition>)>> {
    let slug = slug.to_string();
    ctx.run(move |c| {
        let Some(case) = case_rows::get_by_slug(c, &slug)? else {
            return Ok(None);
        };
        let mut petitions = petition_rows::for_case(c, &case.id)?;
        petitions.retain(is_public);
        Ok(Some((case, petitions)))
    })
    .await
}

/// A public petition by slug with its case and country counts.
pub async fn petition(ctx: &Context, slug: &str) -> CampaignResult<Option<PublicPetition>> {
    let slug = slug.to_string();
    ctx.run(move |c| {
        let Some(petition) = petition_rows::get_by_slug(c, &slug)? else {
            return Ok(None);
        };
        if !is_public(&petition) {
            return Ok(None);
        }
        let Some(case) = case_rows::get(c, &petition.case_id)? else {
            return Ok(None);
        };
        let by_country = petition_rows::country_counts(c, &petition.id)?;
        Ok(Some(PublicPetition {
            petition,
            case,
            by_country,
        }))
    })
    .await
}

/// A public petition by slug with its country counts, without its case
/// (`counts.json`, polled by partners' pages: one query fewer).
pub async fn counts(
    ctx: &Context,
    slug: &str,
) -> CampaignResult<Option<(Petition, Vec<(String, i64)>)>> {
    let slug = slug.to_string();
    ctx.run(move |c| {
        let Some(p) = petition_rows::get_by_slug(c, &slug)? else {
            return Ok(None);
        };
        if !is_public(&p) {
            return Ok(None);
        }
        let by = petition_rows::country_counts(c, &p.id)?;
        Ok(Some((p, by)))
    })
    .await
}

/// A petition by id, whatever its status (the pages a confirmation link
/// leads to).
pub async fn petition_by_id(ctx: &Context, id: &PetitionId) -> CampaignResult<Option<Petition>> {
    let id = id.clone();
    ctx.run(move |c| Ok(petition_rows::get(c, &id)?)).await
}
