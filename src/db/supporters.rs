//! Queries on `supporters`: the people Clarion holds data about.
//!
//! Addresses arrive here already normalised by `domain::Email::parse`; this
//! module never rewrites them. Erasure ([`erase`]) is the one place that
//! removes a person's data, and it keeps every count unchanged.
//!
//! At rest (contract §11) the address, names and postcode are sealed
//! ([`crate::vault`]) and the address is found by its keyed hash
//! (`email_hash`, unique); [`Supporter`] always holds them opened. Rows
//! written before encryption (no hash yet) are found by their plain address
//! until `clarion migrate` seals them.
//!
//! Erased addresses (`erased_emails`) are remembered so that an import never
//! brings an erased person back, and only as a keyed hash
//! ([`crate::vault::erased_hash`]): a copy of the database alone must not
//! answer "did this address once support us?" to whoever hashes a guess.
//! The key is the lookup key, which never rotates (so no rotation can undo
//! an erasure), under a label of its own rather than `email_hash` itself: an
//! erased person may sign again and become a new supporter, and with one
//! derivation a reader could join `erased_emails` to `supporters.email_hash`
//! and pick out who once asked to be erased. (The `erased_emails` migration
//! chose an unkeyed hash so that a rotated secret key could not undo
//! erasures; the lookup key is not that key and never rotates.)
//!
//! Records written before that are an unkeyed SHA-256 ([`plain_erased_hash`],
//! 64 hex digits). They cannot be converted — keying needs the address, and
//! the erasure removed it — so every check accepts both forms, and a new
//! erasure of an address replaces its old record with the keyed one. They
//! stay a guessable hash until someone decides they may be dropped; this
//! module never drops one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::{deliveries, erased_emails, signatures, supporters};
use super::types::Stamp;
use super::{DbConnection, DbResult};
use crate::domain::{DeliveryStatus, SupporterId, SupporterStatus};
use crate::vault::{open_in, seal_opt};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = supporters)]
pub struct Supporter {
    pub id: SupporterId,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub locale: Option<String>,
    pub status: SupporterStatus,
    pub email_opt_in: bool,
    pub consent_at: Option<NaiveDateTime>,
    pub consent_wording: Option<String>,
    pub consent_source: Option<String>,
    pub unsubscribed_at: Option<NaiveDateTime>,
    pub bounced_at: Option<NaiveDateTime>,
    pub erased_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Why they left, when it was not their own click: "complaint" when a
    /// feedback report unsubscribed them.
    pub unsubscribe_reason: Option<String>,
}

impl Supporter {
    /// The row as stored: personal fields sealed, the address's hash and
    /// domain beside them.
    pub fn sealed(&self) -> DbResult<StoredSupporter> {
        let email = self.email.as_deref();
        Ok(StoredSupporter {
            id: self.id.clone(),
            email: seal_opt(email),
            email_hash: email.map(email_hash).transpose()?,
            email_domain: email.and_then(super::deliveries::domain_of),
            first_name: seal_opt(self.first_name.as_deref()),
            last_name: seal_opt(self.last_name.as_deref()),
            country: self.country.clone(),
            postcode: seal_opt(self.postcode.as_deref()),
            locale: self.locale.clone(),
            status: self.status,
            email_opt_in: self.email_opt_in,
            consent_at: self.consent_at.map(Stamp),
            consent_wording: self.consent_wording.clone(),
            consent_source: self.consent_source.clone(),
            unsubscribed_at: self.unsubscribed_at.map(Stamp),
            bounced_at: self.bounced_at.map(Stamp),
            erased_at: self.erased_at.map(Stamp),
            created_at: Stamp(self.created_at),
            updated_at: Stamp(self.updated_at),
            unsubscribe_reason: self.unsubscribe_reason.clone(),
        })
    }

    /// A row as read, its sealed fields opened.
    fn opened(mut self) -> DbResult<Supporter> {
        open_in(&mut self.email)?;
        open_in(&mut self.first_name)?;
        open_in(&mut self.last_name)?;
        open_in(&mut self.postcode)?;
        Ok(self)
    }
}

/// A supporter as stored (see [`Supporter::sealed`]).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = supporters, treat_none_as_default_value = false)]
pub struct StoredSupporter {
    pub id: SupporterId,
    pub email: Option<String>,
    pub email_hash: Option<String>,
    pub email_domain: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub locale: Option<String>,
    pub status: SupporterStatus,
    pub email_opt_in: bool,
    pub consent_at: Option<Stamp>,
    pub consent_wording: Option<String>,
    pub consent_source: Option<String>,
    pub unsubscribed_at: Option<Stamp>,
    pub bounced_at: Option<Stamp>,
    pub erased_at: Option<Stamp>,
    pub created_at: Stamp,
    pub updated_at: Stamp,
    pub unsubscribe_reason: Option<String>,
}

/// The keyed hash a (normalised) address is found by.
pub fn email_hash(email: &str) -> DbResult<String> {
    Ok(crate::vault::lookup_hash(email)?)
}

/// Whether any supporter still holds a plain address (written before
/// encryption, not yet sealed): only then are lookups by the address worth
/// making. An index probe (`supporters_unsealed`).
fn any_unsealed(conn: &mut DbConnection) -> DbResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        supporters::table
            .filter(supporters::email.is_not_null())
            .filter(supporters::email_hash.is_null()),
    ))
    .get_result(conn)?)
}

/// The id of the supporter holding `email` (normalised), by its hash, or
/// by the plain address of a row not yet sealed.
pub fn id_by_email(conn: &mut DbConnection, email: &str) -> DbResult<Option<SupporterId>> {
    let found = supporters::table
        .filter(supporters::email_hash.eq(email_hash(email)?))
        .select(supporters::id)
        .first(conn)
        .optional()?;
    if found.is_some() || !any_unsealed(conn)? {
        return Ok(found);
    }
    Ok(supporters::table
        .filter(supporters::email.eq(email))
        .filter(supporters::email_hash.is_null())
        .select(supporters::id)
        .first(conn)
        .optional()?)
}

/// Details an import or the members route may set; `None` leaves a stored
/// value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupporterDetails {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub locale: Option<String>,
}

impl SupporterDetails {
    /// The details that differ from what `s` holds, or `None` when nothing
    /// would change.
    pub fn changes_to(&self, s: &Supporter) -> Option<SupporterDetails> {
        fn diff(new: &Option<String>, old: &Option<String>) -> Option<String> {
            match new {
                Some(v) if old.as_deref() != Some(v.as_str()) => Some(v.clone()),
                _ => None,
            }
        }
        let d = SupporterDetails {
            first_name: diff(&self.first_name, &s.first_name),
            last_name: diff(&self.last_name, &s.last_name),
            country: diff(&self.country, &s.country),
            postcode: diff(&self.postcode, &s.postcode),
            locale: diff(&self.locale, &s.locale),
        };
        (d != SupporterDetails::default()).then_some(d)
    }
}

/// [`SupporterDetails`] as written: names and postcode sealed.
#[derive(AsChangeset)]
#[diesel(table_name = supporters)]
struct StoredDetails {
    first_name: Option<String>,
    last_name: Option<String>,
    country: Option<String>,
    postcode: Option<String>,
    locale: Option<String>,
}

pub fn get(conn: &mut DbConnection, id: &SupporterId) -> DbResult<Option<Supporter>> {
    supporters::table
        .find(id)
        .select(Supporter::as_select())
        .first(conn)
        .optional()?
        .map(Supporter::opened)
        .transpose()
}

/// `email` must be normalised (`Email::parse`): an exact lookup, through
/// the address's keyed hash.
pub fn get_by_email(conn: &mut DbConnection, email: &str) -> DbResult<Option<Supporter>> {
    match id_by_email(conn, email)? {
        Some(id) => get(conn, &id),
        None => Ok(None),
    }
}

pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> DbResult<Vec<Supporter>> {
    let mut q = supporters::table
        .select(Supporter::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(supporters::id.gt(after.to_string()));
    }
    q.order(supporters::id.asc())
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(Supporter::opened)
        .collect()
}

/// `limit` supporters in creation order (ids are UUID v7) from row
/// `offset`, only those in `status` if given: the console's numbered pages.
pub fn page_at(
    conn: &mut DbConnection,
    status: Option<SupporterStatus>,
    offset: i64,
    limit: i64,
) -> DbResult<Vec<Supporter>> {
    let mut q = supporters::table
        .select(Supporter::as_select())
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(supporters::status.eq(status));
    }
    q.order(supporters::id.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(Supporter::opened)
        .collect()
}

/// The supporters holding any of `emails` (normalised), by their hashes
/// (and, while rows written before encryption remain, their plain
/// addresses).
pub fn by_emails(conn: &mut DbConnection, emails: &[&str]) -> DbResult<Vec<Supporter>> {
    let mut out = Vec::with_capacity(emails.len());
    let hashes: Vec<String> = emails
        .iter()
        .map(|e| email_hash(e))
        .collect::<Result<_, _>>()?;
    for chunk in hashes.chunks(5000) {
        out.extend(
            supporters::table
                .filter(supporters::email_hash.eq_any(chunk))
                .select(Supporter::as_select())
                .load(conn)?,
        );
    }
    if any_unsealed(conn)? {
        for chunk in emails.chunks(5000) {
            out.extend(
                supporters::table
                    .filter(supporters::email.eq_any(chunk))
                    .filter(supporters::email_hash.is_null())
                    .select(Supporter::as_select())
                    .load(conn)?,
            );
        }
    }
    out.into_iter().map(Supporter::opened).collect()
}

/// Which of `emails` (normalised) some supporter holds: the hashes
/// compared, nothing opened. One statement a chunk, whether or not rows
/// written before encryption remain: those, with no hash, are found by the
/// address itself in the same statement (through an index of rows with no
/// hash, which is empty once all are sealed), so no statement asks first
/// whether any remain.
pub fn known_among<'a>(
    conn: &mut DbConnection,
    emails: &[&'a str],
) -> DbResult<std::collections::HashSet<&'a str>> {
    let mut out = std::collections::HashSet::new();
    for chunk in emails.chunks(5000) {
        let by_hash: std::collections::HashMap<String, &str> = chunk
            .iter()
            .map(|e| email_hash(e).map(|h| (h, *e)))
            .collect::<Result<_, _>>()?;
        let hashes: Vec<&String> = by_hash.keys().collect();
        let found: Vec<Option<String>> = supporters::table
            .filter(
                supporters::email_hash
                    .eq_any(&hashes)
                    .or(supporters::email_hash
                        .is_null()
                        .and(supporters::email.eq_any(chunk))),
            )
            .select(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Text>,
            >(
                "COALESCE(supporters.email_hash, supporters.email)"
            ))
            .load(conn)?;
        // A keyed hash is hex digits, an address has an `@`: which one each
        // value is cannot be mistaken.
        let plain: std::collections::HashSet<&str> = chunk.iter().copied().collect();
        for v in found.iter().flatten() {
            if let Some(e) = by_hash.get(v).or_else(|| plain.get(v.as_str())) {
                out.insert(*e);
            }
        }
    }
    Ok(out)
}

pub fn insert_many(conn: &mut DbConnection, rows: &[Supporter]) -> DbResult<()> {
    super::backend::insert_supporters(conn, rows)
}

pub fn update_details(
    conn: &mut DbConnection,
    id: &SupporterId,
    details: &SupporterDetails,
    at: NaiveDateTime,
) -> DbResult<()> {
    let stored = StoredDetails {
        first_name: seal_opt(details.first_name.as_deref()),
        last_name: seal_opt(details.last_name.as_deref()),
        country: details.country.clone(),
        postcode: seal_opt(details.postcode.as_deref()),
        locale: details.locale.clone(),
    };
    diesel::update(supporters::table.find(id))
        .set((stored, supporters::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

/// The unkeyed hash erased addresses were remembered by before the keyed
/// one: SHA-256 of a label and the normalised address. Only read, to keep
/// honouring those old records; never written.
pub fn plain_erased_hash(email: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"clarion-erased-email\0");
    h.update(email.as_bytes());
    hex::encode(h.finalize())
}

/// The record an erasure of `email` (normalised) writes: the keyed hash.
pub fn erased_email_hash(email: &str) -> DbResult<String> {
    Ok(crate::vault::erased_hash(email)?)
}

/// Which of `emails` (normalised) belonged to erased supporters, by either
/// form of record.
pub fn erased_among(conn: &mut DbConnection, emails: &[&str]) -> DbResult<Vec<String>> {
    let mut by_hash: std::collections::HashMap<String, &str> =
        std::collections::HashMap::with_capacity(emails.len() * 2);
    for e in emails {
        by_hash.insert(erased_email_hash(e)?, *e);
        by_hash.insert(plain_erased_hash(e), *e);
    }
    let hashes: Vec<String> = by_hash.keys().cloned().collect();
    let mut out = Vec::new();
    for chunk in hashes.chunks(5000) {
        let found: Vec<String> = erased_emails::table
            .filter(erased_emails::email_hash.eq_any(chunk))
            .select(erased_emails::email_hash)
            .load(conn)?;
        for h in found {
            if let Some(e) = by_hash.remove(&h) {
                out.push(e.to_string());
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// What an erasure changed, for the caller's log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Erasure {
    pub signatures: usize,
    pub memberships: usize,
    pub deliveries_cancelled: usize,
}

/// Erases a supporter: every personal field gone, status `erased`; their
/// signatures stay (so counts do not move) without comment, postcode, IP hash
/// or confirmation token; memberships removed; mail not yet sent cancelled;
/// the address remembered only as a keyed hash so imports cannot bring it back;
/// kept unmatched reports that quote the address deleted.
/// Run inside a write transaction. Returns `None` if there is no such
/// supporter.
pub fn erase(
    conn: &mut DbConnection,
    id: &SupporterId,
    at: NaiveDateTime,
) -> DbResult<Option<Erasure>> {
    let Some(s) = get(conn, id)? else {
        return Ok(None);
    };
    if let Some(email) = &s.email {
        let hash = erased_email_hash(email)?;
        let known = erased_emails::table
            .find(&hash)
            .select(erased_emails::email_hash)
            .first::<String>(conn)
            .optional()?;
        if known.is_none() {
            diesel::insert_into(erased_emails::table)
                .values(erased_emails::email_hash.eq(&hash))
                .execute(conn)?;
        }
        // The address is at hand once more: an old unkeyed record of it
        // (an erased person who signed again) gives way to the keyed one.
        diesel::delete(erased_emails::table.find(plain_erased_hash(email))).execute(conn)?;
        // Kept late reports that quote the address go too.
        super::reports::erase_naming(conn, email)?;
    }
    diesel::update(supporters::table.find(id))
        .set((
            supporters::email.eq(None::<String>),
            supporters::email_hash.eq(None::<String>),
            supporters::email_domain.eq(None::<String>),
            supporters::first_name.eq(None::<String>),
            supporters::last_name.eq(None::<String>),
            supporters::country.eq(None::<String>),
            supporters::postcode.eq(None::<String>),
            supporters::locale.eq(None::<String>),
            supporters::status.eq(SupporterStatus::Erased),
            supporters::email_opt_in.eq(false),
            supporters::consent_at.eq(None::<NaiveDateTime>),
            supporters::consent_wording.eq(None::<String>),
            supporters::consent_source.eq(None::<String>),
            supporters::unsubscribed_at.eq(None::<NaiveDateTime>),
            supporters::unsubscribe_reason.eq(None::<String>),
            supporters::bounced_at.eq(None::<NaiveDateTime>),
            supporters::erased_at.eq(s.erased_at.unwrap_or(at)),
            supporters::updated_at.eq(at),
        ))
        .execute(conn)?;
    // Country, status and times stay: they are what the counts are made of.
    let signatures = diesel::update(signatures::table.filter(signatures::supporter_id.eq(id)))
        .set((
            signatures::first_name.eq(None::<String>),
            signatures::last_name.eq(None::<String>),
            signatures::postcode.eq(None::<String>),
            signatures::comment.eq(None::<String>),
            signatures::ip_hash.eq(None::<String>),
            signatures::confirm_token_hash.eq(None::<String>),
            signatures::confirm_secret_hash.eq(None::<String>),
            signatures::locale.eq(None::<String>),
        ))
        .execute(conn)?;
    // The log records that their data is gone (once), and forgets the
    // salts that tied its entries to the address.
    if s.status != SupporterStatus::Erased {
        let confirmed: Vec<(String, String)> = signatures::table
            .filter(signatures::supporter_id.eq(id))
            .filter(signatures::status.eq(crate::domain::SignatureStatus::Confirmed))
            .order((signatures::petition_id.asc(), signatures::id.asc()))
            .select((signatures::petition_id, signatures::id))
            .load(conn)?;
        super::log::erase(conn, &confirmed, at)?;
    }
    let memberships = super::lists::remove_supporter(conn, id)?;
    // Only mail still waiting: a delivery a worker holds (`sending`) is
    // already on the wire and keeps its true outcome; if it comes back for a
    // retry the worker finds the supporter erased and skips it.
    let deliveries_cancelled = diesel::update(
        deliveries::table
            .filter(deliveries::supporter_id.eq(id))
            .filter(deliveries::status.eq_any([DeliveryStatus::Queued, DeliveryStatus::Held])),
    )
    .set(deliveries::status.eq(DeliveryStatus::Cancelled))
    .execute(conn)?;
    // Mail already made keeps its record, but not what could name the
    // person: SMTP error texts often quote the address, payloads hold tokens,
    // and a domain of one's own names its owner.
    diesel::update(deliveries::table.filter(deliveries::supporter_id.eq(id)))
        .set((
            deliveries::payload.eq(None::<String>),
            deliveries::last_error.eq(None::<String>),
            deliveries::to_email.eq(None::<String>),
            deliveries::domain.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(Some(Erasure {
        signatures,
        memberships,
        deliveries_cancelled,
    }))
}

// The addresses one import has met so far (as keyed hashes), with the line (or index) each
// was first seen on: a TEMPORARY table, private to the import's connection
// and on disk (SQLite's default temp store), so finding duplicates within a
// file of any size costs no memory.
diesel::table! {
    import_seen (email) {
        email -> Text,
        line -> BigInt,
    }
}

/// The page caches of an import's SQLite connection (KiB, negative as
/// SQLite counts them), and SQLite's default to return to.
const IMPORT_CACHE: &str = "PRAGMA main.cache_size = -32768; PRAGMA temp.cache_size = -16384;";
const DEFAULT_CACHE: &str = "PRAGMA main.cache_size = -2000; PRAGMA temp.cache_size = -2000;";

/// Creates (or empties, if an earlier import on this connection stopped
/// half-way) the table of addresses met by an import.
pub fn import_seen_start(conn: &mut DbConnection) -> DbResult<()> {
    use diesel::connection::SimpleConnection;
    if super::backend::name(conn) == "sqlite" {
        // Keyed hashes land anywhere in their indexes: with SQLite's
        // default 2 MB of cache per connection, a large import reads back
        // most index pages it touches. A fixed, larger cache for the
        // import's connection (memory stays flat whatever the file size).
        conn.batch_execute(IMPORT_CACHE)?;
    }
    conn.batch_execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS import_seen \
         (email TEXT PRIMARY KEY, line BIGINT NOT NULL); \
         DELETE FROM import_seen;",
    )?;
    Ok(())
}

/// Which of `emails` an import has met before, with the first position.
/// The table holds the addresses' keyed hashes, not the addresses: a
/// temporary table still goes to disk.
pub fn import_seen_among(conn: &mut DbConnection, emails: &[&str]) -> DbResult<Vec<(String, i64)>> {
    let by_hash: std::collections::HashMap<String, &str> = emails
        .iter()
        .map(|e| email_hash(e).map(|h| (h, *e)))
        .collect::<Result<_, _>>()?;
    let hashes: Vec<&String> = by_hash.keys().collect();
    let mut out = Vec::new();
    for chunk in hashes.chunks(5000) {
        out.extend(
            import_seen::table
                .filter(import_seen::email.eq_any(chunk))
                .select((import_seen::email, import_seen::line))
                .load::<(String, i64)>(conn)?
                .into_iter()
                .filter_map(|(h, line)| by_hash.get(&h).map(|e| (e.to_string(), line))),
        );
    }
    Ok(out)
}

pub fn import_seen_add(conn: &mut DbConnection, rows: &[(&str, i64)]) -> DbResult<()> {
    let hashed: Vec<(String, i64)> = rows
        .iter()
        .map(|(e, l)| email_hash(e).map(|h| (h, *l)))
        .collect::<Result<_, _>>()?;
    let rows: Vec<(&str, i64)> = hashed.iter().map(|(h, l)| (h.as_str(), *l)).collect();
    super::backend::insert_import_seen(conn, &rows)?;
    Ok(())
}

pub fn import_seen_finish(conn: &mut DbConnection) -> DbResult<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("DROP TABLE IF EXISTS import_seen")?;
    if super::backend::name(conn) == "sqlite" {
        conn.batch_execute(DEFAULT_CACHE)?;
    }
    Ok(())
}
