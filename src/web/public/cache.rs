//! A short-lived, per-process cache of petitions (with their case and
//! country counts) by slug, so that a page reloaded by thousands of people
//! watching the count, and the signing form under load, do not each go to
//! the database.
//!
//! Policy: entries live [`TTL`]; any change made through this process's API
//! empties the cache at once, so only other processes' changes (several
//! instances on PostgreSQL) show up to `TTL` late. Counts never go
//! backwards: an entry is only replaced by one whose confirmed count is at
//! least as high. The signing path does not trust a cached status alone:
//! the writer re-checks it in the transaction that stores the signature.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::db::cases::Case;
use crate::db::petitions::Petition;

pub const TTL: Duration = Duration::from_millis(1000);

/// What the public pages need of a petition.
#[derive(Debug, Clone)]
pub struct PetitionData {
    pub petition: Petition,
    pub case: Case,
    /// Confirmed signatures per country, from the counter cache.
    pub by_country: Vec<(String, i64)>,
}

#[derive(Default)]
pub struct PetitionCache {
    entries: RwLock<HashMap<String, (Instant, Arc<PetitionData>)>>,
}

impl PetitionCache {
    pub fn get(&self, slug: &str) -> Option<Arc<PetitionData>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(slug)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, d)| d.clone())
    }

    /// Stores fresh data, unless a concurrent reader already stored a
    /// higher count (then that one is returned: counts never go back).
    pub fn put(&self, slug: &str, data: PetitionData) -> Arc<PetitionData> {
        let data = Arc::new(data);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        if let Some((at, old)) = entries.get(slug) {
            if at.elapsed() < TTL
                && old.petition.confirmed_count > data.petition.confirmed_count
                && old.petition.id == data.petition.id
            {
                return old.clone();
            }
        }
        entries.insert(slug.to_string(), (Instant::now(), data.clone()));
        data
    }

    pub fn invalidate(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
