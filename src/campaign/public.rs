//! What the public pages read: the open petitions, a case with its
//! petitions, a petition with its case and counts.
//!
//! Owns the rule that drafts are not public: nothing a read here returns is
//! a draft petition, except by id for a confirmation link, whose signature
//! proves the petition was once open. Counts come from the petitions'
//! counter caches, never from counting rows.
//!
//! Owns the small-numbers rule too (contract §11): a country with fewer
//! confirmed signatures than the petition's `public_min_count` is never
//! named on a public read; its signatures are summed into [`OTHER`]. Every
//! public count (the page, `counts.json`, the embed, snapshots) goes
//! through [`hide_small_numbers`]; organisers' exports and the API's counts
//! do not.
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
    /// Confirmed signatures per country, from the counter cache, with
    /// small numbers hidden in [`OTHER`].
    pub by_country: Vec<(String, i64)>,
}

/// The key the countries hidden by `public_min_count` are summed under
/// (never a country code: those are two capital letters).
pub const OTHER: &str = "other";

/// `by_country` as the public may see it: every country with fewer than
/// `min` signatures left out and its signatures summed into [`OTHER`]
/// (present only when something was summed; an [`OTHER`] already in
/// `by_country` is added to it). The rest keep their order.
pub fn hide_small_numbers(
    by_country: impl IntoIterator<Item = (String, i64)>,
    min: i64,
) -> Vec<(String, i64)> {
    let mut other = 0;
    let mut shown: Vec<(String, i64)> = Vec::new();
    for (code, n) in by_country {
        if code == OTHER || n < min {
            other += n;
        } else {
            shown.push((code, n));
        }
    }
    if other > 0 {
        shown.push((OTHER.to_string(), other));
    }
    shown
}

/// Whether `by_country` names a country the public may not see under
/// `min` (a snapshot made before the petition's threshold was raised).
pub fn names_small_numbers<'a>(
    by_country: impl IntoIterator<Item = (&'a String, &'a i64)>,
    min: i64,
) -> bool {
    by_country
        .into_iter()
        .any(|(code, n)| code != OTHER && *n < min)
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
        let by_country = hide_small_numbers(
            petition_rows::country_counts(c, &petition.id)?,
            petition.public_min_count,
        );
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
        let by = hide_small_numbers(petition_rows::country_counts(c, &p.id)?, p.public_min_count);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn by(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn countries_under_the_threshold_are_summed_into_other() {
        let counts = by(&[("AM", 3), ("FR", 12), ("KG", 40), ("TJ", 1)]);
        assert_eq!(
            hide_small_numbers(counts.clone(), 10),
            by(&[("FR", 12), ("KG", 40), ("other", 4)])
        );
        assert_eq!(hide_small_numbers(counts.clone(), 0), counts);
        assert_eq!(
            hide_small_numbers(by(&[("KG", 40), ("other", 4), ("TJ", 2)]), 10),
            by(&[("KG", 40), ("other", 6)]),
            "hiding what is already hidden adds to other"
        );
        assert!(names_small_numbers(counts.iter().map(|(k, v)| (k, v)), 10));
        let hidden = hide_small_numbers(counts, 10);
        assert!(!names_small_numbers(hidden.iter().map(|(k, v)| (k, v)), 10));
    }
}
