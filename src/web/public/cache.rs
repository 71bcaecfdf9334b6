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
//!
//! Beside the data, the same cache keeps the rendered petition and embed
//! pages (handlebars and the country list cost far more than serving them)
//! by path, template and locale. A rendered page is served only while the
//! petition data it was rendered from is still the cached one (the same
//! `Arc`), so it lives no longer than that data, is emptied by the same
//! [`PetitionCache::invalidate`], and never shows a lower count than the
//! data would. Pages are rendered with a per-process random placeholder as
//! the CSP nonce; each response gets its own fresh nonce put in its place.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::{Bytes, BytesMut};

use crate::campaign::public::PublicPetition;
use crate::i18n::Locale;

pub const TTL: Duration = Duration::from_millis(1000);

/// Which rendering of a page: everything a cached page depends on besides
/// the petition data and the nonce.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The request path as sent (the language links repeat it).
    pub path: String,
    pub template: &'static str,
    pub locale: Locale,
    /// Whether `?lang=` chose the locale (internal links then keep it).
    pub lang_in_query: bool,
}

struct CachedPage {
    at: Instant,
    /// The data the page was rendered from.
    data: Arc<PublicPetition>,
    /// The HTML split at the nonce placeholder.
    parts: Vec<Bytes>,
}

impl CachedPage {
    fn body(&self, nonce: &str) -> Bytes {
        match self.parts.as_slice() {
            [one] => one.clone(),
            parts => {
                let len =
                    parts.iter().map(Bytes::len).sum::<usize>() + nonce.len() * (parts.len() - 1);
                let mut out = BytesMut::with_capacity(len);
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(nonce.as_bytes());
                    }
                    out.extend_from_slice(part);
                }
                out.freeze()
            }
        }
    }
}

pub struct PetitionCache {
    entries: RwLock<HashMap<String, (Instant, Arc<PublicPetition>)>>,
    pages: RwLock<HashMap<PageKey, CachedPage>>,
    /// Stands for the nonce in cached pages: random per process, so no
    /// petition text can contain it.
    placeholder: String,
}

impl Default for PetitionCache {
    fn default() -> Self {
        PetitionCache {
            entries: RwLock::default(),
            pages: RwLock::default(),
            placeholder: format!("nonce{}", crate::security::random_token()),
        }
    }
}

impl PetitionCache {
    pub fn get(&self, slug: &str) -> Option<Arc<PublicPetition>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(slug)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, d)| d.clone())
    }

    /// Stores fresh data, unless a concurrent reader already stored a
    /// higher count (then that one is returned: counts never go back).
    pub fn put(&self, slug: &str, data: PublicPetition) -> Arc<PublicPetition> {
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
        self.pages
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// What to render a cacheable page with instead of its nonce.
    pub fn nonce_placeholder(&self) -> &str {
        &self.placeholder
    }

    /// The cached page for `key`, with `nonce` in it, if it was rendered
    /// from `data` (the petition data this request got) within [`TTL`].
    pub fn page(&self, key: &PageKey, data: &Arc<PublicPetition>, nonce: &str) -> Option<Bytes> {
        let pages = self.pages.read().unwrap_or_else(|p| p.into_inner());
        pages
            .get(key)
            .filter(|c| Arc::ptr_eq(&c.data, data) && c.at.elapsed() < TTL)
            .map(|c| c.body(nonce))
    }

    /// Keeps `html`, rendered from `data` with [`Self::nonce_placeholder`] as
    /// the nonce, and returns it with `nonce` in its place.
    pub fn put_page(
        &self,
        key: PageKey,
        data: Arc<PublicPetition>,
        html: String,
        nonce: &str,
    ) -> Bytes {
        let parts: Vec<Bytes> = html
            .split(self.placeholder.as_str())
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        let page = CachedPage {
            at: Instant::now(),
            data,
            parts,
        };
        let body = page.body(nonce);
        let mut pages = self.pages.write().unwrap_or_else(|p| p.into_inner());
        if pages.len() > 1_000 {
            pages.retain(|_, c| c.at.elapsed() < TTL);
            if pages.len() > 1_000 {
                pages.clear();
            }
        }
        pages.insert(key, page);
        body
    }
}
